"""GDAS (Dong & Yang, 2019): Gumbel-softmax sampling of the architecture at every step, a hard
one-hot choice of each block's op (only that op runs; the straight-through estimator carries the
gradient), soft Gumbel-softmax weights of the parents, and the temperature annealed linearly from
`tau_max` to `tau_min` over the epochs. Architecture weights are trained by Adam as in DARTS.
Under protocol=paper (conf/protocol.py) as the original code: a sample per cell, its temperature
schedule, the architecture gradients clipped."""

from __future__ import annotations

import torch

from nasbench1shot1.methods.base import register
from nasbench1shot1.methods.darts import DARTS
from nasbench1shot1.models.supernet import ArchWeights


@register("gdas")
class GDAS(DARTS):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.epoch = 0

    @property
    def tau(self) -> float:
        """Temperature in epoch `self.epoch` (0-based): linear from tau_max to tau_min in the
        last epoch, or (protocol gdas_tau=epoch_start, the original) tau_max - (tau_max -
        tau_min) * epoch / epochs, which ends one step above tau_min."""
        tau_max, tau_min = self.cfg["tau_max"], self.cfg["tau_min"]
        if self.protocol.gdas_tau == "epoch_start":
            return tau_max - (tau_max - tau_min) * self.epoch / self.epochs
        if self.epochs <= 1:
            return tau_min
        return tau_max - (tau_max - tau_min) * self.epoch / (self.epochs - 1)

    def _gumbel(self, shape: torch.Size) -> torch.Tensor:
        uniform = torch.rand(shape, generator=self.generator).clamp_(1e-10, 1.0 - 1e-10)
        return (-torch.log(-torch.log(uniform))).to(self.device)

    def clip_arch_gradients(self, grad_clip: float) -> None:
        """The original clips the architecture gradients (Gumbel-softmax's are large) to the
        norm of the weights' clip (protocol gdas_clip_arch)."""
        if self.protocol.gdas_clip_arch and grad_clip:
            torch.nn.utils.clip_grad_norm_(self.arch_parameters(), grad_clip)

    def train_weights(self) -> ArchWeights | list[ArchWeights]:
        """One Gumbel sample for the forward pass, or one per cell (protocol gdas_gumbel=
        per_cell, the original)."""
        if self.protocol.gdas_gumbel == "per_cell":
            return [self._sample() for _ in range(self.model.config.num_cells)]
        return self._sample()

    def _sample(self) -> ArchWeights:
        tau = self.tau
        logits = (self.alpha_ops + self._gumbel(self.alpha_ops.shape)) / tau
        soft = torch.softmax(logits, dim=-1)
        index = soft.argmax(dim=-1)
        hard = torch.zeros_like(soft).scatter_(-1, index[:, None], 1.0)
        ops = hard - soft.detach() + soft
        parents = {
            v: torch.softmax((a + self._gumbel(a.shape)) / tau, dim=-1)
            for v, a in self.alpha_parents.items()
        }
        return ArchWeights(ops, parents, op_index=index.tolist())

    def end_epoch(self, epoch: int, valid_batches) -> dict:
        self.epoch = epoch  # the next epoch (0-based) is `epoch`
        return {}

    def epoch_metrics(self) -> dict:
        return {"tau": self.tau}

    def state_dict(self) -> dict:
        return {**super().state_dict(), "epoch": self.epoch}

    def load_state_dict(self, state: dict) -> None:
        super().load_state_dict(state)
        self.epoch = state["epoch"]
