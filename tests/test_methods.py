"""Contract of every one-shot method on every space: a step changes what it trains, discretize
gives a configuration of the space, the state round-trips; and the supernet's shapes."""

import copy

import pytest
import torch

from nasbench1shot1.config import method_defaults
from nasbench1shot1.methods import METHODS, Batch, get_method
from nasbench1shot1.models.supernet import Supernet, SupernetConfig
from nasbench1shot1.spaces import get_search_space, list_spaces

# Every registered method (a new one is tested by being registered), and DARTS unrolled.
VARIANTS = [*METHODS.list(), "darts_unrolled"]
# The defaults of conf/method/, with the cheaper Random-WS evaluation and PC-DARTS k of tests.
PARAMS = {name: method_defaults(name) for name in METHODS.list()}
PARAMS["darts_unrolled"] = {**PARAMS["darts"], "unrolled": True}
PARAMS["pc_darts"]["partial_channels"] = 2
PARAMS["random_ws"].update(eval_samples=5, eval_batches=1)


def make(variant: str, space_number: int, seed: int = 0):
    name = "darts" if variant == "darts_unrolled" else variant
    cls = get_method(name)
    space = get_search_space(space_number)
    torch.manual_seed(seed)
    config = SupernetConfig(channels=4, num_cells=3, in_channels=1,
                            partial_channels=2 if cls.partial_channels else 1)
    model = Supernet(space, config)
    method = cls(space, model, PARAMS[variant], epochs=3,
                 generator=torch.Generator().manual_seed(seed))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=3e-4)
    return space, model, method, optimizer


def batches(seed: int = 0, n: int = 16):
    g = torch.Generator().manual_seed(seed)
    images = torch.randn(n, 1, 8, 8, generator=g)
    labels = torch.randint(0, 10, (n,), generator=g)
    return Batch(images[: n // 2], labels[: n // 2]), Batch(images[n // 2:], labels[n // 2:])


def test_registry_has_the_five_methods():
    assert sorted(METHODS) == ["darts", "enas", "gdas", "pc_darts", "random_ws"]
    with pytest.raises(ValueError, match="unknown method 'nao', expected one of darts, enas"):
        get_method("nao")


@pytest.mark.parametrize("space_number", list_spaces())
@pytest.mark.parametrize("variant", VARIANTS)
def test_step_changes_weights_and_discretize_gives_a_cell(variant: str, space_number: int):
    space, model, method, optimizer = make(variant, space_number)
    before = copy.deepcopy(model.state_dict())
    arch_before = [p.detach().clone() for p in method.arch_parameters()]
    train, valid = batches()
    result = method.step(train, valid, optimizer, lr=0.05, grad_clip=5.0)
    assert result.count == 8 and result.loss > 0
    changed = [k for k, v in model.state_dict().items() if not torch.equal(v, before[k])]
    assert changed, "the supernet weights did not change"
    if arch_before:
        assert any(not torch.equal(a, b) for a, b in zip(arch_before, method.arch_parameters()))
    method.end_epoch(1, [valid])
    arch = method.discretize()
    space.validate(arch)
    assert space.to_spec(arch).valid_spec


@pytest.mark.parametrize("space_number", list_spaces())
@pytest.mark.parametrize("variant", VARIANTS)
def test_state_round_trip_continues_identically(variant: str, space_number: int):
    train, valid = batches()
    _, model_a, method_a, opt_a = make(variant, space_number)
    method_a.step(train, valid, opt_a, 0.05, 5.0)
    state = (copy.deepcopy(model_a.state_dict()), copy.deepcopy(opt_a.state_dict()),
             copy.deepcopy(method_a.state_dict()), method_a.generator.get_state())
    method_a.step(train, valid, opt_a, 0.05, 5.0)
    method_a.end_epoch(1, [valid])

    _, model_b, method_b, opt_b = make(variant, space_number, seed=1)
    model_b.load_state_dict(state[0])
    opt_b.load_state_dict(state[1])
    method_b.load_state_dict(state[2])
    method_b.generator.set_state(state[3])
    method_b.step(train, valid, opt_b, 0.05, 5.0)
    method_b.end_epoch(1, [valid])
    for key, value in model_a.state_dict().items():
        torch.testing.assert_close(model_b.state_dict()[key], value)
    assert method_a.discretize() == method_b.discretize()


def test_gdas_temperature_anneals_linearly():
    _, _, method, _ = make("gdas", 1)
    temps = []
    for epoch in range(3):
        temps.append(method.tau)
        method.end_epoch(epoch + 1, [])
    assert temps == [10.0, 5.5, 1.0]


def test_gdas_runs_one_op_per_block():
    space, _, method, _ = make("gdas", 3)
    weights = method.train_weights()
    assert weights.op_index is not None and len(weights.op_index) == space.num_choice_blocks
    assert torch.equal(weights.ops.detach().sum(-1), torch.ones(space.num_choice_blocks))
    assert set(weights.ops.detach().flatten().tolist()) <= {0.0, 1.0}


def test_hard_weights_compute_exactly_the_sampled_cell():
    space, model, method, _ = make("random_ws", 2)
    arch = space.sample(__import__("numpy").random.default_rng(0))
    weights = method.hard_weights(arch)
    for v in space.vertices_with_parent_choice:
        assert weights.parent_index[v] == arch.parents[v - 1]
        assert weights.parents[v].sum() == len(arch.parents[v - 1])


@pytest.mark.parametrize("space_number", list_spaces())
def test_supernet_output_and_bad_sizes(space_number: int):
    space = get_search_space(space_number)
    model = Supernet(space, SupernetConfig(channels=4, num_cells=3, in_channels=1, num_classes=7))
    _, _, method, _ = make("darts", space_number)
    assert model(torch.randn(2, 1, 8, 8), method.soft_weights()).shape == (2, 7)
    with pytest.raises(ValueError, match="partial_channels k=3 must divide"):
        Supernet(space, SupernetConfig(channels=4, partial_channels=3))
    with pytest.raises(ValueError, match="supernet channels must be a positive integer, got 0"):
        SupernetConfig(channels=0)
