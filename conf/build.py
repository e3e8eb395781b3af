"""The settings of `nb1s1-build` (conf/build.yaml): the typed schema of the whole config, the one
place its defaults are written. Train every unique cell of a search space `repeats` times into a
tabular benchmark in NAS-Bench-101's official .tfrecord format. The defaults are the settings of
the embedded digits benchmark of search space 1 that ships with the package (see the README);
the checks of the values are the builder's (`nasbench1shot1.builder.BuildConfig`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from nasbench1shot1.conf.cell import NetworkConfig, TrainConfig

#: NAS-Bench-101's recipe: what the build does not change comes from there.
_NETWORK, _TRAIN = NetworkConfig(), TrainConfig()


@dataclass
class BuildNetworkConfig:
    """NASBench101Network sizes (in_channels and num_classes come from the data); the embedded
    benchmark's small network, NAS-Bench-101's batch-norm epsilon."""

    stem_channels: int = 8        # output channels of the 3x3 stem convolution
    num_stacks: int = 2           # stacks of cells, down-sampling and doubling between
    modules_per_stack: int = 1    # cells per stack
    bn_momentum: float = 0.1      # PyTorch convention; NAS-Bench-101's 0.003 needs more steps
    bn_eps: float = _NETWORK.bn_eps  # batch norm's epsilon (NAS-Bench-101's)


@dataclass
class BuildTrainConfig:
    """How each cell is trained (`conf.cell.TrainConfig`): 5 epochs of SGD in batches of 128 for
    the embedded benchmark, the rest NAS-Bench-101's; the augmentation is the data option's
    (data.crop_padding, data.flip), the seed of run r is `seed + r`."""

    epochs: int = 5               # training epochs of every cell
    batch_size: int = 128         # training batch size
    optimizer: str = "sgd"        # sgd or rmsprop
    learning_rate: float = _TRAIN.learning_rate  # cosine annealed to 0 (NAS-Bench-101's)
    momentum: float = _TRAIN.momentum  # the optimizer's momentum
    rmsprop_eps: float = _TRAIN.rmsprop_eps  # rmsprop's epsilon
    weight_decay: float = _TRAIN.weight_decay  # L2 on the weights
    grad_clip: float = _TRAIN.grad_clip  # max global norm of the gradients
    eval_batch_size: int = _TRAIN.eval_batch_size  # batch size of the evaluations
    device: str = _TRAIN.device  # cpu, cuda or cuda:N


@dataclass
class BuildSettings:
    search_space: int = 1         # 1, 2 or 3
    repeats: int = 3              # training runs per cell; run r uses seed `seed + r`
    seed: int = 0                 # of the first training run of each cell
    cells: list[str] | None = None  # hex hashes: build only those cells of the space
    limit: int | None = None      # only the first `limit` cells (sorted by hash)
    # false: only cells of configurations where every block reaches the output
    loose_ends: bool = True
    data: Any = None              # a conf.data option (config group `data`): digits or cifar10
    network: BuildNetworkConfig = field(default_factory=BuildNetworkConfig)
    train: BuildTrainConfig = field(default_factory=BuildTrainConfig)
    # the build folder (resumable, shared by shards)
    folder: str = "outputs/build/space${search_space}-${data.name}"
    shard: int | None = None      # null: every shard here with `workers` processes, then merge
    num_shards: int = 1           # with shard=I: this job builds shard I of num_shards
    workers: int = 1              # local processes when shard is null (one thread each)
    threads: int = 1              # torch threads of a single-shard job
    progress: bool = True         # a progress bar over the cells on a terminal
    export: str | None = None     # path of a compressed .npz copy of the merged benchmark
