"""Batch augmentation on tensors: random crop after zero padding, horizontal flip, cutout.

NAS-Bench-101 trained with random crops (padding 4) and horizontal flips; cutout is the one-shot
methods' optional extra. Everything runs on the batch's device, vectorised over the batch.
"""

from __future__ import annotations

import torch


def augment_batch(
    images: torch.Tensor,
    generator: torch.Generator | None = None,
    crop_padding: int = 0,
    flip: bool = False,
    cutout_length: int = 0,
    cutout_prob: float = 1.0,
) -> torch.Tensor:
    """An augmented copy of `images` (N, C, H, W)."""
    n, _, h, w = images.shape
    device = images.device

    def uniform(*shape: int) -> torch.Tensor:
        where = generator.device if generator is not None else device
        return torch.rand(*shape, generator=generator, device=where).to(device)

    out = images
    if crop_padding > 0:
        padded = torch.nn.functional.pad(images, [crop_padding] * 4)
        dy = (uniform(n) * (2 * crop_padding + 1)).long()
        dx = (uniform(n) * (2 * crop_padding + 1)).long()
        rows = (torch.arange(h, device=device)[None, :] + dy[:, None])  # (n, h)
        cols = (torch.arange(w, device=device)[None, :] + dx[:, None])  # (n, w)
        batch = torch.arange(n, device=device)[:, None, None]
        out = padded.permute(0, 2, 3, 1)[batch, rows[:, :, None], cols[:, None, :]]
        out = out.permute(0, 3, 1, 2)
    if flip:
        flipped = uniform(n) < 0.5
        out = torch.where(flipped[:, None, None, None], out.flip(3), out)
    if cutout_length > 0 and cutout_prob > 0:
        cy = (uniform(n) * h).long()
        cx = (uniform(n) * w).long()
        ys = torch.arange(h, device=device)[None, :]
        xs = torch.arange(w, device=device)[None, :]
        half = cutout_length // 2
        in_y = (ys >= cy[:, None] - half) & (ys < cy[:, None] - half + cutout_length)
        in_x = (xs >= cx[:, None] - half) & (xs < cx[:, None] - half + cutout_length)
        hole = in_y[:, :, None] & in_x[:, None, :]
        hole &= (uniform(n) < cutout_prob)[:, None, None]
        out = out.masked_fill(hole[:, None], 0.0)
    return out if out is not images else images.clone()
