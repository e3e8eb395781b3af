"""The zero-cost proxies and the #params / #FLOPs baselines, each a registered estimator.

This module owns how a cell is scored without training: the untrained NAS-Bench-101 network of
the cell (`network_config`, `build_network`: the embedded benchmark's small network or the
paper's), its deterministic initialization from the context's seed, the one mini-batch of
training images every cell sees (`mini_batch`), the proxies computed on a built network from
shared passes (`measure`), the loop over cells (`score_cells`) and one `Estimator` per proxy.

The definitions are those of Abdelfattah et al. 2021 ("Zero-Cost Proxies for Lightweight NAS",
their `foresight` code): a proxy is a sum over the network's convolution and linear layers of
per-weight saliencies, with the batch-norm layers in training mode (batch statistics) and the
cross-entropy loss of the mini-batch.

- grad_norm: sum over layers of the L2 norm of the loss gradient of the layer's weights.
- snip: sum of |w * dL/dw| (the gradient of the loss with respect to a multiplicative mask).
- grasp: sum of -w * (H g), H the Hessian of the loss and g its gradient, both over the weights.
- fisher: per output channel of each layer, 0.5 * the batch mean of (sum over positions of
  activation * dL/dactivation)^2, the activation being the layer's output; each channel's value
  counts once per weight of that channel (as foresight broadcasts it), summed.
- jacob_cov: from the Jacobian J of the summed network outputs with respect to the input images
  (Mellor et al.'s first version), -sum(log(v + k) + 1 / (v + k)) over the eigenvalues v of the
  correlation matrix of J's rows, k = 1e-5.
- synflow: on a double-precision copy of the weights made positive (|w|), an all-ones input of
  one image, R the sum of the outputs: sum of |w * dR/dw|. Batch norm runs in evaluation mode
  with fresh statistics (mean 0, variance 1), i.e. it only scales by 1/sqrt(1 + eps): defined
  for one constant image, and equal to foresight's network without batch norm up to that factor.
- naswot: Mellor et al. 2021: the binary code of every ReLU's input for each image; K = the
  number of units minus the Hamming distances between the images' codes; log |det K|.
- params: trainable parameters (`count_parameters`, batch-norm statistics excluded).
- flops: multiply-adds of the convolutions and the linear layer for one image of the data's size.

All of them are "higher = predicted better" by their design; none is negated (on NAS-Bench-101,
Abdelfattah et al. report negative rank correlations for grad_norm, snip and fisher: that is
their finding, not a sign convention). A cell whose Jacobian rows are constant gets NaN for
jacob_cov, as in foresight; naswot is -inf when two images share every code.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from nasbench1shot1.conf.build import BuildNetworkConfig
from nasbench1shot1.conf.cell import NetworkConfig
from nasbench1shot1.conf.estimator import BASELINES, ZERO_COST_PROXIES, ZeroCostConfig
from nasbench1shot1.estimators.base import Context, Estimator, register
from nasbench1shot1.models.nasbench101 import NASBench101Network, count_parameters
from nasbench1shot1.nasbench.spec import ModelSpec

log = logging.getLogger(__name__)

#: Everything `measure` computes: the proxies, then the baselines.
MEASURES = ZERO_COST_PROXIES + BASELINES
#: The networks a cell is built into: the embedded benchmark's (conf/build.py) or the paper's.
NETWORKS = ("embedded", "paper")
#: The layers whose weights the saliency proxies sum over (as foresight).
PRUNABLE = (nn.Conv2d, nn.Linear)
#: jacob_cov's regularizer of the eigenvalues.
JACOB_COV_K = 1e-5

# The measures read from the one forward pass on the mini-batch, and those that need the loss.
_BATCH_MEASURES = frozenset({"grad_norm", "snip", "grasp", "fisher", "jacob_cov", "naswot"})
_LOSS_MEASURES = frozenset({"grad_norm", "snip", "grasp", "fisher"})


def network_config(network: str, in_channels: int, num_classes: int) -> NetworkConfig:
    """The sizes of the network a cell is built into, for data of `in_channels` and
    `num_classes`: `embedded` (conf/build.py's small network) or `paper` (NAS-Bench-101's)."""
    if network == "embedded":
        return NetworkConfig(**asdict(BuildNetworkConfig()), in_channels=in_channels,
                             num_classes=num_classes)
    if network == "paper":
        return NetworkConfig(in_channels=in_channels, num_classes=num_classes)
    raise ValueError(f"unknown zero-cost network {network!r}, expected one of "
                     f"{', '.join(NETWORKS)}")


def mini_batch(images: torch.Tensor, labels: torch.Tensor, batch_size: int,
               seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """`batch_size` images and their labels drawn without replacement by `seed`."""
    if not 1 <= batch_size <= len(labels):
        raise ValueError(f"zero-cost batch_size {batch_size} must be between 1 and the "
                         f"{len(labels)} training images")
    order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(seed))
    index = order[:batch_size]
    return images[index], labels[index]


def build_network(spec: ModelSpec, config: NetworkConfig, seed: int) -> NASBench101Network:
    """The untrained network of `spec`, initialized from `seed` (the global RNG is left as it
    was)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return NASBench101Network(spec, config)


def _prunable(network: nn.Module) -> list[nn.Module]:
    return [layer for layer in network.modules() if isinstance(layer, PRUNABLE)]


def _total(tensors: Iterable[torch.Tensor]) -> float:
    return float(sum(tensors))


def jacob_cov_score(jacobian: torch.Tensor) -> float:
    """jacob_cov of a (batch, ...) Jacobian; NaN when a row is constant (no correlation)."""
    correlations = torch.corrcoef(jacobian.reshape(len(jacobian), -1).double().cpu())
    if not torch.isfinite(correlations).all():
        return float("nan")
    shifted = torch.linalg.eigvalsh(correlations) + JACOB_COV_K
    return float(-(shifted.log() + 1.0 / shifted).sum())


def relu_kernel(relu_input: torch.Tensor) -> torch.Tensor:
    """One ReLU layer's part of naswot's kernel: for each pair of images, the units whose codes
    (input > 0) agree, i.e. units - Hamming distance; float64 (batch, batch)."""
    code = (relu_input.detach() > 0).flatten(1).float()
    return (code @ code.T + (1.0 - code) @ (1.0 - code).T).double()


def naswot_score(kernels: Sequence[torch.Tensor]) -> float:
    """log |det K|, K the sum of the ReLU layers' kernels (`relu_kernel`)."""
    if not kernels:
        raise ValueError("naswot needs a network with ReLU layers")
    return float(torch.linalg.slogdet(sum(kernels).cpu())[1])


def _batch_measures(network: nn.Module, images: torch.Tensor, labels: torch.Tensor,
                    names: frozenset[str]) -> dict[str, float]:
    """The measures of one forward pass of the mini-batch in training mode and its backward
    passes (flops from the same pass when asked)."""
    network.train()
    layers = _prunable(network)
    weights = [layer.weight for layer in layers]
    outputs: list[tuple[nn.Module, torch.Tensor]] = []
    kernels: list[torch.Tensor] = []
    hooks = []
    if names & {"fisher", "flops"}:
        hooks += [layer.register_forward_hook(lambda m, _i, out: outputs.append((m, out)))
                  for layer in layers]
    if "naswot" in names:
        hooks += [module.register_forward_hook(
            lambda _m, inputs, _o: kernels.append(relu_kernel(inputs[0])))
            for module in network.modules() if isinstance(module, nn.ReLU)]
    inputs = images.detach().requires_grad_("jacob_cov" in names)
    try:
        logits = network(inputs)
    finally:
        for hook in hooks:
            hook.remove()
    results: dict[str, float] = {}
    if "flops" in names:
        results["flops"] = _flops(outputs)
    if "naswot" in names:
        results["naswot"] = naswot_score(kernels)
    if names & _LOSS_MEASURES:
        loss = F.cross_entropy(logits, labels)
        activations = [out for _, out in outputs] if "fisher" in names else []
        grads = torch.autograd.grad(loss, weights + activations, retain_graph=True,
                                    create_graph="grasp" in names, allow_unused=True)
        weight_grads = [torch.zeros_like(w) if g is None else g
                        for w, g in zip(weights, grads[:len(weights)])]
        if "grad_norm" in names:
            results["grad_norm"] = _total(g.detach().norm() for g in weight_grads)
        if "snip" in names:
            results["snip"] = _total((w.detach() * g.detach()).abs().sum()
                                     for w, g in zip(weights, weight_grads))
        if "fisher" in names:
            results["fisher"] = _total(
                _fisher_of_layer(layer, act.detach(), grad.detach())
                for (layer, _), act, grad in zip(outputs, activations, grads[len(weights):])
                if grad is not None)
        if "grasp" in names:
            z = sum((g.detach() * g).sum() for g in weight_grads if g.requires_grad)
            hessian_grads = torch.autograd.grad(z, weights, retain_graph=True, allow_unused=True)
            results["grasp"] = _total((-w.detach() * hg).sum()
                                      for w, hg in zip(weights, hessian_grads) if hg is not None)
    if "jacob_cov" in names:
        (jacobian,) = torch.autograd.grad(logits.sum(), inputs)
        results["jacob_cov"] = jacob_cov_score(jacobian)
    return results


def _flops(outputs: Sequence[tuple[nn.Module, torch.Tensor]]) -> float:
    """Multiply-adds for one image of the (layer, output) pairs of a forward pass: each output
    element costs one per weight of its output channel."""
    return float(sum(out[0].numel() * layer.weight[0].numel() for layer, out in outputs))


def _flops_alone(network: nn.Module, image: torch.Tensor) -> float:
    """#FLOPs from a forward pass of one image in evaluation mode (no other measure asked)."""
    network.eval()
    outputs: list[tuple[nn.Module, torch.Tensor]] = []
    hooks = [layer.register_forward_hook(lambda m, _i, out: outputs.append((m, out)))
             for layer in _prunable(network)]
    try:
        with torch.no_grad():
            network(image)
    finally:
        for hook in hooks:
            hook.remove()
    return _flops(outputs)


def _fisher_of_layer(layer: nn.Module, act: torch.Tensor, grad: torch.Tensor) -> torch.Tensor:
    per_image = (act * grad).sum(dim=tuple(range(2, act.dim()))) if act.dim() > 2 else act * grad
    per_channel = 0.5 * per_image.pow(2).mean(dim=0)
    return per_channel.abs().sum() * layer.weight[0].numel()


def _synflow(network: nn.Module, input_shape: Sequence[int], device: torch.device) -> float:
    """synflow; turns the network to float64 with positive weights (call it last)."""
    network.double().eval()
    with torch.no_grad():
        for module in network.modules():
            if isinstance(module, _BatchNorm):
                module.reset_running_stats()
        for tensor in network.state_dict().values():
            if tensor.is_floating_point():
                tensor.abs_()
    weights = [layer.weight for layer in _prunable(network)]
    ones = torch.ones((1, *input_shape), dtype=torch.float64, device=device)
    grads = torch.autograd.grad(network(ones).sum(), weights, allow_unused=True)
    return _total((w.detach() * g).abs().sum() for w, g in zip(weights, grads) if g is not None)


def measure(network: nn.Module, images: torch.Tensor, labels: torch.Tensor,
            names: Iterable[str]) -> dict[str, float]:
    """The measures `names` (of `MEASURES`) of an untrained `network` on one mini-batch, from
    shared passes: one forward pass in training mode and its backward passes, then synflow's
    pass, which leaves the network in float64 with positive weights."""
    names = frozenset(_checked_names(names))
    results: dict[str, float] = {}
    if "params" in names:
        results["params"] = float(count_parameters(network))
    if names & _BATCH_MEASURES:
        results.update(_batch_measures(network, images, labels, names))
    elif "flops" in names:
        results["flops"] = _flops_alone(network, images[:1])
    if "synflow" in names:
        results["synflow"] = _synflow(network, images.shape[1:], images.device)
    return results


def _checked_names(names: Iterable[str]) -> list[str]:
    names = list(dict.fromkeys(names))
    unknown = [name for name in names if name not in MEASURES]
    if unknown:
        raise ValueError(f"unknown zero-cost measure {unknown[0]!r}, expected one of "
                         f"{', '.join(MEASURES)}")
    return names


def _check_cells(specs: Sequence[ModelSpec], names: Sequence[str]) -> None:
    for index, spec in enumerate(specs):
        if not isinstance(spec, ModelSpec):
            raise ValueError(f"zero-cost {', '.join(names)}: cell {index} is a "
                             f"{type(spec).__name__}, expected a ModelSpec")
        if not spec.valid_spec:
            raise ValueError(f"zero-cost {', '.join(names)} cannot build the network of cell "
                             f"{index}, {spec!r}: its output is not reachable from its input")


def score_cells(specs: Sequence[ModelSpec], names: Sequence[str], network: str,
                batch_size: int, context: Context) -> dict[str, np.ndarray]:
    """The measures `names` of every cell: each built into `network` (see `network_config`)
    and initialized from `context.seed`, on the same `batch_size` training images drawn with
    `context.seed`, on `context.device`. Every cell is checked before any is scored."""
    names = _checked_names(names)
    _check_cells(specs, names)
    data = context.data()
    config = network_config(network, data.in_channels, data.num_classes)
    device = torch.device(context.device)
    images, labels = mini_batch(data.train.images, data.train.labels, batch_size, context.seed)
    images, labels = images.to(device), labels.to(device)
    scores = {name: np.empty(len(specs)) for name in names}
    started = time.perf_counter()
    for index, spec in enumerate(specs):
        try:
            model = build_network(spec, config, context.seed).to(device)
        except ValueError as error:
            raise ValueError(f"zero-cost {', '.join(names)} cannot build the network of cell "
                             f"{index}, {spec!r}: {error}") from None
        for name, value in measure(model, images, labels, names).items():
            scores[name][index] = value
    log.debug("zero-cost %s of %d cells (%s network, batch %d) in %.1f s", ", ".join(names),
             len(specs), network, batch_size, time.perf_counter() - started)
    return scores


class ZeroCostEstimator(Estimator):
    """One measure of `MEASURES` (the class's registered name) of the untrained network; the
    settings are a `conf.estimator.ZeroCostConfig` (batch_size, network)."""

    family = "zero_cost"

    def __init__(self, config: ZeroCostConfig, context: Context):
        super().__init__(config, context)
        if config.network not in NETWORKS:
            raise ValueError(f"unknown zero-cost network {config.network!r}, expected one of "
                             f"{', '.join(NETWORKS)}")
        if isinstance(config.batch_size, bool) or not (
                isinstance(config.batch_size, int) and config.batch_size >= 1):
            raise ValueError(f"zero-cost batch_size {config.batch_size!r} must be a positive "
                             f"integer")

    def score(self, specs: Sequence[ModelSpec]) -> np.ndarray:
        return score_cells(specs, [self.name], self.config.network, self.config.batch_size,
                           self.context)[self.name]


@register("grad_norm")
class GradNorm(ZeroCostEstimator):
    """Sum over layers of the L2 norm of the weights' loss gradient."""


@register("snip")
class Snip(ZeroCostEstimator):
    """SNIP (Lee et al. 2019): sum of |w * dL/dw|."""


@register("grasp")
class Grasp(ZeroCostEstimator):
    """GraSP (Wang et al. 2020): sum of -w * (Hessian-gradient product)."""


@register("fisher")
class Fisher(ZeroCostEstimator):
    """Fisher (Theis et al. 2018; Turner et al. 2020) of the layers' output activations."""


@register("jacob_cov")
class JacobCov(ZeroCostEstimator):
    """Correlation of the input Jacobians of the images (Mellor et al., first version)."""


@register("synflow")
class Synflow(ZeroCostEstimator):
    """SynFlow (Tanaka et al. 2020): sum of |w * dR/dw| on |w|, an all-ones input, float64."""


@register("naswot")
class Naswot(ZeroCostEstimator):
    """NASWOT (Mellor et al. 2021): log-determinant of the ReLU-code kernel."""


@register("params")
class Params(ZeroCostEstimator):
    """#params: trainable parameters of the network."""

    family = "baseline"


@register("flops")
class Flops(ZeroCostEstimator):
    """#FLOPs: multiply-adds of one forward pass of one image."""

    family = "baseline"
