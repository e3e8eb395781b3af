"""Run dirs: who owns one, and files written so that a crash never leaves half of one.

A run dir belongs to one run. `own_run_dir(run_dir, kind, identity)` takes an exclusive lock on
`run.lock` for the life of the run (`fcntl.flock`: the kernel releases it when the process ends,
even on kill -9), so a second start on the same dir is refused with the holder's pid, host and
start time. Under the lock, `run.json` records the run's kind (search, blackbox, ...) and its
settings identity when the dir is first used; once the dir holds a result of that run (see
`RUN_OUTPUTS`), any run of another kind or with other settings is refused with one sentence,
whatever other files the dir holds. A dir without results (new, or left by a start that was
refused before its first result) belongs to the next run that starts in it.

This module names every file a run leaves in its run dir (`*_FILE` below; the apps, the
correlation study and `nb1s1 analyze` use these names, not their own), and `write_result` writes
the `result.json` of a search or black-box run with its `kind`, which the analysis reads.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

#: Who owns the run dir: the run's kind and settings (written when the dir is first used).
RUN_FILE = "run.json"
#: Held (flock) by the run that uses the dir; holds its pid, host and start time.
LOCK_FILE = "run.lock"
#: The end of a search or black-box run (`write_result`): status, summary, settings, `kind`.
RESULT_FILE = "result.json"
#: A search's records, one JSON line per epoch.
METRICS_FILE = "metrics.jsonl"
#: A search's checkpoint, written after every epoch (see nasbench1shot1.checkpoint).
CHECKPOINT_FILE = "checkpoint.pt"
#: A black-box run's queries, one JSON line per query.
TRAJECTORY_FILE = "trajectory.jsonl"
#: A BOHB run's summary: its incumbent and trajectory.
INCUMBENT_FILE = "incumbent.json"
#: HpBandSter's logs of a BOHB run: the configurations sampled and their results.
BOHB_CONFIGS_FILE = "configs.json"
BOHB_RESULTS_FILE = "results.json"
#: A BOHB run's own files: the name server's address and the run's secret (mode 600, only while
#: the master runs), the local workers' pids and their output, the incumbent's figure.
NAMESERVER_FILE = "nameserver.json"
WORKERS_FILE = "workers.json"
WORKERS_LOG = "workers.log"
INCUMBENT_FIGURE = "incumbent_regret.png"
#: In each search a BOHB worker runs: which worker process (pid, host) ran it.
WORKER_FILE = "worker.json"
#: The correlation study of a search (`nb1s1 correlation`); its scatter is CORRELATION_FIGURE
#: .png and .pdf.
CORRELATION_FILE = "correlation.json"
CORRELATION_FIGURE = "correlation"
#: What a zero-cost pre-screened black-box run spent on its proxy (wall seconds, cells scored).
PRESCREEN_FILE = "prescreen.json"
#: An estimate's result (nb1s1-estimate): settings, ranking criteria, costs; and its scores
#: (the cells' hashes, the estimator's scores, the benchmark's truth), and the scores so far of
#: an estimate still running.
ESTIMATE_FILE = "estimate.json"
SCORES_FILE = "scores.npz"
PARTIAL_SCORES_FILE = "scores.partial.npz"
#: The W&B run id of a run that W&B mirrors, so that a resumed run continues the same W&B run.
WANDB_ID_FILE = "wandb_id.txt"
#: Where W&B writes its files in the run dir (its `dir=`); offline, one folder per invocation.
WANDB_DIR = "wandb"
#: The config of the W&B run, as W&B got it (JSON), written when the run starts.
WANDB_CONFIG_FILE = f"{WANDB_DIR}/config.json"
#: The summary of the W&B run, as W&B got it (JSON; the final cell's table as columns and
#: data), written when the run finishes.
WANDB_SUMMARY_FILE = f"{WANDB_DIR}/summary.json"
#: Files any of this project's runs leave in its run dir: a dir that holds one of them but no
#: run.json was made by another run (or an older version) and is not taken over.
RUN_OUTPUTS = (RESULT_FILE, METRICS_FILE, CHECKPOINT_FILE, TRAJECTORY_FILE, INCUMBENT_FILE,
               BOHB_RESULTS_FILE, ESTIMATE_FILE, PARTIAL_SCORES_FILE)
#: The kinds of run that write RESULT_FILE (its "kind" key).
RESULT_KINDS = ("search", "blackbox")
#: The folder of a search or black-box run started without overrides beside the folders of the
#: runs with overrides (`<seed dir>/default/`, `<seed dir>/train.epochs=3/`): run dirs are
#: siblings, never nested (conf/search.yaml's and conf/blackbox.yaml's run dirs).
DEFAULT_RUN = "default"


class RunDirError(ValueError):
    """A run dir that belongs to another run, or is in use."""


def write_json(path: Path, data: Any) -> None:
    """Write `data` as JSON to `path` through a temporary file and an atomic rename."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=1))
    os.replace(tmp, path)


def write_result(run_dir: str | os.PathLike, kind: str, summary: dict) -> Path:
    """Write `summary` with `"kind": kind` (one of RESULT_KINDS) as the run dir's RESULT_FILE,
    atomically (`write_json`); returns the file. A summary may hold the same kind already."""
    if kind not in RESULT_KINDS:
        raise ValueError(f"unknown result kind {kind!r}, expected one of "
                         f"{', '.join(RESULT_KINDS)}")
    if summary.get("kind", kind) != kind:
        raise ValueError(f"a summary of kind {summary['kind']!r} written as kind {kind!r}")
    path = Path(run_dir) / RESULT_FILE
    write_json(path, {"kind": kind, **summary})
    return path


def identity_hash(identity: dict) -> str:
    """A short fingerprint of a run's settings identity (canonical JSON, SHA-256)."""
    text = json.dumps(identity, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _flat(values: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(values, dict):
        return {prefix: values}
    out: dict[str, Any] = {}
    for key, value in values.items():
        out.update(_flat(value, f"{prefix}.{key}" if prefix else str(key)))
    return out


def _first_difference(mine: dict, theirs: dict) -> str:
    a, b = _flat(mine), _flat(theirs)
    for key in sorted(set(a) | set(b)):
        if a.get(key, "<unset>") != b.get(key, "<unset>"):
            return f"{key}={a.get(key, '<unset>')!r} here, {b.get(key, '<unset>')!r} there"
    return "their fingerprints differ"


def _alive(pid: Any) -> bool:
    try:
        os.kill(int(pid), 0)
    except (OSError, ValueError, TypeError):
        return False
    return True


@contextlib.contextmanager
def held(path: Path, what: str, elsewhere: str) -> Iterator[None]:
    """Hold an exclusive `flock` on the file `path` until the block ends (the kernel releases it
    when the process dies). When another process holds it: RunDirError saying `what` is in use,
    by which pid on which host since when, and `elsewhere` (where else to run)."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder: dict = {}
        for _ in range(10):  # the holder writes who it is right after it takes the lock
            with contextlib.suppress(ValueError):
                holder = json.loads(os.pread(fd, 4096, 0).decode() or "{}")
            if holder.get("pid") and _alive(holder["pid"]):
                break
            time.sleep(0.05)
        os.close(fd)
        since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(holder["started"])) \
            if isinstance(holder.get("started"), (int, float)) else "?"
        raise RunDirError(
            f"{what} is in use by another run (pid {holder.get('pid', '?')} on "
            f"{holder.get('host', '?')}, started {since}); wait for it to end or {elsewhere}"
        ) from None
    try:
        holder = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.time(),
                  "command": " ".join(sys.argv)}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(holder).encode(), 0)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def _check_owner(run_dir: Path, kind: str, identity: dict) -> None:
    path = run_dir / RUN_FILE
    present = [name for name in RUN_OUTPUTS if (run_dir / name).exists()]
    if not present:
        # Nothing computed here yet (a new dir, or a start refused before its first result):
        # the dir is this run's.
        write_json(path, {"kind": kind, "identity": identity_hash(identity),
                          "settings": identity, "created": time.time()})
        return
    if not path.exists():
        raise RunDirError(
            f"{run_dir} holds {present[0]} of another run but no {RUN_FILE} (made by another "
            "program, or by an earlier nasbench1shot1), so it is not taken over; use another run "
            "dir (hydra.run.dir=...)")
    try:
        owner = json.loads(path.read_text())
        their_kind, their_hash = owner["kind"], owner["identity"]
    except (OSError, ValueError, KeyError, TypeError):
        raise RunDirError(f"{path} is unreadable, so the owner of {run_dir} is unknown; use "
                          "another run dir (hydra.run.dir=...)") from None
    if their_kind != kind:
        raise RunDirError(f"{run_dir} is the run dir of a {their_kind} run; a {kind} run needs "
                          "a run dir of its own (hydra.run.dir=...)")
    if their_hash != identity_hash(identity):
        raise RunDirError(
            f"{run_dir} belongs to a {kind} run with other settings "
            f"({_first_difference(identity, owner.get('settings') or {})}); use another run "
            "dir (hydra.run.dir=...) or the same settings")


@contextlib.contextmanager
def own_run_dir(run_dir: Path, kind: str, identity: dict) -> Iterator[Path]:
    """Hold `run_dir` for one run of `kind` with settings `identity`; see the module docstring.

    Raises RunDirError when another process holds the dir or it belongs to another run.
    """
    run_dir.mkdir(parents=True, exist_ok=True)
    with held(run_dir / LOCK_FILE, str(run_dir), "use another run dir (hydra.run.dir=...)"):
        _check_owner(run_dir, kind, identity)
        yield run_dir


def older_run_above(run_dir: Path) -> Path | None:
    """The seed dir above `run_dir` when it holds a search or black-box run of the earlier layout
    (the run without overrides in the seed dir itself, the runs with overrides nested in it), and
    `run_dir` is where that run lives now (`DEFAULT_RUN`); else None."""
    above = Path(run_dir).parent
    if Path(run_dir).name != DEFAULT_RUN or not (above / RUN_FILE).is_file():
        return None
    try:
        kind = json.loads((above / RUN_FILE).read_text()).get("kind")
    except (OSError, ValueError, AttributeError):
        return None
    return above if kind in RESULT_KINDS else None


def _holds_a_run(folder: Path) -> bool:
    return any(True for _ in folder.rglob(RUN_FILE))


def upgrade_run_dir(seed_dir: Path) -> Path:
    """Move the run of the earlier layout in `seed_dir` (its files, `.hydra/`, `wandb/`: every
    entry but the folders of other runs) into `seed_dir/DEFAULT_RUN`, under the run's lock;
    returns the new run dir. The same command then finds and resumes it there."""
    seed_dir = Path(seed_dir)
    target = seed_dir / DEFAULT_RUN
    with held(seed_dir / LOCK_FILE, str(seed_dir), "upgrade it when that run has ended"):
        if target.exists() and any(target.iterdir()):
            raise RunDirError(f"{seed_dir} holds a run of the earlier layout, but {target} is "
                              "not empty; move one of them elsewhere first")
        target.mkdir(exist_ok=True)
        for entry in sorted(seed_dir.iterdir()):
            if entry.name in (DEFAULT_RUN, LOCK_FILE):
                continue
            if entry.is_dir() and not entry.is_symlink() and _holds_a_run(entry):
                continue  # another run's folder: a sibling now
            os.replace(entry, target / entry.name)
    (seed_dir / LOCK_FILE).unlink(missing_ok=True)
    return target


def runs_to_upgrade(paths: list[Path]) -> list[Path]:
    """The seed dirs under `paths` (searched recursively) holding a search or black-box run of
    the earlier layout: a `run.json` of that kind in a folder named `seed<N>`."""
    found: set[Path] = set()
    for path in map(Path, paths):
        for run_file in [path / RUN_FILE, *path.rglob(RUN_FILE)]:
            folder = run_file.parent
            if run_file.is_file() and folder.name.startswith("seed") and \
                    folder.name[4:].lstrip("-").isdigit() and \
                    older_run_above(folder / DEFAULT_RUN) is not None:
                found.add(folder)
    return sorted(found)


def move_aside(run_dir: Path, names: tuple[str, ...], why: str) -> Path | None:
    """Move the files `names` of `run_dir` into a new `discarded-N/` folder (never deleted);
    returns that folder, or None when none of the files exists."""
    present = [name for name in names if (run_dir / name).exists()]
    if not present:
        return None
    n = 1
    while (run_dir / f"discarded-{n}").exists():
        n += 1
    folder = run_dir / f"discarded-{n}"
    folder.mkdir()
    for name in present:
        os.replace(run_dir / name, folder / name)
    (folder / "why.txt").write_text(why + "\n")
    return folder
