"""CIFAR-10 from the standard `cifar-10-batches-py` folder, downloaded there when missing.

Splits as NAS-Bench-101: `data_batch_1..4` train (40,000 images), `data_batch_5` validation
(10,000), `test_batch` test (10,000); pixels scaled to [0, 1] and standardised per channel with
the usual CIFAR-10 mean and standard deviation. The download is the official archive of the
University of Toronto, checked by its MD5 (the checksum the data set's page publishes), with a
progress bar; offline, loading stops at once with one sentence naming the folder it looked in.
"""

from __future__ import annotations

import hashlib
import pickle
import tarfile
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import torch

from nasbench1shot1.data.splits import DataSplits, Split

URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
MD5 = "c58f30108f718f92721af3b95e74349a"
TRAIN_FILES = ("data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4")
VALID_FILES = ("data_batch_5",)
TEST_FILES = ("test_batch",)
MEAN = (0.4914, 0.4822, 0.4465)
STD = (0.2470, 0.2435, 0.2616)


class DataError(ValueError):
    """A data folder that is missing, incomplete or holds other files."""


def _read_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    try:
        with path.open("rb") as handle:
            batch = pickle.load(handle, encoding="latin1")
        data = np.asarray(batch["data"], dtype=np.uint8)
        labels = np.asarray(batch["labels"], dtype=np.int64)
    except (OSError, pickle.UnpicklingError, EOFError, KeyError, TypeError, ValueError) as exc:
        raise DataError(
            f"{path} is not a CIFAR-10 batch file ({type(exc).__name__}); delete the folder "
            "to download the data set again"
        ) from None
    if data.ndim != 2 or data.shape[1] != 3072 or len(labels) != len(data):
        raise DataError(f"{path} is not a CIFAR-10 batch file (images of shape {data.shape})")
    return data.reshape(-1, 3, 32, 32), labels


def download(root: Path, progress: bool = True) -> None:
    """Fetch and unpack the official archive so that `root` is the cifar-10-batches-py folder."""
    from tqdm import tqdm

    root.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=root.parent) as tmp:
        archive = Path(tmp) / "cifar-10-python.tar.gz"
        digest = hashlib.md5()
        try:
            with urllib.request.urlopen(URL, timeout=30) as response, archive.open("wb") as out:
                total = int(response.headers.get("Content-Length") or 0) or None
                with tqdm(total=total, unit="B", unit_scale=True, desc="CIFAR-10",
                          disable=not progress) as bar:
                    for chunk in iter(lambda: response.read(1 << 20), b""):
                        out.write(chunk)
                        digest.update(chunk)
                        bar.update(len(chunk))
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise DataError(
                f"CIFAR-10 is not in {root} and could not be downloaded from {URL} ({reason}); "
                "put the cifar-10-batches-py folder there or set data.root"
            ) from None
        if digest.hexdigest() != MD5:
            raise DataError(f"the download of {URL} has MD5 {digest.hexdigest()}, not {MD5}")
        with tarfile.open(archive) as tar:
            if hasattr(tarfile, "data_filter"):
                tar.extractall(tmp, filter="data")
            else:  # Python without extraction filters: refuse members leaving the folder
                for member in tar.getmembers():
                    if member.name.startswith(("/", "..")) or ".." in Path(member.name).parts:
                        raise DataError(f"{URL} holds an unsafe path {member.name!r}")
                tar.extractall(tmp)
        (Path(tmp) / "cifar-10-batches-py").rename(root)


def load_cifar10_splits(root: str | Path | None, seed: int = 0,
                        download_missing: bool = True) -> DataSplits:
    """The three splits of CIFAR-10 in `root` (a cifar-10-batches-py folder)."""
    del seed  # the split is the fixed one of NAS-Bench-101
    root = Path(root or "data/cifar-10-batches-py").expanduser()
    names = TRAIN_FILES + VALID_FILES + TEST_FILES
    if not root.exists() and download_missing:
        download(root)
    missing = [name for name in names if not (root / name).is_file()]
    if missing:
        raise DataError(
            f"{root} is not a cifar-10-batches-py folder: {missing[0]} is missing "
            f"(expected {', '.join(names)})"
        )
    mean = torch.tensor(MEAN).view(1, 3, 1, 1)
    std = torch.tensor(STD).view(1, 3, 1, 1)

    def split(files: tuple[str, ...]) -> Split:
        parts = [_read_batch(root / name) for name in files]
        images = torch.from_numpy(np.concatenate([p[0] for p in parts])).float() / 255.0
        labels = torch.from_numpy(np.concatenate([p[1] for p in parts]))
        return Split((images - mean) / std, labels)

    return DataSplits("cifar10", split(TRAIN_FILES), split(VALID_FILES), split(TEST_FILES),
                      num_classes=10)
