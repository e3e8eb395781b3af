"""One table of bad inputs across the apps, each with the sentence it must give: the app exits 1
with one line naming the key, the value and what is allowed, never a traceback, and nothing is
silently reinterpreted (a bool given as 'maybe', an unknown +key, a negative padding)."""

import sys
from pathlib import Path

import pytest

from nasbench1shot1.blackbox_app import main as blackbox_main
from nasbench1shot1.build_app import main as build_main
from nasbench1shot1.cli import main as cli_main
from nasbench1shot1.conf.method import METHOD_CONFIGS
from nasbench1shot1.config import SettingsError, method_defaults
from nasbench1shot1.hpo.app import main as hpo_main
from nasbench1shot1.methods import METHODS
from nasbench1shot1.search_app import main as search_main

APPS = {"search": search_main, "blackbox": blackbox_main, "hpo": hpo_main, "build": build_main}
QUIET = {"search": ["logger=none"], "blackbox": ["logger=none"], "hpo": [], "build": []}

#: How Hydra's and OmegaConf's own messages begin (a wrong type, an unknown option or key).
HYDRA_MESSAGES = ("Value '", "Could not find", "Invalid value", "Key '")

BAD = [
    # nb1s1-search
    ("search", ["method.unrolled=maybe"], "Value 'maybe' is not a valid bool"),
    ("search", ["train.cutout=sometimes"], "Value 'sometimes' is not a valid bool"),
    ("search", ["+foo=1"], "unknown key foo, expected one of search_space, seed"),
    ("search", ["foo=1"], "Key 'foo' not in 'SearchSettings'"),
    ("search", ["+train.foo=1"], "unknown key train.foo, expected one of epochs"),
    ("search", ["+method.foo=1"], "unknown key method.foo for darts"),
    ("search", ["data.crop_padding=-3"], "data.crop_padding must be in [0.0, inf], got -3"),
    ("search", ["data.flip=banana"], "Value 'banana' is not a valid bool"),
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
    ("search", ["seed=1.5"], "Value '1.5' of type 'float' could not be converted to Integer"),
    ("search", ["search_space=4"], "unknown search space 4, expected one of 1, 2, 3"),
    ("search", ["search_space=one"], "Value 'one' of type 'str' could not be converted to Integ"),
    ("search", ["method=foo"], "Could not find 'method/foo'"),
    ("search", ["data=imagenet"], "Could not find 'data/imagenet'"),
    ("search", ["train.epochs=0"], "train.epochs must be a positive integer, got 0"),
    ("search", ["train.epochs=2.5"], "Value '2.5' of type 'float' could not be converted to In"),
    ("search", ["train.batch_size=-1"], "train.batch_size must be a positive integer, got -1"),
    ("search", ["train.learning_rate=-0.1"], "train.learning_rate must be in (0.0, inf], got -0.1"),
    ("search", ["train.learning_rate=fast"], "Value 'fast' of type 'str' could not be converted"),
    ("search", ["train.momentum=1.5"], "train.momentum must be in [0.0, 1.0], got 1.5"),
    ("search", ["train.cutout_prob=2"], "train.cutout_prob must be in [0.0, 1.0], got 2"),
    ("search", ["train.grad_clip=nan"], "train.grad_clip must be a finite number, got nan"),
    ("search", ["supernet.channels=0"], "supernet.channels must be a positive integer, got 0"),
    ("search", ["supernet.bn_momentum=2"], "supernet.bn_momentum must be in [0.0, 1.0], got 2"),
    ("search", ["method.arch_learning_rate=0"],
     "method.arch_learning_rate must be in (0.0, inf], got 0"),
    ("search", ["method.arch_betas=[0.5]"], "method.arch_betas must be two numbers in [0, 1)"),
    ("search", ["method.arch_betas=[a,b]"], "Value 'a' of type 'str' could not be converted"),
    ("search", ["method=gdas", "method.tau_min=20"],
     "method.tau_min 20.0 exceeds method.tau_max 10.0"),
    ("search", ["method=gdas", "method.unrolled=true"],
     "method.unrolled=true (second order) is for darts and pc_darts, not gdas"),
    ("search", ["method=enas", "+method.unrolled=true"], "unknown key method.unrolled for enas"),
    ("search", ["method=pc_darts", "supernet.channels=6"],
     "method.partial_channels k=4 must divide supernet.channels 6"),
    ("search", ["method=random_ws", "method.eval_samples=many"],
     "Value 'many' of type 'str' could not be converted to Integer"),
    ("search", ["method=random_ws", "method.eval_samples=0"],
     "method.eval_samples must be a positive integer, got 0"),
    ("search", ["method.name=gdas"], "method.name=gdas does not match the settings of darts"),
    ("search", ["objective=test_error"], "unknown objective 'test_error', expected one of"),
    ("search", ["threads=0"], "threads must be a positive integer or auto, got 0"),
    ("search", ["threads=many"], "threads must be a positive integer or auto, got 'many'"),
    ("search", ["restart=perhaps"], "Value 'perhaps' is not a valid bool"),
    ("search", ["progress=perhaps"], "Value 'perhaps' is not a valid bool"),
    ("search", ["benchmark=nasbench101", "benchmark.path=/no/such/file.tfrecord"],
     "benchmark file /no/such/file.tfrecord does not exist; `nb1s1 benchmark download --dest "
     "DIR` fetches the official NAS-Bench-101 file"),
    ("search", ["+benchmark.foo=1"], "unknown key benchmark.foo, expected one of name, path"),
    ("search", ["search_space=true"], "Value 'True' of type 'bool' could not be converted"),
    ("search", ["search_space=1.5"], "Value '1.5' of type 'float' could not be converted"),
    ("search", ["method=enas", "method.temperature=nan"],
     "method.temperature must be a finite number, got nan"),
    ("search", ["method=enas", "method.controller_hidden=0"],
     "method.controller_hidden must be a positive integer, got 0"),
    ("search", ["method=enas", "method.baseline_decay=-3"],
     "method.baseline_decay must be in [0.0, 1.0], got -3"),
    ("search", ["method.arch_betas=[2,0.999]"],
     "method.arch_betas must be two numbers in [0, 1) (Adam's betas), got [2.0, 0.999]"),
    ("search", ["logger=wandb", "logger.tags=5"], "Invalid value assigned: int is not a ListCo"),
    ("search", ["logger=wandb", "logger.mode=loud"],
     "logger.mode must be auto, online, offline or disabled, got 'loud'"),
    ("search", ["logger=wandb", "+logger.colour=red"],
     "unknown key logger.colour, expected one of kind, project"),
    ("search", ["logger=none", "+logger.foo=1"], "unknown key logger.foo, expected one of kind"),
    ("search", ["logger=slack"], "Could not find 'logger/slack'"),
    # nb1s1-blackbox
    ("blackbox", ["trials=100000000"],
     "trials=100000000 is more than the 1,000,000 queries one run may make"),
    ("blackbox", ["trials=0"], "trials must be a positive integer, got 0"),
    ("blackbox", ["trials=null", "time_budget=null"],
     "trials and time_budget are both null; set at least one budget"),
    ("blackbox", ["time_budget=-5"], "time_budget must be in (0.0, inf], got -5"),
    ("blackbox", ["+foo=1"], "unknown key foo, expected one of search_space, seed, trials"),
    ("blackbox", ["+benchmark.foo=1"], "unknown key benchmark.foo, expected one of name, path"),
    ("blackbox", ["selection_metric=accuracy"], "unknown selection_metric 'accuracy'"),
    ("blackbox", ["search_space=7"], "unknown search space 7"),
    ("blackbox", ["optimizer.population_size=maybe"],
     "Value 'maybe' of type 'str' could not be converted to Integer"),
    ("blackbox", ["optimizer.population_size=0"],
     "optimizer.population_size must be a positive integer, got 0"),
    ("blackbox", ["objective=test_error"], "unknown objective 'test_error', expected one of"),
    ("blackbox", ["optimizer.sample_size=500"], "optimizer.sample_size 500 exceeds"),
    ("blackbox", ["optimizer=tpe", "optimizer.multivariate=sometimes"],
     "Value 'sometimes' is not a valid bool"),
    # nb1s1-hpo
    ("hpo", ["workers=-1"], "workers must be a non-negative integer, got -1"),
    ("hpo", ["eta=1"], "eta must be at least 2, got 1"),
    ("hpo", ["setting=cs9"], "unknown hpo setting 'cs9', expected one of cs1, cs2, cs3"),
    ("hpo", ["min_budget=10", "max_budget=5"],
     "min_budget 10 exceeds max_budget 5"),
    ("hpo", ["worker_only=true"], "a worker alone (worker_only=true) needs run_id"),
    ("hpo", ["worker_only=maybe"], "Value 'maybe' is not a valid bool"),
    ("hpo", ["iterations=2.5"], "Value '2.5' of type 'float' could not be converted to Integer"),
    ("hpo", ["+foo=1"], "unknown key foo, expected one of method, search_space"),
    ("hpo", ["port=-5"], "port must be an integer from 0 to 65535 (0: any free port), "
                             "got -5"),
    ("hpo", ["port=70000"], "port must be an integer from 0 to 65535"),
    ("hpo", ["logger=banana"], "Could not find 'logger/banana'"),
    ("hpo", ["data=imagenet"], "Could not find 'data/imagenet'"),
    ("hpo", ["data=cifar10", "data.root=/no/such/folder", "benchmark=nasbench101",
             "benchmark.path=/no/such/file"], "/no/such/file"),
    ("hpo", ['search_overrides=["train.epoch=3"]'],
     "search_overrides: 'train.epoch=3' does not apply to the search config"),
    ("hpo", ['search_overrides=["train.epochs=7"]'],
     "search_overrides: 'train.epochs=7' sets what BOHB sets"),
    ("hpo", ["method=foo"], "Could not find 'method/foo'"),
    ("hpo", ["method=enas", "setting=cs3"], "hpo setting cs3 tunes architecture weights, which "
                                            "enas does not have"),
    ("hpo", ["method.arch_learning_rate=-1"],
     "method.arch_learning_rate must be in (0.0, inf], got -1"),
    ("hpo", ["logger=wandb", "logger.mode=loud"],
     "logger.mode must be auto, online, offline or disabled, got 'loud'"),
    ("hpo", ['search_overrides=["supernet.channels=4","experiment=nope"]'],
     "search_overrides: 'experiment=nope' does not apply to the search config (In 'search': "
     "Could not find 'experiment/nope'; expected one of embedded, paper)"),
    ("hpo", ['search_overrides=["train.lr"]'],
     "search_overrides: 'train.lr' does not apply to the search config (Error parsing "
     "override 'train.lr'; missing EQUAL at '<EOF>')"),
    ("hpo", ['search_overrides=["train.batch_size=-1"]'],
     "search_overrides: 'train.batch_size=-1' does not apply to the search config "
     "(train.batch_size must be a positive integer, got -1)"),
    ("hpo", ["host=banana.invalid"],
     "host=banana.invalid is not a host name or address this machine knows"),
    ("hpo", ["host=192.0.2.1"],
     "host=192.0.2.1 is not an address of this machine; the name server listens there"),
    ("hpo", ["+seed_of_doubt=1"], "unknown key seed_of_doubt, expected one of method"),
    # nb1s1-build
    ("build", ["repeats=0"], "repeats must be a positive integer, got 0"),
    ("build", ["data=mnist"], "Could not find 'data/mnist'"),
    ("build", ["+foo=1"], "unknown key foo, expected one of search_space, repeats"),
    ("build", ["data.flip=maybe"], "Value 'maybe' is not a valid bool"),
    ("build", ["network.stem_channels=many"],
     "Value 'many' of type 'str' could not be converted to Integer"),
    ("build", ["+network.foo=1"], "unknown key network.foo"),
    ("build", ["network.stem_channels=0"], "stem_channels must be a positive integer, got 0"),
    ("build", ["train.device=cuda"], "train.device=cuda, but this PyTorch sees no CUDA GPU"),
    ("build", ["train.device=cuda:banana"],
     "unknown train.device 'cuda:banana', expected cpu, cuda or cuda:N"),
    ("build", ["threads=0"], "threads must be a positive integer, got 0"),
    ("build", ["num_shards=0"], "num_shards must be a positive integer, got 0"),
    ("build", ["seed=-1"], "seed must be an integer in [0, 4294967295], got -1"),
    ("build", ["data.split_seed=99999999999999999999"],
     "data.split_seed must be an integer in [0, 4294967295], got 99999999999999999999"),
]


@pytest.mark.parametrize("method", sorted(METHODS))
def test_every_number_a_method_takes_is_checked(method: str):
    """A method setting that is a number refuses a value out of its range (here -1)."""
    for key, value in method_defaults(method).items():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            with pytest.raises(SettingsError, match=f"method.{key} must be"):
                METHOD_CONFIGS[method](**{key: -1})


def test_the_table_is_large_and_spans_every_app():
    assert len(BAD) >= 40
    assert {app for app, _, _ in BAD} == set(APPS)


@pytest.mark.parametrize(("app", "overrides", "sentence"), BAD,
                         ids=[f"{app}:{' '.join(o)}" for app, o, _ in BAD])
def test_a_bad_setting_is_one_sentence(app: str, overrides: list, sentence: str, tmp_path: Path,
                                       monkeypatch: pytest.MonkeyPatch, capsys):
    monkeypatch.chdir(tmp_path)
    quiet = [] if any(o.startswith("logger=") for o in overrides) \
        else QUIET[app]
    monkeypatch.setattr(sys, "argv", [f"nb1s1-{app}", *quiet, *overrides,
                                      f"hydra.run.dir={tmp_path / 'run'}"])
    with pytest.raises(SystemExit) as exit_:
        APPS[app]()
    err = capsys.readouterr().err
    assert exit_.value.code == 1, err
    assert sentence in err
    assert "Traceback" not in err
    if sentence.startswith(HYDRA_MESSAGES):  # Hydra's own message: it names the key too
        assert "full_key:" in err or "Could not find" in err, err
    else:
        assert len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "run" / "metrics.jsonl").exists()
    if not (tmp_path / "run" / "run.json").exists():  # refused before it claimed the run dir
        assert not (tmp_path / "run").exists()
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


#: Refused by the app wrapper before Hydra starts: old spellings (naming the new one) and
#: group=null (a traceback inside Hydra 1.3).
BEFORE_HYDRA = [
    ("search", "method=null", "method=null cannot unset config group method; choose one of darts"),
    ("blackbox", "optimizer=null", "optimizer=null cannot unset config group optimizer"),
    ("hpo", "data=null", "data=null cannot unset config group data; choose one of digits, cifar10"),
    ("hpo", "hpo.method=gdas", "hpo.method= is spelled method= now"),
    ("hpo", "hpo.search_overrides=[experiment=paper]",
     "hpo.search_overrides= is spelled search_overrides= now"),
    ("hpo", "logger.kind=wandb", "logger.kind= is spelled logger= now"),
    ("search", "logger.kind=none", "logger.kind= is spelled logger= now"),
    ("build", "space=2", "space= is spelled search_space= now"),
    ("build", "dataset=cifar10", "dataset= is spelled data= now"),
    ("build", "data_root=/data", "data_root= is spelled data.root= now"),
    ("build", "data_seed=3", "data_seed= is spelled data.split_seed= now"),
    ("build", "train.flip=true", "train.flip= is spelled data.flip= now"),
]


@pytest.mark.parametrize(("app", "override", "sentence"), BEFORE_HYDRA,
                         ids=[o for _, o, _ in BEFORE_HYDRA])
def test_an_old_spelling_or_an_unset_group_is_one_sentence(app: str, override: str, sentence: str,
                                           tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                           capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", [f"nb1s1-{app}", override])
    with pytest.raises(SystemExit) as exit_:
        APPS[app]()
    err = capsys.readouterr().err
    assert exit_.value.code == 2
    assert err.strip().splitlines() == [err.strip()] and sentence in err
    assert not any(tmp_path.iterdir())  # refused before Hydra made a run dir


def test_a_refused_start_never_removes_the_users_own_folder(tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch,
                                                             capsys):
    """hydra.run.dir=. : the run dir is the working directory, which is not this start's to
    remove; a refused start in a default run dir removes what Hydra made for it."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["nb1s1-search", "logger=none", "train.epochs=0",
                                      "hydra.run.dir=."])
    with pytest.raises(SystemExit):
        search_main()
    assert tmp_path.is_dir() and (tmp_path / ".hydra").is_dir()
    capsys.readouterr()
    (tmp_path / "keep.txt").write_text("mine")
    monkeypatch.setattr(sys, "argv", ["nb1s1-search", "logger=none", "train.epochs=0"])
    with pytest.raises(SystemExit):
        search_main()
    assert "train.epochs must be a positive integer" in capsys.readouterr().err
    assert not (tmp_path / "outputs").exists() and (tmp_path / "keep.txt").is_file()


def test_a_refused_start_keeps_a_run_dir_another_run_holds(tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch):
    """The dir is removed under its lock: a run that took it meanwhile keeps it."""
    from nasbench1shot1.runfiles import LOCK_FILE, held

    monkeypatch.chdir(tmp_path)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    monkeypatch.setattr(sys, "argv", ["nb1s1-search", "logger=none", "train.epochs=0",
                                      f"hydra.run.dir={run_dir}"])
    with held(run_dir / LOCK_FILE, str(run_dir), "-"), pytest.raises(SystemExit):
        search_main()
    assert (run_dir / ".hydra").is_dir()
    with pytest.raises(SystemExit):  # nobody holds it now: the refused start's dir goes
        search_main()
    assert not run_dir.exists()
