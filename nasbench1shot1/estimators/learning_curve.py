"""The learning-curve family: a cell's benchmark figures at budgets smaller than the truth's.

`early_stopping` scores a cell by its validation accuracy (mean over repeats) at `epochs` (4, 12
or 36 of NAS-Bench-101's 108): what training it that long would say. `learning_curve` fits a
saturating power law, accuracy(e) = c - a * e^(-alpha) (a, c by least squares for each alpha of
a grid, the alpha of least squared error kept), to the validation accuracy at the budgets
`epochs` and extrapolates it to the truth's budget; with two points it is a straight line in
e^(-alpha) with alpha fixed at its middle value. Both cost the simulated training time of those
budgets for every scored cell (where the benchmark records it), and read no test data.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from nasbench1shot1.estimators.base import TRAIN_METRIC, Estimator, register
from nasbench1shot1.nasbench import ModelSpec

#: The exponents the power law is fit with (one per cell is kept).
ALPHAS = np.linspace(0.05, 3.0, 60)


def _budgets_known(context, budgets: Sequence[int], name: str) -> None:
    have = list(context.benchmark.epochs)
    missing = [e for e in budgets if e not in have]
    if missing:
        raise ValueError(f"estimator {name} needs the benchmark's accuracy at "
                         f"{', '.join(map(str, missing))} epochs; this benchmark has "
                         f"{', '.join(map(str, have))} (use one with smaller budgets, e.g. "
                         "nasbench_full.tfrecord)")
    late = [e for e in budgets if e >= context.epochs]
    if late:
        raise ValueError(f"estimator {name}: epochs {', '.join(map(str, late))} is not below the "
                         f"truth's budget ({context.epochs}); choose smaller budgets")


def _validation(estimator: Estimator, specs: Sequence[ModelSpec], budgets: Sequence[int]
                ) -> np.ndarray:
    """cells x budgets validation accuracy, its simulated cost added to the estimator's."""
    hashes = [spec.hash_spec() for spec in specs]
    columns = []
    for epochs in budgets:
        values, seconds = estimator.context.query(hashes, TRAIN_METRIC, epochs=epochs)
        estimator.cost.query_simulated_seconds += seconds
        columns.append(values)
    return np.stack(columns, axis=1) if columns else np.empty((len(specs), 0))


@register("early_stopping")
class EarlyStopping(Estimator):
    """The benchmark's validation accuracy at a smaller budget."""

    family = "learning_curve"

    def fit(self, train: Sequence[str] = ()) -> None:
        _budgets_known(self.context, [self.config.epochs], self.name)

    def score(self, specs: Sequence[ModelSpec]) -> np.ndarray:
        return _validation(self, specs, [self.config.epochs])[:, 0]


def extrapolate(budgets: Sequence[int], values: np.ndarray, target: int) -> np.ndarray:
    """The power law c - a * e^(-alpha) fit to `values` (cells x budgets) at `budgets`, at
    `target` epochs; NaN for a cell with a missing point."""
    x = np.asarray(budgets, dtype=float)
    y = np.asarray(values, dtype=float)
    alphas = ALPHAS if len(x) > 2 else ALPHAS[[len(ALPHAS) // 2]]
    best_error = np.full(len(y), np.inf)
    best = np.full(len(y), np.nan)
    for alpha in alphas:
        basis = x ** -alpha                       # y = c - a * basis
        design = np.stack([np.ones_like(basis), -basis], axis=1)
        coefficients, *_ = np.linalg.lstsq(design, np.nan_to_num(y).T, rcond=None)
        fitted = (design @ coefficients).T
        error = ((fitted - y) ** 2).sum(axis=1)
        prediction = coefficients[0] - coefficients[1] * float(target) ** -alpha
        better = error < best_error
        best_error = np.where(better, error, best_error)
        best = np.where(better, prediction, best)
    best[np.isnan(y).any(axis=1)] = np.nan
    return best


@register("learning_curve")
class LearningCurve(Estimator):
    """A power law fit to the validation accuracy at smaller budgets, extrapolated."""

    family = "learning_curve"

    def fit(self, train: Sequence[str] = ()) -> None:
        budgets = list(self.config.epochs)
        if len(budgets) < 2 or len(set(budgets)) != len(budgets):
            raise ValueError(f"estimator learning_curve needs at least two distinct budgets, got "
                             f"epochs={budgets}")
        _budgets_known(self.context, budgets, self.name)

    def score(self, specs: Sequence[ModelSpec]) -> np.ndarray:
        budgets = sorted(self.config.epochs)
        return extrapolate(budgets, _validation(self, specs, budgets), self.context.epochs)
