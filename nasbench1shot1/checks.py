"""The one-sentence checks of settings shared by every config dataclass of the package."""

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
