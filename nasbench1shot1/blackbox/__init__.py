"""Black-box NAS baselines that query the benchmark instead of training: random search,
regularized evolution, BOHB, Hyperband, TPE, SMAC and REINFORCE over a search space, and two
that use performance estimators (BANANAS: an MLP-ensemble predictor; regularized evolution
pre-screened by a zero-cost proxy), with the benchmark's training time as their cost (see
`objective.py`); `run(cfg)` serves `nb1s1-blackbox`."""

from nasbench1shot1.blackbox import (  # noqa: F401  (each registers its optimizer)
    bananas,
    hyperband,
    prescreen,
    random_search,
    regularized_evolution,
    reinforce,
    smac,
    tpe,
)
from nasbench1shot1.blackbox.base import OPTIMIZERS, get_optimizer
from nasbench1shot1.blackbox.objective import BudgetExhausted, TabularObjective
from nasbench1shot1.blackbox.run import BlackboxResult, BlackboxSettings, run, settings_from

__all__ = [
    "OPTIMIZERS",
    "BlackboxResult",
    "BlackboxSettings",
    "BudgetExhausted",
    "TabularObjective",
    "get_optimizer",
    "run",
    "settings_from",
]
