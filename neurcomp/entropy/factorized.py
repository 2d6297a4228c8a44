"""The flexible factorized density of Balle et al. (2018, appendix 6.1).

Each channel c has its own learned cumulative ``F_c``: a small chain of
monotone maps ``x -> softplus(H) x + b`` followed by ``x + tanh(a) * tanh(x)``,
ended by a sigmoid. The probability of an integer (or noisy) value is
``F(x + 1/2) - F(x - 1/2)``, which is what uniform-noise training needs.

With ``bin_width = w < 1`` the same density codes values on the finer grid ``w * k``
(``P(w k) = F(w k + w/2) - F(w k - w/2)``, symbols ``k``): as ``w -> 0`` this is the density
itself times ``w``, "the flexible density without the uniform convolution" that the
bits-back hyperprior of Yang et al. (2020, supplement S2) uses for continuous ``z``.

Tail bounds without an auxiliary loss: CompressAI and tensorflow-compression
learn the tail quantiles with an extra loss term that must be trained
alongside the model (and silently breaks coding when it is forgotten). We
instead *solve* for them when the coding tables are built: ``F_c`` is monotone,
so bisection on its logit finds ``x`` with ``F_c(x) = tail_mass / 2`` and
``1 - tail_mass / 2`` to machine precision, in float64, for any trained model.

Example:
    >>> import torch
    >>> d = FactorizedDensity(4)
    >>> z = torch.randn(2, 4, 3, 3)
    >>> d.likelihood(z).shape
    torch.Size([2, 4, 3, 3])
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from .coder import PmfTables, TableStore, decode_symbols, encode_symbols, pop_symbols, push_symbols


class FactorizedDensity(TableStore):
    def __init__(self, channels: int, filters=(3, 3, 3), init_scale: float = 10.0,
                 tail_mass: float = 1e-6, likelihood_bound: float = 1e-9, bin_width: float = 1.0):
        super().__init__()
        self.channels = channels
        self.bin_width = float(bin_width)
        self.tail_mass = tail_mass
        self.likelihood_bound = likelihood_bound
        dims = (1,) + tuple(filters) + (1,)
        scale = init_scale ** (1.0 / (len(filters) + 1))
        self.matrices = nn.ParameterList()
        self.biases = nn.ParameterList()
        self.factors = nn.ParameterList()
        for k in range(len(filters) + 1):
            init = math.log(math.expm1(1.0 / scale / dims[k + 1]))
            self.matrices.append(nn.Parameter(torch.full((channels, dims[k + 1], dims[k]), init)))
            self.biases.append(nn.Parameter(torch.rand(channels, dims[k + 1], 1) - 0.5))
            if k < len(filters):
                self.factors.append(nn.Parameter(torch.zeros(channels, dims[k + 1], 1)))

    def logits_cdf(self, x: torch.Tensor) -> torch.Tensor:
        """Logit of the cumulative, ``x`` of shape [C, 1, n] -> [C, 1, n]."""
        dtype = x.dtype
        for k in range(len(self.matrices)):
            x = torch.matmul(F.softplus(self.matrices[k].to(dtype)), x) + self.biases[k].to(dtype)
            if k < len(self.factors):
                x = x + torch.tanh(self.factors[k].to(dtype)) * torch.tanh(x)
        return x

    def likelihood(self, z: torch.Tensor) -> torch.Tensor:
        """P(round-or-noisy value z): ``F(z + w/2) - F(z - w/2)`` (``w`` = :attr:`bin_width`, 1 by
        default), z of shape [B, C, H, W]."""
        b, c, h, w = z.shape
        v = z.permute(1, 0, 2, 3).reshape(c, 1, -1)
        half = 0.5 * self.bin_width
        lower = self.logits_cdf(v - half)
        upper = self.logits_cdf(v + half)
        sign = -torch.sign(lower + upper).detach()
        p = torch.abs(torch.sigmoid(sign * upper) - torch.sigmoid(sign * lower))
        p = p.reshape(c, b, h, w).permute(1, 0, 2, 3)
        return p.clamp_min(self.likelihood_bound)

    def bits(self, z: torch.Tensor) -> torch.Tensor:
        """``-log2`` of :meth:`likelihood`: bits per element (differentiable; the training rate)."""
        return -torch.log2(self.likelihood(z))

    @torch.no_grad()
    def _solve_cdf(self, target: float) -> np.ndarray:
        """Per channel x with F(x) = target (bisection on the monotone logit, float64)."""
        logit = math.log(target / (1 - target))
        lo = torch.full((self.channels, 1, 1), -1e6, dtype=torch.float64)
        hi = torch.full((self.channels, 1, 1), 1e6, dtype=torch.float64)
        for _ in range(100):
            mid = (lo + hi) / 2
            above = self.logits_cdf(mid) > logit
            hi = torch.where(above, mid, hi)
            lo = torch.where(above, lo, mid)
        return ((lo + hi) / 2).reshape(-1).numpy()

    @torch.no_grad()
    def update(self, max_width: int = 1 << 14) -> None:
        """Build the integer coding tables (call after training, before coding): symbol ``k`` stands
        for the value ``k * bin_width``."""
        w = self.bin_width
        lower = np.floor(self._solve_cdf(self.tail_mass / 2) / w).astype(np.int64)
        upper = np.ceil(self._solve_cdf(1 - self.tail_mass / 2) / w).astype(np.int64)
        upper = np.minimum(upper, lower + max_width - 1)
        probs = []
        for c in range(self.channels):
            k = torch.arange(lower[c], upper[c] + 1, dtype=torch.float64).view(1, 1, -1) * w
            lo = torch.sigmoid(self._logits_channel(c, k - 0.5 * w))
            hi = torch.sigmoid(self._logits_channel(c, k + 0.5 * w))
            probs.append((hi - lo).reshape(-1).numpy())
        self.store_tables(PmfTables.from_probabilities(probs, offsets=lower))

    def _logits_channel(self, c: int, x: torch.Tensor) -> torch.Tensor:
        for k in range(len(self.matrices)):
            x = torch.matmul(F.softplus(self.matrices[k][c : c + 1].double()), x) + self.biases[k][c : c + 1].double()
            if k < len(self.factors):
                x = x + torch.tanh(self.factors[k][c : c + 1].double()) * torch.tanh(x)
        return x

    def _channel_index(self, shape) -> np.ndarray:
        b, c, h, w = shape
        return np.broadcast_to(np.arange(c).reshape(1, c, 1, 1), (b, c, h, w)).ravel()

    def compress(self, z_int: torch.Tensor) -> bytes:
        """Range-code integer hyper-latents of shape [B, C, H, W]."""
        return encode_symbols(z_int.detach().cpu().numpy().astype(np.int64).ravel(),
                              self._channel_index(z_int.shape), self.tables())

    def decompress(self, data: bytes, shape) -> torch.Tensor:
        vals = decode_symbols(data, self._channel_index(shape), self.tables())
        return torch.from_numpy(vals.reshape(shape)).to(torch.float32)

    def push(self, ans, z_int: torch.Tensor) -> None:
        """Push integer symbols ``[B, C, H, W]`` onto an ANS stack (``constriction.stream.stack.AnsCoder``)."""
        push_symbols(ans, np.rint(z_int.detach().cpu().double().numpy()).astype(np.int64).ravel(),
                     self._channel_index(z_int.shape), self.tables())

    def pop(self, ans, shape) -> torch.Tensor:
        """Pop integer symbols of ``shape`` off an ANS stack (float64)."""
        vals = pop_symbols(ans, self._channel_index(shape), self.tables())
        return torch.from_numpy(vals.reshape(tuple(shape))).double()

    def information_bits(self, z_int: torch.Tensor) -> float:
        """Code length in bits under the quantized tables."""
        return self.tables().information_bits(z_int.detach().cpu().numpy().astype(np.int64).ravel(),
                                              self._channel_index(z_int.shape))
