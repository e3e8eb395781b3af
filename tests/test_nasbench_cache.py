"""The columnar cache: written on first load, memory-mapped later, rebuilt when stale; npz."""

import json
import logging
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
from conftest import PARTIAL_EPOCHS, small_rows, small_specs

from nasbench1shot1.nasbench import (
    METRIC_FIELDS,
    BenchmarkFileError,
    NASBench,
    convert,
    describe,
)
from nasbench1shot1.nasbench import cache as cache_module
from nasbench1shot1.nasbench import table as table_module
from nasbench1shot1.nasbench.tfrecord import write_rows


def _answers(benchmark: NASBench) -> dict:
    """Everything a user can read, to compare two loads."""
    answers = {"hashes": list(benchmark.hash_iterator()), "epochs": benchmark.epochs}
    for module_hash in answers["hashes"]:
        fixed, computed = benchmark.get_metrics_from_hash(module_hash)
        fixed["module_adjacency"] = fixed["module_adjacency"].tolist()
        answers[module_hash] = (fixed, computed)
    return answers


def _forbid_conversion(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*args, **kwargs):
        raise AssertionError("the .tfrecord was decoded again")

    monkeypatch.setattr(cache_module, "read_columns", fail)


def test_first_load_writes_cache_and_second_load_reads_it(
    full_file: Path, monkeypatch: pytest.MonkeyPatch
):
    first = NASBench(full_file)
    folder = full_file.with_name(full_file.name + ".nb1s1-cache")
    assert first.cache == folder and folder.is_dir()
    meta = json.loads((folder / "meta.json").read_text())
    assert meta["version"] == 2 and meta["epochs"] == list(PARTIAL_EPOCHS)
    assert meta["metrics"] == list(METRIC_FIELDS)
    assert meta["source"]["size"] == full_file.stat().st_size
    assert meta["source"]["mtime_ns"] == full_file.stat().st_mtime_ns
    assert {p.name for p in folder.iterdir()} == {
        "meta.json",
        "module_hash.npy",
        "adjacency.npy",
        "ops.npy",
        "num_vertices.npy",
        "trainable_parameters.npy",
        "runs.npy",
    }
    # One array of every run of every cell: (cells, budgets, repeats, metrics).
    runs = np.load(folder / "runs.npy")
    assert runs.shape == (5, 4, 3, len(METRIC_FIELDS)) and runs.flags.c_contiguous
    for m, name in enumerate(METRIC_FIELDS):
        for b, epochs in enumerate(PARTIAL_EPOCHS):
            stored = first.metric(name, np.arange(5), epochs=epochs, reduce="none")
            np.testing.assert_array_equal(runs[:, b, :, m], stored)
    assert np.load(folder / "module_hash.npy").dtype == np.uint64

    _forbid_conversion(monkeypatch)
    second = NASBench(full_file)
    assert second.cache == folder
    assert _answers(second) == _answers(first)
    assert _answers(NASBench(folder)) == _answers(first)


def test_stale_cache_is_rebuilt(tmp_path: Path):
    path = tmp_path / "bench.tfrecord"
    write_rows(path, small_rows())
    before = NASBench(path)
    assert before.epochs == [108]
    write_rows(path, small_rows(epochs=(12, 108)))
    os.utime(path, ns=(1, 1))
    after = NASBench(path)
    assert after.epochs == [12, 108]
    assert after.cache == before.cache
    assert json.loads((after.cache / "meta.json").read_text())["source"]["mtime_ns"] == 1
    assert _answers(after) != _answers(before)


def test_damaged_cache_is_rebuilt_but_named_when_opened_directly(full_file: Path):
    folder = NASBench(full_file).cache
    (folder / "ops.npy").unlink()
    with pytest.raises(BenchmarkFileError, match=f"benchmark table {folder} is damaged: ops.npy"):
        NASBench(folder)
    assert NASBench(full_file).epochs == list(PARTIAL_EPOCHS)
    assert (folder / "ops.npy").is_file()


def test_cache_falls_back_to_cache_dir_when_beside_is_not_writable(
    only108_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    shared = tmp_path / "shared-cache"
    monkeypatch.setenv("NB1S1_CACHE_DIR", str(shared))
    real_mkdtemp = tempfile.mkdtemp

    def read_only_beside(prefix: str, dir: Path) -> str:  # noqa: A002 - mkdtemp's name
        if Path(dir) == only108_file.parent:
            raise PermissionError(13, "Permission denied")
        return real_mkdtemp(prefix=prefix, dir=dir)

    monkeypatch.setattr(table_module.tempfile, "mkdtemp", read_only_beside)
    benchmark = NASBench(only108_file)
    assert benchmark.cache.parent == shared
    assert benchmark.cache.name.startswith("only108.tfrecord-")
    _forbid_conversion(monkeypatch)
    assert NASBench(only108_file).cache == benchmark.cache


def test_nothing_writable_warns_and_still_loads(
    only108_file: Path, monkeypatch: pytest.MonkeyPatch
):
    def no_space(prefix: str, dir: Path) -> str:  # noqa: A002 - mkdtemp's name
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(table_module.tempfile, "mkdtemp", no_space)
    with pytest.warns(UserWarning, match="cannot write a cache"):
        benchmark = NASBench(only108_file)
    assert benchmark.cache is None and len(benchmark) == 5
    with pytest.raises(BenchmarkFileError, match="No space left on device"):
        convert(only108_file)


def test_convert_builds_once_and_force_rebuilds(full_file: Path, tmp_path: Path):
    explicit = tmp_path / "elsewhere"
    folder = convert(full_file, cache_dir=explicit)
    assert folder == explicit / "full.tfrecord.nb1s1-cache"
    stamp = (folder / "meta.json").stat().st_mtime_ns
    assert convert(full_file, cache_dir=explicit) == folder
    assert (folder / "meta.json").stat().st_mtime_ns == stamp
    convert(full_file, cache_dir=explicit, force=True)
    assert NASBench(full_file, cache_dir=explicit).cache == folder
    assert not full_file.with_name("full.tfrecord.nb1s1-cache").exists()


@pytest.mark.parametrize("name", ["table.npz", "table-folder"])
def test_save_and_reload(full_file: Path, tmp_path: Path, name: str):
    benchmark = NASBench(full_file)
    saved = benchmark.save(tmp_path / name)
    again = NASBench(saved)
    assert _answers(again) == _answers(benchmark)
    spec = small_specs()[0]
    assert again.query_all(spec)["mean"] == benchmark.query_all(spec)["mean"]


def test_partial_npz_keeps_only_present_metrics(tmp_path: Path):
    spec = small_specs()[1]
    benchmark = NASBench.from_arrays(
        [spec.hash_spec()],
        [spec.matrix],
        [[-1, 0, -2]],
        {"final_validation_accuracy": np.array([[[0.5, np.nan, 0.7]]])},
    )
    again = NASBench(benchmark.save(tmp_path / "partial.npz"))
    assert again.fields == ["final_validation_accuracy"]
    assert again.query_all(spec)["mean"]["validation_accuracy"] == pytest.approx(0.6)


def test_bad_paths_and_archives(tmp_path: Path):
    missing = tmp_path / "missing.tfrecord"
    with pytest.raises(BenchmarkFileError, match=f"benchmark file {missing} does not exist"):
        NASBench(missing)
    with pytest.raises(BenchmarkFileError, match="does not exist"):
        convert(missing)
    archive = tmp_path / "other.npz"
    np.savez(archive, x=np.zeros(3))
    with pytest.raises(BenchmarkFileError, match=f"cannot read benchmark table {archive}"):
        NASBench(archive)
    not_npz = tmp_path / "text.npz"
    not_npz.write_text("hello")
    with pytest.raises(BenchmarkFileError, match="cannot read benchmark table"):
        NASBench(not_npz)


def test_describe(full_file: Path):
    info = describe(full_file)
    assert info["source"] == str(full_file)
    assert info["cache"] == str(full_file) + ".nb1s1-cache"
    assert info["cells"] == 5 and info["epochs"] == list(PARTIAL_EPOCHS) and info["repeats"] == 3
    assert info["fields"]["final_test_accuracy"] == {e: 15 for e in PARTIAL_EPOCHS}
    assert set(info["fields"]) == set(METRIC_FIELDS)
    assert info["trainable_parameters"] == 5
    json.dumps(info)


# Integrity: every cached file is checked on every load, and a damaged cache is rebuilt once.

CACHE_LOGGER = "nasbench1shot1.nasbench.cache"
ARRAY_FILES = [
    "module_hash.npy",
    "adjacency.npy",
    "ops.npy",
    "num_vertices.npy",
    "trainable_parameters.npy",
    "runs.npy",
]


def _flip_bit(file: Path, offset: int) -> None:
    raw = bytearray(file.read_bytes())
    raw[offset] ^= 1
    file.write_bytes(bytes(raw))


def _cache_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        record.getMessage()
        for record in caplog.records
        if record.name == CACHE_LOGGER and record.levelno >= logging.WARNING
    ]


def _assert_rebuilt_once(
    full_file: Path,
    reference: dict,
    damaged: str,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The next load answers as `reference` and logs one line naming `damaged`; the one after
    is clean: no log line and no conversion."""
    caplog.set_level(logging.WARNING, logger=CACHE_LOGGER)
    assert _answers(NASBench(full_file)) == reference
    lines = _cache_warnings(caplog)
    assert len(lines) == 1, lines
    assert damaged in lines[0] and "rebuil" in lines[0] and "\n" not in lines[0]
    caplog.clear()
    _forbid_conversion(monkeypatch)
    assert _answers(NASBench(full_file)) == reference
    assert _cache_warnings(caplog) == []
    # The replaced folder and the staging folder are gone.
    assert {path.name for path in full_file.parent.iterdir()} == {
        full_file.name,
        f"{full_file.name}.nb1s1-cache",
    }


@pytest.mark.parametrize("name", ARRAY_FILES)
def test_bit_flip_in_any_cached_array_is_rebuilt(
    full_file: Path, name: str, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
):
    first = NASBench(full_file)
    reference = _answers(first)
    _flip_bit(first.cache / name, -1)  # the last byte is data, never header
    _assert_rebuilt_once(full_file, reference, name, caplog, monkeypatch)


@pytest.mark.parametrize(
    "damage",
    ["zero bytes", "truncated", "bad magic", "fortran order", "missing"],
)
def test_unreadable_cached_array_is_rebuilt(
    full_file: Path, damage: str, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
):
    first = NASBench(full_file)
    reference = _answers(first)
    file = first.cache / "module_hash.npy"
    raw = file.read_bytes()
    if damage == "zero bytes":
        file.write_bytes(b"")
    elif damage == "truncated":
        file.write_bytes(raw[:-8])
    elif damage == "bad magic":
        file.write_bytes(b"\x00" + raw[1:])
    elif damage == "fortran order":
        # Same bytes, same dtype and shape, but read transposed: only the layout changes.
        assert b"'fortran_order': False" in raw
        file.write_bytes(raw.replace(b"'fortran_order': False", b"'fortran_order': True "))
    else:
        file.unlink()
    _assert_rebuilt_once(full_file, reference, "module_hash.npy", caplog, monkeypatch)


def test_swapped_rows_of_module_hash_are_caught(
    full_file: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
):
    first = NASBench(full_file)
    reference = _answers(first)
    file = first.cache / "module_hash.npy"
    words = np.load(file)
    words[[0, 1]] = words[[1, 0]]
    np.save(file, words)  # a well-formed file of the right dtype and shape
    _assert_rebuilt_once(full_file, reference, "module_hash.npy", caplog, monkeypatch)


@pytest.mark.parametrize(
    "edit",
    [
        lambda meta: meta.update(epochs=[4, 12, 36, 107]),
        lambda meta: meta.update(num_repeats=2),
        lambda meta: meta["arrays"]["ops"].update(crc32c=meta["arrays"]["ops"]["crc32c"] + 1),
    ],
    ids=["epochs", "num_repeats", "array checksum"],
)
def test_valid_edit_of_meta_json_is_caught(
    full_file: Path, edit, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
):
    first = NASBench(full_file)
    reference = _answers(first)
    meta_file = first.cache / "meta.json"
    meta = json.loads(meta_file.read_text())
    edit(meta)
    meta_file.write_text(json.dumps(meta))
    _assert_rebuilt_once(full_file, reference, "meta.json", caplog, monkeypatch)


def test_meta_json_laid_out_anew_is_not_damage(
    full_file: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
):
    first = NASBench(full_file)
    reference = _answers(first)
    meta_file = first.cache / "meta.json"
    meta = json.loads(meta_file.read_text())
    meta_file.write_text(json.dumps(dict(reversed(meta.items())), indent=4))
    caplog.set_level(logging.WARNING, logger=CACHE_LOGGER)
    _forbid_conversion(monkeypatch)
    assert _answers(NASBench(full_file)) == reference
    assert _cache_warnings(caplog) == []


def test_damaged_cache_beside_a_read_only_file_falls_back_to_the_shared_one(
    only108_file: Path,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
):
    beside = NASBench(only108_file).cache
    reference = _answers(NASBench(beside))
    _flip_bit(beside / "ops.npy", -1)
    monkeypatch.setenv("NB1S1_CACHE_DIR", str(tmp_path / "shared-cache"))
    real_mkdtemp = tempfile.mkdtemp

    def read_only_beside(prefix: str, dir: Path) -> str:  # noqa: A002 - mkdtemp's name
        if Path(dir) == only108_file.parent:
            raise PermissionError(13, "Permission denied")
        return real_mkdtemp(prefix=prefix, dir=dir)

    monkeypatch.setattr(table_module.tempfile, "mkdtemp", read_only_beside)
    caplog.set_level(logging.WARNING, logger=CACHE_LOGGER)
    rebuilt = NASBench(only108_file)
    assert rebuilt.cache.parent == tmp_path / "shared-cache"
    assert _answers(rebuilt) == reference
    (line,) = _cache_warnings(caplog)
    assert f"{beside} is damaged: ops.npy" in line and "rebuilding" in line
    caplog.clear()
    # The damaged folder cannot be replaced: each load names it and uses the shared cache.
    _forbid_conversion(monkeypatch)
    assert _answers(NASBench(only108_file)) == reference
    (line,) = _cache_warnings(caplog)
    assert f"{beside} is damaged: ops.npy" in line and f"using the cache {rebuilt.cache}" in line


def test_damaged_cache_opened_directly_is_named(full_file: Path):
    folder = NASBench(full_file).cache
    _flip_bit(folder / "runs.npy", -1)
    with pytest.raises(BenchmarkFileError) as error:
        NASBench(folder)
    message = str(error.value)
    assert str(folder) in message and "runs.npy" in message
    assert "checksum" in message and "\n" not in message


def test_crash_while_replacing_a_cache_leaves_a_whole_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    path = tmp_path / "bench.tfrecord"
    write_rows(path, small_rows())
    folder = NASBench(path).cache
    write_rows(path, small_rows(epochs=(12, 108)))
    os.utime(path, ns=(1, 1))

    def dies_halfway(target, *args, **kwargs):
        for file in sorted(Path(target).iterdir())[::2]:
            file.unlink()
        raise SystemExit("killed while removing a folder")

    monkeypatch.setattr(table_module.shutil, "rmtree", dies_halfway)
    with pytest.raises(SystemExit):
        NASBench(path)
    monkeypatch.undo()
    # Either the old cache or the new one, whole: it loads directly with every file checked.
    assert NASBench(folder).epochs in ([108], [12, 108])


def test_concurrent_rebuilds_keep_one_whole_cache(
    full_file: Path, monkeypatch: pytest.MonkeyPatch
):
    folder = NASBench(full_file).cache
    reference = _answers(NASBench(full_file))
    other = full_file.parent / "other-process"
    shutil.copytree(folder, other)
    real_rename = os.rename

    def other_process_first(source, target):
        # Another process moves its own new cache in between this process's two renames.
        if Path(source).name.startswith(f"{folder.name}.tmp-"):
            real_rename(other, target)
        real_rename(source, target)

    monkeypatch.setattr(table_module.os, "rename", other_process_first)
    convert(full_file, force=True)
    monkeypatch.undo()
    assert _answers(NASBench(folder)) == reference
    assert {path.name for path in full_file.parent.iterdir()} == {full_file.name, folder.name}


def test_empty_source_is_refused_in_one_sentence(tmp_path: Path):
    path = tmp_path / "empty.tfrecord"
    path.write_bytes(b"")
    for load in (NASBench, convert):
        with pytest.raises(BenchmarkFileError) as error:
            load(path)
        message = str(error.value)
        assert str(path) in message and "no records" in message
        assert "\n" not in message and message.count(". ") == 0
    assert not path.with_name(path.name + ".nb1s1-cache").exists()


def test_bit_flip_in_npz_is_named(full_file: Path, tmp_path: Path):
    archive = NASBench(full_file).save(tmp_path / "table.npz")
    raw = bytearray(archive.read_bytes())
    raw[len(raw) // 2] ^= 1
    archive.write_bytes(bytes(raw))
    with pytest.raises(BenchmarkFileError, match=f"cannot read benchmark table {archive}"):
        NASBench(archive)


# Version 1 stored one (cells, budgets, repeats) array per metric; it is still read.


def _write_version_1(benchmark: NASBench, folder: Path, meta: dict | None = None) -> None:
    """`benchmark`'s table in the layout of version 1: a folder (`folder`) or an `.npz`."""
    table = benchmark._table
    arrays = {
        name: values
        for name, values in table.arrays().items()
        if name != table_module.RUNS_ARRAY
    }
    arrays |= {name: np.ascontiguousarray(values) for name, values in table.metrics.items()}
    layout = {**table.layout(), "version": 1, "metrics": sorted(table.metrics), **(meta or {})}
    if folder.suffix == ".npz":
        np.savez_compressed(folder, meta=np.array(json.dumps(layout)), **arrays)
        return
    folder.mkdir()
    layout["arrays"] = {}
    for name, values in arrays.items():
        np.save(folder / f"{name}.npy", values)
        layout["arrays"][name] = table_module._describe_array(values)
    layout["crc32c"] = table_module._meta_checksum(layout)
    (folder / "meta.json").write_text(json.dumps(layout))


def test_a_version_1_cache_is_read_and_rebuilt_in_the_current_layout(
    full_file: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
):
    current = NASBench(full_file)
    reference = _answers(current)
    old = tmp_path / "old.nb1s1-cache"
    _write_version_1(current, old, {"source": json.loads(
        (current.cache / "meta.json").read_text())["source"]})
    assert _answers(NASBench(old)) == reference  # opened directly, it is read as it is

    shutil.rmtree(current.cache)
    old.rename(current.cache)
    with caplog.at_level(logging.INFO, logger=CACHE_LOGGER):
        rebuilt = NASBench(full_file)
    assert _answers(rebuilt) == reference
    assert json.loads((rebuilt.cache / "meta.json").read_text())["version"] == 2
    assert (rebuilt.cache / "runs.npy").is_file()
    assert not (rebuilt.cache / "final_test_accuracy.npy").exists()
    lines = [r.getMessage() for r in caplog.records if r.name == CACHE_LOGGER]
    assert lines == [f"cache {current.cache} has the layout of version 1; rebuilding it in "
                     "version 2"]


def test_a_version_1_npz_archive_answers_as_before(full_file: Path, tmp_path: Path):
    current = NASBench(full_file)
    archive = tmp_path / "old.npz"
    _write_version_1(current, archive)
    old = NASBench(archive)
    assert _answers(old) == _answers(current)
    for spec in small_specs():
        new_all, old_all = current.query_all(spec), old.query_all(spec)
        np.testing.assert_array_equal(old_all.pop("module_adjacency"),
                                      new_all.pop("module_adjacency"))
        np.testing.assert_equal(old_all, new_all)


def test_a_table_with_some_metrics_reads_the_others_as_nan(tmp_path: Path):
    specs = small_specs()
    cells = len(specs)
    hashes = [spec.hash_spec() for spec in specs]
    adjacency = np.zeros((cells, 7, 7), dtype=np.uint8)
    ops = np.zeros((cells, 7), dtype=np.int8)
    labels = {"input": -1, "output": -2, "conv3x3-bn-relu": 0, "conv1x1-bn-relu": 1,
              "maxpool3x3": 2}
    for i, spec in enumerate(specs):
        size = len(spec.ops)
        adjacency[i, :size, :size] = spec.matrix
        ops[i, :size] = [labels[op] for op in spec.ops]
    rng = np.random.default_rng(0)
    test = rng.uniform(0.8, 0.95, (cells, 2, 3))
    time = rng.uniform(1000, 3000, (cells, 2, 3))
    test[0, 1, 2] = np.nan  # a repeat with only its time
    time[1, 0] = np.nan  # a budget with only test accuracies
    metrics = {"final_training_time": time, "final_test_accuracy": test}
    benchmark = NASBench.from_arrays(hashes, adjacency, ops, metrics, epochs=(36, 108))
    path = tmp_path / "two.npz"
    benchmark.save(path)
    for table in (benchmark, NASBench(path)):
        for i, module_hash in enumerate(hashes):
            _, computed = table.get_metrics_from_hash(module_hash)
            for b, epochs in enumerate((36, 108)):
                runs = computed[epochs]
                assert len(runs) == 3
                for r, run in enumerate(runs):
                    assert set(run) == set(METRIC_FIELDS)
                    assert np.isnan(run["final_validation_accuracy"])
                    assert np.isnan(run["halfway_test_accuracy"])
                    np.testing.assert_equal(run["final_test_accuracy"], test[i, b, r])
                    np.testing.assert_equal(run["final_training_time"], time[i, b, r])
        data = table.query(specs[0], epochs=108)
        assert np.isnan(data["validation_accuracy"])
        every = table.query_all(specs[1], epochs=36)
        assert [run["test_accuracy"] for run in every["runs"]] == test[1, 0].tolist()
        assert all(np.isnan(run["training_time"]) for run in every["runs"])
        assert every["mean"]["test_accuracy"] == pytest.approx(test[1, 0].mean())
