"""Compress and decompress images with a shipped model, through the ``.ncz`` container.

``compress_image`` runs the encoder (amortized inference, or an iterative method
from :mod:`neurcomp.inference`), range-codes the latents and packs a stream;
``decompress_stream`` checks the stream, finds the model it names, verifies the
weights fingerprint and decodes. Both return the 8-bit reconstruction, so a test
can check that the decoder reproduces the encoder's image exactly.

Example:
    >>> import torch
    >>> data, info = compress_image(torch.rand(3, 64, 64), "mshp@0.0067")   # doctest: +SKIP
    >>> image, stream = decompress_stream(data)                              # doctest: +SKIP
"""
from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
import torch

from . import BitstreamError
from .container import METHODS, Stream, pack, unpack, write_atomic
from .data import load_image, pad_to_multiple, save_png, to_uint8
from .entropy import CodingError
from .zoo import WeightsError, fingerprint, load_pretrained


class MethodUnavailable(ValueError):
    """The method exists in the stream format but not for this model or in this version."""


def _iterative_encoder(method: str):
    from . import inference

    return inference.ENCODERS[method]


def available_methods() -> list[str]:
    """Methods this version can encode with (which ones apply depends on the model kind)."""
    from . import inference

    return ["amortized", *[m for m in METHODS if m in inference.ENCODERS], "rec"]


def default_method(kind: str) -> str:
    """The method a model kind codes with when none is asked for."""
    return "rec" if kind == "pln" else "amortized"


def compress_image(x: torch.Tensor, model_name: str, method: str | None = None, steps: int | None = None,
                   seed: int = 0) -> tuple[bytes, dict]:
    """Code an image tensor ``[3, H, W]`` in [0, 1]; returns the stream and a dict with
    ``x_hat`` (uint8 HWC, the decoder's output), ``bits`` (information content per
    latent, in bits), ``header_bytes`` (container overhead) and ``extra_info``.

    ``method`` defaults to the model's own (``amortized``; ``rec`` for the PLN)."""
    model, rate_idx, entry = load_pretrained(model_name)
    method = method or default_method(model.kind)
    if method not in available_methods():
        raise MethodUnavailable(f"method {method!r} is not available in this version of neurcomp "
                                f"(available: {', '.join(available_methods())})")
    if model.kind == "pln" and method != "rec":
        raise MethodUnavailable(f"{model_name} is a PLN: it codes with --method rec, not {method!r}")
    if method == "rec" and model.kind != "pln":
        raise MethodUnavailable(f"method 'rec' needs a PLN model; {model_name} is a {entry['kind']} model")
    if method not in ("amortized", "rec") and not hasattr(model, "compress_latents"):
        raise MethodUnavailable(f"method {method!r} needs a hyperprior model; {model_name} is a {entry['kind']} model")
    if x.dim() == 4:
        x = x[0]
    h, w = x.shape[-2:]
    xp, _ = pad_to_multiple(x.unsqueeze(0).float(), model.stride)
    with torch.no_grad():
        if method == "rec":
            out = model.compress(xp, rate_idx, seed=seed, hw=(int(h), int(w)))
        elif method == "amortized":
            out = model.compress(xp, rate_idx)
        else:
            out = _iterative_encoder(method)(model, xp, rate_idx, steps=steps, seed=seed)
    stream = Stream(method, entry["name"], fingerprint(entry), int(h), int(w), tuple(out["latent_shape"]),
                    out.get("extra", b""), out["sections"])
    data = pack(stream)
    x_hat = to_uint8(out["x_hat"][0, :, :h, :w])
    return data, {"x_hat": x_hat, "bits": out["bits"], "header_bytes": len(data) - sum(map(len, out["sections"])),
                  "stream": stream, "extra_info": out.get("info", {})}


def decompress_stream(data: bytes) -> tuple[np.ndarray, Stream]:
    """Decode a stream to an 8-bit RGB image ``[H, W, 3]``; raises :class:`BitstreamError`."""
    stream = unpack(data)
    try:
        model, rate_idx, entry = load_pretrained(stream.model)
    except WeightsError as e:
        raise BitstreamError(f"stream needs model {stream.model!r}, which this installation cannot load ({e})") from None
    if fingerprint(entry) != stream.weights:
        raise BitstreamError(f"stream was written with other weights for {stream.model!r} "
                             f"({stream.weights.hex()} vs installed {fingerprint(entry).hex()})")
    expected = (math.ceil(stream.height / model.stride), math.ceil(stream.width / model.stride))
    if tuple(stream.latent_shape) != expected or stream.height == 0 or stream.width == 0:
        raise BitstreamError(f"corrupted stream: latent size {stream.latent_shape} does not fit a "
                             f"{stream.height}x{stream.width} image")
    try:
        with torch.no_grad():
            kwargs = {"extra": stream.extra} if stream.extra else {}
            x_hat = model.decompress(stream.sections, stream.latent_shape, rate_idx, **kwargs)
    except (CodingError, IndexError, ValueError, RuntimeError) as e:
        raise BitstreamError(f"corrupted stream: decoding failed ({e})") from None
    return to_uint8(x_hat[0, :, : stream.height, : stream.width]), stream


def compress_file(src, dst, model_name: str, method: str | None = None, steps: int | None = None,
                  seed: int = 0) -> dict:
    """Read an image file, write a ``.ncz`` atomically; returns sizes and timings."""
    x = load_image(src)
    t0 = time.perf_counter()
    data, info = compress_image(x, model_name, method, steps, seed)
    enc_s = time.perf_counter() - t0
    write_atomic(dst, data)
    h, w = x.shape[-2:]
    return {"bytes": len(data), "bpp": 8 * len(data) / (h * w), "est_bpp": sum(info["bits"].values()) / (h * w),
            "enc_s": enc_s, "x_hat": info["x_hat"]}


def decompress_file(src, dst) -> dict:
    data = Path(src).read_bytes()
    t0 = time.perf_counter()
    image, stream = decompress_stream(data)
    dec_s = time.perf_counter() - t0
    save_png(image, dst)
    return {"dec_s": dec_s, "height": stream.height, "width": stream.width, "model": stream.model,
            "method": stream.method}


def stream_info(data: bytes) -> dict:
    """The header of a stream as a JSON-able dict (no decoding)."""
    s = unpack(data)
    return {"format_version": data[3], "method": s.method, "model": s.model, "weights": s.weights.hex(),
            "height": s.height, "width": s.width, "latent_shape": list(s.latent_shape), "extra_bytes": len(s.extra),
            "sections": [len(x) for x in s.sections], "bytes": len(data),
            "bpp": 8 * len(data) / (s.height * s.width) if s.height and s.width else None}
