"""Speed and rank correlation of the zero-cost proxies and the #params / #FLOPs baselines.

Target (issue 11, point 5): all proxies and both baselines on all 2,685 cells of search space 1,
with the embedded benchmark's network on digits, in under 5 minutes on the project's 2-core
machine. Prints the total of that run (every measure of a cell from one built network and
shared passes, `score_cells`), then each measure run alone as its registered estimator (its
total and per-cell seconds), and each measure's Spearman rank correlation with the embedded
benchmark's mean test accuracy at its 5-epoch budget. Torch threads are set explicitly. Run from
the project root:

    python benchmarks/zero_cost_speed.py [--threads 1] [--cells N] [--batch-size 64] [--seed 0]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from nasbench1shot1.analysis.criteria import kendall_tau, spearman
from nasbench1shot1.conf.estimator import ZeroCostConfig
from nasbench1shot1.data.registry import load_data
from nasbench1shot1.embedded import open_benchmark
from nasbench1shot1.estimators.base import ESTIMATORS, TRUTH, Context
from nasbench1shot1.estimators.zero_cost import MEASURES, score_cells
from nasbench1shot1.spaces import cell_architectures, get_search_space

EPOCHS = 5  # the embedded table's budget
TARGET_SECONDS = 300.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1 or 2)")
    parser.add_argument("--cells", type=int, default=None, help="only the first N cells")
    parser.add_argument("--batch-size", type=int, default=ZeroCostConfig.batch_size)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--shared-only", action="store_true",
                        help="skip the runs of each measure alone")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    space = get_search_space(1)
    architectures = cell_architectures(space)
    hashes = list(architectures)[:args.cells]
    specs = [space.to_spec(architectures[key]) for key in hashes]
    benchmark = open_benchmark("embedded")
    truth = benchmark.metric(TRUTH, np.asarray(hashes), epochs=EPOCHS)
    data = load_data("digits")
    context = Context(benchmark=benchmark, epochs=EPOCHS, seed=args.seed, space=space,
                      load_data=lambda: data)
    print(f"{len(specs)} cells of space 1, embedded network on digits, batch {args.batch_size}, "
          f"seed {args.seed}, {torch.get_num_threads()} torch threads")

    started = time.perf_counter()
    scores = score_cells(specs, MEASURES, "embedded", args.batch_size, context)
    shared = time.perf_counter() - started
    verdict = "under" if shared < TARGET_SECONDS else "OVER"
    print(f"all {len(MEASURES)} measures from shared passes: {shared:.1f} s "
          f"({1000 * shared / len(specs):.1f} ms per cell), {verdict} the "
          f"{TARGET_SECONDS:.0f} s target")

    print(f"\n{'measure':<10} {'family':<10} {'alone s':>8} {'ms/cell':>8} {'Spearman':>9} "
          f"{'Kendall':>8} {'NaN':>4}")
    alone_total = 0.0
    for name in MEASURES:
        seconds = per_cell = float("nan")
        if not args.shared_only:
            estimator = ESTIMATORS.get(name)(
                ZeroCostConfig(name=name, batch_size=args.batch_size), context)
            alone = estimator.run_score(specs)
            np.testing.assert_allclose(alone, scores[name], rtol=1e-4, equal_nan=True)
            seconds, per_cell = estimator.cost.query_seconds, estimator.cost.seconds_per_cell
            alone_total += seconds
        rho, tau = (float("nan") if value is None else value
                    for value in (spearman(scores[name], truth), kendall_tau(scores[name], truth)))
        print(f"{name:<10} {ESTIMATORS.get(name).family:<10} {seconds:>8.1f} "
              f"{1000 * per_cell:>8.2f} {rho:>9.3f} {tau:>8.3f} "
              f"{int(np.isnan(scores[name]).sum()):>4}")
    if not args.shared_only:
        print(f"{'sum alone':<21} {alone_total:>8.1f}")


if __name__ == "__main__":
    main()
