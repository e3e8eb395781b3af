"""`nb1s1-hpo`: the Hydra app over `nasbench1shot1.hpo.bohb` (every setting and its default:
`nb1s1-hpo --cfg job`, the schema in conf/hpo.py).

    nb1s1-hpo min_budget=1 max_budget=3 iterations=1                 # tiny, embedded default
    nb1s1-hpo method=gdas setting=cs3 'search_overrides=["experiment=paper"]'
    nb1s1-hpo method=darts data=cifar10 benchmark=nasbench101 logger=wandb
    # join a master (FILE: the master's nameserver.json, or a copy of it with mode 600)
    nb1s1-hpo worker_only=true host=HOST port=PORT run_id=ID secret_file=FILE
"""

from __future__ import annotations

import logging

from omegaconf import DictConfig

from nasbench1shot1.app import hydra_app


def run_hpo(cfg: DictConfig) -> float | None:
    """The app's task: a BOHB master (with its local workers) or a worker alone."""
    from hydra.core.hydra_config import HydraConfig

    from nasbench1shot1.config import to_settings
    from nasbench1shot1.hpo.bohb import run_bohb, run_worker

    # HpBandSter logs every dispatcher step at INFO; the run logs one line per evaluation
    logging.getLogger("hpbandster").setLevel(logging.WARNING)
    settings = to_settings(cfg)
    run_dir = HydraConfig.get().runtime.output_dir
    if settings.worker_only:
        logging.getLogger(__name__).info(
            "BOHB worker of run %s (master's name server %s:%s) for %s on search space %d; its "
            "searches go under %s", settings.run_id, settings.host, settings.port,
            settings.method, settings.search_space, run_dir)
        run_worker(settings, run_dir)
        return None
    return run_bohb(settings, run_dir)["incumbent"]["loss"]  # a validation error


def interrupted(cfg: DictConfig) -> str:
    """The last line after Ctrl-C: the finished evaluations are kept and warm-start a rerun."""
    from nasbench1shot1.app import run_dir_of_job
    from nasbench1shot1.runfiles import BOHB_RESULTS_FILE

    if cfg.worker_only:
        return "interrupted; the job this worker ran is lost, the master's results are kept"
    return (f"interrupted; the evaluations finished so far are in "
            f"{run_dir_of_job() / BOHB_RESULTS_FILE}: the same command warm-starts from them")


main = hydra_app("nb1s1-hpo", "nb1s1_hpo", run_hpo, renamed={"hpo.": ""},
                 interrupted=interrupted)

if __name__ == "__main__":
    main()
