"""Discretized Gaussian conditional for latents ``y`` given a predicted mean and scale.

Training: ``P(y~) = Phi((y~ - mu + 1/2) / s) - Phi((y~ - mu - 1/2) / s)`` for a noisy
``y~`` (uniform noise relaxation). Coding: the integer symbol ``round(y - mu)``
is coded under the table of the scale nearest (in log space) to ``s`` in a
fixed, log-spaced scale table (128 levels, 0.11 to 256). The integer tables are
built once from that table in float64 (they do not depend on the weights), so
encoder and decoder code with the same numbers; only the *choice of table* depends on
floats, and the decoder computes ``mu`` and ``s`` in float64.

Example:
    >>> import torch
    >>> g = GaussianConditional()
    >>> y = torch.zeros(1, 2, 2, 2)
    >>> float(g.likelihood(y, y, torch.ones_like(y)).mean()) > 0.38
    True
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn as nn

from .coder import PmfTables, decode_symbols, encode_symbols

SCALE_MIN, SCALE_MAX, SCALE_LEVELS = 0.11, 256.0, 128


def _std_normal_cdf(x: torch.Tensor) -> torch.Tensor:
    return 0.5 * torch.erfc(-x / math.sqrt(2.0))


class GaussianConditional(nn.Module):
    def __init__(self, tail_sigmas: float = 6.0, likelihood_bound: float = 1e-9):
        super().__init__()
        self.tail_sigmas = tail_sigmas
        self.likelihood_bound = likelihood_bound
        self.log_step = (math.log(SCALE_MAX) - math.log(SCALE_MIN)) / (SCALE_LEVELS - 1)
        self._tables: PmfTables | None = None

    @staticmethod
    def scale_table() -> np.ndarray:
        return np.exp(np.linspace(math.log(SCALE_MIN), math.log(SCALE_MAX), SCALE_LEVELS))

    def likelihood(self, y: torch.Tensor, mean: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
        """Probability of each (noisy or quantized) ``y``; dimensionless, in (0, 1]."""
        scale = scale.clamp_min(SCALE_MIN)
        v = torch.abs(y - mean)
        upper = _std_normal_cdf((0.5 - v) / scale)
        lower = _std_normal_cdf((-0.5 - v) / scale)
        return (upper - lower).clamp_min(self.likelihood_bound)

    def bits(self, y: torch.Tensor, mean: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
        """``-log2`` of :meth:`likelihood`: bits per element (differentiable; the training rate)."""
        return -torch.log2(self.likelihood(y, mean, scale))

    def coded_bits(self, symbols: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
        """What the range coder spends on each integer symbol (``round(y - mean)``) under the table
        chosen by ``scale``, in bits, shaped like ``symbols`` (float64; escapes counted exactly)."""
        bits = self.tables().bits_per_symbol(np.rint(symbols.detach().cpu().double().numpy()).astype(np.int64),
                                             self.scale_index(scale).cpu().numpy())
        return torch.from_numpy(bits.reshape(tuple(symbols.shape)))

    def scale_index(self, scale: torch.Tensor) -> torch.Tensor:
        """Nearest table entry in log space (int64)."""
        s = scale.double().clamp(SCALE_MIN, SCALE_MAX)
        idx = torch.round((torch.log(s) - math.log(SCALE_MIN)) / self.log_step)
        return idx.long().clamp(0, SCALE_LEVELS - 1)

    @torch.no_grad()
    def update(self) -> None:
        """Build the integer tables from the fixed scale table (float64; model independent)."""
        probs, offsets = [], []
        for s in self.scale_table():
            k_max = int(math.ceil(self.tail_sigmas * s))
            k = torch.arange(-k_max, k_max + 1, dtype=torch.float64)
            p = _std_normal_cdf((k + 0.5) / s) - _std_normal_cdf((k - 0.5) / s)
            probs.append(p.numpy())
            offsets.append(-k_max)
        self._tables = PmfTables.from_probabilities(probs, offsets)

    def tables(self) -> PmfTables:
        if self._tables is None:
            self.update()
        return self._tables

    def compress(self, symbols: torch.Tensor, scale: torch.Tensor) -> bytes:
        """Range-code integer ``symbols`` (= round(y - mean)) under the table chosen by ``scale``."""
        return encode_symbols(symbols.detach().cpu().numpy().astype(np.int64).ravel(),
                              self.scale_index(scale).cpu().numpy().ravel(), self.tables())

    def decompress(self, data: bytes, scale: torch.Tensor) -> torch.Tensor:
        vals = decode_symbols(data, self.scale_index(scale).cpu().numpy().ravel(), self.tables())
        return torch.from_numpy(vals.reshape(tuple(scale.shape)))

    def information_bits(self, symbols: torch.Tensor, scale: torch.Tensor) -> float:
        """Total bits the coder spends on ``symbols`` (the sum of :meth:`coded_bits`)."""
        return self.tables().information_bits(symbols.detach().cpu().numpy().astype(np.int64).ravel(),
                                              self.scale_index(scale).cpu().numpy().ravel())
