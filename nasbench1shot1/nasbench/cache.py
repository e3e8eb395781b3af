"""Where a converted official file lives, when it is stale, and how it is (re)built.

Reading a `.tfrecord` means decoding millions of JSON and protobuf records; it is done once and
the table saved as a cache folder (layout in `table.py`) that later loads by memory-mapping.
The cache is `<file>.nb1s1-cache/` beside the file when that folder is writable, otherwise
`<name>-<path digest>.nb1s1-cache/` under `$NB1S1_CACHE_DIR` (default
`~/.cache/nasbench1shot1`), or under an explicit `cache_dir`. A cache records the size and
modification time of its source; when either changes it is rebuilt, and so is a cache in an
older layout (`table.py`'s FORMAT_VERSION). Every load checks the whole
cache against the checksums it was written with (`table.py`); a cache that fails a check, or
cannot be read, is rebuilt from its source with one warning naming the file. A source without
records is refused, never cached as an empty table.
"""

from __future__ import annotations

import hashlib
import logging
import os
import warnings
from pathlib import Path

from .errors import BenchmarkFileError, DamagedTableError, missing_file
from .table import FORMAT_VERSION, CellTable, read_meta
from .tfrecord import read_columns

CACHE_SUFFIX = ".nb1s1-cache"
CACHE_DIR_VARIABLE = "NB1S1_CACHE_DIR"

logger = logging.getLogger(__name__)


def default_cache_dir() -> Path:
    """The shared cache folder: `$NB1S1_CACHE_DIR`, else `~/.cache/nasbench1shot1`."""
    configured = os.environ.get(CACHE_DIR_VARIABLE)
    return Path(configured) if configured else Path.home() / ".cache" / "nasbench1shot1"


def cache_candidates(source: Path, cache_dir: str | os.PathLike | None = None) -> list[Path]:
    """Cache folders for `source`, in the order they are tried."""
    if cache_dir is not None:
        return [Path(cache_dir) / f"{source.name}{CACHE_SUFFIX}"]
    # Files with one name in different folders must not share a slot in the shared cache.
    digest = hashlib.sha256(str(source.resolve()).encode()).hexdigest()[:10]
    return [
        source.with_name(f"{source.name}{CACHE_SUFFIX}"),
        default_cache_dir() / f"{source.name}-{digest}{CACHE_SUFFIX}",
    ]


def source_stamp(source: Path) -> dict:
    """What identifies the version of a source file a cache was built from."""
    status = source.stat()
    return {"path": str(source.resolve()), "size": status.st_size, "mtime_ns": status.st_mtime_ns}


def _cached_table(folder: Path, stamp: dict) -> CellTable | None:
    """The checked table in `folder` if it was built from `stamp`'s file; None when there is no
    cache or it was built from another version of the file. Raises `DamagedTableError`."""
    if not folder.exists():
        return None
    meta = read_meta(folder)
    built_from = meta.get("source") or {}
    if (built_from.get("size"), built_from.get("mtime_ns")) != (stamp["size"], stamp["mtime_ns"]):
        return None
    if meta["version"] != FORMAT_VERSION:
        logger.info(
            "cache %s has the layout of version %s; rebuilding it in version %s",
            folder, meta["version"], FORMAT_VERSION,
        )
        return None
    return CellTable.load(folder)


def _find_cache(source: Path, candidates: list[Path]) -> tuple[CellTable, Path] | None:
    """The first fresh, whole cache of `source` among `candidates`, or None to rebuild.

    A damaged candidate gets one warning, which says whether another cache is used instead or
    the cache is rebuilt.
    """
    stamp = source_stamp(source)
    damage: DamagedTableError | None = None
    for folder in candidates:
        try:
            table = _cached_table(folder, stamp)
        except DamagedTableError as exc:
            damage = damage or exc
            continue
        if table is not None:
            if damage is not None:
                logger.warning(
                    "cache %s is damaged: %s; using the cache %s instead",
                    damage.folder, damage.detail, folder,
                )
            return table, folder
    if damage is not None:
        logger.warning(
            "cache %s is damaged: %s; rebuilding it from %s", damage.folder, damage.detail, source
        )
    return None


def _build(
    source: Path, candidates: list[Path], workers: int = 1
) -> tuple[CellTable, Path | None, list[str]]:
    """Convert `source` and save it in the first writable candidate.

    Returns the table (memory-mapped from its cache when one was written), the cache folder or
    None, and why each candidate that could not be written failed.
    """
    stamp = source_stamp(source)
    records = read_columns(source, workers=workers)
    if len(records) == 0:
        raise BenchmarkFileError(
            f"benchmark file {source} holds no records, so no cell; use an official NAS-Bench-101 "
            "file (nb1s1 benchmark download)"
        )
    table = CellTable.from_records(records)
    del records  # freed before the table is written, to keep the peak memory down
    failures = []
    for folder in candidates:
        try:
            table.save(folder, meta={"source": stamp})
            break
        except OSError as exc:
            failures.append(f"{folder} ({exc.strerror or exc})")
    else:
        return table, None, failures
    # Reopen memory-mapped (which reads and checks every page) once the decoded arrays are freed,
    # so the process never holds both.
    del table
    return CellTable.load(folder), folder, failures


def convert(
    path: str | os.PathLike,
    cache_dir: str | os.PathLike | None = None,
    force: bool = False,
    workers: int = 1,
) -> Path:
    """Build the cache of an official `.tfrecord` file unless a fresh one exists; returns it.

    `workers` > 1 decodes in that many extra processes (spawned, so a calling script needs the
    usual `if __name__ == "__main__":` guard); loading through `NASBench` always uses one.
    """
    source = Path(path)
    if not source.is_file():
        raise missing_file(source)
    candidates = cache_candidates(source, cache_dir)
    if not force and (found := _find_cache(source, candidates)) is not None:
        return found[1]
    _, folder, failures = _build(source, candidates, workers)
    if folder is None:
        raise BenchmarkFileError(f"cannot write a cache for {source}: tried {', '.join(failures)}")
    return folder


def load_table(
    path: str | os.PathLike, cache_dir: str | os.PathLike | None = None
) -> tuple[CellTable, Path | None]:
    """The table stored at `path` and the cache folder it was read from (None if none).

    `path` may be an official `.tfrecord` file (converted on first use), a cache folder, or an
    `.npz` archive written by `CellTable.save`.
    """
    path = Path(path)
    if path.is_dir():
        return CellTable.load(path), path
    if not path.is_file():
        raise missing_file(path)
    if path.suffix == ".npz":
        return CellTable.load(path), None
    candidates = cache_candidates(path, cache_dir)
    if (found := _find_cache(path, candidates)) is not None:
        return found
    table, folder, failures = _build(path, candidates)
    if folder is None:
        warnings.warn(
            f"cannot write a cache for {path} (tried {', '.join(failures)}); "
            "it will be converted again on the next load",
            stacklevel=2,
        )
    return table, folder
