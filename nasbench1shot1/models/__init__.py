"""Torch modules: the primitive ops, the NAS-Bench-101 network that trains one cell from scratch,
and (with the one-shot search) the weight-sharing supernet."""

from nasbench1shot1.models.nasbench101 import (
    NASBench101Network,
    NetworkConfig,
    count_parameters,
    vertex_channels,
)
from nasbench1shot1.models.ops import ConvBnRelu, MaxPool3x3, make_op

__all__ = [
    "ConvBnRelu",
    "MaxPool3x3",
    "NASBench101Network",
    "NetworkConfig",
    "count_parameters",
    "make_op",
    "vertex_channels",
]
