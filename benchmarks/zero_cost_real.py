"""Rank correlation of the zero-cost proxies and #params / #FLOPs on real data (issue 11, point 4).

Measures every proxy of `nasbench1shot1.estimators.zero_cost` (grad_norm, snip, grasp, fisher,
jacob_cov, synflow, naswot) and both baselines (params, flops) on `--cells` random cells of ALL of
NAS-Bench-101, each built into the paper's NAS-Bench-101 network (stem 128, 3 stacks of 3 cells,
`network_config("paper", ...)`), untrained and initialized from `--seed`, on ONE mini-batch of
real CIFAR-10 training images (`--batch-size` images drawn with `--seed`; the same batch for every
cell). Prints, per measure, Spearman's rho and Kendall's tau against run 0's test accuracy at 108
epochs from the real partial NAS-Bench-101 table, the count of non-finite scores, and the
seconds per cell (all measures of a cell come from one built network and shared passes, as
`score_cells` computes them).

Data (beside the project, never inside it; the benchmark stops with a message when absent):
  ../shared/data/nasbench101/nb101_partial.npz       every NAS-Bench-101 cell, run 0's test accuracy
  ../shared/data/cifar-10-batches-py-partial/         real CIFAR-10 (1,017 images per batch file)

The cells are the first `--cells` of a permutation of the table's 423,624 rows drawn with
`--seed`, so a larger `--cells` extends the same sample. The run is resumable: every scored cell
is written at once to the `--out` JSON, and a rerun with the same settings skips the cells
already there (an interrupted run loses at most the cell in progress). Keep threads at 1 on
a shared machine. Run from the project root:

    OMP_NUM_THREADS=1 nice -n 19 python benchmarks/zero_cost_real.py [--cells 200] \\
        [--batch-size 64] [--seed 0] [--threads 1] [--out zero_cost_real.json]

`--batch-size` defaults to 64 (NAS-Bench-Suite-Zero's); Abdelfattah et al. 2021 used 256.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
from threadpoolctl import threadpool_limits

from nasbench1shot1.analysis.criteria import kendall_tau, spearman
from nasbench1shot1.data.registry import load_data
from nasbench1shot1.estimators.base import Context
from nasbench1shot1.estimators.zero_cost import MEASURES, score_cells
from nasbench1shot1.nasbench import AVAILABLE_OPS, INPUT, OUTPUT, ModelSpec

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
PARTIAL = SHARED / "nasbench101" / "nb101_partial.npz"
CIFAR = SHARED / "cifar-10-batches-py-partial"
NETWORK = "paper"
EPOCHS = 108
TRUTH_KEY = "test_accuracy_108_run0"
#: The settings a results file was made with; a rerun must match them to resume it.
SETTINGS = ("seed", "batch_size", "network", "measures")


def _encode(value: float) -> float | str:
    """A float for strict JSON: non-finite values as 'nan', 'inf', '-inf'."""
    return value if math.isfinite(value) else str(value)


def _decode(value: float | str) -> float:
    return float(value)


def spec_of(table: dict, row: int) -> ModelSpec:
    """The ModelSpec of one row of the partial table, checked against its stored hash."""
    size = int(table["num_vertices"][row])
    labels = table["ops"][row, :size]
    ops = [INPUT] + [AVAILABLE_OPS[int(label)] for label in labels[1:-1]] + [OUTPUT]
    spec = ModelSpec(table["adjacency"][row, :size, :size].astype(int), ops)
    stored = table["module_hash"][row].decode()
    if spec.hash_spec() != stored:
        raise ValueError(f"row {row} of {PARTIAL} rehashes to {spec.hash_spec()}, not {stored}")
    return spec


def load_results(path: Path, settings: dict) -> dict:
    """The results file at `path` (made with `settings`), or a new empty one."""
    if not path.exists():
        return {"settings": settings, "cells": {}}
    results = json.loads(path.read_text())
    differ = {key: (results["settings"].get(key), settings[key]) for key in SETTINGS
              if results["settings"].get(key) != settings[key]}
    if differ:
        sys.exit(f"{path} was made with other settings ({differ}, file vs now); "
                 f"pass another --out or the same settings")
    return results


def save_results(path: Path, results: dict) -> None:
    """Write atomically (a temporary file renamed over the old one)."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(results, indent=1))
    os.replace(tmp, path)


def report(results: dict, keys: list[str]) -> None:
    """The table of the cells `keys` that the results hold."""
    cells = [results["cells"][key] for key in keys if key in results["cells"]]
    truth = np.array([cell["test_accuracy"] for cell in cells])
    seconds = [cell["seconds"] for cell in cells]
    settings = results["settings"]
    print(f"\n{len(cells)} cells of NAS-Bench-101, {settings['network']} network, real CIFAR-10, "
          f"batch {settings['batch_size']}, seed {settings['seed']}; truth: run 0's test "
          f"accuracy at {EPOCHS} epochs")
    print(f"{'measure':<10} {'Spearman':>9} {'Kendall':>8} {'n':>5} {'non-finite':>10}")
    for name in settings["measures"]:
        scores = np.array([_decode(cell["scores"][name]) for cell in cells])
        finite = np.isfinite(scores)
        # criteria drop NaN pairs; infinite scores (naswot's -inf) are dropped here as well
        kept = np.where(finite, scores, np.nan)
        rho = tau = None
        if finite.sum() >= 2:
            rho, tau = spearman(kept, truth), kendall_tau(kept, truth)
        print(f"{name:<10} {'n/a' if rho is None else f'{rho:.3f}':>9} "
              f"{'n/a' if tau is None else f'{tau:.3f}':>8} {int(finite.sum()):>5} "
              f"{int((~finite).sum()):>10}")
    if seconds:
        print(f"seconds per cell (all measures, shared passes): mean {statistics.mean(seconds):.2f}"
              f", median {statistics.median(seconds):.2f}, min {min(seconds):.2f}, max "
              f"{max(seconds):.2f}; total {sum(seconds) / 60:.1f} min")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=200, help="random cells of NAS-Bench-101")
    parser.add_argument("--batch-size", type=int, default=64,
                        help="images in the one mini-batch (NAS-Bench-Suite-Zero: 64; "
                             "Abdelfattah et al.: 256)")
    parser.add_argument("--seed", type=int, default=0,
                        help="draws the cells, the mini-batch and the networks' initialization")
    parser.add_argument("--threads", type=int, default=1, help="torch and BLAS threads")
    parser.add_argument("--out", type=Path, default=Path("zero_cost_real.json"),
                        help="results JSON (per-cell scores; resumed when it exists)")
    parser.add_argument("--report-only", action="store_true",
                        help="print the table of the sample's cells already in --out, "
                             "score nothing")
    args = parser.parse_args()

    settings = {"seed": args.seed, "batch_size": args.batch_size, "network": NETWORK,
                "measures": list(MEASURES)}
    missing = [path for path in (PARTIAL, CIFAR) if not path.exists()]
    if missing:
        print(f"skipped: {missing[0]} is absent (the real data live in ../shared/data beside "
              f"the project; see ../shared/data/README.md)")
        return
    torch.set_num_threads(args.threads)
    threadpool_limits(args.threads)

    with np.load(PARTIAL) as archive:
        table = {name: archive[name] for name in
                 ("module_hash", "num_vertices", "adjacency", "ops", TRUTH_KEY)}
    rows = np.random.default_rng(args.seed).permutation(len(table["module_hash"]))[:args.cells]
    keys = [table["module_hash"][row].decode() for row in rows]
    if args.report_only:
        report(load_results(args.out, settings), keys)
        return
    data = load_data("cifar10", str(CIFAR))
    context = Context(benchmark=None, epochs=EPOCHS, seed=args.seed, load_data=lambda: data)
    results = load_results(args.out, settings)
    done = results["cells"]
    todo = [int(row) for row in rows if table["module_hash"][row].decode() not in done]
    print(f"{len(rows)} random cells of {len(table['module_hash']):,} (seed {args.seed}): "
          f"{len(rows) - len(todo)} already in {args.out}, {len(todo)} to score; {NETWORK} "
          f"network, real CIFAR-10 ({len(data.train)} training images), batch "
          f"{args.batch_size}, {torch.get_num_threads()} torch threads", flush=True)

    for count, row in enumerate(todo, 1):
        key = table["module_hash"][row].decode()
        spec = spec_of(table, row)
        started = time.perf_counter()
        scores = score_cells([spec], MEASURES, NETWORK, args.batch_size, context)
        seconds = time.perf_counter() - started
        done[key] = {"row": row, "test_accuracy": float(table[TRUTH_KEY][row]),
                     "seconds": seconds,
                     "scores": {name: _encode(float(scores[name][0])) for name in MEASURES}}
        save_results(args.out, results)
        print(f"[{count}/{len(todo)}] row {row} ({key[:8]}, {len(spec.ops)} vertices): "
              f"{seconds:.1f} s", flush=True)

    report(results, keys)


if __name__ == "__main__":
    main()
