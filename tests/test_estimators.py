"""The estimator interface, the learning-curve and one-shot families, and nb1s1-estimate: the
cells it judges, its files, costs, resume and refusals (zero-cost proxies and model-based
predictors: tests/test_estimators_zero_cost.py, tests/test_estimators_predictors.py)."""

import json
import shutil
import subprocess
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from conftest import small_specs

from nasbench1shot1.conf.estimate import EstimateSettings
from nasbench1shot1.conf.estimator import EarlyStoppingConfig, LearningCurveConfig, OneShotConfig
from nasbench1shot1.estimators import ESTIMATORS, FAMILIES, Context
from nasbench1shot1.estimators.learning_curve import extrapolate
from nasbench1shot1.estimators.run import estimate, split
from nasbench1shot1.nasbench import NASBench
from nasbench1shot1.runfiles import ESTIMATE_FILE, PARTIAL_SCORES_FILE, SCORES_FILE, RunDirError


def test_every_estimator_has_a_family_and_a_settings_option():
    from nasbench1shot1.conf.estimator import ESTIMATOR_CONFIGS

    for name, cls in ESTIMATORS.items():
        assert cls.family in FAMILIES
        # stand-ins other tests register live in their test modules
        assert name in ESTIMATOR_CONFIGS or cls.__module__.startswith("test_"), name
    assert {"early_stopping", "learning_curve", "one_shot"} <= set(ESTIMATORS)


def test_the_power_law_is_extrapolated_exactly():
    budgets = [4, 12, 36]
    curves = [(0.95, 0.5, 0.7), (0.9, 0.2, 1.5), (0.8, 0.6, 0.3)]
    values = np.array([[c - a * e ** -alpha for e in budgets] for c, a, alpha in curves])
    expected = [c - a * 108 ** -alpha for c, a, alpha in curves]
    assert extrapolate(budgets, values, 108) == pytest.approx(expected, abs=2e-3)
    values[1, 0] = np.nan
    assert np.isnan(extrapolate(budgets, values, 108)[1])


def _context(benchmark, **kwargs) -> Context:
    return Context(benchmark=benchmark, epochs=max(benchmark.epochs), seed=0, **kwargs)


def test_early_stopping_reads_the_smaller_budget_and_counts_its_cost(full_file: Path):
    benchmark = NASBench(full_file)
    specs = small_specs()
    hashes = [s.hash_spec() for s in specs]
    estimator = ESTIMATORS.create("early_stopping", EarlyStoppingConfig(epochs=12),
                                  _context(benchmark))
    estimator.run_fit()
    scores = estimator.run_score(specs)
    assert scores == pytest.approx(
        benchmark.metric("final_validation_accuracy", np.array(hashes), epochs=12))
    assert estimator.cost.query_simulated_seconds == pytest.approx(float(np.sum(
        benchmark.metric("final_training_time", np.array(hashes), epochs=12))))
    assert estimator.cost.cells_scored == len(specs) and estimator.cost.init_queries == 0
    curve = ESTIMATORS.create("learning_curve", LearningCurveConfig(), _context(benchmark))
    curve.run_fit()
    assert np.isfinite(curve.run_score(specs)).all()


def test_a_benchmark_without_the_budget_is_one_sentence(only108_file: Path):
    benchmark = NASBench(only108_file)
    with pytest.raises(ValueError, match=r"^estimator early_stopping needs the benchmark's "
                                         r"accuracy at 12 epochs; this benchmark has 108"):
        ESTIMATORS.create("early_stopping", EarlyStoppingConfig(), _context(benchmark)).fit()
    with pytest.raises(ValueError, match="at least two distinct budgets"):
        ESTIMATORS.create("learning_curve", LearningCurveConfig(epochs=[4]),
                          _context(NASBench(only108_file))).fit()


def _settings(**values) -> EstimateSettings:
    return EstimateSettings(**{"estimator": EarlyStoppingConfig(), "search_space": "all",
                               "cells": None, "threads": 1, "progress": False, **values})


def _with_benchmark(settings: EstimateSettings, path: Path) -> EstimateSettings:
    from nasbench1shot1.conf.data import BenchmarkConfig

    return replace(settings, benchmark=BenchmarkConfig.at(str(path)))


def test_an_estimate_writes_its_criteria_costs_and_scores_and_is_not_run_twice(
        full_file: Path, tmp_path: Path):
    settings = _with_benchmark(_settings(), full_file)
    run_dir = tmp_path / "run"
    result = estimate(settings, run_dir, echo=False)
    stored = json.loads((run_dir / ESTIMATE_FILE).read_text())
    assert stored == result
    assert result["cells"] == 5 and result["family"] == "learning_curve"
    # the small file's validation and test accuracy grow alike with the cell: a perfect ranking
    assert result["kendall_tau"] == pytest.approx(1.0) and result["spearman"] == pytest.approx(1)
    # K = 5 % of the cells; K = 10 needs at least 10 cells
    assert {"precision@0.05", "best_rank@0.05"} <= set(result) and "precision@10" not in result
    assert result["cost"]["cells_scored"] == 5 and result["cost"]["query_simulated_seconds"] > 0
    with np.load(run_dir / SCORES_FILE, allow_pickle=False) as scores:
        assert len(scores["hashes"]) == len(scores["scores"]) == len(scores["truth"]) == 5
    assert not (run_dir / PARTIAL_SCORES_FILE).exists()
    before = {p.name: p.stat().st_mtime_ns for p in run_dir.iterdir() if p.name != "run.lock"}
    again = estimate(settings, run_dir, echo=False)
    assert again == result
    assert {p.name: p.stat().st_mtime_ns for p in run_dir.iterdir()
            if p.name != "run.lock"} == before
    with pytest.raises(RunDirError, match="other settings"):
        estimate(replace(settings, seed=1), run_dir, echo=False)


def test_an_estimate_called_from_python_resolves_device_auto(tmp_path: Path):
    """estimate() itself, not only nb1s1-estimate, runs device=auto (CUDA when present)."""
    from nasbench1shot1.conf.estimator import ZeroCostConfig

    settings = EstimateSettings(estimator=ZeroCostConfig(name="params"), cells=5,
                                device="auto", threads=1, progress=False)
    result = estimate(settings, tmp_path, echo=False)
    assert result["cost"]["cells_scored"] == 5


def test_a_stopped_estimate_goes_on_from_its_scores(full_file: Path, tmp_path: Path,
                                                    monkeypatch):
    import nasbench1shot1.estimators.run as run_module

    settings = _with_benchmark(_settings(), full_file)
    monkeypatch.setattr(run_module, "CHUNK", 2)
    calls = []
    original = ESTIMATORS.get("early_stopping").score

    def failing(self, specs):
        calls.append(len(specs))
        if len(calls) == 2:
            raise KeyboardInterrupt
        return original(self, specs)

    monkeypatch.setattr(ESTIMATORS.get("early_stopping"), "score", failing)
    with pytest.raises(KeyboardInterrupt):
        estimate(settings, tmp_path, echo=False)
    with np.load(tmp_path / PARTIAL_SCORES_FILE, allow_pickle=False) as kept:
        assert len(kept["scores"]) == 2
    monkeypatch.setattr(ESTIMATORS.get("early_stopping"), "score", original)
    counted = []
    monkeypatch.setattr(ESTIMATORS.get("early_stopping"), "score",
                        lambda self, specs: counted.append(len(specs)) or original(self, specs))
    result = estimate(settings, tmp_path, echo=False)
    assert counted == [2, 1]  # the 3 cells left, in chunks of 2
    assert result["kendall_tau"] == pytest.approx(1.0)


def test_the_cells_and_the_training_cells_never_meet():
    hashes = np.asarray([f"{i:032x}" for i in range(100)])
    settings = _settings(cells=30, train_size=50, seed=3)
    test, train = split(settings, hashes, "model_based")
    assert len(test) == 30 and len(train) == 50 and not set(test) & set(train)
    assert split(settings, hashes, "model_based") == (test, train)  # the seed decides
    assert split(settings, hashes, "zero_cost") == (test, [])
    with pytest.raises(ValueError, match=r"^cells=300 is more than the 100 cells of all of the "
                                         r"benchmark with a test accuracy"):
        split(replace(settings, cells=300), hashes, "zero_cost")
    with pytest.raises(ValueError, match=r"^train_size=80 is more than the 70 cells of all of "
                                         r"the benchmark left beside the 30 test cells"):
        split(replace(settings, train_size=80), hashes, "model_based")


@pytest.mark.timeout(300)
def test_nb1s1_estimate_runs_a_one_shot_estimator(tmp_path: Path):
    script = shutil.which("nb1s1-estimate") or pytest.fail("nb1s1-estimate is not installed")
    done = subprocess.run(
        [script, "estimator=one_shot", "estimator.epochs=1", "cells=20", "logger=none",
         "progress=false", 'estimator.search=["supernet.channels=4","supernet.num_cells=3"]',
         f"hydra.run.dir={tmp_path}"], capture_output=True, text=True, timeout=280)
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.strip().splitlines()
    assert "estimator one_shot on 20 cells of search space 1, seed 0" in lines[0]
    assert "one_shot (one_shot) on 20 cells of space 1: Kendall tau" in lines[-1]
    result = json.loads((tmp_path / ESTIMATE_FILE).read_text())
    assert result["cells"] == 20 and result["cost"]["init_seconds"] > 0
    assert (tmp_path / "supernet" / "checkpoint.pt").is_file()  # the supernet's own run dir
    bad = subprocess.run([script, "cells=0", f"hydra.run.dir={tmp_path}/bad"],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 1
    assert bad.stderr.strip().splitlines()[-1] == \
        "nb1s1-estimate: error: cells must be a positive integer, got 0"
    assert not (tmp_path / "bad").exists()


def test_one_shot_refuses_all_of_nas_bench_101(full_file: Path):
    estimator = ESTIMATORS.create("one_shot", OneShotConfig(), _context(NASBench(full_file)))
    with pytest.raises(ValueError, match="not all of NAS-Bench-101"):
        estimator.fit()


def test_analyze_draws_and_tabulates_estimates(full_file: Path, tmp_path: Path):
    from nasbench1shot1.analysis import analyze

    for seed in (0, 1):
        settings = _with_benchmark(_settings(seed=seed), full_file)
        estimate(settings, tmp_path / f"seed{seed}", echo=False)
    # a search run inside an estimate's dir (a one-shot estimator's supernet) is part of it
    (tmp_path / "seed0" / "supernet").mkdir()
    (tmp_path / "seed0" / "supernet" / "result.json").write_text('{"kind": "search"}')
    report = analyze([tmp_path], tmp_path / "analysis")
    assert report["runs"]["estimate"] == 2 and report["runs"]["search"] == 0
    assert not [s for s in report["skipped"] if "supernet" in s[0]]
    written = {Path(p).name for p in report["written"]}
    assert {"estimators.png", "estimator_bias.png", "summary.md"} <= written
    summary = (tmp_path / "analysis" / "summary.md").read_text()
    row = next(line for line in summary.splitlines() if line.startswith("| early_stopping"))
    assert "| 2 (0, 1) | 5 cells | 1.0000 ± 0.0000 |" in row  # two seeds, Kendall tau 1
