"""Relaxations of rounding used by the iterative encoders (Yang et al. 2020, section 3.2).

Stochastic Gumbel Annealing (SGA) rounds each coordinate ``v`` down or up with
tempered probabilities (Eq. 4, with ``psi = atanh``)::

    q(down) ∝ exp(-atanh(v - floor(v)) / tau),   q(up) ∝ exp(-atanh(ceil(v) - v) / tau)

and relaxes the two-way choice with a Gumbel-softmax sample at the same temperature.
As ``tau -> 0`` the sample becomes ordinary rounding.

Example:
    >>> import torch
    >>> p_up = rounding_up_probability(torch.tensor([0.1, 0.5, 0.9]), tau=0.5)
    >>> [round(float(p), 3) for p in p_up]
    [0.06, 0.5, 0.94]
"""
from __future__ import annotations

import math

import torch

_EPS = 1e-5


def _logits(v: torch.Tensor, tau: float) -> tuple[torch.Tensor, torch.Tensor]:
    floor = torch.floor(v)
    d_down = (v - floor).clamp(_EPS, 1 - _EPS)
    d_up = (floor + 1 - v).clamp(_EPS, 1 - _EPS)
    return -torch.atanh(d_down) / tau, -torch.atanh(d_up) / tau


def rounding_up_probability(v: torch.Tensor, tau: float) -> torch.Tensor:
    """q_tau(round up | v), Eq. 4 of Yang et al. (2020) with psi = atanh."""
    down, up = _logits(v, tau)
    return torch.sigmoid(up - down)


def sga_round(v: torch.Tensor, tau: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """A Gumbel-softmax relaxed sample of {floor(v), ceil(v)} at temperature ``tau`` (differentiable)."""
    floor = torch.floor(v).detach()
    down, up = _logits(v, tau)
    u = torch.rand(v.shape + (2,), generator=generator, device=v.device, dtype=v.dtype).clamp(1e-10, 1 - 1e-10)
    g = -torch.log(-torch.log(u))
    w = torch.softmax((torch.stack([down, up], -1) + g) / tau, dim=-1)
    return floor + w[..., 1]


def expected_round(v: torch.Tensor, tau: float) -> torch.Tensor:
    """Deterministic annealing: the expectation of the SGA rounding, floor(v) + q(up)."""
    return torch.floor(v).detach() + rounding_up_probability(v, tau)


def ste_round(v: torch.Tensor) -> torch.Tensor:
    """Round on the forward pass, identity gradient on the backward pass."""
    return v + (torch.round(v) - v).detach()


PAPER_STEPS = 2000  # Yang et al. (2020), S3: 2000 Adam steps, t0 = 700, c = 0.001


def schedule_for(steps: int, tau0: float = 0.5) -> dict:
    """SGA's annealing schedule scaled to a step budget: exactly the paper's t0 = 700, c = 0.001 at
    2000 steps (Yang et al. 2020, S3), so that a shorter or longer run anneals over the same fraction of
    its steps and ends at the same temperature, tau0 * exp(-1.3) = 0.14 for tau0 = 0.5.

    >>> schedule_for(2000)
    {'tau0': 0.5, 't0': 700, 'c': 0.001}
    >>> s = schedule_for(500); s
    {'tau0': 0.5, 't0': 175, 'c': 0.004}
    >>> round(annealed_temperature(500, **s), 3) == round(annealed_temperature(2000, **schedule_for(2000)), 3) == 0.136
    True
    """
    steps = max(int(steps), 1)
    return {"tau0": tau0, "t0": round(0.35 * steps), "c": 0.001 * PAPER_STEPS / steps}


def annealed_temperature(step: int, tau0: float = 0.5, c: float = 0.001, t0: int = 700) -> float:
    """tau(t) = min(tau0, tau0 * exp(-c (t - t0))), the schedule of Yang et al. (2020), S3."""
    return min(tau0, tau0 * math.exp(-c * (step - t0)))
