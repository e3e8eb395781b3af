"""Regularized evolution pre-screened by a zero-cost proxy (Abdelfattah et al., 2021, "Zero-Cost
Proxies for Lightweight NAS") as the black-box optimizer `re_prescreen`.

This module owns the two ways Abdelfattah et al. put a proxy into aging evolution, both on
(`PrescreenedSpace`):

- warmup: `warmup` random configurations are scored by the proxy, and the initial population is
  the `population_size` best distinct cells among them. Their code scores 3,000 for a
  population of 64.
- move proposal: each child is the best-scored of `move_candidates` mutations of the parent.
  Their code scores every neighbour and takes a random one a quarter of the time. Here
  `move_candidates` draws of the space's own mutation play that part.

Everything else is `regularized_evolution` unchanged: tournament, aging and mutation operator.
It runs on a view of the objective whose search space is the pre-screened one. The proxy builds
the untrained network of each cell (the benchmark's stored cell, so isomorphic configurations
are scored once) on one mini-batch of the `data` setting. The embedded benchmark is digits
(`data=digits`, the default); NAS-Bench-101 is CIFAR-10 (`data=cifar10 data_root=...
network=paper`). It never queries the benchmark.

The proxy's cost is real wall time, not NAS-Bench-101 training time, so it is not added to the
simulated time. It is logged at the end and written to `prescreen.json` in the run dir: cells
scored, proxy seconds, seconds per cell. The trajectory's `wall_time` includes it.
"""

from __future__ import annotations

import logging
import time

import numpy as np

from nasbench1shot1.blackbox.bananas import Cells
from nasbench1shot1.blackbox.base import count, device, integer, one_of, register
from nasbench1shot1.blackbox.regularized_evolution import regularized_evolution, sample_fits
from nasbench1shot1.conf.estimator import ZeroCostConfig
from nasbench1shot1.estimators import ESTIMATORS, Context
from nasbench1shot1.estimators.zero_cost import MEASURES, NETWORKS
from nasbench1shot1.runfiles import PRESCREEN_FILE, write_json

log = logging.getLogger(__name__)

#: The data sets whose images the proxy scores on.
DATA_SETS = ("digits", "cifar10")


def _optional_text(key: str, value) -> str | None:
    if value is not None and not (isinstance(value, str) and value):
        raise ValueError(f"{key} must be a folder name or null, got {value!r}")
    return value


def _checks(params: dict) -> None:
    sample_fits(params)
    if params["data"] == "cifar10" and params["data_root"] is None:
        raise ValueError("optimizer.data=cifar10 needs optimizer.data_root, the "
                         "cifar-10-batches-py folder")


class Proxy:
    """The zero-cost score of configurations, each distinct cell scored once (higher = better;
    a NaN score counts as the worst)."""

    def __init__(self, objective, params: dict, seed: int):
        from nasbench1shot1.data.registry import load_data

        self.objective = objective
        self.name = params["proxy"]
        context = Context(benchmark=objective.benchmark, epochs=objective.max_budget, seed=seed,
                          space=objective.space, device=params["device"],
                          load_data=lambda: load_data(params["data"], params["data_root"]))
        self.estimator = ESTIMATORS.create(self.name, ZeroCostConfig(
            name=self.name, batch_size=params["batch_size"], network=params["network"]), context)
        self.cells = Cells(objective)
        self.scores: dict[str, float] = {}

    def __call__(self, archs: list) -> np.ndarray:
        hashes = [self.objective.cell(arch) for arch in archs]
        new = [cell for cell in dict.fromkeys(hashes) if cell not in self.scores]
        if new:
            values = self.estimator.run_score(self.cells.specs(new))
            self.scores.update(zip(new, np.nan_to_num(values, nan=-np.inf)))
        return np.array([self.scores[cell] for cell in hashes])

    @property
    def seconds(self) -> float:
        return self.estimator.cost.query_seconds


class PrescreenedSpace:
    """The search space as regularized evolution sees it here: `sample` hands out the seeded
    population first (best first), then uniform configurations; `mutate` returns the
    best-scored of `move_candidates` mutations (the first on ties). Everything else is the
    space's own."""

    def __init__(self, space, proxy: Proxy, seeded: list, move_candidates: int):
        self.space = space
        self.proxy = proxy
        self.seeded = list(seeded)
        self.move_candidates = move_candidates

    def sample(self, rng: np.random.Generator):
        return self.seeded.pop(0) if self.seeded else self.space.sample(rng)

    def mutate(self, arch, rng: np.random.Generator):
        children = [self.space.mutate(arch, rng) for _ in range(self.move_candidates)]
        if len(children) == 1:
            return children[0]
        return children[int(np.argmax(self.proxy(children)))]

    def __getattr__(self, name: str):
        return getattr(self.space, name)


class _ScreenedObjective:
    """The objective with the pre-screened space in place of its own."""

    def __init__(self, objective, space: PrescreenedSpace):
        self._objective = objective
        self.space = space

    def __getattr__(self, name: str):
        return getattr(self._objective, name)


def warmup_population(objective, proxy: Proxy, draws: int, size: int,
                      rng: np.random.Generator) -> list:
    """The configurations of the `size` best-scored distinct cells among `draws` uniform
    draws, best first (the earlier drawn on ties); none when `draws` is 0."""
    if not draws:
        return []
    archs = {}
    for _ in range(draws):
        arch = objective.space.sample(rng)
        archs.setdefault(objective.cell(arch), arch)
    distinct = list(archs.values())
    scores = proxy(distinct)
    order = np.argsort(-scores, kind="stable")[:size]
    log.info("re_prescreen warmup: %s of %d distinct cells (of %d draws) in %.1f s; the "
             "population starts from the best %d", proxy.name, len(distinct), draws,
             proxy.seconds, len(order))
    return [distinct[i] for i in order]


@register("re_prescreen", cross_check=_checks, population_size=integer, sample_size=integer,
          proxy=one_of(MEASURES), warmup=count, move_candidates=integer,
          data=one_of(DATA_SETS), data_root=_optional_text, network=one_of(NETWORKS),
          batch_size=integer, device=device)
def re_prescreen(objective, params: dict, seed: int, run_dir) -> None:
    started = time.perf_counter()
    proxy = Proxy(objective, params, seed)
    seeded = warmup_population(objective, proxy, params["warmup"], params["population_size"],
                               np.random.default_rng([seed, 1]))
    space = PrescreenedSpace(objective.space, proxy, seeded, params["move_candidates"])
    try:
        regularized_evolution(_ScreenedObjective(objective, space),
                              {k: params[k] for k in ("population_size", "sample_size")},
                              seed, run_dir)
    finally:
        cost = {"proxy": proxy.name, "cells_scored": len(proxy.scores),
                "proxy_seconds": proxy.seconds,
                "seconds_per_cell": proxy.seconds / len(proxy.scores) if proxy.scores else None,
                "optimizer_seconds": time.perf_counter() - started}
        if run_dir is not None:
            write_json(run_dir / PRESCREEN_FILE, cost)
        log.info("re_prescreen: %s scored %d cells in %.1f s of wall time (not in the simulated "
                 "time; %s)", proxy.name, len(proxy.scores), proxy.seconds,
                 PRESCREEN_FILE)
