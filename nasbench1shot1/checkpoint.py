"""Checkpoints of a search: written atomically, loaded without running code from them.

A checkpoint is one dict of tensors, numbers, strings and lists (format `CHECKPOINT_FORMAT`,
stored under the key "format"), so it loads with `torch.load(weights_only=True)`: a crafted
checkpoint cannot run code. One that cannot be loaded, or is of another format, is a
`CheckpointError` of one sentence naming the file and what to do. `rng_state()` and
`set_rng_state()` carry every random number generator (torch, CUDA, NumPy, Python) through such a
dict. The file's name in a run dir is `runfiles.CHECKPOINT_FILE`.
"""

from __future__ import annotations

import os
import random
from pathlib import Path

import numpy as np
import torch

from nasbench1shot1.checks import SettingsError

#: The checkpoint layout; a checkpoint of another layout is refused, not guessed at.
CHECKPOINT_FORMAT = 2


class CheckpointError(SettingsError):
    """A checkpoint that cannot be loaded (damaged, crafted, or of another format)."""


def rng_state() -> dict:
    """Every RNG state as tensors, numbers and lists (what `weights_only` loading accepts)."""
    name, keys, pos, has_gauss, gauss = np.random.get_state()
    version, internal, gauss_next = random.getstate()
    state = {"torch": torch.get_rng_state(),
             "numpy": {"name": name, "keys": torch.from_numpy(keys.astype(np.int64)),
                       "pos": int(pos), "has_gauss": int(has_gauss), "gauss": float(gauss)},
             "python": [version, list(internal), gauss_next]}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    """Restore the RNG states of `rng_state()` (CUDA's only where CUDA is present)."""
    torch.set_rng_state(state["torch"])
    n = state["numpy"]
    np.random.set_state((n["name"], n["keys"].numpy().astype(np.uint32), n["pos"],
                         n["has_gauss"], n["gauss"]))
    version, internal, gauss_next = state["python"]
    random.setstate((version, tuple(internal), gauss_next))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(path: str | os.PathLike, state: dict) -> None:
    """Write `state` (tensors, numbers, strings, lists and dicts of them) as a checkpoint of
    format `CHECKPOINT_FORMAT` to `path`, through a temporary file and an atomic rename, so that
    a crash leaves the previous checkpoint or this one, never half of one."""
    if state.get("format", CHECKPOINT_FORMAT) != CHECKPOINT_FORMAT:
        raise ValueError(f"a checkpoint of format {state['format']!r} cannot be written; this "
                         f"version writes format {CHECKPOINT_FORMAT}")
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    torch.save({"format": CHECKPOINT_FORMAT, **state}, tmp)
    os.replace(tmp, path)


def load_checkpoint(path: str | os.PathLike) -> dict:
    """A checkpoint loaded without running code from it (`weights_only=True`), or one
    sentence naming the file and what to do."""
    path = Path(path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)  # RNG states on CPU
    except Exception as error:  # noqa: BLE001 - any failure of an unreadable file
        text = str(error).strip()
        reason = text.splitlines()[0].split(". ")[0][:100] if text else type(error).__name__
        raise CheckpointError(
            f"{path} cannot be loaded as a checkpoint (damaged, not written by this version of "
            f"nasbench1shot1, or holding more than tensors and numbers: {reason}); start over "
            "with restart=true (the file is moved aside, not deleted) or keep it and use "
            "another run dir") from None
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(
            f"{path} is not a checkpoint of format {CHECKPOINT_FORMAT} (written by another "
            "version of nasbench1shot1); start over with restart=true (the file is moved "
            "aside, not deleted) or keep it and use another run dir")
    return state
