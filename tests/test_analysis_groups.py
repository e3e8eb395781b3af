"""`nb1s1 analyze` never mixes settings: runs are grouped by every setting but the seed, a seed
counts once, groups whose seeds ran for different lengths are warned about, and every series of a
figure can be told apart (fake run dirs with known numbers, as in test_analysis.py)."""

import csv
import json
import logging
import shutil
from pathlib import Path

import pytest
from test_analysis import blackbox_run, search_run

from nasbench1shot1.analysis import analyze, figures, find_runs
from nasbench1shot1.analysis.runs import group_runs


def search_settings(seed: int, epochs: int = 3, unrolled: bool = False, **other) -> dict:
    """Settings as SearchSettings.as_dict stores them in result.json."""
    return {"search_space": 1, "method": {"name": "darts", "unrolled": unrolled},
            "benchmark": "embedded", "train": {"epochs": epochs, "batch_size": 96},
            "seed": seed, "device": "cpu", "threads": 1, "restart": False, "progress": False,
            "objective": "validation_error", **other}


def blackbox_settings(seed: int, trials: int | None = 100, **params) -> dict:
    """Settings as BlackboxSettings.as_dict stores them in result.json."""
    return {"optimizer": "regularized_evolution", "params": params, "search_space": 1,
            "seed": seed, "benchmark": "embedded", "trials": trials, "time_budget": None,
            "selection_metric": "valid"}


@pytest.fixture
def drawn(monkeypatch) -> dict:
    """What each figure held when it was saved: its visible axes (the figure stays open)."""
    held = {}
    save = figures._save

    def spy(fig, stem):
        held[stem.name] = [ax for ax in fig.axes if ax.get_visible()]
        return save(fig, stem)

    monkeypatch.setattr(figures, "_save", spy)
    return held


def _series(ax) -> list:
    return [line for line in ax.lines if not line.get_label().startswith("_")]


def _rows(out: Path) -> list[dict]:
    return list(csv.DictReader((out / "summary.csv").open()))


def test_runs_of_other_settings_are_other_groups(tmp_path: Path, drawn: dict):
    root = tmp_path / "runs"
    for seed, regrets in ((0, [0.3, 0.2, 0.1]), (1, [0.3, 0.2, 0.3])):
        search_run(root, "darts", 1, seed, regrets, name="e3",
                   settings=search_settings(seed, device="cuda" if seed else "cpu"))
    search_run(root, "darts", 1, 0, [0.4] * 5, settings=search_settings(0, epochs=5),
               name="e5")
    search_run(root, "darts", 1, 0, [0.5] * 3, settings=search_settings(0, unrolled=True),
               name="second_order")
    # how a run ran (device, threads, progress, objective, restart) does not split a group
    search_run(root, "darts", 1, 2, [0.3, 0.2, 0.2], name="e3-threads", settings=search_settings(
        2, threads=4, progress=True, objective="test_regret", restart=True))
    for seed in (0, 1):
        blackbox_run(root, "regularized_evolution", 1, seed, [0.02] * 5, name="t5",
                     settings=blackbox_settings(seed, trials=5))
    blackbox_run(root, "regularized_evolution", 1, 0, [0.03] * 3, name="t3",
                 settings=blackbox_settings(0, trials=3))
    blackbox_run(root, "regularized_evolution", 1, 1, [0.03] * 3, name="t3-small",
                 settings=blackbox_settings(1, trials=3, population_size=2))
    groups = group_runs(find_runs([root]).search)
    assert [(g.label, g.seeds) for g in groups] == [
        ("method.unrolled=false, train.epochs=3", [0, 1, 2]),
        ("method.unrolled=false, train.epochs=5", [0]),
        ("method.unrolled=true, train.epochs=3", [0])]
    report = analyze([root], tmp_path / "out")
    assert not report["warnings"]
    assert {what for what, _ in report["skipped"]} == {"correlation", "hpo_incumbents",
                                                      "estimators", "estimator_bias"}
    rows = {(r["kind"], r["settings"]): r for r in _rows(tmp_path / "out")}
    e3 = rows["one-shot", "method.unrolled=false, train.epochs=3"]
    assert (e3["runs"], e3["seeds"], e3["length"]) == ("3", "0 1 2", "3 epochs")
    assert float(e3["final_regret_mean"]) == pytest.approx(0.2)
    assert rows["one-shot", "method.unrolled=false, train.epochs=5"]["length"] == "5 epochs"
    assert {k: r["runs"] for k, r in rows.items() if k[0] == "black-box"} == {
        ("black-box", "optimizer.population_size=unset, trials=5"): "2",
        ("black-box", "optimizer.population_size=unset, trials=3"): "1",
        ("black-box", "optimizer.population_size=2, trials=3"): "1"}
    # one line per group, its label naming the settings that differ and the seeds
    labels = [line.get_label() for line in _series(drawn["search_regret"][0])]
    assert labels == ["darts, method.unrolled=false, train.epochs=3 (seeds 0, 1, 2)",
                      "darts, method.unrolled=false, train.epochs=5 (seed 0)",
                      "darts, method.unrolled=true, train.epochs=3 (seed 0)"]
    assert len(_series(drawn["blackbox_regret"][0])) == 3 + 3  # and the searches as references
    markdown = (tmp_path / "out" / "summary.md").read_text()
    assert ("| one-shot | darts | 1 | method.unrolled=false, train.epochs=3 | 3 (0, 1, 2) | "
            "3 epochs | 0.2000 ± 0.0816 |") in markdown


def test_a_seed_counts_once_and_the_copy_is_reported(tmp_path: Path):
    root = tmp_path / "runs"
    first = search_run(root, "darts", 1, 0, [0.2, 0.1], settings=search_settings(0, epochs=2))
    search_run(root, "darts", 1, 1, [0.2, 0.3], settings=search_settings(1, epochs=2))
    copy = shutil.copytree(first, tmp_path / "elsewhere" / "seed0")
    box = blackbox_run(root, "random_search", 1, 0, [0.02, 0.01], settings=blackbox_settings(0))
    box_copy = shutil.copytree(box, tmp_path / "elsewhere" / "box")
    runs = find_runs([root, tmp_path / "elsewhere"])
    assert sorted(r.seed for r in runs.search) == [0, 1] and len(runs.blackbox) == 1
    skipped = dict(runs.skipped)
    assert set(skipped) == {copy, box_copy} or set(skipped) == {first, box}
    assert all("same settings and seed (0)" in why and "a seed counts once" in why
               for why in skipped.values())
    report = analyze([root, tmp_path / "elsewhere"], tmp_path / "out")
    assert report["runs"]["search"] == 2
    assert any("a seed counts once" in why for _, why in report["skipped"])
    darts = [r for r in _rows(tmp_path / "out") if r["kind"] == "one-shot"][0]
    assert (darts["runs"], darts["seeds"]) == ("2", "0 1")
    assert float(darts["final_regret_std"]) == pytest.approx(0.1)  # over seeds 0 and 1 only


def test_runs_of_different_length_are_warned_about_and_drawn_whole(tmp_path: Path, drawn: dict,
                                                                   caplog):
    # results of an earlier version hold no settings: the runs share a group
    search_run(tmp_path, "gdas", 1, 0, [0.3, 0.2, 0.1])
    search_run(tmp_path, "gdas", 1, 1, [0.3, 0.2, 0.2, 0.1, 0.05])
    for seed, regrets in ((0, [0.02] * 4), (1, [0.03] * 6)):
        blackbox_run(tmp_path, "tpe", 1, seed, regrets,
                     settings=blackbox_settings(seed, trials=None))
    with caplog.at_level(logging.WARNING, logger="nasbench1shot1.analysis"):
        report = analyze([tmp_path], tmp_path / "out")
    assert len(report["warnings"]) == 2
    search, blackbox = sorted(report["warnings"], key=lambda w: not w.startswith("search"))
    assert "gdas on space 1: its runs differ in length (seed 0: 3, seed 1: 5 epochs)" in search
    assert "(seed 0: 4, seed 1: 6 trials)" in blackbox
    assert [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING] == \
        report["warnings"]
    lengths = {r["kind"]: r["length"] for r in _rows(tmp_path / "out")}
    assert lengths == {"one-shot": "3-5 epochs", "black-box": "4-6 trials"}
    # the mean where both seeds have the epoch, and each seed whole (nothing cut away)
    mean, *seeds = drawn["search_regret"][0].lines
    assert mean.get_xdata().tolist() == [1, 2, 3, 4, 5]
    assert [x for x, y in zip(mean.get_xdata(), mean.get_ydata()) if y == y] == [1, 2, 3]
    assert [t.get_xdata().tolist() for t in seeds] == [[1, 2, 3], [1, 2, 3, 4, 5]]
    assert "mean to epoch 3, thin: each seed" in mean.get_label()


def test_every_series_has_its_own_colour_and_line_style(tmp_path: Path, drawn: dict):
    optimizers = [f"optimizer{i:02d}" for i in range(12)]
    for name in optimizers:
        blackbox_run(tmp_path, name, 1, 0, [0.05, 0.02])
    for method in ("darts", "gdas", "pc_darts"):
        search_run(tmp_path, method, 1, 0, [0.1, 0.05])
    analyze([tmp_path], tmp_path / "out")
    lines = _series(drawn["blackbox_regret"][0])
    assert len(lines) == 15
    pairs = {(line.get_color(), line.get_linestyle()) for line in lines}
    assert len(pairs) == 15
    # past colours x line styles, markers tell the series apart
    styles = figures._styles(range(45))
    assert len({(s["color"], s["linestyle"], s.get("marker")) for s in styles.values()}) == 45


def _hpo_run(folder: Path, seed: int, eta: int, points: list[tuple[float, float, float]]):
    folder.mkdir(parents=True)
    (folder / "configs.json").write_text("")
    (folder / "run.json").write_text(json.dumps({"kind": "bohb", "settings": {
        "method": "darts", "search_space": 1, "setting": "cs1", "seed": seed, "eta": eta,
        "min_budget": 1, "max_budget": 3, "search_overrides": []}}))
    (folder / "incumbent.json").write_text(json.dumps({
        "method": "darts", "search_space": 1, "setting": "cs1", "seed": seed,
        "incumbent": {"test_regret": points[-1][2]},
        "trajectory": [{"used_budget": used, "budget": budget, "test_regret": regret}
                       for used, budget, regret in points]}))


def test_epoch_axes_have_integer_ticks_and_bohb_says_its_budget_rule(tmp_path: Path,
                                                                      drawn: dict):
    search_run(tmp_path, "darts", 1, 0, [0.3, 0.2, 0.1])
    _hpo_run(tmp_path / "hpo" / "a", 0, 3, [(1, 1, 0.05), (2, 1, 0.04), (5, 3, 0.09)])
    _hpo_run(tmp_path / "hpo" / "b", 1, 3, [(1, 1, 0.06), (4, 3, 0.03)])
    _hpo_run(tmp_path / "hpo" / "c", 0, 2, [(1, 1, 0.07), (3, 2, 0.08)])
    report = analyze([tmp_path], tmp_path / "out")
    assert report["warnings"] == [
        "BOHB darts (cs1), eta=3 on space 1: its runs differ in length (seed 0: 3, seed 1: 2 "
        "evaluations); hpo_incumbents draws each run whole; the table's final regret is each "
        "incumbent"]
    for name in ("search_regret", "hpo_incumbents"):
        ticks = drawn[name][0].get_xticks()
        assert len(ticks) and all(float(t).is_integer() for t in ticks), name
    ax = drawn["hpo_incumbents"][0]
    assert figures.BUDGET_RULE in " ".join(ax.get_title().split())
    assert "largest budget so far" in ax.get_ylabel()
    # the incumbent's first budget and each point where it rises are marked
    assert sorted(len(c.get_offsets()) for c in ax.collections) == [2, 2, 2]
    assert sorted(t.get_text() for t in ax.texts) == ["budget 1"] * 3 + ["budget 2"] + [
        "budget 3"] * 2
    rows = {(r["settings"], r["seeds"]): r for r in _rows(tmp_path / "out")
            if r["kind"] == "bohb-hpo"}
    assert set(rows) == {("eta=3", "0 1"), ("eta=2", "0")}
    assert float(rows["eta=3", "0 1"]["final_regret_mean"]) == pytest.approx(0.06)


def _study(run_dir: Path, spearman: float, kendall: float, bn: str = "recalibrate") -> None:
    (run_dir / "correlation.json").write_text(json.dumps({
        "epoch": 2, "seed": 0, "cells": 3, "bn": bn, "spearman": spearman,
        "kendall_tau": kendall, "by_bn": {},
        "scores": [{"cell": f"{i:032x}", "one_shot_valid_accuracy": 0.5 + i / 10,
                    "benchmark_test_accuracy": 0.9 - i / 100} for i in range(3)]}))


def test_correlation_studies_are_grouped_by_settings_over_seeds(tmp_path: Path):
    for seed, (rho, tau) in enumerate(((0.5, 0.4), (0.3, 0.2))):
        _study(search_run(tmp_path, "darts", 1, seed, [0.2, 0.1], name="e2",
                          settings=search_settings(seed, epochs=2)), rho, tau)
    _study(search_run(tmp_path, "darts", 1, 0, [0.2, 0.1], name="e2-batch",
                      settings=search_settings(0, epochs=2, data={"split_seed": 1})), 0.9, 0.8,
           bn="batch")
    shutil.copytree(tmp_path / "search" / "darts" / "space1" / "e2" / "seed1",
                    tmp_path / "copy" / "seed1")
    report = analyze([tmp_path], tmp_path / "out")
    assert report["runs"]["correlation"] == 3
    rows = {r["settings"]: r for r in _rows(tmp_path / "out") if r["kind"] == "correlation"}
    assert set(rows) == {"data.split_seed=unset, study.bn=recalibrate",
                         "data.split_seed=1, study.bn=batch"}
    both = rows["data.split_seed=unset, study.bn=recalibrate"]
    assert (both["runs"], both["seeds"], both["length"]) == ("2", "0 1", "epoch 2, 3 cells, BN "
                                                                         "recalibrate")
    assert float(both["spearman_mean"]) == pytest.approx(0.4)
    assert float(both["spearman_std"]) == pytest.approx(0.1)
    assert float(both["kendall_tau_mean"]) == pytest.approx(0.3)
    markdown = (tmp_path / "out" / "summary.md").read_text()
    assert "## Correlation studies" in markdown
    assert "| 2 (0, 1) | epoch 2, 3 cells, BN recalibrate | 0.4000 ± 0.1000 | 0.3000 ± 0.1000 |" \
        in markdown
