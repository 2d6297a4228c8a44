r"""Relative entropy coding (REC) samplers for diagonal Gaussians.

Setting: encoder and decoder share a prior :math:`p = \mathcal N(\mu_p, \sigma_p^2)` (per
dimension) and a source of randomness (:mod:`neurcomp.rec.randomness`); the encoder knows
the posterior :math:`q = \mathcal N(\mu_q, \sigma_q^2)` and wants the decoder to obtain a
sample of :math:`q` using about :math:`\mathrm{KL}[q \,\|\, p]` bits. Everything is done in
*prior units*: ``eps = (z - mu_p) / sigma_p`` has prior N(0, 1) and posterior N(m, s^2) with
``m = (mu_q - mu_p) / sigma_p``, ``s = sigma_q / sigma_p``. Candidates are standard normals
``eps[g, n, j]`` of group ``g``, candidate ``n``, dimension ``j`` of the group.

Samplers (all return candidate indices; the decoder regenerates the chosen candidate):

(a) :func:`harsha_encode` -- the greedy rejection sampler of Harsha et al. (2007), 1-D toy.
    Exact samples of q; the index ``i*`` satisfies
    ``E[log i*] <= KL + 2 log(KL + 1) + O(1)`` (Flamich et al. 2020, Eq. 3).
(b) :func:`importance_encode` -- minimal random coding / the importance sampler of Flamich et al. 2020
    Eq. 8 (Havasi et al. 2018): ``N = ceil(2^(KL + t))`` candidates (KL in bits, ``t``
    oversampling bits), pick the argmax of the importance weights ``q/p`` (Flamich et al.'s
    choice) or sample proportionally to them (Havasi et al.'s).
(c) :func:`adaptive_groups` + :func:`scan_groups` -- the adaptively grouped importance
    sampler of Flamich et al. 2020 Algorithm 2: outliers (KL of one dimension above ``K``) removed,
    dimensions grouped in order with at most ``G`` dimensions and at most ``B`` bits of KL
    per group, each group coded by (b) with ``ceil(2^KL_group)`` candidates.
(d) ordered random coding (ORC, Theis & Yosri 2022) over the same kind of groups, with a
    fixed number of candidates ``N = 2^(B + t)`` per group: candidate ``n`` gets the
    ``n``-th smallest of N exponential "arrival times" ``T_n`` and the encoder picks
    ``argmax_n log w_n - log T_n``. Its sample has exactly the distribution of (b)'s
    "sample proportional to the weights" variant (a Gumbel-max over the same candidates),
    but small indices are much more likely, so an entropy code of the index (bit-length
    class + raw bits, see :mod:`neurcomp.entropy.integer_codes`) costs close to the group's KL.
    As N grows it becomes the Poisson functional representation (Li & El Gamal 2018).

:func:`scan_groups` is the vectorized engine of (b)-(d): it evaluates all candidates of
many groups at once, in chunks, with the random bits computed exactly (uint64) and the
importance weights in float32 (an approximation used only to *choose*; the chosen
candidate is then regenerated in float64 exactly as the decoder does). Dimensions whose KL
is below ``skip_bits`` are left out of the weights (their value is then a sample of p,
off by at most that KL; the decoder needs no change).

Outliers (one dimension with more KL than a group may hold) are coded by quantization
(:func:`quantize_outliers`): a posterior sample on a grid of step ``2^-e <= s`` in prior
units, ``e`` and the integer sent exactly.
"""
from __future__ import annotations

import math
import sys
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from scipy.special import ndtr

from .randomness import GAMMA, MAX_CANDIDATES, _u64, group_keys, normals, uniforms

LN2 = math.log(2.0)
_LITTLE = sys.byteorder == "little"
_STEP = np.uint64((int(GAMMA) << 32) % (1 << 64))  # counter step of one candidate, times GAMMA


# ----------------------------------------------------------------------------- Gaussians


def standardize(mu_q, sigma_q, mu_p, sigma_p) -> tuple[np.ndarray, np.ndarray]:
    """Posterior mean and std in prior units (float64, flattened): ``m, s``."""
    mu_q, sigma_q, mu_p, sigma_p = (np.asarray(v, np.float64).ravel() for v in (mu_q, sigma_q, mu_p, sigma_p))
    if np.any(sigma_p <= 0) or np.any(sigma_q <= 0):
        raise ValueError("standard deviations must be positive")
    return (mu_q - mu_p) / sigma_p, sigma_q / sigma_p


def kl_bits(m, s) -> np.ndarray:
    """KL[N(m, s^2) || N(0, 1)] in bits, elementwise."""
    m, s = np.asarray(m, np.float64), np.asarray(s, np.float64)
    return np.maximum(-np.log(s) + 0.5 * ((s - 1.0) * (s + 1.0) + m * m), 0.0) / LN2


def log_weights(eps, m, s) -> np.ndarray:
    """log q(eps) / p(eps) summed over the last axis (float64, exact form)."""
    t = (eps - m) / s
    return np.sum(0.5 * (eps * eps - t * t) - np.log(s), axis=-1)


# ----------------------------------------------------------------------------- (a) Harsha et al.


def _min_mass(m: float, s: float, c: float) -> float:
    r"""``\int min(q(x), c p(x)) dx`` for q = N(m, s^2), p = N(0, 1)."""
    if c <= 0:
        return 0.0
    A, B = 0.5 - 0.5 / (s * s), m / (s * s)
    C = -m * m / (2 * s * s) - math.log(s) - math.log(c)
    # R = {x : A x^2 + B x + C > 0} is where q > c p
    if abs(A) < 1e-14:
        if B == 0:
            inside = C > 0
            return c if inside else 1.0
        x0 = -C / B
        if B > 0:  # R = (x0, inf)
            qR, pR = 1 - ndtr((x0 - m) / s), 1 - ndtr(x0)
        else:
            qR, pR = ndtr((x0 - m) / s), ndtr(x0)
        return float(1 - qR + c * pR)
    disc = B * B - 4 * A * C
    if disc <= 0:
        return 1.0 if A < 0 else float(c)
    sq = math.sqrt(disc)
    r1, r2 = sorted(((-B - sq) / (2 * A), (-B + sq) / (2 * A)))
    q_in = ndtr((r2 - m) / s) - ndtr((r1 - m) / s)
    p_in = ndtr(r2) - ndtr(r1)
    if A < 0:  # R = (r1, r2)
        qR, pR = q_in, p_in
    else:  # R = complement of [r1, r2]
        qR, pR = 1 - q_in, 1 - p_in
    return float(1 - qR + c * pR)


def harsha_encode(m: float, s: float, seed: int, dim: int = 0, domain: int = 0,
                  max_iter: int = 1 << 24) -> tuple[int, float]:
    r"""Greedy rejection sampler of Harsha et al. (2007) for 1-D q = N(m, s^2), p = N(0, 1).

    Step ``i`` draws candidate ``x_i ~ p`` (shared randomness: group ``dim``, candidate ``i``)
    and accepts it with probability ``(min(w, c_i) - min(w, c_{i-1})) / (c_i - c_{i-1})``,
    ``w = q(x_i)/p(x_i)``, where ``c_i = c_{i-1} + 1 - P_{i-1}`` and
    ``P_i = \int min(q, c_i p)`` is the mass accepted in the first ``i`` steps. The accepted
    ``x`` is an exact sample of q. Returns ``(i, x)`` (``i`` counts from 0).
    """
    key = group_keys(seed, domain, np.array([dim]))[0]
    ukey = group_keys(seed, domain + (1 << 20), np.array([dim]))[0]  # acceptance uniforms (encoder only)
    c_prev, p_prev = 0.0, 0.0
    log_s = math.log(s)
    for i in range(max_iter):
        x = float(normals(key, i, 0))
        c_i = c_prev + (1.0 - p_prev)
        lw = -log_s - 0.5 * ((x - m) / s) ** 2 + 0.5 * x * x
        w = math.exp(min(lw, 700.0))
        gap = c_i - c_prev
        accept = 1.0 if gap <= 1e-300 else (min(w, c_i) - min(w, c_prev)) / gap
        if float(uniforms(ukey, i, 0)) < accept or p_prev >= 1.0:
            return i, x
        c_prev, p_prev = c_i, _min_mass(m, s, c_i)
    raise RuntimeError("Harsha sampler did not accept within max_iter candidates")


def harsha_decode(index: int, seed: int, dim: int = 0, domain: int = 0) -> float:
    return float(normals(group_keys(seed, domain, np.array([dim]))[0], index, 0))


def harsha_bound_bits(kl: float, const: float = 4.0) -> float:
    """The bound of Flamich et al. 2020 Eq. 3 in bits, ``KL + 2 log2(KL + 1) + const``."""
    return kl + 2 * math.log2(kl + 1) + const


# ----------------------------------------------------------------------------- grouping (Algorithm 2)


def remove_outliers(kl: np.ndarray, max_kl: float) -> np.ndarray:
    """Boolean mask of outlier dimensions (KL above ``max_kl`` bits)."""
    return np.asarray(kl) > max_kl


def size_classes(per_octave: int, max_group: int) -> np.ndarray:
    """The allowed group sizes ``round(2^(i / per_octave))`` up to ``max_group`` (``per_octave = 0``: every size)."""
    if per_octave <= 0:
        return np.arange(1, max_group + 1, dtype=np.int64)
    n = int(math.floor(per_octave * math.log2(max_group))) + 1
    return np.unique(np.round(np.exp2(np.arange(n) / per_octave)).astype(np.int64))


def adaptive_groups(kl: np.ndarray, budget_bits: float, max_group: int, allowed: np.ndarray | None = None) -> np.ndarray:
    """Flamich et al. 2020 Algorithm 2's partition: walk the dimensions in order and close the current
    group when adding the next one would exceed ``budget_bits`` of KL or ``max_group``
    dimensions (a group always takes at least one dimension). With ``allowed`` (sorted
    sizes, see :func:`size_classes`) each group is the largest allowed size that fits, so
    that a size costs a few bits (its class) instead of ``log2(size)`` and more.
    Returns the group sizes (int64, summing to ``len(kl)``)."""
    kl = np.asarray(kl, np.float64)
    n = kl.size
    if n == 0:
        return np.zeros(0, np.int64)
    allowed = np.arange(1, max_group + 1, dtype=np.int64) if allowed is None else np.asarray(allowed, np.int64)
    allowed = allowed[allowed <= max_group]
    cs = np.r_[0.0, np.cumsum(kl)]
    # fit[i]: the most dimensions from i whose KL stays within the budget (at least 1)
    fit = np.maximum(np.searchsorted(cs, cs[:-1] + budget_bits, side="right") - 1 - np.arange(n), 1)
    fit = np.minimum(fit, n - np.arange(n))
    size_at = allowed[np.maximum(np.searchsorted(allowed, fit, side="right") - 1, 0)].tolist()
    sizes, i = [], 0
    while i < n:
        sizes.append(size_at[i])
        i += size_at[i]
    return np.asarray(sizes, np.int64)


# ----------------------------------------------------------------------------- the scan engine


def _scan_chunk(base: np.ndarray, nvec: np.ndarray, m32, r32, starts, buf=None) -> np.ndarray:
    """float32 log weights ``[len(nvec), n_groups]`` (without the -log s constants) of candidates ``nvec``."""
    with np.errstate(over="ignore"):
        x = base[None, :] + (nvec.astype(np.uint64) * _STEP)[:, None]
        x ^= x >> np.uint64(30)
        x *= np.uint64(0xBF58476D1CE4E5B9)
        x ^= x >> np.uint64(27)
        x *= np.uint64(0x94D049BB133111EB)
        x ^= x >> np.uint64(31)
    v = x.view(np.uint32).reshape(x.shape[0], x.shape[1], 2)
    lo, hi = (v[..., 0], v[..., 1]) if _LITTLE else (v[..., 1], v[..., 0])
    u1 = np.multiply(hi, np.float32(2.0 ** -32), dtype=np.float32, casting="unsafe")
    u1 += np.float32(2.0 ** -33)
    np.log(u1, out=u1)
    u1 *= np.float32(-2.0)
    np.sqrt(u1, out=u1)
    ang = np.multiply(lo, np.float32(2.0 * np.pi * 2.0 ** -32), dtype=np.float32, casting="unsafe")
    np.cos(ang, out=ang)
    eps = np.multiply(u1, ang, out=u1)
    t = np.subtract(eps, m32, out=ang)
    t *= r32
    t *= t
    eps *= eps
    eps -= t
    return np.add.reduceat(eps, starts, axis=1)


def _scan_subset(m, s, dim_group, dim_pos, keys, n_cands, mode, rng, chunk_elems):
    """:func:`scan_groups` on the groups present in ``dim_group`` (see there)."""
    n_groups = len(keys)
    index = np.zeros(n_groups, np.int64)
    best_lw = np.zeros(n_groups)
    # groups that have weighted dims, ordered by decreasing candidate count (then group id)
    active = np.unique(dim_group)
    order = active[np.lexsort((active, -n_cands[active]))]
    rank = np.empty(n_groups, np.int64)
    rank[order] = np.arange(order.size)
    perm = np.lexsort((dim_pos, rank[dim_group]))
    g_of_dim = rank[dim_group][perm]
    starts = np.flatnonzero(np.r_[True, g_of_dim[1:] != g_of_dim[:-1]])
    ends = np.r_[starts[1:], g_of_dim.size]
    with np.errstate(over="ignore"):
        base = keys[order][g_of_dim] + (_u64(dim_pos[perm]) + np.uint64(1)) * GAMMA
    m32 = m[perm].astype(np.float32)
    r32 = (1.0 / s[perm]).astype(np.float32)
    const = -np.add.reduceat(np.log(s[perm]), starts)
    nc_sorted = n_cands[order]
    G = order.size
    best = np.full(G, -np.inf)
    best_idx = np.zeros(G, np.int64)
    lw_best = np.zeros(G)
    T = np.zeros(G)
    n0, n_max = 0, int(nc_sorted.max())
    while n0 < n_max:
        g_live = int(np.sum(nc_sorted > n0))  # groups with n_cands > n0 (a prefix)
        a_live = int(ends[g_live - 1])
        nc = max(1, min(n_max - n0, chunk_elems // max(a_live, 1)))
        nvec = np.arange(n0, n0 + nc, dtype=np.int64)
        lw = _scan_chunk(base[:a_live], nvec, m32[:a_live], r32[:a_live], starts[:g_live]).astype(np.float64)
        lw = 0.5 * lw + const[None, :g_live]
        valid = nvec[:, None] < nc_sorted[None, :g_live]
        if mode == "argmax":
            score = lw
        elif mode == "softmax":
            score = lw + rng.gumbel(size=lw.shape)
        else:  # ORC: n-th order statistic of N iid Exp(1): T_n = T_{n-1} + X_n / (N - n)
            N = nc_sorted[None, :g_live].astype(np.float64)
            inc = rng.standard_exponential(lw.shape) / np.maximum(N - nvec[:, None], 1.0)
            Tn = T[None, :g_live] + np.cumsum(inc, axis=0)
            T[:g_live] = Tn[-1]
            score = lw - np.log(Tn)
        score = np.where(valid, score, -np.inf)
        i = np.argmax(score, axis=0)
        cols = np.arange(g_live)
        s_i = score[i, cols]
        better = s_i > best[:g_live]
        best[:g_live] = np.where(better, s_i, best[:g_live])
        best_idx[:g_live] = np.where(better, nvec[i], best_idx[:g_live])
        lw_best[:g_live] = np.where(better, lw[i, cols], lw_best[:g_live])
        n0 += nc
    index[order] = best_idx
    best_lw[order] = lw_best
    return index, best_lw


def scan_groups(m, s, dim_group, dim_pos, keys, n_cands, mode: str, rng: np.random.Generator,
                chunk_elems: int = 1 << 20, threads: int = 1, shards: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """Choose one candidate per group, vectorized over groups.

    ``m, s`` (float64) and ``dim_group, dim_pos`` (group index and position inside the
    group) describe the *weighted* dimensions only; ``keys[g]`` is the random key of group
    g and ``n_cands[g]`` its number of candidates. ``mode``: ``"argmax"`` (Flamich et al. 2020),
    ``"softmax"`` (sample proportionally to the weights, via Gumbel-max), ``"orc"`` (ordered
    random coding). Groups without weighted dimensions get index 0 (every candidate is an
    exact sample of p there). The groups are split into ``shards`` fixed slices with their
    own random streams (spawned from ``rng``), run on ``threads`` threads (numpy releases
    the GIL), so the result does not depend on the thread count.
    Returns ``(index, log_weight)`` per group (log weights from the float32 scan).
    """
    n_groups = len(keys)
    n_cands = np.asarray(n_cands, np.int64)
    if np.any(n_cands > MAX_CANDIDATES):
        raise ValueError(f"a group would need {int(n_cands.max())} candidates (limit {MAX_CANDIDATES})")
    if mode not in ("argmax", "softmax", "orc"):
        raise ValueError(f"unknown selection mode {mode!r}")
    m, s = np.asarray(m, np.float64), np.asarray(s, np.float64)
    dim_group, dim_pos = np.asarray(dim_group, np.int64), np.asarray(dim_pos, np.int64)
    index, best_lw = np.zeros(n_groups, np.int64), np.zeros(n_groups)
    if dim_group.size == 0:
        return index, best_lw
    n_sh = max(1, min(shards, dim_group.size // 4096))
    cuts = np.searchsorted(np.arange(n_groups), np.linspace(0, n_groups, n_sh + 1)[1:-1])
    shard_of_group = np.searchsorted(cuts, np.arange(n_groups), side="right")
    sh = shard_of_group[dim_group]
    rngs = rng.spawn(n_sh)

    def run(k):
        sel = sh == k
        if not sel.any():
            return None
        return _scan_subset(m[sel], s[sel], dim_group[sel], dim_pos[sel], keys, n_cands, mode, rngs[k], chunk_elems)

    if threads > 1 and n_sh > 1:
        with ThreadPoolExecutor(max_workers=threads) as ex:
            results = list(ex.map(run, range(n_sh)))
    else:
        results = [run(k) for k in range(n_sh)]
    for k, res in enumerate(results):
        if res is None:
            continue
        gsel = shard_of_group == k
        index[gsel], best_lw[gsel] = res[0][gsel], res[1][gsel]
    return index, best_lw


def regenerate(seed: int, domain: int, dim_group, dim_pos, index) -> np.ndarray:
    """The decoder's side: candidate values (float64) of every dimension given group indices."""
    dim_group = np.asarray(dim_group, np.int64)
    keys = group_keys(seed, domain, np.arange(int(dim_group.max()) + 1 if dim_group.size else 0))
    return normals(keys[dim_group], np.asarray(index, np.int64)[dim_group], np.asarray(dim_pos, np.int64))


def group_positions(sizes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Group index and position inside the group of every dimension, from group sizes."""
    sizes = np.asarray(sizes, np.int64)
    g = np.repeat(np.arange(sizes.size), sizes)
    first = np.cumsum(sizes) - sizes
    return g, np.arange(g.size) - first[g]


# ----------------------------------------------------------------------------- (b) single block


def importance_encode(m, s, seed: int, extra_bits: float = 0.0, mode: str = "softmax", domain: int = 0,
                      n_candidates: int | None = None, rng=None) -> tuple[int, np.ndarray, int]:
    """Minimal random coding of one block: ``N = ceil(2^(KL + extra_bits))`` candidates
    (or ``n_candidates``), choose by ``mode`` ("argmax" as Flamich et al. 2020 Eq. 8, "softmax" as
    Havasi et al., "orc"). Returns ``(index, eps_sample, N)``."""
    m, s = np.asarray(m, np.float64).ravel(), np.asarray(s, np.float64).ravel()
    kl = float(kl_bits(m, s).sum())
    N = int(n_candidates or math.ceil(2.0 ** (kl + extra_bits)))
    rng = rng if rng is not None else np.random.default_rng(seed)
    keys = group_keys(seed, domain, np.arange(1))
    idx, _ = scan_groups(m, s, np.zeros(m.size, np.int64), np.arange(m.size), keys, [N], mode, rng)
    eps = regenerate(seed, domain, np.zeros(m.size, np.int64), np.arange(m.size), idx)
    return int(idx[0]), eps, N


# ----------------------------------------------------------------------------- outliers


def quantize_outliers(m, s, rng: np.random.Generator, max_e: int = 30, clip: float = 63.0):
    """Posterior samples of outlier dims on a grid of step ``2^-e`` (prior units), ``2^-e <= s``.

    Returns ``(e, j, eps)``: precision exponents, integers ``j`` (sample = ``j / 2^e``, clipped to
    ``|eps| <= clip``), and the decoded values."""
    m, s = np.asarray(m, np.float64), np.asarray(s, np.float64)
    e = np.clip(np.ceil(-np.log2(s)), 0, max_e).astype(np.int64)
    x = np.clip(m + s * rng.standard_normal(m.shape), -clip, clip)
    j = np.round(x * np.exp2(e)).astype(np.int64)
    return e, j, dequantize_outliers(e, j)


def dequantize_outliers(e, j) -> np.ndarray:
    return np.asarray(j, np.float64) / np.exp2(np.asarray(e, np.float64))


__all__ = ["standardize", "kl_bits", "log_weights", "harsha_encode", "harsha_decode", "harsha_bound_bits",
           "remove_outliers", "size_classes", "adaptive_groups", "scan_groups", "regenerate", "group_positions",
           "importance_encode", "quantize_outliers", "dequantize_outliers"]
