"""SMAC (Lindauer et al., 2022; the SMAC3 package) over the space's ConfigSpace.

SMAC's hyperparameter-optimization facade (random forest surrogate, expected improvement,
random interleaving) proposes configurations through its ask-and-tell interface; each is
queried at the largest epoch budget and told its selection error. `deterministic: true` tells
SMAC not to re-evaluate configurations (every other optimizer here queries each proposal once,
too); with `false` SMAC's intensification repeats promising configurations, each repeat being a
new noisy query. SMAC's own files go to `<run dir>/smac3_output`.
"""

from __future__ import annotations

import logging
from pathlib import Path

from nasbench1shot1.blackbox.base import boolean, register


@register("smac", deterministic=boolean)
def smac(objective, params: dict, seed: int, run_dir: Path) -> None:
    from smac import HyperparameterOptimizationFacade, Scenario
    from smac.runhistory.dataclasses import TrialValue

    space = objective.space
    # SMAC sizes its initial design by n_trials; without a trial budget, a generous one
    trials = objective.trials or 100_000
    scenario = Scenario(space.configspace(seed=seed), deterministic=params["deterministic"],
                        n_trials=trials, seed=seed,
                        output_directory=Path(run_dir) / "smac3_output")

    def unused(config, seed: int = 0) -> float:  # ask-and-tell only; SMAC never calls it
        raise RuntimeError("SMAC called the target function; the ask-and-tell loop should")

    facade = HyperparameterOptimizationFacade(scenario, unused, overwrite=True,
                                              logging_level=logging.ERROR)
    while True:
        info = facade.ask()
        error = objective.evaluate(space.from_config(dict(info.config)))
        facade.tell(info, TrialValue(cost=error))
