"""The protocol (config group `protocol`): how closely a search follows the original
NAS-Bench-1Shot1 code (automl/nasbench-1shot1) where this project differs from it.

`protocol=fixed` (the default) is this project's behaviour; `protocol=paper` (chosen by
`experiment=paper`) reproduces the original's for every point of `ProtocolConfig`, and also sets
the plain settings it differs in (conf/protocol/paper.yaml: the supernet's batch-norm momentum,
each method's epochs). The original's own bugs stay fixed in both: test data is never used to
select a cell. The README's table names every point, what each protocol does and why.
"""

from __future__ import annotations

from dataclasses import dataclass

from nasbench1shot1.checks import SettingsError

#: The epochs of the original's scripts, per method (protocol=paper): DARTS 25, the others 100
#: (the defaults of their train_search scripts, which the cluster scripts keep).
PAPER_EPOCHS = {"darts": 25, "pc_darts": 100, "gdas": 100, "enas": 100, "random_ws": 100}
#: The values of each choice of ProtocolConfig, this project's first.
CHOICES = {
    "stack_pooling": ("same", "padded"),
    "head": ("nasbench101", "original"),
    "gdas_gumbel": ("per_pass", "per_cell"),
    "gdas_tau": ("ends_at_min", "epoch_start"),
    "enas": ("plain", "original"),
    "random_ws": ("plain", "original"),
    "cutout": ("fixed", "ramp"),
    "lr_schedule": ("per_epoch", "one_epoch_ahead"),
}


@dataclass
class ProtocolConfig:
    """Where a search differs from the original NAS-Bench-1Shot1 code, each switchable back."""

    name: str = "fixed"           # fixed (this project's) or paper (the original's), see README
    # max-pooling between stacks: same (NAS-Bench-101's: 32, 16, 8) or padded (the original's
    # padding 1: 32, 17, 9)
    stack_pooling: str = "same"
    # after the last cell: nasbench101 (1x1 conv keeping the channels, batch norm, ReLU, pool,
    # linear) or original (ReLU, 1x1 conv to the stack's channels, batch norm without affine
    # parameters, pool, linear)
    head: str = "nasbench101"
    # GDAS's Gumbel samples: per_pass (one for every cell of a forward pass) or per_cell (the
    # original: each cell its own)
    gdas_gumbel: str = "per_pass"
    # GDAS's temperature: ends_at_min (tau_min in the last epoch) or epoch_start (the original:
    # tau_max - (tau_max - tau_min) * epoch / epochs, above tau_min at the end)
    gdas_tau: str = "ends_at_min"
    # GDAS's architecture gradients: false (not clipped) or true (the original: clipped to the
    # norm train.grad_clip, against the Gumbel-softmax's large gradients)
    gdas_clip_arch: bool = False
    # ENAS: plain (a per-decision controller, uniform at first, one controller step per weight
    # step) or original (the original's controller, schedule, rewards and selection)
    enas: str = "plain"
    # Random-WS: plain (method.eval_samples x eval_batches, unselected ops not run, the search's
    # grad clip) or original (the original's selection, zero-weighted ops, its grad clip)
    random_ws: str = "plain"
    # the cutout probability: fixed (train.cutout_prob) or ramp (the original: rises linearly
    # to train.cutout_prob over the epochs)
    cutout: str = "fixed"
    # the weights' cosine learning rate: per_epoch (epoch e trains at the schedule's value for e)
    # or one_epoch_ahead (the original steps the scheduler at the start of every epoch, the first
    # included: epoch e trains at the value for e + 1, the last epoch at the minimum)
    lr_schedule: str = "per_epoch"

    def __post_init__(self) -> None:
        if self.name not in ("fixed", "paper"):
            raise SettingsError(f"protocol.name must be fixed or paper, got {self.name!r}")
        for key, allowed in CHOICES.items():
            value = getattr(self, key)
            if value not in allowed:
                raise SettingsError(f"protocol.{key} must be {' or '.join(allowed)}, got "
                                    f"{value!r}")


def paper_epochs(method: str) -> int:
    """The epochs the original's scripts run `method` for (resolver `nb1s1.paper_epochs`)."""
    return PAPER_EPOCHS[str(method)]
