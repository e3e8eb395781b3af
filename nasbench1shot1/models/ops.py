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
        if not (self._batch_statistics() and _accurate_path(x)):
            return super().forward(x)
        return _normalize([self], x)

    def _batch_statistics(self) -> bool:
        return self.training or (self.running_mean is None and self.running_var is None)


def _accurate_path(x: torch.Tensor) -> bool:
    return (x.device.type == "cpu" and x.dtype == torch.float32 and x.dim() == 4
            and not x.is_contiguous() and x.is_contiguous(memory_format=torch.channels_last))


def _normalize(norms: list[ChannelsLastBatchNorm2d], x: torch.Tensor) -> torch.Tensor:
    """Train-mode batch norm of `x`, whose channels are those of `norms` one after another, by
    accurately summed batch statistics; each module's running statistics updated as its own
    forward would."""
    count = x.numel() // x.shape[1]
    with torch.no_grad():
        mean = x.sum(dim=(2, 3)).sum(0, dtype=torch.float64) / count
        var = ((x * x).sum(dim=(2, 3)).sum(0, dtype=torch.float64) / count - mean * mean
               ).clamp_(min=0.0)
        start = 0
        for bn in norms:
            end = start + bn.num_features
            if bn.training and bn.track_running_stats and bn.running_mean is not None:
                bn.num_batches_tracked.add_(1)
                factor = (1.0 / float(bn.num_batches_tracked) if bn.momentum is None
                          else bn.momentum)
                unbiased = var[start:end] * count / max(count - 1, 1)
                bn.running_mean.mul_(1 - factor).add_(factor * mean[start:end].float())
                bn.running_var.mul_(1 - factor).add_(factor * unbiased.float())
            start = end
    first = norms[0]
    weight = bias = None
    if first.affine:
        weight = first.weight if len(norms) == 1 else torch.cat([bn.weight for bn in norms])
        bias = first.bias if len(norms) == 1 else torch.cat([bn.bias for bn in norms])
    return _NormalizeByStatistics.apply(x, weight, bias, mean.float(), var.float(), first.eps)


def grouped_conv_bn_relu(blocks: list[ConvBnRelu], x: torch.Tensor) -> list[torch.Tensor] | None:
    """The outputs of several 1x1 ConvBnRelu blocks of one input `x`, as one convolution, one
    batch norm and one ReLU over their channels side by side (each channel's result is its own
    block's: a convolution's and a batch norm's output channels are independent). None when the
    blocks cannot share the work (batch norms in other modes or settings, other inputs than
    accurate channels-last CPU tensors): the caller runs them one by one."""
    convs = [block[0] for block in blocks]
    norms = [block[1] for block in blocks]
    first = norms[0]
    if not (_accurate_path(x) and all(
            isinstance(bn, ChannelsLastBatchNorm2d) and bn._batch_statistics()
            and (bn.training, bn.track_running_stats, bn.momentum, bn.eps, bn.affine)
            == (first.training, first.track_running_stats, first.momentum, first.eps,
                first.affine) for bn in norms)
            and all(c.kernel_size == (1, 1) and c.bias is None for c in convs)):
        return None
    out = F.conv2d(x, torch.cat([c.weight for c in convs]))
    out = F.relu(_normalize(norms, out))
    return list(_SplitChannels.apply(out, *(c.out_channels for c in convs)))


class _SplitChannels(torch.autograd.Function):
    """The channel groups of `x` as views; the backward gathers their gradients into one tensor
    laid out as `x` (torch.split's gives NCHW, which the channels-last kernels before it would
    then read strided)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, *widths: int):
        ctx.shape, ctx.widths = x.shape, widths
        ctx.memory_format = (torch.channels_last
                             if x.is_contiguous(memory_format=torch.channels_last)
                             else torch.contiguous_format)
        return tuple(x.split(widths, dim=1))

    @staticmethod
    def backward(ctx, *grads):
        # autograd hands an unused output's gradient in as zeros (materialized), never None
        out = torch.empty(ctx.shape, dtype=grads[0].dtype, device=grads[0].device,
                          memory_format=ctx.memory_format)
        start = 0
        for g, width in zip(grads, ctx.widths):
            out[:, start:start + width].copy_(g)
            start += width
        return (out, *(None for _ in ctx.widths))


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
