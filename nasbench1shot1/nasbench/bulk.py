"""Decoding many records of an official file at once with numpy.

`tfrecord.py` reads one record at a time in Python; this module decodes a whole batch of
records with array operations over the file's bytes: the JSON row layout that `json.dumps`
writes, the base64 of the metrics, and the protobuf `ModelMetrics` messages (a lock-step walk
over the fields of every message at once). It never guesses: every byte of a record is checked
against the layout, and a record that does not fit it exactly (another JSON spacing, escapes,
unknown wire types, non-ASCII strings, anything malformed) is flagged, so that the caller
decodes it with the per-record code, which gives its values or its error message.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .proto import _SCHEMAS, EvaluationData, ModelMetrics

_QUOTE, _COMMA, _SPACE = ord('"'), ord(","), ord(" ")
_QUOTES_PER_ROW = 8  # four strings: hash, adjacency, operations, metrics
_MAX_EPOCH_DIGITS = 9
_MAX_ADJACENCY = 49
#: The longest operations string: input, five of the longest op, output.
OPERATIONS_WIDTH = 96
_KEY_BYTES = 5  # a key or length longer than this is left to the per-record decoder
_VARINT_BYTES = 10
_FIXED64, _LENGTH_DELIMITED = 1, 2

_BASE64 = np.full(256, 255, dtype=np.uint8)
_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_BASE64[np.frombuffer(_ALPHABET, np.uint8)] = np.arange(64, dtype=np.uint8)
_PAD = 64
_BASE64[ord("=")] = _PAD


#: Zero bytes that arrays given to this module must have after their content, so that every
#: fixed-width window read from a position inside the content stays inside the array.
PADDING = 128


def padded(content: bytes | np.ndarray) -> np.ndarray:
    """`content` as a uint8 array followed by PADDING zero bytes."""
    data = np.zeros(len(content) + PADDING, dtype=np.uint8)
    data[: len(content)] = np.frombuffer(content, dtype=np.uint8)
    return data


def _gather(data: np.ndarray, starts: np.ndarray, width: int) -> np.ndarray:
    """(len(starts), width) bytes from each start on (a copy; `data` is padded)."""
    return sliding_window_view(data, width)[starts]


@dataclass
class RowFields:
    """What the JSON layout of a batch of rows holds; rows with `ok` False are left out."""

    ok: np.ndarray  # (rows,) bool
    digests: np.ndarray  # (rows, 32) uint8 lowercase hex
    epochs: np.ndarray  # (rows,) int64
    num_vertices: np.ndarray  # (rows,) int64
    adjacency_bits: np.ndarray  # (rows,) uint64
    operations: np.ndarray  # (rows, OPERATIONS_WIDTH) uint8, zero after the string
    metrics: np.ndarray  # (rows, 2) int64: start and end of the base64 text


def split_rows(data: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> RowFields:
    """Locate and check the fields of rows `data[starts[i]:ends[i]]` written by `json.dumps`:
    `["<hash>", <epochs>, "<adjacency>", "<operations>", "<metrics>"]`."""
    rows = len(starts)
    quotes = np.flatnonzero(data == _QUOTE)
    owner = np.searchsorted(starts, quotes, side="right") - 1
    inside = owner >= 0
    inside[inside] = quotes[inside] < ends[owner[inside]]
    quotes, owner = quotes[inside], owner[inside]
    counts = np.bincount(owner, minlength=rows)
    ok = counts == _QUOTES_PER_ROW
    first = np.cumsum(counts) - counts
    at = np.zeros((rows, _QUOTES_PER_ROW), dtype=np.int64)
    at[ok] = quotes[first[ok, None] + np.arange(_QUOTES_PER_ROW)]
    at[~ok] = starts[~ok, None] + 1  # any in-bounds place: these rows are flagged already
    q = at.T
    # `["` before the hash, `"]` at the end, `", "` between the strings.
    ends_safe = np.maximum(ends - 1, 0)
    ok &= (data[starts] == ord("[")) & (q[0] == starts + 1)
    ok &= (q[7] == ends - 2) & (data[ends_safe] == ord("]"))
    for closing in (3, 5):
        ok &= q[closing + 1] == q[closing] + 3
        ok &= (data[q[closing] + 1] == _COMMA) & (data[q[closing] + 2] == _SPACE)

    ok &= q[1] - q[0] == 33
    digests = _gather(data, q[0] + 1, 32)
    is_hex = ((digests >= ord("0")) & (digests <= ord("9"))) | (
        (digests >= ord("a")) & (digests <= ord("f"))
    )
    ok &= is_hex.all(axis=1)

    # `, <epochs>, ` between the hash and the adjacency: a positive integer, no leading zero.
    digits = q[2] - q[1] - 5
    ok &= (digits >= 1) & (digits <= _MAX_EPOCH_DIGITS)
    text = _gather(data, q[1] + 1, _MAX_EPOCH_DIGITS + 4)
    row_index = np.arange(rows)
    ok &= (text[:, 0] == _COMMA) & (text[:, 1] == _SPACE)
    safe_digits = np.clip(digits, 1, _MAX_EPOCH_DIGITS)
    ok &= text[row_index, safe_digits + 2] == _COMMA
    ok &= text[row_index, safe_digits + 3] == _SPACE
    values = text[:, 2 : 2 + _MAX_EPOCH_DIGITS].astype(np.int64) - ord("0")
    in_number = np.arange(_MAX_EPOCH_DIGITS) < safe_digits[:, None]
    ok &= ((values >= 0) & (values <= 9) | ~in_number).all(axis=1) & (values[:, 0] > 0)
    epochs = np.zeros(rows, dtype=np.int64)
    for j in range(_MAX_EPOCH_DIGITS):
        epochs = np.where(in_number[:, j], epochs * 10 + values[:, j], epochs)

    size = q[3] - q[2] - 1
    num_vertices = np.sqrt(np.clip(size, 0, _MAX_ADJACENCY)).astype(np.int64)
    ok &= (num_vertices * num_vertices == size) & (num_vertices >= 2)
    matrix = _gather(data, q[2] + 1, _MAX_ADJACENCY).astype(np.int64) - ord("0")
    in_matrix = np.arange(_MAX_ADJACENCY) < size[:, None]
    ok &= ((matrix == 0) | (matrix == 1) | ~in_matrix).all(axis=1)
    # Character j of an s-character string is bit s - 1 - j of the number.
    shift = np.clip(size[:, None] - 1 - np.arange(_MAX_ADJACENCY), 0, None).astype(np.uint64)
    bits = np.where(in_matrix, matrix, 0).astype(np.uint64) << shift
    adjacency_bits = np.bitwise_or.reduce(bits, axis=1)

    length = q[5] - q[4] - 1
    ok &= (length > 0) & (length <= OPERATIONS_WIDTH)
    operations = _gather(data, q[4] + 1, OPERATIONS_WIDTH)
    in_operations = np.arange(OPERATIONS_WIDTH) < length[:, None]
    # A zero byte would vanish when the string is cut at its first padding zero.
    ok &= ((operations != 0) | ~in_operations).all(axis=1)
    operations[~in_operations] = 0

    metrics = np.stack([q[6] + 1, q[7]], axis=1)
    return RowFields(ok, digests, epochs, num_vertices, adjacency_bits, operations, metrics)


def group_rows(values: np.ndarray, ok: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct rows of a (rows, width) uint8 array: (first row of each, group of every row, ok).

    Rows are grouped by a 64-bit key and each row is then compared with the first row of its
    group, so a key shared by different rows only sends those rows to `ok` False.
    """
    words = np.ascontiguousarray(values).view(np.uint64)
    keys = np.zeros(len(words), dtype=np.uint64)
    for column in words.T:  # a multiply-xorshift chain over the words of each row
        keys ^= column
        keys *= np.uint64(0x9E3779B97F4A7C15)
        keys ^= keys >> np.uint64(29)
    _, first, group = np.unique(keys, return_index=True, return_inverse=True)
    same = (values == values[first[group]]).all(axis=1)
    return first, group.reshape(-1), ok & same


def decode_base64(
    data: np.ndarray, spans: np.ndarray, ok: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Base64 texts `data[start:end]` of each row decoded into one padded array.

    Returns the decoded bytes, the (rows, 2) start and end of each row's message in them, and
    `ok` narrowed to the rows whose text is strict, canonical base64 (length a multiple of 4,
    only the alphabet, at most two '=' at the very end, no stray bits before them).
    """
    lengths = spans[:, 1] - spans[:, 0]
    ok = ok & (lengths % 4 == 0) & (lengths > 0) & (lengths <= PADDING * 64)
    lengths = np.where(ok, lengths, 4)
    width = int(lengths.max(initial=4))
    if width > PADDING:
        data = np.concatenate([data, np.zeros(width, dtype=np.uint8)])
    sextets = _BASE64[_gather(data, spans[:, 0], width)]
    column = np.arange(width)
    sextets[column >= lengths[:, None]] = 0
    from_end = lengths[:, None] - column  # 1 for the last character of a text
    ok &= ~((sextets == 255) | ((sextets == _PAD) & (from_end > 2))).any(axis=1)
    rows = np.arange(len(lengths))
    last, before = sextets[rows, lengths - 1], sextets[rows, lengths - 2]
    # '=' then a letter ("AB=C") is not padding.
    ok &= ~((before == _PAD) & (last != _PAD))
    pads = (last == _PAD).astype(np.int64) + (before == _PAD)
    sextets[sextets == _PAD] = 0
    values = sextets.reshape(len(lengths), width // 4, 4).astype(np.uint32)
    word = (values[..., 0] << 18) | (values[..., 1] << 12) | (values[..., 2] << 6) | values[..., 3]
    # The bits a padded quad drops must be zero, as an encoder writes them.
    final = word[rows, lengths // 4 - 1]
    ok &= np.where(pads == 1, final & 0xFF, np.where(pads == 2, final & 0xFFFF, 0)) == 0
    stride = width // 4 * 3
    decoded = np.zeros(len(lengths) * stride + PADDING, dtype=np.uint8)
    triples = decoded[: len(lengths) * stride].reshape(len(lengths), width // 4, 3)
    triples[..., 0] = word >> 16
    triples[..., 1] = word >> 8
    triples[..., 2] = word
    starts = rows * stride
    messages = np.stack([starts, starts + lengths // 4 * 3 - pads], axis=1)
    return decoded, messages, ok


def _varints(
    data: np.ndarray, pos: np.ndarray, end: np.ndarray, max_bytes: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Varints at `pos` (each before its `end`): (low 64 bits of the value, position after, ok)."""
    first = data[pos]
    if (first < 0x80).all():  # one byte each: every key and length of the official files
        return first.astype(np.uint64), pos + 1, pos < end
    window = _gather(data, pos, max_bytes)
    stops = window < 0x80
    stops &= (pos[:, None] + np.arange(max_bytes)) < end[:, None]
    ok = stops.any(axis=1)
    size = np.where(ok, stops.argmax(axis=1) + 1, 1)
    value = np.zeros(len(pos), dtype=np.uint64)
    for i in range(max_bytes - 1, -1, -1):
        byte = np.where(i < size, window[:, i] & 0x7F, 0).astype(np.uint64)
        value = (value << np.uint64(7)) | byte
    return value, pos + size, ok


def _fixed64(data: np.ndarray, pos: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(_gather(data, pos, 8)).view("<f8").reshape(-1)


@dataclass
class Messages:
    """Fields of a batch of messages of one type, read by `walk`."""

    ok: np.ndarray  # (messages,) bool; False: leave the message to the per-record decoder
    values: dict[str, np.ndarray]  # scalar fields, the proto2 default where absent, last wins
    children: np.ndarray  # (children, 4) int64: message, order, start, end of each sub-message


def walk(data: np.ndarray, spans: np.ndarray, ok: np.ndarray, message_type: type) -> Messages:
    """Read messages of `message_type` (`data[start:end]` for each span) in lock step: each
    round reads one field of every message not yet at its end."""
    count = len(spans)
    pos, end = spans[:, 0].copy(), spans[:, 1]
    ok = ok.copy()
    schema = _SCHEMAS[message_type]
    kinds = {number: kind for number, (_, kind) in schema.items()}
    values: dict[str, np.ndarray] = {}
    for name, kind in schema.values():
        if kind == "double":
            values[name] = np.zeros(count)
        elif kind == "int32":
            values[name] = np.zeros(count, dtype=np.int64)
    children = []
    step = 0
    while (active := np.flatnonzero(ok & (pos < end))).size:
        step += 1
        at, stop = pos[active], end[active]
        key, at, fine = _varints(data, at, stop, _KEY_BYTES)
        number, wire = (key >> np.uint64(3)).astype(np.int64), (key & np.uint64(7)).astype(np.int64)
        fine &= number > 0
        after = at.copy()
        for field_number in np.unique(number[fine]):
            kind = kinds.get(int(field_number))
            rows = np.flatnonzero(fine & (number == field_number))
            expected = None if kind is None else _WIRE_OF_KIND[kind]
            if expected is not None:
                wrong = wire[rows] != expected
                fine[rows[wrong]] = False  # the per-record decoder names the field
                rows = rows[~wrong]
            if kind == "double":
                name = schema[int(field_number)][0]
                fits = at[rows] + 8 <= stop[rows]
                fine[rows[~fits]] = False
                rows = rows[fits]
                values[name][active[rows]] = _fixed64(data, at[rows])
                after[rows] = at[rows] + 8
            elif kind == "int32":
                name = schema[int(field_number)][0]
                raw, after[rows], read = _varints(data, at[rows], stop[rows], _VARINT_BYTES)
                fine[rows[~read]] = False
                low = (raw & np.uint64(0xFFFFFFFF)).astype(np.uint32).view(np.int32)
                values[name][active[rows[read]]] = low[read]
            else:
                after[rows], fine[rows] = _skip(data, at[rows], stop[rows], wire[rows], fine[rows])
                if kind is not None:
                    length_start = _length_start(data, at[rows], stop[rows])
                    if kind == "string":
                        fine[rows] &= _ascii(data, length_start, after[rows])
                    else:
                        children.append(
                            np.stack(
                                [active[rows], np.full(len(rows), step), length_start, after[rows]],
                                axis=1,
                            )[fine[rows]]
                        )
        ok[active[~fine]] = False
        pos[active] = np.where(fine, after, stop)
    if children:
        found = np.concatenate(children)
        found = found[np.lexsort((found[:, 1], found[:, 0]))]
    else:
        found = np.zeros((0, 4), dtype=np.int64)
    return Messages(ok, values, found)


_WIRE_OF_KIND = {"double": 1, "int32": 0, "string": 2, "repeated EvaluationData": 2}


def _length_start(data: np.ndarray, pos: np.ndarray, end: np.ndarray) -> np.ndarray:
    """Where the content of length-delimited fields starts (after their length varint)."""
    return _varints(data, pos, end, _KEY_BYTES)[1]


def _skip(
    data: np.ndarray, pos: np.ndarray, end: np.ndarray, wire: np.ndarray, ok: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Position after the value of each field and whether it was readable; groups and
    unknown wire types are left to the per-record decoder."""
    after = pos.copy()
    ok = ok.copy()
    is_varint = wire == 0
    _, after[is_varint], read = _varints(data, pos[is_varint], end[is_varint], _VARINT_BYTES)
    ok[is_varint] &= read
    for wire_type, size in ((1, 8), (5, 4)):
        fixed = wire == wire_type
        after[fixed] = pos[fixed] + size
    delimited = wire == _LENGTH_DELIMITED
    length, start, read = _varints(data, pos[delimited], end[delimited], _KEY_BYTES)
    after[delimited] = start + length.astype(np.int64)
    ok[delimited] &= read
    ok &= np.isin(wire, (0, 1, 2, 5)) & (after <= end)
    return after, ok


def _ascii(data: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Whether every byte of each range is ASCII (so the string is valid UTF-8)."""
    high = np.concatenate([[0], np.cumsum(data >= 0x80, dtype=np.int64)])
    return high[ends] == high[starts]


@dataclass
class Runs:
    """The values of a batch of `ModelMetrics` messages that a benchmark table keeps."""

    ok: np.ndarray  # (messages,) bool
    trainable_parameters: np.ndarray  # (messages,) int64
    halfway: dict[str, np.ndarray]  # EvaluationData field -> (messages,) float64
    final: dict[str, np.ndarray]


def read_model_metrics(
    data: np.ndarray, spans: np.ndarray, ok: np.ndarray, evaluation_points: int
) -> Runs:
    """Decode `ModelMetrics` messages; a message needs `evaluation_points` evaluation data, of
    which the second is the halfway point and the third the end."""
    top = walk(data, spans, ok, ModelMetrics)
    ok = top.ok
    children = top.children
    points = np.bincount(children[:, 0], minlength=len(spans))
    ok &= points >= evaluation_points
    inner = walk(data, children[:, 2:], np.ones(len(children), dtype=bool), EvaluationData)
    broken = np.zeros(len(spans), dtype=bool)
    broken[children[~inner.ok, 0]] = True
    ok &= ~broken
    first = np.cumsum(points) - points
    order = np.arange(len(children)) - first[children[:, 0]]
    evaluations = {}
    for point in (1, 2):
        chosen = np.flatnonzero(order == point)
        owners = children[chosen, 0]
        evaluations[point] = {}
        for name, values in inner.values.items():
            column = np.zeros(len(spans))
            column[owners] = values[chosen]
            evaluations[point][name] = column
    return Runs(ok, top.values["trainable_parameters"], evaluations[1], evaluations[2])
