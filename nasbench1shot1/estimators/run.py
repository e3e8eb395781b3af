"""`estimate(settings, run_dir)`: one estimator judged on the cells of a space, as nb1s1-estimate
runs it.

The test cells are `cells` cells of the search space (every unique cell with a known test
accuracy in the benchmark; `search_space=all`: every cell of the benchmark), sampled with
`seed`; a model-based predictor is fit on `train_size` other cells of it (queried: their
validation accuracy and its simulated cost). The estimator scores the test cells in chunks; the
scores so far are kept in `scores.partial.npz` after each chunk, so a stopped estimate goes on
where it stopped. At the end `estimate.json` holds the settings, the ranking criteria of
`analysis.criteria` (K = 10 cells and 5 %) against the benchmark's test accuracy (mean over
repeats), and the costs; `scores.npz` the hashes, scores and truth, and each cell's parameters
and op counts (for the bias plots of `nb1s1 analyze`). A run dir holding the
finished estimate of the same settings is not run again, and one of other settings is refused
(`runfiles.own_run_dir`).
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict
from pathlib import Path

import numpy as np

from nasbench1shot1.analysis.criteria import ranking_criteria
from nasbench1shot1.conf.data import option_overrides
from nasbench1shot1.conf.estimate import EstimateSettings
from nasbench1shot1.estimators import ESTIMATORS
from nasbench1shot1.estimators.base import TRUTH, Context
from nasbench1shot1.progress import bar as progress_bar
from nasbench1shot1.runfiles import (
    ESTIMATE_FILE,
    PARTIAL_SCORES_FILE,
    SCORES_FILE,
    own_run_dir,
    write_json,
)

KIND = "estimate"
#: The K of precision, best and worst rank@K: 10 cells and 5 % of them.
KS = (10, 0.05)
#: Cells scored between two saves of the scores so far.
CHUNK = 256
log = logging.getLogger(__name__)


def _cells(settings: EstimateSettings, benchmark, epochs: int) -> np.ndarray:
    """The hashes of the space's cells with a known test accuracy, sorted."""
    from nasbench1shot1.spaces import get_search_space, unique_cells

    def text(keys) -> list[str]:
        return [k.decode() if isinstance(k, bytes) else str(k) for k in keys]

    if settings.search_space == "all":
        hashes = np.asarray(sorted(text(benchmark.hashes)))
    else:
        hashes = np.asarray([h for h in text(unique_cells(get_search_space(settings.search_space)))
                             if h in benchmark])
    truth = benchmark.metric(TRUTH, hashes, epochs=epochs) if len(hashes) else np.array([])
    return hashes[~np.isnan(truth)]


def split(settings: EstimateSettings, hashes: np.ndarray, family: str
          ) -> tuple[list[str], list[str]]:
    """(test cells, training cells) of `hashes`, sampled with the seed; training cells only for
    the model-based family, never among the test cells."""
    where = "all of the benchmark" if settings.search_space == "all" else \
        f"search space {settings.search_space}"
    if settings.cells is not None and settings.cells > len(hashes):
        raise ValueError(f"cells={settings.cells} is more than the {len(hashes):,} cells of "
                         f"{where} with a test accuracy in the benchmark; use at most that, or "
                         "cells=null for every one")
    rng = np.random.default_rng(settings.seed)
    order = rng.permutation(len(hashes))
    count = len(hashes) if settings.cells is None else settings.cells
    test = [str(hashes[i]) for i in sorted(order[:count])]
    if family != "model_based":
        return test, []
    rest = order[count:]
    if settings.train_size > len(rest):
        raise ValueError(f"train_size={settings.train_size} is more than the {len(rest):,} cells "
                         f"of {where} left beside the {count:,} test cells; use a smaller "
                         "train_size or fewer cells")
    return test, [str(hashes[i]) for i in sorted(rng.choice(rest, settings.train_size,
                                                            replace=False))]


def _finished(run_dir: Path, settings: EstimateSettings) -> dict | None:
    path = run_dir / ESTIMATE_FILE
    if not path.is_file():
        return None
    try:
        stored = json.loads(path.read_text())
    except ValueError:
        return None
    return stored if stored.get("settings") == settings.identity() else None


def _search_overrides(settings: EstimateSettings) -> tuple[str, ...]:
    """nb1s1-search overrides for the estimate's data and benchmark (a one-shot supernet)."""
    return (*option_overrides("data", asdict(settings.data)),
            *option_overrides("benchmark", asdict(settings.benchmark)))


def estimate(settings: EstimateSettings, run_dir: str | os.PathLike, tracker=None,
             echo: bool = True) -> dict:
    """Judge the estimator `settings` names; see the module docstring. Returns estimate.json's
    content."""
    run_dir = Path(run_dir).resolve()
    ESTIMATORS.get(settings.estimator.name)  # an unknown one: one sentence, before the run dir
    with own_run_dir(run_dir, KIND, settings.identity()):
        done = _finished(run_dir, settings)
        if done is not None:
            log.info("%s holds this estimate, finished: nothing is run again (%s)", run_dir,
                     summary_line(done, run_dir))
            return done
        return _estimate(settings, run_dir, tracker, echo)


def _estimate(settings: EstimateSettings, run_dir: Path, tracker, echo: bool) -> dict:
    from nasbench1shot1 import threads as thread_policy
    from nasbench1shot1.checks import resolved_device
    from nasbench1shot1.data.registry import load_data
    from nasbench1shot1.embedded import open_benchmark
    from nasbench1shot1.spaces import get_search_space

    thread_policy.apply(settings.threads)
    benchmark = open_benchmark(settings.benchmark.where, seed=settings.seed)
    epochs = max(benchmark.epochs)
    cls = ESTIMATORS.get(settings.estimator.name)
    test, train = split(settings, _cells(settings, benchmark, epochs), cls.family)
    d = settings.data
    context = Context(
        benchmark=benchmark, epochs=epochs, seed=settings.seed,
        space=None if settings.search_space == "all" else get_search_space(settings.search_space),
        device=resolved_device(settings.device),
        load_data=lambda: load_data(d.name, d.root, d.split_seed),
        run_dir=run_dir, search_overrides=_search_overrides(settings))
    estimator = cls(settings.estimator, context)
    estimator.run_fit(train)
    partial = run_dir / PARTIAL_SCORES_FILE
    scores = _resumed(partial, test)
    if tracker is not None:
        tracker.start({**settings.identity(), "kind": KIND}, run_dir)
    bar = progress_bar(len(test), f"{settings.estimator.name} space {settings.search_space}",
                       "cell", echo and settings.progress, initial=len(scores))
    while len(scores) < len(test):
        chunk = test[len(scores):len(scores) + CHUNK]
        scores = np.concatenate([scores, estimator.run_score(context.specs(chunk))])
        np.savez(partial, hashes=np.asarray(test[:len(scores)], dtype="S32"), scores=scores)
        bar.update(len(chunk))
    bar.close()
    truth = benchmark.metric(TRUTH, np.asarray(test), epochs=epochs)
    ks = tuple(k for k in KS if not isinstance(k, int) or k <= len(test))
    result = {
        "kind": KIND, "estimator": settings.estimator.name, "family": cls.family,
        "search_space": settings.search_space, "cells": len(test), "train_cells": len(train),
        "epochs": epochs, **ranking_criteria(scores, truth, ks=ks),
        "cost": estimator.cost.as_dict(), "settings": settings.identity(),
    }
    np.savez(run_dir / SCORES_FILE, hashes=np.asarray(test, dtype="S32"), scores=scores,
             truth=truth, **cell_facts(benchmark, test))
    write_json(run_dir / ESTIMATE_FILE, result)
    partial.unlink(missing_ok=True)
    if tracker is not None:
        tracker.finish({k: v for k, v in result.items() if k not in ("settings", "cost")}
                       | {f"cost_{k}": v for k, v in result["cost"].items()})
    log.log(logging.INFO if echo else logging.DEBUG, "%s", summary_line(result, run_dir))
    return result


def cell_facts(benchmark, hashes: list[str]) -> dict[str, np.ndarray]:
    """What the bias plots set scores against, per cell: its trainable parameters (NaN where the
    benchmark does not know them) and how many of its vertices run each op."""
    from nasbench1shot1.nasbench.spec import AVAILABLE_OPS

    params, counts = [], {op: [] for op in AVAILABLE_OPS}
    for key in hashes:
        fixed, _ = benchmark.get_metrics_from_hash(key)
        known = fixed.get("trainable_parameters")
        params.append(np.nan if known is None else float(known))
        ops = list(fixed["module_operations"])
        for op in AVAILABLE_OPS:
            counts[op].append(ops.count(op))
    return {"params": np.asarray(params),
            **{f"ops_{op}": np.asarray(n, dtype=np.int64) for op, n in counts.items()}}


def _resumed(partial: Path, test: list[str]) -> np.ndarray:
    """The scores a stopped estimate kept, when they are of the same first cells."""
    if not partial.is_file():
        return np.empty(0)
    try:
        with np.load(partial, allow_pickle=False) as kept:
            hashes = [h.decode() for h in kept["hashes"]]
            scores = kept["scores"]
    except (OSError, ValueError, KeyError):
        return np.empty(0)
    if hashes != test[:len(hashes)] or len(scores) != len(hashes):
        return np.empty(0)
    log.info("resuming after %d of %d cells scored", len(scores), len(test))
    return np.asarray(scores, dtype=float)


def _four(value) -> str:
    return "undefined" if value is None else f"{value:.4f}"


def summary_line(result: dict, run_dir: Path) -> str:
    """The app's last line: the estimator, cells, the main criteria and the costs."""
    cost = result["cost"]
    per_cell = cost.get("seconds_per_cell")
    simulated = cost["init_simulated_seconds"] + cost.get("query_simulated_seconds", 0.0)
    return (f"{result['estimator']} ({result['family']}) on {result['cells']:,} cells of "
            f"space {result['search_space']}: Kendall tau {_four(result['kendall_tau'])}, "
            f"Spearman {_four(result['spearman'])}, precision@10 "
            f"{_four(result.get('precision@10'))}; initialization {cost['init_seconds']:.1f} s "
            f"({cost['init_queries']} cells queried), "
            f"{'-' if per_cell is None else f'{1000 * per_cell:.2f} ms'} per cell, "
            f"{simulated:,.0f} simulated training s; {run_dir / ESTIMATE_FILE}")
