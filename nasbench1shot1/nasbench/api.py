"""`NASBench`: the NAS-Bench-101 query API of the reference, over a columnar table.

The reference API (google-research/nasbench) keeps two dicts of Python objects per cell and
needs TensorFlow to read its files. `NASBench` answers the same calls with the same values
(`query`, `get_metrics_from_hash`, `get_metrics_from_spec`, `is_valid`, `hash_iterator`, budget
counters) from numpy arrays that load from a memory-mapped cache in well under a second, and
adds vectorised access: `lookup` (hashes to rows), `metric` (one metric for many cells) and
`query_all` (every repeat and their mean for one cell). `describe` summarises a table.

Single-cell calls read their row with `rows.RowReader`, from the bytes of the arrays.
"""

from __future__ import annotations

import os
import random
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import numpy as np

from .cache import load_table
from .errors import CellNotFoundError, OutOfDomainError
from .hashes import HashIndex, HashLike, hash_hex, hash_words
from .rows import QUERY_METRICS, RowReader
from .spec import AVAILABLE_OPS, INPUT, OUTPUT, ModelSpec
from .table import UNKNOWN_PARAMETERS, CellTable
from .tfrecord import MAX_VERTICES, METRIC_FIELDS

MAX_EDGES = 9


def _not_in_table(module_hash: object, detail: str = "") -> CellNotFoundError:
    """The error of a hash this table does not hold (malformed ones included)."""
    return CellNotFoundError(f"module hash {module_hash} is not in this benchmark table{detail}")


def _nan_mean(values: np.ndarray) -> np.ndarray:
    """Mean over the last axis of the values that are not NaN; NaN where there are none."""
    present = ~np.isnan(values)
    total = np.where(present, values, 0.0).sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return total / present.sum(axis=-1)


class NASBench:
    """The NAS-Bench-101 table with the reference query API.

    `dataset_file` is an official `.tfrecord` file (converted to a cache on first use, see
    `cache.py`), a cache folder, or an `.npz` archive written by `save`. `seed` seeds this
    instance's choice of repeat in `query` (the reference seeds the global `random` module).

    Missing values (partial tables) are NaN. A run counts as recorded when any of its metrics is
    not NaN; `query` picks uniformly among the recorded runs, which for complete tables is the
    reference's uniform choice among `num_repeats`.
    """

    def __init__(
        self,
        dataset_file: str | os.PathLike,
        seed: int | None = None,
        *,
        cache_dir: str | os.PathLike | None = None,
    ):
        table, cache = load_table(dataset_file, cache_dir)
        self._setup(table, seed, Path(dataset_file), cache)

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
        seed: int | None = None,
    ) -> NASBench:
        """A benchmark built from arrays, rows in any order.

        `module_hash`: C hex hashes. `adjacency`: (C, n, n) 0/1, the pruned cell in the top-left
        block (n <= 7). `ops`: (C, n) labels, -1 input, -2 output (its first position gives the
        number of vertices), 0/1/2 for AVAILABLE_OPS between them; labels after the output are
        padding and ignored. `metrics`: any of
        METRIC_FIELDS -> (C, len(epochs), num_repeats), NaN where missing; absent metrics read
        as NaN. `epochs` strictly increasing. `trainable_parameters`: (C,), NaN where unknown.
        """
        table = CellTable.from_arrays(
            module_hash, adjacency, ops, metrics, epochs, num_repeats, trainable_parameters
        )
        benchmark = cls.__new__(cls)
        benchmark._setup(table, seed, None, None)
        return benchmark

    def _setup(
        self, table: CellTable, seed: int | None, source: Path | None, cache: Path | None
    ) -> None:
        self._table = table
        self._index = HashIndex(table.hash_words)
        self._rows = RowReader(table)
        self._find_hex = self._index.find_hex
        self._epoch_index = {epochs: i for i, epochs in enumerate(table.epochs)}
        self._hex: np.ndarray | None = None
        self._rng = random.Random(seed)
        self.source = source
        self.cache = cache
        self.config = {
            "module_vertices": MAX_VERTICES,
            "max_edges": MAX_EDGES,
            "available_ops": list(AVAILABLE_OPS),
            "num_repeats": table.num_repeats,
        }
        # config["available_ops"] as last seen, and as a set (None if it cannot be one).
        self._allowed_ops: tuple[list, frozenset | None] = (
            list(AVAILABLE_OPS), frozenset(AVAILABLE_OPS)
        )
        self.valid_epochs = set(table.epochs)
        self.training_time_spent = 0.0
        self.total_epochs_spent = 0

    def __len__(self) -> int:
        return len(self._table)

    def __contains__(self, module_hash: object) -> bool:
        try:
            return bool(self._index.find(hash_words(module_hash)) >= 0)
        except ValueError:
            return False

    def __repr__(self) -> str:
        return (
            f"NASBench({len(self)} cells, epochs {self.epochs}, {self.num_repeats} repeats, "
            f"source={str(self.source) if self.source else None!r})"
        )

    @property
    def epochs(self) -> list[int]:
        """The epoch budgets of the table, increasing."""
        return list(self._table.epochs)

    @property
    def num_repeats(self) -> int:
        """Training runs per cell and epoch budget (3 in NAS-Bench-101)."""
        return self._table.num_repeats

    @property
    def fields(self) -> list[str]:
        """The metrics stored in the table; the others read as NaN."""
        return list(self._table.metric_names)  # in METRIC_FIELDS order (table.py checks it)

    @property
    def hashes(self) -> np.ndarray:
        """Every module hash, sorted, as an 'S32' array; row i of the table is hashes[i]."""
        if self._hex is None:
            self._hex = hash_hex(self._table.hash_words)
            self._hex.setflags(write=False)
        return self._hex

    def save(self, path: str | os.PathLike) -> Path:
        """Write the table as a `.npz` archive (path ending in .npz) or a cache folder."""
        return self._table.save(path)

    # Reference API.

    def _domain_error(self, model_spec: ModelSpec) -> str | None:
        """Why the spec is not a NAS-Bench-101 cell (the reference's checks), None if it is."""
        # The facts of the spec's current matrix and ops (`spec.py`): its edges, counted once.
        facts = model_spec._current_facts()
        if facts is None:
            return "invalid spec, provided graph is disconnected."
        config = self.config
        ops = facts.ops
        num_vertices = len(ops)
        num_edges = facts.edges
        if num_vertices > config["module_vertices"]:
            return (
                f"too many vertices, got {num_vertices:d} "
                f"(max vertices = {config['module_vertices']:d})"
            )
        if num_edges > config["max_edges"]:
            return f"too many edges, got {num_edges:d} (max edges = {config['max_edges']:d})"
        if ops[0] != INPUT:
            return "first operation should be 'input'"
        if ops[-1] != OUTPUT:
            return "last operation should be 'output'"
        available = config["available_ops"]
        inner = facts.inner_ops
        if inner is not None:
            # The set of the available ops, made again only when the config's list changes.
            listed, allowed = self._allowed_ops
            if available != listed:
                try:
                    listed, allowed = list(available), frozenset(available)
                except TypeError:
                    listed, allowed = list(available), None
                self._allowed_ops = listed, allowed
            if allowed is not None and inner <= allowed:
                return None
        for op in ops[1:-1]:  # the first op that is not available, as the reference names it
            if op not in available:
                return f"unsupported op {op} (available ops = {available})"
        return None

    def _check_spec(self, model_spec: ModelSpec) -> None:
        """Raise OutOfDomainError if the spec is not a NAS-Bench-101 cell (reference checks)."""
        error = self._domain_error(model_spec)
        if error is not None:
            raise OutOfDomainError(error)

    def is_valid(self, model_spec: ModelSpec) -> bool:
        """Whether the spec is a NAS-Bench-101 cell (whether or not this table holds it)."""
        return self._domain_error(model_spec) is None

    def _check_epochs(self, epochs: int) -> int:
        if epochs not in self._epoch_index:
            raise OutOfDomainError(f"invalid number of epochs, must be one of {self.valid_epochs}")
        return self._epoch_index[epochs]

    def _row(self, module_hash: str) -> int:
        # A malformed hash is a missing key, as in the reference's dict.
        row = self._find_hex(module_hash)
        if row < 0:
            raise _not_in_table(module_hash)
        return row

    def _row_of_spec(self, model_spec: ModelSpec) -> tuple[int, str]:
        self._check_spec(model_spec)
        module_hash = model_spec.hash_spec(self.config["available_ops"])
        return self._row(module_hash), module_hash

    def get_metrics_from_hash(self, module_hash: str) -> tuple[dict, dict]:
        """(fixed_stat, computed_stat) of a cell, fresh objects the caller may change.

        fixed_stat: module_adjacency (int8 matrix), module_operations (list of op names),
        trainable_parameters (int, None where unknown). computed_stat: epochs -> list of the
        recorded runs, each a dict of METRIC_FIELDS; budgets with no recorded run are left out.
        """
        row = self._find_hex(module_hash)  # `_row`, inlined: this call is a few microseconds
        if row < 0:
            raise _not_in_table(module_hash)
        return self._rows.stats(row)

    def get_metrics_from_spec(self, model_spec: ModelSpec) -> tuple[dict, dict]:
        """`get_metrics_from_hash` of the spec's hash, after checking the spec."""
        self._check_spec(model_spec)
        return self.get_metrics_from_hash(model_spec.hash_spec(self.config["available_ops"]))

    def hash_iterator(self) -> Iterator[str]:
        """Every module hash of the table, in sorted order."""
        return iter(self.hashes.astype(str).tolist())

    def query(self, model_spec: ModelSpec, epochs: int = 108, stop_halfway: bool = False) -> dict:
        """One training run of the cell, chosen at random, as the reference API returns it.

        Keys: module_adjacency, module_operations, trainable_parameters, training_time,
        train_accuracy, validation_accuracy, test_accuracy (the halfway values if
        `stop_halfway`). Adds the run's training time and epochs (half of them if
        `stop_halfway`) to the budget counters; a NaN training time makes the time counter NaN.
        """
        epoch_index = self._check_epochs(epochs)
        row, module_hash = self._row_of_spec(model_spec)
        runs = self._rows.query_runs(row, epoch_index, stop_halfway)
        if not runs:
            raise CellNotFoundError(
                f"module hash {module_hash} has no recorded run at {epochs} epochs in this table"
            )
        spent, train, validation, test = runs[self._rng.randint(0, len(runs) - 1)]
        data = self._rows.fixed_stat(row)
        data["training_time"] = spent
        data["train_accuracy"] = train
        data["validation_accuracy"] = validation
        data["test_accuracy"] = test
        self.training_time_spent += data["training_time"]
        self.total_epochs_spent += epochs // 2 if stop_halfway else epochs
        return data

    def get_budget_counters(self) -> tuple[float, int]:
        """(training_time_spent, total_epochs_spent) summed over `query` calls."""
        return self.training_time_spent, self.total_epochs_spent

    def reset_budget_counters(self) -> None:
        """Set both budget counters back to zero."""
        self.training_time_spent = 0.0
        self.total_epochs_spent = 0

    # Beyond the reference API.

    def query_all(
        self, model_spec: ModelSpec, epochs: int = 108, stop_halfway: bool = False
    ) -> dict:
        """Every repeat of the cell and their mean, without touching the budget counters.

        Returns module_adjacency, module_operations, trainable_parameters as `query`, plus
        `runs`: a list of `num_repeats` dicts of QUERY_METRICS (NaN where a run is missing) and
        `mean`: a dict of QUERY_METRICS averaged over the runs that have the value (NaN if none).
        Values are the halfway ones if `stop_halfway`.
        """
        epoch_index = self._check_epochs(epochs)
        row, _ = self._row_of_spec(model_spec)
        runs = self._rows.every_run(row, epoch_index, stop_halfway)
        data = self._rows.fixed_stat(row)
        data["runs"] = [dict(zip(QUERY_METRICS, run)) for run in runs]
        data["mean"] = dict(zip(QUERY_METRICS, _nan_mean(np.array(runs).T).tolist()))
        return data

    def lookup(self, hashes: HashLike) -> np.ndarray | int:
        """Row of each hex hash (a str gives an int, a list or array an int64 array), -1 if absent.

        Vectorised: a million hashes take a fraction of a second. Malformed hashes raise
        ValueError.
        """
        rows = self._index.find(hash_words(hashes))
        return int(rows) if rows.ndim == 0 else rows

    def _rows_of(self, keys: HashLike | np.ndarray) -> np.ndarray:
        keys = np.asarray(keys)
        if keys.dtype.kind in "iu":
            bad = (keys < 0) | (keys >= len(self))
            if bad.any():
                raise IndexError(
                    f"row {keys[bad].flat[0]} is out of range for a table of {len(self)} cells"
                )
            return keys.astype(np.int64)
        rows = self._index.find(hash_words(keys))
        missing = rows < 0
        if missing.any():
            first = keys[missing].flat[0]
            first = first.decode() if isinstance(first, bytes) else str(first)
            raise _not_in_table(first, f" ({int(missing.sum())} of {missing.size} hashes missing)")
        return rows

    def metric(
        self,
        name: str,
        keys: HashLike | np.ndarray,
        epochs: int = 108,
        reduce: str | int = "mean",
    ) -> np.ndarray:
        """One metric of many cells at once.

        `name` is one of METRIC_FIELDS; `keys` are hex hashes (raising CellNotFoundError if one
        is absent) or integer rows. `reduce`: 'mean' (over recorded repeats, NaN if none) gives
        shape keys.shape, 'none' gives keys.shape + (num_repeats,), an int picks that repeat.
        """
        if name not in METRIC_FIELDS:
            raise ValueError(f"unknown metric {name!r}, expected one of {list(METRIC_FIELDS)}")
        epoch_index = self._check_epochs(epochs)
        if not (reduce in ("mean", "none") or (type(reduce) is int)):
            raise ValueError(f"reduce = {reduce!r}, expected 'mean', 'none' or a repeat index")
        if type(reduce) is int and not 0 <= reduce < self.num_repeats:
            raise ValueError(
                f"repeat {reduce} is out of range, expected 0 to {self.num_repeats - 1}"
            )
        runs = self._table.metric_runs(name, self._rows_of(keys), epoch_index)
        if reduce == "mean":
            return _nan_mean(runs)
        if reduce == "none":
            return runs
        return runs[..., reduce]


def describe(benchmark: NASBench | str | os.PathLike) -> dict:
    """A summary of a benchmark (an instance or anything `NASBench` opens), JSON-ready.

    Keys: source, cache, cells, epochs, repeats, fields (metric -> {epochs: values present}),
    trainable_parameters (cells where known).
    """
    if not isinstance(benchmark, NASBench):
        benchmark = NASBench(benchmark)
    table = benchmark._table
    fields = {}
    for name in benchmark.fields:
        present = (~np.isnan(table.metrics[name])).sum(axis=(0, 2))
        fields[name] = {epochs: int(count) for epochs, count in zip(benchmark.epochs, present)}
    return {
        "source": str(benchmark.source) if benchmark.source else None,
        "cache": str(benchmark.cache) if benchmark.cache else None,
        "cells": len(benchmark),
        "epochs": benchmark.epochs,
        "repeats": benchmark.num_repeats,
        "fields": fields,
        "trainable_parameters": int((table.trainable_parameters != UNKNOWN_PARAMETERS).sum()),
    }
