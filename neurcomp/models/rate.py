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
