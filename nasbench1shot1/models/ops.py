"""The NAS-Bench-101 primitive operations as torch modules.

Convolutions have no bias and are followed by batch norm and ReLU, as in NAS-Bench-101. Batch-norm
momentum is given in PyTorch's convention (weight of the new batch statistic): the reference's
TensorFlow decay 0.997 is momentum 0.003 here. 3x3 max-pooling keeps the spatial size.
"""

from __future__ import annotations

from torch import nn

from nasbench1shot1.conf.cell import BN_EPSILON, BN_MOMENTUM
from nasbench1shot1.nasbench.spec import CONV1X1, CONV3X3, MAXPOOL3X3


class ConvBnRelu(nn.Sequential):
    """Conv (no bias, 'same' padding) - BatchNorm - ReLU."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        bn_momentum: float = BN_MOMENTUM,
        bn_eps: float = BN_EPSILON,
    ):
        super().__init__(
            nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2, bias=False),
            nn.BatchNorm2d(out_channels, eps=bn_eps, momentum=bn_momentum),
            nn.ReLU(inplace=False),
        )


class MaxPool3x3(nn.MaxPool2d):
    """3x3 max-pooling, stride 1, 'same' padding: channels and size unchanged."""

    def __init__(self) -> None:
        super().__init__(kernel_size=3, stride=1, padding=1)


def make_op(
    op: str, channels: int, bn_momentum: float = BN_MOMENTUM, bn_eps: float = BN_EPSILON
) -> nn.Module:
    """The module of a NAS-Bench-101 op acting on `channels` channels."""
    if op == CONV3X3:
        return ConvBnRelu(channels, channels, 3, bn_momentum, bn_eps)
    if op == CONV1X1:
        return ConvBnRelu(channels, channels, 1, bn_momentum, bn_eps)
    if op == MAXPOOL3X3:
        return MaxPool3x3()
    raise ValueError(f"unknown op {op!r}, expected one of {CONV3X3}, {CONV1X1}, {MAXPOOL3X3}")
