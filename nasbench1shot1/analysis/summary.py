"""The summary table of `nb1s1 analyze`: per group of runs, final and best test regret, or the
ranking criteria of correlation studies, as mean and standard deviation over the seeds.

One row per group (`runs.group_runs`: kind, method or optimizer, search space, equal settings;
each seed once): the settings in which the group differs from the other groups of its method and
space, how many seeds and which, the runs' length (epochs, trials, BOHB evaluations), and the
mean and standard deviation (numpy's, ddof 0; none for a single seed) over the seeds of
- for searches, black-box and BOHB runs: the final test regret (last epoch of a search, last
  query of a black-box run, BOHB's incumbent; an unknown one is left out) and the best test
  regret reached along the way;
- for correlation studies: Spearman and Kendall tau (the study's own, from correlation.json);
- for estimates: Kendall tau, Spearman, precision@10 and the costs (estimate.json).
Written as CSV (one table) and as markdown (a table of regrets and one of correlation studies).
"""

from __future__ import annotations

import csv
import math
import warnings
from pathlib import Path

import numpy as np

from nasbench1shot1.analysis.criteria import ranking_criteria
from nasbench1shot1.analysis.runs import CorrelationRun, Group, Runs, group_runs

COLUMNS = ("kind", "name", "space", "settings", "runs", "seeds", "length",
           "final_regret_mean", "final_regret_std", "best_regret_mean", "best_regret_std",
           "spearman_mean", "spearman_std", "kendall_tau_mean", "kendall_tau_std",
           "precision@10_mean", "precision@10_std", "init_seconds_mean", "init_seconds_std",
           "simulated_seconds_mean", "simulated_seconds_std", "ms_per_cell_mean",
           "ms_per_cell_std")


def _last(values: np.ndarray) -> float:
    """The value the run ended with (NaN when it is unknown)."""
    return float(values[-1]) if values.size else math.nan


def _best(values: np.ndarray) -> float:
    known = values[~np.isnan(values)]
    return float(known.min()) if known.size else math.nan


def _number(value) -> float:
    return math.nan if value is None else float(value)


def _criteria(r: CorrelationRun) -> tuple[float, float]:
    """The study's Spearman and Kendall tau: as correlation.json has them, else computed from
    its scores."""
    criteria = r.criteria if {"spearman", "kendall_tau"} <= set(r.criteria) else \
        ranking_criteria(r.one_shot, r.benchmark)
    return _number(criteria.get("spearman")), _number(criteria.get("kendall_tau"))


def _stats(prefix: str, values: list[float]) -> dict:
    """`prefix`_mean and `prefix`_std over the known values (None where there are none, and the
    std also for a single one)."""
    known = np.array([v for v in values if not math.isnan(v)])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return {f"{prefix}_mean": float(known.mean()) if known.size else None,
                f"{prefix}_std": float(known.std()) if known.size > 1 else None}


def _study(g: Group) -> str:
    """How the studies of a group scored: 'epoch 5, 60 cells, BN recalibrate'."""
    s = g.settings
    parts = [f"epoch {s['study.epoch']}" if "study.epoch" in s else "",
             f"{s['study.cells']} cells" if "study.cells" in s else "",
             f"BN {s['study.bn']}" if "study.bn" in s else ""]
    return ", ".join(p for p in parts if p)


def summary_rows(runs: Runs) -> list[dict]:
    rows = []

    def add(kind: str, g: Group, length: str, **stats) -> None:
        rows.append({**dict.fromkeys(COLUMNS), "kind": kind, "name": g.name, "space": g.space,
                     "settings": g.label, "runs": len(g.runs),
                     "seeds": " ".join(map(str, g.seeds)), "length": length, **stats})

    for kind, records, final in (
            ("one-shot", runs.search, lambda r: _last(r.test_regret)),
            ("black-box", runs.blackbox, lambda r: _last(r.test_regret)),
            ("bohb-hpo", runs.hpo, lambda r: _number(r.final_test_regret))):
        for g in group_runs(records):
            add(kind, g, g.lengths(), **_stats("final_regret", [final(r) for r in g.runs]),
                **_stats("best_regret", [_best(r.test_regret) for r in g.runs]))
    for g in group_runs(runs.correlation):
        spearman, kendall = zip(*(_criteria(r) for r in g.runs))
        add("correlation", g, _study(g), **_stats("spearman", list(spearman)),
            **_stats("kendall_tau", list(kendall)))
    for g in group_runs(runs.estimate):
        def each(get, g: Group = g) -> list[float]:
            return [_number(get(r)) for r in g.runs]

        add("estimate", g, g.lengths(),
            **_stats("spearman", each(lambda r: r.criteria.get("spearman"))),
            **_stats("kendall_tau", each(lambda r: r.criteria.get("kendall_tau"))),
            **_stats("precision@10", each(lambda r: r.criteria.get("precision@10"))),
            **_stats("init_seconds", each(lambda r: r.cost.get("init_seconds"))),
            **_stats("simulated_seconds", each(
                lambda r: r.cost.get("init_simulated_seconds", 0.0)
                + r.cost.get("query_simulated_seconds", 0.0))),
            **_stats("ms_per_cell", each(
                lambda r: None if r.cost.get("seconds_per_cell") is None
                else 1000 * r.cost["seconds_per_cell"])))
    return sorted(rows, key=lambda r: (r["kind"], r["name"], r["space"], r["settings"]))


def _cell(row: dict, prefix: str) -> str:
    mean, std = row[f"{prefix}_mean"], row[f"{prefix}_std"]
    if mean is None:
        return "n/a"
    return f"{mean:.4f}" if std is None else f"{mean:.4f} ± {std:.4f}"


def _seeds(row: dict) -> str:
    return f"{row['runs']} ({row['seeds'].replace(' ', ', ')})"


def write_summary(rows: list[dict], folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    csv_path, md_path = folder / "summary.csv", folder / "summary.md"
    with csv_path.open("w", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows({k: ("" if v is None else v) for k, v in row.items()} for row in rows)
    regrets = [r for r in rows if r["kind"] not in ("correlation", "estimate")]
    studies = [r for r in rows if r["kind"] == "correlation"]
    estimates = [r for r in rows if r["kind"] == "estimate"]
    lines = []
    if regrets:
        lines += ["| kind | method | space | settings | seeds | length | final test regret | "
                  "best test regret |", "|---|---|---|---|---|---|---|---|"]
        lines += [f"| {r['kind']} | {r['name']} | {r['space']} | {r['settings'] or '—'} | "
                  f"{_seeds(r)} | {r['length']} | {_cell(r, 'final_regret')} | "
                  f"{_cell(r, 'best_regret')} |" for r in regrets]
        lines += ["", "Test regret: mean ± standard deviation over the seeds (one run per seed; "
                  "no ± for a single seed)."]
    if studies:
        lines += ["", "## Correlation studies", "",
                  "| method | space | settings | seeds | study | Spearman | Kendall tau |",
                  "|---|---|---|---|---|---|---|"]
        lines += [f"| {r['name']} | {r['space']} | {r['settings'] or '—'} | {_seeds(r)} | "
                  f"{r['length']} | {_cell(r, 'spearman')} | {_cell(r, 'kendall_tau')} |"
                  for r in studies]
        lines += ["", "Spearman and Kendall tau between one-shot validation accuracy and benchmark "
                  "test accuracy: mean ± standard deviation over the seeds of the searches."]
    if estimates:
        lines += ["", "## Performance estimators", "",
                  "| estimator | space | settings | seeds | cells | Kendall tau | Spearman | "
                  "precision@10 | initialization s | simulated s | ms per cell |",
                  "|---|---|---|---|---|---|---|---|---|---|---|"]
        lines += [f"| {r['name']} | {r['space']} | {r['settings'] or '—'} | {_seeds(r)} | "
                  f"{r['length']} | {_cell(r, 'kendall_tau')} | {_cell(r, 'spearman')} | "
                  f"{_cell(r, 'precision@10')} | {_cell(r, 'init_seconds')} | "
                  f"{_cell(r, 'simulated_seconds')} | {_cell(r, 'ms_per_cell')} |"
                  for r in estimates]
        lines += ["", "Against the benchmark's test accuracy (mean over repeats); simulated s: "
                  "the NAS-Bench-101 training time of the benchmark figures the estimator "
                  "queried (its training cells, or smaller budgets)."]
    lines += ["", "Each row is one setup: every run in it has the same settings except the seed. "
              "`settings` names the settings in which a row differs from the other rows of its "
              "method and space (— when it is the only one)."]
    md_path.write_text("\n".join(lines).lstrip("\n") + "\n")
    return [csv_path, md_path]
