"""A local worker does not outlive its master: after kill -9 of the master (mid-job), its worker
processes exit within 30 s (the default hpo.master_timeout of 15 s plus one check)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path

import pytest
from test_hpo import tiny

MASTER = ("import json, sys; from hpo.bohb import HpoSettings, run_bohb; "
          "s = json.loads(sys.argv[1]); s['search_overrides'] = tuple(s['search_overrides']); "
          "run_bohb(HpoSettings(**s), sys.argv[2], echo=False)")


def _alive(pid: int) -> bool:
    """Running (a zombie waiting for whoever adopted it counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def _ours(pid: int) -> bool:
    try:
        return b"run_worker" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


@pytest.mark.timeout(150)
def test_local_workers_exit_when_the_master_is_killed(tmp_path: Path):
    # one long job (100 epochs), so that the worker is busy when its master dies
    settings = asdict(tiny(workers=1, min_budget=100, max_budget=100))
    master = subprocess.Popen([sys.executable, "-c", MASTER, json.dumps(settings), str(tmp_path)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    workers: list[int] = []
    try:
        deadline = time.time() + 90
        while time.time() < deadline and not list(tmp_path.glob("runs/*/*/worker.json")):
            assert master.poll() is None, "the master ended before its worker started a job"
            time.sleep(0.1)
        workers = json.loads((tmp_path / "workers.json").read_text())
        assert workers and all(_alive(pid) for pid in workers)
        master.kill()
        master.wait()
        killed = time.time()
        while time.time() - killed < 30 and any(_alive(pid) for pid in workers):
            time.sleep(0.2)
        assert not any(_alive(pid) for pid in workers), (
            f"workers still alive {time.time() - killed:.0f} s after their master was killed")
        assert "has not answered for 15 s" in (tmp_path / "workers.log").read_text()
    finally:
        if master.poll() is None:
            master.kill()
            master.wait()
        for pid in workers:
            if _alive(pid) and _ours(pid):
                os.kill(pid, signal.SIGKILL)
