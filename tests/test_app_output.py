"""What the apps say: the first line of each (what runs, where), the last line after Ctrl-C (what
was kept, how to go on), and `nb1s1 benchmark info` as a table."""

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from nasbench1shot1.cli import main as cli_main

SMALL = ["logger=none", "supernet.channels=4", "supernet.num_cells=3", "progress=false"]


def _app(name: str) -> str:
    return shutil.which(name) or pytest.fail(f"{name} is not installed")


@pytest.mark.timeout(180)
def test_ctrl_c_ends_a_search_with_one_line_naming_its_checkpoint(tmp_path: Path):
    run_dir = tmp_path / "run"
    # SIGINT as a terminal sends it (a child of a non-interactive shell may have it ignored)
    search = subprocess.Popen(
        [_app("nb1s1-search"), "train.epochs=50", *SMALL, f"hydra.run.dir={run_dir}"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        deadline = time.time() + 150
        while not (run_dir / "checkpoint.pt").exists() and search.poll() is None \
                and time.time() < deadline:
            time.sleep(0.1)
        search.send_signal(signal.SIGINT)
        out, err = search.communicate(timeout=60)
    finally:
        if search.poll() is None:
            search.kill()
    assert search.returncode == 130, err[-2000:]
    last = err.strip().splitlines()[-1]
    assert last.startswith(f"nb1s1-search: interrupted; checkpoint {run_dir / 'checkpoint.pt'} "
                           "(after epoch "), last
    assert last.endswith("): the same command resumes from it")
    assert "Traceback" not in err
    assert "interrupted; checkpoint" in (run_dir / "search.log").read_text()


@pytest.mark.timeout(300)
def test_the_lines_of_parallel_jobs_say_whose_they_are(tmp_path: Path):
    pytest.importorskip("hydra_plugins.hydra_joblib_launcher",
                        reason="hydra-joblib-launcher is not installed (pip install .[test])")
    done = subprocess.run(
        [_app("nb1s1-search"), "-m", "seed=0,1", "train.epochs=1", *SMALL,
         "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", f"hydra.sweep.dir={tmp_path}"],
        capture_output=True, text=True, timeout=280)
    assert done.returncode == 0, done.stderr[-2000:]
    ours = [line for line in done.stdout.splitlines() if "][nasbench1shot1." in line]
    labels = {line.split(" - ", 1)[1].split("]")[0] + "]" for line in ours}
    assert labels == {"[#0 darts space1 seed0]", "[#1 darts space1 seed1]"}, ours
    for seed in (0, 1):
        mine = [line for line in ours if f"seed{seed}]" in line]
        assert any("epoch   1/1" in line for line in mine)
        assert any(line.split("] ", 3)[-1].startswith("finished after 1/1 epochs")
                   for line in mine)
    single = subprocess.run([_app("nb1s1-search"), "--cfg", "hydra", "--resolve"],
                            capture_output=True, text=True, timeout=120)
    assert "[#" not in single.stdout  # a single run has no label


@pytest.mark.timeout(120)
def test_the_blackbox_app_says_what_runs_first_and_what_it_found_last(tmp_path: Path):
    done = subprocess.run([_app("nb1s1-blackbox"), "optimizer=random_search", "trials=20",
                           "logger=none", "progress=false", f"hydra.run.dir={tmp_path}"],
                          capture_output=True, text=True, timeout=110)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert lines[0].endswith(
        "random_search on search space 1, seed 0, budget 20 queries: queries the embedded "
        "benchmark (selecting by validation_accuracy; no training, one thread); run dir "
        f"{tmp_path}; no tracker (logger=none)")
    last = lines[-1].split(" - ", 1)[1]
    assert last.startswith("finished: random_search on space 1 made 20 queries in ")
    assert "(ops " in last and last.endswith(f"; {tmp_path / 'result.json'}")
    # rounded figures, not 16-digit floats
    assert all(len(number.split(".")[1]) == 4 for number in
               [w.rstrip(",);") for w in last.split() if w.startswith("0.")])


@pytest.mark.timeout(300)
def test_the_build_app_says_what_it_trains_first(tmp_path: Path):
    done = subprocess.run([_app("nb1s1-build"), "limit=1", "repeats=1", "train.epochs=1",
                           f"folder={tmp_path}", "progress=false"],
                          capture_output=True, text=True, timeout=280,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stderr
    first = done.stdout.splitlines()[0].split(" - ", 1)[1]
    assert first == ("building the benchmark of search space 1 on digits: 1 cells x 1 repeats, "
                     f"1 epochs each, on cpu; 1 process, 1 thread; into {tmp_path} (a start "
                     "again resumes)")


def test_benchmark_info_is_a_table(capsys):
    assert cli_main(["benchmark", "info", "embedded", "--spread"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[2].split() == ["cells", "2,685"]
    assert lines[3].split() == ["epoch", "budgets", "5"]
    row = next(line for line in lines if line.strip().startswith("final_test_accuracy"))
    assert row.split() == ["final_test_accuracy", "8,055"]  # 2,685 cells x 3 repeats
    best = next(line for line in lines if line.strip().startswith("best"))
    assert 0.9 < float(best.split()[1]) <= 1.0
    assert [line.split()[1] for line in lines if line.strip().startswith("repeats 0-")] == \
        ["0-1", "0-2"]
    assert "{" not in "".join(lines)  # no dict dump


def _keys(values, prefix=""):
    for key, value in values.items():
        if isinstance(value, dict) and value and key not in ("method_settings",):
            yield from _keys(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}"


@pytest.mark.parametrize(("app", "groups", "not_groups"), [
    ("search", ["method", "data", "benchmark", "logger", "protocol", "experiment"],
     ["optimizer"]),
    ("blackbox", ["optimizer", "benchmark", "logger"], ["method", "data", "experiment"]),
    ("build", ["data"], ["method", "optimizer", "benchmark", "logger", "experiment"]),
    ("nb1s1_hpo", ["method", "data", "benchmark", "logger"], ["optimizer", "experiment"]),
    ("estimate", ["estimator", "data", "benchmark", "logger"], ["method", "optimizer",
                                                                 "experiment", "protocol"]),
])
def test_help_lists_the_apps_own_groups_and_every_setting(app, groups, not_groups):
    from omegaconf import OmegaConf

    from nasbench1shot1.apphelp import app_help
    from nasbench1shot1.conf import GROUPS
    from nasbench1shot1.config import compose

    text = app_help(app)
    listed = [line[:-1] for line in text.splitlines() if line.endswith(":") and
              not line.startswith(" ")]
    assert listed == groups
    for group in groups:  # every option, with a sentence
        section = text.split(f"\n{group}:\n")[1].splitlines()
        lines = section[:next((i for i, line in enumerate(section)
                               if not line.startswith("    ")), len(section))]
        options = list(GROUPS[group]) if group in GROUPS else \
            {"experiment": ["embedded", "paper"], "protocol": ["fixed", "paper"]}[group]
        for option in options:
            at = [i for i, line in enumerate(lines) if line.startswith(f"    {option} ")]
            assert len(at) == 1, option
            words = lines[at[0]].split() + lines[at[0] + 1].split()
            assert len(words) > 4, option  # its name, and a sentence beside or below it
    for group in not_groups:
        assert f"\n{group}:\n" not in text
    composed = OmegaConf.to_container(compose(app), resolve=False)
    rows = [line for line in text.split("== Settings")[1].splitlines()[1:]
            if line.startswith("  ") and not line.startswith("   ")]
    settings = {line.split()[0] for line in rows}
    for key in _keys(composed):
        if key in groups or (key.split(".")[0] in groups and key.endswith((".name", ".kind"))):
            continue  # chosen by the group (or no option of it chosen)
        assert key in settings, key
    undescribed = [line.split()[0] for line in rows if len(line.split()) == 1]
    assert not undescribed  # each says what it does (the schemas' comments)


@pytest.mark.timeout(120)
def test_help_of_the_app_is_its_own(tmp_path: Path):
    done = subprocess.run([_app("nb1s1-blackbox"), "--help"], capture_output=True, text=True,
                          timeout=110, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("nb1s1-blackbox: one black-box optimizer on one search space")
    assert "\nmethod:\n" not in done.stdout and "\noptimizer:\n" in done.stdout
    assert "== The composed config" in done.stdout and "population_size: 100" in done.stdout
    assert not list(tmp_path.iterdir())  # --help makes no run dir
