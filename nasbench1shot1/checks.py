"""The one-sentence checks of settings shared by every config dataclass of the package, and the
reading of the keys every run config has (seed, benchmark)."""

from __future__ import annotations

import math
from typing import Any


def positive_int(key: str, value: Any, error: type[ValueError] = ValueError) -> int:
    """`value` if it is an int >= 1, else `error` naming `key` and the value."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise error(f"{key} must be a positive integer, got {value!r}")
    return value


def number_in(key: str, value: Any, low: float | None = None, high: float | None = None,
              low_open: bool = False, error: type[ValueError] = ValueError) -> float:
    """`value` as a float if it lies in [low, high] ((low, high] with `low_open`)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) \
            or not math.isfinite(value):
        raise error(f"{key} must be a finite number, got {value!r}")
    too_low = low is not None and (value <= low if low_open else value < low)
    if too_low or (high is not None and value > high):
        bounds = f"{'(' if low_open else '['}{low}, {high if high is not None else 'inf'}]"
        raise error(f"{key} must be in {bounds}, got {value!r}")
    return float(value)


def plain_config(cfg: Any) -> dict:
    """A composed config (OmegaConf) or a mapping as a plain dict, interpolations resolved."""
    try:
        from omegaconf import DictConfig, OmegaConf

        if isinstance(cfg, DictConfig):
            return OmegaConf.to_container(cfg, resolve=True)
    except ImportError:  # pragma: no cover - omegaconf comes with hydra-core
        pass
    return dict(cfg)


def seed_of(cfg: dict, error: type[ValueError] = ValueError) -> int:
    """The config's `seed` (default 0), a non-negative integer."""
    seed = cfg.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise error(f"seed must be a non-negative integer, got {seed!r}")
    return seed


def benchmark_of(cfg: dict, error: type[ValueError] = ValueError) -> str:
    """Where the config's benchmark is: `benchmark.path`, else its name ('embedded')."""
    benchmark = cfg.get("benchmark") or {}
    where = (benchmark.get("path") or benchmark.get("name")) if isinstance(benchmark, dict) \
        else benchmark
    if not where:
        raise error("benchmark.path is empty; give the NAS-Bench-101 file or 'embedded'")
    return str(where)
