"""Data sets and their splits as in-memory tensors: the 8x8 digits of scikit-learn (no download),
and augmentation shared by the trainers."""

from nasbench1shot1.data.augment import augment_batch
from nasbench1shot1.data.splits import DataSplits, Split, load_digits_splits

__all__ = ["DataSplits", "Split", "augment_batch", "load_digits_splits"]
