"""A transform coder that is not part of neurcomp: the smallest complete model with the iterative
encoders (SGA, ...), to show that :class:`neurcomp.models.CompressionModel` plus
:class:`neurcomp.models.TransformCoder` is all the codec, the CLI and the iterative encoders need
(registered with one line, ``MODEL_CLASSES[ToyTransformCoder.kind] = ToyTransformCoder``).

One strided convolution each way (``y`` on a stride-4 grid, ``z`` on a stride-16 grid), a mean-scale
hyperprior and neurcomp's entropy models; one rate point per lambda with no per-lambda weights. The
transforms start as a block-mean codec (``y``'s first three channels are the 4x4 block means of the
colour channels, in steps of 1 / ``gain`` (times sqrt(lambda / the first lambda)), and ``g_s`` paints them back; the hyperprior predicts
mid-grey), so that the latents matter before any training.

Coding follows ``neurcomp.models.hyperprior``: the stream is ``[z, y]`` (``latent_shape`` is ``z``'s grid),
and encoder and decoder compute the mean and scale of ``y`` from the integer ``z``, and the image from the
integer ``y``, in float64 (:meth:`~neurcomp.models.CompressionModel.decoding_copy`), so that decoding is
exact whatever the thread count. ``update()`` is the base class's (every entropy model builds its tables).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from neurcomp.entropy import FactorizedDensity, GaussianConditional
from neurcomp.inference import ENCODERS as ITERATIVE_ENCODERS
from neurcomp.models import Compressed, CompressionModel, TransformCoder
from neurcomp.models.rate import rate_index, rate_values


class ToyTransformCoder(CompressionModel, TransformCoder):
    kind = "toy_transform_coder"
    title = "toy transform coder"
    methods = ("amortized", *ITERATIVE_ENCODERS)
    num_sections = 2
    stride = 16
    gain = 8.0

    def __init__(self, N: int = 4, M: int = 6, lambdas=(0.01,)):
        super().__init__()
        self.N, self.M, self.lambdas = N, M, [float(v) for v in lambdas]
        self.g_a = nn.Conv2d(3, M, 4, stride=4)
        self.g_s = nn.ConvTranspose2d(M, 3, 4, stride=4)
        self.h_a = nn.Conv2d(M, N, 4, stride=4)
        self.h_s = nn.ConvTranspose2d(N, 2 * M, 4, stride=4)
        self.entropy_y = GaussianConditional()
        self.entropy_z = FactorizedDensity(N)
        with torch.no_grad():
            for conv in (self.g_a, self.g_s):
                conv.weight.zero_(), conv.bias.zero_()
            for c in range(3):
                self.g_a.weight[c, c] = 1 / 16
                self.g_s.weight[c, c] = 1.0
            self.h_s.bias[:3] = self.gain / 2  # the colour channels' predicted mean: mid-grey

    @property
    def config(self) -> dict:
        return {"kind": self.kind, "N": self.N, "M": self.M, "lambdas": self.lambdas}

    # -- the TransformCoder interface
    def _gain(self, idx):
        """``[B, 1, 1, 1]``: the step of ``y`` is 1 / gain, finer at a larger lambda (so the rate points differ)."""
        lam = torch.tensor(self.lambdas, device=idx.device)[idx]
        return (self.gain * (lam / self.lambdas[0]).sqrt()).view(-1, 1, 1, 1)

    def gains(self, rate_idx, batch, device):
        idx = rate_index(rate_idx, batch, device)
        gain = self._gain(idx).expand(batch, self.M, 1, 1)
        return gain, 1 / gain, idx

    def hgains(self, idx):
        """``z`` is kept at the first rate point's scale: ``hgain`` = 1 / r and ``inv_hgain`` = r, with r the gain
        over the first rate point's (``entropy_parameters`` scales the mean and scale of ``y`` back by r)."""
        r = (self._gain(idx) / self.gain).expand(idx.shape[0], self.N, 1, 1)
        return 1 / r, r

    def hyper_input(self, y):
        return y

    def entropy_parameters(self, z, inv_hgain, h_s=None):
        mean, scale = (h_s or self.h_s)(z).chunk(2, dim=1)
        r = inv_hgain[:, :1]
        return mean * r, (F.softplus(scale) + 1.0) * r

    def lambda_of(self, rate_idx, batch, device):
        return rate_values(self.lambdas, rate_idx, batch, device)

    # -- training: noise on y and z; in eval() rounding exactly as the codec does
    def forward(self, x, rate_idx=0):
        gain, inv_gain, idx = self.gains(rate_idx, x.shape[0], x.device)
        hgain, inv_hgain = self.hgains(idx)
        y = self.g_a(x) * gain
        z_hat = self._quantize(self.h_a(self.hyper_input(y)) * hgain)
        mean, scale = self.entropy_parameters(z_hat, inv_hgain)
        y_hat = self._quantize(y, mean)
        return {"x_hat": self.g_s(y_hat * inv_gain),
                "rate_bits": {"y": self.entropy_y.bits(y_hat, mean, scale), "z": self.entropy_z.bits(z_hat)}}

    def _quantize(self, v, offset=0.0):
        if self.training:
            return v + torch.empty_like(v).uniform_(-0.5, 0.5)
        return torch.round(v - offset) + offset

    # -- coding
    def _exact_params(self, z_int, rate_idx):
        """Mean and scale of ``y`` from the integer ``z``, in float64 (the same in encoder and decoder)."""
        _, inv_hgain = self.hgains(rate_index(rate_idx, 1, "cpu"))
        return self.entropy_parameters(z_int.double().cpu(), inv_hgain.double(), self.decoding_copy().h_s)

    def _reconstruct(self, y_hat, rate_idx):
        inv_gain = 1 / self._gain(rate_index(rate_idx, 1, "cpu")).double()
        return self.decoding_copy().g_s(y_hat * inv_gain).float()

    @torch.no_grad()
    def compress(self, x, rate_idx=0, method=None, steps=None, seed=0, hw=None) -> Compressed:
        method = self.check_method(method)
        if method != "amortized":
            return ITERATIVE_ENCODERS[method](self, x, rate_idx, steps=steps, seed=seed)
        gain, _, idx = self.gains(rate_idx, 1, x.device)
        y = self.g_a(x) * gain
        z_int = torch.round(self.h_a(self.hyper_input(y)) * self.hgains(idx)[0])
        return self.compress_latents(y, z_int, rate_idx)

    @torch.no_grad()
    def compress_latents(self, y, z_int, rate_idx=0, y_symbols=None):
        mean, scale = self._exact_params(z_int, rate_idx)
        sym = torch.round(y.double().cpu() - mean) if y_symbols is None else y_symbols.double().cpu()
        bits = {"z": self.entropy_z.information_bits(z_int), "y": self.entropy_y.information_bits(sym, scale)}
        return Compressed([self.entropy_z.compress(z_int), self.entropy_y.compress(sym, scale)], tuple(z_int.shape[2:]),
                          self._reconstruct(sym + mean, rate_idx), bits)

    @torch.no_grad()
    def decompress(self, sections, latent_shape, rate_idx=0, extra=b""):
        self.check_stream(sections, extra)
        z_int = self.entropy_z.decompress(sections[0], (1, self.N, *latent_shape))
        mean, scale = self._exact_params(z_int, rate_idx)
        return self._reconstruct(self.entropy_y.decompress(sections[1], scale).double() + mean, rate_idx)
