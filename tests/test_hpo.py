"""BOHB tuning: ConfigSpaces, every hyperparameter reaching the run, the serpent trap, a real
BOHB run with a name server and two worker processes on 127.0.0.1, crashes, kills, warm start."""

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from omegaconf import OmegaConf

from nasbench1shot1.conf.method import METHOD_CONFIGS
from nasbench1shot1.conf.search import TrainSettings
from nasbench1shot1.config import settings_from
from nasbench1shot1.hpo.bohb import HpoSettings, run_bohb
from nasbench1shot1.hpo.configspaces import defaults_of, method_configspace, to_overrides
from nasbench1shot1.hpo.worker import WORST_LOSS, SearchWorker, compose_search

# Tiny searches on the embedded default: a 3-cell, 4-channel supernet.
TINY = ("supernet.channels=4", "supernet.num_cells=3")


def search_defaults(method: str, experiment: str = "paper") -> dict:
    cfg = compose_search([f"method={method}", f"experiment={experiment}"])
    return defaults_of(OmegaConf.to_container(cfg, resolve=True))


TRAIN = TrainSettings()  # the search's defaults (conf/search.py), those of the paper


@pytest.mark.parametrize("method", ["darts", "gdas", "pc_darts"])
def test_configspaces_of_the_paper_with_the_default_included(method: str):
    defaults = search_defaults(method)
    sizes = {"cs1": 2, "cs2": 3, "cs3": 9}
    for setting, size in sizes.items():
        space = method_configspace(method, setting, defaults, seed=0)
        assert len(list(space.values())) == size
        default = dict(space.get_default_configuration())
        assert default["weight_decay"] == pytest.approx(TRAIN.weight_decay)
        assert default["cutout_prob"] == 0.0  # cutout is off in the untuned run
    default = dict(method_configspace(method, "cs3", defaults).get_default_configuration())
    schema = METHOD_CONFIGS.get(method)
    assert default["learning_rate"] == pytest.approx(TRAIN.learning_rate)
    assert default["arch_learning_rate"] == pytest.approx(schema.arch_learning_rate)
    assert default["arch_weight_decay"] == pytest.approx(schema.arch_weight_decay)
    assert (default["momentum"], default["cutout_length"], default["batch_size"],
            default["grad_clip"]) == (pytest.approx(TRAIN.momentum), TRAIN.cutout_length,
                                      schema.batch_size, TRAIN.grad_clip)
    space = method_configspace(method, "cs3", defaults)
    assert space["batch_size"].lower == 16 and space["batch_size"].upper == 128
    assert space["arch_weight_decay"].log and space["cutout_length"].log
    # the defaults follow the composed search: the digits setup uses 4-pixel cutout holes
    assert search_defaults(method, "embedded")["cutout_length"] == 4


def test_cs3_needs_architecture_weights():
    with pytest.raises(ValueError, match="cs3 tunes architecture weights, which enas does not"):
        method_configspace("enas", "cs3", search_defaults("enas"))


CHANGED = {
    "weight_decay": 1.234e-5, "cutout_prob": 0.37, "learning_rate": 0.0567,
    "arch_learning_rate": 2.5e-5, "arch_weight_decay": 0.0345, "momentum": 0.42,
    "cutout_length": 7, "batch_size": 33, "grad_clip": 3,
}


@pytest.mark.parametrize("name", sorted(CHANGED))
def test_each_hyperparameter_reaches_the_run(name: str, tmp_path: Path, monkeypatch):
    from nasbench1shot1 import search as search_module

    base = compose_search(["method=darts", "logger=none", *TINY])
    config = {name: CHANGED[name]}
    if name == "cutout_length":  # every space with a cutout length has the probability too
        config["cutout_prob"] = 0.5
    cfg = compose_search(["method=darts", "logger=none", *TINY, *to_overrides(config)])
    before, after = settings_from(base), settings_from(cfg)
    assert before != after
    search = search_module.build_search(after, run_dir=tmp_path, echo=False)
    group = search.optimizer.param_groups[0]
    arch_group = search.method.arch_optimizer.param_groups[0]
    seen = {}

    def spy(images, generator, crop, flip, length, prob):
        seen.update(length=length, prob=prob)
        return images

    monkeypatch.setattr(search_module, "augment_batch", spy)
    steps = []
    original_step = search.method.step

    def counting_step(train, valid, optimizer, lr, grad_clip):
        steps.append((len(train.labels), grad_clip))
        return original_step(train, valid, optimizer, lr, grad_clip)

    search.method.step = counting_step
    search.train_epoch(1)
    used = {
        "weight_decay": group["weight_decay"], "learning_rate": group["initial_lr"],
        "momentum": group["momentum"], "arch_learning_rate": arch_group["lr"],
        "arch_weight_decay": arch_group["weight_decay"], "batch_size": steps[0][0],
        "grad_clip": steps[0][1], "cutout_prob": seen.get("prob"),
        "cutout_length": seen.get("length"),
    }
    assert used[name] == pytest.approx(CHANGED[name])
    if name == "cutout_prob":
        assert after.train.cutout and not before.train.cutout


def test_serpent_cannot_send_numpy_scalars_without_the_fix():
    # in a fresh interpreter, as HpBandSter's threads would meet it
    code = ("import numpy as np, serpent\n"
            "try:\n    serpent.dumps({'op': np.int64(3)})\nexcept Exception as e:\n"
            "    print('fails', type(e).__name__)\nelse:\n    print('works')")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60)
    assert done.stdout.startswith("fails"), done.stdout + done.stderr
    code = ("import numpy as np, serpent\n"
            "import nasbench1shot1.serialization as s; s.install()\n"
            "v = serpent.loads(serpent.dumps({'op': np.str_('maxpool3x3'), 'b': np.float64(3),"
            " 'n': np.int64(2)}))\nprint(v == {'op': 'maxpool3x3', 'b': 3.0, 'n': 2},"
            " type(v['n']).__name__)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60)
    assert done.stdout.split() == ["True", "int"], done.stdout + done.stderr


@pytest.mark.timeout(120)
def test_bohb_with_categorical_numpy_values_does_not_hang(tmp_path: Path):
    """A real master and Pyro4 worker exchanging np.str_ configs and np.float64 budgets: this
    hangs forever without nasbench1shot1.serialization (the test then fails on its timeout)."""
    import hpbandster.core.nameserver as hpns
    from ConfigSpace import Categorical, ConfigurationSpace, Integer
    from hpbandster.core.worker import Worker
    from hpbandster.optimizers import BOHB

    import nasbench1shot1.serialization  # noqa: F401  (installed on import)

    class Echo(Worker):
        def compute(self, config_id, config, budget, working_directory, **kwargs):
            loss = np.float64(len(config["op"]) / budget + config["n"])
            return {"loss": loss, "info": {"op": config["op"], "n": config["n"]}}

    space = ConfigurationSpace(seed=0)
    space.add(Categorical("op", ["conv3x3-bn-relu", "conv1x1-bn-relu", "maxpool3x3"]))
    space.add(Integer("n", (1, 9)))
    ns = hpns.NameServer(run_id="t", host="127.0.0.1", port=0)
    host, port = ns.start()
    worker = Echo(run_id="t", nameserver=host, nameserver_port=port)
    worker.run(background=True)
    master = BOHB(configspace=space, run_id="t", nameserver=host, nameserver_port=port,
                  min_budget=1, max_budget=9, eta=3)
    try:
        result = master.run(n_iterations=2)
    finally:
        master.shutdown(shutdown_workers=True)
        ns.shutdown()
    assert len(result.get_all_runs()) > 5
    assert all(isinstance(r.info["op"], str) for r in result.get_all_runs())
    assert all(type(r.info["n"]) is int for r in result.get_all_runs())


def test_a_crashed_configuration_is_recorded(tmp_path: Path):
    worker = SearchWorker(["benchmark.path=/nonexistent/nasbench.tfrecord", *TINY], tmp_path,
                          run_id="t")
    answer = worker.compute((0, 0, 1), {"weight_decay": np.float64(1e-4)}, np.float64(1), None)
    assert answer["loss"] == WORST_LOSS
    assert answer["info"]["status"] == "crashed"
    assert "/nonexistent/nasbench.tfrecord" in answer["info"]["reason"]
    diverged = SearchWorker(["train.grad_clip=0", *TINY], tmp_path, run_id="t").compute(
        (0, 0, 2), {"learning_rate": 1e30}, 1.0, None)
    assert diverged["loss"] == WORST_LOSS and diverged["info"]["status"] == "diverged"


def test_a_worker_loads_its_benchmark_and_data_once(tmp_path: Path, monkeypatch):
    import nasbench1shot1.data.registry as data_registry
    import nasbench1shot1.embedded as embedded
    from nasbench1shot1.search import run

    opened, loaded = [], []
    open_benchmark, load_data = embedded.open_benchmark, data_registry.load_data

    def counting_open(where, *args, **kwargs):
        opened.append(where)
        return open_benchmark(where, *args, **kwargs)

    def counting_load(*args, **kwargs):
        loaded.append(args)
        return load_data(*args, **kwargs)

    monkeypatch.setattr(embedded, "open_benchmark", counting_open)
    monkeypatch.setattr(data_registry, "load_data", counting_load)
    worker = SearchWorker(list(TINY), tmp_path / "bohb", run_id="w")
    config = {"weight_decay": 2e-4}
    first = worker.compute((0, 0, 1), config, 2.0, None)
    second = worker.compute((0, 0, 2), config, 2.0, None)
    other = worker.compute((0, 0, 3), {"weight_decay": 5e-4}, 1.0, None)
    assert opened == ["embedded"] and loaded == [("digits", None, 0)]
    assert first["info"]["status"] == second["info"]["status"] == other["info"]["status"] == (
        "finished")
    # the same as a search that loads its own benchmark and data
    fresh = run(compose_search(worker.overrides(config, 2.0)), tmp_path / "fresh", echo=False)
    assert len(opened) == 2 and len(loaded) == 2
    for answer in (first, second):
        assert answer["loss"] == fresh.final_validation_error < WORST_LOSS
        assert answer["info"]["final_cell"] == fresh.final_cell
        assert answer["info"]["test_regret"] == fresh.final_test_regret


def test_each_evaluation_is_a_wandb_run_with_its_loss(tmp_path: Path, monkeypatch):
    from nasbench1shot1 import tracking

    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    seen = {}
    finish = tracking.WandbTracker.finish

    def spy(self, summary):
        seen.update(self.summary_extra, **self.summary_hook(summary), group=self.group,
                    name=self.run_name)
        return finish(self, summary)

    monkeypatch.setattr(tracking.WandbTracker, "finish", spy)
    worker = SearchWorker(list(TINY), tmp_path, run_id="r1",
                          logger_cfg={"kind": "wandb", "mode": "offline"})
    answer = worker.compute((0, 0, 3), {"weight_decay": 2e-4}, 1.0, None)
    assert seen["loss"] == answer["loss"] < WORST_LOSS
    assert (seen["config_id"], seen["budget"], seen["group"], seen["name"]) == (
        "0_0_3", 1.0, "bohb-r1", "config0_0_3-budget1")
    runs = list((tmp_path / "runs" / "r1" / "config0_0_3_budget1" / "wandb").glob(
        "offline-run-*/run-*.wandb"))
    assert len(runs) == 1


def tiny(**kwargs) -> HpoSettings:
    values = dict(method="darts", min_budget=1, max_budget=3, iterations=1, workers=2,
                  search_overrides=TINY)
    return HpoSettings(**{**values, **kwargs})


@pytest.mark.timeout(240)
def test_real_bohb_run_results_reload_and_warm_start(tmp_path: Path):
    import hpbandster.core.result as hpres

    started = time.time()
    summary = run_bohb(tiny(), tmp_path, echo=False)
    elapsed = time.time() - started
    assert elapsed < 120
    runs = hpres.logged_results_to_HBS_result(str(tmp_path)).get_all_runs()
    assert len(runs) == summary["evaluations"] >= 2
    assert all(r.info["status"] == "finished" for r in runs)
    configs = [json.loads(line) for line in (tmp_path / "configs.json").read_text().splitlines()]
    assert configs[0][2].get("default_configuration") is True  # the default goes first
    top = max(r.budget for r in runs)  # HpBandSter's incumbent: the best on the largest budget
    assert summary["incumbent"]["budget"] == top == 3
    assert summary["incumbent"]["loss"] == min(r.loss for r in runs if r.budget == top)
    assert summary["incumbent"]["test_regret"] is not None
    assert (tmp_path / "incumbent_regret.png").stat().st_size > 1000
    workers = json.loads((tmp_path / "workers.json").read_text())
    assert len(workers) == 2 and len({r.info["run_dir"] for r in runs}) == len(runs)

    again = run_bohb(tiny(), tmp_path, echo=False)
    assert again["warm_started_from"] == [str(tmp_path / "previous-1")]
    assert again["evaluations"] > summary["evaluations"]
    assert (tmp_path / "previous-1" / "results.json").read_text().count("\n") == len(runs)
    third = run_bohb(tiny(), tmp_path, echo=False)  # two earlier runs, ids kept apart
    assert third["warm_started_from"] == [str(tmp_path / "previous-1"),
                                          str(tmp_path / "previous-2")]
    assert third["evaluations"] == again["evaluations"] + summary["evaluations"]


@pytest.mark.timeout(240)
def test_a_killed_worker_does_not_stop_the_master(tmp_path: Path):
    box = {}
    thread = threading.Thread(
        target=lambda: box.update(summary=run_bohb(tiny(), tmp_path,
                                                   echo=False)))
    thread.start()
    deadline = time.time() + 120
    while time.time() < deadline and not list((tmp_path / "runs").glob("*/*/worker.json")):
        time.sleep(0.1)
    busy = next((tmp_path / "runs").glob("*/*/worker.json"))
    os.kill(json.loads(busy.read_text())["pid"], signal.SIGKILL)
    thread.join(timeout=200)
    assert not thread.is_alive()
    entries = [json.loads(line) for line in (tmp_path / "results.json").read_text().splitlines()]
    lost = [e for e in entries if e[4] and "Worker died unexpectedly" in e[4]]
    assert len(lost) == 1
    finished = [e for e in entries if e[3] is not None]
    assert len(finished) == len(entries) - 1 >= 3
    top = max(e[1] for e in finished)
    assert box["summary"]["incumbent"]["loss"] == min(e[3]["loss"] for e in finished
                                                      if e[1] == top)


@pytest.mark.timeout(240)
def test_nb1s1_hpo_prints_the_incumbent(tmp_path: Path):
    script = shutil.which("nb1s1-hpo") or pytest.fail("nb1s1-hpo is not installed")
    done = subprocess.run(
        [script, "min_budget=1", "max_budget=1", "iterations=1",
         'search_overrides=["supernet.channels=4","supernet.num_cells=3"]',
         f"hydra.run.dir={tmp_path}"], capture_output=True, text=True, timeout=230)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "incumbent [" in done.stdout and "test regret" in done.stdout
    # the first line says what runs and where; no warning the user cannot act on
    first = done.stdout.splitlines()[0]
    assert "BOHB (cs1) of darts's hyperparameters on search space 1, seed 0: budgets 1 to 1 " \
           "epochs" in first and f"run dir {tmp_path}" in first, first
    assert "Warning" not in done.stdout + done.stderr
    # one line per finished evaluation; none of HpBandSter's INFO lines (dispatcher steps)
    evaluations = len(json.loads("[" + ",".join(
        (tmp_path / "results.json").read_text().splitlines()) + "]"))
    lines = done.stdout.splitlines()
    assert sum("evaluation " in line and "at budget 1 epochs: loss" in line
               for line in lines) == evaluations
    assert not [line for line in lines if "][hpbandster" in line]
    bad = subprocess.run([script, "setting=cs9", f"hydra.run.dir={tmp_path}/bad"],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 1
    assert bad.stderr.strip().splitlines()[-1] == (
        "nb1s1-hpo: error: unknown hpo setting 'cs9', expected one of cs1, cs2, cs3")


def test_bohb_summary_run_on_wandb(tmp_path: Path, monkeypatch):
    from nasbench1shot1.hpo.bohb import _wandb_summary

    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    summary = {
        "trajectory": [{"used_budget": 1.0, "config_id": [0, 0, 0], "budget": 1.0, "loss": 0.3,
                        "test_regret": 0.1},
                       {"used_budget": 4.0, "config_id": [0, 0, 1], "budget": 3.0, "loss": 0.2,
                        "test_regret": 0.05}],
        "incumbent": {"test_regret": 0.05, "final_cell": "ab" * 16},
    }
    _wandb_summary(tiny(logger={"kind": "wandb", "mode": "offline"}), "r9", tmp_path, summary)
    assert len(list(tmp_path.glob("wandb/offline-run-*/run-*.wandb"))) == 1
