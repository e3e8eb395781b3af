"""Ranking criteria against hand-computed values, and `nb1s1 analyze` on run dirs written by the
tests (fake ones with known numbers, and real black-box and search runs)."""

import csv
import json
import math
from pathlib import Path

import matplotlib.image as mpimg
import numpy as np
import pytest
from scipy.stats import kendalltau, pearsonr, spearmanr

from nasbench1shot1.analysis import (
    analyze,
    best_rank_at_k,
    figures,
    find_runs,
    kendall_tau,
    pearson,
    precision_at_k,
    ranking_criteria,
    spearman,
    worst_rank_at_k,
)
from nasbench1shot1.cli import main as cli_main

# Five cells A..E. Predicted order A > B > C > D > E; true order B > C > A > E > D,
# so the true ranks are A 3, B 1, C 2, D 5, E 4.
PREDICTED = [5.0, 4.0, 3.0, 2.0, 1.0]
TRUE = [3.0, 5.0, 4.0, 1.0, 2.0]


def test_correlations_match_hand_computed_values():
    # deviations from the means: (2, 1, 0, -1, -2) and (0, 2, 1, -2, -1): r = 6 / 10
    assert pearson(PREDICTED, TRUE) == pytest.approx(0.6)
    # rank differences 2, -1, -1, 1, -1: rho = 1 - 6 * 8 / (5 * 24)
    assert spearman(PREDICTED, TRUE) == pytest.approx(0.6)
    # 7 concordant and 3 discordant pairs of 10
    assert kendall_tau(PREDICTED, TRUE) == pytest.approx(0.4)
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=50), rng.normal(size=50)
    assert pearson(a, b) == pytest.approx(pearsonr(a, b).statistic)
    assert spearman(a, b) == pytest.approx(spearmanr(a, b).statistic)
    assert kendall_tau(a, b) == pytest.approx(kendalltau(a, b).statistic)


def test_top_k_criteria_match_hand_computed_values():
    assert precision_at_k(PREDICTED, TRUE, 1) == 0.0  # A is not B
    assert precision_at_k(PREDICTED, TRUE, 2) == 0.5  # {A, B} against {B, C}
    assert precision_at_k(PREDICTED, TRUE, 3) == 1.0  # {A, B, C} both
    assert best_rank_at_k(PREDICTED, TRUE, 1) == worst_rank_at_k(PREDICTED, TRUE, 1) == 3
    assert best_rank_at_k(PREDICTED, TRUE, 2) == 1 and worst_rank_at_k(PREDICTED, TRUE, 2) == 3
    assert worst_rank_at_k(PREDICTED, TRUE, 4) == 5  # D enters
    assert worst_rank_at_k(PREDICTED, TRUE, 2, normalized=True) == pytest.approx(3 / 5)
    # a share of the cells: 0.4 of 5 is 2 cells, 0.1 rounds up to 1
    assert precision_at_k(PREDICTED, TRUE, 0.4) == 0.5
    assert best_rank_at_k(PREDICTED, TRUE, 0.1) == 3
    # tied true scores share the best rank of their group
    assert worst_rank_at_k([3, 2, 1], [1.0, 1.0, 0.0], 2) == 1
    criteria = ranking_criteria(PREDICTED, TRUE, ks=(2, 0.6))
    assert criteria["cells"] == 5
    assert criteria["precision@2"] == 0.5 and criteria["precision@0.6"] == 1.0
    assert criteria["best_rank@2"] == 1 and criteria["worst_rank@0.6"] == 3


def test_missing_values_are_left_out_and_bad_input_is_one_sentence():
    assert spearman([*PREDICTED, 9.0], [*TRUE, math.nan]) == pytest.approx(0.6)
    assert precision_at_k([*PREDICTED, math.nan], [*TRUE, 0.0], 2) == 0.5
    assert spearman([1, 1, 1], [1, 2, 3]) is None  # undefined for a constant vector
    for call, message in [
        (lambda: pearson([1, 2], [1, 2, 3]), "differ in length"),
        (lambda: spearman([1, math.nan], [1, 2]), "at least 2 cells"),
        (lambda: precision_at_k(PREDICTED, TRUE, 6), "outside 1..5"),
        (lambda: precision_at_k(PREDICTED, TRUE, 1.5), "neither a number of cells"),
        (lambda: precision_at_k(PREDICTED, TRUE, "ten"), "K must be"),
    ]:
        with pytest.raises(ValueError, match=message) as error:
            call()
        assert "\n" not in str(error.value)


# -- fake run dirs ------------------------------------------------------------------------

def _write(folder: Path, result: dict, lines_name: str | None = None, lines=()) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "result.json").write_text(json.dumps(result))
    if lines_name:
        (folder / lines_name).write_text("".join(json.dumps(x) + "\n" for x in lines))
    return folder


def search_run(root: Path, method: str, space: int, seed: int, regrets: list[float],
               kind: str | None = "search", settings: dict | None = None,
               name: str = "") -> Path:
    """A search run dir; `kind=None`: its result.json as earlier versions wrote it, no kind;
    `settings`: its settings as SearchSettings.as_dict stores them; `name`: a folder of its own
    (runs of other settings)."""
    records = [{"epoch": i + 1, "test_regret": r, "wall_time": 10.0 * (i + 1)}
               for i, r in enumerate(regrets)]
    result = {"status": "finished", "method": method, "search_space": space, "seed": seed,
              **({"settings": settings} if settings is not None else {})}
    return _write(root / "search" / method / f"space{space}" / name / f"seed{seed}",
                  result if kind is None else {"kind": kind, **result}, "metrics.jsonl", records)


def blackbox_run(root: Path, optimizer: str, space: int, seed: int, regrets: list[float],
                 settings: dict | None = None, name: str = "") -> Path:
    """A black-box run dir; `settings`: as BlackboxSettings.as_dict stores them."""
    records = [{"trial": i + 1, "simulated_time": 1000.0 * (i + 1) * (seed + 1),
                "test_regret": r} for i, r in enumerate(regrets)]
    return _write(root / "blackbox" / optimizer / f"space{space}" / name / f"seed{seed}",
                  {"kind": "blackbox", "optimizer": optimizer, "search_space": space,
                   "seed": seed, **({"settings": settings} if settings is not None else {})},
                  "trajectory.jsonl", records)


@pytest.fixture
def fake_runs(tmp_path: Path) -> Path:
    root = tmp_path / "runs"
    for space in (1, 3):
        search_run(root, "darts", space, 0, [0.05, 0.02, 0.03])
        search_run(root, "darts", space, 1, [0.04, 0.01, 0.01], kind=None)  # an earlier version
        search_run(root, "gdas", space, 0, [0.06, 0.05, 0.04, 0.03])
        blackbox_run(root, "random_search", space, 0, [0.02, 0.01, 0.01])
        blackbox_run(root, "random_search", space, 1, [0.03, 0.03, 0.005])
        blackbox_run(root, "regularized_evolution", space, 0, [0.02, 0.004])
    corr = search_run(root, "darts", 2, 0, [0.1, 0.05], kind=None)
    (corr / "correlation.json").write_text(json.dumps({"epoch": 2, "scores": [
        {"cell": f"{i:032x}", "one_shot_valid_accuracy": 0.5 + i / 100,
         "benchmark_test_accuracy": 0.9 + (i % 7) / 100 if i != 3 else None}
        for i in range(30)]}))
    hpo = root / "hpo" / "darts"
    hpo.mkdir(parents=True)
    (hpo / "configs.json").write_text("")
    (hpo / "incumbent.json").write_text(json.dumps({
        "method": "darts", "search_space": 1, "setting": "cs1", "seed": 0,
        "incumbent": {"test_regret": 0.02},
        "trajectory": [{"used_budget": 5, "test_regret": 0.08}, {"used_budget": 20,
                                                                 "test_regret": 0.02}]}))
    # an evaluation of the BOHB run (the worker writes worker.json): part of it, not a search
    evaluation = search_run(hpo / "runs", "darts", 1, 7, [0.9])
    (evaluation / "worker.json").write_text("{}")
    broken = root / "broken"
    broken.mkdir()
    (broken / "result.json").write_text("{not json")
    return root


def test_runs_are_found_by_kind(fake_runs: Path):
    runs = find_runs([fake_runs])
    assert len(runs.search) == 7 and len(runs.blackbox) == 6
    assert len(runs.hpo) == 1 and len(runs.correlation) == 1
    assert all(r.seed != 7 for r in runs.search)  # the BOHB evaluation is not a search run
    # ... also when the analysis starts below the BOHB run dir
    assert not find_runs([fake_runs / "hpo" / "darts" / "runs"]).search
    assert [p.name for p, _ in runs.skipped] == ["broken"]
    assert "unreadable" in runs.skipped[0][1]
    # read by kind, or the old way when result.json has none
    assert sorted(r.seed for r in runs.search if r.space == 1) == [0, 0, 1]


def test_result_kind_decides_and_results_without_a_kind_are_read_as_before(tmp_path: Path):
    new = search_run(tmp_path / "new", "darts", 1, 0, [0.05, 0.02])
    old = search_run(tmp_path / "old", "darts", 1, 1, [0.04, 0.01], kind=None)
    assert "kind" not in json.loads((old / "result.json").read_text())
    runs = find_runs([tmp_path])
    assert sorted(r.path for r in runs.search) == sorted([new, old])
    assert [r.test_regret.tolist() for r in sorted(runs.search, key=lambda r: r.seed)] == [
        [0.05, 0.02], [0.04, 0.01]]
    assert not runs.skipped
    # a result.json without a kind is a search only with a method and metrics.jsonl beside it
    no_method = _write(tmp_path / "no_method", {"status": "finished", "search_space": 1},
                       "metrics.jsonl", [{"epoch": 1, "test_regret": 0.1}])
    no_metrics = _write(tmp_path / "no_metrics", {"status": "finished", "method": "darts",
                                                  "search_space": 1, "seed": 0})
    # the kind is read, not guessed: a black-box result beside a stray metrics.jsonl
    boxed = blackbox_run(tmp_path / "boxed", "random_search", 1, 0, [0.02, 0.01])
    (boxed / "metrics.jsonl").write_text(json.dumps({"epoch": 1}) + "\n")
    odd = _write(tmp_path / "odd", {"kind": "sweep", "method": "darts"}, "metrics.jsonl",
                 [{"epoch": 1}])
    runs = find_runs([tmp_path])
    assert sorted(r.path for r in runs.search) == sorted([new, old])
    assert [r.path for r in runs.blackbox] == [boxed]
    skipped = dict(runs.skipped)
    assert set(skipped) == {no_method, no_metrics, odd}
    assert "without a kind, a method and metrics.jsonl" in skipped[no_method]
    assert "without a kind, a method and metrics.jsonl" in skipped[no_metrics]
    assert "unknown kind 'sweep'" in skipped[odd]
    # a search result of this version without its metrics is unreadable, not another kind
    (new / "metrics.jsonl").unlink()
    assert "unreadable (FileNotFoundError" in dict(find_runs([new]).skipped)[new]


def test_analyze_draws_every_figure_and_the_summary(fake_runs: Path, tmp_path: Path, capsys,
                                                    monkeypatch):
    drawn = {}
    save = figures._save

    def spy(fig, stem):  # what each figure holds: per panel, its lines and scatter points
        drawn[stem.name] = [(len(ax.lines), sum(len(c.get_offsets()) for c in ax.collections
                                                if hasattr(c, "get_offsets")))
                            for ax in fig.axes if ax.get_visible()]
        return save(fig, stem)

    monkeypatch.setattr(figures, "_save", spy)
    out = tmp_path / "figures"
    assert cli_main(["analyze", str(fake_runs), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "runs: 7 search, 6 blackbox, 1 hpo, 1 correlation" in printed
    assert "skipped" in printed and "broken" in printed
    for stem in ("search_regret", "blackbox_regret", "correlation", "hpo_incumbents"):
        assert (out / f"{stem}.pdf").read_bytes().startswith(b"%PDF")
        image = mpimg.imread(out / f"{stem}.png")
        assert image.shape[0] > 300 and image.shape[1] > 300
    # spaces 1 and 3: darts and gdas, space 2: darts; black-box (spaces 1 and 3): 2 optimizers
    # and the 2 one-shot methods as references
    assert [lines for lines, _ in drawn["search_regret"]] == [2, 1, 2]
    assert [lines for lines, _ in drawn["blackbox_regret"]] == [4, 4]
    assert drawn["correlation"] == [(0, 29)]  # 30 cells, one without a benchmark accuracy
    assert drawn["hpo_incumbents"][0][0] == 1
    rows = {(r["kind"], r["name"], r["space"]): r
            for r in csv.DictReader((out / "summary.csv").open())}
    darts = rows["one-shot", "darts", "1"]
    assert darts["runs"] == "2"
    assert float(darts["final_regret_mean"]) == pytest.approx(0.02)  # (0.03 + 0.01) / 2
    assert float(darts["final_regret_std"]) == pytest.approx(0.01)
    assert float(darts["best_regret_mean"]) == pytest.approx(0.015)  # (0.02 + 0.01) / 2
    rs = rows["black-box", "random_search", "3"]
    assert float(rs["final_regret_mean"]) == pytest.approx(0.0075)
    assert float(rs["best_regret_mean"]) == pytest.approx(0.0075)
    hpo = rows["bohb-hpo", "darts (cs1)", "1"]
    assert float(hpo["final_regret_mean"]) == pytest.approx(0.02)
    markdown = (out / "summary.md").read_text()
    assert ("| one-shot | darts | 1 | — | 2 (0, 1) | 3 epochs | 0.0200 ± 0.0100 | "
            "0.0150 ± 0.0050 |") in markdown


def test_runs_without_data_are_skipped_and_the_summary_is_kept(tmp_path: Path):
    # a benchmark without training time: every query costs nothing known, no simulated time
    folder = blackbox_run(tmp_path, "random_search", 1, 0, [0.02, 0.01])
    lines = [dict(json.loads(x), simulated_time=0.0)
             for x in (folder / "trajectory.jsonl").read_text().splitlines()]
    (folder / "trajectory.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    search_run(tmp_path, "darts", 1, 0, [None, None])  # a regret the benchmark cannot give
    diverged = search_run(tmp_path, "gdas", 1, 0, [0.1])
    result = json.loads((diverged / "result.json").read_text())
    (diverged / "result.json").write_text(json.dumps({**result, "status": "diverged"}))
    report = analyze([tmp_path], tmp_path / "out")
    skipped = dict(report["skipped"])
    assert "no simulated time" in skipped["blackbox_regret"]
    assert "no search run has a known test regret" in skipped["search_regret"]
    assert any("search diverged" in why for why in skipped.values())
    rows = list(csv.DictReader((tmp_path / "out" / "summary.csv").open()))
    assert [(r["kind"], r["name"]) for r in rows] == [("black-box", "random_search"),
                                                       ("one-shot", "darts")]
    assert rows[1]["final_regret_mean"] == ""  # unknown, not an earlier epoch's value


def test_k_may_be_a_numpy_number():
    assert precision_at_k(PREDICTED, TRUE, np.int64(2)) == 0.5
    assert precision_at_k(PREDICTED, TRUE, np.float64(0.4)) == 0.5


def test_analyze_says_what_it_cannot_draw(tmp_path: Path, capsys):
    blackbox_run(tmp_path, "random_search", 1, 0, [0.02, 0.01])
    report = analyze([tmp_path], tmp_path / "out")
    skipped = dict(report["skipped"])
    assert set(skipped) == {"search_regret", "correlation", "hpo_incumbents",
                            "estimators", "estimator_bias"}
    assert (tmp_path / "out" / "blackbox_regret.png").is_file()
    assert cli_main(["analyze", str(tmp_path / "nowhere")]) == 1
    assert "does not exist" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert cli_main(["analyze", str(tmp_path / "empty")]) == 1
    assert "no runs found" in capsys.readouterr().err


def _compose(name: str, *overrides: str):
    from nasbench1shot1.config import compose

    return compose(name, overrides=["logger=none", *overrides])


def test_analyze_real_blackbox_and_search_runs(tmp_path: Path):
    from nasbench1shot1.blackbox import run as run_blackbox
    from nasbench1shot1.search import run as run_search

    for seed in (0, 1):
        run_blackbox(_compose("blackbox", "optimizer=random_search", "trials=40", f"seed={seed}"),
                     tmp_path / "bb" / f"rs{seed}", echo=False)
    run_search(_compose("search", "train.epochs=2", "supernet.channels=4", "supernet.num_cells=3"),
               tmp_path / "search", echo=False)
    # each app's result.json says what wrote it
    assert json.loads((tmp_path / "search" / "result.json").read_text())["kind"] == "search"
    for seed in (0, 1):
        saved = json.loads((tmp_path / "bb" / f"rs{seed}" / "result.json").read_text())
        assert saved["kind"] == "blackbox" and saved["optimizer"] == "random_search"
    report = analyze([tmp_path], tmp_path / "out")
    assert report["runs"] == {"search": 1, "blackbox": 2, "hpo": 0, "correlation": 0,
                              "estimate": 0}
    assert (tmp_path / "out" / "blackbox_regret.pdf").is_file()
    rows = list(csv.DictReader((tmp_path / "out" / "summary.csv").open()))
    final = json.loads((tmp_path / "search" / "result.json").read_text())["final_test_regret"]
    search = [r for r in rows if r["kind"] == "one-shot"][0]
    assert float(search["final_regret_mean"]) == pytest.approx(final)
