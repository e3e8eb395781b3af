"""The thread policy: `threads=auto` takes OMP_NUM_THREADS or a share of the cores, each epoch
records the thread count (and device) it ran with, and a run may resume with another count."""

import json
from pathlib import Path

import pytest
import torch

from nasbench1shot1 import threads
from nasbench1shot1.config import compose
from nasbench1shot1.search import run
from nasbench1shot1.tracking import Tracker

QUICK = ["logger=none", "supernet.channels=4", "supernet.num_cells=3",
         "device=cpu"]


def config(*overrides: str):
    return compose("search", overrides=list(overrides))


def test_auto_takes_omp_num_threads_else_a_share_of_the_cores(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert threads.resolve("auto") == 3
    monkeypatch.delenv("OMP_NUM_THREADS")
    monkeypatch.setattr(threads, "available_cores", lambda: 16)
    assert threads.resolve("auto") == 16
    assert threads.resolve("auto", processes=4) == 4
    assert threads.resolve("auto", processes=64) == 1
    assert threads.resolve(5) == 5
    assert threads.child_env(2)["OMP_NUM_THREADS"] == "2"


class _StopAfterFirstEpoch(Tracker):
    def log(self, record: dict) -> None:
        raise KeyboardInterrupt


def test_a_run_records_its_thread_count_per_epoch_and_resumes_with_another(tmp_path: Path):
    before = torch.get_num_threads()
    cfg = [*QUICK, "train.epochs=2"]
    try:
        with pytest.raises(KeyboardInterrupt):
            run(config(*cfg, "threads=2"), tmp_path, tracker=_StopAfterFirstEpoch(), echo=False)
        assert torch.get_num_threads() == 2
        resumed = run(config(*cfg, "threads=1"), tmp_path, echo=False)
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
    assert resumed.epochs_done == 2
    records = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [(r["epoch"], r["threads"], r["device"]) for r in records] == [(1, 2, "cpu"),
                                                                         (2, 1, "cpu")]
    assert json.loads((tmp_path / "result.json").read_text())["settings"]["threads"] == 1
