"""nb1s1-search and nb1s1-blackbox under a Hydra sweeper: what they return is a validation figure
(`objective`), never a test figure unless asked for, and a real Optuna sweep
(hydra-optuna-sweeper) selects on it."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from nasbench1shot1.blackbox_app import run_blackbox
from nasbench1shot1.config import compose
from nasbench1shot1.search import RunResult
from nasbench1shot1.search_app import WORST, objective_of


def _result(**values) -> RunResult:
    base = dict(status="finished", method="darts", search_space=1, seed=0, epochs=2,
                epochs_done=2, final_validation_error=0.3, final_test_regret=0.1,
                history=[{"valid_accuracy": 0.8}])
    return RunResult(**{**base, **values})


def test_the_search_returns_the_validation_figure_it_is_asked_for():
    result = _result()
    assert compose("search").objective == "validation_error"  # the default: no test data
    assert objective_of(result, "validation_error") == 0.3
    assert objective_of(result, "one_shot_validation_error") == pytest.approx(0.2)
    assert objective_of(result, "test_regret") == 0.1


@pytest.mark.parametrize("objective", ["validation_error", "one_shot_validation_error",
                                       "test_regret"])
def test_a_run_without_the_figure_returns_the_worst_value(objective: str):
    """A sweeper needs a number from every trial: a diverged run (or a final cell without a
    benchmark value) gives the worst error, as BOHB's loss of such a run."""
    diverged = _result(status="diverged", reason="the training loss became nan in epoch 1",
                       history=[], final_validation_error=None, final_test_regret=None)
    assert objective_of(diverged, objective) == WORST
    no_value = _result(final_validation_error=float("nan"), final_test_regret=None)
    assert objective_of(no_value, "validation_error") == WORST


def test_the_blackbox_app_returns_the_incumbents_error_by_default(tmp_path: Path, monkeypatch):
    from hydra.core.hydra_config import HydraConfig

    cfg = compose("blackbox", ["logger=none", "trials=30", "optimizer=random_search"])

    class Runtime:
        output_dir = str(tmp_path)

    monkeypatch.setattr(HydraConfig, "get", staticmethod(lambda: type(
        "H", (), {"runtime": Runtime})()))
    value = run_blackbox(cfg)
    stored = json.loads((tmp_path / "result.json").read_text())
    assert value == stored["incumbent_error"] != stored["final_test_regret"]


@pytest.mark.timeout(600)
def test_an_optuna_sweep_selects_on_the_validation_error(tmp_path: Path):
    pytest.importorskip("hydra_plugins.hydra_optuna_sweeper",
                        reason="the optional plugin hydra-optuna-sweeper is not installed")
    script = shutil.which("nb1s1-search") or str(Path(sys.executable).parent / "nb1s1-search")
    done = subprocess.run(
        [script, "-m", "hydra/sweeper=optuna", "hydra.sweeper.n_trials=3",
         "hydra.sweeper.sampler.seed=0", "train.learning_rate=interval(0.01,0.1)",
         "logger=none", "train.epochs=2", "supernet.channels=4", "supernet.num_cells=3",
         "progress=false", f"hydra.sweep.dir={tmp_path}"],
        capture_output=True, text=True, timeout=540, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    best = OmegaConf.load(tmp_path / "optimization_results.yaml")
    results = [json.loads(p.read_text()) for p in tmp_path.glob("darts/**/result.json")]
    assert len(results) == 3
    validation = [r["final_validation_error"] for r in results]
    assert best["best_value"] == pytest.approx(min(validation))
    chosen = min(results, key=lambda r: r["final_validation_error"])
    assert best["best_params"]["train.learning_rate"] == pytest.approx(
        chosen["settings"]["train"]["learning_rate"])
