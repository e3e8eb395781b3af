"""The experiment trackers' settings (config group `logger`): one typed schema per tracker, the
one place its defaults are written."""

from __future__ import annotations

from dataclasses import dataclass, field

from nasbench1shot1.checks import SettingsError, number_in
from nasbench1shot1.registry import Registry

WANDB_MODES = ("auto", "online", "offline", "disabled")


@dataclass
class NoLoggerConfig:
    """No experiment tracker: metrics.jsonl and result.json in the run dir only."""

    kind: str = "none"


@dataclass
class WandbConfig:
    """Weights & Biases: one run per search. mode auto = online when logged in, offline otherwise
    (run files under the run dir; `wandb sync` uploads them later)."""

    kind: str = "wandb"
    project: str = "nasbench1shot1"  # the W&B project of the runs
    entity: str | None = None     # the W&B user or team; null: the login's default
    mode: str = "auto"            # auto, online, offline or disabled
    group: str | None = None      # default: <method>-space<N>
    run_name: str | None = None   # default: <method>-space<N>-seed<S>
    tags: list[str] = field(default_factory=list)  # more tags (method, space, data always)
    init_timeout: float = 15.0    # seconds W&B may take to start a run (its own default: 90)

    def __post_init__(self) -> None:
        if self.mode not in WANDB_MODES:
            raise SettingsError(f"logger.mode must be {', '.join(WANDB_MODES[:-1])} or "
                                f"{WANDB_MODES[-1]}, got {self.mode!r}")
        number_in("logger.init_timeout", self.init_timeout, 0.0, None, True, SettingsError)


#: The options of config group `logger`, by `kind` (those of `nasbench1shot1.tracking.TRACKERS`).
LOGGER_CONFIGS: Registry[type] = Registry("logger", sort=False)
LOGGER_CONFIGS.register("wandb", WandbConfig)
LOGGER_CONFIGS.register("none", NoLoggerConfig)
