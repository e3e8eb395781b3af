"""Experiment trackers behind one small interface: `start(config, run_dir, history)`,
`log(record)`, `finish(summary)`. The run dir's metrics.jsonl and result.json are written by the
search itself; a tracker mirrors them. `WandbTracker` makes one W&B run per search: the resolved
config, per-epoch metrics with `epoch` as the x-axis, the final and best regret and the final cell
in the summary, the cell's adjacency and ops as a summary table; project, group (method and
space), tags and name come from the config. Without a W&B login it runs offline (real run files
under the run dir, to `wandb sync` later). A W&B failure logs one warning line and never stops a
search; starting a run waits at most `init_timeout` seconds (conf/logger.py), so an endpoint that
does not answer costs a search that long, not W&B's own 90 s; W&B's own error reporting, whose
telemetry export at exit would wait 10 s more on such an endpoint, is off unless
WANDB_ERROR_REPORTING is set.

A resumed search is the same W&B run (its id is kept in the run dir, runfiles.WANDB_ID_FILE),
and every epoch is logged once with the epoch as W&B's step (`_step`), so the history continues
across invocations. Offline, W&B makes one `offline-run-<time>-<id>` folder per invocation and
`wandb sync` uploads them in order of start time as one resumed run, keeping each row's step;
its transaction log (`run-<id>.wandb`) is written in 32 KiB blocks, so a killed invocation loses
the rows of its last block. `start` therefore reads the rows the earlier folders of the run hold
(`logged_steps`; online: W&B's resume gives the last step) and logs the epochs of `history` that
they lack before training goes on.

Next to the W&B files the tracker writes the run's config and its final summary as plain JSON
(runfiles.WANDB_CONFIG_FILE, WANDB_SUMMARY_FILE), readable without W&B.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import struct
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from nasbench1shot1.checks import SettingsError
from nasbench1shot1.conf.logger import LOGGER_CONFIGS, WandbConfig
from nasbench1shot1.registry import Registry
from nasbench1shot1.runfiles import (
    WANDB_CONFIG_FILE,
    WANDB_DIR,
    WANDB_ID_FILE,
    WANDB_SUMMARY_FILE,
    write_json,
)

_log = logging.getLogger(__name__)


class Tracker:
    """Does nothing; the base of the trackers."""

    def __init__(self, config: Any = None, **options: Any) -> None:
        pass

    def describe(self, run_dir: Path) -> str:
        """Where the tracker mirrors the run, for the app's first line."""
        return "no tracker (logger=none)"

    def start(self, config: dict, run_dir: Path, history: Sequence[dict] = ()) -> None:
        """Start mirroring the run in `run_dir`; `history`: the records it already has (a
        resumed search's earlier epochs), of which the tracker logs those it lacks."""

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
        self.run_dir: Path | None = None
        #: the last step the W&B run already holds (-1: none); a record at or before it is not
        #: logged again
        self.held_step = -1

    def resolved_mode(self) -> str:
        """W&B's mode for this run: `auto` is online with a login, offline without."""
        if self.mode != "auto":
            return self.mode
        return "online" if _logged_in() else "offline"

    def describe(self, run_dir: Path) -> str:
        where = f"files under {Path(run_dir) / WANDB_DIR}"
        if self.resolved_mode() == "offline":
            where += f"; `wandb sync {Path(run_dir) / WANDB_DIR}` uploads them"
        return f"W&B {self.resolved_mode()} (project {self.project}; {where})"

    def _warn(self, what: str, error: BaseException, note: str = "") -> None:
        reason = (str(error).strip().splitlines() or [""])[0]
        _log.warning("W&B %s failed (%s: %s)%s; the search goes on without it", what,
                    type(error).__name__, reason, note)
        self.run = None

    def start(self, config: dict, run_dir: Path, history: Sequence[dict] = ()) -> None:
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
            held = -1
            earlier = _offline_logs(run_dir, run_id) if mode == "offline" else []
            if earlier:
                # wandb's run.finish() returns before its service has written the run's last
                # rows; an earlier invocation in this process (interrupted, resumed here) is
                # written out before its rows are read
                wandb.teardown()
                held = _held_step(earlier)
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
            # online, a resumed run starts after the last step the server holds
            self.held_step = max(held, (getattr(self.run, "starting_step", 0) or 0) - 1)
            # mode disabled: no W&B files, so no plain files beside them either
            self.run_dir = None if mode == "disabled" else Path(run_dir)
            if self.run_dir is not None:
                (self.run_dir / WANDB_DIR).mkdir(exist_ok=True)
                write_json(self.run_dir / WANDB_CONFIG_FILE, _plain(config))
        except Exception as error:  # noqa: BLE001 - W&B must never stop a search
            self._warn("start", error,
                       f", giving up within logger.init_timeout={self.init_timeout:g} s")
            return
        for record in history:
            self.log(record)

    def log(self, record: dict) -> None:
        if self.run is None:
            return
        values = {k: v for k, v in record.items()
                  if isinstance(v, (int, float)) and not isinstance(v, bool)}
        step = values.get(self.step_metric)
        if not isinstance(step, int):  # a float x-axis (BOHB's used budget): W&B counts rows
            step = None
        elif step <= self.held_step:
            return  # an earlier invocation of this run logged it
        try:
            self.run.log(values, step=step)
        except Exception as error:  # noqa: BLE001
            self._warn("log", error)
            return
        if step is not None:
            self.held_step = step

    def finish(self, summary: dict) -> None:
        if self.run is None:
            return
        try:
            import wandb

            values = {key: value for key, value in summary.items()
                      if value is None or isinstance(value, (str, int, float))}
            extra = dict(self.summary_extra)
            if self.summary_hook is not None:
                extra.update(self.summary_hook(summary))
            values.update(extra)
            written = dict(values)
            for key, value in values.items():
                self.run.summary[key] = value
            cell = summary.get("final_record") or {}
            if cell.get("adjacency") is not None:
                columns = ["vertex", "op", "adjacency row"]
                rows = [[vertex, op, "".join(str(x) for x in row)]
                        for vertex, (op, row) in enumerate(zip(cell["ops"], cell["adjacency"]))]
                # a summary value, not a history row: the history holds one row per epoch
                self.run.summary["final_cell_table"] = wandb.Table(columns=columns, data=rows)
                written["final_cell_table"] = {"columns": columns, "data": rows}
            if self.run_dir is not None:
                write_json(self.run_dir / WANDB_SUMMARY_FILE, _plain(written))
            self.run.finish()
        except Exception as error:  # noqa: BLE001
            self._warn("finish", error)
        self.run = None


def logged_steps(wandb_file: Path) -> list[int] | None:
    """The step of each history row that a W&B transaction log (`run-<id>.wandb`) holds, in
    order; None when the file cannot be read. The file is a 7-byte header (':W&B', magic
    0xBEE1, version) and then a LevelDB log: 32 KiB blocks of chunks (CRC, length, type: full,
    first, middle, last), each record a protobuf `Record`; a record cut short by a killed writer
    is left out."""
    from wandb.proto import wandb_internal_pb2

    block, header = 32768, 7
    try:
        data = Path(wandb_file).read_bytes()
        if data[:4] != b":W&B" or data[4:6] != b"\xe1\xbe":
            return None
        steps, parts, at = [], [], header
        while at + header <= len(data):
            left = block - at % block
            if left < header:
                at += left  # a block ends in padding when no chunk header fits
                continue
            _, length, kind = struct.unpack("<IHB", data[at:at + header])
            if kind == 0:  # zeros: the rest of the block is padding
                at += left
                continue
            if at + header + length > len(data):
                break
            parts.append(data[at + header:at + header + length])
            at += header + length
            if kind in (1, 4):  # a full record, or the last chunk of one
                record = wandb_internal_pb2.Record.FromString(b"".join(parts))
                parts = []
                if record.WhichOneof("record_type") == "history":
                    steps.append(record.history.step.num)
        return steps
    except Exception:  # noqa: BLE001 - a file we cannot read is reported as unknown
        return None


def _offline_logs(run_dir: Path, run_id: str) -> list[Path]:
    """The transaction logs of the earlier offline invocations of W&B run `run_id`."""
    return sorted((run_dir / WANDB_DIR).glob(f"offline-run-*-{run_id}*/run-{run_id}.wandb"))


def _held_step(logs: list[Path]) -> int:
    """The last step that the transaction logs `logs` hold (-1: none)."""
    held = -1
    for path in logs:
        steps = logged_steps(path)
        if steps is None:
            _log.warning("cannot read the W&B rows in %s; its epochs are logged again", path)
            continue
        held = max([held, *steps])
    return held


def _plain(value: Any) -> Any:
    """`value` as JSON can hold it (numpy scalars and other objects as their JSON or text)."""
    return json.loads(json.dumps(value, default=lambda x: x.item() if hasattr(x, "item")
                                 else str(x)))


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
