"""Helpers shared by the benchmark scripts (run as ``python benchmarks/<name>.py``)."""
from __future__ import annotations

import json
import math
import uuid
from pathlib import Path

import numpy as np


def resume_partial(json_path, settings: dict, **fresh) -> tuple[dict, Path]:
    """The rows an interrupted run with these ``settings`` left next to its results file (``<json>.partial``),
    else a new run (``fresh``: further empty fields); ``(partial, its path)``. A run of hours keeps its rows
    there as it goes, and a later run with the same settings goes on from them: the same run, one run id,
    the number of ``starts`` counted. (Not ``*.json``: the chapters read every results file in the folder.)"""
    path = Path(str(json_path) + ".partial")
    partial = json.loads(path.read_text()) if path.is_file() else None
    if partial and partial.get("settings") != settings:
        print(f"{path} is from other settings: starting afresh", flush=True)
        partial = None
    partial = partial or {"settings": settings, "run_id": uuid.uuid4().hex[:12], "starts": 0, "records": [], **fresh}
    partial["starts"] += 1
    return partial, path


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
