"""BOHB (Falkner et al., 2018) and Hyperband (Li et al., 2018) through HpBandSter.

A real HpBandSter master and one worker talk through a Pyro4 name server on 127.0.0.1 (as in
`nb1s1-hpo`, and like it with a fresh secret that signs every message, so that no other process
can talk to them: `nasbench1shot1.pyro_security`), over the space's ConfigSpace; the worker's
`compute(config, budget)` queries the table at `budget` epochs. The budgets are those of
successive halving from `min_budget` to `max_budget` with `eta` (default: the benchmark's smallest
and largest epoch budget; with NAS-Bench-101's 4, 12, 36, 108 and eta 3 they are exactly those);
each must be an epoch budget of the benchmark. One successive-halving bracket (an HpBandSter
iteration) runs after the other until the objective's budget is spent; queries refused after that
end as failed jobs of the last bracket. A table with one epoch budget makes every bracket a single
round at that budget.
"""

from __future__ import annotations

import logging
import uuid
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from nasbench1shot1.blackbox.base import (
    at_least_two,
    fraction,
    integer,
    optional_integer,
    optional_positive,
    positive,
    register,
)
from nasbench1shot1.blackbox.objective import BudgetExhausted
from nasbench1shot1.serialization import install, plain

BUDGET_CHECKS = {"eta": at_least_two, "min_budget": optional_positive,
                 "max_budget": optional_positive}


def hpbandster_budgets(min_budget: float, max_budget: float, eta: int) -> list[float]:
    """The budgets of successive halving as HpBandSter computes them, smallest first."""
    steps = -int(np.log(min_budget / max_budget) / np.log(eta)) + 1
    return [float(b) for b in max_budget * np.power(eta, -np.linspace(steps - 1, 0, steps))]


def check_budgets(budgets: Sequence[float], available: Sequence[int], eta: int) -> None:
    """One sentence when a budget HpBandSter would use is not an epoch budget of the table."""
    bad = [b for b in budgets if not any(abs(b - a) <= 1e-6 * a for a in available)]
    if bad:
        shown = ", ".join(f"{b:g}" for b in budgets)
        raise ValueError(f"with eta={eta} the budgets would be {shown}, but the benchmark has "
                         f"epoch budgets {list(available)}; pick min_budget, max_budget and eta "
                         "so that every budget is one of them")


def _budget_order(params: dict) -> None:
    low, high = params["min_budget"], params["max_budget"]
    if low is not None and high is not None and low > high:
        raise ValueError(f"optimizer.min_budget {low:g} exceeds optimizer.max_budget {high:g}")


def _run(objective, params: dict, seed: int, run_dir: Path, kind: str) -> None:
    import hpbandster.core.nameserver as hpns
    import Pyro4.errors
    from hpbandster.optimizers import BOHB, HyperBand

    from nasbench1shot1.pyro_security import KeyedWorker, keyed, new_secret

    install()  # numpy scalars through Pyro4's serpent, no KDE warning (see serialization)
    for name in ("hpbandster", "Pyro4"):
        logging.getLogger(name).setLevel(logging.CRITICAL)
    eta = params["eta"]
    min_budget = params["min_budget"] or min(objective.budgets)
    max_budget = params["max_budget"] or max(objective.budgets)
    _budget_order({"min_budget": min_budget, "max_budget": max_budget})
    check_budgets(hpbandster_budgets(min_budget, max_budget, eta), objective.budgets, eta)
    space = objective.space

    failures: list[Exception] = []

    class TableWorker(KeyedWorker):
        def compute(self, config_id, config, budget, working_directory, **kwargs):
            # An exception ends the job as failed (HpBandSter keeps its traceback, and a None
            # loss would kill HpBandSter's result thread and hang the run). BudgetExhausted is
            # the normal end; any other error is kept and raised once the bracket is over.
            try:
                error = objective.evaluate(space.from_config(plain(config)), budget)
            except BudgetExhausted:
                raise
            except Exception as failure:
                failures.append(failure)
                raise
            return {"loss": error, "info": {"cell": objective.history[-1]["cell"]}}

    np.random.seed(seed)  # HpBandSter 0.7.4 has no seed argument; it samples with numpy's RNG
    run_id = f"nb1s1-blackbox-{uuid.uuid4().hex[:8]}"
    with keyed(new_secret()):  # no other process may talk to this run
        nameserver = hpns.NameServer(run_id=run_id, host="127.0.0.1", port=0)
        host, port = nameserver.start()
        master = worker = None
        try:
            worker = TableWorker(run_id=run_id, nameserver=host, nameserver_port=port)
            worker.run(background=True)
            common = {"configspace": space.configspace(seed=seed), "run_id": run_id,
                      "nameserver": host, "nameserver_port": port, "eta": eta,
                      "min_budget": min_budget, "max_budget": max_budget, "ping_interval": 10}
            if kind == "bohb":
                master = BOHB(**common, min_points_in_model=params["min_points_in_model"],
                              top_n_percent=params["top_n_percent"],
                              num_samples=params["num_samples"],
                              random_fraction=params["random_fraction"],
                              bandwidth_factor=params["bandwidth_factor"],
                              min_bandwidth=params["min_bandwidth"])
            else:
                master = HyperBand(**common)
            with warnings.catch_warnings():
                # BOHB's KDE divides by zero when every good point shares a value (statsmodels'
                # kernel; harmless, the model falls back on its bandwidth floor)
                warnings.simplefilter("ignore", RuntimeWarning)
                while not objective.exhausted:
                    queries = len(objective.history)
                    master.run(n_iterations=1, min_n_workers=1)
                    if failures:
                        raise failures[0]
                    if len(objective.history) == queries:  # cannot happen; never loop for ever
                        raise RuntimeError("an HpBandSter bracket made no query")
        except Pyro4.errors.PyroError as error:
            raise OSError(f"HpBandSter's name server or worker failed: {error}") from None
        finally:
            if master is not None:
                master.shutdown(shutdown_workers=True)
            elif worker is not None:
                worker.shutdown()
            nameserver.shutdown()
    raise BudgetExhausted


@register("hyperband", cross_check=_budget_order, **BUDGET_CHECKS)
def hyperband(objective, params: dict, seed: int, run_dir: Path) -> None:
    _run(objective, params, seed, run_dir, "hyperband")


@register("bohb", cross_check=_budget_order, **BUDGET_CHECKS,
          min_points_in_model=optional_integer, top_n_percent=integer, num_samples=integer,
          random_fraction=fraction, bandwidth_factor=positive, min_bandwidth=positive)
def bohb(objective, params: dict, seed: int, run_dir: Path) -> None:
    _run(objective, params, seed, run_dir, "bohb")
