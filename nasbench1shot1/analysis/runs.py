"""Reading run dirs into plain records: what `nb1s1 analyze` draws and tabulates.

A path may be one run dir or a folder holding many (searched recursively); a `result.json`
says what wrote it by its `kind` (`runfiles.write_result`):
- a search run: `result.json` of kind "search" and `metrics.jsonl` beside it (nb1s1-search);
  only finished ones count (a diverged search is reported as skipped). A `result.json` without
  a kind (written by earlier versions) is a search run when it names a method and
  `metrics.jsonl` is beside it;
- a black-box run: `result.json` of kind "blackbox" and `trajectory.jsonl` (nb1s1-blackbox);
- a BOHB run: `incumbent.json` (nb1s1-hpo); the searches it ran (each with the `worker.json` of
  the worker that ran it) are part of it and are not read as search runs of their own;
- a correlation study: `correlation.json` in a search run dir (nb1s1 correlation).
Nothing is re-run; a file that cannot be read is reported with the reason and left out, and so
is a run whose metrics repeat or skip an epoch (or a trial).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from nasbench1shot1.runfiles import (
    BOHB_CONFIGS_FILE,
    CORRELATION_FILE,
    INCUMBENT_FILE,
    METRICS_FILE,
    RESULT_FILE,
    TRAJECTORY_FILE,
    WORKER_FILE,
)


@dataclass
class SearchRun:
    path: Path
    method: str
    space: int
    seed: int
    status: str
    epochs: np.ndarray
    test_regret: np.ndarray
    wall_time: np.ndarray


@dataclass
class BlackboxRun:
    path: Path
    optimizer: str
    space: int
    seed: int
    simulated_time: np.ndarray
    test_regret: np.ndarray  # of the incumbent after each query


@dataclass
class HpoRun:
    path: Path
    method: str
    space: int
    setting: str
    seed: int
    used_budget: np.ndarray
    test_regret: np.ndarray  # of the incumbent, NaN where unknown
    final_test_regret: float | None


@dataclass
class CorrelationRun:
    path: Path
    method: str
    space: int
    epoch: int
    one_shot: np.ndarray
    benchmark: np.ndarray


@dataclass
class Runs:
    search: list[SearchRun] = field(default_factory=list)
    blackbox: list[BlackboxRun] = field(default_factory=list)
    hpo: list[HpoRun] = field(default_factory=list)
    correlation: list[CorrelationRun] = field(default_factory=list)
    skipped: list[tuple[Path, str]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.search) + len(self.blackbox) + len(self.hpo) + len(self.correlation)


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _floats(values) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in values], dtype=float)


def _counted(path: Path, records: list[dict], key: str) -> None:
    """Refuse records whose `key` (epoch, trial) is not exactly 1, 2, ..., n: a repeat or a gap
    means two runs wrote into one run dir, or a run lost records."""
    for expected, record in enumerate(records, start=1):
        value = record.get(key)
        if value != expected:
            what = "repeats" if isinstance(value, int) and value < expected else "skips"
            raise ValueError(f"{path.name} {what} {key} {min(expected, value or expected)} "
                             f"(line {expected} holds {key} {value!r}): two runs wrote into "
                             "this run dir, or records were lost")


def _search(folder: Path, result: dict) -> SearchRun:
    records = _lines(folder / METRICS_FILE)
    _counted(folder / METRICS_FILE, records, "epoch")
    return SearchRun(folder, result["method"], int(result["search_space"]), int(result["seed"]),
                     result.get("status", "?"),
                     np.array([r["epoch"] for r in records], dtype=int),
                     _floats(r.get("test_regret") for r in records),
                     _floats(r.get("wall_time") for r in records))


def _blackbox(folder: Path, result: dict) -> BlackboxRun:
    records = _lines(folder / TRAJECTORY_FILE)
    _counted(folder / TRAJECTORY_FILE, records, "trial")
    return BlackboxRun(folder, result["optimizer"], int(result["search_space"]),
                       int(result["seed"]),
                       _floats(r["simulated_time"] for r in records),
                       _floats(r.get("test_regret") for r in records))


def _hpo(folder: Path) -> HpoRun:
    summary = json.loads((folder / INCUMBENT_FILE).read_text())
    points = summary.get("trajectory") or []
    return HpoRun(folder, summary["method"], int(summary["search_space"]),
                  str(summary.get("setting", "")), int(summary.get("seed", 0)),
                  _floats(p["used_budget"] for p in points),
                  _floats(p.get("test_regret") for p in points),
                  (summary.get("incumbent") or {}).get("test_regret"))


def _correlation(folder: Path, result: dict) -> CorrelationRun:
    study = json.loads((folder / CORRELATION_FILE).read_text())
    scores = study["scores"]
    return CorrelationRun(folder, result["method"], int(result["search_space"]),
                          int(study["epoch"]),
                          _floats(s["one_shot_valid_accuracy"] for s in scores),
                          _floats(s["benchmark_test_accuracy"] for s in scores))


def _inside_hpo(folder: Path) -> bool:
    """Whether a search run dir is one evaluation of a BOHB run: the HpBandSter worker writes
    worker.json into each; a folder above holding BOHB's files says the same."""
    if (folder / WORKER_FILE).is_file():
        return True
    return any((parent / INCUMBENT_FILE).is_file() or (parent / BOHB_CONFIGS_FILE).is_file()
               for parent in folder.parents)


def _kind(folder: Path, result: dict) -> str | None:
    """What wrote a result.json: its `kind`; for one without (earlier versions wrote none for
    a search), "search" when it names a method and metrics.jsonl is beside it."""
    if not isinstance(result, dict):
        raise ValueError(f"{RESULT_FILE} holds {type(result).__name__}, not an object")
    kind = result.get("kind")
    if kind is None and "method" in result and (folder / METRICS_FILE).is_file():
        return "search"
    return kind


def find_runs(paths) -> Runs:
    """Every run under `paths` (run dirs or folders of them); see the module docstring."""
    runs = Runs()
    seen: set[Path] = set()
    for root in (Path(p).resolve() for p in paths):
        if not root.exists():
            raise ValueError(f"{root} does not exist; give run dirs or folders holding them")
        candidates = sorted({p.parent for name in (RESULT_FILE, INCUMBENT_FILE)
                             for p in ([root / name] if (root / name).is_file() else [])
                             + list(root.rglob(name))})
        for folder in candidates:
            if folder in seen:
                continue
            seen.add(folder)
            try:
                if (folder / INCUMBENT_FILE).is_file():
                    runs.hpo.append(_hpo(folder))
                    continue
                if _inside_hpo(folder):
                    continue  # one evaluation of a BOHB run
                result = json.loads((folder / RESULT_FILE).read_text())
                kind = _kind(folder, result)
                if kind == "blackbox":
                    runs.blackbox.append(_blackbox(folder, result))
                elif kind == "search":
                    search = _search(folder, result)
                    if search.status != "finished":
                        runs.skipped.append((folder, f"search {search.status}, left out of the "
                                                     "figures and the table"))
                        continue
                    runs.search.append(search)
                    if (folder / CORRELATION_FILE).is_file():
                        runs.correlation.append(_correlation(folder, result))
                elif kind is None:
                    runs.skipped.append((folder, f"{RESULT_FILE} without a kind, a method and "
                                                 f"{METRICS_FILE} (not a run of nb1s1-search "
                                                 "or nb1s1-blackbox)"))
                else:
                    runs.skipped.append((folder, f"{RESULT_FILE} of unknown kind {kind!r}"))
            except (OSError, ValueError, KeyError, TypeError) as error:
                runs.skipped.append((folder, f"unreadable ({type(error).__name__}: {error})"))
    return runs
