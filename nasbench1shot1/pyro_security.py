"""Who may talk to a BOHB run's Pyro4 name server, dispatcher and workers.

This module owns the run's secret and everything that enforces it:

- `new_secret()` makes one per run (the master's); `write_private_json` writes it, with the name
  server's address, into a file only its owner can read (created 0600, never chmod-ed later);
  `read_secret` reads it back for a worker and refuses a file others can read.
- `keyed(secret)`: while it lasts, every Pyro4 daemon, proxy and name-server lookup that
  HpBandSter creates (in `hpbandster.core.nameserver`, `.dispatcher` and `.worker`) signs its
  messages with the secret as HMAC key, so each of them refuses a caller without it. Pyro4 4.82
  has no global HMAC key any more (`Pyro4.config.HMAC_KEY` is gone), so HpBandSter's modules get a
  stand-in for their `Pyro4` name that sets the key on what they create. It also pins serpent as
  the only serializer sent and accepted, whatever the environment says: no
  `PYRO_SERIALIZERS_ACCEPTED` can turn pickle (which runs any code sent to it) back on.
- `KeyedWorker` is HpBandSter's worker whose result callback carries the key too (the master
  sends the worker a proxy of itself, made without a key; the key never travels in a message).
  A plain HpBandSter worker inside `keyed` would hang the master: its results are refused.

One secret per process at a time: a process runs one BOHB run (master or worker) at once.
Pyro4's HMAC authenticates messages; it does not encrypt them.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import socket
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import Pyro4
import Pyro4.naming
from hpbandster.core.worker import Worker

#: bytes of randomness in a run's secret (hex: twice as many characters)
SECRET_BYTES = 32

_key: bytes | None = None


def new_secret() -> str:
    """A fresh secret for one run."""
    return secrets.token_hex(SECRET_BYTES)


def write_private_json(path: str | Path, data: dict) -> None:
    """Write `data` to `path` readable by its owner only: the file is created with mode 0600 under
    a temporary name and renamed over `path`, so no moment exists where others may read it."""
    path = Path(path)
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    with contextlib.suppress(FileNotFoundError):
        partial.unlink()  # left by a write of an earlier process with this pid
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(data, out)
    os.replace(partial, path)


def read_secret(path: str | Path) -> str:
    """The secret in the master's nameserver.json at `path`."""
    path = Path(path)
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
        secret = json.loads(path.read_text()).get("secret")
    except (OSError, ValueError, AttributeError) as error:
        raise ValueError(f"cannot read the run's secret from secret_file={path} ({error}); "
                         "point it at the master's nameserver.json") from None
    if mode & 0o077:
        raise ValueError(f"secret_file={path} can be read by other users (mode "
                         f"{mode:o}); run chmod 600 {path}")
    if not isinstance(secret, str) or not secret:
        raise ValueError(f"secret_file={path} holds no secret; point it at the master's "
                         "nameserver.json")
    return secret


class _Namespace:
    """A module stand-in: the given names, and the real module's for everything else."""

    def __init__(self, real: Any, **names: Any):
        self._real = real
        self.__dict__.update(names)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


def _proxy(uri: Any) -> Pyro4.core.Proxy:
    proxy = Pyro4.core.Proxy(uri)
    proxy._pyroHmacKey = _key
    return proxy


def _daemon(*args: Any, **kwargs: Any) -> Pyro4.core.Daemon:
    daemon = Pyro4.core.Daemon(*args, **kwargs)
    daemon._pyroHmacKey = _key
    return daemon


def _locate_ns(host: str | None = None, port: int | None = None,
               broadcast: bool = True) -> Pyro4.core.Proxy:
    return Pyro4.locateNS(host, port, broadcast, hmac_key=_key)


def _start_ns(*args: Any, **kwargs: Any) -> tuple:
    return Pyro4.naming.startNS(*args, **kwargs, hmac=_key)


_KEYED_PYRO4 = _Namespace(Pyro4, Proxy=_proxy, locateNS=_locate_ns,
                          core=_Namespace(Pyro4.core, Daemon=_daemon),
                          naming=_Namespace(Pyro4.naming, startNS=_start_ns))


def pin_serpent() -> None:
    """Serpent the one serializer sent and accepted, over what PYRO_SERIALIZER(S_ACCEPTED) set (a
    daemon reads the accepted set when it is created)."""
    Pyro4.config.SERIALIZER = "serpent"
    Pyro4.config.SERIALIZERS_ACCEPTED = {"serpent"}


@contextlib.contextmanager
def keyed(secret: str) -> Iterator[None]:
    """Sign and check every message of the Pyro4 objects that HpBandSter makes in this process
    with `secret` until the block ends; enter it before the name server, master or worker
    starts."""
    import hpbandster.core.dispatcher
    import hpbandster.core.nameserver
    import hpbandster.core.worker

    global _key
    if not secret:
        raise ValueError("a BOHB run needs a non-empty secret")
    pin_serpent()
    modules = (hpbandster.core.dispatcher, hpbandster.core.nameserver, hpbandster.core.worker)
    before = _key, [module.Pyro4 for module in modules]
    _key = secret.encode()
    for module in modules:
        module.Pyro4 = _KEYED_PYRO4
    try:
        yield
    finally:
        _key = before[0]
        for module, pyro in zip(modules, before[1]):
            module.Pyro4 = pyro


def ping_name_server(host: str, port: int, timeout: float) -> None:
    """Ask the name server at host:port, with this process's key, whether it is there; raises
    Pyro4.errors.PyroError when it does not answer within `timeout` seconds or refuses the key."""
    location = f"[{host}]" if ":" in host else host
    with _proxy(f"PYRO:{Pyro4.constants.NAMESERVER_NAME}@{location}:{port}") as proxy:
        proxy._pyroTimeout = timeout
        proxy.ping()


def address_towards(host: str, port: int) -> str:
    """This machine's address on the route to host:port: what a worker or the dispatcher must
    listen on and register, so that the other nodes of a cluster reach it (Pyro4's default,
    'localhost', reaches only the same machine). A UDP connect sends nothing."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as probe:
        probe.connect((host, port or 9))
        return probe.getsockname()[0]


class KeyedWorker(Worker):
    """An HpBandSter worker whose result reaches a master that checks the key: the master's
    callback proxy arrives without one, and gets this process's here."""

    @Pyro4.expose
    @Pyro4.oneway
    def start_computation(self, callback, id, *args, **kwargs):  # noqa: A002 - HpBandSter's
        callback._pyroHmacKey = _key
        return super().start_computation(callback, id, *args, **kwargs)
