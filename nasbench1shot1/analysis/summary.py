"""The summary table of `nb1s1 analyze`: final and best test regret per kind, method and space.

One row per (kind, method or optimizer, search space): the number of runs (seeds), and the mean
and standard deviation over them of the final test regret (last epoch of a search, last query
of a black-box run, BOHB's incumbent; an unknown one is left out of the mean) and of the best
test regret reached along the way.
Written as CSV and as a markdown table.
"""

from __future__ import annotations

import csv
import math
from collections import defaultdict
from pathlib import Path

import numpy as np

from nasbench1shot1.analysis.runs import Runs

COLUMNS = ("kind", "name", "space", "runs", "final_regret_mean", "final_regret_std",
           "best_regret_mean", "best_regret_std")


def _last(values: np.ndarray) -> float:
    """The value the run ended with (NaN when it is unknown)."""
    return float(values[-1]) if values.size else math.nan


def _best(values: np.ndarray) -> float:
    known = values[~np.isnan(values)]
    return float(known.min()) if known.size else math.nan


def summary_rows(runs: Runs) -> list[dict]:
    groups: dict[tuple, list[tuple[float, float]]] = defaultdict(list)
    for r in runs.search:
        groups["one-shot", r.method, r.space].append((_last(r.test_regret), _best(r.test_regret)))
    for r in runs.blackbox:
        groups["black-box", r.optimizer, r.space].append(
            (_last(r.test_regret), _best(r.test_regret)))
    for r in runs.hpo:
        final = math.nan if r.final_test_regret is None else float(r.final_test_regret)
        groups["bohb-hpo", f"{r.method} ({r.setting})", r.space].append(
            (final, _best(r.test_regret)))
    rows = []
    for (kind, name, space), values in sorted(groups.items()):
        final = np.array([v[0] for v in values])
        best = np.array([v[1] for v in values])
        rows.append({
            "kind": kind, "name": name, "space": space, "runs": len(values),
            "final_regret_mean": _stat(np.nanmean, final),
            "final_regret_std": _stat(np.nanstd, final),
            "best_regret_mean": _stat(np.nanmean, best),
            "best_regret_std": _stat(np.nanstd, best),
        })
    return rows


def _stat(function, values: np.ndarray) -> float | None:
    if np.isnan(values).all():
        return None
    return float(function(values))


def write_summary(rows: list[dict], folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    csv_path, md_path = folder / "summary.csv", folder / "summary.md"
    with csv_path.open("w", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows({k: ("" if v is None else v) for k, v in row.items()} for row in rows)

    def cell(mean, std) -> str:
        return "n/a" if mean is None else f"{mean:.4f} ± {std:.4f}"

    lines = ["| kind | method | space | runs | final test regret | best test regret |",
             "|---|---|---|---|---|---|"]
    for row in rows:
        lines.append(f"| {row['kind']} | {row['name']} | {row['space']} | {row['runs']} | "
                     f"{cell(row['final_regret_mean'], row['final_regret_std'])} | "
                     f"{cell(row['best_regret_mean'], row['best_regret_std'])} |")
    md_path.write_text("\n".join(lines) + "\n\nMean ± standard deviation over runs (seeds).\n")
    return [csv_path, md_path]
