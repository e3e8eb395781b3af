"""Composing the apps' configs and turning them into checked settings.

The schemas, with every default and the checks of the values, are in `nasbench1shot1.conf`
(conf/ at the top of the repository). `compose(name, overrides)` composes an app's config as the
app would (Hydra's compose API, inside an app or not); `settings_from(cfg)` turns a composed
search config, or a dict of the shape run dirs store, into a checked `SearchSettings`, with one
sentence naming the key, the value and what is allowed for a bad value.
"""

from __future__ import annotations

from typing import Any

from nasbench1shot1.checks import SettingsError
from nasbench1shot1.conf.data import BenchmarkConfig
from nasbench1shot1.conf.method import METHOD_CONFIGS, MethodConfig
from nasbench1shot1.conf.optimizer import OPTIMIZER_CONFIGS
from nasbench1shot1.conf.search import NOT_IDENTITY, SearchSettings
from nasbench1shot1.registry import Registry

#: The Hydra configs, found where the package is installed.
CONFIG_MODULE = "nasbench1shot1.conf"
CONFIG_PATH = f"pkg://{CONFIG_MODULE}"

__all__ = ["CONFIG_MODULE", "CONFIG_PATH", "NOT_IDENTITY", "SearchSettings", "SettingsError",
           "compose", "method_defaults", "settings_from"]


def compose(config_name: str, overrides: list[str] | tuple[str, ...] = ()):
    """The composed config `config_name` (search, blackbox, build, nb1s1_hpo) with `overrides`,
    as its app composes it (inside a running Hydra app or not)."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_module
    from hydra.core.global_hydra import GlobalHydra

    if GlobalHydra.instance().is_initialized():
        return hydra_compose(config_name, overrides=list(overrides))
    with initialize_config_module(version_base="1.3", config_module=CONFIG_MODULE):
        return hydra_compose(config_name, overrides=list(overrides))


def _sentence(error: Exception, prefix: str = "") -> SettingsError:
    """OmegaConf's error as one sentence: its first line and the key (under `prefix`)."""
    first = (str(error).strip().splitlines() or [type(error).__name__])[0]
    key = getattr(error, "full_key", None)
    return SettingsError(first + (f" (key {prefix}{key})" if key else ""))


def _refuse_unknown_keys(cfg: Any, prefix: str = "") -> None:
    """A key that no schema has (Hydra's `+key=value` adds it even to a typed config)."""
    import dataclasses

    from omegaconf import DictConfig, OmegaConf

    schema = OmegaConf.get_type(cfg)
    if dataclasses.is_dataclass(schema):
        names = [f.name for f in dataclasses.fields(schema)]
        unknown = sorted(set(cfg.keys()) - set(names))
        if unknown:
            owned = issubclass(schema, MethodConfig) or schema in OPTIMIZER_CONFIGS.values()
            owner = f" for {cfg.name}" if owned else ""
            raise SettingsError(f"unknown key {prefix}{unknown[0]}{owner}, expected one of "
                                f"{', '.join(names)}")
    for key in cfg:
        node = cfg._get_node(key)
        if isinstance(node, DictConfig) and not node._is_none() and not node._is_missing():
            _refuse_unknown_keys(node, f"{prefix}{key}.")


def to_settings(cfg: Any, schema: type | None = None, prefix: str = "") -> Any:
    """The dataclass instance of a composed config (its schema's checks run), `schema` its type
    when it has none yet; OmegaConf's errors and keys no schema has as one sentence (the keys
    named with `prefix`, the section's place in a whole config)."""
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    try:
        if schema is not None:
            cfg = OmegaConf.merge(OmegaConf.structured(schema), cfg)
        _refuse_unknown_keys(cfg, prefix)
        return OmegaConf.to_object(cfg)
    except OmegaConfBaseException as error:
        raise _sentence(error, prefix) from None


def settings_from(cfg: Any) -> SearchSettings:
    """Checked settings of a composed search config, or of a dict as run dirs store them
    (`SearchSettings.as_dict`)."""
    from omegaconf import DictConfig

    if isinstance(cfg, SearchSettings):
        return cfg
    if isinstance(cfg, DictConfig):
        return to_settings(cfg)
    return from_dict({"logger": None, **dict(cfg)}, SearchSettings, {"method": METHOD_CONFIGS})


def from_dict(values: dict, schema: type, groups: dict[str, Registry]) -> Any:
    """The checked settings of a config given as a plain dict (not composed by Hydra): each
    section named in `groups` (a dict with the name of its option) gets its option's schema."""
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    values = dict(values)
    if isinstance(values.get("benchmark"), str):  # as run dirs store it: where it is
        values["benchmark"] = BenchmarkConfig.at(values["benchmark"])
    for group, options in groups.items():
        section = dict(values.get(group) or {})
        name = section.get("name")
        if name not in options:
            raise SettingsError(f"unknown {group} {name!r}, expected one of "
                                f"{', '.join(map(str, options))}")
        try:
            values[group] = OmegaConf.merge(OmegaConf.structured(options[name]), section)
        except OmegaConfBaseException as error:
            raise _sentence(error, f"{group}.") from None
    return to_settings(OmegaConf.create(values, flags={"allow_objects": True}), schema)


def method_defaults(name: str) -> dict:
    """A method's own settings with their defaults (without name and batch size), for code that
    builds a method outside a composed search config."""
    if name not in METHOD_CONFIGS:
        raise SettingsError(f"unknown method {name!r}, expected one of "
                            f"{', '.join(METHOD_CONFIGS)}")
    return METHOD_CONFIGS[name]().params()
