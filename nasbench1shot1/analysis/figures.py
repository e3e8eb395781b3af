"""The paper's kinds of figures from `Runs` (see runs.py), with matplotlib, as PNG and PDF.

Runs are drawn by group (`runs.group_runs`: one method or optimizer, one space, equal settings,
one run per seed); a group's label names the settings in which it differs from the other groups
of its method and space. Every series of a figure has its own (colour, line style) pair, and
legends sit below their panel, off the data.

- `search_regret`: test regret of the one-shot methods against epochs, one panel per search
  space, mean over seeds with a band of one standard deviation (clipped to the log scale) where
  every seed has the epoch; when the seeds differ in length, each seed is also drawn whole
  (thin), so nothing past the shortest is cut away;
- `blackbox_regret`: the black-box optimizers' incumbent test regret against cumulative simulated
  time (the benchmark's training time), mean over seeds on a common log-spaced time grid from
  where every seed has started to where the group's longest seed ended (a seed that ended
  earlier keeps its last incumbent), with the one-shot methods as dashed or dotted references
  against their measured search time;
- `correlation_scatter`: one-shot validation accuracy against benchmark test accuracy, one panel
  per correlation study, with Spearman, Kendall tau and precision@10 in the title;
- `hpo_incumbents`: BOHB's incumbent test regret against the budget (epochs) used so far, one
  line per run, with the incumbent's first budget and each point where it rises marked
  (HpBandSter's incumbent is the best at the largest budget so far, so the regret may jump up
  there).
Each function returns the paths it wrote, or raises `NothingToDraw` when no run has data for it
(runs without data are left out of a figure).
"""

from __future__ import annotations

import textwrap
import warnings
from pathlib import Path

import numpy as np

from nasbench1shot1.analysis.criteria import ranking_criteria
from nasbench1shot1.analysis.runs import (
    BlackboxRun,
    CorrelationRun,
    EstimateRun,
    HpoRun,
    SearchRun,
    group_runs,
    seeds_text,
)

FLOOR = 1e-4  # the smallest regret drawn on a log scale (a regret of 0 is drawn there)
FORMATS = ("png", "pdf")
COLUMNS = 4  # panels per row
LINESTYLES = ("-", "--", "-.", ":")
MARKERS = ("o", "s", "^", "v", "D")
LEGEND_FONT = 7
LABEL_WIDTH = 60  # characters of a legend entry's line


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
                             squeeze=False, gridspec_kw={"wspace": 0.35, "hspace": 0.6})
    flat = list(axes.ravel())
    for ax in flat[count:]:
        ax.set_visible(False)
    return fig, flat[:count]


def _styles(keys, linestyles=LINESTYLES, first_colour: int = 0) -> dict:
    """A (colour, line style) pair per key, no two alike: the colours of the cycle with the first
    line style, then with the next, ...; past every pair, markers tell them apart. Keys given
    to another call with other line styles never share a pair with these."""
    colours = _pyplot().rcParams["axes.prop_cycle"].by_key()["color"]
    styles = {}
    for i, key in enumerate(keys):
        rounds = i // len(colours)
        style = {"color": colours[(first_colour + i) % len(colours)],
                 "linestyle": linestyles[rounds % len(linestyles)]}
        if rounds >= len(linestyles):
            style.update(marker=MARKERS[(rounds // len(linestyles) - 1) % len(MARKERS)],
                         markevery=0.1, markersize=4)
        styles[key] = style
    return styles


def _wrapped(label: str) -> str:
    """A legend entry in lines of LABEL_WIDTH characters; its closing '(...)' (seeds) is not
    split."""
    split = label.endswith(")") and " (" in label
    head, _, tail = label.rpartition(" (") if split else (label, "", "")
    lines = textwrap.wrap(head, LABEL_WIDTH) or [""]
    if tail:
        tail = f"({tail}"
        fits = len(lines[-1]) + 1 + len(tail) <= LABEL_WIDTH
        lines[-1:] = [f"{lines[-1]} {tail}"] if fits else [lines[-1], tail]
    return "\n".join(lines)


def _legend_below(ax) -> None:
    """The panel's legend under its x label, one entry a line, long labels wrapped so that the
    legends of panels side by side do not meet."""
    handles, labels = ax.get_legend_handles_labels()
    if handles:
        ax.legend(handles, [_wrapped(label) for label in labels],
                  loc="upper center", bbox_to_anchor=(0.5, -0.2), fontsize=LEGEND_FONT,
                  frameon=False)


def _integer_ticks(axis) -> None:
    from matplotlib.ticker import MaxNLocator

    axis.set_major_locator(MaxNLocator(integer=True))


def _mean_band(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean and mean +- one std over the rows (seeds), NaN-aware (NaN where no seed has a
    value)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        mean = np.nanmean(matrix, axis=0)
        std = np.nanstd(matrix, axis=0)
    return mean, np.maximum(mean - std, FLOOR), np.maximum(mean + std, FLOOR)


def _all_seeds(rows: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean and band over seeds, drawn only where every seed has a value."""
    matrix = np.vstack(rows)
    mean, low, high = _mean_band(matrix)
    missing = np.isnan(matrix).any(axis=0)
    return (np.where(missing, np.nan, mean), np.where(missing, np.nan, low),
            np.where(missing, np.nan, high))


def _on_grid(times: np.ndarray, values: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """A step function (the value after each time) read at `grid`: NaN before the first time;
    after the last, the last value (what the run ended with)."""
    index = np.searchsorted(times, grid, side="right") - 1
    return np.where(index >= 0, values[np.clip(index, 0, None)], np.nan)


def _log_regret(ax) -> None:
    """A log scale for regrets, its labels written as plain numbers (0.2, 0.04), also at minor
    ticks when a panel spans less than a decade or two."""
    from matplotlib.ticker import Formatter, LogFormatter

    class Plain(Formatter):
        """Labels where `LogFormatter` puts one, as 0.2 rather than 2e-01."""

        def __init__(self, chooser: LogFormatter) -> None:
            self.chooser = chooser

        def set_axis(self, axis) -> None:
            super().set_axis(axis)
            self.chooser.set_axis(axis)

        def set_locs(self, locs) -> None:
            self.chooser.set_locs(locs)

        def __call__(self, x, pos=None) -> str:
            return f"{x:g}" if self.chooser(x, pos) else ""

    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(Plain(LogFormatter()))
    ax.yaxis.set_minor_formatter(Plain(LogFormatter(labelOnlyBase=False,
                                                    minor_thresholds=(2, 0.5))))


def _log_axes(ax, title: str, xlabel: str, ylabel: str) -> None:
    _log_regret(ax)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.grid(True, which="both", alpha=0.3)


def search_regret(runs: list[SearchRun], stem: Path) -> list[Path]:
    runs = [r for r in runs if r.epochs.size and _known(r.test_regret)]
    if not runs:
        raise NothingToDraw("no search run has a known test regret")
    groups = group_runs(runs)
    spaces = sorted({g.space for g in groups})
    styles = _styles(sorted({g.title for g in groups}))
    fig, axes = _panels(len(spaces))
    for ax, space in zip(axes, spaces):
        drawn = [g for g in groups if g.space == space]
        for g in drawn:
            style = styles[g.title]
            epochs = np.arange(1, max(r.length for r in g.runs) + 1)
            matrix = np.full((len(g.runs), len(epochs)), np.nan)
            for i, r in enumerate(g.runs):
                matrix[i, r.epochs - 1] = r.test_regret
            mean, low, high = _all_seeds(list(matrix))
            common = min(r.length for r in g.runs)
            label = f"{g.title} ({seeds_text(g.seeds)})"
            if common < len(epochs):
                label += f"; mean to epoch {common}, thin: each seed"
            ax.plot(epochs, np.maximum(mean, FLOOR), label=label,
                    **({"marker": "o", "markersize": 3} if len(epochs) == 1 else {}), **style)
            ax.fill_between(epochs, low, high, color=style["color"], alpha=0.15, linewidth=0)
            if common < len(epochs):  # seeds of different lengths: each drawn whole
                for r in g.runs:
                    ax.plot(r.epochs, np.maximum(r.test_regret, FLOOR), linewidth=0.8,
                            alpha=0.7, **style)
                    ax.annotate(f"seed {r.seed}", (r.epochs[-1], max(r.test_regret[-1], FLOOR)),
                                textcoords="offset points", xytext=(3, 0), fontsize=6,
                                color=style["color"], va="center")
        _log_axes(ax, f"search space {space}", "epoch", "test regret")
        _integer_ticks(ax.xaxis)
        _legend_below(ax)
    fig.suptitle("one-shot search: test regret of the preferred cell (mean over seeds, band: "
                 "+-1 std)", fontsize=10, y=1.02)
    return _save(fig, stem)


def blackbox_regret(runs: list[BlackboxRun], reference: list[SearchRun],
                    stem: Path) -> list[Path]:
    runs = [r for r in runs if (r.simulated_time > 0).any() and _known(r.test_regret)]
    if not runs:
        raise NothingToDraw("no black-box run has simulated time and a known test regret (a "
                            "benchmark without training time gives no simulated time)")
    reference = [r for r in reference if r.wall_time.size and _known(r.wall_time)
                 and _known(r.test_regret)]
    groups, references = group_runs(runs), group_runs(reference)
    spaces = sorted({g.space for g in groups})
    optimizers = sorted({g.title for g in groups})
    styles = _styles(optimizers, ("-", "-."))
    styles.update(_styles(sorted({f"{g.title} (one-shot)" for g in references}), ("--", ":"),
                          first_colour=len(optimizers)))
    fig, axes = _panels(len(spaces))
    for ax, space in zip(axes, spaces):
        here = [g for g in groups if g.space == space]
        positive = np.concatenate([r.simulated_time[r.simulated_time > 0]
                                   for g in here for r in g.runs])
        end = max(r.simulated_time[-1] for g in here for r in g.runs)
        grid = np.geomspace(positive.min(), end, 200)
        for g in here:
            mean, low, high = _all_seeds([_on_grid(r.simulated_time, r.test_regret, grid)
                                          for r in g.runs])
            beyond = grid > max(r.simulated_time[-1] for r in g.runs)
            mean[beyond], low[beyond], high[beyond] = np.nan, np.nan, np.nan
            style = styles[g.title]
            ax.plot(grid, np.maximum(mean, FLOOR), label=f"{g.title} ({seeds_text(g.seeds)})",
                    **style)
            ax.fill_between(grid, low, high, color=style["color"], alpha=0.12, linewidth=0)
        searches = [g for g in references if g.space == space]
        for g in searches:
            seconds = np.geomspace(min(r.wall_time[0] for r in g.runs),
                                   max(r.wall_time[-1] for r in g.runs), 100)
            mean, _, _ = _all_seeds([_on_grid(r.wall_time, r.test_regret, seconds)
                                     for r in g.runs])
            title = f"{g.title} (one-shot)"
            ax.plot(seconds, np.maximum(mean, FLOOR), label=f"{title[:-1]}, "
                    f"{seeds_text(g.seeds)})", **styles[title])
        ax.set_xscale("log")
        _log_axes(ax, f"search space {space}", "simulated time [s] (one-shot: search time)",
                  "test regret of the incumbent")
        _legend_below(ax)
    fig.suptitle("black-box optimizers against one-shot search (mean over seeds, band: +-1 std)",
                 fontsize=10, y=1.02)
    return _save(fig, stem)


def _fmt(value) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def correlation_scatter(runs: list[CorrelationRun], stem: Path) -> list[Path]:
    runs = [r for r in runs if (~(np.isnan(r.one_shot) | np.isnan(r.benchmark))).sum() >= 2]
    if not runs:
        raise NothingToDraw("no correlation study has two cells scored on both sides")
    # the groups in the order of their first study in `runs`, each by seed
    first = {id(r): i for i, r in enumerate(runs)}
    groups = sorted(group_runs(runs), key=lambda g: min(first[id(r)] for r in g.runs))
    studies = [(g, r) for g in groups for r in g.runs]
    fig, axes = _panels(len(studies), width=3.8, height=3.6)
    # one score range for every panel (and chance inside it), so that panels compare by eye
    values = [v for r in runs for v in r.one_shot[np.isfinite(r.one_shot)]]
    values += [r.chance for r in runs if r.chance is not None]
    low, high = min(values), max(values)
    pad = 0.05 * (high - low or 1.0)
    for ax, (g, r) in zip(axes, studies):
        known = ~(np.isnan(r.one_shot) | np.isnan(r.benchmark))
        ax.scatter(r.benchmark[known], r.one_shot[known], s=8, alpha=0.6)
        ax.set_ylim(low - pad, high + pad)
        if r.chance is not None:
            ax.axhline(r.chance, color="0.4", linestyle=":", linewidth=1.0)
            ax.annotate(f"chance {r.chance:.2f}", (0.01, r.chance), xycoords=("axes fraction",
                        "data"), xytext=(0, 2), textcoords="offset points", fontsize=7,
                        color="0.3")
        k = min(10, int(known.sum()))
        c = ranking_criteria(r.one_shot, r.benchmark, ks=(k,))
        seed = "" if r.seed is None else f", seed {r.seed}"
        bn = f", BN {r.settings['study.bn']}" if "study.bn" in r.settings else ""
        lines = [f"{r.method}, space {r.space}{seed}, epoch {r.epoch}{bn}",
                 *textwrap.wrap(", ".join(part for part in g.label.split(", ") if part
                                          and not part.startswith(("study.epoch=", "study.bn="))),
                                48),
                 f"Spearman {_fmt(c.get('spearman'))}, Kendall {_fmt(c.get('kendall_tau'))}, "
                 f"P@{k} {_fmt(c.get(f'precision@{k}'))}"]
        ax.set_title("\n".join(lines), fontsize=8)
        ax.set_xlabel("benchmark test accuracy")
        ax.set_ylabel("one-shot validation accuracy")
        ax.grid(True, alpha=0.3)
    return _save(fig, stem)


#: What the BOHB figure says about HpBandSter's incumbent, under its title.
BUDGET_RULE = ("The incumbent is the best configuration among those evaluated at the largest "
               "budget so far: when the first evaluation at a larger budget ends, the incumbent "
               "becomes that budget's best, so its regret can jump up (marked: the incumbent's "
               "budget, in epochs, where it starts and where it rises).")


def hpo_incumbents(runs: list[HpoRun], stem: Path) -> list[Path]:
    runs = [r for r in runs if _known(r.test_regret)]
    if not runs:
        raise NothingToDraw("no BOHB run has an incumbent with a known test regret")
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.0, 4.2))
    series = [(g, r) for g in group_runs(runs) for r in g.runs]
    styles = _styles([(g.title, r.space, r.seed) for g, r in series])
    for g, r in series:
        known = np.isfinite(r.test_regret)
        style = styles[g.title, r.space, r.seed]
        x, y = r.used_budget[known], np.maximum(r.test_regret[known], FLOOR)
        ax.step(x, y, where="post", label=f"{g.title}, space {r.space}, seed {r.seed}", **style)
        budget = r.budget[known] if r.budget.size == r.used_budget.size else np.array([])
        # the incumbent's first budget, and each point where it rises
        marked = np.flatnonzero(np.diff(budget, prepend=-np.inf) > 0) if budget.size else []
        ax.scatter(x[marked], y[marked], s=18, facecolors="none", edgecolors=style["color"],
                   zorder=3)
        for n, i in enumerate(marked):
            ax.annotate(f"budget {budget[i]:g}", (x[i], y[i]), textcoords="offset points",
                        xytext=(-4, 4) if n else (4, 4), ha="right" if n else "left",
                        fontsize=7, color=style["color"])
    _log_regret(ax)
    ax.set_xlabel("budget used so far [epochs, all workers]")
    ax.set_ylabel("test regret of the incumbent\n(best at the largest budget so far)")
    _integer_ticks(ax.xaxis)
    ax.set_title("BOHB over one-shot hyperparameters: the incumbent\n"
                 + "\n".join(textwrap.wrap(BUDGET_RULE, 90)), fontsize=8)
    ax.grid(True, which="both", alpha=0.3)
    _legend_below(ax)
    return _save(fig, stem)


def _initialization(r: EstimateRun) -> float:
    """What initializing the estimator cost, in seconds: wall time and the simulated training
    time of the cells it queried."""
    return float(r.cost.get("init_seconds", 0.0)) + float(r.cost.get("init_simulated_seconds",
                                                                     0.0))


def estimator_tradeoff(runs: list[EstimateRun], stem: Path) -> list[Path]:
    """Kendall tau against initialization time per estimator group (White et al.'s figure):
    one panel per space, a point per group at the mean over its seeds, bars of one std."""
    runs = [r for r in runs if r.criteria.get("kendall_tau") is not None]
    if not runs:
        raise NothingToDraw("no estimate has a Kendall tau")
    groups = group_runs(runs)
    spaces = sorted({g.space for g in groups}, key=str)
    fig, axes = _panels(len(spaces), width=5.0, height=4.2)
    styles = _styles([g.title for g in groups])
    for ax, space in zip(axes, spaces):
        for g in (g for g in groups if g.space == space):
            x = np.array([_initialization(r) for r in g.runs])
            y = np.array([r.criteria["kendall_tau"] for r in g.runs], dtype=float)
            style = styles[g.title]
            ax.errorbar(max(float(x.mean()), 1e-3), float(y.mean()),
                        yerr=float(y.std()) if len(y) > 1 else None,
                        marker=style.get("marker") or "o", color=style["color"], linestyle="none",
                        capsize=3, label=f"{g.title} ({seeds_text(g.seeds)})")
        ax.set_xscale("log")
        from matplotlib.ticker import FormatStrFormatter

        ax.xaxis.set_major_formatter(FormatStrFormatter("%g"))
        ax.xaxis.set_minor_formatter(FormatStrFormatter("%g"))
        ax.tick_params(axis="x", which="minor", labelsize=7)
        ax.axhline(0.0, color="0.6", linewidth=0.8)
        ax.set_title(f"search space {space}" if space != "all" else "all of NAS-Bench-101")
        ax.set_xlabel("initialization [s] (wall + simulated training of queried cells;\n"
                      "none: drawn at 0.001 s)")
        ax.set_ylabel("Kendall tau with the benchmark's test accuracy")
        ax.grid(True, alpha=0.3)
        _legend_below(ax)
    fig.suptitle("performance estimators: ranking quality against initialization cost")
    return _save(fig, stem)


BIAS_FACTS = ("params", "ops_conv3x3-bn-relu", "ops_conv1x1-bn-relu", "ops_maxpool3x3")


def _ranks(values: np.ndarray) -> np.ndarray:
    """Ranks scaled to [0, 1] (NaN kept)."""
    from scipy.stats import rankdata

    out = np.full(values.shape, np.nan)
    known = ~np.isnan(values)
    if known.sum() > 1:
        out[known] = (rankdata(values[known]) - 1) / (known.sum() - 1)
    return out


def estimator_bias(runs: list[EstimateRun], stem: Path) -> list[Path]:
    """Each estimator group's scores (its first seed) against the cells' #params and the count of
    each op, beside the benchmark's test accuracy: both as ranks in [0, 1] (mean per op count),
    so a score that follows #params or an op more than the accuracy does shows it."""
    groups = group_runs(runs)
    rows = []
    for g in groups:
        try:
            rows.append((g, g.runs[0].facts()))
        except (OSError, ValueError, KeyError):
            continue
    rows = [(g, f) for g, f in rows if all(k in f for k in ("scores", "truth", *BIAS_FACTS))]
    if not rows:
        raise NothingToDraw("no estimate has scores.npz with the cells' parameters and ops")
    plt = _pyplot()
    fig, axes = plt.subplots(len(rows), len(BIAS_FACTS), squeeze=False,
                             figsize=(3.4 * len(BIAS_FACTS), 2.8 * len(rows)),
                             gridspec_kw={"wspace": 0.3, "hspace": 0.7})
    for (g, facts), row in zip(rows, axes):
        score, truth = _ranks(facts["scores"]), _ranks(facts["truth"])
        for ax, fact in zip(row, BIAS_FACTS):
            x = facts[fact].astype(float)
            if fact == "params":
                ax.scatter(x, score, s=5, alpha=0.5, label="estimator's score")
                ax.scatter(x, truth, s=5, alpha=0.5, label="benchmark accuracy")
                ax.set_xscale("log")
                ax.set_xlabel("trainable parameters")
            else:
                levels = np.unique(x[~np.isnan(x)])
                ax.plot(levels, [np.nanmean(score[x == v]) for v in levels], "o-",
                        label="estimator's score")
                ax.plot(levels, [np.nanmean(truth[x == v]) for v in levels], "s--",
                        label="benchmark accuracy")
                ax.set_xlabel(f"vertices running {fact[4:]}")
                _integer_ticks(ax.xaxis)
            ax.set_ylim(-0.05, 1.05)
            ax.grid(True, alpha=0.3)
        row[0].set_ylabel("rank in [0, 1]")
        row[0].set_title(f"{g.title}, space {g.space}", fontsize=8, loc="left", pad=10)
        row[-1].legend(fontsize=LEGEND_FONT, loc="lower right")
    fig.suptitle("estimator bias: scores and the benchmark's accuracy against cell size and ops "
                 "(mean rank per count)", y=1.0 + 0.12 / len(rows))
    return _save(fig, stem)
