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
from .rounding import (PAPER_STEPS, annealed_temperature, expected_round, rounding_up_probability, schedule_for,
                       sga_round, ste_round)

DEFAULT_STEPS = PAPER_STEPS


def _iterative_encoder(method: str):
    def encode(model, x, rate_idx, steps=None, seed=0):
        n = DEFAULT_STEPS if steps is None else int(steps)
        if n < 1:
            raise ValueError(f"steps must be a positive number of iterations, got {n}")
        with torch.enable_grad():
            # the annealing schedule: optimize_latents' default, the paper's scaled to n (schedule_for(n))
            res = optimize_latents(model, x, rate_idx, method=method, steps=n, seed=seed)
        out = model.compress_latents(torch.zeros_like(res.y_symbols), res.z_int, rate_idx, y_symbols=res.y_symbols)
        out.info = {"steps": n, "true_loss": res.final["loss"][0], "opt_s": res.seconds}
        return out

    return encode


ENCODERS = {m: _iterative_encoder(m) for m in METHODS}

__all__ = ["TransformCoder", "BitsBackCoder", "METHODS", "ENCODERS", "InferenceResult", "amortized_latents",
           "optimize_latents", "true_loss", "annealed_temperature", "schedule_for", "DEFAULT_STEPS", "expected_round", "rounding_up_probability", "sga_round", "ste_round"]
