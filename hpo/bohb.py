"""A BOHB run: name server, master and workers, results, warm start, incumbent, figure.

`run_bohb(settings, run_dir)` starts a Pyro4 name server (127.0.0.1 by default), `workers` local
worker processes and the BOHB master; results are logged into `run_dir` by HpBandSter's
`json_result_logger` (configs.json, results.json). Results already in `run_dir`, or in
`previous_run`, warm-start the new run (earlier results are moved to `run_dir/previous-N/`, never
overwritten). At the end: `incumbent.json` (the incumbent, its loss and test regret, the
trajectory of the incumbent's test regret against the budget used so far) and
`incumbent_regret.png`. `run_worker(settings, run_dir)` is a worker alone that joins a name
server, so one command runs BOHB across the nodes of a cluster.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from hpo.configspaces import SETTINGS, defaults_of, method_configspace
from hpo.worker import SearchWorker, compose_search
from nasbench1shot1.checks import positive_int
from nasbench1shot1.serialization import install, plain

install()


@dataclass(frozen=True)
class HpoSettings:
    """conf/hpo/bohb.yaml, checked."""

    method: str = "darts"
    search_space: int = 1
    setting: str = "cs1"
    seed: int = 0
    eta: int = 3
    min_budget: int = 5
    max_budget: int = 45
    iterations: int = 8
    workers: int = 2
    search_overrides: tuple[str, ...] = ()
    host: str = "127.0.0.1"
    port: int = 0
    run_id: str | None = None
    worker_only: bool = False
    previous_run: str | None = None
    logger: dict = field(default_factory=lambda: {"kind": "none"})

    def __post_init__(self) -> None:
        if self.setting not in SETTINGS:
            raise ValueError(
                f"unknown hpo setting {self.setting!r}, expected one of {', '.join(SETTINGS)}")
        for name in ("eta", "min_budget", "max_budget", "iterations"):
            positive_int(f"hpo.{name}", getattr(self, name))
        if isinstance(self.workers, bool) or not isinstance(self.workers, int) or self.workers < 0:
            raise ValueError(f"hpo.workers must be a non-negative integer, got {self.workers!r}")
        if self.eta < 2:
            raise ValueError(f"hpo.eta must be at least 2, got {self.eta}")
        if self.min_budget > self.max_budget:
            raise ValueError(f"hpo.min_budget {self.min_budget} exceeds hpo.max_budget "
                             f"{self.max_budget}")
        if self.worker_only and (not self.run_id or not self.port):
            raise ValueError("a worker alone (hpo.worker_only=true) needs hpo.run_id and "
                             "hpo.port of the master's name server (see its nameserver.json)")

    def base_overrides(self) -> list[str]:
        return [f"method={self.method}", f"search_space={self.search_space}",
                f"seed={self.seed}", *self.search_overrides]


def _configspace(s: HpoSettings):
    from omegaconf import OmegaConf

    from nasbench1shot1.config import settings_from

    cfg = compose_search([*s.base_overrides(), "logger=none"])
    settings_from(cfg)  # bad search overrides fail here, before anything starts
    defaults = defaults_of(OmegaConf.to_container(cfg, resolve=True))
    return method_configspace(s.method, s.setting, defaults, seed=s.seed)


def run_worker(s: HpoSettings, run_dir: str | Path, background: bool = False) -> SearchWorker:
    """A worker that joins the name server at s.host:s.port for run s.run_id."""
    worker = SearchWorker(
        s.base_overrides(), run_dir, logger_cfg=s.logger, run_id=s.run_id,
        nameserver=s.host, nameserver_port=s.port, id=f"{os.uname().nodename}-{os.getpid()}",
    )
    worker.run(background=background)
    return worker


def _spawn_worker(s: HpoSettings, run_dir: Path) -> subprocess.Popen:
    args = json.dumps({"settings": {**asdict(s), "search_overrides": list(s.search_overrides)},
                       "run_dir": str(run_dir)})
    code = ("import json, sys; from hpo.bohb import HpoSettings, run_worker; "
            "a = json.loads(sys.argv[1]); s = a['settings']; "
            "s['search_overrides'] = tuple(s['search_overrides']); "
            "run_worker(HpoSettings(**s), a['run_dir'])")
    log = (run_dir / "workers.log").open("a")
    # local workers share the machine's cores instead of each taking all of them
    threads = str(max(1, (os.cpu_count() or 1) // max(1, s.workers)))
    env = {**os.environ, "OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads}
    return subprocess.Popen([sys.executable, "-c", code, args], stdout=log, stderr=log, env=env)


def _has_results(folder: Path) -> bool:
    path = folder / "results.json"
    return path.is_file() and path.stat().st_size > 0


def _previous_results(s: HpoSettings, run_dir: Path):
    """Earlier results to warm-start from: those of run_dir (moved to previous-N/), earlier
    previous-N/ folders, and s.previous_run. Configuration ids of each source are shifted to
    iterations of their own, so that sources never collide."""
    import hpbandster.core.result as hpres

    if _has_results(run_dir):
        n = 1
        while (run_dir / f"previous-{n}").exists():
            n += 1
        keep = run_dir / f"previous-{n}"
        keep.mkdir()
        for name in ("configs.json", "results.json"):
            if (run_dir / name).exists():
                shutil.move(run_dir / name, keep / name)
    sources = sorted((p for p in run_dir.glob("previous-*") if _has_results(p)),
                     key=lambda p: int(p.name.split("-")[1]))
    if s.previous_run:
        folder = Path(s.previous_run)
        if not _has_results(folder):
            raise ValueError(f"hpo.previous_run {folder} holds no results of a BOHB run")
        sources.append(folder)
    if not sources:
        return None, []
    merged = run_dir / "warmstart"
    merged.mkdir(exist_ok=True)
    offset = 0
    with (merged / "configs.json").open("w") as configs, \
            (merged / "results.json").open("w") as results:
        for source in sources:
            shift = offset
            for line in (source / "configs.json").read_text().splitlines():
                entry = json.loads(line)
                entry[0][0] += shift
                offset = max(offset, entry[0][0] + 1)
                configs.write(json.dumps(entry) + "\n")
            for line in (source / "results.json").read_text().splitlines():
                entry = json.loads(line)
                entry[0][0] += shift
                results.write(json.dumps(entry) + "\n")
    return hpres.logged_results_to_HBS_result(str(merged)), sources


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
    """One BOHB run; see the module docstring. Returns the content of incumbent.json."""
    import hpbandster.core.nameserver as hpns
    import hpbandster.core.result as hpres
    from hpbandster.optimizers import BOHB

    run_dir = Path(run_dir).resolve()
    run_dir.mkdir(parents=True, exist_ok=True)
    configspace = _configspace(s)
    np.random.seed(s.seed)  # BOHB 0.7.4 has no seed argument; its sampling uses numpy's RNG
    previous, sources = _previous_results(s, run_dir)
    run_id = s.run_id or f"nb1s1-{uuid.uuid4().hex[:8]}"
    nameserver = hpns.NameServer(run_id=run_id, host=s.host, port=s.port,
                                 working_directory=str(run_dir))
    host, port = nameserver.start()
    (run_dir / "nameserver.json").write_text(
        json.dumps({"host": host, "port": port, "run_id": run_id}))
    if echo:
        print(f"name server {host}:{port}, run id {run_id}; join with: nb1s1-hpo "
              f"hpo.worker_only=true hpo.host={host} hpo.port={port} hpo.run_id={run_id} "
              f"(and the same hpo.method/search_space/setting/seed)", flush=True)
    local = HpoSettings(**{**asdict(s), "host": host, "port": port, "run_id": run_id,
                           "worker_only": True})
    children = [_spawn_worker(local, run_dir) for _ in range(s.workers)]
    (run_dir / "workers.json").write_text(json.dumps([child.pid for child in children]))
    master = None
    try:
        master = BOHB(
            configspace=configspace, run_id=run_id, nameserver=host, nameserver_port=port,
            eta=s.eta, min_budget=s.min_budget, max_budget=s.max_budget,
            result_logger=hpres.json_result_logger(directory=str(run_dir), overwrite=True),
            previous_result=previous, ping_interval=2,
        )
        _default_first(master, configspace)
        result = master.run(n_iterations=s.iterations, min_n_workers=1)
    finally:
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
    (run_dir / "incumbent.json").write_text(json.dumps(summary, indent=1))
    _plot(points, run_dir / "incumbent_regret.png",
          f"BOHB {s.setting}, {s.method}, space {s.search_space}")
    _wandb_summary(s, run_id, run_dir, summary)
    if echo:
        inc = summary["incumbent"]
        print(f"incumbent {inc['config_id']} at budget {inc['budget']}: validation error "
              f"{inc['loss']}, test regret {inc['test_regret']}, config {inc['config']}; "
              f"{run_dir / 'incumbent.json'}", flush=True)
    return summary


def _wandb_summary(s: HpoSettings, run_id: str, run_dir: Path, summary: dict) -> None:
    logger = dict(s.logger)
    if logger.pop("kind", "none") != "wandb":
        return
    from nasbench1shot1.tracking import WandbTracker

    tracker = WandbTracker(**{**logger, "group": logger.get("group") or f"bohb-{run_id}",
                              "run_name": "bohb-summary", "step_metric": "used_budget",
                              "job_type": "bohb"})
    tracker.start({"method": {"name": s.method}, "search_space": s.search_space,
                   "seed": s.seed, "data": {"name": "bohb"}, "hpo": asdict(s)}, run_dir)
    for point in summary["trajectory"]:
        tracker.log({k: v for k, v in point.items() if k != "config_id"})
    tracker.finish({"status": "finished", "final_test_regret": summary["incumbent"]["test_regret"],
                    "best_test_regret": summary["incumbent"]["test_regret"],
                    "final_cell": summary["incumbent"]["final_cell"]})
