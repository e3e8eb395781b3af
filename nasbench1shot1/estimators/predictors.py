"""The model-based performance predictors (family `model_based`): models fit on the benchmark's
validation accuracy of queried cells, then asked about any cell.

This module owns `Predictor` (the shared fit/score: query the training cells through the
`Context`, count their simulated training time as initialization cost, standardize the targets,
encode the cells with `encodings`, predict in chunks) and one registered entry per predictor of
conf/estimator.py `PREDICTORS`:

- `blr`: Bayesian linear regression (scikit-learn's BayesianRidge, evidence-maximised priors).
- `gp`: a Gaussian process, constant x RBF kernel plus white noise, hyperparameters by marginal
  likelihood.
- `rf`: a random forest.
- `gbt`: gradient-boosted trees (LightGBM).
- `mlp_ensemble`: BANANAS' predictor, `ensemble` feedforward networks trained together, mean
  prediction.
- `gnn`: a graph network over the padded cell DAG (one-hot op nodes, messages along and against
  the edges, readout at the output vertex), ignores `encoding`.
- `combined`: gbt on the encoding plus the scores of the zero-cost proxies named in `proxies`
  (White et al. 2021 found combining families predicts best).

Every predictor is deterministic for `Context.seed`. The hyperparameters and why they were
chosen are in each class's docstring.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from nasbench1shot1.conf.estimator import ZeroCostConfig
from nasbench1shot1.estimators.base import (
    ESTIMATORS,
    TRAIN_METRIC,
    Context,
    Estimator,
    register,
)
from nasbench1shot1.estimators.encodings import (
    NODE_CLASSES,
    OUTPUT_VERTEX,
    check_encoding,
    encode,
    graph_arrays,
)
from nasbench1shot1.nasbench import ModelSpec

logger = logging.getLogger(__name__)

#: Cells predicted at once (bounds the memory of a GP's cross-kernel on a whole space).
CHUNK = 4096


class Predictor(Estimator):
    """A model fit on (encoded cell, standardized validation accuracy) pairs; scores are
    predicted validation accuracies."""

    family = "model_based"

    def __init__(self, config, context: Context):
        super().__init__(config, context)
        check_encoding(config.encoding)
        self._target_mean = 0.0
        self._target_scale = 1.0
        self._fitted = False

    # -- what a predictor defines -------------------------------------------------------------

    def features(self, specs: Sequence[ModelSpec]) -> np.ndarray:
        """The model's inputs for `specs`: the configured encoding."""
        return encode(specs, self.config.encoding)

    def fit_model(self, features: np.ndarray, targets: np.ndarray) -> None:
        raise NotImplementedError

    def predict(self, features: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    # -- the estimator interface --------------------------------------------------------------

    def fit(self, train: Sequence[str] = ()) -> None:
        train = list(train)
        if len(train) < 2:
            raise ValueError(f"predictor {self.name} needs at least 2 training cells, "
                             f"got {len(train)}")
        values, seconds = self.context.query(train)
        missing = np.isnan(values)
        if missing.any():
            raise ValueError(f"{int(missing.sum())} of the {len(train)} training cells have no "
                             f"{TRAIN_METRIC} at {self.context.epochs} epochs in this benchmark")
        self.cost.init_simulated_seconds += seconds
        self.cost.init_queries += len(train)
        self._target_mean = float(values.mean())
        self._target_scale = float(values.std()) or 1.0
        targets = (values - self._target_mean) / self._target_scale
        self.fit_model(self.features(self.context.specs(train)), targets)
        self._fitted = True
        logger.debug("%s fit on %d cells", self.name, len(train))

    def score(self, specs: Sequence[ModelSpec]) -> np.ndarray:
        if not self._fitted:
            raise RuntimeError(f"predictor {self.name} was asked to score before fit")
        predictions = np.empty(len(specs))
        for start in range(0, len(specs), CHUNK):
            chunk = specs[start:start + CHUNK]
            predictions[start:start + len(chunk)] = self.predict(self.features(chunk))
        return predictions * self._target_scale + self._target_mean


# -- scikit-learn and LightGBM models ---------------------------------------------------------


@register("blr")
class BayesianLinearRegression(Predictor):
    """Bayesian linear regression (BayesianRidge): Gaussian weights and noise whose precisions
    are set by maximising the evidence, so no hyperparameter is tuned by hand; the fit is
    closed-form and as cheap as a linear model gets."""

    def fit_model(self, features, targets):
        from sklearn.linear_model import BayesianRidge

        self.model = BayesianRidge().fit(features, targets)

    def predict(self, features):
        return self.model.predict(features)


@register("gp")
class GaussianProcess(Predictor):
    """A Gaussian process on the encoding: constant x isotropic RBF kernel plus white noise,
    fitted by maximising the marginal likelihood. Isotropic, because a length scale per feature
    would be 364 hyperparameters to fit from as few as 20 cells. Bounds keep the fit away from
    the two degenerate optima seen on NAS-Bench-101 with 20 cells (prediction ~constant): a
    length scale of at least 1 (cells one binary feature apart stay correlated) and noise of at
    most half the (standardized) variance, so the cell explains at least as much as noise."""

    def fit_model(self, features, targets):
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.gaussian_process import GaussianProcessRegressor
        from sklearn.gaussian_process.kernels import RBF, ConstantKernel, WhiteKernel

        kernel = (ConstantKernel(1.0, (1e-2, 1e2))
                  * RBF(length_scale=np.sqrt(features.shape[1]), length_scale_bounds=(1.0, 1e3))
                  + WhiteKernel(0.1, (1e-5, 0.5)))
        self.model = GaussianProcessRegressor(kernel, random_state=self.context.seed)
        with warnings.catch_warnings():
            # a hyperparameter at its bound (common with 20 cells) is a fit, not a fault
            warnings.simplefilter("ignore", ConvergenceWarning)
            self.model.fit(features, targets)

    def predict(self, features):
        return self.model.predict(features)


@register("rf")
class RandomForest(Predictor):
    """A random forest of 200 trees, each split drawing a third of the features (Breiman's
    choice for regression, which decorrelates trees on the sparse path encoding), leaves of at
    least 2 cells against fitting single noisy accuracies."""

    def fit_model(self, features, targets):
        from sklearn.ensemble import RandomForestRegressor

        self.model = RandomForestRegressor(n_estimators=200, max_features=1 / 3,
                                           min_samples_leaf=2, n_jobs=1,
                                           random_state=self.context.seed)
        self.model.fit(features, targets)

    def predict(self, features):
        return self.model.predict(features)


def fit_boosted_trees(features: np.ndarray, targets: np.ndarray, seed: int):
    """LightGBM regression trees: 400 rounds at learning rate 0.03 on leaves of at most 15
    cells, with row and feature subsampling 0.8; a leaf needs n/50 cells (at least 2, at most
    20) so 20 training cells still grow trees while 1,000 do not fit noise. Deterministic on
    one thread for the seed."""
    import lightgbm

    model = lightgbm.LGBMRegressor(
        n_estimators=400, learning_rate=0.03, num_leaves=15,
        min_child_samples=int(np.clip(len(targets) // 50, 2, 20)), min_child_weight=1e-3,
        subsample=0.8, subsample_freq=1, colsample_bytree=0.8, reg_lambda=1.0,
        random_state=seed, deterministic=True, force_col_wise=True, n_jobs=1, verbose=-1)
    return model.fit(features, targets)


@register("gbt")
class GradientBoostedTrees(Predictor):
    """Gradient-boosted trees with LightGBM (see `fit_boosted_trees` for the settings)."""

    def fit_model(self, features, targets):
        self.model = fit_boosted_trees(features, targets, self.context.seed)

    def predict(self, features):
        return self.model.predict(features)


@register("combined")
class Combined(GradientBoostedTrees):
    """Gradient-boosted trees on the encoding plus one feature per zero-cost proxy of
    `proxies` (each made as `ESTIMATORS.create(name, ZeroCostConfig(name=name), context)`):
    the combination of families White et al. 2021 found best. The proxies' costs count here."""

    def __init__(self, config, context: Context):
        super().__init__(config, context)
        if not config.proxies:
            raise ValueError("predictor combined needs at least one zero-cost proxy in proxies")
        self.proxies = [ESTIMATORS.create(name, ZeroCostConfig(name=name), context)
                        for name in config.proxies]

    def fit(self, train: Sequence[str] = ()) -> None:
        for proxy in self.proxies:
            proxy.run_fit(train)
            self.cost.init_simulated_seconds += proxy.cost.init_simulated_seconds
            self.cost.init_queries += proxy.cost.init_queries
        super().fit(train)

    def features(self, specs):
        scores = np.stack([proxy.run_score(specs) for proxy in self.proxies], axis=1)
        # LightGBM treats NaN as missing; an overflowing proxy score is no better than that
        scores[~np.isfinite(scores)] = np.nan
        return np.concatenate([super().features(specs), scores.astype(np.float32)], axis=1)


# -- PyTorch models ---------------------------------------------------------------------------


class _EnsembleMLP(nn.Module):
    """`members` independent MLPs evaluated as one batched network: weights (members, in, out)."""

    def __init__(self, members: int, inputs: int, width: int, layers: int):
        super().__init__()
        sizes = [inputs] + [width] * layers + [1]
        self.weights = nn.ParameterList()
        self.biases = nn.ParameterList()
        for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
            bound = 1 / np.sqrt(fan_in)  # nn.Linear's initialisation, per member
            self.weights.append(nn.Parameter(
                torch.empty(members, fan_in, fan_out).uniform_(-bound, bound)))
            self.biases.append(nn.Parameter(torch.empty(members, 1, fan_out).uniform_(-bound,
                                                                                     bound)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (members, batch, inputs) or (batch, inputs) -> (members, batch)."""
        last = len(self.weights) - 1
        for i, (weight, bias) in enumerate(zip(self.weights, self.biases)):
            x = torch.matmul(x, weight) + bias
            if i < last:
                x = torch.relu(x)
        return x.squeeze(-1)


class _GraphNetwork(nn.Module):
    """Message passing on the padded cell: each layer adds to a vertex an MLP of its state, the
    sum over its predecessors and the sum over its successors; readout at the output vertex."""

    def __init__(self, hidden: int, layers: int):
        super().__init__()
        self.embed = nn.Linear(NODE_CLASSES, hidden)
        self.layers = nn.ModuleList(nn.Linear(3 * hidden, hidden) for _ in range(layers))
        self.norms = nn.ModuleList(nn.LayerNorm(hidden) for _ in range(layers))
        self.head = nn.Sequential(nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, 1))

    def forward(self, adjacency: torch.Tensor, nodes: torch.Tensor) -> torch.Tensor:
        state = self.embed(nodes)
        for layer, norm in zip(self.layers, self.norms):
            incoming = adjacency.transpose(1, 2) @ state
            outgoing = adjacency @ state
            state = norm(state + torch.relu(layer(torch.cat([state, incoming, outgoing], -1))))
        return self.head(state[:, OUTPUT_VERTEX]).squeeze(-1)


class _NeuralPredictor(Predictor):
    """Shared training of the PyTorch predictors: Adam on minibatches for `train_epochs`
    epochs, initialisation and batch order drawn from the context's seed (the global torch
    random state is left as it was); with `cosine`, the learning rate decays to 0 by a cosine
    over all the steps."""

    batch_size = 32
    learning_rate = 1e-3
    cosine = False

    def build(self, inputs: int) -> nn.Module:
        raise NotImplementedError

    def loss(self, predicted: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return nn.functional.mse_loss(predicted, targets.expand_as(predicted))

    def batches(self, cells: int, generator: torch.Generator) -> list[torch.Tensor]:
        order = torch.randperm(cells, generator=generator)
        return list(order.split(self.batch_size))

    def tensors(self, features) -> tuple[torch.Tensor, ...]:
        return (torch.as_tensor(features, device=self.context.device),)

    def forward(self, inputs: tuple[torch.Tensor, ...], rows=None) -> torch.Tensor:
        if rows is not None:
            inputs = tuple(tensor[rows] for tensor in inputs)
        return self.model(*inputs)

    def fit_model(self, features, targets):
        inputs = self.tensors(features)
        target = torch.as_tensor(targets, dtype=torch.float32, device=self.context.device)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.context.seed)
            self.model = self.build(inputs[0].shape[-1]).to(self.context.device)
        generator = torch.Generator().manual_seed(self.context.seed)
        optimizer = torch.optim.Adam(self.model.parameters(), lr=self.learning_rate)
        steps = self.config.train_epochs * -(-len(target) // self.batch_size)  # every batch
        schedule = (torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, max(1, steps))
                    if self.cosine else None)
        self.model.train()
        for _ in range(self.config.train_epochs):
            for rows in self.batches(len(target), generator):
                rows = rows.to(self.context.device)
                optimizer.zero_grad()
                self.loss(self.forward(inputs, rows), target[rows]).backward()
                optimizer.step()
                if schedule is not None:
                    schedule.step()
        self.model.eval()

    @torch.no_grad()
    def predict(self, features):
        predicted = self.forward(self.tensors(features))
        return self.reduce(predicted).double().cpu().numpy()

    def reduce(self, predicted: torch.Tensor) -> torch.Tensor:
        return predicted


@register("mlp_ensemble")
class MLPEnsemble(_NeuralPredictor):
    """BANANAS' predictor (White et al. 2021, "BANANAS"): `ensemble` feedforward networks of
    10 hidden layers of width 20, each trained with Adam (learning rate 0.01, batches of 32) on
    the mean absolute error for `train_epochs` epochs, from its own initialisation and batch
    order; the score is the ensemble mean. Use it with encoding=path as BANANAS does. The
    members are trained at once as one batched network (same result, a fifth of the steps)."""

    learning_rate = 1e-2
    width = 20
    layers = 10

    def __init__(self, config, context: Context):
        super().__init__(config, context)
        if config.ensemble < 1:
            raise ValueError(f"mlp_ensemble needs ensemble >= 1, got {config.ensemble}")

    def build(self, inputs: int) -> nn.Module:
        return _EnsembleMLP(self.config.ensemble, inputs, self.width, self.layers)

    def batches(self, cells, generator):
        # each member its own batch order: (members, cells) row indices, split into batches
        orders = torch.stack([torch.randperm(cells, generator=generator)
                              for _ in range(self.config.ensemble)])
        return list(orders.split(self.batch_size, dim=1))

    def loss(self, predicted, targets):
        return (predicted - targets).abs().mean(dim=1).sum()

    def reduce(self, predicted):
        return predicted.mean(dim=0)


@register("gnn")
class GraphNetwork(_NeuralPredictor):
    """A graph network over the cell's DAG (`_GraphNetwork`): nodes one-hot ops, 5 layers of
    width 32 so the output vertex hears every vertex of the longest path (5 inner ops), messages
    along and against the edges, residual and layer norm; mean absolute error, Adam at 1e-3
    decayed to 0 by a cosine, batches of 32. It reads the graph itself, so `encoding` is not
    used.

    Why not MSE at a constant rate (this predictor's training before): the cells that failed to
    train (accuracy about 0.1, under 1 % of NAS-Bench-101) lie 11-19 standard deviations below
    the mean and hold most of the targets' variance; once the squared loss is near zero, a batch
    holding one gives Adam a step that throws the fit back, and a late one left some seeds far
    behind (Kendall tau 0.62 against 0.82 on space 1 at 1,000 cells). The absolute error does
    not let them dominate and the decaying rate stops the late steps; the ranking improved at
    every size measured (README). The price: a failed cell's predicted value is no longer near
    its accuracy (it is ranked low, not placed at 0.1); scores are for ranking."""

    hidden = 32
    layers = 5
    cosine = True

    def loss(self, predicted, targets):
        return (predicted - targets).abs().mean()

    def features(self, specs):
        return graph_arrays(specs)

    def tensors(self, features):
        return tuple(torch.as_tensor(array, device=self.context.device) for array in features)

    def build(self, inputs: int) -> nn.Module:
        return _GraphNetwork(self.hidden, self.layers)
