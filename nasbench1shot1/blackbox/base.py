"""`OPTIMIZERS`, the registry of black-box optimizers, and the checks of their settings.

An optimizer is a function `optimize(objective, params, seed, run_dir)` that queries the
`TabularObjective` until it raises `BudgetExhausted`. `register(name, **checks)` adds one; each
check takes (key, value) and returns the value or raises one sentence. `check_params` refuses
unknown or missing keys (conf/optimizer/<name>.yaml holds every default); an optional
`cross_check(params)` checks settings against each other, all before any query.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nasbench1shot1.checks import device_of, number_in, positive_int
from nasbench1shot1.registry import Registry

Check = Callable[[str, Any], Any]
Optimize = Callable[..., None]


@dataclass(frozen=True)
class Optimizer:
    name: str
    optimize: Optimize
    checks: Mapping[str, Check]
    cross_check: Callable[[dict], None] | None = None  # checks between settings

    def check_params(self, params: Mapping[str, Any]) -> dict:
        """`params` (the optimizer's config section without `name`) checked."""
        unknown = sorted(set(params) - set(self.checks))
        if unknown:
            allowed = ", ".join(sorted(self.checks)) or "none"
            raise ValueError(f"unknown setting optimizer.{unknown[0]} for {self.name} "
                             f"(allowed: {allowed})")
        missing = sorted(set(self.checks) - set(params))
        if missing:
            raise ValueError(f"optimizer.{missing[0]} is missing for {self.name} "
                             f"(conf/optimizer/{self.name}.yaml has every default)")
        checked = {key: check(f"optimizer.{key}", params[key])
                   for key, check in self.checks.items()}
        if self.cross_check is not None:
            self.cross_check(checked)
        return checked

    def run(self, objective, params: Mapping[str, Any], seed: int, run_dir: Path) -> None:
        self.optimize(objective, dict(params), seed, run_dir)


OPTIMIZERS: Registry[Optimizer] = Registry("optimizer")


def register(name: str, cross_check: Callable[[dict], None] | None = None,
             **checks: Check) -> Callable[[Optimize], Optimize]:
    """Function decorator: add `Optimizer(name, function, checks, cross_check)` to OPTIMIZERS."""
    def add(function: Optimize) -> Optimize:
        OPTIMIZERS.register(name, Optimizer(name, function, checks, cross_check))
        return function

    return add


def get_optimizer(name: str) -> Optimizer:
    """The optimizer registered as `name`; one sentence naming the optimizers otherwise."""
    return OPTIMIZERS.get(name)


# -- checks ---------------------------------------------------------------------------------

def integer(key: str, value: Any) -> int:
    return positive_int(key, value)


def optional_integer(key: str, value: Any) -> int | None:
    return None if value is None else positive_int(key, value)


def positive(key: str, value: Any) -> float:
    return number_in(key, value, 0.0, None, low_open=True)


def optional_positive(key: str, value: Any) -> float | None:
    return None if value is None else positive(key, value)


def fraction(key: str, value: Any) -> float:
    return number_in(key, value, 0.0, 1.0)


def non_negative(key: str, value: Any) -> float:
    return number_in(key, value, 0.0)


def count(key: str, value: Any) -> int:
    """A whole number >= 0 (0 turns a step off)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{key} must be an integer >= 0, got {value!r}")
    return value


def one_of(allowed: tuple[str, ...]) -> Callable[[str, Any], str]:
    """A check that a value is one of `allowed`."""
    def check(key: str, value: Any) -> str:
        if value not in allowed:
            raise ValueError(f"unknown {key} {value!r}, expected one of {', '.join(allowed)}")
        return value

    return check


def device(key: str, value: Any) -> str:
    """A torch device this machine has (cpu, cuda, cuda:N)."""
    return device_of(key, value, auto=False)


def boolean(key: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{key} must be true or false, got {value!r}")
    return value


def at_least_two(key: str, value: Any) -> int:
    if positive_int(key, value) < 2:
        raise ValueError(f"{key} must be at least 2, got {value!r}")
    return value
