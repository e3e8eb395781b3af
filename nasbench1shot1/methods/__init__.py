"""The one-shot methods, one file each, behind `OneShotMethod` and found by name in `METHODS`:
darts, gdas, pc_darts, enas, random_ws."""

from nasbench1shot1.methods import darts, enas, gdas, pc_darts, random_ws  # noqa: F401  (register)
from nasbench1shot1.methods.base import (
    METHODS,
    Batch,
    OneShotMethod,
    StepResult,
    get_method,
)

__all__ = ["METHODS", "Batch", "OneShotMethod", "StepResult", "get_method"]
