"""The correlation study of a finished (or checkpointed) search, as the paper's analysis does it.

`correlation(run_dir)` rebuilds the run's supernet from its checkpoint, scores a sample of the
space's cells (or all of them) by the one-shot validation accuracy of the shared weights under
each cell (on the architecture half of the data, `batches` batches), and compares the scores with
the cells' benchmark test accuracy (mean over repeats): Spearman and Kendall tau. Writes
`correlation.json` (the scores per cell and the coefficients) and `correlation.png` (scatter)
into the run dir. `nb1s1 correlation RUN_DIR` is the command.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from scipy.stats import kendalltau, spearmanr

from nasbench1shot1.config import settings_from
from nasbench1shot1.search import CHECKPOINT_FILE, _batches, _Search
from nasbench1shot1.spaces import cell_architectures


def correlation(run_dir: str | Path, samples: int | None = 100, batches: int = 4,
                seed: int = 0, plot: bool = True) -> dict:
    """Score cells with the run's supernet; see the module docstring. `samples=None`: all."""
    run_dir = Path(run_dir)
    path = run_dir / CHECKPOINT_FILE
    if not path.is_file():
        raise ValueError(f"{run_dir} has no {CHECKPOINT_FILE}; is it the run dir of a search?")
    state = torch.load(path, map_location="cpu", weights_only=False)
    search = _Search(settings_from(state["settings"]), run_dir, None, echo=False)
    search.model.load_state_dict(state["model"])
    search.method.load_state_dict(state["method"])
    cells = cell_architectures(search.space)
    keys = list(cells)
    if samples is not None and samples < len(keys):
        rng = np.random.default_rng(seed)
        keys = [keys[i] for i in sorted(rng.choice(len(keys), samples, replace=False))]
    generator = torch.Generator().manual_seed(seed)
    valid = _batches(*search.arch_half, search.s.train.batch_size, generator)[:batches]
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
        "spearman": float(spearmanr(one_shot[known], truth[known]).statistic),
        "kendall_tau": float(kendalltau(one_shot[known], truth[known]).statistic),
        "scores": [{"cell": k, "one_shot_valid_accuracy": s, "benchmark_test_accuracy": float(t)}
                   for k, s, t in zip(keys, one_shot, truth)],
    }
    for key in ("spearman", "kendall_tau"):  # NaN (constant scores) is not JSON
        result[key] = result[key] if np.isfinite(result[key]) else None
    for row in result["scores"]:
        if not np.isfinite(row["benchmark_test_accuracy"]):
            row["benchmark_test_accuracy"] = None
    (run_dir / "correlation.json").write_text(json.dumps(result, indent=1))
    if plot:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(4.5, 4))
        ax.scatter(truth[known], one_shot[known], s=10, alpha=0.6)
        ax.set_xlabel("benchmark test accuracy (mean over repeats)")
        ax.set_ylabel("one-shot validation accuracy")
        ax.set_title(f"{search.s.method.name}, space {search.s.search_space}, epoch "
                     f"{state['epoch']}\nSpearman {result['spearman']:.3f}, Kendall tau "
                     f"{result['kendall_tau']:.3f}", fontsize=9)
        fig.tight_layout()
        fig.savefig(run_dir / "correlation.png", dpi=120)
        plt.close(fig)
    return result
