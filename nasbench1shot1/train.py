"""Train one cell from scratch, as NAS-Bench-101 trained each of its cells.

`train_cell(spec, data, cfg)` builds the NAS-Bench-101 network of the cell, trains it with the
reference recipe (RMSProp, momentum 0.9, epsilon 1.0, weight decay 1e-4, learning rate 0.2 with
cosine decay to 0, batch size 256, 108 epochs by default; SGD is the alternative), and evaluates
train, validation and test accuracy before training, halfway (after `epochs // 2` epochs) and at
the end. It
returns the fields NAS-Bench-101 records per run: training time up to each evaluation point
(evaluation excluded), the three accuracies, and the trainable parameter count. This is how the
tabular-benchmark builder trains each cell and how a user re-trains the cell a search found.

Note on RMSProp: TensorFlow adds epsilon inside the square root, PyTorch outside; with the
reference's epsilon 1.0 both damp small second moments alike, but the runs are not bit-equal.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass

import torch
from torch import nn

from nasbench1shot1.conf.cell import TrainConfig
from nasbench1shot1.data import DataSplits, Split, augment_batch
from nasbench1shot1.models import NASBench101Network, NetworkConfig, count_parameters
from nasbench1shot1.nasbench.spec import ModelSpec


@dataclass(frozen=True)
class EvaluationPoint:
    """Metrics at one point of a run, named as NAS-Bench-101's `EvaluationData`."""

    current_epoch: int
    training_time: float
    train_accuracy: float
    validation_accuracy: float
    test_accuracy: float


@dataclass(frozen=True)
class CellResult:
    """One training run of one cell: NAS-Bench-101's per-run record."""

    module_hash: str
    epochs: int
    start: EvaluationPoint
    halfway: EvaluationPoint
    final: EvaluationPoint
    trainable_parameters: int
    total_time: float

    def as_dict(self) -> dict:
        return asdict(self)


@torch.no_grad()
def accuracy(model: nn.Module, split: Split, batch_size: int) -> float:
    """Top-1 accuracy of `model` (in eval mode) on a split."""
    was_training = model.training
    model.eval()
    correct = 0
    for start in range(0, len(split), batch_size):
        logits = model(split.images[start:start + batch_size])
        correct += int((logits.argmax(dim=1) == split.labels[start:start + batch_size]).sum())
    model.train(was_training)
    return correct / len(split)


def _optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    if cfg.optimizer == "rmsprop":
        return torch.optim.RMSprop(
            model.parameters(), lr=cfg.learning_rate, alpha=0.9, momentum=cfg.momentum,
            eps=cfg.rmsprop_eps, weight_decay=cfg.weight_decay,
        )
    return torch.optim.SGD(
        model.parameters(), lr=cfg.learning_rate, momentum=cfg.momentum,
        weight_decay=cfg.weight_decay, nesterov=False,
    )


def train_cell(
    spec: ModelSpec,
    data: DataSplits,
    cfg: TrainConfig | None = None,
    network: NetworkConfig | None = None,
) -> CellResult:
    """Train the network of `spec` on `data` from scratch; see the module docstring."""
    cfg = cfg or TrainConfig()
    network = network or NetworkConfig()
    if network.in_channels != data.in_channels or network.num_classes != data.num_classes:
        network = NetworkConfig(**{**asdict(network), "in_channels": data.in_channels,
                                   "num_classes": data.num_classes})
    device = torch.device(cfg.device)
    torch.manual_seed(cfg.seed)
    generator = torch.Generator(device="cpu").manual_seed(cfg.seed)
    data = data.to(device)
    model = NASBench101Network(spec, network).to(device)
    optimizer = _optimizer(model, cfg)
    steps_per_epoch = math.ceil(len(data.train) / cfg.batch_size)
    total_steps = cfg.epochs * steps_per_epoch
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: 0.5 * (1.0 + math.cos(math.pi * step / total_steps))
    )
    loss_fn = nn.CrossEntropyLoss()
    halfway_epoch = cfg.epochs // 2
    points: dict[str, EvaluationPoint] = {}
    training_time = 0.0
    started = time.perf_counter()

    def evaluate(epoch: int) -> EvaluationPoint:
        return EvaluationPoint(
            current_epoch=epoch,
            training_time=training_time,
            train_accuracy=accuracy(model, data.train, cfg.eval_batch_size),
            validation_accuracy=accuracy(model, data.valid, cfg.eval_batch_size),
            test_accuracy=accuracy(model, data.test, cfg.eval_batch_size),
        )

    points["start"] = evaluate(0)
    if halfway_epoch == 0:
        points["halfway"] = points["start"]
    model.train()
    for epoch in range(1, cfg.epochs + 1):
        epoch_start = time.perf_counter()
        order = torch.randperm(len(data.train), generator=generator).to(device)
        for start in range(0, len(order), cfg.batch_size):
            index = order[start:start + cfg.batch_size]
            images = data.train.images[index]
            if cfg.crop_padding or cfg.flip:
                images = augment_batch(images, generator, cfg.crop_padding, cfg.flip)
            loss = loss_fn(model(images), data.train.labels[index])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if cfg.grad_clip:
                nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            optimizer.step()
            schedule.step()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        training_time += time.perf_counter() - epoch_start
        if epoch == halfway_epoch:
            points["halfway"] = evaluate(epoch)
    points["final"] = evaluate(cfg.epochs)
    return CellResult(
        module_hash=spec.hash_spec(),
        epochs=cfg.epochs,
        start=points["start"],
        halfway=points["halfway"],
        final=points["final"],
        trainable_parameters=count_parameters(model),
        total_time=time.perf_counter() - started,
    )
