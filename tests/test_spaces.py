"""Search spaces 1-3: definitions, encodings, enumeration and hashing, sampling and mutation."""

import itertools

import numpy as np
import pytest

from nasbench1shot1.nasbench.spec import AVAILABLE_OPS, CONV1X1, CONV3X3, MAXPOOL3X3, ModelSpec
from nasbench1shot1.spaces import (
    Architecture,
    configuration_hashes,
    get_search_space,
    list_spaces,
    loose_end_mask,
    unique_cells,
)

SPACES = list_spaces()
# Configurations: parent-set choices times 3**blocks op assignments (1 312 200 for space 3 is
# the count the NAS-Bench-1Shot1 paper gives); the unique-cell counts are what the official
# hash makes of them, checked configuration by configuration in the slow-path tests below.
COUNTS = {
    1: (14_580, 2_685, 2_484),
    2: (29_160, 7_773, 7_236),
    3: (1_312_200, 55_854, 49_032),
}


def test_registry_lists_three_spaces_and_rejects_others():
    assert SPACES == [1, 2, 3]
    with pytest.raises(ValueError, match="unknown search space 4, expected one of 1, 2, 3$"):
        get_search_space(4)


@pytest.mark.parametrize("number", SPACES)
def test_counts(number):
    space = get_search_space(number)
    configs, cells, cells_without_loose_ends = COUNTS[number]
    assert space.num_configs == configs == len(configuration_hashes(space))
    assert len(unique_cells(space)) == cells
    assert len(unique_cells(space, loose_ends=False)) == cells_without_loose_ends


@pytest.mark.parametrize("number", [1, 2])
def test_fast_hashes_match_one_by_one_hashing_for_every_configuration(number):
    space = get_search_space(number)
    hashes = configuration_hashes(space)
    loose = loose_end_mask(space)
    for index, arch in enumerate(space.configurations()):
        spec = space.to_spec(arch)
        assert hashes[index].decode() == spec.hash_spec()
        assert loose[index] == space.has_loose_ends(arch)


def test_fast_hashes_match_one_by_one_hashing_on_a_sample_of_space_3():
    space = get_search_space(3)
    hashes = configuration_hashes(space)
    rng = np.random.default_rng(0)
    for index in rng.integers(0, space.num_configs, 3_000):
        arch = space.architecture_at(int(index))
        assert space.index_of(arch) == index
        assert hashes[index].decode() == space.to_spec(arch).hash_spec()


@pytest.mark.parametrize("number", SPACES)
def test_every_configuration_is_a_nasbench101_cell(number):
    space = get_search_space(number)
    for structure in space.structures:
        spec = space.to_spec(Architecture((CONV3X3,) * space.num_choice_blocks, structure))
        assert spec.valid_spec
        assert spec.original_matrix.shape == (7, 7)
        assert spec.matrix.sum() <= 9
        assert len(spec.ops) <= 7


def test_space_1_is_widened_by_an_empty_vertex_that_pruning_removes():
    space = get_search_space(1)
    arch = Architecture(
        (CONV3X3, CONV1X1, MAXPOOL3X3, CONV3X3), ((0,), (0, 1), (1, 2), (2, 3), (3, 4))
    )
    spec = space.to_spec(arch)
    assert spec.original_ops[5] == CONV1X1 and not spec.original_matrix[5].any()
    assert not spec.original_matrix[:, 5].any()
    assert spec.matrix.shape == (6, 6)
    assert spec.ops == ["input", CONV3X3, CONV1X1, MAXPOOL3X3, CONV3X3, "output"]
    assert spec.hash_spec() == ModelSpec(space.adjacency(arch), spec.ops).hash_spec()


def test_loose_ends_are_pruned():
    space = get_search_space(3)
    # Block 5 reads blocks 3 and 4, but the output reads only blocks 1 and 4: 5 is a loose end.
    arch = Architecture((CONV3X3,) * 5, ((0,), (1,), (2,), (0, 3), (3, 4), (1, 4)))
    assert space.has_loose_ends(arch)
    spec = space.to_spec(arch)
    assert len(spec.ops) == 6
    tidy = Architecture((CONV3X3,) * 5, ((0,), (1,), (2,), (0, 3), (3, 4), (1, 5)))
    assert not space.has_loose_ends(tidy)


@pytest.mark.parametrize("number", SPACES)
def test_configspace_round_trip(number):
    space = get_search_space(number)
    cs = space.configspace(seed=1)
    names = set(cs.keys())
    assert {f"choice_block_{b}_op" for b in range(1, space.num_choice_blocks + 1)} <= names
    assert "output_parents" in names
    for config in cs.sample_configuration(50):
        arch = space.from_config(config)
        assert space.to_config(arch) == dict(config)
        assert all(isinstance(v, str) for v in space.to_config(arch).values())
    # Every hyperparameter value is reachable: the configspace spans the whole space.
    sizes = [len(cs[name].choices) for name in names]
    assert int(np.prod(sizes)) == space.num_configs


def test_configspace_has_no_hyperparameter_for_forced_parents():
    names = set(get_search_space(1).configspace().keys())
    assert "choice_block_1_parents" not in names and "choice_block_2_parents" not in names
    assert "choice_block_3_parents" in names


def test_bad_configurations_are_named():
    space = get_search_space(2)
    good = space.to_config(space.architecture_at(0))
    with pytest.raises(ValueError, match="'output_parents'"):
        space.from_config({k: v for k, v in good.items() if k != "output_parents"})
    with pytest.raises(ValueError, match="parents \\[0, 1\\] of vertex 5 are not allowed"):
        space.from_config({**good, "output_parents": "0,1"})
    with pytest.raises(ValueError, match="unknown op 'conv5x5'"):
        space.from_config({**good, "choice_block_1_op": "conv5x5"})


@pytest.mark.parametrize("number", SPACES)
def test_sampling_is_uniform_over_configurations(number):
    space = get_search_space(number)
    rng = np.random.default_rng(0)
    draws = [space.sample(rng) for _ in range(3_000)]
    for arch in draws:
        space.validate(arch)
    # Each op appears in block 1 about a third of the time.
    share = np.mean([arch.ops[0] == CONV3X3 for arch in draws])
    assert abs(share - 1 / 3) < 0.04
    # The output's parent sets are equally likely.
    options = space.parent_options(space.output_vertex)
    counts = np.array([sum(a.parents[-1] == o for a in draws) for o in options])
    assert abs(counts / len(draws) - 1 / len(options)).max() < 0.04


@pytest.mark.parametrize("number", SPACES)
def test_mutation_changes_exactly_one_choice(number):
    space = get_search_space(number)
    rng = np.random.default_rng(1)
    arch = space.sample(rng)
    for _ in range(300):
        child = space.mutate(arch, rng)
        space.validate(child)
        changed = sum(a != b for a, b in zip(arch.ops, child.ops))
        changed += sum(a != b for a, b in zip(arch.parents, child.parents))
        assert changed == 1
        arch = child


@pytest.mark.parametrize("number", SPACES)
def test_from_weights_takes_argmax_ops_and_top_k_parents(number):
    space = get_search_space(number)
    rng = np.random.default_rng(2)
    for _ in range(50):
        target = space.sample(rng)
        op_weights = rng.normal(size=(space.num_choice_blocks, 3))
        for block, op in enumerate(target.ops):
            op_weights[block, AVAILABLE_OPS.index(op)] = 10.0
        parent_weights = {}
        for vertex in space.vertices_with_parent_choice:
            weights = rng.uniform(size=vertex)
            weights[list(target.parents[vertex - 1])] += 5.0
            parent_weights[vertex] = weights
        assert space.from_weights(op_weights, parent_weights) == target


def test_from_weights_rejects_wrong_shapes():
    space = get_search_space(3)
    with pytest.raises(ValueError, match=r"must have shape \(5, 3\)"):
        space.from_weights(np.zeros((4, 3)), {})
    with pytest.raises(ValueError, match="parent weights of vertex 2 are missing"):
        space.from_weights(np.zeros((5, 3)), {})


def test_index_and_configurations_agree():
    space = get_search_space(1)
    for index, arch in zip(range(0, space.num_configs, 97), itertools.islice(
        space.configurations(), 0, None, 97
    )):
        assert space.architecture_at(index) == arch
    with pytest.raises(IndexError):
        space.architecture_at(space.num_configs)
