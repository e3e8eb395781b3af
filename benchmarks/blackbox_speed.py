"""Speed of the black-box optimizers on a full-size benchmark table.

Target: 500 regularized-evolution trials in under 1 s on the project's CI machine (2 cores).
Prints, per search space: the one-time setup of a space in a benchmark (every configuration
mapped to its table row; cached per benchmark afterwards), then the median and the slowest of
five runs of 500 regularized-evolution trials, and the cost per query of every optimizer (each
with its defaults from conf/optimizer.py).

The table is an official NAS-Bench-101 file given with `--benchmark PATH`, or else the real
partial table ../shared/data/nasbench101/nb101_partial.npz (423,624 cells, the full size): its
real cells and run-0 test accuracies, with validation accuracy and training time filled in where
that table lacks them (test accuracy plus noise; 108-epoch time of the cell's size class), so
that every query has what an optimizer needs. Run from the project root:

    python benchmarks/blackbox_speed.py [--benchmark PATH] [--trials 500]
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

from nasbench1shot1.blackbox import OPTIMIZERS, BudgetExhausted, TabularObjective, get_optimizer
from nasbench1shot1.conf.optimizer import OPTIMIZER_CONFIGS
from nasbench1shot1.nasbench import NASBench
from nasbench1shot1.spaces import get_search_space

PARTIAL = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "nasbench101" / \
    "nb101_partial.npz"
EPOCHS = (4, 12, 36, 108)


def defaults(name: str) -> dict:
    """An optimizer's settings as its schema (conf/optimizer.py) gives them, checked."""
    values = asdict(OPTIMIZER_CONFIGS.create(name))
    values.pop("name")
    return get_optimizer(name).check_params(values)


def partial_benchmark() -> NASBench:
    if not PARTIAL.is_file():
        sys.exit(f"no benchmark: give --benchmark PATH (an official NAS-Bench-101 file) or put "
                 f"the partial table at {PARTIAL.resolve()}")
    with np.load(PARTIAL) as archive:
        a = {name: archive[name] for name in archive.files}
    cells, subset = len(a["module_hash"]), len(a["subset_training_time_108"])
    rng = np.random.default_rng(0)
    shape = (cells, len(EPOCHS), 3)
    test = np.full(shape, np.nan)
    test[:, -1, 0] = a["test_accuracy_108_run0"]
    valid = np.repeat(test[:, -1:, :1], len(EPOCHS), axis=1) * np.array([0.8, 0.9, 0.95, 1.0])[
        None, :, None] + rng.normal(0, 0.005, (cells, len(EPOCHS), 1))
    time_108 = np.full(cells, float(np.median(a["subset_training_time_108"])))
    for e, epochs in enumerate(EPOCHS):
        valid[:subset, e, 0] = a[f"subset_validation_accuracy_{epochs}"]
    time_108[:subset] = a["subset_training_time_108"]
    train_time = np.full(shape, np.nan)
    train_time[:, :, 0] = time_108[:, None] * np.array(EPOCHS)[None, :] / 108
    validation = np.full(shape, np.nan)
    validation[:, :, :1] = valid
    return NASBench.from_arrays(a["module_hash"], a["adjacency"], a["ops"], {
        "final_test_accuracy": test, "final_validation_accuracy": validation,
        "final_training_time": train_time}, epochs=EPOCHS)


def timed_run(name: str, space, benchmark, trials: int, seed: int, run_dir: Path) -> float:
    objective = TabularObjective(space, benchmark, seed=seed, trials=trials)
    started = time.perf_counter()
    with contextlib.suppress(BudgetExhausted):
        get_optimizer(name).run(objective, defaults(name), seed, run_dir)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--benchmark", help="an official NAS-Bench-101 file or its cache")
    parser.add_argument("--trials", type=int, default=500)
    parser.add_argument("--workdir", type=Path, default=Path("outputs/benchmarks/blackbox"))
    args = parser.parse_args()
    started = time.perf_counter()
    benchmark = NASBench(args.benchmark) if args.benchmark else partial_benchmark()
    print(f"benchmark: {len(benchmark):,} cells, epochs {benchmark.epochs} "
          f"(loaded in {time.perf_counter() - started:.1f} s)")
    for number in (1, 2, 3):
        space = get_search_space(number)
        started = time.perf_counter()
        TabularObjective(space, benchmark, trials=1)  # builds and caches the space's table
        setup = time.perf_counter() - started
        runs = [timed_run("regularized_evolution", space, benchmark, args.trials, seed,
                          args.workdir) for seed in range(5)]
        print(f"space {number}: setup {setup:.2f} s once; {args.trials} regularized-evolution "
              f"trials: median {statistics.median(runs) * 1000:.0f} ms, slowest "
              f"{max(runs) * 1000:.0f} ms (target < 1000 ms)")
    space = get_search_space(3)
    print("cost per query on space 3 (ms):")
    for name in OPTIMIZERS:
        trials = 100 if name == "smac" else args.trials
        seconds = timed_run(name, space, benchmark, trials, 0, args.workdir / name)
        print(f"  {name:22s} {seconds / trials * 1000:8.2f}  ({trials} trials)")


if __name__ == "__main__":
    main()
