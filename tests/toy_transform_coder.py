"""A transform coder that is not part of neurcomp: the smallest model the iterative encoders (SGA, ...)
accept, to show that :class:`neurcomp.models.TransformCoder` is all they need.

One strided convolution each way (``y`` on a stride-4 grid, ``z`` on a stride-16 grid), a mean-scale
hyperprior and neurcomp's entropy models; one rate point per lambda with no per-lambda weights. The
transforms start as a block-mean codec (``y``'s first three channels are the 4x4 block means of the
colour channels, in steps of 1 / ``gain``, and ``g_s`` paints them back; the hyperprior predicts
mid-grey), so that the latents matter before any training.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from neurcomp.entropy import FactorizedDensity, GaussianConditional
from neurcomp.models import Compressed, TransformCoder
from neurcomp.models.rate import rate_index, rate_values


class ToyTransformCoder(nn.Module, TransformCoder):
    kind = "toy_transform_coder"
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

    def gains(self, rate_idx, batch, device):
        idx = rate_index(rate_idx, batch, device)
        return (torch.full((batch, self.M, 1, 1), self.gain, device=device),
                torch.full((batch, self.M, 1, 1), 1 / self.gain, device=device), idx)

    def hgains(self, idx):
        ones = torch.ones(idx.shape[0], self.N, 1, 1, device=idx.device)
        return ones, ones

    def hyper_input(self, y):
        return y

    def entropy_parameters(self, z, inv_hgain):
        mean, scale = self.h_s(z * inv_hgain).chunk(2, dim=1)
        return mean, F.softplus(scale) + 1.0

    def lambda_of(self, rate_idx, batch, device):
        return rate_values(self.lambdas, rate_idx, batch, device)

    def update(self):
        self.entropy_y.update()
        self.entropy_z.update()

    @torch.no_grad()
    def compress_latents(self, y, z_int, rate_idx=0, y_symbols=None):
        _, inv_gain, idx = self.gains(rate_idx, 1, "cpu")
        mean, scale = self.entropy_parameters(z_int, self.hgains(idx)[1])
        sym = torch.round(y - mean) if y_symbols is None else y_symbols
        bits = {"z": self.entropy_z.information_bits(z_int), "y": self.entropy_y.information_bits(sym, scale)}
        return Compressed([self.entropy_z.compress(z_int), self.entropy_y.compress(sym, scale)], tuple(z_int.shape[2:]),
                          self.g_s((sym + mean) * inv_gain), bits)
