"""The HpBandSter worker: `compute(config, budget)` runs one search in-process.

The search config is composed with Hydra's compose API from conf/search.yaml, the run's fixed
overrides (method, space, seed, experiment, ...), the configuration's overrides and
`train.epochs=<budget>`; then `nasbench1shot1.search.run` trains it in this process, with the
benchmark and the data the worker loaded for its first configuration (a worker process opens
each benchmark and loads each data set once, not once per configuration). The loss is
the benchmark validation error of the final cell (selection never looks at test data); the test
regret and the final cell go into the info dict. A diverged or crashed run returns the worst
loss (1.0, every image wrong) with its status and reason in the info dict, so the master goes on.
An evaluation's checkpoint is removed once its search wrote result.json, unless
`keep_checkpoints` (conf/hpo.py) asks to keep it; a crashed evaluation keeps its checkpoint.
`watch_master` ends a worker process whose master is gone (kill -9 leaves no one to shut it down),
and keeps it while the master is merely slow or paused.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import math
import os
import socket
import threading
import time
import traceback
from pathlib import Path
from typing import Any

from nasbench1shot1.conf.hpo import HpoSettings
from nasbench1shot1.config import compose, settings_from
from nasbench1shot1.hpo.configspaces import to_overrides
from nasbench1shot1.pyro_security import KeyedWorker, ping_name_server
from nasbench1shot1.runfiles import (
    CHECKPOINT_FILE,
    LOCK_FILE,
    WORKER_FILE,
    RunDirError,
    held,
)
from nasbench1shot1.serialization import install, plain

install()

WORST_LOSS = 1.0
#: how often (seconds, at most) a worker checks that its master's name server still answers
WATCH_INTERVAL = 5.0
#: a name server that does not answer at all (paused, busy, a dead node) counts as gone only
#: after SILENCE_FACTOR x the master timeout
SILENCE_FACTOR = 20

log = logging.getLogger(__name__)


def compose_search(overrides: list[str]):
    """The composed search config (inside a Hydra app or not)."""
    return compose("search", overrides)


def _finite(value: float | None) -> bool:
    return value is not None and math.isfinite(value)


def loss_of(status: str | None, validation_error: float | None) -> float:
    """BOHB's loss of a search: its final cell's benchmark validation error, or the worst loss
    when the run diverged or the benchmark has no validation accuracy for the cell."""
    if status != "finished" or not _finite(validation_error):
        return WORST_LOSS
    return float(validation_error)


def _summary_loss(summary: dict) -> dict:
    """The BOHB loss of a finished search, for its W&B summary."""
    return {"loss": loss_of(summary.get("status"), summary.get("final_validation_error"))}


def config_name(config_id: Any) -> str:
    return "_".join(str(int(part)) for part in config_id)


def _refused(error: BaseException) -> bool:
    """Whether a failed ping means the name server is gone: its port refused the connection
    (nothing listens there), or the process there refused this run's key (another run now
    listens on the port). Anything else (a timeout, an unreachable host) is silence."""
    import Pyro4.errors

    seen: set[int] = set()
    cause: BaseException | None = error
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        if isinstance(cause, (ConnectionRefusedError, Pyro4.errors.SecurityError)):
            return True
        cause = cause.__cause__ or cause.__context__
    return False


def watch_master(host: str, port: int, timeout: float,
                 parent: int | None = None) -> threading.Event:
    """Watch from a daemon thread (every timeout/3 s, at most WATCH_INTERVAL) that the master is
    still there, and end this process once it is gone: a worker must not outlive its master, on
    this machine or another one, but must not leave a master that is merely slow or paused.

    - `parent`: the pid of the master that started this (local) worker; once this process's
      parent is another one, the master is gone: exit at once.
    - The master's name server at host:port refusing every ping for `timeout` seconds (nothing
      listens on the port, or the process there refuses this run's key): exit.
    - No answer at all (a paused or busy master, a dead node, a lost network): exit only after
      SILENCE_FACTOR x `timeout` seconds without an answer.

    Setting the returned event stops the watch."""
    interval = min(WATCH_INTERVAL, timeout / 3)
    silence = SILENCE_FACTOR * timeout
    stop = threading.Event()

    def leave(why: str) -> None:
        if not stop.is_set():
            log.error("%s; this worker exits", why)
            os._exit(1)

    def watch() -> None:
        seen, refused_since = time.monotonic(), None
        while not stop.wait(interval):
            if parent is not None and os.getppid() != parent:
                leave(f"its master (pid {parent}) is gone")
            try:
                ping_name_server(host, port, interval)
                seen, refused_since = time.monotonic(), None
                continue
            except Exception as error:  # noqa: BLE001 - any failed ping is judged below
                failure = error
            now = time.monotonic()
            if _refused(failure):
                refused_since = refused_since if refused_since is not None else now
                if now - refused_since >= timeout:
                    leave(f"the master's name server {host}:{port} has refused this worker for "
                          f"{timeout:g} s ({failure}), so the master is gone")
            else:
                refused_since = None
                if now - seen >= silence:
                    leave(f"the master's name server {host}:{port} has not answered for "
                          f"{silence:.0f} s ({SILENCE_FACTOR} x master_timeout={timeout:g} s; "
                          f"{failure})")

    threading.Thread(target=watch, name="master watchdog", daemon=True).start()
    return stop


class SearchWorker(KeyedWorker):
    """Evaluates configurations by running searches; `base_overrides` fix the rest.

    A worker process holds one SearchWorker (`bohb.run_worker`), which opens each benchmark (by
    where it is) and loads each data set (by name, root and split seed) once and hands them to
    every search it runs; a search never changes them."""

    def __init__(self, base_overrides: list[str], run_dir: str | Path,
                 logger_cfg: dict | None = None,
                 keep_checkpoints: bool = HpoSettings.keep_checkpoints, **kwargs):
        super().__init__(**kwargs)
        self.base_overrides = list(base_overrides)
        self.run_dir = Path(run_dir)
        self.logger_cfg = dict(logger_cfg or {"kind": "none"})
        self.keep_checkpoints = keep_checkpoints
        self._benchmarks: dict[str, Any] = {}
        self._data: dict[tuple, Any] = {}

    def benchmark(self, where: str):
        """The benchmark at `where` (a path or 'embedded'), opened on first use."""
        if where not in self._benchmarks:
            from nasbench1shot1.embedded import open_benchmark

            self._benchmarks[where] = open_benchmark(where)
        return self._benchmarks[where]

    def data(self, name: str, root: str | None, split_seed: int):
        """The data set `name` (its splits, on the CPU), loaded on first use."""
        key = (name, root, split_seed)
        if key not in self._data:
            from nasbench1shot1.data.registry import load_data

            self._data[key] = load_data(name, root, split_seed)
        return self._data[key]

    def overrides(self, config: dict, budget: float) -> list[str]:
        return [*self.base_overrides, *to_overrides(config), f"train.epochs={int(round(budget))}"]

    def compute(self, config_id, config, budget, working_directory, **kwargs) -> dict:
        from nasbench1shot1.search import run
        from nasbench1shot1.tracking import logger_config, make_tracker

        config, budget = plain(config), float(plain(budget))
        name = config_name(config_id)
        # the run id keeps a warm-started run's configurations apart from the earlier ones
        run_dir = (self.run_dir / "runs" / str(self.run_id)
                   / f"config{name}_budget{int(round(budget))}")
        info: dict[str, Any] = {"config_id": name, "budget": budget, "run_dir": str(run_dir)}
        run_dir.mkdir(parents=True, exist_ok=True)
        where = json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                            "worker": self.worker_id})
        try:
            cfg = compose_search(self.overrides(config, budget))
            settings = settings_from(cfg)
            benchmark = self.benchmark(settings.benchmark.where)
            data = self.data(settings.data.name, settings.data.root, settings.data.split_seed)
            logger = logger_config(self.logger_cfg)
            options = {}
            if logger.kind == "wandb":
                logger = dataclasses.replace(
                    logger, group=logger.group or f"bohb-{self.run_id}",
                    run_name=f"config{name}-budget{int(round(budget))}",
                    tags=[*logger.tags, "bohb"])
                # the BOHB loss is the final cell's benchmark validation error (1.0 if none)
                options = {"job_type": "bohb-evaluation",
                           "summary_extra": {"config_id": name, "budget": budget,
                                             "config": config}}
            tracker = make_tracker(logger, **options)
            tracker.summary_hook = _summary_loss
            # worker.json says which worker runs it, written once the run dir is held: a worker
            # refused by the dir's holder (the same evaluation started again) leaves it alone
            result = run(cfg, run_dir, tracker=tracker, echo=False, benchmark=benchmark,
                         data=data, on_hold=lambda held: (held / WORKER_FILE).write_text(where))
        except Exception as error:  # noqa: BLE001 - a crashed configuration is a result
            info.update(status="crashed", reason=f"{type(error).__name__}: {error}",
                        traceback=traceback.format_exc(limit=5))
            return {"loss": WORST_LOSS, "info": plain(info)}
        if not self.keep_checkpoints:
            # under the run dir's lock, as every write there: a search that holds it (the same
            # evaluation started again elsewhere) keeps its checkpoint
            with contextlib.suppress(RunDirError), \
                    held(run_dir / LOCK_FILE, str(run_dir), "keep its checkpoint"):
                (run_dir / CHECKPOINT_FILE).unlink(missing_ok=True)
        info.update(status=result.status, reason=result.reason, final_cell=result.final_cell,
                    test_regret=result.final_test_regret,
                    validation_error=result.final_validation_error)
        loss = loss_of(result.status, result.final_validation_error)
        if result.status == "finished" and loss == WORST_LOSS and not _finite(
                result.final_validation_error):
            info.update(status="no_validation_error",
                        reason="the benchmark has no validation accuracy for the final cell")
        return {"loss": loss, "info": plain(info)}
