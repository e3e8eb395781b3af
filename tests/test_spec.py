"""ModelSpec: validation, pruning and the official NAS-Bench-101 hash."""

import hashlib
import itertools

import numpy as np
import pytest

from nasbench1shot1.nasbench import NASBench, OutOfDomainError
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


def _plain_reachable(matrix: np.ndarray) -> np.ndarray:
    """Vertices on an input-output path, by a forward and a backward sweep over the matrix."""
    n = matrix.shape[0]
    from_input, to_output = np.zeros(n, dtype=bool), np.zeros(n, dtype=bool)
    from_input[0] = to_output[n - 1] = True
    for v in range(1, n):
        from_input[v] = bool((matrix[:v, v].astype(bool) & from_input[:v]).any())
    for v in range(n - 2, -1, -1):
        to_output[v] = bool((matrix[v, v + 1 :].astype(bool) & to_output[v + 1 :]).any())
    return from_input & to_output


def _plain_hash(matrix: np.ndarray, labeling: list[int]) -> str:
    """The reference fingerprint written out over neighbour lists and str, as the oracle."""
    n = len(labeling)
    md5 = lambda text: hashlib.md5(text.encode("utf-8")).hexdigest()  # noqa: E731
    into = [[w for w in range(n) if matrix[w, v]] for v in range(n)]
    out_of = [[w for w in range(n) if matrix[v, w]] for v in range(n)]
    hashes = [md5(str((len(out_of[v]), len(into[v]), labeling[v]))) for v in range(n)]
    for _ in range(n):
        hashes = [
            md5(
                "".join(sorted(hashes[w] for w in into[v]))
                + "|"
                + "".join(sorted(hashes[w] for w in out_of[v]))
                + "|"
                + hashes[v]
            )
            for v in range(n)
        ]
    return md5(str(sorted(hashes)))


@pytest.mark.parametrize("vertices", [1, 2, 3, 5, 7, 9, 12])
def test_pruning_and_hashing_match_plain_graph_code_on_random_specs(vertices: int):
    rng = np.random.default_rng(vertices)
    ops_names = [CONV3X3, CONV1X1, MAXPOOL3X3]
    invalid = 0
    for _ in range(300 if vertices <= 7 else 40):
        density = rng.uniform(0.1, 0.9)
        matrix = np.triu(rng.random((vertices, vertices)) < density, k=1).astype(int)
        ops = ["input"] + [ops_names[k] for k in rng.integers(0, 3, max(vertices - 2, 0))]
        ops = (ops + ["output"])[-vertices:] if vertices > 1 else ["input"]
        spec = ModelSpec(matrix.tolist() if rng.random() < 0.5 else matrix, ops)
        keep = _plain_reachable(matrix)
        assert spec.original_matrix.tolist() == matrix.tolist() and spec.original_ops == ops
        if keep.sum() < 2:
            invalid += 1
            assert not spec.valid_spec and spec.matrix is None and spec.ops is None
            continue
        assert spec.valid_spec
        assert spec.matrix.tolist() == matrix[np.ix_(keep, keep)].tolist()
        assert spec.matrix.dtype == np.int64
        assert spec.ops == [op for op, kept in zip(ops, keep) if kept]
        labels = [-1] + [ops_names.index(op) for op in spec.ops[1:-1]] + [-2]
        expected = _plain_hash(spec.matrix, labels)
        assert spec.hash_spec() == expected == hash_module(spec.matrix, labels)
    assert invalid > 0 or vertices > 7


def test_values_are_checked_before_the_triangle():
    with pytest.raises(ValueError, match="0 or 1"):
        ModelSpec([[0, 0], [1, 2]], ["input", "output"])
    for bad in ([[0, "1"], [0, 0]], [[0, 0.5], [0, 0]], [[0, float("nan")], [0, 0]]):
        with pytest.raises(ValueError, match="0 or 1"):
            ModelSpec(bad, ["input", "output"])
    spec = ModelSpec([[False, True], [False, False]], ["input", "output"])
    assert spec.matrix.dtype == np.int64 and spec.matrix.tolist() == [[0, 1], [0, 0]]
    # Every integer kind and byte order: 0 and 1 pass, anything else (257 shares a byte with 1,
    # -1 and 255 are all ones) is refused.
    for dtype in (np.int8, np.uint8, np.int16, ">i4", "<i8", ">u8", np.uint64):
        good = np.array([[0, 1], [0, 0]], dtype=dtype)
        assert ModelSpec(good, ["input", "output"]).hash_spec() == spec.hash_spec()
        for value in (2, 255, 257, -1):
            bad = np.array([[0, 0], [0, 0]], dtype=dtype)
            try:
                bad[0, 1] = value
            except OverflowError:
                continue
            if bad[0, 1] in (0, 1):  # wrapped around into the allowed values
                continue
            with pytest.raises(ValueError, match="0 or 1"):
                ModelSpec(bad, ["input", "output"])


def test_the_spec_copies_its_inputs_and_hashes_its_current_matrix():
    matrix = np.array(INCEPTION_MATRIX)
    spec = ModelSpec(matrix, INCEPTION_OPS)
    matrix[0, 1] = 0
    assert spec.original_matrix[0, 1] == 1 and spec.hash_spec() == INCEPTION_HASH
    spec.matrix[3, 4] = 0
    spec.matrix[3, 6] = 1
    labels = [-1, 1, 0, 0, 0, 2, -2]
    assert spec.hash_spec() == _plain_hash(spec.matrix, labels) != INCEPTION_HASH
    assert spec.hash_spec(["x", CONV1X1, CONV3X3, MAXPOOL3X3, CONV3X3]) == hash_module(
        spec.matrix, [-1, 1, 2, 2, 2, 3, -2]
    )


def _labels(ops: list[str]) -> list[int]:
    return [-1] + [[CONV3X3, CONV1X1, MAXPOOL3X3].index(op) for op in ops[1:-1]] + [-2]


def test_answers_follow_a_matrix_or_ops_changed_after_they_were_given():
    # The spec keeps its answers while matrix and ops are unchanged; every kind of change after
    # a call must give the reference's answer for the new content, never the kept one.
    spec = ModelSpec(INCEPTION_MATRIX, INCEPTION_OPS)
    assert spec.hash_spec() == INCEPTION_HASH and spec.num_edges() == 9
    spec.matrix[3, 4] = 0  # in place
    expected = _plain_hash(spec.matrix, _labels(spec.ops))
    assert spec.hash_spec() == expected != INCEPTION_HASH and spec.num_edges() == 8
    spec.matrix = np.array(INCEPTION_MATRIX)  # replaced
    assert spec.hash_spec() == INCEPTION_HASH and spec.num_edges() == 9
    spec.matrix = INCEPTION_MATRIX  # replaced by a list, as the reference allows
    assert spec.hash_spec() == INCEPTION_HASH and spec.num_edges() == 9
    spec.matrix = np.array(INCEPTION_MATRIX)
    spec.ops[1] = CONV3X3  # ops in place
    assert spec.hash_spec() == _plain_hash(spec.matrix, _labels(spec.ops)) != INCEPTION_HASH
    spec.ops = list(INCEPTION_OPS)  # ops replaced
    assert spec.hash_spec() == INCEPTION_HASH
    spec.ops[2] = "conv5x5"
    with pytest.raises(ValueError, match="unknown op 'conv5x5'"):
        spec.hash_spec()
    spec.ops[2] = CONV3X3
    spec.matrix.shape = (49,)  # same bytes, another shape: read again (and fails as a matrix)
    with pytest.raises(ValueError):
        spec.hash_spec()


def test_a_pruned_spec_answers_for_its_current_matrix_too():
    matrix = [[0, 1, 1, 0, 0], [0, 0, 0, 0, 1], [0, 0, 0, 1, 0], [0, 0, 0, 0, 0], [0] * 5]
    spec = ModelSpec(matrix, ["input", CONV3X3, CONV1X1, MAXPOOL3X3, "output"])
    assert spec.num_edges() == 2 and spec.hash_spec() == _plain_hash(spec.matrix, [-1, 0, -2])
    spec.matrix[0, 2] = 1
    assert spec.num_edges() == 3 and spec.hash_spec() == _plain_hash(spec.matrix, [-1, 0, -2])


def test_queries_follow_a_spec_changed_after_a_query():
    other_matrix = np.array(INCEPTION_MATRIX)
    other_matrix[3, 4] = 0
    other_matrix[3, 6] = 1
    other_hash = _plain_hash(other_matrix, _labels(INCEPTION_OPS))
    benchmark = NASBench.from_arrays(
        [INCEPTION_HASH, other_hash],
        np.stack([np.array(INCEPTION_MATRIX), other_matrix]),
        np.array([_labels(INCEPTION_OPS)] * 2),
        {"final_test_accuracy": np.array([0.5, 0.7]).reshape(2, 1, 1)},
        num_repeats=1,
    )
    spec = ModelSpec(INCEPTION_MATRIX, INCEPTION_OPS)
    assert benchmark.is_valid(spec) and benchmark.query(spec)["test_accuracy"] == 0.5
    spec.matrix[3, 4] = 0
    spec.matrix[3, 6] = 1
    assert benchmark.query(spec)["test_accuracy"] == 0.7
    fixed, _ = benchmark.get_metrics_from_spec(spec)
    assert fixed["module_adjacency"].tolist() == other_matrix.tolist()
    spec.matrix[1, 2] = 1  # a tenth edge: out of the domain, as the reference counts edges
    assert not benchmark.is_valid(spec)
    with pytest.raises(OutOfDomainError, match="too many edges, got 10"):
        benchmark.query(spec)
    spec.matrix[1, 2] = 0
    spec.ops[1] = "conv5x5"
    assert not benchmark.is_valid(spec)
    spec.ops[1] = CONV1X1
    assert benchmark.is_valid(spec) and benchmark.query(spec)["test_accuracy"] == 0.7
