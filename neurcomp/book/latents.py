"""Hyperprior latents for chapters 5 and 6: decoding given latents, R-D points, the final gap.

Part of :mod:`neurcomp.book` (see there for units and conventions).
"""
from __future__ import annotations

import numpy as np
import torch

from .. import data, metrics
from ..inference import amortized_latents, true_loss


def final_gap(result, fraction: float = 0.2) -> float:
    """The discretization gap at the end of an iterative inference run: true minus relaxed loss.

    Parameters
    ----------
    result : neurcomp.inference.iterative.InferenceResult
        A run of :func:`neurcomp.inference.optimize_latents` (first image of the batch).
    fraction : float
        The share of the recorded steps, at the end of the run, to average over (single relaxed
        samples are noisy).

    Returns
    -------
    float
        Mean of ``true_loss - relaxed_loss`` over those steps, in the loss's units
        (``bpp + lambda * 255^2 * MSE``).

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> run = SimpleNamespace(steps=list(range(10)), true_loss=[[1.0]] * 10, relaxed_loss=[[0.5]] * 8 + [[0.9]] * 2)
    >>> round(final_gap(run), 6)
    0.1
    """
    k = max(1, int(len(result.steps) * fraction))
    return float(np.mean(np.array(result.true_loss)[-k:, 0] - np.array(result.relaxed_loss)[-k:, 0]))


@torch.no_grad()
def forward(model: torch.nn.Module, x: torch.Tensor, rate_idx=0) -> dict:
    """A model's forward pass on an image, padded to its stride, without gradients.

    Parameters
    ----------
    model : torch.nn.Module
        A neurcomp model (in ``eval()`` mode it rounds as the codec does).
    x : torch.Tensor
        ``[3, H, W]`` or ``[B, 3, H, W]`` in ``[0, 1]``; padded at the bottom and right (replicating
        the edge) to a multiple of ``model.stride``.
    rate_idx : int
        The rate point.

    Returns
    -------
    dict
        What ``model(x, rate_idx)`` returns: ``x_hat`` (padded size), ``rate_bits`` (bits per latent
        element, per part), and the model's own fields.

    Examples
    --------
    >>> from neurcomp.book import load
    >>> model, rate_idx, _ = load("mshp@0.0067")
    >>> out = forward(model, torch.rand(3, 40, 70), rate_idx)
    >>> tuple(out["x_hat"].shape), sorted(out["rate_bits"])
    ((1, 3, 64, 128), ['y', 'z'])
    """
    x = x.unsqueeze(0) if x.dim() == 3 else x
    return model(data.pad_to_multiple(x, model.stride)[0], rate_idx)


@torch.no_grad()
def decode_latents(model, y_symbols: torch.Tensor, z_int: torch.Tensor, rate_idx) -> torch.Tensor:
    """The image a hyperprior's decoder makes from integer latents (float32, clamped).

    Parameters
    ----------
    model : neurcomp.models.MeanScaleHyperprior
        The model (or a scale hyperprior).
    y_symbols : torch.Tensor
        The coded symbols ``round(y - mean)``, ``[B, M, h, w]``.
    z_int : torch.Tensor
        The integer hyper-latents, ``[B, N, h/4, w/4]``.
    rate_idx : int
        The rate point.

    Returns
    -------
    torch.Tensor
        ``[B, 3, H, W]`` in ``[0, 1]`` (``H = 16 h``).

    Examples
    --------
    >>> from neurcomp.book import load
    >>> model, rate_idx, _ = load("mshp@0.0067")
    >>> y = torch.zeros(1, model.M, 4, 4)
    >>> decode_latents(model, y, torch.zeros(1, model.N, 1, 1), rate_idx).shape
    torch.Size([1, 3, 64, 64])
    """
    _, inv_gain, idx = model.gains(rate_idx, y_symbols.shape[0], y_symbols.device)
    mean, _ = model.entropy_parameters(z_int, model.hgains(idx)[1])
    return model.g_s((mean + y_symbols) * inv_gain).clamp(0, 1)


@torch.no_grad()
def rd_point(model, x: torch.Tensor, rate_idx, result=None) -> list[dict]:
    """Rate, PSNR, loss and reconstruction of a hyperprior's rounded latents, per image.

    Parameters
    ----------
    model : neurcomp.models.MeanScaleHyperprior
    x : torch.Tensor
        Images ``[B, 3, H, W]`` in ``[0, 1]`` (H, W multiples of the stride 64).
    rate_idx : int
        The rate point.
    result : neurcomp.inference.iterative.InferenceResult, optional
        Optimized latents (:func:`neurcomp.inference.optimize_latents`); default the amortized
        encoder's latents, rounded as the codec rounds them.

    Returns
    -------
    list of dict
        Per image: ``bpp`` (information content, bits per pixel), ``psnr`` (dB, 8-bit),
        ``loss`` (``bpp + lambda * 255^2 * MSE``) and ``x_hat`` (``[3, H, W]``).

    Examples
    --------
    >>> from neurcomp.book import load
    >>> model, rate_idx, _ = load("mshp@0.0067")
    >>> p = rd_point(model, torch.rand(1, 3, 64, 64), rate_idx)[0]
    >>> sorted(p), p["bpp"] > 0
    (['bpp', 'loss', 'psnr', 'x_hat'], True)
    """
    if result is None:
        mu_y, mu_z = amortized_latents(model, x, rate_idx)
        z_int = torch.round(mu_z)
        _, _, idx = model.gains(rate_idx, x.shape[0], x.device)
        mean, _ = model.entropy_parameters(z_int, model.hgains(idx)[1])
        y_symbols = torch.round(mu_y - mean)
        final = {k: v.tolist() for k, v in true_loss(model, x, mu_y, mu_z, rate_idx).items()}
    else:
        y_symbols, z_int, final = result.y_symbols, result.z_int, result.final
    x_hat = decode_latents(model, y_symbols, z_int, rate_idx)
    return [{"bpp": float(final["bpp"][i]), "psnr": metrics.psnr(x_hat[i], x[i]), "loss": float(final["loss"][i]),
             "x_hat": x_hat[i]} for i in range(x.shape[0])]
