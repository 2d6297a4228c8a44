"""Helpers shared by the benchmark scripts (run as ``python benchmarks/<name>.py``)."""
from __future__ import annotations

import math

import numpy as np


def nan_to_none(obj):
    """JSON has no NaN: replace non-finite floats by None, recursively (numpy scalars and arrays too)."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: nan_to_none(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [nan_to_none(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return nan_to_none(obj.tolist())
    if isinstance(obj, (np.floating, np.integer)):
        return nan_to_none(obj.item())
    return obj
