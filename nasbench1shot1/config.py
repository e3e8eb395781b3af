"""The settings of a search, read from a Hydra config (conf/search.yaml) and checked.

`settings_from(cfg)` turns the composed config (an OmegaConf object or a plain dict) into typed,
frozen dataclasses and rejects bad values with one sentence naming the key, the value and what
is allowed, before any data is read or any network is built.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from nasbench1shot1 import threads as thread_policy
from nasbench1shot1.checks import (
    benchmark_of,
    check_fields,
    device_of,
    known_keys,
    number_in,
    plain_config,
    positive_int,
    seed_of,
    typed,
)
from nasbench1shot1.data.registry import DATASETS
from nasbench1shot1.spaces import list_spaces

#: The conf/ folder of Hydra configs (every default value).
CONFIG_DIR = Path(__file__).resolve().parents[1] / "conf"
#: The top-level keys of a composed search config (conf/search.yaml and its groups).
SEARCH_KEYS = ("search_space", "method", "data", "benchmark", "logger", "train", "supernet",
               "seed", "device", "threads", "restart")
#: Settings that do not change what a run computes, only how or where: a run may resume with
#: other values of them.
NOT_IDENTITY = ("device", "threads", "restart")


class SettingsError(ValueError):
    """A bad value in a search config."""


def _positive_int(key: str, value: Any) -> int:
    return positive_int(key, value, SettingsError)


def _number(key: str, value: Any, low: float | None = None, high: float | None = None,
            low_open: bool = False) -> float:
    return number_in(key, value, low, high, low_open, SettingsError)


@dataclass(frozen=True)
class TrainSettings:
    epochs: int
    batch_size: int
    learning_rate: float
    learning_rate_min: float
    momentum: float
    weight_decay: float
    grad_clip: float
    cutout: bool
    cutout_length: int
    cutout_prob: float
    train_portion: float

    def __post_init__(self) -> None:
        _positive_int("train.epochs", self.epochs)
        _positive_int("train.batch_size", self.batch_size)
        _number("train.learning_rate", self.learning_rate, 0.0, low_open=True)
        _number("train.learning_rate_min", self.learning_rate_min, 0.0)
        _number("train.momentum", self.momentum, 0.0, 1.0)
        _number("train.weight_decay", self.weight_decay, 0.0)
        _number("train.grad_clip", self.grad_clip, 0.0)
        _positive_int("train.cutout_length", self.cutout_length)
        _number("train.cutout_prob", self.cutout_prob, 0.0, 1.0)
        _number("train.train_portion", self.train_portion, 0.0, 1.0, low_open=True)
        if self.train_portion >= 1.0:
            raise SettingsError(
                f"train.train_portion must leave an architecture half, got {self.train_portion}"
            )


@dataclass(frozen=True)
class SupernetSettings:
    channels: int
    num_cells: int
    bn_momentum: float

    def __post_init__(self) -> None:
        _positive_int("supernet.channels", self.channels)
        _positive_int("supernet.num_cells", self.num_cells)
        _number("supernet.bn_momentum", self.bn_momentum, 0.0, 1.0)


@dataclass(frozen=True)
class DataSettings:
    name: str
    root: str | None
    split_seed: int
    crop_padding: int
    flip: bool

    def __post_init__(self) -> None:
        if self.name not in DATASETS:
            raise SettingsError(
                f"unknown data set {self.name!r}, expected one of {', '.join(DATASETS)}"
            )
        _number("data.split_seed", self.split_seed, 0.0)
        _number("data.crop_padding", self.crop_padding, 0.0)


@dataclass(frozen=True)
class MethodSettings:
    name: str
    params: tuple[tuple[str, Any], ...]

    def as_dict(self) -> dict:
        return dict(self.params)

    def __getattr__(self, key: str) -> Any:
        params = dict(object.__getattribute__(self, "params"))
        if key in params:
            return params[key]
        raise AttributeError(key)


@dataclass(frozen=True)
class SearchSettings:
    search_space: int
    method: MethodSettings
    data: DataSettings
    benchmark: str
    train: TrainSettings
    supernet: SupernetSettings
    seed: int
    device: str
    threads: int
    restart: bool = False

    def as_dict(self) -> dict:
        out = asdict(self)
        out["method"] = {"name": self.method.name, **self.method.as_dict()}
        return out

    def identity(self) -> dict:
        """What must match to resume a run or to share its run dir."""
        return {k: v for k, v in self.as_dict().items() if k not in NOT_IDENTITY}


#: The allowed range (low, high, low open) of every number a method takes; the integers among
#: them are positive. A method setting that is a number must be here (tests check it).
METHOD_RANGES: dict[str, tuple[float, float | None, bool]] = {
    "arch_learning_rate": (0.0, None, True),
    "arch_weight_decay": (0.0, None, False),
    "tau_max": (0.0, None, True),
    "tau_min": (0.0, None, True),
    "controller_learning_rate": (0.0, None, True),
    "controller_grad_clip": (0.0, None, False),
    "tanh_constant": (0.0, None, True),
    "temperature": (0.0, None, True),
    "entropy_weight": (0.0, None, False),
    "baseline_decay": (0.0, 1.0, False),
}
METHOD_INTEGERS = ("partial_channels", "controller_hidden", "eval_samples", "eval_batches")


def _section(cfg: dict, key: str, cls: type) -> Any:
    values = cfg.get(key)
    if not isinstance(values, dict):
        raise SettingsError(f"the config has no {key} section")
    return cls(**check_fields(f"{key}.", values, cls, SettingsError))


def _method_params(name: str, method: dict) -> dict:
    """A method's settings, each of the type of its default in conf/method/<name>.yaml."""
    expected = method_defaults(name)
    unknown = sorted(set(method) - set(expected))
    if unknown:
        raise SettingsError(
            f"unknown key method.{unknown[0]} for {name}, expected one of {', '.join(expected)}")
    missing = sorted(set(expected) - set(method))
    if missing:
        raise SettingsError(f"the config lacks method.{missing[0]} for {name}")
    checked = {}
    for key, value in method.items():
        default = expected[key]
        hint = Any if default is None else list[type(default[0])] if isinstance(
            default, list) and default else type(default)
        checked[key] = typed(f"method.{key}", value, hint, SettingsError)
        if isinstance(default, list) and len(value) != len(default):
            raise SettingsError(f"method.{key} must be a list of {len(default)} values, "
                                f"got {value!r}")
        if key in METHOD_INTEGERS:
            _positive_int(f"method.{key}", value)
        elif key in METHOD_RANGES:
            low, high, low_open = METHOD_RANGES[key]
            _number(f"method.{key}", value, low, high, low_open)
        elif key == "arch_betas" and not all(0.0 <= beta < 1.0 for beta in value):
            raise SettingsError(f"method.arch_betas must be two numbers in [0, 1) (Adam's "
                                f"betas), got {value!r}")
    return checked


def settings_from(cfg: Any) -> SearchSettings:
    """Checked settings of a composed search config (OmegaConf or dict)."""
    if isinstance(cfg, SearchSettings):
        return cfg
    cfg = plain_config(cfg)
    known_keys(cfg, SEARCH_KEYS, "nb1s1-search", SettingsError)
    number = cfg.get("search_space")
    if isinstance(number, bool) or not isinstance(number, int) or number not in list_spaces():
        raise SettingsError(
            f"unknown search space {number!r}, expected one of "
            f"{', '.join(map(str, list_spaces()))}"
        )
    from nasbench1shot1.methods import METHODS

    method = dict(cfg.get("method") or {})
    name = method.pop("name", None)
    if name not in METHODS:
        raise SettingsError(
            f"unknown method {name!r}, expected one of {', '.join(sorted(METHODS))}"
        )
    method.pop("batch_size", None)  # feeds train.batch_size through the config
    method = _method_params(name, method)
    if name == "gdas" and method.get("unrolled"):
        raise SettingsError("method.unrolled=true (second order) is for darts and pc_darts, "
                            "not gdas, whose architecture is sampled anew for every loss")
    if "tau_min" in method and method["tau_min"] > method["tau_max"]:
        raise SettingsError(f"method.tau_min {method['tau_min']} exceeds method.tau_max "
                            f"{method['tau_max']}")
    where = benchmark_of(cfg, SettingsError)
    device = device_of("device", cfg.get("device", "auto"), SettingsError)
    seed = seed_of(cfg, SettingsError)
    try:
        threads = thread_policy.resolve(cfg.get("threads", "auto"))
    except ValueError as error:
        raise SettingsError(str(error)) from None
    restart = typed("restart", cfg.get("restart", False), bool, SettingsError)
    supernet = _section(cfg, "supernet", SupernetSettings)
    k = method.get("partial_channels", 1)
    if supernet.channels % k:
        raise SettingsError(f"method.partial_channels k={k} must divide supernet.channels "
                            f"{supernet.channels}")
    return SearchSettings(
        search_space=number,
        method=MethodSettings(name, tuple(sorted(method.items()))),
        data=_section(cfg, "data", DataSettings),
        benchmark=where,
        train=_section(cfg, "train", TrainSettings),
        supernet=supernet,
        seed=seed,
        device=device,
        threads=threads,
        restart=restart,
    )



def method_defaults(name: str) -> dict:
    """The defaults of a method as conf/method/<name>.yaml gives them (without name and batch
    size), for code that builds a method outside a composed search config."""
    from omegaconf import OmegaConf

    path = CONFIG_DIR / "method" / f"{name}.yaml"
    if not path.is_file():
        raise SettingsError(f"unknown method {name!r}: no {path}")
    values = OmegaConf.to_container(OmegaConf.load(path), resolve=True)
    values.pop("name", None)
    values.pop("batch_size", None)
    return values
