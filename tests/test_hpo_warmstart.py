"""Warm start survives a killed worker's job (a result line without a loss) and never costs a
result: a warm start that fails leaves every result file as it was and names the bad file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_hpo import tiny

from nasbench1shot1.hpo.bohb import KIND, identity, run_bohb
from nasbench1shot1.runfiles import own_run_dir

STAMPS = {"submitted": 1.0, "started": 2.0, "finished": 3.0}


def _config(config_id: list[int], weight_decay: float) -> str:
    return json.dumps([config_id, {"cutout_prob": 0.0, "weight_decay": weight_decay},
                       {"model_based_pick": False}])


def _owned(run_dir: Path, settings) -> Path:
    """`run_dir` as an earlier BOHB run of `settings` left it: owned by that run."""
    with own_run_dir(run_dir, KIND, identity(settings)):
        return run_dir


def _write_run(folder: Path, dead_last: bool) -> dict[Path, bytes]:
    """A run's files as HpBandSter writes them: one finished job and, where a worker was killed
    with kill -9, a result line with no result at all."""
    folder.mkdir(parents=True, exist_ok=True)
    configs = [_config([0, 0, 0], 3e-4), _config([0, 0, 1], 1e-4)]
    finished = json.dumps([[0, 0, 0], 1.0, STAMPS, {"loss": 0.25, "info": {"status": "finished"}},
                           None])
    dead = json.dumps([[0, 0, 1], 1.0, STAMPS, None, "Worker died unexpectedly."])
    results = [finished, dead] if dead_last else [dead, finished]
    (folder / "configs.json").write_text("\n".join(configs) + "\n")
    (folder / "results.json").write_text("\n".join(results) + "\n")
    return {p: p.read_bytes() for p in (folder / "configs.json", folder / "results.json")}


@pytest.mark.timeout(120)
def test_a_killed_workers_job_does_not_break_the_warm_start(tmp_path: Path):
    settings = tiny(min_budget=1, max_budget=1, workers=1)
    before = _write_run(_owned(tmp_path, settings), dead_last=True)
    summary = run_bohb(settings, tmp_path, echo=False)
    assert summary["warm_started_from"] == [str(tmp_path / "previous-1")]
    for path, content in before.items():  # the originals, kept as they were
        assert (tmp_path / "previous-1" / path.name).read_bytes() == content
    # the dead job is left out; the earlier finished one and the new one count
    assert summary["evaluations"] == 2
    assert (tmp_path / "results.json").read_text().count("\n") == 1


def test_a_failed_warm_start_keeps_every_result_file(tmp_path: Path):
    _owned(tmp_path, tiny())
    kept = _write_run(tmp_path / "previous-1", dead_last=False)
    kept.update(_write_run(tmp_path, dead_last=False))
    results = tmp_path / "results.json"
    with results.open("a") as out:  # the master was killed while writing this line
        out.write('[[0, 0, 1], 3.0, {"submitted": 4.0, "st')
    kept[results] = results.read_bytes()
    with pytest.raises(ValueError) as error:
        run_bohb(tiny(), tmp_path, echo=False)
    message = str(error.value)
    assert str(results) in message and "line 3" in message and "\n" not in message
    for path, content in kept.items():
        assert path.read_bytes() == content
    assert not (tmp_path / "previous-2").exists()
