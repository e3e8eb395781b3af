"""The package as a user installs it without a checkout: a wheel built from the tracked files
carries every module and config (conf/ and hpo/ inside the package, no top-level `hpo` or `conf`),
and `nb1s1-search` runs from it in a fresh virtual environment, from another directory."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _tracked() -> list[str]:
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout: the wheel is built from the tracked files")
    done = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True)
    return [name for name in done.stdout.decode().split("\0") if name]


def _expected_members(tracked: list[str]) -> set[str]:
    """Where each tracked module and config lands in the wheel."""
    places = {"nasbench1shot1/": "nasbench1shot1/", "conf/": "nasbench1shot1/conf/",
              "hpo/": "nasbench1shot1/hpo/"}
    members = set()
    for name in tracked:
        for folder, place in places.items():
            if name.startswith(folder) and name.endswith((".py", ".yaml", ".npz")):
                members.add(place + name[len(folder):])
    return members


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    tracked = _tracked()
    source = tmp_path_factory.mktemp("source")
    for name in tracked:
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, source / name)
    out = tmp_path_factory.mktemp("dist")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "-q", "-w", str(out), str(source)], check=True, timeout=300)
    (found,) = out.glob("nasbench1shot1-*.whl")
    return found


def test_the_wheel_carries_every_module_and_config(wheel: Path):
    members = set(zipfile.ZipFile(wheel).namelist())
    expected = _expected_members(_tracked())
    assert any(m.startswith("nasbench1shot1/conf/") and m.endswith(".yaml") for m in expected)
    assert expected <= members, sorted(expected - members)
    tops = {m.split("/")[0] for m in members if not m.split("/")[0].endswith(".dist-info")}
    assert tops == {"nasbench1shot1"}  # no top-level hpo or conf module


@pytest.mark.timeout(600)
def test_nb1s1_search_runs_from_the_installed_wheel(wheel: Path, tmp_path: Path):
    # A fresh venv that sees this environment's dependencies (a .pth line adds their folder;
    # .pth files in that folder, such as an editable install's finder, are not run) but not
    # this checkout: nasbench1shot1 comes from the wheel only.
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    python = venv / "bin" / "python"
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()"
                           "['purelib'])"], capture_output=True, text=True, check=True).stdout
    Path(site.strip(), "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-deps", str(wheel)],
                   check=True, timeout=300)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {**os.environ, "PYTHONPATH": "", "WANDB_MODE": "disabled"}
    where = subprocess.run([str(python), "-c", "import nasbench1shot1.conf, nasbench1shot1.hpo;"
                            "print(nasbench1shot1.conf.__file__)"], cwd=elsewhere, env=env,
                           capture_output=True, text=True, check=True).stdout
    assert str(venv) in where and str(ROOT) not in where
    top_level = subprocess.run([str(python), "-c", "import hpo"], cwd=elsewhere, env=env,
                               capture_output=True, text=True)
    assert top_level.returncode != 0 and "No module named 'hpo'" in top_level.stderr
    done = subprocess.run(
        [str(venv / "bin" / "nb1s1-search"), "train.epochs=1", "logger=none",
         "supernet.channels=4", "supernet.num_cells=3", "progress=false"],
        cwd=elsewhere, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    (run_dir,) = (elsewhere / "outputs" / "search" / "darts" / "space1" / "seed0").iterdir()
    assert (run_dir / "result.json").is_file() and (run_dir / "search.log").stat().st_size > 0
    for app in ("nb1s1-blackbox", "nb1s1-build", "nb1s1-hpo"):  # every app finds its config
        shown = subprocess.run([str(venv / "bin" / app), "--cfg", "job"], cwd=elsewhere, env=env,
                               capture_output=True, text=True, timeout=120)
        assert shown.returncode == 0 and "seed: 0" in shown.stdout, (app, shown.stderr[-1000:])
