"""The correlation study measures something: each cell is scored with batch-norm statistics of
its own (recalibrated or of the batch), the supernet's stored state is untouched by scoring, the
criteria are reported for every batch-norm mode, and their spread over seeds."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from nasbench1shot1.checks import _bf16_supported
from nasbench1shot1.config import compose
from nasbench1shot1.correlation import correlation, correlation_over_seeds, score_cells
from nasbench1shot1.models.batchnorm import BN_MODES, batch_norms
from nasbench1shot1.search import build_search, run
from nasbench1shot1.spaces import cell_architectures

# the default setup (DARTS, digits, embedded benchmark) with a small supernet: 6 epochs train it
# (one-shot validation accuracy about 0.7) in a few seconds
SMALL = ["logger=none", "progress=false", "supernet.channels=4", "supernet.num_cells=3",
         "device=cpu"]
EPOCHS = 6
STUDY = {"samples": 30, "batches": 2, "calibration_batches": 2}


def _state(model: torch.nn.Module) -> dict:
    return {
        "tensors": {k: v.clone() for k, v in model.state_dict().items()},
        "bn": [(bn.momentum, bn.track_running_stats) for bn in batch_norms(model)],
        "training": [m.training for m in model.modules()],
    }


@pytest.fixture(scope="module")
def search():
    """A built search whose running statistics were moved off their initial values."""
    search = build_search(compose("search", overrides=[*SMALL, "seed=3"]), echo=False)
    search.model.train()
    with torch.no_grad():
        for batch in search.weight_batches()[:2]:
            search.model(batch.images, search.method.eval_weights())
    return search


@pytest.mark.parametrize("bn", BN_MODES)
@pytest.mark.parametrize("training", [True, False])
def test_scoring_leaves_the_stored_state_as_it_was(search, bn: str, training: bool):
    cells = list(cell_architectures(search.space).values())[:3]
    generator = torch.Generator().manual_seed(0)
    valid = search.arch_batches(generator=generator)[:1]
    calibration = search.weight_batches(generator=generator)[:2]
    search.model.train(training)
    before = _state(search.model)
    scores = score_cells(search.method, cells, valid, bn, calibration)
    after = _state(search.model)
    assert scores.shape == (3,) and ((scores >= 0) & (scores <= 1)).all()
    # restored by copy: the same values, not values that are merely close
    assert before["tensors"].keys() == after["tensors"].keys()
    assert all(torch.equal(before["tensors"][k], after["tensors"][k]) for k in before["tensors"])
    assert before["bn"] == after["bn"] and before["training"] == after["training"]


def test_recalibrating_on_the_scored_batch_agrees_with_batch_statistics(search):
    """One calibration batch that is the scored batch: the recalibrated running statistics are
    that batch's statistics (up to the unbiased variance), so the scores agree with `batch`."""
    cells = list(cell_architectures(search.space).values())[::500][:8]
    valid = search.arch_batches(generator=torch.Generator().manual_seed(1))[:1]
    recalibrated = score_cells(search.method, cells, valid, "recalibrate", valid)
    batch = score_cells(search.method, cells, valid, "batch")
    assert np.abs(recalibrated - batch).max() <= 0.05


@pytest.mark.skipif(not _bf16_supported(torch.device("cpu")),
                    reason="this CPU has no bfloat16 support (AVX512-BF16 or AMX)")
def test_cells_are_scored_in_the_precision_the_search_ran_in():
    """A bf16 search's supernet is scored under its autocast (its convolutions compute in
    bfloat16), as the search scores cells (method.score): both give the same accuracies."""
    search = build_search(compose("search", [*SMALL, "train.precision=bf16"]), echo=False)
    cells = list(cell_architectures(search.space).values())[::700][:6]
    valid = search.arch_batches(generator=torch.Generator().manual_seed(2))[:2]
    dtypes = set()
    conv = next(m for m in search.model.modules() if isinstance(m, torch.nn.Conv2d))
    hook = conv.register_forward_hook(lambda module, inputs, output: dtypes.add(output.dtype))
    scores = score_cells(search.method, cells, valid, "recalibrate", valid)
    hook.remove()
    assert dtypes == {torch.bfloat16}
    assert score_cells(search.method, cells, valid, "running").tolist() == [
        search.method.score(cell, valid) for cell in cells]
    assert ((scores >= 0) & (scores <= 1)).all()


def test_bad_modes_and_missing_batches_are_one_sentence(search):
    cells = list(cell_architectures(search.space).values())[:1]
    valid = search.arch_batches()[:1]
    with pytest.raises(ValueError, match="unknown batch-norm mode 'eval', expected one of "
                                         "recalibrate, batch, running"):
        score_cells(search.method, cells, valid, "eval")
    with pytest.raises(ValueError, match="'recalibrate' needs at least one calibration batch"):
        score_cells(search.method, cells, valid, "recalibrate")
    with pytest.raises(ValueError, match="unknown batch-norm mode 'Batch'"):
        correlation("nowhere", bn="Batch")
    with pytest.raises(ValueError, match="calibration_batches must be a positive integer, got 0"):
        correlation("nowhere", calibration_batches=0)
    with pytest.raises(ValueError, match="needs at least one run dir"):
        correlation_over_seeds([])


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> list[Path]:
    """Two short default searches (seeds 0 and 1) of the small supernet."""
    run_dirs = []
    for seed in (0, 1):
        run_dir = tmp_path_factory.mktemp(f"seed{seed}")
        run(compose("search", overrides=[*SMALL, f"train.epochs={EPOCHS}", f"seed={seed}"]),
            run_dir, echo=False)
        run_dirs.append(run_dir)
    return run_dirs


def test_a_trained_supernet_scores_cells_far_from_chance_with_their_own_statistics(
        trained: list[Path]):
    summary = correlation_over_seeds(trained, **STUDY)
    assert summary["runs"] == 2 and summary["seeds"] == [0, 1] and summary["cells"] == 30
    assert summary["chance_accuracy"] == pytest.approx(0.1)
    for run_dir in trained:
        study = json.loads((run_dir / "correlation.json").read_text())
        # what the analysis reads: the top-level criteria and per-cell score of the chosen mode
        assert study["bn"] == "recalibrate" and study["calibration_batches"] == 2
        assert {"spearman", "kendall_tau", "pearson", "precision@10"} <= study.keys()
        assert set(study["by_bn"]) == set(BN_MODES)
        assert study["spearman"] == study["by_bn"]["recalibrate"]["spearman"]
        scores = {m: np.array([c["one_shot_valid_accuracy_by_bn"][m] for c in study["scores"]])
                  for m in BN_MODES}
        chosen = np.array([c["one_shot_valid_accuracy"] for c in study["scores"]])
        assert np.array_equal(chosen, scores["recalibrate"])

        def top_quarter(s: np.ndarray) -> float:
            return float(np.sort(s)[-len(s) // 4:].mean())

        # The shared running statistics leave every cell near chance; its own statistics lift
        # the cells the supernet can express far above it (most DARTS cells stay near chance:
        # see the README's correlation study).
        assert scores["running"].max() < 0.25
        assert scores["recalibrate"].max() > 0.3
        assert top_quarter(scores["recalibrate"]) > top_quarter(scores["running"]) + 0.1
        assert scores["recalibrate"].mean() > scores["running"].mean() + 0.02
        assert (run_dir / "correlation.png").stat().st_size > 1000
    for mode in BN_MODES:
        for name in ("spearman", "kendall_tau", "mean_score"):
            spread = summary["by_bn"][mode][name]
            assert len(spread["values"]) == 2 and spread["std"] is not None
            assert spread["mean"] == pytest.approx(np.mean(spread["values"]))
            assert spread["std"] == pytest.approx(np.std(spread["values"], ddof=1))
    assert summary["spearman"] == summary["by_bn"]["recalibrate"]["spearman"]
    # ranking by the cells' own statistics beats the shared ones on average over seeds
    assert summary["by_bn"]["recalibrate"]["spearman"]["mean"] > \
        summary["by_bn"]["running"]["spearman"]["mean"]


def test_the_study_over_seeds_refuses_runs_of_different_methods(trained: list[Path],
                                                                tmp_path: Path):
    other = tmp_path / "gdas"
    run(compose("search", overrides=[*SMALL, "train.epochs=1", "method=gdas"]), other,
        echo=False)
    with pytest.raises(ValueError, match=r"the runs differ in method or search space"):
        correlation_over_seeds([trained[0], other], **STUDY)
    assert not (other / "correlation.json").exists()  # refused before any study ran
