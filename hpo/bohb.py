"""A BOHB run: name server, master and workers, results, warm start, incumbent, figure.

`run_bohb(settings, run_dir)` checks everything that can be checked (the search config of the
method and search_overrides, the logger section, that the name server can listen on
host:port) before it claims `run_dir`; then it makes the run's secret, starts a Pyro4 name
server (127.0.0.1 by default), `workers` local worker processes and the BOHB master; every Pyro4
message of the run is signed with the secret, and a caller without it is refused
(`nasbench1shot1.pyro_security`). The name server's address, the run id and the secret go to
`run_dir/nameserver.json`, readable by its owner only, which exists only while the master runs
(an earlier run's is removed first; HpBandSter's own pickle of the address is never written).
When every local worker has exited and no worker is left, the master stops (`WorkersExited`, one
sentence) instead of waiting for ever; its result files stay for a warm start.

Results are logged into `run_dir` by HpBandSter's `json_result_logger` (configs.json,
results.json). Results already in `run_dir`, or in `previous_run`, warm-start the new run: the
merged data is written to `run_dir/warmstart/` first, and only then are the earlier files moved to
`run_dir/previous-N/` (copied, then removed), so a warm start that fails leaves every file as it
was; a job whose worker died has no loss and is left out. At the end: `incumbent.json` (the
incumbent, its loss and test regret, the trajectory of the incumbent's test regret against the
budget used so far) and `incumbent_regret.png`. `run_worker(settings, run_dir)` is a worker alone
that joins a name server with the secret from `secret_file`, so one command runs BOHB across the
nodes of a cluster; it exits when its master is gone (`nasbench1shot1.hpo.worker.watch_master`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import json
import logging
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import asdict
from pathlib import Path

import numpy as np

from nasbench1shot1 import threads as thread_policy
from nasbench1shot1.checks import resolved_device
from nasbench1shot1.conf.data import BenchmarkConfig
from nasbench1shot1.conf.hpo import HpoSettings
from nasbench1shot1.hpo.configspaces import defaults_of, method_configspace
from nasbench1shot1.hpo.worker import SearchWorker, compose_search, watch_master
from nasbench1shot1.progress import bar as progress_bar
from nasbench1shot1.pyro_security import (
    address_towards,
    keyed,
    new_secret,
    ping_name_server,
    read_secret,
    write_private_json,
)
from nasbench1shot1.runfiles import (
    BOHB_CONFIGS_FILE,
    BOHB_RESULTS_FILE,
    INCUMBENT_FIGURE,
    INCUMBENT_FILE,
    NAMESERVER_FILE,
    WORKERS_FILE,
    WORKERS_LOG,
    own_run_dir,
)
from nasbench1shot1.serialization import install, plain

install()

RESULT_FILES = (BOHB_CONFIGS_FILE, BOHB_RESULTS_FILE)


KIND = "bohb"
log = logging.getLogger(__name__)
#: The settings that define a BOHB run; the others (iterations, workers, addresses, logger) may
#: change when the run is started again to warm-start from its results.
IDENTITY = ("method", "search_space", "setting", "seed", "eta", "min_budget", "max_budget",
            "search_overrides")


def identity(s: HpoSettings) -> dict:
    """What a warm start of the same run dir must share (more iterations may follow); the
    method's settings, data and benchmark of the searches only when given to this app."""
    values = {key: getattr(s, key) for key in IDENTITY}
    values.update({key: getattr(s, key) for key in ("method_settings", "data", "benchmark")
                   if getattr(s, key)})
    return values


class WorkersExited(RuntimeError):
    """Every local worker of a master has exited and no other worker is registered."""


def _reason(error: BaseException) -> str:
    """Hydra's or OmegaConf's error in a few words: its first line (two for a parse error), the
    first line of its cause, and the choices of a config group."""
    from hydra.errors import MissingConfigException, OverrideParseException

    lines = str(error).strip().splitlines()
    parts = lines[:2] if isinstance(error, OverrideParseException) else lines[:1]
    cause = error.__cause__
    if cause is not None and str(cause).strip():
        parts.append(str(cause).strip().splitlines()[0])
    if isinstance(error, MissingConfigException) and error.options:
        parts.append(f"expected one of {', '.join(error.options)}")
    return "; ".join(part.strip().rstrip(".") for part in parts if part.strip()) or \
        type(error).__name__


def _search_config(s: HpoSettings) -> dict:
    """The search config of the run's fixed overrides (a plain dict, checked); one sentence naming
    method or search_overrides and the override that does not apply."""
    from hydra.errors import HydraException
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    from nasbench1shot1.config import settings_from

    hydra_errors = (HydraException, OmegaConfBaseException)
    for override in s.search_overrides:
        if re.fullmatch(r"[+~]{0,2}train\.epochs(=.*)?", override.strip()):
            raise ValueError(f"search_overrides: {override!r} sets what BOHB sets (the epochs "
                             "are the budget, min_budget to max_budget); leave it out")
    base = [*s.app_overrides(), "logger=none"]
    tail = [f"train.epochs={s.max_budget}"]  # as every evaluation sets it, after the others

    def composed(overrides: list[str]):
        cfg = compose_search(overrides)
        return cfg, settings_from(cfg)

    try:
        composed([*base, *tail])
    except hydra_errors as error:
        raise ValueError(f"method={s.method} (with this data and benchmark) does not give a "
                         f"search config ({_reason(error)})") from None
    try:
        cfg, settings = composed([*base, *s.search_overrides, *tail])
    except (*hydra_errors, ValueError) as error:
        failure = error
    else:
        where = settings.benchmark.where
        if where != "embedded" and not Path(where).exists():
            raise ValueError(f"the searches' benchmark {where} does not exist; give the "
                             "NAS-Bench-101 file with benchmark.path=... (nb1s1 benchmark "
                             "download fetches it)")
        return OmegaConf.to_container(cfg, resolve=True)
    for number in range(1, len(s.search_overrides) + 1):  # the first override that fails
        try:
            composed([*base, *s.search_overrides[:number], *tail])
        except (*hydra_errors, ValueError) as error:
            reason = _reason(error) if isinstance(error, hydra_errors) else str(error)
            raise ValueError(f"search_overrides: {s.search_overrides[number - 1]!r} does not "
                             f"apply to the search config ({reason})") from None
    reason = _reason(failure) if isinstance(failure, hydra_errors) else str(failure)
    raise ValueError(f"search_overrides do not give a search config ({reason})") from None


def _configspace(s: HpoSettings, search: dict | None = None):
    """The ConfigSpace of the run, its defaults those of the composed search config (`search`,
    composed here when not given)."""
    defaults = defaults_of(search if search is not None else _search_config(s))
    return method_configspace(s.method, s.setting, defaults, seed=s.seed)


def header(s: HpoSettings, search: dict, run_dir: Path) -> str:
    """The first line of a BOHB run: what it tunes, the budgets, the workers and their threads,
    the searches' data, benchmark and device, the run dir and where W&B writes."""
    from nasbench1shot1.tracking import make_tracker

    threads = thread_policy.resolve("auto", processes=max(1, s.workers))
    device = resolved_device(search.get("device", "auto"))
    workers = f"{s.workers} local worker(s), {threads} thread(s) each" if s.workers else \
        "no local worker (remote workers join)"
    tracker = make_tracker(s.logger).describe(run_dir)
    if s.logger is not None and tracker.startswith("W&B"):
        tracker += "; one W&B run per evaluation in its run dir, and a summary run"
    benchmark = BenchmarkConfig(**search["benchmark"]).where
    return (f"BOHB ({s.setting}) of {s.method}'s hyperparameters on search space "
            f"{s.search_space}, seed {s.seed}: budgets {s.min_budget} to {s.max_budget} epochs "
            f"(eta {s.eta}), {s.iterations} iteration(s); {workers}; searches on "
            f"{search['data']['name']} against the {benchmark} benchmark, {device}; run dir "
            f"{run_dir}; {tracker}")


def _in_use(s: HpoSettings, port: int) -> OSError:
    return OSError(f"port={port} is in use on host={s.host}; use another port or 0 for "
                   "any free one")


def _check_address(s: HpoSettings) -> None:
    """That the name server can listen on host:port (a probe bound and closed at once,
    as Pyro4 binds: with SO_REUSEADDR); one sentence naming the key otherwise."""
    family = socket.AF_INET6 if ":" in s.host else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((s.host, s.port))
    except socket.gaierror as error:
        raise ValueError(f"host={s.host} is not a host name or address this machine knows "
                         f"({error.strerror}); use this node's address, or 127.0.0.1") from None
    except OSError as error:
        if error.errno == errno.EADDRINUSE:
            raise _in_use(s, s.port) from None
        if error.errno == errno.EADDRNOTAVAIL:
            raise ValueError(f"host={s.host} is not an address of this machine; the name "
                             "server listens there: use this node's address, or 127.0.0.1"
                             ) from None
        raise OSError(f"the name server cannot listen on host={s.host} port={s.port} "
                      f"({error.strerror or error}); use another port, or 0 for any free one"
                      ) from None


def run_worker(s: HpoSettings, run_dir: str | Path, parent: int | None = None) -> SearchWorker:
    """A worker process that joins the name server at s.host:s.port for run s.run_id, with the
    secret in s.secret_file; it ends when the master shuts it down or is gone (`watch_master`;
    `parent`: the pid of the master that started this local worker)."""
    import Pyro4.errors

    _search_config(s)  # a bad search override fails here, not in every evaluation
    worker = SearchWorker(
        s.base_overrides(), run_dir, logger_cfg=s.logger, run_id=s.run_id,
        keep_checkpoints=s.keep_checkpoints,
        nameserver=s.host, nameserver_port=s.port, id=f"{os.uname().nodename}-{os.getpid()}",
        host=address_towards(s.host, s.port),
    )
    with keyed(read_secret(s.secret_file)):
        try:
            ping_name_server(s.host, s.port, s.master_timeout)
        except Pyro4.errors.PyroError as error:
            raise OSError(f"the master's name server at {s.host}:{s.port} did not take this "
                          f"worker ({error}); check host and port, and that "
                          f"secret_file={s.secret_file} is the master's current "
                          "nameserver.json") from None
        stop = watch_master(s.host, s.port, s.master_timeout, parent=parent)
        try:
            worker.run()
        finally:
            stop.set()
    return worker


def _spawn_worker(s: HpoSettings, run_dir: Path) -> subprocess.Popen:
    args = json.dumps({"settings": {**asdict(s), "search_overrides": list(s.search_overrides)},
                       "run_dir": str(run_dir), "parent": os.getpid()})
    code = ("import json, sys; from nasbench1shot1.hpo.bohb import HpoSettings, run_worker; "
            "a = json.loads(sys.argv[1]); s = a['settings']; "
            "s['search_overrides'] = tuple(s['search_overrides']); "
            "run_worker(HpoSettings(**s), a['run_dir'], parent=a['parent'])")
    # local workers share the machine's cores instead of each taking all of them; a user's
    # OMP_NUM_THREADS stays what it is
    env = thread_policy.child_env(thread_policy.resolve("auto", processes=s.workers))
    with (run_dir / WORKERS_LOG).open("a") as log:
        return subprocess.Popen([sys.executable, "-c", code, args], stdout=log, stderr=log,
                                env=env)


def _has_results(folder: Path) -> bool:
    path = folder / BOHB_RESULTS_FILE
    return path.is_file() and path.stat().st_size > 0


def _entries(path: Path, kind: str) -> list[list]:
    """The lines of HpBandSter's configs.json (kind "configuration") or results.json ("result");
    one sentence naming the file and line when a line is not such an entry."""
    widths = (5,) if kind == "result" else (2, 3)
    entries = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        try:
            entry = json.loads(line)
            why = None
            if not (isinstance(entry, list) and len(entry) in widths
                    and isinstance(entry[0], list) and len(entry[0]) == 3
                    and all(isinstance(x, int) for x in entry[0])):
                why = "not a list that starts with a configuration id"
            elif kind == "result" and not (entry[3] is None or isinstance(entry[3], dict)):
                why = "its result is neither null nor a dict"
        except ValueError as error:
            why = str(error)
        if why:
            raise ValueError(f"cannot warm-start: line {number} of {path} is not a HpBandSter "
                             f"{kind} ({why}); repair or delete that line")
        entries.append(entry)
    return entries


def _merge(folders: list[Path]) -> tuple[list[list], list[list]]:
    """The configurations and results of earlier runs, with the configuration ids of each run
    shifted to iterations of their own so that runs never collide. A job without a loss (its
    worker died: HpBandSter records no result) is left out, and so is a configuration left
    without results."""
    configs, results, offset = [], [], 0
    for folder in folders:
        shift, finished = offset, set()
        own = _entries(folder / BOHB_CONFIGS_FILE, "configuration")
        known = {tuple(e[0]) for e in own}
        for number, entry in enumerate(_entries(folder / BOHB_RESULTS_FILE, "result"), 1):
            if tuple(entry[0]) not in known:
                raise ValueError(f"cannot warm-start: line {number} of {folder / 'results.json'} "
                                 f"is a result of configuration {entry[0]}, which "
                                 f"{folder / 'configs.json'} lacks; repair or delete that line")
            if entry[3] is not None and entry[3].get("loss") is not None:
                finished.add(tuple(entry[0]))
                results.append([[entry[0][0] + shift, *entry[0][1:]], *entry[1:]])
        for entry in own:
            offset = max(offset, entry[0][0] + shift + 1)
            if tuple(entry[0]) in finished:
                configs.append([[entry[0][0] + shift, *entry[0][1:]], *entry[1:]])
    return configs, results


def _write_lines(path: Path, entries: list[list]) -> None:
    partial = path.with_name(path.name + ".partial")
    partial.write_text("".join(json.dumps(e) + "\n" for e in entries))
    os.replace(partial, path)


def _keep_originals(run_dir: Path, keep: Path) -> None:
    """Move run_dir's result files to `keep`: copied into a hidden folder that is then renamed,
    and removed from run_dir only after that. Empty files hold nothing and are removed."""
    present = [run_dir / name for name in RESULT_FILES if (run_dir / name).exists()]
    if any(path.stat().st_size for path in present):
        partial = run_dir / f".{keep.name}.partial"
        shutil.rmtree(partial, ignore_errors=True)  # left by a copy that was interrupted
        partial.mkdir()
        for path in present:
            shutil.copy2(path, partial / path.name)
        partial.rename(keep)
    for path in present:
        path.unlink()


def _previous_results(s: HpoSettings, run_dir: Path):
    """Earlier results to warm-start from: earlier previous-N/ folders, those of run_dir (to be
    previous-N/ next) and s.previous_run, merged into run_dir/warmstart/ before run_dir's own
    files move; returns HpBandSter's Result of them (None if there is none) and their folders."""
    import hpbandster.core.result as hpres

    numbered = {int(m.group(1)): p for p in run_dir.iterdir()
                if (m := re.fullmatch(r"previous-(\d+)", p.name))}
    keep = run_dir / f"previous-{max(numbered, default=0) + 1}"
    reads = [(p, p) for _, p in sorted(numbered.items()) if _has_results(p)]
    if _has_results(run_dir):
        reads.append((run_dir, keep))
    if s.previous_run:
        folder = Path(s.previous_run)
        if not _has_results(folder):
            raise ValueError(f"previous_run {folder} holds no results of a BOHB run")
        reads.append((folder, folder))
    configs, results = _merge([folder for folder, _ in reads])
    previous = None
    if results:
        merged = run_dir / "warmstart"
        merged.mkdir(exist_ok=True)
        _write_lines(merged / BOHB_CONFIGS_FILE, configs)
        _write_lines(merged / BOHB_RESULTS_FILE, results)
        previous = hpres.logged_results_to_HBS_result(str(merged))
    _keep_originals(run_dir, keep)
    return previous, [label for _, label in reads] if previous else []


def _default_first(master, configspace) -> None:
    """Make the master's first configuration the method's default (untuned) one."""
    sample = master.config_generator.get_config
    pending = [plain(dict(configspace.get_default_configuration()))]

    def get_config(budget):
        if pending:
            return pending.pop(), {"model_based_pick": False, "default_configuration": True}
        return sample(budget)

    master.config_generator.get_config = get_config


def trajectory(result) -> list[dict]:
    """The incumbent (best loss on the largest budget so far) after each finished run, against
    the epochs used so far."""
    runs = sorted((r for r in result.get_all_runs() if r.loss is not None),
                  key=lambda r: r.time_stamps["finished"])
    used, points, best = 0.0, [], None
    for r in runs:
        used += r.budget
        key = (r.budget, -r.loss)
        if best is None or key > (best.budget, -best.loss):
            best = r
        info = best.info or {}
        points.append({"used_budget": used, "config_id": list(best.config_id),
                       "budget": best.budget, "loss": best.loss,
                       "test_regret": info.get("test_regret")})
    return points


def _plot(points: list[dict], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    xs = [p["used_budget"] for p in points if p["test_regret"] is not None]
    ys = [max(p["test_regret"], 1e-6) for p in points if p["test_regret"] is not None]
    fig, ax = plt.subplots(figsize=(5, 3.6))
    if xs:
        ax.step(xs, ys, where="post")
        ax.set_yscale("log")
    ax.set_xlabel("budget used (epochs, all workers)")
    ax.set_ylabel("test regret of the incumbent")
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def run_bohb(s: HpoSettings, run_dir: str | Path, echo: bool = True) -> dict:
    """One BOHB run; see the module docstring. Returns the content of incumbent.json.

    The master holds `run_dir` for its whole life, and only a BOHB run with the same
    `identity(s)` may use it (`runfiles.own_run_dir`)."""
    run_dir = Path(run_dir).resolve()
    search = _search_config(s)  # every check that can fail comes before the dir is claimed
    configspace = _configspace(s, search)
    _check_address(s)
    log.log(logging.INFO if echo else logging.DEBUG, "%s", header(s, search, run_dir))
    with own_run_dir(run_dir, KIND, identity(s)):
        return _run_bohb(s, run_dir, echo, configspace)


def _stop_when_workers_exit(master, children: list[subprocess.Popen],
                            message: str) -> threading.Event:
    """Make `master.run` raise WorkersExited(message) once every local worker process in
    `children` has exited and the dispatcher has no worker left (two checks a second apart, so
    that the jobs of the dead workers are recorded first); HpBandSter would wait for ever.
    Setting the returned event ends the watch."""
    done, gone = threading.Event(), threading.Event()
    cond = master.thread_cond

    def wait_for_workers(min_n_workers: int = 1) -> None:
        # HpBandSter 0.7.4's Master.wait_for_workers, which may stop the run
        with cond:
            while master.dispatcher.number_of_workers() < min_n_workers:
                if gone.is_set():
                    raise WorkersExited(message)
                cond.wait(1)
                master.dispatcher.trigger_discover_worker()

    def queue_wait() -> None:
        # HpBandSter 0.7.4's Master._queue_wait, which may stop the run; `run` holds the
        # condition once (acquired without a finally), so it is released before raising
        def stop_if_gone() -> None:
            if gone.is_set():
                cond.release()
                raise WorkersExited(message)

        if master.num_running_jobs >= master.job_queue_sizes[1]:
            while master.num_running_jobs > master.job_queue_sizes[0]:
                stop_if_gone()
                cond.wait()
        stop_if_gone()

    def watch() -> None:
        seen = 0
        while not done.wait(1.0):
            exited = all(child.poll() is not None for child in children)
            seen = seen + 1 if exited and master.dispatcher.number_of_workers() == 0 else 0
            if seen >= 2:
                gone.set()
                with cond:
                    cond.notify_all()
                return

    master.wait_for_workers = wait_for_workers
    master._queue_wait = queue_wait
    threading.Thread(target=watch, name="local workers watch", daemon=True).start()
    return done


def _run_bohb(s: HpoSettings, run_dir: Path, echo: bool, configspace) -> dict:
    import hpbandster.core.nameserver as hpns
    import hpbandster.core.result as hpres
    from hpbandster.optimizers import BOHB

    install()  # numpy scalars through Pyro4, no KDE warning (see nasbench1shot1.serialization)
    secret_file = run_dir / NAMESERVER_FILE
    # a Slurm recipe waits for this file: never let it find an earlier run's address and secret
    secret_file.unlink(missing_ok=True)
    np.random.seed(s.seed)  # BOHB 0.7.4 has no seed argument; its sampling uses numpy's RNG
    previous, sources = _previous_results(s, run_dir)
    run_id = s.run_id or f"nb1s1-{uuid.uuid4().hex[:8]}"
    secret = new_secret()
    with keyed(secret):
        # no working_directory: HpBandSter would write its address into a pickle in the run dir
        nameserver = hpns.NameServer(run_id=run_id, host=s.host, port=s.port)
        try:
            host, port = nameserver.start()
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                raise _in_use(s, s.port) from None
            raise
        children, master, watching = [], None, None
        level = logging.INFO if echo else logging.DEBUG
        bar = progress_bar(None, f"BOHB {s.method} space {s.search_space}", "evaluation",
                           echo and s.progress)
        try:
            write_private_json(secret_file, {"host": host, "port": port, "run_id": run_id,
                                             "secret": secret})
            log.log(level, "name server %s:%s, run id %s; join with: nb1s1-hpo worker_only=true "
                    "host=%s port=%s run_id=%s secret_file=%s (on another machine a copy of that "
                    "file, mode 600; and the same method, search_space, setting, seed, data, "
                    "benchmark and search_overrides)", host, port,
                    run_id, host, port, run_id, secret_file)
            local = HpoSettings(**{**asdict(s), "host": host, "port": port, "run_id": run_id,
                                   "worker_only": True, "secret_file": str(secret_file)})
            children = [_spawn_worker(local, run_dir) for _ in range(s.workers)]
            (run_dir / WORKERS_FILE).write_text(json.dumps([child.pid for child in children]))
            master = BOHB(
                configspace=configspace, run_id=run_id, nameserver=host, nameserver_port=port,
                eta=s.eta, min_budget=s.min_budget, max_budget=s.max_budget,
                result_logger=_CountingLogger(
                    hpres.json_result_logger(directory=str(run_dir), overwrite=False), bar,
                    level),
                previous_result=previous, ping_interval=2,
                host=host,  # the dispatcher listens where the workers reach the name server
            )
            _default_first(master, configspace)
            if children:
                workers = (f"all {len(children)} local workers" if len(children) > 1
                           else "the local worker")
                watching = _stop_when_workers_exit(
                    master, children,
                    f"{workers} exited (see {run_dir / 'workers.log'}); start the same command "
                    "again to warm-start from the results")
            result = master.run(n_iterations=s.iterations, min_n_workers=1)
        finally:
            bar.close()
            if watching is not None:
                watching.set()
            if master is not None:
                master.shutdown(shutdown_workers=True)
            nameserver.shutdown()
            deadline = time.time() + 30
            for child in children:
                try:
                    child.wait(timeout=max(0.1, deadline - time.time()))
                except subprocess.TimeoutExpired:
                    child.kill()
                    child.wait()
            with contextlib.suppress(OSError):
                secret_file.unlink()  # the run is over: no worker may join it any more
    id2config = result.get_id2config_mapping()
    incumbent = result.get_incumbent_id()
    runs = result.get_runs_by_id(incumbent) if incumbent is not None else []
    last = runs[-1] if runs else None
    points = trajectory(result)
    summary = plain({
        "run_id": run_id, "method": s.method, "search_space": s.search_space,
        "setting": s.setting, "seed": s.seed,
        "warm_started_from": [str(p) for p in sources],
        "incumbent": {
            "config_id": list(incumbent) if incumbent is not None else None,
            "config": id2config[incumbent]["config"] if incumbent is not None else None,
            "budget": last.budget if last else None,
            "loss": last.loss if last else None,
            "test_regret": (last.info or {}).get("test_regret") if last else None,
            "final_cell": (last.info or {}).get("final_cell") if last else None,
        },
        "evaluations": len(result.get_all_runs()),
        "trajectory": points,
    })
    (run_dir / INCUMBENT_FILE).write_text(json.dumps(summary, indent=1))
    _plot(points, run_dir / INCUMBENT_FIGURE,
          f"BOHB {s.setting}, {s.method}, space {s.search_space}")
    _wandb_summary(s, run_id, run_dir, summary)
    inc = summary["incumbent"]
    log.log(level, "incumbent %s (%s) at budget %s epochs: validation error %s, test regret %s, "
            "final cell %s; %s", inc["config_id"], _shown(inc["config"]),
            "-" if inc["budget"] is None else f"{inc['budget']:g}", _rounded(inc["loss"]),
            _rounded(inc["test_regret"]), (inc["final_cell"] or "-")[:8],
            run_dir / INCUMBENT_FILE)
    return summary


def _rounded(value) -> str:
    """A loss or regret for a log line: 4 decimals, or '-' when there is none."""
    return "-" if value is None else f"{value:.4f}"


def _shown(config: dict | None) -> str:
    """A configuration for a log line: key=value, numbers to 4 significant digits."""
    def value(v):
        return f"{v:.4g}" if isinstance(v, float) else str(v)

    return ", ".join(f"{k}={value(v)}" for k, v in (config or {}).items()) or "-"


class _CountingLogger:
    """HpBandSter's result logger that also moves the progress bar by each finished
    evaluation."""

    def __init__(self, logger, bar, level: int) -> None:
        self.logger, self.bar, self.level = logger, bar, level

    def new_config(self, *args, **kwargs) -> None:
        self.logger.new_config(*args, **kwargs)

    def __call__(self, job) -> None:
        self.logger(job)
        self.bar.update(1)
        result = job.result or {}
        info = result.get("info") or {}
        times = job.timestamps or {}
        seconds = times.get("finished", 0.0) - times.get("started", 0.0)
        log.log(self.level, "evaluation %d: configuration %s (%s) at budget %g epochs: loss %s, "
                "test regret %s, %.1f s", self.bar.n, list(job.id),
                _shown(job.kwargs.get("config")), job.kwargs["budget"],
                _rounded(result.get("loss")), _rounded(info.get("test_regret")), seconds)


def _wandb_summary(s: HpoSettings, run_id: str, run_dir: Path, summary: dict) -> None:
    from nasbench1shot1.tracking import logger_config, make_tracker

    logger = logger_config(s.logger)
    if logger.kind != "wandb":
        return
    logger = dataclasses.replace(logger, group=logger.group or f"bohb-{run_id}",
                                 run_name="bohb-summary")
    tracker = make_tracker(logger, step_metric="used_budget", job_type="bohb")
    tracker.start({"method": {"name": s.method}, "search_space": s.search_space,
                   "seed": s.seed, "data": {"name": "bohb"}, "hpo": asdict(s)}, run_dir)
    for point in summary["trajectory"]:
        tracker.log({k: v for k, v in point.items() if k != "config_id"})
    tracker.finish({"status": "finished", "final_test_regret": summary["incumbent"]["test_regret"],
                    "best_test_regret": summary["incumbent"]["test_regret"],
                    "final_cell": summary["incumbent"]["final_cell"]})
