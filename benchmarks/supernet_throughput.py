"""Training throughput of the supernet, per method, at the paper's setting.

9 cells, 16 channels, batch 96 (64 for ENAS and Random-WS), 32x32x3 random images (CIFAR-10
sized), search space 3: images per second of whole method steps (the architecture update
included, so DARTS's second order costs what it costs), after warm-up steps. Runs on CPU, and
on CUDA when present.

    python benchmarks/supernet_throughput.py [--steps N] [--device cpu|cuda] [--threads T]
"""

from __future__ import annotations

import argparse
import time

import torch

from nasbench1shot1.conf.method import METHOD_CONFIGS
from nasbench1shot1.conf.search import TrainSettings
from nasbench1shot1.config import method_defaults
from nasbench1shot1.methods import Batch, get_method
from nasbench1shot1.models.supernet import Supernet, SupernetConfig
from nasbench1shot1.spaces import get_search_space

METHODS = ["darts", "gdas", "pc_darts", "enas", "random_ws"]
SETTINGS = {name: method_defaults(name) for name in METHODS}  # conf/method.py
SETTINGS["darts (2nd order)"] = {**SETTINGS["darts"], "unrolled": True}
TRAIN = TrainSettings()  # nb1s1-search's training settings (conf/search.py)


def measure(variant: str, device: torch.device, steps: int, warmup: int = 2) -> float:
    name = variant.split(" ")[0]
    cls = get_method(name)
    space = get_search_space(3)
    k = SETTINGS[variant].get("partial_channels", 1) if cls.partial_channels else 1
    model = Supernet(space, SupernetConfig(partial_channels=k))  # the paper's 9 cells of 16
    model = model.to(device)
    method = cls(space, model, SETTINGS[variant], epochs=50,
                 generator=torch.Generator().manual_seed(0))
    optimizer = torch.optim.SGD(model.parameters(), lr=TRAIN.learning_rate,
                                momentum=TRAIN.momentum, weight_decay=TRAIN.weight_decay)
    size = METHOD_CONFIGS.get(name).batch_size
    train = Batch(torch.randn(size, 3, 32, 32, device=device),
                  torch.randint(0, 10, (size,), device=device))
    valid = Batch(torch.randn(size, 3, 32, 32, device=device),
                  torch.randint(0, 10, (size,), device=device))
    for i in range(warmup + steps):
        if i == warmup:
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            start = time.perf_counter()
        method.step(train, valid, optimizer, TRAIN.learning_rate, TRAIN.grad_clip)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return steps * size / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else (
        f"CPU, {torch.get_num_threads()} threads")
    print(f"supernet of space 3, 9 cells, 16 channels, 32x32x3 images on {name}")
    print(f"{'method':<20}{'images/s':>12}")
    for variant in SETTINGS:
        print(f"{variant:<20}{measure(variant, device, args.steps):>12.1f}", flush=True)


if __name__ == "__main__":
    main()
