"""The `nb1s1` command: benchmark files and search-space facts; bad input gives one sentence."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import SMALL_CELLS

from nasbench1shot1.cli import main
from nasbench1shot1.nasbench import OFFICIAL_FILES, NASBench
from nasbench1shot1.nasbench.official import OfficialFile


def run_cli(capsys: pytest.CaptureFixture, *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def test_console_script_prints_space_facts_as_json():
    script = shutil.which("nb1s1") or pytest.fail("the nb1s1 console script is not installed")
    done = subprocess.run(
        [script, "space", "info", "1", "--json"], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    info = json.loads(done.stdout)
    assert info["configs"] == 14_580
    assert info["unique_cells"] == 2_685
    assert info["unique_cells_without_loose_ends"] == 2_484
    assert info["best_test_error_mean"] is None
    assert info["best_test_error_single_run"] is None


def test_module_runs_as_script():
    done = subprocess.run(
        [sys.executable, "-m", "nasbench1shot1.cli", "space", "info", "2"],
        capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "unique_cells: 7773" in done.stdout
    assert "best_test_error" not in done.stdout


def test_benchmark_info_and_convert(capsys, only108_file: Path, tmp_path: Path):
    status, out, err = run_cli(capsys, "benchmark", "info", str(only108_file), "--json")
    assert status == 0, err
    info = json.loads(out)
    assert info["cells"] == len(SMALL_CELLS)
    assert info["epochs"] == [108]
    assert info["repeats"] == 3

    status, out, err = run_cli(
        capsys, "benchmark", "convert", str(only108_file), "--cache-dir", str(tmp_path / "cache")
    )
    assert status == 0, err
    cache = Path(out.strip())
    assert cache.parent == tmp_path / "cache" and cache.is_dir()
    status, out, _ = run_cli(capsys, "benchmark", "info", str(cache))
    assert status == 0 and f"cells                 {len(SMALL_CELLS)}\n" in out


@pytest.mark.parametrize(
    "argv, message",
    [
        (["benchmark", "info", "nowhere.tfrecord"], "nowhere.tfrecord"),
        (["benchmark", "convert", "nowhere.tfrecord"], "nowhere.tfrecord"),
        (["space", "info", "1", "--benchmark", "nowhere.tfrecord"], "nowhere.tfrecord"),
    ],
)
def test_missing_file_is_one_sentence(capsys, argv, message):
    status, out, err = run_cli(capsys, *argv)
    assert status == 1
    assert out == ""
    assert err.startswith("nb1s1: error: ") and message in err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_corrupt_file_is_one_sentence(capsys, only108_file: Path):
    data = bytearray(only108_file.read_bytes())
    data[40] ^= 0xFF
    only108_file.write_bytes(bytes(data))
    status, _, err = run_cli(capsys, "benchmark", "info", str(only108_file))
    assert status == 1
    assert str(only108_file) in err and "record" in err
    assert err.count("\n") == 1


def test_download_offline_is_one_sentence(capsys, monkeypatch, tmp_path: Path):
    unreachable = OfficialFile("http://127.0.0.1:9/nasbench_only108.tfrecord", 10, "0" * 64)
    monkeypatch.setitem(OFFICIAL_FILES, "only108", unreachable)
    status, _, err = run_cli(capsys, "benchmark", "download", "--dest", str(tmp_path), "--quiet")
    assert status == 1
    assert "could not download http://127.0.0.1:9/nasbench_only108.tfrecord" in err
    assert err.count("\n") == 1


def test_unknown_space_is_rejected_by_argparse(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["space", "info", "4"])
    assert exit_info.value.code == 2
    assert "invalid choice: 4" in capsys.readouterr().err


def test_space_info_with_the_real_table(capsys, partial_benchmark: NASBench, tmp_path: Path):
    archive = tmp_path / "partial.npz"
    partial_benchmark.save(archive)
    status, out, err = run_cli(capsys, "space", "info", "1", "--json", "--benchmark", str(archive))
    assert status == 0, err
    info = json.loads(out)
    assert 0.0544 < info["best_test_error_single_run"] < 0.07
    assert info["best_cell_single_run"] == info["best_cell_mean"]  # run 0 only in this table
    assert info["epochs"] == 108
