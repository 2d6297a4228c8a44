"""Inference at compression time: amortized, iterative (SGA and its ablations).

``ENCODERS[method](model, x_padded, rate_idx, steps=..., seed=...)`` returns what
``model.compress`` returns, so :mod:`neurcomp.codec` can write any method's latents
into the same stream, which the unchanged decoder reads.
"""
from __future__ import annotations

import torch

from .iterative import METHODS, InferenceResult, amortized_latents, optimize_latents, true_loss
from .rounding import annealed_temperature, expected_round, rounding_up_probability, sga_round, ste_round

DEFAULT_STEPS = 2000


def schedule_for(steps: int) -> dict:
    """SGA's annealing schedule scaled to a step budget: exactly t0 = 700, c = 0.001 at 2000 steps
    (Yang et al. 2020, S3), so that shorter runs also end at a low temperature."""
    return {"t0": round(0.35 * steps), "c": 0.001 * DEFAULT_STEPS / max(steps, 1)}


def _iterative_encoder(method: str):
    def encode(model, x, rate_idx, steps=None, seed=0):
        if not hasattr(model, "compress_latents"):
            raise ValueError(f"method {method!r} needs a hyperprior model")
        n = steps or DEFAULT_STEPS
        with torch.enable_grad():
            res = optimize_latents(model, x, rate_idx, method=method, steps=n, seed=seed, **schedule_for(n))
        y_dummy = torch.zeros_like(res.y_symbols)
        out = model.compress_latents(y_dummy, res.z_int, rate_idx, y_symbols=res.y_symbols)
        out["info"] = {"steps": steps or DEFAULT_STEPS, "true_loss": res.final["loss"][0], "opt_s": res.seconds}
        return out

    return encode


ENCODERS = {m: _iterative_encoder(m) for m in METHODS}

__all__ = ["METHODS", "ENCODERS", "InferenceResult", "amortized_latents", "optimize_latents", "true_loss",
           "annealed_temperature", "schedule_for", "DEFAULT_STEPS", "expected_round", "rounding_up_probability", "sga_round", "ste_round"]
