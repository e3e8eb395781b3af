"""`nb1s1-search` (also `python -m nasbench1shot1`): the Hydra app over `search.run`.

    nb1s1-search                                         # the quick embedded default
    nb1s1-search method=gdas search_space=1 seed=0,1,2 --multirun
    nb1s1-search experiment=paper method=gdas search_space=3

Every default is in conf/ (conf/search.yaml and its groups).
"""

from __future__ import annotations

import os
import sys

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from nasbench1shot1 import threads as thread_policy
from nasbench1shot1.config import CONFIG_DIR
from nasbench1shot1.nasbench import NASBenchError


@hydra.main(version_base="1.3", config_path=str(CONFIG_DIR), config_name="search")
def main(cfg: DictConfig) -> float | None:
    from nasbench1shot1.search import run
    from nasbench1shot1.tracking import make_tracker

    if cfg.get("threads") == "auto" and not os.environ.get("OMP_NUM_THREADS"):
        # jobs a launcher runs side by side share the cores
        jobs = HydraConfig.get().launcher.get("n_jobs") or 1
        cfg.threads = thread_policy.share(thread_policy.available_cores() if jobs < 0 else jobs)
    try:
        tracker = make_tracker(OmegaConf.to_container(cfg.logger, resolve=True))
        result = run(cfg, run_dir=HydraConfig.get().runtime.output_dir, tracker=tracker)
    except (ValueError, NASBenchError, OSError) as error:
        print(f"nb1s1-search: error: {error}", file=sys.stderr)
        sys.exit(1)
    print(f"{result.status}: final cell {result.final_cell}, test regret "
          f"{result.final_test_regret}, results in {result.run_dir}")
    return result.final_test_regret


if __name__ == "__main__":
    main()
