"""`nb1s1-blackbox`: the Hydra app over `blackbox.run`.

    nb1s1-blackbox                                            # regularized evolution, embedded
    nb1s1-blackbox optimizer=bohb benchmark=nasbench101 benchmark.path=data/nasbench_full.tfrecord
    nb1s1-blackbox optimizer=random_search,regularized_evolution seed=0,1,2 --multirun

Every setting and its default: `nb1s1-blackbox --cfg job`, the schema in conf/blackbox.py.
What it returns to Hydra is `objective` (default: the incumbent's error as the optimizer saw it).
"""

from __future__ import annotations

import logging

from omegaconf import DictConfig, OmegaConf

from nasbench1shot1.app import hydra_app
from nasbench1shot1.search_app import TEST_OBJECTIVE, WORST

log = logging.getLogger(__name__)


def header(s, run_dir: str, tracker: str) -> str:
    """The app's first line: what runs on which benchmark, with which budget, where it writes."""
    budget = [f"{s.trials} queries"] if s.trials is not None else []
    if s.time_budget is not None:
        budget.append(f"{s.time_budget:g} simulated s")
    return (f"{s.optimizer} on search space {s.search_space}, seed {s.seed}, budget "
            f"{' or '.join(budget)}: queries the {s.benchmark} benchmark (selecting by "
            f"{s.selection_metric}; no training, one thread); run dir {run_dir}; {tracker}")


def run_blackbox(cfg: DictConfig) -> float | None:
    """The app's task: the black-box run `cfg` says, in the Hydra run dir."""
    from hydra.core.hydra_config import HydraConfig

    from nasbench1shot1.blackbox import run
    from nasbench1shot1.blackbox.run import settings_from
    from nasbench1shot1.tracking import make_tracker

    logger = OmegaConf.to_container(cfg.logger, resolve=True)
    settings = settings_from(cfg)  # every check before the tracker
    tracker = make_tracker(logger, step_metric="trial", job_type="blackbox")
    run_dir = HydraConfig.get().runtime.output_dir
    log.info("%s", header(settings, run_dir, tracker.describe(run_dir)))
    result = run(cfg, run_dir=run_dir, tracker=tracker)
    if cfg.objective == "test_regret" or cfg.selection_metric == "test_accuracy":
        log.warning(TEST_OBJECTIVE)
    value = result.final_test_regret if cfg.objective == "test_regret" \
        else result.incumbent_error
    return WORST if value is None else value


def interrupted(cfg: DictConfig) -> str:
    """The last line after Ctrl-C: a black-box run is not resumed but run again."""
    from nasbench1shot1.app import run_dir_of_job

    return (f"interrupted; {run_dir_of_job()} keeps the queries made so far, but a black-box "
            "run is not resumed: the same command runs it again (the same queries, by its seed)")


main = hydra_app("nb1s1-blackbox", "blackbox", run_blackbox, interrupted=interrupted)

if __name__ == "__main__":
    main()
