r"""What iterative inference and bits-back BBVI need from a model: :class:`TransformCoder` and
:class:`BitsBackCoder`, the second contract next to :class:`~neurcomp.models.base.CompressionModel`.

They are defined here, in the layer that uses them, because ``neurcomp.inference`` sits *below*
``neurcomp.models`` (``pyproject.toml``'s import-linter layers; ``models.hyperprior`` imports
``inference.ENCODERS``, so the other direction would be a cycle). Models implement them by
inheriting; :mod:`neurcomp.models.transform_coder` re-exports both next to ``CompressionModel`` and
checks a model's shapes (:func:`~neurcomp.models.transform_coder.check_members`).

Why an abstract base class and not a ``runtime_checkable`` ``typing.Protocol``:

* it is *nominal*: ``isinstance(model, TransformCoder)`` means the model's author declared the
  contract, not that it happens to have members called ``g_a`` and ``gains`` (the factorized prior and
  the discretized VAE have several of them and are no transform coders for SGA);
* the conformance test can check classes: ``issubclass`` refuses protocols with data members;
* a class missing one of the abstract methods fails when it is built, naming them;
* the members that are sub-networks (``g_a``, ``h_a``, ``g_s``, ``entropy_y``, ``entropy_z``) and
  plain data (``sigma_min``, ``lambdas``) are assigned in ``__init__`` (``nn.Module`` keeps modules in
  ``_modules`` and finds them through ``__getattr__``), so they are annotations here, never class
  attributes (a class attribute would hide the module); :func:`missing_members` checks them on the
  instance, and :func:`require` does both checks with a one-line error.

Example:
    >>> import torch
    >>> missing_members(torch.nn.Linear(2, 2), TransformCoder)[:3]
    ['compress_latents', 'entropy_parameters', 'entropy_y']
    >>> require(torch.nn.Linear(2, 2), TransformCoder, "sga")
    Traceback (most recent call last):
    ...
    TypeError: sga needs a TransformCoder (neurcomp.models.transform_coder); a Linear model is not one (missing: compress_latents, entropy_parameters, entropy_y, entropy_z, g_a, g_s, gains, h_a, hgains, hyper_input, lambda_of)
"""
from __future__ import annotations

from abc import ABC, abstractmethod

import torch
import torch.nn as nn


class TransformCoder(ABC):
    r"""A transform coder with a hyperprior: the model interface of the iterative encoders
    (:func:`neurcomp.inference.optimize_latents`, ``sga``, ``map``, ``ste``, ``uniform_noise``,
    ``det_annealing``, and :data:`neurcomp.inference.ENCODERS`).

    Implementers are ``nn.Module``\ s (the encoders call ``eval()`` and freeze ``parameters()``).
    Shapes for an image batch ``x [B, 3, H, W]`` in [0, 1] (H, W multiples of the model's stride):
    ``y [B, M, h, w]`` and ``z [B, N, h', w']`` (the hyperpriors: ``h = H/16``, ``h' = H/64``).
    Units: ``y`` and ``z`` live on the *integer* quantization grid (step 1: the gains scale them
    there); rates are **bits** (``-log2``), never nats; lambda weighs ``255^2 * MSE`` against bits per
    pixel. The loss the iterative methods minimize, per image, is ``[sum(entropy_y.bits) +
    sum(entropy_z.bits)] / (H * W) + lambda * 255^2 * MSE`` (MSE over ``[3, H, W]``, [0, 1] pixels).

    Sub-network and entropy-model members (assigned in ``__init__``; see :func:`missing_members`):

    * ``g_a``: analysis, ``x [B, 3, H, W] -> [B, M, h, w]``, before the gain.
    * ``h_a``: hyper-analysis, ``hyper_input(y) -> [B, N, h', w']``, before the hyper gain.
    * ``g_s``: synthesis, ``y_hat * inv_gain -> x_hat [B, 3, H, W]`` on the [0, 1] pixel scale.
    * ``entropy_y``: ``entropy_y.bits(y, mean, scale)`` -> ``-log2 P(y | mean, scale)`` per element,
      shaped like ``y``, bits, differentiable (``y`` rounded or relaxed; ``scale`` clamped to >= 0.11).
    * ``entropy_z``: ``entropy_z.bits(z)`` -> ``-log2 P(z)`` per element, shaped like ``z``, bits
      (bin width 1), differentiable.

    Example (the mean-scale hyperprior implements it):
        >>> import torch
        >>> from neurcomp.models import MeanScaleHyperprior
        >>> m = MeanScaleHyperprior(N=8, M=12, lambdas=[0.01, 0.05]).eval()
        >>> gain, inv_gain, idx = m.gains(1, 2, "cpu")
        >>> hgain, inv_hgain = m.hgains(idx)
        >>> y = m.g_a(torch.rand(2, 3, 64, 64)) * gain
        >>> z = torch.round(m.h_a(m.hyper_input(y)) * hgain)
        >>> mean, scale = m.entropy_parameters(z, inv_hgain)
        >>> isinstance(m, TransformCoder), tuple(y.shape), tuple(z.shape), tuple(mean.shape)
        (True, (2, 12, 4, 4), (2, 8, 1, 1), (2, 12, 4, 4))
        >>> tuple(m.lambda_of(1, 2, "cpu").shape), tuple(m.g_s(y * inv_gain).shape)
        ((2,), (2, 3, 64, 64))
    """

    g_a: nn.Module
    h_a: nn.Module
    g_s: nn.Module
    entropy_y: nn.Module
    entropy_z: nn.Module

    @abstractmethod
    def gains(self, rate_idx, batch: int, device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(gain, inv_gain, idx)`` of rate point(s) ``rate_idx`` (an int, or a LongTensor ``[batch]``):
        ``gain`` and ``inv_gain`` ``[batch, M, 1, 1]`` (``y = g_a(x) * gain`` is in quantization units;
        the synthesis takes ``y_hat * inv_gain``), ``idx`` the rate indexes, LongTensor ``[batch]``."""

    @abstractmethod
    def hgains(self, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(hgain, inv_hgain)``, ``[B, N, 1, 1]`` each, for ``idx`` ``[B]`` from :meth:`gains`:
        ``z = h_a(...) * hgain`` is on the integer grid; :meth:`entropy_parameters` takes ``inv_hgain``."""

    @abstractmethod
    def hyper_input(self, y: torch.Tensor) -> torch.Tensor:
        """What ``h_a`` sees, shaped like ``y``: ``y`` itself (mean-scale) or ``|y|`` (scale only)."""

    @abstractmethod
    def entropy_parameters(self, z: torch.Tensor, inv_hgain: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(mean, scale)`` of ``p(y | z)``, each ``[B, M, h, w]``, in quantization units of ``y``
        (``scale`` a standard deviation, taken as at least 0.11 by ``entropy_y``: raw values may be lower;
        zero ``mean`` for a scale-only hyperprior), from ``z``
        ``[B, N, h', w']`` (rounded or relaxed) and ``inv_hgain`` from :meth:`hgains`. Differentiable."""

    @abstractmethod
    def lambda_of(self, rate_idx, batch: int, device) -> torch.Tensor:
        """The lambda of each image, float ``[batch]`` (loss ``bpp + lambda * 255^2 * MSE``)."""

    @abstractmethod
    def compress_latents(self, y: torch.Tensor, z_int: torch.Tensor, rate_idx: int = 0,
                         y_symbols: torch.Tensor | None = None):
        """Code one image's latents: ``z_int [1, N, h', w']`` (integers) and either continuous ``y``
        ``[1, M, h, w]`` or the integer symbols ``y_symbols = round(y - mean)``; returns the model's
        :class:`~neurcomp.models.base.Compressed` (``bits`` in bits, ``x_hat`` exactly as decoded)."""


class BitsBackCoder(TransformCoder):
    r"""A :class:`TransformCoder` with a Gaussian posterior ``q(z | y)``: the model interface of
    bits-back BBVI (:func:`neurcomp.inference.bbvi.joint_sga_bbvi`,
    :func:`~neurcomp.inference.bbvi.reproducible_bbvi`).

    Here ``h_a`` is the posterior network (``[B, 2N, h', w']``: mean and log-variance): read it through
    :meth:`posterior`, and ``z`` lives on the grid of step ``z_bin`` (``entropy_z.bits`` has bin width
    ``z_bin``). ``y`` is coded on the integer grid, not relative to the mean, so ``compress_latents``
    and ``hyper_input`` do not apply: the iterative encoders refuse a ``BitsBackCoder``. The NELBO
    adds ``sum(log2_q)`` (bits; <= 0 on average: minus the bits the decoder gives back) to the rate.

    Data members: ``sigma_min`` (float, the smallest posterior std, in units of ``z``) and ``lambdas``
    (the rate points' lambdas, a list of floats; the joint optimization reads ``lambdas[rate_idx]``).

    Example:
        >>> import torch
        >>> from neurcomp.models import BitsBackHyperprior
        >>> m = BitsBackHyperprior(N=8, M=12, lambdas=[0.01]).eval()
        >>> y = m.analyze(torch.rand(1, 3, 64, 64)) * m.gains(0, 1, "cpu")[0]
        >>> mu, sigma = m.posterior(y, m.hgains(torch.tensor([0]))[0])
        >>> tuple(mu.shape), bool((sigma >= m.sigma_min).all()), tuple(m.log2_q(mu, mu, sigma).shape)
        ((1, 8, 1, 1), True, (1, 8, 1, 1))
    """

    sigma_min: float
    lambdas: list

    @abstractmethod
    def analyze(self, x: torch.Tensor) -> torch.Tensor:
        """``g_a(x)`` for coding, ``[B, M, h, w]`` before the gain (tiled for large images)."""

    @abstractmethod
    def posterior(self, y: torch.Tensor, hgain: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(mu_z, sigma_z)`` of ``q(z | y)``, each ``[B, N, h', w']`` in units of ``z`` (``hgain``
        from :meth:`hgains` applied), ``sigma_z >= sigma_min``."""

    @abstractmethod
    def log2_q(self, z: torch.Tensor, mu: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        """``log2(q(z) * z_bin)`` per element, shaped like ``z``: bits, minus the bits given back."""

    @abstractmethod
    def decoding_copy(self) -> "BitsBackCoder":
        """A float64 CPU copy without gradients (``CompressionModel.decoding_copy``), on which
        ``reproducible_bbvi`` runs so that encoder and decoder get bit-identical posteriors."""


def members(interface: type) -> list[str]:
    """Every member of ``interface`` (abstract methods and annotated attributes), sorted."""
    names = set(getattr(interface, "__abstractmethods__", ()))
    for cls in interface.__mro__:
        if isinstance(cls, type) and issubclass(cls, TransformCoder):
            names.update(vars(cls).get("__annotations__", {}))
    return sorted(names)


def missing_members(model, interface: type = TransformCoder) -> list[str]:
    """The members of ``interface`` that ``model`` lacks (on the instance: sub-networks included)."""
    return [name for name in members(interface) if not hasattr(model, name)]


def _kind(model) -> str:
    return getattr(model, "kind", None) or type(model).__name__


def require(model, interface: type, user: str) -> None:
    """Refuse, with one line naming the model's kind and what it lacks, a ``model`` that does not
    implement ``interface`` (a ``TypeError``); ``user`` names the caller (e.g. the method)."""
    missing = missing_members(model, interface)
    name = interface.__name__
    if missing or not isinstance(model, interface):
        why = (f"missing: {', '.join(missing)}" if missing else
               f"it has every member: declare the interface by inheriting {name}")
        raise TypeError(f"{user} needs a {name} (neurcomp.models.transform_coder); a {_kind(model)} model is not "
                        f"one ({why})")
    if interface is TransformCoder and isinstance(model, BitsBackCoder):
        raise TypeError(f"{user} cannot optimize a {_kind(model)} model: it is a BitsBackCoder, whose h_a is the "
                        f"posterior q(z|y), not the hyper-analysis the iterative methods start from")


__all__ = ["TransformCoder", "BitsBackCoder", "members", "missing_members", "require"]
