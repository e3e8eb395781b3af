"""Analysis of finished runs: ranking criteria between score vectors (`criteria`), reading run
dirs (`runs`), the paper's figures (`figures`) and the summary table (`summary`); `analyze`
does all of it for `nb1s1 analyze`. Reads files only; never trains or re-runs anything."""

from nasbench1shot1.analysis.analyze import analyze
from nasbench1shot1.analysis.criteria import (
    best_rank_at_k,
    kendall_tau,
    pearson,
    precision_at_k,
    ranking_criteria,
    spearman,
    worst_rank_at_k,
)
from nasbench1shot1.analysis.runs import Runs, find_runs

__all__ = [
    "Runs",
    "analyze",
    "best_rank_at_k",
    "find_runs",
    "kendall_tau",
    "pearson",
    "precision_at_k",
    "ranking_criteria",
    "spearman",
    "worst_rank_at_k",
]
