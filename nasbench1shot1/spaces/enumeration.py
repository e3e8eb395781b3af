"""Every configuration of a search space, hashed fast, and the unique cells they make.

Hashing the 1,312,200 configurations of space 3 one by one would take minutes, but they are made
of few distinct graphs: a configuration is a parent structure (5,400 in space 3) times an op
assignment, pruning maps the structures onto a few hundred pruned graphs, and the ops of pruned
vertices do not matter. Labelled pruned graphs that are isomorphic share a hash, so each one is
reduced to a canonical code (the smallest code over all orderings of its choice blocks) and the
md5 fingerprint is computed once per canonical code; numpy broadcasts the results back to every
configuration in enumeration order (see `SearchSpace.architecture_at`).
"""

from __future__ import annotations

import itertools
from functools import cache

import numpy as np

from nasbench1shot1.nasbench.spec import (
    AVAILABLE_OPS,
    INPUT_LABEL,
    OUTPUT_LABEL,
    hash_module,
    reachable_vertices,
)
from nasbench1shot1.spaces.space import Architecture, SearchSpace, get_search_space

_NUM_OPS = len(AVAILABLE_OPS)


def _digits(width: int) -> np.ndarray:
    """Every op assignment of `width` blocks as a (3**width, width) array of op indices, in
    enumeration order (first block most significant)."""
    product = list(itertools.product(range(_NUM_OPS), repeat=width))
    return np.array(product, dtype=np.int64).reshape(len(product), width)


def _canonical_codes(matrices: np.ndarray, num_blocks: int) -> np.ndarray:
    """Canonical code of every (pruned graph, labelling) pair with `num_blocks` choice blocks.

    `matrices` is (P, n, n) with n = num_blocks + 2; returns (P, 3**num_blocks) int64 codes such
    that two pairs get the same code exactly when the labelled graphs are isomorphic.
    """
    n = num_blocks + 2
    labelings = _digits(num_blocks)
    perms = np.array(list(itertools.permutations(range(num_blocks))), dtype=np.int64).reshape(
        -1, num_blocks
    )
    vertex_perms = np.concatenate(
        [np.zeros((len(perms), 1), np.int64), perms + 1, np.full((len(perms), 1), n - 1)], axis=1
    )
    # permuted[p, q, i, j] = matrices[p, sigma_q(i), sigma_q(j)]
    permuted = matrices[:, vertex_perms[:, :, None], vertex_perms[:, None, :]]
    bit_weights = np.left_shift(np.int64(1), np.arange(n * n, dtype=np.int64))
    adjacency_codes = (permuted.reshape(len(matrices), len(perms), n * n) * bit_weights).sum(-1)
    digit_weights = _NUM_OPS ** np.arange(num_blocks - 1, -1, -1, dtype=np.int64)
    label_codes = (labelings[:, perms] * digit_weights).sum(-1)  # (L, Q)
    codes = adjacency_codes[:, None, :] * _NUM_OPS**num_blocks + label_codes[None, :, :]
    return codes.min(axis=-1)


@cache
def _enumerate(number: int) -> tuple[np.ndarray, np.ndarray]:
    space = get_search_space(number)
    blocks = space.num_choice_blocks
    ops_per_structure = _NUM_OPS**blocks
    op_digits = _digits(blocks)
    hashes = np.empty((len(space.structures), ops_per_structure), dtype="S32")
    loose = np.empty(len(space.structures), dtype=bool)

    # Group the structures by pruned graph.
    pruned: dict[tuple[int, bytes], list[int]] = {}
    kept_blocks: list[np.ndarray] = []
    pruned_matrix: dict[tuple[int, bytes], np.ndarray] = {}
    placeholder_ops = (AVAILABLE_OPS[0],) * blocks
    for s, structure in enumerate(space.structures):
        matrix = space.adjacency(Architecture(placeholder_ops, structure))
        keep = reachable_vertices(matrix)
        loose[s] = not keep.all()
        small = matrix[np.ix_(keep, keep)].astype(np.int64)
        key = (int(keep.sum()) - 2, small.tobytes())
        pruned.setdefault(key, []).append(s)
        pruned_matrix[key] = small
        kept_blocks.append(np.flatnonzero(keep[1:-1]))

    by_size: dict[int, list[tuple[int, bytes]]] = {}
    for key in pruned:
        by_size.setdefault(key[0], []).append(key)
    for k, keys in by_size.items():
        codes = _canonical_codes(np.stack([pruned_matrix[key] for key in keys]), k)
        unique_codes, first, inverse = np.unique(codes, return_index=True, return_inverse=True)
        labelings = _digits(k)
        class_hashes = np.empty(len(unique_codes), dtype="S32")
        for c, flat in enumerate(first):
            p, labeling = divmod(int(flat), _NUM_OPS**k)
            labels = [INPUT_LABEL, *labelings[labeling].tolist(), OUTPUT_LABEL]
            class_hashes[c] = hash_module(pruned_matrix[keys[p]], labels)
        pair_hashes = class_hashes[inverse.reshape(codes.shape)]  # (P_k, 3**k)
        digit_weights = _NUM_OPS ** np.arange(k - 1, -1, -1, dtype=np.int64)
        for p, key in enumerate(keys):
            for s in pruned[key]:
                labeling_index = op_digits[:, kept_blocks[s]] @ digit_weights
                hashes[s] = pair_hashes[p, labeling_index]
    loose_configs = np.repeat(loose, ops_per_structure)
    for array in (hashes, loose_configs):
        array.flags.writeable = False
    return hashes.reshape(-1), loose_configs


def configuration_hashes(space: SearchSpace) -> np.ndarray:
    """The NAS-Bench-101 hash (S32) of every configuration, in enumeration order. Read-only."""
    return _enumerate(space.number)[0]


def loose_end_mask(space: SearchSpace) -> np.ndarray:
    """True for every configuration (in enumeration order) that has a loose end."""
    return _enumerate(space.number)[1]


def unique_cells(space: SearchSpace, loose_ends: bool = True) -> np.ndarray:
    """Sorted unique hashes of the space's cells; with `loose_ends=False` only the cells of
    configurations in which every choice block reaches the output."""
    hashes = configuration_hashes(space)
    if not loose_ends:
        hashes = hashes[~loose_end_mask(space)]
    return np.unique(hashes)


def cell_architectures(space: SearchSpace, loose_ends: bool = True) -> dict[str, Architecture]:
    """One configuration per unique cell: hex hash -> the first configuration (in enumeration
    order) that makes it, in sorted hash order. Training or querying each cell once needs this."""
    hashes = configuration_hashes(space)
    candidates = np.arange(len(hashes))
    if not loose_ends:
        candidates = candidates[~loose_end_mask(space)]
    unique, first = np.unique(hashes[candidates], return_index=True)
    return {
        key.decode(): space.architecture_at(int(candidates[index]))
        for key, index in zip(unique, first)
    }
