"""The settings of `nb1s1-search` (conf/search.yaml): the typed schema of the whole config, the
one place its defaults are written, with every check of its values (the checks of one value in
its section, those across sections in `SearchSettings`)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from nasbench1shot1.checks import (
    SettingsError,
    autocast_dtype,
    device_of,
    number_in,
    positive_int,
    second_order_precision,
    seed_value,
    threads_of,
)
from nasbench1shot1.conf import identity as run_identity
from nasbench1shot1.conf.data import BenchmarkConfig, DataConfig
from nasbench1shot1.conf.method import MethodConfig, RandomWSConfig
from nasbench1shot1.conf.protocol import ProtocolConfig


def _number(key: str, value: Any, low: float | None = None, high: float | None = None,
            low_open: bool = False) -> float:
    return number_in(key, value, low, high, low_open, SettingsError)


#: Values of train.precision: the dtype the supernet's forward passes autocast to.
PRECISIONS = ("fp32", "bf16", "fp16")


@dataclass
class TrainSettings:
    """Training of the supernet weights: SGD, cosine annealed, as in NAS-Bench-1Shot1."""

    epochs: int = 50              # passes over the weights' half of the training split
    batch_size: int = "${method.batch_size}"  # type: ignore[assignment]  # 96; 64 ENAS, RWS
    learning_rate: float = 0.025  # SGD, cosine annealed to learning_rate_min over the epochs
    learning_rate_min: float = 0.001  # the learning rate at the last epoch
    momentum: float = 0.9         # SGD momentum
    weight_decay: float = 3.0e-4  # L2 on the supernet weights
    grad_clip: float = 5.0        # max global norm of the weight gradients; 0: no clipping
    cutout: bool = False          # true: cutout on the training images
    cutout_length: int = 16       # side of the square cut out, in pixels
    cutout_prob: float = 1.0      # probability that an image gets the cutout
    train_portion: float = 0.5  # the training split: first part weights, the rest architecture
    # channels-last memory, fused weighted sums, a cell's input projections as one convolution
    # and an accurate channels-last batch norm in the supernet: the plain ops' results to float
    # rounding, faster (benchmarks/supernet_throughput.py); false: the plain eager ops (NCHW)
    fast_ops: bool = True
    # the supernet's forward passes under autocast: fp32 (none), bf16 (CUDA, or a CPU with
    # AVX512-BF16/AMX) or fp16 (CUDA; the losses scaled by a gradient scaler)
    precision: str = "fp32"
    # true: torch.compile the supernet for the passes under soft weights (DARTS, PC-DARTS and the
    # evaluations); passes under a sampled cell (GDAS, ENAS, Random-WS) run eager. Compiling
    # takes minutes: for GPUs
    compile: bool = False

    def __post_init__(self) -> None:
        positive_int("train.epochs", self.epochs, SettingsError)
        if not str(self.batch_size).startswith("${"):  # the schema's own default, unresolved
            positive_int("train.batch_size", self.batch_size, SettingsError)
        _number("train.learning_rate", self.learning_rate, 0.0, low_open=True)
        _number("train.learning_rate_min", self.learning_rate_min, 0.0)
        _number("train.momentum", self.momentum, 0.0, 1.0)
        _number("train.weight_decay", self.weight_decay, 0.0)
        _number("train.grad_clip", self.grad_clip, 0.0)
        positive_int("train.cutout_length", self.cutout_length, SettingsError)
        _number("train.cutout_prob", self.cutout_prob, 0.0, 1.0)
        _number("train.train_portion", self.train_portion, 0.0, 1.0, low_open=True)
        if self.train_portion >= 1.0:
            raise SettingsError(
                f"train.train_portion must leave an architecture half, got {self.train_portion}")
        for key in ("fast_ops", "compile"):
            if not isinstance(getattr(self, key), bool):
                raise SettingsError(f"train.{key} must be true or false, got "
                                    f"{getattr(self, key)!r}")
        if self.precision not in PRECISIONS:
            raise SettingsError(f"unknown train.precision {self.precision!r}, expected one of "
                                f"{', '.join(PRECISIONS)}")


@dataclass
class SupernetSettings:
    """The supernet's sizes: the paper's 9 cells (3 stacks of 3, max-pooling and twice the
    channels between stacks) of 16 channels."""

    channels: int = 16            # channels of each choice block in the first stack
    num_cells: int = 9            # cells in all, in 3 stacks
    bn_momentum: float = 0.1      # PyTorch convention (weight of the new batch statistics)

    def __post_init__(self) -> None:
        positive_int("supernet.channels", self.channels, SettingsError)
        positive_int("supernet.num_cells", self.num_cells, SettingsError)
        _number("supernet.bn_momentum", self.bn_momentum, 0.0, 1.0)


#: What `nb1s1-search` returns to a Hydra sweeper (to minimize). Selection looks at validation
#: figures only; test_regret is there for studies of the search itself.
SEARCH_OBJECTIVES = ("validation_error", "one_shot_validation_error", "test_regret")
#: Settings that do not change what a run computes, only how, where or what it reports: a run
#: may resume with other values of them.
NOT_IDENTITY = ("device", "threads", "restart", "progress", "objective", "train.fast_ops",
                "train.compile")
#: Settings added after searches were made, in the groups they came in, with the value every
#: earlier search had (their defaults): at those values they are left out of a run's identity
#: (conf/identity.py), so the earlier run dirs keep theirs.
LATER_SETTINGS = (
    {"train.precision": "fp32"},
    {"protocol": asdict(ProtocolConfig())},  # this project's protocol
    {f"method.{name}": getattr(RandomWSConfig, name)  # Random-WS's cell sampling
     for name in ("sampling", "sharing_groups", "sharing_group")},
)


@dataclass
class SearchSettings:
    """The whole config of `nb1s1-search`; `method` is one of conf.method's schemas, `logger` one
    of conf.logger's (the app makes the tracker of it)."""

    search_space: int = 1         # 1, 2 or 3
    seed: int = 0                 # of the data order, weights and sampling (the run's seed)
    device: str = "auto"          # auto (CUDA when present), cpu, cuda, cuda:N
    threads: Any = "auto"         # PyTorch's CPU threads; auto: OMP_NUM_THREADS, else cores/jobs
    restart: bool = False         # true: move the run dir's checkpoint and metrics aside
    progress: bool = True         # a progress bar over the batches on a terminal
    # what the app returns to a sweeper: validation_error (the final cell's benchmark validation
    # error), one_shot_validation_error or test_regret (test data: for studies only)
    objective: str = "validation_error"
    method: Any = None            # a conf.method schema (config group `method`)
    data: DataConfig = field(default_factory=DataConfig)
    benchmark: BenchmarkConfig = field(default_factory=BenchmarkConfig)
    logger: Any = None            # a conf.logger schema (config group `logger`)
    train: TrainSettings = field(default_factory=TrainSettings)
    supernet: SupernetSettings = field(default_factory=SupernetSettings)
    # where the search follows the original NAS-Bench-1Shot1 code (config group `protocol`:
    # fixed or paper; conf/protocol.py)
    protocol: ProtocolConfig = field(default_factory=ProtocolConfig)

    def __post_init__(self) -> None:
        from nasbench1shot1.spaces import list_spaces

        if isinstance(self.search_space, bool) or self.search_space not in list_spaces():
            raise SettingsError(f"unknown search space {self.search_space!r}, expected one of "
                                f"{', '.join(map(str, list_spaces()))}")
        if not isinstance(self.method, MethodConfig):
            raise SettingsError("the config has no method; choose one with method=NAME")
        if str(self.train.batch_size).startswith("${"):  # made in Python, not composed
            self.train.batch_size = self.method.batch_size
        seed_value("seed", self.seed, SettingsError)
        self.device = device_of("device", self.device, SettingsError)
        self.threads = threads_of("threads", self.threads, SettingsError)
        if self.objective not in SEARCH_OBJECTIVES:
            raise SettingsError(f"unknown objective {self.objective!r}, expected one of "
                                f"{', '.join(SEARCH_OBJECTIVES)}")
        try:  # a precision the device or the method cannot run stops the run before it starts
            autocast_dtype(self.train.precision, self.device)
            second_order_precision(self.train.precision, getattr(self.method, "unrolled", False))
        except ValueError as error:
            raise SettingsError(str(error)) from None
        k = getattr(self.method, "partial_channels", 1)
        if self.supernet.channels % k:
            raise SettingsError(f"method.partial_channels k={k} must divide supernet.channels "
                                f"{self.supernet.channels}")

    def as_dict(self) -> dict:
        """The settings as run dirs store them (checkpoint, result.json; run.json holds their
        identity), every one of them: the method as its name and own settings, the benchmark as
        where it is."""
        return {"search_space": self.search_space,
                "method": {"name": self.method.name, **self.method.params()},
                "data": asdict(self.data), "benchmark": self.benchmark.where,
                "train": asdict(self.train), "supernet": asdict(self.supernet),
                "seed": self.seed, "device": self.device, "threads": self.threads,
                "restart": self.restart, "progress": self.progress,
                "objective": self.objective, "protocol": asdict(self.protocol)}

    def identity(self) -> dict:
        """What must match to resume a run or to share its run dir."""
        return identity_of(self.as_dict())


def identity_of(settings: dict) -> dict:
    """A search's identity: `settings` as `SearchSettings.as_dict` gives them (or a run dir
    stores them, from any version) less the NOT_IDENTITY settings and the LATER_SETTINGS at
    their earlier values (conf/identity.py)."""
    return run_identity.identity_of(settings, NOT_IDENTITY, LATER_SETTINGS)
