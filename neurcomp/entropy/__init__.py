"""Entropy models (what the probabilities are) and the range coder (how they become bytes)."""
from .coder import CodingError, PmfTables, decode_symbols, encode_symbols, quantize_pmf
from .factorized import FactorizedDensity
from .gaussian import GaussianConditional

__all__ = ["CodingError", "PmfTables", "decode_symbols", "encode_symbols", "quantize_pmf",
           "FactorizedDensity", "GaussianConditional"]
