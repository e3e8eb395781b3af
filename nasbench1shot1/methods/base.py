"""The small interface every one-shot method implements, and `METHODS`, the registry of them.

A method owns the architecture weights (or the controller that samples cells) and decides how a
training step uses them: `step` takes one batch of the weights half and one of the architecture
half of the training data and updates what the method trains; `discretize` turns the current
state into one cell of the space; `end_epoch` runs once after each epoch (temperature schedules,
the evaluation of sampled cells). Everything a resumed run needs is in `state_dict`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from nasbench1shot1.checks import autocast_dtype
from nasbench1shot1.conf.protocol import ProtocolConfig
from nasbench1shot1.conf.search import TrainSettings
from nasbench1shot1.models.supernet import ArchWeights, Supernet
from nasbench1shot1.nasbench.spec import AVAILABLE_OPS
from nasbench1shot1.registry import Registry
from nasbench1shot1.spaces import Architecture, SearchSpace

METHODS: Registry[type[OneShotMethod]] = Registry("method")
TRAIN = TrainSettings()  # the defaults of precision and compile (conf/search.py)


def register(name: str) -> Callable[[type[OneShotMethod]], type[OneShotMethod]]:
    """Class decorator: name the method `name` and add it to `METHODS`."""
    def decorate(cls: type[OneShotMethod]) -> type[OneShotMethod]:
        cls.name = name
        return METHODS.register(name, cls)

    return decorate


def get_method(name: str) -> type[OneShotMethod]:
    """The method class registered as `name`; one sentence naming the methods otherwise."""
    return METHODS.get(name)


def detached(arch: ArchWeights | list[ArchWeights]) -> ArchWeights | list[ArchWeights]:
    """`arch` (or each of a list, one per cell) with its weights cut from the graph of the
    architecture parameters: a step of the supernet weights under it computes no gradient of
    them."""
    if isinstance(arch, list):
        return [detached(a) for a in arch]
    return dataclasses.replace(arch, ops=arch.ops.detach(),
                               parents={v: w.detach() for v, w in arch.parents.items()})


def arch_gradients(loss: torch.Tensor, params: list[torch.Tensor]) -> None:
    """Set `params`' .grad to the gradient of `loss` with respect to them alone (the supernet
    weights' gradients, which a step of the architecture does not use, are not computed); a
    parameter the loss does not depend on gets None, as `backward` leaves it."""
    grads = torch.autograd.grad(loss, params, allow_unused=True)
    for param, grad in zip(params, grads):
        param.grad = grad


@dataclass
class Batch:
    images: torch.Tensor
    labels: torch.Tensor


@dataclass
class StepResult:
    loss: float
    correct: int
    count: int


class OneShotMethod:
    """Base class: architecture parameters as logits over ops and over candidate parents."""

    name = "base"
    #: whether the supernet is built with PC-DARTS partial channels
    partial_channels = False

    def __init__(self, space: SearchSpace, model: Supernet, cfg: dict, epochs: int,
                 generator: torch.Generator, protocol: ProtocolConfig | None = None,
                 precision: str = TRAIN.precision, compile: bool = TRAIN.compile):
        self.space = space
        self.model = model
        self.cfg = cfg
        self.epochs = epochs
        self.generator = generator
        #: where the method follows the original code (conf/protocol.py; default: fixed)
        self.protocol = protocol if protocol is not None else ProtocolConfig()
        self.loss_fn = nn.CrossEntropyLoss()
        device = next(model.parameters()).device
        self.device = device
        #: train.precision: the dtype the supernet's forward passes autocast to (None: fp32),
        #: and the gradient scaler of fp16 (a pass-through otherwise)
        self.precision = precision
        self.amp_dtype = autocast_dtype(precision, device)
        self.scaler = torch.amp.GradScaler(device.type, enabled=precision == "fp16")
        #: train.compile: the compiled supernet, used for passes under soft weights (a sampled
        #: cell's graph differs from step to step; those passes run the eager supernet)
        self.compiled = torch.compile(model) if compile else None
        b = space.num_choice_blocks
        self.alpha_ops = (1e-3 * torch.randn(b, 3, generator=generator)).to(device)
        self.alpha_ops.requires_grad_(True)
        self.alpha_parents = {}
        for v in space.vertices_with_parent_choice:
            alpha = (1e-3 * torch.randn(v, generator=generator)).to(device)
            self.alpha_parents[v] = alpha.requires_grad_(True)

    # -- architecture parameters --------------------------------------------------------

    def arch_parameters(self) -> list[torch.Tensor]:
        return [self.alpha_ops, *self.alpha_parents.values()]

    def soft_weights(self) -> ArchWeights:
        return ArchWeights(
            torch.softmax(self.alpha_ops, dim=-1),
            {v: torch.softmax(a, dim=-1) for v, a in self.alpha_parents.items()},
        )

    def eval_weights(self) -> ArchWeights:
        """The weights used to score the supernet on validation data."""
        return self.soft_weights()

    def discretize(self) -> Architecture:
        return self.space.from_weights(
            self.alpha_ops.detach().cpu().numpy(),
            {v: a.detach().cpu().numpy() for v, a in self.alpha_parents.items()},
        )

    def hard_weights(self, arch: Architecture) -> ArchWeights:
        """One-hot weights selecting exactly `arch` (ops and parent sets)."""
        ops = torch.zeros(self.space.num_choice_blocks, 3, device=self.device)
        op_index = [AVAILABLE_OPS.index(op) for op in arch.ops]
        ops[torch.arange(len(op_index)), torch.tensor(op_index)] = 1.0
        parents, parent_index = {}, {}
        for v in self.space.vertices_with_parent_choice:
            chosen = arch.parents[v - 1]
            weights = torch.zeros(v, device=self.device)
            weights[list(chosen)] = 1.0
            parents[v] = weights
            parent_index[v] = tuple(chosen)
        return ArchWeights(ops, parents, op_index, parent_index)

    # -- training -----------------------------------------------------------------------

    def forward(self, images: torch.Tensor, arch: ArchWeights | list[ArchWeights]
                ) -> torch.Tensor:
        """The supernet's logits (float32) under `arch`, in train.precision."""
        model = self.model
        if self.compiled is not None and not any(  # sampled cells run eager: no recompiles
                a.op_index is not None or a.parent_index
                for a in (arch if isinstance(arch, list) else [arch])):
            model = self.compiled
        if self.amp_dtype is None:
            return model(images, arch)
        with torch.autocast(self.device.type, dtype=self.amp_dtype):
            return model(images, arch).float()

    def weight_step(self, batch: Batch, arch: ArchWeights, optimizer: torch.optim.Optimizer,
                    grad_clip: float) -> StepResult:
        """One SGD step of the supernet weights under `arch` (held fixed: no gradient of the
        architecture weights is computed, only those of the supernet weights)."""
        self.model.train()
        logits = self.forward(batch.images, detached(arch))
        loss = self.loss_fn(logits, batch.labels)
        optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        if grad_clip:
            self.scaler.unscale_(optimizer)
            nn.utils.clip_grad_norm_(self.model.parameters(), grad_clip)
        self.scaler.step(optimizer)
        self.scaler.update()  # after the step's last optimizer (the architecture's is first)
        correct = int((logits.argmax(1) == batch.labels).sum())
        return StepResult(loss.item(), correct, len(batch.labels))

    def step(self, train: Batch, valid: Batch, optimizer: torch.optim.Optimizer, lr: float,
             grad_clip: float) -> StepResult:
        raise NotImplementedError

    @torch.no_grad()
    def score(self, arch: Architecture, batches: list[Batch]) -> float:
        """Accuracy of the supernet under `arch` over `batches` (eval mode; only the cell's own
        ops run), as the methods that select a cell by sampling score it."""
        self.model.eval()
        weights = self.hard_weights(arch)
        correct = total = 0
        for batch in batches:
            correct += int((self.forward(batch.images, weights).argmax(1) == batch.labels).sum())
            total += len(batch.labels)
        return correct / total

    def end_epoch(self, epoch: int, valid_batches: list[Batch]) -> dict:
        """Called after epoch `epoch` (1-based); returns extra metrics to record."""
        return {}

    def epoch_metrics(self) -> dict:
        return {}

    # -- state --------------------------------------------------------------------------

    def state_dict(self) -> dict:
        return {
            "alpha_ops": self.alpha_ops.detach().cpu(),
            "alpha_parents": {v: a.detach().cpu() for v, a in self.alpha_parents.items()},
        }

    def load_state_dict(self, state: dict) -> None:
        with torch.no_grad():
            self.alpha_ops.copy_(state["alpha_ops"])
            for v, a in state["alpha_parents"].items():
                self.alpha_parents[int(v)].copy_(a)

    def arch_summary(self) -> dict:
        """Softmaxed architecture weights, for the record."""
        return {
            "ops": np.round(torch.softmax(self.alpha_ops, -1).detach().cpu().numpy(), 4).tolist(),
            "parents": {
                str(v): np.round(torch.softmax(a, -1).detach().cpu().numpy(), 4).tolist()
                for v, a in self.alpha_parents.items()
            },
        }
