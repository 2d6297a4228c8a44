r"""Integers through constriction's range coder: the codes REC sends (indices, group sizes, outliers).

:class:`RangeWriter` / :class:`RangeReader` code raw bits, Elias-gamma over uniform models,
categorical symbols under an *integer* histogram (an empirical distribution sent in the
stream), and "log-class" codes: an integer ``n >= 0`` is split into its bit length ``k`` (0 for
n = 0) and the ``k - 1`` bits below its leading one; the classes are range-coded under either a
uniform distribution (``n`` log-uniform: a Zipf-like code with exponent ~1) or the stream's own
histogram of classes, whichever is shorter; the mantissa bits are sent raw.

All models are built from integers (or from floats computed exactly from integers,
``counts / total``), so encoder and decoder feed constriction the same numbers on every
platform.

Example:
    >>> rw = RangeWriter(); rw.log_classes([0, 5, 300], max_bits=12)
    >>> RangeReader(rw.getvalue()).log_classes(3, max_bits=12).tolist()
    [0, 5, 300]
"""
from __future__ import annotations

import math

import constriction
import numpy as np

from .bits import UNIFORM_CHUNK_BITS as _UNIFORM_CHUNK
from .bits import bit_classes
from .errors import CodingError


def _categorical(counts: np.ndarray):
    counts = np.asarray(counts, np.int64)
    probs = counts.astype(np.float64) / float(counts.sum())  # exact inputs -> identical on every platform
    return constriction.stream.model.Categorical(probs, perfect=False)


class RangeWriter:
    """A constriction range encoder with the integer codes REC needs (decode order = encode order)."""

    def __init__(self):
        self.enc = constriction.stream.queue.RangeEncoder()

    def uint(self, values, nbits) -> None:
        """Raw ``nbits``-bit unsigned integers (``nbits`` scalar or per value, up to 62)."""
        values = np.atleast_1d(np.asarray(values, np.int64))
        nb = np.broadcast_to(np.asarray(nbits, np.int64), values.shape)
        if values.size == 0:
            return
        if np.any(values < 0) or np.any(nb < 62) and np.any(values[nb < 62] >> nb[nb < 62]):
            raise ValueError("value does not fit its bit count")
        left = nb.copy()
        while np.any(left > 0):
            k = np.minimum(left, _UNIFORM_CHUNK)
            left = left - k
            sel = k > 0
            chunk = (values[sel] >> left[sel]) & ((np.int64(1) << k[sel]) - 1)
            for kk in np.unique(k[sel]):
                m = k[sel] == kk
                self.enc.encode(chunk[m].astype(np.int32), constriction.stream.model.Uniform(int(1 << kk)))

    def gamma(self, values) -> None:
        """Elias-gamma of integers ``>= 0`` (codes n + 1) through uniform models."""
        values = np.atleast_1d(np.asarray(values, np.int64)) + 1
        k, mant = bit_classes(values)
        self.enc.encode((k - 1).astype(np.int32), constriction.stream.model.Uniform(64))
        self.uint(mant, k - 1)

    def categorical(self, symbols, counts) -> None:
        symbols = np.atleast_1d(np.asarray(symbols, np.int64))
        if symbols.size == 0:
            return
        counts = np.asarray(counts, np.int64)
        if symbols.min() < 0 or symbols.max() >= counts.size or np.any(counts[symbols] == 0):
            raise ValueError("symbol outside the histogram's support")
        self.enc.encode(symbols.astype(np.int32), _categorical(counts))

    def histogram_coded(self, symbols, alphabet: int) -> None:
        """Symbols in ``[0, alphabet)``: a 1-bit mode, then either uniform (mode 0) or the
        histogram of ``symbols`` (Elias-gamma counts, mode 1) and the symbols under it,
        whichever has the smaller ideal length."""
        symbols = np.atleast_1d(np.asarray(symbols, np.int64))
        counts = np.bincount(symbols, minlength=alphabet) if symbols.size else np.zeros(alphabet, np.int64)
        uniform_bits = symbols.size * math.log2(alphabet)
        nz = counts[counts > 0]
        hist_bits = float(np.sum(2 * np.floor(np.log2(counts + 1)) + 1)) + float(
            np.sum(nz * (math.log2(max(symbols.size, 1)) - np.log2(nz))))
        if alphabet == 1:
            return
        if hist_bits < uniform_bits:
            self.uint(1, 1)
            self.gamma(counts)
            self.categorical(symbols, counts)
        else:
            self.uint(0, 1)
            self.enc.encode(symbols.astype(np.int32), constriction.stream.model.Uniform(int(alphabet)))

    def log_classes(self, values, max_bits: int) -> None:
        """Integers in ``[0, 2^max_bits)`` as (bit-length class, raw mantissa)."""
        k, mant = bit_classes(values)
        if k.size and k.max() > max_bits:
            raise ValueError(f"value exceeds {max_bits} bits")
        self.histogram_coded(k, max_bits + 1)
        self.uint(mant, np.maximum(k - 1, 0))

    def getvalue(self) -> bytes:
        return self.enc.get_compressed().astype("<u4").tobytes()


class RangeReader:
    """Reads what a :class:`RangeWriter` wrote, in the same order. :meth:`finish` checks that the data
    was exactly that: it replays every decoded symbol into a new encoder and compares the bytes."""

    def __init__(self, data: bytes):
        if len(data) % 4:
            raise CodingError("range-coded section length is not a multiple of 4 bytes")
        self._data = bytes(data)
        self._log = []
        self.dec = constriction.stream.queue.RangeDecoder(np.frombuffer(self._data, "<u4").astype(np.uint32))

    def _decode(self, model, n):
        try:
            out = self.dec.decode(model, int(n)).astype(np.int64)
        except Exception as e:  # constriction raises on exhausted or invalid data
            raise CodingError(f"range decoder failed: {e}") from e
        self._log.append((model, out))
        return out

    def finish(self) -> None:
        """CodingError unless the data ends exactly where the decoded symbols end (no trailing, missing
        or altered bytes)."""
        enc = constriction.stream.queue.RangeEncoder()
        for model, values in self._log:
            if values.size:
                enc.encode(values.astype(np.int32), model)
        if enc.get_compressed().astype("<u4").tobytes() != self._data:
            raise CodingError("range-coded section does not end where its symbols end")

    def uint(self, n: int, nbits) -> np.ndarray:
        nb = np.broadcast_to(np.asarray(nbits, np.int64), (n,)).copy()
        out = np.zeros(n, np.int64)
        left = nb.copy()
        while np.any(left > 0):
            k = np.minimum(left, _UNIFORM_CHUNK)
            left = left - k
            sel = np.flatnonzero(k > 0)
            ks = k[sel]
            vals = np.zeros(sel.size, np.int64)
            for kk in np.unique(ks):
                m = ks == kk
                vals[m] = self._decode(constriction.stream.model.Uniform(int(1 << kk)), m.sum())
            out[sel] = (out[sel] << ks) | vals
        return out

    def gamma(self, n: int) -> np.ndarray:
        k = self._decode(constriction.stream.model.Uniform(64), n) + 1
        mant = self.uint(n, k - 1)
        return (np.left_shift(1, k - 1) | mant) - 1

    def categorical(self, n: int, counts) -> np.ndarray:
        if n == 0:
            return np.zeros(0, np.int64)
        counts = np.asarray(counts, np.int64)
        if counts.sum() <= 0:
            raise CodingError("empty histogram")
        return self._decode(_categorical(counts), n)

    def histogram_coded(self, n: int, alphabet: int) -> np.ndarray:
        if alphabet == 1:
            return np.zeros(n, np.int64)
        mode = int(self.uint(1, 1)[0])
        if mode:
            counts = self.gamma(alphabet)
            if counts.sum() != n:
                raise CodingError("corrupt histogram")
            return self.categorical(n, counts)
        return self._decode(constriction.stream.model.Uniform(int(alphabet)), n) if n else np.zeros(0, np.int64)

    def log_classes(self, n: int, max_bits: int) -> np.ndarray:
        k = self.histogram_coded(n, max_bits + 1)
        mant = self.uint(n, np.maximum(k - 1, 0))
        return np.where(k > 0, np.left_shift(1, np.maximum(k - 1, 0)) + mant, 0)


__all__ = ["RangeWriter", "RangeReader"]
