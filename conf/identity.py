"""What of a run's settings is its identity: what must match for a run to resume in a run dir,
to hold it (run.json's fingerprint), to be found finished there, or to be grouped with other
seeds by the analysis.

Two kinds of settings are left out of a run's identity (a run's files store every setting).
`not_identity`: those that change how, where or what a run reports, not what it computes
(device, threads, ...).
`later`: settings added after runs were made, while they hold the value every earlier run had,
so that an earlier run dir keeps its identity (it resumes, its lock's fingerprint matches, it
groups with new runs). Each entry of `later` is a group of settings added together, left out
only when every one of them holds its earlier value (or is absent: stored by an earlier
version). Names are dotted: `train.precision` is key `precision` of section `train`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

_ABSENT = object()


def _get(settings: dict, name: str) -> Any:
    section, _, key = name.rpartition(".")
    holder = settings.get(section) if section else settings
    return holder.get(key, _ABSENT) if isinstance(holder, dict) else _ABSENT


def _drop(settings: dict, name: str) -> None:
    section, _, key = name.rpartition(".")
    if not section:
        settings.pop(key, None)
    elif isinstance(settings.get(section), dict):
        settings[section] = {k: v for k, v in settings[section].items() if k != key}


def identity_of(settings: Mapping, not_identity: Iterable[str] = (),
                later: Iterable[Mapping[str, Any]] = ()) -> dict:
    """`settings` (as a run stores them) less the `not_identity` settings and each group of
    `later` settings (name -> the value earlier runs had) whose every member holds that value;
    see the module docstring. `settings` is not changed."""
    identity = dict(settings)
    for name in not_identity:
        _drop(identity, name)
    for group in later:
        if all(_get(identity, name) in (_ABSENT, earlier) for name, earlier in group.items()):
            for name in group:
                _drop(identity, name)
    return identity
