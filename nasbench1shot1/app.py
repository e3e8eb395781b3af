"""The one wrapper of every Hydra app (`nb1s1-search`, `nb1s1-blackbox`, `nb1s1-build`,
`nb1s1-hpo`): configs from `pkg://nasbench1shot1.conf`; the old spellings of keys and
`group=null` refused before Hydra starts, with one sentence (exit status 2); a bad value ending the
app with one line on stderr (also in the run dir's log) and exit status 1; Ctrl-C ending it with
one line saying what was kept (exit status 130). What the app's task returns goes back to Hydra
(a sweeper minimizes it)."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from nasbench1shot1.config import CONFIG_PATH

log = logging.getLogger(__name__)

#: Spellings every app used to take, and what they are now.
RENAMED = {"logger.kind": "logger"}


def _old_spelling(argv: list[str], renamed: Mapping[str, str]) -> tuple[str, str] | None:
    for arg in argv:
        if arg.startswith("-") or "=" not in arg:
            continue
        key = arg.split("=", 1)[0].lstrip("+~")
        for old, new in renamed.items():
            if key == old or (old.endswith(".") and key.startswith(old)):
                return key, new + key[len(old):] if old.endswith(".") else new
    return None


def _unset_group(argv: list[str]) -> str | None:
    """The sentence for `group=null` (Hydra 1.3 fails on it with a traceback)."""
    from nasbench1shot1.conf import GROUPS

    for arg in argv:
        key, _, value = arg.partition("=")
        if key in GROUPS and value.strip() in ("null", "~"):
            return (f"{key}={value} cannot unset config group {key}; choose one of "
                    f"{', '.join(map(str, GROUPS[key]))}, or leave {key}= out")
    return None


def _remove_if_refused() -> None:
    """A start refused before it claimed its run dir leaves nothing behind: the dir Hydra made
    for it (its `.hydra/` and log, nothing else) is removed, and so are the parents that are
    empty then (up to the working directory)."""
    import shutil

    from hydra.core.hydra_config import HydraConfig

    from nasbench1shot1.runfiles import LOCK_FILE, RunDirError, held

    run_dir = Path(HydraConfig.get().runtime.output_dir).resolve()
    top = Path.cwd().resolve()
    if run_dir == top or run_dir in top.parents:
        return  # hydra.run.dir=. (or above): the user's own folder
    made = {".hydra", f"{HydraConfig.get().job.name}.log", LOCK_FILE}
    try:
        # held while it is looked at and removed: a run starting there meanwhile keeps it
        with held(run_dir / LOCK_FILE, str(run_dir), "-"):
            if {p.name for p in run_dir.iterdir()} - made:
                return  # more than this start made (another run's files, a claimed dir)
            root = logging.getLogger()
            for handler in list(root.handlers):  # the log file goes with the dir
                if isinstance(handler, logging.FileHandler) and \
                        Path(handler.baseFilename).resolve().parent == run_dir:
                    root.removeHandler(handler)
                    handler.close()
            shutil.rmtree(run_dir, ignore_errors=True)
    except RunDirError:
        return
    parent = run_dir.parent
    while parent != top and top in parent.parents and not any(parent.iterdir()):
        parent.rmdir()
        parent = parent.parent


def _refuse_older_layout() -> None:
    """A start whose run dir is `<seed dir>/default` while the seed dir itself holds the run of
    the earlier layout (the runs with overrides nested inside it) would start that run afresh
    beside it: refused, naming the command that moves it (`nb1s1 runs upgrade`)."""
    from nasbench1shot1.runfiles import RunDirError, older_run_above

    run_dir = run_dir_of_job()
    above = older_run_above(run_dir)
    if above is not None:
        raise RunDirError(
            f"{above} holds a run made before every run had a folder of its own, and this start "
            f"would begin it again in {run_dir}; move it there first with `nb1s1 runs upgrade "
            f"{above}` (or `nb1s1 runs upgrade outputs` for every such run), then start again")


def _to_log_files(level: int, message: str) -> None:
    """`message` into the run dir's log only (Hydra's file handler), not to the console."""
    record = log.makeRecord(log.name, level, __file__, 0, message, (), None)
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.FileHandler):
            handler.handle(record)


def run_dir_of_job() -> Path:
    """The run dir Hydra made for this job."""
    from hydra.core.hydra_config import HydraConfig

    return Path(HydraConfig.get().runtime.output_dir)


def hydra_app(app: str, config_name: str, task: Callable[[Any], Any],
              renamed: Mapping[str, str] | None = None,
              interrupted: Callable[[Any], str] | None = None) -> Callable[[], Any]:
    """The `main()` of an app that runs `task(cfg)` on the composed config `config_name`.
    `renamed` maps an old key (or a prefix ending in '.') to its new spelling; `interrupted(cfg)`
    says what Ctrl-C leaves behind (what was kept, how to go on): the app's last line then, exit
    status 130."""
    import hydra

    from nasbench1shot1.nasbench import NASBenchError

    renamed = {**RENAMED, **(renamed or {})}

    def body(cfg):
        try:
            _refuse_older_layout()
            return task(cfg)
        except (ValueError, TypeError, NASBenchError, OSError, RuntimeError) as error:
            _to_log_files(logging.ERROR, str(error))  # the console gets the line below
            print(f"{app}: error: {error}", file=sys.stderr)
            _remove_if_refused()
            sys.exit(1)
        except KeyboardInterrupt:
            try:
                line = interrupted(cfg) if interrupted is not None else "interrupted"
            except Exception as error:  # the line must not become a traceback
                line = f"interrupted ({type(error).__name__} while looking at the run dir)"
            _to_log_files(logging.WARNING, line)
            print(f"\n{app}: {line}", file=sys.stderr)
            sys.exit(130)

    wrapped = hydra.main(version_base="1.3", config_path=CONFIG_PATH,
                         config_name=config_name)(body)

    def main() -> Any:
        old = _old_spelling(sys.argv[1:], renamed)
        if old is not None:
            print(f"{app}: error: {old[0]}= is spelled {old[1]}= now (the same words in every "
                  "app: method, search_space, seed, data, benchmark, logger)", file=sys.stderr)
            sys.exit(2)
        unset = _unset_group(sys.argv[1:])
        if unset is not None:
            print(f"{app}: error: {unset}", file=sys.stderr)
            sys.exit(2)
        return wrapped()

    return main
