"""The columnar NAS-Bench-101 table: numpy arrays, one row per cell, sorted by module hash.

`CellTable` owns the arrays and their invariants, builds them from the records of an official
file or from user arrays (`from_arrays`), and stores them as a folder of `.npy` files (memory-
mapped on load) or as a single `.npz` archive. Layout, with C cells, E epoch budgets, R repeats:

    module_hash.npy           (C, 2) uint64   md5 digest as two big-endian words, sorted
    adjacency.npy             (C, 7, 7) uint8 pruned adjacency, top-left num_vertices block used
    ops.npy                   (C, 7) int8     labels: -1 input, -2 output, 0/1/2 AVAILABLE_OPS
    num_vertices.npy          (C,) int8
    trainable_parameters.npy  (C,) int64      -1 where unknown
    runs.npy                  (C, E, R, M) float64, NaN where missing: every run of a cell,
                              budget by budget, repeat by repeat, its M metrics in the order
                              of meta's "metrics" (METRIC_FIELDS order)
    meta.json                 format version, epochs, num_repeats, metrics, source stamp,
                              dtype, shape and CRC32C of each array, CRC32C of the meta itself

A metric absent from the table (for example the halfway metrics of a partial table) is not
stored at all and reads as NaN. A cell's runs lie together (192 bytes for the 8 metrics of
3 repeats at one budget), so reading one cell touches a few adjacent cache lines, not one
page per metric; `metrics` gives each metric as a (C, E, R) view. Version 1 stored one
`<metric>.npy` of shape (C, E, R) per metric; it is still read (an `.npz` archive as it is, a
cache folder is rebuilt in the current layout: `cache.py`).

A folder is checked whole on every load (every byte of every array against its checksum, about
10 ms for the full table) and is written beside its final place and renamed into it, so a
reader sees the old folder, none, or the new one. An `.npz` archive relies on the CRC-32 that
zip keeps of each member.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import zipfile
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import crc32c
import numpy as np

from .errors import BenchmarkFileError, DamagedTableError
from .hashes import HashLike, hash_hex, hash_words
from .spec import INPUT_LABEL, OUTPUT_LABEL
from .tfrecord import MAX_VERTICES, METRIC_FIELDS, RecordColumns

FORMAT_VERSION = 2
#: Versions `load` reads: 1 stored one (C, E, R) array per metric, 2 one (C, E, R, M) array.
READABLE_VERSIONS = (1, 2)
RUNS_ARRAY = "runs"
FORMAT_NAME = "nasbench1shot1 NAS-Bench-101 table"
META_FILE = "meta.json"
#: Keys of meta.json: what each array file must hold, and the checksum of the meta itself.
ARRAYS_KEY = "arrays"
CHECKSUM_KEY = "crc32c"
UNKNOWN_PARAMETERS = -1
_FIXED_ARRAYS = {
    "module_hash": (np.uint64, (2,)),
    "adjacency": (np.uint8, (MAX_VERTICES, MAX_VERTICES)),
    "ops": (np.int8, (MAX_VERTICES,)),
    "num_vertices": (np.int8, ()),
    "trainable_parameters": (np.int64, ()),
}


@dataclass
class CellTable:
    """The arrays of a benchmark table; see the module docstring for shapes and meanings.

    `runs[..., m]` holds the metric `metric_names[m]`; `metric_names` are the metrics present,
    in METRIC_FIELDS order.
    """

    hash_words: np.ndarray
    adjacency: np.ndarray
    ops: np.ndarray
    num_vertices: np.ndarray
    trainable_parameters: np.ndarray
    runs: np.ndarray
    metric_names: tuple[str, ...]
    epochs: tuple[int, ...]
    num_repeats: int
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.metric_names = tuple(self.metric_names)
        self._check_shapes()
        # Single-cell reads (`rows.RowReader`) read the arrays' C-ordered bytes. Only an array in
        # another order is copied: loaded folders are memory-mapped C arrays and stay zero-copy.
        for name in (
            "hash_words", "adjacency", "ops", "num_vertices", "trainable_parameters", "runs"
        ):
            setattr(self, name, np.ascontiguousarray(getattr(self, name)))

    def __len__(self) -> int:
        return len(self.hash_words)

    @property
    def metrics(self) -> dict[str, np.ndarray]:
        """Each metric present as a (C, E, R) view of `runs`."""
        return {name: self.runs[..., m] for m, name in enumerate(self.metric_names)}

    def metric_runs(self, name: str, rows: np.ndarray, epoch_index: int) -> np.ndarray:
        """Every repeat of metric `name` of each of `rows` (int64, any shape) at one budget:
        shape rows.shape + (R,), NaN where the table lacks the metric.

        One `take` of flat positions: numpy gathers from a 1-d array at twice the speed of
        indexing the strided (C, E, R) view.
        """
        repeats = self.num_repeats
        if name not in self.metric_names:
            return np.full((*rows.shape, repeats), np.nan)
        width = len(self.metric_names)
        first = (rows * len(self.epochs) + epoch_index) * (repeats * width)
        first += self.metric_names.index(name)
        return self.runs.reshape(-1).take(first[..., None] + np.arange(repeats) * width)

    def _check_shapes(self) -> None:
        cells = len(self.hash_words)
        if list(self.epochs) != sorted(set(self.epochs)) or not all(e > 0 for e in self.epochs):
            raise ValueError(f"epochs {list(self.epochs)} must be positive and strictly increasing")
        if self.num_repeats < 1:
            raise ValueError(f"num_repeats = {self.num_repeats}, expected at least 1")
        unknown = [name for name in self.metric_names if name not in METRIC_FIELDS]
        if unknown:
            raise ValueError(
                f"unknown metric {unknown[0]!r}, expected one of {list(METRIC_FIELDS)}"
            )
        if list(self.metric_names) != [n for n in METRIC_FIELDS if n in self.metric_names]:
            raise ValueError(
                f"metrics {list(self.metric_names)} must be distinct and in the order of "
                f"{list(METRIC_FIELDS)}"
            )
        expected = {
            **_FIXED_ARRAYS,
            RUNS_ARRAY: (
                np.float64, (len(self.epochs), self.num_repeats, len(self.metric_names))
            ),
        }
        for name, array in self.arrays().items():
            dtype, tail = expected[name]
            if array.dtype != dtype or array.shape != (cells, *tail):
                raise ValueError(
                    f"array {name} has shape {array.shape} and dtype {array.dtype}, "
                    f"expected {(cells, *tail)} and {np.dtype(dtype)}"
                )

    def arrays(self) -> dict[str, np.ndarray]:
        """Every stored array by its file name (without `.npy`)."""
        return {
            "module_hash": self.hash_words,
            "adjacency": self.adjacency,
            "ops": self.ops,
            "num_vertices": self.num_vertices,
            "trainable_parameters": self.trainable_parameters,
            RUNS_ARRAY: self.runs,
        }

    def layout(self) -> dict:
        """The meta data that describes the arrays (stored as meta.json or in the npz)."""
        return {
            "format": FORMAT_NAME,
            "version": FORMAT_VERSION,
            "cells": len(self),
            "epochs": list(self.epochs),
            "num_repeats": self.num_repeats,
            "metrics": list(self.metric_names),
        }

    @classmethod
    def from_records(cls, records: RecordColumns) -> CellTable:
        """Group the runs of a file by cell and epoch budget, repeats in file order.

        Fixed statistics (adjacency, ops, parameters) come from the first record of each cell,
        as in the reference API. Consumes `records`: each column is dropped once its values are
        in the table (the other columns before the runs array is filled, each metric column once
        its values are in it), so a full-size file holds one copy of its values, not two.
        """
        count = len(records)
        high, low = records.hash_words[:, 0], records.hash_words[:, 1]
        by_hash = np.lexsort((low, high))  # stable, so each cell's first record comes first
        sorted_words = records.hash_words[by_hash]
        starts_cell = np.ones(count, dtype=bool)
        starts_cell[1:] = (sorted_words[1:] != sorted_words[:-1]).any(axis=1)
        hash_words = sorted_words[starts_cell]
        del sorted_words
        cell = np.empty(count, dtype=np.int64)
        cell[by_hash] = np.cumsum(starts_cell) - 1
        first_record = by_hash[starts_cell]
        del by_hash, starts_cell

        epochs = np.unique(records.epochs)
        # Slot of each run in a (cells, epochs, repeats) array, repeats in file order: the
        # position of the run among the runs of its cell and budget (a stable sort keeps order).
        slot = cell * len(epochs) + np.searchsorted(epochs, records.epochs)
        del cell
        num_vertices = records.num_vertices[first_record]
        fixed = {
            "hash_words": hash_words,
            "adjacency": _unpack_adjacency(records.adjacency_bits[first_record], num_vertices),
            "ops": records.ops[first_record],
            "num_vertices": num_vertices,
            "trainable_parameters": records.trainable_parameters[first_record],
        }
        for name in (
            "hash_words", "epochs", "num_vertices", "adjacency_bits", "ops", "trainable_parameters"
        ):
            column = getattr(records, name)
            setattr(records, name, np.empty((0, *column.shape[1:]), dtype=column.dtype))
        del column, high, low, first_record
        by_run = np.argsort(slot, kind="stable")
        grouped = slot[by_run]
        position = np.arange(count)
        group_start = np.where(np.r_[True, grouped[1:] != grouped[:-1]], position, 0)
        del grouped
        np.maximum.accumulate(group_start, out=group_start)
        position -= group_start
        del group_start
        repeat = np.empty(count, dtype=np.int64)
        repeat[by_run] = position
        del by_run, position
        num_repeats = int(repeat.max()) + 1 if count else 1
        slot *= num_repeats
        slot += repeat
        del repeat

        cells = len(hash_words)
        runs = np.full((cells, len(epochs), num_repeats, len(METRIC_FIELDS)), np.nan)
        by_run = runs.reshape(-1, len(METRIC_FIELDS))
        for m, name in enumerate(METRIC_FIELDS):
            by_run[slot, m] = records.metrics.pop(name)
        del by_run
        return cls(
            **fixed,
            runs=runs,
            metric_names=METRIC_FIELDS,
            epochs=tuple(int(e) for e in epochs),
            num_repeats=num_repeats,
        )

    @classmethod
    def from_arrays(
        cls,
        module_hash: HashLike,
        adjacency: np.ndarray,
        ops: np.ndarray,
        metrics: Mapping[str, np.ndarray],
        epochs: Sequence[int] = (108,),
        num_repeats: int = 3,
        trainable_parameters: np.ndarray | None = None,
    ) -> CellTable:
        """Build a table from user arrays in any row order; see `NASBench.from_arrays`."""
        words = hash_words(module_hash)
        if words.ndim != 2:
            raise ValueError("module_hash must be a 1-d sequence of hex hashes")
        cells = len(words)
        adjacency = np.asarray(adjacency)
        size = adjacency.shape[-1] if adjacency.ndim == 3 else 0
        if adjacency.shape != (cells, size, size) or not 2 <= size <= MAX_VERTICES:
            raise ValueError(
                f"adjacency has shape {adjacency.shape}, expected ({cells}, n, n) with n from 2 "
                f"to {MAX_VERTICES}"
            )
        if not np.isin(adjacency, (0, 1)).all():
            raise ValueError("adjacency entries must be 0 or 1")
        ops = np.asarray(ops)
        if ops.shape != (cells, size):
            raise ValueError(f"ops has shape {ops.shape}, expected {(cells, size)}")
        is_output = ops == OUTPUT_LABEL
        if not ((ops[:, 0] == INPUT_LABEL).all() and is_output.any(axis=1).all()):
            raise ValueError("each row of ops must start with the input label -1 and hold a -2")
        num_vertices = (is_output.argmax(axis=1) + 1).astype(np.int8)
        # Labels after the output are padding, whatever their value; they are stored as 0.
        in_cell = np.arange(size) < num_vertices[:, None]
        inner = in_cell & (np.arange(size) > 0) & ~is_output
        if not (np.isin(ops, (0, 1, 2)) | ~inner).all():
            raise ValueError("ops labels between the input -1 and the output -2 must be 0, 1 or 2")
        padded_adjacency = np.zeros((cells, MAX_VERTICES, MAX_VERTICES), dtype=np.uint8)
        padded_adjacency[:, :size, :size] = adjacency * (in_cell[:, :, None] & in_cell[:, None, :])
        padded_ops = np.zeros((cells, MAX_VERTICES), dtype=np.int8)
        padded_ops[:, :size] = np.where(in_cell, ops, 0)
        if trainable_parameters is None:
            parameters = np.full(cells, UNKNOWN_PARAMETERS, dtype=np.int64)
        else:
            given = np.asarray(trainable_parameters, dtype=np.float64)
            if given.shape != (cells,):
                raise ValueError(
                    f"trainable_parameters has shape {given.shape}, expected {(cells,)}"
                )
            parameters = np.where(np.isnan(given), UNKNOWN_PARAMETERS, given).astype(np.int64)
        epochs = tuple(int(e) for e in epochs)
        shape = (cells, len(epochs), num_repeats)
        for name, values in metrics.items():
            if name not in METRIC_FIELDS:
                raise ValueError(f"unknown metric {name!r}, expected one of {list(METRIC_FIELDS)}")
            if np.shape(values) != shape:
                raise ValueError(
                    f"metric {name} has shape {np.shape(values)}, expected "
                    f"(cells, epochs, repeats) = {shape}"
                )
        names = tuple(name for name in METRIC_FIELDS if name in metrics)
        order = np.lexsort((words[:, 1], words[:, 0]))
        in_order = bool((order == np.arange(cells)).all())
        if not in_order:
            words, padded_adjacency, padded_ops, num_vertices, parameters = (
                array[order]
                for array in (words, padded_adjacency, padded_ops, num_vertices, parameters)
            )
        # The table's own copy (the caller may change its arrays), one metric at a time.
        runs = np.empty((*shape, len(names)))
        for m, name in enumerate(names):
            values = np.asarray(metrics[name], dtype=np.float64)
            runs[..., m] = values if in_order else values[order]
        repeated = (words[1:] == words[:-1]).all(axis=1)
        if repeated.any():
            duplicate = hash_hex(words[1:][repeated][0]).decode()
            raise ValueError(f"module hash {duplicate} appears more than once")
        return cls(
            hash_words=words,
            adjacency=padded_adjacency,
            ops=padded_ops,
            num_vertices=num_vertices,
            trainable_parameters=parameters,
            runs=runs,
            metric_names=names,
            epochs=epochs,
            num_repeats=int(num_repeats),
        )

    def save(self, path: str | os.PathLike, meta: Mapping | None = None) -> Path:
        """Write the table as a `.npz` archive (by suffix) or as a cache folder; returns path."""
        path = Path(path)
        layout = {**self.layout(), **(meta or {})}
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.suffix == ".npz":
            np.savez_compressed(path, meta=np.array(json.dumps(layout)), **self.arrays())
            return path
        staging = Path(tempfile.mkdtemp(prefix=f"{path.name}.tmp-", dir=path.parent))
        try:
            staging.chmod(0o755)  # mkdtemp makes it private; a benchmark cache is shared data
            arrays = {}
            for name, array in self.arrays().items():
                array = np.ascontiguousarray(array)
                with open(staging / f"{name}.npy", "wb") as handle:
                    np.save(handle, array)
                    _sync(handle)
                arrays[name] = _describe_array(array)
            layout[ARRAYS_KEY] = arrays
            layout[CHECKSUM_KEY] = _meta_checksum(layout)
            with open(staging / META_FILE, "w") as handle:
                json.dump(layout, handle, indent=1)
                _sync(handle)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        _replace_folder(staging, path)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> CellTable:
        """Read a table saved by `save`: a folder is checked and memory-mapped, an `.npz` read.

        A folder that fails a check raises `DamagedTableError` naming the file.
        """
        path = Path(path)
        if path.is_dir():
            meta = read_meta(path)
            try:
                stored = meta["metrics"] if meta["version"] == 1 else [RUNS_ARRAY]
                names = [*_FIXED_ARRAYS, *stored]
                arrays = {name: _open_array(path, name, meta[ARRAYS_KEY][name]) for name in names}
                return cls._from_saved(arrays, meta)
            except DamagedTableError:
                raise
            except (KeyError, TypeError, ValueError) as exc:
                detail = f"{META_FILE} does not describe its arrays ({exc})"
                raise DamagedTableError(path, detail) from None
        try:
            with np.load(path) as archive:
                arrays = {name: archive[name] for name in archive.files}
            if "meta" not in arrays:
                raise ValueError("it has no 'meta' entry")
            meta = json.loads(str(arrays.pop("meta")))
            _check_format(meta)
            return cls._from_saved(arrays, meta)
        except FileNotFoundError:
            raise BenchmarkFileError(f"benchmark table {path} does not exist") from None
        except (
            OSError, ValueError, KeyError, TypeError, EOFError, zipfile.BadZipFile, zlib.error
        ) as exc:
            raise BenchmarkFileError(f"cannot read benchmark table {path}: {exc}") from None

    @classmethod
    def _from_saved(cls, arrays: dict[str, np.ndarray], meta: dict) -> CellTable:
        fixed = {name: arrays.pop(name) for name in _FIXED_ARRAYS}
        if meta["version"] == 1:  # one (C, E, R) array per metric: gathered into one array
            unknown = sorted(set(arrays) - set(METRIC_FIELDS))
            if unknown:
                raise ValueError(f"unknown metric {unknown[0]!r}")
            names = tuple(name for name in METRIC_FIELDS if name in arrays)
            runs = (
                np.stack([arrays[name] for name in names], axis=-1)
                if names
                else np.empty((len(fixed["module_hash"]), len(meta["epochs"]),
                               int(meta["num_repeats"]), 0))
            )
        else:
            runs, names = arrays.pop(RUNS_ARRAY), tuple(meta["metrics"])
            if arrays:
                raise ValueError(f"unexpected array {sorted(arrays)[0]!r}")
        return cls(
            hash_words=fixed["module_hash"],
            adjacency=fixed["adjacency"],
            ops=fixed["ops"],
            num_vertices=fixed["num_vertices"],
            trainable_parameters=fixed["trainable_parameters"],
            runs=runs,
            metric_names=names,
            epochs=tuple(meta["epochs"]),
            num_repeats=int(meta["num_repeats"]),
            meta=meta,
        )


def read_meta(folder: Path) -> dict:
    """The meta data of a table folder, checked against its own checksum and the format."""
    try:
        meta = json.loads((folder / META_FILE).read_text())
    except FileNotFoundError:
        raise DamagedTableError(folder, f"{META_FILE} does not exist") from None
    except (OSError, ValueError) as exc:
        raise DamagedTableError(folder, f"{META_FILE} is unreadable ({exc})") from None
    if not isinstance(meta, dict) or CHECKSUM_KEY not in meta:
        raise DamagedTableError(folder, f"{META_FILE} has no checksum")
    if meta[CHECKSUM_KEY] != _meta_checksum(meta):
        raise DamagedTableError(folder, f"{META_FILE} does not match its checksum")
    try:
        _check_format(meta)
    except ValueError as exc:
        raise DamagedTableError(folder, f"{META_FILE} says {exc}") from None
    return meta


def _check_format(meta: dict) -> None:
    if meta.get("format") != FORMAT_NAME or meta.get("version") not in READABLE_VERSIONS:
        raise ValueError(
            f"it has format {meta.get('format')!r} version {meta.get('version')!r}, "
            f"expected {FORMAT_NAME!r} version "
            f"{' or '.join(map(str, READABLE_VERSIONS))}"
        )


def _meta_checksum(meta: Mapping) -> int:
    """CRC32C of the content of meta.json other than this checksum, whatever its layout."""
    content = {key: value for key, value in meta.items() if key != CHECKSUM_KEY}
    return crc32c.crc32c(json.dumps(content, sort_keys=True, separators=(",", ":")).encode())


def _describe_array(array: np.ndarray) -> dict:
    """What an array file must hold: dtype, shape and the CRC32C of the C-ordered bytes."""
    return {
        "dtype": array.dtype.str,
        "shape": list(array.shape),
        "crc32c": crc32c.crc32c(memoryview(array).cast("B")),
    }


def _open_array(folder: Path, name: str, expected: dict) -> np.ndarray:
    """Memory-map `<name>.npy` of a folder and check it against its meta entry."""
    file = f"{name}.npy"
    try:
        mapped = np.lib.format.open_memmap(folder / file, mode="r")
    except FileNotFoundError:
        raise DamagedTableError(folder, f"{file} does not exist") from None
    except (OSError, ValueError, EOFError) as exc:
        raise DamagedTableError(folder, f"{file} is unreadable ({exc})") from None
    # A plain ndarray view of the map: np.memmap indexing is several times slower.
    array = np.asarray(mapped)
    if not array.flags.c_contiguous:
        raise DamagedTableError(folder, f"{file} is stored in Fortran order, not C order")
    found = _describe_array(array)
    for key in ("dtype", "shape", "crc32c"):
        if found[key] != expected[key]:
            what = "checksum" if key == "crc32c" else key
            raise DamagedTableError(
                folder,
                f"{file} does not match its {what} in {META_FILE} "
                f"({found[key]}, expected {expected[key]})",
            )
    return array


def _sync(handle: IO) -> None:
    """Flush a file to the disk, so a renamed folder never holds a file still being written."""
    handle.flush()
    os.fsync(handle.fileno())


def _replace_folder(staging: Path, path: Path) -> None:
    """Move the complete folder `staging` to `path`, replacing any folder there.

    Two renames, so a reader sees the old folder, none, or the new one, never a mix. When another
    process moves its own new folder in between them, that one is kept.
    """
    old = Path(tempfile.mkdtemp(prefix=f"{path.name}.old-", dir=path.parent))
    try:
        with contextlib.suppress(FileNotFoundError):
            os.rename(path, old)  # replaces the empty folder `old`
        try:
            os.rename(staging, path)
        except OSError:
            if not path.is_dir():
                raise
            shutil.rmtree(staging, ignore_errors=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    finally:
        shutil.rmtree(old, ignore_errors=True)


def _unpack_adjacency(bits: np.ndarray, num_vertices: np.ndarray) -> np.ndarray:
    """(C, 7, 7) uint8 matrices from adjacency strings read as binary numbers."""
    size = num_vertices.astype(np.int64)
    bits = bits.astype(np.uint64)
    matrices = np.zeros((len(bits), MAX_VERTICES, MAX_VERTICES), dtype=np.uint8)
    # One entry at a time keeps temporaries at one value per cell (a full-size file has 423k).
    for i in range(MAX_VERTICES):
        for j in range(MAX_VERTICES):
            inside = (i < size) & (j < size)
            # Character i*n + j of an n*n string is bit n*n - 1 - (i*n + j) of the number.
            shift = np.where(inside, size * size - 1 - (i * size + j), 0).astype(np.uint64)
            matrices[:, i, j] = np.where(inside, (bits >> shift) & np.uint64(1), 0)
    return matrices
