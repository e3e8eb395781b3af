"""Data sets by name, as the search config names them."""

from __future__ import annotations

from nasbench1shot1.data.splits import DataSplits, load_digits_splits


def load_data(settings) -> DataSplits:
    """The splits of the data set `settings.name` ('digits' or 'cifar10')."""
    if settings.name == "digits":
        return load_digits_splits(seed=settings.split_seed)
    if settings.name == "cifar10":
        from nasbench1shot1.data.cifar10 import load_cifar10_splits

        return load_cifar10_splits(settings.root, seed=settings.split_seed)
    raise ValueError(f"unknown data set {settings.name!r}, expected one of digits, cifar10")
