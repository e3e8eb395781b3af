"""Progress of the long loops (batches of a search epoch, cells of a build, queries of a
black-box run, evaluations of a BOHB run): a tqdm bar on stderr when it is a terminal, none
otherwise (a log file or a pipe gets the loops' plain log lines instead) or with `progress=false`.
"""

from __future__ import annotations

import sys
from typing import Any


def shown(enabled: bool = True) -> bool:
    """Whether a bar would be shown: enabled and stderr is a terminal."""
    return bool(enabled) and sys.stderr.isatty()


def bar(total: int | None, desc: str, unit: str, enabled: bool = True, initial: int = 0,
        leave: bool = True) -> Any:
    """A tqdm bar (disabled, a no-op, unless `shown(enabled)`)."""
    from tqdm import tqdm

    return tqdm(total=total, initial=initial, desc=desc, unit=unit, leave=leave,
                disable=not shown(enabled), smoothing=0.05, dynamic_ncols=True)
