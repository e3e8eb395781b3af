"""A dead W&B endpoint costs a search at most the tracker's init_timeout (W&B's own default is
90 s), with one warning line that names the cap; the search goes on without W&B."""

from __future__ import annotations

import logging
import socket
import time
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from nasbench1shot1.tracking import WandbTracker, make_tracker

CONF = Path(__file__).resolve().parents[1] / "conf"


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_the_default_cap_comes_from_the_logger_config():
    logger = OmegaConf.to_container(OmegaConf.load(CONF / "logger" / "wandb.yaml"))
    assert make_tracker(logger).init_timeout == logger["init_timeout"] == 15


@pytest.mark.timeout(90)
def test_a_dead_wandb_endpoint_costs_at_most_the_cap(tmp_path: Path, monkeypatch, caplog):
    import wandb

    wandb.teardown()  # W&B keeps its settings per process; start from this environment
    monkeypatch.setenv("WANDB_BASE_URL", f"http://127.0.0.1:{_closed_port()}")
    monkeypatch.setenv("WANDB_API_KEY", "0" * 40)
    tracker = WandbTracker(mode="online", init_timeout=3)
    started = time.monotonic()
    try:
        with caplog.at_level(logging.WARNING, logger="nasbench1shot1.tracking"):
            tracker.start({"method": {"name": "darts"}, "search_space": 1, "seed": 0,
                           "data": {"name": "digits"}}, tmp_path)
        elapsed = time.monotonic() - started
    finally:
        wandb.teardown()
    assert tracker.run is None
    assert elapsed < 3 + 10, f"gave up after {elapsed:.0f} s"
    warnings = [r.getMessage() for r in caplog.records if r.name == "nasbench1shot1.tracking"]
    assert len(warnings) == 1 and "\n" not in warnings[0]
    assert "3 s" in warnings[0] and "init_timeout" in warnings[0]
    tracker.log({"epoch": 1, "test_regret": 0.1})  # the search goes on
    tracker.finish({"status": "finished"})
