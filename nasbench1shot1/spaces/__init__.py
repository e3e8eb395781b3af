"""Search spaces 1, 2 and 3 of NAS-Bench-1Shot1: definitions, enumeration, sampling, regret."""

from nasbench1shot1.spaces.enumeration import configuration_hashes, loose_end_mask, unique_cells
from nasbench1shot1.spaces.space import (
    Architecture,
    SearchSpace,
    get_search_space,
    list_spaces,
    widen,
)

__all__ = [
    "Architecture",
    "SearchSpace",
    "configuration_hashes",
    "get_search_space",
    "list_spaces",
    "loose_end_mask",
    "unique_cells",
    "widen",
]
