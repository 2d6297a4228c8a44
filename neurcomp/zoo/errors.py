"""The zoo's errors (in their own module, so that :mod:`neurcomp.zoo.compressai` needs no import of the zoo)."""
from __future__ import annotations


class WeightsError(RuntimeError):
    """Missing weights, unknown model name, or a file whose hash does not match its card."""


class UnknownModel(WeightsError):
    """A model name that no card lists (or a base name without its rate point): a usage error."""


__all__ = ["WeightsError", "UnknownModel"]
