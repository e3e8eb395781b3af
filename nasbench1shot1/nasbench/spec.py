"""The NAS-Bench-101 cell: `ModelSpec`, its pruning, and the official graph hash.

A cell is an upper-triangular adjacency matrix over at most 7 vertices plus one op per vertex.
Vertices that are not on a path from the input to the output do not affect the network, so they
are pruned before hashing; the hash is the md5 fingerprint of the reference API
(google-research/nasbench), so a hash computed here finds the same row in the official files.

Graphs are handled as bit masks, one Python int per vertex (bit w of `successors[v]` set when
there is an edge v -> w): pruning is a few integer operations per vertex and the neighbours of a
vertex come from a table of the 256 masks of up to 8 vertices, so no general graph code runs on
a NAS-Bench-101 cell. Larger graphs take the same path with the neighbours computed per mask.
"""

from __future__ import annotations

import hashlib
from binascii import hexlify
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

_md5 = hashlib.md5
try:
    # CPython's own md5 starts faster than OpenSSL's on the short texts a vertex hashes.
    from _md5 import md5 as _fast_md5
except ImportError:  # pragma: no cover - Python builds without the module
    _fast_md5 = hashlib.md5
_TABLE_BITS = 8
#: The set bits of every mask below 2**8, increasing: the neighbours of a vertex of a small graph.
_MEMBERS: tuple[tuple[int, ...], ...] = tuple(
    tuple(v for v in range(_TABLE_BITS) if mask >> v & 1) for mask in range(1 << _TABLE_BITS)
)


def _members(mask: int) -> tuple[int, ...]:
    if mask < 1 << _TABLE_BITS:
        return _MEMBERS[mask]
    return tuple(v for v in range(mask.bit_length()) if mask >> v & 1)


def row_masks(nonzero: np.ndarray) -> list[int]:
    """One int per row of a square boolean matrix, bit j set where the row has column j set."""
    packed = np.packbits(nonzero, axis=1, bitorder="little")
    if packed.shape[1] == 1:
        return list(packed.tobytes())
    return [int.from_bytes(row.tobytes(), "little") for row in packed]


@lru_cache(maxsize=4096)
def _vertex_start_hash(out_degree: int, in_degree: int, label: int) -> bytes:
    return _md5(str((out_degree, in_degree, label)).encode("utf-8")).hexdigest().encode("ascii")


#: `_side`'s second item for more than two vertices: not None, so `fingerprint` goes past the
#: one-vertex case, and the third item (the vertices, to sort) is not None either.
_MANY = True


def _side(vertices: tuple[int, ...]) -> tuple[int, int | bool | None, tuple[int, ...] | None]:
    """How `fingerprint` joins the hashes of one side (in- or out-neighbours) of a vertex.

    (first, second, more): no vertex (-1, None, None), -1 indexing an empty text; one
    (w, None, None); two (w, x, None), put in order by one comparison; more
    (-1, _MANY, vertices), sorted.
    """
    count = len(vertices)
    if count == 0:
        return -1, None, None
    if count == 1:
        return vertices[0], None, None
    if count == 2:
        return vertices[0], vertices[1], None
    return -1, _MANY, vertices


#: `_side` of the neighbours of every mask below 2**8.
_SIDES = tuple(_side(members) for members in _MEMBERS)


def _side_of(mask: int) -> tuple[int, int | bool | None, tuple[int, ...] | None]:
    return _SIDES[mask] if mask < 1 << _TABLE_BITS else _side(_members(mask))


def fingerprint(successors: Sequence[int], labeling: Sequence[int]) -> str:
    """The reference fingerprint of a labelled DAG given as successor bit masks.

    Each vertex starts from the md5 of its (out-degree, in-degree, label) tuple; then, once per
    vertex, every vertex hash is replaced by the md5 of its sorted in-neighbour hashes, its sorted
    out-neighbour hashes and its own hash, joined by '|'. The fingerprint is the md5 of the sorted
    vertex hashes written as the reference writes a Python list of str. Isomorphic graphs with
    equal labels get equal fingerprints.

    The n * n md5 calls are most of the time; the steps around each are kept few: the plan of
    each side comes from a table of masks, and no neighbour, one, or two (one comparison) need
    no sort call.
    """
    n = len(labeling)
    predecessors = [0] * n
    for v in range(n):
        for w in _members(successors[v]):
            predecessors[w] |= 1 << v
    # Hex digests as ASCII bytes: the reference's strings, hashed without encoding each time.
    hashes = [
        _vertex_start_hash(out_of.bit_count(), into.bit_count(), int(label))
        for out_of, into, label in zip(successors, predecessors, labeling)
    ]
    side = _SIDES.__getitem__ if n <= _TABLE_BITS else _side_of
    plan = list(zip(map(side, predecessors), map(side, successors), range(n)))
    md5, hexlify_, join = _fast_md5, hexlify, b"".join
    for _ in range(n):
        hashes.append(b"")  # index -1: the text of no neighbour
        new = []
        add = new.append
        for (first, second, more), (out_first, out_second, out_more), v in plan:
            if second is None:
                into = hashes[first]
            elif more is None:
                one, other = hashes[first], hashes[second]
                into = one + other if one <= other else other + one
            else:
                into = join(sorted([hashes[w] for w in more]))
            if out_second is None:
                out_of = hashes[out_first]
            elif out_more is None:
                one, other = hashes[out_first], hashes[out_second]
                out_of = one + other if one <= other else other + one
            else:
                out_of = join(sorted([hashes[w] for w in out_more]))
            add(hexlify_(md5(join((into, b"|", out_of, b"|", hashes[v]))).digest()))
        hashes = new
    # str(sorted(list of str)) of the reference: ['h1', 'h2', ...]
    listing = b"['" + b"', '".join(sorted(hashes)) + b"']" if hashes else b"[]"
    return _fast_md5(listing).hexdigest()


def hash_module(matrix: np.ndarray | Sequence[Sequence[int]], labeling: Sequence[int]) -> str:
    """The reference NAS-Bench-101 fingerprint of a labelled DAG (see `fingerprint`)."""
    matrix = np.asarray(matrix)
    if matrix.size == 0:
        return fingerprint([0] * len(labeling), labeling)
    return fingerprint(row_masks(matrix != 0), labeling)


def prune_masks(successors: Sequence[int]) -> int:
    """Bit mask of the vertices on some path from vertex 0 (input) to the last (output).

    `successors` must be upper triangular (every edge goes to a later vertex).
    """
    n = len(successors)
    if n == 0:
        return 0
    from_input = 1
    for v in range(n):
        if from_input >> v & 1:
            from_input |= successors[v]
    last = 1 << (n - 1)
    to_output = last
    for v in range(n - 2, -1, -1):
        if successors[v] & to_output:
            to_output |= 1 << v
    return from_input & to_output


def reachable_vertices(matrix: np.ndarray) -> np.ndarray:
    """Boolean mask of the vertices on some path from vertex 0 (input) to the last (output)."""
    n = matrix.shape[0]
    keep = prune_masks(row_masks(np.asarray(matrix) != 0)) if n else 0
    return np.array([bool(keep >> v & 1) for v in range(n)], dtype=bool)


@lru_cache(maxsize=256)
def _index_of_ops(canonical_ops: tuple[str, ...]) -> dict[str, int]:
    """Op -> label: the position of its first occurrence, as `list.index` gives it."""
    labels: dict[str, int] = {}
    for label, op in enumerate(canonical_ops):
        labels.setdefault(op, label)
    return labels


@lru_cache(maxsize=128)
def _kept_indices(keep: int) -> tuple[np.ndarray, np.ndarray]:
    """Index arrays that cut the rows and columns of the kept vertices out of a matrix."""
    kept = np.array(_members(keep), dtype=np.intp)
    return kept[:, None], kept[None, :]


class _CellFacts:
    """What the checks and the hash read from a pruned cell, and the cell they were read from.

    A spec keeps the facts of its last call and uses them again while its `matrix` is the same
    array with the same shape and bytes and its `ops` the same list of names: a matrix or ops
    changed after construction, in place or replaced, is read again, as the reference reads
    `matrix` and `ops` on every call.
    """

    __slots__ = ("matrix", "shape", "content", "ops", "inner_ops", "successors", "edges",
                 "hashes")

    def __init__(self, matrix: np.ndarray, ops: list[str], successors: list[int], edges: int):
        self.matrix = matrix
        self.shape = matrix.shape
        self.content = matrix.tobytes()
        self.ops = list(ops)
        # The ops between input and output as a set, for the check that each is available (made
        # here: the check of a new spec is the call to make fast); None when an op is no
        # hashable name (the check then goes op by op).
        try:
            self.inner_ops: frozenset[str] | None = frozenset(self.ops[1:-1])
        except TypeError:
            self.inner_ops = None
        self.successors = successors
        self.edges = edges
        self.hashes: dict[tuple[str, ...], str] = {}


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
        n = matrix.shape[0]
        if n != len(ops):
            raise ValueError(
                f"length of ops must match matrix dimensions, got {len(ops)} ops "
                f"for a {n}x{n} matrix"
            )
        nonzero = matrix != 0
        if matrix.dtype.kind in "biu":
            # An integer matrix holds only 0 and 1 when it has the bytes of its nonzero mask:
            # a quarter of the time of the elementwise comparison, a fifth of a construction.
            zero_one = nonzero.astype(matrix.dtype).tobytes() == matrix.tobytes()
        else:
            zero_one = bool((matrix == nonzero).all())
        if not zero_one:
            raise ValueError("matrix entries must be 0 or 1")
        if matrix.dtype != np.int64:
            matrix = matrix.astype(np.int64)
        successors = row_masks(nonzero) if n else []
        for v, mask in enumerate(successors):
            if mask & ((2 << v) - 1):
                raise ValueError("matrix must be upper triangular")
        self.original_matrix = matrix
        self.original_ops = list(ops)
        self.valid_spec = True
        self._facts: _CellFacts | None = None
        keep = prune_masks(successors)
        if keep.bit_count() < 2:
            self.matrix: np.ndarray | None = None
            self.ops: list[str] | None = None
            self.valid_spec = False
        elif keep == (1 << n) - 1:
            self.matrix = matrix.copy()
            self.ops = list(ops)
            # Nothing pruned: the masks at hand are the cell's, its 0/1 entries count the edges.
            edges = sum(map(int.bit_count, successors))
            self._facts = _CellFacts(self.matrix, self.ops, successors, edges)
        else:
            self.matrix = matrix[_kept_indices(keep)]
            self.ops = [self.original_ops[v] for v in _members(keep)]

    def _current_facts(self) -> _CellFacts | None:
        """The facts of the current `matrix` and `ops`; None for an invalid spec."""
        if not self.valid_spec:
            return None
        matrix = self.matrix
        facts = self._facts
        # Whether the facts are of `matrix` and `ops` as they are now (inlined: the checks of a
        # new spec are this call).
        if (
            facts is not None
            and matrix is facts.matrix
            and self.ops == facts.ops
            and matrix.shape == facts.shape
            and matrix.tobytes() == facts.content
        ):
            return facts
        array = np.asarray(matrix)
        # The reference counts edges with np.sum and follows an edge wherever an entry is true.
        facts = _CellFacts(array, self.ops, row_masks(array != 0), int(array.sum()))
        if array is matrix:
            self._facts = facts
        return facts

    def num_edges(self) -> int:
        """Edges of the pruned cell: the sum of its matrix, as the reference counts them."""
        facts = self._current_facts()
        if facts is None:
            raise ValueError("an invalid spec has no edges: the output is not reachable")
        return facts.edges

    def hash_spec(self, canonical_ops: Sequence[str] = AVAILABLE_OPS) -> str:
        """The reference fingerprint of the pruned cell (input labelled -1, output -2)."""
        facts = self._current_facts()
        if facts is None:
            raise ValueError(
                "cannot hash an invalid spec: the output is not reachable from the input"
            )
        key = canonical_ops if type(canonical_ops) is tuple else tuple(canonical_ops)
        found = facts.hashes.get(key)
        if found is not None:
            return found
        label_of = _index_of_ops(key)
        labeling = [INPUT_LABEL]
        for op in facts.ops[1:-1]:
            label = label_of.get(op)
            if label is None:
                raise ValueError(f"unknown op {op!r}, expected one of {list(canonical_ops)}")
            labeling.append(label)
        labeling.append(OUTPUT_LABEL)
        module_hash = facts.hashes[key] = fingerprint(facts.successors, labeling)
        return module_hash

    def __repr__(self) -> str:
        return f"ModelSpec(matrix={self.original_matrix.tolist()}, ops={self.original_ops})"
