"""Classical codecs through Pillow: JPEG, WebP, JPEG 2000 and AVIF.

These are the baselines every learned codec in the book is compared with. Each codec is
driven by one "quality" number, higher meaning better quality and more bits:

============  =====================================================================
codec         quality and settings
============  =====================================================================
``jpeg``      Pillow ``quality`` 1..100; Pillow / libjpeg defaults otherwise, which
              means 4:2:0 chroma subsampling, baseline, no ``optimize``.
``webp``      Pillow ``quality`` 0..100, lossy, Pillow defaults (``method=4``).
``jpeg2000``  the target PSNR in dB of the single quality layer
              (``quality_mode="dB"``), with ``irreversible=True`` (9/7 wavelet) and
              ``mct=1`` (RGB -> YCbCr). Pillow's defaults (5/3 wavelet, no colour
              transform) are meant for lossless coding and lose about 3 dB at 1 bpp.
``avif``      Pillow ``quality`` 0..100; Pillow defaults (4:2:0, ``speed=6``).
============  =====================================================================

Rates are real file sizes (all container headers included), distortions are measured on
the decoded 8-bit RGB image with :mod:`neurcomp.metrics`.

Example:
    >>> import torch
    >>> from neurcomp import baselines
    >>> img = torch.rand(3, 64, 96)
    >>> blob = baselines.encode(img, "webp", 75)
    >>> baselines.decode(blob).shape
    (64, 96, 3)
"""

from __future__ import annotations

import functools
import io
import json
import os
import time
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
import torch
from PIL import Image
from tqdm.auto import tqdm

from . import metrics
from .data import list_images, load_image, to_uint8
from .fileio import atomic_write

__all__ = [
    "CODECS",
    "CODEC_QUALITIES",
    "CODEC_NOTES",
    "QUALITY_RANGE",
    "CodecUnavailable",
    "available_codecs",
    "encode",
    "decode",
    "evaluate",
    "quality_for_bpp",
    "run_baseline",
]

#: codec name -> Pillow format name
CODECS: dict[str, str] = {"jpeg": "JPEG", "webp": "WEBP", "jpeg2000": "JPEG2000", "avif": "AVIF"}

#: default quality sweeps; mean bpp on Kodak spans about 0.1-0.2 up to 2-3.5 bpp.
CODEC_QUALITIES: dict[str, list[float]] = {
    "jpeg": list(range(5, 100, 5)),  # 5, 10, ..., 95
    "webp": list(range(0, 101, 10)),  # 0, 10, ..., 100
    "jpeg2000": [float(q) for q in range(26, 43, 2)],  # target PSNR 26, 28, ..., 42 dB
    "avif": list(range(10, 91, 10)),  # 10, 20, ..., 90
}

#: what "quality" means and which settings are used, one line per codec
CODEC_NOTES: dict[str, str] = {
    "jpeg": "Pillow quality 1..100; libjpeg defaults: 4:2:0 chroma subsampling, baseline, no optimize",
    "webp": "Pillow quality 0..100; lossy; Pillow defaults (method=4)",
    "jpeg2000": "quality = target PSNR in dB of one quality layer (quality_mode='dB'); "
    "irreversible=True (9/7 wavelet), mct=1 (RGB->YCbCr); OpenJPEG through Pillow",
    "avif": "Pillow quality 0..100; Pillow defaults (4:2:0, speed=6)",
}

#: allowed quality range per codec (used by :func:`quality_for_bpp`)
QUALITY_RANGE: dict[str, tuple[float, float]] = {
    "jpeg": (1, 100),
    "webp": (0, 100),
    "jpeg2000": (10.0, 70.0),
    "avif": (0, 100),
}

_INTEGER_QUALITY = {"jpeg", "webp", "avif"}


class CodecUnavailable(RuntimeError):
    """The Pillow installed here cannot encode this codec."""


def _check_name(codec: str) -> str:
    name = str(codec).lower().replace(" ", "").replace("-", "").replace("_", "")
    name = {"jpg": "jpeg", "jp2": "jpeg2000", "j2k": "jpeg2000"}.get(name, name)
    if name not in CODECS:
        raise ValueError(f"unknown codec {codec!r}; choose one of {', '.join(CODECS)}")
    return name


def _pillow_options(codec: str, quality: float) -> dict[str, Any]:
    lo, hi = QUALITY_RANGE[codec]
    if not lo <= quality <= hi:
        raise ValueError(f"{codec} quality must be in [{lo}, {hi}], got {quality}")
    if codec == "jpeg2000":
        return {"quality_mode": "dB", "quality_layers": [float(quality)], "irreversible": True, "mct": 1}
    return {"quality": int(round(quality))}


def _encode_raw(arr: np.ndarray, codec: str, quality: float) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr, "RGB").save(buf, format=CODECS[codec], **_pillow_options(codec, quality))
    return buf.getvalue()


@functools.lru_cache(maxsize=None)
def _works(codec: str) -> bool:
    try:
        tiny = (np.arange(16 * 16 * 3) % 256).astype(np.uint8).reshape(16, 16, 3)
        blob = _encode_raw(tiny, codec, CODEC_QUALITIES[codec][len(CODEC_QUALITIES[codec]) // 2])
        return decode(blob).shape == (16, 16, 3)
    except Exception:
        return False


def available_codecs() -> dict[str, bool]:
    """Which codecs this Pillow can encode and decode, e.g.
    ``{"jpeg": True, "webp": True, "jpeg2000": True, "avif": False}``.

    Each codec is checked by encoding and decoding a 16x16 image (once per process).

    Example:
        >>> available_codecs()["jpeg"]
        True
    """
    return {name: _works(name) for name in CODECS}


def _require(codec: str) -> str:
    name = _check_name(codec)
    if not _works(name):
        import PIL  # Pillow's version string, only for this message

        raise CodecUnavailable(
            f"codec {name!r} is not available: this Pillow {PIL.__version__} cannot encode "
            f"{CODECS[name]} (built without it); install a Pillow with {CODECS[name]} support or choose another codec"
        )
    return name


def _as_uint8(img: torch.Tensor | np.ndarray) -> np.ndarray:
    if isinstance(img, torch.Tensor):
        return to_uint8(img)
    arr = np.asarray(img)
    if arr.dtype != np.uint8 or arr.ndim != 3 or arr.shape[2] != 3:
        raise ValueError(f"expected a uint8 array [H, W, 3] or a tensor [3, H, W], got {arr.dtype} {arr.shape}")
    return np.ascontiguousarray(arr)


def encode(img: torch.Tensor | np.ndarray, codec: str, quality: float) -> bytes:
    """Compress an image with a Pillow codec and return the file bytes.

    ``img`` is a uint8 array ``[H, W, 3]`` or a float tensor ``[3, H, W]`` / ``[1, 3, H, W]``
    in ``[0, 1]`` (rounded to 8 bits). ``codec`` is "jpeg", "webp", "jpeg2000" or "avif";
    see the module docstring for what ``quality`` means for each.
    Raises :class:`CodecUnavailable` if this Pillow lacks the codec.

    Example:
        >>> len(encode(np.zeros((64, 64, 3), np.uint8), "jpeg", 75)) > 0
        True
    """
    name = _require(codec)
    return _encode_raw(_as_uint8(img), name, quality)


def decode(blob: bytes) -> np.ndarray:
    """Decode image bytes (any format Pillow reads) to a uint8 array ``[H, W, 3]``.

    Example:
        >>> decode(encode(np.zeros((8, 8, 3), np.uint8), "webp", 90)).shape
        (8, 8, 3)
    """
    with Image.open(io.BytesIO(blob)) as im:
        return np.array(im.convert("RGB"), dtype=np.uint8)


def _record(stem: str, arr: np.ndarray, codec: str, quality: float) -> dict[str, Any]:
    t0 = time.perf_counter()
    blob = _encode_raw(arr, codec, quality)
    t1 = time.perf_counter()
    rec_arr = decode(blob)
    t2 = time.perf_counter()
    h, w = arr.shape[:2]
    if min(h, w) >= metrics.MS_SSIM_MIN_SIDE:
        ms = metrics.ms_ssim(arr, rec_arr)
        ms_db = metrics.ms_ssim_db(ms)
    else:  # too small for 5-scale MS-SSIM
        ms = ms_db = None
    return {
        "image": stem,
        "codec": codec,
        "quality": int(quality) if codec in _INTEGER_QUALITY else float(quality),
        "bytes": len(blob),
        "height": h,
        "width": w,
        "bpp": metrics.bpp(len(blob), h, w),
        "psnr": metrics.psnr(arr, rec_arr),
        "ms_ssim": ms,
        "ms_ssim_db": ms_db,
        "enc_s": t1 - t0,
        "dec_s": t2 - t1,
    }


def evaluate(
    paths: str | os.PathLike | Iterable[str | os.PathLike],
    codec: str,
    qualities: Sequence[float] | None = None,
    progress: bool = True,
) -> list[dict[str, Any]]:
    """Run a quality sweep of ``codec`` over images and return one record per image and quality.

    ``paths`` is anything :func:`neurcomp.data.list_images` accepts (a folder or files);
    ``qualities`` defaults to :data:`CODEC_QUALITIES` ``[codec]``. Each record is::

        {"image": "kodim01", "codec": "jpeg", "quality": 50, "bytes": ..., "height": 512,
         "width": 768, "bpp": ..., "psnr": ..., "ms_ssim": ..., "ms_ssim_db": ...,
         "enc_s": ..., "dec_s": ...}

    with ``bpp`` from the real file size, PSNR in dB and MS-SSIM on the decoded 8-bit image
    (``ms_ssim`` and ``ms_ssim_db`` are ``None`` for images under 161 px on a side).
    A tqdm progress bar is shown unless ``progress=False``.

    Example:
        >>> recs = evaluate(data.kodak_paths()[:2], "jpeg", [25, 75], progress=False)  # doctest: +SKIP
        >>> len(recs), sorted(recs[0])[:3]                                           # doctest: +SKIP
        (4, ['bpp', 'bytes', 'codec'])
    """
    name = _require(codec)
    qs = list(CODEC_QUALITIES[name] if qualities is None else qualities)
    for q in qs:
        _pillow_options(name, q)  # validate before the long loop
    files = list_images(paths)

    bar = tqdm(total=len(files) * len(qs), desc=name, unit="enc", disable=not progress)
    records = []
    try:
        for path in files:
            arr = to_uint8(load_image(path))
            for q in qs:
                records.append(_record(Path(path).stem, arr, name, q))
                bar.update(1)
    finally:
        bar.close()
    return records


def quality_for_bpp(
    img: torch.Tensor | np.ndarray, codec: str, target_bpp: float
) -> tuple[float, float, bytes]:
    """Find the highest quality whose file is at most ``target_bpp`` bits per pixel.

    Bisection over the codec's quality range (:data:`QUALITY_RANGE`), assuming the size
    grows with quality: integers for jpeg / webp / avif, 0.01 dB steps for jpeg2000. If
    even the lowest quality is larger than the target, the lowest quality is returned
    (its bpp is then above the target). Returns ``(quality, bpp, bytes)``.

    Example:
        >>> q, rate, blob = quality_for_bpp(img, "jpeg", 0.5)        # doctest: +SKIP
        >>> rate <= 0.5                                              # doctest: +SKIP
        True
    """
    name = _require(codec)
    arr = _as_uint8(img)
    h, w = arr.shape[:2]
    cache: dict[float, bytes] = {}

    def size(q: float) -> float:
        if q not in cache:
            cache[q] = _encode_raw(arr, name, q)
        return metrics.bpp(len(cache[q]), h, w)

    lo, hi = QUALITY_RANGE[name]
    if size(lo) > target_bpp:
        return lo, size(lo), cache[lo]
    if size(hi) <= target_bpp:
        return hi, size(hi), cache[hi]
    step = 1 if name in _INTEGER_QUALITY else 0.01
    while hi - lo > step * 1.0001:  # invariant: size(lo) <= target < size(hi)
        mid = (lo + hi) // 2 if step == 1 else round((lo + hi) / 2, 2)
        if size(mid) <= target_bpp:
            lo = mid
        else:
            hi = mid
    return lo, size(lo), cache[lo]


def run_baseline(
    images: str | os.PathLike | Iterable[str | os.PathLike],
    codec: str,
    json_path: str | os.PathLike,
    qualities: Sequence[float] | None = None,
    progress: bool = True,
) -> list[dict[str, Any]]:
    """Evaluate ``codec`` on ``images`` (:func:`evaluate`) and write the records as a JSON list
    to ``json_path`` atomically. Used by ``neurcomp baseline``. Returns the records.

    Example:
        >>> run_baseline("kodak/", "webp", "webp.json")               # doctest: +SKIP
    """
    records = evaluate(images, codec, qualities, progress=progress)
    atomic_write(json_path, (json.dumps(records, indent=1) + "\n").encode())
    return records
