"""Golden streams: the SHA-256 of the stream every shipped rate point writes for two fixed images.

A refactor must not change a single stream byte. When weights are re-shipped, regenerate the
values in the same commit (and say so in its message)::

    NEURCOMP_REGEN_GOLDEN=1 python -m pytest tests/test_golden_streams.py

The images are made here (seeded numpy, platform independent), not read from disk.

**Which CPU.** Decoding is exact everywhere (integer tables, DESIGN.md), but the *encoders* decide in float32:
an analysis transform rounds a latent, an optimizer takes a few steps, a posterior picks a scale, and the
last bits of float32 arithmetic depend on the CPU's vector kernels. The file records the CPU it was written on
(:func:`neurcomp.book.nbcompare.cpu_fingerprint`): there every stream must be byte for byte the same; on
another CPU its container header (method, model, weights, sizes, sections) must be the same and its length
within :data:`FOREIGN_BYTES` (seen: the bits-back streams of 3 optimization steps differed on another CPU).
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from neurcomp.book.nbcompare import cpu_fingerprint
from neurcomp.codec import compress_image
from neurcomp.container import unpack
from neurcomp.zoo import list_models

GOLDEN = Path(__file__).parent / "golden" / "streams.json"
REGENERATE = os.environ.get("NEURCOMP_REGEN_GOLDEN") == "1"
#: on a CPU other than the one that wrote the golden file, a stream's length may differ by this fraction (or by
#: 16 bytes, an ANS stack's few words)
FOREIGN_BYTES = 0.02


def describe(data: bytes) -> dict:
    """What the golden file holds of a stream: its SHA-256, its length and a digest of its container header."""
    s = unpack(data)
    header = f"{s.method}|{s.model}|{s.weights.hex()}|{s.height}x{s.width}|{s.latent_shape}|{len(s.sections)}"
    return {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data),
            "header": hashlib.sha256(header.encode()).hexdigest()[:16]}


def length_agrees(got_bytes: int, want_bytes: int) -> bool:
    """Whether a stream written on another CPU has the golden length, within :data:`FOREIGN_BYTES` or 16 bytes."""
    return abs(got_bytes - want_bytes) <= max(FOREIGN_BYTES * want_bytes, 16)


def stream_problem(data: bytes, want: dict, written_on: str) -> str | None:
    """Why ``data`` is not the golden stream ``want`` (None: it is): byte for byte on the CPU that wrote it
    (``written_on``), its header and length within :data:`FOREIGN_BYTES` on another one."""
    got = describe(data)
    if written_on == cpu_fingerprint():
        return None if got["sha256"] == want["sha256"] else "other bytes than the golden stream"
    if got["header"] != want["header"]:
        return "another container header than the golden stream's"
    if not length_agrees(got["bytes"], want["bytes"]):
        return f"{got['bytes']} bytes, the golden stream {want['bytes']} (on another CPU than the one that wrote it)"
    return None


def golden_image(height: int, width: int, seed: int) -> torch.Tensor:
    """A photo-like test image ``[3, H, W]`` in [0, 1]: smooth colour gradients, a disc, an edge
    and mild noise, quantized to 8 bits (so it is exactly what a PNG would hold)."""
    rng = np.random.Generator(np.random.PCG64(seed))
    yy, xx = np.mgrid[0:height, 0:width] / max(height, width)
    img = np.stack([0.3 + 0.5 * xx, 0.2 + 0.6 * yy, 0.6 - 0.4 * xx * yy], 0)
    disc = (yy - 0.45) ** 2 + (xx - 0.5) ** 2 < 0.06
    img[:, disc] = np.array([0.85, 0.35, 0.2])[:, None]
    img[:, :, : width // 5] *= 0.5
    img += rng.normal(0.0, 0.03, img.shape)
    return torch.from_numpy(np.round(np.clip(img, 0, 1) * 255) / 255).float()


IMAGES = {"a": (80, 112, 1), "b": (64, 64, 2)}
# bits-back models' default method optimizes for 2 x 2000 steps: 3 steps here (the stream then also holds the
# seeded random initial bits), and the method without iterations at one rate point
CASES = ([(m["name"], None, None) for m in list_models() if m["kind"] != "bitsback"]
         + [(m["name"], "bitsback", 3) for m in list_models() if m["kind"] == "bitsback"]
         + [(m["name"], "bitsback_no_iter", None) for m in list_models() if m["name"] == "bitsback@0.0067"]
         + [("mshp@0.0067", "sga", 3), ("mshp@0.0067", "map", 3)])
# REC encodes and bits-back optimizations are slow: one image each
ONE_IMAGE = {m["name"] for m in list_models() if m["kind"] in ("pln", "bitsback")}


def _images(model):
    return ["b"] if model in ONE_IMAGE else sorted(IMAGES)


def _stream(model: str, method: str | None, steps: int | None, image: str) -> bytes:
    h, w, seed = IMAGES[image]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        data, _ = compress_image(golden_image(h, w, seed), model, method, steps, seed=0)
    finally:
        torch.set_num_threads(threads)
    return data


def _key(model, method, image):
    return f"{model}|{method or 'default'}|{image}"


@pytest.fixture(scope="module")
def golden():
    if REGENERATE:
        values = {_key(m, me, i): describe(_stream(m, me, st, i)) for m, me, st in CASES for i in _images(m)}
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(json.dumps({"cpu": cpu_fingerprint(), "streams": values}, indent=1, sort_keys=True) + "\n")
    return json.loads(GOLDEN.read_text())


def test_every_shipped_rate_point_has_a_golden_value(golden):
    assert set(_key(m, me, i) for m, me, _ in CASES for i in _images(m)) <= set(golden["streams"])


@pytest.mark.parametrize("model,method,steps,image", [(m, me, st, i) for m, me, st in CASES for i in _images(m)],
                         ids=[f"{m}-{me or 'default'}-{i}" for m, me, _ in CASES for i in _images(m)])
def test_stream_bytes_are_unchanged(golden, model, method, steps, image):
    problem = stream_problem(_stream(model, method, steps, image), golden["streams"][_key(model, method, image)],
                             golden["cpu"])
    assert problem is None, (f"{model} ({method or 'default method'}) writes {problem}: "
                             "a refactor changed the format or the coding path")


def test_another_cpu_is_held_to_the_header_and_the_length():
    data = _stream("mshp@0.0067", None, None, "b")
    want = describe(data)
    assert stream_problem(data, want, cpu_fingerprint()) is None and stream_problem(data, want, "another CPU") is None
    assert "other bytes" in stream_problem(data, dict(want, sha256="0" * 64), cpu_fingerprint())
    assert stream_problem(data, dict(want, sha256="0" * 64), "another CPU") is None
    assert "bytes, the golden stream" in stream_problem(data, dict(want, bytes=2 * len(data)), "another CPU")
    assert "header" in stream_problem(_stream("mshp@0.013", None, None, "b"), want, "another CPU")
