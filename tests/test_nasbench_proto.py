"""The ModelMetrics wire-format reader and writer."""

import struct

import pytest

from nasbench1shot1.nasbench.proto import (
    EvaluationData,
    ModelMetrics,
    WireFormatError,
    decode_model_metrics,
    encode_model_metrics,
)


def _metrics() -> ModelMetrics:
    points = [
        EvaluationData(0.0, 0.0, 0.1, 0.1, 0.1, "gs://a/ckpt-0"),
        EvaluationData(54.0, 1500.25, 0.9, 0.85, 0.84, "gs://a/ckpt-54"),
        EvaluationData(108.0, 3000.5, 1.0, 0.93, 0.9311898946762085, "gs://a/ckpt-108 é"),
    ]
    return ModelMetrics(points, 8_555_530, 3100.75)


def test_round_trip_keeps_every_field():
    metrics = _metrics()
    assert decode_model_metrics(encode_model_metrics(metrics)) == metrics


def test_negative_int32_uses_ten_byte_varint_and_reads_back():
    metrics = ModelMetrics([], -5, 0.0)
    data = encode_model_metrics(metrics)
    assert data[:11] == bytes([0x10]) + b"\xfb" + b"\xff" * 8 + b"\x01"
    assert decode_model_metrics(data).trainable_parameters == -5


def test_hand_encoded_message_matches_protobuf_layout():
    # Field 2 varint 150 (the protobuf guide's example), field 3 double 2.5, one empty point.
    data = b"\x10\x96\x01" + b"\x19" + struct.pack("<d", 2.5) + b"\x0a\x00"
    metrics = decode_model_metrics(data)
    assert metrics == ModelMetrics([EvaluationData()], 150, 2.5)


def test_absent_fields_read_as_proto2_defaults():
    assert decode_model_metrics(b"") == ModelMetrics([], 0, 0.0)


def test_unknown_fields_of_every_wire_type_are_skipped():
    unknown = (
        b"\x78\x2a"  # field 15 varint
        + b"\x79"
        + b"\x00" * 8  # field 15 fixed64
        + b"\x7a\x03abc"  # field 15 length-delimited
        + b"\x7d"
        + b"\x00" * 4  # field 15 fixed32
        + b"\x7b\x08\x01\x7c"  # field 15 group holding field 1 varint
    )
    known = encode_model_metrics(_metrics())
    assert decode_model_metrics(unknown + known + unknown) == _metrics()


@pytest.mark.parametrize(
    ("data", "detail"),
    [
        (b"\x10", "truncated varint"),
        (b"\x10" + b"\xff" * 11, "longer than 10 bytes"),
        (b"\x19\x00\x00", "is truncated"),
        (b"\x0a\x05\x00", "runs past the end"),
        (b"\x18\x01", "has wire type 0, expected 1"),
        (b"\x00\x01", "field number 0"),
        (b"\x7b\x08\x01", "truncated varint"),
        (b"\x7b\x74", "closed by end-group 14"),
        (b"\x7f", "invalid wire type 7"),
        (b"\x0a\x03\x32\x01\xff", "not UTF-8"),
    ],
)
def test_malformed_messages_raise_wire_format_error(data: bytes, detail: str):
    with pytest.raises(WireFormatError, match=detail):
        decode_model_metrics(data)
