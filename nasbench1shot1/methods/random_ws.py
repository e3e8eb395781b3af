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

`method.sampling` picks what is drawn (both protocols, steps and selection alike):
- `configurations` (default): ops and parent sets uniformly (`SearchSpace.sample`); many
  configurations make the same cell after pruning and isomorphism, so a cell is drawn as often as
  configurations make it.
- `cells` (de-isomorphic sampling, Ning et al. 2021): a unique cell uniformly, by hash: the method
  RNG's `integers` picks an index into the sorted hashes of `cell_architectures(space)`, and the
  cell's first configuration (the one a one-shot estimator scores it by) is trained.
`method.sharing_groups` K > 1 reduces the sharing degree: the cells split into K fixed groups by
hash (`sharing_group_of`) and only group `method.sharing_group` is drawn, so K runs train K
supernets, each shared by a K-th of the cells.

The pieces of the original's protocol that ENAS shares are in `methods.original`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import torch

from nasbench1shot1.methods.base import Batch, OneShotMethod, register
from nasbench1shot1.methods.original import (
    OriginalSelection,
    arch_from_state,
    arch_to_state,
    every_op_runs,
    select_by_rescoring,
)
from nasbench1shot1.spaces import Architecture, SearchSpace, cell_architectures

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class OriginalRandomWS:
    """The original's Random-WS numbers (optimizers/oneshot/RS_WS/random_weight_share.py,
    get_eval_arch; darts_wrapper_discrete.py, evaluate: 10 batches; argparse grad_clip 0.25,
    which its cluster scripts keep)."""

    selection: OriginalSelection = OriginalSelection(samples=1000, batches_each=10)
    grad_clip: float = 0.25


ORIGINAL_RANDOM_WS = OriginalRandomWS()


def sharing_group_of(key: str, groups: int) -> int:
    """The sharing group (0 .. groups - 1) of the cell with hex hash `key`: its first 8 hex
    digits as an integer, modulo `groups`. A fixed function of the hash, so every cell is in
    exactly one group, the same in every run."""
    return int(key[:8], 16) % groups


def group_cells(space: SearchSpace, groups: int = 1, group: int = 0) -> dict[str, Architecture]:
    """The cells of `space` in sharing group `group` of `groups` (hex hash -> the cell's first
    configuration, sorted by hash), from `cell_architectures(space)`."""
    cells = cell_architectures(space)
    chosen = {key: arch for key, arch in cells.items() if sharing_group_of(key, groups) == group}
    if not chosen:
        raise ValueError(f"sharing group {group} of {groups} holds none of the {len(cells)} "
                         f"cells of search space {space.number}; use fewer sharing groups")
    return chosen


@register("random_ws")
class RandomWS(OneShotMethod):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        seed = int(torch.randint(0, 2**31 - 1, (1,), generator=self.generator))
        self.rng = np.random.default_rng(seed)
        #: method.sampling, method.sharing_groups and method.sharing_group
        self.sampling = self.cfg["sampling"]
        self.sharing_groups, self.sharing_group = (self.cfg["sharing_groups"],
                                                   self.cfg["sharing_group"])
        #: sampling=cells: the sorted hashes drawn from and each one's configuration
        self.cell_hashes: list[str] = []
        self.cell_archs: dict[str, Architecture] = {}
        if self.sampling == "cells":
            self.cell_archs = group_cells(self.space, self.sharing_groups, self.sharing_group)
            self.cell_hashes = sorted(self.cell_archs)
            log.info("method.sampling=cells: %d unique cells drawn uniformly (sharing group %d "
                     "of %d)", len(self.cell_hashes), self.sharing_group, self.sharing_groups)
        elif self.sampling != "configurations":
            raise ValueError(f"method.sampling must be configurations or cells, got "
                             f"{self.sampling!r}")
        elif self.sharing_groups != 1:
            raise ValueError(f"method.sharing_groups={self.sharing_groups} groups cells by "
                             f"hash, so it needs method.sampling=cells")
        self.best = self.sample()
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

    def sample(self) -> Architecture:
        """The next cell to train or score (method.sampling), drawn with the method's RNG."""
        if self.sampling == "cells":
            index = int(self.rng.integers(len(self.cell_hashes)))
            return self.cell_archs[self.cell_hashes[index]]
        return self.space.sample(self.rng)

    def step(self, train: Batch, valid: Batch, optimizer, lr: float, grad_clip: float):
        arch = self.sample()
        weights = self.hard_weights(arch)
        if self.original is not None:
            weights, grad_clip = every_op_runs(weights), self.original.grad_clip
        return self.weight_step(train, weights, optimizer, grad_clip)

    def end_epoch(self, epoch: int, valid_batches: list[Batch]) -> dict:
        if self.original is not None:
            self.best, self.best_accuracy = select_by_rescoring(
                self.sample, self.score, valid_batches,
                self.original.selection)
            return {"sampled_best_one_shot_accuracy": self.best_accuracy}
        batches = valid_batches[: self.cfg["eval_batches"]]
        best, best_accuracy = None, -1.0
        for _ in range(self.cfg["eval_samples"]):
            arch = self.sample()
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
