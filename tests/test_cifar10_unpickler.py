"""CIFAR-10 batch files are read as data only: numpy arrays, lists, strings and ints, never code."""

import os
import pickle
import shlex
import struct
import warnings
from pathlib import Path

import numpy as np
import pytest
from conftest import SHARED_CIFAR

from nasbench1shot1.data import cifar10 as cifar_module
from nasbench1shot1.data.cifar10 import DataError, load_cifar10_splits, read_batch

BATCH_FILES = cifar_module.TRAIN_FILES + cifar_module.VALID_FILES + cifar_module.TEST_FILES


def _images(count: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (count, 3072), dtype=np.uint8)


def _python2_pickle(data: np.ndarray, labels: list[int]) -> bytes:
    """A batch pickled the way Python 2 and numpy 1 wrote the official files.

    Protocol 2, keys and the array's bytes as Python 2 `str` (BINSTRING), the array rebuilt by
    `numpy.core.multiarray._reconstruct`; Python 3 cannot write this, so it is spelled out.
    """

    def text(raw: bytes) -> bytes:
        return b"T" + struct.pack("<I", len(raw)) + raw

    def integer(value: int) -> bytes:
        return b"J" + struct.pack("<i", value)

    def tuple_of(*items: bytes) -> bytes:
        return b"(" + b"".join(items) + b"t"

    dtype = (
        b"cnumpy\ndtype\n" + text(b"u1") + integer(0) + integer(1) + b"\x87R"
        + tuple_of(integer(3), text(b"|"), b"N", b"N", b"N", integer(-1), integer(-1), integer(0))
        + b"b"
    )
    array = (
        b"cnumpy.core.multiarray\n_reconstruct\n" + b"cnumpy\nndarray\n"
        + tuple_of(integer(0)) + text(b"b") + b"\x87R"
        + tuple_of(
            integer(1), tuple_of(*map(integer, data.shape)), dtype, b"\x89", text(data.tobytes())
        )
        + b"b"
    )
    label_list = b"](" + b"".join(map(integer, labels)) + b"e"
    return (
        b"\x80\x02}(" + text(b"batch_label") + text(b"training batch 1 of 5")
        + text(b"data") + array + text(b"labels") + label_list + b"u."
    )


def _write_batch(path: Path, data: np.ndarray, labels: list[int], writer: str) -> None:
    if writer == "python 2":
        path.write_bytes(_python2_pickle(data, labels))
        return
    batch = {"batch_label": "training batch", "data": data, "labels": labels,
             "filenames": [f"image_{i}.png" for i in range(len(labels))]}
    with path.open("wb") as handle:
        pickle.dump(batch, handle, protocol=int(writer.split()[-1]))


def _write_folder(folder: Path, writer: str = "protocol 2") -> dict[str, np.ndarray]:
    folder.mkdir()
    written = {}
    for seed, name in enumerate(BATCH_FILES):
        written[name] = _images(3, seed)
        _write_batch(folder / name, written[name], [seed, 9 - seed, 5], writer)
    return written


@pytest.mark.parametrize("writer", ["python 2", "protocol 2", "protocol 4", "protocol 5"])
def test_numpy_array_batches_are_read(tmp_path: Path, writer: str):
    written = _write_folder(tmp_path / "cifar", writer)
    for seed, name in enumerate(BATCH_FILES):
        images, labels = read_batch(tmp_path / "cifar" / name)
        assert images.dtype == np.uint8 and images.shape == (3, 3, 32, 32)
        assert np.array_equal(images.reshape(3, -1), written[name])
        assert labels.tolist() == [seed, 9 - seed, 5]
    assert len(load_cifar10_splits(tmp_path / "cifar", download_missing=False).train) == 12


def test_python2_pickle_is_what_pickle_reads_as_the_official_files(tmp_path: Path):
    data = _images(2, 0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # numpy 2 renamed numpy.core
        batch = pickle.loads(_python2_pickle(data, [1, 2]), encoding="latin1")
    assert np.array_equal(batch["data"], data) and batch["labels"] == [1, 2]


class _RunsCommand:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {shlex.quote(str(self.marker))}",)


class _WritesFile(_RunsCommand):
    def __reduce__(self):
        return open, (str(self.marker), "w")


@pytest.mark.parametrize("payload", [_RunsCommand, _WritesFile])
@pytest.mark.parametrize("protocol", [2, 4])
def test_crafted_batch_is_refused_without_running_it(
    tmp_path: Path, payload: type, protocol: int
):
    folder = tmp_path / "cifar"
    _write_folder(folder)
    marker = tmp_path / "marker"
    crafted = folder / "test_batch"
    with crafted.open("wb") as handle:
        pickle.dump({"data": payload(marker), "labels": [0]}, handle, protocol=protocol)
    with pytest.raises(DataError) as error:
        load_cifar10_splits(folder, download_missing=False)
    message = str(error.value)
    assert str(crafted) in message and "not a CIFAR-10 batch file" in message
    assert "\n" not in message
    assert not marker.exists()


@pytest.mark.parametrize(
    "content",
    [
        [np.zeros((1, 3072), np.uint8)],
        {"data": np.zeros((1, 3072), np.uint8), "labels": {0}},
        {"data": np.zeros((1, 3072), np.uint8), "labels": [0], 1.5: "key"},
        {"data": np.zeros((1, 3072), np.uint8), "labels": [0], "extra": {"nested": 1}},
        {"data": np.array([[0] * 3072], dtype=object), "labels": [0]},
        {"data": np.zeros((1, 3072), np.uint8), "labels": [0.5]},
    ],
    ids=["list", "set", "float key", "nested dict", "object array", "float label"],
)
def test_batch_holding_other_than_arrays_lists_and_text_is_refused(tmp_path: Path, content):
    path = tmp_path / "data_batch_1"
    with path.open("wb") as handle:
        pickle.dump(content, handle, protocol=2)
    with pytest.raises(DataError, match=f"{path} is not a CIFAR-10 batch file"):
        read_batch(path)


def test_bytes_encoded_other_than_latin1_are_refused(tmp_path: Path):
    # _codecs.encode is how Python 3 pickles bytes at protocol 2; only its latin1 use is allowed.
    path = tmp_path / "data_batch_1"
    path.write_bytes(
        b"\x80\x02}(X\x04\x00\x00\x00datac_codecs\nencode\nX\x01\x00\x00\x00a"
        b"X\x05\x00\x00\x00rot13\x86Ru."
    )
    with pytest.raises(DataError, match=f"{path} is not a CIFAR-10 batch file.*'rot13'"):
        read_batch(path)


@pytest.mark.skipif(not SHARED_CIFAR.is_dir(), reason=f"no CIFAR-10 images at {SHARED_CIFAR}")
def test_real_batches_read_as_plain_pickle_reads_them():
    for name in BATCH_FILES:
        with (SHARED_CIFAR / name).open("rb") as handle:
            expected = pickle.load(handle, encoding="latin1")
        images, labels = read_batch(SHARED_CIFAR / name)
        assert np.array_equal(images.reshape(len(images), -1), expected["data"])
        assert labels.tolist() == expected["labels"]
