"""A worker does not outlive its master, and does not leave a master that is merely slow:

- after kill -9 of the master (mid-job), its local worker processes exit within 30 s (a local
  worker sees its parent change at its next check);
- a master paused (SIGSTOP) for longer than master_timeout, then resumed, keeps its workers
  and the run finishes;
- a worker alone exits within master_timeout once the name server's port refuses it, but
  waits out a silent name server (no answer: paused, busy, or a dead node) for
  SILENCE_FACTOR x master_timeout;
- a master whose local workers have all exited stops with one sentence instead of waiting for
  ever, keeping its result files."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path

import pytest
from test_hpo import TINY, tiny

from nasbench1shot1.hpo.worker import SILENCE_FACTOR
from nasbench1shot1.pyro_security import write_private_json

MASTER = ("import json, sys; from nasbench1shot1.hpo.bohb import HpoSettings, run_bohb; "
          "s = json.loads(sys.argv[1]); s['search_overrides'] = tuple(s['search_overrides']); "
          "run_bohb(HpoSettings(**s), sys.argv[2], echo=False)")

#: a name server with the secret in argv[1]'s file, in a process of its own; prints its port
NAME_SERVER = ("import json, sys, time; import hpbandster.core.nameserver as hpns; "
               "from nasbench1shot1.pyro_security import keyed; "
               "k = json.load(open(sys.argv[1]))['secret']; "
               "c = keyed(k); c.__enter__(); "
               "ns = hpns.NameServer(run_id='alone', host='127.0.0.1', port=0); "
               "print(ns.start()[1], flush=True); time.sleep(600)")

WORKER = ("import json, sys; from nasbench1shot1.hpo.bohb import HpoSettings, run_worker; "
          "s = json.loads(sys.argv[1]); s['search_overrides'] = tuple(s['search_overrides']); "
          "run_worker(HpoSettings(**s), sys.argv[2])")


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


def _end(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.kill(process.pid, signal.SIGCONT)
        process.kill()
        process.wait()


def _end_workers(pids: list[int]) -> None:
    for pid in pids:
        if _alive(pid) and _ours(pid):
            os.kill(pid, signal.SIGKILL)


def _wait_for_a_job(run_dir: Path, master: subprocess.Popen, seconds: float) -> list[int]:
    deadline = time.time() + seconds
    while time.time() < deadline and not list(run_dir.glob("runs/*/*/worker.json")):
        assert master.poll() is None, "the master ended before its worker started a job"
        time.sleep(0.1)
    assert list(run_dir.glob("runs/*/*/worker.json")), "no job started"
    return json.loads((run_dir / "workers.json").read_text())


@pytest.mark.timeout(150)
def test_local_workers_exit_when_the_master_is_killed(tmp_path: Path):
    # one long job (100 epochs), so that the worker is busy when its master dies
    settings = asdict(tiny(workers=1, min_budget=100, max_budget=100))
    master = subprocess.Popen([sys.executable, "-c", MASTER, json.dumps(settings), str(tmp_path)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    workers: list[int] = []
    try:
        workers = _wait_for_a_job(tmp_path, master, 90)
        assert workers and all(_alive(pid) for pid in workers)
        master.kill()
        master.wait()
        killed = time.time()
        while time.time() - killed < 30 and any(_alive(pid) for pid in workers):
            time.sleep(0.2)
        assert not any(_alive(pid) for pid in workers), (
            f"workers still alive {time.time() - killed:.0f} s after their master was killed")
        assert f"its master (pid {master.pid}) is gone" in (tmp_path / "workers.log").read_text()
    finally:
        _end(master)
        _end_workers(workers)


@pytest.mark.timeout(240)
def test_a_paused_master_keeps_its_workers_and_the_run_finishes(tmp_path: Path):
    timeout = 2.0  # the pause below is 4 times as long
    settings = asdict(tiny(workers=2, min_budget=3, max_budget=3, master_timeout=timeout))
    master = subprocess.Popen([sys.executable, "-c", MASTER, json.dumps(settings), str(tmp_path)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    workers: list[int] = []
    try:
        workers = _wait_for_a_job(tmp_path, master, 90)
        os.kill(master.pid, signal.SIGSTOP)
        time.sleep(4 * timeout)
        assert all(_alive(pid) for pid in workers), "a worker left its paused master"
        os.kill(master.pid, signal.SIGCONT)
        try:
            _, err = master.communicate(timeout=150)
        except subprocess.TimeoutExpired:
            pytest.fail("the master did not finish after it was resumed")
        assert master.returncode == 0, err[-2000:]
        log = (tmp_path / "workers.log").read_text()
        assert "this worker exits" not in log, log[-2000:]
        results = (tmp_path / "results.json").read_text()
        assert "Worker died unexpectedly" not in results
        assert (tmp_path / "incumbent.json").is_file()
    finally:
        _end(master)
        _end_workers(workers)


def _worker_alone(tmp_path: Path, timeout: float):
    secret = tmp_path / "nameserver.json"
    write_private_json(secret, {"secret": "cd" * 32})
    server = subprocess.Popen([sys.executable, "-c", NAME_SERVER, str(secret)],
                              stdout=subprocess.PIPE, text=True)
    port = int(server.stdout.readline())
    settings = asdict(tiny(worker_only=True, run_id="alone", port=port, secret_file=str(secret),
                           master_timeout=timeout))
    log = (tmp_path / "worker.log").open("w")
    worker = subprocess.Popen([sys.executable, "-c", WORKER, json.dumps(settings),
                               str(tmp_path / "w")], stdout=log, stderr=log)
    return server, worker


def _wait_registered(server: subprocess.Popen, worker: subprocess.Popen, tmp_path: Path) -> None:
    deadline = time.time() + 60
    while time.time() < deadline and "start listening" not in (
            tmp_path / "worker.log").read_text():
        assert worker.poll() is None, (tmp_path / "worker.log").read_text()[-2000:]
        time.sleep(0.1)
    time.sleep(1)


@pytest.mark.timeout(120)
def test_a_worker_alone_exits_soon_when_its_name_server_refuses(tmp_path: Path):
    timeout = 1.0
    server, worker = _worker_alone(tmp_path, timeout)
    try:
        _wait_registered(server, worker, tmp_path)
        server.kill()
        server.wait()
        gone = time.time()
        try:
            worker.wait(timeout=timeout + 10)
        except subprocess.TimeoutExpired:
            pytest.fail("the worker did not exit after its name server went away")
        assert time.time() - gone < SILENCE_FACTOR * timeout
        log = (tmp_path / "worker.log").read_text()
        assert "refused" in log and "this worker exits" in log, log[-2000:]
    finally:
        _end(server)
        _end(worker)


@pytest.mark.timeout(120)
def test_a_worker_alone_waits_out_a_silent_name_server(tmp_path: Path):
    timeout = 0.5
    server, worker = _worker_alone(tmp_path, timeout)
    try:
        _wait_registered(server, worker, tmp_path)
        os.kill(server.pid, signal.SIGSTOP)
        silent = time.time()
        time.sleep(SILENCE_FACTOR * timeout / 2)
        assert worker.poll() is None, "a worker left a name server that was only silent"
        try:
            worker.wait(timeout=SILENCE_FACTOR * timeout + 10)
        except subprocess.TimeoutExpired:
            pytest.fail("the worker waited longer than the silence limit")
        # the worker counts the silence from its last answered ping, which came up to one
        # watch interval (timeout / 3) before the name server was stopped
        assert time.time() - silent >= SILENCE_FACTOR * timeout - timeout / 3
        log = (tmp_path / "worker.log").read_text()
        assert f"has not answered for {SILENCE_FACTOR * timeout:.0f} s" in log, log[-2000:]
    finally:
        _end(server)
        _end(worker)


@pytest.mark.timeout(240)
def test_a_master_whose_local_workers_all_exited_stops_with_one_sentence(tmp_path: Path):
    script = shutil.which("nb1s1-hpo") or pytest.fail("nb1s1-hpo is not installed")
    master = subprocess.Popen(
        [script, "min_budget=100", "max_budget=100", "iterations=1",
         "workers=2", "search_overrides=[" + ",".join(f'"{o}"' for o in TINY) + "]",
         f"hydra.run.dir={tmp_path}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    workers: list[int] = []
    try:
        workers = _wait_for_a_job(tmp_path, master, 120)
        for pid in workers:
            os.kill(pid, signal.SIGKILL)
        err = _stops_by_itself(master)
        assert err.strip().splitlines()[-1] == (
            f"nb1s1-hpo: error: all 2 local workers exited (see {tmp_path / 'workers.log'}); "
            "start the same command again to warm-start from the results")
        assert "Traceback" not in err
        assert (tmp_path / "configs.json").is_file() and (tmp_path / "results.json").is_file()
        assert not (tmp_path / "nameserver.json").exists()
    finally:
        _end(master)
        _end_workers(workers)


def _stops_by_itself(master: subprocess.Popen) -> str:
    """The stderr of a master that must end (exit 1) without being told, within 60 s."""
    try:
        _, err = master.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        pytest.fail("the master waits for ever for workers that exited")
    assert master.returncode == 1, err
    return err


#: a master whose local workers exit before they register (argv: settings, run dir)
NO_WORKERS = ("import json, subprocess, sys; import nasbench1shot1.hpo.bohb as b; "
              "b._spawn_worker = lambda s, d: subprocess.Popen([sys.executable, '-c', "
              "'raise SystemExit(3)']); "
              "s = json.loads(sys.argv[1]); s['search_overrides'] = tuple(s['search_overrides']); "
              "b.run_bohb(b.HpoSettings(**s), sys.argv[2], echo=False)")


@pytest.mark.timeout(120)
def test_a_master_whose_local_workers_never_registered_stops(tmp_path: Path):
    settings = asdict(tiny(workers=2))
    master = subprocess.Popen([sys.executable, "-c", NO_WORKERS, json.dumps(settings),
                               str(tmp_path)], stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True)
    try:
        err = _stops_by_itself(master)
        assert err.strip().splitlines()[-1] == (
            "nasbench1shot1.hpo.bohb.WorkersExited: all 2 local workers exited "
            f"(see {tmp_path / 'workers.log'}); "
            "start the same command again to warm-start from the results")
        assert not (tmp_path / "nameserver.json").exists()
    finally:
        _end(master)
