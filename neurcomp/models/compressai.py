r"""neurcomp models with the architectures of CompressAI's published image models.

CompressAI (Begaint et al. 2020) publishes weights for ``bmshj2018-factorized`` (Balle et al.
2018's factorized prior), ``bmshj2018-hyperprior`` (the scale hyperprior) and ``mbt2018-mean``
(Minnen et al. 2018's mean-scale hyperprior without the context model). Their transforms have
exactly the layers (and ``nn.Sequential`` indexes) of our :class:`~neurcomp.models.FactorizedPrior`,
:class:`~neurcomp.models.ScaleHyperprior` and :class:`~neurcomp.models.MeanScaleHyperprior`; what
differs is how the side information is quantized. CompressAI's entropy bottleneck rounds relative
to a per-channel median ``m`` (``quantiles[:, 0, 1]``): ``z_hat = round(z - m) + m``. The classes
here reproduce that exactly without changing our models: a :class:`Shift` by ``-m`` ends the
transform in front of the bottleneck (``h_a``, or ``g_a`` for the factorized prior), a
:class:`Shift` by ``+m`` starts the one after it (``h_s`` / ``g_s``), and
:class:`ShiftedFactorizedDensity` is the bottleneck's density seen from the shifted side
(``P(k) = F(k + m + 1/2) - F(k + m - 1/2)``). Our model then works on ``z - m``, on the integer
grid: our codec, the iterative encoders (SGA, ...) and their interfaces work unchanged, and
``update()`` builds our own integer tables.

These are single-rate models (one ``lambda``: the one CompressAI trained the checkpoint with,
which the iterative encoders need; log gains 0). Loading a CompressAI state dict onto them
(parameter names, GDN's reparametrization, the order of ``mbt2018-mean``'s hyper-synthesis
outputs) is :mod:`neurcomp.zoo.compressai`'s job; this module knows no files.

Bits-back coding is not available: CompressAI's hyperpriors have no Gaussian ``q(z|x)`` to take
bits back from (see :mod:`neurcomp.bitsback`).

Example (a model with CompressAI's layout; the shift makes the codec round ``z`` the way
CompressAI does):
    >>> import torch
    >>> m = CompressAIMeanScale(N=8, M=12, lmbda=0.0067).eval()
    >>> m.set_medians(torch.linspace(-0.4, 0.4, 8))
    >>> m.update()
    >>> c = m.compress(torch.rand(1, 3, 64, 64))
    >>> len(c.sections), sorted(c.bits), m.arch
    (2, ['y', 'z'], 'mbt2018-mean')
"""
from __future__ import annotations

import torch
import torch.nn as nn

from ..container import SIDE_INFO_METHODS
from ..entropy import FactorizedDensity
from .hyperprior import FactorizedPrior, MeanScaleHyperprior, ScaleHyperprior

#: CompressAI's entropy bottleneck: four hidden layers of three units (ours ships with three)
COMPRESSAI_FILTERS = (3, 3, 3, 3)
#: why the bits-back methods refuse these models (a usage error)
NO_BITS_BACK = ("CompressAI's hyperpriors have no Gaussian posterior q(z|x) to take bits back from "
                "(bits-back coding needs a bitsback model, e.g. --model bitsback@0.0067)")


class Shift(nn.Module):
    """Adds a per-channel constant (the buffer ``offset``, ``[C]``) to its input ``[B, C, H, W]``.

    Example:
        >>> s = Shift(2)
        >>> s.offset.copy_(torch.tensor([1.0, -1.0]))
        tensor([ 1., -1.])
        >>> s(torch.zeros(1, 2, 1, 1)).flatten().tolist()
        [1.0, -1.0]
    """

    def __init__(self, channels: int):
        super().__init__()
        self.register_buffer("offset", torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.offset.to(x.dtype).view(1, -1, 1, 1)


class ShiftedFactorizedDensity(FactorizedDensity):
    """The factorized density of ``v + median`` (per channel), for values ``v`` of the shifted side:
    the likelihood of ``v`` and the table entry of the integer symbol ``k`` are those of ``v + median``
    and ``k + median`` under the learned cumulative (the density CompressAI's entropy bottleneck
    evaluates at its median-relative grid).

    Example:
        >>> d = ShiftedFactorizedDensity(1)
        >>> d.median.fill_(0.3)
        tensor([0.3000])
        >>> plain = FactorizedDensity(1, filters=(3, 3, 3, 3))
        >>> _ = plain.load_state_dict({k: v for k, v in d.state_dict().items() if k != "median"})
        >>> v = torch.tensor([[[[-1.0, 0.0, 2.0]]]])
        >>> torch.allclose(d.likelihood(v), plain.likelihood(v + 0.3))
        True
    """

    def __init__(self, channels: int, filters=COMPRESSAI_FILTERS, **kwargs):
        super().__init__(channels, filters=filters, **kwargs)
        self.register_buffer("median", torch.zeros(channels))

    def logits_cdf(self, x: torch.Tensor) -> torch.Tensor:
        return super().logits_cdf(x + self.median.to(x.dtype).view(-1, 1, 1))

    def _logits_channel(self, c: int, x: torch.Tensor) -> torch.Tensor:
        return super()._logits_channel(c, x + self.median[c].double())


class _CompressAIModel:
    """What the three adapted models share: the architecture name, the single rate point, the
    median shift around the entropy bottleneck and the bits-back refusal."""

    arch = "abstract"
    #: one line per method these models cannot code with, and why (``neurcomp.codec`` shows it)
    method_notes = {m: NO_BITS_BACK for m in SIDE_INFO_METHODS}

    def _wrap_bottleneck(self, before: nn.Sequential, after: nn.Sequential, channels: int):
        """``(before + [Shift(-m)], [Shift(+m)] + after)``."""
        return nn.Sequential(*before, Shift(channels)), nn.Sequential(Shift(channels), *after)

    @property
    def config(self) -> dict:
        return {"kind": self.kind, "arch": self.arch, "N": self.N, "M": self.M, "lambdas": self.lambdas,
                "filters": list(self.filters)}

    def bottleneck(self):
        """``(shift_in, shift_out, density)``: the Shift in front of the bottleneck, the one after it,
        and the bottleneck's density."""
        raise NotImplementedError

    @torch.no_grad()
    def set_medians(self, medians: torch.Tensor) -> None:
        """Set the bottleneck's per-channel medians ``m`` (CompressAI's ``quantiles[:, 0, 1]``);
        call :meth:`update` afterwards."""
        shift_in, shift_out, density = self.bottleneck()
        m = torch.as_tensor(medians, dtype=torch.float32).reshape(-1)
        shift_in.offset.copy_(-m)
        shift_out.offset.copy_(m)
        density.median.copy_(m)

    def medians(self) -> torch.Tensor:
        return self.bottleneck()[2].median.clone()


class CompressAIFactorized(_CompressAIModel, FactorizedPrior):
    """CompressAI's ``bmshj2018-factorized`` (Balle et al. 2018's factorized prior) as a neurcomp model."""

    arch = "bmshj2018-factorized"

    def __init__(self, N: int = 128, M: int = 192, lmbda: float = 0.0067, filters=COMPRESSAI_FILTERS):
        super().__init__(N, M, lambdas=(lmbda,))
        self.filters = tuple(filters)
        self.entropy_y = ShiftedFactorizedDensity(M, filters=self.filters)
        self.g_a, self.g_s = self._wrap_bottleneck(self.g_a, self.g_s, M)

    def bottleneck(self):
        return self.g_a[-1], self.g_s[0], self.entropy_y


class _CompressAIHyperprior(_CompressAIModel):
    def _init_bottleneck(self, N: int, filters):
        self.filters = tuple(filters)
        self.entropy_z = ShiftedFactorizedDensity(N, filters=self.filters)
        self.h_a, self.h_s = self._wrap_bottleneck(self.h_a, self.h_s, N)

    def bottleneck(self):
        return self.h_a[-1], self.h_s[0], self.entropy_z


class CompressAIScaleHyperprior(_CompressAIHyperprior, ScaleHyperprior):
    """CompressAI's ``bmshj2018-hyperprior`` (Balle et al. 2018's scale hyperprior) as a neurcomp model."""

    arch = "bmshj2018-hyperprior"

    def __init__(self, N: int = 128, M: int = 192, lmbda: float = 0.0067, filters=COMPRESSAI_FILTERS):
        super().__init__(N, M, lambdas=(lmbda,))
        self._init_bottleneck(N, filters)


class CompressAIMeanScale(_CompressAIHyperprior, MeanScaleHyperprior):
    """CompressAI's ``mbt2018-mean`` (Minnen et al. 2018 without context) as a neurcomp model. Our
    hyper-synthesis ends in (mean, scale) channels, CompressAI's in (scale, mean): the loader swaps
    the halves of the last convolution."""

    arch = "mbt2018-mean"

    def __init__(self, N: int = 128, M: int = 192, lmbda: float = 0.0067, filters=COMPRESSAI_FILTERS):
        super().__init__(N, M, lambdas=(lmbda,))
        self._init_bottleneck(N, filters)


#: CompressAI architecture name -> class
ARCHITECTURES = {cls.arch: cls for cls in (CompressAIFactorized, CompressAIScaleHyperprior, CompressAIMeanScale)}

__all__ = ["Shift", "ShiftedFactorizedDensity", "CompressAIFactorized", "CompressAIScaleHyperprior",
           "CompressAIMeanScale", "ARCHITECTURES", "NO_BITS_BACK"]
