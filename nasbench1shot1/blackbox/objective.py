"""`TabularObjective`: what a black-box optimizer queries instead of training a cell.

Every configuration of a search space is mapped once to its row in the benchmark table
(`space_table`, cached per benchmark); a query (`evaluate(arch, budget)`) then costs a few
dictionary and array look-ups. A query returns, as the reference API's `query` does, one training
run of the cell picked at random among the recorded repeats: its error on the selection metric
(validation accuracy by default) is what the optimizer sees, and that run's training time at that
epoch budget is the query's cost (NAS-Bench-101 seconds, summed into the simulated time). The
objective keeps the anytime trajectory: after every query the incumbent (among the queries at the
largest budget queried so far, the one with the lowest selection error, the earlier on ties:
HpBandSter's rule, which for single-budget optimizers is simply the best query) and its test
regret (mean test error over repeats at the benchmark's largest budget minus the space's best
single run, as the search runs record it). It stops the optimizer by raising `BudgetExhausted`
once the number of queries or the simulated time is spent; the query that crosses the time budget
still counts (it was started in time).
"""

from __future__ import annotations

import math
import time
import warnings
import weakref
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from nasbench1shot1.conf.blackbox import BlackboxConfig
from nasbench1shot1.nasbench import NASBench
from nasbench1shot1.spaces import (
    Architecture,
    SearchSpace,
    SpaceOptimum,
    optimum,
    test_errors,
)
from nasbench1shot1.spaces.enumeration import configuration_hashes

SELECTION_METRICS = ("validation_accuracy", "test_accuracy")


def _number(value: float) -> float | None:
    """A float for JSON: None for NaN (a cell the benchmark has no test accuracy for)."""
    value = float(value)
    return None if math.isnan(value) else value


class BudgetExhausted(Exception):
    """The optimizer has spent its queries or its simulated time."""


@dataclass(frozen=True, eq=False)
class SpaceTable:
    """What queries of one space in one benchmark need, computed once (see `space_table`)."""

    space: SearchSpace
    selection_metric: str
    budgets: list[int]
    optimum: SpaceOptimum
    cells: list[str]  # hex hash of each unique cell of the space
    cell_of_config: np.ndarray  # configuration index -> position in `cells`
    signal: np.ndarray  # (cells, budgets, repeats) selection metric, NaN where missing
    time: np.ndarray  # (cells, budgets, repeats) training time
    regret: np.ndarray  # (cells,) test regret at the largest budget, NaN where unknown
    structure_index: dict
    ops_index: dict

    def config_index(self, arch: Architecture) -> int:
        try:
            return (self.structure_index[arch.parents] * len(self.ops_index)
                    + self.ops_index[arch.ops])
        except (KeyError, TypeError):
            self.space.validate(arch)  # names what is wrong
            raise


_TABLES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def space_table(space: SearchSpace, benchmark: NASBench,
                selection_metric: str = BlackboxConfig.selection_metric) -> SpaceTable:
    """The `SpaceTable` of a space in a benchmark, cached per benchmark instance; raises one
    sentence when the benchmark lacks cells of the space."""
    if selection_metric not in SELECTION_METRICS:
        raise ValueError(f"unknown selection metric {selection_metric!r}, expected one of "
                         f"{', '.join(SELECTION_METRICS)}")
    cached = _TABLES.setdefault(benchmark, {})
    key = (space.number, selection_metric)
    if key in cached:
        return cached[key]
    budgets = benchmark.epochs
    best = optimum(space, benchmark, max(budgets))
    cells, cell_of_config = np.unique(configuration_hashes(space), return_inverse=True)
    rows = benchmark.lookup(cells)

    def per_budget(name: str) -> np.ndarray:
        return np.stack([benchmark.metric(name, rows, epochs=e, reduce="none") for e in budgets],
                        axis=1)

    errors = test_errors(benchmark, cells, max(budgets))
    with warnings.catch_warnings():  # a cell without any test accuracy has no regret
        warnings.simplefilter("ignore", RuntimeWarning)
        mean_errors = np.nanmean(errors, axis=1)
    table = SpaceTable(
        space=space, selection_metric=selection_metric, budgets=budgets, optimum=best,
        cells=[c.decode() for c in cells], cell_of_config=cell_of_config,
        signal=per_budget(f"final_{selection_metric}"), time=per_budget("final_training_time"),
        regret=mean_errors - best.best_test_error_single_run,
        structure_index={s: i for i, s in enumerate(space.structures)},
        ops_index={ops: i for i, ops in enumerate(space.op_assignments)},
    )
    cached[key] = table
    return table


class TabularObjective:
    """Queries of one search space in one benchmark, with the anytime trajectory.

    `trials`: the most queries (None: no limit); `time_budget`: the most simulated seconds (None:
    no limit); at least one must be set. `seed` seeds the choice of repeat of each query.
    `on_record(record)` is called with every trajectory record (a dict, see `evaluate`).
    """

    def __init__(
        self,
        space: SearchSpace,
        benchmark: NASBench,
        seed: int = 0,
        selection_metric: str = BlackboxConfig.selection_metric,
        trials: int | None = None,
        time_budget: float | None = None,
        on_record: Callable[[dict], None] | None = None,
    ):
        if trials is None and time_budget is None:
            raise ValueError("a black-box run needs a budget: set trials, time_budget or both")
        self.table = space_table(space, benchmark, selection_metric)
        self.space = space
        self.benchmark = benchmark
        self.selection_metric = selection_metric
        self.trials = trials
        self.time_budget = time_budget
        self.on_record = on_record
        self.rng = np.random.default_rng(seed)
        self.budgets: list[int] = self.table.budgets
        self.max_budget = max(self.budgets)
        self.optimum = self.table.optimum
        self._budget_index = {b: i for i, b in enumerate(self.budgets)}
        self.history: list[dict] = []
        self.simulated_time = 0.0
        self.incumbent: dict | None = None
        self.started = time.perf_counter()

    @property
    def exhausted(self) -> bool:
        """Whether the next query would be refused."""
        if self.trials is not None and len(self.history) >= self.trials:
            return True
        return self.time_budget is not None and self.simulated_time >= self.time_budget

    def cell(self, arch: Architecture) -> str:
        """The NAS-Bench-101 hash of a configuration of the space."""
        return self.table.cells[self.table.cell_of_config[self.table.config_index(arch)]]

    def budget_of(self, budget: float | None) -> int:
        """The benchmark's epoch budget equal to `budget` (None: the largest)."""
        if budget is None:
            return self.max_budget
        epochs = int(round(float(budget)))
        if epochs not in self._budget_index or abs(float(budget) - epochs) > 1e-6 * epochs:
            raise ValueError(f"budget {budget} is not an epoch budget of the benchmark, expected "
                             f"one of {self.budgets}")
        return epochs

    def evaluate(self, arch: Architecture, budget: float | None = None) -> float:
        """Query `arch` at `budget` epochs (default: the largest); returns its selection error.

        Appends the trajectory record: trial, cell, budget, error (the selection error), repeat,
        cost, simulated_time, incumbent, incumbent_error, incumbent_budget, test_regret (the
        incumbent's), cell_test_regret (the queried cell's), wall_time.
        """
        if self.exhausted:
            raise BudgetExhausted
        epochs = self.budget_of(budget)
        table = self.table
        local = int(table.cell_of_config[table.config_index(arch)])
        cell = table.cells[local]
        e = self._budget_index[epochs]
        values = table.signal[local, e]
        recorded = np.flatnonzero(~np.isnan(values))
        if not recorded.size:
            raise ValueError(f"the benchmark has no {self.selection_metric} for cell {cell} at "
                             f"{epochs} epochs")
        repeat = int(recorded[self.rng.integers(len(recorded))])
        error = 1.0 - float(values[repeat])
        cost = float(table.time[local, e, repeat])
        if math.isnan(cost):
            if self.time_budget is not None:
                raise ValueError(f"the benchmark has no training time for cell {cell} at "
                                 f"{epochs} epochs, so a time budget cannot be kept; use a trial "
                                 "budget (time_budget=null)")
        else:
            self.simulated_time += cost
        regret = _number(table.regret[local])
        if self.incumbent is None or (epochs, -error) > (self.incumbent["budget"],
                                                        -self.incumbent["error"]):
            self.incumbent = {"cell": cell, "error": error, "budget": epochs,
                              "test_regret": regret}
        record = {
            "trial": len(self.history) + 1, "cell": cell, "budget": epochs,
            "error": error, "repeat": repeat, "cost": None if math.isnan(cost) else cost,
            "simulated_time": self.simulated_time,
            "incumbent": self.incumbent["cell"], "incumbent_error": self.incumbent["error"],
            "incumbent_budget": self.incumbent["budget"],
            "test_regret": self.incumbent["test_regret"], "cell_test_regret": regret,
            "wall_time": time.perf_counter() - self.started,
        }
        self.history.append(record)
        if self.on_record is not None:
            self.on_record(record)
        return error
