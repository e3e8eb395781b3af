"""The structural facts of ENAS and Random-WS under `protocol.enas` / `protocol.random_ws`:
`original` follows the original NAS-Bench-1Shot1 code, `plain` is this project's (README, protocol
table): the ENAS controller's op preference at initialisation and its attention over parents,
rewards in percent, the weight-then-controller schedule and the supernet's optimizer settings;
Random-WS's selection sizes, zero-weighted ops that still run, its gradient clip; and resuming."""

from __future__ import annotations

import copy
import dataclasses
import math
from collections import Counter

import pytest
import torch

from nasbench1shot1.conf.protocol import ProtocolConfig
from nasbench1shot1.config import method_defaults
from nasbench1shot1.methods import Batch, get_method
from nasbench1shot1.methods.enas import ORIGINAL_OP_ORDER, AttentionController
from nasbench1shot1.methods.original import OriginalSelection
from nasbench1shot1.models.supernet import Supernet, SupernetConfig
from nasbench1shot1.nasbench.spec import AVAILABLE_OPS, CONV1X1, CONV3X3, MAXPOOL3X3
from nasbench1shot1.spaces import Architecture, SearchSpace, get_search_space, list_spaces

PROTOCOLS = ("plain", "original")


def make(name: str, space_number: int, protocol: str, seed: int = 0, **params):
    """A method as tests/test_methods.py builds one (small supernet), under `protocol`."""
    space = get_search_space(space_number)
    torch.manual_seed(seed)
    model = Supernet(space, SupernetConfig(channels=4, num_cells=3, in_channels=1))
    method = get_method(name)(space, model, {**method_defaults(name), **params}, epochs=3,
                              generator=torch.Generator().manual_seed(seed),
                              protocol=ProtocolConfig(**{name: protocol}))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=3e-4)
    return space, model, method, optimizer


def batches(seed: int = 0, n: int = 8, count: int = 2) -> list[Batch]:
    g = torch.Generator().manual_seed(seed)
    return [Batch(torch.randn(n, 1, 8, 8, generator=g), torch.randint(0, 10, (n,), generator=g))
            for _ in range(count)]


def op_shares(method, cells: int = 200) -> dict[str, float]:
    counts = Counter()
    with torch.no_grad():
        for _ in range(cells):
            counts.update(method.sample_cell()[0].ops)
    total = sum(counts.values())
    return {op: counts[op] / total for op in AVAILABLE_OPS}


def clip_norms(monkeypatch) -> list[float]:
    """The max norms of every gradient clip from now on (the clip still runs)."""
    norms, clip = [], torch.nn.utils.clip_grad_norm_

    def spy(parameters, max_norm, *args, **kwargs):
        norms.append(max_norm)
        return clip(parameters, max_norm, *args, **kwargs)

    monkeypatch.setattr(torch.nn.utils, "clip_grad_norm_", spy)
    return norms


def counted_scores(monkeypatch, method) -> list[tuple[Architecture, list[Batch]]]:
    """Replace `method.score` by a cheap one that records its calls; the accuracy it returns
    is a fixed function of the cell, so the best cell is known."""
    calls = []

    def score(arch, batches):
        calls.append((arch, list(batches)))
        return (hash(arch) % 1000) / 1000

    monkeypatch.setattr(method, "score", score)
    return calls


# -- ENAS ---------------------------------------------------------------------------------


@pytest.mark.parametrize("space_number", list_spaces())
def test_enas_original_controller_prefers_maxpool_and_conv3x3(space_number: int):
    _, _, original, _ = make("enas", space_number, "original")
    # the original's op biases: learnt 10, 10, 0 and fixed 0.25, 0.25, -0.25 in its op order
    assert ORIGINAL_OP_ORDER == (MAXPOOL3X3, CONV3X3, CONV1X1)
    assert original.controller.b_soft.tolist() == [[10.0, 10.0, 0.0]]
    assert original.controller.b_soft_fixed.tolist() == [[0.25, 0.25, -0.25]]
    # so at first: p(maxpool) = p(conv3x3) ~ 0.42, p(conv1x1) ~ 0.16
    high = 0.5 * math.tanh(2.0) + 0.25
    expected = math.exp(-0.25) / (2 * math.exp(high) + math.exp(-0.25))
    shares = op_shares(original)
    assert shares[CONV1X1] == pytest.approx(expected, abs=0.06)
    assert shares[MAXPOOL3X3] > 0.35 and shares[CONV3X3] > 0.35
    _, _, plain, _ = make("enas", space_number, "plain")
    assert all(abs(share - 1 / 3) < 0.08 for share in op_shares(plain).values())


@pytest.mark.parametrize("space_number", list_spaces())
def test_enas_original_controller_attends_over_the_earlier_vertices(space_number: int):
    space, _, method, _ = make("enas", space_number, "original")
    controller = method.controller
    assert isinstance(controller, AttentionController)
    shapes = {name: tuple(p.shape) for name, p in controller.named_parameters()}
    assert shapes == {
        "encoder.weight": (4, 64), "lstm.weight_ih": (256, 64), "lstm.weight_hh": (256, 64),
        "lstm.bias_ih": (256,), "lstm.bias_hh": (256,), "w_soft.weight": (3, 64),
        "b_soft": (1, 3), "w_attn_1.weight": (64, 64), "w_attn_2.weight": (64, 64),
        "v_attn.weight": (1, 64)}
    candidates = []
    handle = controller.v_attn.register_forward_hook(
        lambda module, inputs, output: candidates.append(output.shape[0]))
    with torch.no_grad():
        arch, _, _ = method.sample_cell()
    handle.remove()
    # one attention over vertices 0..v-1 for every vertex v from 2 to the output
    assert candidates == list(range(2, space.num_vertices))
    space.validate(arch)
    _, _, plain, _ = make("enas", space_number, "plain")
    assert not hasattr(plain.controller, "v_attn")


def test_enas_rewards_are_percent_under_original():
    space, _, original, _ = make("enas", 1, "original")
    _, _, plain, _ = make("enas", 1, "plain")  # the same supernet weights (same seed)
    batch = batches(count=1)[0]
    for arch in (space.architecture_at(0), space.architecture_at(12345)):
        assert original.reward(arch, batch) == pytest.approx(100 * plain.reward(arch, batch))
    assert (original.entropy_weight, plain.entropy_weight) == (1e-4, 1e-4)


def test_enas_original_trains_weights_for_an_epoch_then_the_controller(monkeypatch):
    space, _, method, optimizer = make("enas", 1, "original")
    train, valid = batches()
    controller = copy.deepcopy(method.controller.state_dict())
    used = []
    step = optimizer.step

    def spy(*args, **kwargs):
        used.append((optimizer.param_groups[0]["lr"], optimizer.param_groups[0]["weight_decay"]))
        return step(*args, **kwargs)

    monkeypatch.setattr(optimizer, "step", spy)
    norms = clip_norms(monkeypatch)
    for _ in range(5):
        method.step(train, valid, optimizer, lr=0.05, grad_clip=5.0)
    for key, value in method.controller.state_dict().items():
        assert torch.equal(value, controller[key]), "a weight step moved the controller"
    # the cosine from the search's 0.05 to 0.001 with T_max = epochs (3), stepped per batch
    lrs = [0.001 + 0.049 * (1 + math.cos(math.pi * t / 3)) / 2 for t in range(5)]
    assert [lr for lr, _ in used] == pytest.approx(lrs)
    assert {wd for _, wd in used} == {1e-4}
    assert norms == [0.25] * 5
    # the search's own settings are back after every step
    assert (optimizer.param_groups[0]["lr"], optimizer.param_groups[0]["weight_decay"]) == (
        0.05, 3e-4)

    monkeypatch.setattr(method, "reward", lambda arch, batch: 50.0 + len(arch.ops))
    calls = counted_scores(monkeypatch, method)
    valid_batches = batches(seed=1, count=3)
    extras = method.end_epoch(1, valid_batches)
    adam = method.controller_optimizer
    assert {int(adam.state[p]["step"]) for p in method.controller.parameters()} == {300}
    assert adam.defaults["betas"] == (0.1, 0.999) and adam.defaults["eps"] == 1e-3
    assert len(norms) == 5, "the original does not clip the controller's gradients"
    # the selection: 1,000 sampled cells on one batch each, the best 5 on every batch
    sizes = [len(b) for _, b in calls]
    assert sizes == [1] * 1000 + [3] * 5
    assert [b[0] for _, b in calls[:4]] == [valid_batches[i % 3] for i in range(4)]
    finalists = [arch for arch, _ in calls[1000:]]
    assert method.discretize() == max(finalists, key=lambda a: (hash(a) % 1000))
    assert extras["sampled_best_one_shot_accuracy"] == method.best_accuracy


def test_enas_plain_alternates_steps_and_picks_the_greedy_cell(monkeypatch):
    _, _, method, optimizer = make("enas", 1, "plain")
    train, valid = batches()
    norms = clip_norms(monkeypatch)
    before = [p.detach().clone() for p in method.arch_parameters()]
    method.step(train, valid, optimizer, lr=0.05, grad_clip=5.0)
    assert any(not torch.equal(a, b) for a, b in zip(before, method.arch_parameters()))
    assert norms == [5.0, 5.0]  # the supernet (the search's clip) and the controller
    assert method.end_epoch(1, [valid]) == {}
    with torch.no_grad():
        greedy = method.sample_cell(greedy=True)[0]
    assert method.discretize() == greedy


# -- Random-WS ----------------------------------------------------------------------------


def test_random_ws_original_selection_sizes(monkeypatch):
    _, _, method, _ = make("random_ws", 1, "original")
    calls = counted_scores(monkeypatch, method)
    valid_batches = batches(seed=1, count=12)
    method.end_epoch(1, valid_batches)
    assert [len(b) for _, b in calls] == [10] * 1000 + [12] * 5
    # each sampled cell gets the next 10 batches of a cycle through the validation batches
    assert calls[1][1] == [valid_batches[(10 + j) % 12] for j in range(10)]
    scores = sorted((hash(arch) % 1000 for arch, _ in calls[:1000]), reverse=True)
    assert sorted((hash(arch) % 1000 for arch, _ in calls[1000:]), reverse=True) == scores[:5]
    assert method.discretize() == max((a for a, _ in calls[1000:]), key=lambda a: hash(a) % 1000)


def test_random_ws_plain_selection_sizes(monkeypatch):
    _, _, method, _ = make("random_ws", 1, "plain")
    calls = counted_scores(monkeypatch, method)
    valid_batches = batches(seed=1, count=12)
    method.end_epoch(1, valid_batches)
    assert [b for _, b in calls] == [valid_batches[:2]] * 100


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_random_ws_unselected_ops_run_only_under_original(protocol: str, monkeypatch):
    space, model, method, optimizer = make("random_ws", 2, protocol)
    pools = Architecture((MAXPOOL3X3,) * space.num_choice_blocks, space.architecture_at(0).parents)
    monkeypatch.setattr(SearchSpace, "sample", lambda self, rng: pools)
    norms = clip_norms(monkeypatch)
    before = copy.deepcopy(model.state_dict())
    train, valid = batches()
    method.step(train, valid, optimizer, lr=0.05, grad_clip=5.0)
    convs = [key for key in before
             if ".mixed.ops.0." in key or ".mixed.ops.1." in key]  # conv3x3, conv1x1
    running = [key for key in convs if key.endswith("running_mean")]
    weights = [key for key in convs if key.endswith("weight")]
    assert running and weights
    moved = {key: not torch.equal(before[key], model.state_dict()[key]) for key in convs}
    if protocol == "original":
        # zero-weighted ops run: batch-norm statistics move, weight decay reaches the weights
        assert all(moved[key] for key in running + weights)
        assert norms == [0.25]
    else:
        assert not any(moved.values())
        assert norms == [5.0]


# -- resuming -----------------------------------------------------------------------------


def smaller(method) -> None:
    """The original's schedule and selection, shrunk so that a test runs them in a second."""
    if method.name == "enas":
        method.original = dataclasses.replace(
            method.original, controller_steps=4, selection=OriginalSelection(6, 1, 2))
    else:
        method.original = dataclasses.replace(method.original,
                                              selection=OriginalSelection(6, 2, 2))


@pytest.mark.parametrize("name", ["enas", "random_ws"])
def test_original_state_round_trip_continues_identically(name: str):
    train, valid = batches()
    valid_batches = batches(seed=1, count=3)
    _, model_a, method_a, opt_a = make(name, 1, "original")
    smaller(method_a)
    method_a.step(train, valid, opt_a, 0.05, 5.0)
    method_a.end_epoch(1, valid_batches)
    state = (copy.deepcopy(model_a.state_dict()), copy.deepcopy(opt_a.state_dict()),
             copy.deepcopy(method_a.state_dict()), method_a.generator.get_state())
    method_a.step(train, valid, opt_a, 0.05, 5.0)
    method_a.end_epoch(2, valid_batches)

    _, model_b, method_b, opt_b = make(name, 1, "original", seed=1)
    smaller(method_b)
    model_b.load_state_dict(state[0])
    opt_b.load_state_dict(state[1])
    method_b.load_state_dict(state[2])
    method_b.generator.set_state(state[3])
    method_b.step(train, valid, opt_b, 0.05, 5.0)
    method_b.end_epoch(2, valid_batches)
    for key, value in model_a.state_dict().items():
        torch.testing.assert_close(model_b.state_dict()[key], value)
    assert method_a.discretize() == method_b.discretize()
    assert method_a.state_dict().keys() == method_b.state_dict().keys()
    if name == "enas":
        assert method_b.weight_steps == 2
