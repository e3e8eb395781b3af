"""Reading and writing official-format files: framing, checksums, row codec, every bad input."""

import base64
import json
import struct
from pathlib import Path

import numpy as np
import pytest
from conftest import PARTIAL_EPOCHS, SMALL_CELLS, parameters_of, run_value, small_rows

from nasbench1shot1.nasbench import BenchmarkFileError, tfrecord
from nasbench1shot1.nasbench.proto import encode_model_metrics
from nasbench1shot1.nasbench.tfrecord import (
    METRIC_FIELDS,
    decode_row,
    encode_row,
    masked_crc32c,
    read_columns,
    read_records,
    read_rows,
    write_records,
)


def test_masked_crc_matches_the_tfrecord_definition():
    # CRC32C("123456789") is the standard check value 0xE3069283; mask it by hand.
    crc = 0xE3069283
    expected = (((crc >> 15) | (crc << 17)) + 0xA282EAD8) % 2**32
    assert masked_crc32c(b"123456789") == expected


def test_record_framing_is_the_tfrecord_layout(tmp_path: Path):
    path = tmp_path / "one.tfrecord"
    write_records(path, [b"hello"])
    raw = path.read_bytes()
    assert raw[:8] == struct.pack("<Q", 5)
    assert raw[8:12] == struct.pack("<I", masked_crc32c(raw[:8]))
    assert raw[12:17] == b"hello"
    assert raw[17:] == struct.pack("<I", masked_crc32c(b"hello"))


def test_records_round_trip(tmp_path: Path):
    records = [b"", b"a", bytes(range(256)) * 40]
    path = tmp_path / "records.tfrecord"
    assert write_records(path, records) == 3
    assert list(read_records(path)) == records


@pytest.mark.parametrize("epochs", [(108,), PARTIAL_EPOCHS])
def test_rows_round_trip(tmp_path: Path, epochs: tuple[int, ...]):
    rows = small_rows(epochs)
    path = tmp_path / "rows.tfrecord"
    write_records(path, (encode_row(row) for row in rows))
    back = list(read_rows(path))
    assert len(back) == len(rows) == len(SMALL_CELLS) * len(epochs) * 3
    for row, read in zip(rows, back):
        assert read.module_hash == row.module_hash
        assert read.epochs == row.epochs
        assert read.adjacency.dtype == np.int8
        np.testing.assert_array_equal(read.adjacency, row.adjacency)
        assert read.operations == row.operations
        assert read.metrics == row.metrics


def test_row_json_is_the_official_five_field_list():
    row = small_rows()[0]
    module_hash, epochs, adjacency, operations, metrics = json.loads(encode_row(row))
    assert module_hash == row.module_hash and epochs == 108
    assert adjacency == "".join(str(x) for x in np.asarray(row.adjacency).flat)
    assert operations == ",".join(row.operations)
    assert base64.b64decode(metrics) == encode_model_metrics(row.metrics)


def test_columns_hold_every_record_in_file_order(tmp_path: Path):
    path = tmp_path / "full.tfrecord"
    rows = small_rows(PARTIAL_EPOCHS)
    write_records(path, (encode_row(row) for row in rows))
    columns = read_columns(path, batch_size=7)
    assert len(columns) == len(rows)
    assert columns.epochs.tolist() == [row.epochs for row in rows]
    cell = 1 % len(SMALL_CELLS)
    assert columns.trainable_parameters[cell] == parameters_of(cell)
    assert columns.metrics["final_test_accuracy"][cell] == run_value(
        cell, 4, 0, "final_test_accuracy"
    )
    assert set(columns.metrics) == set(METRIC_FIELDS)


def test_two_workers_read_the_same_columns(tmp_path: Path):
    path = tmp_path / "full.tfrecord"
    write_records(path, (encode_row(row) for row in small_rows(PARTIAL_EPOCHS)))
    one = read_columns(path, workers=1, batch_size=5)
    two = read_columns(path, workers=2, batch_size=5)
    for name in ("hash_words", "epochs", "num_vertices", "adjacency_bits", "ops"):
        np.testing.assert_array_equal(getattr(one, name), getattr(two, name))
    for name in METRIC_FIELDS:
        np.testing.assert_array_equal(one.metrics[name], two.metrics[name])


def test_empty_file_has_no_records(tmp_path: Path):
    path = tmp_path / "empty.tfrecord"
    path.write_bytes(b"")
    assert list(read_records(path)) == []
    assert len(read_columns(path)) == 0


@pytest.mark.parametrize("workers", [1, 2])
def test_a_file_changed_between_the_two_passes_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, workers: int
):
    """With workers, the worker processes read the blocks themselves and check them against
    the first pass."""
    path = tmp_path / "full.tfrecord"
    write_records(path, (encode_row(row) for row in small_rows()))
    check = tfrecord._checked_blocks

    def check_then_change(file: Path):
        blocks = check(file)
        raw = bytearray(file.read_bytes())
        raw[len(raw) // 2] ^= 1  # same size: only the block checksum sees it
        file.write_bytes(bytes(raw))
        return blocks

    monkeypatch.setattr(tfrecord, "_checked_blocks", check_then_change)
    with pytest.raises(BenchmarkFileError, match="changed while it was read"):
        read_columns(path, workers=workers)


# Corruption: each case damages record 2 (0-based) of a 4-record file.


def _good_data() -> list[bytes]:
    return [encode_row(row) for row in small_rows()[:4]]


def _framed(data: bytes) -> bytes:
    length = struct.pack("<Q", len(data))
    return (
        length
        + struct.pack("<I", masked_crc32c(length))
        + data
        + struct.pack("<I", masked_crc32c(data))
    )


def _file_with_record_2(tmp_path: Path, record: bytes, tail: bool = True) -> Path:
    good = [_framed(data) for data in _good_data()]
    path = tmp_path / "bad.tfrecord"
    path.write_bytes(b"".join(good[:2]) + record + (good[3] if tail else b""))
    return path


def _row_data(**changes) -> bytes:
    fields = json.loads(_good_data()[2])
    for index, value in changes.items():
        fields[int(index[1:])] = value
    return json.dumps(fields).encode()


def _damaged_framing() -> dict[str, tuple[bytes, bool]]:
    record = _framed(_good_data()[2])
    flip = bytearray(record)
    flip[20] ^= 0x01
    bad_length = bytearray(record)
    bad_length[8] ^= 0xFF
    return {
        "truncated header": (record[:7], False),
        "truncated data": (record[:-9], False),
        "bad length checksum": (bytes(bad_length), True),
        "bad data checksum": (bytes(flip), True),
    }


@pytest.mark.parametrize(
    ("case", "detail"),
    [
        ("truncated header", "is truncated: its header has 7 of 12 bytes"),
        ("truncated data", "is truncated"),
        ("bad length checksum", "bad length checksum"),
        ("bad data checksum", "bad data checksum"),
    ],
)
def test_damaged_framing_names_file_and_record(tmp_path: Path, case: str, detail: str):
    record, tail = _damaged_framing()[case]
    path = _file_with_record_2(tmp_path, record, tail)
    with pytest.raises(BenchmarkFileError, match=detail) as raised:
        list(read_records(path))
    assert str(raised.value).startswith(f"record 2 (0-based) of {path} ")


@pytest.mark.parametrize(
    ("data", "detail"),
    [
        (b'["unterminated', "is not valid UTF-8 JSON"),
        (b"\xff\xfe", "is not valid UTF-8 JSON"),
        (b'{"a": 1}', "is not a JSON list of 5 fields"),
        (b'["a", 108]', "is not a JSON list of 5 fields"),
        (_row_data(f0="not-a-hash"), "has module hash 'not-a-hash'"),
        (_row_data(f1="108"), "has epochs '108'"),
        (_row_data(f2=7), "non-string"),
        (_row_data(f4="!!not base64!!"), "invalid base64"),
        (_row_data(f4=base64.b64encode(b"\x10").decode()), "malformed ModelMetrics"),
        (_row_data(f4=base64.b64encode(b"\x0a\x00").decode()), "has 1 evaluation points"),
        (_row_data(f2="01010"), "has a 5-character adjacency"),
        (_row_data(f2="0"), "has a 1-character adjacency"),
        (_row_data(f2="0" * 64), "has a 64-character adjacency"),
        (_row_data(f2="0120"), "characters other than"),
        (_row_data(f3="input,conv5x5,output"), "has operations"),
    ],
)
def test_bad_record_data_names_file_and_record(tmp_path: Path, data: bytes, detail: str):
    path = _file_with_record_2(tmp_path, _framed(data))
    with pytest.raises(BenchmarkFileError, match=detail) as raised:
        list(read_rows(path))
    assert str(raised.value).startswith(f"record 2 (0-based) of {path} ")
    with pytest.raises(BenchmarkFileError, match=detail):
        read_columns(path)


def test_operations_must_match_vertices(tmp_path: Path):
    data = _row_data(f2="0" * 9, f3="input,output")
    path = _file_with_record_2(tmp_path, _framed(data))
    with pytest.raises(BenchmarkFileError, match="has 2 operations for 3 vertices"):
        list(read_rows(path))


def test_missing_file_is_named(tmp_path: Path):
    path = tmp_path / "absent.tfrecord"
    with pytest.raises(BenchmarkFileError, match=f"benchmark file {path} does not exist"):
        list(read_records(path))


def test_workers_do_not_start_for_a_file_that_cannot_be_opened(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """The file is opened before the worker processes start, so its error comes at once."""

    def no_pool(*args, **kwargs):
        raise AssertionError("worker processes started for a missing file")

    monkeypatch.setattr(tfrecord, "ProcessPoolExecutor", no_pool)
    path = tmp_path / "absent.tfrecord"
    with pytest.raises(BenchmarkFileError, match=f"benchmark file {path} does not exist"):
        read_columns(path, workers=2)


def test_decode_row_alone_names_the_given_place():
    with pytest.raises(BenchmarkFileError, match="^row 9 is not valid UTF-8 JSON$"):
        decode_row(b"nope", where="row 9")
