"""Random search with weight sharing (Li & Talwalkar, 2019): every step trains the supernet
under one cell sampled uniformly from the space's configurations; after each epoch
`eval_samples` sampled cells are scored by the supernet on `eval_batches` validation batches,
and the best of them is the epoch's architecture."""

from __future__ import annotations

import numpy as np
import torch

from nasbench1shot1.methods.base import Batch, OneShotMethod, register
from nasbench1shot1.spaces import Architecture


@register("random_ws")
class RandomWS(OneShotMethod):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        seed = int(torch.randint(0, 2**31 - 1, (1,), generator=self.generator))
        self.rng = np.random.default_rng(seed)
        self.best = self.space.sample(self.rng)
        self.best_accuracy = float("nan")

    def arch_parameters(self) -> list[torch.Tensor]:
        return []

    def step(self, train: Batch, valid: Batch, optimizer, lr: float, grad_clip: float):
        arch = self.space.sample(self.rng)
        return self.weight_step(train, self.hard_weights(arch), optimizer, grad_clip)

    @torch.no_grad()
    def score(self, arch, batches: list[Batch]) -> float:
        self.model.eval()
        weights = self.hard_weights(arch)
        correct = total = 0
        for batch in batches:
            correct += int((self.forward(batch.images, weights).argmax(1) == batch.labels).sum())
            total += len(batch.labels)
        return correct / total

    def end_epoch(self, epoch: int, valid_batches: list[Batch]) -> dict:
        batches = valid_batches[: self.cfg["eval_batches"]]
        best, best_accuracy = None, -1.0
        for _ in range(self.cfg["eval_samples"]):
            arch = self.space.sample(self.rng)
            accuracy = self.score(arch, batches)
            if accuracy > best_accuracy:
                best, best_accuracy = arch, accuracy
        self.best, self.best_accuracy = best, best_accuracy
        return {"sampled_best_one_shot_accuracy": best_accuracy}

    def eval_weights(self):
        return self.hard_weights(self.best)

    def discretize(self):
        return self.best

    def state_dict(self) -> dict:
        best = {"ops": list(self.best.ops), "parents": [list(p) for p in self.best.parents]}
        return {"rng": self.rng.bit_generator.state, "best": best,
                "best_accuracy": self.best_accuracy}

    def load_state_dict(self, state: dict) -> None:
        self.rng.bit_generator.state = state["rng"]
        best = state["best"]
        self.best = Architecture(tuple(best["ops"]), tuple(tuple(p) for p in best["parents"]))
        self.best_accuracy = state["best_accuracy"]

    def arch_summary(self) -> dict:
        return {"best_sampled": {"ops": list(self.best.ops),
                                 "parents": [list(p) for p in self.best.parents]}}
