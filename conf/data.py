"""The data sets and benchmarks (config groups `data` and `benchmark`): one typed schema each,
the one place its defaults are written, and the named options of each group."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from nasbench1shot1.checks import SettingsError, number_in, seed_value
from nasbench1shot1.registry import Registry


@dataclass
class DataConfig:
    """A data set and its training augmentation. The defaults are the digits option:
    scikit-learn's 8x8 digits (no download), 1,000 train / 397 validation / 400 test images."""

    name: str = "digits"          # digits or cifar10
    root: str | None = None       # cifar10: the cifar-10-batches-py folder (downloaded there)
    split_seed: int = 0           # fixes the digits split
    crop_padding: int = 0         # random crop after padding by this many pixels; 0: none
    flip: bool = False            # random horizontal flips

    def __post_init__(self) -> None:
        from nasbench1shot1.data.registry import DATASETS

        if self.name not in DATASETS:
            raise SettingsError(f"unknown data set {self.name!r}, expected one of "
                                f"{', '.join(DATASETS)}")
        seed_value("data.split_seed", self.split_seed, SettingsError)
        number_in("data.crop_padding", self.crop_padding, 0.0, None, False, SettingsError)


#: The options of config group `data` (the names of `nasbench1shot1.data.registry.DATASETS`).
DATA_OPTIONS: Registry[DataConfig] = Registry("data set", sort=False)
DATA_OPTIONS.register("digits", DataConfig(), help=(
    "scikit-learn's 8x8 digits (no download): 1,000 train / 397 validation / 400 test images."))
DATA_OPTIONS.register("cifar10", DataConfig(name="cifar10", root="data/cifar-10-batches-py",
                                            crop_padding=4, flip=True), help=(
    "CIFAR-10 from a cifar-10-batches-py folder (downloaded there when missing), with "
    "NAS-Bench-101's augmentation."))


@dataclass
class BenchmarkConfig:
    """The tabular benchmark the cells are looked up in. The defaults are the embedded option:
    the digits benchmark of search space 1 shipped with the package (not NAS-Bench-101)."""

    name: str = "embedded"        # embedded or nasbench101
    path: str | None = None       # nasbench101: the official .tfrecord, its cache, or an .npz

    def __post_init__(self) -> None:
        if not (self.path or self.name):
            raise SettingsError("benchmark.path is empty; give the NAS-Bench-101 file or "
                                "benchmark=embedded")

    @classmethod
    def at(cls, where: str) -> BenchmarkConfig:
        """The benchmark `where` names (as run dirs store it): the embedded one, or a file."""
        return cls() if where == cls.name else cls(name="nasbench101", path=where)

    @property
    def where(self) -> str:
        """What `open_benchmark` takes: the path, or the name of the embedded benchmark."""
        return str(self.path or self.name)


#: The options of config group `benchmark`.
BENCHMARK_OPTIONS: Registry[BenchmarkConfig] = Registry("benchmark", sort=False)
BENCHMARK_OPTIONS.register("embedded", BenchmarkConfig(), help=(
    "The digits benchmark of search space 1 shipped with the package (not NAS-Bench-101)."))
BENCHMARK_OPTIONS.register("nasbench101", BenchmarkConfig(
    name="nasbench101", path="data/nasbench_only108.tfrecord"), help=(
    "NAS-Bench-101: the official file (nb1s1 benchmark download), its cache, or an .npz copy."))


def override_value(value: Any) -> str:
    """A config value as a Hydra override's value."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list):
        return "[" + ",".join(override_value(v) for v in value) + "]"
    if isinstance(value, str):
        # Hydra's quoted value: a backslash is literal unless a quote (or the closing quote)
        # follows it; `\${` keeps OmegaConf from reading ${...} as an interpolation
        text = value.replace("${", "\\${")
        text = re.sub(r"(\\*)'", lambda m: m.group(1) * 2 + "\\'", text)
        text = re.sub(r"(\\+)$", lambda m: m.group(1) * 2, text)
        return f"'{text}'"
    return str(value)


def option_overrides(group: str, values: dict) -> list[str]:
    """The Hydra overrides that choose option `values["name"]` of `group` (data, benchmark) with
    `values` (a section of a config, as a dict), e.g. for a search another app composes."""
    return [f"{group}={values['name']}", *(f"{group}.{key}={override_value(value)}"
                                          for key, value in values.items() if key != "name")]
