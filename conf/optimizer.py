"""The black-box optimizers' settings (config group `optimizer` of nb1s1-blackbox): one typed
schema per optimizer, the one place its defaults are written. The checks of the values are the
optimizer's own (`nasbench1shot1.blackbox`, registered with it)."""

from __future__ import annotations

from dataclasses import dataclass

from nasbench1shot1.registry import Registry


@dataclass
class RandomSearchConfig:
    """Random search: uniform configurations at the largest epoch budget."""

    name: str = "random_search"


@dataclass
class RegularizedEvolutionConfig:
    """Regularized evolution (Real et al., 2019), as in NAS-Bench-101 and NAS-Bench-1Shot1."""

    name: str = "regularized_evolution"
    population_size: int = 100    # members kept; the first this many queries are random
    sample_size: int = 10         # tournament size: distinct members drawn for each mutation


@dataclass
class HyperbandConfig:
    """Hyperband (Li et al., 2018) through HpBandSter: random configurations, successive
    halving."""

    name: str = "hyperband"
    eta: int = 3                  # successive halving keeps 1/eta of the configurations
    min_budget: int | None = None  # epochs; null: the benchmark's smallest epoch budget (4)
    max_budget: int | None = None  # null: the largest (108)


@dataclass
class BohbConfig(HyperbandConfig):
    """BOHB (Falkner et al., 2018) through HpBandSter; the KDE settings are HpBandSter's."""

    name: str = "bohb"
    min_points_in_model: int | None = None  # null: number of hyperparameters + 1
    top_n_percent: int = 15       # share of the observations that make the good KDE
    num_samples: int = 64         # samples drawn to optimize the acquisition
    random_fraction: float = 1 / 3  # share of configurations sampled at random
    bandwidth_factor: float = 3.0  # widens the KDE when sampling candidates
    min_bandwidth: float = 1e-3   # the KDE's smallest bandwidth


@dataclass
class TpeConfig:
    """TPE (Bergstra et al., 2011) through optuna's TPESampler (its defaults)."""

    name: str = "tpe"
    n_startup_trials: int = 10    # random configurations before the model
    n_ei_candidates: int = 24     # candidates scored by expected improvement per trial
    multivariate: bool = False    # true: a joint KDE over all hyperparameters


@dataclass
class SmacConfig:
    """SMAC3's hyperparameter-optimization facade (random forest, expected improvement)."""

    name: str = "smac"
    deterministic: bool = True    # false: SMAC re-queries promising configurations


@dataclass
class ReinforceConfig:
    """REINFORCE with independent softmax policies over the space's categorical
    hyperparameters."""

    name: str = "reinforce"
    learning_rate: float = 0.5    # of the policies' logits
    baseline_momentum: float = 0.9  # exponential moving average of the reward


#: The options of config group `optimizer` (the names of `nasbench1shot1.blackbox.OPTIMIZERS`).
OPTIMIZER_CONFIGS: Registry[type] = Registry("optimizer")
for _schema in (RandomSearchConfig, RegularizedEvolutionConfig, HyperbandConfig, BohbConfig,
                TpeConfig, SmacConfig, ReinforceConfig):
    OPTIMIZER_CONFIGS.register(_schema.name, _schema)
