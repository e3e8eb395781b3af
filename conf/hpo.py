"""The settings of `nb1s1-hpo` (conf/nb1s1_hpo.yaml): the typed schema of the whole config, the
one place its defaults are written, with the checks of its values. BOHB (HpBandSter) over a
one-shot method's hyperparameters; budget = epochs of the search. The keys are top-level and
spelled as in every app (method, search_space, seed, data, benchmark, logger)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, is_dataclass
from typing import Any

from nasbench1shot1.checks import SettingsError, number_in, positive_int, seed_value
from nasbench1shot1.conf.data import option_overrides, override_value


@dataclass
class HpoSettings:
    # the method (config group `method`, as in nb1s1-search): darts, gdas, pc_darts (settings
    # cs1, cs2, cs3); enas, random_ws (cs1, cs2). Given as a name in Python.
    method: Any = "darts"
    search_space: int = 1         # 1, 2 or 3
    seed: int = 0                 # of BOHB's sampling and of every search it runs
    setting: str = "cs1"          # cs1, cs2, cs3: the hyperparameter spaces of the paper
    eta: int = 3                  # successive halving keeps 1/eta of the configurations
    min_budget: int = 5           # epochs
    max_budget: int = 45          # epochs
    iterations: int = 8           # BOHB iterations (brackets)
    workers: int = 2              # local worker processes the master starts (0: remote only)
    # more overrides of the search config, e.g. [experiment=paper]; data= and benchmark= of
    # this app come first
    search_overrides: list[str] = field(default_factory=list)
    host: str = "127.0.0.1"       # name server address (use the node's address for a cluster)
    port: int = 0                 # 0: any free port (the master writes it to nameserver.json)
    run_id: str | None = None     # null: a fresh id; a worker alone needs the master's
    worker_only: bool = False     # true: start only a worker that joins host:port, run_id
    secret_file: str | None = None  # a worker alone: the master's nameserver.json (mode 600)
    # seconds: a worker exits once the master's name server port refuses it this long (a local
    # worker: at once when its master process is gone); one that does not answer at all
    # (paused, busy, dead node): after 20 x this
    master_timeout: float = 15.0
    previous_run: str | None = None  # a BOHB run dir whose results warm-start this run
    progress: bool = True         # a progress bar over the evaluations on a terminal
    # keep each evaluation's checkpoint.pt (its supernet, e.g. for `nb1s1 correlation`); by
    # default it is removed once the evaluation wrote its result: no later evaluation resumes
    # from it (another budget is another run dir and another schedule), and a finished
    # evaluation started again reads result.json and metrics.jsonl only
    keep_checkpoints: bool = False
    data: Any = None              # a conf.data option for the searches (data=NAME); null: theirs
    benchmark: Any = None         # a conf.data benchmark option (benchmark=NAME); null: theirs
    logger: Any = None            # a conf.logger schema: W&B, one run per evaluation + summary
    # the method's settings that differ from its defaults (method.KEY=VALUE of this app), for
    # every search
    method_settings: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        from nasbench1shot1.conf.method import MethodConfig
        from nasbench1shot1.hpo.configspaces import SETTINGS

        if isinstance(self.method, MethodConfig):
            defaults = asdict(type(self.method)())
            self.method_settings = {**{key: value for key, value in asdict(self.method).items()
                                       if value != defaults[key]}, **self.method_settings}
            self.method = self.method.name

        if self.setting not in SETTINGS:
            raise SettingsError(f"unknown hpo setting {self.setting!r}, expected one of "
                                f"{', '.join(SETTINGS)}")
        seed_value("seed", self.seed, SettingsError)
        for name in ("eta", "min_budget", "max_budget", "iterations"):
            positive_int(name, getattr(self, name), SettingsError)
        if isinstance(self.workers, bool) or not isinstance(self.workers, int) \
                or self.workers < 0:
            raise SettingsError(f"workers must be a non-negative integer, got {self.workers!r}")
        if self.eta < 2:
            raise SettingsError(f"eta must be at least 2, got {self.eta}")
        if self.min_budget > self.max_budget:
            raise SettingsError(f"min_budget {self.min_budget} exceeds max_budget "
                                f"{self.max_budget}")
        if self.worker_only and (not self.run_id or not self.port or not self.secret_file):
            raise SettingsError("a worker alone (worker_only=true) needs run_id, port and "
                                "secret_file, the path of the master's nameserver.json")
        if isinstance(self.port, bool) or not isinstance(self.port, int) \
                or not 0 <= self.port <= 65535:
            raise SettingsError(f"port must be an integer from 0 to 65535 (0: any free port), "
                                f"got {self.port!r}")
        number_in("master_timeout", self.master_timeout, 0.0, None, True, SettingsError)
        self.search_overrides = tuple(self.search_overrides)
        # plain values, so that the settings travel to worker processes as JSON
        for key in ("data", "benchmark", "logger"):
            value = getattr(self, key)
            if is_dataclass(value):
                setattr(self, key, asdict(value))
        if self.logger is None:
            self.logger = {"kind": "none"}
        from nasbench1shot1.tracking import make_tracker

        make_tracker(self.logger)  # logger.kind and its keys, before anything starts

    def base_overrides(self) -> list[str]:
        """The search overrides of every evaluation but its hyperparameters and epochs."""
        return [*self.app_overrides(), *self.search_overrides]

    def app_overrides(self) -> list[str]:
        """The search overrides of this app's own keys (method, space, seed, data, benchmark)."""
        sections = [line for group in ("data", "benchmark") if getattr(self, group)
                    for line in option_overrides(group, getattr(self, group))]
        method = [f"method.{key}={override_value(value)}"
                  for key, value in self.method_settings.items()]
        return [f"method={self.method}", *method, f"search_space={self.search_space}",
                f"seed={self.seed}", *sections]
