"""`run(cfg) -> RunResult`: the one search loop, used by `nb1s1-search`, sweeps and BOHB;
`build_search(settings) -> Search`: its parts, for other jobs (the correlation study, a BOHB
worker that keeps its benchmark and data between searches).

One epoch: the supernet weights are trained on the weights half of the training split while the
method updates its architecture state on the architecture half; then the method's current cell is
looked up in the tabular benchmark (every repeat) and the epoch is recorded: one-shot train and
validation accuracy and loss, the cell, its benchmark validation and test error (mean over
repeats), its test regret, the learning rate, method extras (GDAS's temperature), wall time.
Records go to `metrics.jsonl` in the run dir (one JSON line per epoch), the end to `result.json`.
A checkpoint is written after every epoch; running again in the same run dir resumes from it.
A loss that turns NaN ends the run with status `diverged`.

The run holds its run dir for its whole life (`runfiles.own_run_dir`): one run at a time, and
only a search with the same settings. Checkpoints (nasbench1shot1.checkpoint) hold tensors,
numbers, strings and lists only and load with `torch.load(weights_only=True)`, so a crafted
checkpoint cannot run code; one that cannot be loaded stops the run with one sentence
(`restart=true` moves it aside and starts over). The run dir's files are named in
nasbench1shot1.runfiles.

`build_search(settings, benchmark=, data=)` sets a search up (everything that can fail on bad
input fails there, before any training); a `benchmark` (an open NASBench) or `data` (loaded
DataSplits) given to it is used as it is, not loaded again. `Search.run()` resumes, trains and
writes the run dir; its parts (`train_epoch`, `evaluate`, `arch_batches`, `state`, `restore`)
and its attributes (`settings`, `space`, `model`, `method`, `benchmark`, `optimum`,
`bench_epochs`, `weights_half`, `arch_half`, ...) are public.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import random
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from nasbench1shot1 import threads as thread_policy
from nasbench1shot1.checkpoint import load_checkpoint, rng_state, save_checkpoint, set_rng_state
from nasbench1shot1.checks import resolved_device
from nasbench1shot1.conf.search import identity_of
from nasbench1shot1.config import SearchSettings, SettingsError, settings_from
from nasbench1shot1.data import augment_batch
from nasbench1shot1.methods import Batch, get_method
from nasbench1shot1.models.supernet import Supernet, SupernetConfig
from nasbench1shot1.progress import bar as progress_bar
from nasbench1shot1.runfiles import (
    CHECKPOINT_FILE,
    METRICS_FILE,
    RESULT_FILE,
    WANDB_ID_FILE,
    move_aside,
    own_run_dir,
    write_result,
)
from nasbench1shot1.spaces import get_search_space, optimum

KIND = "search"

log = logging.getLogger(__name__)


@dataclass
class RunResult:
    """What a search ends with (also written to result.json)."""

    status: str  # "finished" or "diverged"
    method: str
    search_space: int
    seed: int
    epochs: int
    epochs_done: int
    final_cell: str | None = None
    final_architecture: dict | None = None
    final_validation_error: float | None = None
    final_test_error: float | None = None
    final_test_regret: float | None = None
    best_test_regret: float | None = None
    reason: str | None = None
    run_dir: str | None = None
    history: list[dict] = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)


def cutout_probability(prob: float, epoch: int, epochs: int, schedule: str) -> float:
    """The cutout probability in epoch `epoch` (1-based) of `epochs`: `prob` throughout
    (schedule fixed), or rising linearly from 0 in the first epoch to `prob` in the last (ramp,
    the original code's)."""
    if schedule == "fixed" or epochs <= 1:
        return prob
    return prob * (epoch - 1) / (epochs - 1)


def _batches(images: torch.Tensor, labels: torch.Tensor, size: int,
             generator: torch.Generator) -> list[Batch]:
    order = torch.randperm(len(labels), generator=generator).to(images.device)
    return [Batch(images[order[i:i + size]], labels[order[i:i + size]])
            for i in range(0, len(order), size)]


def _check_benchmark(benchmark, where: str) -> None:
    """A given benchmark must be the one the settings name (when it knows its file)."""
    from nasbench1shot1.embedded import EMBEDDED_BENCHMARK

    source = getattr(benchmark, "source", None)
    if source is None:
        return  # built in memory: the caller vouches for it
    expected = EMBEDDED_BENCHMARK if where == "embedded" else Path(where)
    if Path(source).resolve() != expected.resolve():
        raise SettingsError(
            f"the benchmark given to the search was opened from {source}, but its settings say "
            f"benchmark {where}; give the benchmark opened from there, or none")


def build_search(settings: SearchSettings | Any, benchmark=None, data=None,
                 run_dir: str | os.PathLike | None = None, tracker=None,
                 echo: bool = True) -> Search:
    """A search set up as `settings` (SearchSettings, or a config that `settings_from` checks)
    say: space, benchmark and its optimum, data, supernet, method, optimizer; see the module
    docstring. `benchmark` (an open NASBench) and `data` (loaded DataSplits) are used as given
    instead of being loaded (checked against the settings: the benchmark's file, the data set's
    name). `run_dir` is where `Search.run()` works (None: a search that is not run, e.g. to score
    cells with a checkpoint's weights); `tracker` mirrors the records; `echo`: the epoch lines
    at INFO (else DEBUG) and the progress bar."""
    if not isinstance(settings, SearchSettings):
        settings = settings_from(settings)
    return Search(settings, benchmark=benchmark, data=data, run_dir=run_dir, tracker=tracker,
                  echo=echo)


def run(cfg: Any, run_dir: str | os.PathLike | None = None, tracker=None,
        echo: bool = True, *, benchmark=None, data=None,
        on_hold: Callable[[Path], None] | None = None) -> RunResult:
    """Run one search as `cfg` (a Hydra/OmegaConf config or a dict, see conf/search.yaml) says.

    `run_dir` (default: the current directory) receives metrics.jsonl, result.json and the
    checkpoint. `tracker` mirrors the records (see nasbench1shot1.tracking). `benchmark` and
    `data`, when given, are used instead of loading them (see `build_search`). `on_hold(run_dir)`
    is called once the run dir is held, before anything else: a caller's own files there are
    written by the run that owns it (a BOHB worker's worker.json).
    """
    settings = settings_from(cfg)
    run_dir = Path(run_dir or ".").resolve()
    return _held_run(run_dir, settings, lambda: Search(
        settings, benchmark=benchmark, data=data, run_dir=run_dir, tracker=tracker, echo=echo),
        on_hold)


def _held_run(run_dir: Path, settings: SearchSettings, search,
              on_hold: Callable[[Path], None] | None = None) -> RunResult:
    """Hold the run dir, then report the finished run it holds or run `search()` there. The
    dir is held before anything is loaded: a refused start (or a finished run) loads nothing."""
    with own_run_dir(run_dir, KIND, settings.identity()):
        if on_hold is not None:
            on_hold(run_dir)
        done = None if settings.restart else finished_result(run_dir, settings)
        return done if done is not None else search()._run()


def finished_result(run_dir: Path, settings: SearchSettings) -> RunResult | None:
    """The result of the finished search with these settings that `run_dir` holds (read from
    result.json, metrics.jsonl and the checkpoint; no data or benchmark loaded, nothing trained
    or written), None if there is none: a finished search started again reports its result and
    touches nothing."""
    try:
        stored = json.loads((run_dir / RESULT_FILE).read_text())
        history = [json.loads(line) for line in
                   (run_dir / METRICS_FILE).read_text().splitlines()]
    except (OSError, ValueError):
        return None
    if (stored.get("status") != "finished"
            or identity_of(stored.get("settings") or {}) != settings.identity()
            or stored.get("epochs_done") != settings.train.epochs
            or [r.get("epoch") for r in history] != list(range(1, settings.train.epochs + 1))):
        return None
    # the checkpoint (when kept) is read, not written: a damaged one is named, as when resuming
    if (run_dir / CHECKPOINT_FILE).exists() and \
            load_checkpoint(run_dir / CHECKPOINT_FILE)["epoch"] != settings.train.epochs:
        return None
    fields = {f.name for f in dataclasses.fields(RunResult)} - {"history", "run_dir"}
    result = RunResult(**{k: v for k, v in stored.items() if k in fields},
                       run_dir=str(run_dir), history=history)
    log.info("%s holds this search, finished: nothing is run again (final cell %s, test regret "
             "%.4f, best %.4f; %s)", run_dir, (result.final_cell or "-")[:8],
             result.final_test_regret if result.final_test_regret is not None else float("nan"),
             result.best_test_regret if result.best_test_regret is not None else float("nan"),
             run_dir / RESULT_FILE)
    return result


class Search:
    """One search, set up; made by `build_search` (see there and the module docstring)."""

    def __init__(self, settings: SearchSettings, *, benchmark=None, data=None,
                 run_dir: str | os.PathLike | None = None, tracker=None, echo: bool = True):
        from nasbench1shot1.data.registry import load_data
        from nasbench1shot1.embedded import open_benchmark

        s = self.settings = settings
        thread_policy.apply(s.threads)
        self.run_dir = None if run_dir is None else Path(run_dir).resolve()
        self.tracker = tracker
        self.echo = echo
        #: the epoch lines: INFO for a run of its own, DEBUG inside another job (a BOHB worker)
        self.level = logging.INFO if echo else logging.DEBUG
        self.space = get_search_space(s.search_space)
        # Everything that can fail on bad input fails here, before any training.
        if benchmark is None:
            benchmark = open_benchmark(s.benchmark.where)
        else:
            _check_benchmark(benchmark, s.benchmark.where)
        self.benchmark = benchmark
        try:
            self.optimum = optimum(self.space, self.benchmark)
        except ValueError as error:
            if s.benchmark.where != "embedded":
                raise
            raise ValueError(
                f"{error}: the embedded benchmark covers search space 1 only; for space "
                f"{s.search_space} use benchmark=nasbench101 benchmark.path=<NAS-Bench-101 file>"
            ) from None
        self.bench_epochs = self.optimum.epochs
        self.device = torch.device(resolved_device(s.device))
        if self.device.type == "cuda":
            # every batch of a search has the same shape: let cuDNN pick its fastest kernels
            torch.backends.cudnn.benchmark = True
        if data is None:
            data = load_data(s.data.name, s.data.root, s.data.split_seed)
        elif data.name != s.data.name:
            raise SettingsError(f"the data given to the search are {data.name}, but its "
                                f"settings say data={s.data.name}; give those, or none")
        data = data.to(self.device)
        images, labels = data.train.images, data.train.labels
        if s.data.name == "cifar10":  # NAS-Bench-1Shot1 searched on all 50,000 training images
            images = torch.cat([images, data.valid.images])
            labels = torch.cat([labels, data.valid.labels])
        half = int(len(labels) * s.train.train_portion)
        if not 0 < half < len(labels):
            raise SettingsError(
                f"train.train_portion={s.train.train_portion} leaves {half} of the "
                f"{len(labels)} training images of {s.data.name} to the weights and "
                f"{len(labels) - half} to the architecture; each half needs at least one, so "
                f"it must lie in [{1 / len(labels):.4g}, {1 - 1 / len(labels):.4g}]")
        self.weights_half = (images[:half], labels[:half])
        self.arch_half = (images[half:], labels[half:])
        self.data = data
        torch.manual_seed(s.seed)
        np.random.seed(s.seed)
        random.seed(s.seed)
        self.generator = torch.Generator().manual_seed(s.seed)
        method_cls = get_method(s.method.name)
        supernet = SupernetConfig(
            channels=s.supernet.channels, num_cells=s.supernet.num_cells,
            num_classes=data.num_classes, in_channels=data.in_channels,
            partial_channels=s.method.partial_channels if method_cls.partial_channels else 1,
            bn_momentum=s.supernet.bn_momentum, stack_pooling=s.protocol.stack_pooling,
            head=s.protocol.head, fast_ops=s.train.fast_ops,
        )
        self.model = Supernet(self.space, supernet).to(self.device)
        # (the settings have checked that the device and the method can run the precision)
        self.method = method_cls(self.space, self.model, s.method.params(), s.train.epochs,
                                 self.generator, protocol=s.protocol,
                                 precision=s.train.precision, compile=s.train.compile)
        t = s.train
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=t.learning_rate,
                                         momentum=t.momentum, weight_decay=t.weight_decay)
        self.scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(
            self.optimizer, T_max=t.epochs, eta_min=t.learning_rate_min)
        if s.protocol.lr_schedule == "one_epoch_ahead":
            # the original steps its scheduler before each epoch's training, the first included
            # (PyTorch warns of a step before any optimizer step: here it is meant)
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message="Detected call of `lr_scheduler.step")
                self.scheduler.step()
        self.history: list[dict] = []
        self.start_epoch = 1
        self.elapsed = 0.0

    # -- batches ------------------------------------------------------------------------

    def weight_batches(self, batch_size: int | None = None,
                       generator: torch.Generator | None = None) -> list[Batch]:
        """The weights half in batches of `batch_size` (default: train.batch_size), in an
        order drawn from `generator` (default: the search's own, which this advances)."""
        return _batches(*self.weights_half, batch_size or self.settings.train.batch_size,
                        self.generator if generator is None else generator)

    def arch_batches(self, batch_size: int | None = None,
                     generator: torch.Generator | None = None) -> list[Batch]:
        """The architecture half in batches, as `weight_batches`."""
        return _batches(*self.arch_half, batch_size or self.settings.train.batch_size,
                        self.generator if generator is None else generator)

    # -- checkpoint ---------------------------------------------------------------------

    def state(self, epoch: int) -> dict:
        """What a checkpoint after `epoch` holds (every value `weights_only` loading accepts)."""
        return {
            "epoch": epoch, "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict(),
            "method": self.method.state_dict(), "generator": self.generator.get_state(),
            # fp16's loss scale and its growth count ({} in other precisions)
            "scaler": self.method.scaler.state_dict(), "rng": rng_state(),
            "elapsed": self.elapsed, "settings": self.settings.as_dict(),
            # the records are JSON by construction: this keeps numpy scalars out
            "history": json.loads(json.dumps(self.history)),
        }

    def restore(self, state: dict) -> None:
        """Continue from a checkpoint's `state` (see `state`): weights, optimizer, schedule,
        method, every RNG, the records; the next epoch is the one after it."""
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.method.load_state_dict(state["method"])
        if state.get("scaler") and self.method.scaler.is_enabled():  # absent before fp16 kept it
            self.method.scaler.load_state_dict(state["scaler"])
        self.generator.set_state(state["generator"])
        set_rng_state(state["rng"])
        self.history = state["history"]
        self.elapsed = state["elapsed"]
        self.start_epoch = state["epoch"] + 1

    def _save(self, epoch: int) -> None:
        save_checkpoint(self.run_dir / CHECKPOINT_FILE, self.state(epoch))

    def _resume(self) -> None:
        path = self.run_dir / CHECKPOINT_FILE
        if self.settings.restart:
            moved = move_aside(self.run_dir, (CHECKPOINT_FILE, METRICS_FILE, RESULT_FILE,
                                              WANDB_ID_FILE),
                               "restart=true: the run started over")
            if moved is not None:
                log.info("restart=true: the earlier files are in %s", moved)
        if not path.exists():
            (self.run_dir / METRICS_FILE).unlink(missing_ok=True)
            return
        state = load_checkpoint(path)
        if identity_of(state["settings"]) != self.settings.identity():
            raise SettingsError(
                f"{self.run_dir} holds a checkpoint of a run with other settings; use a new "
                "run dir (hydra.run.dir=...) or the same settings to resume"
            )
        self.restore(state)
        # metrics.jsonl holds exactly the checkpointed epochs
        lines = "".join(json.dumps(record) + "\n" for record in self.history)
        (self.run_dir / METRICS_FILE).write_text(lines)
        log.info("resumed from %s after epoch %d", path, state["epoch"])

    # -- loop ---------------------------------------------------------------------------

    def evaluate(self, batches: list[Batch]) -> tuple[float, float]:
        """Loss and accuracy of the supernet under the method's evaluation weights."""
        self.model.eval()
        weights = self.method.eval_weights()
        loss = correct = count = 0
        with torch.no_grad():
            for batch in batches:
                logits = self.method.forward(batch.images, weights)
                loss += float(self.method.loss_fn(logits, batch.labels)) * len(batch.labels)
                correct += int((logits.argmax(1) == batch.labels).sum())
                count += len(batch.labels)
        return loss / count, correct / count

    def train_epoch(self, epoch: int) -> dict | str:
        """Train epoch `epoch` and look its cell up: the epoch's record, or why the run
        diverged (a loss that is not finite). Writes nothing."""
        s, t = self.settings, self.settings.train
        started = time.perf_counter()
        lr = self.optimizer.param_groups[0]["lr"]
        train_batches = self.weight_batches()
        arch_batches = self.arch_batches()
        loss = correct = count = 0
        augment = t.cutout or s.data.crop_padding or s.data.flip
        cutout_prob = cutout_probability(t.cutout_prob, epoch, t.epochs, s.protocol.cutout)

        def augmented(batch: Batch) -> Batch:
            if not augment:
                return batch
            return Batch(augment_batch(batch.images, self.generator, s.data.crop_padding,
                                       s.data.flip, t.cutout_length if t.cutout else 0,
                                       cutout_prob), batch.labels)

        # both halves see the training transform, as in DARTS and NAS-Bench-1Shot1
        bar = progress_bar(len(train_batches), f"epoch {epoch}/{t.epochs}", "batch",
                           self.echo and s.progress, leave=False)
        for i, batch in enumerate(train_batches):
            step = self.method.step(augmented(batch),
                                    augmented(arch_batches[i % len(arch_batches)]),
                                    self.optimizer, lr, t.grad_clip)
            if not math.isfinite(step.loss):
                bar.close()
                return f"the training loss became {step.loss} in epoch {epoch}"
            loss += step.loss * step.count
            correct += step.correct
            count += step.count
            bar.update(1)
        bar.close()
        self.scheduler.step()
        method_metrics = self.method.epoch_metrics()  # what this epoch used (GDAS's tau)
        extras = self.method.end_epoch(epoch, arch_batches)
        valid_loss, valid_accuracy = self.evaluate(arch_batches)
        if not math.isfinite(valid_loss):
            return f"the validation loss became {valid_loss} in epoch {epoch}"
        arch = self.method.discretize()
        spec = self.space.to_spec(arch)
        key = spec.hash_spec()
        answer = self.benchmark.query_all(spec, epochs=self.bench_epochs)["mean"]
        test_error = 1.0 - answer["test_accuracy"]
        epoch_time = time.perf_counter() - started
        self.elapsed += epoch_time
        return {
            **self._peak_memory(),
            "epoch": epoch,
            "train_loss": loss / count, "train_accuracy": correct / count,
            "valid_loss": valid_loss, "valid_accuracy": valid_accuracy,
            "learning_rate": lr,
            "cell": key,
            "adjacency": spec.matrix.tolist(), "ops": spec.ops,
            "architecture": {"ops": list(arch.ops), "parents": [list(p) for p in arch.parents]},
            "benchmark_validation_error": 1.0 - answer["validation_accuracy"],
            "benchmark_test_error": test_error,
            "test_regret": self.optimum.regret(test_error, "single_run"),
            "test_regret_vs_best_mean": self.optimum.regret(test_error, "mean"),
            **method_metrics, **extras,
            "epoch_time": epoch_time, "wall_time": self.elapsed,
            "threads": s.threads, "device": str(self.device),
        }

    def _peak_memory(self) -> dict:
        """On CUDA: the epoch's peak of allocated GPU memory in MiB (the counter is reset for
        the next epoch); nothing on CPU."""
        if self.device.type != "cuda":
            return {}
        peak = torch.cuda.max_memory_allocated(self.device) / 2**20
        torch.cuda.reset_peak_memory_stats(self.device)
        return {"peak_memory_mib": round(peak, 1)}

    def result(self, status: str = "finished", reason: str | None = None) -> RunResult:
        """The run's result from its records so far."""
        s = self.settings
        result = RunResult(status=status, method=s.method.name, search_space=s.search_space,
                           seed=s.seed, epochs=s.train.epochs, epochs_done=len(self.history),
                           reason=reason,
                           run_dir=None if self.run_dir is None else str(self.run_dir),
                           history=self.history)
        if self.history:
            last = self.history[-1]
            result.final_cell = last["cell"]
            result.final_architecture = last["architecture"]
            result.final_validation_error = last["benchmark_validation_error"]
            result.final_test_error = last["benchmark_test_error"]
            result.final_test_regret = last["test_regret"]
            result.best_test_regret = min(r["test_regret"] for r in self.history)
        return result

    def run(self) -> RunResult:
        """Resume from the run dir's checkpoint (if any), train the remaining epochs and write
        the run dir (see the module docstring), holding the run dir meanwhile."""
        if self.run_dir is None:
            raise ValueError("this search was built without a run_dir, so it cannot run; "
                             "build it with run_dir=...")
        return _held_run(self.run_dir, self.settings, lambda: self)

    def _run(self) -> RunResult:
        """`run` in a run dir that the caller holds."""
        s = self.settings
        self._resume()
        if self.tracker is not None:
            # a resumed search is the same W&B run (its id is kept in the run dir); the tracker
            # logs the checkpointed epochs that the run's earlier invocations did not write
            self.tracker.start(s.as_dict(), self.run_dir, history=self.history)
        status, reason = "finished", None
        for epoch in range(self.start_epoch, s.train.epochs + 1):
            record = self.train_epoch(epoch)
            if isinstance(record, str):
                status, reason = "diverged", record
                break
            self.history.append(record)
            with (self.run_dir / METRICS_FILE).open("a") as out:
                out.write(json.dumps(record) + "\n")
            self._save(epoch)
            if self.tracker is not None:
                self.tracker.log(record)
            log.log(self.level,
                    "epoch %3d/%d  train acc %.3f  valid acc %.3f  cell %s  bench test err %.4f"
                    "  regret %.4f  %.1fs", epoch, s.train.epochs, record["train_accuracy"],
                    record["valid_accuracy"], record["cell"][:8],
                    record["benchmark_test_error"], record["test_regret"], record["epoch_time"])
        result = self.result(status, reason)
        summary = {k: v for k, v in result.as_dict().items() if k != "history"}
        write_result(self.run_dir, KIND, {**summary, "settings": s.as_dict()})
        if self.tracker is not None:
            self.tracker.finish({**summary, "final_record": self.history[-1] if self.history
                                 else None})
        if status == "diverged":
            log.warning("diverged: %s", reason)
        return result
