"""The embedded default benchmark: every unique cell of search space 1 trained on scikit-learn's
8x8 digits, 3 repeats, built by `nb1s1-build` with the defaults of `conf/build.yaml`.

It is NOT NAS-Bench-101: its numbers come from a tiny network trained for a few epochs on
1,000 small images, for trying the pipeline, tests and teaching on a machine without the real
benchmark or CIFAR-10. See the README for how it was built and its spread.
"""

from __future__ import annotations

from pathlib import Path

from nasbench1shot1.nasbench import NASBench

#: The shipped file (a compressed archive that `NASBench` opens directly).
EMBEDDED_BENCHMARK = Path(__file__).resolve().parent / "digits_space1.npz"
#: The search space it covers and the training epochs of its runs.
EMBEDDED_SPACE = 1


def load_embedded(seed: int | None = None) -> NASBench:
    """The embedded digits benchmark of search space 1 as a `NASBench`."""
    if not EMBEDDED_BENCHMARK.is_file():
        raise FileNotFoundError(
            f"the embedded benchmark {EMBEDDED_BENCHMARK} is missing from this installation"
        )
    return NASBench(EMBEDDED_BENCHMARK, seed=seed)


def open_benchmark(where: str | Path, seed: int | None = None) -> NASBench:
    """A benchmark by path (.tfrecord, cache folder, .npz), or `embedded` for the shipped one."""
    if str(where) == "embedded":
        return load_embedded(seed)
    return NASBench(where, seed=seed)
