"""Relative entropy coding (REC): send a *sample* of a Gaussian posterior in about KL bits.

Modules: :mod:`~neurcomp.rec.randomness` (the shared counter-based generator),
:mod:`~neurcomp.rec.samplers` (Harsha et al.'s rejection sampler, minimal random coding /
importance sampling, Flamich et al. 2020's adaptively grouped sampler, ordered random coding),
:mod:`~neurcomp.rec.index_codes` (the stream layout; its integer codes are
:mod:`neurcomp.entropy.bits` and :mod:`neurcomp.entropy.integer_codes`) and
:mod:`~neurcomp.rec.api` (``rec_encode`` / ``rec_decode``). :mod:`~neurcomp.rec.digits` is the
MIRACLE warm-up on 8x8 digits (imported on demand: it needs scikit-learn).

Example:
    >>> import numpy as np
    >>> from neurcomp.rec import rec_encode, rec_decode
    >>> data, z, info = rec_encode(np.full(4, 0.5), np.full(4, 0.4), np.zeros(4), np.ones(4), seed=1)
    >>> bool(np.array_equal(z, rec_decode(data, np.zeros(4), np.ones(4), seed=1)))
    True
"""
from .api import DEFAULTS, METHODS, rec_decode, rec_encode, stream_method

__all__ = ["METHODS", "DEFAULTS", "rec_encode", "rec_decode", "stream_method"]
