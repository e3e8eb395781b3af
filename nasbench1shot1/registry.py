"""Lookup by name, one way for the whole package.

This module owns `Registry`, the table behind every "find it by its name" of the package: the
one-shot methods (`methods.METHODS`), the search spaces (`spaces.space.SEARCH_SPACES`), the
black-box optimizers (`blackbox.OPTIMIZERS`), the data sets (`data.registry.DATASETS`) and the
experiment trackers (`tracking.TRACKERS`). An entry is added where it is defined, with
`@REG.register(name)` or `REG.register(name, obj)`; `REG.list()` gives the names,
`REG.get(name)` the entry, `REG.help(name)` a sentence on it (for `--help`) and
`REG.create(name, ...)` calls it. A name that is not registered
raises `UnknownName` (a ValueError) with one sentence naming the kind, the value and the choices,
so config checks and command lines can show it as it is. A registry also reads as a mapping
(`name in REG`, `REG[name]`, `iter`, `len`), so code that took a dict of names keeps working.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar, overload

T = TypeVar("T")
Name = str | int

_MISSING: Any = object()


class UnknownName(ValueError):
    """A name that no entry of a registry has; the message is one sentence naming the choices."""


def _is_name(name: object) -> bool:
    """Names are strings or integers (search spaces are numbered); a bool is neither."""
    return isinstance(name, str) or (
        isinstance(name, numbers.Integral) and not isinstance(name, bool)
    )


def _order(name: Name) -> tuple[bool, Any]:
    return (isinstance(name, str), name if isinstance(name, str) else int(name))


class Registry(Generic[T]):
    """Named entries of one `kind` ('method', 'search space', ...), looked up by name.

    `sort=True` lists the names sorted (integers numerically, before strings); `sort=False`
    keeps the order of registration, for registries whose first entry is the default one.
    """

    def __init__(self, kind: str, sort: bool = True):
        self.kind = kind
        self.sort = sort
        self._entries: dict[Name, T] = {}
        self._help: dict[Name, str] = {}

    # -- adding -------------------------------------------------------------------------------

    @overload
    def register(self, name: Name, *, help: str | None = None) -> Callable[[T], T]: ...

    @overload
    def register(self, name: Name, obj: T, *, help: str | None = None) -> T: ...

    def register(self, name: Name, obj: T = _MISSING, *,
                 help: str | None = None) -> T | Callable[[T], T]:
        """Add `obj` under `name` and return it; without `obj`, a decorator that does so.
        `help`: what the entry is, in a sentence (default: its docstring's first sentence)."""
        if not _is_name(name):
            raise TypeError(f"a {self.kind} name must be a string or an integer, got {name!r}")
        if obj is _MISSING:
            return lambda entry: self.register(name, entry, help=help)
        if name in self._entries:
            raise ValueError(f"{self.kind} {name!r} is already registered "
                             f"(as {self._entries[name]!r})")
        self._entries[name] = obj
        if help is not None:
            self._help[name] = help
        return obj

    # -- looking up ---------------------------------------------------------------------------

    def list(self) -> list[Name]:
        """The registered names: sorted, or in registration order for `sort=False`."""
        names = list(self._entries)
        return sorted(names, key=_order) if self.sort else names

    def get(self, name: Any) -> T:
        """The entry registered as `name`; `UnknownName` naming the choices otherwise."""
        if name in self:
            return self._entries[name]
        choices = ", ".join(str(n) for n in self.list()) or f"none (no {self.kind} is registered)"
        raise UnknownName(f"unknown {self.kind} {name!r}, expected one of {choices}")

    def help(self, name: Any) -> str:
        """What the entry `name` is, in a sentence: the `help` it was registered with, else the
        first sentence of its docstring (of its class, for an instance); "" without one."""
        entry = self.get(name)
        if name in self._help:
            return self._help[name]
        doc = entry.__doc__ if isinstance(entry, type) or callable(entry) else None
        doc = doc or type(entry).__doc__ or ""
        text = " ".join(doc.split())
        return text.split(". ")[0].rstrip(".") + "." if text else ""

    def create(self, name: Any, *args: Any, **kwargs: Any) -> Any:
        """Call the entry registered as `name` with the given arguments."""
        return self.get(name)(*args, **kwargs)

    # -- read-only mapping --------------------------------------------------------------------

    def __contains__(self, name: object) -> bool:
        return _is_name(name) and name in self._entries

    def __getitem__(self, name: Any) -> T:
        return self.get(name)

    def __iter__(self) -> Iterator[Name]:
        return iter(self.list())

    def __len__(self) -> int:
        return len(self._entries)

    def keys(self) -> list[Name]:
        return self.list()

    def values(self) -> list[T]:
        return [self._entries[name] for name in self.list()]

    def items(self) -> list[tuple[Name, T]]:
        return [(name, self._entries[name]) for name in self.list()]

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}: {', '.join(str(n) for n in self.list())})"
