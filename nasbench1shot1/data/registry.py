"""Data sets by name, as the search and build configs name them: `DATASETS` holds one loader
`loader(root, seed) -> DataSplits` per data set, in the order the configs list them (the
default first)."""

from __future__ import annotations

from collections.abc import Callable

from nasbench1shot1.data.splits import DataSplits, load_digits_splits
from nasbench1shot1.registry import Registry

Loader = Callable[[str | None, int], DataSplits]

DATASETS: Registry[Loader] = Registry("data set", sort=False)


@DATASETS.register("digits")
def _digits(root: str | None, seed: int) -> DataSplits:
    """scikit-learn's 8x8 digits (no download; `root` is not used)."""
    return load_digits_splits(seed=seed)


@DATASETS.register("cifar10")
def _cifar10(root: str | None, seed: int) -> DataSplits:
    """CIFAR-10 from its cifar-10-batches-py folder `root`."""
    from nasbench1shot1.data.cifar10 import load_cifar10_splits

    return load_cifar10_splits(root, seed=seed)


def load_data(name: str, root: str | None = None, seed: int = 0) -> DataSplits:
    """The splits of data set `name`; `root` is CIFAR-10's cifar-10-batches-py folder."""
    return DATASETS.create(name, root, seed)
