"""The settings of `nb1s1-estimate` (conf/estimate.yaml): the typed schema of the whole config,
the one place its defaults are written. One performance estimator (config group `estimator`,
conf/estimator.py) judged on the cells of a search space (or of all of NAS-Bench-101) against the
benchmark's test accuracy, with the ranking criteria and its costs."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from nasbench1shot1.checks import (
    SettingsError,
    device_of,
    positive_int,
    seed_value,
    threads_of,
)
from nasbench1shot1.conf.data import BenchmarkConfig, DataConfig
from nasbench1shot1.conf.estimator import OneShotConfig
from nasbench1shot1.conf.identity import identity_of

#: Settings that do not change what an estimate computes: a run may resume with other values.
NOT_IDENTITY = ("device", "threads", "progress")
#: Settings added after estimates were made, each with the value every earlier estimate had
#: (its default): at that value it is left out of the identity (conf/identity.py), so those
#: run dirs still resume.
LATER_SETTINGS = ({"estimator.sampling": OneShotConfig.sampling},
                  {"estimator.sharing_groups": OneShotConfig.sharing_groups})


@dataclass
class EstimateSettings:
    # the cells judged: a NAS-Bench-1Shot1 search space (1, 2 or 3), or all (every cell of the
    # benchmark, i.e. all of NAS-Bench-101)
    search_space: Any = 1
    cells: int | None = 1000      # test cells, sampled uniformly; null: every cell
    train_size: int = 100         # cells queried to fit a model-based predictor (not test cells)
    seed: int = 0                 # of the sampled cells, the networks' weights and the estimator
    device: str = "cpu"           # auto (CUDA when present), cpu, cuda, cuda:N
    threads: Any = "auto"         # PyTorch's CPU threads; auto: OMP_NUM_THREADS, else cores/jobs
    progress: bool = True         # a progress bar over the scored cells on a terminal
    estimator: Any = None         # a conf.estimator schema (config group `estimator`)
    data: DataConfig = field(default_factory=DataConfig)
    benchmark: BenchmarkConfig = field(default_factory=BenchmarkConfig)
    logger: Any = None            # a conf.logger schema (config group `logger`)

    def __post_init__(self) -> None:
        from nasbench1shot1.spaces import list_spaces

        if self.search_space != "all" and (isinstance(self.search_space, bool) or
                                           self.search_space not in list_spaces()):
            raise SettingsError(f"search_space must be one of "
                                f"{', '.join(map(str, list_spaces()))} or all, got "
                                f"{self.search_space!r}")
        if self.cells is not None:
            positive_int("cells", self.cells, SettingsError)
        positive_int("train_size", self.train_size, SettingsError)
        seed_value("seed", self.seed, SettingsError)
        self.device = device_of("device", self.device, SettingsError)
        self.threads = threads_of("threads", self.threads, SettingsError)
        if self.estimator is None:
            raise SettingsError("the config has no estimator; choose one with estimator=NAME")

    def identity(self) -> dict:
        """What the estimate computes from (its run dir's owner, estimate.json's settings)."""
        settings = {"search_space": self.search_space, "cells": self.cells,
                    "train_size": self.train_size, "seed": self.seed,
                    "estimator": asdict(self.estimator), "data": asdict(self.data),
                    "benchmark": self.benchmark.where, "device": self.device,
                    "threads": self.threads, "progress": self.progress}
        return identity_of(settings, NOT_IDENTITY, LATER_SETTINGS)
