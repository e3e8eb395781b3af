"""NAS-Bench-101 without TensorFlow: cell specs, the official files, a fast cache and queries.

`NASBench` answers the reference API (google-research/nasbench) from a columnar table read from
an official `.tfrecord` file, its cache, or an `.npz` archive; `download`, `convert` and
`describe` are the file-level operations behind `nb1s1 benchmark download|convert|info`.
"""

from .api import QUERY_METRICS, NASBench, describe
from .cache import convert, default_cache_dir
from .errors import (
    BenchmarkFileError,
    CellNotFoundError,
    DamagedTableError,
    DownloadError,
    NASBenchError,
    OutOfDomainError,
)
from .official import OFFICIAL_FILES, download
from .spec import AVAILABLE_OPS, CONV1X1, CONV3X3, INPUT, MAXPOOL3X3, OUTPUT, ModelSpec
from .tfrecord import METRIC_FIELDS

__all__ = [
    "AVAILABLE_OPS",
    "CONV1X1",
    "CONV3X3",
    "INPUT",
    "MAXPOOL3X3",
    "METRIC_FIELDS",
    "OFFICIAL_FILES",
    "OUTPUT",
    "QUERY_METRICS",
    "BenchmarkFileError",
    "CellNotFoundError",
    "DamagedTableError",
    "DownloadError",
    "ModelSpec",
    "NASBench",
    "NASBenchError",
    "OutOfDomainError",
    "convert",
    "default_cache_dir",
    "describe",
    "download",
]
