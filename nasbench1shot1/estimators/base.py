"""The one interface of every performance estimator, its cost accounting, and `ESTIMATORS`.

An estimator answers "how good is this cell?" more cheaply than training it: it is made with its
settings (a schema of conf/estimator.py) and a `Context` (the benchmark, the search space or the
whole of NAS-Bench-101, the data, the seed, the device), initialized once with `fit(train)` (the
hashes of cells whose benchmark figures it may query: a model-based predictor's training data;
others ignore them or train a supernet, or do nothing), and then `score(specs)` gives one number
per cell, higher = predicted better. `Estimator.run_fit` and `run_score` time both phases into
its `Cost`: initialization seconds, the benchmark's simulated training seconds of the cells it
queried (what those figures would have cost to obtain), and seconds per scored cell.

Families (White et al. 2021; Ning et al. 2021): `baseline` (#params, #FLOPs), `zero_cost`
(proxies on an untrained network and one mini-batch), `one_shot` (a trained supernet's scores),
`learning_curve` (the benchmark's accuracy at a smaller budget, or an extrapolation of it),
`model_based` (a predictor fit on queried cells).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from nasbench1shot1.nasbench import ModelSpec
from nasbench1shot1.registry import Registry

FAMILIES = ("baseline", "zero_cost", "one_shot", "learning_curve", "model_based")
#: The benchmark figure estimators are judged against (mean over repeats, at `Context.epochs`).
TRUTH = "final_test_accuracy"
#: The figure a model-based predictor is fit on (never test data) and the training time that
#: counts as the cost of querying it.
TRAIN_METRIC = "final_validation_accuracy"
TRAIN_TIME = "final_training_time"

ESTIMATORS: Registry[type[Estimator]] = Registry("estimator")


def register(name: str) -> Callable[[type[Estimator]], type[Estimator]]:
    """Class decorator: name the estimator `name` and add it to `ESTIMATORS`."""
    def decorate(cls: type[Estimator]) -> type[Estimator]:
        if cls.family not in FAMILIES:
            raise ValueError(f"estimator {name}: unknown family {cls.family!r}, expected one of "
                             f"{', '.join(FAMILIES)}")
        cls.name = name
        return ESTIMATORS.register(name, cls)

    return decorate


@dataclass
class Cost:
    """What an estimator cost: initialization (wall seconds; the simulated NAS-Bench-101
    training seconds of the cells it queried, and how many) and scoring (wall seconds, simulated
    seconds where scoring queries the benchmark, cells)."""

    init_seconds: float = 0.0
    init_simulated_seconds: float = 0.0
    init_queries: int = 0
    query_seconds: float = 0.0
    #: what scoring cost in simulated training seconds (learning-curve estimators query the
    #: benchmark at smaller budgets for every scored cell)
    query_simulated_seconds: float = 0.0
    cells_scored: int = 0

    @property
    def seconds_per_cell(self) -> float | None:
        return self.query_seconds / self.cells_scored if self.cells_scored else None

    def as_dict(self) -> dict:
        return {**asdict(self), "seconds_per_cell": self.seconds_per_cell}


@dataclass
class Context:
    """What an estimator may use. `space`: a NAS-Bench-1Shot1 search space, or None for the
    whole of NAS-Bench-101; `epochs`: the budget of the ground truth (the benchmark's largest);
    `data`: a loader of the data set (`nasbench1shot1.data`), called once when needed."""

    benchmark: Any
    epochs: int
    seed: int = 0
    space: Any = None
    device: str = "cpu"
    load_data: Callable[[], Any] | None = None
    #: where an estimator may keep files (the one-shot family's supernet run); None: nowhere
    run_dir: Path | None = None
    #: nb1s1-search overrides that give this context's data and benchmark (data=..., ...)
    search_overrides: tuple[str, ...] = ()
    _data: Any = field(default=None, repr=False)

    def data(self) -> Any:
        if self._data is None:
            if self.load_data is None:
                raise ValueError("this estimator needs data, and the context has none")
            self._data = self.load_data()
        return self._data

    def specs(self, hashes: Sequence[str]) -> list[ModelSpec]:
        """The cells of `hashes` as ModelSpecs (their matrix and ops from the benchmark)."""
        specs = []
        for key in hashes:
            fixed, _ = self.benchmark.get_metrics_from_hash(key)
            specs.append(ModelSpec(np.asarray(fixed["module_adjacency"]),
                                   list(fixed["module_operations"])))
        return specs

    def query(self, hashes: Sequence[str], metric: str = TRAIN_METRIC,
              epochs: int | None = None) -> tuple[np.ndarray, float]:
        """The benchmark's `metric` of `hashes` (mean over repeats) at `epochs` (default: the
        truth's), and the simulated training seconds it took to obtain them."""
        epochs = self.epochs if epochs is None else epochs
        values = self.benchmark.metric(metric, np.asarray(hashes), epochs=epochs)
        seconds = self.benchmark.metric(TRAIN_TIME, np.asarray(hashes), epochs=epochs)
        return values, float(np.nansum(seconds))


class Estimator:
    """Base class; see the module docstring."""

    name: ClassVar[str] = "?"
    family: ClassVar[str] = "baseline"

    def __init__(self, config: Any, context: Context):
        self.config = config
        self.context = context
        self.cost = Cost()

    def fit(self, train: Sequence[str] = ()) -> None:
        """Initialize (train a supernet, fit a model on `train`'s queried figures, ...); may
        add to `self.cost.init_simulated_seconds` and `init_queries`. Default: nothing."""

    def score(self, specs: Sequence[ModelSpec]) -> np.ndarray:
        """One score per cell, higher = predicted better."""
        raise NotImplementedError

    def run_fit(self, train: Sequence[str] = ()) -> None:
        started = time.perf_counter()
        self.fit(train)
        self.cost.init_seconds += time.perf_counter() - started

    def run_score(self, specs: Sequence[ModelSpec]) -> np.ndarray:
        started = time.perf_counter()
        scores = np.asarray(self.score(specs), dtype=float)
        self.cost.query_seconds += time.perf_counter() - started
        self.cost.cells_scored += len(specs)
        if scores.shape != (len(specs),):
            raise RuntimeError(f"estimator {self.name} gave {scores.shape} scores for "
                               f"{len(specs)} cells")
        return scores
