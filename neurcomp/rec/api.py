r"""High-level REC API for diagonal Gaussians: ``rec_encode`` / ``rec_decode``.

``rec_encode(mu_q, sigma_q, mu_p, sigma_p, seed, method)`` returns ``(data, sample, info)``:
the bytes, the sample the decoder will reconstruct (float64 numpy array of the input
shape) and ``info`` with at least ``kl_bits`` (the ideal rate, KL[q || p] in bits) and
``coded_bits`` (``8 * len(data)``). ``rec_decode(data, mu_p, sigma_p, seed, shape, method)``
returns the same sample, bit for bit (given the same ``mu_p, sigma_p``).

Methods (see :mod:`neurcomp.rec.samplers`):

* ``orc`` -- default. Adaptive groups of at most ``budget_bits`` (B) of KL, sizes restricted to
  ``size_classes`` per octave (1: powers of two, so a size costs ~2 bits) up to
  ``max_group`` dims; ordered random coding with ``2^(B + extra_bits)`` candidates
  per group; indices and size classes range-coded under the image's own histograms
  (index = bit-length class + raw mantissa); outliers (one dim above B bits)
  quantized. ``extra_bits`` (t) trades rate for fidelity: the sample's spread is
  ~1.3x / 1.06x / 1.02x q's for t = 1 / 2 / 3 in the worst (1-D) case.
* ``orc-hint`` -- ordered random coding in groups that the decoder forms itself, from a per-dimension
  KL prediction ``kl_hint`` it can compute too (for the PLN: from ``p(z1 | z2)``, see
  ``PLN.kl_hint``), so no group sizes are sent. The encoder sends only the group budget in hint
  units; a group whose true KL exceeds ``budget_bits + split_bits`` is split in halves (one
  range-coded flag per group); ``2^(ceil(KL_g) + extra_bits)`` candidates per group (the decoder
  does not need the count); indices as for ``orc``. The default (B = 13, t = 2) codes the shipped
  PLN's latents at about 1.2x the KL.
* ``seed`` -- Flamich et al. 2020 Algorithm 2: the same grouping (default ``max_group`` 64), importance
  sampler with ``ceil(2^KL_group)`` candidates and the argmax rule (Eq. 8), indices
  Elias-delta coded, group sizes range-coded under a distribution fixed from training images
  (``size_counts``, as the paper does: :mod:`neurcomp.rec.size_table`; the stream records the
  table's fingerprint and the decoder needs the same table) or, without one, under the
  stream's own histogram (sent in the stream).
* ``miracle`` -- one block for the whole latent (MIRACLE without grouping; the digits warm-up):
  ``ceil(2^(KL + extra_bits))`` candidates, ``mode`` "softmax" (Havasi et al.) or
  "argmax" (Flamich et al. 2020), index Elias-delta coded.
* ``harsha`` -- every dimension on its own with the rejection sampler of Harsha et al. (toy;
  exact samples; index Elias-delta coded).

Stream: varint header ``[method id, D, parameters..., counts]`` and length-prefixed
sections (range-coded integers; for ``seed``/``miracle``/``harsha`` also an Elias-delta bit
string). The decoder needs nothing but ``mu_p, sigma_p``, the seed and the stream: every
decision (groups, indices, outlier precisions) is sent as an integer.

Example:
    >>> import numpy as np
    >>> mq, sq = np.array([0.5, -1.0, 0.2]), np.array([0.3, 0.5, 0.9])
    >>> data, z, info = rec_encode(mq, sq, np.zeros(3), np.ones(3), seed=7)
    >>> bool(np.array_equal(rec_decode(data, np.zeros(3), np.ones(3), seed=7, shape=(3,)), z))
    True
"""
from __future__ import annotations

import time
from dataclasses import astuple, dataclass, fields
from typing import Callable

import numpy as np

from ..entropy.bits import BitReader, BitWriter, elias_delta_decode, elias_delta_encode, read_varint
from ..entropy.errors import CodingError
from ..entropy.integer_codes import RangeReader, RangeWriter
from .index_codes import pack_sections, unpack_sections
from .randomness import group_keys
from .size_table import coding_counts, table_id
from .samplers import (adaptive_groups, dequantize_outliers, group_positions, harsha_decode, harsha_encode,
                       importance_encode, kl_bits, quantize_outliers, regenerate, scan_groups, size_classes,
                       standardize)

_MODES = ("softmax", "argmax", "orc")
HINT_STEP = 1.0 / 16.0  # the KL hint is used as integer multiples of 1/16 bit (identical on both sides)


def _np64(x) -> np.ndarray:
    if hasattr(x, "detach"):
        x = x.detach().cpu().double().numpy()
    return np.asarray(x, np.float64)


def _rng(seed: int, domain: int) -> np.random.Generator:
    """Encoder-private randomness (ORC arrival times, Gumbels, outlier samples)."""
    return np.random.default_rng([int(seed) % (1 << 63), int(domain) % (1 << 63), 0x5EC])


def assemble(eps: np.ndarray, mu_p: np.ndarray, sigma_p: np.ndarray) -> np.ndarray:
    """``mu_p + sigma_p * eps`` in float64 (the one formula both sides use)."""
    return mu_p + sigma_p * eps


# ----------------------------------------------------------------------------- outliers + groups


def _write_outliers(rw: RangeWriter, where: np.ndarray, e: np.ndarray, j: np.ndarray) -> None:
    gaps = np.diff(np.r_[-1, where]) - 1
    rw.log_classes(gaps, 40)
    rw.histogram_coded(e, 31)
    c = j >> e  # floor division by 2^e
    rw.gamma(np.where(c >= 0, 2 * c, -2 * c - 1))
    rw.uint(j - (c << e), e)


def _read_outliers(rr: RangeReader, n: int, D: int):
    gaps = rr.log_classes(n, 40)
    where = np.cumsum(gaps + 1) - 1
    if n and where[-1] >= D:
        raise CodingError("corrupt REC stream: outlier position out of range")
    e = rr.histogram_coded(n, 31)
    z = rr.gamma(n)
    c = np.where(z % 2 == 0, z // 2, -(z + 1) // 2)
    low = rr.uint(n, e)
    return where, e, (c << e) + low


def _split_outliers(m, s, kl, max_kl, seed, domain):
    """Dimensions above ``max_kl`` bits are quantized (encoder-private randomness ``rng``, returned
    for the candidate selection that follows). Returns ``(where, inl, e, j, eps_out, rng)``."""
    out_mask = kl > max_kl
    where = np.flatnonzero(out_mask)
    rng = _rng(seed, domain)
    e, j, eps_out = quantize_outliers(m[where], s[where], rng)
    return where, np.flatnonzero(~out_mask), e, j, eps_out, rng


def _select(m, s, kl, inl, where, eps_out, sizes, n_cands, mode, seed, domain, rng, p):
    """One candidate per group (weighted dims only) and the sample the decoder will regenerate."""
    g, pos = group_positions(sizes)
    keys = group_keys(seed, domain, np.arange(sizes.size))
    weighted = kl[inl] >= p["skip_bits"]
    idx, _ = scan_groups(m[inl][weighted], s[inl][weighted], g[weighted], pos[weighted], keys, n_cands, mode, rng,
                         threads=int(p["threads"]))
    eps = np.empty(m.size)
    eps[inl] = regenerate(seed, domain, g, pos, idx) if inl.size else np.zeros(0)
    eps[where] = eps_out
    counts = {"n_groups": int(sizes.size), "n_outliers": int(where.size), "n_weighted_dims": int(weighted.sum()),
              "candidates": int(n_cands.max()) if n_cands.size else 0,
              "candidate_evals": float(np.sum(n_cands[g[weighted]].astype(np.float64)))}
    return idx, eps, counts


# ----------------------------------------------------------------------------- stream headers


@dataclass(frozen=True)
class OrcHeader:
    """``orc``: groups of at most ``budget_bits`` of KL, ``2^(budget_bits + extra_bits)`` candidates each."""

    dims: int
    budget_bits: int
    extra_bits: int
    max_group: int
    size_classes: int
    n_groups: int
    n_outliers: int


@dataclass(frozen=True)
class SeedHeader:
    """``seed``: Flamich et al.'s Algorithm 2 (sizes range-coded, indices Elias-delta coded).
    ``size_table``: the fingerprint of the fixed size table the sizes were coded under (0: the
    stream's own histogram)."""

    dims: int
    max_group: int
    n_groups: int
    n_outliers: int
    size_table: int


@dataclass(frozen=True)
class OrcHintHeader:
    """``orc-hint``: groups formed from a decoder-side KL hint; only split flags are sent."""

    dims: int
    budget_bits: int
    extra_bits: int
    split_bits: int
    max_group: int
    budget_units: int
    n_flags: int
    n_outliers: int


@dataclass(frozen=True)
class BlockHeader:
    """``miracle`` and ``harsha``: nothing but the dimension count."""

    dims: int


# ----------------------------------------------------------------------------- grouped methods (sizes sent)


def _grouped_encode(method, m, s, hint, seed, domain, p):
    D = m.size
    B = int(p["budget_bits"])
    G = int(p["max_group"])
    K = B if p["outlier_bits"] is None else float(p["outlier_bits"])
    if not 1 <= B <= 30 or not 1 <= G <= 1 << 20:
        raise ValueError("budget_bits must be in [1, 30] and max_group in [1, 2^20]")
    kl = kl_bits(m, s)
    where, inl, e, j, eps_out, rng = _split_outliers(m, s, kl, min(K, B), seed, domain)
    per_octave = int(p.get("size_classes", 0)) if method == "orc" else 0
    allowed = size_classes(per_octave, G)
    sizes = adaptive_groups(kl[inl], B, G, allowed)
    if method == "orc":
        t = int(p["extra_bits"])
        if not 0 <= t or B + t > 30:
            raise ValueError("extra_bits must be >= 0 with budget_bits + extra_bits <= 30")
        n_cands = np.full(sizes.size, 1 << (B + t), np.int64)
        mode = "orc"
    else:
        g = np.repeat(np.arange(sizes.size), sizes)
        kl_g = np.bincount(g, weights=kl[inl], minlength=sizes.size) if sizes.size else np.zeros(0)
        n_cands = np.ceil(np.exp2(kl_g)).astype(np.int64)
        mode = "argmax"
    idx, eps, counts = _select(m, s, kl, inl, where, eps_out, sizes, n_cands, mode, seed, domain, rng, p)
    rw = RangeWriter()
    _write_outliers(rw, where, e, j)
    b0 = rw.enc.num_bits()
    table = p.get("size_counts")
    if table is not None:
        table = coding_counts(table)
        if method != "seed" or table.size != allowed.size:
            raise ValueError(f"size_counts must have max_group = {allowed.size} entries (got {table.size})")
        rw.categorical(sizes - 1, table)
    else:
        rw.histogram_coded(np.searchsorted(allowed, sizes), allowed.size)
    b1 = rw.enc.num_bits()
    if method == "orc":
        rw.log_classes(idx, B + t)
        sections = [rw.getvalue()]
        parts = {"outlier_bits": b0, "size_bits": b1 - b0, "index_bits": rw.enc.num_bits() - b1}
        header = OrcHeader(D, B, t, G, per_octave, sizes.size, where.size)
    else:
        bw = BitWriter()
        for i in idx.tolist():
            elias_delta_encode(bw, i + 1)
        sections = [rw.getvalue(), bw.getvalue()]
        parts = {"outlier_bits": b0, "size_bits": b1 - b0, "index_bits": bw.bits}
        header = SeedHeader(D, G, sizes.size, where.size, 0 if table is None else table_id(p["size_counts"]))
        parts["size_table"] = header.size_table
    return header, sections, eps, {**counts, **parts}


def _size_table_for(header, size_counts):
    """The coding counts a ``seed`` stream's sizes were coded under (None: the stream's own histogram)."""
    if isinstance(header, OrcHeader) or header.size_table == 0:
        return None
    if size_counts is None:
        raise ValueError(f"this REC stream's group sizes were coded under size table {header.size_table:08x}; "
                         "pass the same size_counts (the model's) to rec_decode")
    if table_id(size_counts) != header.size_table:
        raise CodingError(f"REC stream was coded under size table {header.size_table:08x}, "
                          f"not the given one ({table_id(size_counts):08x})")
    return coding_counts(size_counts)


def _grouped_decode(header, sections, hint, seed, domain, size_counts=None):
    D, G, n_groups, n_out = header.dims, header.max_group, header.n_groups, header.n_outliers
    orc = isinstance(header, OrcHeader)
    per_octave = header.size_classes if orc else 0
    if orc and header.budget_bits + header.extra_bits > 30:
        raise CodingError("corrupt REC header")
    if not 1 <= G <= 1 << 20 or n_out > D or n_groups > D or per_octave > 16:
        raise CodingError("corrupt REC header")
    allowed = size_classes(per_octave, G)
    rr = RangeReader(sections[0])
    where, e, j = _read_outliers(rr, n_out, D)
    table = _size_table_for(header, size_counts)
    if table is not None:
        if table.size != allowed.size:
            raise CodingError("corrupt REC header: the size table does not match max_group")
        sizes = rr.categorical(n_groups, table) + 1
    else:
        sizes = allowed[rr.histogram_coded(n_groups, allowed.size)]
    if orc:
        idx = rr.log_classes(n_groups, header.budget_bits + header.extra_bits)
    else:
        br = BitReader(sections[1])
        idx = np.array([elias_delta_decode(br) - 1 for _ in range(n_groups)], np.int64)
        br.finish()
    rr.finish()
    if sizes.sum() != D - n_out:
        raise CodingError("corrupt REC stream: group sizes do not add up")
    eps = np.empty(D)
    mask = np.zeros(D, bool)
    mask[where] = True
    g, pos = group_positions(sizes)
    eps[~mask] = regenerate(seed, domain, g, pos, idx) if g.size else np.zeros(0)
    eps[where] = dequantize_outliers(e, j)
    return eps


# ----------------------------------------------------------------------------- hinted groups (no group sizes sent)


def _hint_units(hint: np.ndarray) -> np.ndarray:
    """The hint as non-negative integers (multiples of ``HINT_STEP`` bits), exact on both sides."""
    h = np.asarray(hint, np.float64)
    if not np.all(np.isfinite(h)):
        raise ValueError("kl_hint must be finite")
    return np.maximum(np.round(h / HINT_STEP), 0.0)


def _split_groups(sizes: np.ndarray, flags_or_kl, encoder: bool, cap_bits: float):
    """Walk the hint groups in order; a group whose flag is 1 is replaced by its two halves (which are
    walked next). Encoder: ``flags_or_kl`` is the per-dim KL and the flags are decided (KL + t over
    the cap and more than one dim); decoder: it is the flag sequence. Returns ``(sizes, flags)``."""
    out, flags = [], []
    stack = [(int(v), 0) for v in sizes[::-1]]
    start = 0
    cs = np.r_[0.0, np.cumsum(flags_or_kl)] if encoder else None
    it = iter(flags_or_kl) if not encoder else None
    while stack:
        size, _ = stack.pop()
        if encoder:
            f = int(size > 1 and cs[start + size] - cs[start] > cap_bits)
        else:
            try:
                f = int(next(it))
            except StopIteration:
                raise CodingError("corrupt REC stream: too few split flags") from None
        flags.append(f)
        if f:
            if size < 2:
                raise CodingError("corrupt REC stream: split of a single dimension")
            stack.append((size - size // 2, 1))
            stack.append((size // 2, 1))
        else:
            out.append(size)
            start += size
    return np.asarray(out, np.int64), np.asarray(flags, np.int64)


def _hinted_encode(method, m, s, hint, seed, domain, p):
    D = m.size
    B, t, G, S = int(p["budget_bits"]), int(p["extra_bits"]), int(p["max_group"]), int(p["split_bits"])
    if not 1 <= B <= 24 or not 0 <= t or B + t + S > 30 or not 1 <= G <= 1 << 20:
        raise ValueError("need 1 <= budget_bits <= 24, extra_bits >= 0, budget + extra + split bits <= 30")
    kl = kl_bits(m, s)
    where, inl, e, j, eps_out, rng = _split_outliers(m, s, kl, B, seed, domain)
    hu = _hint_units(hint)[inl]
    # the encoder's one free choice: the budget in hint units (the hint's calibration for this latent)
    budget_units = int(max(1, round(B * hu.sum() / max(kl[inl].sum(), 1e-9)))) if inl.size else 1
    sizes0 = adaptive_groups(hu, budget_units, G)
    sizes, flags = _split_groups(sizes0, kl[inl], True, B + S)
    g = np.repeat(np.arange(sizes.size), sizes)
    kl_g = np.bincount(g, weights=kl[inl], minlength=sizes.size) if sizes.size else np.zeros(0)
    n_cands = np.left_shift(1, np.clip(np.ceil(kl_g).astype(np.int64) + t, t, B + t + S))
    idx, eps, counts = _select(m, s, kl, inl, where, eps_out, sizes, n_cands, "orc", seed, domain, rng, p)
    rw = RangeWriter()
    _write_outliers(rw, where, e, j)
    b0 = rw.enc.num_bits()
    rw.histogram_coded(flags, 2)
    b1 = rw.enc.num_bits()
    rw.log_classes(idx, B + t + S)
    parts = {"outlier_bits": b0, "size_bits": b1 - b0, "index_bits": rw.enc.num_bits() - b1}
    header = OrcHintHeader(D, B, t, S, G, budget_units, flags.size, where.size)
    return header, [rw.getvalue()], eps, {**counts, "n_splits": int(flags.sum()), **parts}


def _hinted_decode(header, sections, hint, seed, domain):
    D, B, t, S, G = header.dims, header.budget_bits, header.extra_bits, header.split_bits, header.max_group
    budget_units, n_flags, n_out = header.budget_units, header.n_flags, header.n_outliers
    if B + t + S > 30 or not 1 <= G <= 1 << 20 or n_out > D or n_flags > 2 * D + 1:
        raise CodingError("corrupt REC header")
    rr = RangeReader(sections[0])
    where, e, j = _read_outliers(rr, n_out, D)
    flags = rr.histogram_coded(n_flags, 2)
    mask = np.zeros(D, bool)
    mask[where] = True
    hu = _hint_units(hint)[~mask]
    sizes, _ = _split_groups(adaptive_groups(hu, budget_units, G), flags, False, 0)
    if sizes.sum() != D - n_out:
        raise CodingError("corrupt REC stream: groups do not cover the latent")
    idx = rr.log_classes(sizes.size, B + t + S)
    rr.finish()
    eps = np.empty(D)
    g, pos = group_positions(sizes)
    eps[~mask] = regenerate(seed, domain, g, pos, idx) if g.size else np.zeros(0)
    eps[where] = dequantize_outliers(e, j)
    return eps


# ----------------------------------------------------------------------------- one block / one dimension at a time


def _miracle_encode(method, m, s, hint, seed, domain, p):
    kl = float(kl_bits(m, s).sum())
    if p["mode"] not in _MODES:
        raise ValueError(f"mode must be one of {_MODES}")
    n = int(np.ceil(2.0 ** (kl + p["extra_bits"])))
    if n > p["max_candidates"]:
        raise ValueError(f"KL of {kl:.1f} bits needs {n} candidates (> max_candidates); use a grouped method")
    idx, eps, N = importance_encode(m, s, seed, p["extra_bits"], p["mode"], domain, n_candidates=n,
                                    rng=_rng(seed, domain))
    bw = BitWriter()
    elias_delta_encode(bw, idx + 1)
    return BlockHeader(m.size), [bw.getvalue()], eps, {"index": idx, "candidates": N, "index_bits": bw.bits}


def _miracle_decode(header, sections, hint, seed, domain):
    D = header.dims
    br = BitReader(sections[0])
    idx = elias_delta_decode(br) - 1
    br.finish()
    return regenerate(seed, domain, np.zeros(D, np.int64), np.arange(D), np.array([idx]))


def _harsha_encode(method, m, s, hint, seed, domain, p):
    D = m.size
    worst = float(kl_bits(m, s).max()) if D else 0.0
    if worst > p["max_kl_bits"]:
        raise ValueError(f"a dimension has {worst:.1f} bits of KL; the Harsha et al. toy sampler needs about "
                         f"2^KL steps (limit max_kl_bits={p['max_kl_bits']:g}); use a grouped method")
    bw = BitWriter()
    eps = np.empty(D)
    for d in range(D):
        i, eps[d] = harsha_encode(float(m[d]), float(s[d]), seed, dim=d, domain=domain)
        elias_delta_encode(bw, i + 1)
    return BlockHeader(D), [bw.getvalue()], eps, {"index_bits": bw.bits}


def _harsha_decode(header, sections, hint, seed, domain):
    br = BitReader(sections[0])
    eps = np.array([harsha_decode(elias_delta_decode(br) - 1, seed, d, domain) for d in range(header.dims)])
    br.finish()
    return eps


# ----------------------------------------------------------------------------- the registry


@dataclass(frozen=True)
class RecMethod:
    """A REC method: its stream id, header layout, section count, default parameters, and coder pair
    ``encode(method, m, s, hint, seed, domain, params) -> (header, sections, eps, info)`` /
    ``decode(header, sections, hint, seed, domain) -> eps`` (standardized samples)."""

    name: str
    id: int
    header: type
    sections: int
    defaults: dict
    encode: Callable
    decode: Callable
    needs_hint: bool = False


REGISTRY = {r.name: r for r in (
    RecMethod("orc", 1, OrcHeader, 1,
              {"budget_bits": 12, "extra_bits": 2, "max_group": 1024, "size_classes": 1, "outlier_bits": None,
               "skip_bits": 0.01, "threads": 1}, _grouped_encode, _grouped_decode),
    RecMethod("seed", 2, SeedHeader, 2,
              {"budget_bits": 14, "max_group": 64, "outlier_bits": None, "skip_bits": 0.01, "threads": 1,
               "size_counts": None},
              _grouped_encode, _grouped_decode),
    RecMethod("miracle", 3, BlockHeader, 1, {"extra_bits": 0.0, "mode": "softmax", "max_candidates": 1 << 26},
              _miracle_encode, _miracle_decode),
    RecMethod("harsha", 4, BlockHeader, 1, {"max_kl_bits": 16.0}, _harsha_encode, _harsha_decode),
    RecMethod("orc-hint", 5, OrcHintHeader, 1,
              {"budget_bits": 13, "extra_bits": 2, "max_group": 1024, "split_bits": 4, "skip_bits": 0.01,
               "threads": 1}, _hinted_encode, _hinted_decode, needs_hint=True),
)}
METHODS = tuple(REGISTRY)
DEFAULTS = {name: dict(r.defaults) for name, r in REGISTRY.items()}
_BY_ID = {r.id: r for r in REGISTRY.values()}


# ----------------------------------------------------------------------------- public API


def rec_encode(mu_q, sigma_q, mu_p, sigma_p, seed: int, method: str = "orc", domain: int = 0, kl_hint=None,
               **params):
    """Code a sample of ``N(mu_q, sigma_q^2)`` under ``N(mu_p, sigma_p^2)`` (diagonal, any shape).

    Returns ``(data, sample, info)``; ``info`` has ``kl_bits``, ``coded_bits``, ``enc_s`` and
    method-specific counts (groups, outliers, bits spent on indices / group sizes / outliers).
    ``domain`` separates independent uses of one seed (e.g. the two latent levels of a PLN).
    ``kl_hint`` (method ``orc-hint``, required there): a per-dimension prediction of the KL in bits that
    the *decoder* can compute too (from the prior's side); groups are formed from it, so no group
    sizes are sent. It must be passed to :func:`rec_decode` unchanged.
    ``size_counts`` (method ``seed``): a group-size table fixed from training images
    (:mod:`neurcomp.rec.size_table`); the sizes are coded under it instead of a histogram the
    stream carries, and :func:`rec_decode` needs the same table.
    """
    if method not in REGISTRY:
        raise ValueError(f"unknown REC method {method!r}; choose from {', '.join(METHODS)}")
    rm = REGISTRY[method]
    unknown = set(params) - set(rm.defaults)
    if unknown:
        raise TypeError(f"unknown parameters for {method!r}: {sorted(unknown)}")
    p = {**rm.defaults, **params}
    t0 = time.perf_counter()
    mu_q, sigma_q, mu_p, sigma_p = (_np64(v) for v in (mu_q, sigma_q, mu_p, sigma_p))
    shape = np.broadcast_shapes(mu_q.shape, sigma_q.shape, mu_p.shape, sigma_p.shape)
    mu_p_f, sigma_p_f = (np.broadcast_to(v, shape).ravel() for v in (mu_p, sigma_p))
    m, s = standardize(*(np.broadcast_to(v, shape) for v in (mu_q, sigma_q, mu_p, sigma_p)))
    hint = None
    if rm.needs_hint:
        if kl_hint is None:
            raise ValueError(f"method {method!r} needs kl_hint (a decoder-side prediction of the KL per dimension)")
        hint = np.broadcast_to(_np64(kl_hint), shape).ravel()
    header, sections, eps, extra = rm.encode(method, m, s, hint, int(seed), int(domain), p)
    data = pack_sections([rm.id, *astuple(header)], sections)
    info = {"method": method, "dims": m.size, "kl_bits": float(kl_bits(m, s).sum()), **extra,
            "coded_bits": 8 * len(data), "enc_s": time.perf_counter() - t0}
    return data, assemble(eps, mu_p_f, sigma_p_f).reshape(shape), info


def _parse(data: bytes):
    """``(method, header, sections)`` of a REC stream."""
    n, pos = read_varint(data, 0)
    if n < 2 or n > 16:
        raise CodingError("not a REC stream")
    mid, _ = read_varint(data, pos)
    if mid not in _BY_ID:
        raise CodingError(f"unknown REC method id {mid}")
    rm = _BY_ID[mid]
    values, sections = unpack_sections(data, rm.sections)
    if len(values) != 1 + len(fields(rm.header)):
        raise CodingError("corrupt REC header")
    return rm, rm.header(*values[1:]), sections


def stream_method(data: bytes) -> str:
    """The method a REC stream was written with."""
    return _parse(bytes(data))[0].name


def rec_decode(data: bytes, mu_p, sigma_p, seed: int, shape=None, method: str | None = None, domain: int = 0,
               kl_hint=None, size_counts=None):
    """The sample coded in ``data`` (float64 array of ``shape``, default the shape of ``mu_p``;
    ``kl_hint``: the encoder's, for method ``orc-hint``; ``size_counts``: the encoder's group-size
    table, for a ``seed`` stream coded under one)."""
    rm, header, sections = _parse(bytes(data))
    if method is not None and method != rm.name:
        raise CodingError(f"REC stream was written with method {rm.name!r}, not {method!r}")
    mu_p, sigma_p = _np64(mu_p), _np64(sigma_p)
    shape = tuple(shape) if shape is not None else np.broadcast_shapes(mu_p.shape, sigma_p.shape)
    D = int(np.prod(shape)) if len(shape) else 1
    if header.dims != D:
        raise CodingError(f"REC stream codes {header.dims} dimensions, expected {D}")
    hint = None
    if rm.needs_hint:
        if kl_hint is None:
            raise ValueError("this REC stream needs the encoder's kl_hint to decode")
        hint = np.broadcast_to(_np64(kl_hint), shape).ravel()
    if isinstance(header, SeedHeader):
        eps = rm.decode(header, sections, hint, int(seed), int(domain), size_counts)
    else:
        eps = rm.decode(header, sections, hint, int(seed), int(domain))
    mu_p_f, sigma_p_f = (np.broadcast_to(v, shape).ravel() for v in (mu_p, sigma_p))
    return assemble(eps, mu_p_f, sigma_p_f).reshape(shape)


__all__ = ["METHODS", "DEFAULTS", "REGISTRY", "RecMethod", "rec_encode", "rec_decode", "stream_method", "assemble"]
