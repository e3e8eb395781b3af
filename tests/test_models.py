"""The NAS-Bench-101 network in PyTorch: channel rule, parameter counts, shapes."""

import numpy as np
import pytest
import torch
from conftest import INCEPTION_MATRIX, INCEPTION_OPS, SMALL_CELLS

from nasbench1shot1.models import (
    NASBench101Network,
    NetworkConfig,
    count_parameters,
    vertex_channels,
)
from nasbench1shot1.nasbench import CONV3X3, INPUT, OUTPUT, ModelSpec


def test_inception_cell_has_the_reference_parameter_count():
    # 2,694,282: the reference README's Inception-like cell in the paper's setting.
    model = NASBench101Network(ModelSpec(INCEPTION_MATRIX, INCEPTION_OPS))
    assert count_parameters(model) == 2_694_282


def test_vertex_channels_follow_the_reference_rule():
    # output fed by vertices 1, 2, 4, 5: 128 channels split 32 each; vertex 3 feeds only 4.
    assert vertex_channels(128, 128, np.array(INCEPTION_MATRIX)) == [128, 32, 32, 32, 32, 32, 128]
    # remainder goes to the first vertices feeding the output
    matrix = np.array([[0, 1, 1, 1, 0], [0, 0, 0, 0, 1], [0, 0, 0, 0, 1], [0, 0, 0, 0, 1],
                       [0, 0, 0, 0, 0]])
    assert vertex_channels(16, 16, matrix) == [16, 6, 5, 5, 16]
    # a vertex not feeding the output takes its widest successor's channels
    chain = np.array([[0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1], [0, 0, 0, 0]])
    assert vertex_channels(8, 16, chain) == [8, 16, 16, 16]


@pytest.mark.parametrize("cell", range(len(SMALL_CELLS)))
@pytest.mark.parametrize("size", [8, 32, 13])
def test_output_shape_for_every_small_cell(cell: int, size: int):
    matrix, ops = SMALL_CELLS[cell]
    config = NetworkConfig(stem_channels=8, num_stacks=3, modules_per_stack=2, num_classes=7,
                           in_channels=1)
    model = NASBench101Network(ModelSpec(matrix, ops), config)
    out = model(torch.randn(3, 1, size, size))
    assert out.shape == (3, 7)
    out.sum().backward()
    assert all(p.grad is not None for p in model.parameters())


def test_input_to_output_cell_is_a_projection_per_module():
    spec = ModelSpec([[0, 1], [0, 0]], [INPUT, OUTPUT])
    config = NetworkConfig(stem_channels=4, num_stacks=2, modules_per_stack=1, num_classes=10,
                           in_channels=3)
    model = NASBench101Network(spec, config)
    # stem 3*9*4 + BN 8; module 1: 4*4 + 8; module 2: 4*8 + 16; classifier 8*10 + 10
    assert count_parameters(model) == (108 + 8) + (16 + 8) + (32 + 16) + 90
    assert model(torch.randn(2, 3, 8, 8)).shape == (2, 10)


def test_parameter_count_grows_with_conv3x3():
    small = ModelSpec([[0, 1, 0], [0, 0, 1], [0, 0, 0]], [INPUT, "conv1x1-bn-relu", OUTPUT])
    large = ModelSpec([[0, 1, 0], [0, 0, 1], [0, 0, 0]], [INPUT, CONV3X3, OUTPUT])
    assert count_parameters(NASBench101Network(large)) > count_parameters(
        NASBench101Network(small)
    )


def test_bad_network_settings_are_named():
    with pytest.raises(ValueError, match="stem_channels must be a positive integer, got 0"):
        NetworkConfig(stem_channels=0)
    with pytest.raises(ValueError, match="bn_momentum must be in"):
        NetworkConfig(bn_momentum=1.5)
    invalid = ModelSpec([[0, 0, 0], [0, 0, 1], [0, 0, 0]], [INPUT, CONV3X3, OUTPUT])
    with pytest.raises(ValueError, match="invalid cell"):
        NASBench101Network(invalid)
