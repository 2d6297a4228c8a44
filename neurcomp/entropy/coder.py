"""Range coding of integer symbols under fixed, integer-quantized pmf tables.

Every entropy model in neurcomp reduces coding to this: a list of *tables*
(pmfs over a contiguous range of integers ``offset .. offset + len - 1`` plus
one escape symbol for values outside it), and for every symbol the index of
the table to use. The tables are integers (counts summing to
``2**PRECISION_BITS``), built once from a model and stored with its weights,
so encoder and decoder feed bit-identical numbers to the coder on every
platform. The coder is constriction's range coder (a queue: decode order =
encode order). Escaped values are coded in the same stream with an
Elias-gamma code over uniform models (:func:`~neurcomp.entropy.bits.encode_uniform_gamma`).

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
import torch
import torch.nn as nn

from .bits import decode_uniform_gamma, encode_uniform_gamma, uniform_gamma_bits
from .errors import CodingError

PRECISION_BITS = 20
#: symbols beyond this magnitude (the int32 range) are refused by both sides: no latent gets near it,
#: and a forged escape code could otherwise ask for values up to 2^62
MAX_SYMBOL = (1 << 31) - 1


def quantize_pmf(probs: np.ndarray, tail_mass: float, escape: bool = True) -> np.ndarray:
    """Integer counts (>= 1 each, summing to 2**PRECISION_BITS) for ``probs`` + an escape bin.

    ``probs`` need not sum to one; ``tail_mass`` (>= 0) is the probability
    of the escape symbol before the floor of one count is applied. ``escape=False``: no escape
    bin (a table for values that are always in range, such as those decoded from it).
    """
    p = np.asarray(probs, np.float64)
    if escape:
        p = np.concatenate([p, [max(float(tail_mass), 0.0)]])
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
    """A set of quantized pmfs. ``counts[j, :lengths[j] + 1]`` is table j (last bin = escape);
    with ``escape=False`` the tables have no escape bin (``counts[j, :lengths[j]]``) and a value
    outside a table is an error."""

    counts: np.ndarray  # int64 [T, Lmax + 1], zero padded
    lengths: np.ndarray  # int64 [T], number of in-range values of each table
    offsets: np.ndarray  # int64 [T], the value of bin 0
    escape: bool = True

    @classmethod
    def from_probabilities(cls, probs: list[np.ndarray], offsets, tail_masses=None, escape: bool = True) -> "PmfTables":
        if tail_masses is None:
            tail_masses = [max(0.0, 1.0 - float(np.sum(p))) for p in probs]
        quantized = [quantize_pmf(p, t, escape) for p, t in zip(probs, tail_masses)]
        width = max(q.size for q in quantized) + (0 if escape else 1)
        counts = np.zeros((len(quantized), width), np.int64)
        for j, q in enumerate(quantized):
            counts[j, : q.size] = q
        lengths = np.array([q.size - int(escape) for q in quantized], np.int64)
        return cls(counts, lengths, np.asarray(offsets, np.int64), escape)

    def __len__(self) -> int:
        return len(self.lengths)

    def bits_per_symbol(self, values: np.ndarray, table_idx: np.ndarray) -> np.ndarray:
        """What the coder spends on each value, in bits (float64, flattened): ``-log2`` of its
        quantized probability; a value outside its table costs the escape bin plus the escape
        code's uniform bits (1 bit of direction, then :func:`~neurcomp.entropy.bits.encode_uniform_gamma`
        of the distance ``d >= 1``), exactly what the coder writes.

        Example:
            >>> t = PmfTables.from_probabilities([np.array([0.5, 0.5])], offsets=[0])
            >>> t.bits_per_symbol(np.array([0, 1, 5]), np.zeros(3, int)).round(3).tolist()
            [1.0, 1.0, 29.0]
        """
        values = np.asarray(values, np.int64).ravel()
        table_idx = np.asarray(table_idx, np.int64).ravel()
        s = values - self.offsets[table_idx]
        n = self.lengths[table_idx]
        esc = (s < 0) | (s >= n)
        if esc.any() and not self.escape:
            raise CodingError("value outside a table without escape")
        bits = PRECISION_BITS - np.log2(self.counts[table_idx, np.where(esc, n, s)].astype(np.float64))
        if esc.any():
            d = np.where(s < 0, -s - 1, s - n)[esc] + 1  # the escape code writes d - 1 >= 0 as d
            bits[esc] += 1 + uniform_gamma_bits(d)  # direction, then Elias-gamma of d
        return bits

    def information_bits(self, values: np.ndarray, table_idx: np.ndarray) -> float:
        """Total of :meth:`bits_per_symbol`: the ideal code length in bits of ``values``."""
        return float(self.bits_per_symbol(values, table_idx).sum())


class TableStore(nn.Module):
    """Integer coding tables kept as buffers (``table_counts``, ``table_lengths``,
    ``table_offsets``, int32), so they are saved with a model's weights; empty until
    :meth:`store_tables` fills them; ``load_state_dict`` takes the stored tables' shapes.

    Example:
        >>> store = TableStore()
        >>> store.built()
        False
        >>> store.store_tables(PmfTables.from_probabilities([np.array([0.25, 0.75])], offsets=[0], tail_masses=[0.0]))
        >>> store.built(), store.tables().lengths.tolist()
        (True, [2])
    """

    def __init__(self):
        super().__init__()
        self.register_buffer("table_counts", torch.zeros(0, dtype=torch.int32))
        self.register_buffer("table_lengths", torch.zeros(0, dtype=torch.int32))
        self.register_buffer("table_offsets", torch.zeros(0, dtype=torch.int32))

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # the tables' shapes depend on the data: take the stored ones' shapes before loading them
        for name in ("table_counts", "table_lengths", "table_offsets"):
            if prefix + name in state_dict:
                setattr(self, name, torch.empty_like(state_dict[prefix + name], device=self.table_counts.device))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def built(self) -> bool:
        """Whether tables have been stored."""
        return bool(self.table_lengths.numel())

    def store_tables(self, tables: PmfTables) -> None:
        device = self.table_counts.device
        self.table_counts = torch.from_numpy(tables.counts.astype(np.int32)).to(device)
        self.table_lengths = torch.from_numpy(tables.lengths.astype(np.int32)).to(device)
        self.table_offsets = torch.from_numpy(tables.offsets.astype(np.int32)).to(device)

    def tables(self) -> PmfTables:
        """The stored tables (int64 numpy arrays); RuntimeError if none were built."""
        if not self.built():
            raise RuntimeError("coding tables are not built: call update() after training")
        return PmfTables(self.table_counts.cpu().numpy().astype(np.int64),
                         self.table_lengths.cpu().numpy().astype(np.int64),
                         self.table_offsets.cpu().numpy().astype(np.int64))


def _models(tables: PmfTables, used: np.ndarray) -> dict[int, object]:
    out = {}
    for j in used:
        n = int(tables.lengths[j]) + int(tables.escape)
        probs = tables.counts[j, :n].astype(np.float64) / float(1 << PRECISION_BITS)
        out[int(j)] = constriction.stream.model.Categorical(probs, perfect=False)
    return out


def _encode_escape(encoder, value: int, below: bool) -> None:
    encoder.encode(np.array([int(below)], np.int32), constriction.stream.model.Uniform(2))
    encode_uniform_gamma(encoder, int(value) + 1)


def _decode_escape(decoder) -> tuple[int, bool]:
    below = bool(decoder.decode(constriction.stream.model.Uniform(2), 1)[0])
    return decode_uniform_gamma(decoder) - 1, below


def _plan(table_idx: np.ndarray, tables: PmfTables) -> tuple[np.ndarray, np.ndarray]:
    table_idx = np.asarray(table_idx, np.int64).ravel()
    if table_idx.size and (table_idx.min() < 0 or table_idx.max() >= len(tables)):
        raise CodingError("table index out of range")
    order = np.argsort(table_idx, kind="stable")
    return table_idx, order


def _write(sink, values: np.ndarray, table_idx: np.ndarray, tables: PmfTables) -> None:
    """Feed ``values`` to ``sink.encode(symbols, model)`` in the order :func:`_read` takes them back:
    grouped by table, then the escape codes."""
    raw = np.asarray(values)
    if raw.dtype.kind == "f" and raw.size and not (np.abs(raw) <= MAX_SYMBOL).all():  # NaN compares False
        raise CodingError(f"cannot code a non-finite latent or one of magnitude above {MAX_SYMBOL}")
    values = raw.astype(np.int64).ravel()
    # min and max, not abs: abs of int64's most negative value (what a cast NaN becomes) is negative
    if values.size and (int(values.min()) < -MAX_SYMBOL or int(values.max()) > MAX_SYMBOL):
        raise CodingError(f"symbol magnitude above {MAX_SYMBOL}")
    table_idx, order = _plan(table_idx, tables)
    if values.size != table_idx.size:
        raise CodingError("values and table indexes differ in length")
    used, starts = np.unique(table_idx[order], return_index=True)
    models = _models(tables, used)
    bounds = list(starts[1:]) + [order.size]
    escapes = []
    for j, a, b in zip(used, starts, bounds):
        pos = order[a:b]
        s = values[pos] - tables.offsets[j]
        n = tables.lengths[j]
        esc = (s < 0) | (s >= n)
        if esc.any() and not tables.escape:
            raise CodingError("value outside a table without escape")
        escapes.extend((int(x), int(n)) for x in s[esc])
        s = np.where(esc, n, s).astype(np.int32)
        sink.encode(s, models[int(j)])
    for s, n in escapes:
        if s < 0:
            _encode_escape(sink, -s - 1, below=True)
        else:
            _encode_escape(sink, s - n, below=False)


def _read(source, table_idx: np.ndarray, tables: PmfTables) -> np.ndarray:
    """Inverse of :func:`_write` on ``source.decode(model, n)`` (a range decoder or an ANS stack)."""
    table_idx, order = _plan(table_idx, tables)
    out = np.empty(table_idx.size, np.int64)
    used, starts = np.unique(table_idx[order], return_index=True)
    models = _models(tables, used)
    bounds = list(starts[1:]) + [order.size]
    pending = []
    for j, a, b in zip(used, starts, bounds):
        pos = order[a:b]
        s = source.decode(models[int(j)], b - a).astype(np.int64)
        n = tables.lengths[j]
        esc = s == n
        out[pos] = s + tables.offsets[j]
        if tables.escape:
            pending.extend((int(p), int(n), int(tables.offsets[j])) for p in pos[esc])
    for p, n, off in pending:
        d, below = _decode_escape(source)
        out[p] = off + (-d - 1 if below else n + d)
    if out.size and (int(out.min()) < -MAX_SYMBOL or int(out.max()) > MAX_SYMBOL):
        raise CodingError("decoded symbol out of range")
    return out


def encode_symbols(values: np.ndarray, table_idx: np.ndarray, tables: PmfTables) -> bytes:
    """Range-code integer ``values`` (``|value| <= MAX_SYMBOL``), value i under table ``table_idx[i]``;
    returns bytes."""
    encoder = constriction.stream.queue.RangeEncoder()
    _write(encoder, values, table_idx, tables)
    words = encoder.get_compressed()
    return words.astype("<u4").tobytes()


def decode_symbols(data: bytes, table_idx: np.ndarray, tables: PmfTables) -> np.ndarray:
    """Inverse of :func:`encode_symbols` (the decoder must know ``table_idx``).

    Raises :class:`CodingError` unless ``data`` is exactly what :func:`encode_symbols` writes for the
    decoded symbols: the decoded symbols are coded again and compared byte for byte, so a section
    with trailing, missing or altered bytes is refused (a range decoder alone reads past the end of
    its data, or stops early, without noticing), and so is a symbol beyond ``MAX_SYMBOL``.
    """
    if len(data) % 4:
        raise CodingError("range-coded section length is not a multiple of 4 bytes")
    words = np.frombuffer(data, "<u4").astype(np.uint32)
    decoder = constriction.stream.queue.RangeDecoder(words)
    try:
        out = _read(decoder, table_idx, tables)
    except CodingError:
        raise
    except Exception as e:  # constriction raises on exhausted / invalid data
        raise CodingError(f"range decoder failed: {e}") from e
    if encode_symbols(out, table_idx, tables) != bytes(data):
        raise CodingError("range-coded section does not end where its symbols end (trailing, missing or altered bytes)")
    return out


class _Recorder:
    """Collects ``encode(symbols, model)`` calls, to be pushed onto an ANS stack in reverse."""

    def __init__(self):
        self.calls = []

    def encode(self, symbols, model) -> None:
        self.calls.append((np.array(symbols, np.int32, copy=True), model))


def push_symbols(ans, values: np.ndarray, table_idx: np.ndarray, tables: PmfTables) -> None:
    """Push ``values`` onto the ANS stack ``ans`` (a ``constriction.stream.stack.AnsCoder``) so that
    :func:`pop_symbols` with the same ``table_idx`` takes exactly them back off (escapes included).

    Example:
        >>> ans = constriction.stream.stack.AnsCoder()
        >>> t = PmfTables.from_probabilities([np.array([0.25, 0.5, 0.25])], offsets=[-1])
        >>> push_symbols(ans, np.array([0, 1, -1, 7]), np.zeros(4, int), t)
        >>> pop_symbols(ans, np.zeros(4, int), t).tolist(), ans.is_empty()
        ([0, 1, -1, 7], True)
    """
    rec = _Recorder()
    _write(rec, values, table_idx, tables)
    for symbols, model in reversed(rec.calls):
        ans.encode_reverse(symbols, model)


def pop_symbols(ans, table_idx: np.ndarray, tables: PmfTables) -> np.ndarray:
    """Pop values off the ANS stack ``ans``, value i under table ``table_idx[i]`` (the inverse of
    :func:`push_symbols`; on a stack of other bits it *decodes* them into values, as bits-back
    coding does with side information)."""
    try:
        return _read(ans, table_idx, tables)
    except CodingError:
        raise
    except Exception as e:
        raise CodingError(f"ANS decoder failed: {e}") from e
