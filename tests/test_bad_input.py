"""One table of bad inputs across the apps, each with the sentence it must give: the app exits 1
with one line naming the key, the value and what is allowed, never a traceback, and nothing is
silently reinterpreted (a bool given as 'maybe', an unknown +key, a negative padding)."""

import sys
from pathlib import Path

import pytest

from hpo.app import main as hpo_main
from nasbench1shot1.blackbox_app import main as blackbox_main
from nasbench1shot1.build_app import main as build_main
from nasbench1shot1.cli import main as cli_main
from nasbench1shot1.config import METHOD_INTEGERS, METHOD_RANGES, method_defaults
from nasbench1shot1.methods import METHODS
from nasbench1shot1.search_app import main as search_main

APPS = {"search": search_main, "blackbox": blackbox_main, "hpo": hpo_main, "build": build_main}
QUIET = {"search": ["logger=none"], "blackbox": ["logger=none"], "hpo": [], "build": []}

BAD = [
    # nb1s1-search
    ("search", ["method.unrolled=maybe"], "method.unrolled must be true or false, got 'maybe'"),
    ("search", ["train.cutout=sometimes"], "train.cutout must be true or false, got 'sometimes'"),
    ("search", ["+foo=1"], "unknown key foo for nb1s1-search"),
    ("search", ["+train.foo=1"], "unknown key train.foo, expected one of epochs"),
    ("search", ["+method.foo=1"], "unknown key method.foo for darts"),
    ("search", ["data.crop_padding=-3"], "data.crop_padding must be in [0.0, inf], got -3"),
    ("search", ["data.flip=1"], "data.flip must be true or false, got 1"),
    ("search", ["train.train_portion=0.0001"],
     "train.train_portion=0.0001 leaves 0 of the 1000 training images of digits"),
    ("search", ["train.train_portion=1.0"], "train.train_portion must leave an architecture half"),
    ("search", ["device=cuda"], "device=cuda, but this PyTorch sees no CUDA GPU"),
    ("search", ["device=cuda:banana"],
     "unknown device 'cuda:banana', expected auto, cpu, cuda or cuda:N"),
    ("search", ["device=tpu"], "unknown device 'tpu', expected auto, cpu, cuda or cuda:N"),
    ("search", ["seed=99999999999999999999"],
     "seed must be an integer in [0, 4294967295], got 99999999999999999999"),
    ("search", ["seed=-1"], "seed must be an integer in [0, 4294967295], got -1"),
    ("search", ["seed=1.5"], "seed must be an integer in [0, 4294967295], got 1.5"),
    ("search", ["search_space=4"], "unknown search space 4, expected one of 1, 2, 3"),
    ("search", ["search_space=one"], "unknown search space 'one', expected one of 1, 2, 3"),
    ("search", ["method=foo"], "Could not find 'method/foo'"),
    ("search", ["data=imagenet"], "Could not find 'data/imagenet'"),
    ("search", ["train.epochs=0"], "train.epochs must be a positive integer, got 0"),
    ("search", ["train.epochs=2.5"], "train.epochs must be an integer, got 2.5"),
    ("search", ["train.batch_size=-1"], "train.batch_size must be a positive integer, got -1"),
    ("search", ["train.learning_rate=-0.1"], "train.learning_rate must be in (0.0, inf], got -0.1"),
    ("search", ["train.learning_rate=fast"], "train.learning_rate must be a number, got 'fast'"),
    ("search", ["train.momentum=1.5"], "train.momentum must be in [0.0, 1.0], got 1.5"),
    ("search", ["train.cutout_prob=2"], "train.cutout_prob must be in [0.0, 1.0], got 2"),
    ("search", ["train.grad_clip=nan"], "train.grad_clip must be a finite number, got nan"),
    ("search", ["supernet.channels=0"], "supernet.channels must be a positive integer, got 0"),
    ("search", ["supernet.bn_momentum=2"], "supernet.bn_momentum must be in [0.0, 1.0], got 2"),
    ("search", ["method.arch_learning_rate=0"],
     "method.arch_learning_rate must be in (0.0, inf], got 0"),
    ("search", ["method.arch_betas=[0.5]"], "method.arch_betas must be a list of 2 values"),
    ("search", ["method=gdas", "method.tau_min=20"],
     "method.tau_min 20.0 exceeds method.tau_max 10.0"),
    ("search", ["method=gdas", "method.unrolled=true"],
     "method.unrolled=true (second order) is for darts and pc_darts, not gdas"),
    ("search", ["method=enas", "+method.unrolled=true"], "unknown key method.unrolled for enas"),
    ("search", ["method=pc_darts", "supernet.channels=6"],
     "method.partial_channels k=4 must divide supernet.channels 6"),
    ("search", ["method=random_ws", "method.eval_samples=many"],
     "method.eval_samples must be an integer, got 'many'"),
    ("search", ["threads=0"], "threads must be a positive integer or auto, got 0"),
    ("search", ["threads=many"], "threads must be a positive integer or auto, got 'many'"),
    ("search", ["restart=yes"], "restart must be true or false, got 'yes'"),
    ("search", ["benchmark=nasbench101", "benchmark.path=/no/such/file.tfrecord"],
     "/no/such/file.tfrecord"),
    ("search", ["+benchmark.foo=1"], "unknown key benchmark.foo, expected one of name, path"),
    ("search", ["search_space=true"], "unknown search space True, expected one of 1, 2, 3"),
    ("search", ["search_space=1.0"], "unknown search space 1.0, expected one of 1, 2, 3"),
    ("search", ["method=enas", "method.temperature=nan"],
     "method.temperature must be a finite number, got nan"),
    ("search", ["method=enas", "method.controller_hidden=0"],
     "method.controller_hidden must be a positive integer, got 0"),
    ("search", ["method=enas", "method.baseline_decay=-3"],
     "method.baseline_decay must be in [0.0, 1.0], got -3"),
    ("search", ["method.arch_betas=[2,0.999]"],
     "method.arch_betas must be two numbers in [0, 1) (Adam's betas), got [2, 0.999]"),
    ("search", ["logger=wandb", "logger.tags=5"], "logger.tags must be a list or null, got 5"),
    ("search", ["logger=wandb", "logger.mode=loud"],
     "logger.mode must be auto, online, offline or disabled, got 'loud'"),
    ("search", ["logger=wandb", "+logger.colour=red"], "unknown key logger.colour for W&B"),
    ("search", ["+logger.foo=1"], "unknown key logger.foo for W&B, expected one of project"),
    # nb1s1-blackbox
    ("blackbox", ["trials=100000000"],
     "trials=100000000 is more than the 1,000,000 queries one run may make"),
    ("blackbox", ["trials=0"], "trials must be a positive integer, got 0"),
    ("blackbox", ["trials=null", "time_budget=null"],
     "trials and time_budget are both null; set at least one budget"),
    ("blackbox", ["time_budget=-5"], "time_budget must be in (0.0, inf], got -5"),
    ("blackbox", ["+foo=1"], "unknown key foo for nb1s1-blackbox"),
    ("blackbox", ["+benchmark.foo=1"], "unknown key benchmark.foo, expected one of name, path"),
    ("blackbox", ["selection_metric=accuracy"], "unknown selection_metric 'accuracy'"),
    ("blackbox", ["search_space=7"], "unknown search space 7"),
    ("blackbox", ["optimizer.population_size=maybe"],
     "optimizer.population_size must be a positive integer, got 'maybe'"),
    ("blackbox", ["optimizer.sample_size=500"], "optimizer.sample_size 500 exceeds"),
    ("blackbox", ["optimizer=tpe", "optimizer.multivariate=sometimes"],
     "optimizer.multivariate must be true or false, got 'sometimes'"),
    # nb1s1-hpo
    ("hpo", ["hpo.workers=-1"], "hpo.workers must be a non-negative integer, got -1"),
    ("hpo", ["hpo.eta=1"], "hpo.eta must be at least 2, got 1"),
    ("hpo", ["hpo.setting=cs9"], "unknown hpo setting 'cs9', expected one of cs1, cs2, cs3"),
    ("hpo", ["hpo.min_budget=10", "hpo.max_budget=5"],
     "hpo.min_budget 10 exceeds hpo.max_budget 5"),
    ("hpo", ["hpo.worker_only=true"], "a worker alone (hpo.worker_only=true) needs hpo.run_id"),
    ("hpo", ["hpo.worker_only=maybe"], "hpo.worker_only must be true or false, got 'maybe'"),
    ("hpo", ["hpo.iterations=2.5"], "hpo.iterations must be an integer, got 2.5"),
    ("hpo", ["+foo=1"], "unknown key foo for nb1s1-hpo"),
    ("hpo", ["hpo.port=-5"], "hpo.port must be an integer from 0 to 65535 (0: any free port), "
                             "got -5"),
    ("hpo", ["hpo.port=70000"], "hpo.port must be an integer from 0 to 65535"),
    ("hpo", ["logger.kind=banana"], "logger.kind must be wandb or none, got 'banana'"),
    ("hpo", ['hpo.search_overrides=["train.epoch=3"]'],
     "hpo.search_overrides: 'train.epoch=3' does not apply to the search config"),
    ("hpo", ['hpo.search_overrides=["train.epochs=7"]'],
     "hpo.search_overrides: 'train.epochs=7' sets what BOHB sets"),
    ("hpo", ["hpo.method=foo"], "hpo.method=foo does not give a search config"),
    ("hpo", ["logger.kind=wandb", "logger.mode=loud"],
     "logger.mode must be auto, online, offline or disabled, got 'loud'"),
    ("hpo", ['hpo.search_overrides=["supernet.channels=4","experiment=nope"]'],
     "hpo.search_overrides: 'experiment=nope' does not apply to the search config (In 'search': "
     "Could not find 'experiment/nope'; expected one of embedded, paper)"),
    ("hpo", ['hpo.search_overrides=["train.lr"]'],
     "hpo.search_overrides: 'train.lr' does not apply to the search config (Error parsing "
     "override 'train.lr'; missing EQUAL at '<EOF>')"),
    ("hpo", ['hpo.search_overrides=["train.batch_size=-1"]'],
     "hpo.search_overrides: 'train.batch_size=-1' does not apply to the search config "
     "(train.batch_size must be a positive integer, got -1)"),
    ("hpo", ["hpo.host=banana.invalid"],
     "hpo.host=banana.invalid is not a host name or address this machine knows"),
    ("hpo", ["hpo.host=192.0.2.1"],
     "hpo.host=192.0.2.1 is not an address of this machine; the name server listens there"),
    ("hpo", ["+hpo.foo=1"], "unknown key hpo.foo, expected one of method"),
    # nb1s1-build
    ("build", ["repeats=0"], "repeats must be a positive integer, got 0"),
    ("build", ["dataset=mnist"], "unknown build data 'mnist', expected one of"),
    ("build", ["+foo=1"], "unknown key foo for nb1s1-build"),
    ("build", ["train.flip=maybe"], "train.flip must be true or false, got 'maybe'"),
    ("build", ["network.stem_channels=many"],
     "network.stem_channels must be an integer, got 'many'"),
    ("build", ["+network.foo=1"], "unknown key network.foo"),
    ("build", ["train.device=cuda"], "train.device=cuda, but this PyTorch sees no CUDA GPU"),
    ("build", ["train.device=cuda:banana"],
     "unknown train.device 'cuda:banana', expected cpu, cuda or cuda:N"),
    ("build", ["threads=0"], "threads must be a positive integer, got 0"),
    ("build", ["num_shards=0"], "num_shards must be a positive integer, got 0"),
    ("build", ["seed=-1"], "seed must be an integer in [0, 4294967295], got -1"),
    ("build", ["data_seed=99999999999999999999"],
     "data_seed must be an integer in [0, 4294967295], got 99999999999999999999"),
]


@pytest.mark.parametrize("method", sorted(METHODS))
def test_every_number_a_method_takes_has_a_range(method: str):
    for key, value in method_defaults(method).items():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            assert key in METHOD_RANGES or key in METHOD_INTEGERS, (method, key)


def test_the_table_is_large_and_spans_every_app():
    assert len(BAD) >= 40
    assert {app for app, _, _ in BAD} == set(APPS)


@pytest.mark.parametrize(("app", "overrides", "sentence"), BAD,
                         ids=[f"{app}:{' '.join(o)}" for app, o, _ in BAD])
def test_a_bad_setting_is_one_sentence(app: str, overrides: list, sentence: str, tmp_path: Path,
                                       monkeypatch: pytest.MonkeyPatch, capsys):
    monkeypatch.chdir(tmp_path)
    quiet = [] if any(o.startswith(("logger=", "logger.kind=")) for o in overrides) \
        else QUIET[app]
    monkeypatch.setattr(sys, "argv", [f"nb1s1-{app}", *quiet, *overrides,
                                      f"hydra.run.dir={tmp_path / 'run'}"])
    with pytest.raises(SystemExit) as exit_:
        APPS[app]()
    err = capsys.readouterr().err
    assert exit_.value.code == 1, err
    assert sentence in err
    assert "Traceback" not in err
    if not sentence.startswith("Could not find"):  # Hydra's own message about a config group
        assert len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "run" / "metrics.jsonl").exists()
    if app == "hpo":  # every check of nb1s1-hpo comes before it claims the run dir
        for name in ("run.json", "run.lock", "nameserver.json"):
            assert not (tmp_path / "run" / name).exists(), name


CLI_BAD = [
    (["correlation", "RUN", "--samples", "-5"], "--samples must be a positive integer, got -5"),
    (["correlation", "RUN", "--batches", "0"], "--batches must be a positive integer, got 0"),
    (["correlation", "RUN", "--seed", "-1"], "--seed must be an integer in [0, 4294967295]"),
    (["analyze", "/no/such/dir"], "/no/such/dir does not exist"),
]


@pytest.mark.parametrize(("argv", "sentence"), CLI_BAD, ids=[" ".join(a) for a, _ in CLI_BAD])
def test_a_bad_nb1s1_argument_is_one_sentence(argv: list, sentence: str, tmp_path: Path, capsys):
    argv = [str(tmp_path) if a == "RUN" else a for a in argv]
    assert cli_main(argv) == 1
    err = capsys.readouterr().err
    assert sentence in err and "Traceback" not in err
