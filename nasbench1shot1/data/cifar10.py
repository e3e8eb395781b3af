"""CIFAR-10 from the standard `cifar-10-batches-py` folder, downloaded there when missing.

Splits as NAS-Bench-101: `data_batch_1..4` train (40,000 images), `data_batch_5` validation
(10,000), `test_batch` test (10,000); pixels scaled to [0, 1] and standardised per channel with
the usual CIFAR-10 mean and standard deviation. The download is the official archive of the
University of Toronto, checked by its MD5 (the checksum the data set's page publishes), with a
progress bar; offline, loading stops at once with one sentence naming the folder it looked in.

Batch files are pickles by format, and a pickle can run any code while it loads. They are read
by an unpickler that resolves only the few numpy names an array needs and checks that the result
is what a batch holds (a dict of str/bytes keys to arrays, lists, strings and ints); anything
else stops with one sentence naming the file, before any of it runs.
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

try:  # numpy 2
    from numpy._core.multiarray import _reconstruct
    from numpy._core.numeric import _frombuffer
except ImportError:  # numpy 1
    from numpy.core.multiarray import _reconstruct
    from numpy.core.numeric import _frombuffer

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


class _Refused(pickle.UnpicklingError):
    """A batch file that asks for more than data."""


def _latin1_bytes(text: str, encoding: str) -> bytes:
    """`_codecs.encode` limited to its use in pickles: Python 3 writes bytes at protocol 2 so."""
    if encoding != "latin1":
        raise _Refused(f"it encodes text as {encoding!r}, where a batch file only uses 'latin1'")
    return text.encode("latin1")


# Every name a batch file may ask the unpickler for: what rebuilds a numpy array as Python 2 and
# numpy 1 (the official files), numpy 2, and pickle protocol 5 write it, and bytes at protocol 2.
_BATCH_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy.core.numeric", "_frombuffer"): _frombuffer,
    ("numpy._core.numeric", "_frombuffer"): _frombuffer,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("_codecs", "encode"): _latin1_bytes,
}


class _BatchUnpickler(pickle.Unpickler):
    """An unpickler that builds data only: it refuses every global but `_BATCH_GLOBALS`."""

    def find_class(self, module: str, name: str) -> object:
        try:
            return _BATCH_GLOBALS[module, name]
        except KeyError:
            raise _Refused(
                f"it asks for {module}.{name}, which no batch file holds, so nothing in it was run"
            ) from None


def _is_batch_value(value: object) -> bool:
    if isinstance(value, np.ndarray):
        return not value.dtype.hasobject
    if isinstance(value, list):
        return all(isinstance(item, (str, bytes, int)) for item in value)
    return isinstance(value, (str, bytes, int))


def _not_a_batch(path: Path, reason: str) -> DataError:
    return DataError(
        f"{path} is not a CIFAR-10 batch file ({reason}); delete the folder to download the "
        "data set again"
    )


def read_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """The images (N, 3, 32, 32) uint8 and labels (N,) int64 of one batch file, read as data."""
    try:
        with path.open("rb") as handle:
            batch = _BatchUnpickler(handle, encoding="latin1").load()
    except _Refused as exc:
        raise _not_a_batch(path, str(exc)) from None
    except (
        OSError, pickle.UnpicklingError, EOFError, AttributeError, IndexError, TypeError,
        ValueError,
    ) as exc:
        raise _not_a_batch(path, type(exc).__name__) from None
    if not (
        isinstance(batch, dict)
        and all(isinstance(key, (str, bytes)) for key in batch)
        and all(_is_batch_value(value) for value in batch.values())
    ):
        raise _not_a_batch(path, "it holds more than a dict of arrays, lists, strings and ints")
    try:
        data = np.asarray(batch["data"], dtype=np.uint8)
        labels = np.asarray(batch["labels"], dtype=np.int64)
    except (KeyError, TypeError, ValueError) as exc:
        raise _not_a_batch(path, type(exc).__name__) from None
    if data.ndim != 2 or data.shape[1] != 3072 or len(labels) != len(data):
        raise _not_a_batch(path, f"images of shape {data.shape}")
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
        parts = [read_batch(root / name) for name in files]
        images = torch.from_numpy(np.concatenate([p[0] for p in parts])).float() / 255.0
        labels = torch.from_numpy(np.concatenate([p[1] for p in parts]))
        return Split((images - mean) / std, labels)

    return DataSplits("cifar10", split(TRAIN_FILES), split(VALID_FILES), split(TEST_FILES),
                      num_classes=10)
