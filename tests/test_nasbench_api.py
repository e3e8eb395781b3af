"""NASBench query semantics (the reference API) and the vectorised additions."""

import random
from pathlib import Path

import numpy as np
import pytest
from conftest import (
    INCEPTION_HASH,
    INCEPTION_MATRIX,
    INCEPTION_OPS,
    PARTIAL_EPOCHS,
    SMALL_CELLS,
    parameters_of,
    run_value,
    small_specs,
)

from nasbench1shot1.nasbench import (
    CONV1X1,
    CONV3X3,
    INPUT,
    MAXPOOL3X3,
    METRIC_FIELDS,
    OUTPUT,
    CellNotFoundError,
    ModelSpec,
    NASBench,
    OutOfDomainError,
    describe,
)
from nasbench1shot1.nasbench.hashes import HashIndex, hash_hex, hash_words

QUERY_KEYS = {
    "module_adjacency",
    "module_operations",
    "trainable_parameters",
    "training_time",
    "train_accuracy",
    "validation_accuracy",
    "test_accuracy",
}


@pytest.fixture
def full(full_file: Path) -> NASBench:
    return NASBench(full_file, seed=7)


def test_reference_attributes(full: NASBench):
    assert full.config == {
        "module_vertices": 7,
        "max_edges": 9,
        "available_ops": ["conv3x3-bn-relu", "conv1x1-bn-relu", "maxpool3x3"],
        "num_repeats": 3,
    }
    assert full.valid_epochs == set(PARTIAL_EPOCHS)
    assert full.epochs == list(PARTIAL_EPOCHS)
    assert full.num_repeats == 3
    assert len(full) == len(SMALL_CELLS)
    assert sorted(full.hash_iterator()) == sorted(s.hash_spec() for s in small_specs())
    assert list(full.hash_iterator()) == sorted(full.hash_iterator())
    assert INCEPTION_HASH in full and "0" * 32 not in full and "nope" not in full


def test_query_returns_the_chosen_run(full: NASBench):
    data = full.query(ModelSpec(INCEPTION_MATRIX, INCEPTION_OPS), epochs=36)
    assert set(data) == QUERY_KEYS
    assert data["module_adjacency"].dtype == np.int8
    assert data["module_adjacency"].tolist() == INCEPTION_MATRIX
    assert data["module_operations"] == INCEPTION_OPS
    assert data["trainable_parameters"] == parameters_of(0)
    repeat = random.Random(7).randint(0, 2)
    for name in ("training_time", "train_accuracy", "validation_accuracy", "test_accuracy"):
        assert data[name] == run_value(0, 36, repeat, f"final_{name}")


def test_stop_halfway_returns_halfway_values(full: NASBench):
    spec = small_specs()[1]
    data = full.query(spec, epochs=12, stop_halfway=True)
    repeat = random.Random(7).randint(0, 2)
    assert data["test_accuracy"] == run_value(1, 12, repeat, "halfway_test_accuracy")
    assert data["training_time"] == run_value(1, 12, repeat, "halfway_training_time")


def test_seeded_repeat_choice_is_reproducible_and_follows_random_randint(full_file: Path):
    spec = small_specs()[2]
    draws = random.Random(123)
    expected = [run_value(2, 108, draws.randint(0, 2), "final_test_accuracy") for _ in range(50)]
    for _ in range(2):
        benchmark = NASBench(full_file, seed=123)
        assert [benchmark.query(spec)["test_accuracy"] for _ in range(50)] == expected
    assert len(set(expected)) == 3


def test_budget_counters(full: NASBench):
    spec = small_specs()[3]
    assert full.get_budget_counters() == (0.0, 0)
    first = full.query(spec, epochs=108)
    second = full.query(spec, epochs=36, stop_halfway=True)
    time_spent, epochs_spent = full.get_budget_counters()
    assert time_spent == pytest.approx(first["training_time"] + second["training_time"])
    assert epochs_spent == 108 + 18
    full.query_all(spec)
    assert full.get_budget_counters() == (time_spent, epochs_spent)
    full.reset_budget_counters()
    assert full.get_budget_counters() == (0.0, 0)
    assert isinstance(full.get_budget_counters()[0], float)


def _chain(vertices: int, op: str = CONV3X3) -> ModelSpec:
    matrix = np.eye(vertices, k=1, dtype=int)
    return ModelSpec(matrix, [INPUT] + [op] * (vertices - 2) + [OUTPUT])


def _ten_edges() -> ModelSpec:
    matrix = np.zeros((7, 7), dtype=int)
    matrix[0, 1:6] = 1
    matrix[1:6, 6] = 1
    return ModelSpec(matrix, [INPUT] + [CONV3X3] * 5 + [OUTPUT])


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (_chain(8), "too many vertices, got 8 (max vertices = 7)"),
        (_ten_edges(), "too many edges, got 10 (max edges = 9)"),
        (_chain(4, "conv5x5"), "unsupported op conv5x5 (available ops = "),
        (ModelSpec([[0, 1], [0, 0]], [CONV3X3, OUTPUT]), "first operation should be 'input'"),
        (ModelSpec([[0, 1], [0, 0]], [INPUT, CONV3X3]), "last operation should be 'output'"),
        (
            ModelSpec([[0, 1, 0], [0, 0, 0], [0, 0, 0]], [INPUT, CONV3X3, OUTPUT]),
            "invalid spec, provided graph is disconnected.",
        ),
    ],
)
def test_out_of_domain_specs(full: NASBench, spec: ModelSpec, message: str):
    assert not full.is_valid(spec)
    for call in (full.query, full.query_all, full.get_metrics_from_spec):
        with pytest.raises(OutOfDomainError) as raised:
            call(spec)
        assert str(raised.value).startswith(message)
    assert full.get_budget_counters() == (0.0, 0)


def test_the_checks_read_the_config_and_the_spec_as_they_are_now(full: NASBench):
    """As the reference, which reads config and spec on every call: a changed list of available
    ops (in place or replaced, any sequence), ops or matrix changed after a first check."""
    spec = ModelSpec(np.eye(4, k=1, dtype=int), [INPUT, CONV3X3, MAXPOOL3X3, OUTPUT])
    assert full.is_valid(spec)
    full.config["available_ops"].remove(MAXPOOL3X3)
    assert not full.is_valid(spec)
    with pytest.raises(OutOfDomainError, match="^unsupported op maxpool3x3 "):
        full.get_metrics_from_spec(spec)
    full.config["available_ops"] = (CONV3X3, MAXPOOL3X3)
    assert full.is_valid(spec)
    full.config["available_ops"] = [CONV3X3, [MAXPOOL3X3]]  # no set can hold it
    assert not full.is_valid(spec)
    full.config["available_ops"] = [CONV3X3, MAXPOOL3X3, CONV1X1]
    assert full.is_valid(spec)
    spec.ops[1] = "conv5x5"
    assert not full.is_valid(spec)
    spec.ops[1] = CONV1X1
    assert full.is_valid(spec)
    spec.matrix[0, 3] = 1
    spec.matrix[0, 2] = 1
    full.config["max_edges"] = 4
    assert not full.is_valid(spec)  # five edges now
    full.config["max_edges"] = 5
    assert full.is_valid(spec)
    odd = ModelSpec(np.eye(3, k=1, dtype=int), [INPUT, [CONV3X3], OUTPUT])  # no set can hold it
    assert not full.is_valid(odd)
    with pytest.raises(OutOfDomainError, match=r"^unsupported op \['conv3x3-bn-relu'\] "):
        full.query(odd)


def test_invalid_epochs(full: NASBench):
    spec = small_specs()[0]
    with pytest.raises(OutOfDomainError, match=r"invalid number of epochs, must be one of \{"):
        full.query(spec, epochs=100)
    with pytest.raises(OutOfDomainError, match="invalid number of epochs"):
        full.metric("final_test_accuracy", [INCEPTION_HASH], epochs=5)


def test_valid_cell_missing_from_the_table(full: NASBench):
    spec = _chain(6)
    assert full.is_valid(spec)
    with pytest.raises(CellNotFoundError) as raised:
        full.query(spec)
    error = raised.value
    assert isinstance(error, OutOfDomainError) and isinstance(error, KeyError)
    assert str(error) == f"module hash {spec.hash_spec()} is not in this benchmark table"
    with pytest.raises(KeyError):
        full.get_metrics_from_hash("0" * 32)
    with pytest.raises(KeyError):
        full.get_metrics_from_hash("not a hash")


def test_get_metrics_from_hash_structure_and_copies(full: NASBench):
    fixed, computed = full.get_metrics_from_hash(INCEPTION_HASH)
    assert fixed["module_adjacency"].tolist() == INCEPTION_MATRIX
    assert fixed["module_operations"] == INCEPTION_OPS
    assert fixed["trainable_parameters"] == parameters_of(0)
    assert sorted(computed) == list(PARTIAL_EPOCHS)
    for epochs, runs in computed.items():
        assert len(runs) == 3
        for repeat, run in enumerate(runs):
            assert run == {name: run_value(0, epochs, repeat, name) for name in METRIC_FIELDS}
    fixed["module_adjacency"][0, 0] = 5
    computed[108][0]["final_test_accuracy"] = -1.0
    again_fixed, again_computed = full.get_metrics_from_hash(INCEPTION_HASH)
    assert again_fixed["module_adjacency"][0, 0] == 0
    assert again_computed[108][0]["final_test_accuracy"] == run_value(
        0, 108, 0, "final_test_accuracy"
    )
    assert full.get_metrics_from_spec(ModelSpec(INCEPTION_MATRIX, INCEPTION_OPS))[1] == computed | {
        108: again_computed[108]
    }


def test_pruned_spec_finds_its_cell(full: NASBench):
    # A dangling vertex is pruned away, leaving the 3-vertex chain of small cell 1.
    matrix = [[0, 1, 1, 0], [0, 0, 0, 1], [0, 0, 0, 0], [0, 0, 0, 0]]
    spec = ModelSpec(matrix, [INPUT, CONV3X3, "conv1x1-bn-relu", OUTPUT])
    assert full.query(spec)["module_operations"] == [INPUT, CONV3X3, OUTPUT]


def test_query_all_runs_and_mean(full: NASBench):
    spec = small_specs()[4]
    data = full.query_all(spec, epochs=12)
    assert set(data) == QUERY_KEYS - {
        "training_time",
        "train_accuracy",
        "validation_accuracy",
        "test_accuracy",
    } | {"runs", "mean"}
    tests = [run_value(4, 12, r, "final_test_accuracy") for r in range(3)]
    assert [run["test_accuracy"] for run in data["runs"]] == tests
    assert data["mean"]["test_accuracy"] == pytest.approx(np.mean(tests))
    halfway = full.query_all(spec, epochs=12, stop_halfway=True)
    assert halfway["mean"]["validation_accuracy"] == pytest.approx(
        np.mean([run_value(4, 12, r, "halfway_validation_accuracy") for r in range(3)])
    )


def test_vectorised_lookups_match_single_ones(full: NASBench):
    hashes = list(full.hash_iterator())
    rows = full.lookup(hashes)
    assert rows.tolist() == list(range(len(hashes)))
    assert [full.lookup(h) for h in hashes] == rows.tolist()
    assert full.lookup(["0" * 32, hashes[2]]).tolist() == [-1, 2]
    for form in (np.array(hashes, dtype="S32"), np.array(hashes, dtype="U32"), hashes):
        np.testing.assert_array_equal(full.lookup(form), rows)
    np.testing.assert_array_equal(full.lookup(np.array(hashes).reshape(1, -1)), [rows])
    assert full.lookup([]).shape == (0,)
    with pytest.raises(ValueError, match="invalid module hash 'xyz', expected 32 hex digits"):
        full.lookup(["xyz"])

    means = full.metric("final_test_accuracy", hashes)
    repeats = full.metric("final_test_accuracy", hashes, reduce="none")
    second = full.metric("final_test_accuracy", hashes, reduce=1)
    by_rows = full.metric("final_test_accuracy", rows)
    for i, module_hash in enumerate(hashes):
        _, computed = full.get_metrics_from_hash(module_hash)
        values = [run["final_test_accuracy"] for run in computed[108]]
        assert repeats[i].tolist() == values
        assert second[i] == values[1]
        assert means[i] == pytest.approx(np.mean(values))
    np.testing.assert_array_equal(by_rows, means)
    assert full.metric("halfway_training_time", hashes[:2], epochs=4).shape == (2,)


def test_metric_argument_errors(full: NASBench):
    with pytest.raises(ValueError, match="unknown metric 'accuracy', expected one of"):
        full.metric("accuracy", [INCEPTION_HASH])
    with pytest.raises(ValueError, match="reduce = 'max'"):
        full.metric("final_test_accuracy", [INCEPTION_HASH], reduce="max")
    with pytest.raises(ValueError, match="repeat 3 is out of range, expected 0 to 2"):
        full.metric("final_test_accuracy", [INCEPTION_HASH], reduce=3)
    with pytest.raises(IndexError, match="row 99 is out of range for a table of 5 cells"):
        full.metric("final_test_accuracy", [0, 99])
    with pytest.raises(CellNotFoundError, match=r"0{32} is not in .*\(1 of 2 hashes missing\)"):
        full.metric("final_test_accuracy", [INCEPTION_HASH, "0" * 32])


def _partial_arrays():
    specs = small_specs()
    size = 7
    adjacency = np.zeros((len(specs), size, size), dtype=np.uint8)
    ops = np.zeros((len(specs), size), dtype=np.int8)
    for i, spec in enumerate(specs):
        n = len(spec.ops)
        adjacency[i, :n, :n] = spec.matrix
        labels = (
            [-1]
            + [
                ["conv3x3-bn-relu", "conv1x1-bn-relu", "maxpool3x3"].index(op)
                for op in spec.ops[1:-1]
            ]
            + [-2]
        )
        ops[i, :n] = labels
    hashes = [spec.hash_spec() for spec in specs]
    test = np.full((len(specs), 2, 3), np.nan)
    test[:, 1, 0] = [0.9, 0.8, 0.7, 0.6, 0.5]
    test[0, 1, 2] = 0.7
    test[1, 0, 1] = 0.4
    parameters = np.array([10.0, np.nan, 30.0, np.nan, 50.0])
    return hashes, adjacency, ops, test, parameters


def test_from_arrays_with_missing_values():
    hashes, adjacency, ops, test, parameters = _partial_arrays()
    order = [3, 1, 4, 0, 2]  # rows in any order are sorted by hash
    benchmark = NASBench.from_arrays(
        [hashes[i] for i in order],
        adjacency[order],
        ops[order],
        {"final_test_accuracy": test[order]},
        epochs=(12, 108),
        trainable_parameters=parameters[order],
        seed=1,
    )
    assert benchmark.fields == ["final_test_accuracy"]
    assert list(benchmark.hash_iterator()) == sorted(hashes)
    specs = small_specs()
    # Only recorded runs are drawn: cell 0 has runs 0 and 2 at 108 epochs.
    draws = {benchmark.query(specs[0])["test_accuracy"] for _ in range(40)}
    assert draws == {0.9, 0.7}
    data = benchmark.query(specs[2])
    assert data["test_accuracy"] == 0.7 and data["trainable_parameters"] == 30
    assert np.isnan(data["validation_accuracy"]) and np.isnan(data["training_time"])
    assert np.isnan(benchmark.get_budget_counters()[0])
    assert benchmark.query(specs[1])["trainable_parameters"] is None
    with pytest.raises(CellNotFoundError, match="has no recorded run at 12 epochs"):
        benchmark.query(specs[0], epochs=12)
    assert benchmark.query(specs[1], epochs=12)["test_accuracy"] == 0.4

    mean = benchmark.query_all(specs[0])["mean"]
    assert mean["test_accuracy"] == pytest.approx(0.8)
    assert np.isnan(mean["train_accuracy"])
    assert np.isnan(benchmark.query_all(specs[0], epochs=12)["mean"]["test_accuracy"])
    _, computed = benchmark.get_metrics_from_hash(hashes[0])
    assert list(computed) == [108] and len(computed[108]) == 2
    assert np.isnan(computed[108][0]["final_validation_accuracy"])

    means = benchmark.metric("final_test_accuracy", hashes)
    np.testing.assert_allclose(means, [0.8, 0.8, 0.7, 0.6, 0.5])
    assert np.isnan(benchmark.metric("final_test_accuracy", hashes, epochs=12)).sum() == 4
    assert np.isnan(benchmark.metric("final_train_accuracy", hashes)).all()
    assert describe(benchmark)["fields"] == {"final_test_accuracy": {12: 1, 108: 6}}
    assert describe(benchmark)["trainable_parameters"] == 3


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda a: a.update(hashes=a["hashes"][:4] + [a["hashes"][0]]), "appears more than once"),
        (lambda a: a.update(adjacency=a["adjacency"][:, :, :6]), "adjacency has shape"),
        (lambda a: a.update(adjacency=a["adjacency"] * 2), "adjacency entries must be 0 or 1"),
        (lambda a: a.update(ops=a["ops"][:, :6]), "ops has shape"),
        (lambda a: a.update(ops=a["ops"] * 0), "must start with the input label"),
        (lambda a: a.update(ops=np.where(a["ops"] == 0, 5, a["ops"])), "must be 0, 1 or 2"),
        (lambda a: a.update(metrics={"test_accuracy": a["test"]}), "unknown metric"),
        (lambda a: a.update(metrics={"final_test_accuracy": a["test"][:, :1]}), "metric final_"),
        (lambda a: a.update(epochs=(108, 12)), "strictly increasing"),
        (lambda a: a.update(parameters=a["parameters"][:2]), "trainable_parameters has shape"),
    ],
)
def test_from_arrays_rejects_bad_arrays(change, message: str):
    hashes, adjacency, ops, test, parameters = _partial_arrays()
    arrays = {
        "hashes": hashes,
        "adjacency": adjacency,
        "ops": ops,
        "test": test,
        "metrics": {"final_test_accuracy": test},
        "epochs": (12, 108),
        "parameters": parameters,
    }
    change(arrays)
    with pytest.raises(ValueError, match=message):
        NASBench.from_arrays(
            arrays["hashes"],
            arrays["adjacency"],
            arrays["ops"],
            arrays["metrics"],
            epochs=arrays["epochs"],
            trainable_parameters=arrays["parameters"],
        )


def test_hash_index_finds_digests_sharing_their_first_word():
    hashes = ["00" * 8 + "00" * 7 + f"{k:02x}" for k in range(0, 40, 4)]
    hashes += ["ff" * 8 + "00" * 8, "ab" * 16]
    words = hash_words(sorted(hashes))
    index = HashIndex(words)
    queries = hashes + ["00" * 8 + "00" * 7 + "01", "ff" * 16]
    rows = index.find(hash_words(queries))
    assert [hash_hex(words[r]).decode() for r in rows[:-2]] == hashes
    assert rows[-2:].tolist() == [-1, -1]
    assert hash_words(["AB" * 16]).tolist() == hash_words(["ab" * 16]).tolist()


def test_single_hash_lookup_matches_the_vectorised_one():
    hashes = ["00" * 8 + "00" * 7 + f"{k:02x}" for k in range(0, 40, 4)]
    hashes += ["ff" * 8 + "00" * 8, "ab" * 16, "12" * 16]
    words = hash_words(sorted(hashes))
    index = HashIndex(words)
    queries = hashes + ["00" * 16, "00" * 15 + "01", "ff" * 16, "AB" * 16, b"ab" * 16]
    queries += ["xyz", "ab" * 15 + "a", " " + "ab" * 15 + "a", "+" + "ab" * 15 + "a", "", 5, None]
    for query in queries:
        try:
            expected = int(index.find(hash_words(query)))
        except ValueError:
            expected = -1
        assert index.find_hex(query) == expected, query
