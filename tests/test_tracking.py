"""A dead W&B endpoint costs a search at most the tracker's init_timeout (W&B's own default is
90 s), with one warning line that names the cap; the search goes on without W&B."""

from __future__ import annotations

import logging
import socket
import time
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from nasbench1shot1.conf.logger import WandbConfig
from nasbench1shot1.config import compose
from nasbench1shot1.tracking import WandbTracker, make_tracker


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_the_default_cap_comes_from_the_logger_config():
    logger = OmegaConf.to_container(compose("search", ["logger=wandb"]).logger)
    assert make_tracker(logger).init_timeout == logger["init_timeout"] == WandbConfig.init_timeout


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


#: a process that starts a W&B run against argv[1] (a local port that is closed or never
#: answers), finishes it and exits; it prints the monotonic clock (system-wide) before the start
WHOLE = r"""
import os, sys, time
from pathlib import Path
os.environ["WANDB_BASE_URL"] = f"http://127.0.0.1:{sys.argv[1]}"
os.environ["WANDB_API_KEY"] = "0" * 40
os.environ.pop("WANDB_ERROR_REPORTING", None)
from nasbench1shot1.tracking import WandbTracker
import wandb
tracker = WandbTracker(mode="online", init_timeout=float(sys.argv[3]))
print(time.monotonic(), flush=True)
tracker.start({"method": {"name": "darts"}, "search_space": 1, "seed": 0,
               "data": {"name": "digits"}}, Path(sys.argv[2]))
tracker.log({"epoch": 1, "test_regret": 0.1})
tracker.finish({"status": "finished"})
print("started" if tracker.run is not None else "gave up", flush=True)
"""


@pytest.mark.timeout(120)
@pytest.mark.parametrize("endpoint", ["closed", "silent"])
def test_a_dead_wandb_endpoint_costs_the_whole_process_at_most_the_cap(tmp_path: Path,
                                                                      endpoint: str):
    """Start, finish and W&B's teardown when the process exits, together: a W&B server that is
    gone (a closed port) or does not answer (a port that never accepts) costs init_timeout plus a
    few seconds, not W&B's own exit waits (its telemetry export waits 10 s more on such a
    server)."""
    import subprocess
    import sys

    cap = 3.0
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        if endpoint == "silent":
            silent.listen(0)  # the kernel takes a connection or two; nobody ever answers
        port = silent.getsockname()[1] if endpoint == "silent" else _closed_port()
        process = subprocess.Popen([sys.executable, "-c", WHOLE, str(port), str(tmp_path),
                                    str(cap)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   text=True)
        try:
            started = float(process.stdout.readline())
            out, err = process.communicate(timeout=100)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
        ended = time.monotonic()
    assert process.returncode == 0, err[-2000:]
    assert out.strip() == "gave up"
    assert ended - started < cap + 4, (
        f"the process ended {ended - started:.1f} s after it started the W&B run")
