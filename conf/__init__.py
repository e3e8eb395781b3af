"""Every setting of every app and its default: typed schemas (the modules here, registered with
Hydra's ConfigStore when this package is imported) and, in YAML, each app's primary config
(which options it composes, where its run dirs go) and the experiments (presets over the
defaults). Installed as the package `nasbench1shot1.conf`, found through
`pkg://nasbench1shot1.conf`, so an installed nasbench1shot1 carries its configs.

A config group option is a schema stored under its group and name: `method=gdas` picks
`conf.method.GdasConfig`, `data=cifar10` the cifar10 option of `conf.data.DATA_OPTIONS`. Hydra
refuses a value of the wrong type or an unknown key with its own message; the checks of ranges
and between values run when the schema's dataclass is made (`OmegaConf.to_object`)."""

from __future__ import annotations

from nasbench1shot1.conf.blackbox import BlackboxConfig
from nasbench1shot1.conf.build import BuildSettings
from nasbench1shot1.conf.data import BENCHMARK_OPTIONS, DATA_OPTIONS
from nasbench1shot1.conf.estimate import EstimateSettings
from nasbench1shot1.conf.estimator import ESTIMATOR_CONFIGS
from nasbench1shot1.conf.hpo import HpoSettings
from nasbench1shot1.conf.logger import LOGGER_CONFIGS
from nasbench1shot1.conf.method import METHOD_CONFIGS
from nasbench1shot1.conf.optimizer import OPTIMIZER_CONFIGS
from nasbench1shot1.conf.protocol import paper_epochs
from nasbench1shot1.conf.search import SearchSettings

#: Each app's root schema, by its primary config's name (conf/<name>.yaml names it in its
#: defaults as <name>_schema).
ROOT_SCHEMAS = {"search": SearchSettings, "blackbox": BlackboxConfig, "build": BuildSettings,
                "nb1s1_hpo": HpoSettings, "estimate": EstimateSettings}
#: Each config group's options.
GROUPS = {"method": METHOD_CONFIGS, "optimizer": OPTIMIZER_CONFIGS, "logger": LOGGER_CONFIGS,
          "data": DATA_OPTIONS, "benchmark": BENCHMARK_OPTIONS, "estimator": ESTIMATOR_CONFIGS}


def run_name(override_dirname: str) -> str:
    """The last part of a run dir's name (resolver `nb1s1.run_name` in the apps' YAML): the
    overrides that make the run what it is (`hydra.job.override_dirname`), or `default` when
    there are none, so that a run with overrides is a sibling of the one without, never inside
    it."""
    from nasbench1shot1.runfiles import DEFAULT_RUN

    return override_dirname or DEFAULT_RUN


def job_label(mode: object, num: object, what: str) -> str:
    """The label of a job's log lines in a multirun (resolver `nb1s1.job_label` in the apps'
    logging format): `[#N what] `, so that the lines of jobs a launcher runs side by side (joblib,
    several jobs on one console) say whose they are; nothing in a single run."""
    return f"[#{num} {what}] " if str(mode).endswith("MULTIRUN") else ""


def app_help(app: str) -> str:
    """The `--help` text of an app (resolver `nb1s1.help` in the apps' `hydra.help.template`)."""
    from nasbench1shot1.apphelp import template

    return template(app)


def register() -> None:
    """Store every schema in Hydra's ConfigStore and the resolvers `nb1s1.run_name`,
    `nb1s1.job_label`, `nb1s1.help` and `nb1s1.paper_epochs` (idempotent)."""
    from hydra.core.config_store import ConfigStore
    from omegaconf import OmegaConf

    OmegaConf.register_new_resolver("nb1s1.run_name", run_name, replace=True)
    OmegaConf.register_new_resolver("nb1s1.job_label", job_label, replace=True)
    OmegaConf.register_new_resolver("nb1s1.help", app_help, replace=True)
    OmegaConf.register_new_resolver("nb1s1.paper_epochs", paper_epochs, replace=True)

    store = ConfigStore.instance()
    for name, schema in ROOT_SCHEMAS.items():
        store.store(name=f"{name}_schema", node=schema)
    for group, options in GROUPS.items():
        for name, node in options.items():
            store.store(group=group, name=name, node=node)


register()
