"""The thread policy of every process that trains: how many CPU threads PyTorch may use.

PyTorch's default (one thread per core) spins its threads while waiting; with other processes on
the same cores a search becomes many times slower, and its floating-point results change with the
thread count. So each run takes a fixed share of the cores it may use:

- `threads=N` uses N threads;
- `threads=auto` (the default) uses `OMP_NUM_THREADS` when set (launchers, the HPO master and
  Slurm jobs set it), else the cores this process may run on divided by the processes that share
  them (Hydra's joblib launcher's `n_jobs`, the HPO master's local workers, the builder's workers).

The count a run used is recorded in its settings.
"""

from __future__ import annotations

import os
from typing import Any


def available_cores() -> int:
    """The cores this process may run on (its CPU affinity, e.g. a Slurm allocation)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - platforms without affinity
        return os.cpu_count() or 1


def share(processes: int) -> int:
    """Threads per process when `processes` processes share this process's cores."""
    return max(1, available_cores() // max(1, processes))


def resolve(value: Any, processes: int = 1, key: str = "threads") -> int:
    """The thread count of `value` (a positive int or 'auto'); one sentence on a bad value."""
    if value == "auto":
        env = os.environ.get("OMP_NUM_THREADS", "")
        if env.isdigit() and int(env) > 0:
            return int(env)
        return share(processes)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{key} must be a positive integer or auto, got {value!r}")
    return value


def apply(threads: int) -> None:
    """Make PyTorch use `threads` intra-op threads in this process."""
    import torch

    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)


def child_env(threads: int) -> dict[str, str]:
    """The environment of a child process that is to use `threads` threads."""
    return {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
