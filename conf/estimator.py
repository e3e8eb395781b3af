"""The performance estimators' settings (config group `estimator` of nb1s1-estimate): one typed
schema per family, the one place its defaults are written, and the named options of the group.
The estimators themselves are in `nasbench1shot1.estimators` (registered under the same names).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from nasbench1shot1.checks import SettingsError, positive_int
from nasbench1shot1.conf.method import RANDOM_WS_SAMPLING
from nasbench1shot1.registry import Registry

#: The zero-cost proxies and the two baselines, each an option of the group.
ZERO_COST_PROXIES = ("grad_norm", "snip", "grasp", "fisher", "jacob_cov", "synflow", "naswot")
BASELINES = ("params", "flops")
#: The model-based predictors, each an option of the group.
PREDICTORS = ("blr", "gp", "rf", "gbt", "mlp_ensemble", "gnn", "combined")
#: How a model-based predictor sees a cell.
ENCODINGS = ("adjacency", "path")


@dataclass
class ZeroCostConfig:
    """A score of the untrained NAS-Bench-101 network of the cell on one mini-batch of real data
    (or its #params / #FLOPs)."""

    name: str = "synflow"
    batch_size: int = 64          # images of the one mini-batch
    # the network the cell is built into: embedded (the embedded benchmark's small network,
    # conf/build.py) or paper (NAS-Bench-101's: 128 stem channels, 3 stacks of 3 cells)
    network: str = "embedded"


@dataclass
class OneShotConfig:
    """The scores of a trained supernet (nb1s1-search's methods): one-shot validation accuracy of
    each cell with batch-norm statistics of its own."""

    name: str = "one_shot"
    method: str = "darts"         # the one-shot method that trains the supernet
    epochs: int = 10              # supernet training epochs
    bn: str = "recalibrate"       # each cell's batch-norm statistics (conf/correlation.py)
    batches: int = 4              # validation batches each cell is scored on
    calibration_batches: int = 4  # batches of the weights half that recalibrate each cell
    # more nb1s1-search overrides for the supernet's search, e.g. [supernet.channels=8]
    search: list[str] = field(default_factory=list)
    # method random_ws's sampling (method.sampling of the supernet's search): configurations
    # (uniform ops and parent sets) or cells (a unique cell uniformly by hash: de-isomorphic
    # sampling, Ning et al. 2021)
    sampling: str = "configurations"
    # K > 1 (needs method random_ws, sampling cells): K supernets, each trained on a K-th of the
    # cells (grouped by hash) in supernet/group<g>, and each cell scored by its group's; costs
    # the K trainings
    sharing_groups: int = 1

    def __post_init__(self) -> None:
        if self.sampling not in RANDOM_WS_SAMPLING:
            raise SettingsError(f"estimator.sampling must be {' or '.join(RANDOM_WS_SAMPLING)}, "
                                f"got {self.sampling!r}")
        positive_int("estimator.sharing_groups", self.sharing_groups, SettingsError)
        if self.sampling == "cells" and self.method != "random_ws":
            raise SettingsError(
                f"estimator.sampling=cells samples unique cells for method random_ws only, not "
                f"{self.method} (ENAS's controller samples each decision, the gradient methods "
                f"relax them); use estimator.method=random_ws")
        if self.sharing_groups > 1 and (self.method != "random_ws" or self.sampling != "cells"):
            raise SettingsError(
                f"estimator.sharing_groups={self.sharing_groups} trains one Random-WS supernet "
                f"per group of cells, so it needs estimator.method=random_ws and "
                f"estimator.sampling=cells, got method {self.method} and sampling "
                f"{self.sampling}")


@dataclass
class EarlyStoppingConfig:
    """The benchmark's validation accuracy at a smaller budget (early stopping)."""

    name: str = "early_stopping"
    epochs: int = 12              # the budget whose accuracy predicts (4, 12 or 36 for 108)


@dataclass
class LearningCurveConfig:
    """An extrapolation of the benchmark's validation accuracy at smaller budgets to the full
    one (a saturating curve fit per cell)."""

    name: str = "learning_curve"
    epochs: list[int] = field(default_factory=lambda: [4, 12, 36])  # the points it fits


@dataclass
class PredictorConfig:
    """A model fit on `train_size` (nb1s1-estimate) cells queried from the benchmark (their
    simulated training time is its initialization cost)."""

    name: str = "gp"
    encoding: str = "adjacency"   # adjacency (one-hot matrix and ops) or path (BANANAS)
    ensemble: int = 5             # mlp_ensemble: networks in the ensemble
    train_epochs: int = 200       # mlp_ensemble, gnn: epochs of fitting
    # combined: the zero-cost proxies whose scores are extra features
    proxies: list[str] = field(default_factory=lambda: ["synflow", "jacob_cov"])


#: What each option is, for --help.
HELP = {
    "grad_norm": "Zero-cost: the norm of the loss gradient w.r.t. the weights.",
    "snip": "Zero-cost: SNIP's connection sensitivity |w * dL/dw|, summed.",
    "grasp": "Zero-cost: GraSP's gradient signal preservation (Hessian-gradient product).",
    "fisher": "Zero-cost: the Fisher information of the activations, summed.",
    "jacob_cov": "Zero-cost: how uncorrelated the input Jacobians of a batch are (Mellor et al.).",
    "synflow": "Zero-cost: SynFlow's synaptic saliency on |w| with an all-ones input.",
    "naswot": "Zero-cost: NASWOT, the log-determinant of the ReLU codes' kernel of a batch.",
    "params": "Baseline: the network's number of trainable parameters.",
    "flops": "Baseline: the network's multiply-adds of one forward pass.",
    "one_shot": "One-shot: a trained supernet's validation accuracy of the cell.",
    "early_stopping": "Learning curve: the benchmark's validation accuracy at a smaller budget.",
    "learning_curve": "Learning curve: a power law through smaller budgets, extrapolated.",
    "blr": "Model-based: Bayesian linear regression on the cell's encoding.",
    "gp": "Model-based: a Gaussian process on the cell's encoding.",
    "rf": "Model-based: a random forest on the cell's encoding.",
    "gbt": "Model-based: gradient-boosted trees (LightGBM) on the cell's encoding.",
    "mlp_ensemble": "Model-based: BANANAS' ensemble of MLPs on the path encoding.",
    "gnn": "Model-based: a graph network over the cell's DAG.",
    "combined": "Model-based: trees on the encoding plus zero-cost scores (White et al. 2021).",
}

#: The options of config group `estimator`, by name.
ESTIMATOR_CONFIGS: Registry = Registry("estimator", sort=False)
for _name in ZERO_COST_PROXIES + BASELINES:
    ESTIMATOR_CONFIGS.register(_name, ZeroCostConfig(name=_name), help=HELP[_name])
ESTIMATOR_CONFIGS.register("one_shot", OneShotConfig(), help=HELP["one_shot"])
ESTIMATOR_CONFIGS.register("early_stopping", EarlyStoppingConfig(), help=HELP["early_stopping"])
ESTIMATOR_CONFIGS.register("learning_curve", LearningCurveConfig(), help=HELP["learning_curve"])
for _name in PREDICTORS:
    # BANANAS' MLP ensemble reads the path encoding; the others the adjacency one
    ESTIMATOR_CONFIGS.register(_name, PredictorConfig(
        name=_name, encoding="path" if _name == "mlp_ensemble" else "adjacency"),
        help=HELP[_name])
