"""The optimum of a space in a benchmark and the test regret against it."""

import numpy as np
import pytest

from nasbench1shot1.nasbench import AVAILABLE_OPS, NASBench
from nasbench1shot1.spaces import (
    SpaceOptimum,
    SpaceRegret,
    cell_architectures,
    get_search_space,
    list_spaces,
    optimum,
    unique_cells,
)

# The single-run minima hard-coded in the original NAS-Bench-1Shot1 code (test error after 108
# epochs, best of three repeats). The partial table holds run 0 only, so its optimum is >= these.
PAPER_SINGLE_RUN_MINIMA = {1: 0.05448716878890991, 2: 0.057592153549194336, 3: 0.05338543653488159}


def space_benchmark(number: int, test_accuracy: np.ndarray) -> NASBench:
    """A benchmark over every unique cell of a space with the given (cells, 1, repeats) array."""
    space = get_search_space(number)
    cells = cell_architectures(space)
    specs = [space.to_spec(arch) for arch in cells.values()]
    adjacency = np.zeros((len(specs), 7, 7), dtype=np.int8)
    ops = np.full((len(specs), 7), -3, dtype=np.int8)
    for row, spec in enumerate(specs):
        n = len(spec.ops)
        adjacency[row, :n, :n] = spec.matrix
        ops[row, :n] = [-1, *(AVAILABLE_OPS.index(op) for op in spec.ops[1:-1]), -2]
    return NASBench.from_arrays(
        list(cells), adjacency, ops, {"final_test_accuracy": test_accuracy},
        num_repeats=test_accuracy.shape[2],
    )


def test_cell_architectures_give_every_unique_cell_once():
    space = get_search_space(1)
    cells = cell_architectures(space)
    assert list(cells) == [key.decode() for key in unique_cells(space)]
    for key, arch in list(cells.items())[::97]:
        assert space.to_spec(arch).hash_spec() == key
    assert len(cell_architectures(space, loose_ends=False)) == 2_484


def test_optimum_matches_brute_force_with_missing_repeats():
    rng = np.random.default_rng(0)
    cells = len(unique_cells(get_search_space(1)))
    accuracy = rng.uniform(0.80, 0.95, size=(cells, 1, 3))
    accuracy[rng.random(accuracy.shape) < 0.2] = np.nan
    accuracy[7, 0, :] = np.nan  # a cell with no run at all is left out
    best = optimum(get_search_space(1), space_benchmark(1, accuracy))

    keys = [key.decode() for key in unique_cells(get_search_space(1))]
    means = {}
    singles = {}
    for row, key in enumerate(keys):
        runs = [1.0 - a for a in accuracy[row, 0] if not np.isnan(a)]
        if runs:
            means[key] = sum(runs) / len(runs)
            singles[key] = min(runs)
    best_mean_cell = min(means, key=means.get)
    best_single_cell = min(singles, key=singles.get)
    assert best.best_cell_mean == best_mean_cell
    assert best.best_test_error_mean == pytest.approx(means[best_mean_cell], abs=1e-12)
    assert best.best_cell_single_run == best_single_cell
    assert best.best_test_error_single_run == pytest.approx(singles[best_single_cell], abs=1e-12)
    assert best.epochs == 108


def test_regret_references():
    best = SpaceOptimum(1, 108, 0.06, "a" * 32, 0.05, "b" * 32)
    assert best.regret(0.07) == pytest.approx(0.02)
    assert best.regret(0.07, reference="mean") == pytest.approx(0.01)
    with pytest.raises(ValueError, match="unknown regret reference 'median'"):
        best.regret(0.07, reference="median")


def test_optimum_needs_every_cell_of_the_space():
    accuracy = np.full((len(unique_cells(get_search_space(1))), 1, 3), 0.9)
    benchmark = space_benchmark(1, accuracy)
    with pytest.raises(ValueError, match="lacks 7773 of the 7773 cells of search space 2"):
        optimum(get_search_space(2), benchmark)


@pytest.mark.parametrize("number", list_spaces())
def test_real_table_optimum(partial_benchmark: NASBench, number: int):
    space = get_search_space(number)
    cells = unique_cells(space)
    assert (partial_benchmark.lookup(cells) >= 0).all()
    best = optimum(space, partial_benchmark)
    errors = 1.0 - partial_benchmark.metric("final_test_accuracy", cells, reduce=0)
    assert best.best_test_error_single_run == errors.min()
    assert best.best_cell_single_run == cells[int(np.argmin(errors))].decode()
    # one repeat only in this table: the mean is that repeat
    assert best.best_test_error_mean == best.best_test_error_single_run
    assert best.best_test_error_single_run >= PAPER_SINGLE_RUN_MINIMA[number] - 1e-9
    assert best.best_test_error_single_run < PAPER_SINGLE_RUN_MINIMA[number] + 0.01


def test_regret_of_a_spec_and_of_a_hash():
    space = get_search_space(1)
    cells = list(cell_architectures(space).items())
    accuracy = np.full((len(cells), 1, 3), 0.90)
    accuracy[0, 0] = [0.95, 0.93, np.nan]  # best single run 0.05, best mean 0.06
    accuracy[1, 0] = [0.91, 0.89, 0.90]
    regret = SpaceRegret(space, space_benchmark(1, accuracy))
    spec = space.to_spec(cells[1][1])
    assert regret.test_error(spec) == pytest.approx(0.10)
    assert regret(spec) == pytest.approx(0.05)
    assert regret(cells[0][0]) == pytest.approx(0.01)
    by_mean = SpaceRegret(space, regret.benchmark, reference="mean")
    assert by_mean(cells[0][0]) == pytest.approx(0.0, abs=1e-12)
    assert by_mean(spec) == pytest.approx(0.04)
