r"""Group-size tables: Flamich et al.'s distribution of group sizes, fixed from training images.

Flamich et al. (2020) code the group sizes of their adaptively grouped sampler (Algorithm 2)
with an arithmetic coder under "an empirical distribution over group sizes [built] using our
training dataset", so that no stream carries a histogram and the sizes cost "effectively
negligible" bits. This module builds that distribution:

* :func:`count_group_sizes` -- how often each size ``1..max_group`` occurs when one latent's
  per-dimension KL (bits, in the coder's order) is grouped exactly as the ``seed`` coder
  groups it (dimensions above ``min(outlier_bits, budget_bits)`` are outliers and not grouped);
  sum it over the latents of many training images.
* :func:`coding_counts` -- the integer histogram the range coder uses: the counts plus one (a
  size never seen in training stays codable, at about ``log2(total)`` bits).
* :func:`table_id` -- a 32-bit fingerprint of a table, written into the stream, so that a
  decoder given a different table refuses the stream instead of decoding garbage.

A table is a plain list of ``max_group`` non-negative integers (JSON-friendly: a model card
ships one per rate point and latent level, see ``PLN.rec_size_counts``). Everything is
integer arithmetic, so encoder and decoder build identical models on every platform.

Example:
    >>> import numpy as np
    >>> kl = np.array([0.5, 3.0, 4.0, 0.1, 6.5, 2.0, 2.0, 0.0, 0.0, 20.0, 1.0, 0.2])
    >>> counts = count_group_sizes(kl, budget_bits=8, max_group=4)
    >>> counts.tolist()                      # sizes [4, 1, 4, 2]; the 20-bit dimension is an outlier
    [1, 1, 0, 2]
    >>> coding_counts(counts).tolist()
    [2, 2, 1, 3]
    >>> table_id(counts) == table_id([1, 1, 0, 2]) != table_id([1, 1, 0, 3])
    True
"""
from __future__ import annotations

import zlib

import numpy as np

from .samplers import adaptive_groups


def count_group_sizes(kl_bits, budget_bits: float, max_group: int, outlier_bits: float | None = None) -> np.ndarray:
    """Counts of the group sizes ``1..max_group`` (int64, length ``max_group``) that the ``seed`` coder
    forms from per-dimension ``kl_bits`` (any shape; flattened in C order, the coder's order)."""
    kl = np.asarray(kl_bits, np.float64).ravel()
    limit = min(float(budget_bits), float(budget_bits if outlier_bits is None else outlier_bits))
    sizes = adaptive_groups(kl[kl <= limit], budget_bits, int(max_group))
    return np.bincount(sizes - 1, minlength=int(max_group)).astype(np.int64)


def coding_counts(counts) -> np.ndarray:
    """The histogram the range coder codes sizes under: ``counts + 1`` (every size codable)."""
    counts = np.asarray(counts, np.int64)
    if counts.ndim != 1 or counts.size == 0 or np.any(counts < 0):
        raise ValueError("a group-size table is a non-empty list of non-negative counts")
    return counts + 1


def table_id(counts) -> int:
    """A non-zero 32-bit fingerprint of a table (CRC-32 of its coding counts as little-endian int64)."""
    crc = zlib.crc32(coding_counts(counts).astype("<i8").tobytes())
    return crc or 1


__all__ = ["count_group_sizes", "coding_counts", "table_id"]
