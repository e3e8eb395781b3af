"""The one-shot family: a trained supernet's scores (the correlation study as an estimator).

`one_shot` trains a supernet with one of nb1s1-search's methods (`method`, `epochs`) on the
context's data, in the run dir's `supernet/` folder (a search run dir: checkpointed every epoch,
resumed, and a finished one is not trained again), and scores each cell by its one-shot
validation accuracy with batch-norm statistics of its own (`bn`, through
`nasbench1shot1.correlation.score_cells`). Its initialization cost is that training; it queries
no benchmark figure. Only the cells of a NAS-Bench-1Shot1 search space have a supernet.

Ning et al. (2021)'s mitigations, for method random_ws (conf/estimator.py checks the settings):
`sampling=cells` trains on unique cells drawn uniformly by hash (de-isomorphic sampling) rather
than on configurations; `sharing_groups=K` > 1 (with sampling=cells) reduces the sharing degree:
K supernets, group g's in `supernet/group<g>` (each resumable like the one of K = 1), trained on
the cells of sharing group g only (`methods.random_ws.sharing_group_of`), and each cell scored
by the supernet of its group; the initialization cost is the K trainings.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from nasbench1shot1.estimators.base import Estimator, register
from nasbench1shot1.nasbench import ModelSpec

SUPERNET_DIR = "supernet"


def group_dir(group: int) -> str:
    """The folder of sharing group `group`'s supernet inside `SUPERNET_DIR` (sharing_groups>1)."""
    return f"group{group}"


@register("one_shot")
class OneShot(Estimator):
    """One-shot validation accuracy of a trained supernet (one per sharing group)."""

    family = "one_shot"

    def fit(self, train: Sequence[str] = ()) -> None:
        from nasbench1shot1.models.batchnorm import check_bn_mode
        from nasbench1shot1.spaces import cell_architectures

        c, context = self.config, self.context
        check_bn_mode(c.bn)
        if context.space is None:
            raise ValueError("estimator one_shot scores the cells of a NAS-Bench-1Shot1 search "
                             "space (search_space=1, 2 or 3), not all of NAS-Bench-101")
        if context.run_dir is None:
            self._scratch = tempfile.TemporaryDirectory(prefix="nb1s1-one-shot-")
            root = Path(self._scratch.name)
        else:
            root = Path(context.run_dir) / SUPERNET_DIR
        if c.sharing_groups == 1:
            self.searches = [self._train(root, [])]
        else:
            self.searches = [self._train(root / group_dir(g), [  # with sampling=cells
                f"method.sharing_groups={c.sharing_groups}", f"method.sharing_group={g}"])
                for g in range(c.sharing_groups)]
        self.search = self.searches[0]
        generator = torch.Generator().manual_seed(context.seed)
        self.batches = self.search.arch_batches(generator=generator)[:c.batches]
        self.calibration = self.search.weight_batches(generator=generator)[
            :c.calibration_batches]
        self.architectures = cell_architectures(self.search.space)

    def _train(self, run_dir: Path, overrides: list[str]):
        """The search of one supernet in `run_dir`, trained (or resumed, or found finished) and
        loaded from its last checkpoint."""
        from nasbench1shot1.checkpoint import load_checkpoint
        from nasbench1shot1.config import compose, settings_from
        from nasbench1shot1.runfiles import CHECKPOINT_FILE
        from nasbench1shot1.search import build_search

        c, context = self.config, self.context
        if c.method == "random_ws" and c.sampling != "configurations":
            # the search's method.sampling (at the default it leaves estimator.search's be)
            overrides = [f"method.sampling={c.sampling}", *overrides]
        settings = settings_from(compose("search", [
            f"method={c.method}", f"search_space={context.space.number}",
            f"seed={context.seed}", f"train.epochs={c.epochs}", "logger=none",
            "progress=false", f"device={context.device}", *context.search_overrides,
            *c.search, *overrides]))
        search = build_search(settings, benchmark=context.benchmark, data=context.data(),
                              run_dir=run_dir, echo=False)
        result = search.run()
        if result.status != "finished":
            raise RuntimeError(f"the supernet of estimator one_shot did not train: "
                               f"{result.reason}")
        state = load_checkpoint(run_dir / CHECKPOINT_FILE)
        search.model.load_state_dict(state["model"])
        search.method.load_state_dict(state["method"])
        return search

    def score(self, specs: Sequence[ModelSpec]) -> np.ndarray:
        from nasbench1shot1.correlation import score_cells
        from nasbench1shot1.methods.random_ws import sharing_group_of

        groups = len(self.searches)
        archs, members = [], [[] for _ in range(groups)]
        for i, spec in enumerate(specs):
            key = spec.hash_spec()
            if key not in self.architectures:
                raise ValueError(f"cell {key} is not a cell of search space "
                                 f"{self.context.space.number}; the supernet cannot score it")
            archs.append(self.architectures[key])
            members[sharing_group_of(key, groups)].append(i)
        scores = np.empty(len(archs))
        for search, indices in zip(self.searches, members):
            if indices:
                scores[indices] = score_cells(search.method, [archs[i] for i in indices],
                                              self.batches, self.config.bn, self.calibration)
        return scores
