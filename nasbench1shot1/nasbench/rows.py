"""Single-cell reads of a `CellTable`: what one `query` or `get_metrics_from_hash` hands out.

One cell's values are a few dozen numbers, and numpy indexing costs more per call than reading
them is worth. `RowReader` reads them from the bytes of the table's arrays instead: one `struct`
unpack per metric (a cell's values of one metric are adjacent in its array) gives the Python
floats the reference hands out, and memoryviews give the small fixed columns. `NASBench` owns
the API around it (checks, hashing, the choice of run, the budget counters).
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from math import isnan

import numpy as np

from .spec import AVAILABLE_OPS, INPUT, INPUT_LABEL, OUTPUT, OUTPUT_LABEL
from .table import UNKNOWN_PARAMETERS, CellTable
from .tfrecord import METRIC_FIELDS

#: The per-run values `query` returns; each is read from `halfway_<name>` or `final_<name>`.
QUERY_METRICS = ("training_time", "train_accuracy", "validation_accuracy", "test_accuracy")
_OP_OF_LABEL = {INPUT_LABEL: INPUT, OUTPUT_LABEL: OUTPUT} | dict(enumerate(AVAILABLE_OPS))
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
        self._epochs = tuple(table.epochs)
        self._repeats = repeats
        self._budgets = budgets
        # The bytes of each metric in METRIC_FIELDS order, None where the table lacks it.
        self._metrics = [
            _view(table.metrics[name]).cast("B") if name in table.metrics else None
            for name in METRIC_FIELDS
        ]
        self._complete = all(view is not None for view in self._metrics)
        self._fast_cells = self._complete and budgets == 1
        # What `query_runs` reads first: the QUERY_METRICS values at the halfway or final point.
        self._query_metrics = {
            halfway: [self._metrics[position] for position in positions]
            for halfway, positions in QUERY_POSITIONS.items()
        }
        self._cell_bytes = budgets * repeats * 8
        self._budget_bytes = repeats * 8
        self._unpack_cell = struct.Struct(f"={budgets * repeats}d").unpack_from
        self._unpack_budget = struct.Struct(f"={repeats}d").unpack_from
        self._missing_cell = (float("nan"),) * (budgets * repeats)
        self._missing_budget = (float("nan"),) * repeats
        self._adjacency = table.adjacency.view(np.int8)  # handed out as int8, as the reference
        self._width = table.ops.shape[1]
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
        start = row * self._width
        labels = self._ops[start : start + size].tobytes()
        names = self._op_names.get(labels)
        if names is None:
            names = tuple(_OP_OF_LABEL[label] for label in np.frombuffer(labels, np.int8).tolist())
            self._op_names[labels] = names
        block = self._adjacency[row]
        return {
            # A whole block (most cells have all 7 vertices) copies faster than a slice of it.
            "module_adjacency": block.copy() if size == self._width else block[:size, :size].copy(),
            "module_operations": list(names),
            "trainable_parameters": None if parameters == UNKNOWN_PARAMETERS else parameters,
        }

    def _cell_values(self, row: int) -> tuple[tuple[float, ...], ...]:
        """Per METRIC_FIELDS, the values of a row at every budget (budget-major, repeats within);
        NaN where the table lacks the metric."""
        offset = row * self._cell_bytes
        unpack = self._unpack_cell
        missing = self._missing_cell
        return tuple(missing if view is None else unpack(view, offset) for view in self._metrics)

    def computed_stat(self, row: int) -> dict[int, list[dict]]:
        """The reference's computed_stat of a row: epochs -> its recorded runs, each a dict of
        METRIC_FIELDS; budgets without a recorded run are left out."""
        by_field = self._cell_values(row)
        computed_stat = {}
        repeats = self._repeats
        for epoch_index, budget in enumerate(self._epochs):
            start = epoch_index * repeats
            budget_values = [values[start : start + repeats] for values in by_field]
            runs = recorded_run_dicts(zip(*budget_values))
            if runs:
                computed_stat[budget] = runs
        return computed_stat

    def stats(self, row: int) -> tuple[dict, dict[int, list[dict]]]:
        """(fixed_stat, computed_stat) of a row, as `get_metrics_from_hash` returns them.

        A complete table with one budget (as `nasbench_only108.tfrecord`) takes a path with no
        loop: one unpack per metric, straight into the runs.
        """
        fixed_stat = self.fixed_stat(row)
        if not self._fast_cells:
            return fixed_stat, self.computed_stat(row)
        offset = row * self._cell_bytes
        unpack = self._unpack_cell
        first, second, third, fourth, fifth, sixth, seventh, eighth = self._metrics
        runs = recorded_run_dicts(
            zip(
                unpack(first, offset),
                unpack(second, offset),
                unpack(third, offset),
                unpack(fourth, offset),
                unpack(fifth, offset),
                unpack(sixth, offset),
                unpack(seventh, offset),
                unpack(eighth, offset),
            )
        )
        return fixed_stat, ({self._epochs[0]: runs} if runs else {})

    def query_values(self, row: int, epoch_index: int, halfway: bool) -> list[tuple[float, ...]]:
        """Per QUERY_METRICS, its values at the halfway or final point in every repeat of a row
        at one budget (recorded or not), NaN where missing."""
        offset = (row * self._budgets + epoch_index) * self._budget_bytes
        unpack = self._unpack_budget
        missing = self._missing_budget
        return [
            missing if view is None else unpack(view, offset)
            for view in self._query_metrics[halfway]
        ]

    def query_runs(self, row: int, epoch_index: int, halfway: bool) -> list[tuple[float, ...]]:
        """The recorded runs of a row at one budget in repeat order, each as its QUERY_METRICS
        values at the halfway or final point.

        A run with any of these values is recorded; only a run without all four needs the other
        metrics to tell (the reference keeps a run if it has any value), so a complete table is
        read in four places, not eight.
        """
        offset = (row * self._budgets + epoch_index) * self._budget_bytes
        unpack = self._unpack_budget
        missing = self._missing_budget
        if self._complete:
            spent, train, validation, test = self._query_metrics[halfway]
            runs = list(
                zip(
                    unpack(spent, offset),
                    unpack(train, offset),
                    unpack(validation, offset),
                    unpack(test, offset),
                )
            )
        else:
            runs = list(zip(*self.query_values(row, epoch_index, halfway)))
        found = [
            run
            for run in runs
            if run[0] == run[0] or run[1] == run[1] or run[2] == run[2] or run[3] == run[3]
        ]
        if len(found) < len(runs):
            every = zip(
                *[missing if view is None else unpack(view, offset) for view in self._metrics]
            )
            found = [run for run, values in zip(runs, every) if recorded(values)]
        return found
