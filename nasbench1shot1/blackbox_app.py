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


def run_blackbox(cfg: DictConfig) -> float | None:
    """The app's task: the black-box run `cfg` says, in the Hydra run dir."""
    from hydra.core.hydra_config import HydraConfig

    from nasbench1shot1.blackbox import run
    from nasbench1shot1.tracking import make_tracker

    logger = OmegaConf.to_container(cfg.logger, resolve=True)
    tracker = make_tracker(logger, step_metric="trial", job_type="blackbox")
    result = run(cfg, run_dir=HydraConfig.get().runtime.output_dir, tracker=tracker)
    if cfg.objective == "test_regret" or cfg.selection_metric == "test_accuracy":
        log.warning(TEST_OBJECTIVE)
    value = result.final_test_regret if cfg.objective == "test_regret" \
        else result.incumbent_error
    return WORST if value is None else value


main = hydra_app("nb1s1-blackbox", "blackbox", run_blackbox)

if __name__ == "__main__":
    main()
