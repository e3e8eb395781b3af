"""Batch-norm statistics for scoring one cell of a weight-sharing supernet.

A supernet's running batch-norm statistics average over every cell it was trained under, so in
eval mode a single cell sees statistics that are not its own (its one-shot accuracy then sits
near chance). The modes of `BN_MODES` give a cell statistics of its own or keep the shared ones:

- `recalibrate`: reset the running statistics, forward a few calibration batches under the cell
  in train mode without gradients, as a cumulative average (momentum None), then score in eval
  mode (as single-path one-shot methods do, e.g. SPOS);
- `batch`: normalise each scored batch by its own statistics (train-mode batch norm that does
  not update the running statistics);
- `running`: the supernet's stored running statistics, shared by all cells.

`kept_state(model)` restores what the modes change (buffers, momentum, train flags) on exit.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager

import torch
from torch import nn

from nasbench1shot1.conf.correlation import BN_MODES  # how a cell's statistics are found


def check_bn_mode(mode: str) -> str:
    """`mode` if it is one of BN_MODES; else one sentence naming them."""
    if mode not in BN_MODES:
        raise ValueError(f"unknown batch-norm mode {mode!r}, expected one of "
                         f"{', '.join(BN_MODES)}")
    return mode


def batch_norms(model: nn.Module) -> list[nn.modules.batchnorm._BatchNorm]:
    return [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]


@contextmanager
def kept_state(model: nn.Module) -> Iterator[nn.Module]:
    """Inside: change the batch-norm statistics and train flags of `model` freely; on exit they
    are as before (running statistics, counters, momentum, tracking, each module's mode)."""
    norms = batch_norms(model)
    buffers = [{name: b.detach().clone() for name, b in bn.named_buffers(recurse=False)}
               for bn in norms]
    settings = [(bn.momentum, bn.track_running_stats) for bn in norms]
    modes = [(m, m.training) for m in model.modules()]
    try:
        yield model
    finally:
        with torch.no_grad():
            for bn, saved, (momentum, tracking) in zip(norms, buffers, settings):
                for name, value in saved.items():
                    getattr(bn, name).copy_(value)
                bn.momentum, bn.track_running_stats = momentum, tracking
        for module, training in modes:
            module.training = training


def recalibrate(model: nn.Module, forward: Callable[[torch.Tensor], torch.Tensor],
                images: Iterable[torch.Tensor]) -> None:
    """Replace the running statistics of `model`'s batch norms by the cumulative average over
    `forward(x)` of each of `images` (train mode, no gradients); leaves `model` in eval mode.
    Batch norms the forward does not reach keep reset statistics. Use inside `kept_state`."""
    for bn in batch_norms(model):
        bn.reset_running_stats()
        bn.momentum = None  # cumulative moving average: every calibration batch counts alike
    model.train()
    with torch.no_grad():
        for x in images:
            forward(x)
    model.eval()


def use_batch_statistics(model: nn.Module) -> None:
    """Make `model`'s batch norms normalise by each batch's own statistics without updating
    the stored ones (train-mode batch norm, tracking off); the rest of `model` in eval mode.
    Use inside `kept_state`."""
    model.eval()
    for bn in batch_norms(model):
        bn.train()
        bn.track_running_stats = False
