"""Random search with weight sharing (Li & Talwalkar, 2019): every step trains the supernet
under one cell sampled uniformly from the space's configurations; after each epoch sampled cells
are scored by the supernet on validation batches (the architecture half, never test data), and
the best of them is the epoch's architecture.

`protocol.random_ws` picks how (conf/protocol.py, the README's protocol table):
- `plain`: `eval_samples` cells, each scored on the same first `eval_batches` batches; only the
  sampled cell's ops run in a step; the search's `train.grad_clip`.
- `original` (automl/nasbench-1shot1, RS_WS): `ORIGINAL_RANDOM_WS`: 1,000 cells, each scored on
  the next 10 batches of a cycle through the validation batches, the 5 best scored again on all of
  them; every op runs in a step, the unselected ones with weight zero (their batch-norm statistics
  move, weight decay and momentum reach their weights), as the original's one-shot model does;
  gradient norm clipped to 0.25.

Also owned here, for the methods that follow the original code (ENAS too): `every_op_runs` (the
original's zero-weighted form of a cell's weights) and `select_by_rescoring` (its selection).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from nasbench1shot1.methods.base import Batch, OneShotMethod, register
from nasbench1shot1.models.supernet import ArchWeights
from nasbench1shot1.spaces import Architecture

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class OriginalSelection:
    """How the original code picks an epoch's cell: score `samples` sampled cells on
    `batches_each` validation batches each (the next ones of a cycle), then the `top_k` best
    again on every validation batch; the best of those wins."""

    samples: int
    batches_each: int
    top_k: int = 5


@dataclass(frozen=True)
class OriginalRandomWS:
    """The original's Random-WS numbers (optimizers/oneshot/RS_WS/random_weight_share.py,
    get_eval_arch; darts_wrapper_discrete.py, evaluate: 10 batches; argparse grad_clip 0.25,
    which its cluster scripts keep)."""

    selection: OriginalSelection = OriginalSelection(samples=1000, batches_each=10)
    grad_clip: float = 0.25


ORIGINAL_RANDOM_WS = OriginalRandomWS()


def every_op_runs(weights: ArchWeights) -> ArchWeights:
    """`weights` (one-hot, from `hard_weights`) without their indices: every op and every
    candidate parent is computed and scaled by its weight, zero where unselected, as the
    original's one-shot model does for a sampled cell."""
    return dataclasses.replace(weights, op_index=None, parent_index={})


def select_by_rescoring(sample: Callable[[], Architecture],
                        score: Callable[[Architecture, list[Batch]], float],
                        valid_batches: list[Batch],
                        selection: OriginalSelection) -> tuple[Architecture, float]:
    """The original's selection (see `OriginalSelection`): the winning cell and its accuracy on
    all of `valid_batches`. Ties keep the order of sampling, as the original's stable sort."""
    if not valid_batches:
        raise ValueError("selecting a cell needs at least one validation batch, got none")
    n = len(valid_batches)
    scored = []
    for i in range(selection.samples):
        arch = sample()
        start = i * selection.batches_each
        batches = [valid_batches[(start + j) % n] for j in range(selection.batches_each)]
        scored.append((arch, score(arch, batches)))
    scored.sort(key=lambda pair: -pair[1])
    finalists = [(arch, score(arch, valid_batches)) for arch, _ in scored[:selection.top_k]]
    finalists.sort(key=lambda pair: -pair[1])
    return finalists[0]


def arch_to_state(arch: Architecture) -> dict:
    """`arch` as lists and strings (what a checkpoint holds)."""
    return {"ops": list(arch.ops), "parents": [list(p) for p in arch.parents]}


def arch_from_state(state: dict) -> Architecture:
    """The architecture `arch_to_state` wrote."""
    return Architecture(tuple(state["ops"]), tuple(tuple(p) for p in state["parents"]))


@register("random_ws")
class RandomWS(OneShotMethod):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        seed = int(torch.randint(0, 2**31 - 1, (1,), generator=self.generator))
        self.rng = np.random.default_rng(seed)
        self.best = self.space.sample(self.rng)
        self.best_accuracy = float("nan")
        #: the original's numbers under protocol.random_ws=original, else None
        self.original = ORIGINAL_RANDOM_WS if self.protocol.random_ws == "original" else None
        if self.original is not None:
            chosen = self.original.selection
            log.info("protocol.random_ws=original: %d cells x %d batches and the best %d on all "
                     "validation batches select each epoch's cell (method.eval_samples and "
                     "eval_batches are not used); gradient clip %g", chosen.samples,
                     chosen.batches_each, chosen.top_k, self.original.grad_clip)

    def arch_parameters(self) -> list[torch.Tensor]:
        return []

    def step(self, train: Batch, valid: Batch, optimizer, lr: float, grad_clip: float):
        arch = self.space.sample(self.rng)
        weights = self.hard_weights(arch)
        if self.original is not None:
            weights, grad_clip = every_op_runs(weights), self.original.grad_clip
        return self.weight_step(train, weights, optimizer, grad_clip)

    @torch.no_grad()
    def score(self, arch, batches: list[Batch]) -> float:
        # only the chosen ops run: in eval mode zero-weighted ops would add exactly zero
        self.model.eval()
        weights = self.hard_weights(arch)
        correct = total = 0
        for batch in batches:
            correct += int((self.forward(batch.images, weights).argmax(1) == batch.labels).sum())
            total += len(batch.labels)
        return correct / total

    def end_epoch(self, epoch: int, valid_batches: list[Batch]) -> dict:
        if self.original is not None:
            self.best, self.best_accuracy = select_by_rescoring(
                lambda: self.space.sample(self.rng), self.score, valid_batches,
                self.original.selection)
            return {"sampled_best_one_shot_accuracy": self.best_accuracy}
        batches = valid_batches[: self.cfg["eval_batches"]]
        best, best_accuracy = None, -1.0
        for _ in range(self.cfg["eval_samples"]):
            arch = self.space.sample(self.rng)
            accuracy = self.score(arch, batches)
            if accuracy > best_accuracy:
                best, best_accuracy = arch, accuracy
        self.best, self.best_accuracy = best, best_accuracy
        return {"sampled_best_one_shot_accuracy": best_accuracy}

    def eval_weights(self):
        return self.hard_weights(self.best)

    def discretize(self):
        return self.best

    def state_dict(self) -> dict:
        return {"rng": self.rng.bit_generator.state, "best": arch_to_state(self.best),
                "best_accuracy": self.best_accuracy}

    def load_state_dict(self, state: dict) -> None:
        self.rng.bit_generator.state = state["rng"]
        self.best = arch_from_state(state["best"])
        self.best_accuracy = state["best_accuracy"]

    def arch_summary(self) -> dict:
        return {"best_sampled": arch_to_state(self.best)}
