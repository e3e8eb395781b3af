"""TPE (Bergstra et al., 2011) through optuna's `TPESampler`, over the space's ConfigSpace.

Every hyperparameter of the space is categorical, so each becomes an optuna
`CategoricalDistribution`; optuna's ask-and-tell interface queries the objective at the largest
epoch budget. `n_startup_trials` random configurations come first.
"""

from __future__ import annotations

import warnings

from nasbench1shot1.blackbox.base import boolean, integer, register


@register("tpe", n_startup_trials=integer, n_ei_candidates=integer, multivariate=boolean)
def tpe(objective, params: dict, seed: int, run_dir) -> None:
    import optuna
    from optuna.distributions import CategoricalDistribution

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    space = objective.space
    distributions = {hp.name: CategoricalDistribution([str(c) for c in hp.choices])
                     for hp in space.configspace().values()}
    with warnings.catch_warnings():  # multivariate TPE is marked experimental
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        sampler = optuna.samplers.TPESampler(
            seed=seed, n_startup_trials=params["n_startup_trials"],
            n_ei_candidates=params["n_ei_candidates"], multivariate=params["multivariate"])
    study = optuna.create_study(direction="minimize", sampler=sampler)
    while True:
        trial = study.ask(distributions)
        study.tell(trial, objective.evaluate(space.from_config(trial.params)))
