"""The columnar cache: written on first load, memory-mapped later, rebuilt when stale; npz."""

import json
import os
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
    assert meta["version"] == 1 and meta["epochs"] == list(PARTIAL_EPOCHS)
    assert meta["source"]["size"] == full_file.stat().st_size
    assert meta["source"]["mtime_ns"] == full_file.stat().st_mtime_ns
    assert {p.name for p in folder.iterdir()} == {
        "meta.json",
        "module_hash.npy",
        "adjacency.npy",
        "ops.npy",
        "num_vertices.npy",
        "trainable_parameters.npy",
    } | {f"{name}.npy" for name in METRIC_FIELDS}
    assert np.load(folder / "final_test_accuracy.npy").shape == (5, 4, 3)
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
    with pytest.raises(BenchmarkFileError, match=f"benchmark table {folder} is incomplete"):
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
