"""ModelSpec: validation, pruning and the official NAS-Bench-101 hash."""

import itertools

import numpy as np
import pytest

from nasbench1shot1.nasbench.spec import CONV1X1, CONV3X3, MAXPOOL3X3, ModelSpec, hash_module

INCEPTION_MATRIX = [
    [0, 1, 1, 1, 0, 1, 0],
    [0, 0, 0, 0, 0, 0, 1],
    [0, 0, 0, 0, 0, 0, 1],
    [0, 0, 0, 0, 1, 0, 0],
    [0, 0, 0, 0, 0, 0, 1],
    [0, 0, 0, 0, 0, 0, 1],
    [0, 0, 0, 0, 0, 0, 0],
]
INCEPTION_OPS = ["input", CONV1X1, CONV3X3, CONV3X3, CONV3X3, MAXPOOL3X3, "output"]
INCEPTION_HASH = "28cfc7874f6d200472e1a9dcd8650aa0"


def test_inception_cell_has_the_reference_hash():
    spec = ModelSpec(INCEPTION_MATRIX, INCEPTION_OPS)
    assert spec.valid_spec
    assert spec.hash_spec() == INCEPTION_HASH


def test_isomorphic_cells_hash_alike_and_relabelled_ones_do_not():
    matrix = np.array(INCEPTION_MATRIX)
    hashes = set()
    # Every topological relabelling of the intermediate vertices is the same cell.
    for perm in itertools.permutations(range(1, 6)):
        order = [0, *perm, 6]
        permuted = matrix[np.ix_(order, order)]
        if np.tril(permuted).any():
            continue
        ops = [INCEPTION_OPS[i] for i in order]
        hashes.add(ModelSpec(permuted, ops).hash_spec())
    assert hashes == {INCEPTION_HASH}
    other = list(INCEPTION_OPS)
    other[1] = CONV3X3
    assert ModelSpec(INCEPTION_MATRIX, other).hash_spec() != INCEPTION_HASH


def test_pruning_removes_vertices_off_every_input_output_path():
    matrix = [
        [0, 1, 1, 0, 0],
        [0, 0, 0, 0, 1],  # 1 -> output
        [0, 0, 0, 1, 0],  # 2 -> 3, and 3 is a dead end
        [0, 0, 0, 0, 0],
        [0, 0, 0, 0, 0],
    ]
    ops = ["input", CONV3X3, CONV1X1, MAXPOOL3X3, "output"]
    spec = ModelSpec(matrix, ops)
    assert spec.valid_spec
    assert spec.ops == ["input", CONV3X3, "output"]
    assert spec.matrix.tolist() == [[0, 1, 0], [0, 0, 1], [0, 0, 0]]
    assert spec.original_ops == ops and spec.original_matrix.tolist() == matrix
    assert spec.hash_spec() == ModelSpec(spec.matrix, spec.ops).hash_spec()


def test_unreachable_vertex_is_pruned():
    # Vertex 2 feeds the output but is not reachable from the input.
    matrix = [[0, 1, 0, 0], [0, 0, 0, 1], [0, 0, 0, 1], [0, 0, 0, 0]]
    spec = ModelSpec(matrix, ["input", CONV3X3, CONV1X1, "output"])
    assert spec.ops == ["input", CONV3X3, "output"]


def test_disconnected_cell_is_invalid():
    matrix = [[0, 1, 0], [0, 0, 0], [0, 0, 0]]
    spec = ModelSpec(matrix, ["input", CONV3X3, "output"])
    assert not spec.valid_spec and spec.matrix is None and spec.ops is None
    with pytest.raises(ValueError, match="invalid spec"):
        spec.hash_spec()


def test_input_to_output_edge_alone_is_a_valid_cell():
    spec = ModelSpec([[0, 1], [0, 0]], ["input", "output"])
    assert spec.valid_spec and spec.matrix.shape == (2, 2)
    assert spec.hash_spec() == hash_module(np.array([[0, 1], [0, 0]]), [-1, -2])


@pytest.mark.parametrize(
    ("matrix", "ops", "message"),
    [
        ([[0, 1, 0], [0, 0, 1]], ["input", CONV3X3, "output"], "must be square"),
        ([[0, 1], [0, 0]], ["input", CONV3X3, "output"], "length of ops must match"),
        ([[0, 1], [1, 0]], ["input", "output"], "upper triangular"),
        ([[0, 2], [0, 0]], ["input", "output"], "0 or 1"),
    ],
)
def test_bad_specs_are_rejected_with_one_sentence(matrix, ops, message):
    with pytest.raises(ValueError, match=message):
        ModelSpec(matrix, ops)


def test_unknown_op_cannot_be_hashed():
    spec = ModelSpec([[0, 1, 0], [0, 0, 1], [0, 0, 0]], ["input", "conv5x5", "output"])
    with pytest.raises(ValueError, match="unknown op 'conv5x5'"):
        spec.hash_spec()
