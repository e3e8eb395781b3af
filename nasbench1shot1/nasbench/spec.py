"""The NAS-Bench-101 cell: `ModelSpec`, its pruning, and the official graph hash.

A cell is an upper-triangular adjacency matrix over at most 7 vertices plus one op per vertex.
Vertices that are not on a path from the input to the output do not affect the network, so they
are pruned before hashing; the hash is the md5 fingerprint of the reference API
(google-research/nasbench), so a hash computed here finds the same row in the official files.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from functools import lru_cache

import numpy as np

INPUT = "input"
OUTPUT = "output"
CONV3X3 = "conv3x3-bn-relu"
CONV1X1 = "conv1x1-bn-relu"
MAXPOOL3X3 = "maxpool3x3"
#: The ops a choice block may take, in the order that defines their hash labels 0, 1, 2.
AVAILABLE_OPS: tuple[str, ...] = (CONV3X3, CONV1X1, MAXPOOL3X3)
INPUT_LABEL = -1
OUTPUT_LABEL = -2


def _md5(text: str) -> str:
    return hashlib.md5(text.encode("utf-8")).hexdigest()


@lru_cache(maxsize=4096)
def _vertex_start_hash(out_degree: int, in_degree: int, label: int) -> str:
    return _md5(str((out_degree, in_degree, label)))


def hash_module(matrix: np.ndarray | Sequence[Sequence[int]], labeling: Sequence[int]) -> str:
    """The reference NAS-Bench-101 fingerprint of a labelled DAG.

    Each vertex starts from the md5 of its (out-degree, in-degree, label) tuple; then, once per
    vertex, every vertex hash is replaced by the md5 of its sorted in-neighbour hashes, its sorted
    out-neighbour hashes and its own hash. The fingerprint is the md5 of the sorted vertex hashes.
    Isomorphic graphs with equal labels get equal fingerprints.
    """
    rows = np.asarray(matrix).tolist()
    n = len(labeling)
    predecessors = [[w for w in range(n) if rows[w][v]] for v in range(n)]
    successors = [[w for w in range(n) if rows[v][w]] for v in range(n)]
    hashes = [
        _vertex_start_hash(len(successors[v]), len(predecessors[v]), int(labeling[v]))
        for v in range(n)
    ]
    md5 = hashlib.md5
    for _ in range(n):
        hashes = [
            md5(
                (
                    "".join(sorted([hashes[w] for w in predecessors[v]]))
                    + "|"
                    + "".join(sorted([hashes[w] for w in successors[v]]))
                    + "|"
                    + hashes[v]
                ).encode("utf-8")
            ).hexdigest()
            for v in range(n)
        ]
    return _md5(str(sorted(hashes)))


def reachable_vertices(matrix: np.ndarray) -> np.ndarray:
    """Boolean mask of the vertices on some path from vertex 0 (input) to the last (output)."""
    n = matrix.shape[0]
    from_input = np.zeros(n, dtype=bool)
    from_input[0] = True
    for v in range(1, n):
        from_input[v] = bool(np.any(matrix[:v, v].astype(bool) & from_input[:v]))
    to_output = np.zeros(n, dtype=bool)
    to_output[n - 1] = True
    for v in range(n - 2, -1, -1):
        to_output[v] = bool(np.any(matrix[v, v + 1 :].astype(bool) & to_output[v + 1 :]))
    return from_input & to_output


class ModelSpec:
    """A NAS-Bench-101 cell, pruned on construction as the reference API prunes it.

    `original_matrix` and `original_ops` keep what was given; `matrix` and `ops` hold the pruned
    cell. When the output cannot be reached from the input, `valid_spec` is False and `matrix`
    and `ops` are None.
    """

    def __init__(self, matrix: Sequence[Sequence[int]] | np.ndarray, ops: Sequence[str]):
        matrix = np.array(matrix)
        if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
            raise ValueError(f"matrix must be square, got shape {matrix.shape}")
        if matrix.shape[0] != len(ops):
            raise ValueError(
                f"length of ops must match matrix dimensions, got {len(ops)} ops "
                f"for a {matrix.shape[0]}x{matrix.shape[0]} matrix"
            )
        if matrix.size and not np.isin(matrix, (0, 1)).all():
            raise ValueError("matrix entries must be 0 or 1")
        matrix = matrix.astype(np.int64)
        if np.tril(matrix).any():
            raise ValueError("matrix must be upper triangular")
        self.original_matrix = matrix.copy()
        self.original_ops = list(ops)
        self.matrix: np.ndarray | None = matrix.copy()
        self.ops: list[str] | None = list(ops)
        self.valid_spec = True
        self._prune()

    def _prune(self) -> None:
        n = self.original_matrix.shape[0]
        if n == 0:
            self.matrix, self.ops, self.valid_spec = None, None, False
            return
        keep = reachable_vertices(self.original_matrix)
        if keep.sum() < 2:
            self.matrix, self.ops, self.valid_spec = None, None, False
            return
        self.matrix = self.original_matrix[np.ix_(keep, keep)]
        self.ops = [op for op, kept in zip(self.original_ops, keep) if kept]

    def hash_spec(self, canonical_ops: Sequence[str] = AVAILABLE_OPS) -> str:
        """The reference fingerprint of the pruned cell (input labelled -1, output -2)."""
        if not self.valid_spec:
            raise ValueError(
                "cannot hash an invalid spec: the output is not reachable from the input"
            )
        labeling = [INPUT_LABEL]
        for op in self.ops[1:-1]:
            if op not in canonical_ops:
                raise ValueError(f"unknown op {op!r}, expected one of {list(canonical_ops)}")
            labeling.append(list(canonical_ops).index(op))
        labeling.append(OUTPUT_LABEL)
        return hash_module(self.matrix, labeling)

    def __repr__(self) -> str:
        return f"ModelSpec(matrix={self.original_matrix.tolist()}, ops={self.original_ops})"
