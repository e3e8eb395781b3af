"""The `ModelMetrics` protocol buffer of NAS-Bench-101, in plain Python.

The official files store each training run as a serialized proto2 `ModelMetrics` message. This
module owns the two message types and a small reader and writer of the protobuf wire format for
exactly them (varints, 64-bit doubles, length-delimited strings and sub-messages), so no protobuf
or TensorFlow install is needed. Unknown fields are skipped as protobuf does, groups included.
Absent optional fields read as their proto2 defaults (0 and ""), as the reference API sees them.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

_VARINT, _FIXED64, _LENGTH_DELIMITED, _START_GROUP, _END_GROUP, _FIXED32 = 0, 1, 2, 3, 4, 5
_MAX_VARINT_BYTES = 10
_DOUBLE = struct.Struct("<d")


class WireFormatError(ValueError):
    """Bytes that are not a well-formed message of the expected type."""


@dataclass
class EvaluationData:
    """Metrics at one evaluation point of a training run (start, halfway or end)."""

    current_epoch: float = 0.0
    training_time: float = 0.0
    train_accuracy: float = 0.0
    validation_accuracy: float = 0.0
    test_accuracy: float = 0.0
    checkpoint_path: str = ""


@dataclass
class ModelMetrics:
    """One training run of one cell: its evaluation points, size and total wall time."""

    evaluation_data: list[EvaluationData] = field(default_factory=list)
    trainable_parameters: int = 0
    total_time: float = 0.0


# Field number -> (attribute, kind); the kinds fix the wire type and how a value is read.
_SCHEMAS: dict[type, dict[int, tuple[str, str]]] = {
    EvaluationData: {
        1: ("current_epoch", "double"),
        2: ("training_time", "double"),
        3: ("train_accuracy", "double"),
        4: ("validation_accuracy", "double"),
        5: ("test_accuracy", "double"),
        6: ("checkpoint_path", "string"),
    },
    ModelMetrics: {
        1: ("evaluation_data", "repeated EvaluationData"),
        2: ("trainable_parameters", "int32"),
        3: ("total_time", "double"),
    },
}
_WIRE_TYPE_OF_KIND = {
    "double": _FIXED64,
    "int32": _VARINT,
    "string": _LENGTH_DELIMITED,
    "repeated EvaluationData": _LENGTH_DELIMITED,
}
# Field key (number << 3 | wire type) -> (attribute, kind), for known fields with the right type.
_KNOWN_KEYS = {
    message_type: {
        number << 3 | _WIRE_TYPE_OF_KIND[kind]: (name, kind)
        for number, (name, kind) in schema.items()
    }
    for message_type, schema in _SCHEMAS.items()
}


def _read_varint(buf: bytes, pos: int) -> tuple[int, int]:
    if pos < len(buf) and buf[pos] < 0x80:  # one byte: every key and most lengths
        return buf[pos], pos + 1
    value = 0
    for i in range(_MAX_VARINT_BYTES):
        if pos + i >= len(buf):
            raise WireFormatError(f"truncated varint at byte {pos}")
        byte = buf[pos + i]
        value |= (byte & 0x7F) << (7 * i)
        if byte < 0x80:
            return value, pos + i + 1
    raise WireFormatError(f"varint longer than {_MAX_VARINT_BYTES} bytes at byte {pos}")


def _read_length_delimited(buf: bytes, pos: int) -> tuple[bytes, int]:
    length, start = _read_varint(buf, pos)
    end = start + length
    if end > len(buf):
        raise WireFormatError(f"field at byte {pos} runs past the end of the message")
    return buf[start:end], end


def _skip_field(buf: bytes, pos: int, number: int, wire_type: int) -> int:
    """Position after the value of an unknown field whose key ended at `pos`."""
    if wire_type == _VARINT:
        return _read_varint(buf, pos)[1]
    if wire_type == _LENGTH_DELIMITED:
        return _read_length_delimited(buf, pos)[1]
    if wire_type in (_FIXED64, _FIXED32):
        end = pos + (8 if wire_type == _FIXED64 else 4)
        if end > len(buf):
            raise WireFormatError(
                f"fixed-size field at byte {pos} runs past the end of the message"
            )
        return end
    if wire_type == _START_GROUP:
        while True:
            key, pos = _read_varint(buf, pos)
            if key & 7 == _END_GROUP:
                if key >> 3 != number:
                    raise WireFormatError(f"group {number} closed by end-group {key >> 3}")
                return pos
            pos = _skip_field(buf, pos, key >> 3, key & 7)
    raise WireFormatError(f"invalid wire type {wire_type} for field {number}")


def _decode(buf: bytes, message_type: type) -> EvaluationData | ModelMetrics:
    known_keys = _KNOWN_KEYS[message_type]
    values: dict[str, object] = {}
    pos, end = 0, len(buf)
    while pos < end:
        key_pos = pos
        key, pos = _read_varint(buf, pos)
        if key not in known_keys:
            number, wire_type = key >> 3, key & 7
            if number == 0:
                raise WireFormatError(f"field number 0 at byte {key_pos}")
            if number in _SCHEMAS[message_type]:
                name, kind = _SCHEMAS[message_type][number]
                raise WireFormatError(
                    f"field {name} at byte {key_pos} has wire type {wire_type}, "
                    f"expected {_WIRE_TYPE_OF_KIND[kind]}"
                )
            pos = _skip_field(buf, pos, number, wire_type)
            continue
        name, kind = known_keys[key]
        if kind == "double":
            if pos + 8 > end:
                raise WireFormatError(f"double {name} at byte {key_pos} is truncated")
            values[name] = _DOUBLE.unpack_from(buf, pos)[0]
            pos += 8
        elif kind == "int32":
            raw, pos = _read_varint(buf, pos)
            # int32 is sign-extended to 64 bits on the wire; keep the low 32 bits, signed.
            raw &= 0xFFFFFFFF
            values[name] = raw - (1 << 32) if raw >= 1 << 31 else raw
        elif kind == "string":
            chunk, pos = _read_length_delimited(buf, pos)
            try:
                values[name] = chunk.decode("utf-8")
            except UnicodeDecodeError:
                raise WireFormatError(f"string {name} at byte {key_pos} is not UTF-8") from None
        else:
            chunk, pos = _read_length_delimited(buf, pos)
            values.setdefault(name, []).append(_decode(chunk, EvaluationData))
    return message_type(**values)


def decode_model_metrics(data: bytes) -> ModelMetrics:
    """Parse a serialized `ModelMetrics`; raises `WireFormatError` for malformed bytes."""
    return _decode(bytes(data), ModelMetrics)


def _encode_varint(value: int) -> bytes:
    out = bytearray()
    while True:
        low = value & 0x7F
        value >>= 7
        if value:
            out.append(low | 0x80)
        else:
            out.append(low)
            return bytes(out)


def _encode(message: EvaluationData | ModelMetrics) -> bytes:
    out = bytearray()
    for number, (name, kind) in _SCHEMAS[type(message)].items():
        key = _encode_varint(number << 3 | _WIRE_TYPE_OF_KIND[kind])
        value = getattr(message, name)
        if kind == "double":
            out += key + _DOUBLE.pack(value)
        elif kind == "int32":
            if not -(1 << 31) <= value < 1 << 31:
                raise ValueError(f"{name} = {value} does not fit in an int32")
            out += key + _encode_varint(value & 0xFFFFFFFFFFFFFFFF)
        elif kind == "string":
            text = value.encode("utf-8")
            out += key + _encode_varint(len(text)) + text
        else:
            for item in value:
                body = _encode(item)
                out += key + _encode_varint(len(body)) + body
    return bytes(out)


def encode_model_metrics(metrics: ModelMetrics) -> bytes:
    """Serialize a `ModelMetrics` in the protobuf wire format, every field written explicitly."""
    return _encode(metrics)
