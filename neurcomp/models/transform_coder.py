r"""The transform-coder interface, next to :class:`~neurcomp.models.base.CompressionModel`: what the
iterative encoders (SGA and its ablations) and bits-back BBVI need from a model.

* :class:`TransformCoder`: ``g_a``, ``h_a``, ``g_s``, ``entropy_y``, ``entropy_z``, ``gains``,
  ``hgains``, ``hyper_input``, ``entropy_parameters``, ``lambda_of``, ``compress_latents``. The
  hyperpriors (``scale_hyperprior``, ``hyperprior``) and the CompressAI hyperprior adapters implement it
  (through ``hyperprior._Hyperprior``); every registered model with ``"sga"`` in its ``methods`` must.
* :class:`BitsBackCoder` (a ``TransformCoder``, but refused by the iterative encoders: its ``h_a`` is
  the posterior network): adds ``analyze``, ``posterior``, ``log2_q``, ``decoding_copy``,
  ``sigma_min`` and ``lambdas``. The bits-back hyperprior implements it.

Each member's signature, shapes and units (bits, never nats) are documented on the two classes. They
are *defined* in :mod:`neurcomp.inference.interface`, the layer that uses them (``inference`` sits below
``models`` and may not import it), and re-exported here. A model implements them by inheriting, e.g.
``class MyCoder(CompressionModel, TransformCoder)``; ``isinstance(model, TransformCoder)`` is then the
check ``neurcomp.inference`` runs up front. :func:`check_members` calls every member of a tiny instance
and checks the documented shapes (the conformance test, ``tests/test_model_contract.py``, runs it).

Example:
    >>> import torch
    >>> from neurcomp.models import FactorizedPrior, MeanScaleHyperprior
    >>> m = MeanScaleHyperprior(N=8, M=12, lambdas=[0.01, 0.05]).eval()
    >>> m.update()
    >>> isinstance(m, TransformCoder), check_members(m, torch.rand(2, 3, 64, 64), rate_idx=1)["z"]
    (True, (2, 8, 1, 1))
    >>> from neurcomp.inference import optimize_latents
    >>> optimize_latents(FactorizedPrior(N=8, M=8), torch.rand(1, 3, 64, 64), steps=1)
    Traceback (most recent call last):
    ...
    TypeError: sga needs a TransformCoder (neurcomp.models.transform_coder); a factorized model is not one (missing: compress_latents, entropy_parameters, entropy_z, h_a, hgains, hyper_input)
"""
from __future__ import annotations

import torch

from ..inference.interface import BitsBackCoder, TransformCoder, members, missing_members, require


def _expect(ok: bool, what: str) -> None:
    if not ok:
        raise ValueError(f"TransformCoder member {what}")


def _shape(name: str, t, shape) -> tuple:
    _expect(isinstance(t, torch.Tensor), f"{name} returned {type(t).__name__}, not a tensor")
    _expect(tuple(t.shape) == tuple(shape), f"{name} has shape {tuple(t.shape)}, documented {tuple(shape)}")
    _expect(bool(torch.isfinite(t).all()), f"{name} is not finite")
    return tuple(t.shape)


def _grid(name: str, inner: torch.Tensor, outer: tuple) -> None:
    """``inner [B, C, h, w]`` is a whole-number downsampling of the ``outer`` grid ``(H, W)``."""
    h, w = inner.shape[-2:]
    ok = inner.dim() == 4 and outer[0] % h == 0 and outer[1] % w == 0 and outer[0] // h == outer[1] // w
    _expect(ok, f"{name} of shape {tuple(inner.shape)} is no latent grid of {tuple(outer)}")


def _common(model, x, rate_idx):
    """gains, hgains and the shapes they fix: ``(gain, inv_gain, idx, hgain, inv_hgain, M, N)``."""
    b = x.shape[0]
    gain, inv_gain, idx = model.gains(rate_idx, b, x.device)
    m = gain.shape[1]
    _shape("gains()[0]", gain, (b, m, 1, 1))
    _shape("gains()[1]", inv_gain, (b, m, 1, 1))
    _expect(idx.dtype == torch.long and tuple(idx.shape) == (b,), "gains()[2] is no LongTensor [B]")
    hgain, inv_hgain = model.hgains(idx)
    n = hgain.shape[1]
    _shape("hgains()[0]", hgain, (b, n, 1, 1))
    _shape("hgains()[1]", inv_hgain, (b, n, 1, 1))
    return gain, inv_gain, idx, hgain, inv_hgain, m, n


def _rates_and_synthesis(model, x, y, z, mean, scale, inv_gain, shapes: dict) -> None:
    y_hat = mean + torch.round(y - mean)
    shapes["mean"], shapes["scale"] = _shape("mean", mean, y.shape), _shape("scale", scale, y.shape)
    y_grad = y_hat.detach().requires_grad_(True)
    with torch.enable_grad():
        bits_y = model.entropy_y.bits(y_grad, mean, scale)
        bits_y.sum().backward()
    _expect(y_grad.grad is not None, "entropy_y.bits is not differentiable in y")
    shapes["bits_y"] = _shape("entropy_y.bits", bits_y.detach(), y.shape)
    shapes["bits_z"] = _shape("entropy_z.bits", model.entropy_z.bits(z), z.shape)
    _expect(bool((bits_y >= 0).all()) and bool((model.entropy_z.bits(z) >= 0).all()), "bits are negative")
    shapes["x_hat"] = _shape("g_s", model.g_s(y_hat * inv_gain), x.shape)


def check_members(model, x: torch.Tensor, rate_idx=0) -> dict:
    """Call every member of ``model``'s interface (:class:`BitsBackCoder` if it is one, else
    :class:`TransformCoder`) on the image batch ``x [B, 3, H, W]`` (H, W multiples of its stride) and
    check the documented shapes; returns ``{what: shape}``. For a ``TransformCoder`` its coding tables
    must be built (``update()``): ``compress_latents`` codes the first image. ``ValueError`` naming the
    member otherwise (``TypeError`` if it does not implement the interface)."""
    bits_back = isinstance(model, BitsBackCoder)
    require(model, BitsBackCoder if bits_back else TransformCoder, "check_members")
    b, _, hh, ww = x.shape
    shapes = {}
    with torch.no_grad():
        gain, inv_gain, idx, hgain, inv_hgain, m, n = _common(model, x, rate_idx)
        y = (model.analyze(x) if bits_back else model.g_a(x)) * gain
        _expect(y.dim() == 4 and tuple(y.shape[:2]) == (b, m), f"g_a gives {tuple(y.shape)}, not [B, M, h, w]")
        _grid("y", y, (hh, ww))
        shapes["y"] = tuple(y.shape)
        if bits_back:
            mu, sigma = model.posterior(y, hgain)
            _expect(mu.dim() == 4 and tuple(mu.shape[:2]) == (b, n),
                    f"posterior gives {tuple(mu.shape)}, not [B, N, h', w']")
            _grid("z", mu, tuple(y.shape[2:]))
            shapes["z"] = _shape("posterior()[1]", sigma, mu.shape)
            _expect(bool((sigma >= model.sigma_min).all()), "posterior()[1] is below sigma_min")
            z = mu + sigma * torch.randn(mu.shape, generator=torch.Generator().manual_seed(0)).to(mu)
            shapes["log2_q"] = _shape("log2_q", model.log2_q(z, mu, sigma), z.shape)
            _expect(len(model.lambdas) > int(idx.max()), "lambdas has no entry for rate_idx")
            _expect(isinstance(model.decoding_copy(), BitsBackCoder), "decoding_copy() is no BitsBackCoder")
        else:
            v = model.hyper_input(y)
            shapes["hyper_input"] = _shape("hyper_input", v, y.shape)
            z = torch.round(model.h_a(v) * hgain)
            _expect(z.dim() == 4 and tuple(z.shape[:2]) == (b, n), f"h_a gives {tuple(z.shape)}, not [B, N, h', w']")
            _grid("z", z, tuple(y.shape[2:]))
            shapes["z"] = tuple(z.shape)
        mean, scale = model.entropy_parameters(z, inv_hgain)
        _rates_and_synthesis(model, x, y, z, mean, scale, inv_gain, shapes)
        shapes["lambda"] = _shape("lambda_of", model.lambda_of(rate_idx, b, x.device), (b,))
        if not bits_back:
            c = model.compress_latents(y[:1], z[:1], int(idx[0]))
            _expect(all(hasattr(c, a) for a in ("sections", "bits", "x_hat")), "compress_latents returns no Compressed")
            shapes["compressed_x_hat"] = _shape("compress_latents().x_hat", c.x_hat, (1, 3, hh, ww))
    return shapes


__all__ = ["TransformCoder", "BitsBackCoder", "check_members", "members", "missing_members", "require"]
