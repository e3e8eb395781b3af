"""The pieces of the original NAS-Bench-1Shot1 code's protocol (protocol=paper,
conf/protocol.py) that ENAS and Random-WS share: the zero-weighted form of a sampled cell's
weights (`every_op_runs`: every op runs, as the original's one-shot model does), its selection of
an epoch's cell (`OriginalSelection`, `select_by_rescoring`), and a cell as checkpoint data."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

from nasbench1shot1.methods.base import Batch
from nasbench1shot1.models.supernet import ArchWeights
from nasbench1shot1.spaces import Architecture


@dataclass(frozen=True)
class OriginalSelection:
    """How the original code picks an epoch's cell: score `samples` sampled cells on
    `batches_each` validation batches each (the next ones of a cycle), then the `top_k` best
    again on every validation batch; the best of those wins."""

    samples: int
    batches_each: int
    top_k: int = 5


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
