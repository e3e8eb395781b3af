"""The hyperparameter spaces of the NAS-Bench-1Shot1 BOHB study, per method and setting.

cs1: weight decay [1e-5, 1e-3] log, cutout probability [0, 1];
cs2: cs1 + learning rate [1e-3, 1] log;
cs3: cs2 + architecture learning rate [1e-5, 1e-2] log, architecture weight decay [1e-4, 1e-1]
log, momentum [0, 0.99], cutout length int [2, 32] log, batch size int [16, 128], grad clip int
[1, 9].
The default configuration of each space is the method's default (conf/), so BOHB always sees the
untuned setting too. `to_overrides` maps a configuration to the Hydra overrides of the search
config that it sets; each hyperparameter reaches the run through one override.
"""

from __future__ import annotations

from collections.abc import Mapping

from ConfigSpace import ConfigurationSpace, Float, Integer

SETTINGS = ("cs1", "cs2", "cs3")
#: The methods with architecture weights trained by gradient (the paper tuned these three).
ARCH_METHODS = ("darts", "gdas", "pc_darts")

#: hyperparameter -> the search-config key it sets
TARGETS = {
    "weight_decay": "train.weight_decay",
    "cutout_prob": "train.cutout_prob",
    "learning_rate": "train.learning_rate",
    "arch_learning_rate": "method.arch_learning_rate",
    "arch_weight_decay": "method.arch_weight_decay",
    "momentum": "train.momentum",
    "cutout_length": "train.cutout_length",
    "batch_size": "train.batch_size",
    "grad_clip": "train.grad_clip",
}


def _clip(value: float, low: float, high: float) -> float:
    return min(max(value, low), high)


def method_configspace(method: str, setting: str, defaults: Mapping[str, float],
                       seed: int | None = None) -> ConfigurationSpace:
    """The ConfigSpace of `setting` for `method`; `defaults` are the method's search-config
    values by hyperparameter name (see `defaults_of`)."""
    if setting not in SETTINGS:
        raise ValueError(f"unknown hpo setting {setting!r}, expected one of {', '.join(SETTINGS)}")
    if setting == "cs3" and method not in ARCH_METHODS:
        raise ValueError(
            f"hpo setting cs3 tunes architecture weights, which {method} does not have; use "
            f"cs1 or cs2, or one of {', '.join(ARCH_METHODS)}"
        )
    d = defaults
    space = ConfigurationSpace(seed=seed)
    space.add(Float("weight_decay", (1e-5, 1e-3), log=True,
                    default=_clip(d["weight_decay"], 1e-5, 1e-3)))
    space.add(Float("cutout_prob", (0.0, 1.0), default=_clip(d["cutout_prob"], 0.0, 1.0)))
    if setting in ("cs2", "cs3"):
        space.add(Float("learning_rate", (1e-3, 1.0), log=True,
                        default=_clip(d["learning_rate"], 1e-3, 1.0)))
    if setting == "cs3":
        space.add([
            Float("arch_learning_rate", (1e-5, 1e-2), log=True,
                  default=_clip(d["arch_learning_rate"], 1e-5, 1e-2)),
            Float("arch_weight_decay", (1e-4, 1e-1), log=True,
                  default=_clip(d["arch_weight_decay"], 1e-4, 1e-1)),
            Float("momentum", (0.0, 0.99), default=_clip(d["momentum"], 0.0, 0.99)),
            Integer("cutout_length", (2, 32), log=True,
                    default=int(_clip(d["cutout_length"], 2, 32))),
            Integer("batch_size", (16, 128), default=int(_clip(d["batch_size"], 16, 128))),
            Integer("grad_clip", (1, 9), default=int(_clip(d["grad_clip"], 1, 9))),
        ])
    return space


def defaults_of(search_cfg: Mapping) -> dict[str, float]:
    """The current values of the tuned keys in a composed search config (a plain dict).

    The default cutout probability is that of the method's untuned run: 0 when cutout is off.
    """
    train, method = search_cfg["train"], search_cfg["method"]
    values = {
        "weight_decay": train["weight_decay"],
        "cutout_prob": train["cutout_prob"] if train["cutout"] else 0.0,
        "learning_rate": train["learning_rate"],
        "momentum": train["momentum"],
        "cutout_length": train["cutout_length"],
        "batch_size": train["batch_size"],
        "grad_clip": train["grad_clip"],
    }
    # the architecture's optimizer: only methods with architecture weights have one (cs3)
    values.update({key: method[key] for key in ("arch_learning_rate", "arch_weight_decay")
                   if key in method})
    return values


def to_overrides(config: Mapping[str, object]) -> list[str]:
    """Hydra overrides that put a configuration into the search config (cutout switched on
    whenever the configuration has a cutout probability)."""
    overrides = []
    for name, value in sorted(config.items()):
        if name not in TARGETS:
            raise ValueError(f"unknown hyperparameter {name!r}, expected one of "
                             f"{', '.join(TARGETS)}")
        value = value.item() if hasattr(value, "item") else value
        overrides.append(f"{TARGETS[name]}={value!r}")
    if "cutout_prob" in config:
        overrides.append("train.cutout=true")
    return overrides
