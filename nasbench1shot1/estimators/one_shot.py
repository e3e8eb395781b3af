"""The one-shot family: a trained supernet's scores (the correlation study as an estimator).

`one_shot` trains a supernet with one of nb1s1-search's methods (`method`, `epochs`) on the
context's data, in the run dir's `supernet/` folder (a search run dir: checkpointed every epoch,
resumed, and a finished one is not trained again), and scores each cell by its one-shot
validation accuracy with batch-norm statistics of its own (`bn`, through
`nasbench1shot1.correlation.score_cells`). Its initialization cost is that training; it queries
no benchmark figure. Only the cells of a NAS-Bench-1Shot1 search space have a supernet.
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


@register("one_shot")
class OneShot(Estimator):
    """One-shot validation accuracy of a trained supernet."""

    family = "one_shot"

    def fit(self, train: Sequence[str] = ()) -> None:
        from nasbench1shot1.checkpoint import load_checkpoint
        from nasbench1shot1.config import compose, settings_from
        from nasbench1shot1.models.batchnorm import check_bn_mode
        from nasbench1shot1.runfiles import CHECKPOINT_FILE
        from nasbench1shot1.search import build_search
        from nasbench1shot1.spaces import cell_architectures

        c, context = self.config, self.context
        check_bn_mode(c.bn)
        if context.space is None:
            raise ValueError("estimator one_shot scores the cells of a NAS-Bench-1Shot1 search "
                             "space (search_space=1, 2 or 3), not all of NAS-Bench-101")
        settings = settings_from(compose("search", [
            f"method={c.method}", f"search_space={context.space.number}",
            f"seed={context.seed}", f"train.epochs={c.epochs}", "logger=none",
            "progress=false", f"device={context.device}", *context.search_overrides,
            *c.search]))
        if context.run_dir is None:
            self._scratch = tempfile.TemporaryDirectory(prefix="nb1s1-one-shot-")
            run_dir = Path(self._scratch.name)
        else:
            run_dir = Path(context.run_dir) / SUPERNET_DIR
        search = build_search(settings, benchmark=context.benchmark, data=context.data(),
                              run_dir=run_dir, echo=False)
        result = search.run()
        if result.status != "finished":
            raise RuntimeError(f"the supernet of estimator one_shot did not train: "
                               f"{result.reason}")
        state = load_checkpoint(run_dir / CHECKPOINT_FILE)
        search.model.load_state_dict(state["model"])
        search.method.load_state_dict(state["method"])
        generator = torch.Generator().manual_seed(context.seed)
        self.batches = search.arch_batches(generator=generator)[:c.batches]
        self.calibration = search.weight_batches(generator=generator)[:c.calibration_batches]
        self.search = search
        self.architectures = cell_architectures(search.space)

    def score(self, specs: Sequence[ModelSpec]) -> np.ndarray:
        from nasbench1shot1.correlation import score_cells

        archs = []
        for spec in specs:
            key = spec.hash_spec()
            if key not in self.architectures:
                raise ValueError(f"cell {key} is not a cell of search space "
                                 f"{self.context.space.number}; the supernet cannot score it")
            archs.append(self.architectures[key])
        return score_cells(self.search.model, self.search.method, archs, self.batches,
                           self.config.bn, self.calibration)
