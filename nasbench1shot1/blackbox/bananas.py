"""BANANAS (White et al., 2021, "BANANAS: Bayesian optimization with neural architectures for
neural architecture search") as the black-box optimizer `bananas`.

This module owns the BANANAS loop and its candidate generation. It queries `initial_samples`
distinct random cells. Then each round it:

1. fits the project's `mlp_ensemble` predictor (`nasbench1shot1.estimators.predictors`) on every
   cell queried so far. The targets are the errors the `TabularObjective` returned for those
   queries (one recorded repeat each), never the benchmark's mean or its test accuracy.
2. makes `candidates` distinct, not yet queried cells by mutating the `mutate_top` best queried
   cells with the search space's mutation (the one regularized evolution uses).
3. scores the candidates with every member of the ensemble (mean and spread of the predicted
   error).
4. queries the `queries_per_round` best by the acquisition: independent Thompson sampling (`its`,
   one draw from N(mean, sd) per candidate, BANANAS' default) or `ucb` (the lowest
   mean - exploration * sd of the error).

The predictor is made through the estimators' registry, but it is fit with `fit_model` on the
objective's figures rather than `fit(hashes)`. `fit(hashes)` queries the benchmark's mean
validation accuracy itself and counts the cost a second time. The members' predictions come from
the batched network (`forward`), because `score` returns only their mean.

Defaults follow the authors' code (naszilla/bananas): 10 initial cells, 10 queries per round,
100 candidates, an ensemble of 5, 200 epochs. There is one change: the candidates mutate the
10 best cells, not the best one. This project's mutation changes exactly one op or parent set,
so one cell has only about 24 neighbours (space 1). BANANAS' mutation changes several edges and
ops at a time.
"""

from __future__ import annotations

import logging

import numpy as np
import torch

from nasbench1shot1.blackbox.base import integer, non_negative, one_of, register
from nasbench1shot1.conf.estimator import ENCODINGS, PredictorConfig
from nasbench1shot1.estimators import ESTIMATORS, Context
from nasbench1shot1.estimators.encodings import encode

log = logging.getLogger(__name__)

ACQUISITIONS = ("its", "ucb")
#: Draws allowed per wanted cell before a candidate set (or a random sample) is left short, as
#: BANANAS' `patience_factor`.
PATIENCE = 5


class Cells:
    """The cells of the objective's space by hash: each cell's ModelSpec (as the benchmark
    stores it, so isomorphic configurations are one cell) and encodings, computed once."""

    def __init__(self, objective):
        self.objective = objective
        self.context = Context(benchmark=objective.benchmark, epochs=objective.max_budget,
                               space=objective.space)
        self._specs: dict = {}

    def spec(self, cell: str):
        if cell not in self._specs:
            self._specs[cell] = self.context.specs([cell])[0]
        return self._specs[cell]

    def specs(self, cells):
        return [self.spec(cell) for cell in cells]


def distinct_samples(objective, rng: np.random.Generator, wanted: int,
                     exclude: set[str]) -> list:
    """Up to `wanted` random configurations of distinct cells not in `exclude` (fewer when
    `PATIENCE * wanted` draws do not find them)."""
    found: dict = {}
    for _ in range(PATIENCE * wanted):
        if len(found) == wanted:
            break
        arch = objective.space.sample(rng)
        cell = objective.cell(arch)
        if cell not in exclude and cell not in found:
            found[cell] = arch
    return list(found.values())


def mutated_candidates(objective, parents: list, rng: np.random.Generator, wanted: int,
                       exclude: set[str]) -> list:
    """Up to `wanted` configurations of distinct cells not in `exclude`, each one mutation of
    a parent (the parents in turn)."""
    found: dict = {}
    for draw in range(PATIENCE * wanted):
        if len(found) == wanted:
            break
        arch = objective.space.mutate(parents[draw % len(parents)], rng)
        cell = objective.cell(arch)
        if cell not in exclude and cell not in found:
            found[cell] = arch
    return list(found.values())


def acquire(mean: np.ndarray, spread: np.ndarray, how: str, exploration: float,
            rng: np.random.Generator) -> np.ndarray:
    """The candidates' order, best first, for predicted errors `mean` +- `spread` (lower is
    better): `its` sorts one independent draw from N(mean, spread) per candidate, `ucb` sorts
    mean - exploration * spread."""
    value = rng.normal(mean, spread) if how == "its" else mean - exploration * spread
    return np.argsort(value, kind="stable")


def ensemble_predictions(predictor, features: np.ndarray) -> np.ndarray:
    """(members, cells): each ensemble member's prediction (standardized units)."""
    with torch.no_grad():
        return predictor.forward(predictor.tensors(features)).double().cpu().numpy()


def _enough_candidates(params: dict) -> None:
    if params["queries_per_round"] > params["candidates"]:
        raise ValueError(f"optimizer.queries_per_round {params['queries_per_round']} exceeds "
                         f"optimizer.candidates {params['candidates']}")
    if params["initial_samples"] < 2:
        raise ValueError(f"optimizer.initial_samples must be at least 2 to fit the predictor, "
                         f"got {params['initial_samples']}")


@register("bananas", cross_check=_enough_candidates, initial_samples=integer,
          candidates=integer, mutate_top=integer, queries_per_round=integer,
          acquisition=one_of(ACQUISITIONS), exploration=non_negative,
          encoding=one_of(ENCODINGS), ensemble=integer, train_epochs=integer)
def bananas(objective, params: dict, seed: int, run_dir) -> None:
    rng = np.random.default_rng(seed)
    cells = Cells(objective)
    config = PredictorConfig(name="mlp_ensemble", encoding=params["encoding"],
                             ensemble=params["ensemble"], train_epochs=params["train_epochs"])
    predictor = ESTIMATORS.create("mlp_ensemble", config, Context(
        benchmark=objective.benchmark, epochs=objective.max_budget, seed=seed,
        space=objective.space))
    queried: dict[str, tuple] = {}  # cell -> (configuration, the error the objective returned)

    def query(arch) -> None:
        cell = objective.cell(arch)
        error = objective.evaluate(arch)
        queried.setdefault(cell, (arch, error))

    initial = distinct_samples(objective, rng, params["initial_samples"], set())
    for arch in initial:
        query(arch)
    rounds = 0
    while True:
        hashes = list(queried)
        errors = np.array([queried[c][1] for c in hashes])
        scale = errors.std() or 1.0
        predictor.fit_model(encode(cells.specs(hashes), params["encoding"]),
                            (errors - errors.mean()) / scale)
        best = sorted(range(len(hashes)), key=lambda i: errors[i])[:params["mutate_top"]]
        parents = [queried[hashes[i]][0] for i in best]
        candidates = mutated_candidates(objective, parents, rng, params["candidates"],
                                        set(queried))
        if len(candidates) < params["queries_per_round"]:  # the best cells' neighbours are spent
            candidates += distinct_samples(objective, rng,
                                           params["queries_per_round"] - len(candidates),
                                           set(queried) | {objective.cell(a) for a in candidates})
        if not candidates:  # every cell of the space is queried: repeat random ones
            candidates = [objective.space.sample(rng)]
        members = ensemble_predictions(predictor, encode(
            cells.specs([objective.cell(a) for a in candidates]), params["encoding"]))
        order = acquire(members.mean(axis=0), members.std(axis=0), params["acquisition"],
                        params["exploration"], rng)
        rounds += 1
        log.debug("bananas round %d: fit on %d cells, %d candidates", rounds, len(hashes),
                  len(candidates))
        for index in order[:params["queries_per_round"]]:
            query(candidates[index])
