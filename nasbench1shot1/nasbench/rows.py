"""Single-cell reads of a `CellTable`: what one `query` or `get_metrics_from_hash` hands out.

One cell's values are a few dozen numbers, and numpy indexing costs more per call than reading
them is worth. `RowReader` reads them from the bytes of the table's arrays instead: one `struct`
unpack of a cell's runs (adjacent in the table's `runs` array) gives the Python floats the
reference hands out, and memoryviews give the small fixed columns. `NASBench` owns
the API around it (checks, hashing, the choice of run, the budget counters).
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from math import isnan
from operator import itemgetter

import numpy as np

from .spec import AVAILABLE_OPS, INPUT, INPUT_LABEL, OUTPUT, OUTPUT_LABEL
from .table import UNKNOWN_PARAMETERS, CellTable
from .tfrecord import METRIC_FIELDS

#: The per-run values `query` returns; each is read from `halfway_<name>` or `final_<name>`.
QUERY_METRICS = ("training_time", "train_accuracy", "validation_accuracy", "test_accuracy")
_OP_OF_LABEL = {INPUT_LABEL: INPUT, OUTPUT_LABEL: OUTPUT} | dict(enumerate(AVAILABLE_OPS))
_NAN = float("nan")
#: stop_halfway -> position in METRIC_FIELDS of the value of each of QUERY_METRICS.
QUERY_POSITIONS = {
    halfway: tuple(
        METRIC_FIELDS.index(f"{'halfway' if halfway else 'final'}_{name}") for name in QUERY_METRICS
    )
    for halfway in (False, True)
}


def recorded(run: tuple[float, ...]) -> bool:
    """Whether a run has any value: a run counts as recorded unless all its metrics are NaN."""
    return not all(map(isnan, run))


def recorded_run_dicts(runs: Iterable[tuple[float, ...]]) -> list[dict]:
    """The recorded runs among `runs` (tuples of METRIC_FIELDS values) as dicts of METRIC_FIELDS.

    A run is recorded unless all its values are NaN (`x == x` is false only for NaN). The keys
    are spelled out (a test checks them against METRIC_FIELDS): a dict display with constant keys
    builds in half the time of `dict(zip(METRIC_FIELDS, run))`.
    """
    return [
        {
            "halfway_training_time": halfway_time,
            "halfway_train_accuracy": halfway_train,
            "halfway_validation_accuracy": halfway_validation,
            "halfway_test_accuracy": halfway_test,
            "final_training_time": final_time,
            "final_train_accuracy": final_train,
            "final_validation_accuracy": final_validation,
            "final_test_accuracy": final_test,
        }
        for (
            halfway_time,
            halfway_train,
            halfway_validation,
            halfway_test,
            final_time,
            final_train,
            final_validation,
            final_test,
        ) in runs
        if final_time == final_time
        or final_test == final_test
        or final_validation == final_validation
        or final_train == final_train
        or halfway_time == halfway_time
        or halfway_train == halfway_train
        or halfway_validation == halfway_validation
        or halfway_test == halfway_test
    ]


def _view(values: np.ndarray) -> memoryview:
    """A memoryview of an array's elements, never a copy: a `CellTable` keeps its arrays
    C-contiguous, so the reads here and numpy's read the same memory."""
    assert values.flags.c_contiguous, "CellTable arrays are C-contiguous"
    return memoryview(values)


class RowReader:
    """Reads one cell (a row of the table) as the Python objects the reference API returns.

    Every call returns fresh objects the caller may change. Metrics the table lacks read as NaN.
    """

    def __init__(self, table: CellTable):
        budgets, repeats = len(table.epochs), table.num_repeats
        width = len(table.metric_names)
        self._epochs = tuple(table.epochs)
        self._repeats = repeats
        self._budgets = budgets
        self._width = width
        # Where each repeat's values begin among a budget's values.
        self._firsts = tuple(repeat * width for repeat in range(repeats))
        # A cell's runs: budget by budget, repeat by repeat, the metrics present (table.py).
        self._runs = _view(table.runs.reshape(-1).view(np.uint8))  # (a table may have none)
        # Position among a run's values of each of METRIC_FIELDS, None where the table lacks it.
        self._positions = tuple(
            table.metric_names.index(name) if name in table.metric_names else None
            for name in METRIC_FIELDS
        )
        self._complete = None not in self._positions
        self._fast_cells = self._complete and budgets == 1
        # What `query_runs` reads first: the QUERY_METRICS values at the halfway or final point.
        self._query_positions = {
            halfway: tuple(self._positions[position] for position in positions)
            for halfway, positions in QUERY_POSITIONS.items()
        }
        # Where the table has all four: one itemgetter per repeat picks them from a budget's
        # values (a generator per run costs more than the rest of a query's reads).
        self._query_getters = {
            halfway: [itemgetter(*(first + p for p in positions)) for first in self._firsts]
            for halfway, positions in self._query_positions.items()
            if None not in positions
        }
        self._cell_bytes = budgets * repeats * width * 8
        self._budget_bytes = repeats * width * 8
        self._unpack_cell = struct.Struct(f"={budgets * repeats * width}d").unpack_from
        self._unpack_budget = struct.Struct(f"={repeats * width}d").unpack_from
        self._adjacency = table.adjacency.view(np.int8)  # handed out as int8, as the reference
        self._vertices = table.ops.shape[1]
        self._ops = _view(table.ops).cast("B")
        self._sizes = _view(table.num_vertices)
        self._parameters = _view(table.trainable_parameters)
        # The labels of a cell's ops (bytes) -> their names; at most 364 label rows exist
        # (3 ops on up to 5 inner vertices), so it stays small.
        self._op_names: dict[bytes, tuple[str, ...]] = {}

    def fixed_stat(self, row: int) -> dict:
        """The reference's fixed_stat of a row: module_adjacency (int8), module_operations and
        trainable_parameters (None where unknown)."""
        size = self._sizes[row]
        parameters = self._parameters[row]
        start = row * self._vertices
        labels = self._ops[start : start + size].tobytes()
        names = self._op_names.get(labels)
        if names is None:
            names = tuple(_OP_OF_LABEL[label] for label in np.frombuffer(labels, np.int8).tolist())
            self._op_names[labels] = names
        block = self._adjacency[row]
        return {
            # A whole block (most cells have all 7 vertices) copies faster than a slice of it.
            "module_adjacency": (
                block.copy() if size == self._vertices else block[:size, :size].copy()
            ),
            "module_operations": list(names),
            "trainable_parameters": None if parameters == UNKNOWN_PARAMETERS else parameters,
        }

    def _budget_runs(self, values: tuple[float, ...], start: int) -> list[tuple[float, ...]]:
        """The runs of one budget from a cell's values, beginning at `start`: per repeat, its
        METRIC_FIELDS values, NaN where the table lacks the metric."""
        width = self._width
        if self._complete:  # the values are in METRIC_FIELDS order already
            return [values[start + first : start + first + width] for first in self._firsts]
        runs = []
        for first in self._firsts:
            run = values[start + first : start + first + width]
            runs.append(tuple(_NAN if p is None else run[p] for p in self._positions))
        return runs

    def computed_stat(self, row: int) -> dict[int, list[dict]]:
        """The reference's computed_stat of a row: epochs -> its recorded runs, each a dict of
        METRIC_FIELDS; budgets without a recorded run are left out."""
        values = self._unpack_cell(self._runs, row * self._cell_bytes)
        computed_stat = {}
        budget_values = self._repeats * self._width
        for epoch_index, budget in enumerate(self._epochs):
            runs = recorded_run_dicts(self._budget_runs(values, epoch_index * budget_values))
            if runs:
                computed_stat[budget] = runs
        return computed_stat

    def stats(self, row: int) -> tuple[dict, dict[int, list[dict]]]:
        """(fixed_stat, computed_stat) of a row, as `get_metrics_from_hash` returns them.

        A complete table with one budget (as `nasbench_only108.tfrecord`) takes a path with no
        loop: one unpack of the cell's runs, whose values are already in METRIC_FIELDS order.
        """
        fixed_stat = self.fixed_stat(row)
        if not self._fast_cells:
            return fixed_stat, self.computed_stat(row)
        values = iter(self._unpack_cell(self._runs, row * self._cell_bytes))
        runs = recorded_run_dicts(zip(values, values, values, values, values, values, values,
                                      values))
        return fixed_stat, ({self._epochs[0]: runs} if runs else {})

    def _query_budget(self, row: int, epoch_index: int, halfway: bool):
        """(the values of a row at one budget, every repeat's QUERY_METRICS values)."""
        values = self._unpack_budget(
            self._runs, (row * self._budgets + epoch_index) * self._budget_bytes
        )
        getters = self._query_getters.get(halfway)
        if getters is not None:
            return values, [get(values) for get in getters]
        positions = self._query_positions[halfway]
        runs = [
            tuple(_NAN if p is None else values[first + p] for p in positions)
            for first in self._firsts
        ]
        return values, runs

    def every_run(self, row: int, epoch_index: int, halfway: bool) -> list[tuple[float, ...]]:
        """Every repeat of a row at one budget (recorded or not) as its QUERY_METRICS values at
        the halfway or final point, NaN where missing."""
        return self._query_budget(row, epoch_index, halfway)[1]

    def query_runs(self, row: int, epoch_index: int, halfway: bool) -> list[tuple[float, ...]]:
        """The recorded runs of a row at one budget in repeat order, each as its QUERY_METRICS
        values at the halfway or final point.

        A run with any of these values is recorded; only a run without all four needs the other
        metrics to tell (the reference keeps a run if it has any value).
        """
        values, runs = self._query_budget(row, epoch_index, halfway)
        found = [
            run
            for run in runs
            if run[0] == run[0] or run[1] == run[1] or run[2] == run[2] or run[3] == run[3]
        ]
        if len(found) < len(runs):
            width = self._width
            found = [
                run
                for first, run in zip(self._firsts, runs)
                if recorded(values[first : first + width])
            ]
        return found
