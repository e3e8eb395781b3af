"""The fused weighted sums of the supernet's fast ops: `weighted_sum(weights, tensors)` and
`weighted_concat(weights, parts, extra)` (a cell's output).

sum_i weights[i] * tensors[i] in one autograd node instead of a multiply per term and an add
between terms: the forward writes one output (a multiply, then fused multiply-adds into it), the
backward gives each tensor `grad * weights[i]` and each weight the dot product of `grad` with its
tensor, in one pass and without the product tensors the plain expression builds; when the
weights need no gradient (a step of the supernet weights) the tensors are not kept for it.
`weighted_concat` writes the weighted parts straight into their channels of the output (no
product tensors, no concatenation copy). The results equal the plain expressions to float
rounding.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch


def _dot(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """sum(a * b) for two tensors of one shape, without the product tensor when both are laid
    out alike (contiguous or channels-last)."""
    if a.is_contiguous() and b.is_contiguous():
        return torch.dot(a.reshape(-1), b.reshape(-1))
    if (a.dim() == 4 and a.is_contiguous(memory_format=torch.channels_last)
            and b.is_contiguous(memory_format=torch.channels_last)):
        # NHWC order in memory: the permuted views flatten without a copy
        return torch.dot(a.permute(0, 2, 3, 1).reshape(-1), b.permute(0, 2, 3, 1).reshape(-1))
    return (a * b).sum()


class _WeightedSum(torch.autograd.Function):
    @staticmethod
    def forward(ctx, weights: torch.Tensor, *tensors: torch.Tensor) -> torch.Tensor:
        out = torch.mul(tensors[0], weights[0].to(tensors[0].dtype))
        for w, t in zip(weights[1:], tensors[1:]):
            out.addcmul_(t, w.to(out.dtype))
        ctx.weights_need_grad = ctx.needs_input_grad[0]
        ctx.save_for_backward(weights, *(tensors if ctx.weights_need_grad else ()))
        return out

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        weights, *tensors = ctx.saved_tensors
        grad_weights = None
        if ctx.weights_need_grad:
            grad_weights = torch.stack([_dot(grad, t).to(weights.dtype) for t in tensors])
        grads = [grad * w.to(grad.dtype) if need else None
                 for w, need in zip(weights, ctx.needs_input_grad[1:])]
        return (grad_weights, *grads)


def weighted_sum(weights: torch.Tensor, tensors: Sequence[torch.Tensor]) -> torch.Tensor:
    """sum_i weights[i] * tensors[i]: `weights` a 1-d tensor with one weight per tensor, the
    tensors of one shape."""
    if weights.shape != (len(tensors),):
        raise ValueError(f"weighted_sum needs one weight per tensor, got weights of shape "
                         f"{tuple(weights.shape)} for {len(tensors)} tensors")
    return _WeightedSum.apply(weights, *tensors)


class _WeightedConcat(torch.autograd.Function):
    @staticmethod
    def forward(ctx, weights: torch.Tensor, extra: torch.Tensor, *parts):
        widths = [p.shape[1] for p in parts]
        out = torch.mul(extra, weights[0].to(extra.dtype))
        start = 0
        for w, part, width in zip(weights[1:], parts, widths):
            out[:, start:start + width].addcmul_(part, w.to(out.dtype))
            start += width
        ctx.widths = widths
        ctx.weights_need_grad = ctx.needs_input_grad[0]
        ctx.save_for_backward(weights, *((extra, *parts) if ctx.weights_need_grad else ()))
        return out

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        weights, *kept = ctx.saved_tensors
        slices, start = [], 0
        for width in ctx.widths:
            slices.append(grad[:, start:start + width])
            start += width
        grad_weights = None
        if ctx.weights_need_grad:
            extra, *parts = kept
            dots = [_dot(grad, extra)] + [_dot(g, p) for g, p in zip(slices, parts)]
            grad_weights = torch.stack([d.to(weights.dtype) for d in dots])
        grad_extra = grad * weights[0].to(grad.dtype) if ctx.needs_input_grad[1] else None
        grads = [g * w.to(g.dtype) if need else None
                 for g, w, need in zip(slices, weights[1:], ctx.needs_input_grad[2:])]
        return (grad_weights, grad_extra, *grads)


def weighted_concat(weights: torch.Tensor, parts: Sequence[torch.Tensor],
                    extra: torch.Tensor) -> torch.Tensor:
    """cat(weights[1] * parts[0], weights[2] * parts[1], ...) along the channels, plus
    weights[0] * extra (a tensor as wide as the concatenation: a cell's output projection)."""
    if weights.shape != (len(parts) + 1,):
        raise ValueError(f"weighted_concat needs a weight for the extra tensor and one per "
                         f"part, got weights of shape {tuple(weights.shape)} for "
                         f"{len(parts)} parts")
    return _WeightedConcat.apply(weights, extra, *parts)
