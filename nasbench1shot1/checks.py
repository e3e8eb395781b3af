"""The one-sentence checks of settings shared by every config schema and dataclass of the
package (`SettingsError` and the checks of a positive integer, a number in a range, a seed, a
value's type, a torch device)."""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from typing import Any


class SettingsError(ValueError):
    """A bad value in the settings of a run (one sentence naming the key, the value and what is
    allowed)."""


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


#: numpy's legacy seeding takes 32-bit seeds.
MAX_SEED = 2**32 - 1


def seed_value(key: str, seed: Any, error: type[ValueError] = ValueError) -> int:
    """`seed` if it is an integer in [0, 2**32 - 1], else `error` naming `key`."""
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
        raise error(f"{key} must be an integer in [0, {MAX_SEED}], got {seed!r}")
    return seed


def _type_name(hint: Any) -> str:
    names = {bool: "true or false", int: "an integer", float: "a number", str: "a string",
             type(None): "null", list: "a list", tuple: "a list", dict: "a mapping"}
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        options = [_type_name(a) for a in args]
        if type(None) in typing.get_args(hint):
            options.append("null")
        return " or ".join(options)
    if typing.get_origin(hint) is typing.Literal:
        return "one of " + ", ".join(map(str, typing.get_args(hint)))
    return names.get(typing.get_origin(hint) or hint, getattr(hint, "__name__", str(hint)))


def _matches(value: Any, hint: Any) -> bool:
    origin = typing.get_origin(hint)
    if hint is Any:
        return True
    if origin in (typing.Union, types.UnionType):
        return any(_matches(value, a) for a in typing.get_args(hint))
    if origin is typing.Literal:
        return value in typing.get_args(hint)
    if origin in (list, tuple):
        args = [a for a in typing.get_args(hint) if a is not Ellipsis]
        return isinstance(value, (list, tuple)) and all(
            _matches(v, args[0]) for v in value) if args else isinstance(value, (list, tuple))
    if origin is dict or hint is dict:
        return isinstance(value, dict)
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, hint)


def typed(key: str, value: Any, hint: Any, error: type[ValueError] = ValueError) -> Any:
    """`value` if it has the type `hint` (bool, int, float, str, X | None, list[X], Literal):
    a string such as 'maybe' is never read as a bool, nor a float as an int."""
    if not _matches(value, hint):
        raise error(f"{key} must be {_type_name(hint)}, got {value!r}")
    return float(value) if hint is float else value


def check_fields(prefix: str, values: dict, cls: type, error: type[ValueError] = ValueError,
                 allow_missing: bool = False) -> dict:
    """The keys of a config section `values` checked against the fields of dataclass `cls`:
    no unknown key, no missing one (unless `allow_missing`), each of its field's type."""
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(values) - set(names))
    if unknown:
        raise error(f"unknown key {prefix}{unknown[0]}, expected one of {', '.join(names)}")
    if not allow_missing:
        missing = [name for name in names if name not in values]
        if missing:
            raise error(f"the config lacks {prefix}{missing[0]}")
    return {key: typed(f"{prefix}{key}", value, hints[key], error)
            for key, value in values.items()}


def threads_of(key: str, value: Any, error: type[ValueError] = ValueError) -> int:
    """The thread count of `value` (a positive int, or auto: `nasbench1shot1.threads`' policy);
    `error` with one sentence otherwise."""
    from nasbench1shot1 import threads as thread_policy

    try:
        return thread_policy.resolve(value, key=key)
    except ValueError as failure:
        raise error(str(failure)) from None


def device_of(key: str, value: Any, error: type[ValueError] = ValueError,
              auto: bool = True) -> str:
    """A torch device name that this machine has: cpu, cuda, cuda:N (and auto with `auto`)."""
    device = str(value)
    if device == "cpu" or (auto and device == "auto"):
        return device
    index = device[len("cuda:"):] if device.startswith("cuda:") else ""
    if device != "cuda" and not index.isdigit():
        allowed = "auto, cpu, cuda or cuda:N" if auto else "cpu, cuda or cuda:N"
        raise error(f"unknown {key} {value!r}, expected {allowed}")
    import torch

    if not torch.cuda.is_available():
        raise error(f"{key}={device}, but this PyTorch sees no CUDA GPU (CUDA build: "
                    f"{torch.version.cuda or 'no'}); use {key}=cpu")
    count = torch.cuda.device_count()
    if index and int(index) >= count:
        raise error(f"{key}={device}, but this machine has {count} CUDA GPU(s): use cuda:0 to "
                    f"cuda:{count - 1}")
    return device


def resolved_device(device: Any) -> str:
    """The device `device` (a setting's value or a torch device) names: `auto` is CUDA when
    this PyTorch sees a GPU, else the CPU."""
    if str(device) != "auto":
        return str(device)
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def autocast_dtype(precision: str, device: Any) -> Any:
    """The autocast dtype of train.precision (fp32, bf16, fp16) on `device` (a torch device or
    its name; auto: CUDA when present), None for fp32; one sentence when the device cannot run
    it."""
    import torch

    device = torch.device(resolved_device(device))
    if precision == "fp32":
        return None
    if precision == "fp16" and device.type != "cuda":
        raise ValueError(f"train.precision=fp16 needs a CUDA device, the search runs on "
                         f"{device}; use bf16 or fp32 there")
    if precision == "bf16" and not _bf16_supported(device):
        raise ValueError(f"train.precision=bf16 needs a GPU or a CPU with bfloat16 support "
                         f"(AVX512-BF16 or AMX), which {device} lacks; use fp32")
    return {"bf16": torch.bfloat16, "fp16": torch.float16}[precision]


def second_order_precision(precision: str, unrolled: bool) -> None:
    """One sentence when second-order DARTS is asked to run in fp16."""
    if unrolled and precision == "fp16":
        raise ValueError("method.unrolled=true (second order) runs in train.precision fp32 or "
                         "bf16, not fp16 (its finite differences have no loss scaling)")


def _bf16_supported(device: Any) -> bool:
    import torch

    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    return bool(torch.backends.mkldnn.is_available()
                and torch.ops.mkldnn._is_mkldnn_bf16_supported())
