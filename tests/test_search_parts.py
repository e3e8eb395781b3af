"""The search loop's parts: `build_search` with a given benchmark and data (not loaded again,
the same result as `run`), checkpoints (format 2 as it is, atomic, RNG states), the run dir's
`result.json` with its kind."""

import json
import random
from pathlib import Path

import numpy as np
import pytest
import torch

import nasbench1shot1.data.registry as data_registry
import nasbench1shot1.embedded as embedded
from nasbench1shot1.checkpoint import (
    CHECKPOINT_FORMAT,
    CheckpointError,
    load_checkpoint,
    rng_state,
    save_checkpoint,
    set_rng_state,
)
from nasbench1shot1.config import SettingsError, compose, settings_from
from nasbench1shot1.runfiles import (
    CHECKPOINT_FILE,
    RESULT_FILE,
    RunDirError,
    own_run_dir,
    write_result,
)
from nasbench1shot1.search import Search, build_search, run

QUICK = ["train.epochs=2", "logger=none", "supernet.channels=4", "supernet.num_cells=3",
         "device=cpu"]
#: The keys of a checkpoint of format 2 as this version writes them ("scaler" is newer: a
#: checkpoint without it still resumes, test_a_checkpoint_keeps_the_fp16_loss_scale).
FORMAT_2_KEYS = ["format", "epoch", "model", "optimizer", "scheduler", "method", "generator",
                 "scaler", "rng", "elapsed", "settings", "history"]
TIMES = ("epoch_time", "wall_time")


def config(*overrides: str):
    return compose("search", overrides=[*QUICK, *overrides])


def untimed(history: list[dict]) -> list[dict]:
    return [{k: v for k, v in record.items() if k not in TIMES} for record in history]


@pytest.fixture
def no_loading(monkeypatch):
    """Opening a benchmark or loading a data set fails the test."""
    def refuse(*args, **kwargs):
        raise AssertionError(f"loaded again: {args}")

    monkeypatch.setattr(embedded, "open_benchmark", refuse)
    monkeypatch.setattr(data_registry, "load_data", refuse)


def test_a_search_given_its_benchmark_and_data_loads_neither_and_ends_as_run(
        tmp_path: Path, monkeypatch):
    cfg = config("method=gdas")
    settings = settings_from(cfg)
    benchmark = embedded.open_benchmark(settings.benchmark.where)
    data = data_registry.load_data(settings.data.name, settings.data.root,
                                   settings.data.split_seed)
    plain = run(cfg, tmp_path / "plain", echo=False)

    def refuse(*args, **kwargs):
        raise AssertionError(f"loaded again: {args}")

    monkeypatch.setattr(embedded, "open_benchmark", refuse)
    monkeypatch.setattr(data_registry, "load_data", refuse)
    search = build_search(settings, benchmark=benchmark, data=data, run_dir=tmp_path / "built",
                          echo=False)
    assert isinstance(search, Search) and search.benchmark is benchmark
    assert search.settings == settings and search.bench_epochs == search.optimum.epochs
    built = search.run()
    passed = run(cfg, tmp_path / "passed", echo=False, benchmark=benchmark, data=data)
    assert plain.status == built.status == passed.status == "finished"
    assert untimed(built.history) == untimed(plain.history) == untimed(passed.history)
    assert built.final_cell == plain.final_cell == passed.final_cell
    for name in ("plain", "built", "passed"):
        saved = json.loads((tmp_path / name / RESULT_FILE).read_text())
        assert saved["kind"] == "search" and saved["final_cell"] == plain.final_cell
        assert saved["settings"] == settings.as_dict()
    # the data the caller gave are as they were: the next search may use them again
    again = data_registry.DATASETS.create(settings.data.name, settings.data.root,
                                          settings.data.split_seed)
    assert torch.equal(again.train.images, data.train.images)


def test_build_search_takes_a_config_and_its_parts_are_public(no_loading, tmp_path: Path):
    settings = settings_from(config())
    benchmark = embedded.load_embedded()
    data = data_registry.DATASETS.create("digits", None, 0)
    search = build_search(config(), benchmark=benchmark, data=data)  # a config, not settings
    assert search.settings == settings and search.run_dir is None
    generator = torch.Generator().manual_seed(3)
    batches = search.arch_batches(10, generator)
    assert sum(len(b.labels) for b in batches) == len(search.arch_half[1])
    assert len(batches[0].labels) == 10
    again = search.arch_batches(10, torch.Generator().manual_seed(3))
    assert all(torch.equal(a.labels, b.labels) for a, b in zip(batches, again))
    assert len(search.weight_batches()[0].labels) == settings.train.batch_size
    loss, accuracy = search.evaluate(batches[:2])
    assert loss > 0 and 0.0 <= accuracy <= 1.0
    record = search.train_epoch(1)
    assert record["epoch"] == 1 and record["cell"] in benchmark
    state = search.state(1)
    assert list(state) == FORMAT_2_KEYS[1:]  # save_checkpoint adds the format
    with pytest.raises(ValueError, match="built without a run_dir, so it cannot run"):
        search.run()


def test_a_given_benchmark_or_data_of_other_settings_is_refused(no_loading, tmp_path: Path):
    benchmark = embedded.load_embedded()
    data = data_registry.DATASETS.create("digits", None, 0)
    nowhere = tmp_path / "nowhere.tfrecord"
    with pytest.raises(SettingsError, match=rf"opened from .*digits_space1.npz, but its "
                                            rf"settings say benchmark {nowhere}"):
        build_search(config("benchmark=nasbench101", f"benchmark.path={nowhere}"),
                     benchmark=benchmark, data=data)
    with pytest.raises(SettingsError, match="the data given to the search are digits, but its "
                                            "settings say data=cifar10"):
        build_search(config("data=cifar10"), benchmark=benchmark, data=data)


def test_search_run_holds_its_run_dir(no_loading, tmp_path: Path):
    settings = settings_from(config())
    search = build_search(settings, benchmark=embedded.load_embedded(),
                          data=data_registry.DATASETS.create("digits", None, 0),
                          run_dir=tmp_path)
    with own_run_dir(tmp_path, "search", settings.identity()), \
            pytest.raises(RunDirError, match="is in use by another run"):
        search.run()
    assert search.run().epochs_done == 2


def test_checkpoints_keep_format_2(tmp_path: Path):
    run(config(), tmp_path, echo=False)
    state = load_checkpoint(tmp_path / CHECKPOINT_FILE)
    assert CHECKPOINT_FORMAT == 2 and list(state) == FORMAT_2_KEYS
    assert state["format"] == 2 and state["epoch"] == 2 and len(state["history"]) == 2
    assert not list(tmp_path.glob("*.tmp"))


def test_a_checkpoint_keeps_the_fp16_loss_scale(tmp_path: Path):
    """fp16's gradient scaler (CUDA only; an enabled CPU scaler stands in for it here) resumes
    with the loss scale and growth count it had, not from its initial scale."""
    benchmark, data = embedded.load_embedded(), data_registry.DATASETS.create("digits", None, 0)

    def search_with_a_scaler() -> Search:
        search = build_search(config("train.epochs=3"), benchmark=benchmark, data=data)
        search.method.scaler = torch.amp.GradScaler("cpu", init_scale=2.0 ** 10,
                                                    growth_interval=4)
        return search

    first = search_with_a_scaler()
    first.train_epoch(1)
    scale, tracker = first.method.scaler.get_scale(), first.method.scaler._get_growth_tracker()
    assert scale > 2.0 ** 10 and 0 < tracker < 4  # it grew, and counts towards the next growth
    save_checkpoint(tmp_path / "state.pt", first.state(1))
    state = load_checkpoint(tmp_path / "state.pt")
    resumed = search_with_a_scaler()
    resumed.restore(state)
    assert resumed.method.scaler.get_scale() == scale
    assert resumed.method.scaler._get_growth_tracker() == tracker
    del state["scaler"]  # a checkpoint written before the scaler was kept
    older = search_with_a_scaler()
    older.restore(state)
    assert older.method.scaler.get_scale() == 2.0 ** 10 and older.start_epoch == 2


def test_save_and_load_checkpoint(tmp_path: Path):
    path = tmp_path / "state.pt"
    save_checkpoint(path, {"epoch": 3, "weights": torch.arange(4.0), "history": [{"a": 1}]})
    state = load_checkpoint(path)
    assert state["format"] == CHECKPOINT_FORMAT and state["epoch"] == 3
    assert torch.equal(state["weights"], torch.arange(4.0)) and state["history"] == [{"a": 1}]
    assert [p.name for p in tmp_path.iterdir()] == ["state.pt"]  # no temporary file left
    with pytest.raises(ValueError, match="format 1 cannot be written"):
        save_checkpoint(path, {"format": 1})
    assert load_checkpoint(path)["epoch"] == 3  # the refused write left the file alone
    torch.save({"format": 1, "epoch": 3}, path)
    with pytest.raises(CheckpointError, match="is not a checkpoint of format 2") as error:
        load_checkpoint(path)
    assert str(path) in str(error.value) and "\n" not in str(error.value)


def test_rng_state_round_trip(tmp_path: Path):
    torch.manual_seed(1)
    np.random.seed(1)
    random.seed(1)
    path = tmp_path / "rng.pt"
    save_checkpoint(path, {"rng": rng_state()})
    first = (torch.rand(3), np.random.rand(3), random.random())
    set_rng_state(load_checkpoint(path)["rng"])
    second = (torch.rand(3), np.random.rand(3), random.random())
    assert torch.equal(first[0], second[0])
    assert np.array_equal(first[1], second[1]) and first[2] == second[2]


def test_write_result_writes_the_kind(tmp_path: Path):
    path = write_result(tmp_path, "search", {"status": "finished", "method": "darts"})
    assert path == tmp_path / RESULT_FILE
    assert json.loads(path.read_text()) == {"kind": "search", "status": "finished",
                                            "method": "darts"}
    assert list(json.loads(path.read_text())) == ["kind", "status", "method"]
    write_result(tmp_path, "blackbox", {"kind": "blackbox", "trials": 5})
    assert json.loads(path.read_text()) == {"kind": "blackbox", "trials": 5}
    with pytest.raises(ValueError, match="unknown result kind 'bohb'"):
        write_result(tmp_path, "bohb", {})
    with pytest.raises(ValueError, match="a summary of kind 'search' written as kind 'blackbox'"):
        write_result(tmp_path, "blackbox", {"kind": "search"})
    assert json.loads(path.read_text()) == {"kind": "blackbox", "trials": 5}
    assert not list(tmp_path.glob("*.tmp"))


def test_settings_made_in_python_run(tmp_path: Path):
    """SearchSettings built without Hydra: train.batch_size follows the method's, as composed."""
    from nasbench1shot1.conf.method import EnasConfig
    from nasbench1shot1.conf.search import SearchSettings, SupernetSettings, TrainSettings

    settings = SearchSettings(method=EnasConfig(), train=TrainSettings(epochs=1),
                              supernet=SupernetSettings(channels=4, num_cells=3))
    assert settings.train.batch_size == EnasConfig.batch_size
    result = run(settings, tmp_path, echo=False)
    assert result.status == "finished" and result.epochs_done == 1


def test_a_finished_search_started_again_reports_its_result_and_touches_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog):
    cfg = compose("search", ["train.epochs=2", "logger=none", "supernet.channels=4",
                             "supernet.num_cells=3"])
    first = run(cfg, tmp_path, echo=False)
    files = {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in tmp_path.iterdir()
             if p.is_file() and p.name != "run.lock"}

    def no_loading(*args, **kwargs):
        raise AssertionError("a finished search loads nothing")

    monkeypatch.setattr(embedded, "open_benchmark", no_loading)
    monkeypatch.setattr(data_registry, "load_data", no_loading)
    started = []

    class Tracker:
        def start(self, *args):
            started.append(args)

    with caplog.at_level("INFO", logger="nasbench1shot1.search"):
        again = run(cfg, tmp_path, tracker=Tracker(), echo=False)
    assert again.as_dict() == first.as_dict()
    assert not started  # no new W&B run
    assert {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in tmp_path.iterdir()
            if p.is_file() and p.name != "run.lock"} == files
    assert any("finished: nothing is run again" in r.getMessage() for r in caplog.records)
    (tmp_path / "checkpoint.pt").unlink()  # deleted to save space: the result is still there
    assert run(cfg, tmp_path, echo=False).as_dict() == first.as_dict()
    monkeypatch.undo()
    # restart=true still starts over
    assert run(compose("search", ["train.epochs=2", "logger=none", "supernet.channels=4",
                                  "supernet.num_cells=3", "restart=true"]), tmp_path,
               echo=False).epochs_done == 2
