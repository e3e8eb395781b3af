"""The errors of the NAS-Bench-101 package, so callers can catch benchmark problems in one place.

`NASBenchError` is the common base. `OutOfDomainError` keeps the reference API's name for a cell
or budget outside the benchmark; `CellNotFoundError` is also a `KeyError` because it means a
valid cell whose hash is not a key of the loaded table. `BenchmarkFileError` covers every damaged
or unreadable benchmark file and cache; its `DamagedTableError` is a saved table folder that fails
its checks, which the cache rebuilds. `DownloadError` is a fetch of the official files that failed.
"""

from __future__ import annotations

from pathlib import Path


class NASBenchError(Exception):
    """Base class of every error raised by `nasbench1shot1.nasbench`."""


class OutOfDomainError(NASBenchError):
    """A spec or budget outside NAS-Bench-101 (too many vertices or edges, bad op, bad epochs)."""


class CellNotFoundError(OutOfDomainError, KeyError):
    """A valid cell, or a well-formed hash, with no row (or no run) in the loaded table."""

    def __str__(self) -> str:
        # KeyError would print the message quoted like a dict key; show the sentence as written.
        return str(self.args[0]) if self.args else ""


class BenchmarkFileError(NASBenchError, ValueError):
    """A benchmark file or cache that is missing, damaged or not in the expected format."""


def missing_file(path) -> BenchmarkFileError:
    """The error of a benchmark file that is not there, with where to get one."""
    return BenchmarkFileError(
        f"benchmark file {path} does not exist; `nb1s1 benchmark download --dest DIR` fetches "
        "the official NAS-Bench-101 file (then benchmark.path=DIR/nasbench_only108.tfrecord)")


class DamagedTableError(BenchmarkFileError):
    """A saved table folder with a file that is missing, unreadable or not what its checksum says.

    `detail` names the file and what is wrong with it.
    """

    def __init__(self, folder: Path, detail: str):
        self.folder = folder
        self.detail = detail
        super().__init__(
            f"benchmark table {folder} is damaged: {detail}; delete it and load the source file "
            "again to rebuild it"
        )

    def __reduce__(self) -> tuple:
        return type(self), (self.folder, self.detail)


class DownloadError(NASBenchError, OSError):
    """Fetching an official benchmark file failed (offline, unreachable, or wrong checksum)."""
