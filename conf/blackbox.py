"""The settings of `nb1s1-blackbox` (conf/blackbox.yaml): the typed schema of the whole config,
the one place its defaults are written. One black-box optimizer on one search space, querying the
benchmark instead of training; cost = the benchmark's training time of each query. The checks of
the values are in `nasbench1shot1.blackbox.run.settings_from`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from nasbench1shot1.conf.data import BenchmarkConfig

#: What `nb1s1-blackbox` returns to a Hydra sweeper (to minimize): the incumbent's error as the
#: optimizer saw it (selection_metric), or its test regret (test data: for studies only).
BLACKBOX_OBJECTIVES = ("validation_error", "test_regret")


@dataclass
class BlackboxConfig:
    search_space: int = 1         # 1, 2 or 3
    seed: int = 0                 # of the optimizer and of the repeat each query draws
    trials: int | None = 500      # the most benchmark queries; null: no limit (then time_budget)
    time_budget: float | None = None  # the most simulated seconds (summed training time)
    # What the optimizer sees of a query: one random repeat's final validation accuracy, as the
    # reference API's query returns it; test_accuracy only for studies of the search itself.
    selection_metric: str = "validation_accuracy"
    progress: bool = True         # a progress bar over the queries on a terminal
    # what the app returns to a sweeper: validation_error (the incumbent's error as the
    # optimizer saw it) or test_regret (test data: for studies only)
    objective: str = "validation_error"
    optimizer: Any = None         # a conf.optimizer schema (config group `optimizer`)
    benchmark: BenchmarkConfig = field(default_factory=BenchmarkConfig)
    logger: Any = None            # a conf.logger schema (config group `logger`)
