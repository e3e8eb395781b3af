"""Training throughput of the supernet: the plain eager fp32 path beside the fast paths.

Part 1 (issue 13's goal): a DARTS first-order step and a GDAS step on search space 3 (9 cells of
16 channels, 32x32x3 random images, CIFAR-10 sized) at batch 64, whole method steps (the
architecture update included). The variants are built alike from one seed and run in paired
rounds: each round takes one step of every variant, in an order that rotates, so load from other
processes falls on all of them; the figure is the median over rounds of each variant's images/s
and of its ratio to the plain path in the same round (min-max in brackets).

- `plain`: train.fast_ops=false, fp32, eager: the supernet's ops as before issue 13;
- `fast`: train.fast_ops=true (the default): channels-last memory, fused weighted sums, the
  accurate channels-last batch norm (models/);
- `fast bf16` / `fast fp16`: the same under autocast (bf16 where the device supports it; fp16 on
  CUDA, with its gradient scaler);
- `fast compiled [bf16|fp16]` (with --compile; DARTS only, GDAS's sampled cells run eager):
  train.compile=true in each precision; the compile times are printed apart.

Part 1 also prints how far the fast fp32 path's supernet weights and architecture weights lie
from the plain path's after one step from the same start (largest relative difference), beside
how far each fp32 path lies from the same step in float64 (supernet and architecture weights):
fp32's own rounding. At this size that rounding flips a few ReLU masks and max-pooling winners,
each moving one gradient element; where no kink can flip, the two paths agree to 1e-6
(`tests/test_fast_ops.py`). For scale it also prints how far the plain path moves when only its
memory layout changes to channels-last (PyTorch's own kernels, nothing else changed).
`--accuracy-seeds N` prints only these distances, from the starts of seeds 0..N-1, with each
one's minimum, median and maximum (no timing).

Part 2: images/s of every method at its own batch size (96; 64 for ENAS and Random-WS) with the
default (fast) ops, as a user's search runs them.

    python benchmarks/supernet_throughput.py [--rounds N] [--device cpu|cuda] [--threads T]
                                             [--compile] [--skip-methods] [--seed S]
                                             [--accuracy-seeds N]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from nasbench1shot1.checks import autocast_dtype
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


class Variant:
    """A method on a fresh supernet of space 3 with one batch, ready to step."""

    def __init__(self, variant: str, device: torch.device, batch_size: int, fast: bool,
                 precision: str = "fp32", compile: bool = False, seed: int = 0,
                 dtype: torch.dtype = torch.float32, channels_last: bool = False):
        name = variant.split(" ")[0]
        cls = get_method(name)
        space = get_search_space(3)
        k = SETTINGS[variant].get("partial_channels", 1) if cls.partial_channels else 1
        torch.manual_seed(seed)
        # the paper's 9 cells of 16 channels
        self.model = Supernet(space, SupernetConfig(partial_channels=k, fast_ops=fast))
        self.model.to(device=device, dtype=dtype)
        self.method = cls(space, self.model, SETTINGS[variant], epochs=50,
                          generator=torch.Generator().manual_seed(seed), precision=precision,
                          compile=compile)
        for alpha in self.method.arch_parameters():  # the methods make them in float32
            alpha.data = alpha.data.to(dtype)
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=TRAIN.learning_rate,
                                         momentum=TRAIN.momentum,
                                         weight_decay=TRAIN.weight_decay)
        data = torch.Generator().manual_seed(seed + 1)
        self.batch_size = batch_size
        self.train = Batch(torch.randn(batch_size, 3, 32, 32, generator=data).to(device, dtype),
                           torch.randint(0, 10, (batch_size,), generator=data).to(device))
        self.valid = Batch(torch.randn(batch_size, 3, 32, 32, generator=data).to(device, dtype),
                           torch.randint(0, 10, (batch_size,), generator=data).to(device))
        if channels_last:  # the plain ops (PyTorch's own) on channels-last model and images
            self.model.to(memory_format=torch.channels_last)
            for batch in (self.train, self.valid):
                batch.images = batch.images.contiguous(memory_format=torch.channels_last)
        self.device = device

    def step(self) -> float:
        """Seconds of one method step."""
        self._sync()
        start = time.perf_counter()
        self.method.step(self.train, self.valid, self.optimizer, TRAIN.learning_rate,
                         TRAIN.grad_clip)
        self._sync()
        return time.perf_counter() - start

    def _sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)


def largest_difference(a: Variant, b: Variant) -> tuple[float, float]:
    """Largest relative difference (|x - y| / (1 + |y|)) of the supernet weights, buffers and
    architecture weights of two variants."""
    def rel(x: torch.Tensor, y: torch.Tensor) -> float:
        x, y = x.detach().float().cpu(), y.detach().float().cpu()
        return float(((x - y).abs() / (1 + y.abs())).max()) if x.numel() else 0.0

    state_a, state_b = a.model.state_dict(), b.model.state_dict()
    weights = max(rel(state_a[k], state_b[k]) for k in state_a)
    arch = max(rel(x, y) for x, y in zip(a.method.arch_parameters(),
                                          b.method.arch_parameters()))
    return weights, arch


def precisions(device: torch.device) -> list[str]:
    """The lower precisions the device runs (autocast_dtype's checks)."""
    usable = []
    for precision in ("bf16", "fp16"):
        try:
            autocast_dtype(precision, device)
        except ValueError:
            continue
        usable.append(precision)
    return usable


#: The distances `accuracy` measures (supernet weights and statistics), by name.
DISTANCES = ("fast - plain", "plain - float64", "fast - float64", "plain channels-last - plain")


def accuracy(method: str, device: torch.device, seed: int
             ) -> tuple[Variant, Variant, dict[str, float]]:
    """One step of the plain, fast, float64 and channels-last-only variants from the start of
    `seed`; prints how far apart they are and returns the plain and the fast variant (each
    stepped once) and the distances (DISTANCES) of the supernet weights and statistics."""
    plain = Variant(method, device, 64, fast=False, seed=seed)
    fast = Variant(method, device, 64, fast=True, seed=seed)
    exact = Variant(method, device, 64, fast=False, dtype=torch.float64, seed=seed)
    laid_out = Variant(method, device, 64, fast=False, channels_last=True, seed=seed)
    plain.step(), fast.step(), exact.step(), laid_out.step()
    weights, arch = largest_difference(fast, plain)
    own, own_arch = largest_difference(plain, exact)
    fast_own, fast_own_arch = largest_difference(fast, exact)
    layout, _ = largest_difference(laid_out, plain)
    print(f"{method}, seed {seed}: after one step from the same start the fast fp32 path "
          f"differs from the plain one by at most {weights:.2e} (supernet weights and "
          f"statistics) and {arch:.1e} (architecture weights), relative; from the same step in "
          f"float64 the plain fp32 path by {own:.2e} and {own_arch:.1e}, the fast one by "
          f"{fast_own:.2e} and {fast_own_arch:.1e}; the plain path with channels-last memory "
          f"only (PyTorch's own kernels) differs from it by {layout:.2e}", flush=True)
    return plain, fast, dict(zip(DISTANCES, (weights, own, fast_own, layout)))


def compare(method: str, device: torch.device, rounds: int, compile: bool,
            seed: int = 0) -> None:
    plain, fast, _ = accuracy(method, device, seed)
    variants = {"plain": plain, "fast": fast}
    for precision in precisions(device):
        variants[f"fast {precision}"] = Variant(method, device, 64, True, precision, seed=seed)
    if compile and method != "gdas":  # GDAS samples its cells: its steps run eager anyway
        for precision in ["fp32", *precisions(device)]:
            name = "fast compiled" + ("" if precision == "fp32" else f" {precision}")
            variants[name] = Variant(method, device, 64, True, precision, compile=True,
                                     seed=seed)
            start = time.perf_counter()
            variants[name].step()
            variants[name].step()
            print(f"  ({name}: compiling took {time.perf_counter() - start:.0f} s)")
    for variant in variants.values():  # warm-up (allocator, kernels, cuDNN's choice)
        variant.step()
    seconds: dict[str, list[float]] = {name: [] for name in variants}
    names = list(variants)
    for r in range(rounds):
        for name in names[r % len(names):] + names[:r % len(names)]:
            seconds[name].append(variants[name].step())
    print(f"  {'path':<20}{'images/s':>10}{'x plain (min-max)':>24}")
    for name in names:
        speed = statistics.median(64 / s for s in seconds[name])
        ratios = [p / s for p, s in zip(seconds["plain"], seconds[name])]
        print(f"  {name:<20}{speed:>10.1f}{statistics.median(ratios):>10.2f}x "
              f"({min(ratios):.2f}-{max(ratios):.2f})", flush=True)


def distances_over_seeds(device: torch.device, seeds: int) -> None:
    """`accuracy` from the starts of seeds 0..seeds-1 for DARTS and GDAS, then each distance's
    minimum, median and maximum over them."""
    print(f"== one step's distances (largest relative difference of the supernet weights and "
          f"statistics), seeds 0-{seeds - 1}")
    for method in ("darts", "gdas"):
        rows = [accuracy(method, device, seed)[2] for seed in range(seeds)]
        for name in DISTANCES:
            values = [row[name] for row in rows]
            print(f"  {method} {name:<28} min {min(values):.2e}  median "
                  f"{statistics.median(values):.2e}  max {max(values):.2e}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--compile", action="store_true", help="also time train.compile=true")
    parser.add_argument("--skip-methods", action="store_true", help="part 1 only")
    parser.add_argument("--seed", type=int, default=0,
                        help="part 1's start: the supernets' weights and the batch")
    parser.add_argument("--accuracy-seeds", type=int, default=0, metavar="N",
                        help="only the distances after one step, from the starts of seeds "
                             "0..N-1, and their range (no timing)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else (
        f"CPU, {torch.get_num_threads()} threads")
    print(f"supernet of space 3, 9 cells, 16 channels, 32x32x3 images on {name}")
    if args.accuracy_seeds:
        distances_over_seeds(device, args.accuracy_seeds)
        return
    print("== plain eager fp32 against the fast paths, batch 64, "
          f"{args.rounds} paired rounds")
    for method in ("darts", "gdas"):
        compare(method, device, args.rounds, args.compile, args.seed)
    if args.skip_methods:
        return
    print("== every method at its batch size, default (fast) ops, fp32")
    print(f"{'method':<20}{'batch':>6}{'images/s':>12}")
    for variant in SETTINGS:
        size = METHOD_CONFIGS.get(variant.split(" ")[0]).batch_size
        run = Variant(variant, device, size, fast=True)
        run.step()
        steps = [run.step() for _ in range(max(3, args.rounds // 2))]
        print(f"{variant:<20}{size:>6}{size / statistics.median(steps):>12.1f}", flush=True)


if __name__ == "__main__":
    main()
