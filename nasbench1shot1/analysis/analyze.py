"""`analyze(paths, out)`: every figure and table the runs under `paths` allow, into `out`, and
a warning for each group of runs whose seeds ran for different lengths."""

from __future__ import annotations

import logging
from pathlib import Path

from nasbench1shot1.analysis import figures
from nasbench1shot1.analysis.runs import Runs, find_runs, group_runs, length_warnings
from nasbench1shot1.analysis.summary import summary_rows, write_summary

log = logging.getLogger(__name__)

#: What the figures and the table do with a group whose runs differ in length, per kind.
LENGTH_RULES = {
    "search": ("search_regret draws the mean where every seed has the epoch and each seed "
               "whole as a thin line; the table's final regret is each seed's last epoch"),
    "black-box": ("blackbox_regret keeps a seed's last incumbent after it ended, up to the end "
                  "of the group's longest seed; the table's final regret is each seed's last "
                  "query"),
    "BOHB": "hpo_incumbents draws each run whole; the table's final regret is each incumbent",
}


def _warnings(runs: Runs) -> list[str]:
    found = []
    for kind, records in (("search", runs.search), ("black-box", runs.blackbox),
                          ("BOHB", runs.hpo)):
        found += length_warnings(kind, group_runs(records), LENGTH_RULES[kind])
    for warning in found:
        log.warning(warning)
    return found


def analyze(paths, out: str | Path) -> dict:
    """Returns {"written": [paths], "skipped": [(what, why)], "warnings": [sentences],
    "runs": counts per kind (each seed of a setup once)}."""
    runs = find_runs(paths)
    if not len(runs):
        raise ValueError(f"no runs found under {', '.join(str(p) for p in paths)} (looked for "
                         "result.json of nb1s1-search or nb1s1-blackbox, incumbent.json of "
                         "nb1s1-hpo, estimate.json of nb1s1-estimate)")
    out = Path(out)
    written, skipped = [], [(str(path), why) for path, why in runs.skipped]
    plans = [
        ("search_regret", runs.search,
         lambda: figures.search_regret(runs.search, out / "search_regret"), "no search runs"),
        ("blackbox_regret", runs.blackbox,
         lambda: figures.blackbox_regret(runs.blackbox, runs.search, out / "blackbox_regret"),
         "no black-box runs"),
        ("correlation", runs.correlation,
         lambda: figures.correlation_scatter(runs.correlation, out / "correlation"),
         "no correlation studies (nb1s1 correlation RUN_DIR)"),
        ("hpo_incumbents", runs.hpo,
         lambda: figures.hpo_incumbents(runs.hpo, out / "hpo_incumbents"), "no BOHB runs"),
        ("estimators", runs.estimate,
         lambda: figures.estimator_tradeoff(runs.estimate, out / "estimators"),
         "no estimates (nb1s1-estimate)"),
        ("estimator_bias", runs.estimate,
         lambda: figures.estimator_bias(runs.estimate, out / "estimator_bias"),
         "no estimates (nb1s1-estimate)"),
    ]
    found = _warnings(runs)
    written += write_summary(summary_rows(runs), out)  # first: a figure's failure keeps it
    for name, present, draw, why in plans:
        if not present:
            skipped.append((name, why))
            continue
        try:
            written += draw()
        except figures.NothingToDraw as nothing:
            skipped.append((name, str(nothing)))
    counts = {"search": len(runs.search), "blackbox": len(runs.blackbox), "hpo": len(runs.hpo),
              "correlation": len(runs.correlation), "estimate": len(runs.estimate)}
    return {"written": [str(p) for p in written], "skipped": skipped, "warnings": found,
            "runs": counts}
