"""The official NAS-Bench-101 files: where they are published, and fetching them checked.

`download` streams a file to `<name>.part`, checks it, and only then renames it into place, so
an interrupted or corrupted fetch never leaves a file that looks complete. A file already in
place with the right checksum is kept as it is.
"""

from __future__ import annotations

import hashlib
import os
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass
from http.client import HTTPException
from pathlib import Path

from .errors import DownloadError

_CHUNK = 1 << 20
_TIMEOUT_S = 60


@dataclass(frozen=True)
class OfficialFile:
    """Where an official file is published and what it must hash to."""

    url: str
    size: int
    sha256: str

    @property
    def filename(self) -> str:
        return self.url.rsplit("/", 1)[-1]


OFFICIAL_FILES: dict[str, OfficialFile] = {
    "only108": OfficialFile(
        url="https://storage.googleapis.com/nasbench/nasbench_only108.tfrecord",
        size=522_767_376,
        sha256="4c39c3936e36a85269881d659e44e61a245babcb72cb374eacacf75d0e5f4fd1",
    ),
    "full": OfficialFile(
        url="https://storage.googleapis.com/nasbench/nasbench_full.tfrecord",
        size=2_085_986_016,
        sha256="3d64db8180fb1b0207212f9032205064312b6907a3bbc81eabea10db2f5c7e9c",
    ),
}


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        while chunk := stream.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _show_progress(name: str, done: int, total: int) -> None:
    sys.stderr.write(f"\r{name}: {done / 1e6:.1f} of {total / 1e6:.1f} MB ({done / total:.0%})")
    sys.stderr.flush()


def download(name: str, dest_dir: str | os.PathLike, progress: bool = True) -> Path:
    """Fetch the official file `name` ('only108' or 'full') into `dest_dir`; returns its path."""
    if name not in OFFICIAL_FILES:
        raise ValueError(f"unknown benchmark {name!r}, expected one of {', '.join(OFFICIAL_FILES)}")
    official = OFFICIAL_FILES[name]
    dest_dir = Path(dest_dir)
    target = dest_dir / official.filename
    if (
        target.is_file()
        and target.stat().st_size == official.size
        and _sha256(target) == official.sha256
    ):
        return target
    dest_dir.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".part")
    digest = hashlib.sha256()
    done = 0
    shown = -1
    try:
        with (
            urllib.request.urlopen(official.url, timeout=_TIMEOUT_S) as response,
            open(partial, "wb") as stream,
        ):
            while chunk := response.read(_CHUNK):
                stream.write(chunk)
                digest.update(chunk)
                done += len(chunk)
                if progress and official.size and done * 100 // official.size != shown:
                    shown = done * 100 // official.size
                    _show_progress(official.filename, done, official.size)
    except (OSError, HTTPException) as exc:
        partial.unlink(missing_ok=True)
        if isinstance(exc, urllib.error.HTTPError):
            reason = f"HTTP {exc.code} {exc.reason}"
        else:
            reason = getattr(exc, "reason", None) or getattr(exc, "strerror", None) or exc
        raise DownloadError(
            f"could not download {official.url} ({reason}); check the network or fetch the "
            f"file by hand into {dest_dir}"
        ) from None
    finally:
        if progress and shown >= 0:
            sys.stderr.write("\n")
    if done != official.size or digest.hexdigest() != official.sha256:
        partial.unlink(missing_ok=True)
        raise DownloadError(
            f"download of {official.url} gave {done} bytes with SHA256 {digest.hexdigest()}, "
            f"expected {official.size} bytes with SHA256 {official.sha256}"
        )
    os.replace(partial, target)
    return target
