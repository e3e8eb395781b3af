"""The one-shot methods' settings (config group `method`): one typed schema per method, the one
place its defaults are written, with the checks of its own values."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from nasbench1shot1.checks import SettingsError, number_in, positive_int
from nasbench1shot1.registry import Registry


def _positive(key: str, value: Any) -> None:
    number_in(f"method.{key}", value, 0.0, None, True, SettingsError)


def _non_negative(key: str, value: Any) -> None:
    number_in(f"method.{key}", value, 0.0, None, False, SettingsError)


@dataclass
class MethodConfig:
    """What every method has: its name and the batch size of the paper's code for it."""

    name: str = "?"
    batch_size: int = 96      # train.batch_size follows it (96; 64 for ENAS and Random-WS)

    def __post_init__(self) -> None:
        own = type(self).name
        if self.name != own:
            raise SettingsError(
                f"method.name={self.name} does not match the settings of {own}; choose the "
                f"method with method={self.name}, not method.name")
        positive_int("method.batch_size", self.batch_size, SettingsError)

    def params(self) -> dict:
        """The method's own settings (without name and batch size), as its class takes them."""
        values = asdict(self)
        del values["name"], values["batch_size"]
        return values


@dataclass
class ArchitectureWeightsConfig(MethodConfig):
    """Gradient-based methods: Adam on continuous architecture weights."""

    arch_learning_rate: float = 3.0e-4  # Adam's learning rate on the architecture weights
    arch_betas: list[float] = field(default_factory=lambda: [0.5, 0.999])  # Adam's betas
    arch_weight_decay: float = 1.0e-3  # L2 on the architecture weights
    unrolled: bool = False    # true: second-order (unrolled) architecture gradient

    def __post_init__(self) -> None:
        super().__post_init__()
        _positive("arch_learning_rate", self.arch_learning_rate)
        _non_negative("arch_weight_decay", self.arch_weight_decay)
        betas = list(self.arch_betas)
        if len(betas) != 2 or not all(isinstance(b, (int, float)) and 0.0 <= b < 1.0
                                      for b in betas):
            raise SettingsError(f"method.arch_betas must be two numbers in [0, 1) (Adam's "
                                      f"betas), got {betas!r}")


@dataclass
class DartsConfig(ArchitectureWeightsConfig):
    """DARTS: softmax relaxation of the choices."""

    name: str = "darts"


@dataclass
class GdasConfig(ArchitectureWeightsConfig):
    """GDAS: Gumbel-softmax sampling, hard one-hot ops, temperature tau_max -> tau_min linearly."""

    name: str = "gdas"
    tau_max: float = 10.0     # Gumbel-softmax temperature at the first epoch
    tau_min: float = 1.0      # and at the last

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.unrolled:
            raise SettingsError(
                "method.unrolled=true (second order) is for darts and pc_darts, not gdas, whose "
                "architecture is sampled anew for every loss")
        _positive("tau_max", self.tau_max)
        _positive("tau_min", self.tau_min)
        if self.tau_min > self.tau_max:
            raise SettingsError(f"method.tau_min {self.tau_min} exceeds method.tau_max "
                                      f"{self.tau_max}")


@dataclass
class PcDartsConfig(ArchitectureWeightsConfig):
    """PC-DARTS: partial channel connections (1/k of the channels) and edge normalisation."""

    name: str = "pc_darts"
    partial_channels: int = 4  # k; must divide supernet.channels

    def __post_init__(self) -> None:
        super().__post_init__()
        positive_int("method.partial_channels", self.partial_channels, SettingsError)


@dataclass
class EnasConfig(MethodConfig):
    """ENAS: an LSTM controller trained with REINFORCE on the shared weights' validation
    accuracy."""

    name: str = "enas"
    batch_size: int = 64
    controller_learning_rate: float = 3.5e-4  # Adam's learning rate on the controller
    controller_hidden: int = 100  # the LSTM controller's hidden units
    controller_grad_clip: float = 5.0  # max norm of the controller's gradients; 0: none
    tanh_constant: float = 1.1  # logits squashed to +-tanh_constant x tanh(logits/temperature)
    temperature: float = 5.0  # the controller's sampling temperature
    entropy_weight: float = 1.0e-4  # weight of the entropy bonus in the reward
    baseline_decay: float = 0.99  # exponential moving average of the reward baseline

    def __post_init__(self) -> None:
        super().__post_init__()
        positive_int("method.controller_hidden", self.controller_hidden, SettingsError)
        for key in ("controller_learning_rate", "tanh_constant", "temperature"):
            _positive(key, getattr(self, key))
        for key in ("controller_grad_clip", "entropy_weight"):
            _non_negative(key, getattr(self, key))
        number_in("method.baseline_decay", self.baseline_decay, 0.0, 1.0, False,
                  SettingsError)


#: How Random-WS draws a cell (method.sampling).
RANDOM_WS_SAMPLING = ("configurations", "cells")


@dataclass
class RandomWSConfig(MethodConfig):
    """Random search with weight sharing: a uniform cell per step; after each epoch the best of
    eval_samples sampled cells on eval_batches validation batches is the epoch's architecture."""

    name: str = "random_ws"
    batch_size: int = 64
    eval_samples: int = 100   # cells sampled after each epoch to pick the epoch's cell
    eval_batches: int = 2     # validation batches each sampled cell is scored on
    # what a step trains and the selection scores: configurations (ops and parent sets drawn
    # uniformly, so a cell many configurations make is drawn more often) or cells (a unique cell
    # drawn uniformly by its hash, its first configuration trained: de-isomorphic sampling,
    # Ning et al. 2021)
    sampling: str = "configurations"
    # K > 1 (needs sampling=cells): the cells split into K groups by hash (group of a cell:
    # int(hash[:8], 16) % K) and only group sharing_group is sampled (a reduced sharing degree)
    sharing_groups: int = 1
    sharing_group: int = 0    # the group sampled, 0 <= sharing_group < sharing_groups

    def __post_init__(self) -> None:
        super().__post_init__()
        positive_int("method.eval_samples", self.eval_samples, SettingsError)
        positive_int("method.eval_batches", self.eval_batches, SettingsError)
        if self.sampling not in RANDOM_WS_SAMPLING:
            raise SettingsError(f"method.sampling must be configurations or cells, got "
                                f"{self.sampling!r}")
        positive_int("method.sharing_groups", self.sharing_groups, SettingsError)
        if isinstance(self.sharing_group, bool) or not isinstance(self.sharing_group, int) \
                or not 0 <= self.sharing_group < self.sharing_groups:
            raise SettingsError(f"method.sharing_group must be an integer in [0, "
                                f"{self.sharing_groups - 1}] (sharing_groups="
                                f"{self.sharing_groups}), got {self.sharing_group!r}")
        if self.sharing_groups > 1 and self.sampling != "cells":
            raise SettingsError(f"method.sharing_groups={self.sharing_groups} groups cells by "
                                f"hash, so it needs method.sampling=cells, got "
                                f"{self.sampling!r}")


#: The options of config group `method` (the same names as `nasbench1shot1.methods.METHODS`).
METHOD_CONFIGS: Registry[type[MethodConfig]] = Registry("method")
for _schema in (DartsConfig, GdasConfig, PcDartsConfig, EnasConfig, RandomWSConfig):
    METHOD_CONFIGS.register(_schema.name, _schema)
