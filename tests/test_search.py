"""The search loop and the nb1s1-search app: config groups compose, the default run on CPU,
resume, divergence, bad input, a multirun, W&B offline, the CIFAR-10 reader."""

import json
import logging
import os
import pickle
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from conftest import SHARED_CIFAR

from nasbench1shot1.conf.search import TrainSettings
from nasbench1shot1.config import SettingsError, compose, settings_from
from nasbench1shot1.data import cifar10 as cifar_module
from nasbench1shot1.data.cifar10 import DataError, load_cifar10_splits
from nasbench1shot1.search import run
from nasbench1shot1.tracking import Tracker, WandbTracker

SMALL = ["supernet.channels=4", "supernet.num_cells=3"]
QUICK = ["train.epochs=2", "logger=none", *SMALL]


def config(*overrides: str):
    return compose("search", overrides=list(overrides))


@pytest.mark.parametrize("method", ["darts", "gdas", "pc_darts", "enas", "random_ws"])
@pytest.mark.parametrize("space", ["1", "2", "3"])
@pytest.mark.parametrize("experiment", ["embedded", "paper"])
def test_every_config_option_composes(method: str, space: str, experiment: str):
    cfg = config(f"method={method}", f"search_space={space}", f"experiment={experiment}")
    settings = settings_from(cfg)
    assert settings.method.name == method and settings.search_space == int(space)
    assert settings.train.batch_size == (64 if method in ("enas", "random_ws") else 96)
    if experiment == "paper":
        # the original's epochs per method, under its protocol (conf/protocol.py)
        assert settings.data.name == "cifar10" and settings.protocol.name == "paper"
        assert settings.train.epochs == {"darts": 25}.get(method, 100)
        assert (settings.supernet.channels, settings.supernet.num_cells) == (16, 9)
        assert settings.benchmark.where.endswith("nasbench_only108.tfrecord")
    else:
        assert settings.data.name == "digits" and settings.benchmark.where == "embedded"


def test_logger_options_compose():
    assert config("logger=none").logger.kind == "none"
    assert config("logger=wandb").logger.kind == "wandb"


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["train.learning_rate=-0.1"], "train.learning_rate must be in (0.0, inf], got -0.1"),
        (["train.epochs=0"], "train.epochs must be a positive integer, got 0"),
        (["+train.lr=0.1"], "unknown key train.lr, expected one of epochs"),
        (["method.arch_learning_rate=0"], "method.arch_learning_rate must be in (0.0, inf]"),
        (["+method.arch_lr=0.1"], "unknown key method.arch_lr for darts, expected one of"),
        (["method=gdas", "method.unrolled=true"], "is for darts and pc_darts, not gdas"),
        (["method=gdas", "method.tau_min=20"], "method.tau_min 20.0 exceeds method.tau_max 10.0"),
        (["method=pc_darts", "supernet.channels=6"],
         "method.partial_channels k=4 must divide supernet.channels 6"),
        (["device=tpu"], "unknown device 'tpu'"),
        (["search_space=4"], "unknown search space 4, expected one of 1, 2, 3"),
    ],
)
def test_bad_values_are_one_sentence_before_training(overrides: list, message: str):
    with pytest.raises(SettingsError) as error:
        settings_from(config(*overrides))
    assert message in str(error.value)


def test_gdas_records_the_temperature_it_used(tmp_path: Path):
    result = run(config(*QUICK, "method=gdas"), tmp_path, echo=False)
    assert [r["tau"] for r in result.history] == [10.0, 1.0]


def test_bad_benchmark_or_data_stops_before_training(tmp_path: Path):
    with pytest.raises(ValueError, match="lacks 7773 of the 7773 cells of search space 2.*"
                                         "covers search space 1 only; for space 2 use "
                                         "benchmark=nasbench101"):
        run(config(*QUICK, "search_space=2"), tmp_path / "a", echo=False)
    with pytest.raises(Exception, match="nowhere.tfrecord"):
        run(config(*QUICK, "benchmark.path=nowhere.tfrecord"), tmp_path / "b", echo=False)
    junk = tmp_path / "cifar"
    junk.mkdir()
    (junk / "readme.txt").write_text("not CIFAR")
    with pytest.raises(DataError, match=r"is not a cifar-10-batches-py folder: data_batch_1"):
        run(config(*QUICK, "data=cifar10", f"data.root={junk}"), tmp_path / "c", echo=False)
    assert not (tmp_path / "c" / "metrics.jsonl").exists()


def test_default_run_end_to_end(tmp_path: Path, caplog):
    caplog.set_level(logging.DEBUG, logger="nasbench1shot1.search")
    result = run(config("train.epochs=2", "logger=none"), tmp_path)  # default sizes
    assert result.status == "finished" and result.epochs_done == 2
    lines = [json.loads(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [x["epoch"] for x in lines] == [1, 2]
    for key in ("train_loss", "train_accuracy", "valid_loss", "valid_accuracy", "cell",
                "adjacency", "ops", "benchmark_validation_error", "benchmark_test_error",
                "test_regret", "learning_rate", "wall_time"):
        assert key in lines[0], key
    saved = json.loads((tmp_path / "result.json").read_text())
    assert saved["final_cell"] == lines[-1]["cell"] == result.final_cell
    assert saved["best_test_regret"] == min(x["test_regret"] for x in lines)
    assert result.final_test_regret >= 0
    assert lines[0]["learning_rate"] == TrainSettings.learning_rate > lines[1]["learning_rate"]
    # one line per epoch, at INFO for a run of its own (the app's console shows INFO)
    echoed = [r for r in caplog.records if r.getMessage().startswith("epoch ")]
    assert [r.getMessage()[:11] for r in echoed] == ["epoch   1/2", "epoch   2/2"]
    assert all(r.levelno == logging.INFO and r.name == "nasbench1shot1.search" for r in echoed)


class StopAfter(Tracker):
    def __init__(self, epoch: int):
        self.epoch = epoch

    def log(self, record: dict) -> None:
        if record["epoch"] == self.epoch:
            raise KeyboardInterrupt


@pytest.mark.parametrize("method", ["darts", "gdas", "enas", "random_ws", "pc_darts"])
def test_resume_gives_the_uninterrupted_result(tmp_path: Path, method: str):
    cfg = config("train.epochs=3", "logger=none", f"method={method}", *SMALL)
    whole = run(cfg, tmp_path / "whole", echo=False)
    with pytest.raises(KeyboardInterrupt):
        run(cfg, tmp_path / "cut", tracker=StopAfter(2), echo=False)
    assert len((tmp_path / "cut" / "metrics.jsonl").read_text().splitlines()) == 2
    resumed = run(cfg, tmp_path / "cut", echo=False)
    assert resumed.final_cell == whole.final_cell
    strip = ("epoch_time", "wall_time")
    assert [{k: v for k, v in r.items() if k not in strip} for r in resumed.history] == [
        {k: v for k, v in r.items() if k not in strip} for r in whole.history
    ]
    again = run(config("train.epochs=3", "logger=none", f"method={method}", "device=cpu", *SMALL),
                tmp_path / "cut", echo=False)  # another device may resume the same run
    assert again.final_cell == whole.final_cell and len(again.history) == 3
    with pytest.raises(ValueError, match=r"belongs to a search run with other settings \(seed=5"):
        run(config("train.epochs=3", "logger=none", f"method={method}", "seed=5", *SMALL),
            tmp_path / "cut", echo=False)


def test_a_nan_loss_ends_the_run_as_diverged(tmp_path: Path):
    result = run(config(*QUICK, "train.learning_rate=1e30", "train.grad_clip=0"), tmp_path,
                 echo=False)
    assert result.status == "diverged"
    assert "loss became" in result.reason
    assert json.loads((tmp_path / "result.json").read_text())["status"] == "diverged"


@pytest.mark.timeout(300)
def test_two_job_multirun(tmp_path: Path):
    script = shutil.which("nb1s1-search") or pytest.fail("nb1s1-search is not installed")
    done = subprocess.run(
        [script, "-m", "seed=0,1", "train.epochs=1", "logger=none", *SMALL,
         f"hydra.sweep.dir={tmp_path}"], capture_output=True, text=True, timeout=280,
    )
    assert done.returncode == 0, done.stderr
    results = sorted(tmp_path.rglob("result.json"))
    assert [json.loads(p.read_text())["seed"] for p in results] == [0, 1]
    assert results[0].parent == tmp_path / "darts" / "space1" / "seed0" / (
        "supernet.channels=4,supernet.num_cells=3,train.epochs=1")


def test_app_bad_value_is_one_sentence(tmp_path: Path):
    script = shutil.which("nb1s1-search") or pytest.fail("nb1s1-search is not installed")
    done = subprocess.run([script, "train.epochs=0", f"hydra.run.dir={tmp_path}"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1] == (
        "nb1s1-search: error: train.epochs must be a positive integer, got 0"
    )
    done = subprocess.run([script, "method=nao", f"hydra.run.dir={tmp_path}"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert "Could not find 'method/nao'" in done.stderr and "Traceback" not in done.stderr
    done = subprocess.run([script, "search_space=4", f"hydra.run.dir={tmp_path}"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert "unknown search space 4, expected one of 1, 2, 3" in done.stderr


def test_wandb_offline_writes_a_run_and_failures_do_not_stop(tmp_path: Path, monkeypatch):
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.setenv("WANDB_SILENT", "true")
    tracker = WandbTracker(mode="offline", tags=["test"])
    result = run(config(*QUICK), tmp_path / "ok", tracker=tracker, echo=False)
    runs = list((tmp_path / "ok" / "wandb").glob("offline-run-*/run-*.wandb"))
    assert len(runs) == 1 and runs[0].stat().st_size > 0
    assert result.status == "finished"

    import wandb

    def broken(*args, **kwargs):
        raise RuntimeError("W&B is down")

    monkeypatch.setattr(wandb, "init", broken)
    result = run(config(*QUICK), tmp_path / "broken", tracker=WandbTracker(mode="offline"),
                 echo=False)
    assert result.status == "finished" and result.epochs_done == 2


@pytest.mark.skipif(not SHARED_CIFAR.is_dir(), reason=f"no CIFAR-10 images at {SHARED_CIFAR}")
def test_real_cifar10_reader():
    data = load_cifar10_splits(SHARED_CIFAR, download_missing=False)
    assert data.train.images.shape == (4 * 1017, 3, 32, 32)
    assert len(data.valid) == len(data.test) == 1017
    assert set(data.train.labels.tolist()) == set(range(10))
    assert abs(float(data.train.images.mean())) < 0.2


def test_cifar10_bad_files_and_offline(tmp_path: Path, monkeypatch):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    for name in cifar_module.TRAIN_FILES + cifar_module.VALID_FILES + cifar_module.TEST_FILES:
        with (folder / name).open("wb") as handle:
            pickle.dump({"data": np.zeros((2, 3072), np.uint8), "labels": [0, 1]}, handle)
    assert len(load_cifar10_splits(folder).train) == 8
    (folder / "test_batch").write_bytes(b"junk")
    with pytest.raises(DataError, match="test_batch is not a CIFAR-10 batch file"):
        load_cifar10_splits(folder)
    monkeypatch.setattr(cifar_module, "URL", "http://127.0.0.1:9/cifar-10-python.tar.gz")
    with pytest.raises(DataError, match=f"CIFAR-10 is not in {tmp_path / 'missing'} and could"):
        load_cifar10_splits(tmp_path / "missing")
    assert not os.path.exists(tmp_path / "missing")


def test_correlation_study_of_a_run(tmp_path: Path, capsys):
    from nasbench1shot1.cli import main as cli_main

    run(config(*QUICK), tmp_path, echo=False)
    assert cli_main(["correlation", str(tmp_path), "--samples", "25", "--batches", "1"]) == 0
    assert "25 cells at epoch 2: Spearman" in capsys.readouterr().out
    saved = json.loads((tmp_path / "correlation.json").read_text())
    assert len(saved["scores"]) == 25 and -1.0 <= saved["spearman"] <= 1.0
    assert (tmp_path / "correlation.png").stat().st_size > 1000
    assert cli_main(["correlation", str(tmp_path / "nothing")]) == 1
    assert "has no checkpoint.pt" in capsys.readouterr().err


def test_the_run_dir_name_leaves_out_what_is_not_the_runs_identity():
    """A run resumes with another device, thread count, restart, progress or objective: those
    keys must not name its run dir either (conf/search.yaml's exclude_keys)."""
    from importlib.resources import files

    from omegaconf import OmegaConf

    from nasbench1shot1.config import CONFIG_MODULE, NOT_IDENTITY

    hydra = OmegaConf.load(files(CONFIG_MODULE) / "search.yaml").hydra
    assert set(NOT_IDENTITY) <= set(hydra.job.config.override_dirname.exclude_keys)


def test_the_app_says_what_runs_first_and_what_it_found_last(tmp_path: Path):
    script = shutil.which("nb1s1-search") or pytest.fail("nb1s1-search is not installed")
    done = subprocess.run([script, "train.epochs=1", "logger=none", *SMALL, "progress=false",
                           f"hydra.run.dir={tmp_path}"], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    lines = [line.split(" - ", 1)[1] for line in done.stdout.splitlines() if " - " in line]
    assert lines[0].startswith("darts on search space 1, seed 0, 1 epochs: digits against the "
                               "embedded benchmark; cpu, 1 thread(s); run dir ")
    assert lines[0].endswith("no tracker (logger=none)")
    assert re.fullmatch(r"finished after 1/1 epochs: final cell [0-9a-f]{8} \(ops [a-z0-9x, -]+"
                        r"\), benchmark validation error \d\.\d{4}, test regret \d\.\d{4} "
                        r"\(best \d\.\d{4}\); .*result\.json", lines[-1]), lines[-1]
