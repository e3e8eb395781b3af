"""Single-cell reads (`rows.RowReader`, `HashIndex.find_hex`) answer as plain numpy reads do.

The single-cell calls read bytes instead of indexing arrays; these tests hold them to an oracle
written with numpy over the table's arrays, on complete tables, tables with missing metrics
and runs, arrays in Fortran order, and malformed or unusual hashes.
"""

import math
import random
from pathlib import Path

import numpy as np
import pytest

from nasbench1shot1.nasbench import (
    AVAILABLE_OPS,
    INPUT,
    METRIC_FIELDS,
    OUTPUT,
    QUERY_METRICS,
    CellNotFoundError,
    ModelSpec,
    NASBench,
)
from nasbench1shot1.nasbench.hashes import HashIndex, hash_hex, hash_words
from nasbench1shot1.nasbench.rows import recorded_run_dicts

ALL_NAN = (math.nan,) * len(METRIC_FIELDS)


def _same(first: object, second: object) -> bool:
    """Equal, with NaN equal to NaN and Python floats required where the oracle has them."""
    if isinstance(second, float):
        return type(first) is float and (first == second or (first != first and second != second))
    if isinstance(second, dict):
        return (
            isinstance(first, dict)
            and list(first) == list(second)
            and all(_same(first[key], second[key]) for key in second)
        )
    if isinstance(second, list):
        return (
            isinstance(first, list)
            and len(first) == len(second)
            and all(_same(a, b) for a, b in zip(first, second))
        )
    if isinstance(second, np.ndarray):
        return (
            isinstance(first, np.ndarray)
            and first.dtype == second.dtype
            and first.tolist() == second.tolist()
        )
    return type(first) is type(second) and first == second


def _oracle_fixed(benchmark: NASBench, row: int) -> dict:
    table = benchmark._table
    size = int(table.num_vertices[row])
    names = {-1: INPUT, -2: OUTPUT} | dict(enumerate(AVAILABLE_OPS))
    parameters = int(table.trainable_parameters[row])
    return {
        "module_adjacency": np.array(table.adjacency[row, :size, :size], dtype=np.int8),
        "module_operations": [names[int(label)] for label in table.ops[row, :size]],
        "trainable_parameters": None if parameters == -1 else parameters,
    }


def _oracle_run(benchmark: NASBench, row: int, epoch_index: int, repeat: int) -> tuple:
    metrics = benchmark._table.metrics
    return tuple(
        float(metrics[name][row, epoch_index, repeat]) if name in metrics else math.nan
        for name in METRIC_FIELDS
    )


def _oracle_recorded(benchmark: NASBench, row: int, epoch_index: int) -> list[tuple]:
    runs = [_oracle_run(benchmark, row, epoch_index, r) for r in range(benchmark.num_repeats)]
    return [run for run in runs if not all(math.isnan(value) for value in run)]


def _oracle_metrics(benchmark: NASBench, row: int) -> tuple[dict, dict]:
    computed = {}
    for epoch_index, epochs in enumerate(benchmark.epochs):
        runs = _oracle_recorded(benchmark, row, epoch_index)
        if runs:
            computed[epochs] = [dict(zip(METRIC_FIELDS, run)) for run in runs]
    return _oracle_fixed(benchmark, row), computed


def _oracle_query_all(benchmark: NASBench, row: int, epoch_index: int, halfway: bool) -> dict:
    point = "halfway" if halfway else "final"
    repeats = range(benchmark.num_repeats)
    runs = [_oracle_run(benchmark, row, epoch_index, r) for r in repeats]
    picked = [
        tuple(run[METRIC_FIELDS.index(f"{point}_{name}")] for name in QUERY_METRICS) for run in runs
    ]
    mean = {}
    for i, name in enumerate(QUERY_METRICS):
        present = [run[i] for run in picked if not math.isnan(run[i])]
        mean[name] = sum(present) / len(present) if present else math.nan
    return {"runs": [dict(zip(QUERY_METRICS, run)) for run in picked], "mean": mean}


def _without(data: dict, *keys: str) -> dict:
    return {key: value for key, value in data.items() if key not in keys}


def _check_against_oracle(benchmark: NASBench, seed: int) -> None:
    """get_metrics_from_hash and query (final and halfway, every budget) of every cell."""
    oracle_rng = random.Random(seed)
    for row, module_hash in enumerate(benchmark.hash_iterator()):
        fixed, computed = benchmark.get_metrics_from_hash(module_hash)
        expected_fixed, expected_computed = _oracle_metrics(benchmark, row)
        assert _same(fixed, expected_fixed) and _same(computed, expected_computed), module_hash
        spec = ModelSpec(fixed["module_adjacency"], fixed["module_operations"])
        if spec.hash_spec() != module_hash:
            continue  # a made-up hash: no spec reaches it
        for epoch_index, epochs in enumerate(benchmark.epochs):
            for halfway in (False, True):
                every = _oracle_query_all(benchmark, row, epoch_index, halfway)
                data = benchmark.query_all(spec, epochs, stop_halfway=halfway)
                assert _same(data["runs"], every["runs"])
                assert list(data["mean"]) == list(QUERY_METRICS)
                assert data["mean"] == pytest.approx(every["mean"], nan_ok=True)
                assert _same(_without(data, "runs", "mean"), expected_fixed)
                runs = _oracle_recorded(benchmark, row, epoch_index)
                if not runs:
                    with pytest.raises(CellNotFoundError, match="no recorded run"):
                        benchmark.query(spec, epochs, stop_halfway=halfway)
                    continue
                run = runs[oracle_rng.randint(0, len(runs) - 1)]
                point = "halfway" if halfway else "final"
                expected = expected_fixed | {
                    name: run[METRIC_FIELDS.index(f"{point}_{name}")] for name in QUERY_METRICS
                }
                assert _same(benchmark.query(spec, epochs, stop_halfway=halfway), expected)


def test_run_dicts_spell_metric_fields_and_keep_runs_with_any_value():
    assert recorded_run_dicts([ALL_NAN]) == []
    for position in range(len(METRIC_FIELDS)):
        run = tuple(0.5 if i == position else math.nan for i in range(len(METRIC_FIELDS)))
        (found,) = recorded_run_dicts([run])
        assert list(found) == list(METRIC_FIELDS)
        assert _same(found, dict(zip(METRIC_FIELDS, run)))
    first, second = recorded_run_dicts(iter([(1.0,) * 8, ALL_NAN, (2.0,) * 8]))
    assert first["final_test_accuracy"] == 1.0 and second["halfway_training_time"] == 2.0


def test_reads_of_an_official_file_match_numpy(full_file: Path, only108_file: Path):
    _check_against_oracle(NASBench(full_file, seed=3), seed=3)
    _check_against_oracle(NASBench(only108_file, seed=4), seed=4)  # one budget: its own path


def _padded(specs: list[ModelSpec]) -> tuple[np.ndarray, np.ndarray]:
    """The cells' adjacency and op labels padded to 7 vertices, as from_arrays takes them."""
    adjacency = np.zeros((len(specs), 7, 7), dtype=np.int64)
    ops = np.zeros((len(specs), 7), dtype=np.int64)
    for i, spec in enumerate(specs):
        size = len(spec.ops)
        adjacency[i, :size, :size] = spec.matrix
        ops[i, :size] = [-1] + [AVAILABLE_OPS.index(op) for op in spec.ops[1:-1]] + [-2]
    return adjacency, ops


def _sparse_benchmark(seed: int, fortran: bool = False) -> NASBench:
    """A from_arrays table of the small cells with NaN scattered over runs and whole metrics
    missing: runs with one value, runs with only halfway or only final values, empty budgets."""
    from conftest import SMALL_CELLS

    rng = np.random.default_rng(seed)
    specs = [ModelSpec(matrix, ops) for matrix, ops in SMALL_CELLS]
    cells, epochs, repeats = len(specs), (4, 12, 108), 3
    adjacency, ops = _padded(specs)
    present = [name for name in METRIC_FIELDS if rng.random() < 0.75] or [METRIC_FIELDS[0]]
    metrics = {}
    for name in present:
        values = rng.random((cells, len(epochs), repeats))
        values[rng.random(values.shape) < 0.6] = np.nan
        metrics[name] = np.asfortranarray(values) if fortran else values
    parameters = rng.integers(1000, 10**6, cells).astype(float)
    parameters[0] = np.nan
    return NASBench.from_arrays(
        [spec.hash_spec() for spec in specs],
        adjacency,
        ops,
        metrics,
        epochs,
        repeats,
        trainable_parameters=parameters,
        seed=seed,
    )


@pytest.mark.parametrize("seed", range(6))
def test_reads_of_tables_with_missing_values_match_numpy(seed: int):
    benchmark = _sparse_benchmark(seed, fortran=seed % 2 == 1)
    _check_against_oracle(benchmark, seed)


def test_a_run_with_only_other_values_is_still_a_run_query_can_pick():
    """query reads its four values first; a run lacking all four counts if another is there."""
    from conftest import SMALL_CELLS

    spec = ModelSpec(*SMALL_CELLS[0])
    size = len(spec.ops)
    adjacency = np.zeros((1, size, size), dtype=np.int64)
    adjacency[0] = spec.matrix
    labels = [[-1] + [AVAILABLE_OPS.index(op) for op in spec.ops[1:-1]] + [-2]]
    metrics = {name: np.full((1, 1, 3), np.nan) for name in METRIC_FIELDS}
    metrics["halfway_test_accuracy"][0, 0, 0] = 0.25  # run 0: a halfway value only
    metrics["final_test_accuracy"][0, 0, 2] = 0.75  # run 1: nothing; run 2: a final value
    seen = set()
    for seed in range(40):
        choice = random.Random(seed).randint(0, 1)  # between runs 0 and 2
        for halfway, values in ((False, [math.nan, 0.75]), (True, [0.25, math.nan])):
            benchmark = NASBench.from_arrays(
                [spec.hash_spec()], adjacency, np.array(labels), metrics, seed=seed
            )
            data = benchmark.query(spec, stop_halfway=halfway)
            assert _same(data["test_accuracy"], values[choice])
            assert all(math.isnan(data[name]) for name in QUERY_METRICS[:3])
            seen.add(choice)
    assert seen == {0, 1}


def test_answers_are_fresh_objects(full_file: Path):
    benchmark = NASBench(full_file)
    module_hash = next(benchmark.hash_iterator())
    fixed, computed = benchmark.get_metrics_from_hash(module_hash)
    fixed["module_adjacency"][0, 0] = 9
    fixed["module_operations"].append("x")
    computed[108][0]["final_test_accuracy"] = -1.0
    computed.clear()
    again, again_computed = benchmark.get_metrics_from_hash(module_hash)
    assert again["module_adjacency"][0, 0] == 0 and again["module_adjacency"].flags.writeable
    assert again["module_operations"][-1] == OUTPUT
    assert again_computed[108][0]["final_test_accuracy"] != -1.0


def _words(rng: np.random.Generator, count: int, shared: int) -> np.ndarray:
    words = rng.integers(0, 2**64, (count, 2), dtype=np.uint64, endpoint=False)
    words[:shared, 0] = words[shared : 2 * shared, 0]  # some rows share their first word
    words[0] = (0, 0)
    words[1] = (2**64 - 1, 2**64 - 1)
    return words[np.lexsort((words[:, 1], words[:, 0]))]


@pytest.mark.parametrize("count", [0, 1, 5, 300, 70_000])
def test_single_lookups_match_the_vectorised_one(count: int):
    rng = np.random.default_rng(count)
    if count >= 2:
        words = _words(rng, count, shared=min(count // 4, 50))
    else:
        words = rng.integers(0, 2**63, (count, 2)).astype(np.uint64)
    index = HashIndex(words)
    present = hash_hex(words).astype(str).tolist() if count else []
    absent = hash_hex(_words(rng, 200, shared=0)[2:]).astype(str).tolist()
    for module_hash in present[:3000] + absent:
        expected = int(index.find(hash_words(module_hash)))
        assert index.find_hex(module_hash) == expected
        assert index.find_hex(module_hash.upper()) == expected
        assert index.find_hex(module_hash.encode()) == expected
    for row, module_hash in enumerate(present[:3000]):
        assert index.find_hex(module_hash) == row


@pytest.mark.parametrize(
    "malformed",
    [
        " " + "0" * 31,
        "0" * 31 + " ",
        "0x" + "0" * 30,
        "+" + "0" * 31,
        "0" * 15 + "_" + "0" * 16,
        "0" * 16 + " " + "0" * 15,
        "\u0660" * 32,
        "g" * 32,
        "0" * 31,
        "0" * 33,
        "0" * 32 + "\0",  # numpy drops trailing NULs; a str of 33 characters is no hash
        "0" * 32 + "\0\0",
        "\0" + "0" * 32,
        "",
        None,
        7,
    ],
)
def test_malformed_hashes_are_not_found(malformed: object):
    words = np.zeros((3, 2), dtype=np.uint64)
    words[1, 1], words[2, 0] = 1, 1
    index = HashIndex(words)
    assert index.find_hex("0" * 32) == 0
    assert index.find_hex(malformed) == -1


def test_a_hash_with_trailing_nuls_is_no_hash():
    """numpy drops trailing NULs from strings; a str of another length than 32 still is not a
    hash, for single and vectorised lookups alike."""
    from conftest import SMALL_CELLS

    spec = ModelSpec(*SMALL_CELLS[1])
    size = len(spec.ops)
    labels = [[-1] + [AVAILABLE_OPS.index(op) for op in spec.ops[1:-1]] + [-2]]
    zero = "0" * 32
    benchmark = NASBench.from_arrays(
        [zero], np.array([spec.matrix]), np.array(labels), {}, num_repeats=1
    )
    assert size == 3 and benchmark.lookup(zero) == 0 and zero in benchmark
    benchmark.get_metrics_from_hash(zero)
    for padded in (zero + "\0", zero + "\0\0\0"):
        assert padded not in benchmark
        with pytest.raises(CellNotFoundError, match="not in this benchmark table"):
            benchmark.get_metrics_from_hash(padded)
        for bad in (padded, padded.encode(), [zero, padded], [[padded], [zero]], (padded,)):
            with pytest.raises(ValueError, match="invalid module hash"):
                hash_words(bad)
            with pytest.raises(ValueError, match="invalid module hash"):
                benchmark.lookup(bad)
    # An array's NUL padding belongs to its dtype, not to its strings.
    assert benchmark.lookup(np.array([zero], dtype="U40")).tolist() == [0]
    assert benchmark.lookup(np.array([zero.encode()], dtype="S40")).tolist() == [0]
    assert benchmark.lookup([zero, zero.upper()]).tolist() == [0, 0]


@pytest.mark.parametrize("order", ["C", "F"])
def test_from_arrays_keeps_its_own_copy_of_the_metrics(order: str):
    """The table holds its own C-ordered copy (one array of every run), whatever the caller's
    arrays: single-cell reads and numpy reads agree, and changing the caller's arrays afterwards
    changes neither."""
    from conftest import SMALL_CELLS

    specs = sorted((ModelSpec(*cell) for cell in SMALL_CELLS), key=ModelSpec.hash_spec)
    cells = len(specs)
    adjacency, ops = _padded(specs)
    given = {
        name: np.asarray(np.random.default_rng(i).random((cells, 1, 3)), order=order)
        for i, name in enumerate(METRIC_FIELDS)
    }
    hashes = [spec.hash_spec() for spec in specs]  # sorted: the rows need no reordering
    benchmark = NASBench.from_arrays(hashes, adjacency, ops, given, seed=0)
    assert benchmark._table.runs.flags.c_contiguous
    for name, values in benchmark._table.metrics.items():
        np.testing.assert_array_equal(values, given[name])
        assert not np.shares_memory(values, given[name])
    before = [
        (benchmark.get_metrics_from_hash(h), benchmark.query_all(spec))
        for h, spec in zip(hashes, specs)
    ]
    metric_before = benchmark.metric("final_test_accuracy", hashes, reduce="none").copy()
    for values in given.values():
        values[...] = -1.0
    after = [
        (benchmark.get_metrics_from_hash(h), benchmark.query_all(spec))
        for h, spec in zip(hashes, specs)
    ]
    for (stats, every), (stats_after, every_after) in zip(before, after):
        assert _same(list(stats_after), list(stats)) and _same(every_after, every)
    assert (benchmark.metric("final_test_accuracy", hashes, reduce="none") == metric_before).all()
    assert _same(after[0][1]["runs"][1]["test_accuracy"], float(metric_before[0, 1]))


def test_a_loaded_folder_stays_memory_mapped(tmp_path: Path):
    """Keeping the arrays C-ordered copies none of a loaded folder's (memory-mapped) arrays."""
    import mmap

    def mapped(array: object) -> bool:
        while array is not None:
            if isinstance(array, (np.memmap, mmap.mmap)):
                return True
            array = getattr(array, "base", None)
        return False

    folder = _sparse_benchmark(0, fortran=True).save(tmp_path / "table")
    arrays = NASBench(folder)._table.arrays()
    assert all(mapped(array) for array in arrays.values()), [
        name for name, array in arrays.items() if not mapped(array)
    ]
