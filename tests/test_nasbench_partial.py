"""The real NAS-Bench-101 partial table (`../shared/data`): known cells, hashes, lookups."""

import numpy as np
import pytest
from conftest import INCEPTION_HASH, INCEPTION_MATRIX, INCEPTION_OPS, PARTIAL_SUBSET

from nasbench1shot1.nasbench import AVAILABLE_OPS, INPUT, OUTPUT, ModelSpec, NASBench

NUM_CELLS = 423_624
SAMPLE = 2_000


def test_table_has_every_nasbench101_cell(partial_benchmark: NASBench):
    assert len(partial_benchmark) == NUM_CELLS
    assert partial_benchmark.epochs == [4, 12, 36, 108]


def test_inception_cell(partial_benchmark: NASBench):
    spec = ModelSpec(INCEPTION_MATRIX, INCEPTION_OPS)
    assert spec.hash_spec() == INCEPTION_HASH
    # Only run 0 is filled, so every query draws it.
    assert partial_benchmark.query(spec)["test_accuracy"] == 0.9311898946762085
    fixed, computed = partial_benchmark.get_metrics_from_hash(INCEPTION_HASH)
    # The table keeps one isomorphic form of the cell, not necessarily the README's order.
    stored = ModelSpec(fixed["module_adjacency"], fixed["module_operations"])
    assert stored.hash_spec() == INCEPTION_HASH
    assert sorted(fixed["module_operations"]) == sorted(INCEPTION_OPS)
    assert computed[108][0]["final_test_accuracy"] == 0.9311898946762085
    assert partial_benchmark.query_all(spec)["mean"]["test_accuracy"] == 0.9311898946762085


def test_best_cell_of_the_readme(partial_benchmark: NASBench):
    accuracy = partial_benchmark.metric("final_test_accuracy", ["02e5a0247bbdcf2860b7e96f74961594"])
    assert accuracy[0] == pytest.approx(0.9445112, abs=1e-7)


def test_random_rows_rehash_to_their_stored_hashes(
    partial_benchmark: NASBench, partial_arrays: dict
):
    rows = np.random.default_rng(0).choice(NUM_CELLS, size=SAMPLE, replace=False)
    for row in rows:
        size = int(partial_arrays["num_vertices"][row])
        labels = partial_arrays["ops"][row, :size]
        ops = [INPUT] + [AVAILABLE_OPS[label] for label in labels[1:-1]] + [OUTPUT]
        spec = ModelSpec(partial_arrays["adjacency"][row, :size, :size], ops)
        assert spec.hash_spec() == partial_arrays["module_hash"][row].decode()
        assert partial_benchmark.is_valid(spec)
    assert (partial_benchmark.lookup(partial_arrays["module_hash"][rows]) == rows).all()


def test_every_hash_is_found_by_vectorised_lookup(
    partial_benchmark: NASBench, partial_arrays: dict
):
    hashes = partial_arrays["module_hash"]
    np.testing.assert_array_equal(partial_benchmark.lookup(hashes), np.arange(NUM_CELLS))
    np.testing.assert_array_equal(partial_benchmark.hashes, hashes)
    accuracy = partial_benchmark.metric("final_test_accuracy", hashes, reduce=0)
    np.testing.assert_array_equal(accuracy, partial_arrays["test_accuracy_108_run0"])


def test_subset_metrics_and_gaps(partial_benchmark: NASBench, partial_arrays: dict):
    first, outside = partial_arrays["module_hash"][[0, PARTIAL_SUBSET]].astype(str)
    _, computed = partial_benchmark.get_metrics_from_hash(first)
    assert sorted(computed) == [4, 12, 36, 108]
    assert (
        computed[4][0]["final_validation_accuracy"]
        == partial_arrays["subset_validation_accuracy_4"][0]
    )
    assert computed[108][0]["final_training_time"] == partial_arrays["subset_training_time_108"][0]
    fixed, computed = partial_benchmark.get_metrics_from_hash(outside)
    assert list(computed) == [108] and fixed["trainable_parameters"] is None
    assert np.isnan(computed[108][0]["final_validation_accuracy"])
    validation = partial_benchmark.metric(
        "final_validation_accuracy", partial_arrays["module_hash"], epochs=36
    )
    assert (~np.isnan(validation)).sum() == PARTIAL_SUBSET
