"""Regularized (aging) evolution (Real et al., 2019) over a search space.

The population starts with `population_size` random configurations. Each step draws
`sample_size` distinct members uniformly, mutates the best of them (lowest selection error; the
earliest on ties) by changing one op or one parent set (`SearchSpace.mutate`), queries the child,
adds it and removes the oldest member. All queries are at the largest epoch budget.
"""

from __future__ import annotations

from collections import deque

import numpy as np

from nasbench1shot1.blackbox.base import integer, register


def sample_fits(params: dict) -> None:
    """That a tournament sample fits in the population (one sentence otherwise)."""
    if params["sample_size"] > params["population_size"]:
        raise ValueError(f"optimizer.sample_size {params['sample_size']} exceeds "
                         f"optimizer.population_size {params['population_size']}")


@register("regularized_evolution", cross_check=sample_fits, population_size=integer,
          sample_size=integer)
def regularized_evolution(objective, params: dict, seed: int, run_dir) -> None:
    population_size, sample_size = params["population_size"], params["sample_size"]
    rng = np.random.default_rng(seed)
    space = objective.space
    population: deque = deque()
    while len(population) < population_size:
        arch = space.sample(rng)
        population.append((arch, objective.evaluate(arch)))
    while True:
        picked = rng.choice(population_size, size=sample_size, replace=False)
        parent = min(sorted(picked), key=lambda i: population[i][1])
        child = space.mutate(population[parent][0], rng)
        population.append((child, objective.evaluate(child)))
        population.popleft()
