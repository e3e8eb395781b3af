"""Random search: configurations drawn uniformly from the search space, queried at the largest
epoch budget, until the budget is spent (configurations may repeat, as sampling is with
replacement)."""

from __future__ import annotations

import numpy as np

from nasbench1shot1.blackbox.base import register


@register("random_search")
def random_search(objective, params: dict, seed: int, run_dir) -> None:
    rng = np.random.default_rng(seed)
    while True:
        objective.evaluate(objective.space.sample(rng))
