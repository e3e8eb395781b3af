"""Search spaces 1, 2 and 3 of NAS-Bench-1Shot1: definitions, enumeration, sampling, regret."""

from nasbench1shot1.spaces.enumeration import (
    cell_architectures,
    configuration_hashes,
    loose_end_mask,
    unique_cells,
)
from nasbench1shot1.spaces.regret import SpaceOptimum, SpaceRegret, optimum, test_errors
from nasbench1shot1.spaces.space import (
    SEARCH_SPACES,
    Architecture,
    SearchSpace,
    get_search_space,
    list_spaces,
    widen,
)

__all__ = [
    "SEARCH_SPACES",
    "Architecture",
    "SearchSpace",
    "SpaceOptimum",
    "SpaceRegret",
    "cell_architectures",
    "configuration_hashes",
    "get_search_space",
    "list_spaces",
    "loose_end_mask",
    "optimum",
    "test_errors",
    "unique_cells",
    "widen",
]
