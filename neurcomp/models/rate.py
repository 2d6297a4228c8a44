"""Variable-rate machinery: one network, several rate points.

A model trained for a list of rate points (``lambdas``, distortion weights of
``R + lambda * 255^2 * MSE``; or ``betas`` for the PLN) keeps per-rate-point parameters (gain
vectors that scale the latents, Cui et al. 2021), selected by ``rate_idx``: an int for the
whole batch, or a LongTensor ``[B]`` with one rate point per image. :func:`extend_rate_points`
grows such a model's rate points (new rows interpolated in log-lambda).

Example:
    >>> rate_index(1, 3, "cpu").tolist()
    [1, 1, 1]
"""
from __future__ import annotations

import math

import torch


def rate_index(rate_idx, batch: int, device) -> torch.Tensor:
    """``rate_idx`` (int or LongTensor ``[B]``) as a LongTensor ``[batch]``."""
    idx = torch.as_tensor(rate_idx, dtype=torch.long, device=device)
    return idx.expand(batch) if idx.dim() == 0 else idx


def rate_values(values, rate_idx, batch: int, device) -> torch.Tensor:
    """The rate parameter (lambda or beta) of every image of a batch, ``[batch]`` float."""
    return torch.tensor([float(v) for v in values], device=device)[rate_index(rate_idx, batch, device)]


def training_rate_bpp(rate_bits: dict, pixels: int, free_bits=0.0) -> torch.Tensor:
    """The rate a *training* loss charges, in bits per pixel (batch mean), with free bits
    (Kingma et al. 2016) against posterior collapse.

    For every latent group of ``rate_bits`` (``"y"``, ``"z"``, or the levels ``"z0"``, ``"z1"``, ... of
    a hierarchical model; tensors ``[B, C, ...]`` of bits per element) and every channel, the batch-mean
    rate per latent element enters as ``max(rate, free)``: a channel that carries less than ``free``
    bits per element gets no gradient pushing it further towards its prior, so a level cannot collapse
    onto it early in training. ``free_bits`` is one number for every group, or a mapping such as
    ``{"z2": 0.5}`` (groups not named get none: a floor on the finest level would charge nothing for
    its weak channels at low rates; a floor per image instead of the batch mean, tried for the
    variable-rate hdvae, left its top level emptier: see ``configs/hdvae.yaml``). With no free bits this is the true rate, ``sum(bits) / pixels``.
    It changes only what training minimizes: what is measured and coded stays the true rate.

    Example:
        >>> bits = {"y": torch.tensor([[[0.5, 1.5]], [[0.5, 2.5]]])}   # B = 2, C = 1, 2 elements each
        >>> float(training_rate_bpp(bits, pixels=2)), float(training_rate_bpp(bits, pixels=2, free_bits=2.0))
        (1.25, 2.0)
    """
    if isinstance(free_bits, dict):
        free_of = {str(k): float(v) for k, v in free_bits.items()}
        unknown = sorted(set(free_of) - set(rate_bits))
        if unknown:
            raise ValueError(f"free_bits names latent groups {unknown}; this model has {sorted(rate_bits)}")
    else:
        free_of = {name: float(free_bits or 0.0) for name in rate_bits}
    rate = 0.0
    for name, bits in rate_bits.items():
        free = free_of.get(name, 0.0)
        per_channel = bits.float().transpose(0, 1).reshape(bits.shape[1], -1).mean(1)  # bits per element
        per_image_elements = bits[0].numel() / bits.shape[1]
        rate = rate + (per_channel.clamp_min(free) if free > 0 else per_channel).sum() * per_image_elements / pixels
    return rate


def has_training_options(free_bits=0.0, rate_weight: float = 1.0) -> bool:
    """Whether ``rd_loss``'s training options change its loss (free bits set, or a rate weight other than 1)."""
    floors = free_bits.values() if isinstance(free_bits, dict) else [free_bits or 0.0]
    return max(floors, default=0.0) > 0 or rate_weight != 1.0


def extend_rate_points(weights: dict, old_lambdas, new_lambdas) -> dict:
    """Carry per-rate-point parameters (every ``*gain*`` tensor with one row per old lambda) over to
    a new lambda list: rows of lambdas kept are copied, new rows are interpolated (or extrapolated)
    linearly in log-lambda from the two nearest old rows. Lets a variable-rate model grow a rate point.

    >>> w = extend_rate_points({"log_gain": torch.tensor([[0.0], [1.0]])}, [0.01, 0.1], [0.001, 0.01, 0.1])
    >>> [round(v, 3) for v in w["log_gain"][:, 0].tolist()]
    [-1.0, 0.0, 1.0]
    """
    old_lambdas = list(old_lambdas)
    old = [math.log(v) for v in old_lambdas]
    if len(old) < 2:
        raise ValueError("need at least two old rate points to place new ones")
    out = dict(weights)
    for name, t in weights.items():
        if "gain" not in name.split(".")[-1] or t.dim() < 1 or t.shape[0] != len(old):
            continue
        rows = []
        for lam in new_lambdas:
            if lam in old_lambdas:
                rows.append(t[old_lambdas.index(lam)])
                continue
            v = math.log(lam)
            i, j = sorted(range(len(old)), key=lambda k: abs(old[k] - v))[:2]
            w = (v - old[i]) / (old[j] - old[i])
            rows.append(t[i] + w * (t[j] - t[i]))
        out[name] = torch.stack(rows)
    return out


__all__ = ["rate_index", "rate_values", "extend_rate_points"]
