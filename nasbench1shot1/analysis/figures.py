"""The paper's kinds of figures from `Runs` (see runs.py), with matplotlib, as PNG and PDF.

- `search_regret`: test regret of the one-shot methods against epochs, one panel per search
  space, mean over seeds with a band of one standard deviation (clipped to the log scale);
- `blackbox_regret`: the black-box optimizers' incumbent test regret against cumulative simulated
  time (the benchmark's training time), mean over seeds on a common log-spaced time grid, with the
  one-shot methods as dashed references against their measured search time;
- `correlation_scatter`: one-shot validation accuracy against benchmark test accuracy, one panel
  per correlation study, with Spearman, Kendall tau and precision@10 in the title;
- `hpo_incumbents`: BOHB's incumbent test regret against the budget (epochs) used so far.
Each function returns the paths it wrote, or raises `NothingToDraw` when no run has data for it
(runs without data are left out of a figure; a panel shows a mean only where every seed has a
value).
"""

from __future__ import annotations

import warnings
from collections import defaultdict
from pathlib import Path

import numpy as np

from nasbench1shot1.analysis.criteria import ranking_criteria
from nasbench1shot1.analysis.runs import BlackboxRun, CorrelationRun, HpoRun, SearchRun

FLOOR = 1e-4  # the smallest regret drawn on a log scale (a regret of 0 is drawn there)
FORMATS = ("png", "pdf")
COLUMNS = 4  # panels per row


class NothingToDraw(ValueError):
    """The runs hold nothing this figure can show (the message says why)."""


def _known(values: np.ndarray) -> bool:
    return bool(np.isfinite(values).any())


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, stem: Path) -> list[Path]:
    stem.parent.mkdir(parents=True, exist_ok=True)
    paths = []
    for fmt in FORMATS:
        path = stem.with_suffix(f".{fmt}")
        fig.savefig(path, dpi=150, bbox_inches="tight")
        paths.append(path)
    _pyplot().close(fig)
    return paths


def _panels(count: int, width: float = 4.2, height: float = 3.4):
    """A grid of `count` panels, at most COLUMNS per row; unused cells are hidden."""
    plt = _pyplot()
    columns = min(count, COLUMNS)
    rows = -(-count // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(width * columns, height * rows),
                             squeeze=False)
    flat = list(axes.ravel())
    for ax in flat[count:]:
        ax.set_visible(False)
    return fig, flat[:count]


def _colors(names) -> dict:
    cycle = _pyplot().rcParams["axes.prop_cycle"].by_key()["color"]
    return {name: cycle[i % len(cycle)] for i, name in enumerate(sorted(names))}


def _mean_band(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean and mean +- one std over the rows (seeds), NaN-aware (NaN where no seed has a
    value)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        mean = np.nanmean(matrix, axis=0)
        std = np.nanstd(matrix, axis=0)
    return mean, np.maximum(mean - std, FLOOR), np.maximum(mean + std, FLOOR)


def _legend(fig, axes) -> None:
    """One legend for every panel, right of them."""
    entries = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            entries.setdefault(label, handle)
    fig.legend(entries.values(), entries.keys(), fontsize=7, loc="upper left",
               bbox_to_anchor=(1.0, 0.95))


def search_regret(runs: list[SearchRun], stem: Path) -> list[Path]:
    runs = [r for r in runs if r.epochs.size and _known(r.test_regret)]
    if not runs:
        raise NothingToDraw("no search run has a known test regret")
    spaces = sorted({r.space for r in runs})
    fig, axes = _panels(len(spaces))
    colors = _colors({r.method for r in runs})
    for ax, space in zip(axes, spaces):
        by_method = defaultdict(list)
        for r in runs:
            if r.space == space:
                by_method[r.method].append(r)
        for method, group in sorted(by_method.items()):
            epochs = np.arange(1, max(int(r.epochs.max()) for r in group if r.epochs.size) + 1)
            matrix = np.full((len(group), len(epochs)), np.nan)
            for i, r in enumerate(group):
                matrix[i, r.epochs - 1] = r.test_regret
            mean, low, high = _all_seeds(list(matrix))
            ax.plot(epochs, np.maximum(mean, FLOOR), color=colors[method],
                    label=f"{method} ({len(group)} seed{'s' if len(group) > 1 else ''})")
            ax.fill_between(epochs, low, high, color=colors[method], alpha=0.2, linewidth=0)
        ax.set_yscale("log")
        ax.set_xlabel("epoch")
        ax.set_ylabel("test regret")
        ax.set_title(f"search space {space}")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle("one-shot search: test regret of the preferred cell (mean, band: +-1 std)",
                 fontsize=10, y=1.02)
    return _save(fig, stem)


def _on_grid(times: np.ndarray, values: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """A step function (the value after each time) read at `grid`: NaN before the first time;
    after the last, the last value (what the run ended with)."""
    index = np.searchsorted(times, grid, side="right") - 1
    return np.where(index >= 0, values[np.clip(index, 0, None)], np.nan)


def _all_seeds(rows: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean and band over seeds, drawn only where every seed has a value."""
    matrix = np.vstack(rows)
    mean, low, high = _mean_band(matrix)
    missing = np.isnan(matrix).any(axis=0)
    return (np.where(missing, np.nan, mean), np.where(missing, np.nan, low),
            np.where(missing, np.nan, high))


def blackbox_regret(runs: list[BlackboxRun], reference: list[SearchRun],
                    stem: Path) -> list[Path]:
    runs = [r for r in runs if (r.simulated_time > 0).any() and _known(r.test_regret)]
    if not runs:
        raise NothingToDraw("no black-box run has simulated time and a known test regret (a "
                            "benchmark without training time gives no simulated time)")
    reference = [r for r in reference if r.wall_time.size and _known(r.wall_time)
                 and _known(r.test_regret)]
    spaces = sorted({r.space for r in runs})
    fig, axes = _panels(len(spaces))
    colors = _colors({r.optimizer for r in runs} | {r.method for r in reference})
    for ax, space in zip(axes, spaces):
        group = [r for r in runs if r.space == space]
        positive = np.concatenate([r.simulated_time[r.simulated_time > 0] for r in group])
        grid = np.geomspace(positive.min(), max(r.simulated_time[-1] for r in group), 200)
        by_optimizer = defaultdict(list)
        for r in group:
            by_optimizer[r.optimizer].append(_on_grid(r.simulated_time, r.test_regret, grid))
        for name, rows in sorted(by_optimizer.items()):
            mean, low, high = _all_seeds(rows)
            ax.plot(grid, np.maximum(mean, FLOOR), color=colors[name], label=name)
            ax.fill_between(grid, low, high, color=colors[name], alpha=0.15, linewidth=0)
        by_method = defaultdict(list)
        for r in reference:
            if r.space == space and r.wall_time.size:
                by_method[r.method].append(r)
        for method, searches in sorted(by_method.items()):
            seconds = np.geomspace(min(r.wall_time[0] for r in searches),
                                   max(r.wall_time[-1] for r in searches), 100)
            rows = [_on_grid(r.wall_time, r.test_regret, seconds) for r in searches]
            mean, _, _ = _all_seeds(rows)
            ax.plot(seconds, np.maximum(mean, FLOOR), color=colors[method], linestyle="--",
                    label=f"{method} (one-shot)")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("simulated time [s] (one-shot: search time)")
        ax.set_ylabel("test regret of the incumbent")
        ax.set_title(f"search space {space}")
        ax.grid(True, which="both", alpha=0.3)
    _legend(fig, axes)
    fig.suptitle("black-box optimizers against one-shot search (mean over seeds, band: +-1 std)",
                 fontsize=10, y=1.02)
    return _save(fig, stem)


def correlation_scatter(runs: list[CorrelationRun], stem: Path) -> list[Path]:
    runs = [r for r in runs if (~(np.isnan(r.one_shot) | np.isnan(r.benchmark))).sum() >= 2]
    if not runs:
        raise NothingToDraw("no correlation study has two cells scored on both sides")
    fig, axes = _panels(len(runs), width=3.8, height=3.6)
    for ax, r in zip(axes, runs):
        known = ~(np.isnan(r.one_shot) | np.isnan(r.benchmark))
        ax.scatter(r.benchmark[known], r.one_shot[known], s=8, alpha=0.6)
        k = min(10, int(known.sum()))
        c = ranking_criteria(r.one_shot, r.benchmark, ks=(k,))

        def fmt(value) -> str:
            return "n/a" if value is None else f"{value:.2f}"

        ax.set_title(f"{r.method}, space {r.space}, epoch {r.epoch}\nSpearman "
                     f"{fmt(c.get('spearman'))}, Kendall {fmt(c.get('kendall_tau'))}, "
                     f"P@{k} {fmt(c.get(f'precision@{k}'))}", fontsize=8)
        ax.set_xlabel("benchmark test accuracy")
        ax.set_ylabel("one-shot validation accuracy")
        ax.grid(True, alpha=0.3)
    return _save(fig, stem)


def hpo_incumbents(runs: list[HpoRun], stem: Path) -> list[Path]:
    runs = [r for r in runs if _known(r.test_regret)]
    if not runs:
        raise NothingToDraw("no BOHB run has an incumbent with a known test regret")
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.2, 3.8))
    for r in runs:
        known = np.isfinite(r.test_regret)
        if known.any():
            ax.step(r.used_budget[known], np.maximum(r.test_regret[known], FLOOR), where="post",
                    label=f"{r.method}, space {r.space}, {r.setting}, seed {r.seed}")
    ax.set_yscale("log")
    ax.set_xlabel("budget used so far [epochs, all workers]")
    ax.set_ylabel("test regret of the incumbent")
    ax.set_title("BOHB over one-shot hyperparameters: incumbent", fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)
    return _save(fig, stem)
