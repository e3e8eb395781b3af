"""The recipe of training one cell from scratch, as NAS-Bench-101 trained each of its cells: the
network's sizes (`NetworkConfig`) and the training settings (`TrainConfig`), the defaults of
`nasbench1shot1.train.train_cell` and the values nb1s1-build's schema (conf/build.py) does not
change. Plain dataclasses (no torch), so that the schemas can take their defaults from here."""

from __future__ import annotations

from dataclasses import dataclass

from nasbench1shot1.checks import number_in, positive_int

#: NAS-Bench-101's batch norm: TensorFlow decay 0.997 and epsilon 1e-5, in PyTorch's convention.
BN_MOMENTUM = 1.0 - 0.997
BN_EPSILON = 1e-5


@dataclass(frozen=True)
class NetworkConfig:
    """Sizes of the network; the defaults are NAS-Bench-101's (CIFAR-10, 32x32 RGB)."""

    stem_channels: int = 128
    num_stacks: int = 3
    modules_per_stack: int = 3
    num_classes: int = 10
    in_channels: int = 3
    bn_momentum: float = BN_MOMENTUM
    bn_eps: float = BN_EPSILON

    def __post_init__(self) -> None:
        for name in ("stem_channels", "num_stacks", "modules_per_stack", "num_classes",
                     "in_channels"):
            positive_int(f"network {name}", getattr(self, name))
        number_in("network bn_momentum", self.bn_momentum, 0.0, 1.0)


#: The optimizers `train_cell` knows.
TRAIN_OPTIMIZERS = ("rmsprop", "sgd")


@dataclass(frozen=True)
class TrainConfig:
    """How one cell is trained; defaults are NAS-Bench-101's."""

    epochs: int = 108
    batch_size: int = 256
    optimizer: str = "rmsprop"
    learning_rate: float = 0.2
    momentum: float = 0.9
    rmsprop_eps: float = 1.0
    weight_decay: float = 1e-4
    grad_clip: float = 5.0
    crop_padding: int = 4
    flip: bool = True
    eval_batch_size: int = 1024
    seed: int = 0
    device: str = "cpu"

    def __post_init__(self) -> None:
        if self.optimizer not in TRAIN_OPTIMIZERS:
            raise ValueError(f"unknown optimizer {self.optimizer!r}, expected one of "
                             f"{', '.join(TRAIN_OPTIMIZERS)}")
        for name in ("epochs", "batch_size", "eval_batch_size"):
            positive_int(f"train {name}", getattr(self, name))
        number_in("train learning_rate", self.learning_rate, 0.0, low_open=True)
        for name in ("weight_decay", "crop_padding", "grad_clip"):
            number_in(f"train {name}", getattr(self, name), 0.0)
