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


@dataclass
class BananasConfig:
    """BANANAS (White et al., 2021): an ensemble of MLPs on the path encoding, fit each round on
    every query so far, picks among mutations of the best cells by independent Thompson sampling
    (or UCB). Defaults of the authors' code (naszilla/bananas) where it has one."""

    name: str = "bananas"
    initial_samples: int = 10     # distinct random cells queried before the first model
    candidates: int = 100         # distinct unqueried cells scored by the model each round
    mutate_top: int = 10          # the candidates are mutations of this many best cells
    queries_per_round: int = 10   # the best candidates by the acquisition, queried each round
    acquisition: str = "its"      # its (independent Thompson sampling) or ucb
    exploration: float = 0.5      # ucb: picks the lowest mean - exploration * sd of the error
    encoding: str = "path"        # the predictor's encoding: path (BANANAS) or adjacency
    ensemble: int = 5             # MLPs in the ensemble
    train_epochs: int = 200       # epochs of each fit


@dataclass
class PrescreenedEvolutionConfig(RegularizedEvolutionConfig):
    """Regularized evolution with a zero-cost proxy (Abdelfattah et al., 2021): the population
    starts from the best-scored of `warmup` random cells, and each child is the best-scored of
    `move_candidates` mutations of the parent. The proxy never queries the benchmark; its wall
    time is logged and written to prescreen.json, not added to the simulated time."""

    name: str = "re_prescreen"
    proxy: str = "synflow"        # a zero-cost measure of nasbench1shot1.estimators
    warmup: int = 3000            # random configurations scored to seed the population; 0: none
    move_candidates: int = 10     # mutations scored per child (the best is queried); 1: none
    data: str = "digits"          # the proxy's mini-batch: digits (embedded benchmark), cifar10
    data_root: str | None = None  # cifar10: the cifar-10-batches-py folder
    network: str = "embedded"     # the network the cell is built into: embedded or paper
    batch_size: int = 64          # images of the proxy's mini-batch
    device: str = "cpu"           # where the proxy runs (cpu, cuda, cuda:N)


#: The options of config group `optimizer` (the names of `nasbench1shot1.blackbox.OPTIMIZERS`).
OPTIMIZER_CONFIGS: Registry[type] = Registry("optimizer")
for _schema in (RandomSearchConfig, RegularizedEvolutionConfig, HyperbandConfig, BohbConfig,
                TpeConfig, SmacConfig, ReinforceConfig, BananasConfig,
                PrescreenedEvolutionConfig):
    OPTIMIZER_CONFIGS.register(_schema.name, _schema)
