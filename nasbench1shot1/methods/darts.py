"""DARTS (Liu et al., 2019): softmax-relaxed ops and parents, architecture weights trained by
Adam on the architecture half of the data; first order, or second order (unrolled: the
architecture gradient through one virtual SGD step of the weights, its Hessian-vector product
by central finite differences, as the DARTS paper does it)."""

from __future__ import annotations

import torch

from nasbench1shot1.checks import second_order_precision
from nasbench1shot1.methods.base import Batch, OneShotMethod, arch_gradients, register


@register("darts")
class DARTS(OneShotMethod):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        second_order_precision(self.precision, self.cfg.get("unrolled", False))
        self.arch_optimizer = torch.optim.Adam(
            self.arch_parameters(), lr=self.cfg["arch_learning_rate"],
            betas=tuple(self.cfg["arch_betas"]), weight_decay=self.cfg["arch_weight_decay"],
        )

    def train_weights(self):
        """Architecture weights used for the weight step and the architecture loss."""
        return self.soft_weights()

    def arch_loss(self, batch: Batch) -> torch.Tensor:
        self.model.train()
        return self.loss_fn(self.forward(batch.images, self.train_weights()), batch.labels)

    def step(self, train: Batch, valid: Batch, optimizer, lr: float, grad_clip: float):
        if self.cfg.get("unrolled", False):
            self._unrolled_arch_step(train, valid, optimizer, lr)
        else:
            arch_gradients(self.scaler.scale(self.arch_loss(valid)), self.arch_parameters())
            self.scaler.unscale_(self.arch_optimizer)
            self.clip_arch_gradients(grad_clip)
            self.scaler.step(self.arch_optimizer)
        return self.weight_step(train, self.train_weights(), optimizer, grad_clip)

    def clip_arch_gradients(self, grad_clip: float) -> None:
        """Before the architecture update: DARTS leaves the gradients as they are."""

    def _unrolled_arch_step(self, train: Batch, valid: Batch, optimizer, lr: float) -> None:
        self.model.train()
        params = [p for p in self.model.parameters() if p.requires_grad]
        buffers = [b.clone() for b in self.model.buffers()]
        originals = [p.detach().clone() for p in params]
        group = optimizer.param_groups[0]
        momentum, decay = group.get("momentum", 0.0), group.get("weight_decay", 0.0)
        # virtual step w' = w - lr * (momentum buffer + grad + weight decay), as DARTS
        loss = self.loss_fn(self.forward(train.images, self.soft_weights()), train.labels)
        grads = torch.autograd.grad(loss, params)
        with torch.no_grad():
            for p, g in zip(params, grads):
                state = optimizer.state.get(p, {})
                buf = state.get("momentum_buffer")
                step = g + decay * p + (momentum * buf if buf is not None else 0.0)
                p.sub_(lr * step)
        # gradient of the validation loss at w'
        valid_loss = self.arch_loss(valid)
        arch = self.arch_parameters()
        grads = torch.autograd.grad(valid_loss, arch + params, allow_unused=True)
        arch_grads = [g if g is not None else torch.zeros_like(a)
                      for g, a in zip(grads[: len(arch)], arch)]
        weight_grads = [g if g is not None else torch.zeros_like(p)
                        for g, p in zip(grads[len(arch):], params)]
        # Hessian-vector product by finite differences around w
        norm = torch.cat([g.reshape(-1) for g in weight_grads]).norm()
        eps = 0.01 / (float(norm) + 1e-12)
        hessian = []
        for sign in (1.0, -1.0):
            with torch.no_grad():
                for p, w, g in zip(params, originals, weight_grads):
                    p.copy_(w + sign * eps * g)
            loss = self.loss_fn(self.forward(train.images, self.soft_weights()), train.labels)
            hessian.append(torch.autograd.grad(loss, arch, allow_unused=True))
        with torch.no_grad():
            for p, w in zip(params, originals):
                p.copy_(w)
            for b, saved in zip(self.model.buffers(), buffers):
                b.copy_(saved)
        self.arch_optimizer.zero_grad(set_to_none=True)
        for a, g, hp, hm in zip(arch, arch_grads, *hessian):
            hp = torch.zeros_like(a) if hp is None else hp
            hm = torch.zeros_like(a) if hm is None else hm
            a.grad = g - lr * (hp - hm) / (2 * eps)
        self.arch_optimizer.step()

    def state_dict(self) -> dict:
        return {**super().state_dict(), "arch_optimizer": self.arch_optimizer.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        super().load_state_dict(state)
        self.arch_optimizer.load_state_dict(state["arch_optimizer"])
