"""A BOHB run's Pyro4 traffic is authenticated: a process without the run's secret is refused by
the name server, the dispatcher (master) and the workers, and a result it forges never reaches
results.json; pickle is refused even by a worker whose environment asks Pyro4 for it. The
black-box BOHB/Hyperband uses the same key."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from test_hpo import tiny

from nasbench1shot1.config import compose
from nasbench1shot1.hpo.bohb import run_bohb

#: A local process that knows where everything listens but not the secret; for the serializer
#: probes it gets the secret on stdin and asks for pickle.
FORGER = r"""
import json, sys
import Pyro4

task = json.loads(sys.argv[1])
key = sys.stdin.read().strip() or None
out = {}


def attempt(name, call):
    try:
        call()
        out[name] = "accepted"
    except Exception as error:
        out[name] = f"refused: {type(error).__name__}: {error}"


def proxy(uri, key=None, serializer=None):
    p = Pyro4.Proxy(uri)
    p._pyroHmacKey = key
    if serializer:
        p._pyroSerializer = serializer
    return p


ns = f"PYRO:Pyro.NameServer@{task['host']}:{task['port']}"
forged = {"result": {"loss": 0.0, "info": {"status": "finished", "test_regret": -1.0}},
          "exception": None}
attempt("lookup", lambda: proxy(ns).list())
attempt("register_result",
        lambda: proxy(task["dispatcher"]).register_result(tuple(task["job"]), forged))
attempt("worker", lambda: proxy(task["worker"]).is_busy())
attempt("pickle name server", lambda: proxy(ns, key, "pickle").list())
attempt("pickle worker", lambda: proxy(task["worker"], key, "pickle").is_busy())
attempt("serpent with the key", lambda: proxy(ns, key).list())
print(json.dumps(out))
"""


def _wait_for(path_glob, folder: Path, seconds: float) -> Path:
    deadline = time.time() + seconds
    while time.time() < deadline:
        found = sorted(folder.glob(path_glob))
        if found:
            return found[0]
        time.sleep(0.05)
    pytest.fail(f"no {path_glob} in {folder} after {seconds} s")


@pytest.mark.timeout(180)
def test_callers_without_the_secret_are_refused_and_pickle_too(tmp_path: Path, monkeypatch):
    import hpbandster.core.result as hpres
    import Pyro4

    # local workers inherit this environment: it must not turn pickle on
    monkeypatch.setenv("PYRO_SERIALIZERS_ACCEPTED", "pickle,serpent")
    # the master holds its results until the forger is done, so the run cannot end before
    release, log_result = threading.Event(), hpres.json_result_logger.__call__
    monkeypatch.setattr(hpres.json_result_logger, "__call__",
                        lambda self, job: (release.wait(60), log_result(self, job)))
    box = {}
    thread = threading.Thread(target=lambda: box.update(
        summary=run_bohb(tiny(workers=1, min_budget=1, max_budget=1), tmp_path, echo=False)))
    thread.start()
    try:
        running = _wait_for("runs/*/*/worker.json", tmp_path, 120)
        info = json.loads((tmp_path / "nameserver.json").read_text())
        key = info.get("secret")
        assert stat.S_IMODE((tmp_path / "nameserver.json").stat().st_mode) == 0o600
        assert isinstance(key, str) and len(key) == 64
        worker_pid = json.loads(running.read_text())["pid"]
        for part in ("cmdline", "environ"):  # not where `ps` or another user could see it
            assert key.encode() not in Path(f"/proc/{worker_pid}/{part}").read_bytes()
        with Pyro4.locateNS(info["host"], info["port"], hmac_key=key) as ns:
            names = ns.list(prefix=f"hpbandster.run_{info['run_id']}.")
        dispatcher = next(uri for name, uri in names.items() if name.endswith(".dispatcher"))
        worker = next(uri for name, uri in names.items() if ".worker." in name)
        # registered at the name server's address, which other nodes reach; Pyro4's default
        # 'localhost' would send a worker on another node to itself
        assert {Pyro4.core.URI(uri).host for uri in (dispatcher, worker)} == {info["host"]}
        job = [int(x) for x in running.parent.name[len("config"):].split("_budget")[0]
               .split("_")]
        task = {"host": info["host"], "port": info["port"], "dispatcher": dispatcher,
                "worker": worker, "job": job}
        done = subprocess.run([sys.executable, "-c", FORGER, json.dumps(task)],
                              input=key or "", capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr[-2000:]
        outcome = json.loads(done.stdout)
    finally:
        release.set()
        thread.join(timeout=150)
    assert not thread.is_alive()
    for name in ("lookup", "register_result", "worker"):
        assert outcome[name].startswith("refused") and "hmac" in outcome[name], outcome[name]
    for name in ("pickle name server", "pickle worker"):
        assert outcome[name].startswith("refused") and "serializer" in outcome[name], outcome[name]
    assert outcome["serpent with the key"] == "accepted"  # the refusals are the key's, not luck
    entries = [json.loads(line) for line in (tmp_path / "results.json").read_text().splitlines()]
    assert entries and all(e[3]["info"].get("run_dir") for e in entries)  # the workers' own
    assert all(e[3]["info"].get("test_regret") != -1.0 for e in entries)
    assert all(p["test_regret"] >= 0 for p in box["summary"]["trajectory"])


@pytest.mark.timeout(120)
def test_blackbox_hpbandster_refuses_callers_without_the_secret(tmp_path: Path, monkeypatch):
    import hpbandster.core.nameserver as hpns
    import Pyro4

    from nasbench1shot1.blackbox import run
    from nasbench1shot1.blackbox.objective import TabularObjective

    started, probes = {}, []
    start, evaluate = hpns.NameServer.start, TabularObjective.evaluate

    def spy_start(self):
        started["at"] = start(self)
        return started["at"]

    def probing(self, *args, **kwargs):
        if not probes:  # a thread of the same process, without the key
            try:
                Pyro4.locateNS(*started["at"]).list()
                probes.append("accepted")
            except Pyro4.errors.PyroError as error:
                probes.append(f"refused: {error}")
        return evaluate(self, *args, **kwargs)

    monkeypatch.setattr(hpns.NameServer, "start", spy_start)
    monkeypatch.setattr(TabularObjective, "evaluate", probing)
    cfg = compose("blackbox", overrides=["logger=none", "optimizer=hyperband", "trials=6"])
    result = run(cfg, tmp_path, echo=False)
    assert probes and probes[0].startswith("refused"), probes
    assert result.trials == 6


def test_a_worker_alone_needs_the_masters_private_secret_file(tmp_path: Path):
    from nasbench1shot1.hpo.bohb import HpoSettings
    from nasbench1shot1.pyro_security import read_secret, write_private_json

    with pytest.raises(ValueError, match="needs run_id, port and secret_file"):
        HpoSettings(worker_only=True, run_id="r", port=9090)
    path = tmp_path / "nameserver.json"
    write_private_json(path, {"secret": "ab" * 32})
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and read_secret(path) == "ab" * 32
    path.chmod(0o644)
    with pytest.raises(ValueError, match=f"can be read by other users .*chmod 600 {path}"):
        read_secret(path)
    with pytest.raises(ValueError, match=f"secret_file={tmp_path / 'none.json'}"):
        read_secret(tmp_path / "none.json")
