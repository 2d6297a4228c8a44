"""Range coding of integer symbols under fixed, integer-quantized pmf tables.

Every entropy model in neurcomp reduces coding to this: a list of *tables*
(pmfs over a contiguous range of integers ``offset .. offset + len - 1`` plus
one escape symbol for values outside it), and for every symbol the index of
the table to use. The tables are integers (counts summing to
``2**PRECISION_BITS``), built once from a model and stored with its weights,
so encoder and decoder feed bit-identical numbers to the coder on every
platform. The coder is constriction's range coder (a queue: decode order =
encode order). Escaped values are coded in the same stream with an
Elias-gamma style code over uniform models.

Example:
    >>> import numpy as np
    >>> t = PmfTables.from_probabilities([np.array([0.25, 0.5, 0.25])], offsets=[-1])
    >>> data = encode_symbols(np.array([0, 1, -1, 7]), np.zeros(4, int), t)
    >>> decode_symbols(data, np.zeros(4, int), t).tolist()
    [0, 1, -1, 7]
"""
from __future__ import annotations

from dataclasses import dataclass

import constriction
import numpy as np

PRECISION_BITS = 20
_ESCAPE_CHUNK_BITS = 16


class CodingError(ValueError):
    """The symbols or the stream do not fit the tables."""


def quantize_pmf(probs: np.ndarray, tail_mass: float) -> np.ndarray:
    """Integer counts (>= 1 each, summing to 2**PRECISION_BITS) for ``probs`` + an escape bin.

    ``probs`` need not sum to one; ``tail_mass`` (>= 0) is the probability
    of the escape symbol before the floor of one count is applied.
    """
    p = np.concatenate([np.asarray(probs, np.float64), [max(float(tail_mass), 0.0)]])
    p = np.clip(p, 0.0, None)
    total = 1 << PRECISION_BITS
    if p.size > total // 2:
        raise CodingError(f"pmf with {p.size} bins is too wide for {PRECISION_BITS}-bit precision")
    free = total - p.size
    counts = 1 + np.floor(p / p.sum() * free).astype(np.int64)
    deficit = total - counts.sum()
    order = np.argsort(-(p / p.sum() * free - np.floor(p / p.sum() * free)), kind="stable")
    counts[order[:deficit]] += 1
    assert counts.sum() == total
    return counts


@dataclass
class PmfTables:
    """A set of quantized pmfs. ``counts[j, :lengths[j] + 1]`` is table j (last bin = escape)."""

    counts: np.ndarray  # int64 [T, Lmax + 1], zero padded
    lengths: np.ndarray  # int64 [T], number of in-range values of each table
    offsets: np.ndarray  # int64 [T], the value of bin 0

    @classmethod
    def from_probabilities(cls, probs: list[np.ndarray], offsets, tail_masses=None) -> "PmfTables":
        if tail_masses is None:
            tail_masses = [max(0.0, 1.0 - float(np.sum(p))) for p in probs]
        quantized = [quantize_pmf(p, t) for p, t in zip(probs, tail_masses)]
        width = max(q.size for q in quantized)
        counts = np.zeros((len(quantized), width), np.int64)
        for j, q in enumerate(quantized):
            counts[j, : q.size] = q
        lengths = np.array([q.size - 1 for q in quantized], np.int64)
        return cls(counts, lengths, np.asarray(offsets, np.int64))

    def __len__(self) -> int:
        return len(self.lengths)

    def information_bits(self, values: np.ndarray, table_idx: np.ndarray) -> float:
        """Ideal code length in bits of ``values`` under these tables: ``-log2`` of each symbol's
        quantized probability; a value outside its table costs the escape bin plus the escape code's
        uniform bits (direction 1, length 6, then the value's bits), exactly what the coder writes."""
        values = np.asarray(values, np.int64).ravel()
        table_idx = np.asarray(table_idx, np.int64).ravel()
        s = values - self.offsets[table_idx]
        n = self.lengths[table_idx]
        esc = (s < 0) | (s >= n)
        c = self.counts[table_idx, np.where(esc, n, s)].astype(np.float64)
        bits = float(np.sum(PRECISION_BITS - np.log2(c)))
        if esc.any():
            v = np.where(s[esc] < 0, -s[esc] - 1, s[esc] - n[esc]) + 1  # >= 1, as in _encode_escape
            bits += float(np.sum(7 + np.floor(np.log2(v.astype(np.float64)))))
        return bits

    def to_arrays(self) -> dict[str, np.ndarray]:
        return {"counts": self.counts, "lengths": self.lengths, "offsets": self.offsets}


def _models(tables: PmfTables, used: np.ndarray) -> dict[int, object]:
    out = {}
    for j in used:
        n = int(tables.lengths[j]) + 1
        probs = tables.counts[j, :n].astype(np.float64) / float(1 << PRECISION_BITS)
        out[int(j)] = constriction.stream.model.Categorical(probs, perfect=False)
    return out


def _encode_escape(encoder, value: int, below: bool) -> None:
    encoder.encode(np.array([int(below)], np.int32), constriction.stream.model.Uniform(2))
    v = int(value) + 1  # >= 1
    nbits = v.bit_length() - 1
    encoder.encode(np.array([nbits], np.int32), constriction.stream.model.Uniform(64))
    rest = v - (1 << nbits)
    while nbits > 0:
        k = min(nbits, _ESCAPE_CHUNK_BITS)
        nbits -= k
        chunk = (rest >> nbits) & ((1 << k) - 1)
        encoder.encode(np.array([chunk], np.int32), constriction.stream.model.Uniform(1 << k))


def _decode_escape(decoder) -> tuple[int, bool]:
    below = bool(decoder.decode(constriction.stream.model.Uniform(2), 1)[0])
    nbits = int(decoder.decode(constriction.stream.model.Uniform(64), 1)[0])
    if nbits > 62:
        raise CodingError("corrupt escape code")
    rest, left = 0, nbits
    while left > 0:
        k = min(left, _ESCAPE_CHUNK_BITS)
        left -= k
        rest = (rest << k) | int(decoder.decode(constriction.stream.model.Uniform(1 << k), 1)[0])
    return (1 << nbits) + rest - 1, below


def _plan(table_idx: np.ndarray, tables: PmfTables) -> tuple[np.ndarray, np.ndarray]:
    table_idx = np.asarray(table_idx, np.int64).ravel()
    if table_idx.size and (table_idx.min() < 0 or table_idx.max() >= len(tables)):
        raise CodingError("table index out of range")
    order = np.argsort(table_idx, kind="stable")
    return table_idx, order


def encode_symbols(values: np.ndarray, table_idx: np.ndarray, tables: PmfTables) -> bytes:
    """Range-code integer ``values``, value i under table ``table_idx[i]``; returns bytes."""
    values = np.asarray(values, np.int64).ravel()
    table_idx, order = _plan(table_idx, tables)
    if values.size != table_idx.size:
        raise CodingError("values and table indexes differ in length")
    encoder = constriction.stream.queue.RangeEncoder()
    used, starts = np.unique(table_idx[order], return_index=True)
    models = _models(tables, used)
    bounds = list(starts[1:]) + [order.size]
    escapes = []
    for j, a, b in zip(used, starts, bounds):
        pos = order[a:b]
        s = values[pos] - tables.offsets[j]
        n = tables.lengths[j]
        esc = (s < 0) | (s >= n)
        escapes.extend((int(x), int(n)) for x in s[esc])
        s = np.where(esc, n, s).astype(np.int32)
        encoder.encode(s, models[int(j)])
    for s, n in escapes:
        if s < 0:
            _encode_escape(encoder, -s - 1, below=True)
        else:
            _encode_escape(encoder, s - n, below=False)
    words = encoder.get_compressed()
    return words.astype("<u4").tobytes()


def decode_symbols(data: bytes, table_idx: np.ndarray, tables: PmfTables) -> np.ndarray:
    """Inverse of :func:`encode_symbols` (the decoder must know ``table_idx``)."""
    if len(data) % 4:
        raise CodingError("range-coded section length is not a multiple of 4 bytes")
    table_idx, order = _plan(table_idx, tables)
    words = np.frombuffer(data, "<u4").astype(np.uint32)
    decoder = constriction.stream.queue.RangeDecoder(words)
    out = np.empty(table_idx.size, np.int64)
    used, starts = np.unique(table_idx[order], return_index=True)
    models = _models(tables, used)
    bounds = list(starts[1:]) + [order.size]
    pending = []
    try:
        for j, a, b in zip(used, starts, bounds):
            pos = order[a:b]
            s = decoder.decode(models[int(j)], b - a).astype(np.int64)
            n = tables.lengths[j]
            esc = s == n
            out[pos] = s + tables.offsets[j]
            pending.extend((int(p), int(n), int(tables.offsets[j])) for p in pos[esc])
        for p, n, off in pending:
            d, below = _decode_escape(decoder)
            out[p] = off + (-d - 1 if below else n + d)
    except CodingError:
        raise
    except Exception as e:  # constriction raises on exhausted / invalid data
        raise CodingError(f"range decoder failed: {e}") from e
    return out
