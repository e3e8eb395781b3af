"""`nb1s1-search` (also `python -m nasbench1shot1`): the Hydra app over `search.run`.

    nb1s1-search                                         # the quick embedded default
    nb1s1-search method=gdas search_space=1 seed=0,1,2 --multirun
    nb1s1-search experiment=paper method=gdas search_space=3

Every setting and its default: `nb1s1-search --cfg job`, the schema in conf/search.py.
What it returns to Hydra (a sweeper minimizes it) is `objective` (default: the final cell's
benchmark validation error; never a test figure unless asked for).
"""

from __future__ import annotations

import logging
import math
import os
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from nasbench1shot1.app import hydra_app

log = logging.getLogger(__name__)


#: The warning of a run that returns a test figure to Hydra.
TEST_OBJECTIVE = ("the figure returned to Hydra is a test figure (objective=test_regret, or a "
                  "black-box selection_metric=test_accuracy): a sweeper that selects on it "
                  "selects on test data (for studies of the search only)")


#: What a run without the figure (diverged, or a cell without a benchmark value) returns: the
#: worst error, as BOHB's loss of such a run.
WORST = 1.0


def objective_of(result, objective: str) -> float:
    """The figure `objective` of a search; WORST when the search diverged or has none."""
    if result.status != "finished" or not result.history:
        value = None
    elif objective == "test_regret":
        value = result.final_test_regret
    elif objective == "one_shot_validation_error":
        value = 1.0 - result.history[-1]["valid_accuracy"]
    else:
        value = result.final_validation_error
    if value is None or not math.isfinite(value):
        log.warning("the search has no %s (%s): it returns the worst value, %s", objective,
                    result.reason or "no benchmark value for its final cell", WORST)
        return WORST
    return float(value)


def _four(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def end_line(result) -> str:
    """The app's last line: status, epochs, the final cell (hash and ops), its validation error
    and test regret (4 decimals), the best regret, the result file."""
    ops = ", ".join((result.final_architecture or {}).get("ops") or []) or "-"
    cell = (result.final_cell or "-")[:8]
    why = f" ({result.reason})" if result.reason else ""
    return (f"{result.status}{why} after {result.epochs_done}/{result.epochs} epochs: final cell "
            f"{cell} (ops {ops}), benchmark validation error "
            f"{_four(result.final_validation_error)}, test regret "
            f"{_four(result.final_test_regret)} (best {_four(result.best_test_regret)}); "
            f"{Path(result.run_dir or '.') / 'result.json'}")


def run_search(cfg: DictConfig) -> float | None:
    """The app's task: the search `cfg` says, in the Hydra run dir."""
    from hydra.core.hydra_config import HydraConfig

    from nasbench1shot1 import threads as thread_policy
    from nasbench1shot1.checks import resolved_device
    from nasbench1shot1.config import settings_from
    from nasbench1shot1.search import run
    from nasbench1shot1.tracking import make_tracker

    if cfg.get("threads") == "auto" and not os.environ.get("OMP_NUM_THREADS"):
        # jobs a launcher runs side by side share the cores
        jobs = HydraConfig.get().launcher.get("n_jobs") or 1
        cfg.threads = thread_policy.share(thread_policy.available_cores() if jobs < 0 else jobs)
    settings = settings_from(cfg)  # every check, the logger's included, before the tracker
    tracker = make_tracker(OmegaConf.to_container(cfg.logger, resolve=True))
    run_dir = HydraConfig.get().runtime.output_dir
    s = settings
    log.info("%s on search space %d, seed %d, %d epochs: %s against the %s benchmark; %s, %d "
             "thread(s); run dir %s; %s", s.method.name, s.search_space, s.seed,
             s.train.epochs, s.data.name, s.benchmark.where, resolved_device(s.device),
             s.threads, run_dir, tracker.describe(run_dir))
    result = run(settings, run_dir=run_dir, tracker=tracker)
    log.info("%s", end_line(result))
    if cfg.objective == "test_regret":
        log.warning(TEST_OBJECTIVE)
    return objective_of(result, cfg.objective)


def interrupted(cfg: DictConfig) -> str:
    """The last line after Ctrl-C: the checkpoint the same command resumes from."""
    from nasbench1shot1.app import run_dir_of_job
    from nasbench1shot1.checkpoint import load_checkpoint
    from nasbench1shot1.runfiles import CHECKPOINT_FILE

    path = run_dir_of_job() / CHECKPOINT_FILE
    if not path.is_file():
        return f"interrupted before the first epoch ended: no checkpoint in {path.parent} yet"
    try:
        epoch = f"after epoch {load_checkpoint(path)['epoch']}"
    except (ValueError, KeyError, OSError):
        epoch = "unreadable"
    return f"interrupted; checkpoint {path} ({epoch}): the same command resumes from it"


main = hydra_app("nb1s1-search", "search", run_search, interrupted=interrupted)

if __name__ == "__main__":
    main()
