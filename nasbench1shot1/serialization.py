"""Make Pyro4's serpent serializer carry numpy scalars, in every process of a BOHB run.

With ConfigSpace 1.x and numpy 2, configurations hold numpy scalars (categorical values are
`numpy.str_`, integers `numpy.int64`) and HpBandSter's budgets are `numpy.float64`. serpent, the
serializer Pyro4 uses, cannot send those: the call raises inside HpBandSter's dispatcher thread,
the thread dies without a word and the run hangs forever. `install()` registers every numpy
scalar type with serpent so that it is sent as the equal plain Python value; `plain()` turns a
configuration into plain Python values before it leaves a process. The pickle serializer is not
an option: a pickle-speaking name server on a network runs any code sent to it
(`nasbench1shot1.pyro_security` pins serpent as the only one accepted).

`install()` also silences the FutureWarning statsmodels' KDE (BOHB's model) gives on every fit
about its future random-state default (HpBandSter passes none): the user cannot act on it, and it
would fill the run's output.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import serpent

_installed = False


def _numpy_scalar(obj: np.generic, serializer: serpent.Serializer, out: list, level: int) -> None:
    serializer._serialize(obj.item(), out, level)


def install() -> None:
    """Register numpy scalars with serpent and silence the KDE's warning (idempotent); call
    before any Pyro4 traffic."""
    global _installed
    if not _installed:
        serpent.register_class(np.generic, _numpy_scalar)
        _installed = True
    # each call: a caller's warnings context (a test's) may have reset the filters since
    warnings.filterwarnings("ignore", message="After 0.17 or January 2028", category=FutureWarning)


def plain(value: Any) -> Any:
    """`value` with every numpy scalar or array replaced by plain Python values."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, dict):
        return {plain(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(plain(v) for v in value)
    return value


install()  # importing this module is enough
