"""Data sets and their splits as in-memory tensors: the 8x8 digits of scikit-learn (no download),
and augmentation shared by the trainers; `DATASETS` finds a data set's loader by name."""

from nasbench1shot1.data.augment import augment_batch
from nasbench1shot1.data.registry import DATASETS, load_data
from nasbench1shot1.data.splits import DataSplits, Split, load_digits_splits

__all__ = ["DATASETS", "DataSplits", "Split", "augment_batch", "load_data", "load_digits_splits"]
