"""Module hashes as numbers: vectorised hex conversion and sorted lookup.

A NAS-Bench-101 module hash is the 32-digit hex form of an md5 digest. Tables keep each digest
as two uint64 words (the digest's first and last 8 bytes read big-endian), so sorting the words
sorts the hex strings and a million hashes are found with `np.searchsorted` instead of a Python
dict. This module owns the conversions in both directions and `HashIndex`, the lookup: many
hashes at once with numpy, one hash (as `query` asks) with `bisect` over a memoryview of the
words, narrowed by a small table of where each leading-bits bucket starts.
"""

from __future__ import annotations

import struct
from bisect import bisect_left
from collections.abc import Sequence

import numpy as np

HASH_DIGITS = 32
#: Most leading bits of the first word that pick a bucket of rows for a single lookup (a table
#: of 2**14 starts, 128 KB; a full-size table has some 26 rows in a bucket).
_BUCKET_BITS = 14
_TWO_WORDS = struct.Struct(">QQ")
_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)

HashLike = str | bytes | Sequence[str] | Sequence[bytes] | np.ndarray


def _code_units(hashes: np.ndarray) -> np.ndarray:
    """The characters of a 1-d string array as uint8 codes, shape (hashes, characters)."""
    hashes = np.ascontiguousarray(hashes)
    if hashes.dtype.kind == "S":
        return hashes.view(np.uint8).reshape(len(hashes), hashes.dtype.itemsize)
    units = hashes.view(np.uint32).reshape(len(hashes), hashes.dtype.itemsize // 4)
    if units.size and units.max() >= 128:
        # Non-ASCII characters become code 0, which is not a hex digit.
        units = np.where(units < 128, units, 0)
    return units.astype(np.uint8)


def _invalid(value: object) -> ValueError:
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    return ValueError(f"invalid module hash {str(value)!r}, expected {HASH_DIGITS} hex digits")


def _first_long(hashes: object) -> str | bytes | None:
    """The first str or bytes longer than a hash in `hashes` (nested lists and tuples of them),
    None if none is. numpy drops trailing NULs, so its array of them no longer shows them."""
    if isinstance(hashes, (str, bytes)):
        return hashes if len(hashes) > HASH_DIGITS else None
    if isinstance(hashes, (list, tuple)):
        for item in hashes:
            found = _first_long(item)
            if found is not None:
                return found
    return None


def hash_words(hashes: HashLike) -> np.ndarray:
    """Hex module hashes (a str, a list, or an 'S'/'U' array) as uint64 words, shape (..., 2).

    A hash is exactly 32 hex digits: a str or bytes of another length is invalid, trailing NULs
    included (an array's NUL padding is its dtype's, not part of its strings).
    """
    if isinstance(hashes, (str, bytes)) and len(hashes) != HASH_DIGITS:
        raise _invalid(hashes)
    if isinstance(hashes, str):
        # One hash, as `query` looks up: bytes.fromhex is much cheaper than the array path.
        try:
            digest = bytes.fromhex(hashes)
        except ValueError:
            digest = b""
        if len(digest) == HASH_DIGITS // 2:
            return np.frombuffer(digest, dtype=">u8").astype(np.uint64)
    given = hashes
    hashes = np.asarray(hashes)
    shape = hashes.shape
    if hashes.size == 0:
        return np.empty(shape + (2,), dtype=np.uint64)
    if hashes.dtype.kind not in "SU":
        raise ValueError(f"module hashes must be hex strings, got an array of {hashes.dtype}")
    hashes = hashes.reshape(-1)
    units = _code_units(hashes)
    if units.shape[1] < HASH_DIGITS:
        raise _invalid(hashes[0])
    if units.shape[1] > HASH_DIGITS and not isinstance(given, np.ndarray):
        # Strings of a list this wide are longer than a hash, even where numpy shows NULs.
        long = _first_long(given)
        if long is not None:
            raise _invalid(long)
    codes = units[:, :HASH_DIGITS]
    # Arithmetic instead of a lookup table, in reused buffers: several times faster on millions
    # of hashes. uint8 subtraction wraps, so each range test is one comparison.
    scratch = np.subtract(codes, ord("0"))
    is_hex = scratch < 10
    np.bitwise_or(codes, 0x20, out=scratch)  # lowercase letters
    scratch -= ord("a")
    is_hex |= scratch < 6
    if not is_hex.all() or units[:, HASH_DIGITS:].any():
        bad = ~is_hex.all(axis=1) | units[:, HASH_DIGITS:].any(axis=1)
        raise _invalid(hashes[np.flatnonzero(bad)[0]])
    # '0'-'9' keep their low nibble; 'a'-'f' and 'A'-'F' (bit 6 set) have low nibble 1-6, +9.
    nibbles = np.right_shift(codes, 6, out=scratch)
    nibbles *= 9
    nibbles += codes & 0x0F
    digest = np.ascontiguousarray((nibbles[:, 0::2] << 4) | nibbles[:, 1::2])
    return digest.view(">u8").astype(np.uint64).reshape(shape + (2,))


def hash_hex(words: np.ndarray) -> np.ndarray | np.bytes_:
    """uint64 word pairs, shape (..., 2), back to lowercase hex hashes as an 'S32' array."""
    words = np.asarray(words, dtype=np.uint64)
    digest = np.ascontiguousarray(words.astype(">u8")).view(np.uint8)
    digits = np.empty(digest.shape[:-1] + (HASH_DIGITS,), dtype=np.uint8)
    digits[..., 0::2] = _HEX[digest >> 4]
    digits[..., 1::2] = _HEX[digest & 15]
    # [()] turns a single hash into a numpy bytes scalar and leaves arrays as they are.
    return digits.view(f"S{HASH_DIGITS}").reshape(digest.shape[:-1])[()]


class HashIndex:
    """Finds rows of a table whose hash words are sorted (first word, then second)."""

    def __init__(self, words: np.ndarray):
        self._words = words
        self._high = np.ascontiguousarray(words[:, 0])
        self._low = np.ascontiguousarray(words[:, 1])
        shared = self._high[1:] == self._high[:-1]
        # Digests sharing their first 8 bytes are astronomically rare, but must still be found.
        self._shared_high = np.unique(self._high[1:][shared])
        self._single: tuple[memoryview, memoryview, memoryview, int] | None = None

    def __len__(self) -> int:
        return len(self._high)

    def _single_lookup(self) -> tuple[memoryview, memoryview, memoryview, int]:
        """What `find_hex` reads, built on its first call: memoryviews of the first and second
        words of the table's own (rows, 2) array, so both words of a row lie in one page, where
        the rows of each bucket of leading bits start (a table small enough to stay cached),
        and the shift from a first word to its bucket."""
        if self._single is None:
            rows = len(self._high)
            bits = min(_BUCKET_BITS, max(0, rows.bit_length() - 3))
            starts = np.empty((1 << bits) + 1, dtype=np.int64)
            starts[:-1] = (
                np.searchsorted(
                    self._high, np.arange(1 << bits, dtype=np.uint64) << np.uint64(64 - bits)
                )
                if bits
                else 0
            )
            starts[-1] = rows
            words = self._words
            self._single = (
                memoryview(words[:, 0]),
                memoryview(words[:, 1]),
                memoryview(starts),
                64 - bits,
            )
        return self._single

    def find_hex(self, module_hash: object) -> int:
        """Row of one hex hash (str), -1 where it is absent or malformed; a cheap single lookup."""
        if not isinstance(module_hash, str):
            try:
                return int(self.find(hash_words(module_hash)))
            except ValueError:
                return -1
        # A hash is 32 hex digits: 32 characters that decode to 16 bytes (fromhex skips only
        # whitespace, which would leave fewer bytes). Any other str, trailing NULs included,
        # is not found.
        if len(module_hash) != HASH_DIGITS:
            return -1
        try:
            digest = bytes.fromhex(module_hash)
        except ValueError:
            return -1
        if len(digest) != HASH_DIGITS // 2:
            return -1
        high, low = _TWO_WORDS.unpack(digest)
        highs, lows, starts, shift = self._single or self._single_lookup()
        bucket = high >> shift
        row = bisect_left(highs, high, starts[bucket], starts[bucket + 1])
        # Rows sharing the first word follow each other; almost always there is just one.
        rows = len(highs)
        while row < rows and highs[row] == high:
            if lows[row] == low:
                return row
            row += 1
        return -1

    def find(self, words: np.ndarray) -> np.ndarray:
        """Row of each hash, shape words.shape[:-1], int64, -1 where a hash is not in the table."""
        words = np.asarray(words, dtype=np.uint64)
        shape = words.shape[:-1]
        high, low = words.reshape(-1, 2).T
        if len(self._high) == 0:
            return np.full(shape, -1, dtype=np.int64)
        rows = np.minimum(np.searchsorted(self._high, high), len(self._high) - 1)
        found = (self._high[rows] == high) & (self._low[rows] == low)
        rows = np.where(found, rows, -1).astype(np.int64)
        if self._shared_high.size:
            for k in np.flatnonzero(~found & np.isin(high, self._shared_high)):
                start = np.searchsorted(self._high, high[k], side="left")
                stop = np.searchsorted(self._high, high[k], side="right")
                j = start + np.searchsorted(self._low[start:stop], low[k])
                if j < stop and self._low[j] == low[k]:
                    rows[k] = j
        return rows.reshape(shape)
