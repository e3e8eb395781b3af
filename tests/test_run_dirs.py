"""Run dirs and checkpoints to be trusted: no code runs from a checkpoint, a damaged one is one
sentence and a flag, a run dir belongs to one run (kind, settings, lock), and `nb1s1 analyze`
leaves out metrics that repeat or skip an epoch."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from nasbench1shot1.analysis.runs import find_runs, group_runs
from nasbench1shot1.blackbox import run as blackbox_run
from nasbench1shot1.cli import main as cli_main
from nasbench1shot1.conf.identity import identity_of
from nasbench1shot1.config import SettingsError, compose
from nasbench1shot1.hpo.bohb import HpoSettings, run_bohb
from nasbench1shot1.runfiles import CHECKPOINT_FILE, RunDirError, held, own_run_dir
from nasbench1shot1.search import run
from nasbench1shot1.tracking import Tracker

QUICK = ["logger=none", "supernet.channels=4", "supernet.num_cells=3", "device=cpu"]


def config(name: str, *overrides: str):
    return compose(name, overrides=list(overrides))


def search(run_dir: Path, *overrides: str):
    return run(config("search", "train.epochs=2", *QUICK, *overrides), run_dir, echo=False)


class _WritesMarker:
    """Unpickling this runs code: it writes the marker file."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (exec, (f"open({str(self.marker)!r}, 'w').write('ran')",))


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> Path:
    run_dir = tmp_path_factory.mktemp("finished")
    search(run_dir)
    return run_dir


def _copy(run_dir: Path, tmp_path: Path) -> Path:
    target = tmp_path / "run"
    shutil.copytree(run_dir, target)
    return target


def test_a_crafted_checkpoint_runs_no_code_in_resume_or_correlation(finished: Path,
                                                                    tmp_path: Path):
    run_dir = _copy(finished, tmp_path)
    marker = tmp_path / "marker"
    state = torch.load(run_dir / CHECKPOINT_FILE, weights_only=True)
    state["history"] = _WritesMarker(marker)
    torch.save(state, run_dir / CHECKPOINT_FILE)
    with pytest.raises(SettingsError, match=r"checkpoint.pt cannot be loaded as a checkpoint"):
        search(run_dir)
    assert cli_main(["correlation", str(run_dir), "--samples", "5"]) == 1
    assert not marker.exists()


@pytest.mark.parametrize("damage", ["zero_bytes", "truncated", "random_bytes", "old_format"])
def test_a_damaged_checkpoint_is_one_sentence_and_restart_moves_it_aside(
        finished: Path, tmp_path: Path, damage: str):
    run_dir = _copy(finished, tmp_path)
    path = run_dir / CHECKPOINT_FILE
    whole = path.read_bytes()
    if damage == "old_format":
        state = torch.load(path, weights_only=True)
        del state["format"]
        torch.save(state, path)
    else:
        path.write_bytes({"zero_bytes": b"", "truncated": whole[: len(whole) // 2],
                          "random_bytes": os.urandom(4096)}[damage])
    damaged = path.read_bytes()
    with pytest.raises(SettingsError) as error:
        search(run_dir)
    message = str(error.value)
    assert str(path) in message and "restart=true" in message and "\n" not in message
    assert path.read_bytes() == damaged  # kept as it was
    result = search(run_dir, "restart=true")
    assert result.status == "finished" and result.epochs_done == 2
    assert (run_dir / "discarded-1" / CHECKPOINT_FILE).read_bytes() == damaged
    assert (run_dir / "discarded-1" / "why.txt").is_file()
    epochs = [json.loads(line)["epoch"] for line in
              (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert epochs == [1, 2]


def test_a_run_dir_belongs_to_one_kind_and_one_setting(finished: Path, tmp_path: Path):
    searched = _copy(finished, tmp_path)
    result_before = (searched / "result.json").read_bytes()
    with pytest.raises(RunDirError, match=r"is the run dir of a search run; a blackbox run"):
        blackbox_run(config("blackbox", "logger=none", "trials=5"), searched, echo=False)
    assert (searched / "result.json").read_bytes() == result_before

    boxed = tmp_path / "blackbox"
    blackbox_run(config("blackbox", "logger=none", "trials=5"), boxed, echo=False)
    boxed_result = (boxed / "result.json").read_bytes()
    with pytest.raises(RunDirError, match=r"is the run dir of a blackbox run; a search run"):
        search(boxed)
    assert (boxed / "result.json").read_bytes() == boxed_result

    # without a checkpoint, other settings used to replace metrics.jsonl and result.json
    (searched / CHECKPOINT_FILE).unlink()
    metrics = (searched / "metrics.jsonl").read_bytes()
    with pytest.raises(RunDirError, match=r"other settings \(train\.learning_rate=0\.05 here"):
        search(searched, "train.learning_rate=0.05")
    assert (searched / "metrics.jsonl").read_bytes() == metrics
    assert (searched / "result.json").read_bytes() == result_before

    with pytest.raises(RunDirError, match=r"is the run dir of a search run; a bohb run"):
        run_bohb(HpoSettings(), searched, echo=False)

    # a dir with another run's files but no run.json is not taken over
    (searched / "run.json").unlink()
    with pytest.raises(RunDirError, match=r"holds result.json of another run but no run.json"):
        search(searched)


class _StopAfterOneEpoch(Tracker):
    """Interrupts the search after its first epoch, as Ctrl-C would."""

    def log(self, record: dict) -> None:
        raise KeyboardInterrupt


def _as_an_earlier_version_stored(settings: dict) -> dict:
    """`settings` as versions before train.precision and protocols stored them."""
    earlier = {k: v for k, v in settings.items() if k != "protocol"}
    earlier["train"] = {k: v for k, v in settings["train"].items() if k != "precision"}
    return earlier


def test_a_run_dir_of_an_earlier_version_keeps_its_identity(finished: Path, tmp_path: Path):
    """Run dirs whose files lack the settings added since (train.precision, protocol) are found
    finished, resumed and grouped with today's runs: those settings at the value every earlier
    run had are no part of a run's identity (conf/identity.py)."""
    earlier = _copy(finished, tmp_path)
    result = json.loads((earlier / "result.json").read_text())
    assert result["settings"]["train"]["precision"] == "fp32"  # today's files say everything
    assert result["settings"]["protocol"]["name"] == "fixed"
    result["settings"] = _as_an_earlier_version_stored(result["settings"])
    (earlier / "result.json").write_text(json.dumps(result))
    state = torch.load(earlier / CHECKPOINT_FILE, weights_only=True)
    state["settings"] = _as_an_earlier_version_stored(state["settings"])
    torch.save(state, earlier / CHECKPOINT_FILE)
    stored = (earlier / "result.json").read_bytes()
    assert search(earlier).epochs_done == 2  # found finished: nothing run, nothing written
    assert (earlier / "result.json").read_bytes() == stored

    cut = tmp_path / "more" / "seed1"
    with pytest.raises(KeyboardInterrupt):
        run(config("search", "train.epochs=2", *QUICK, "seed=1"), cut, echo=False,
            tracker=_StopAfterOneEpoch())
    state = torch.load(cut / CHECKPOINT_FILE, weights_only=True)
    assert state["epoch"] == 1
    state["settings"] = _as_an_earlier_version_stored(state["settings"])
    torch.save(state, cut / CHECKPOINT_FILE)
    resumed = search(cut, "seed=1")  # resumes after epoch 1
    assert resumed.epochs_done == 2 and [r["epoch"] for r in resumed.history] == [1, 2]
    groups = group_runs(find_runs([earlier, cut]).search)
    assert [[r.seed for r in g.runs] for g in groups] == [[0, 1]]


def test_a_group_of_later_settings_leaves_the_identity_only_all_at_their_earlier_values():
    later = ({"train.precision": "fp32"}, {"method.sampling": "configurations",
                                           "method.sharing_groups": 1})
    today = {"seed": 0, "device": "cpu", "train": {"epochs": 2, "precision": "fp32"},
             "method": {"name": "random_ws", "sampling": "configurations", "sharing_groups": 1}}
    identity = identity_of(today, ("device",), later)
    assert identity == {"seed": 0, "train": {"epochs": 2}, "method": {"name": "random_ws"}}
    assert today["train"]["precision"] == "fp32" and "device" in today  # not changed
    # absent (stored before it existed) counts as the earlier value
    assert identity_of({**today, "method": {"name": "random_ws"}}, ("device",), later) == identity
    cells = {**today, "method": {**today["method"], "sampling": "cells"}}
    assert identity_of(cells, (), later)["method"] == cells["method"]  # the group stays whole
    assert identity_of({**today, "train": {"epochs": 2, "precision": "bf16"}}, (), later)[
        "train"] == {"epochs": 2, "precision": "bf16"}


def test_a_start_refused_before_its_first_result_does_not_claim_the_dir(tmp_path: Path):
    with pytest.raises(SettingsError, match="train.train_portion=0.0001 leaves 0"):
        search(tmp_path, "train.train_portion=0.0001")  # refused after taking the dir
    assert search(tmp_path).status == "finished"  # the corrected command runs there
    with pytest.raises(RunDirError, match="other settings"):
        search(tmp_path, "train.learning_rate=0.05")  # now the dir holds a result


def test_the_correlation_study_waits_for_the_search_to_end(finished: Path, tmp_path: Path,
                                                           capsys):
    run_dir = _copy(finished, tmp_path)
    with held(run_dir / "run.lock", "a search", "wait"):
        assert cli_main(["correlation", str(run_dir), "--samples", "5"]) == 1
    assert "is in use by another run" in capsys.readouterr().err
    assert not (run_dir / "correlation.json").exists()
    assert cli_main(["correlation", str(run_dir), "--samples", "5"]) == 0
    assert json.loads((run_dir / "correlation.json").read_text())["cells"] == 5


_HOLD = """
import sys, time
from pathlib import Path
from nasbench1shot1.runfiles import own_run_dir
with own_run_dir(Path(sys.argv[1]), "search", {"x": 1}):
    print("held", flush=True)
    time.sleep(120)
"""


@pytest.mark.timeout(120)
def test_a_held_run_dir_is_refused_with_its_holder_and_freed_by_kill_9(tmp_path: Path):
    holder = subprocess.Popen([sys.executable, "-c", _HOLD, str(tmp_path)],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(RunDirError, match=rf"in use by another run \(pid {holder.pid} on "), \
                own_run_dir(tmp_path, "search", {"x": 1}):
            pass
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    with own_run_dir(tmp_path, "search", {"x": 1}):  # the kernel released the dead one's lock
        pass


@pytest.mark.timeout(300)
def test_two_identical_commands_at_once_train_once(tmp_path: Path):
    script = shutil.which("nb1s1-search") or pytest.fail("nb1s1-search is not installed")
    command = [script, "train.epochs=3", *QUICK, f"hydra.run.dir={tmp_path}"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    first = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env=env)
    deadline = time.time() + 120
    while not (tmp_path / "run.json").exists() and time.time() < deadline:
        time.sleep(0.2)  # the first holds the lock before it writes run.json
    # paused while the second starts: a few small epochs could otherwise end before it asks
    os.kill(first.pid, signal.SIGSTOP)
    try:
        second = subprocess.run(command, capture_output=True, text=True, env=env, timeout=240)
    finally:
        os.kill(first.pid, signal.SIGCONT)
    out, err = first.communicate(timeout=240)
    assert first.returncode == 0, err
    assert second.returncode == 1
    assert f"in use by another run (pid {first.pid}" in second.stderr
    assert "Traceback" not in second.stderr
    epochs = [json.loads(line)["epoch"] for line in
              (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert epochs == [1, 2, 3]


@pytest.mark.parametrize(("epochs", "reason"), [
    ([1, 1, 2, 2], "metrics.jsonl repeats epoch 1"),
    ([1, 3], "metrics.jsonl skips epoch 2"),
])
def test_analyze_leaves_out_metrics_that_repeat_or_skip_an_epoch(finished: Path, tmp_path: Path,
                                                                 epochs: list, reason: str):
    run_dir = _copy(finished, tmp_path)
    record = json.loads((run_dir / "metrics.jsonl").read_text().splitlines()[0])
    (run_dir / "metrics.jsonl").write_text(
        "".join(json.dumps({**record, "epoch": e}) + "\n" for e in epochs))
    runs = find_runs([run_dir])
    assert not runs.search
    assert len(runs.skipped) == 1 and reason in runs.skipped[0][1]
    assert find_runs([finished]).search  # the intact run is read
