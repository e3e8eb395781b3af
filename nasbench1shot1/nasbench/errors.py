"""The errors of the NAS-Bench-101 package, so callers can catch benchmark problems in one place.

`NASBenchError` is the common base. `OutOfDomainError` keeps the reference API's name for a cell
or budget outside the benchmark; `CellNotFoundError` is also a `KeyError` because it means a
valid cell whose hash is not a key of the loaded table. `BenchmarkFileError` covers every damaged
or unreadable benchmark file and cache, `DownloadError` a fetch of the official files that failed.
"""

from __future__ import annotations


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


class DownloadError(NASBenchError, OSError):
    """Fetching an official benchmark file failed (offline, unreachable, or wrong checksum)."""
