"""`nb1s1-estimate`: the Hydra app over `estimators.run.estimate`.

    nb1s1-estimate                                         # synflow on space 1, embedded
    nb1s1-estimate estimator=gp train_size=100 cells=1000
    nb1s1-estimate estimator=early_stopping benchmark=nasbench101 \
        benchmark.path=data/nasbench_full.tfrecord search_space=all
    nb1s1-estimate -m estimator=synflow,snip,naswot,params seed=0,1,2

Every setting and its default: `nb1s1-estimate --cfg job`, the schema in conf/estimate.py (the
estimators' in conf/estimator.py). What it returns to Hydra is the negated Kendall tau (a sweeper
minimizes it).
"""

from __future__ import annotations

import logging

from omegaconf import DictConfig, OmegaConf

from nasbench1shot1.app import hydra_app

log = logging.getLogger(__name__)


def header(s, run_dir: str, tracker: str) -> str:
    """The app's first line: the estimator, the cells, the benchmark, the run dir, W&B."""
    from nasbench1shot1.checks import resolved_device

    cells = "every cell" if s.cells is None else f"{s.cells:,} cells"
    where = "all of the benchmark" if s.search_space == "all" else \
        f"search space {s.search_space}"
    return (f"estimator {s.estimator.name} on {cells} of {where}, seed {s.seed} (train_size "
            f"{s.train_size} for model-based ones): {s.data.name} against the "
            f"{s.benchmark.where} benchmark; {resolved_device(s.device)}, {s.threads} "
            f"thread(s); run dir {run_dir}; {tracker}")


def run_estimate(cfg: DictConfig) -> float:
    """The app's task: the estimate `cfg` says, in the Hydra run dir."""
    from hydra.core.hydra_config import HydraConfig

    from nasbench1shot1.config import to_settings
    from nasbench1shot1.estimators.run import estimate
    from nasbench1shot1.tracking import make_tracker

    settings = to_settings(cfg)
    tracker = make_tracker(OmegaConf.to_container(cfg.logger, resolve=True), step_metric="cell",
                           job_type="estimate")
    run_dir = HydraConfig.get().runtime.output_dir
    log.info("%s", header(settings, run_dir, tracker.describe(run_dir)))
    result = estimate(settings, run_dir, tracker=tracker)
    tau = result.get("kendall_tau")
    return 1.0 if tau is None else -float(tau)


def interrupted(cfg: DictConfig) -> str:
    """The last line after Ctrl-C: the scores so far are kept."""
    from nasbench1shot1.app import run_dir_of_job
    from nasbench1shot1.runfiles import PARTIAL_SCORES_FILE

    return (f"interrupted; the scores so far are in {run_dir_of_job() / PARTIAL_SCORES_FILE}: "
            "the same command goes on from them")


main = hydra_app("nb1s1-estimate", "estimate", run_estimate, interrupted=interrupted)

if __name__ == "__main__":
    main()
