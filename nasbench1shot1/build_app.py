"""`nb1s1-build`: the Hydra app over the tabular-benchmark builder (`nasbench1shot1.builder`).

    nb1s1-build                                   # the embedded digits benchmark of space 1
    nb1s1-build workers=2 export=bench.npz        # two local processes, then a .npz copy
    nb1s1-build -m shard=0,1,2,3 num_shards=4     # a sweep, one shard per job (any launcher)
    nb1s1-build search_space=2 data=cifar10 data.root=data/cifar-10-batches-py
    nb1s1 benchmark merge outputs/build/space1-digits

Every setting and its default: `nb1s1-build --cfg job`, the schema in conf/build.py.
"""

from __future__ import annotations

import logging
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

from omegaconf import DictConfig

from nasbench1shot1.app import hydra_app
from nasbench1shot1.conf.build import BuildSettings

if TYPE_CHECKING:
    from nasbench1shot1.builder import BuildConfig

log = logging.getLogger(__name__)

#: Spellings nb1s1-build used to take, and what they are now.
RENAMED = {"space": "search_space", "dataset": "data", "data_root": "data.root",
           "data_seed": "data.split_seed", "train.crop_padding": "data.crop_padding",
           "train.flip": "data.flip", "train.seed": "seed"}


def build_config(s: BuildSettings) -> BuildConfig:
    """What the builder builds, from the app's settings (the augmentation is the data's)."""
    from nasbench1shot1.builder import BuildConfig

    return BuildConfig(
        space=s.search_space, repeats=s.repeats, seed=s.seed, cells=s.cells, limit=s.limit,
        loose_ends=s.loose_ends, data=s.data.name, data_seed=s.data.split_seed,
        data_root=s.data.root, network=asdict(s.network),
        train={**asdict(s.train), "crop_padding": s.data.crop_padding, "flip": s.data.flip},
    )


def header(s: BuildSettings, build_cfg: BuildConfig, folder: Path) -> str:
    """The app's first line: which cells are trained how, by whom, and where they go."""
    from nasbench1shot1.builder import build_cells, shard_jobs

    cells = len(build_cells(build_cfg))
    if s.shard is None:
        who = f"{s.workers} worker process(es), 1 thread each" if s.workers > 1 else \
            "1 process, 1 thread"
    else:
        jobs = len(shard_jobs(build_cfg, s.shard, s.num_shards))
        who = (f"shard {s.shard} of {s.num_shards} ({jobs} of the {cells * s.repeats} trainings), "
               f"{s.threads} thread(s)")
    return (f"building the benchmark of search space {s.search_space} on {s.data.name}: "
            f"{cells} cells x {s.repeats} repeats, {s.train.epochs} epochs each, on "
            f"{s.train.device}; {who}; into {folder} (a start again resumes)")


def run_build(cfg: DictConfig) -> Path:
    """Build what `cfg` (conf/build.py) says; returns the file written last."""
    import hydra

    from nasbench1shot1.builder import build, build_shard, export
    from nasbench1shot1.checks import positive_int
    from nasbench1shot1.config import to_settings

    s = to_settings(cfg)
    for key in ("num_shards", "threads"):  # the builder checks workers
        positive_int(key, getattr(s, key))
    build_cfg = build_config(s)
    folder = Path(hydra.utils.to_absolute_path(s.folder))
    log.info("%s", header(s, build_cfg, folder))
    if s.shard is None:
        written = build(build_cfg, folder, workers=s.workers, progress=s.progress)
        if s.export:
            written = export(written, hydra.utils.to_absolute_path(s.export))
    else:
        written = build_shard(build_cfg, folder, s.shard, s.num_shards, threads=s.threads,
                              progress=s.progress)
    log.info("wrote %s", written)
    return written


def interrupted(cfg: DictConfig) -> str:
    """The last line after Ctrl-C: the trainings finished so far are kept."""
    import hydra

    folder = hydra.utils.to_absolute_path(cfg.folder)
    return (f"interrupted; the trainings finished so far are kept in {folder}: the same command "
            "resumes")


main = hydra_app("nb1s1-build", "build", run_build, renamed=RENAMED, interrupted=interrupted)

if __name__ == "__main__":
    main()
