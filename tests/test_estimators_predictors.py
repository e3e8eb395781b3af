"""The model-based predictors (issue 11) and their encodings: encodings of hand-made cells and
against an independent path enumeration; every predictor on a synthetic benchmark whose
accuracy is a known function of the cell; determinism, cost accounting and bad input."""

from __future__ import annotations

import numpy as np
import pytest

from nasbench1shot1.analysis.criteria import kendall_tau
from nasbench1shot1.conf.estimator import PREDICTORS, PredictorConfig
from nasbench1shot1.embedded import open_benchmark
from nasbench1shot1.estimators import ESTIMATORS, Context, Estimator
from nasbench1shot1.estimators import predictors as _predictors  # noqa: F401  (registers them)
from nasbench1shot1.estimators.base import TRAIN_METRIC, TRAIN_TIME, register
from nasbench1shot1.estimators.encodings import (
    PATH_FEATURES,
    adjacency_encoding,
    encode,
    graph_arrays,
    path_encoding,
)
from nasbench1shot1.nasbench import CONV1X1, CONV3X3, INPUT, MAXPOOL3X3, OUTPUT, NASBench
from nasbench1shot1.nasbench.spec import AVAILABLE_OPS, ModelSpec
from nasbench1shot1.spaces import get_search_space

OPS = {CONV3X3: 0, CONV1X1: 1, MAXPOOL3X3: 2}
FAKE_PROXY = "test_cell_hash_proxy"


def chain(*inner: str) -> ModelSpec:
    """input -> inner ops in a chain -> output."""
    n = len(inner) + 2
    return ModelSpec(np.eye(n, k=1, dtype=int), [INPUT, *inner, OUTPUT])


def hash_value(spec: ModelSpec) -> float:
    """A number in [0, 1) that depends on the cell but on no pattern an encoding shows."""
    return int(spec.hash_spec()[-6:], 16) / 16 ** 6  # the cells of the tests share a prefix


class HashProxy(Estimator):
    """A stand-in zero-cost proxy: `hash_value` of each cell, counting the cells it scores."""

    family = "zero_cost"
    scored = 0

    def score(self, specs):
        HashProxy.scored += len(specs)
        return np.array([hash_value(spec) for spec in specs])


if FAKE_PROXY not in ESTIMATORS:
    register(FAKE_PROXY)(HashProxy)


# -- encodings --------------------------------------------------------------------------------

def test_path_encoding_of_hand_made_cells():
    inception = ModelSpec(
        [[0, 1, 1, 1, 0, 1, 0], [0, 0, 0, 0, 0, 0, 1], [0, 0, 0, 0, 0, 0, 1],
         [0, 0, 0, 0, 1, 0, 0], [0, 0, 0, 0, 0, 0, 1], [0, 0, 0, 0, 0, 0, 1],
         [0, 0, 0, 0, 0, 0, 0]],
        [INPUT, CONV1X1, CONV3X3, CONV3X3, CONV3X3, MAXPOOL3X3, OUTPUT])
    skip_chain = ModelSpec(np.eye(5, k=1, dtype=int) + np.eye(5, k=4, dtype=int),
                           [INPUT, CONV1X1, CONV3X3, CONV1X1, OUTPUT])
    cells = [chain(CONV3X3), chain(MAXPOOL3X3), chain(), inception, skip_chain,
             chain(*[MAXPOOL3X3] * 5)]
    encoding = path_encoding(cells)
    assert encoding.shape == (6, PATH_FEATURES) == (6, 364)
    assert [np.flatnonzero(row).tolist() for row in encoding] == [
        [1],  # one path, one op: 3^0 + conv3x3 (0)
        [3],  # 3^0 + maxpool (2)
        [0],  # the empty path
        [1, 2, 3, 4],  # conv1x1, conv3x3, maxpool, conv3x3 -> conv3x3 (1 + 3 + 0)
        [0, 23],  # the skip and (conv1x1, conv3x3, conv1x1): 1 + 3 + 9 + 1 + 0 * 3 + 1 * 9
        [363],  # five maxpools: the last feature
    ]


def test_adjacency_encoding_pads_as_nasbench_does():
    encoding = adjacency_encoding([chain(CONV3X3), chain(CONV1X1, CONV3X3, CONV1X1, MAXPOOL3X3)])
    assert encoding.shape == (2, 21 + 15)
    upper = [(i, j) for i in range(7) for j in range(i + 1, 7)]
    edges = [[upper[k] for k in np.flatnonzero(row[:21])] for row in encoding]
    # the output moves to vertex 6, the missing vertices are padding without edges
    assert edges == [[(0, 1), (1, 6)], [(0, 1), (1, 2), (2, 3), (3, 4), (4, 6)]]
    ops = encoding[:, 21:].reshape(2, 5, 3)
    assert ops[0].tolist() == [[1, 0, 0]] + [[0, 0, 0]] * 4
    assert ops[1].argmax(axis=1)[:4].tolist() == [1, 0, 1, 2] and not ops[1, 4].any()


def test_encodings_see_the_pruned_cell():
    dangling = ModelSpec([[0, 1, 1, 0], [0, 0, 0, 1], [0, 0, 0, 0], [0, 0, 0, 0]],
                         [INPUT, CONV3X3, MAXPOOL3X3, OUTPUT])
    for name in ("adjacency", "path"):
        np.testing.assert_array_equal(encode([dangling], name), encode([chain(CONV3X3)], name))


def dfs_paths(spec: ModelSpec) -> set[int]:
    """The path features of a cell by depth-first search over its own (unpadded) matrix."""
    matrix, ops, found = spec.matrix, spec.ops, set()

    def walk(vertex: int, inner: list[int]) -> None:
        if vertex == len(ops) - 1:
            found.add(sum(3 ** k for k in range(len(inner)))
                      + sum(op * 3 ** k for k, op in enumerate(inner)))
            return
        for head in np.flatnonzero(matrix[vertex]):
            walk(int(head), inner + ([OPS[ops[head]]] if head < len(ops) - 1 else []))

    walk(0, [])
    return found


@pytest.fixture(scope="module")
def embedded() -> NASBench:
    return open_benchmark("embedded")


@pytest.fixture(scope="module")
def embedded_specs(embedded) -> list[ModelSpec]:
    context = Context(benchmark=embedded, epochs=5, seed=0, space=get_search_space(1))
    return context.specs(embedded.hashes.astype(str)[:400])


def test_path_encoding_matches_depth_first_search(embedded_specs):
    encoding = path_encoding(embedded_specs)
    assert [set(np.flatnonzero(row).tolist()) for row in encoding] == [
        dfs_paths(spec) for spec in embedded_specs]


def test_encodings_of_many_cells_are_those_of_each(embedded_specs):
    for name in ("adjacency", "path"):
        many = encode(embedded_specs[:50], name)
        one_by_one = np.concatenate([encode([spec], name) for spec in embedded_specs[:50]])
        np.testing.assert_array_equal(many, one_by_one)


def test_graph_arrays_label_every_vertex(embedded_specs):
    adjacency, nodes = graph_arrays([chain(CONV1X1), *embedded_specs[:20]])
    assert adjacency.shape == (21, 7, 7) and nodes.shape == (21, 7, 5)
    assert nodes[0].tolist()[:2] == [[1, 0, 0, 0, 0], [0, 0, 0, 1, 0]]
    assert nodes[0, 6].tolist() == [0, 1, 0, 0, 0] and not nodes[0, 2:6].any()
    for spec, labels in zip(embedded_specs[:20], nodes[1:]):
        assert labels.sum() == len(spec.ops)


def test_encodings_reject_bad_cells():
    with pytest.raises(ValueError, match="unknown encoding 'onehot', expected one of"):
        encode([chain()], "onehot")
    broken = ModelSpec([[0, 0, 0], [0, 0, 1], [0, 0, 0]], [INPUT, CONV3X3, OUTPUT])
    with pytest.raises(ValueError, match="cell 1 is not a valid NAS-Bench-101 cell"):
        path_encoding([chain(), broken])


# -- predictors on a synthetic benchmark ------------------------------------------------------

def true_accuracy(spec: ModelSpec) -> float:
    """The synthetic benchmark's accuracy: a known function of the ops and edges of a cell."""
    counts = {op: spec.ops.count(op) for op in AVAILABLE_OPS}
    return (0.5 + 0.06 * counts[CONV3X3] + 0.03 * counts[CONV1X1]
            + 0.01 * int(np.asarray(spec.matrix).sum()))


def synthetic_benchmark(specs: list[ModelSpec], accuracy, seed: int = 0) -> NASBench:
    """Every cell of `specs` with validation and test accuracy `accuracy(spec)` plus independent
    noise (sd 0.01), and a training time of 100 s per inner op."""
    rng = np.random.default_rng(seed)
    cells = len(specs)
    adjacency = np.zeros((cells, 7, 7), dtype=np.uint8)
    labels = np.zeros((cells, 7), dtype=np.int8)  # after the output: padding, ignored
    for i, spec in enumerate(specs):
        n = len(spec.ops)
        adjacency[i, :n, :n] = spec.matrix
        labels[i, :n] = [-1] + [OPS[op] for op in spec.ops[1:-1]] + [-2]
    mean = np.array([accuracy(spec) for spec in specs])
    metrics = {
        name: (mean + rng.normal(0, 0.01, cells))[:, None, None]
        for name in (TRAIN_METRIC, "final_test_accuracy")
    }
    metrics[TRAIN_TIME] = np.array([100.0 * (len(s.ops) - 2) for s in specs])[:, None, None]
    return NASBench.from_arrays([s.hash_spec() for s in specs], adjacency, labels, metrics,
                                epochs=(5,), num_repeats=1)


@pytest.fixture(scope="module")
def synthetic(embedded_specs) -> tuple[NASBench, np.ndarray, np.ndarray]:
    """The benchmark, 150 training hashes and 250 held-out hashes."""
    benchmark = synthetic_benchmark(embedded_specs, true_accuracy)
    hashes = benchmark.hashes.astype(str)[np.random.default_rng(1).permutation(400)]
    return benchmark, hashes[:150], hashes[150:]


def config(name: str, **changes) -> PredictorConfig:
    """Small settings for tests: fewer epochs and networks than the defaults."""
    settings = {"train_epochs": 60, "ensemble": 3, "proxies": [FAKE_PROXY]} | changes
    return PredictorConfig(name=name, **settings)


def fitted(name: str, benchmark: NASBench, train, seed: int = 0, **changes):
    context = Context(benchmark=benchmark, epochs=5, seed=seed, space=get_search_space(1))
    predictor = ESTIMATORS.create(name, config(name, **changes), context)
    predictor.run_fit(train)
    return predictor, context


def test_every_predictor_is_registered_as_model_based():
    for name in PREDICTORS:
        assert ESTIMATORS.get(name).family == "model_based"


@pytest.mark.parametrize("encoding", ["adjacency", "path"])
@pytest.mark.parametrize("name", PREDICTORS)
def test_predictor_ranks_held_out_cells(synthetic, name, encoding):
    """On 250 held-out cells, the test accuracy is the known function plus noise (sd 0.01):
    the function itself reaches tau 0.89 against it; a ranking by chance has tau 0 +- 0.04
    (one sd), so 0.5 is over ten sd beyond chance and leaves room for a model fit on 150 noisy
    cells (measured: 0.79-0.84 on adjacency, which shows op counts linearly; 0.61-0.67 on
    path, which does not)."""
    if name == "gnn" and encoding == "path":
        pytest.skip("gnn reads the graph, not an encoding")
    benchmark, train, held_out = synthetic
    predictor, context = fitted(name, benchmark, train, encoding=encoding)
    specs = context.specs(held_out)
    truth = benchmark.metric("final_test_accuracy", held_out, epochs=5)
    oracle = kendall_tau(np.array([true_accuracy(spec) for spec in specs]), truth)
    tau = kendall_tau(predictor.run_score(specs), truth)
    assert oracle > 0.8
    assert tau > 0.5, f"{name} on {encoding}: Kendall tau {tau:.3f} (oracle {oracle:.3f})"


@pytest.fixture(scope="module")
def with_failed_cells(embedded) -> tuple[NASBench, np.ndarray, np.ndarray]:
    """1,200 cells of space 1 at the known accuracy, 12 of them (1 %) failed to train
    (accuracy 0.1, as NAS-Bench-101's failed cells); 800 training and 400 held-out hashes."""
    context = Context(benchmark=embedded, epochs=5, seed=0, space=get_search_space(1))
    specs = context.specs(embedded.hashes.astype(str)[:1200])
    failed = {specs[i].hash_spec()
              for i in np.random.default_rng(5).choice(len(specs), 12, replace=False)}
    benchmark = synthetic_benchmark(
        specs, lambda spec: 0.1 if spec.hash_spec() in failed else true_accuracy(spec))
    hashes = benchmark.hashes.astype(str)[np.random.default_rng(1).permutation(len(specs))]
    return benchmark, hashes[:800], hashes[800:]


@pytest.mark.parametrize("seed", [0, 1])
def test_the_gnn_ranks_the_cells_despite_a_few_failed_ones(with_failed_cells, seed):
    """The failed cells lie far below the rest (here 20 sd of the others' accuracy): fit by
    squared error at a constant rate the gnn reached Kendall tau 0.74-0.78 on four seeds (and
    dropped to 0.62 on some seeds of the real table); by absolute error with a cosine-decayed
    rate 0.82-0.83 (measured)."""
    benchmark, train, held_out = with_failed_cells
    predictor, context = fitted("gnn", benchmark, train, seed=seed)
    truth = benchmark.metric("final_test_accuracy", held_out, epochs=5)
    tau = kendall_tau(predictor.run_score(context.specs(held_out)), truth)
    assert tau > 0.8, f"seed {seed}: Kendall tau {tau:.3f}"


def test_combined_uses_the_proxy_scores(embedded_specs):
    """Accuracy is the fake proxy's value, which no encoding shows: gbt cannot rank it, combined
    (gbt plus the proxy as a feature) can; the proxy scores training and held-out cells."""
    benchmark = synthetic_benchmark(embedded_specs, lambda spec: hash_value(spec) / 4)
    hashes = benchmark.hashes.astype(str)
    truth = benchmark.metric("final_test_accuracy", hashes[200:], epochs=5)
    taus = {}
    for name in ("gbt", "combined"):
        before = HashProxy.scored
        predictor, context = fitted(name, benchmark, hashes[:200])
        taus[name] = kendall_tau(predictor.run_score(context.specs(hashes[200:])), truth)
    assert HashProxy.scored - before == 400
    assert taus["combined"] > 0.8 and abs(taus["gbt"]) < 0.2, taus


@pytest.mark.parametrize("name", PREDICTORS)
def test_predictor_is_deterministic_for_a_seed(synthetic, name):
    benchmark, train, held_out = synthetic
    scores = []
    for seed in (3, 3, 4):
        predictor, context = fitted(name, benchmark, train[:60], seed=seed, train_epochs=20)
        scores.append(predictor.run_score(context.specs(held_out[:50])))
    np.testing.assert_allclose(scores[0], scores[1], rtol=1e-6, atol=1e-9)
    if name in ("rf", "gbt", "combined", "mlp_ensemble", "gnn"):  # seeded randomness inside
        assert not np.allclose(scores[0], scores[2], rtol=1e-6, atol=1e-9)


def test_cost_counts_the_queried_cells(embedded):
    hashes = embedded.hashes.astype(str)[::50]
    predictor, context = fitted("gbt", embedded, hashes)
    seconds = embedded.metric(TRAIN_TIME, hashes, epochs=5)
    assert predictor.cost.init_queries == len(hashes)
    assert predictor.cost.init_simulated_seconds == pytest.approx(seconds.sum(), rel=1e-9)
    assert predictor.cost.init_seconds > 0
    predictor.run_score(context.specs(hashes[:7]))
    assert predictor.cost.cells_scored == 7 and predictor.cost.seconds_per_cell > 0


def test_scoring_no_cells_gives_no_scores(synthetic):
    benchmark, train, _ = synthetic
    predictor, _ = fitted("blr", benchmark, train[:10])
    assert predictor.run_score([]).shape == (0,)


def test_bad_input_is_one_sentence(synthetic, embedded_specs):
    benchmark, train, _ = synthetic
    context = Context(benchmark=benchmark, epochs=5, seed=0)
    with pytest.raises(ValueError, match="^unknown encoding 'one_hot', expected one of "):
        ESTIMATORS.create("gbt", config("gbt", encoding="one_hot"), context)
    with pytest.raises(ValueError, match="^predictor rf needs at least 2 training cells, got 1$"):
        ESTIMATORS.create("rf", config("rf"), context).fit(train[:1])
    with pytest.raises(RuntimeError, match="asked to score before fit"):
        ESTIMATORS.create("rf", config("rf"), context).score([chain()])
    with pytest.raises(ValueError, match="at least one zero-cost proxy"):
        ESTIMATORS.create("combined", config("combined", proxies=[]), context)
    with pytest.raises(ValueError, match="no_such_proxy"):
        ESTIMATORS.create("combined", config("combined", proxies=["no_such_proxy"]), context)
    with pytest.raises(ValueError, match="ensemble >= 1"):
        ESTIMATORS.create("mlp_ensemble", config("mlp_ensemble", ensemble=0), context)
    unmeasured = embedded_specs[2]
    partial = synthetic_benchmark(embedded_specs[:5],
                                  lambda spec: np.nan if spec is unmeasured else 0.5)
    predictor = ESTIMATORS.create("gp", config("gp"), Context(benchmark=partial, epochs=5))
    with pytest.raises(ValueError, match="^1 of the 5 training cells have no "
                                         "final_validation_accuracy at 5 epochs"):
        predictor.fit(partial.hashes.astype(str))

