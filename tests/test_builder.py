"""The tabular-benchmark builder on a tiny slice of space 1: build, resume, shards, merge."""

import json
import logging
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import SHARED_CIFAR

import nasbench1shot1.train as train_module
from nasbench1shot1 import builder as builder_module
from nasbench1shot1.builder import BuildConfig, build, build_shard, merge, read_progress
from nasbench1shot1.cli import main as cli_main
from nasbench1shot1.nasbench import NASBench
from nasbench1shot1.runfiles import RunDirError, held
from nasbench1shot1.spaces import cell_architectures, get_search_space

TINY = dict(
    space=1, repeats=2, limit=4,
    network=dict(stem_channels=4, num_stacks=2, modules_per_stack=1, bn_momentum=0.1),
    train=dict(epochs=2, batch_size=256, optimizer="sgd", learning_rate=0.1, crop_padding=0,
               flip=False),
)
HYDRA_TINY = [
    "search_space=1", "repeats=2", "limit=4", "network.stem_channels=4", "train.epochs=2",
    "train.batch_size=256", "train.learning_rate=0.1", "progress=false",
]


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_a_build_not_on_a_terminal_logs_its_progress(tmp_path: Path, caplog):
    with caplog.at_level(logging.INFO, logger="nasbench1shot1.builder"):
        build(BuildConfig(**{**TINY, "repeats": 1}), tmp_path / "b", progress=True)
    lines = [r.getMessage() for r in caplog.records if r.name == "nasbench1shot1.builder"]
    assert lines and lines[-1].startswith("shard-0-of-1: 4/4 cells")


def test_build_writes_an_official_format_benchmark(tmp_path: Path):
    target = build(BuildConfig(**TINY), tmp_path / "b", progress=False)
    assert target == tmp_path / "b" / "benchmark.tfrecord"
    bench = NASBench(target)
    assert len(bench) == 4 and bench.epochs == [2] and bench.num_repeats == 2
    space = get_search_space(1)
    runs = lines(tmp_path / "b" / "shard-0-of-1.jsonl")
    assert len(runs) == 8
    for key, arch in list(cell_architectures(space).items())[:4]:
        spec = space.to_spec(arch)
        answer = bench.query_all(spec, epochs=2)
        mine = sorted((r for r in runs if r["module_hash"] == key), key=lambda r: r["repeat"])
        assert [run["test_accuracy"] for run in answer["runs"]] == [
            r["final"]["test_accuracy"] for r in mine
        ]
        halfway = bench.query_all(spec, epochs=2, stop_halfway=True)
        assert [run["validation_accuracy"] for run in halfway["runs"]] == [
            r["halfway"]["validation_accuracy"] for r in mine
        ]
        assert answer["trainable_parameters"] == mine[0]["trainable_parameters"]
        assert bench.query(spec, epochs=2)["test_accuracy"] in [
            r["final"]["test_accuracy"] for r in mine
        ]


def test_resume_keeps_finished_runs_and_drops_a_torn_line(tmp_path: Path, monkeypatch):
    folder = tmp_path / "b"
    cfg = BuildConfig(**TINY)
    build_shard(cfg, folder, progress=False)
    log = folder / "shard-0-of-1.jsonl"
    kept = log.read_text().splitlines(keepends=True)[:3]
    log.write_text("".join(kept) + '{"repeat": 1, "module_ha')  # killed mid-write
    (folder / "shard-0-of-1.tfrecord").unlink()

    calls = []
    original = train_module.train_cell

    def counting(spec, data, cfg, network):
        calls.append((spec.hash_spec(), cfg.seed))
        return original(spec, data, cfg, network)

    monkeypatch.setattr(train_module, "train_cell", counting)  # looked up at call time
    build_shard(cfg, folder, progress=False)
    assert len(calls) == 8 - 3
    after = log.read_text().splitlines(keepends=True)
    assert after[:3] == kept and len(after) == 8
    assert len(read_progress(log)) == 8
    assert NASBench(folder / "shard-0-of-1.tfrecord").num_repeats == 2


def test_shards_merge_into_the_same_benchmark(tmp_path: Path, capsys):
    cfg = BuildConfig(**TINY)
    whole = NASBench(build(cfg, tmp_path / "whole", progress=False))
    folder = tmp_path / "sharded"
    build_shard(cfg, folder, 1, 2, progress=False)
    with pytest.raises(ValueError, match="shard 0 of 2 .* is not finished"):
        merge(folder)
    build_shard(cfg, folder, 0, 2, progress=False)
    assert cli_main(["benchmark", "merge", str(folder), "--export", str(tmp_path / "m.npz")]) == 0
    merged = NASBench(tmp_path / "m.npz")
    assert sorted(merged.hashes) == sorted(whole.hashes)
    keys = list(whole.hashes)
    np.testing.assert_array_equal(
        merged.metric("final_test_accuracy", keys, epochs=2, reduce="none"),
        whole.metric("final_test_accuracy", keys, epochs=2, reduce="none"),
    )


def test_a_folder_of_another_build_is_refused(tmp_path: Path):
    build_shard(BuildConfig(**{**TINY, "limit": 1, "repeats": 1}), tmp_path, progress=False)
    with pytest.raises(ValueError, match="holds a different build .*differs in: limit"):
        build_shard(BuildConfig(**{**TINY, "limit": 2, "repeats": 1}), tmp_path, progress=False)
    with pytest.raises(ValueError, match="split into 1 shards; resume it with 1 shards"):
        build(BuildConfig(**{**TINY, "limit": 1, "repeats": 1}), tmp_path, workers=2)


def test_a_shard_in_training_is_not_trained_twice(tmp_path: Path):
    lock = tmp_path / "shard-0-of-1.lock"
    with held(lock, "another job", "wait"), \
            pytest.raises(RunDirError, match=rf"shard-0-of-1 of {tmp_path} is in use by another "
                                             rf"run \(pid {os.getpid()} on "):
        build_shard(BuildConfig(**{**TINY, "limit": 1, "repeats": 1}), tmp_path, progress=False)
    assert not (tmp_path / "shard-0-of-1.jsonl").exists()
    build_shard(BuildConfig(**{**TINY, "limit": 1, "repeats": 1}), tmp_path, progress=False)
    assert len(read_progress(tmp_path / "shard-0-of-1.jsonl")) == 1


def test_bad_build_settings_are_named():
    with pytest.raises(ValueError, match="is not a cell of search space 1"):
        builder_module.build_cells(BuildConfig(cells=("0" * 32,)))
    with pytest.raises(ValueError, match="unknown key network.stem, expected one of stem_chan"):
        BuildConfig(network={"stem": 3})
    with pytest.raises(ValueError, match="unknown build data 'mnist', expected one of digits"):
        BuildConfig(data="mnist")
    with pytest.raises(ValueError, match="search space"):
        BuildConfig(space=4)


@pytest.mark.timeout(240)
def test_hydra_multirun_builds_shards_and_a_killed_job_resumes(tmp_path: Path):
    script = shutil.which("nb1s1-build") or pytest.fail("nb1s1-build is not installed")
    folder = tmp_path / "b"
    # a real kill in the middle of shard 0
    args = [script, *HYDRA_TINY, f"folder={folder}", "shard=0", "num_shards=2"]
    job = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    log = folder / "shard-0-of-2.jsonl"
    deadline = time.time() + 120
    while time.time() < deadline and (not log.exists() or log.read_text().count("\n") < 1):
        time.sleep(0.05)
    job.send_signal(signal.SIGKILL)
    job.wait(timeout=30)
    first = log.read_text().splitlines()[0]
    # the sweep: both shards, the killed one resumes
    done = subprocess.run(
        [script, "-m", *HYDRA_TINY, f"folder={folder}", "shard=0,1", "num_shards=2"],
        capture_output=True, text=True, timeout=180,
    )
    assert done.returncode == 0, done.stderr
    assert log.read_text().splitlines()[0] == first
    assert len(lines(log)) == 4 and len(lines(folder / "shard-1-of-2.jsonl")) == 4
    merged = merge(folder)
    assert len(NASBench(merged)) == 4
    assert os.path.isdir(folder / "hydra")


def test_hydra_app_bad_value_is_one_sentence(tmp_path: Path):
    script = shutil.which("nb1s1-build") or pytest.fail("nb1s1-build is not installed")
    done = subprocess.run([script, "repeats=0", f"folder={tmp_path}"], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        "nb1s1-build: error: repeats must be a positive integer, got 0"]




@pytest.mark.skipif(not SHARED_CIFAR.is_dir(), reason=f"no CIFAR-10 images at {SHARED_CIFAR}")
def test_build_on_real_cifar10(tmp_path: Path):
    cfg = BuildConfig(**{**TINY, "limit": 1, "repeats": 1, "data": "cifar10",
                         "data_root": str(SHARED_CIFAR)})
    bench = NASBench(build(cfg, tmp_path, progress=False))
    run = lines(tmp_path / "shard-0-of-1.jsonl")[0]
    assert len(bench) == 1 and run["trainable_parameters"] > 0
    # the network was built for CIFAR-10's 3 input channels
    from nasbench1shot1.models import NASBench101Network, NetworkConfig, count_parameters

    space = get_search_space(1)
    key, arch = next(iter(cell_architectures(space).items()))
    network = NetworkConfig(**{**cfg.network, "in_channels": 3, "num_classes": 10})
    assert run["module_hash"] == key
    assert run["trainable_parameters"] == count_parameters(
        NASBench101Network(space.to_spec(arch), network))
    assert json.loads((tmp_path / "build.json").read_text())["data_root"] == str(SHARED_CIFAR)
