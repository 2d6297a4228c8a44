"""Learned transform codecs: factorized prior, scale hyperprior, mean-scale hyperprior.

Architectures follow Balle et al. (2017, 2018) and Minnen et al. (2018) without the
context model (the "Base Hyperprior" of Yang et al. 2020). Every model is
*variable-rate*: it is trained for a list of Lagrange multipliers ``lambdas`` at
once and keeps, per rate point ``l``, a gain vector that scales the latents
before quantization and an inverse gain after it (Cui et al. 2021). The loss of a
rate point is ``R + lambda * 255^2 * MSE`` with R in bits per pixel and MSE on
[0, 1] pixels (the CompressAI convention, so ``lambda = 0.0067`` means the same
thing here and there).

``forward`` (training) adds uniform noise; in ``eval()`` mode it rounds exactly as
the codec does, so its ``rate_bits`` give the rate the bitstream will have (up to the
coding tables' 20-bit precision).

Besides ``amortized`` (the inference networks), the hyperprior models encode with the
iterative methods of :mod:`neurcomp.inference` (``sga``, ``map``, ``ste``,
``uniform_noise``, ``det_annealing``; they implement their interface,
:class:`~neurcomp.models.transform_coder.TransformCoder`); the decoder is the same for all methods.

Example:
    >>> import torch
    >>> m = MeanScaleHyperprior(N=8, M=12, lambdas=[0.01, 0.05]).eval()
    >>> out = m(torch.rand(1, 3, 64, 64), rate_idx=1)
    >>> out["x_hat"].shape
    torch.Size([1, 3, 64, 64])
"""
from __future__ import annotations

import math
from fractions import Fraction

import torch
import torch.nn as nn

from ..entropy import FactorizedDensity, GaussianConditional
from ..inference import ENCODERS as ITERATIVE_ENCODERS
from ..inference.interface import TransformCoder
from ..layers import GDN, conv, deconv
from .base import Compressed, CompressionModel
from .rate import rate_index, rate_values
from .tiling import maybe_tiled

#: tiles for large images (see :mod:`neurcomp.models.tiling`): the analysis runs on 512-pixel tiles with
#: 64 pixels of context, the synthesis on 32-latent tiles with 4 latents of context (more than the
#: receptive fields of four 5x5 stride-2 layers)
ANALYSIS_TILE, ANALYSIS_MARGIN, SYNTHESIS_TILE, SYNTHESIS_MARGIN = 512, 64, 32, 4


def analysis(N: int, M: int) -> nn.Sequential:
    return nn.Sequential(conv(3, N), GDN(N), conv(N, N), GDN(N), conv(N, N), GDN(N), conv(N, M))


def synthesis(N: int, M: int) -> nn.Sequential:
    return nn.Sequential(deconv(M, N), GDN(N, inverse=True), deconv(N, N), GDN(N, inverse=True),
                         deconv(N, N), GDN(N, inverse=True), deconv(N, 3))


class AnalysisSynthesis(CompressionModel):
    """Shared parts: analysis / synthesis transforms and the per-lambda gains (not by itself a
    :class:`TransformCoder`: that needs a hyperprior)."""

    kind = "abstract"
    stride = 16
    stride_a = 16  # of the analysis / synthesis transforms (the hyperprior models' stride is 64)

    def __init__(self, N: int, M: int, lambdas):
        super().__init__()
        self.N, self.M = N, M
        self.lambdas = [float(v) for v in lambdas]
        ref = math.exp(sum(math.log(v) for v in self.lambdas) / len(self.lambdas))
        init = torch.tensor([[0.5 * math.log(v / ref)] for v in self.lambdas]).expand(-1, M).clone()
        self.log_gain = nn.Parameter(init)
        self.log_inv_gain = nn.Parameter(-init.clone())
        self.g_a = analysis(N, M)
        self.g_s = synthesis(N, M)

    @property
    def config(self) -> dict:
        return {"kind": self.kind, "N": self.N, "M": self.M, "lambdas": self.lambdas}

    def gains(self, rate_idx, batch: int, device):
        """``(gain, inv_gain, idx)``: ``[B, M, 1, 1]`` scalings of ``y`` before quantization and
        after it, and the rate indexes ``[B]``."""
        idx = rate_index(rate_idx, batch, device)
        return (self.log_gain[idx].exp()[:, :, None, None], self.log_inv_gain[idx].exp()[:, :, None, None], idx)

    def lambda_of(self, rate_idx, batch: int, device) -> torch.Tensor:
        """The lambda of every image of a batch, ``[B]``."""
        return rate_values(self.lambdas, rate_idx, batch, device)

    def quantize(self, v: torch.Tensor, offset: torch.Tensor | None = None) -> torch.Tensor:
        """Noise in training, rounding (relative to ``offset``) otherwise."""
        if offset is None:
            offset = torch.zeros_like(v)
        if self.training:
            return v + torch.empty_like(v).uniform_(-0.5, 0.5)
        return torch.round(v - offset) + offset

    def analyze(self, x: torch.Tensor) -> torch.Tensor:
        """``g_a(x)`` for coding: in one piece for images up to a megapixel, tiled above (bounded memory)."""
        return maybe_tiled(self.g_a, x, Fraction(1, self.stride_a), ANALYSIS_TILE, ANALYSIS_MARGIN)

    def synthesize(self, y_hat: torch.Tensor, inv_gain: torch.Tensor) -> torch.Tensor:
        return self.g_s(y_hat * inv_gain)

    def reconstruct(self, y_hat: torch.Tensor, inv_gain: torch.Tensor) -> torch.Tensor:
        """The codec's synthesis: float64, so that the 8-bit output does not depend on thread
        counts or summation order (float32 convolutions differ in the last bits between a
        1- and a 2-thread process, enough to flip a few pixels)."""
        g_s = self.decoding_copy().g_s
        y = y_hat.double().cpu() * inv_gain.double().cpu()
        return maybe_tiled(g_s, y, self.stride_a, SYNTHESIS_TILE, SYNTHESIS_MARGIN).float()


class FactorizedPrior(AnalysisSynthesis):
    """Balle et al. (2017): y coded under a learned factorized density."""

    kind = "factorized"
    title = "factorized prior"
    stride = 16

    def __init__(self, N: int = 128, M: int = 192, lambdas=(0.0067,)):
        super().__init__(N, M, lambdas)
        self.entropy_y = FactorizedDensity(M)

    def forward(self, x: torch.Tensor, rate_idx=0) -> dict:
        gain, inv_gain, _ = self.gains(rate_idx, x.shape[0], x.device)
        y = self.g_a(x) * gain
        y_hat = self.quantize(y)
        return {"x_hat": self.synthesize(y_hat, inv_gain), "rate_bits": {"y": self.entropy_y.bits(y_hat)}}

    @torch.no_grad()
    def compress(self, x: torch.Tensor, rate_idx: int = 0, method=None, steps=None, seed=0, hw=None) -> Compressed:
        self.check_method(method)
        gain, inv_gain, _ = self.gains(rate_idx, 1, x.device)
        y_int = torch.round(self.analyze(x) * gain)
        return Compressed([self.entropy_y.compress(y_int)], tuple(y_int.shape[2:]), self.reconstruct(y_int, inv_gain),
                          {"y": self.entropy_y.information_bits(y_int)})

    @torch.no_grad()
    def decompress(self, sections: list[bytes], latent_shape, rate_idx: int = 0, extra: bytes = b"") -> torch.Tensor:
        self.check_stream(sections, extra)
        _, inv_gain, _ = self.gains(rate_idx, 1, "cpu")
        y_int = self.entropy_y.decompress(sections[0], (1, self.M, *latent_shape))
        return self.reconstruct(y_int, inv_gain)


class _Hyperprior(AnalysisSynthesis, TransformCoder):
    """Common code of the two hyperprior models (side information z, stride 64); the
    :class:`TransformCoder` of the iterative encoders."""

    stride = 64
    predicts_mean = True
    methods = ("amortized", *ITERATIVE_ENCODERS)
    num_sections = 2

    def __init__(self, N: int, M: int, lambdas):
        super().__init__(N, M, lambdas)
        L = len(self.lambdas)
        self.log_hgain = nn.Parameter(torch.zeros(L, N))
        self.log_inv_hgain = nn.Parameter(torch.zeros(L, N))
        self.entropy_z = FactorizedDensity(N)
        self.entropy_y = GaussianConditional()

    def hgains(self, idx: torch.Tensor):
        """``(hgain, inv_hgain)``: per-lambda ``[B, N, 1, 1]`` scalings of ``z``."""
        return self.log_hgain[idx].exp()[:, :, None, None], self.log_inv_hgain[idx].exp()[:, :, None, None]

    def entropy_parameters(self, z_hat: torch.Tensor, inv_hgain: torch.Tensor, h_s: nn.Module | None = None):
        """Mean and scale of ``p(y | z_hat)`` from the hyper-synthesis ``h_s`` (zero mean for the
        scale hyperprior); ``inv_hgain`` from :meth:`hgains`."""
        out = (h_s or self.h_s)(z_hat * inv_hgain)
        if self.predicts_mean:
            mean, scale = out.chunk(2, dim=1)
        else:
            mean, scale = torch.zeros_like(out), out
        return mean, scale

    def hyper_input(self, y: torch.Tensor) -> torch.Tensor:
        """What the hyper-analysis ``h_a`` sees: ``y`` (mean-scale) or ``|y|`` (scale only)."""
        return y if self.predicts_mean else torch.abs(y)

    def forward(self, x: torch.Tensor, rate_idx=0) -> dict:
        gain, inv_gain, idx = self.gains(rate_idx, x.shape[0], x.device)
        hgain, inv_hgain = self.hgains(idx)
        y = self.g_a(x) * gain
        z = self.h_a(self.hyper_input(y)) * hgain
        z_hat = self.quantize(z)
        mean, scale = self.entropy_parameters(z_hat, inv_hgain)
        y_hat = self.quantize(y, mean)
        return {"x_hat": self.synthesize(y_hat, inv_gain),
                "rate_bits": {"y": self.entropy_y.bits(y_hat, mean, scale), "z": self.entropy_z.bits(z_hat)},
                "y": y, "mean": mean, "scale": scale}

    def exact_params(self, z_int: torch.Tensor, rate_idx: int):
        """Mean and scale from integer z in float64: the codec's platform-robust path."""
        _, _, idx = self.gains(rate_idx, 1, "cpu")
        _, inv_hgain = self.hgains(idx)
        h_s64 = self.decoding_copy().h_s
        mean, scale = self.entropy_parameters(z_int.double().cpu(), inv_hgain.double().cpu(), h_s64)
        return mean, scale

    @torch.no_grad()
    def compress(self, x: torch.Tensor, rate_idx: int = 0, method=None, steps=None, seed=0, hw=None) -> Compressed:
        """Code ``x [1, 3, H, W]`` (H, W multiples of 64) with ``method`` (default ``amortized``;
        the iterative methods take ``steps`` and ``seed``)."""
        method = self.check_method(method)
        if method != "amortized":
            return ITERATIVE_ENCODERS[method](self, x, rate_idx, steps=steps, seed=seed)
        gain, inv_gain, idx = self.gains(rate_idx, 1, x.device)
        hgain, _ = self.hgains(idx)
        y = self.analyze(x) * gain
        z_int = torch.round(self.h_a(self.hyper_input(y)) * hgain)
        return self.compress_latents(y, z_int, rate_idx)

    @torch.no_grad()
    def compress_latents(self, y: torch.Tensor, z_int: torch.Tensor, rate_idx: int = 0,
                         y_symbols: torch.Tensor | None = None) -> Compressed:
        """Code given (continuous) ``y`` and integer ``z`` (or the integer symbols ``y_symbols =
        round(y - mean)`` directly); the iterative encoders call this too."""
        _, inv_gain, _ = self.gains(rate_idx, 1, "cpu")
        mean, scale = self.exact_params(z_int, rate_idx)
        sym = torch.round(y.double().cpu() - mean) if y_symbols is None else y_symbols.double().cpu()
        return Compressed([self.entropy_z.compress(z_int), self.entropy_y.compress(sym, scale)],
                          tuple(z_int.shape[2:]), self.reconstruct(sym + mean, inv_gain),
                          {"z": self.entropy_z.information_bits(z_int), "y": self.entropy_y.information_bits(sym, scale)})

    @torch.no_grad()
    def decompress(self, sections: list[bytes], latent_shape, rate_idx: int = 0, extra: bytes = b"") -> torch.Tensor:
        self.check_stream(sections, extra)
        _, inv_gain, _ = self.gains(rate_idx, 1, "cpu")
        z_int = self.entropy_z.decompress(sections[0], (1, self.N, *latent_shape))
        mean, scale = self.exact_params(z_int, rate_idx)
        sym = self.entropy_y.decompress(sections[1], scale).double()
        return self.reconstruct(sym + mean, inv_gain)


class ScaleHyperprior(_Hyperprior):
    """Balle et al. (2018): a hyperprior predicts the scale of a zero-mean Gaussian for y."""

    kind = "scale_hyperprior"
    title = "scale hyperprior"
    predicts_mean = False

    def __init__(self, N: int = 128, M: int = 192, lambdas=(0.0067,)):
        super().__init__(N, M, lambdas)
        self.h_a = nn.Sequential(conv(M, N, 3, 1), nn.ReLU(inplace=True), conv(N, N), nn.ReLU(inplace=True), conv(N, N))
        self.h_s = nn.Sequential(deconv(N, N), nn.ReLU(inplace=True), deconv(N, N), nn.ReLU(inplace=True),
                                 conv(N, M, 3, 1), nn.ReLU())


class MeanScaleHyperprior(_Hyperprior):
    """Minnen et al. (2018) without the context model: the hyperprior predicts mean and scale."""

    kind = "hyperprior"
    title = "mean-scale hyperprior"

    def __init__(self, N: int = 128, M: int = 192, lambdas=(0.0067,)):
        super().__init__(N, M, lambdas)
        self.h_a = nn.Sequential(conv(M, N, 3, 1), nn.LeakyReLU(inplace=True), conv(N, N), nn.LeakyReLU(inplace=True),
                                 conv(N, N))
        self.h_s = nn.Sequential(deconv(N, M), nn.LeakyReLU(inplace=True), deconv(M, M * 3 // 2),
                                 nn.LeakyReLU(inplace=True), conv(M * 3 // 2, M * 2, 3, 1))
