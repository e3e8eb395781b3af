"""The one-shot model (supernet) of NAS-Bench-1Shot1 for a search space.

Stem conv3x3-BN-ReLU; `num_cells` cells in 3 stacks, 2x2 max-pooling and twice the channels
between stacks; all cells alike and sharing one set of architecture weights. In a cell each of
the B choice blocks has its own 1x1 conv-BN-ReLU projection of the cell input; a block's input is
the sum of its candidate inputs (the projected cell input and the earlier blocks), weighted by
the block's parent weights where it has a parent choice; the block applies a mixed op (weighted
sum of conv3x3-BN-ReLU, conv1x1-BN-ReLU and maxpool3x3). The cell output concatenates the block
outputs, each weighted by its output weight, and adds the output-weighted 1x1 projection of the
cell input to B x channels. After the last cell: 1x1 conv-BN-ReLU, global average pooling, linear.
`stack_pooling` and `head` switch to the original NAS-Bench-1Shot1 code's max-pooling with
padding 1 and its head (ReLU, 1x1 conv to the last stack's channels, batch norm without affine
parameters, pooling, linear); see conf/protocol.py.

Architecture weights enter `forward` as an `ArchWeights`: op weights (B, 3), parent weights per
vertex with a choice, output weights (B + 1). Each may carry hard indices: then only the chosen
ops run (GDAS samples one op per block; ENAS and Random-WS sample one op and one parent set).
PC-DARTS's partial channels (`partial_channels` k > 1) send 1/k of the channels of a block's
input through its mixed op and the rest around it, followed by a channel shuffle.

`fast_ops` (train.fast_ops, the default) computes the same function faster: channels-last memory
(the convolutions, batch norms and max-pooling run on NHWC tensors, several times cheaper on CPU
for the pooling) with models/ops.py's accurate channels-last batch norm, each weighted sum as one
fused node (models/weighted_sum.py), and, under soft parents, a cell's b + 1 projections of its
input as one convolution. Results equal the plain ops' to float rounding; `fast_ops=False` is
the plain eager path.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from torch import nn

from nasbench1shot1.checks import number_in, positive_int
from nasbench1shot1.conf.protocol import CHOICES, ProtocolConfig
from nasbench1shot1.conf.search import SupernetSettings, TrainSettings
from nasbench1shot1.models.ops import (
    BN_EPSILON,
    ChannelsLastBatchNorm2d,
    ConvBnRelu,
    grouped_conv_bn_relu,
    make_op,
)
from nasbench1shot1.models.weighted_sum import weighted_concat, weighted_sum
from nasbench1shot1.nasbench.spec import AVAILABLE_OPS
from nasbench1shot1.spaces import SearchSpace


@dataclass
class ArchWeights:
    """Architecture weights for one forward pass.

    `ops`: (B, 3) weights of the ops of each block (AVAILABLE_OPS order). `parents`: vertex ->
    (vertex,) weights of its candidate parents, for vertices with a parent choice (the output is
    vertex B + 1). `op_index` / `parent_index`: when given, only those ops / parents are computed
    (their weights still scale the result, so gradients reach the architecture weights).
    """

    ops: torch.Tensor
    parents: dict[int, torch.Tensor]
    op_index: list[int] | None = None
    parent_index: dict[int, tuple[int, ...]] = field(default_factory=dict)


def channel_shuffle(x: torch.Tensor, groups: int) -> torch.Tensor:
    n, c, h, w = x.shape
    if not x.is_contiguous() and x.is_contiguous(memory_format=torch.channels_last):
        # shuffle the channels of the NHWC memory: the result stays channels-last
        nhwc = x.permute(0, 2, 3, 1).reshape(n, h, w, groups, c // groups)
        return nhwc.transpose(3, 4).reshape(n, h, w, c).permute(0, 3, 1, 2)
    return x.view(n, groups, c // groups, h, w).transpose(1, 2).reshape(n, c, h, w)


class MixedOp(nn.Module):
    """The weighted sum of the three NAS-Bench-101 ops (or the one picked by an index)."""

    def __init__(self, channels: int, bn_momentum: float, bn_eps: float, fast: bool = False):
        super().__init__()
        self.ops = nn.ModuleList(make_op(op, channels, bn_momentum, bn_eps, fast)
                                 for op in AVAILABLE_OPS)
        self.fast = fast

    def forward(self, x: torch.Tensor, weights: torch.Tensor, index: int | None = None):
        if index is not None:
            return weights[index] * self.ops[index](x)
        if self.fast:
            return weighted_sum(weights, [op(x) for op in self.ops])
        out = weights[0] * self.ops[0](x)
        for w, op in zip(weights[1:], self.ops[1:]):
            out = out + w * op(x)
        return out


class ChoiceBlock(nn.Module):
    """A choice block: projection of the cell input, parent sum, mixed op."""

    def __init__(self, in_channels: int, channels: int, partial_channels: int,
                 bn_momentum: float, bn_eps: float, fast: bool = False):
        super().__init__()
        if channels % partial_channels:
            raise ValueError(
                f"partial_channels k={partial_channels} must divide the block channels "
                f"{channels}"
            )
        self.k = partial_channels
        self.projection = ConvBnRelu(in_channels, channels, 1, bn_momentum, bn_eps, fast)
        self.mixed = MixedOp(channels // partial_channels, bn_momentum, bn_eps, fast)

    def forward(self, x: torch.Tensor, op_weights: torch.Tensor, op_index: int | None):
        if self.k == 1:
            return self.mixed(x, op_weights, op_index)
        width = x.shape[1] // self.k
        out = torch.cat([self.mixed(x[:, :width], op_weights, op_index), x[:, width:]], dim=1)
        return channel_shuffle(out, self.k)


class Cell(nn.Module):
    """One cell of the supernet; channels per block `channels`, output B x channels."""

    def __init__(self, space: SearchSpace, in_channels: int, channels: int,
                 partial_channels: int, bn_momentum: float, bn_eps: float, fast: bool = False):
        super().__init__()
        self.space = space
        self.fast = fast
        b = space.num_choice_blocks
        self.blocks = nn.ModuleList(
            ChoiceBlock(in_channels, channels, partial_channels, bn_momentum, bn_eps, fast)
            for _ in range(b)
        )
        self.output_projection = ConvBnRelu(in_channels, channels * b, 1, bn_momentum, bn_eps,
                                            fast)
        self.choice = {v: space.has_parent_choice(v) for v in range(1, space.num_vertices)}

    def forward(self, x: torch.Tensor, arch: ArchWeights) -> torch.Tensor:
        if self.fast:
            return self._forward_fast(x, arch)
        b = self.space.num_choice_blocks
        states: list[torch.Tensor | None] = [None]  # vertex 0: each block projects the input
        for v in range(1, b + 1):
            block = self.blocks[v - 1]

            def candidate(p: int, block: ChoiceBlock = block) -> torch.Tensor:
                return block.projection(x) if p == 0 else states[p]

            if self.choice[v]:
                weights = arch.parents[v]
                chosen = arch.parent_index.get(v, range(v))
                inputs = [weights[p] * candidate(p) for p in chosen]
            else:
                inputs = [candidate(p) for p in range(v)]
            total = inputs[0]
            for term in inputs[1:]:
                total = total + term
            index = None if arch.op_index is None else arch.op_index[v - 1]
            states.append(block(total, arch.ops[v - 1], index))
        out_vertex = b + 1
        if self.choice[out_vertex]:
            weights = arch.parents[out_vertex]
            chosen = set(arch.parent_index.get(out_vertex, range(out_vertex)))
        else:
            weights, chosen = None, set(range(out_vertex))
        parts = []
        for v in range(1, b + 1):
            if v in chosen:
                parts.append(states[v] if weights is None else weights[v] * states[v])
            else:
                parts.append(torch.zeros_like(states[v]))
        out = torch.cat(parts, dim=1)
        if 0 in chosen:
            projected = self.output_projection(x)
            out = out + (projected if weights is None else weights[0] * projected)
        return out

    def _forward_fast(self, x: torch.Tensor, arch: ArchWeights) -> torch.Tensor:
        """`forward` in fused sums. A block whose op is picked keeps its output unscaled, its
        op weight beside it in `scales` (None: 1); the sums that take the output fold that
        weight into their own (small tensors), so no full-size multiply follows each op."""
        b = self.space.num_choice_blocks
        states: list[torch.Tensor | None] = [None]
        scales: list[torch.Tensor | None] = [None]  # vertex 0: the projections, unscaled
        # every block and the output take the cell input (soft parents): its b + 1 projections
        # as one convolution (a sampled cell computes only the projections it uses)
        projections = None if arch.parent_index else grouped_conv_bn_relu(
            [block.projection for block in self.blocks] + [self.output_projection], x)
        for v in range(1, b + 1):
            block = self.blocks[v - 1]
            chosen = tuple(arch.parent_index.get(v, range(v)) if self.choice[v] else range(v))
            inputs = [(block.projection(x) if projections is None else projections[v - 1])
                      if p == 0 else states[p] for p in chosen]
            weights = None
            if self.choice[v]:
                weights = arch.parents[v]
                if v in arch.parent_index:
                    weights = weights[list(chosen)]
            total = _scaled_sum(weights, [scales[p] for p in chosen], inputs)
            index = None if arch.op_index is None else arch.op_index[v - 1]
            if index is not None and block.k == 1:
                states.append(block.mixed.ops[index](total))
                scales.append(arch.ops[v - 1][index])
            else:
                states.append(block(total, arch.ops[v - 1], index))
                scales.append(None)
        out_vertex = b + 1
        weights = arch.parents[out_vertex] if self.choice[out_vertex] else None
        chosen = set(arch.parent_index.get(out_vertex, range(out_vertex))
                     if self.choice[out_vertex] else range(out_vertex))
        factors = [_times(weights[v] if weights is not None else None, scales[v])
                   for v in range(out_vertex)]
        if len(chosen) == out_vertex:
            one = x.new_ones((), dtype=torch.float32)
            return weighted_concat(torch.stack([one if f is None else f.float() for f in factors]),
                                   states[1:], self.output_projection(x) if projections is None
                                   else projections[-1])
        parts = [torch.zeros_like(states[v]) if v not in chosen
                 else states[v] if factors[v] is None else factors[v] * states[v]
                 for v in range(1, b + 1)]
        out = torch.cat(parts, dim=1)
        if 0 in chosen:
            projected = self.output_projection(x)
            out = out + (projected if factors[0] is None else factors[0] * projected)
        return out


def _times(a: torch.Tensor | None, b: torch.Tensor | None) -> torch.Tensor | None:
    """a * b of two scalar weights, None standing for 1."""
    if a is None:
        return b
    return a if b is None else a * b


def _scaled_sum(weights: torch.Tensor | None, scales: list[torch.Tensor | None],
                inputs: list[torch.Tensor]) -> torch.Tensor:
    """sum_i weights[i] * scales[i] * inputs[i] (None: weights or scale 1), one fused sum."""
    if weights is None and all(s is None for s in scales):
        total = inputs[0]
        for term in inputs[1:]:
            total = total + term
        return total
    factors = [_times(weights[i] if weights is not None else None, s)
               for i, s in enumerate(scales)]
    one = inputs[0].new_ones((), dtype=torch.float32)
    return weighted_sum(torch.stack([one if f is None else f.float() for f in factors]), inputs)


#: The search's supernet and training settings (conf/search.py), the defaults of
#: `SupernetConfig`.
_SEARCH = SupernetSettings()
_TRAIN = TrainSettings()
_PROTOCOL = ProtocolConfig()


@dataclass(frozen=True)
class SupernetConfig:
    """Sizes of the supernet; the defaults are nb1s1-search's (the paper's 9 cells of 16
    channels) for CIFAR-10."""

    channels: int = _SEARCH.channels
    num_cells: int = _SEARCH.num_cells
    num_classes: int = 10
    in_channels: int = 3
    partial_channels: int = 1
    bn_momentum: float = _SEARCH.bn_momentum
    bn_eps: float = BN_EPSILON
    stack_pooling: str = _PROTOCOL.stack_pooling  # same or padded (conf/protocol.py)
    head: str = _PROTOCOL.head                    # nasbench101 or original (conf/protocol.py)
    fast_ops: bool = _TRAIN.fast_ops              # channels-last, fused sums (train.fast_ops)

    def __post_init__(self) -> None:
        for name in ("channels", "num_cells", "num_classes", "in_channels", "partial_channels"):
            positive_int(f"supernet {name}", getattr(self, name))
        number_in("supernet bn_momentum", self.bn_momentum, 0.0, 1.0)
        for key in ("stack_pooling", "head"):
            if getattr(self, key) not in CHOICES[key]:
                raise ValueError(f"supernet {key} must be {' or '.join(CHOICES[key])}, got "
                                 f"{getattr(self, key)!r}")


class Supernet(nn.Module):
    """The weight-sharing network of a space; `forward(images, arch_weights)`."""

    def __init__(self, space: SearchSpace, config: SupernetConfig | None = None):
        super().__init__()
        config = config or SupernetConfig()
        self.space = space
        self.config = config
        b = space.num_choice_blocks
        c = config.channels
        self.stem = ConvBnRelu(config.in_channels, c, 3, config.bn_momentum, config.bn_eps)
        reductions = {config.num_cells // 3, 2 * config.num_cells // 3} - {0}
        cells = []
        in_channels = c
        for i in range(config.num_cells):
            if i in reductions:
                c *= 2
                # 'same' pooling halves 32 to 16 and 8; the original's padding 1 gives 17 and 9
                cells.append(nn.MaxPool2d(2, 2, ceil_mode=True)
                             if config.stack_pooling == "same" else nn.MaxPool2d(2, 2, padding=1))
            cells.append(Cell(space, in_channels, c, config.partial_channels,
                              config.bn_momentum, config.bn_eps, config.fast_ops))
            in_channels = c * b
        self.cells = nn.ModuleList(cells)
        if config.head == "nasbench101":
            self.head = ConvBnRelu(in_channels, in_channels, 1, config.bn_momentum,
                                   config.bn_eps, config.fast_ops)
        else:  # the original: ReLU, 1x1 conv down to the last stack's channels, plain BN
            self.head = nn.Sequential(
                nn.ReLU(inplace=False), nn.Conv2d(in_channels, c, 1, bias=False),
                (ChannelsLastBatchNorm2d if config.fast_ops else nn.BatchNorm2d)(
                    c, eps=config.bn_eps, momentum=config.bn_momentum, affine=False))
            in_channels = c
        self.classifier = nn.Linear(in_channels, config.num_classes)
        if config.fast_ops:
            self.to(memory_format=torch.channels_last)
            self.stem.to(memory_format=torch.contiguous_format)

    def forward(self, x: torch.Tensor, arch: ArchWeights | Sequence[ArchWeights]
                ) -> torch.Tensor:
        """`arch`: the weights of every cell, or one per cell (GDAS's per-cell samples)."""
        x = self.stem(x)
        if self.config.fast_ops:
            x = x.contiguous(memory_format=torch.channels_last)
        per_cell = iter(arch) if isinstance(arch, (list, tuple)) else None
        for cell in self.cells:
            if isinstance(cell, Cell):
                x = cell(x, next(per_cell) if per_cell is not None else arch)
            else:
                x = cell(x)
        return self.classifier(self.head(x).mean(dim=(2, 3)))
