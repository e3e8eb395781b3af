"""Load and query speed of `NASBench` on a full-size file in the official format.

Writes a NAS-Bench-101-sized `.tfrecord` (423,624 cells x 3 repeats at 108 epochs, like
`nasbench_only108.tfrecord`) into a work folder, reusing it when present, then measures each
phase in a fresh process so its time and peak memory are its own:

- first load of the `.tfrecord` (decodes every record and writes the cache), and the same
  conversion with `convert(..., workers=2)`,
- load from the cache (memory-mapped, every byte of every array checked against its CRC32C;
  the check reads every page, so they count in the RSS of the process, shared with every other
  process that maps the same cache),
- single `query` calls per second (check, hash and look up one new spec; CPU time),
- batched `metric` lookups per second for 1,000,000 hex hashes,
- calls per second of `ModelSpec(matrix, ops)`, `hash_spec`, `is_valid`, `query`,
  `get_metrics_from_spec` and `get_metrics_from_hash` on up to 5,000 cells of the table (spec calls
  on new specs: the first call on each; `hash_spec` and `query` also on specs already asked),
  beside the reference (google-research/nasbench) on the same cells when its pure-Python
  `ModelSpec` and `graph_util` are installed (`pip install --no-deps nasbench-pytorch==1.3.1`,
  which ships them copied from the reference; its one change, converting the pruned matrix to a
  torch tensor, is undone here). The reference's `query` path (its `api.py`: dicts of the
  table's values, `copy.deepcopy` in `get_metrics_from_hash`) is reproduced in
  `ReferenceQueries` from its published behaviour; without the package the reference columns
  are skipped.

Each figure is printed beside the one the code before issue 13 gave (BASELINE, measured on the
same 2-core machine) and the reference's, as ratios. CPU time is the figure for loads: wall time
depends on what else the machine runs.

Cells are the real NAS-Bench-101 cells of `../shared/data/nasbench101/nb101_partial.npz` when
that file exists, otherwise random valid cells hashed here padded out with made-up hashes;
metric values are synthetic.

    python benchmarks/nasbench_load.py [--workdir DIR] [--cells N]
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from nasbench1shot1.nasbench import ModelSpec, NASBench, convert
from nasbench1shot1.nasbench.cache import cache_candidates
from nasbench1shot1.nasbench.proto import EvaluationData, ModelMetrics
from nasbench1shot1.nasbench.spec import AVAILABLE_OPS, INPUT, OUTPUT
from nasbench1shot1.nasbench.tfrecord import BenchmarkRow, write_rows

PARTIAL_TABLE = (
    Path(__file__).resolve().parents[1].parent
    / "shared"
    / "data"
    / "nasbench101"
    / "nb101_partial.npz"
)
NUM_CELLS = 423_624
REPEATS = 3
EPOCHS = 108
BATCH_LOOKUPS = 1_000_000
SINGLE_QUERIES = 5_000
#: Figures of the code before issue 13, on this benchmark and machine (first load: the issue's
#: and README's; per-call figures: ratios to the reference measured before the change).
BASELINE = {
    "first_cpu_s": 29.6,
    "first_peak_mb": 420,
    "convert2_s": 16.3,
    "ratio_model_spec": 0.44,
    "ratio_hash_spec": 1.9,
    "ratio_query": 1.00,
    "ratio_modelspec_query": 1.00,
    "ratio_get_metrics_from_hash": 0.77,
}
#: The reference's first load of a full-size file (issue 13: CPU seconds, as today's was then).
REFERENCE_FIRST_CPU_S = 33.0
RANDOM_REAL_CELLS = 20_000


def _real_cells(limit: int) -> tuple[list[str], list[np.ndarray], list[list[str]]]:
    table = np.load(PARTIAL_TABLE)
    hashes = table["module_hash"][:limit].astype(str).tolist()
    matrices, operations = [], []
    for adjacency, labels, size in zip(
        table["adjacency"][:limit], table["ops"][:limit], table["num_vertices"][:limit]
    ):
        matrices.append(adjacency[:size, :size])
        operations.append([INPUT] + [AVAILABLE_OPS[k] for k in labels[1 : size - 1]] + [OUTPUT])
    return hashes, matrices, operations


def _random_cells(limit: int, rng: np.random.Generator) -> tuple[list, list, list]:
    """Random valid cells hashed with ModelSpec, then copies of them under made-up hashes.

    Sampling all 423,624 distinct cells at random would take hours, so only the first few
    thousand are real; the made-up rows give the file its full size and the lookups their spread.
    """
    real: dict[str, tuple[np.ndarray, list[str]]] = {}
    upper = np.triu_indices(7, k=1)
    for _ in range(min(limit, RANDOM_REAL_CELLS)):
        matrix = np.zeros((7, 7), dtype=np.int64)
        edges = rng.choice(len(upper[0]), size=rng.integers(1, 10), replace=False)
        matrix[upper[0][edges], upper[1][edges]] = 1
        ops = [INPUT] + [AVAILABLE_OPS[k] for k in rng.integers(0, 3, size=5)] + [OUTPUT]
        spec = ModelSpec(matrix, ops)
        if spec.valid_spec:
            real.setdefault(spec.hash_spec(), (spec.matrix, spec.ops))
    hashes = list(real)
    pool = list(real.values())
    cells = pool + [pool[i % len(pool)] for i in range(limit - len(hashes))]
    hashes += [
        hashlib.md5(f"synthetic cell {i}".encode()).hexdigest() for i in range(limit - len(hashes))
    ]
    return hashes, [cell[0] for cell in cells], [cell[1] for cell in cells]


def _rows(hashes: list[str], matrices: list, operations: list, rng: np.random.Generator):
    for module_hash, matrix, ops in zip(hashes, matrices, operations):
        parameters = int(rng.integers(200_000, 50_000_000))
        for _ in range(REPEATS):
            points = [
                EvaluationData(
                    current_epoch=float(epoch),
                    training_time=float(rng.uniform(0.0, 30.0) * epoch),
                    train_accuracy=float(rng.uniform(0.1, 1.0)),
                    validation_accuracy=float(rng.uniform(0.1, 0.95)),
                    test_accuracy=float(rng.uniform(0.1, 0.95)),
                )
                for epoch in (0, EPOCHS // 2, EPOCHS)
            ]
            metrics = ModelMetrics(points, parameters, float(rng.uniform(1000.0, 5000.0)))
            yield BenchmarkRow(module_hash, EPOCHS, matrix, ops, metrics)


def generate(path: Path, cells: int) -> None:
    rng = np.random.default_rng(0)
    if PARTIAL_TABLE.is_file():
        hashes, matrices, operations = _real_cells(cells)
        print(f"cells: real NAS-Bench-101 cells from {PARTIAL_TABLE}")
    else:
        hashes, matrices, operations = _random_cells(cells, rng)
        print("cells: random valid cells (shared data not found)")
    start = time.perf_counter()
    partial = path.with_name(path.name + ".part")
    count = write_rows(partial, _rows(hashes, matrices, operations, rng))
    partial.rename(path)
    print(
        f"wrote {count} records, {path.stat().st_size / 1e6:.1f} MB, "
        f"in {time.perf_counter() - start:.1f} s"
    )


def _peak_rss_mb() -> float:
    """Peak resident memory of this process alone.

    VmHWM, because ru_maxrss of a child started by a big parent still counts the parent's pages.
    """
    status = Path("/proc/self/status")
    if status.is_file():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def phase(name: str, path: Path) -> dict:
    """Run one measurement in this process; returns figures as a dict."""
    if name == "convert2":
        start, cpu = time.perf_counter(), time.process_time()
        convert(path, force=True, workers=2)
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        return {
            "load_s": time.perf_counter() - start,
            "cpu_s": time.process_time() - cpu,
            "workers_cpu_s": children.ru_utime + children.ru_stime,
            "peak_rss_mb": _peak_rss_mb(),
        }
    start, cpu = time.perf_counter(), time.process_time()
    benchmark = NASBench(path, seed=0)
    load_s = time.perf_counter() - start
    figures = {"load_s": load_s, "cpu_s": time.process_time() - cpu, "cells": len(benchmark)}
    figures["cache"] = str(benchmark.cache)
    if name == "api":
        figures.update(api_calls(benchmark))
    if name == "query":
        rng = np.random.default_rng(1)
        cells = []
        for module_hash in benchmark.hashes[rng.permutation(len(benchmark))].astype(str):
            fixed, _ = benchmark.get_metrics_from_hash(module_hash)
            cell = fixed["module_adjacency"], fixed["module_operations"]
            if ModelSpec(*cell).hash_spec() == module_hash:  # skips made-up rows of random cells
                cells.append(cell)
            if len(cells) == SINGLE_QUERIES:
                break
        specs = [ModelSpec(*cell) for cell in cells]  # new specs: nothing asked of them yet
        start = time.process_time()
        for spec in specs:
            benchmark.query(spec)
        figures["queries_per_s"] = len(specs) / (time.process_time() - start)
    if name == "batch":
        rng = np.random.default_rng(2)
        hashes = benchmark.hashes[rng.integers(0, len(benchmark), BATCH_LOOKUPS)]
        times = []
        for _ in range(5):
            start = time.perf_counter()
            benchmark.metric("final_test_accuracy", hashes)
            times.append(time.perf_counter() - start)
        figures["batch_first_per_s"] = BATCH_LOOKUPS / times[0]
        figures["batch_best_per_s"] = BATCH_LOOKUPS / min(times)
        rows = benchmark.lookup(hashes)
        start = time.perf_counter()
        benchmark.metric("final_test_accuracy", rows)
        figures["rows_per_s"] = BATCH_LOOKUPS / (time.perf_counter() - start)
    figures["peak_rss_mb"] = _peak_rss_mb()
    return figures


class ReferenceQueries:
    """The reference API's query path over dicts, as its api.py does it, for timing."""

    def __init__(self, benchmark: NASBench, hashes: list[str]):
        self.config = dict(benchmark.config)
        self.valid_epochs = benchmark.valid_epochs
        self.fixed_statistics, self.computed_statistics = {}, {}
        for module_hash in hashes:
            fixed, computed = benchmark.get_metrics_from_hash(module_hash)
            self.fixed_statistics[module_hash] = fixed
            self.computed_statistics[module_hash] = computed
        self.training_time_spent, self.total_epochs_spent = 0.0, 0

    def _check_spec(self, model_spec) -> None:
        if not model_spec.valid_spec:
            raise ValueError("invalid spec, provided graph is disconnected.")
        if len(model_spec.ops) > self.config["module_vertices"]:
            raise ValueError("too many vertices")
        if np.sum(model_spec.matrix) > self.config["max_edges"]:
            raise ValueError("too many edges")
        if model_spec.ops[0] != "input" or model_spec.ops[-1] != "output":
            raise ValueError("first or last operation")
        for op in model_spec.ops[1:-1]:
            if op not in self.config["available_ops"]:
                raise ValueError("unsupported op")

    def is_valid(self, model_spec) -> bool:
        try:
            self._check_spec(model_spec)
        except ValueError:
            return False
        return True

    def get_metrics_from_hash(self, module_hash: str):
        fixed_stat = copy.deepcopy(self.fixed_statistics[module_hash])
        computed_stat = copy.deepcopy(self.computed_statistics[module_hash])
        return fixed_stat, computed_stat

    def get_metrics_from_spec(self, model_spec):
        self._check_spec(model_spec)
        return self.get_metrics_from_hash(model_spec.hash_spec(self.config["available_ops"]))

    def query(self, model_spec, epochs: int = 108) -> dict:
        fixed_stat, computed_stat = self.get_metrics_from_spec(model_spec)
        run = computed_stat[epochs][random.randint(0, self.config["num_repeats"] - 1)]
        data = {key: fixed_stat[key] for key in fixed_stat}
        for name in ("training_time", "train_accuracy", "validation_accuracy", "test_accuracy"):
            data[name] = run[f"final_{name}"]
        self.training_time_spent += data["training_time"]
        self.total_epochs_spent += epochs
        return data


def _reference_spec_class():
    """The reference's ModelSpec (from nasbench-pytorch) with numpy matrices, or None."""
    try:
        import types

        from nasbench_pytorch.model import model_spec
    except ImportError:
        return None
    model_spec.torch = types.SimpleNamespace(tensor=lambda matrix: matrix)
    return model_spec.ModelSpec


def _calls_per_s(call, make_items, repeats: int = 3) -> float:
    """Best of `repeats` rounds of `call` on each item; `make_items()` gives each round's items."""
    best = float("inf")
    for _ in range(repeats):
        items = make_items()
        start = time.process_time()  # CPU time: other jobs on the machine do not count
        for item in items:
            call(item)
        best = min(best, time.process_time() - start)
    return len(items) / best


def _side_calls(spec_class, api, cells: list, ops_order: list[str]) -> dict:
    """Calls per second; a spec call is timed on new specs each round (the first call on a
    spec, as a search makes it), and again on specs already asked (ours keeps the answers of a
    spec while its matrix and ops are unchanged; the reference computes them again)."""
    def new_specs() -> list:
        return [spec_class(matrix, ops) for _, matrix, ops in cells]

    specs = new_specs()
    hashes = [cell[0] for cell in cells]
    return {
        "ModelSpec(matrix, ops)": _calls_per_s(lambda c: spec_class(c[1], c[2]), lambda: cells),
        "hash_spec": _calls_per_s(lambda s: s.hash_spec(ops_order), new_specs),
        "is_valid": _calls_per_s(api.is_valid, new_specs),
        "query": _calls_per_s(api.query, new_specs),
        "get_metrics_from_spec": _calls_per_s(api.get_metrics_from_spec, new_specs),
        "get_metrics_from_hash": _calls_per_s(api.get_metrics_from_hash, lambda: hashes),
        "ModelSpec + query": _calls_per_s(
            lambda c: api.query(spec_class(c[1], c[2])), lambda: cells
        ),
        "hash_spec, same spec again": _calls_per_s(lambda s: s.hash_spec(ops_order), lambda: specs),
        "query, same spec again": _calls_per_s(api.query, lambda: specs),
    }


def api_calls(benchmark: NASBench) -> dict:
    """Calls per second of the reference API's calls, here and in the reference."""
    rng = np.random.default_rng(1)
    cells = []
    for module_hash in benchmark.hashes[rng.permutation(len(benchmark))].astype(str):
        fixed, _ = benchmark.get_metrics_from_hash(module_hash)
        matrix, ops = fixed["module_adjacency"].astype(np.int64), fixed["module_operations"]
        if ModelSpec(matrix, ops).hash_spec() == module_hash:  # skips made-up rows
            cells.append((module_hash, matrix, ops))
        if len(cells) == SINGLE_QUERIES:
            break
    hashes = [cell[0] for cell in cells]
    figures = {"api_cells": len(cells)}
    sides = {"ours": (ModelSpec, benchmark)}
    reference_spec = _reference_spec_class()
    if reference_spec is not None:
        sides["reference"] = (reference_spec, ReferenceQueries(benchmark, hashes))
    for side, (spec_class, api) in sides.items():
        figures[side] = _side_calls(spec_class, api, cells, list(benchmark.config["available_ops"]))
    return figures


def _run_phase(name: str, path: Path) -> dict:
    command = [sys.executable, __file__, "--phase", name, "--workdir", str(path.parent)]
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return json.loads(output.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "nb1s1-bench")
    parser.add_argument("--cells", type=int, default=NUM_CELLS)
    parser.add_argument(
        "--phase", choices=["first", "convert2", "cache", "query", "batch", "api"]
    )
    args = parser.parse_args()
    path = args.workdir / "nasbench_synthetic_only108.tfrecord"
    if args.phase:
        print(json.dumps(phase(args.phase, path)))
        return
    args.workdir.mkdir(parents=True, exist_ok=True)
    if path.is_file():
        print(f"reusing {path} ({path.stat().st_size / 1e6:.1f} MB)")
    else:
        generate(path, args.cells)
    for folder in cache_candidates(path):
        shutil.rmtree(folder, ignore_errors=True)

    first = _run_phase("first", path)
    print(
        f"first load (.tfrecord, builds cache): {first['cpu_s']:.1f} s CPU "
        f"({first['load_s']:.1f} s wall), peak RSS {first['peak_rss_mb']:.0f} MB, "
        f"{first['cells']} cells; before: {BASELINE['first_cpu_s']} s, "
        f"{BASELINE['first_peak_mb']} MB ({BASELINE['first_cpu_s'] / first['cpu_s']:.1f}x); "
        f"reference {REFERENCE_FIRST_CPU_S} s ({REFERENCE_FIRST_CPU_S / first['cpu_s']:.1f}x)"
    )
    two = _run_phase("convert2", path)
    print(
        f"convert(workers=2) (rebuilds cache with 2 decoding processes): {two['load_s']:.1f} s "
        f"wall ({two['cpu_s']:.1f} s CPU in the main process, {two['workers_cpu_s']:.1f} s in "
        f"the workers), main process peak RSS {two['peak_rss_mb']:.0f} MB; "
        f"before: {BASELINE['convert2_s']} s wall"
    )
    loads = sorted((_run_phase("cache", path) for _ in range(3)), key=lambda f: f["load_s"])
    print(
        f"cache load (memory-mapped, every array checked with CRC32C; best of 3): "
        f"{loads[0]['load_s'] * 1000:.0f} ms (slowest {loads[-1]['load_s'] * 1000:.0f} ms), "
        f"peak RSS {loads[0]['peak_rss_mb']:.0f} MB"
    )
    query = _run_phase("query", path)
    print(f"single query(spec): {query['queries_per_s']:,.0f} queries/s")
    batch = _run_phase("batch", path)
    print(
        f"metric() on {BATCH_LOOKUPS:,} hex hashes: first call {batch['batch_first_per_s']:,.0f} "
        f"lookups/s, best of 5 {batch['batch_best_per_s']:,.0f} lookups/s; "
        f"on row indices {batch['rows_per_s']:,.0f} /s; peak RSS {batch['peak_rss_mb']:.0f} MB"
    )
    api = _run_phase("api", path)
    # Random cells (no shared data when the file was written) are fewer: the rest are made up.
    print(f"per-call figures on {api['api_cells']:,} cells of the table, CPU time, best of 3:")
    if "reference" not in api:
        print("reference columns skipped: pip install --no-deps nasbench-pytorch==1.3.1")
    for call, per_s in api["ours"].items():
        line = f"{call}: {per_s:,.0f} calls/s"
        if "reference" in api:
            reference = api["reference"][call]
            line += f"; reference {reference:,.0f} calls/s ({per_s / reference:.1f}x)"
        before = BASELINE.get("ratio_" + call.split("(")[0].replace(" + ", "_").lower())
        if before is not None and call != "ModelSpec + query":
            line += f"; before: {before}x the reference"
        print(line)


if __name__ == "__main__":
    main()
