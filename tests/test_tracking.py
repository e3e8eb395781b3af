"""W&B: a dead endpoint costs a search at most the tracker's init_timeout (W&B's own default is
90 s), with one warning line that names the cap, and the search goes on without W&B; offline, a
search interrupted or killed and started again is one W&B run whose offline folders hold every
epoch once, with the epoch as step, and the run's config and summary as plain files."""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from nasbench1shot1.conf.logger import WandbConfig
from nasbench1shot1.config import compose
from nasbench1shot1.runfiles import (
    WANDB_CONFIG_FILE,
    WANDB_DIR,
    WANDB_ID_FILE,
    WANDB_SUMMARY_FILE,
)
from nasbench1shot1.search import run
from nasbench1shot1.tracking import WandbTracker, logged_steps, make_tracker


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


TINY_SEARCH = ["method=darts", "supernet.channels=4", "supernet.num_cells=3", "logger=none",
               "train.epochs=4"]
STOP_AT = 2

#: a process that runs TINY_SEARCH in argv[1] with W&B offline and is killed (os._exit, no
#: clean-up at all) right after W&B got epoch STOP_AT, as kill -9 would do
KILLED = r"""
import os, sys
from pathlib import Path
from nasbench1shot1.config import compose
from nasbench1shot1.search import run
from nasbench1shot1.tracking import WandbTracker

class Killed(WandbTracker):
    def log(self, record):
        super().log(record)
        if record["epoch"] == int(sys.argv[2]):
            os._exit(9)

run(compose("search", sys.argv[3:]), Path(sys.argv[1]), tracker=Killed(mode="offline"),
    echo=False)
"""


class Interrupted(WandbTracker):
    """Ctrl-C right after W&B got epoch STOP_AT (the W&B run is left open in this process)."""

    def log(self, record: dict) -> None:
        super().log(record)
        if record["epoch"] == STOP_AT:
            raise KeyboardInterrupt


def _rows(wandb_file: Path) -> list[tuple[int, int]]:
    """(step, epoch) of each history row in a transaction log, read with wandb's own protobuf
    Record; the framing is checked by logged_steps returning the same steps."""
    from wandb.proto import wandb_internal_pb2

    data, rows = wandb_file.read_bytes(), []
    at, parts = 7, []
    while at + 7 <= len(data):
        left = 32768 - at % 32768
        length, kind = int.from_bytes(data[at + 4:at + 6], "little"), data[at + 6]
        if left < 7 or kind == 0:
            at += left
            continue
        parts.append(data[at + 7:at + 7 + length])
        at += 7 + length
        if kind in (1, 4):
            record = wandb_internal_pb2.Record.FromString(b"".join(parts))
            parts = []
            if record.WhichOneof("record_type") == "history":
                items = {i.key or "/".join(i.nested_key): json.loads(i.value_json)
                         for i in record.history.item}
                rows.append((items["_step"], items["epoch"]))
    assert [step for step, _ in rows] == logged_steps(wandb_file)
    return rows


@pytest.mark.timeout(180)
@pytest.mark.parametrize("cut", ["interrupted", "killed"])
def test_a_resumed_search_is_one_wandb_run_with_each_epoch_once(tmp_path: Path, monkeypatch,
                                                                cut: str):
    """A search of 4 epochs stopped after epoch 2 and started again: one W&B id, one offline
    folder per invocation (what `wandb sync DIR` uploads in order of start time as one resumed
    run), steps 1..4 exactly once across them with step == epoch, no row without an epoch. A
    killed invocation's folder lost its rows (W&B writes its log in 32 KiB blocks): the resumed
    invocation logs them again from the checkpoint."""
    import wandb

    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.setenv("WANDB_SILENT", "true")
    wandb.teardown()
    run_dir = tmp_path / "run"
    if cut == "interrupted":
        with pytest.raises(KeyboardInterrupt):
            run(compose("search", TINY_SEARCH), run_dir, tracker=Interrupted(mode="offline"),
                echo=False)
    else:
        killed = subprocess.run([sys.executable, "-c", KILLED, str(run_dir), str(STOP_AT),
                                 *TINY_SEARCH], capture_output=True, text=True, timeout=150,
                                env={**os.environ, "WANDB_SILENT": "true"})
        assert killed.returncode == 9, killed.stderr[-2000:]
    assert len((run_dir / "metrics.jsonl").read_text().splitlines()) == STOP_AT
    run_id = (run_dir / WANDB_ID_FILE).read_text()
    try:
        result = run(compose("search", TINY_SEARCH), run_dir,
                     tracker=WandbTracker(mode="offline", tags=["resumed"]), echo=False)
    finally:
        wandb.teardown()  # W&B writes the last rows of the finished run when its service ends
    assert result.status == "finished" and (run_dir / WANDB_ID_FILE).read_text() == run_id

    logs = sorted((run_dir / WANDB_DIR).glob("offline-run-*/run-*.wandb"))
    assert len(logs) == 2 and all(log.name == f"run-{run_id}.wandb" for log in logs)
    rows = [_rows(log) for log in logs]
    assert rows[0] == ([(1, 1), (2, 2)] if cut == "interrupted" else [])
    assert [row for rows_of_one in rows for row in rows_of_one] == [(e, e) for e in range(1, 5)]

    config = json.loads((run_dir / WANDB_CONFIG_FILE).read_text())
    assert config["train"]["epochs"] == 4 and config["method"]["name"] == "darts"
    summary = json.loads((run_dir / WANDB_SUMMARY_FILE).read_text())
    assert summary["status"] == "finished" and summary["epochs_done"] == 4
    assert summary["final_test_regret"] == result.final_test_regret
    assert summary["final_cell"] == result.final_cell
    table = summary["final_cell_table"]
    assert table["columns"] == ["vertex", "op", "adjacency row"]
    assert [op for _, op, _ in table["data"]] == result.history[-1]["ops"]


@pytest.mark.timeout(60)
def test_a_transaction_log_that_is_not_one_is_unknown(tmp_path: Path):
    (tmp_path / "run-x.wandb").write_bytes(b"not a W&B file")
    assert logged_steps(tmp_path / "run-x.wandb") is None
    assert logged_steps(tmp_path / "missing.wandb") is None
