"""The array decoder of official files gives exactly what decoding each record gives."""

import base64
import json
from pathlib import Path

import numpy as np
import pytest
from conftest import small_rows

from nasbench1shot1.nasbench import BenchmarkFileError
from nasbench1shot1.nasbench.proto import ModelMetrics, encode_model_metrics
from nasbench1shot1.nasbench.tfrecord import (
    METRIC_FIELDS,
    RecordColumns,
    encode_row,
    read_columns,
    read_records,
    write_records,
)

_FIELDS = ("hash_words", "epochs", "num_vertices", "adjacency_bits", "ops", "trainable_parameters")


def _record(fields: list, separators=(", ", ": ")) -> bytes:
    return json.dumps(fields, separators=separators).encode()


def _fields(row) -> list:
    return json.loads(encode_row(row))


def _varied_records() -> list[bytes]:
    """Records in the official layout and records the array decoder must leave to the
    per-record one: other JSON spacing, escapes, other protobuf layouts, odd base64."""
    rows = small_rows((4, 108))
    records = [encode_row(row) for row in rows]
    fields = _fields(rows[0])
    proto = base64.b64decode(fields[4])
    compact = _record(fields, separators=(",", ":"))
    escaped = encode_row(rows[1]).replace(b'"input,', b'"\\u0069nput,')
    # An unknown varint field and an unknown fixed32 field before the known ones.
    unknown = list(fields)
    unknown[4] = base64.b64encode(b"\x20\x05" + b"\x2d\x01\x02\x03\x04" + proto).decode()
    # Fields in reverse order: total_time, trainable_parameters, then the evaluation points.
    reordered = list(fields)
    parameters = encode_model_metrics(ModelMetrics([], rows[0].metrics.trainable_parameters))
    points = proto[: len(proto) - len(parameters)]  # parameters holds a total_time too
    reordered[4] = base64.b64encode(proto[-9:] + b"\x10\x7f" + points)
    reordered[4] = reordered[4].decode()
    # A negative parameter count: a 10-byte varint.
    negative = list(fields)
    negative[4] = base64.b64encode(proto + b"\x10" + b"\xff" * 9 + b"\x01").decode()
    # A non-ASCII checkpoint path in a fourth evaluation point.
    extra = b"\x32\x03" + "é".encode() + b"a"
    utf8 = list(fields)
    utf8[4] = base64.b64encode(proto + b"\x0a" + bytes([len(extra)]) + extra).decode()
    return records + [
        compact,
        escaped,
        _record(unknown),
        _record(reordered),
        _record(negative),
        _record(utf8),
    ]


def _assert_same(columns: RecordColumns, expected: RecordColumns) -> None:
    assert len(columns) == len(expected)
    for name in _FIELDS:
        np.testing.assert_array_equal(getattr(columns, name), getattr(expected, name), name)
    for name in METRIC_FIELDS:
        np.testing.assert_array_equal(columns.metrics[name], expected.metrics[name], name)


@pytest.mark.parametrize("batch_size", [3, 1000])
def test_array_decoder_matches_the_per_record_decoder(tmp_path: Path, batch_size: int):
    path = tmp_path / "varied.tfrecord"
    write_records(path, _varied_records())
    records = list(read_records(path))
    expected = RecordColumns.decode(records, range(len(records)), str(path))
    _assert_same(read_columns(path, batch_size=batch_size), expected)
    assert expected.trainable_parameters[-2] == -1
    assert expected.trainable_parameters[-3] == 127


def test_records_in_the_official_layout_need_no_per_record_decoding(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    path = tmp_path / "varied.tfrecord"
    write_records(path, _varied_records())
    decoded = []
    per_record = RecordColumns.decode.__func__

    def counting(cls, records, indices, where):
        decoded.extend(indices)
        return per_record(cls, records, indices, where)

    monkeypatch.setattr(RecordColumns, "decode", classmethod(counting))
    count = len(read_columns(path))
    # The compact JSON, the escape and the non-ASCII checkpoint path; the other protobuf
    # layouts (unknown fields, any order, a 10-byte varint) are read with arrays.
    assert decoded == [count - 6, count - 5, count - 1]


def test_blocks_split_records_anywhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from nasbench1shot1.nasbench import tfrecord

    path = tmp_path / "varied.tfrecord"
    write_records(path, _varied_records())
    records = list(read_records(path))
    expected = RecordColumns.decode(records, range(len(records)), str(path))
    for block in (1, 97, 1000):  # smaller than a record, and not a multiple of one
        monkeypatch.setattr(tfrecord, "_BLOCK_BYTES", block)
        _assert_same(read_columns(path), expected)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda f: f.__setitem__(4, f[4][:-4] + "A=B="), "invalid base64"),
        (lambda f: f.__setitem__(4, f[4][:-4] + "!!!!"), "invalid base64"),
        (lambda f: f.__setitem__(4, base64.b64encode(b"\x0a\x50").decode()), "malformed"),
        (lambda f: f.__setitem__(4, base64.b64encode(b"\x11\x00").decode()), "wire type"),
        (lambda f: f.__setitem__(2, f[2][:-1]), "adjacency"),
        (lambda f: f.__setitem__(3, f[3].replace("maxpool3x3", "maxpool5x5")), "operations"),
        (lambda f: f.__setitem__(0, f[0].upper()), "module hash"),
        (lambda f: f.__setitem__(1, 0), "epochs 0"),
    ],
)
def test_a_bad_record_among_good_ones_raises_its_own_error(tmp_path: Path, change, message):
    rows = small_rows()
    fields = _fields(rows[0])
    change(fields)
    records = [encode_row(row) for row in rows[:4]] + [_record(fields)]
    path = tmp_path / "bad.tfrecord"
    write_records(path, records)
    with pytest.raises(BenchmarkFileError, match="record 4 ") as raised:
        read_columns(path)
    assert message in str(raised.value)


def test_a_damaged_length_does_not_swallow_the_file(tmp_path: Path):
    path = tmp_path / "damaged.tfrecord"
    write_records(path, [encode_row(row) for row in small_rows()])
    raw = bytearray(path.read_bytes())
    raw[7] = 0x7F  # the first record now claims a length of petabytes
    path.write_bytes(bytes(raw))
    with pytest.raises(BenchmarkFileError, match="record 0 .* bad length checksum"):
        read_columns(path)
