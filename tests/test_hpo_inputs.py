"""nb1s1-hpo's inputs (the bad ones are rows of tests/test_bad_input.py): a port in use is one
sentence before the run dir is claimed; a local worker keeps the user's thread count; a BOHB run
leaves no pickle and no stale nameserver.json behind."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from test_hpo import tiny

from nasbench1shot1 import threads
from nasbench1shot1.conf.hpo import HpoSettings
from nasbench1shot1.config import compose
from nasbench1shot1.hpo.app import main as hpo_main
from nasbench1shot1.tracking import make_tracker


def _refused(overrides: list[str], tmp_path: Path, monkeypatch, capsys) -> str:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["nb1s1-hpo", *overrides,
                                      f"hydra.run.dir={tmp_path / 'run'}"])
    with pytest.raises(SystemExit) as exit_:
        hpo_main()
    err = capsys.readouterr().err
    assert exit_.value.code == 1, err
    assert "Traceback" not in err
    for name in ("run.json", "run.lock", "nameserver.json"):  # the dir is not claimed
        assert not (tmp_path / "run" / name).exists(), name
    return err.strip().splitlines()[-1]


def test_a_port_in_use_is_one_sentence_before_the_run_dir_is_claimed(tmp_path: Path,
                                                                      monkeypatch, capsys):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        last = _refused([f"port={port}"], tmp_path, monkeypatch, capsys)
    assert last == (f"nb1s1-hpo: error: port={port} is in use on host=127.0.0.1; use "
                    "another port or 0 for any free one")


def test_the_logger_section_takes_init_timeout():
    cfg = compose("nb1s1_hpo", overrides=["logger=wandb", "logger.init_timeout=5"])
    assert make_tracker(dict(cfg.logger)).init_timeout == 5


def test_local_workers_keep_the_users_thread_count(tmp_path: Path, monkeypatch):
    import nasbench1shot1.hpo.bohb

    seen = []
    monkeypatch.setattr(nasbench1shot1.hpo.bohb.subprocess, "Popen",
                        lambda *args, env=None, **kwargs: seen.append(env))
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    nasbench1shot1.hpo.bohb._spawn_worker(tiny(workers=4), tmp_path)
    assert seen[-1]["OMP_NUM_THREADS"] == "3"
    monkeypatch.delenv("OMP_NUM_THREADS")
    nasbench1shot1.hpo.bohb._spawn_worker(tiny(workers=4), tmp_path)
    assert seen[-1]["OMP_NUM_THREADS"] == str(threads.share(4))


@pytest.mark.timeout(240)
def test_a_run_leaves_no_pickle_and_no_stale_nameserver_json(tmp_path: Path, monkeypatch):
    import hpbandster.core.nameserver as hpns

    from nasbench1shot1.hpo.bohb import run_bohb

    stale = tmp_path / "nameserver.json"
    stale.write_text(json.dumps({"host": "127.0.0.1", "port": 1, "run_id": "old",
                                 "secret": "ab" * 32}))
    stale.chmod(0o600)
    at_start, start = {}, hpns.NameServer.start

    def spy(self):
        at_start["stale"] = stale.exists()
        address = start(self)
        at_start["pickles"] = [p.name for p in tmp_path.rglob("*.pkl")]
        return address

    monkeypatch.setattr(hpns.NameServer, "start", spy)
    run_bohb(tiny(workers=1, min_budget=1, max_budget=1), tmp_path, echo=False)
    assert at_start == {"stale": False, "pickles": []}
    assert not list(tmp_path.rglob("*.pkl"))
    assert not stale.exists()  # a Slurm recipe waiting for it must not find this run's address
    assert (tmp_path / "results.json").stat().st_size > 0


def test_the_sentences_are_printed_by_the_installed_command(tmp_path: Path):
    import shutil

    script = shutil.which("nb1s1-hpo") or pytest.fail("nb1s1-hpo is not installed")
    done = subprocess.run([script, "port=70000", f"hydra.run.dir={tmp_path}"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        "nb1s1-hpo: error: port must be an integer from 0 to 65535 (0: any free port), got "
        "70000"]


@pytest.mark.parametrize("value", ["/tmp/bs\\x/d.npz", "C:\\data\\cifar\\", "it's", "x${y}",
                                   "q\\'s", "a,b=[c]", "null", "sp ace", 'dq"x', "true", "1e3"])
def test_a_value_given_to_nb1s1_hpo_reaches_the_searches_unchanged(value: str):
    """data.root=, benchmark.path= and method.KEY= of nb1s1-hpo become overrides of every
    search: Hydra's quoting must give back the very string (backslashes, quotes, ${...})."""
    settings = HpoSettings(benchmark={"name": "nasbench101", "path": value})
    cfg = compose("search", [*settings.app_overrides(), "logger=none"])
    assert cfg.benchmark.path == value
