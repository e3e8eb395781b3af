"""Reading and writing the official NAS-Bench-101 files (TFRecord framing and row codec).

A file is a sequence of TFRecord records: an 8-byte little-endian length, the masked CRC32C of
those 8 bytes, the data, and the masked CRC32C of the data. The data of each record is one
training run, the UTF-8 JSON list `[module_hash, epochs, adjacency, operations, metrics]`:
the adjacency as a string of '0'/'1' over a square matrix, the operations comma-joined, and the
metrics a base64 `ModelMetrics` message. This module owns the framing (`read_records`,
`write_records`), the row codec (`decode_row`, `encode_row`) and a columnar reader of a whole
file (`read_columns`) that the table builder uses. Every damaged input raises
`BenchmarkFileError` naming the file and the record, counted from 0.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import os
import re
import struct
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import IO

import crc32c
import numpy as np

from . import bulk
from .errors import BenchmarkFileError, missing_file
from .hashes import hash_words
from .proto import ModelMetrics, WireFormatError, decode_model_metrics, encode_model_metrics
from .spec import AVAILABLE_OPS, INPUT, INPUT_LABEL, OUTPUT, OUTPUT_LABEL

#: Vertices of the largest NAS-Bench-101 cell; tables pad every cell to this size.
MAX_VERTICES = 7
#: The per-run metrics of the reference API: evaluation point 1 is halfway, point 2 the end.
METRIC_FIELDS: tuple[str, ...] = tuple(
    f"{point}_{name}"
    for point in ("halfway", "final")
    for name in ("training_time", "train_accuracy", "validation_accuracy", "test_accuracy")
)

_HEADER = struct.Struct("<QI")
_LENGTH = struct.Struct("<Q")
#: Bytes of the file framed and checked at a time.
_BLOCK_BYTES = 1 << 23
_CRC = struct.Struct("<I")
_CRC_MASK_DELTA = 0xA282EAD8
_HASH_PATTERN = re.compile(r"[0-9a-f]{32}")
_LABEL_OF_OP = {INPUT: INPUT_LABEL, OUTPUT: OUTPUT_LABEL} | {
    op: label for label, op in enumerate(AVAILABLE_OPS)
}
_EVALUATION_POINTS = 3


def masked_crc32c(data: bytes | memoryview) -> int:
    """The TFRecord checksum: CRC32C rotated right by 15 bits plus a constant, modulo 2**32."""
    crc = crc32c.crc32c(data)
    return (((crc >> 15) | (crc << 17)) + _CRC_MASK_DELTA) & 0xFFFFFFFF


def record_location(index: int, path: str | os.PathLike) -> str:
    """How error messages name a record: its 0-based position and the file."""
    return f"record {index} (0-based) of {path}"


def read_records(path: str | os.PathLike) -> Iterator[bytes]:
    """Yield the data of each record of a TFRecord file, checking framing and both checksums."""
    path = Path(path)
    try:
        stream = open(path, "rb", buffering=1 << 20)  # noqa: SIM115 - closed by the with below
    except FileNotFoundError:
        raise missing_file(path) from None
    except OSError as exc:
        raise BenchmarkFileError(f"cannot open benchmark file {path} ({exc.strerror})") from None
    with stream:
        index = 0
        try:
            while header := stream.read(_HEADER.size):
                where = record_location(index, path)
                if len(header) < _HEADER.size:
                    raise BenchmarkFileError(
                        f"{where} is truncated: its header has {len(header)} "
                        f"of {_HEADER.size} bytes"
                    )
                length, length_crc = _HEADER.unpack(header)
                if masked_crc32c(header[:8]) != length_crc:
                    raise BenchmarkFileError(
                        f"{where} has a bad length checksum (damaged, or not a TFRecord file)"
                    )
                body = stream.read(length + _CRC.size)
                if len(body) < length + _CRC.size:
                    raise BenchmarkFileError(
                        f"{where} is truncated: it needs {length + _CRC.size} bytes "
                        f"after its header but the file has {len(body)}"
                    )
                data = body[:length]
                if masked_crc32c(data) != _CRC.unpack_from(body, length)[0]:
                    raise BenchmarkFileError(f"{where} has a bad data checksum (damaged file)")
                yield data
                index += 1
        except OSError as exc:
            raise BenchmarkFileError(
                f"reading {record_location(index, path)} failed ({exc.strerror})"
            ) from None


def write_records(path: str | os.PathLike, records: Iterable[bytes]) -> int:
    """Write records in TFRecord framing; returns how many were written."""
    count = 0
    with open(path, "wb") as stream:
        for data in records:
            length = struct.pack("<Q", len(data))
            stream.write(length + _CRC.pack(masked_crc32c(length)))
            stream.write(data + _CRC.pack(masked_crc32c(data)))
            count += 1
    return count


@dataclass
class BenchmarkRow:
    """One record of an official file: one training run of one cell at one epoch budget."""

    module_hash: str
    epochs: int
    adjacency: np.ndarray
    operations: list[str]
    metrics: ModelMetrics


def encode_row(row: BenchmarkRow) -> bytes:
    """The record data of a row, in the official JSON + base64 + protobuf layout."""
    matrix = np.asarray(row.adjacency).astype(bool)
    raw_adjacency = (matrix.astype(np.uint8) + ord("0")).tobytes().decode("ascii")
    raw_metrics = base64.b64encode(encode_model_metrics(row.metrics)).decode("ascii")
    fields = [
        row.module_hash,
        int(row.epochs),
        raw_adjacency,
        ",".join(row.operations),
        raw_metrics,
    ]
    return json.dumps(fields).encode("utf-8")


def _split_row(data: bytes, where: str) -> tuple[str, int, str, str, ModelMetrics]:
    """Parse and check the JSON list of a record; the metrics come back decoded."""
    try:
        fields = json.loads(data)
    except ValueError:
        raise BenchmarkFileError(f"{where} is not valid UTF-8 JSON") from None
    if not isinstance(fields, list) or len(fields) != 5:
        raise BenchmarkFileError(
            f"{where} is not a JSON list of 5 fields "
            "[module_hash, epochs, adjacency, operations, metrics]"
        )
    module_hash, epochs, raw_adjacency, raw_operations, raw_metrics = fields
    if not isinstance(module_hash, str) or not _HASH_PATTERN.fullmatch(module_hash):
        raise BenchmarkFileError(f"{where} has module hash {module_hash!r}, expected 32 hex digits")
    if type(epochs) is not int or epochs <= 0:
        raise BenchmarkFileError(f"{where} has epochs {epochs!r}, expected a positive integer")
    if not all(isinstance(value, str) for value in (raw_adjacency, raw_operations, raw_metrics)):
        raise BenchmarkFileError(f"{where} has a non-string adjacency, operations or metrics field")
    try:
        proto = base64.b64decode(raw_metrics, validate=True)
    except (binascii.Error, ValueError):
        raise BenchmarkFileError(f"{where} has invalid base64 in its metrics field") from None
    try:
        metrics = decode_model_metrics(proto)
    except WireFormatError as exc:
        raise BenchmarkFileError(f"{where} has a malformed ModelMetrics message ({exc})") from None
    if len(metrics.evaluation_data) < _EVALUATION_POINTS:
        raise BenchmarkFileError(
            f"{where} has {len(metrics.evaluation_data)} evaluation points in its metrics, "
            f"expected {_EVALUATION_POINTS} (start, halfway, end)"
        )
    return module_hash, epochs, raw_adjacency, raw_operations, metrics


def _adjacency_size(raw_adjacency: str, where: str) -> int:
    """Number of vertices of a '0'/'1' adjacency string, checked."""
    dim = math.isqrt(len(raw_adjacency))
    if dim * dim != len(raw_adjacency) or not 2 <= dim <= MAX_VERTICES:
        raise BenchmarkFileError(
            f"{where} has a {len(raw_adjacency)}-character adjacency, expected n*n characters "
            f"for n from 2 to {MAX_VERTICES}"
        )
    if raw_adjacency.strip("01"):
        raise BenchmarkFileError(f"{where} has an adjacency with characters other than '0' and '1'")
    return dim


# Operation strings seen so far and their labels (None: not a cell's operations); a file has at
# most a few hundred distinct ones.
_labels_of_operations: dict[str, tuple[int, ...] | None] = {}


def parse_operations(raw_operations: str) -> tuple[int, ...] | None:
    """The labels of a comma-joined operations string, None unless it is input, ops, output."""
    if raw_operations not in _labels_of_operations:
        names = raw_operations.split(",")
        valid = (
            len(names) >= 2
            and names[0] == INPUT
            and names[-1] == OUTPUT
            and all(name in AVAILABLE_OPS for name in names[1:-1])
        )
        labels = tuple(_LABEL_OF_OP[name] for name in names) if valid else None
        _labels_of_operations[raw_operations] = labels
    return _labels_of_operations[raw_operations]


def _operation_labels(raw_operations: str, dim: int, where: str) -> tuple[int, ...]:
    labels = parse_operations(raw_operations)
    if labels is None:
        raise BenchmarkFileError(
            f"{where} has operations {raw_operations!r}, expected '{INPUT}', then ops from "
            f"{list(AVAILABLE_OPS)}, then '{OUTPUT}'"
        )
    if len(labels) != dim:
        raise BenchmarkFileError(f"{where} has {len(labels)} operations for {dim} vertices")
    return labels


def decode_row(data: bytes, where: str = "record") -> BenchmarkRow:
    """Parse the data of one record; `where` names the record in error messages."""
    module_hash, epochs, raw_adjacency, raw_operations, metrics = _split_row(data, where)
    dim = _adjacency_size(raw_adjacency, where)
    labels = _operation_labels(raw_operations, dim, where)
    digits = np.frombuffer(raw_adjacency.encode("ascii"), dtype=np.uint8)
    adjacency = (digits - ord("0")).astype(np.int8).reshape(dim, dim)
    operations = [INPUT] + [AVAILABLE_OPS[label] for label in labels[1:-1]] + [OUTPUT]
    return BenchmarkRow(module_hash, epochs, adjacency, operations, metrics)


def read_rows(path: str | os.PathLike) -> Iterator[BenchmarkRow]:
    """Yield every row of an official file, decoded."""
    for index, data in enumerate(read_records(path)):
        yield decode_row(data, record_location(index, path))


def write_rows(path: str | os.PathLike, rows: Iterable[BenchmarkRow]) -> int:
    """Write rows as an official file; returns how many were written."""
    return write_records(path, (encode_row(row) for row in rows))


@dataclass
class RecordColumns:
    """Every record of a file as columns, one entry per record in file order.

    `adjacency_bits` holds the '0'/'1' adjacency string read as a binary number (first
    character most significant) and `ops` the vertex labels padded with 0 to `MAX_VERTICES`.
    """

    hash_words: np.ndarray  # (records, 2) uint64: md5 digest as two big-endian words
    epochs: np.ndarray  # (records,) int64
    num_vertices: np.ndarray  # (records,) int8
    adjacency_bits: np.ndarray  # (records,) uint64
    ops: np.ndarray  # (records, MAX_VERTICES) int8
    trainable_parameters: np.ndarray  # (records,) int64
    metrics: dict[str, np.ndarray]  # METRIC_FIELDS -> (records,) float64

    def __len__(self) -> int:
        return len(self.epochs)

    @classmethod
    def empty(cls, count: int = 0) -> RecordColumns:
        """Columns for `count` records, values unset."""
        return cls(
            hash_words=np.zeros((count, 2), dtype=np.uint64),
            epochs=np.zeros(count, dtype=np.int64),
            num_vertices=np.zeros(count, dtype=np.int8),
            adjacency_bits=np.zeros(count, dtype=np.uint64),
            ops=np.zeros((count, MAX_VERTICES), dtype=np.int8),
            trainable_parameters=np.zeros(count, dtype=np.int64),
            metrics={name: np.zeros(count) for name in METRIC_FIELDS},
        )

    def assign(self, rows: np.ndarray | slice, other: RecordColumns) -> None:
        """Put the records of `other` at positions `rows` of these columns."""
        self.hash_words[rows] = other.hash_words
        self.epochs[rows] = other.epochs
        self.num_vertices[rows] = other.num_vertices
        self.adjacency_bits[rows] = other.adjacency_bits
        self.ops[rows] = other.ops
        self.trainable_parameters[rows] = other.trainable_parameters
        for name in METRIC_FIELDS:
            self.metrics[name][rows] = other.metrics[name]

    @classmethod
    def decode(cls, records: Sequence[bytes], indices: Sequence[int], path: str) -> RecordColumns:
        """Decode records one at a time with `decode_row`'s checks; `indices` name them in errors.

        The general path: `read_columns` uses it for the records its array decoder leaves.
        """
        count = len(records)
        digests = bytearray()
        epochs = np.empty(count, dtype=np.int64)
        num_vertices = np.empty(count, dtype=np.int8)
        adjacency_bits = np.empty(count, dtype=np.uint64)
        ops = np.zeros((count, MAX_VERTICES), dtype=np.int8)
        parameters = np.empty(count, dtype=np.int64)
        values = np.empty((len(METRIC_FIELDS), count), dtype=np.float64)
        for i, (data, index) in enumerate(zip(records, indices)):
            where = record_location(index, path)
            module_hash, epoch, raw_adjacency, raw_operations, metrics = _split_row(data, where)
            dim = _adjacency_size(raw_adjacency, where)
            labels = _operation_labels(raw_operations, dim, where)
            digests += bytes.fromhex(module_hash)
            epochs[i] = epoch
            num_vertices[i] = dim
            adjacency_bits[i] = int(raw_adjacency, 2)
            ops[i, :dim] = labels
            parameters[i] = metrics.trainable_parameters
            halfway, final = metrics.evaluation_data[1], metrics.evaluation_data[2]
            values[:, i] = (
                halfway.training_time,
                halfway.train_accuracy,
                halfway.validation_accuracy,
                halfway.test_accuracy,
                final.training_time,
                final.train_accuracy,
                final.validation_accuracy,
                final.test_accuracy,
            )
        words = np.frombuffer(bytes(digests), dtype=">u8").astype(np.uint64).reshape(count, 2)
        return cls(
            hash_words=words,
            epochs=epochs,
            num_vertices=num_vertices,
            adjacency_bits=adjacency_bits,
            ops=ops,
            trainable_parameters=parameters,
            metrics=dict(zip(METRIC_FIELDS, values)),
        )


def _first_damage(path: Path) -> BenchmarkFileError:
    """The error of the first damaged record, found by reading the file record by record."""
    try:
        for _ in read_records(path):
            pass
    except BenchmarkFileError as exc:
        return exc
    return _changed(path)


def _changed(path: str | os.PathLike) -> BenchmarkFileError:
    """The error of a file whose second read does not match its first."""
    return BenchmarkFileError(f"{path} changed while it was read")


def _open(path: Path):
    try:
        return open(path, "rb")  # noqa: SIM115 - closed by the caller's with
    except FileNotFoundError:
        raise missing_file(path) from None
    except OSError as exc:
        raise BenchmarkFileError(f"cannot open benchmark file {path} ({exc.strerror})") from None


def _frame(buffer: bytes) -> tuple[list[int], list[int], int]:
    """Starts and data CRC32Cs of the whole records at the front of `buffer`, and where the
    first incomplete one starts. A record that does not fit must still have a sound length
    checksum: a damaged length would otherwise make it swallow the rest of the file."""
    starts: list[int] = []
    checksums: list[int] = []
    view = memoryview(buffer)
    crc = crc32c.crc32c
    unpack = _LENGTH.unpack_from
    pos, size = 0, len(buffer)
    while pos + _HEADER.size <= size:
        end = pos + _HEADER.size + unpack(buffer, pos)[0]
        if end + _CRC.size > size:
            if masked_crc32c(view[pos : pos + 8]) != _CRC.unpack_from(buffer, pos + 8)[0]:
                starts.append(pos)  # checked, and reported, with the complete records
                checksums.append(0)
            break
        starts.append(pos)
        checksums.append(crc(view[pos + _HEADER.size : end]))
        pos = end + _CRC.size
    return starts, checksums, pos


def _check_frames(data: np.ndarray, starts: np.ndarray, checksums: np.ndarray) -> bool:
    """Whether every record's length checksum and data checksum match (arrays over a block)."""
    head = _gather_words(data, starts, 3)
    lengths = head[:, 0].astype(np.uint64) | (head[:, 1].astype(np.uint64) << np.uint64(32))
    distinct, which = np.unique(lengths, return_inverse=True)
    expected = np.array(
        [masked_crc32c(struct.pack("<Q", int(length))) for length in distinct], dtype=np.uint32
    )
    if not (expected[which.reshape(-1)] == head[:, 2]).all():
        return False
    ends = starts + _HEADER.size + lengths.astype(np.int64)
    if (ends + _CRC.size > len(data)).any():
        return False
    crc = checksums.astype(np.uint32)
    masked = ((crc >> 15) | (crc << 17)) + np.uint32(_CRC_MASK_DELTA)
    return bool((masked == _gather_words(data, ends, 1)[:, 0]).all())


def _gather_words(data: np.ndarray, starts: np.ndarray, count: int) -> np.ndarray:
    """(len(starts), count) little-endian uint32 words from each start on."""
    positions = starts[:, None] + np.arange(4 * count)
    return np.ascontiguousarray(data[positions]).view("<u4").reshape(len(starts), count)


def _blocks(path: Path, block_bytes: int) -> Iterator[tuple[bytes, np.ndarray, int]]:
    """Blocks of whole records: (bytes, record starts, index of the first record), framing and
    both checksums of every record checked; a damaged record raises its error."""
    index = 0
    carry = b""
    with _open(path) as stream:
        while True:
            try:
                chunk = stream.read(max(block_bytes, len(carry)))
            except OSError as exc:
                raise BenchmarkFileError(
                    f"reading {record_location(index, path)} failed ({exc.strerror})"
                ) from None
            buffer = carry + chunk if carry else chunk
            if not chunk:
                if buffer:
                    raise _first_damage(path)
                return
            starts, checksums, consumed = _frame(buffer)
            data = np.frombuffer(buffer, dtype=np.uint8)
            positions = np.array(starts, dtype=np.int64)
            if len(checksums) > 0 and not _check_frames(
                data, positions, np.array(checksums, dtype=np.int64)
            ):
                raise _first_damage(path)
            if starts:
                yield buffer[:consumed], positions, index
                index += len(starts)
            carry = buffer[consumed:]


def _decode_block(
    buffer: bytes, starts: np.ndarray, first_index: int, path: str
) -> RecordColumns:
    """Decode the records of a checked block: with arrays where a record fits the layout of the
    official writer exactly, one at a time (`RecordColumns.decode`) otherwise."""
    data = bulk.padded(buffer)
    lengths = _gather_words(data, starts, 2).astype(np.int64)[:, 0]
    begins = starts + _HEADER.size
    ends = begins + lengths
    rows = bulk.split_rows(data, begins, ends)
    first, group, ok = bulk.group_rows(rows.operations, rows.ok)
    known = np.zeros(len(first), dtype=bool)
    labels = np.zeros((len(first), MAX_VERTICES), dtype=np.int8)
    vertices = np.zeros(len(first), dtype=np.int64)
    for i, row in enumerate(first):
        raw = rows.operations[row].tobytes().rstrip(b"\0")  # no zero inside: split_rows checks
        parsed = parse_operations(raw.decode("latin-1")) if raw.isascii() else None
        if parsed is not None and len(parsed) <= MAX_VERTICES:
            known[i], vertices[i] = True, len(parsed)
            labels[i, : len(parsed)] = parsed
    ok &= known[group] & (vertices[group] == rows.num_vertices)
    decoded, messages, ok = bulk.decode_base64(data, rows.metrics, ok)
    runs = bulk.read_model_metrics(decoded, messages, ok, _EVALUATION_POINTS)
    ok = runs.ok
    digests = np.where(ok[:, None], rows.digests, ord("0"))
    columns = RecordColumns(
        hash_words=hash_words(np.ascontiguousarray(digests).view("S32").reshape(-1)),
        epochs=rows.epochs,
        num_vertices=rows.num_vertices.astype(np.int8),
        adjacency_bits=rows.adjacency_bits,
        ops=labels[group],
        trainable_parameters=runs.trainable_parameters,
        metrics={
            f"{point}_{name}": values[name]
            for point, values in (("halfway", runs.halfway), ("final", runs.final))
            for name in ("training_time", "train_accuracy", "validation_accuracy", "test_accuracy")
        },
    )
    left = np.flatnonzero(~ok)
    if left.size:
        records = [buffer[begins[i] : ends[i]] for i in left]
        columns.assign(left, RecordColumns.decode(records, (left + first_index).tolist(), path))
    return columns


@dataclass
class _Block:
    """Where a checked block of whole records lies in its file."""

    offset: int
    size: int
    starts: np.ndarray  # record starts, relative to `offset`
    first: int  # index of its first record
    checksum: int  # CRC32C of its bytes, to find them unchanged when they are read again


def _checked_blocks(path: Path) -> list[_Block]:
    """Every block of the file, framing and both checksums of every record checked."""
    blocks = []
    offset = 0
    for buffer, starts, first in _blocks(path, _BLOCK_BYTES):
        blocks.append(_Block(offset, len(buffer), starts, first, crc32c.crc32c(buffer)))
        offset += len(buffer)
    return blocks


def _block_batches(
    stream: IO[bytes], path: str | os.PathLike, block: _Block, batch_size: int
) -> Iterator[tuple[bytes, np.ndarray, int]]:
    """The records of a checked block, read again from `stream` and found unchanged by its
    CRC32C, in batches of at most `batch_size` records: (bytes, record starts relative to them,
    index of the first record)."""
    try:
        stream.seek(block.offset)
        buffer = stream.read(block.size)
    except OSError as exc:
        raise BenchmarkFileError(
            f"reading {record_location(block.first, path)} failed ({exc.strerror})"
        ) from None
    if len(buffer) != block.size or crc32c.crc32c(buffer) != block.checksum:
        raise _changed(path)
    starts = block.starts
    for i in range(0, len(starts), batch_size):
        part = starts[i : i + batch_size]
        end = int(starts[i + batch_size]) if i + batch_size < len(starts) else len(buffer)
        yield buffer[int(part[0]) : end], part - part[0], block.first + i


def _batches(
    path: Path, blocks: list[_Block], batch_size: int
) -> Iterator[tuple[bytes, np.ndarray, int]]:
    """The batches (`_block_batches`) of every checked block, in order."""
    with _open(path) as stream:
        for block in blocks:
            yield from _block_batches(stream, path, block, batch_size)


def _decode_checked_block(
    path: str, block: _Block, batch_size: int
) -> list[tuple[int, RecordColumns]]:
    """Read one checked block again, find it unchanged, and decode its batches: the work of a
    worker process, which reads the file itself so the main process sends it no bytes."""
    with _open(Path(path)) as stream:
        return [
            (first, _decode_block(buffer, starts, first, path))
            for buffer, starts, first in _block_batches(stream, path, block, batch_size)
        ]


def _ready() -> None:
    """A task that only makes a worker process start (and import this module)."""


def read_columns(
    path: str | os.PathLike, workers: int = 1, batch_size: int = 20_000
) -> RecordColumns:
    """Read and check a whole official file into columns.

    Two passes: the first checks the framing and both checksums of every record (a Python loop
    over the records, the checks as arrays) and counts them; the second reads the file again,
    finds each block unchanged by its CRC32C, and decodes batches of up to `batch_size` records
    with arrays (`bulk.py`), straight into columns allocated once for every record, so the
    decoded values are held once. With `workers` > 1 the worker processes start while the first
    pass runs, and each reads, checks and decodes whole blocks itself (the main process sends
    them where a block lies, not its bytes). Results are identical either way, and identical to
    decoding each record with `decode_row`.
    """
    path = Path(path)
    if workers <= 1:
        blocks = _checked_blocks(path)
        columns = RecordColumns.empty(sum(len(block.starts) for block in blocks))
        for buffer, starts, first in _batches(path, blocks, batch_size):
            columns.assign(
                slice(first, first + len(starts)),
                _decode_block(buffer, starts, first, str(path)),
            )
        return columns
    # A file that cannot be opened fails here, before any worker process starts.
    _open(path).close()
    # spawn, not fork: the caller may hold threads or large arrays we should not copy.
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn"))
    try:
        # Start every worker now: their start-up overlaps the first pass.
        for _ in range(workers):
            pool.submit(_ready)
        blocks = _checked_blocks(path)
        columns = RecordColumns.empty(sum(len(block.starts) for block in blocks))
        pending: deque = deque()

        def place_next() -> None:
            for first, part in pending.popleft().result():
                columns.assign(slice(first, first + len(part)), part)

        for block in blocks:
            pending.append(pool.submit(_decode_checked_block, str(path), block, batch_size))
            # Bound the blocks in flight so memory stays flat on multi-GB files.
            if len(pending) > 2 * workers:
                place_next()
        while pending:
            place_next()
    finally:
        pool.shutdown(cancel_futures=True)
    return columns
