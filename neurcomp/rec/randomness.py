r"""Shared randomness for relative entropy coding: a counter-based generator.

Encoder and decoder of a REC scheme must draw the *same* candidates
:math:`z_{g,n} \sim p` for every group ``g`` and candidate index ``n``; the code of a
group is just the index of the chosen candidate. We need random access (the decoder
regenerates candidate ``n`` of group ``g`` without drawing the ``n - 1`` before it) and
results that do not depend on numpy's version or on the platform, so we do not use
``numpy.random`` but a counter-based generator written here:

* **Integers.** Every element has a 64-bit *counter*; its 64 random bits are the SplitMix64
  output function (Steele, Lea & Flood 2014; the "variant 13" finalizer of Stafford)
  applied to ``key + (counter + 1) * GAMMA`` (mod 2^64). With ``key`` fixed this is exactly
  the SplitMix64 sequence seeded with ``key`` (tested against its published first outputs).
  Keys are derived by the same mixing: ``key(seed, domain) = mix(mix(seed + GAMMA) ^ ((domain + 1) * GAMMA))``
  and ``key_g = mix(key + (g + 1) * GAMMA)`` for group ``g``; the element counter of
  dimension ``j`` (position inside its group) of candidate ``n`` is ``n * 2^32 + j``.
  All of this is uint64 arithmetic, which numpy does exactly (wrapping) on every platform.
* **Uniforms.** Exact rules, no rounding anywhere: ``u53 = (bits >> 11) * 2^-53`` in
  [0, 1); for normals the two 32-bit halves ``hi, lo`` give ``u1 = (hi + 0.5) * 2^-32`` in
  (0, 1) and ``u2 = lo * 2^-32`` in [0, 1) (both exact in float64).
* **Normals.** Box-Muller, cosine branch only: ``eps = sqrt(-2 log u1) * cos(2 pi u2)``
  in float64. (Tails are cut at ``sqrt(2 log 2^33) = 6.76`` standard deviations, a mass of
  1.4e-11, irrelevant for candidates drawn from the prior.)

Why a decoder with another numpy (or CPU) decodes the same sample: the integers and
the uniforms are bit-identical everywhere. ``log``, ``sqrt`` and ``cos`` are correctly
rounded or within an ulp or two, and different SIMD code paths may differ in that last
ulp. That cannot change *which* candidate is chosen: the choice is made once, by the
encoder, and sent as an index. The decoder only regenerates the chosen candidate, and a
last-ulp difference perturbs it by ~1e-16 relative, far below anything the synthesis
transform (run in float64) can turn into a different 8-bit pixel.

Example:
    >>> bits = splitmix64_stream(0, 3)
    >>> [hex(int(b)) for b in bits]
    ['0xe220a8397b1dcdaf', '0x6e789e6aa1b965f4', '0x6c45d188009454f']
    >>> k = group_keys(seed=1, domain=0, groups=np.arange(2))
    >>> normals(k[:, None], np.zeros((2, 1), np.uint64), np.arange(3)[None, :]).shape
    (2, 3)
"""
from __future__ import annotations

import numpy as np

GAMMA = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_S30, _S27, _S31, _S32, _S11 = (np.uint64(s) for s in (30, 27, 31, 32, 11))
_LO32 = np.uint64(0xFFFFFFFF)
TWO_M32 = 2.0 ** -32
TWO_M53 = 2.0 ** -53
TWO_PI = 2.0 * np.pi
MAX_CANDIDATES = 1 << 31  # candidate indices n < 2^31 (counter = n * 2^32 + j, dimension j < 2^32)


def _u64(x) -> np.ndarray:
    """Any integer (array) as uint64, wrapping negative Python ints modulo 2^64."""
    if isinstance(x, (int, np.integer)):
        return np.uint64(int(x) % (1 << 64))
    a = np.asarray(x)
    if a.dtype == np.uint64:
        return a
    if a.dtype.kind not in "iu":
        raise TypeError(f"integer array expected, got {a.dtype}")
    return a.astype(np.int64).view(np.uint64) if a.dtype.kind == "i" else a.astype(np.uint64)


def mix64(x) -> np.ndarray:
    """The SplitMix64 output function (a bijection of uint64 with full avalanche); exact in numpy."""
    with np.errstate(over="ignore"):
        z = np.array(_u64(x), dtype=np.uint64, copy=True)
        z ^= z >> _S30
        z *= _M1
        z ^= z >> _S27
        z *= _M2
        z ^= z >> _S31
    return z if z.ndim else np.uint64(z)


def splitmix64_stream(seed: int, n: int) -> np.ndarray:
    """The first ``n`` outputs of SplitMix64 seeded with ``seed`` (reference behaviour)."""
    with np.errstate(over="ignore"):
        state = _u64(seed) + (np.arange(1, n + 1, dtype=np.uint64) * GAMMA)
    return mix64(state)


def base_key(seed: int, domain: int = 0) -> np.uint64:
    """Key of a coding run: ``seed`` (any int) and a ``domain`` tag (e.g. latent level)."""
    with np.errstate(over="ignore"):
        k0 = mix64(_u64(seed) + GAMMA)
        return mix64(k0 ^ (_u64(domain + 1) * GAMMA))


def group_keys(seed: int, domain: int, groups) -> np.ndarray:
    """Key of each group index in ``groups`` (uint64 array of the same shape)."""
    with np.errstate(over="ignore"):
        g = _u64(np.asarray(groups)) + np.uint64(1)
        return mix64(base_key(seed, domain) + g * GAMMA)


def counters(cand, dim) -> np.ndarray:
    """Element counter of dimension ``dim`` (inside its group) of candidate ``cand`` (broadcast)."""
    cand = _u64(np.asarray(cand))
    dim = _u64(np.asarray(dim))
    return (cand << _S32) | dim


def random_bits(keys, cand, dim) -> np.ndarray:
    """64 random bits for every (key, candidate, dimension) triple (broadcasting)."""
    with np.errstate(over="ignore"):
        c = counters(cand, dim) + np.uint64(1)
        return mix64(_u64(np.asarray(keys)) + c * GAMMA)


def uniform53(bits) -> np.ndarray:
    """Uniforms in [0, 1) from 64-bit integers: ``(bits >> 11) * 2^-53`` (exact)."""
    return (_u64(bits) >> _S11).astype(np.float64) * TWO_M53


def normals_from_bits(bits) -> np.ndarray:
    """Standard normals, one per 64-bit integer (Box-Muller, cosine branch, float64)."""
    bits = _u64(np.asarray(bits))
    u1 = ((bits >> _S32).astype(np.float64) + 0.5) * TWO_M32
    u2 = (bits & _LO32).astype(np.float64) * TWO_M32
    r = np.sqrt(-2.0 * np.log(u1))
    return r * np.cos(TWO_PI * u2)


def normals(keys, cand, dim) -> np.ndarray:
    """Candidate values (standard normal) of dimension ``dim`` of candidate ``cand`` under ``keys``."""
    return normals_from_bits(random_bits(keys, cand, dim))


def uniforms(keys, cand, dim) -> np.ndarray:
    """Uniforms in [0, 1) for the same triples (an independent use of the same counters is
    not allowed: pass a different ``domain`` to :func:`group_keys` for a second stream)."""
    return uniform53(random_bits(keys, cand, dim))


__all__ = ["GAMMA", "mix64", "splitmix64_stream", "base_key", "group_keys", "counters", "random_bits",
           "uniform53", "normals_from_bits", "normals", "uniforms", "MAX_CANDIDATES"]
