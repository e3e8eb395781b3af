"""The NAS-Bench-101 primitive operations as torch modules.

Convolutions have no bias and are followed by batch norm and ReLU, as in NAS-Bench-101. Batch-norm
momentum is given in PyTorch's convention (weight of the new batch statistic): the reference's
TensorFlow decay 0.997 is momentum 0.003 here. 3x3 max-pooling keeps the spatial size.

`ChannelsLastBatchNorm2d` is the batch norm of the supernet's fast ops (channels-last tensors):
PyTorch's channels-last CPU kernel sums the batch statistics in float32 across the whole batch,
which leaves errors up to ~1e-3 in the normalized output (its NCHW kernel: ~1e-6); this module
sums them per image in float32 and across images in float64 (errors ~1e-6, as NCHW) and uses
PyTorch's kernels for the rest.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from nasbench1shot1.conf.cell import BN_EPSILON, BN_MOMENTUM
from nasbench1shot1.nasbench.spec import CONV1X1, CONV3X3, MAXPOOL3X3


class _NormalizeByStatistics(torch.autograd.Function):
    """Batch norm of `x` by given batch statistics, the backward of train-mode batch norm (the
    statistics' dependence on `x` included)."""

    @staticmethod
    def forward(ctx, x, weight, bias, mean, var, eps):
        ctx.eps = eps
        invstd = torch.rsqrt(var + eps)
        ctx.save_for_backward(x, weight, mean, invstd)
        return F.batch_norm(x, mean, var, weight, bias, False, 0.0, eps)

    @staticmethod
    def backward(ctx, grad):
        x, weight, mean, invstd = ctx.saved_tensors
        mask = [ctx.needs_input_grad[0], weight is not None and ctx.needs_input_grad[1],
                ctx.needs_input_grad[2]]
        gx, gw, gb = torch.ops.aten.native_batch_norm_backward(
            grad, x, weight, None, None, mean, invstd, True, ctx.eps, mask)
        return gx, gw, gb, None, None, None


class ChannelsLastBatchNorm2d(nn.BatchNorm2d):
    """nn.BatchNorm2d (same parameters, buffers and semantics) whose batch statistics of a
    channels-last float32 CPU tensor are summed per image in float32, across images in
    float64; every other input goes to nn.BatchNorm2d."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch_stats = self.training or (self.running_mean is None and self.running_var is None)
        if not (batch_stats and x.device.type == "cpu" and x.dtype == torch.float32
                and x.dim() == 4 and not x.is_contiguous()
                and x.is_contiguous(memory_format=torch.channels_last)):
            return super().forward(x)
        count = x.numel() // x.shape[1]
        with torch.no_grad():
            mean = x.sum(dim=(2, 3)).sum(0, dtype=torch.float64) / count
            var = (x * x).sum(dim=(2, 3)).sum(0, dtype=torch.float64) / count - mean * mean
            var = var.clamp_(min=0.0)
            if self.training and self.track_running_stats and self.running_mean is not None:
                self.num_batches_tracked.add_(1)
                factor = (1.0 / float(self.num_batches_tracked) if self.momentum is None
                          else self.momentum)
                unbiased = var * count / max(count - 1, 1)
                self.running_mean.mul_(1 - factor).add_(factor * mean.float())
                self.running_var.mul_(1 - factor).add_(factor * unbiased.float())
        return _NormalizeByStatistics.apply(x, self.weight, self.bias, mean.float(), var.float(),
                                            self.eps)


class ConvBnRelu(nn.Sequential):
    """Conv (no bias, 'same' padding) - BatchNorm - ReLU; `fast`: the batch norm for
    channels-last tensors (ChannelsLastBatchNorm2d)."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        bn_momentum: float = BN_MOMENTUM,
        bn_eps: float = BN_EPSILON,
        fast: bool = False,
    ):
        norm = ChannelsLastBatchNorm2d if fast else nn.BatchNorm2d
        super().__init__(
            nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2, bias=False),
            norm(out_channels, eps=bn_eps, momentum=bn_momentum),
            nn.ReLU(inplace=False),
        )


class MaxPool3x3(nn.MaxPool2d):
    """3x3 max-pooling, stride 1, 'same' padding: channels and size unchanged."""

    def __init__(self) -> None:
        super().__init__(kernel_size=3, stride=1, padding=1)


def make_op(
    op: str, channels: int, bn_momentum: float = BN_MOMENTUM, bn_eps: float = BN_EPSILON,
    fast: bool = False,
) -> nn.Module:
    """The module of a NAS-Bench-101 op acting on `channels` channels (`fast`: ConvBnRelu's)."""
    if op == CONV3X3:
        return ConvBnRelu(channels, channels, 3, bn_momentum, bn_eps, fast)
    if op == CONV1X1:
        return ConvBnRelu(channels, channels, 1, bn_momentum, bn_eps, fast)
    if op == MAXPOOL3X3:
        return MaxPool3x3()
    raise ValueError(f"unknown op {op!r}, expected one of {CONV3X3}, {CONV1X1}, {MAXPOOL3X3}")
