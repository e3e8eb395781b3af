"""ENAS (Pham et al., 2018): an LSTM controller samples a cell (an op per block, a parent set per
vertex with a choice) for every training step of the shared weights and is trained with
REINFORCE on the shared weights' accuracy on validation batches (the architecture half, never test
data), with an entropy bonus and a moving-average baseline.

`protocol.enas` picks which ENAS (conf/protocol.py, the README's protocol table):
- `plain`: `Controller`, one categorical decision after another, near uniform at first; one
  controller step on one validation batch after every weight step; rewards as fractions; the
  method's settings (method.controller_*); the search's optimizer, schedule and gradient clip;
  the epoch's cell is the controller's most likely one.
- `original` (automl/nasbench-1shot1, optimizers/oneshot/enas): `AttentionController`, which
  picks parents by attention over the earlier vertices and starts with large biases towards
  maxpool and conv3x3; a whole epoch of weight steps, then 300 controller steps; rewards in
  percent; the original's Adam, weight decay 1e-4, gradient clip 0.25 and cosine learning rate
  stepped every batch (`ORIGINAL_ENAS`); every op runs in a weight step, unselected ones with
  weight zero; the epoch's cell is chosen from 1,000 sampled cells (one batch each, the best 5
  again on every validation batch).
"""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch import nn

from nasbench1shot1.methods.base import Batch, OneShotMethod, register
from nasbench1shot1.methods.original import (
    OriginalSelection,
    arch_from_state,
    arch_to_state,
    every_op_runs,
    select_by_rescoring,
)
from nasbench1shot1.nasbench.spec import AVAILABLE_OPS, CONV1X1, CONV3X3, MAXPOOL3X3
from nasbench1shot1.spaces import Architecture, SearchSpace

log = logging.getLogger(__name__)

#: The original's op order (its PRIMITIVES), in which its controller's op biases are written.
ORIGINAL_OP_ORDER = (MAXPOOL3X3, CONV3X3, CONV1X1)


@dataclass(frozen=True)
class OriginalENAS:
    """The original's ENAS numbers: the controller (micro_controller.py and the argparse
    defaults of enas.py), its training (enas_child.py, which overrides the entropy weight, Adam's
    learning rate and the supernet's weight decay), the supernet step (0.25 clip; SGD from the
    search's learning rate down to 0.001, the cosine stepped once per batch with a period of
    `epochs` batches) and the selection (enas.py, get_eval_arch)."""

    hidden: int = 64
    temperature: float = 5.0
    tanh_constant: float = 2.5
    op_tanh_reduce: float = 5.0
    op_bias: tuple[float, ...] = (10.0, 10.0, 0.0)       # learnt, ORIGINAL_OP_ORDER
    op_bias_fixed: tuple[float, ...] = (0.25, 0.25, -0.25)  # added to every op decision
    learning_rate: float = 3.5e-4
    betas: tuple[float, float] = (0.1, 0.999)
    eps: float = 1e-3
    entropy_weight: float = 1e-4
    baseline_decay: float = 0.99
    reward_scale: float = 100.0  # accuracy in percent
    controller_steps: int = 300  # per epoch, after the epoch's weight steps
    weight_decay: float = 1e-4
    grad_clip: float = 0.25
    learning_rate_min: float = 0.001
    selection: OriginalSelection = OriginalSelection(samples=1000, batches_each=1)


ORIGINAL_ENAS = OriginalENAS()


class Controller(nn.Module):
    """An LSTM that emits one categorical decision after another."""

    def __init__(self, choices: list[int], hidden: int, tanh_constant: float,
                 temperature: float):
        super().__init__()
        self.choices = choices
        self.lstm = nn.LSTMCell(hidden, hidden)
        self.start = nn.Parameter(torch.zeros(1, hidden))
        self.embeddings = nn.ModuleList(nn.Embedding(n, hidden) for n in choices)
        self.heads = nn.ModuleList(nn.Linear(hidden, n) for n in choices)
        self.tanh_constant = tanh_constant
        self.temperature = temperature
        for p in self.parameters():
            nn.init.uniform_(p, -0.1, 0.1)

    def forward(self, generator: torch.Generator | None, greedy: bool = False):
        """Decisions, the sum of their log-probabilities and of their entropies."""
        h = c = torch.zeros_like(self.start)
        x = self.start
        decisions, log_prob, entropy = [], 0.0, 0.0
        for embedding, head in zip(self.embeddings, self.heads):
            h, c = self.lstm(x, (h, c))
            logits = self.tanh_constant * torch.tanh(head(h)[0] / self.temperature)
            probs = torch.softmax(logits, dim=-1)
            if greedy:
                choice = int(probs.argmax())
            else:
                choice = int(torch.multinomial(probs.detach().cpu(), 1, generator=generator))
            log_probs = torch.log_softmax(logits, dim=-1)
            log_prob = log_prob + log_probs[choice]
            entropy = entropy - (probs * log_probs).sum()
            decisions.append(choice)
            x = embedding(torch.tensor([choice], device=logits.device))
        return decisions, log_prob, entropy


class AttentionController(nn.Module):
    """The original's controller. For each vertex from 2 to the output it scores the earlier
    vertices by attention (tanh(W1 anchor + W2 h), then v) and draws the vertex's parents
    without replacement, then draws the op of the previous choice block from biased logits;
    vertex 1 takes the input. Anchors of vertices 0 and 1 are zero, of later ones the LSTM's
    state after their op. Log-probabilities of a parent set are the mean over its parents, as
    in the original; entropies only enter the reward."""

    def __init__(self, space: SearchSpace, settings: OriginalENAS):
        super().__init__()
        self.space = space
        self.settings = settings
        hidden, num_ops = settings.hidden, len(ORIGINAL_OP_ORDER)
        self.encoder = nn.Embedding(num_ops + 1, hidden)  # 0: "no op", else op + 1
        self.lstm = nn.LSTMCell(hidden, hidden)
        self.w_soft = nn.Linear(hidden, num_ops, bias=False)
        self.b_soft = nn.Parameter(torch.tensor([settings.op_bias]))
        self.register_buffer("b_soft_fixed", torch.tensor([settings.op_bias_fixed]),
                             persistent=False)
        self.w_attn_1 = nn.Linear(hidden, hidden, bias=False)
        self.w_attn_2 = nn.Linear(hidden, hidden, bias=False)
        self.v_attn = nn.Linear(hidden, 1, bias=False)
        for name, p in self.named_parameters():
            if name != "b_soft":
                nn.init.uniform_(p, -0.1, 0.1)

    def parent_logits(self, keys: list[torch.Tensor], h: torch.Tensor) -> torch.Tensor:
        """(1, v) logits of the v candidate parents whose attention keys are `keys`."""
        s = self.settings
        scores = self.v_attn(torch.tanh(torch.cat(keys) + self.w_attn_2(h)))
        return s.tanh_constant * torch.tanh(scores.view(1, -1) / s.temperature)

    def op_logits(self, h: torch.Tensor) -> torch.Tensor:
        """(1, 3) logits of the ops in ORIGINAL_OP_ORDER."""
        s = self.settings
        squashed = torch.tanh((self.w_soft(h) + self.b_soft) / s.temperature)
        return s.tanh_constant / s.op_tanh_reduce * squashed + self.b_soft_fixed

    def forward(self, generator: torch.Generator | None, greedy: bool = False):
        """A cell, the sum of its decisions' log-probabilities and of their entropies."""
        device = self.b_soft.device
        blank = self.encoder(torch.zeros(1, dtype=torch.long, device=device))
        h = c = torch.zeros(1, self.settings.hidden, device=device)
        anchors, keys = [], []
        for _ in range(2):  # vertices 0 and 1
            h, c = self.lstm(blank, (h, c))
            anchors.append(torch.zeros_like(h))
            keys.append(self.w_attn_1(h))
        parents, ops = [(0,)], []
        log_prob, entropy = 0.0, 0.0
        for vertex in range(2, self.space.num_vertices):
            h, c = self.lstm(blank, (h, c))
            logits = self.parent_logits(keys[:vertex], h)
            chosen = _draw(logits, self.space.num_parents[vertex - 1], generator, greedy)
            log_probs = torch.log_softmax(logits, dim=-1)[0]
            log_prob = log_prob + log_probs[chosen].mean()
            entropy = entropy + _entropy(logits)
            parents.append(tuple(sorted(chosen)))
            h, c = self.lstm(anchors[chosen[-1]], (h, c))
            logits = self.op_logits(h)
            (op,) = _draw(logits, 1, generator, greedy)
            log_prob = log_prob + torch.log_softmax(logits, dim=-1)[0, op]
            entropy = entropy + _entropy(logits)
            ops.append(ORIGINAL_OP_ORDER[op])
            h, c = self.lstm(self.encoder(torch.tensor([op + 1], device=device)), (h, c))
            anchors.append(h)
            keys.append(self.w_attn_1(h))
        return Architecture(tuple(ops), tuple(parents)), log_prob, entropy


def _draw(logits: torch.Tensor, k: int, generator: torch.Generator | None,
          greedy: bool) -> list[int]:
    """`k` distinct indices of the (1, n) `logits`, in the order drawn (greedy: most likely
    first)."""
    probs = torch.softmax(logits.detach(), dim=-1)[0].cpu()
    if greedy:
        return torch.argsort(probs, descending=True, stable=True)[:k].tolist()
    return torch.multinomial(probs, k, replacement=False, generator=generator).tolist()


def _entropy(logits: torch.Tensor) -> torch.Tensor:
    log_probs = torch.log_softmax(logits.detach(), dim=-1)
    return -(log_probs.exp() * log_probs).sum()


def cosine_per_batch(base_lr: float, min_lr: float, step: int, period: int) -> float:
    """The original ENAS's learning rate at weight step `step`: PyTorch's cosine annealing with
    T_max `period` (its epochs) stepped once per batch, so it swings between `base_lr` and
    `min_lr` every `period` batches."""
    return min_lr + (base_lr - min_lr) * (1 + math.cos(math.pi * step / period)) / 2


@contextlib.contextmanager
def overridden(optimizer: torch.optim.Optimizer, **values: float) -> Iterator[None]:
    """Set `values` (learning rate, weight decay) in every parameter group for one step and put
    the search's own back after it, so its schedule and checkpoint stay as they were."""
    saved = [{key: group[key] for key in values} for group in optimizer.param_groups]
    for group in optimizer.param_groups:
        group.update(values)
    try:
        yield
    finally:
        for group, old in zip(optimizer.param_groups, saved):
            group.update(old)


@register("enas")
class ENAS(OneShotMethod):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        #: the original's numbers under protocol.enas=original, else None
        self.original = ORIGINAL_ENAS if self.protocol.enas == "original" else None
        if self.original is None:
            self.parent_vertices = self.space.vertices_with_parent_choice
            choices = [len(AVAILABLE_OPS)] * self.space.num_choice_blocks + [
                len(self.space.parent_options(v)) for v in self.parent_vertices
            ]
            self.controller = Controller(
                choices, self.cfg["controller_hidden"], self.cfg["tanh_constant"],
                self.cfg["temperature"],
            ).to(self.device)
            self.controller_optimizer = torch.optim.Adam(
                self.controller.parameters(), lr=self.cfg["controller_learning_rate"],
                betas=(0.0, 0.999),
            )
            self.reward_scale = 1.0
            self.entropy_weight = self.cfg["entropy_weight"]
            self.baseline_decay = self.cfg["baseline_decay"]
            self.controller_grad_clip = self.cfg["controller_grad_clip"]
        else:
            s = self.original
            self.controller = AttentionController(self.space, s).to(self.device)
            self.controller_optimizer = torch.optim.Adam(
                self.controller.parameters(), lr=s.learning_rate, betas=s.betas, eps=s.eps)
            self.reward_scale = s.reward_scale
            self.entropy_weight = s.entropy_weight
            self.baseline_decay = s.baseline_decay
            self.controller_grad_clip = 0.0  # the original does not clip the controller
            log.info("protocol.enas=original: the original's controller and settings (hidden "
                     "%d, tanh %g, Adam lr %g, entropy weight %g, %d controller steps per "
                     "epoch) replace method.controller_* and the others; supernet weight "
                     "decay %g, gradient clip %g, cosine per batch", s.hidden, s.tanh_constant,
                     s.learning_rate, s.entropy_weight, s.controller_steps, s.weight_decay,
                     s.grad_clip)
        self.baseline = 0.0  # as ENAS: starts at 0, moves towards the rewards
        #: under original: weight steps taken (the per-batch cosine's position), the epoch's
        #: selected cell and its accuracy on all validation batches, the last learning rate
        self.weight_steps = 0
        self.best: Architecture | None = None
        self.best_accuracy = float("nan")
        self.last_lr = float("nan")

    def arch_parameters(self) -> list[torch.Tensor]:
        return list(self.controller.parameters())

    def decode(self, decisions: list[int]) -> Architecture:
        b = self.space.num_choice_blocks
        ops = tuple(AVAILABLE_OPS[i] for i in decisions[:b])
        chosen = dict(zip(self.parent_vertices, decisions[b:]))
        parents = tuple(
            self.space.parent_options(v)[chosen.get(v, 0)]
            for v in range(1, self.space.num_vertices)
        )
        return Architecture(ops, parents)

    def sample_cell(self, greedy: bool = False) -> tuple[Architecture, torch.Tensor, torch.Tensor]:
        """A cell from the controller (greedy: its most likely decisions), the sum of their
        log-probabilities (with the graph to the controller) and of their entropies."""
        generator = None if greedy else self.generator
        if self.original is not None:
            return self.controller(generator, greedy)
        decisions, log_prob, entropy = self.controller(generator, greedy)
        return self.decode(decisions), log_prob, entropy

    def step(self, train: Batch, valid: Batch, optimizer, lr: float, grad_clip: float):
        with torch.no_grad():
            arch, _, _ = self.sample_cell()
        if self.original is None:
            result = self.weight_step(train, self.hard_weights(arch), optimizer, grad_clip)
            self.controller_step(valid)
            return result
        s = self.original
        base_lr = optimizer.param_groups[0].get("initial_lr", optimizer.param_groups[0]["lr"])
        self.last_lr = cosine_per_batch(base_lr, s.learning_rate_min, self.weight_steps,
                                        self.epochs)
        with overridden(optimizer, lr=self.last_lr, weight_decay=s.weight_decay):
            result = self.weight_step(train, every_op_runs(self.hard_weights(arch)), optimizer,
                                      s.grad_clip)
        self.weight_steps += 1
        return result

    def reward(self, arch: Architecture, batch: Batch) -> float:
        """The supernet's accuracy with `arch` on `batch` (eval mode): a fraction under plain,
        in percent under original."""
        self.model.eval()
        with torch.no_grad():
            logits = self.forward(batch.images, self.hard_weights(arch))
            accuracy = float((logits.argmax(1) == batch.labels).float().mean())
        return accuracy * self.reward_scale

    def controller_step(self, valid: Batch) -> None:
        arch, log_prob, entropy = self.sample_cell()
        reward = self.reward(arch, valid) + self.entropy_weight * entropy.item()
        decay = self.baseline_decay
        self.baseline = decay * self.baseline + (1 - decay) * reward
        loss = -log_prob * (reward - self.baseline)
        self.controller_optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.controller_grad_clip:
            nn.utils.clip_grad_norm_(self.controller.parameters(), self.controller_grad_clip)
        self.controller_optimizer.step()

    def end_epoch(self, epoch: int, valid_batches: list[Batch]) -> dict:
        if self.original is None:
            return {}
        if not valid_batches:
            raise ValueError("ENAS's controller steps need at least one validation batch, "
                             "got none")
        for i in range(self.original.controller_steps):
            self.controller_step(valid_batches[i % len(valid_batches)])

        def sample() -> Architecture:
            with torch.no_grad():
                return self.sample_cell()[0]

        self.best, self.best_accuracy = select_by_rescoring(
            sample, self.score, valid_batches, self.original.selection)
        return {"sampled_best_one_shot_accuracy": self.best_accuracy}

    def discretize(self) -> Architecture:
        if self.best is not None:
            return self.best
        with torch.no_grad():
            return self.sample_cell(greedy=True)[0]

    def eval_weights(self):
        return self.hard_weights(self.discretize())

    def state_dict(self) -> dict:
        state = {"controller": self.controller.state_dict(),
                 "controller_optimizer": self.controller_optimizer.state_dict(),
                 "baseline": self.baseline}
        if self.original is not None:
            state.update(weight_steps=self.weight_steps, best_accuracy=self.best_accuracy,
                         best=None if self.best is None else arch_to_state(self.best))
        return state

    def load_state_dict(self, state: dict) -> None:
        self.controller.load_state_dict(state["controller"])
        self.controller_optimizer.load_state_dict(state["controller_optimizer"])
        self.baseline = state["baseline"]
        if self.original is not None:
            self.weight_steps = state["weight_steps"]
            self.best_accuracy = state["best_accuracy"]
            self.best = None if state["best"] is None else arch_from_state(state["best"])

    def epoch_metrics(self) -> dict:
        metrics = {"controller_baseline": self.baseline}
        if self.original is not None:
            metrics["weight_learning_rate_last_batch"] = self.last_lr
        return metrics

    def arch_summary(self) -> dict:
        with torch.no_grad():
            arch = self.sample_cell(greedy=True)[0]
        summary = {"greedy": arch_to_state(arch)}
        if self.best is not None:
            summary["selected"] = arch_to_state(self.best)
        return summary
