"""Shared test data: small NAS-Bench-101 files written in the official format, and the real
partial table from `../shared/data` (tests using it skip when it is absent)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from nasbench1shot1.nasbench import CONV1X1, CONV3X3, INPUT, MAXPOOL3X3, OUTPUT, NASBench
from nasbench1shot1.nasbench.proto import EvaluationData, ModelMetrics
from nasbench1shot1.nasbench.spec import ModelSpec
from nasbench1shot1.nasbench.tfrecord import BenchmarkRow, write_rows

# The thread policy of the tests: one thread per process (the suite's subprocesses inherit it),
# so a loaded 2-core machine neither slows them by spinning threads nor changes their numbers.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")


def pytest_configure(config: pytest.Config) -> None:
    import torch

    torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))


SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
PARTIAL_TABLE = SHARED_DATA / "nasbench101" / "nb101_partial.npz"
SHARED_CIFAR = SHARED_DATA / "cifar-10-batches-py-partial"
PARTIAL_EPOCHS = (4, 12, 36, 108)
PARTIAL_SUBSET = 20_001

INCEPTION_MATRIX = [
    [0, 1, 1, 1, 0, 1, 0],
    [0, 0, 0, 0, 0, 0, 1],
    [0, 0, 0, 0, 0, 0, 1],
    [0, 0, 0, 0, 1, 0, 0],
    [0, 0, 0, 0, 0, 0, 1],
    [0, 0, 0, 0, 0, 0, 1],
    [0, 0, 0, 0, 0, 0, 0],
]
INCEPTION_OPS = [INPUT, CONV1X1, CONV3X3, CONV3X3, CONV3X3, MAXPOOL3X3, OUTPUT]
INCEPTION_HASH = "28cfc7874f6d200472e1a9dcd8650aa0"

#: The cells of the small test files: (matrix, ops), all valid and pairwise distinct.
SMALL_CELLS = [
    (INCEPTION_MATRIX, INCEPTION_OPS),
    ([[0, 1, 0], [0, 0, 1], [0, 0, 0]], [INPUT, CONV3X3, OUTPUT]),
    ([[0, 1, 1], [0, 0, 1], [0, 0, 0]], [INPUT, MAXPOOL3X3, OUTPUT]),
    ([[0, 1], [0, 0]], [INPUT, OUTPUT]),
    (
        [[0, 1, 0, 0, 1], [0, 0, 1, 0, 0], [0, 0, 0, 1, 0], [0, 0, 0, 0, 1], [0, 0, 0, 0, 0]],
        [INPUT, CONV1X1, CONV3X3, CONV1X1, OUTPUT],
    ),
]


def small_specs() -> list[ModelSpec]:
    return [ModelSpec(matrix, ops) for matrix, ops in SMALL_CELLS]


def run_value(cell: int, epochs: int, repeat: int, name: str) -> float:
    """The synthetic, exactly representable value the small files hold for one metric."""
    point, _, metric = name.partition("_")
    base = {"training_time": 1000.0, "train_accuracy": 0.5, "validation_accuracy": 0.25}
    value = base.get(metric, 0.125) + cell / 8 + repeat / 64 + epochs / 1024
    return value / 2 if point == "halfway" else value


def parameters_of(cell: int) -> int:
    return 1000 * (cell + 1)


def small_rows(epochs: tuple[int, ...] = (108,), repeats: int = 3) -> list[BenchmarkRow]:
    """Rows of a small file: every cell x epoch budget x repeat, interleaved as in a real file."""
    rows = []
    for epoch in epochs:
        for repeat in range(repeats):
            for cell, spec in enumerate(small_specs()):
                points = [
                    EvaluationData(
                        current_epoch=float(at),
                        training_time=run_value(cell, epoch, repeat, f"{point}_training_time"),
                        train_accuracy=run_value(cell, epoch, repeat, f"{point}_train_accuracy"),
                        validation_accuracy=run_value(
                            cell, epoch, repeat, f"{point}_validation_accuracy"
                        ),
                        test_accuracy=run_value(cell, epoch, repeat, f"{point}_test_accuracy"),
                        checkpoint_path=f"gs://test/{cell}/{repeat}/model.ckpt-{at}",
                    )
                    for at, point in ((0, "start"), (epoch // 2, "halfway"), (epoch, "final"))
                ]
                metrics = ModelMetrics(points, parameters_of(cell), 1234.5)
                rows.append(BenchmarkRow(spec.hash_spec(), epoch, spec.matrix, spec.ops, metrics))
    return rows


@pytest.fixture
def only108_file(tmp_path: Path) -> Path:
    """A small file shaped like nasbench_only108.tfrecord (epochs 108, 3 repeats)."""
    path = tmp_path / "only108.tfrecord"
    write_rows(path, small_rows())
    return path


@pytest.fixture
def full_file(tmp_path: Path) -> Path:
    """A small file shaped like nasbench_full.tfrecord (epochs 4, 12, 36, 108, 3 repeats)."""
    path = tmp_path / "full.tfrecord"
    write_rows(path, small_rows(epochs=PARTIAL_EPOCHS))
    return path


@pytest.fixture(scope="session")
def partial_arrays() -> dict[str, np.ndarray]:
    """The arrays of the real partial NAS-Bench-101 table."""
    if not PARTIAL_TABLE.is_file():
        pytest.skip(f"real NAS-Bench-101 partial table not found at {PARTIAL_TABLE}")
    with np.load(PARTIAL_TABLE) as archive:
        return {name: archive[name] for name in archive.files}


@pytest.fixture(scope="session")
def partial_benchmark(partial_arrays: dict[str, np.ndarray]) -> NASBench:
    """`NASBench.from_arrays` of the partial table: run 0 only, the rest NaN.

    Final test accuracy at 108 epochs for every cell; final validation accuracy at every budget,
    training time at 108 epochs and parameters for the first 20,001 rows.
    """
    cells = len(partial_arrays["module_hash"])
    shape = (cells, len(PARTIAL_EPOCHS), 3)
    test = np.full(shape, np.nan)
    test[:, PARTIAL_EPOCHS.index(108), 0] = partial_arrays["test_accuracy_108_run0"]
    validation = np.full(shape, np.nan)
    for i, epochs in enumerate(PARTIAL_EPOCHS):
        validation[:PARTIAL_SUBSET, i, 0] = partial_arrays[f"subset_validation_accuracy_{epochs}"]
    time = np.full(shape, np.nan)
    time[:PARTIAL_SUBSET, PARTIAL_EPOCHS.index(108), 0] = partial_arrays["subset_training_time_108"]
    parameters = np.full(cells, np.nan)
    parameters[:PARTIAL_SUBSET] = partial_arrays["subset_trainable_parameters"]
    return NASBench.from_arrays(
        partial_arrays["module_hash"],
        partial_arrays["adjacency"],
        partial_arrays["ops"],
        {
            "final_test_accuracy": test,
            "final_validation_accuracy": validation,
            "final_training_time": time,
        },
        epochs=PARTIAL_EPOCHS,
        num_repeats=3,
        trainable_parameters=parameters,
        seed=0,
    )
