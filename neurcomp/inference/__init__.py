"""Inference at compression time: amortized, iterative (SGA and its ablations).

``ENCODERS[method](model, x_padded, rate_idx, steps=..., seed=...)`` returns what
``model.compress`` returns (a hyperprior model's ``compress(x, rate_idx, method=...)`` calls it),
so any method's latents go into the same stream, which the unchanged decoder reads.
This package knows no model classes: it works on any model that implements its interfaces,
:class:`~neurcomp.inference.interface.TransformCoder` (the iterative methods) and
:class:`~neurcomp.inference.interface.BitsBackCoder` (BBVI), and refuses others with a TypeError.
"""
from __future__ import annotations

import torch

from .interface import BitsBackCoder, TransformCoder
from .iterative import METHODS, InferenceResult, amortized_latents, optimize_latents, true_loss
from .rounding import annealed_temperature, expected_round, rounding_up_probability, sga_round, ste_round

DEFAULT_STEPS = 2000


def schedule_for(steps: int) -> dict:
    """SGA's annealing schedule scaled to a step budget: exactly t0 = 700, c = 0.001 at 2000 steps
    (Yang et al. 2020, S3), so that shorter runs also end at a low temperature."""
    return {"t0": round(0.35 * steps), "c": 0.001 * DEFAULT_STEPS / max(steps, 1)}


def _iterative_encoder(method: str):
    def encode(model, x, rate_idx, steps=None, seed=0):
        n = DEFAULT_STEPS if steps is None else int(steps)
        if n < 1:
            raise ValueError(f"steps must be a positive number of iterations, got {n}")
        with torch.enable_grad():
            res = optimize_latents(model, x, rate_idx, method=method, steps=n, seed=seed, **schedule_for(n))
        out = model.compress_latents(torch.zeros_like(res.y_symbols), res.z_int, rate_idx, y_symbols=res.y_symbols)
        out.info = {"steps": n, "true_loss": res.final["loss"][0], "opt_s": res.seconds}
        return out

    return encode


ENCODERS = {m: _iterative_encoder(m) for m in METHODS}

__all__ = ["TransformCoder", "BitsBackCoder", "METHODS", "ENCODERS", "InferenceResult", "amortized_latents",
           "optimize_latents", "true_loss", "annealed_temperature", "schedule_for", "DEFAULT_STEPS", "expected_round", "rounding_up_probability", "sga_round", "ste_round"]
