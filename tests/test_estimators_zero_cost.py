"""The zero-cost proxies and the #params / #FLOPs baselines (nasbench1shot1.estimators.zero_cost).

Each proxy of `measure` is checked on a hand-built tiny network (conv 3x3 - batch norm - ReLU -
global average pool - linear, four 4x4 images, float64) against the same quantity computed here
with plain functional code and explicit autograd (a full Hessian for grasp, a full Jacobian for
jacob_cov, Hamming distances for naswot), and synflow against its closed form on a bias-free
linear chain. The estimators are checked through a Context on digits: determinism for a seed,
#params against `count_parameters`, #FLOPs against hand counts, and the bad-input sentences.
"""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from nasbench1shot1.conf.estimator import BASELINES, ZERO_COST_PROXIES, ZeroCostConfig
from nasbench1shot1.data.registry import load_data
from nasbench1shot1.embedded import open_benchmark
from nasbench1shot1.estimators.base import ESTIMATORS, Context
from nasbench1shot1.estimators.zero_cost import (
    MEASURES,
    build_network,
    measure,
    mini_batch,
    network_config,
)
from nasbench1shot1.models.nasbench101 import NASBench101Network, count_parameters
from nasbench1shot1.nasbench import CONV1X1, CONV3X3, INPUT, MAXPOOL3X3, OUTPUT
from nasbench1shot1.nasbench.spec import ModelSpec
from nasbench1shot1.spaces import get_search_space

EPS = 1e-5
RTOL = 1e-7


class Tiny(nn.Module):
    """conv 3x3 (1 -> 2) - batch norm - ReLU - mean over positions - linear (2 -> 3)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 2, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(2, eps=EPS)
        self.relu = nn.ReLU()
        self.fc = nn.Linear(2, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.relu(self.bn(self.conv(x))).mean(dim=(2, 3)))


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(3)
    model = Tiny().double()
    with torch.no_grad():  # a batch-norm affine that is not the identity
        model.bn.weight.copy_(torch.tensor([1.5, 0.7]))
        model.bn.bias.copy_(torch.tensor([0.2, -0.1]))
    generator = torch.Generator().manual_seed(1)
    images = torch.randn(4, 1, 4, 4, generator=generator, dtype=torch.float64)
    labels = torch.tensor([0, 2, 1, 2])
    return model, images, labels


def _weights(model: Tiny) -> dict[str, torch.Tensor]:
    return {name: tensor.detach().clone() for name, tensor in model.state_dict().items()}


def _pre_bn(w: dict, x: torch.Tensor, conv: torch.Tensor) -> torch.Tensor:
    return F.conv2d(x, conv, padding=1)


def _bn_train(w: dict, h: torch.Tensor) -> torch.Tensor:
    mean = h.mean(dim=(0, 2, 3), keepdim=True)
    var = h.var(dim=(0, 2, 3), unbiased=False, keepdim=True)
    return (h - mean) / torch.sqrt(var + EPS) * w["bn.weight"].view(1, -1, 1, 1) \
        + w["bn.bias"].view(1, -1, 1, 1)


def _head(w: dict, pre_relu: torch.Tensor, fc: torch.Tensor) -> torch.Tensor:
    return F.relu(pre_relu).mean(dim=(2, 3)) @ fc.T + w["fc.bias"]


def _loss(w: dict, x: torch.Tensor, y: torch.Tensor, conv: torch.Tensor, fc: torch.Tensor):
    return F.cross_entropy(_head(w, _bn_train(w, _pre_bn(w, x, conv)), fc), y)


def _expected(name: str, model: Tiny, x: torch.Tensor, y: torch.Tensor) -> float:
    """The proxy `name` of `model` computed from scratch with functional code."""
    w = _weights(model)
    conv = w["conv.weight"].requires_grad_(True)
    fc = w["fc.weight"].requires_grad_(True)
    if name in ("grad_norm", "snip"):
        g_conv, g_fc = torch.autograd.grad(_loss(w, x, y, conv, fc), [conv, fc])
        if name == "grad_norm":
            return float(g_conv.norm() + g_fc.norm())
        return float((conv.detach() * g_conv).abs().sum() + (fc.detach() * g_fc).abs().sum())
    if name == "grasp":
        theta = torch.cat([conv.detach().flatten(), fc.detach().flatten()])

        def loss_of(vector: torch.Tensor) -> torch.Tensor:
            return _loss(w, x, y, vector[:18].view(2, 1, 3, 3), vector[18:].view(3, 2))

        gradient = torch.autograd.functional.jacobian(loss_of, theta)
        hessian = torch.autograd.functional.hessian(loss_of, theta)
        return float(-(theta * (hessian @ gradient)).sum())
    if name == "fisher":
        h = _pre_bn(w, x, conv.detach()).requires_grad_(True)
        logits = _head(w, _bn_train(w, h), fc.detach())
        g_h, g_logits = torch.autograd.grad(F.cross_entropy(logits, y), [h, logits])
        conv_channels = 0.5 * ((h.detach() * g_h).sum(dim=(2, 3)) ** 2).mean(dim=0)
        fc_channels = 0.5 * ((logits.detach() * g_logits) ** 2).mean(dim=0)
        return float(conv_channels.sum() * 9 + fc_channels.sum() * 2)  # weights per channel
    if name == "jacob_cov":
        def summed(images: torch.Tensor) -> torch.Tensor:
            return _head(w, _bn_train(w, _pre_bn(w, images, conv.detach())), fc.detach()).sum()

        jacobian = torch.autograd.functional.jacobian(summed, x).reshape(len(x), -1).numpy()
        eigenvalues = np.linalg.eigvalsh(np.corrcoef(jacobian))
        return float(-np.sum(np.log(eigenvalues + 1e-5) + 1.0 / (eigenvalues + 1e-5)))
    if name == "naswot":
        codes = (_bn_train(w, _pre_bn(w, x, conv.detach())) > 0).reshape(len(x), -1).numpy()
        units = codes.shape[1]
        kernel = np.array([[units - np.sum(a != b) for b in codes] for a in codes], float)
        return float(np.linalg.slogdet(kernel)[1])
    if name == "synflow":
        # |weights|, float64, batch norm with fresh statistics in evaluation mode, ones input
        conv_abs = conv.detach().abs().requires_grad_(True)
        fc_abs = fc.detach().abs().requires_grad_(True)
        h = F.conv2d(torch.ones(1, 1, 4, 4, dtype=torch.float64), conv_abs, padding=1)
        h = h / math.sqrt(1.0 + EPS) * w["bn.weight"].abs().view(1, -1, 1, 1) \
            + w["bn.bias"].abs().view(1, -1, 1, 1)
        out = F.relu(h).mean(dim=(2, 3)) @ fc_abs.T + w["fc.bias"].abs()
        g_conv, g_fc = torch.autograd.grad(out.sum(), [conv_abs, fc_abs])
        return float((conv_abs.detach() * g_conv).abs().sum()
                     + (fc_abs.detach() * g_fc).abs().sum())
    raise AssertionError(name)


@pytest.mark.parametrize("name", ZERO_COST_PROXIES)
def test_proxy_matches_an_independent_computation(tiny, name):
    model, images, labels = tiny
    expected = _expected(name, model, images, labels)
    alone = measure(copy.deepcopy(model), images, labels, [name])[name]
    shared = measure(copy.deepcopy(model), images, labels, MEASURES)[name]
    assert math.isfinite(expected)
    assert alone == pytest.approx(expected, rel=RTOL, abs=1e-12)
    assert shared == pytest.approx(expected, rel=RTOL, abs=1e-12)


def test_synflow_of_a_linear_chain_is_its_depth_times_its_output():
    # R(|W1|, |W2|) = 1' |W2| |W1| 1 is linear in each layer's weights, so each layer's
    # sum of w * dR/dw is R itself: synflow = 2 R.
    torch.manual_seed(0)
    chain = nn.Sequential(nn.Flatten(), nn.Linear(16, 5, bias=False), nn.ReLU(),
                          nn.Linear(5, 3, bias=False))
    w1, w2 = (chain[1].weight.detach().double().abs(), chain[3].weight.detach().double().abs())
    output = float(torch.ones(3, dtype=torch.float64) @ w2 @ w1 @ torch.ones(16,
                                                                               dtype=torch.float64))
    images = torch.randn(4, 1, 4, 4)
    value = measure(chain, images, torch.zeros(4, dtype=torch.long), ["synflow"])["synflow"]
    assert value == pytest.approx(2 * output, rel=1e-10)


# -- the estimators, through a Context on digits -------------------------------------------------

CONV1X1_CELL = ModelSpec([[0, 1, 0], [0, 0, 1], [0, 0, 0]], [INPUT, CONV1X1, OUTPUT])
CONV3X3_CELL = ModelSpec([[0, 1, 0], [0, 0, 1], [0, 0, 0]], [INPUT, CONV3X3, OUTPUT])
# Embedded network on 8x8 digits: stem 3x3 1->8 at 8x8; stack 1 (8 channels, 8x8): the 1x1
# projection of the input and the op; 2x2 pooling; stack 2 (16 channels, 4x4): the projection
# 8->16 and the op; linear 16->10.
HAND_FLOPS = {
    "conv1x1": 64 * 8 * 9 + 64 * 8 * 8 + 64 * 8 * 8 + 16 * 16 * 8 + 16 * 16 * 16 + 16 * 10,
    "conv3x3": 64 * 8 * 9 + 64 * 8 * 8 + 64 * 8 * 72 + 16 * 16 * 8 + 16 * 16 * 144 + 16 * 10,
}
INVALID_CELL = ModelSpec([[0, 1, 0, 0], [0, 0, 0, 0], [0, 0, 0, 1], [0, 0, 0, 0]],
                         [INPUT, CONV3X3, MAXPOOL3X3, OUTPUT])


@pytest.fixture(scope="module")
def context():
    data = load_data("digits")
    return Context(benchmark=open_benchmark("embedded"), epochs=5, seed=0,
                   space=get_search_space(1), load_data=lambda: data)


@pytest.fixture(scope="module")
def cells(context):
    from nasbench1shot1.spaces import cell_architectures

    architectures = list(cell_architectures(context.space).values())
    return [context.space.to_spec(architectures[i]) for i in (0, 500, 2000)]


def _estimator(name: str, context: Context, **settings):
    return ESTIMATORS.get(name)(ZeroCostConfig(name=name, batch_size=8, **settings), context)


def test_every_measure_is_registered_in_its_family():
    for name in ZERO_COST_PROXIES:
        assert ESTIMATORS.get(name).family == "zero_cost"
    for name in BASELINES:
        assert ESTIMATORS.get(name).family == "baseline"


@pytest.mark.parametrize("name", MEASURES)
def test_scores_are_deterministic_for_a_seed(context, cells, name):
    first = _estimator(name, context).run_score(cells)
    again = _estimator(name, context).run_score(cells)
    assert first.shape == (len(cells),)
    assert np.isfinite(first).all()
    np.testing.assert_allclose(again, first, rtol=1e-9)


def test_another_seed_draws_another_network_and_batch(context, cells):
    other = Context(benchmark=context.benchmark, epochs=5, seed=1, space=context.space,
                    load_data=context.load_data)
    state = torch.get_rng_state()
    first = _estimator("grad_norm", context).run_score(cells)
    assert torch.equal(torch.get_rng_state(), state)
    assert not np.allclose(_estimator("grad_norm", other).run_score(cells), first)


def test_scores_are_the_measures_of_the_seeded_network_and_batch(context, cells):
    data = context.data()
    config = network_config("embedded", data.in_channels, data.num_classes)
    images, labels = mini_batch(data.train.images, data.train.labels, 8, seed=0)
    expected = measure(build_network(cells[1], config, seed=0), images, labels, MEASURES)
    for name in MEASURES:
        score = _estimator(name, context).run_score(cells[1:2])
        assert score[0] == pytest.approx(expected[name], rel=1e-6)


def test_params_is_count_parameters(context, cells):
    data = context.data()
    for network in ("embedded", "paper"):
        config = network_config(network, data.in_channels, data.num_classes)
        expected = [count_parameters(NASBench101Network(spec, config)) for spec in cells]
        scores = _estimator("params", context, network=network).run_score(cells)
        np.testing.assert_array_equal(scores, expected)


@pytest.mark.parametrize("cell", ["conv1x1", "conv3x3"])
def test_flops_is_the_hand_count(context, cell):
    spec = CONV1X1_CELL if cell == "conv1x1" else CONV3X3_CELL
    assert _estimator("flops", context).run_score([spec])[0] == HAND_FLOPS[cell]
    # the same count from the shared pass of all measures
    data = context.data()
    config = network_config("embedded", data.in_channels, data.num_classes)
    images, labels = mini_batch(data.train.images, data.train.labels, 4, seed=0)
    assert measure(build_network(spec, config, 0), images, labels, MEASURES)["flops"] == \
        HAND_FLOPS[cell]


def test_a_cell_the_network_cannot_build_is_one_sentence(context, cells):
    with pytest.raises(ValueError, match=r"synflow cannot build the network of cell 1, "
                                         r"ModelSpec\(.*\): its output is not reachable"):
        _estimator("synflow", context).run_score([cells[0], INVALID_CELL])


@pytest.mark.parametrize("settings, message", [
    ({"network": "huge"}, "unknown zero-cost network 'huge', expected one of embedded, paper"),
    ({"batch_size": 0}, "zero-cost batch_size 0 must be a positive integer"),
])
def test_bad_settings_are_one_sentence(context, settings, message):
    with pytest.raises(ValueError, match=message):
        ESTIMATORS.get("snip")(ZeroCostConfig(name="snip", **settings), context)


def test_a_batch_larger_than_the_data_is_one_sentence(context):
    with pytest.raises(ValueError, match="batch_size 5000 must be between 1 and the 1000"):
        ESTIMATORS.get("snip")(ZeroCostConfig(name="snip", batch_size=5000),
                               context).run_score([CONV1X1_CELL])


def test_an_unknown_measure_or_a_cell_that_is_not_a_spec_is_one_sentence(tiny, context):
    model, images, labels = tiny
    with pytest.raises(ValueError, match="unknown zero-cost measure 'zen', expected one of "
                                         "grad_norm, snip"):
        measure(copy.deepcopy(model), images, labels, ["snip", "zen"])
    with pytest.raises(ValueError, match="zero-cost snip: cell 0 is a str, expected a ModelSpec"):
        _estimator("snip", context).run_score(["0" * 32])
