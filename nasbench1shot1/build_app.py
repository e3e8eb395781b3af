"""`nb1s1-build`: the Hydra app over the tabular-benchmark builder (`nasbench1shot1.builder`).

    nb1s1-build                                   # the embedded digits benchmark of space 1
    nb1s1-build workers=2 export=bench.npz        # two local processes, then a .npz copy
    nb1s1-build -m shard=0,1,2,3 num_shards=4     # a sweep, one shard per job (any launcher)
    nb1s1 benchmark merge outputs/build/space1-digits

Every default is in `conf/build.yaml`.
"""

from __future__ import annotations

import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig, OmegaConf

from nasbench1shot1.builder import BuildConfig, build, build_shard, export
from nasbench1shot1.checks import check_fields, known_keys, positive_int, typed
from nasbench1shot1.config import CONFIG_DIR
from nasbench1shot1.nasbench import NASBenchError

#: The top-level keys of conf/build.yaml.
BUILD_KEYS = ("space", "repeats", "seed", "cells", "limit", "loose_ends", "dataset", "data_root",
              "data_seed", "network", "train", "folder", "shard", "num_shards", "workers",
              "threads", "progress", "export")
#: The types of the keys that say how the build runs, not what it builds.
BUILD_JOB_TYPES = {"folder": str, "shard": int | None, "num_shards": int, "workers": int,
                   "threads": int, "progress": bool, "export": str | None}


def run_build(cfg: DictConfig) -> Path:
    """Build what `cfg` (conf/build.yaml) says; returns the file written last."""
    values = OmegaConf.to_container(cfg, resolve=True)
    known_keys(values, BUILD_KEYS, "nb1s1-build")
    for key, hint in BUILD_JOB_TYPES.items():
        typed(key, values[key], hint)
    for key in ("num_shards", "workers", "threads"):
        positive_int(key, values[key])
    check_fields("", {"space": values["space"], "repeats": values["repeats"],
                      "seed": values["seed"], "cells": values["cells"], "limit": values["limit"],
                      "loose_ends": values["loose_ends"], "data_seed": values["data_seed"],
                      "data_root": values["data_root"]}, BuildConfig, allow_missing=True)
    build_cfg = BuildConfig(
        space=values["space"], repeats=values["repeats"], seed=values["seed"],
        cells=values["cells"], limit=values["limit"], loose_ends=values["loose_ends"],
        data=values["dataset"], data_seed=values["data_seed"], data_root=values["data_root"],
        network=values["network"], train=values["train"],
    )
    folder = Path(hydra.utils.to_absolute_path(values["folder"]))
    if values["shard"] is None:
        written = build(build_cfg, folder, workers=values["workers"], progress=values["progress"])
        if values["export"]:
            written = export(written, hydra.utils.to_absolute_path(values["export"]))
        return written
    return build_shard(build_cfg, folder, values["shard"], values["num_shards"],
                       threads=values["threads"], progress=values["progress"])


@hydra.main(version_base="1.3", config_path=str(CONFIG_DIR), config_name="build")
def main(cfg: DictConfig) -> None:
    try:
        print(run_build(cfg))
    except (ValueError, NASBenchError, OSError, RuntimeError) as error:
        print(f"nb1s1-build: error: {error}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
