"""The best cell of a search space in a benchmark, and the test regret of any cell against it.

Two optima are defined over the space's unique cells (loose ends included), both on the test
error after the benchmark's final epoch budget:
- `best_test_error_mean`: the lowest test error averaged over the benchmark's repeats;
- `best_test_error_single_run`: the lowest test error of any single repeat.
The regret of a cell (`SpaceRegret`, called on a `ModelSpec` or hash) is its mean test error
over repeats minus one of them. NAS-Bench-1Shot1
reports (and the search runs here record as `test_regret`) the mean error minus the best single
run, so its figures compare with the paper's; the regret against the best mean is the one that
reaches zero at the optimum. Missing repeats (NaN) are left out of means and minima.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

import numpy as np

from nasbench1shot1.nasbench import ModelSpec, NASBench
from nasbench1shot1.spaces.enumeration import unique_cells
from nasbench1shot1.spaces.space import SearchSpace

Reference = Literal["single_run", "mean"]
TEST_ACCURACY = "final_test_accuracy"


@dataclass(frozen=True)
class SpaceOptimum:
    """The best cells of one search space in one benchmark."""

    space: int
    epochs: int
    best_test_error_mean: float
    best_cell_mean: str
    best_test_error_single_run: float
    best_cell_single_run: str

    def regret(self, test_error_mean: float, reference: Reference = "single_run") -> float:
        """Test regret of a cell whose mean test error is `test_error_mean`."""
        if reference == "single_run":
            return test_error_mean - self.best_test_error_single_run
        if reference == "mean":
            return test_error_mean - self.best_test_error_mean
        raise ValueError(f"unknown regret reference {reference!r}, expected 'single_run' or 'mean'")

    def as_dict(self) -> dict:
        return asdict(self)


def test_errors(benchmark: NASBench, hashes: np.ndarray, epochs: int | None = None) -> np.ndarray:
    """Test error of each cell in each repeat, shape (cells, repeats), NaN where missing."""
    epochs = max(benchmark.epochs) if epochs is None else epochs
    return 1.0 - benchmark.metric(TEST_ACCURACY, hashes, epochs=epochs, reduce="none")


def optimum(space: SearchSpace, benchmark: NASBench, epochs: int | None = None) -> SpaceOptimum:
    """The best mean and best single-run test error over every cell of `space` in `benchmark`."""
    epochs = max(benchmark.epochs) if epochs is None else epochs
    cells = unique_cells(space)
    missing = int(np.sum(benchmark.lookup(cells) < 0))
    if missing:
        raise ValueError(
            f"the benchmark lacks {missing} of the {len(cells)} cells of search space "
            f"{space.number}, so the space's optimum is unknown"
        )
    errors = test_errors(benchmark, cells, epochs)
    known = ~np.isnan(errors)
    if not known.any():
        raise ValueError(f"the benchmark has no test accuracy at {epochs} epochs")
    counts = known.sum(axis=1)
    means = np.divide(
        np.nansum(errors, axis=1), counts, out=np.full(len(cells), np.nan), where=counts > 0
    )
    best_mean = int(np.nanargmin(means))
    best_single_flat = int(np.nanargmin(errors))
    best_single = best_single_flat // errors.shape[1]
    return SpaceOptimum(
        space=space.number,
        epochs=epochs,
        best_test_error_mean=float(means[best_mean]),
        best_cell_mean=cells[best_mean].decode(),
        best_test_error_single_run=float(errors.flat[best_single_flat]),
        best_cell_single_run=cells[best_single].decode(),
    )


class SpaceRegret:
    """`regret(spec)` of a space in a benchmark: the optimum is computed once, then each call
    looks the cell up (a `ModelSpec` or a hex hash) and returns its mean test error over the
    benchmark's repeats minus the reference optimum (the best single run by default, as the
    NAS-Bench-1Shot1 paper and the search runs report it)."""

    def __init__(
        self,
        space: SearchSpace,
        benchmark: NASBench,
        epochs: int | None = None,
        reference: Reference = "single_run",
    ):
        if reference not in ("single_run", "mean"):
            raise ValueError(
                f"unknown regret reference {reference!r}, expected 'single_run' or 'mean'"
            )
        self.benchmark = benchmark
        self.reference = reference
        self.optimum = optimum(space, benchmark, epochs)

    def test_error(self, cell: ModelSpec | str) -> float:
        """The cell's test error averaged over the benchmark's repeats."""
        key = cell.hash_spec() if isinstance(cell, ModelSpec) else cell
        errors = test_errors(self.benchmark, np.array([key]), self.optimum.epochs)[0]
        if np.isnan(errors).all():
            raise ValueError(
                f"the benchmark has no test accuracy for cell {key} at {self.optimum.epochs} epochs"
            )
        return float(np.nanmean(errors))

    def __call__(self, cell: ModelSpec | str) -> float:
        return self.optimum.regret(self.test_error(cell), self.reference)
