"""Build a tabular benchmark of a search space: train every unique cell `repeats` times.

The result is a file in NAS-Bench-101's official `.tfrecord` format (one record per run, with
the start, halfway and final evaluation points), so `NASBench` loads and queries it like the
official benchmark. A build lives in one folder:

    build.json                      what is built (space, cells, data, network, training)
    shard-I-of-N.jsonl              finished runs of shard I, one JSON line each, fsync'ed
    shard-I-of-N.tfrecord           written when shard I is complete
    benchmark.tfrecord              all shards merged (`merge`, or at the end of a local build)

Resuming is starting the same command again: finished runs are read back from the shard's
`.jsonl` (a half-written last line from a kill is dropped) and never trained twice. Shard I of N
takes every N-th cell of the space's sorted cell list, so independent jobs (a Hydra multirun, a
Slurm array, several machines) can each build one shard into the same folder; `merge` joins them.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from nasbench1shot1 import threads as thread_policy
from nasbench1shot1.checks import check_fields, device_of, positive_int, seed_value
from nasbench1shot1.conf.build import BuildSettings
from nasbench1shot1.conf.data import DataConfig
from nasbench1shot1.data.registry import DATASETS
from nasbench1shot1.nasbench.proto import EvaluationData, ModelMetrics
from nasbench1shot1.nasbench.tfrecord import BenchmarkRow, read_records, write_records, write_rows
from nasbench1shot1.progress import bar as progress_bar
from nasbench1shot1.runfiles import held
from nasbench1shot1.spaces import cell_architectures, get_search_space

_log = logging.getLogger(__name__)
BUILD_FILE = "build.json"
BENCHMARK_FILE = "benchmark.tfrecord"


#: nb1s1-build's settings (conf/build.py), the defaults of `BuildConfig`.
_APP = BuildSettings()
_DATA = DataConfig()


@dataclass(frozen=True)
class BuildConfig:
    """What a build trains; everything but `shard`, `num_shards` and `threads` must be the
    same for every job that writes into one build folder. The defaults of what to build are
    nb1s1-build's; `network` and `train` complete with NAS-Bench-101's (NetworkConfig,
    TrainConfig), the library's recipe."""

    space: int = _APP.search_space
    repeats: int = _APP.repeats
    cells: tuple[str, ...] | None = None  # a subset of the space's cells (hex hashes)
    limit: int | None = _APP.limit  # only the first `limit` cells (sorted by hash)
    loose_ends: bool = _APP.loose_ends
    data: str = _DATA.name
    data_seed: int = _DATA.split_seed
    data_root: str | None = _DATA.root  # the cifar-10-batches-py folder for data="cifar10"
    network: dict = field(default_factory=dict)  # NetworkConfig fields
    train: dict = field(default_factory=dict)  # TrainConfig fields
    seed: int = _APP.seed  # run r of every cell is trained with seed `seed + r`

    def __post_init__(self) -> None:
        get_search_space(self.space)
        positive_int("repeats", self.repeats)
        if self.data not in DATASETS:
            raise ValueError(
                f"unknown build data {self.data!r}, expected one of {', '.join(DATASETS)}"
            )
        if self.limit is not None:
            positive_int("build limit", self.limit)
        from nasbench1shot1.models import NetworkConfig
        from nasbench1shot1.train import TrainConfig

        # Complete and check the nested settings now, so build.json records every value.
        train = {key: value for key, value in self.train.items() if key != "seed"}
        network = asdict(NetworkConfig(**check_fields("network.", self.network, NetworkConfig,
                                                      allow_missing=True)))
        train = asdict(TrainConfig(**check_fields("train.", train, TrainConfig,
                                                  allow_missing=True)))
        device_of("train.device", train["device"], auto=False)
        seed_value("seed", self.seed)
        seed_value("data_seed", self.data_seed)
        train.pop("seed")  # run r is trained with seed `seed + r`
        object.__setattr__(self, "network", network)
        object.__setattr__(self, "train", train)
        if self.cells is not None:
            object.__setattr__(self, "cells", tuple(self.cells))

    def identity(self) -> dict:
        """The fields that define the build (stored in build.json, checked on resume)."""
        ident = asdict(self)
        ident["cells"] = list(self.cells) if self.cells is not None else None
        if ident["data_root"] is None:  # builds without a data folder keep their old identity
            del ident["data_root"]
        return ident


def shard_name(shard: int, num_shards: int) -> str:
    return f"shard-{shard}-of-{num_shards}"


def build_cells(cfg: BuildConfig) -> dict[str, object]:
    """hex hash -> architecture of every cell the build trains, sorted by hash."""
    space = get_search_space(cfg.space)
    cells = cell_architectures(space, loose_ends=cfg.loose_ends)
    if cfg.cells is not None:
        unknown = [key for key in cfg.cells if key not in cells]
        if unknown:
            raise ValueError(
                f"cell {unknown[0]} is not a cell of search space {cfg.space} "
                f"({len(unknown)} of the {len(cfg.cells)} listed cells are not)"
            )
        cells = {key: cells[key] for key in sorted(set(cfg.cells))}
    if cfg.limit is not None:
        cells = dict(list(cells.items())[: cfg.limit])
    return cells


def _check_folder(folder: Path, cfg: BuildConfig) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / BUILD_FILE
    if path.exists():
        stored = json.loads(path.read_text())
        if stored != json.loads(json.dumps(cfg.identity())):
            changed = sorted(k for k in stored.keys() | cfg.identity().keys()
                             if stored.get(k) != json.loads(json.dumps(cfg.identity())).get(k))
            raise ValueError(
                f"{folder} holds a different build (differs in: {', '.join(changed)}); "
                "use another folder or the same settings"
            )
    else:
        tmp = path.with_suffix(f".tmp-{os.getpid()}")
        tmp.write_text(json.dumps(cfg.identity(), indent=1))
        os.replace(tmp, path)


def _check_split(folder: Path, num_shards: int) -> None:
    """Refuse to mix shard counts in one folder (progress is kept per shard of a split)."""
    others = sorted({int(p.name.split("-of-")[1].split(".")[0])
                     for p in folder.glob("shard-*-of-*.jsonl")} - {num_shards})
    if others:
        raise ValueError(
            f"{folder} holds a build split into {others[0]} shards; resume it with "
            f"{others[0]} shards (workers={others[0]} or num_shards={others[0]})"
        )


def read_progress(path: Path) -> dict[tuple[str, int], dict]:
    """Finished runs of a shard: (hash, repeat) -> result. A torn last line is cut off."""
    done: dict[tuple[str, int], dict] = {}
    if not path.exists():
        return done
    good = 0
    with path.open("rb") as handle:
        for line in handle:
            if not line.endswith(b"\n"):
                break
            try:
                run = json.loads(line)
            except json.JSONDecodeError:
                break
            done[(run["module_hash"], run["repeat"])] = run
            good += len(line)
    if good != path.stat().st_size:
        with path.open("r+b") as handle:
            handle.truncate(good)
    return done


def _rows(runs: list[dict], specs: dict[str, object]) -> Iterator[BenchmarkRow]:
    for run in sorted(runs, key=lambda r: (r["module_hash"], r["repeat"])):
        spec = specs[run["module_hash"]]
        points = [
            EvaluationData(
                current_epoch=float(run[point]["current_epoch"]),
                training_time=run[point]["training_time"],
                train_accuracy=run[point]["train_accuracy"],
                validation_accuracy=run[point]["validation_accuracy"],
                test_accuracy=run[point]["test_accuracy"],
            )
            for point in ("start", "halfway", "final")
        ]
        metrics = ModelMetrics(points, int(run["trainable_parameters"]), run["total_time"])
        yield BenchmarkRow(run["module_hash"], int(run["epochs"]), np.asarray(spec.matrix),
                           list(spec.ops), metrics)


def shard_jobs(cfg: BuildConfig, shard: int, num_shards: int) -> list[tuple[str, int]]:
    """The (hash, repeat) runs of one shard, in training order."""
    if not 0 <= shard < num_shards:
        raise ValueError(f"shard must be in 0..{num_shards - 1}, got {shard}")
    keys = list(build_cells(cfg))[shard::num_shards]
    return [(key, repeat) for key in keys for repeat in range(cfg.repeats)]


def build_shard(
    cfg: BuildConfig,
    folder: str | os.PathLike,
    shard: int = 0,
    num_shards: int = 1,
    threads: int = 1,
    progress: bool = True,
) -> Path:
    """Train the missing runs of one shard, then write its `.tfrecord`; returns that file. The
    job holds the shard (`<shard>.lock`) while it trains: a second job on it is refused."""
    from nasbench1shot1.models import NetworkConfig

    folder = Path(folder)
    network = NetworkConfig(**cfg.network)
    _check_folder(folder, cfg)
    _check_split(folder, num_shards)
    name = shard_name(shard, num_shards)
    with held(folder / f"{name}.lock", f"{name} of {folder}", "build another shard"):
        return _train_shard(cfg, folder, shard, num_shards, network, threads, progress)


def _train_shard(cfg: BuildConfig, folder: Path, shard: int, num_shards: int, network,
                 threads: int, progress: bool) -> Path:
    from nasbench1shot1.data.registry import load_data  # torch: imported when training
    from nasbench1shot1.train import TrainConfig, train_cell

    name = shard_name(shard, num_shards)
    space = get_search_space(cfg.space)
    cells = build_cells(cfg)
    jobs = shard_jobs(cfg, shard, num_shards)
    log = folder / f"{name}.jsonl"
    done = read_progress(log)
    todo = [job for job in jobs if job not in done]
    thread_policy.apply(threads)
    data = load_data(cfg.data, cfg.data_root, cfg.data_seed)
    specs = {key: space.to_spec(cells[key]) for key, _ in jobs}
    finished = {key for key, _ in jobs} - {key for key, _ in todo}
    bar = progress_bar(len(jobs) // cfg.repeats, name, "cell", progress, initial=len(finished),
                       lines=_log)
    with log.open("a") as out:
        for key, repeat in todo:
            train = TrainConfig(**{**cfg.train, "seed": cfg.seed + repeat})
            result = train_cell(specs[key], data, train, network)
            run = {"repeat": repeat, **result.as_dict()}
            out.write(json.dumps(run) + "\n")
            out.flush()
            os.fsync(out.fileno())
            if repeat == cfg.repeats - 1:
                bar.update(1)
    bar.close()
    done = read_progress(log)
    runs = [done[job] for job in jobs]
    target = folder / f"{name}.tfrecord"
    tmp = target.with_suffix(f".tmp-{os.getpid()}")
    write_rows(tmp, _rows(runs, specs))
    os.replace(tmp, target)
    return target


def merge(folder: str | os.PathLike, num_shards: int | None = None) -> Path:
    """Join the shard files of a build into `benchmark.tfrecord`; every shard must be done."""
    folder = Path(folder)
    if not (folder / BUILD_FILE).exists():
        raise ValueError(f"{folder} is not a benchmark build folder (no {BUILD_FILE})")
    if num_shards is None:
        counts = {int(p.name.split("-of-")[1].split(".")[0])
                  for p in folder.glob("shard-*-of-*.jsonl")}
        if len(counts) != 1:
            raise ValueError(
                f"{folder} holds shards of {sorted(counts) or 'no'} splits; pass num_shards"
            )
        num_shards = counts.pop()
    missing = [i for i in range(num_shards)
               if not (folder / f"{shard_name(i, num_shards)}.tfrecord").exists()]
    if missing:
        raise ValueError(
            f"shard {missing[0]} of {num_shards} in {folder} is not finished "
            f"({len(missing)} unfinished); run it (the build resumes) before merging"
        )

    def records() -> Iterator[bytes]:
        for i in range(num_shards):
            yield from read_records(folder / f"{shard_name(i, num_shards)}.tfrecord")

    target = folder / BENCHMARK_FILE
    tmp = target.with_suffix(f".tmp-{os.getpid()}")
    write_records(tmp, records())
    os.replace(tmp, target)
    return target


def build(
    cfg: BuildConfig,
    folder: str | os.PathLike,
    workers: int = 1,
    progress: bool = True,
) -> Path:
    """Build the whole benchmark on this machine with `workers` processes (one shard each,
    one thread each), then merge; returns `benchmark.tfrecord`. Resumable like a shard."""
    folder = Path(folder)
    positive_int("workers", workers)
    if workers == 1:
        build_shard(cfg, folder, 0, 1, threads=1, progress=progress)
        return merge(folder, 1)
    _check_folder(folder, cfg)
    _check_split(folder, workers)
    total = sum(len(shard_jobs(cfg, i, workers)) for i in range(workers)) // cfg.repeats
    logs = [folder / f"{shard_name(i, workers)}.jsonl" for i in range(workers)]
    # Plain child interpreters (not multiprocessing): no main-module guard needed by callers.
    children = [
        subprocess.Popen([
            sys.executable, "-c",
            "import json, sys; from nasbench1shot1.builder import BuildConfig, build_shard; "
            "a = json.loads(sys.argv[1]); "
            "build_shard(BuildConfig(**a['cfg']), a['folder'], a['shard'], a['n'], 1, False)",
            json.dumps({"cfg": cfg.identity(), "folder": str(folder), "shard": i, "n": workers}),
        ])
        for i in range(workers)
    ]
    bar = progress_bar(total, "build", "cell", progress, initial=_cells_done(logs, cfg.repeats),
                       lines=_log)
    try:
        while any(child.poll() is None for child in children):
            time.sleep(1.0)
            bar.update(_cells_done(logs, cfg.repeats) - bar.n)
    finally:
        for child in children:
            if child.poll() is None:
                child.terminate()
                child.wait()
        bar.update(_cells_done(logs, cfg.repeats) - bar.n)
        bar.close()
    failed = [i for i, child in enumerate(children) if child.returncode != 0]
    if failed:
        raise RuntimeError(
            f"shard {failed[0]} of the build in {folder} failed (exit status "
            f"{children[failed[0]].returncode}); finished runs are kept, run the build again"
        )
    return merge(folder, workers)


def _cells_done(paths: list[Path], repeats: int) -> int:
    """Cells with every repeat finished; a shard trains the repeats of a cell one after another."""
    return sum(path.read_bytes().count(b"\n") // repeats for path in paths if path.exists())


def export(benchmark_file: str | os.PathLike, target: str | os.PathLike) -> Path:
    """Save a built benchmark as a compressed `.npz` archive that `NASBench` opens directly."""
    from nasbench1shot1.nasbench import NASBench

    return NASBench(benchmark_file).save(target)


def spread(benchmark, epochs: int | None = None) -> dict:
    """How far a benchmark's cells differ: best, median and worst mean final test accuracy over
    cells, and the Spearman rank correlation of the cells' test accuracy between every pair of
    repeats (and its mean): near 1 means the repeats agree on the ranking of cells."""
    from itertools import combinations

    from scipy.stats import spearmanr

    epochs = max(benchmark.epochs) if epochs is None else epochs
    rows = np.arange(len(benchmark))
    runs = benchmark.metric("final_test_accuracy", rows, epochs=epochs, reduce="none")
    means = np.nanmean(runs, axis=1)
    pairs = {}
    for a, b in combinations(range(runs.shape[1]), 2):
        both = ~np.isnan(runs[:, a]) & ~np.isnan(runs[:, b])
        if both.sum() > 2:
            pairs[f"{a}-{b}"] = float(spearmanr(runs[both, a], runs[both, b]).statistic)
    return {
        "cells": int(len(means)),
        "epochs": int(epochs),
        "best_mean_test_accuracy": float(np.nanmax(means)),
        "median_mean_test_accuracy": float(np.nanmedian(means)),
        "worst_mean_test_accuracy": float(np.nanmin(means)),
        "spearman_between_repeats": pairs,
        "mean_spearman_between_repeats": float(np.mean(list(pairs.values()))) if pairs else None,
    }
