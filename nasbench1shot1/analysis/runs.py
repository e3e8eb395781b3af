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
- a correlation study: `correlation.json` in a search run dir (nb1s1 correlation);
- an estimate: `estimate.json` and `scores.npz` (nb1s1-estimate); the supernet a one-shot
  estimator trained in it is part of it and is not read as a search of its own.
Nothing is re-run; a file that cannot be read is reported with the reason and left out, and so
is a run whose metrics repeat or skip an epoch (or a trial).

Every record carries its `settings`: what the run computed from except its method (or
optimizer), space and seed, flat with dotted keys as the apps take them on the command line
(`train.epochs`, `method.unrolled`, `optimizer.population_size`, `trials`). A search's come from
its result.json (or run.json): its identity (`conf.search.identity_of`: less the settings
that do not change what it computes, device, threads, ..., and those added later at the value
earlier runs had, so runs of every version group together); a black-box run's from its
result.json; a BOHB run's from its run.json; a correlation study's are its search's and the
study's own (`study.epoch`, `study.cells`, `study.bn`, ...). `group_runs` puts runs with equal
method, space and settings together (the seeds of one setup) and labels each group by the
settings in which it differs from the other groups of its method and space. A run with the
same settings and seed as another (a copy, or the same run in another folder) counts once: the
others are reported as skipped.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from nasbench1shot1.conf.search import identity_of
from nasbench1shot1.runfiles import (
    BOHB_CONFIGS_FILE,
    CORRELATION_FILE,
    ESTIMATE_FILE,
    INCUMBENT_FILE,
    METRICS_FILE,
    RESULT_FILE,
    RUN_FILE,
    SCORES_FILE,
    TRAJECTORY_FILE,
    WORKER_FILE,
)

#: The keys of a correlation.json that say how the study scored the cells (the rest are its
#: criteria and scores).
STUDY_SETTINGS = ("epoch", "cells", "bn", "batches", "calibration_batches", "sample_seed")


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
    settings: dict = field(default_factory=dict)

    name = property(lambda self: self.method)
    unit = "epochs"

    @property
    def length(self) -> int:
        return int(self.epochs.max()) if self.epochs.size else 0


@dataclass
class BlackboxRun:
    path: Path
    optimizer: str
    space: int
    seed: int
    simulated_time: np.ndarray
    test_regret: np.ndarray  # of the incumbent after each query
    settings: dict = field(default_factory=dict)

    name = property(lambda self: self.optimizer)
    unit = "trials"

    @property
    def length(self) -> int:
        return int(self.test_regret.size)


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
    settings: dict = field(default_factory=dict)
    budget: np.ndarray = field(default_factory=lambda: np.array([]))  # the incumbent's budget

    name = property(lambda self: f"{self.method} ({self.setting})")
    unit = "evaluations"

    @property
    def length(self) -> int:
        return int(self.used_budget.size)


@dataclass
class CorrelationRun:
    path: Path
    method: str
    space: int
    epoch: int
    one_shot: np.ndarray
    benchmark: np.ndarray
    seed: int | None = None  # the search's (None: not given)
    settings: dict = field(default_factory=dict)
    criteria: dict = field(default_factory=dict)  # the study's own (spearman, kendall_tau, ...)
    chance: float | None = None  # the accuracy of guessing (1 / classes), where known

    name = property(lambda self: self.method)
    unit = "cells"
    length = None  # a study has no length to compare


@dataclass
class EstimateRun:
    """An estimate of nb1s1-estimate: its estimator's ranking criteria and costs on `cells`
    cells; `facts()` reads its scores.npz (scores, truth, each cell's parameters and op counts)."""

    path: Path
    estimator: str
    family: str
    space: int | str
    seed: int
    cells: int
    criteria: dict
    cost: dict
    settings: dict = field(default_factory=dict)

    name = property(lambda self: self.estimator)
    unit = "cells"

    @property
    def length(self) -> int:
        return self.cells

    def facts(self) -> dict[str, np.ndarray]:
        with np.load(self.path / SCORES_FILE, allow_pickle=False) as stored:
            return {key: stored[key] for key in stored.files}


@dataclass
class Runs:
    search: list[SearchRun] = field(default_factory=list)
    blackbox: list[BlackboxRun] = field(default_factory=list)
    hpo: list[HpoRun] = field(default_factory=list)
    correlation: list[CorrelationRun] = field(default_factory=list)
    estimate: list[EstimateRun] = field(default_factory=list)
    skipped: list[tuple[Path, str]] = field(default_factory=list)

    def __len__(self) -> int:
        return (len(self.search) + len(self.blackbox) + len(self.hpo) + len(self.correlation)
                + len(self.estimate))


@dataclass
class Group:
    """The runs of one method (or optimizer) on one space with equal settings: the seeds of one
    setup, one seed each. `label` is the settings in which it differs from the other groups of
    its method and space (`train.epochs=3, method.unrolled=true`; "" when it is the only one)."""

    name: str
    space: int
    settings: dict
    runs: list
    label: str = ""

    @property
    def seeds(self) -> list[int]:
        return sorted(r.seed for r in self.runs if r.seed is not None)

    @property
    def title(self) -> str:
        """The group in a few words: its name and its label."""
        return f"{self.name}, {self.label}" if self.label else self.name

    def lengths(self) -> str:
        """The runs' length, e.g. '3 epochs' or '3-5 epochs' ('' for correlation studies)."""
        known = sorted({r.length for r in self.runs if r.length is not None})
        if not known:
            return ""
        span = str(known[0]) if len(known) == 1 else f"{known[0]}-{known[-1]}"
        return f"{span} {self.runs[0].unit}"


def seeds_text(seeds: list[int]) -> str:
    """'seed 0' or 'seeds 0, 1, 2'."""
    return f"seed{'s' if len(seeds) > 1 else ''} {', '.join(map(str, seeds))}"


def _flat(values, prefix: str = "") -> dict:
    """Nested settings as one level of dotted keys (lists stay values)."""
    if not isinstance(values, dict):
        return {prefix: values}
    out: dict = {}
    for key, value in values.items():
        out.update(_flat(value, f"{prefix}.{key}" if prefix else str(key)))
    return out


def _without(settings: dict, dropped) -> dict:
    return {k: v for k, v in settings.items() if k not in dropped}


def _stored_settings(folder: Path, result: dict) -> dict | None:
    """The settings a run dir stores: result.json's, else run.json's (None: neither has any)."""
    if isinstance(result.get("settings"), dict):
        return result["settings"]
    with_run = folder / RUN_FILE
    if with_run.is_file():
        stored = json.loads(with_run.read_text()).get("settings")
        if isinstance(stored, dict):
            return stored
    return None


def _search_settings(folder: Path, result: dict) -> dict:
    stored = _stored_settings(folder, result)
    if stored is None:  # an earlier version: the epochs are all it says
        return {"train.epochs": result["epochs"]} if "epochs" in result else {}
    return _without(_flat(identity_of(stored)), {"seed", "search_space", "method.name"})


def _blackbox_settings(folder: Path, result: dict) -> dict:
    stored = dict(_stored_settings(folder, result) or {})
    params = stored.pop("params", None) or {}
    settings = _without(_flat(stored), {"seed", "search_space", "optimizer"})
    settings.update(_flat(params, "optimizer"))
    return settings


def _hpo_settings(folder: Path) -> dict:
    stored = dict(_stored_settings(folder, {}) or {})
    method_settings = stored.pop("method_settings", None) or {}
    settings = _without(_flat(stored), {"seed", "search_space", "method", "setting"})
    settings.update(_flat(method_settings, "method"))
    return settings


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
                     _floats(r.get("wall_time") for r in records),
                     _search_settings(folder, result))


def _blackbox(folder: Path, result: dict) -> BlackboxRun:
    records = _lines(folder / TRAJECTORY_FILE)
    _counted(folder / TRAJECTORY_FILE, records, "trial")
    return BlackboxRun(folder, result["optimizer"], int(result["search_space"]),
                       int(result["seed"]),
                       _floats(r["simulated_time"] for r in records),
                       _floats(r.get("test_regret") for r in records),
                       _blackbox_settings(folder, result))


def _hpo(folder: Path) -> HpoRun:
    summary = json.loads((folder / INCUMBENT_FILE).read_text())
    points = summary.get("trajectory") or []
    return HpoRun(folder, summary["method"], int(summary["search_space"]),
                  str(summary.get("setting", "")), int(summary.get("seed", 0)),
                  _floats(p["used_budget"] for p in points),
                  _floats(p.get("test_regret") for p in points),
                  (summary.get("incumbent") or {}).get("test_regret"),
                  _hpo_settings(folder),
                  _floats(p.get("budget") for p in points))


def _correlation(folder: Path, result: dict, search: SearchRun) -> CorrelationRun:
    study = json.loads((folder / CORRELATION_FILE).read_text())
    scores = study["scores"]
    own = {f"study.{key}": study[key] for key in STUDY_SETTINGS if key in study}
    criteria = {key: study[key] for key in ("spearman", "kendall_tau") if key in study}
    return CorrelationRun(folder, result["method"], int(result["search_space"]),
                          int(study["epoch"]),
                          _floats(s["one_shot_valid_accuracy"] for s in scores),
                          _floats(s["benchmark_test_accuracy"] for s in scores),
                          search.seed, {**search.settings, **own}, criteria,
                          study.get("chance_accuracy"))


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


def _settings_key(settings: dict) -> str:
    return json.dumps(settings, sort_keys=True, default=str)


def _written_here(folder: Path) -> bool:
    """Whether the run's result.json names this folder as its run dir (a copy names another)."""
    try:
        result = json.loads((folder / RESULT_FILE).read_text())
        return Path(result["run_dir"]).resolve() == folder
    except (OSError, ValueError, KeyError, TypeError):
        return False


def _count_once(records: list, skipped: list[tuple[Path, str]], what: str) -> list:
    """One record per (name, space, settings, seed): the longest, then the one in the run dir
    that wrote it, then the first found; the others are skipped with the reason."""
    same = defaultdict(list)
    for r in records:
        same[r.name, r.space, _settings_key(r.settings), r.seed].append(r)
    kept: set[int] = set()
    for runs in same.values():
        # max keeps the first of equals
        best = max(runs, key=lambda r: (r.length or 0, len(runs) > 1 and _written_here(r.path)))
        kept.add(id(best))
        skipped.extend((r.path, f"{what} with the same settings and seed ({r.seed}) as "
                                f"{best.path}; a seed counts once") for r in runs if r is not best)
    return [r for r in records if id(r) in kept]


def _value(settings: dict, key: str) -> str:
    if key not in settings:
        return "unset"
    value = settings[key]
    return value if isinstance(value, str) else json.dumps(value)


def group_runs(records: list) -> list[Group]:
    """The records (of one kind) grouped by name, space and settings; each group labelled by the
    settings that differ between the groups of its name and space. Sorted by name, space and
    label."""
    by_setup: dict[tuple, Group] = {}
    for r in records:
        key = (r.name, r.space, _settings_key(r.settings))
        if key not in by_setup:
            by_setup[key] = Group(r.name, r.space, r.settings, [])
        by_setup[key].runs.append(r)
    siblings = defaultdict(list)
    for group in by_setup.values():
        group.runs.sort(key=lambda r: r.seed)
        siblings[group.name, group.space].append(group)
    for groups in siblings.values():
        keys = sorted({k for g in groups for k in g.settings})
        differ = [k for k in keys if len({_value(g.settings, k) for g in groups}) > 1]
        for g in groups:
            g.label = ", ".join(f"{k}={_value(g.settings, k)}" for k in differ)
    return sorted(by_setup.values(), key=lambda g: (g.name, g.space, g.label))


def length_warnings(kind: str, groups: list[Group], drawn: str) -> list[str]:
    """One sentence per group whose runs differ in length (epochs, trials, evaluations), naming
    each seed's length and what the figures draw (`drawn`)."""
    warnings = []
    for g in groups:
        if len({r.length for r in g.runs}) > 1:
            each = ", ".join(f"seed {r.seed}: {r.length}" for r in g.runs)
            warnings.append(f"{kind} {g.title} on space {g.space}: its runs differ in length "
                            f"({each} {g.runs[0].unit}); {drawn}")
    return warnings


def find_runs(paths) -> Runs:
    """Every run under `paths` (run dirs or folders of them), each seed of a setup once; see the
    module docstring."""
    runs = Runs()
    seen: set[Path] = set()
    for root in (Path(p).resolve() for p in paths):
        if not root.exists():
            raise ValueError(f"{root} does not exist; give run dirs or folders holding them")
        candidates = sorted({p.parent for name in (RESULT_FILE, INCUMBENT_FILE, ESTIMATE_FILE)
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
                if (folder / ESTIMATE_FILE).is_file():
                    runs.estimate.append(_estimate(folder))
                    continue
                if _inside_hpo(folder) or (folder.parent / ESTIMATE_FILE).is_file():
                    continue  # one evaluation of a BOHB run, or an estimator's supernet
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
                        runs.correlation.append(_correlation(folder, result, search))
                elif kind is None:
                    runs.skipped.append((folder, f"{RESULT_FILE} without a kind, a method and "
                                                 f"{METRICS_FILE} (not a run of nb1s1-search "
                                                 "or nb1s1-blackbox)"))
                else:
                    runs.skipped.append((folder, f"{RESULT_FILE} of unknown kind {kind!r}"))
            except (OSError, ValueError, KeyError, TypeError) as error:
                runs.skipped.append((folder, f"unreadable ({type(error).__name__}: {error})"))
    runs.search = _count_once(runs.search, runs.skipped, "search")
    runs.blackbox = _count_once(runs.blackbox, runs.skipped, "black-box run")
    runs.hpo = _count_once(runs.hpo, runs.skipped, "BOHB run")
    runs.correlation = _count_once(runs.correlation, runs.skipped, "correlation study")
    runs.estimate = _count_once(runs.estimate, runs.skipped, "estimate")
    return runs


def _estimate(folder: Path) -> EstimateRun:
    result = json.loads((folder / ESTIMATE_FILE).read_text())
    identity = dict(result["settings"])
    seed = int(identity.pop("seed"))
    identity.pop("search_space", None)
    identity.get("estimator", {}).pop("name", None)
    criteria = {k: v for k, v in result.items()
                if k in ("pearson", "spearman", "kendall_tau") or "@" in k}
    return EstimateRun(folder, result["estimator"], result["family"], result["search_space"],
                       seed, int(result["cells"]), criteria, dict(result["cost"]),
                       _flat(identity))
