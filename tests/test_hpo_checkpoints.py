"""BOHB keeps an evaluation's checkpoint only when asked (keep_checkpoints, conf/hpo.py): a
finished evaluation's run dir keeps its result, records and W&B files, and an evaluation started
again on it reports the stored result and touches nothing; a real BOHB run leaves no checkpoint
behind."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nasbench1shot1.conf.hpo import HpoSettings
from nasbench1shot1.hpo.bohb import run_bohb
from nasbench1shot1.hpo.worker import WORST_LOSS, SearchWorker
from nasbench1shot1.runfiles import (
    CHECKPOINT_FILE,
    LOCK_FILE,
    METRICS_FILE,
    RESULT_FILE,
    WORKER_FILE,
    held,
)

TINY = ("supernet.channels=4", "supernet.num_cells=3")
CONFIG = {"weight_decay": 2e-4}


def _files(run_dir: Path) -> dict[str, int]:
    """Every file of a run dir with its modification time (ns), but the lock (its holder) and
    worker.json (the worker that ran it last), which every start writes."""
    return {str(p.relative_to(run_dir)): p.stat().st_mtime_ns for p in run_dir.rglob("*")
            if p.is_file() and p.name not in (LOCK_FILE, WORKER_FILE)}


def test_the_default_is_to_remove_checkpoints():
    assert HpoSettings().keep_checkpoints is False


@pytest.mark.timeout(120)
@pytest.mark.parametrize("keep", [False, True])
def test_an_evaluation_keeps_its_checkpoint_only_when_asked(tmp_path: Path, keep: bool):
    worker = SearchWorker(list(TINY), tmp_path, run_id="r1", keep_checkpoints=keep)
    answer = worker.compute((0, 0, 1), CONFIG, 2.0, None)
    assert answer["info"]["status"] == "finished" and answer["loss"] < WORST_LOSS
    run_dir = Path(answer["info"]["run_dir"])
    assert (run_dir / CHECKPOINT_FILE).exists() == keep
    assert json.loads((run_dir / RESULT_FILE).read_text())["epochs_done"] == 2
    assert len((run_dir / METRICS_FILE).read_text().splitlines()) == 2
    # the same evaluation again (a worker that died before the master heard of it): the stored
    # result, nothing trained or written
    before = _files(run_dir)
    again = SearchWorker(list(TINY), tmp_path, run_id="r1", keep_checkpoints=keep).compute(
        (0, 0, 1), CONFIG, 2.0, None)
    assert again["loss"] == answer["loss"]
    assert again["info"]["final_cell"] == answer["info"]["final_cell"]
    assert _files(run_dir) == before


@pytest.mark.timeout(240)
@pytest.mark.parametrize("keep", [False, True])
def test_a_real_bohb_run_keeps_checkpoints_only_when_asked(tmp_path: Path, keep: bool):
    settings = HpoSettings(method="darts", min_budget=1, max_budget=2, eta=2, iterations=1,
                           workers=1, search_overrides=TINY, keep_checkpoints=keep)
    summary = run_bohb(settings, tmp_path, echo=False)
    results = list((tmp_path / "runs").rglob(RESULT_FILE))
    assert summary["incumbent"] is not None and len(results) >= 2
    kept = list((tmp_path / "runs").rglob(CHECKPOINT_FILE))
    assert len(kept) == (len(results) if keep else 0)


@pytest.mark.timeout(120)
def test_a_worker_refused_by_the_run_dirs_holder_leaves_its_files_alone(tmp_path: Path):
    """worker.json is written by the run that holds the dir: the same evaluation started again
    while the first still runs is a crashed result naming the holder, and the first's worker.json
    stays the first's."""
    first = SearchWorker(list(TINY), tmp_path, run_id="r1", id="first")
    answer = first.compute((0, 0, 1), CONFIG, 1.0, None)
    run_dir = Path(answer["info"]["run_dir"])
    assert json.loads((run_dir / WORKER_FILE).read_text())["worker"].endswith(".first")
    with held(run_dir / LOCK_FILE, str(run_dir), "use another run dir"):  # the first, running
        second = SearchWorker(list(TINY), tmp_path, run_id="r1", id="second").compute(
            (0, 0, 1), CONFIG, 1.0, None)
    assert second["info"]["status"] == "crashed" and second["loss"] == WORST_LOSS
    assert "is in use by another run" in second["info"]["reason"]
    assert json.loads((run_dir / WORKER_FILE).read_text())["worker"].endswith(".first")
    third = SearchWorker(list(TINY), tmp_path, run_id="r1", id="third").compute(
        (0, 0, 1), CONFIG, 1.0, None)
    assert third["loss"] == answer["loss"]  # the stored result, reported by its new worker
    assert json.loads((run_dir / WORKER_FILE).read_text())["worker"].endswith(".third")
