"""The correlation study of a finished (or checkpointed) search, as the paper's analysis does it.

`correlation(run_dir)` rebuilds the run's supernet from its checkpoint, scores a sample of the
space's cells (or all of them) by the one-shot validation accuracy of the shared weights under
each cell (on the architecture half of the data, `batches` batches), and compares the scores with
the cells' benchmark test accuracy (mean over repeats) by the ranking criteria of
`analysis.criteria` (Pearson, Spearman, Kendall tau, precision, best and worst rank at each K of
`ks`). Writes `correlation.json` (the scores per cell and the criteria) and `correlation.png`/`.pdf`
(scatter) into the run dir, holding the run dir's lock (not while the search runs). `nb1s1
correlation RUN_DIR` is the command.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from nasbench1shot1.analysis.criteria import ranking_criteria
from nasbench1shot1.checkpoint import load_checkpoint
from nasbench1shot1.runfiles import (
    CHECKPOINT_FILE,
    CORRELATION_FIGURE,
    CORRELATION_FILE,
    LOCK_FILE,
    held,
    write_json,
)
from nasbench1shot1.search import build_search
from nasbench1shot1.spaces import cell_architectures


def correlation(run_dir: str | Path, samples: int | None = 100, batches: int = 4,
                seed: int = 0, plot: bool = True, ks: tuple[int | float, ...] = (10,)) -> dict:
    """Score cells with the run's supernet; see the module docstring. `samples=None`: all."""
    run_dir = Path(run_dir)
    path = run_dir / CHECKPOINT_FILE
    if not path.is_file():
        raise ValueError(f"{run_dir} has no {CHECKPOINT_FILE}; is it the run dir of a search?")
    # the study reads the search's checkpoint and writes into its run dir: not while it runs
    with held(run_dir / LOCK_FILE, str(run_dir), "run the study when the search has ended"):
        return _study(run_dir, load_checkpoint(path), samples, batches, seed, plot, ks)


def _study(run_dir: Path, state: dict, samples: int | None, batches: int, seed: int, plot: bool,
           ks: tuple[int | float, ...]) -> dict:
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
    search.model.eval()
    scores, truth = [], []
    with torch.no_grad():
        for key in keys:
            weights = search.method.hard_weights(cells[key])
            correct = sum(int((search.model(b.images, weights).argmax(1) == b.labels).sum())
                          for b in valid)
            scores.append(correct / sum(len(b.labels) for b in valid))
    truth = search.benchmark.metric("final_test_accuracy", keys, epochs=search.bench_epochs)
    known = ~np.isnan(truth)
    one_shot = np.asarray(scores)
    result = {
        "run_dir": str(run_dir), "epoch": state["epoch"], "cells": len(keys),
        **ranking_criteria(one_shot, truth, ks=[k for k in ks if k <= known.sum()]),
        "scores": [{"cell": k, "one_shot_valid_accuracy": s, "benchmark_test_accuracy": float(t)}
                   for k, s, t in zip(keys, one_shot, truth)],
    }
    for row in result["scores"]:
        if not np.isfinite(row["benchmark_test_accuracy"]):
            row["benchmark_test_accuracy"] = None
    write_json(run_dir / CORRELATION_FILE, result)
    if plot:
        from nasbench1shot1.analysis.figures import correlation_scatter
        from nasbench1shot1.analysis.runs import CorrelationRun

        settings = search.settings
        correlation_scatter([CorrelationRun(run_dir, settings.method.name, settings.search_space,
                                            state["epoch"], one_shot, truth)],
                            run_dir / CORRELATION_FIGURE)
    return result
