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

from .coder import PmfTables, decode_symbols, encode_symbols, pop_symbols, push_symbols

SCALE_MIN, SCALE_MAX, SCALE_LEVELS = 0.11, 256.0, 128
#: :class:`OffsetGaussianConditional`: scales below this get a table per fractional mean (in 1/16 steps)
OFFSET_SCALE_MAX, OFFSET_LEVELS = 16.0, 16


def _std_normal_cdf(x: torch.Tensor) -> torch.Tensor:
    return 0.5 * torch.erfc(-x / math.sqrt(2.0))


class GaussianConditional(nn.Module):
    """Discretized Gaussian with integer tables per scale (see the module docstring).
    ``escape=False``: tables without an escape bin, for values that are always in range because
    they were decoded from the same table (the bits-back posterior ``Q``)."""

    def __init__(self, tail_sigmas: float = 6.0, likelihood_bound: float = 1e-9, escape: bool = True):
        super().__init__()
        self.escape = escape
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
        return self.log_scale_index(torch.log(s))

    def log_scale_index(self, log_scale: torch.Tensor) -> torch.Tensor:
        """:meth:`scale_index` from the natural log of the scale: no ``exp`` / ``log`` on the way, for a model
        that predicts the log-scale (the overfitted codec), so the choice is plain arithmetic (int64)."""
        idx = torch.round((log_scale.double() - math.log(SCALE_MIN)) / self.log_step)
        return idx.long().clamp(0, SCALE_LEVELS - 1)

    @torch.no_grad()
    def update(self) -> None:
        """Build the integer tables from the fixed scale table (float64; model independent)."""
        probs, offsets = [], []
        for s in self.scale_table():
            k_max = int(math.ceil(self.tail_sigmas * s))
            k = torch.arange(-k_max, k_max + 1, dtype=torch.float64)
            p = _std_normal_cdf((k + 0.5) / s) - _std_normal_cdf((k - 0.5) / s)
            probs.append(p.numpy() if self.escape else (p / p.sum()).numpy())
            offsets.append(-k_max)
        self._tables = PmfTables.from_probabilities(probs, offsets, escape=self.escape)

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

    def push(self, ans, symbols: torch.Tensor, scale: torch.Tensor) -> None:
        """Push integer ``symbols`` onto an ANS stack (``constriction.stream.stack.AnsCoder``)."""
        push_symbols(ans, np.rint(symbols.detach().cpu().double().numpy()).astype(np.int64).ravel(),
                     self.scale_index(scale).cpu().numpy().ravel(), self.tables())

    def pop(self, ans, scale: torch.Tensor) -> torch.Tensor:
        """Pop (or, on foreign bits, decode) symbols shaped like ``scale`` off an ANS stack (float64)."""
        vals = pop_symbols(ans, self.scale_index(scale).cpu().numpy().ravel(), self.tables())
        return torch.from_numpy(vals.reshape(tuple(scale.shape))).double()


class OffsetGaussianConditional(GaussianConditional):
    """Discretized Gaussian for *integer* ``y_hat`` whose predicted mean is not an integer.

    The symbol is ``s = y_hat - round(mean)``; its probability under ``N(mean, scale^2)`` depends on
    the fractional part ``d = mean - round(mean)`` in [-1/2, 1/2] as well as on the scale:
    ``P(s) = Phi((s + 1/2 - d) / scale) - Phi((s - 1/2 - d) / scale)``. Scales below
    ``OFFSET_SCALE_MAX`` (16) get a table per ``d`` in steps of 1/16 (17 tables per scale level); larger
    scales use the ``d = 0`` table (a shift of at most half a unit costs under 0.001 bits there). The
    two kinds are coded as two groups (small scales first). Used by the bits-back hyperprior, whose
    ``y_hat`` is fixed before the mean is known (:mod:`neurcomp.models.bitsback`).

    Example:
        >>> import constriction, torch
        >>> g = OffsetGaussianConditional()
        >>> y_hat, mean = torch.tensor([[0.0, 3, -2, 40]]), torch.tensor([[0.4, 2.7, -2.2, 30.0]])
        >>> scale = torch.tensor([[0.2, 1.0, 0.5, 20.0]])
        >>> ans = constriction.stream.stack.AnsCoder()
        >>> g.push(ans, y_hat, mean, scale)
        >>> g.pop(ans, mean, scale).tolist(), ans.is_empty()
        ([[0.0, 3.0, -2.0, 40.0]], True)
    """

    def __init__(self, tail_sigmas: float = 6.0, likelihood_bound: float = 1e-9):
        super().__init__(tail_sigmas, likelihood_bound, escape=True)
        self.small_levels = int(np.searchsorted(self.scale_table(), OFFSET_SCALE_MAX))
        self._small: PmfTables | None = None

    @torch.no_grad()
    def update(self) -> None:
        super().update()
        probs, offsets = [], []
        for s in self.scale_table()[: self.small_levels]:
            k_max = int(math.ceil(self.tail_sigmas * s)) + 1
            k = torch.arange(-k_max, k_max + 1, dtype=torch.float64)
            for o in range(OFFSET_LEVELS + 1):
                d = o / OFFSET_LEVELS - 0.5
                probs.append((_std_normal_cdf((k + 0.5 - d) / s) - _std_normal_cdf((k - 0.5 - d) / s)).numpy())
                offsets.append(-k_max)
        self._small = PmfTables.from_probabilities(probs, offsets)

    def small_tables(self) -> PmfTables:
        if self._small is None:
            self.update()
        return self._small

    def _plan(self, mean: torch.Tensor, scale: torch.Tensor | None, log_scale: torch.Tensor | None = None):
        """``(centre, small, small_idx, large_idx)``: ``round(mean)``, the mask of small-scale elements,
        and the table indexes of the two groups (flattened, float64 decisions). The scale is given as
        ``scale`` or, by a model that predicts it, as ``log_scale`` (natural log; ``scale`` None)."""
        mean = mean.detach().double().cpu().reshape(-1)
        centre = torch.round(mean)
        level = (self.scale_index(scale) if log_scale is None else self.log_scale_index(log_scale.detach())).cpu().reshape(-1)
        small = level < self.small_levels
        frac = torch.round((mean - centre + 0.5) * OFFSET_LEVELS).long().clamp(0, OFFSET_LEVELS)
        idx = level * (OFFSET_LEVELS + 1) + frac
        return centre, small.numpy(), idx.numpy()[small.numpy()], level.numpy()[~small.numpy()]

    def push(self, ans, y_hat: torch.Tensor, mean: torch.Tensor, scale: torch.Tensor | None,
             log_scale: torch.Tensor | None = None) -> None:
        """Push integer ``y_hat`` (coded relative to ``round(mean)``) onto an ANS stack."""
        centre, small, idx_s, idx_l = self._plan(mean, scale, log_scale)
        sym = (np.rint(y_hat.detach().double().cpu().reshape(-1).numpy()) - centre.numpy()).astype(np.int64)
        push_symbols(ans, sym[~small], idx_l, self.tables())  # pushed first, popped last
        push_symbols(ans, sym[small], idx_s, self.small_tables())

    def pop(self, ans, mean: torch.Tensor, scale: torch.Tensor | None, log_scale: torch.Tensor | None = None) -> torch.Tensor:
        """Pop integer ``y_hat`` shaped like ``mean`` off an ANS stack (float64)."""
        centre, small, idx_s, idx_l = self._plan(mean, scale, log_scale)
        sym = np.empty(small.size, np.int64)
        sym[small] = pop_symbols(ans, idx_s, self.small_tables())
        sym[~small] = pop_symbols(ans, idx_l, self.tables())
        return (torch.from_numpy(sym).double() + centre).reshape(tuple(mean.shape))

    def coded_bits(self, y_hat: torch.Tensor, mean: torch.Tensor, scale: torch.Tensor | None,
                   log_scale: torch.Tensor | None = None) -> torch.Tensor:
        """Bits the coder spends on each integer ``y_hat``, shaped like it (float64)."""
        centre, small, idx_s, idx_l = self._plan(mean, scale, log_scale)
        sym = (np.rint(y_hat.detach().double().cpu().reshape(-1).numpy()) - centre.numpy()).astype(np.int64)
        bits = np.empty(small.size)
        bits[small] = self.small_tables().bits_per_symbol(sym[small], idx_s)
        bits[~small] = self.tables().bits_per_symbol(sym[~small], idx_l)
        return torch.from_numpy(bits.reshape(tuple(y_hat.shape)))

    def information_bits(self, y_hat: torch.Tensor, mean: torch.Tensor, scale: torch.Tensor) -> float:
        """Total of :meth:`coded_bits`."""
        return float(self.coded_bits(y_hat, mean, scale).sum())
