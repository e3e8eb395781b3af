"""`run(cfg) -> BlackboxResult`: one black-box optimizer on one search space of one benchmark.

Used by `nb1s1-blackbox` (and its sweeps). The trajectory goes to `trajectory.jsonl` in the run
dir as it grows (one JSON line per query, see `TabularObjective.evaluate`), the end to
`result.json` (settings, the final incumbent and its test regret, queries, simulated time, the
space's optimum). A run dir that already holds a finished run with the same settings is not run
again: its result is returned. An interrupted run starts over (a black-box run on a table takes
seconds to minutes, and given its seed it makes the same queries again). The run holds its run
dir for its whole life and only a black-box run with the same settings may use it
(`runfiles.own_run_dir`).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from nasbench1shot1.blackbox.base import get_optimizer
from nasbench1shot1.blackbox.objective import SELECTION_METRICS, BudgetExhausted, TabularObjective
from nasbench1shot1.checks import number_in, positive_int, seed_value
from nasbench1shot1.progress import bar as progress_bar
from nasbench1shot1.runfiles import (
    RESULT_FILE,
    TRAJECTORY_FILE,
    WANDB_ID_FILE,
    own_run_dir,
    write_result,
)
from nasbench1shot1.spaces import get_search_space

KIND = "blackbox"
log = logging.getLogger(__name__)
#: The most queries of one run: each writes a line of about 400 bytes to trajectory.jsonl (and a
#: step to W&B), so a million is about 0.4 GB; more is a typo, not a study.
MAX_TRIALS = 1_000_000


@dataclass(frozen=True)
class BlackboxSettings:
    """A black-box run's checked settings (conf/blackbox.py: every value comes from there)."""

    optimizer: str
    params: dict
    search_space: int
    seed: int
    benchmark: str
    trials: int | None
    time_budget: float | None
    selection_metric: str
    progress: bool  # how it shows, not what it computes: not in as_dict

    def as_dict(self) -> dict:
        """What the run computes from (its identity; stored in result.json)."""
        values = asdict(self)
        del values["progress"]
        return values


def settings_from(cfg: Any) -> BlackboxSettings:
    """Check a composed config (or a dict of the same shape, conf/blackbox.py); one sentence on
    bad values."""
    from omegaconf import DictConfig

    from nasbench1shot1.conf.blackbox import BLACKBOX_OBJECTIVES, BlackboxConfig
    from nasbench1shot1.conf.optimizer import OPTIMIZER_CONFIGS
    from nasbench1shot1.config import from_dict, to_settings

    if isinstance(cfg, DictConfig):
        c = to_settings(cfg)
    else:
        c = from_dict(dict(cfg), BlackboxConfig, {"optimizer": OPTIMIZER_CONFIGS})
    optimizer = asdict(c.optimizer)
    name = optimizer.pop("name")
    params = get_optimizer(name).check_params(optimizer)
    space = get_search_space(c.search_space).number
    seed_value("seed", c.seed)
    if c.trials is None and c.time_budget is None:
        raise ValueError("trials and time_budget are both null; set at least one budget")
    if c.trials is not None and positive_int("trials", c.trials) > MAX_TRIALS:
        raise ValueError(f"trials={c.trials} is more than the {MAX_TRIALS:,} queries one run may "
                         "make (each is a line of trajectory.jsonl); use at most that, or a "
                         "time_budget")
    time_budget = c.time_budget
    if time_budget is not None:
        time_budget = number_in("time_budget", time_budget, 0.0, None, low_open=True)
    if c.objective not in BLACKBOX_OBJECTIVES:
        raise ValueError(f"unknown objective {c.objective!r}, expected one of "
                         f"{', '.join(BLACKBOX_OBJECTIVES)}")
    if c.selection_metric not in SELECTION_METRICS:
        raise ValueError(f"unknown selection_metric {c.selection_metric!r}, expected one of "
                         f"{', '.join(SELECTION_METRICS)}")
    return BlackboxSettings(optimizer=name, params=params, search_space=space, seed=c.seed,
                            benchmark=c.benchmark.where, trials=c.trials,
                            time_budget=time_budget, selection_metric=c.selection_metric,
                            progress=c.progress)


@dataclass
class BlackboxResult:
    """What a black-box run ends with (also written to result.json)."""

    status: str
    optimizer: str
    search_space: int
    seed: int
    trials: int
    simulated_time: float
    incumbent: str | None
    incumbent_error: float | None
    final_test_regret: float | None
    best_test_regret: float | None
    optimum: dict
    run_dir: str
    wall_time: float
    kind: str = KIND
    reason: str | None = None  # what ended the run when it was not its budget
    history: list[dict] = field(default_factory=list, repr=False)

    def summary(self) -> dict:
        return {k: v for k, v in asdict(self).items() if k != "history"}


def _finished(run_dir: Path, settings: BlackboxSettings) -> BlackboxResult | None:
    """The finished run of these settings in `run_dir`, None if there is none; refuses a run
    dir that holds another run's result."""
    path, trajectory = run_dir / RESULT_FILE, run_dir / TRAJECTORY_FILE
    if not (path.is_file() and trajectory.is_file()):
        return None
    try:
        stored = json.loads(path.read_text())
    except ValueError:
        return None  # a torn result: the run starts over
    if stored.get("settings") != settings.as_dict():
        raise ValueError(f"{run_dir} holds the result of a run with other settings; use a new "
                         "run dir (hydra.run.dir=...) or the same settings")
    try:
        history = [json.loads(line) for line in trajectory.read_text().splitlines()]
        stored.pop("settings")
        return BlackboxResult(**stored, history=history)
    except (ValueError, TypeError):
        return None


def run(cfg: Any, run_dir: str | os.PathLike | None = None, tracker=None,
        echo: bool = True) -> BlackboxResult:
    """Run one black-box optimization as `cfg` says; see the module docstring."""
    settings = settings_from(cfg)
    progress = echo and settings.progress
    run_dir = Path(run_dir or ".").resolve()
    with own_run_dir(run_dir, KIND, settings.as_dict()):
        return _run(settings, run_dir, tracker, echo, progress)


def degenerate(settings: BlackboxSettings, epochs: list[int]) -> list[str]:
    """Sentences on settings that make the optimizer another one (the run goes on)."""
    found = []
    population = settings.params.get("population_size")
    if settings.optimizer == "regularized_evolution" and settings.trials is not None \
            and settings.trials <= population:
        found.append(f"regularized_evolution with trials={settings.trials} <= "
                     f"optimizer.population_size={population} never mutates: it is random "
                     "search here")
    if settings.optimizer == "re_prescreen" and settings.trials is not None \
            and settings.trials <= population:
        found.append(f"re_prescreen with trials={settings.trials} <= "
                     f"optimizer.population_size={population} never mutates: it queries the "
                     "proxy's best cells of its warmup, no evolution")
    low = settings.params.get("min_budget") or min(epochs)
    high = settings.params.get("max_budget") or max(epochs)
    if settings.optimizer in ("hyperband", "bohb") and low == high:
        found.append(f"{settings.optimizer} with a single epoch budget ({high}; the benchmark "
                     f"has {', '.join(map(str, epochs))}) has no successive halving: hyperband "
                     "is random search here, bohb its model-based sampling at that budget")
    return found


def _run(settings: BlackboxSettings, run_dir: Path, tracker, echo: bool,
         progress: bool) -> BlackboxResult:
    from nasbench1shot1.embedded import open_benchmark

    done = _finished(run_dir, settings)
    if done is not None:
        regret = done.final_test_regret
        log.info("%s holds this run, finished: nothing is run again (%d queries, incumbent "
                 "%s, test regret %s; %s)", run_dir, done.trials, (done.incumbent or "-")[:8],
                 "-" if regret is None else f"{regret:.4f}", run_dir / RESULT_FILE)
        return done
    space = get_search_space(settings.search_space)
    benchmark = open_benchmark(settings.benchmark, seed=settings.seed)
    optimizer = get_optimizer(settings.optimizer)
    for warning in degenerate(settings, benchmark.epochs):
        log.warning("%s", warning)
    every = max(1, (settings.trials or 1000) // 10)
    # The file and the tracker open at the first query: a run refused before it (a bad budget,
    # a benchmark without the metric) leaves neither a truncated trajectory nor a W&B run.
    opened: dict = {}
    level = logging.INFO if echo else logging.DEBUG
    bar = progress_bar(settings.trials, f"{settings.optimizer} space {settings.search_space}",
                       "query", progress)

    def record(entry: dict) -> None:
        if not opened:
            (run_dir / WANDB_ID_FILE).unlink(missing_ok=True)  # a restart is a new W&B run
            opened["out"] = (run_dir / TRAJECTORY_FILE).open("w")
            if tracker is not None:
                tracker.start({**settings.as_dict(), "kind": KIND}, run_dir)
        opened["out"].write(json.dumps(entry) + "\n")
        if tracker is not None:
            tracker.log(entry)
        bar.update(1)
        if entry["trial"] % every == 0:
            regret = entry["test_regret"]
            log.log(level, "trial %6d  simulated time %11.0f s  incumbent %s  error %.4f  test "
                    "regret %s", entry["trial"], entry["simulated_time"], entry["incumbent"][:8],
                    entry["incumbent_error"], regret if regret is None else f"{regret:.4f}")

    started = time.perf_counter()
    objective = TabularObjective(space, benchmark, seed=settings.seed,
                                 selection_metric=settings.selection_metric,
                                 trials=settings.trials or MAX_TRIALS,  # a time budget too
                                 time_budget=settings.time_budget,
                                 on_record=record)
    try:
        with contextlib.suppress(BudgetExhausted):  # the normal end of every optimizer
            optimizer.run(objective, settings.params, settings.seed, run_dir)
    except BaseException as error:
        if opened and tracker is not None:
            tracker.finish({"status": "failed", "reason": str(error),
                            "trials": len(objective.history)})
        raise
    finally:
        bar.close()
        if opened:
            opened["out"].close()
    history = objective.history
    reason = None
    if settings.trials is None and len(history) >= MAX_TRIALS:
        reason = (f"stopped at the cap of {MAX_TRIALS:,} queries after "
                  f"{objective.simulated_time:.0f} of {settings.time_budget:.0f} simulated s")
        log.warning("%s", reason)
    regrets = [r["test_regret"] for r in history if r["test_regret"] is not None]
    last = history[-1] if history else None
    result = BlackboxResult(
        status="finished", optimizer=settings.optimizer, search_space=settings.search_space,
        seed=settings.seed, trials=len(history), simulated_time=objective.simulated_time,
        incumbent=last["incumbent"] if last else None,
        incumbent_error=last["incumbent_error"] if last else None,
        final_test_regret=last["test_regret"] if last else None,
        best_test_regret=min(regrets) if regrets else None,
        optimum=objective.optimum.as_dict(), run_dir=str(run_dir),
        wall_time=time.perf_counter() - started, reason=reason, history=history,
    )
    write_result(run_dir, KIND, {**result.summary(), "settings": settings.as_dict()})
    if tracker is not None:
        tracker.finish(result.summary())
    log.log(level, "%s", end_line(result, _ops(benchmark, result.incumbent)))
    return result


def _ops(benchmark, cell: str | None) -> list[str]:
    """The operations of `cell`'s inner vertices (its input and output left out)."""
    if cell is None:
        return []
    return list(benchmark.get_metrics_from_hash(cell)[0]["module_operations"][1:-1])


def _four(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def end_line(result: BlackboxResult, ops: list[str]) -> str:
    """The last line of a run: the queries and simulated time, the incumbent (hash and ops), its
    error as the optimizer saw it and its test regret (4 decimals), the best regret, the result
    file."""
    why = f" ({result.reason})" if result.reason else ""
    return (f"{result.status}{why}: {result.optimizer} on space {result.search_space} made "
            f"{result.trials} queries in {result.simulated_time:.0f} simulated s; incumbent "
            f"{(result.incumbent or '-')[:8]} (ops {', '.join(ops) or '-'}), error "
            f"{_four(result.incumbent_error)}, test regret {_four(result.final_test_regret)} "
            f"(best {_four(result.best_test_regret)}); {Path(result.run_dir) / RESULT_FILE}")
