"""PC-DARTS (Xu et al., 2020): DARTS with partial channel connections (a fraction 1/k of each
block input's channels goes through the mixed op, the rest around it, then a channel shuffle;
the supernet is built with `partial_channels=k`) and edge normalisation: each block's candidate
inputs are weighted by the softmax of their own parameters (beta), which also decide the parents
at discretisation, while the op parameters (alpha) decide the ops."""

from __future__ import annotations

from nasbench1shot1.methods.base import register
from nasbench1shot1.methods.darts import DARTS


@register("pc_darts")
class PCDARTS(DARTS):
    partial_channels = True
