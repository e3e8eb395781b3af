"""The settings of the correlation study (`nb1s1 correlation`, `nasbench1shot1.correlation`):
the one place their defaults are written."""

from __future__ import annotations

from dataclasses import dataclass

#: How a cell's batch-norm statistics are found when it is scored (nasbench1shot1.models.
#: batchnorm): recalibrated on batches of the weights half, the scored batches' own, or the
#: supernet's shared running statistics.
BN_MODES = ("recalibrate", "batch", "running")


@dataclass(frozen=True)
class CorrelationSettings:
    """How a trained supernet scores cells for the study."""

    samples: int | None = 100     # cells scored, sampled uniformly; null: every cell
    batches: int = 4              # batches of the architecture half each cell is scored on
    seed: int = 0                 # samples the cells and the batches
    bn: str = "recalibrate"       # the mode of the top-level criteria (every mode is reported)
    calibration_batches: int = 4  # batches of the weights half that recalibrate each cell
