"""Ranking criteria between two score vectors over the same cells.

`predicted` is what an estimator says of each cell (a supernet's one-shot validation accuracy),
`true` the ground truth (the benchmark's test accuracy); for both, higher is better (pass
negated errors). Pairs with a NaN on either side are left out. The criteria follow the
estimator-evaluation literature (e.g. Ning et al., "Evaluating Efficient Performance Estimators
of Neural Architectures", NeurIPS 2021):

- Pearson's r, Spearman's rho, Kendall's tau (tau-b, which accounts for ties);
- precision@K: the share of the true top-K cells among the predicted top-K;
- best rank@K / worst rank@K: the true rank (1 = the truly best cell; tied cells share the best
  rank of their group) of the best / worst cell among the predicted top-K.

K is a number of cells (an int >= 1) or a share of them (a float in (0, 1), rounded up to at
least one cell). Top-K sets break ties by position (the earlier cell first).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable

import numpy as np
from scipy.stats import kendalltau, pearsonr, rankdata, spearmanr


def _pairs(predicted, true) -> tuple[np.ndarray, np.ndarray]:
    p = np.asarray(predicted, dtype=float).ravel()
    t = np.asarray(true, dtype=float).ravel()
    if p.shape != t.shape:
        raise ValueError(f"the score vectors differ in length: {p.size} predicted, {t.size} true")
    keep = ~(np.isnan(p) | np.isnan(t))
    if keep.sum() < 2:
        raise ValueError(f"ranking criteria need at least 2 cells scored on both sides, got "
                         f"{int(keep.sum())}")
    return p[keep], t[keep]


def _finite(value: float) -> float | None:
    """A coefficient, or None where it is undefined (a constant vector)."""
    value = float(value)
    return value if math.isfinite(value) else None


def pearson(predicted, true) -> float | None:
    p, t = _pairs(predicted, true)
    if np.ptp(p) == 0 or np.ptp(t) == 0:
        return None
    return _finite(pearsonr(p, t).statistic)


def spearman(predicted, true) -> float | None:
    p, t = _pairs(predicted, true)
    if np.ptp(p) == 0 or np.ptp(t) == 0:
        return None
    return _finite(spearmanr(p, t).statistic)


def kendall_tau(predicted, true) -> float | None:
    p, t = _pairs(predicted, true)
    if np.ptp(p) == 0 or np.ptp(t) == 0:
        return None
    return _finite(kendalltau(p, t).statistic)


def cells_in_top(k: int | float, n: int) -> int:
    """The number of cells K stands for among `n`."""
    if isinstance(k, bool) or not isinstance(k, numbers.Real) or not math.isfinite(k):
        raise ValueError(f"K must be a number of cells or a share in (0, 1), got {k!r}")
    if not float(k).is_integer():
        if not 0 < k < 1:
            raise ValueError(f"K = {k} is neither a number of cells nor a share in (0, 1)")
        return max(1, math.ceil(k * n))
    k = int(k)
    if not 1 <= k <= n:
        raise ValueError(f"K = {k:g} cells is outside 1..{n} (the cells scored on both sides)")
    return int(k)


def _top(scores: np.ndarray, k: int) -> np.ndarray:
    return np.argsort(-scores, kind="stable")[:k]


def true_ranks(true) -> np.ndarray:
    """Rank of each cell by `true` (1 = best; ties share the best rank of their group)."""
    return rankdata(-np.asarray(true, dtype=float), method="min").astype(int)


def precision_at_k(predicted, true, k: int | float) -> float:
    p, t = _pairs(predicted, true)
    k = cells_in_top(k, len(p))
    return len(set(_top(p, k)) & set(_top(t, k))) / k


def best_rank_at_k(predicted, true, k: int | float, normalized: bool = False) -> float:
    """The true rank of the truly best cell among the predicted top-K (divided by the number of
    cells if `normalized`)."""
    p, t = _pairs(predicted, true)
    rank = int(true_ranks(t)[_top(p, cells_in_top(k, len(p)))].min())
    return rank / len(p) if normalized else rank


def worst_rank_at_k(predicted, true, k: int | float, normalized: bool = False) -> float:
    """The true rank of the truly worst cell among the predicted top-K."""
    p, t = _pairs(predicted, true)
    rank = int(true_ranks(t)[_top(p, cells_in_top(k, len(p)))].max())
    return rank / len(p) if normalized else rank


def ranking_criteria(predicted, true, ks: Iterable[int | float] = (10,)) -> dict:
    """Every criterion at once: cells, pearson, spearman, kendall_tau, and per K
    precision@K, best_rank@K, worst_rank@K (keys like 'precision@10', 'best_rank@0.05')."""
    p, t = _pairs(predicted, true)
    result: dict = {"cells": len(p), "pearson": pearson(p, t), "spearman": spearman(p, t),
                    "kendall_tau": kendall_tau(p, t)}
    for k in ks:
        label = f"{k:g}"
        result[f"precision@{label}"] = precision_at_k(p, t, k)
        result[f"best_rank@{label}"] = best_rank_at_k(p, t, k)
        result[f"worst_rank@{label}"] = worst_rank_at_k(p, t, k)
    return result
