r"""Bit-level coding primitives shared by the container, the range-coded tables and REC.

* ``varint`` / :func:`read_varint`: unsigned LEB128 (7 bits per byte, high bit = "more"), the
  length fields of the ``.ncz`` container and of REC's stream header.
* :class:`BitWriter` / :class:`BitReader`: a plain bit string (MSB first).
* Elias-gamma and Elias-delta codes (Elias 1975) over a bit string: universal prefix codes for
  ``n >= 1``; Elias-delta spends ``floor(log2 n) + 2 floor(log2(floor(log2 n) + 1)) + 1`` bits.
* :func:`bit_classes`: an integer as (bit length, bits below the leading one), exactly, in integers.
* :func:`encode_uniform_gamma` / :func:`decode_uniform_gamma`: an Elias-gamma code written through a
  range coder's uniform models (6 bits of length, then the bits below the leading one in chunks
  of at most 16): the escape code of :mod:`neurcomp.entropy.coder`; :func:`uniform_gamma_bits`
  is its cost, the one place that number is computed.

Example:
    >>> w = BitWriter(); elias_delta_encode(w, 17); elias_delta_encode(w, 1)
    >>> r = BitReader(w.getvalue()); elias_delta_decode(r), elias_delta_decode(r)
    (17, 1)
    >>> read_varint(varint(300) + b"rest", 0)
    (300, 2)
    >>> uniform_gamma_bits(np.array([1, 2, 5])).tolist()
    [6.0, 7.0, 8.0]
"""
from __future__ import annotations

import constriction
import numpy as np

from .errors import CodingError, TruncatedCode

UNIFORM_CHUNK_BITS = 16  # raw bits are written through uniform models of at most 2^16 symbols


# ----------------------------------------------------------------------------- varints


def varint(n: int) -> bytes:
    """Unsigned LEB128 encoding of ``n >= 0``."""
    if n < 0:
        raise ValueError("varint must be non-negative")
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def read_varint(data: bytes, pos: int) -> tuple[int, int]:
    """``(value, position after it)`` of the LEB128 varint at ``data[pos:]``; CodingError when it is
    truncated or longer than 63 bits."""
    n, shift = 0, 0
    while True:
        if pos >= len(data):
            raise TruncatedCode("truncated varint")
        b = data[pos]
        pos += 1
        n |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return n, pos
        if shift > 63:
            raise CodingError("malformed varint (more than 63 bits)")


# ----------------------------------------------------------------------------- bit strings


class BitWriter:
    """Append bits (MSB first within each byte); ``getvalue()`` pads the last byte with zeros."""

    def __init__(self):
        self._bytes = bytearray()
        self._acc = 0
        self._n = 0
        self.bits = 0

    def write(self, value: int, nbits: int) -> None:
        """The ``nbits`` low bits of ``value``, most significant first."""
        if nbits < 0 or (nbits < 64 and value >> nbits):
            raise ValueError(f"{value} does not fit in {nbits} bits")
        for i in range(nbits - 1, -1, -1):
            self._acc = (self._acc << 1) | ((value >> i) & 1)
            self._n += 1
            if self._n == 8:
                self._bytes.append(self._acc)
                self._acc, self._n = 0, 0
        self.bits += nbits

    def getvalue(self) -> bytes:
        out = bytearray(self._bytes)
        if self._n:
            out.append(self._acc << (8 - self._n))
        return bytes(out)


class BitReader:
    def __init__(self, data: bytes):
        self._data = data
        self._pos = 0  # bit position

    def read(self, nbits: int) -> int:
        if self._pos + nbits > 8 * len(self._data):
            raise TruncatedCode("bit stream is truncated")
        v = 0
        for _ in range(nbits):
            byte = self._data[self._pos >> 3]
            v = (v << 1) | ((byte >> (7 - (self._pos & 7))) & 1)
            self._pos += 1
        return v

    def finish(self) -> None:
        """CodingError unless only the last byte's zero padding is left unread."""
        left = 8 * len(self._data) - self._pos
        if left >= 8 or (left and self._data[-1] & ((1 << left) - 1)):
            raise CodingError("bit string has bytes after its last code")


def elias_gamma_encode(w: BitWriter, n: int) -> None:
    """Elias-gamma of ``n >= 1``: ``floor(log2 n)`` zeros, then ``n`` in binary."""
    if n < 1:
        raise ValueError("Elias codes need n >= 1")
    nb = n.bit_length()
    w.write(0, nb - 1)
    w.write(n, nb)


def elias_gamma_decode(r: BitReader) -> int:
    zeros = 0
    while r.read(1) == 0:
        zeros += 1
        if zeros > 64:
            raise CodingError("corrupt Elias-gamma code")
    return (1 << zeros) | r.read(zeros)


def elias_delta_encode(w: BitWriter, n: int) -> None:
    """Elias-delta of ``n >= 1``: Elias-gamma of the bit length of ``n``, then its low bits."""
    if n < 1:
        raise ValueError("Elias codes need n >= 1")
    nb = n.bit_length()
    elias_gamma_encode(w, nb)
    w.write(n - (1 << (nb - 1)), nb - 1)


def elias_delta_decode(r: BitReader) -> int:
    nb = elias_gamma_decode(r)
    if nb > 64:
        raise CodingError("corrupt Elias-delta code")
    return (1 << (nb - 1)) | r.read(nb - 1)


def elias_delta_length(n) -> np.ndarray:
    """Code length in bits of Elias-delta for ``n >= 1`` (array)."""
    nb, _ = bit_classes(np.maximum(np.asarray(n, np.int64), 1))  # exact integer bit lengths
    lb, _ = bit_classes(nb)
    return (nb - 1) + 2 * (lb - 1) + 1


# ----------------------------------------------------------------------------- integers as classes


def bit_classes(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Split integers ``n >= 0`` into bit length ``k`` (0 for 0) and the ``k - 1`` bits below the leading one."""
    v = np.asarray(values, np.int64)
    if v.size and v.min() < 0:
        raise ValueError("log-class codes need non-negative integers")
    k = np.zeros(v.shape, np.int64)
    nz = v > 0
    # exact bit length without floating point: count shifts
    t = v.copy()
    while np.any(t > 0):
        k += t > 0
        t >>= 1
    mant = np.where(nz, v - np.left_shift(1, np.maximum(k - 1, 0)), 0)
    return k, mant


# ----------------------------------------------------------------------------- Elias-gamma through a range coder


def encode_uniform_gamma(encoder, n: int) -> None:
    """Elias-gamma of ``n >= 1`` through ``encoder``'s uniform models: ``floor(log2 n)`` as one of 64
    symbols, then the bits below the leading one, most significant first, in chunks of at most 16."""
    nbits = int(n).bit_length() - 1
    encoder.encode(np.array([nbits], np.int32), constriction.stream.model.Uniform(64))
    rest = int(n) - (1 << nbits)
    while nbits > 0:
        k = min(nbits, UNIFORM_CHUNK_BITS)
        nbits -= k
        chunk = (rest >> nbits) & ((1 << k) - 1)
        encoder.encode(np.array([chunk], np.int32), constriction.stream.model.Uniform(1 << k))


def decode_uniform_gamma(decoder) -> int:
    """Inverse of :func:`encode_uniform_gamma`."""
    nbits = int(decoder.decode(constriction.stream.model.Uniform(64), 1)[0])
    if nbits > 62:
        raise CodingError("corrupt Elias-gamma code")
    rest, left = 0, nbits
    while left > 0:
        k = min(left, UNIFORM_CHUNK_BITS)
        left -= k
        rest = (rest << k) | int(decoder.decode(constriction.stream.model.Uniform(1 << k), 1)[0])
    return (1 << nbits) + rest


def uniform_gamma_bits(n) -> np.ndarray:
    """Bits :func:`encode_uniform_gamma` spends on each ``n >= 1``: ``6 + floor(log2 n)`` (exact)."""
    n = np.asarray(n, np.float64)
    return 6.0 + (np.frexp(n)[1] - 1)


__all__ = ["varint", "read_varint", "BitWriter", "BitReader", "elias_gamma_encode", "elias_gamma_decode",
           "elias_delta_encode", "elias_delta_decode", "elias_delta_length", "bit_classes", "encode_uniform_gamma",
           "decode_uniform_gamma", "uniform_gamma_bits", "UNIFORM_CHUNK_BITS"]
