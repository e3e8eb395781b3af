"""The network of the NAS-Bench-101 paper for any cell (`ModelSpec`), in PyTorch.

Stem conv3x3-BN-ReLU; `num_stacks` stacks of `modules_per_stack` modules, each module the cell;
between stacks 2x2 max-pooling (stride 2, 'same' padding) and twice the channels; then global
average pooling and a linear classifier. Inside a module, as the reference model builder does it:
the channels of the output are split across the vertices feeding it (the first vertices take the
remainder), a vertex that does not feed the output takes the largest channel count of its
successors; each vertex reading the module input gets its own 1x1 projection of it, inputs from
other vertices are truncated to the vertex's channels, summed, then the op is applied; the output
concatenates the vertices feeding it and adds a 1x1 projection of the module input when the cell
has the input-to-output edge (a cell with only that edge is the projection alone).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from nasbench1shot1.conf.cell import NetworkConfig
from nasbench1shot1.models.ops import BN_EPSILON, BN_MOMENTUM, ConvBnRelu, make_op
from nasbench1shot1.nasbench.spec import ModelSpec


def vertex_channels(in_channels: int, out_channels: int, matrix: np.ndarray) -> list[int]:
    """Channels of every vertex of a module (input first, output last), as the reference."""
    matrix = np.asarray(matrix)
    n = matrix.shape[0]
    channels = [0] * n
    channels[0] = in_channels
    channels[n - 1] = out_channels
    if n == 2:
        return channels
    feeding_output = int(matrix[1:, n - 1].sum())
    interior, remainder = divmod(out_channels, feeding_output)
    for v in range(1, n - 1):
        if matrix[v, n - 1]:
            channels[v] = interior + (1 if remainder > 0 else 0)
            remainder -= 1
    for v in range(n - 3, 0, -1):
        if not matrix[v, n - 1]:
            for successor in range(v + 1, n - 1):
                if matrix[v, successor]:
                    channels[v] = max(channels[v], channels[successor])
        if channels[v] <= 0:
            raise ValueError(f"vertex {v} of the cell gets no channels; is the spec pruned?")
    return channels


class Module(nn.Module):
    """One module (cell instance) of the network."""

    def __init__(
        self,
        spec: ModelSpec,
        in_channels: int,
        out_channels: int,
        bn_momentum: float = BN_MOMENTUM,
        bn_eps: float = BN_EPSILON,
    ):
        super().__init__()
        matrix = np.asarray(spec.matrix)
        self.matrix = matrix
        self.num_vertices = n = matrix.shape[0]
        self.channels = vertex_channels(in_channels, out_channels, matrix)
        self.projections = nn.ModuleDict()
        self.ops = nn.ModuleDict()
        for v in range(1, n - 1):
            if matrix[0, v]:
                self.projections[str(v)] = ConvBnRelu(
                    in_channels, self.channels[v], 1, bn_momentum, bn_eps
                )
            self.ops[str(v)] = make_op(spec.ops[v], self.channels[v], bn_momentum, bn_eps)
        if matrix[0, n - 1]:
            self.projections[str(n - 1)] = ConvBnRelu(
                in_channels, out_channels, 1, bn_momentum, bn_eps
            )
        self.inputs = [
            [src for src in range(1, v) if matrix[src, v]] for v in range(n)
        ]
        self.concat = [v for v in range(1, n - 1) if matrix[v, n - 1]]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = self.num_vertices
        values: list[torch.Tensor] = [x]
        for v in range(1, n - 1):
            width = self.channels[v]
            summands = [values[src][:, :width] for src in self.inputs[v]]
            if str(v) in self.projections:
                summands.append(self.projections[str(v)](x))
            total = summands[0]
            for term in summands[1:]:
                total = total + term
            values.append(self.ops[str(v)](total))
        if not self.concat:
            return self.projections[str(n - 1)](x)
        out = values[self.concat[0]] if len(self.concat) == 1 else torch.cat(
            [values[v] for v in self.concat], dim=1
        )
        if str(n - 1) in self.projections:
            out = out + self.projections[str(n - 1)](x)
        return out


class NASBench101Network(nn.Module):
    """The NAS-Bench-101 network of one cell; input (batch, in_channels, height, width)."""

    def __init__(self, spec: ModelSpec, config: NetworkConfig | None = None):
        super().__init__()
        config = config or NetworkConfig()
        if not spec.valid_spec:
            raise ValueError(f"cannot build a network of an invalid cell: {spec!r}")
        self.config = config
        self.spec = spec
        layers: list[nn.Module] = [
            ConvBnRelu(config.in_channels, config.stem_channels, 3, config.bn_momentum,
                       config.bn_eps)
        ]
        channels = config.stem_channels
        for stack in range(config.num_stacks):
            out_channels = channels
            if stack > 0:
                layers.append(nn.MaxPool2d(kernel_size=2, stride=2, ceil_mode=True))
                out_channels = channels * 2
            for _ in range(config.modules_per_stack):
                layers.append(
                    Module(spec, channels, out_channels, config.bn_momentum, config.bn_eps)
                )
                channels = out_channels
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(channels, config.num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x).mean(dim=(2, 3)))


def count_parameters(model: nn.Module) -> int:
    """Trainable parameters, as NAS-Bench-101 counts them (batch-norm statistics excluded)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)

