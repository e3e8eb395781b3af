"""Black-box optimizers on the benchmark: every optimizer on a small benchmark with NAS-Bench-101's
epoch budgets, the trajectory's bookkeeping, budgets, bad input, the nb1s1-blackbox app (run,
already-finished rerun, multirun), W&B offline, and regularized evolution against random search
on the real partial NAS-Bench-101 table."""

import dataclasses
import json
import logging
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from conftest import PARTIAL_EPOCHS
from hydra.errors import ConfigCompositionException

from nasbench1shot1.blackbox import (
    OPTIMIZERS,
    BudgetExhausted,
    TabularObjective,
    get_optimizer,
    run,
    settings_from,
)
from nasbench1shot1.conf.optimizer import OPTIMIZER_CONFIGS
from nasbench1shot1.config import compose
from nasbench1shot1.embedded import load_embedded
from nasbench1shot1.nasbench import NASBench
from nasbench1shot1.nasbench.spec import INPUT, OUTPUT
from nasbench1shot1.spaces import SpaceRegret, cell_architectures, get_search_space, list_spaces
from nasbench1shot1.tracking import Tracker, WandbTracker

#: the fraction of the embedded accuracy each smaller budget reaches in the small benchmark
BUDGET_SCALE = {4: 0.85, 12: 0.9, 36: 0.95, 108: 1.0}
TRIALS = {"smac": 15}  # SMAC's random forest costs about 0.2 s per query


def config(*overrides: str):
    return compose("blackbox", overrides=["logger=none", *overrides])


def build_small(path: Path, low_budget_validation: bool = True,
                training_time: bool = True) -> Path:
    """The cells of space 1 at epoch budgets 4, 12, 36, 108 (the embedded digits accuracies
    scaled down for smaller budgets, training time proportional to the epochs), saved as .npz;
    without `low_budget_validation` the table has validation accuracy at 108 epochs only, without
    `training_time` no training time."""
    embedded = load_embedded()
    cells = cell_architectures(get_search_space(1))
    keys = list(cells)
    specs = [get_search_space(1).to_spec(cells[k]) for k in keys]
    adjacency = np.zeros((len(keys), 7, 7), dtype=np.uint8)
    ops = np.zeros((len(keys), 7), dtype=np.int8)
    labels = {INPUT: -1, OUTPUT: -2, "conv3x3-bn-relu": 0, "conv1x1-bn-relu": 1, "maxpool3x3": 2}
    for i, spec in enumerate(specs):
        n = len(spec.ops)
        adjacency[i, :n, :n] = spec.matrix
        ops[i, :n] = [labels[op] for op in spec.ops]
    metrics = {}
    for name in ("final_validation_accuracy", "final_test_accuracy", "final_training_time"):
        values = embedded.metric(name, keys, epochs=5, reduce="none")
        scale = [b / 5 if "time" in name else BUDGET_SCALE[b] for b in PARTIAL_EPOCHS]
        metrics[name] = values[:, None, :] * np.asarray(scale)[None, :, None]
    if not low_budget_validation:
        metrics["final_validation_accuracy"][:, :-1] = np.nan
    if not training_time:
        del metrics["final_training_time"]
    NASBench.from_arrays(keys, adjacency, ops, metrics, epochs=PARTIAL_EPOCHS).save(path)
    return path


@pytest.fixture(scope="module")
def small_benchmark(tmp_path_factory) -> Path:
    return build_small(tmp_path_factory.mktemp("bench") / "small.npz")


def test_every_optimizer_is_registered_and_has_a_schema():
    names = sorted(OPTIMIZER_CONFIGS)
    assert names == OPTIMIZERS.list() == sorted(
        ["bananas", "bohb", "hyperband", "random_search", "re_prescreen",
         "regularized_evolution", "reinforce", "smac", "tpe"])
    for name in names:
        settings_from(config(f"optimizer={name}"))  # every default passes its own checks
        # the schema's keys are those the optimizer checks
        fields = {f.name for f in dataclasses.fields(OPTIMIZER_CONFIGS[name])} - {"name"}
        assert fields == set(get_optimizer(name).checks), name


def test_a_wrong_type_is_refused_by_hydra_before_the_run():
    with pytest.raises(ConfigCompositionException, match="optimizer.multivariate"):
        config("optimizer=tpe", "optimizer.multivariate=sometimes")


@pytest.mark.timeout(240)
@pytest.mark.parametrize("name", OPTIMIZERS.list())
def test_each_optimizer_runs_on_a_small_benchmark(name: str, small_benchmark: Path,
                                                  tmp_path: Path):
    trials = TRIALS.get(name, 60)
    result = run(config(f"optimizer={name}", f"benchmark.path={small_benchmark}",
                        f"trials={trials}"), tmp_path, echo=False)
    lines = [json.loads(x) for x in (tmp_path / "trajectory.jsonl").read_text().splitlines()]
    assert result.status == "finished" and result.trials == len(lines) == trials
    assert [r["trial"] for r in lines] == list(range(1, trials + 1))
    # cumulative simulated time is the sum of the costs (the queried runs' training time)
    assert np.allclose(np.cumsum([r["cost"] for r in lines]), [r["simulated_time"] for r in lines])
    assert result.simulated_time == pytest.approx(lines[-1]["simulated_time"])
    bench = NASBench(small_benchmark)
    regret = SpaceRegret(get_search_space(1), bench)
    for r in lines:
        # the cost and the error are one recorded run of the cell at the query's budget
        time = bench.metric("final_training_time", [r["cell"]], r["budget"], r["repeat"])[0]
        valid = bench.metric("final_validation_accuracy", [r["cell"]], r["budget"], r["repeat"])
        assert r["cost"] == pytest.approx(time) and r["error"] == pytest.approx(1 - valid[0])
        assert r["test_regret"] == pytest.approx(regret(r["incumbent"]))
    # the incumbent: lowest error among the queries at the largest budget queried so far
    for i, r in enumerate(lines):
        top = max(x["budget"] for x in lines[:i + 1])
        assert r["incumbent_budget"] == top
        assert r["incumbent_error"] == min(x["error"] for x in lines[:i + 1] if x["budget"] == top)
    budgets = {r["budget"] for r in lines}
    if name in ("bohb", "hyperband"):
        assert budgets == set(PARTIAL_EPOCHS)  # successive halving over 4, 12, 36, 108 epochs
    else:
        assert budgets == {108}
    summary = json.loads((tmp_path / "result.json").read_text())
    assert summary["final_test_regret"] == lines[-1]["test_regret"]
    assert summary["best_test_regret"] == min(r["test_regret"] for r in lines)
    assert summary["settings"]["optimizer"] == name


def test_same_seed_same_trajectory_other_seed_other(small_benchmark: Path, tmp_path: Path):
    for name in ("random_search", "regularized_evolution", "reinforce", "tpe", "hyperband"):
        cells = []
        for i, seed in enumerate((0, 0, 1)):
            run(config(f"optimizer={name}", f"benchmark.path={small_benchmark}", "trials=40",
                       f"seed={seed}"), tmp_path / f"{name}{i}", echo=False)
            text = (tmp_path / f"{name}{i}" / "trajectory.jsonl").read_text().splitlines()
            cells.append([(json.loads(x)["cell"], json.loads(x)["repeat"]) for x in text])
        assert cells[0] == cells[1], name
        assert cells[0] != cells[2], name


def test_time_budget_ends_with_the_query_that_crosses_it(small_benchmark: Path, tmp_path: Path):
    result = run(config("optimizer=random_search", f"benchmark.path={small_benchmark}",
                        "trials=null", "time_budget=2000"), tmp_path, echo=False)
    times = [r["simulated_time"] for r in result.history]
    assert times[-1] >= 2000 > times[-2]


def test_evolution_keeps_its_population_and_mutates_one_choice(small_benchmark: Path):
    space = get_search_space(1)
    objective = TabularObjective(space, NASBench(small_benchmark), trials=130)
    queried = []
    original = objective.evaluate

    def spy(arch, budget=None):
        error = original(arch, budget)  # a refused query raises before it is recorded
        queried.append(arch)
        return error

    objective.evaluate = spy
    with pytest.raises(BudgetExhausted):
        get_optimizer("regularized_evolution").run(
            objective, {"population_size": 100, "sample_size": 10}, 0, None)
    assert len(queried) == 130
    population = queried[:100]
    for child in queried[100:]:
        # each child differs from a member of the current population (its parent) in one choice
        distance = [sum(a != b for a, b in zip(child.ops, m.ops))
                    + sum(a != b for a, b in zip(child.parents, m.parents)) for m in population]
        assert 1 in distance
        population = population[1:] + [child]  # aging: the oldest leaves


@pytest.mark.parametrize(("overrides", "message"), [
    (["optimizer.eta=2"], "with eta=2 the budgets would be"),
    (["optimizer=regularized_evolution", "optimizer.sample_size=200"], "exceeds"),
    (["trials=null"], "set at least one budget"),
    (["trials=0"], "trials must be a positive integer"),
    (["trials=null", "time_budget=nan"], "time_budget must be a finite number"),
    (["time_budget=inf"], "time_budget must be a finite number"),
    (["optimizer.bandwidth_factor=inf"], "bandwidth_factor must be a finite number"),
    (["optimizer.min_budget=36", "optimizer.max_budget=12"], "min_budget 36 exceeds"),
    (["selection_metric=train_accuracy"], "unknown selection_metric"),
    (["search_space=4"], "unknown search space 4"),
    (["+optimizer.population=3"],
     "unknown key optimizer.population for bohb, expected one of name, eta, min_budget"),
    (["optimizer=tpe", "optimizer.n_ei_candidates=0"], "must be a positive integer"),
])
def test_bad_values_are_one_sentence(overrides, message, small_benchmark: Path, tmp_path: Path):
    cfg = config("optimizer=bohb", f"benchmark.path={small_benchmark}", *overrides)
    with pytest.raises(ValueError, match=message) as error:
        run(cfg, tmp_path, echo=False)
    assert "\n" not in str(error.value)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("name", ["hyperband", "bohb", "random_search"])
def test_a_failing_query_ends_the_run_in_one_sentence(name: str, tmp_path: Path):
    """HpBandSter swallows a worker's exception; the run must still stop (not loop for ever
    waiting for queries that never count) and say why."""
    table = build_small(tmp_path / "partial.npz", low_budget_validation=False,
                        training_time=name != "random_search")
    tracker = CountingTracker()
    with pytest.raises(ValueError, match="no validation_accuracy for cell .* at 4 epochs"
                       if name != "random_search" else "a time budget cannot be kept"):
        overrides = [] if name != "random_search" else ["time_budget=100"]
        run(config(f"optimizer={name}", f"benchmark.path={table}", "trials=50", *overrides),
            tmp_path / "run", tracker=tracker, echo=False)
    if name == "random_search":  # the table has no training time there: refused before query 1
        assert tracker.started == 0 and not (tmp_path / "run" / "trajectory.jsonl").exists()


class CountingTracker(Tracker):
    def __init__(self):
        self.started, self.logged, self.summary = 0, 0, None

    def start(self, config, run_dir):
        self.started += 1

    def log(self, record):
        self.logged += 1

    def finish(self, summary):
        self.summary = summary


def test_the_tracker_gets_every_query_once(small_benchmark: Path, tmp_path: Path):
    tracker = CountingTracker()
    result = run(config(f"benchmark.path={small_benchmark}", "trials=37"), tmp_path,
                 tracker=tracker, echo=False)
    assert (tracker.started, tracker.logged) == (1, 37)
    assert tracker.summary["final_test_regret"] == result.final_test_regret


def test_embedded_benchmark_is_space_1_only(tmp_path: Path):
    with pytest.raises(ValueError, match="lacks .* cells of search space 2"):
        run(config("search_space=2"), tmp_path, echo=False)


def test_a_finished_run_is_not_run_again_and_other_settings_are_refused(tmp_path: Path):
    first = run(config("trials=30"), tmp_path, echo=False)
    again = run(config("trials=30"), tmp_path, echo=False)
    assert again.history == first.history and again.wall_time == first.wall_time
    with pytest.raises(ValueError, match=r"a blackbox run with other settings \(trials=31"):
        run(config("trials=31"), tmp_path, echo=False)


def _script() -> str:
    return shutil.which("nb1s1-blackbox")


@pytest.mark.timeout(240)
def test_app_run_rerun_and_multirun(tmp_path: Path):
    env = {**os.environ, "WANDB_MODE": "disabled"}
    done = subprocess.run([_script(), "trials=50", "logger=none", f"hydra.run.dir={tmp_path}/one"],
                          capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0, done.stderr
    assert "finished: regularized_evolution on space 1 made 50 queries" in done.stdout
    assert len((tmp_path / "one" / "trajectory.jsonl").read_text().splitlines()) == 50
    again = subprocess.run([_script(), "trials=50", "logger=none", f"hydra.run.dir={tmp_path}/one"],
                           capture_output=True, text=True, timeout=120, env=env)
    assert again.returncode == 0 and "finished: nothing is run again (50 queries" in again.stdout
    multi = subprocess.run(
        [_script(), "--multirun", "optimizer=random_search,reinforce", "seed=0,1", "trials=20",
         "logger=none", f"hydra.sweep.dir={tmp_path}/sweep"],
        capture_output=True, text=True, timeout=180, env=env)
    assert multi.returncode == 0, multi.stderr
    results = sorted(p.relative_to(tmp_path / "sweep").parts[:3]
                     for p in (tmp_path / "sweep").rglob("result.json"))
    assert results == [(o, "space1", f"seed{s}") for o in ("random_search", "reinforce")
                       for s in (0, 1)]
    bad = subprocess.run([_script(), "trials=0", f"hydra.run.dir={tmp_path}/bad"],
                         capture_output=True, text=True, timeout=120, env=env)
    assert bad.returncode == 1 and "Traceback" not in bad.stderr
    assert "nb1s1-blackbox: error: trials must be a positive integer, got 0" in bad.stderr


def test_wandb_offline_mirrors_the_trajectory(tmp_path: Path, monkeypatch):
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.setenv("WANDB_SILENT", "true")
    tracker = WandbTracker(mode="offline", step_metric="trial", job_type="blackbox")
    run(config("trials=25"), tmp_path, tracker=tracker, echo=False)
    runs = list((tmp_path / "wandb").glob("offline-run-*/run-*.wandb"))
    assert len(runs) == 1 and runs[0].stat().st_size > 0


@pytest.mark.timeout(240)
def test_regularized_evolution_beats_random_search_on_the_real_table(partial_benchmark):
    """20 seeds, 300 queries each, on the real NAS-Bench-101 figures. The partial table has
    validation accuracy for few cells but test accuracy for all, so this test (and only this
    one) selects by test accuracy; regret is measured on the same test accuracy."""
    finals = {}
    for number in list_spaces():
        space = get_search_space(number)
        for name, params in (("random_search", {}),
                             ("regularized_evolution", {"population_size": 100,
                                                        "sample_size": 10})):
            values = []
            for seed in range(20):
                objective = TabularObjective(space, partial_benchmark, seed=seed,
                                             selection_metric="test_accuracy", trials=300)
                with pytest.raises(BudgetExhausted):
                    get_optimizer(name).run(objective, params, seed, None)
                assert len(objective.history) == 300
                values.append(objective.history[-1]["test_regret"])
            finals[number, name] = float(np.mean(values))
    for number in list_spaces():
        assert finals[number, "regularized_evolution"] <= finals[number, "random_search"], finals
    assert finals[3, "regularized_evolution"] < finals[3, "random_search"], finals


def test_a_time_budget_run_stops_at_the_query_cap_and_says_so(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch):
    import importlib

    monkeypatch.setattr(importlib.import_module("nasbench1shot1.blackbox.run"), "MAX_TRIALS", 50)
    result = run(config("trials=null", "time_budget=1e12", "optimizer=random_search"), tmp_path,
                 echo=False)
    assert result.trials == 50
    assert result.reason.startswith("stopped at the cap of 50 queries")
    assert json.loads((tmp_path / "result.json").read_text())["reason"] == result.reason


def test_settings_from_a_plain_dict_as_run_dirs_store_them():
    stored = {"optimizer": {"name": "random_search"}, "benchmark": "embedded", "trials": 10}
    settings = settings_from(stored)
    assert (settings.optimizer, settings.benchmark, settings.trials) == (
        "random_search", "embedded", 10)
    assert settings_from({**stored, "benchmark": "/data/nb.tfrecord"}).benchmark == \
        "/data/nb.tfrecord"


@pytest.mark.parametrize(("overrides", "sentence"), [
    (["optimizer=regularized_evolution", "trials=50"],
     "regularized_evolution with trials=50 <= optimizer.population_size=100 never mutates"),
    (["optimizer=re_prescreen", "trials=20", "optimizer.warmup=50"],
     "re_prescreen with trials=20 <= optimizer.population_size=100 never mutates"),
    (["optimizer=hyperband", "trials=30"],  # the embedded benchmark has one epoch budget
     "hyperband with a single epoch budget (5; the benchmark has 5) has no successive halving"),
])
def test_settings_that_make_an_optimizer_degenerate_are_warned(overrides, sentence, tmp_path,
                                                               caplog):
    with caplog.at_level(logging.WARNING, logger="nasbench1shot1.blackbox.run"):
        run(config(*overrides), tmp_path, echo=False)
    assert any(sentence in r.getMessage() for r in caplog.records)


def test_no_warning_when_the_optimizer_works_as_meant(small_benchmark: Path, tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="nasbench1shot1.blackbox.run"):
        run(config("optimizer=hyperband", f"benchmark.path={small_benchmark}", "trials=20"),
            tmp_path, echo=False)
    assert not [r for r in caplog.records if r.name == "nasbench1shot1.blackbox.run"]
