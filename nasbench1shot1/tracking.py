"""Experiment trackers behind one small interface: `start(config, run_dir)`, `log(record)`,
`finish(summary)`. The run dir's metrics.jsonl and result.json are written by the search itself;
a tracker mirrors them. `WandbTracker` makes one W&B run per search: the resolved config,
per-epoch metrics with `epoch` as the x-axis, the final and best regret and the final cell in the
summary, the cell's adjacency and ops as a table; project, group (method and space), tags and name
come from the config. Without a W&B login it runs offline (real run files under the run dir, to
`wandb sync` later). A W&B failure logs one warning line and never stops a search; starting a
run waits at most `init_timeout` seconds (conf/logger.py), so an endpoint that does not
answer costs a search that long, not W&B's own 90 s; W&B's own error reporting, whose telemetry
export at exit would wait 10 s more on such an endpoint, is off unless WANDB_ERROR_REPORTING is
set.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import uuid
from pathlib import Path
from typing import Any

from nasbench1shot1.checks import SettingsError
from nasbench1shot1.conf.logger import LOGGER_CONFIGS, WandbConfig
from nasbench1shot1.registry import Registry
from nasbench1shot1.runfiles import WANDB_ID_FILE

_log = logging.getLogger(__name__)


class Tracker:
    """Does nothing; the base of the trackers."""

    def __init__(self, config: Any = None, **options: Any) -> None:
        pass

    def describe(self, run_dir: Path) -> str:
        """Where the tracker mirrors the run, for the app's first line."""
        return "no tracker (logger=none)"

    def start(self, config: dict, run_dir: Path) -> None:
        pass

    def log(self, record: dict) -> None:
        pass

    def finish(self, summary: dict) -> None:
        pass


def _logged_in() -> bool:
    if os.environ.get("WANDB_API_KEY"):
        return True
    netrc = Path(os.environ.get("NETRC", Path.home() / ".netrc"))
    try:
        return "api.wandb.ai" in netrc.read_text()
    except OSError:
        return False


class WandbTracker(Tracker):
    """Mirrors a search to Weights & Biases; see the module docstring."""

    def __init__(self, config: WandbConfig | None = None, *, step_metric: str = "epoch",
                 job_type: str = "search", summary_extra: dict | None = None, **settings: Any):
        """`config`: the logger section (conf/logger.py's WandbConfig); code may give its
        settings as keywords instead (`WandbTracker(mode="offline")`). `step_metric`, `job_type`
        and `summary_extra` are the caller's, not the user's."""
        c = config if config is not None else WandbConfig(**settings)
        self.init_timeout = c.init_timeout
        self.project, self.entity, self.mode = c.project, c.entity, c.mode
        self.group, self.run_name, self.tags = c.group, c.run_name, list(c.tags or [])
        self.step_metric, self.job_type = step_metric, job_type
        self.summary_extra = dict(summary_extra or {})  # e.g. a BOHB evaluation's id and budget
        #: optional summary -> extra summary values computed at the end (a BOHB loss)
        self.summary_hook = None
        self.run = None

    def resolved_mode(self) -> str:
        """W&B's mode for this run: `auto` is online with a login, offline without."""
        if self.mode != "auto":
            return self.mode
        return "online" if _logged_in() else "offline"

    def describe(self, run_dir: Path) -> str:
        where = f"files under {Path(run_dir) / 'wandb'}"
        if self.resolved_mode() == "offline":
            where += "; `wandb sync` uploads them"
        return f"W&B {self.resolved_mode()} (project {self.project}; {where})"

    def _warn(self, what: str, error: BaseException, note: str = "") -> None:
        reason = (str(error).strip().splitlines() or [""])[0]
        _log.warning("W&B %s failed (%s: %s)%s; the search goes on without it", what,
                    type(error).__name__, reason, note)
        self.run = None

    def start(self, config: dict, run_dir: Path) -> None:
        # W&B's own error reporting exports its telemetry to the W&B server when the process
        # exits and waits up to 10 s more there for a server that does not answer; it stays off
        # unless WANDB_ERROR_REPORTING says otherwise (read when a run starts)
        os.environ.setdefault("WANDB_ERROR_REPORTING", "false")
        try:
            import wandb

            method, space, seed, data = _labels(config)
            mode = self.resolved_mode()
            id_file = run_dir / WANDB_ID_FILE
            run_id = id_file.read_text().strip() if id_file.exists() else uuid.uuid4().hex[:8]
            id_file.write_text(run_id)
            self.run = wandb.init(
                project=self.project, entity=self.entity, mode=mode, dir=str(run_dir),
                id=run_id, resume="allow", config=config,
                group=self.group or f"{method}-space{space}",
                name=self.run_name or f"{method}-space{space}-seed{seed}",
                tags=[method, f"space{space}", data, *self.tags],
                job_type=self.job_type, reinit="finish_previous", settings=wandb.Settings(
                    silent=True, console="off", init_timeout=self.init_timeout),
            )
            self.run.define_metric(self.step_metric)
            self.run.define_metric("*", step_metric=self.step_metric)
        except Exception as error:  # noqa: BLE001 - W&B must never stop a search
            self._warn("start", error,
                       f", giving up within logger.init_timeout={self.init_timeout:g} s")

    def log(self, record: dict) -> None:
        if self.run is None:
            return
        values = {k: v for k, v in record.items()
                  if isinstance(v, (int, float)) and not isinstance(v, bool)}
        try:
            self.run.log(values)
        except Exception as error:  # noqa: BLE001
            self._warn("log", error)

    def finish(self, summary: dict) -> None:
        if self.run is None:
            return
        try:
            import wandb

            for key, value in summary.items():
                if value is None or isinstance(value, (str, int, float)):
                    self.run.summary[key] = value
            extra = dict(self.summary_extra)
            if self.summary_hook is not None:
                extra.update(self.summary_hook(summary))
            for key, value in extra.items():
                self.run.summary[key] = value
            history = summary.get("final_record") or {}
            if history.get("adjacency") is not None:
                table = wandb.Table(columns=["vertex", "op", "adjacency row"])
                for vertex, (op, row) in enumerate(zip(history["ops"], history["adjacency"])):
                    table.add_data(vertex, op, "".join(str(x) for x in row))
                self.run.log({"final_cell": table})
            self.run.finish()
        except Exception as error:  # noqa: BLE001
            self._warn("finish", error)
        self.run = None


#: The trackers by `logger.kind` (conf/logger.py), listed in this order in errors.
TRACKERS: Registry[type[Tracker]] = Registry("tracker", sort=False)
TRACKERS.register("wandb", WandbTracker)
TRACKERS.register("none", Tracker)


def _labels(config: dict) -> tuple[str, int, int, str]:
    """(method or optimizer, space, seed, data) of a search's or a black-box run's settings."""
    method = config.get("method")
    name = method["name"] if isinstance(method, dict) else config.get("optimizer", "run")
    data = config.get("data")
    data = data["name"] if isinstance(data, dict) else Path(str(config.get("benchmark"))).stem
    return str(name), config.get("search_space"), config.get("seed", 0), data


def logger_config(logger: Any) -> Any:
    """The checked schema (conf/logger.py) of a `logger` section given as a dict (or None: no
    tracker); one sentence naming the key when the section is bad."""
    from omegaconf import OmegaConf

    from nasbench1shot1.config import to_settings

    if dataclasses.is_dataclass(logger):
        return logger
    values = OmegaConf.to_container(logger) if OmegaConf.is_config(logger) else dict(logger or {})
    kind = values.setdefault("kind", "none")
    if kind not in TRACKERS:
        raise SettingsError(f"logger.kind must be {' or '.join(TRACKERS)}, got {kind!r}")
    return to_settings(OmegaConf.create(values), LOGGER_CONFIGS[kind], prefix="logger.")


def make_tracker(logger: Any, **options: Any) -> Tracker:
    """The tracker of a `logger` config section (a schema of conf/logger.py, or a dict of one);
    `options` are the caller's (step_metric, job_type, summary_extra)."""
    config = logger_config(logger)
    return TRACKERS.create(config.kind, config, **options)
