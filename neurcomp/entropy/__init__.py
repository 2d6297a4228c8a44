"""Entropy models (what the probabilities are), the range coder (how they become bytes) and the
bit-level primitives under both (:mod:`~neurcomp.entropy.bits`, :mod:`~neurcomp.entropy.integer_codes`).
This layer knows no networks beyond the entropy models themselves."""
from .coder import PmfTables, TableStore, decode_symbols, encode_symbols, pop_symbols, push_symbols, quantize_pmf
from .errors import CodingError
from .factorized import FactorizedDensity
from .gaussian import GaussianConditional, OffsetGaussianConditional

__all__ = ["CodingError", "PmfTables", "TableStore", "decode_symbols", "encode_symbols", "quantize_pmf",
           "FactorizedDensity", "GaussianConditional", "OffsetGaussianConditional", "pop_symbols", "push_symbols"]
