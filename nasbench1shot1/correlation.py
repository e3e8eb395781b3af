"""The correlation study of a finished (or checkpointed) search, as the paper's analysis does it.

`score_cells(method, cells, batches, bn=, calibration=)` scores cells by the one-shot
validation accuracy of a method's supernet (its shared weights) under each cell, with batch-norm
statistics found as `bn` says (nasbench1shot1.models.batchnorm: `recalibrate` on calibration
batches of the weights half, `batch` statistics of the scored batches, or the shared `running`
ones); the supernet's stored state is the same afterwards. A one-shot estimator scores cells
with it too.

`correlation(run_dir)` rebuilds the run's supernet from its checkpoint, scores a sample of the
space's cells (or all of them) on the architecture half of the data (`batches` batches) in every
batch-norm mode, and compares the scores with the cells' benchmark test accuracy (mean over
repeats) by the ranking criteria of `analysis.criteria` (Pearson, Spearman, Kendall tau,
precision, best and worst rank at each K of `ks`). Writes `correlation.json` into the run dir:
the criteria of mode `bn` at the top level and each cell's score in that mode as
`one_shot_valid_accuracy`, the criteria and the mean score of every mode under `by_bn`, each
cell's score in every mode, and chance accuracy (1 / classes); and `correlation.png`/`.pdf`
(one scatter per mode), holding the run dir's lock (not while the search runs).
`correlation_over_seeds(run_dirs)` runs the study in each run dir (the same cells in each) and
gives the mean and spread of the criteria over the runs. `nb1s1 correlation RUN_DIR` is the
command.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from nasbench1shot1.analysis.criteria import ranking_criteria
from nasbench1shot1.checkpoint import load_checkpoint
from nasbench1shot1.conf.correlation import CorrelationSettings
from nasbench1shot1.methods import Batch
from nasbench1shot1.methods.base import OneShotMethod
from nasbench1shot1.models.batchnorm import (
    BN_MODES,
    check_bn_mode,
    kept_state,
    recalibrate,
    use_batch_statistics,
)
from nasbench1shot1.runfiles import (
    CHECKPOINT_FILE,
    CORRELATION_FIGURE,
    CORRELATION_FILE,
    LOCK_FILE,
    RUN_FILE,
    held,
    write_json,
)
from nasbench1shot1.search import build_search
from nasbench1shot1.spaces import Architecture, cell_architectures

log = logging.getLogger(__name__)

#: The criteria whose mean and spread over runs `correlation_over_seeds` reports.
SPREAD_CRITERIA = ("spearman", "kendall_tau", "pearson", "mean_score")


def score_cells(method: OneShotMethod, cells: Sequence[Architecture],
                batches: Sequence[Batch], bn: str = "recalibrate",
                calibration: Sequence[Batch] = ()) -> np.ndarray:
    """The accuracy on `batches` of `method`'s supernet under each of `cells`
    (`method.hard_weights`), with the batch-norm statistics of mode `bn`
    (models.batchnorm.BN_MODES; `recalibrate` on the images of `calibration`, batches of the
    weights half, the same for every cell). The supernet's batch-norm statistics and train
    flags are as before afterwards. The passes run as the search ran them (`method.forward`: in
    its train.precision)."""
    check_bn_mode(bn)
    model = method.model
    if bn == "recalibrate" and not calibration:
        raise ValueError("batch-norm mode 'recalibrate' needs at least one calibration batch")
    if not batches:
        raise ValueError("scoring cells needs at least one batch of images")
    total = sum(len(b.labels) for b in batches)
    scores = np.empty(len(cells))
    with kept_state(model), torch.no_grad():
        for i, cell in enumerate(cells):
            weights = method.hard_weights(cell)
            if bn == "recalibrate":
                recalibrate(model, lambda x, w=weights: method.forward(x, w),
                            (b.images for b in calibration))
            elif bn == "batch":
                use_batch_statistics(model)
            else:
                model.eval()
            correct = sum(int((method.forward(b.images, weights).argmax(1) == b.labels).sum())
                          for b in batches)
            scores[i] = correct / total
    return scores


_STUDY = CorrelationSettings()  # the defaults (conf/correlation.py)


def correlation(run_dir: str | Path, samples: int | None = _STUDY.samples,
                batches: int = _STUDY.batches, seed: int = _STUDY.seed, plot: bool = True,
                ks: tuple[int | float, ...] = (10,), bn: str = _STUDY.bn,
                calibration_batches: int = _STUDY.calibration_batches) -> dict:
    """Score cells with the run's supernet; see the module docstring. `samples=None`: all
    cells; `bn`: the batch-norm mode of the top-level criteria (every mode is reported);
    `calibration_batches`: batches of the weights half that recalibrate each cell."""
    check_bn_mode(bn)
    if calibration_batches < 1:
        raise ValueError(f"calibration_batches must be a positive integer, got "
                         f"{calibration_batches}")
    run_dir = Path(run_dir)
    path = run_dir / CHECKPOINT_FILE
    if not path.is_file():
        raise ValueError(f"{run_dir} has no {CHECKPOINT_FILE}; is it the run dir of a search?")
    # the study reads the search's checkpoint and writes into its run dir: not while it runs
    with held(run_dir / LOCK_FILE, str(run_dir), "run the study when the search has ended"):
        return _study(run_dir, load_checkpoint(path), samples, batches, seed, plot, ks, bn,
                      calibration_batches)


def _study(run_dir: Path, state: dict, samples: int | None, batches: int, seed: int, plot: bool,
           ks: tuple[int | float, ...], bn: str, calibration_batches: int) -> dict:
    search = build_search(state["settings"], echo=False)
    search.model.load_state_dict(state["model"])
    search.method.load_state_dict(state["method"])
    cells = cell_architectures(search.space)
    keys = list(cells)
    if samples is not None and samples < len(keys):
        rng = np.random.default_rng(seed)
        keys = [keys[i] for i in sorted(rng.choice(len(keys), samples, replace=False))]
    generator = torch.Generator().manual_seed(seed)
    valid = search.arch_batches(generator=generator)[:batches]
    calibration = search.weight_batches(generator=generator)[:calibration_batches]
    archs = [cells[k] for k in keys]
    one_shot = {mode: score_cells(search.method, archs, valid, mode, calibration)
                for mode in (bn, *(m for m in BN_MODES if m != bn))}
    truth = search.benchmark.metric("final_test_accuracy", keys, epochs=search.bench_epochs)
    known = int((~np.isnan(truth)).sum())
    ks = tuple(k for k in ks if k <= known)
    by_bn = {mode: {"mean_score": float(s.mean()), **ranking_criteria(s, truth, ks=ks)}
             for mode, s in one_shot.items()}
    chance = 1.0 / search.data.num_classes
    result = {
        "run_dir": str(run_dir), "epoch": state["epoch"], "seed": search.settings.seed,
        "sample_seed": seed, "cells": len(keys), "bn": bn, "batches": len(valid),
        "calibration_batches": len(calibration) if "recalibrate" in one_shot else 0,
        "chance_accuracy": chance,
        **{k: v for k, v in by_bn[bn].items() if k != "mean_score"},
        "mean_score": by_bn[bn]["mean_score"],
        "by_bn": by_bn,
        "scores": [{"cell": k, "one_shot_valid_accuracy": float(one_shot[bn][i]),
                    "one_shot_valid_accuracy_by_bn": {m: float(s[i]) for m, s in one_shot.items()},
                    "benchmark_test_accuracy": float(t) if np.isfinite(t) else None}
                   for i, (k, t) in enumerate(zip(keys, truth))],
    }
    log.info("%s, epoch %d, %d cells; chance %.3f; %s", run_dir, state["epoch"], len(keys),
             chance, "; ".join(f"BN {m}: mean score {c['mean_score']:.3f}, Spearman "
                               f"{_fmt(c['spearman'])}" for m, c in by_bn.items()))
    write_json(run_dir / CORRELATION_FILE, result)
    if plot:
        from nasbench1shot1.analysis.figures import correlation_scatter
        from nasbench1shot1.analysis.runs import CorrelationRun

        settings = search.settings
        correlation_scatter([CorrelationRun(run_dir, settings.method.name,
                                            settings.search_space, state["epoch"], s, truth,
                                            seed=settings.seed, settings={"study.bn": mode},
                                            chance=chance)
                             for mode, s in one_shot.items()],
                            run_dir / CORRELATION_FIGURE)
    return result


def _method_and_space(run_dir: Path) -> tuple[str, int]:
    """A search run dir's method and space, from its run.json (its checkpoint if it has none:
    a run of an earlier version), without loading the supernet twice."""
    try:
        settings = json.loads((run_dir / RUN_FILE).read_text())["settings"]
    except (OSError, ValueError, KeyError):
        settings = load_checkpoint(run_dir / CHECKPOINT_FILE)["settings"]
    return settings["method"]["name"], settings["search_space"]


def _fmt(value: float | None) -> str:
    return "undefined" if value is None else f"{value:.3f}"


def correlation_over_seeds(run_dirs: Sequence[str | Path],
                           samples: int | None = _STUDY.samples, batches: int = _STUDY.batches,
                           seed: int = _STUDY.seed, plot: bool = True,
                           ks: tuple[int | float, ...] = (10,), bn: str = _STUDY.bn,
                           calibration_batches: int = _STUDY.calibration_batches,
                           out: str | Path | None = None) -> dict:
    """Run the study (`correlation`, same arguments) in each of `run_dirs`, searches of one
    method on one space that differ in their seed, on the same cells (`seed` samples them), and
    give the spread over the runs: for each batch-norm mode and each of SPREAD_CRITERIA its
    mean, standard deviation (ddof 1; None for one run) and the value of each run; those of
    mode `bn` at the top level too. `out`: a JSON file to write the summary to."""
    if not run_dirs:
        raise ValueError("the correlation study over seeds needs at least one run dir")
    kinds = set()
    for run_dir in map(Path, run_dirs):
        if not (run_dir / CHECKPOINT_FILE).is_file():
            raise ValueError(f"{run_dir} has no {CHECKPOINT_FILE}; is it the run dir of a "
                             "search?")
        kinds.add(_method_and_space(run_dir))
    if len(kinds) > 1:
        raise ValueError(f"the runs differ in method or search space ({sorted(kinds)}); give "
                         "run dirs of one method on one space")
    (method, space), = kinds
    studies = [correlation(d, samples, batches, seed, plot, ks, bn, calibration_batches)
               for d in run_dirs]
    by_bn = {mode: {name: _spread([s["by_bn"][mode][name] for s in studies])
                    for name in SPREAD_CRITERIA}
             for mode in studies[0]["by_bn"]}
    summary = {
        "method": method, "search_space": space, "runs": len(studies), "bn": bn,
        "cells": studies[0]["cells"], "chance_accuracy": studies[0]["chance_accuracy"],
        "run_dirs": [s["run_dir"] for s in studies], "seeds": [s["seed"] for s in studies],
        "epochs": [s["epoch"] for s in studies],
        **by_bn[bn], "by_bn": by_bn,
    }
    log.info("%d runs of %s on space %d; %s", len(studies), method, space, "; ".join(
        f"BN {m}: Spearman {_fmt(c['spearman']['mean'])} +- {_fmt(c['spearman']['std'])}"
        for m, c in by_bn.items()))
    if out is not None:
        write_json(Path(out), summary)
    return summary


def _spread(values: list[float | None]) -> dict:
    """Mean and standard deviation of the defined values (None where there are none)."""
    known = [v for v in values if v is not None and math.isfinite(v)]
    return {"mean": float(np.mean(known)) if known else None,
            "std": float(np.std(known, ddof=1)) if len(known) > 1 else None,
            "values": values}
