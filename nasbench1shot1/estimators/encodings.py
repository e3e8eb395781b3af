"""How a model-based predictor sees a cell: the encodings of many NAS-Bench-101 cells at once.

This module owns the padded form of a cell (`cell_arrays`: 7x7 adjacency with the output at
vertex 6 and op labels, as NAS-Bench-101 pads a smaller cell by inserting vertices without edges
before the output) and the two encodings of the predictors (`ENCODINGS`, `encode`):

- `adjacency`: the 21 entries above the diagonal of the padded adjacency matrix, then a one-hot
  of the op (conv3x3, conv1x1, maxpool3x3) of each of the 5 inner vertices (all zero for a
  padding vertex): 36 features.
- `path` (BANANAS, White et al. 2021): one feature per sequence of inner ops that an
  input->output path can have, 1 if the cell has such a path: 3^0 + 3^1 + ... + 3^5 = 364
  features. A path of ops (o_1, ..., o_k) is feature `sum_{j<k} 3^j + sum_j o_j 3^(j-1)`.

Both are computed with numpy over all cells together; only reading each ModelSpec is per cell.
`graph_arrays` gives the padded graphs with one-hot node labels for the graph network.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from itertools import combinations

import numpy as np

from nasbench1shot1.nasbench import ModelSpec
from nasbench1shot1.nasbench.spec import AVAILABLE_OPS, INPUT_LABEL, OUTPUT_LABEL

#: Vertices of a padded cell; the input is vertex 0, the output vertex 6.
VERTICES = 7
INNER = VERTICES - 2
OUTPUT_VERTEX = VERTICES - 1
#: The op label of a padding vertex (inner ops are 0, 1, 2 in AVAILABLE_OPS order).
PADDING_LABEL = -3
_OP_LABEL = {op: label for label, op in enumerate(AVAILABLE_OPS)}
_UPPER = np.triu_indices(VERTICES, k=1)
#: Node classes of `graph_arrays`: input, output, then AVAILABLE_OPS.
NODE_CLASSES = 2 + len(AVAILABLE_OPS)


def cell_arrays(specs: Sequence[ModelSpec]) -> tuple[np.ndarray, np.ndarray]:
    """The pruned cells of `specs` padded to 7 vertices: adjacency (N, 7, 7) uint8 and op
    labels (N, 7) int8 (-1 input, -2 output at vertex 6, 0..2 inner ops, -3 padding)."""
    adjacency = np.zeros((len(specs), VERTICES, VERTICES), dtype=np.uint8)
    labels = np.full((len(specs), VERTICES), PADDING_LABEL, dtype=np.int8)
    labels[:, 0] = INPUT_LABEL
    labels[:, OUTPUT_VERTEX] = OUTPUT_LABEL
    by_size: dict[int, list[int]] = {}
    for i, spec in enumerate(specs):
        if not spec.valid_spec:
            raise ValueError(f"cell {i} is not a valid NAS-Bench-101 cell: its output cannot "
                             "be reached from its input")
        size = len(spec.ops)
        if size > VERTICES:
            raise ValueError(f"cell {i} has {size} vertices, NAS-Bench-101 cells have at most "
                             f"{VERTICES}")
        by_size.setdefault(size, []).append(i)
    for size, rows in by_size.items():
        rows = np.asarray(rows)
        matrices = np.stack([specs[i].matrix for i in rows])
        # vertices 0..size-2 keep their place, the output moves to vertex 6
        adjacency[rows[:, None, None], np.arange(size - 1)[:, None], np.arange(size - 1)] = (
            matrices[:, : size - 1, : size - 1])
        adjacency[rows[:, None], np.arange(size - 1), OUTPUT_VERTEX] = matrices[:, : size - 1, -1]
        if size > 2:
            try:
                inner = [[_OP_LABEL[op] for op in specs[i].ops[1:-1]] for i in rows]
            except KeyError as error:
                raise ValueError(f"unknown op {error.args[0]!r} in a cell, expected one of "
                                 f"{', '.join(AVAILABLE_OPS)}") from None
            labels[rows[:, None], np.arange(1, size - 1)] = inner
    return adjacency, labels


def _op_one_hot(labels: np.ndarray) -> np.ndarray:
    """(N, V) labels -> (N, V, 3) one-hot of the inner ops (zero for other labels)."""
    return (labels[..., None] == np.arange(len(AVAILABLE_OPS))).astype(np.float32)


def adjacency_encoding(specs: Sequence[ModelSpec]) -> np.ndarray:
    """(N, 36): the padded adjacency above the diagonal, then the one-hot inner ops."""
    adjacency, labels = cell_arrays(specs)
    edges = adjacency[:, _UPPER[0], _UPPER[1]].astype(np.float32)
    ops = _op_one_hot(labels[:, 1:OUTPUT_VERTEX]).reshape(len(specs), -1)
    return np.concatenate([edges, ops], axis=1)


#: Every vertex sequence an input->output path of a padded cell can take (inner vertices
#: increasing, as the matrix is upper triangular): 2^5 = 32.
_PATHS = [inner for length in range(INNER + 1)
          for inner in combinations(range(1, OUTPUT_VERTEX), length)]
#: First feature of the paths with k inner ops: 3^0 + ... + 3^(k-1).
_PATH_OFFSETS = np.cumsum([0] + [len(AVAILABLE_OPS) ** k for k in range(INNER + 1)])
PATH_FEATURES = int(_PATH_OFFSETS[-1])


def path_encoding(specs: Sequence[ModelSpec]) -> np.ndarray:
    """(N, 364): 1 where the cell has an input->output path with that sequence of inner ops."""
    adjacency, labels = cell_arrays(specs)
    encoding = np.zeros((len(specs), PATH_FEATURES), dtype=np.float32)
    rows = np.arange(len(specs))
    for inner in _PATHS:
        vertices = (0, *inner, OUTPUT_VERTEX)
        present = np.ones(len(specs), dtype=bool)
        for tail, head in zip(vertices[:-1], vertices[1:]):
            present &= adjacency[:, tail, head] == 1
        feature = np.full(len(specs), _PATH_OFFSETS[len(inner)])
        for position, vertex in enumerate(inner):
            # a vertex on a present path is an inner op; elsewhere the value is never used
            feature += np.maximum(labels[:, vertex], 0).astype(np.int64) * 3 ** position
        encoding[rows[present], feature[present]] = 1.0
    return encoding


def graph_arrays(specs: Sequence[ModelSpec]) -> tuple[np.ndarray, np.ndarray]:
    """The padded graphs: adjacency (N, 7, 7) float32 and node features (N, 7, 5) float32,
    one-hot over input, output, conv3x3, conv1x1, maxpool3x3 (all zero for padding)."""
    adjacency, labels = cell_arrays(specs)
    classes = np.where(labels == INPUT_LABEL, 0,
                       np.where(labels == OUTPUT_LABEL, 1, labels.astype(np.int64) + 2))
    features = (classes[..., None] == np.arange(NODE_CLASSES)) & (labels != PADDING_LABEL)[
        ..., None]
    return adjacency.astype(np.float32), features.astype(np.float32)


#: The encodings by name (conf/estimator.py ENCODINGS).
ENCODINGS: dict[str, Callable[[Sequence[ModelSpec]], np.ndarray]] = {
    "adjacency": adjacency_encoding,
    "path": path_encoding,
}


def check_encoding(name: str) -> None:
    """Raise ValueError with one sentence if `name` is not an encoding."""
    if name not in ENCODINGS:
        raise ValueError(f"unknown encoding {name!r}, expected one of {', '.join(ENCODINGS)}")


def encode(specs: Sequence[ModelSpec], name: str) -> np.ndarray:
    """The `name` encoding of `specs`, (N, features) float32."""
    check_encoding(name)
    return ENCODINGS[name](specs)
