"""The CUDA path (marked `gpu`; skipped with the reason on a machine without CUDA): a search on
the GPU runs, keeps its data there, records its peak memory, and resumes from its checkpoint to
the same cells as an uninterrupted run. `benchmarks/gpu_check.sh` runs these on a GPU machine."""

import json
from pathlib import Path

import pytest
import torch

from nasbench1shot1.config import compose
from nasbench1shot1.search import build_search, run
from nasbench1shot1.tracking import Tracker

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(),
                                                   reason="no CUDA GPU on this machine")]

SMALL = ["logger=none", "supernet.channels=4", "supernet.num_cells=3", "device=cuda",
         "progress=false"]


@pytest.mark.parametrize("method", ["darts", "gdas", "enas", "random_ws"])
def test_a_search_runs_on_the_gpu_and_records_its_peak_memory(method: str, tmp_path: Path):
    result = run(compose("search", [*SMALL, f"method={method}", "train.epochs=2"]), tmp_path,
                 echo=False)
    assert result.status == "finished"
    records = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert all(r["device"].startswith("cuda") and r["peak_memory_mib"] > 0 for r in records)


def test_the_data_and_the_supernet_live_on_the_gpu():
    search = build_search(compose("search", [*SMALL, "train.epochs=1"]), echo=False)
    assert search.weights_half[0].is_cuda and search.arch_half[0].is_cuda
    assert all(p.is_cuda for p in search.model.parameters())
    assert torch.backends.cudnn.benchmark


class _StopAfter(Tracker):
    """A tracker that interrupts the search after `epochs` epochs, as Ctrl-C would."""

    def __init__(self, epochs: int):
        self.epochs, self.seen = epochs, 0

    def log(self, record: dict) -> None:
        self.seen += 1
        if self.seen == self.epochs:
            raise KeyboardInterrupt


@pytest.mark.parametrize("precision", ["fp32", "fp16"])  # fp16: its loss scale is resumed too
def test_a_resumed_gpu_search_ends_with_the_cells_of_an_uninterrupted_one(precision: str,
                                                                         tmp_path: Path):
    cfg = compose("search", [*SMALL, "train.epochs=3", f"train.precision={precision}"])
    whole = run(cfg, tmp_path / "whole", echo=False)
    with pytest.raises(KeyboardInterrupt):
        run(cfg, tmp_path / "cut", tracker=_StopAfter(2), echo=False)
    resumed = run(cfg, tmp_path / "cut", echo=False)
    # cuDNN's kernels need not be bitwise deterministic: the cells, not the floats, must agree
    assert len(resumed.history) == 3
    assert [r["cell"] for r in resumed.history] == [r["cell"] for r in whole.history]


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
@pytest.mark.parametrize("method", ["darts", "gdas"])
def test_a_search_runs_in_lower_precision_on_the_gpu(method: str, precision: str,
                                                     tmp_path: Path):
    result = run(compose("search", [*SMALL, f"method={method}", "train.epochs=2",
                                    f"train.precision={precision}"]), tmp_path, echo=False)
    assert result.status == "finished"
    assert all(r["train_loss"] == r["train_loss"] for r in result.history)  # no NaN


def test_a_compiled_darts_search_runs_on_the_gpu(tmp_path: Path):
    result = run(compose("search", [*SMALL, "train.epochs=1", "train.compile=true"]),
                 tmp_path, echo=False)
    assert result.status == "finished"
