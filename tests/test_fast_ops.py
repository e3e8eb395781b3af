"""The supernet's fast ops (train.fast_ops), precision and compile settings.

The fast ops compute the plain ops' function: the fused sums against the plain expressions in
float64 (values and every gradient), the channels-last batch norm against nn.BatchNorm2d on
NCHW tensors (outputs, gradients, running statistics in every mode the project uses), and whole
method steps of every method on every space against the plain path, to 1e-5 after one step.
"""

from __future__ import annotations

import dataclasses

import pytest
import torch
from torch import nn

from nasbench1shot1.checks import autocast_dtype
from nasbench1shot1.conf.search import NOT_IDENTITY, SearchSettings, TrainSettings, identity_of
from nasbench1shot1.config import method_defaults
from nasbench1shot1.methods import Batch, get_method
from nasbench1shot1.models.batchnorm import kept_state, recalibrate, use_batch_statistics
from nasbench1shot1.models.ops import ChannelsLastBatchNorm2d, ConvBnRelu, grouped_conv_bn_relu
from nasbench1shot1.models.supernet import Supernet, SupernetConfig
from nasbench1shot1.models.weighted_sum import weighted_concat, weighted_sum
from nasbench1shot1.spaces import get_search_space

METHODS = ["darts", "gdas", "pc_darts", "enas", "random_ws"]


def _channels_last(t: torch.Tensor) -> torch.Tensor:
    return t.contiguous(memory_format=torch.channels_last)


@pytest.mark.parametrize("layout", ["contiguous", "channels_last"])
def test_weighted_sum_equals_the_plain_expression_with_its_gradients(layout):
    g = torch.Generator().manual_seed(0)
    tensors = [torch.randn(2, 3, 4, 5, generator=g, dtype=torch.float64) for _ in range(3)]
    if layout == "channels_last":
        tensors = [_channels_last(t) for t in tensors]
    tensors = [t.requires_grad_() for t in tensors]
    weights = torch.rand(3, generator=g, dtype=torch.float64).requires_grad_()
    fused = weighted_sum(weights, tensors)
    plain = sum(w * t for w, t in zip(weights, tensors))
    torch.testing.assert_close(fused, plain, rtol=1e-12, atol=1e-12)
    upstream = torch.randn(fused.shape, generator=g, dtype=torch.float64)
    got = torch.autograd.grad(fused, [weights, *tensors], upstream)
    want = torch.autograd.grad(plain, [weights, *tensors], upstream)
    for a, b in zip(got, want):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)
    assert torch.autograd.gradcheck(lambda w, *t: weighted_sum(w, t), (weights, *tensors))


def test_weighted_sum_keeps_no_tensor_when_the_weights_need_no_gradient():
    tensors = [torch.randn(2, 3, 4, 4, requires_grad=True) for _ in range(2)]
    out = weighted_sum(torch.tensor([0.3, 0.7]), tensors)
    saved = out.grad_fn.saved_tensors
    assert len(saved) == 1  # the weights only: a weight step keeps no copy of its inputs
    out.sum().backward()
    torch.testing.assert_close(tensors[1].grad, torch.full_like(tensors[1], 0.7))


def test_weighted_concat_equals_the_plain_cell_output_with_its_gradients():
    g = torch.Generator().manual_seed(1)
    parts = [_channels_last(torch.randn(2, 3, 4, 4, generator=g, dtype=torch.float64))
             .requires_grad_() for _ in range(3)]
    extra = _channels_last(torch.randn(2, 9, 4, 4, generator=g, dtype=torch.float64)
                           ).requires_grad_()
    weights = torch.rand(4, generator=g, dtype=torch.float64).requires_grad_()
    fused = weighted_concat(weights, parts, extra)
    plain = torch.cat([w * p for w, p in zip(weights[1:], parts)], dim=1) + weights[0] * extra
    torch.testing.assert_close(fused, plain, rtol=1e-12, atol=1e-12)
    assert torch.autograd.gradcheck(lambda w, e, *p: weighted_concat(w, p, e),
                                    (weights, extra, *parts))
    with pytest.raises(ValueError, match="a weight for the extra tensor and one per part"):
        weighted_concat(weights[:3], parts, extra)


def _batch_norm_pair(momentum):
    plain = nn.BatchNorm2d(6, momentum=momentum)
    fast = ChannelsLastBatchNorm2d(6, momentum=momentum)
    with torch.no_grad():
        plain.weight.uniform_(0.5, 1.5)
        plain.bias.uniform_(-0.5, 0.5)
    fast.load_state_dict(plain.state_dict())
    return plain, fast


@pytest.mark.parametrize("momentum", [0.1, None])
def test_channels_last_batch_norm_equals_batch_norm_on_nchw(momentum):
    plain, fast = _batch_norm_pair(momentum)
    g = torch.Generator().manual_seed(2)
    for _ in range(3):  # the running statistics over several batches, offsets as after a ReLU
        x = torch.relu(torch.randn(16, 6, 8, 8, generator=g)) * 3 + 5
        a = x.clone().requires_grad_()
        b = _channels_last(x).requires_grad_()
        ya, yb = plain(a), fast(b)
        assert yb.is_contiguous(memory_format=torch.channels_last)
        torch.testing.assert_close(yb, ya, rtol=1e-5, atol=2e-6)
        upstream = torch.randn(ya.shape, generator=g)
        ya.backward(upstream)
        yb.backward(_channels_last(upstream))
        torch.testing.assert_close(b.grad, a.grad, rtol=1e-5, atol=2e-6)
        for name in ("weight", "bias"):
            torch.testing.assert_close(getattr(fast, name).grad, getattr(plain, name).grad,
                                       rtol=1e-5, atol=1e-5)
    for name in ("running_mean", "running_var"):
        torch.testing.assert_close(getattr(fast, name), getattr(plain, name),
                                   rtol=1e-6, atol=1e-6)
    assert int(fast.num_batches_tracked) == int(plain.num_batches_tracked) == 3
    plain.eval(), fast.eval()  # eval mode: the running statistics
    x = torch.randn(4, 6, 8, 8, generator=g)
    torch.testing.assert_close(fast(_channels_last(x)), plain(x), rtol=1e-5, atol=1e-6)


def test_channels_last_batch_norm_is_more_accurate_than_pytorchs_channels_last_kernel():
    """Why the module exists: statistics summed in float32 over the whole batch miss."""
    x = torch.relu(torch.randn(64, 16, 32, 32, generator=torch.Generator().manual_seed(3)))
    x = x * 3 + 5
    exact = nn.functional.batch_norm(x.double(), None, None, training=True)
    ours = ChannelsLastBatchNorm2d(16, affine=False)(_channels_last(x))
    native = nn.functional.batch_norm(_channels_last(x), None, None, training=True)
    ours_error = float((ours.double() - exact).abs().max())
    assert ours_error < 1e-5
    assert float((native.double() - exact).abs().max()) > 10 * ours_error


def test_grouped_projections_equal_the_blocks_one_by_one():
    """A cell's b + 1 projections of its input as one convolution: each block's output, its
    running statistics and every gradient as when the blocks run alone."""
    torch.manual_seed(0)
    blocks = [ConvBnRelu(6, width, 1, fast=True) for width in (4, 4, 12)]
    alone = [ConvBnRelu(6, width, 1, fast=True) for width in (4, 4, 12)]
    for a, b in zip(alone, blocks):
        a.load_state_dict(b.state_dict())
    for module in (*blocks, *alone):
        module.to(memory_format=torch.channels_last)
    x = _channels_last(torch.randn(8, 6, 5, 5, generator=torch.Generator().manual_seed(1)))
    xa, xb = x.clone().requires_grad_(), x.clone().requires_grad_()
    grouped = grouped_conv_bn_relu(blocks, xb)
    one_by_one = [block(xa) for block in alone]
    upstream = [torch.randn(t.shape, generator=torch.Generator().manual_seed(i))
                for i, t in enumerate(one_by_one)]
    for g, o in zip(grouped, one_by_one):
        torch.testing.assert_close(g, o, rtol=1e-5, atol=1e-6)
    sum((g * u).sum() for g, u in zip(grouped, upstream)).backward()
    sum((o * u).sum() for o, u in zip(one_by_one, upstream)).backward()
    torch.testing.assert_close(xb.grad, xa.grad, rtol=1e-5, atol=1e-6)
    for a, b in zip(alone, blocks):
        for (name, pa), pb in zip(a.named_parameters(), b.parameters()):
            scale = float(pa.grad.abs().max())  # float rounding of sums over the batch
            torch.testing.assert_close(pb.grad, pa.grad, rtol=1e-5, atol=1e-6 * scale, msg=name)
        for (name, ba), bb in zip(a.named_buffers(), b.buffers()):
            torch.testing.assert_close(bb, ba, rtol=1e-6, atol=1e-7, msg=name)
    blocks[1][1].eval()  # a batch norm in another mode: the blocks run one by one
    assert grouped_conv_bn_relu(blocks, xb) is None
    assert grouped_conv_bn_relu(blocks, x.contiguous()) is None  # NCHW: nn's kernels


def test_channels_last_batch_norm_keeps_the_scoring_modes_of_the_correlation_study():
    """recalibrate (momentum None, reset) and batch statistics (tracking off) as nn's."""
    space = get_search_space(1)
    nets = {}
    for fast in (False, True):
        torch.manual_seed(0)
        nets[fast] = Supernet(space, SupernetConfig(channels=4, num_cells=3, in_channels=1,
                                                    fast_ops=fast))
    nets[True].load_state_dict(nets[False].state_dict())
    method = get_method("darts")(space, nets[False], method_defaults("darts"), 1,
                                 torch.Generator().manual_seed(0))
    weights = method.soft_weights()
    images = [torch.randn(8, 1, 8, 8, generator=torch.Generator().manual_seed(i))
              for i in range(3)]
    for mode in ("recalibrate", "batch"):
        scores = {}
        for fast, net in nets.items():
            with kept_state(net), torch.no_grad():
                if mode == "recalibrate":
                    recalibrate(net, lambda x, net=net: net(x, weights), images)
                else:
                    use_batch_statistics(net)
                scores[fast] = net(images[0], weights)
        torch.testing.assert_close(scores[True], scores[False], rtol=1e-5, atol=1e-5)


def _one_step(name: int, space_id: int, fast: bool, precision: str = "fp32"):
    space = get_search_space(space_id)
    cls = get_method(name)
    k = method_defaults(name).get("partial_channels", 1) if cls.partial_channels else 1
    torch.manual_seed(0)
    model = Supernet(space, SupernetConfig(channels=8, num_cells=3, partial_channels=k,
                                           fast_ops=fast))
    method = cls(space, model, method_defaults(name), 5, torch.Generator().manual_seed(0),
                 precision=precision)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.025, momentum=0.9, weight_decay=3e-4)
    g = torch.Generator().manual_seed(1)
    train = Batch(torch.randn(16, 3, 32, 32, generator=g), torch.randint(0, 10, (16,),
                                                                            generator=g))
    valid = Batch(torch.randn(16, 3, 32, 32, generator=g), torch.randint(0, 10, (16,),
                                                                            generator=g))
    result = method.step(train, valid, optimizer, 0.025, 5.0)
    return model, method, result


def _largest_difference(a: dict, b: dict) -> float:
    return max((float(((a[k].detach().double() - b[k].detach().double()).abs()
                       / (1 + b[k].detach().double().abs())).max()) for k in b), default=0.0)


@pytest.mark.parametrize("name", METHODS)
@pytest.mark.parametrize("space_id", [1, 2, 3])
def test_a_fast_step_equals_a_plain_step_to_1e_5(name, space_id):
    plain_model, plain, plain_result = _one_step(name, space_id, fast=False)
    fast_model, fast, fast_result = _one_step(name, space_id, fast=True)
    assert fast_model.stem[0].weight.is_contiguous()  # the 3-channel stem stays NCHW
    assert fast_model.cells[0].blocks[0].projection[0].weight.is_contiguous(
        memory_format=torch.channels_last)
    assert _largest_difference(fast_model.state_dict(), plain_model.state_dict()) <= 1e-5
    arch = {str(i): p for i, p in enumerate(plain.arch_parameters())}
    assert _largest_difference({str(i): p for i, p in enumerate(fast.arch_parameters())},
                               arch) <= 1e-5
    assert fast_result.loss == pytest.approx(plain_result.loss, rel=1e-5)
    assert set(fast_model.state_dict()) == set(plain_model.state_dict())  # same checkpoints


def _smooth(x: torch.Tensor, inplace: bool = False) -> torch.Tensor:
    return nn.functional.softplus(x, beta=50.0)


def _average_pool(self: nn.MaxPool2d, x: torch.Tensor) -> torch.Tensor:
    return nn.functional.avg_pool2d(x, self.kernel_size, self.stride, self.padding,
                                    self.ceil_mode)


@pytest.mark.parametrize("name", ["darts", "gdas"])
def test_at_the_papers_size_a_fast_step_equals_a_plain_one_where_no_kink_can_flip(
    name, monkeypatch
):
    """At the paper's size (9 cells of 16 channels) one fp32 step of the two paths differs by
    more than 1e-5 (README, Speed): rounding flips a few dozen of ~75 million ReLU masks and some
    max-pooling winners, in either path (the plain one lies as far from float64). With the
    kinks smoothed (ReLU -> softplus, max- -> average pooling) the two compute the same step."""
    monkeypatch.setattr(nn.functional, "relu", _smooth)
    monkeypatch.setattr(torch, "relu", _smooth)
    monkeypatch.setattr(nn.MaxPool2d, "forward", _average_pool)
    space, cls = get_search_space(3), get_method(name)
    states, losses = [], []
    for fast in (False, True):
        torch.manual_seed(0)
        model = Supernet(space, SupernetConfig(fast_ops=fast))
        method = cls(space, model, method_defaults(name), 50, torch.Generator().manual_seed(0))
        optimizer = torch.optim.SGD(model.parameters(), lr=0.025, momentum=0.9,
                                    weight_decay=3e-4)
        g = torch.Generator().manual_seed(1)
        train, valid = (Batch(torch.randn(32, 3, 32, 32, generator=g),
                              torch.randint(0, 10, (32,), generator=g)) for _ in range(2))
        losses.append(method.step(train, valid, optimizer, 0.025, 5.0).loss)
        states.append(model.state_dict())
    assert _largest_difference(states[1], states[0]) <= 1e-6
    assert losses[1] == pytest.approx(losses[0], rel=1e-6)


def test_fast_supernet_weights_load_into_the_plain_supernet_and_answer_alike():
    fast_model, method, _ = _one_step("darts", 1, fast=True)
    plain = Supernet(get_search_space(1), SupernetConfig(channels=8, num_cells=3,
                                                         fast_ops=False))
    plain.load_state_dict(fast_model.state_dict())
    fast_model.eval(), plain.eval()
    x = torch.randn(4, 3, 32, 32, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        torch.testing.assert_close(fast_model(x, method.soft_weights()),
                                   plain(x, method.soft_weights()), rtol=1e-5, atol=1e-5)


@pytest.mark.skipif(not torch.backends.mkldnn.is_available()
                    or not torch.ops.mkldnn._is_mkldnn_bf16_supported(),
                    reason="this CPU has no bfloat16 support (AVX512-BF16 or AMX)")
@pytest.mark.parametrize("name", ["darts", "gdas", "enas"])
def test_bf16_steps_train_in_bfloat16_and_stay_near_fp32(name):
    model, method, result = _one_step(name, 3, fast=True, precision="bf16")
    _, _, reference = _one_step(name, 3, fast=True)
    assert method.amp_dtype is torch.bfloat16
    assert all(p.dtype == torch.float32 for p in model.parameters())  # autocast, fp32 master
    assert result.loss == pytest.approx(reference.loss, rel=0.02)


def test_precisions_a_device_cannot_run_are_one_sentence():
    with pytest.raises(ValueError, match="train.precision=fp16 needs a CUDA device"):
        autocast_dtype("fp16", torch.device("cpu"))
    assert autocast_dtype("fp32", torch.device("cpu")) is None
    with pytest.raises(Exception, match="unknown train.precision 'fp8', expected one of fp32, "
                                        "bf16, fp16"):
        TrainSettings(precision="fp8")
    with pytest.raises(Exception, match="train.fast_ops must be true or false"):
        TrainSettings(fast_ops="yes")
    from nasbench1shot1.conf.method import METHOD_CONFIGS
    from nasbench1shot1.config import SettingsError

    # refused by the settings, before a run dir is claimed
    with pytest.raises(SettingsError, match="train.precision=fp16 needs a CUDA device"):
        SearchSettings(method=METHOD_CONFIGS.get("darts")(), device="cpu",
                       train=TrainSettings(precision="fp16"))


def test_compile_uses_the_compiled_supernet_for_soft_weights_only(monkeypatch):
    calls = []

    def fake_compile(model, **kwargs):  # the plumbing, without minutes of inductor on CPU
        calls.append(model)
        compiled = torch.compile(model, backend="eager")

        def forward(*args):
            calls.append("compiled")
            return compiled(*args)
        return forward

    real_compile = torch.compile
    monkeypatch.setattr(torch, "compile", lambda model, **kw: (
        real_compile(model, **kw) if "backend" in kw else fake_compile(model, **kw)))
    space = get_search_space(1)
    model = Supernet(space, SupernetConfig(channels=4, num_cells=3, in_channels=1))
    method = get_method("gdas")(space, model, method_defaults("gdas"), 2,
                                torch.Generator().manual_seed(0), compile=True)
    assert calls == [model]
    x = torch.randn(4, 1, 8, 8)
    method.forward(x, method.soft_weights())
    assert calls[-1] == "compiled"
    before = len(calls)
    method.forward(x, method.train_weights())  # a sampled cell: the eager supernet
    assert len(calls) == before
    assert all(not k.startswith("_orig_mod") for k in model.state_dict())


def test_speed_settings_are_not_part_of_a_runs_identity():
    assert {"train.fast_ops", "train.compile"} <= set(NOT_IDENTITY)
    from nasbench1shot1.conf.method import METHOD_CONFIGS

    def settings(**train):
        return SearchSettings(method=METHOD_CONFIGS.get("darts")(),
                              train=TrainSettings(**train))

    base = settings()
    assert settings(fast_ops=False, compile=True).identity() == base.identity()
    # fp32 runs keep the identity they had before the setting (result.json says fp32)
    assert "precision" not in base.identity()["train"]
    assert base.as_dict()["train"]["precision"] == "fp32"
    assert settings(precision="bf16").identity() != base.identity()
    stored = dataclasses.replace(base).as_dict()
    stored["train"] = {**stored["train"], "fast_ops": False}
    assert identity_of(stored) == base.identity()


def test_channel_shuffle_of_a_channels_last_tensor_is_the_same_permutation_and_stays_so():
    from nasbench1shot1.models.supernet import channel_shuffle

    x = torch.randn(2, 12, 3, 4)
    shuffled = channel_shuffle(_channels_last(x), 4)
    assert torch.equal(shuffled, channel_shuffle(x, 4))
    assert shuffled.is_contiguous(memory_format=torch.channels_last)
