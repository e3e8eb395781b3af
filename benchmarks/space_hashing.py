"""Time to enumerate and hash every configuration of each search space (target: space 3's
1,312,200 configurations in < 10 s on the 2-core CI machine), against hashing them one by one."""

from __future__ import annotations

import time

import numpy as np

from nasbench1shot1.spaces import configuration_hashes, get_search_space, list_spaces, unique_cells
from nasbench1shot1.spaces.enumeration import _enumerate


def one_by_one_seconds_per_config(number: int, sample: int = 2_000) -> float:
    space = get_search_space(number)
    indices = np.random.default_rng(0).integers(0, space.num_configs, sample)
    start = time.perf_counter()
    for index in indices:
        space.to_spec(space.architecture_at(int(index))).hash_spec()
    return (time.perf_counter() - start) / sample


def main() -> None:
    print(f"{'space':>5} {'configs':>10} {'unique':>7} {'seconds':>8} {'one-by-one est.':>16} "
          f"{'speed-up':>9}")
    for number in list_spaces():
        space = get_search_space(number)
        _enumerate.cache_clear()
        start = time.perf_counter()
        hashes = configuration_hashes(space)
        seconds = time.perf_counter() - start
        naive = one_by_one_seconds_per_config(number) * space.num_configs
        print(f"{number:>5} {len(hashes):>10,} {len(unique_cells(space)):>7,} {seconds:>8.2f} "
              f"{naive:>15.1f}s {naive / seconds:>8.1f}x")


if __name__ == "__main__":
    main()
