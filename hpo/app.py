"""`nb1s1-hpo`: the Hydra app over `hpo.bohb` (defaults in conf/nb1s1_hpo.yaml, conf/hpo/).

    nb1s1-hpo hpo.min_budget=1 hpo.max_budget=3 hpo.iterations=1     # tiny, embedded default
    nb1s1-hpo hpo.method=gdas hpo.setting=cs3 hpo.search_overrides=[experiment=paper]
    # join a master (FILE: the master's nameserver.json, or a copy of it with mode 600)
    nb1s1-hpo hpo.worker_only=true hpo.host=HOST hpo.port=PORT hpo.run_id=ID hpo.secret_file=FILE
"""

from __future__ import annotations

import sys

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from nasbench1shot1.config import CONFIG_DIR
from nasbench1shot1.serialization import install

install()


@hydra.main(version_base="1.3", config_path=str(CONFIG_DIR), config_name="nb1s1_hpo")
def main(cfg: DictConfig) -> None:
    from hpo.bohb import HpoSettings, WorkersExited, run_bohb, run_worker
    from nasbench1shot1.checks import check_fields, known_keys
    from nasbench1shot1.nasbench import NASBenchError

    values = OmegaConf.to_container(cfg, resolve=True)
    try:
        known_keys(values, ("hpo", "logger"), "nb1s1-hpo")
        hpo = check_fields("hpo.", values["hpo"], HpoSettings, allow_missing=True)
        settings = HpoSettings(**{**hpo, "search_overrides": tuple(hpo["search_overrides"]),
                                  "logger": values["logger"]})
        run_dir = HydraConfig.get().runtime.output_dir
        if settings.worker_only:
            run_worker(settings, run_dir)
        else:
            run_bohb(settings, run_dir)
    except (ValueError, TypeError, NASBenchError, OSError, WorkersExited) as error:
        print(f"nb1s1-hpo: error: {error}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
