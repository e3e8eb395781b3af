"""A step computes only the gradients it uses (the architecture step those of the architecture
weights, the weight step those of the supernet weights), and its updates are those of a step
that computes every gradient (`backward` through both). Under fp16's loss scaling (an enabled
CPU gradient scaler stands in for CUDA's) every method's step updates as without it, and one
whose gradients overflow is skipped."""

from collections import Counter

import pytest
import torch

from nasbench1shot1.config import compose, settings_from
from nasbench1shot1.methods.base import detached
from nasbench1shot1.search import build_search

SMALL = ["logger=none", "supernet.channels=4", "supernet.num_cells=3", "device=cpu",
         "train.epochs=2", "threads=1"]


def _search(method: str, *overrides: str):
    return build_search(settings_from(compose("search", [f"method={method}", *SMALL,
                                                          *overrides])), echo=False)


def _every_gradient_step(search, train, valid, lr, grad_clip):
    """A DARTS-family step the plain way: `backward` of the architecture loss (the supernet
    weights get gradients too, then thrown away) and of the weight loss (the architecture
    weights get gradients too)."""
    method = search.method
    method.arch_optimizer.zero_grad(set_to_none=True)
    method.arch_loss(valid).backward()
    method.arch_optimizer.step()
    arch = method.train_weights()
    method.model.train()
    loss = method.loss_fn(method.forward(train.images, arch), train.labels)
    search.optimizer.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(method.model.parameters(), grad_clip)
    search.optimizer.step()


@pytest.mark.parametrize("method", ["darts", "gdas", "pc_darts"])
def test_a_step_computes_only_the_gradients_it_uses_and_updates_as_before(method: str):
    lean, plain = _search(method), _search(method)
    for a, b in zip(lean.model.parameters(), plain.model.parameters()):
        assert torch.equal(a, b)  # the same start, by the seed
    train, valid = lean.weight_batches()[0], lean.arch_batches()[0]
    # the same draws from the plain search's generator, which GDAS samples from next
    assert torch.equal(plain.weight_batches()[0].labels, train.labels)
    assert torch.equal(plain.arch_batches()[0].labels, valid.labels)
    lr, clip = 0.025, 5.0

    computed: Counter = Counter()
    arch_params = lean.method.arch_parameters()
    named = [("weights", i, p) for i, p in enumerate(lean.model.parameters())] + \
        [("arch", i, a) for i, a in enumerate(arch_params)]
    hooks = [p.register_hook(lambda g, key=(kind, i): computed.update([key]))
             for kind, i, p in named]
    lean.method.step(train, valid, lean.optimizer, lr, clip)
    for hook in hooks:
        hook.remove()
    # the architecture step computed architecture gradients only and the weight step weight
    # gradients only: every gradient was computed once (the plain way: twice)
    assert {kind for kind, _ in computed} == {"weights", "arch"}
    assert max(computed.values()) == 1, computed.most_common(3)

    _every_gradient_step(plain, train, valid, lr, clip)
    for a, b in zip(lean.method.arch_parameters(), plain.method.arch_parameters()):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    for a, b in zip(lean.model.parameters(), plain.model.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_the_weight_step_leaves_the_architecture_weights_without_gradient():
    search = _search("darts")
    method = search.method
    for a in method.arch_parameters():
        a.grad = None
    arch = method.train_weights()
    method.weight_step(search.weight_batches()[0], arch, search.optimizer, 5.0)
    assert all(a.grad is None for a in method.arch_parameters())
    assert any(p.grad is not None for p in method.model.parameters())
    cut = detached(arch)
    assert not cut.ops.requires_grad and arch.ops.requires_grad
    assert torch.equal(cut.ops, arch.ops)


def _scaled(search, init_scale: float):
    """fp16's loss scaling (CUDA only) on this CPU: an enabled gradient scaler stands in."""
    search.method.scaler = torch.amp.GradScaler("cpu", init_scale=init_scale,
                                                growth_interval=1000)
    return search


def _state(search, arch: bool = True) -> list[torch.Tensor]:
    return [p.detach().clone() for p in [*search.model.parameters(),
                                         *(search.method.arch_parameters() if arch else [])]]


@pytest.mark.parametrize("method", ["darts", "gdas", "pc_darts", "enas", "random_ws"])
def test_loss_scaling_leaves_a_step_as_it_was_and_skips_one_that_overflows(method: str):
    """Every method's step under fp16's gradient scaler: a power-of-two loss scale changes no
    update (each gradient is unscaled before clipping and stepping), and a step whose scaled
    gradients overflow changes no weight and halves the scale, as on a GPU."""
    scaled, plain = _scaled(_search(method), 2.0 ** 12), _search(method)
    train, valid = scaled.weight_batches()[0], scaled.arch_batches()[0]
    assert torch.equal(plain.weight_batches()[0].labels, train.labels)
    assert torch.equal(plain.arch_batches()[0].labels, valid.labels)
    for search in (scaled, plain):
        search.method.step(train, valid, search.optimizer, 0.025, 5.0)
    assert scaled.method.scaler.get_scale() == 2.0 ** 12  # no overflow, no growth yet
    for a, b in zip(_state(scaled), _state(plain)):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)

    # an overflow (as fp16 activations overflow): gradients that are not finite
    overflowing = _scaled(_search(method), 2.0 ** 12)
    train, valid = overflowing.weight_batches()[0], overflowing.arch_batches()[0]
    for batch in (train, valid):
        batch.images = batch.images.clone()
        batch.images[0, 0, 0, 0] = float("inf")
    # (ENAS's architecture is its controller, trained on a reward, not on scaled gradients)
    before = _state(overflowing, arch=method != "enas")
    overflowing.method.step(train, valid, overflowing.optimizer, 0.025, 5.0)
    assert all(torch.equal(a, b) for a, b in zip(_state(overflowing, method != "enas"), before))
    assert overflowing.method.scaler.get_scale() == 2.0 ** 11
