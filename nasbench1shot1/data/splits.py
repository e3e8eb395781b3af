"""Train/validation/test splits held as tensors, and the digits data set.

The digits set is scikit-learn's `load_digits`: 1,797 real 8x8 grey images of handwritten digits
(16 grey levels), shipped with scikit-learn. Its split is fixed by a seed: a seeded permutation,
then `train` images for training, `valid` for validation and the rest for testing. Pixels are
scaled to [0, 1] and standardised with the training split's mean and standard deviation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


@dataclass(frozen=True)
class Split:
    """Images (N, C, H, W) float32 and labels (N,) int64."""

    images: torch.Tensor
    labels: torch.Tensor

    def __post_init__(self) -> None:
        if self.images.ndim != 4 or len(self.images) != len(self.labels):
            raise ValueError(
                f"a split needs images (N, C, H, W) and N labels, got {tuple(self.images.shape)} "
                f"and {tuple(self.labels.shape)}"
            )

    def __len__(self) -> int:
        return len(self.labels)

    def to(self, device: torch.device | str) -> Split:
        return Split(self.images.to(device), self.labels.to(device))


@dataclass(frozen=True)
class DataSplits:
    """A data set's three splits and what a network needs to know of it."""

    name: str
    train: Split
    valid: Split
    test: Split
    num_classes: int

    @property
    def in_channels(self) -> int:
        return int(self.train.images.shape[1])

    @property
    def image_size(self) -> int:
        return int(self.train.images.shape[2])

    def to(self, device: torch.device | str) -> DataSplits:
        return DataSplits(
            self.name, self.train.to(device), self.valid.to(device), self.test.to(device),
            self.num_classes,
        )

    def subset(self, train: int, valid: int | None = None, test: int | None = None) -> DataSplits:
        """The first images of each split (for quick runs and tests)."""
        valid = train if valid is None else valid
        test = valid if test is None else test

        def head(split: Split, count: int) -> Split:
            return Split(split.images[:count], split.labels[:count])

        return DataSplits(self.name, head(self.train, train), head(self.valid, valid),
                          head(self.test, test), self.num_classes)


DIGITS_IMAGES = 1_797


def load_digits_splits(train: int = 1_000, valid: int = 397, seed: int = 0) -> DataSplits:
    """The digits of scikit-learn, split `train` / `valid` / rest (400 by default) by `seed`."""
    if train < 1 or valid < 1 or train + valid >= DIGITS_IMAGES:
        raise ValueError(
            f"digits split train={train}, valid={valid} must leave at least one test image of "
            f"the {DIGITS_IMAGES}"
        )
    from sklearn.datasets import load_digits

    digits = load_digits()
    order = np.random.default_rng(seed).permutation(len(digits.target))
    images = (digits.images[order] / 16.0).astype(np.float32)[:, None]
    labels = digits.target[order].astype(np.int64)
    mean = images[:train].mean()
    std = images[:train].std()
    images = (images - mean) / std

    def split(start: int, stop: int) -> Split:
        return Split(torch.from_numpy(images[start:stop].copy()),
                     torch.from_numpy(labels[start:stop].copy()))

    return DataSplits(
        "digits", split(0, train), split(train, train + valid),
        split(train + valid, len(labels)), num_classes=10,
    )
