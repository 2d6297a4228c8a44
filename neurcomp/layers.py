"""Building blocks of learned transforms: GDN / IGDN and convolution helpers.

GDN (generalized divisive normalization, Balle et al. 2016) computes, per pixel,

    y_i = x_i / sqrt(beta_i + sum_j gamma_ij x_j^2)

and IGDN multiplies instead of dividing. ``beta`` and ``gamma`` must stay
positive; we store them through the usual reparametrization
``value = max(p, bound)^2 - pedestal`` so that gradient steps cannot push them
below zero (the ``max`` is a lower bound with a straight-through gradient when
the parameter is pushed up again).

Example:
    >>> import torch
    >>> gdn = GDN(8)
    >>> gdn(torch.randn(1, 8, 4, 4)).shape
    torch.Size([1, 8, 4, 4])
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


class _LowerBound(torch.autograd.Function):
    """max(x, bound) that still passes gradients which would raise x."""

    @staticmethod
    def forward(ctx, x, bound):
        ctx.save_for_backward(x, bound)
        return torch.max(x, bound)

    @staticmethod
    def backward(ctx, grad):
        x, bound = ctx.saved_tensors
        pass_through = (x >= bound) | (grad < 0)
        return grad * pass_through, None


def lower_bound(x: torch.Tensor, bound: float) -> torch.Tensor:
    return _LowerBound.apply(x, torch.as_tensor(bound, dtype=x.dtype, device=x.device))


class NonNegative(nn.Module):
    """Stores a non-negative tensor as ``p`` with ``value = lower_bound(p, sqrt(min + ped))^2 - ped``."""

    pedestal = 2.0 ** -18

    def __init__(self, init: torch.Tensor, minimum: float = 0.0):
        super().__init__()
        self.minimum = float(minimum)
        self.param = nn.Parameter(torch.sqrt(init + self.pedestal))

    def forward(self) -> torch.Tensor:
        bound = (self.minimum + self.pedestal) ** 0.5
        return lower_bound(self.param, bound) ** 2 - self.pedestal


class GDN(nn.Module):
    """Generalized divisive normalization over channels (``inverse=True``: IGDN)."""

    def __init__(self, channels: int, inverse: bool = False, beta_min: float = 1e-6, gamma_init: float = 0.1):
        super().__init__()
        self.inverse = inverse
        self.beta = NonNegative(torch.ones(channels), minimum=beta_min)
        self.gamma = NonNegative(gamma_init * torch.eye(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = x.shape[1]
        gamma = self.gamma().view(c, c, 1, 1)
        norm = F.conv2d(x * x, gamma, self.beta())
        norm = torch.sqrt(norm)
        return x * norm if self.inverse else x / norm


def conv(cin: int, cout: int, kernel: int = 5, stride: int = 2) -> nn.Conv2d:
    """'Same' convolution that downsamples by ``stride``."""
    return nn.Conv2d(cin, cout, kernel, stride=stride, padding=kernel // 2)


def deconv(cin: int, cout: int, kernel: int = 5, stride: int = 2) -> nn.ConvTranspose2d:
    """Transposed convolution that upsamples exactly by ``stride``."""
    return nn.ConvTranspose2d(cin, cout, kernel, stride=stride, padding=kernel // 2, output_padding=stride - 1)
