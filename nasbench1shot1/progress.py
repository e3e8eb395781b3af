"""Progress of the long loops (batches of a search epoch, cells of a build, queries of a
black-box run, evaluations of a BOHB run): a tqdm bar on stderr when it is a terminal; otherwise
(a log file, a pipe, a Slurm job) plain log lines, where the loop asks for them, at most
`LINES` per loop. `progress=false` turns both off."""

from __future__ import annotations

import logging
import sys
import time
from typing import Any

#: The most plain lines one loop logs when stderr is not a terminal.
LINES = 20


def shown(enabled: bool = True) -> bool:
    """Whether a bar would be shown: enabled and stderr is a terminal."""
    return bool(enabled) and sys.stderr.isatty()


class Progress:
    """`update(n)` / `close()` of a loop: a tqdm bar on a terminal, else (with `lines`, a logger)
    a plain line every 1/LINES of `total`."""

    def __init__(self, total: int | None, desc: str, unit: str, enabled: bool = True,
                 initial: int = 0, leave: bool = True,
                 lines: logging.Logger | None = None) -> None:
        self.total, self.desc, self.unit, self.n = total, desc, unit, initial
        self.bar = None
        if shown(enabled):
            from tqdm import tqdm

            self.bar = tqdm(total=total, initial=initial, desc=desc, unit=unit, leave=leave,
                            smoothing=0.05, dynamic_ncols=True)
        self.lines = lines if enabled and self.bar is None else None
        self.every = max(1, (total or LINES) // LINES)
        self.started, self.first = time.monotonic(), initial

    def update(self, n: int = 1) -> None:
        if n <= 0:
            return
        before, self.n = self.n, self.n + n
        if self.bar is not None:
            self.bar.update(n)
        elif self.lines is not None and (self.n // self.every > before // self.every
                                         or self.n == self.total):
            rate = (self.n - self.first) / max(time.monotonic() - self.started, 1e-9)
            of = f"/{self.total}" if self.total else ""
            self.lines.info("%s: %d%s %ss (%.3g/s)", self.desc, self.n, of, self.unit, rate)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def bar(total: int | None, desc: str, unit: str, enabled: bool = True, initial: int = 0,
        leave: bool = True, lines: logging.Logger | None = None) -> Any:
    """The `Progress` of a loop (see the module docstring)."""
    return Progress(total, desc, unit, enabled, initial, leave, lines)
