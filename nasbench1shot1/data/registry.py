"""Data sets by name, as the search and build configs name them."""

from __future__ import annotations

from nasbench1shot1.data.splits import DataSplits, load_digits_splits

DATASETS = ("digits", "cifar10")


def load_data(name: str, root: str | None = None, seed: int = 0) -> DataSplits:
    """The splits of data set `name`; `root` is CIFAR-10's cifar-10-batches-py folder."""
    if name == "digits":
        return load_digits_splits(seed=seed)
    if name == "cifar10":
        from nasbench1shot1.data.cifar10 import load_cifar10_splits

        return load_cifar10_splits(root, seed=seed)
    raise ValueError(f"unknown data set {name!r}, expected one of {', '.join(DATASETS)}")
