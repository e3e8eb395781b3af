"""`nb1s1-blackbox`: the Hydra app over `blackbox.run`.

    nb1s1-blackbox                                            # regularized evolution, embedded
    nb1s1-blackbox optimizer=bohb benchmark=nasbench101 benchmark.path=data/nasbench_full.tfrecord
    nb1s1-blackbox optimizer=random_search,regularized_evolution seed=0,1,2 --multirun

Every default is in conf/ (conf/blackbox.yaml and conf/optimizer/).
"""

from __future__ import annotations

import sys

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from nasbench1shot1.config import CONFIG_DIR
from nasbench1shot1.nasbench import NASBenchError


@hydra.main(version_base="1.3", config_path=str(CONFIG_DIR), config_name="blackbox")
def main(cfg: DictConfig) -> float | None:
    from nasbench1shot1.blackbox import run
    from nasbench1shot1.tracking import make_tracker

    try:
        logger = OmegaConf.to_container(cfg.logger, resolve=True)
        tracker = make_tracker({"step_metric": "trial", "job_type": "blackbox", **logger})
        result = run(cfg, run_dir=HydraConfig.get().runtime.output_dir, tracker=tracker)
    except (ValueError, NASBenchError, OSError) as error:
        print(f"nb1s1-blackbox: error: {error}", file=sys.stderr)
        sys.exit(1)
    return result.final_test_regret


if __name__ == "__main__":
    main()
