"""Every run in a folder of its own: the run without overrides (`default`) is a sibling of the
runs with overrides, never their parent; a run of the earlier (nested) layout is refused with one
sentence and moved by `nb1s1 runs upgrade`, after which the same command finds it."""

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from nasbench1shot1.cli import main as cli_main
from nasbench1shot1.config import compose
from nasbench1shot1.runfiles import DEFAULT_RUN, RUN_FILE, runs_to_upgrade
from nasbench1shot1.search import run

SMALL = ["train.epochs=1", "logger=none", "supernet.channels=4", "supernet.num_cells=3",
         "progress=false"]
#: The overrides of SMALL kept out of the run dir's name, so that a run with SMALL only is the
#: run without overrides.
UNNAMED = ("hydra.job.config.override_dirname.exclude_keys=[train.epochs,logger,"
           "supernet.channels,supernet.num_cells,progress,seed]")


def _app() -> str:
    return shutil.which("nb1s1-search") or pytest.fail("nb1s1-search is not installed")


@pytest.mark.timeout(300)
def test_the_run_without_overrides_is_a_sibling_of_the_runs_with_them(tmp_path: Path):
    done = subprocess.run([_app(), "-m", *SMALL, UNNAMED, "train.cutout=false,true",
                           f"hydra.sweep.dir={tmp_path}"], capture_output=True, text=True,
                          timeout=280)
    assert done.returncode == 0, done.stderr
    seed_dir = tmp_path / "darts" / "space1" / "seed0"
    # train.cutout=false is the default value, but an override all the same: named (as Hydra's
    # sweep writes the values it parsed)
    assert sorted(p.name for p in seed_dir.iterdir()) == ["train.cutout=False",
                                                          "train.cutout=True"]
    done = subprocess.run([_app(), "-m", *SMALL, UNNAMED, f"hydra.sweep.dir={tmp_path}"],
                          capture_output=True, text=True, timeout=280)
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in seed_dir.iterdir()) == [DEFAULT_RUN, "train.cutout=False",
                                                          "train.cutout=True"]
    for run_dir in seed_dir.iterdir():  # none holds another
        assert (run_dir / "result.json").is_file()
        assert [p.parent for p in run_dir.rglob(RUN_FILE)] == [run_dir]


@pytest.mark.timeout(300)
def test_a_run_of_the_nested_layout_is_refused_then_upgraded_and_found(tmp_path: Path):
    seed_dir = tmp_path / "outputs" / "search" / "darts" / "space1" / "seed0"
    settings = compose("search", overrides=SMALL)
    run(settings, seed_dir, echo=False)  # where the earlier layout put the run
    run(compose("search", overrides=[*SMALL, "seed=1"]), seed_dir / "train.cutout=true",
        echo=False)  # a run that layout nested in it
    before = {p.relative_to(seed_dir): p.read_bytes() for p in seed_dir.rglob("*") if p.is_file()
              and p.name != "run.lock"}
    command = [_app(), *SMALL, f"hydra.run.dir={seed_dir / DEFAULT_RUN}"]

    refused = subprocess.run(command, capture_output=True, text=True, timeout=280)
    assert refused.returncode == 1
    assert refused.stderr.strip().splitlines()[-1] == (
        f"nb1s1-search: error: {seed_dir} holds a run made before every run had a folder of its "
        f"own, and this start would begin it again in {seed_dir / DEFAULT_RUN}; move it there "
        f"first with `nb1s1 runs upgrade {seed_dir}` (or `nb1s1 runs upgrade outputs` for every "
        "such run), then start again")
    assert not (seed_dir / DEFAULT_RUN).exists()  # the refused start left nothing

    assert runs_to_upgrade([tmp_path]) == [seed_dir]
    assert cli_main(["runs", "upgrade", str(tmp_path / "outputs")]) == 0
    assert runs_to_upgrade([tmp_path]) == []
    moved = {p.relative_to(seed_dir): p.read_bytes() for p in seed_dir.rglob("*") if p.is_file()
             and p.name != "run.lock"}
    nested = Path("train.cutout=true")
    assert moved == {(k if k.parts[0] == nested.name else DEFAULT_RUN / k): v
                     for k, v in before.items()}  # every byte kept; the nested run stays put

    again = subprocess.run(command, capture_output=True, text=True, timeout=280)
    assert again.returncode == 0, again.stderr
    assert "finished: nothing is run again" in again.stdout
    result = json.loads((seed_dir / DEFAULT_RUN / "result.json").read_text())
    assert result["status"] == "finished" and result["seed"] == 0
    for name in ("result.json", "metrics.jsonl", "checkpoint.pt"):
        assert (seed_dir / DEFAULT_RUN / name).read_bytes() == before[Path(name)]


def test_upgrade_says_when_there_is_nothing_to_move(tmp_path: Path, capsys):
    assert cli_main(["runs", "upgrade", str(tmp_path)]) == 0
    assert capsys.readouterr().out.strip() == f"no run of the earlier layout under {tmp_path}"
