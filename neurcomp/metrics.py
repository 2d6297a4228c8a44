"""Image-quality and rate metrics: PSNR, MS-SSIM, bits per pixel, Bjontegaard deltas.

Distortion is always measured on 8-bit images, the way a decoded file is seen:
float inputs are rounded to 8 bits (``round(clamp(x, 0, 1) * 255)``) before comparing,
so a reconstruction that only moves values by less than half a grey level scores
as lossless. Units: PSNR in dB (RGB, all channels pooled), rates in bits per pixel.

Example:
    >>> import torch
    >>> x = torch.rand(3, 64, 64)
    >>> psnr(x, x)
    inf
    >>> round(bpp(3072, 64, 64), 3)
    6.0
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any, Iterable, Mapping

import numpy as np
import torch

__all__ = [
    "mse_8bit",
    "psnr",
    "ms_ssim",
    "ms_ssim_db",
    "MS_SSIM_MIN_SIDE",
    "bpp",
    "bd_rate",
    "bd_psnr",
    "rd_points",
    "mean_curve",
    "curves_from_records",
]

#: MS-SSIM uses 5 scales and an 11-px window: each side must be larger than 10 * 2**4 px.
MS_SSIM_MIN_SIDE = 161


# ----------------------------------------------------------------------------- 8-bit helpers


def _as_8bit(a: Any, max_val: float = 1.0) -> np.ndarray:
    """Any accepted image -> float64 array ``[B, H, W, 3]`` holding integers 0..255.

    Accepted: float tensors ``[3, H, W]`` / ``[B, 3, H, W]`` with values in ``[0, max_val]``;
    uint8 tensors of the same shapes; uint8 numpy arrays ``[H, W, 3]`` / ``[B, H, W, 3]``.
    """
    if isinstance(a, torch.Tensor):
        t = a.detach().cpu()
        if t.dim() == 3:
            t = t.unsqueeze(0)
        if t.dim() != 4 or t.shape[1] != 3:
            raise ValueError(f"expected an image tensor [3, H, W] or [B, 3, H, W], got {tuple(a.shape)}")
        if t.dtype == torch.uint8:
            q = t.to(torch.float64)
        else:
            t = torch.nan_to_num(t.to(torch.float64), nan=0.0) / float(max_val)
            q = t.clamp(0.0, 1.0).mul(255.0).round()
        return q.permute(0, 2, 3, 1).numpy()
    arr = np.asarray(a)
    if arr.dtype != np.uint8:
        raise TypeError(
            f"numpy images must be uint8 [H, W, 3]; got {arr.dtype}. Pass float data as a torch tensor [3, H, W]."
        )
    if arr.ndim == 3:
        arr = arr[None]
    if arr.ndim != 4 or arr.shape[3] != 3:
        raise ValueError(f"expected a uint8 array [H, W, 3] or [B, H, W, 3], got {arr.shape}")
    return arr.astype(np.float64)


def _pair(x: Any, y: Any, max_val: float) -> tuple[np.ndarray, np.ndarray]:
    a, b = _as_8bit(x, max_val), _as_8bit(y, max_val)
    if a.shape != b.shape:
        raise ValueError(f"images differ in shape: {a.shape[1:3]} x{a.shape[0]} vs {b.shape[1:3]} x{b.shape[0]}")
    return a, b


def mse_8bit(x: Any, y: Any, max_val: float = 1.0) -> float:
    """Mean squared error on the 0..255 scale after rounding both images to 8 bits.

    Inputs as for :func:`psnr`; for a batch the mean is over all pixels of all images.

    Example:
        >>> mse_8bit(torch.zeros(3, 4, 4), torch.full((3, 4, 4), 2 / 255))
        4.0
    """
    a, b = _pair(x, y, max_val)
    return float(np.mean((a - b) ** 2))


def psnr(x: Any, y: Any, max_val: float = 1.0) -> float:
    """Peak signal-to-noise ratio in dB, ``10 log10(255^2 / MSE)``, on 8-bit-rounded images.

    Both inputs are rounded to 8 bits first (``round(clamp(x / max_val, 0, 1) * 255)``;
    ``max_val`` is the value range of *float* inputs, uint8 inputs are used as they are).
    The MSE pools all three RGB channels (and, for a batch, all images).
    Identical images give ``float('inf')``.

    Accepts tensors ``[3, H, W]`` / ``[B, 3, H, W]`` (float or uint8) and uint8 arrays
    ``[H, W, 3]``; the two inputs may be of different kinds.

    Example:
        >>> x = torch.zeros(3, 8, 8)
        >>> round(psnr(x, x + 1 / 255), 2)       # MSE = 1 grey level squared
        48.13
    """
    mse = mse_8bit(x, y, max_val)
    if mse == 0.0:
        return float("inf")
    return 10.0 * math.log10(255.0**2 / mse)


def mean_channel_error(x_hat: Any, x: Any, max_val: float = 1.0) -> list[float]:
    """Mean signed error of each RGB channel, ``mean(x_hat - x)`` in 8-bit levels (both rounded to
    8 bits first, inputs as for :func:`psnr`): a colour cast of the decoded image. PSNR hides it
    (a cast of 5 levels costs a 40 dB image only about 1 dB); a cast of 10 levels is visible on a
    grey card.

    Example:
        >>> x = torch.full((3, 2, 2), 0.5)                     # 127.5 -> 128 after rounding
        >>> x_hat = np.full((2, 2, 3), 140, np.uint8); x_hat[..., 2] = 120
        >>> mean_channel_error(x_hat, x)
        [12.0, 12.0, -8.0]
    """
    a, b = _pair(x_hat, x, max_val)
    return [float(v) for v in (a - b).reshape(-1, 3).mean(0)]


def ms_ssim(x: Any, y: Any, max_val: float = 1.0) -> float:
    """Multi-scale SSIM (5 scales, Wang et al. 2003) of two 8-bit-rounded images, in ``[0, 1]``.

    Inputs as for :func:`psnr`; they are rounded to 8 bits, scaled to ``[0, 1]`` and passed to
    ``pytorch_msssim.ms_ssim(..., data_range=1)``; for a batch the mean over images is returned.
    Images must be at least :data:`MS_SSIM_MIN_SIDE` (161) px on each side: smaller ones
    raise ``ValueError`` (we do not silently drop scales, which would give numbers that
    cannot be compared with published MS-SSIM values).

    Example:
        >>> x = torch.rand(3, 176, 176)
        >>> ms_ssim(x, x)
        1.0
    """
    from pytorch_msssim import ms_ssim as _ms_ssim  # optional: only MS-SSIM needs it

    a, b = _pair(x, y, max_val)
    h, w = a.shape[1:3]
    if min(h, w) < MS_SSIM_MIN_SIDE:
        raise ValueError(
            f"ms_ssim needs images at least {MS_SSIM_MIN_SIDE} px on each side (5 scales, 11-px window); "
            f"got {h}x{w}. Use a larger crop or report PSNR only."
        )
    ta = torch.from_numpy(a).permute(0, 3, 1, 2).float().div_(255.0)
    tb = torch.from_numpy(b).permute(0, 3, 1, 2).float().div_(255.0)
    return float(_ms_ssim(ta, tb, data_range=1.0, size_average=True))


def ms_ssim_db(value: float | np.ndarray) -> float | np.ndarray:
    """MS-SSIM on a decibel scale, ``-10 log10(1 - value)``; 1 maps to ``inf``.

    Spreads out values near 1 (0.99 -> 20 dB, 0.999 -> 30 dB). Works on scalars and arrays.

    Example:
        >>> round(ms_ssim_db(0.99), 6)
        20.0
    """
    with np.errstate(divide="ignore"):
        out = -10.0 * np.log10(1.0 - np.asarray(value, dtype=np.float64))
    return float(out) if np.ndim(out) == 0 else out


def bpp(num_bytes: int | bytes, height: int, width: int) -> float:
    """Bits per pixel of a file of ``num_bytes`` bytes for an ``height x width`` image:
    ``8 * num_bytes / (height * width)``. ``num_bytes`` may also be the bytes themselves.

    Example:
        >>> bpp(49152, 512, 768)
        1.0
    """
    n = len(num_bytes) if isinstance(num_bytes, (bytes, bytearray, memoryview)) else int(num_bytes)
    return 8.0 * n / (int(height) * int(width))


# ----------------------------------------------------------------------------- Bjontegaard


def _curve(rate: Iterable[float], dist: Iterable[float], which: str) -> tuple[np.ndarray, np.ndarray]:
    r = np.asarray(list(rate), dtype=np.float64)
    d = np.asarray(list(dist), dtype=np.float64)
    if r.shape != d.shape or r.ndim != 1:
        raise ValueError(f"{which} curve: rate and quality need the same length, got {r.shape} and {d.shape}")
    if not (np.all(np.isfinite(r)) and np.all(np.isfinite(d))):
        raise ValueError(f"{which} curve contains NaN or infinite values")
    if np.any(r <= 0):
        raise ValueError(f"{which} curve: rates must be positive")
    if len(np.unique(r)) < 4 or len(np.unique(d)) < 4:
        raise ValueError(
            f"{which} curve has {len(r)} points ({len(np.unique(r))} distinct); "
            "the Bjontegaard cubic fit needs at least 4 distinct rate points"
        )
    order = np.argsort(r)
    return r[order], d[order]


def _mean_gap(x1: np.ndarray, y1: np.ndarray, x2: np.ndarray, y2: np.ndarray, what: str) -> float:
    """Mean of (cubic fit of y2 on x2) - (cubic fit of y1 on x1) over the overlap of x."""
    lo, hi = max(x1.min(), x2.min()), min(x1.max(), x2.max())
    if not hi > lo:
        raise ValueError(
            f"the two curves do not overlap in {what} "
            f"([{x1.min():.3f}, {x1.max():.3f}] vs [{x2.min():.3f}, {x2.max():.3f}])"
        )
    p1 = np.polyint(np.polyfit(x1, y1, 3))
    p2 = np.polyint(np.polyfit(x2, y2, 3))
    area1 = np.polyval(p1, hi) - np.polyval(p1, lo)
    area2 = np.polyval(p2, hi) - np.polyval(p2, lo)
    return float((area2 - area1) / (hi - lo))


def bd_rate(anchor_bpp, anchor_psnr, test_bpp, test_psnr) -> float:
    """Bjontegaard delta rate (VCEG-M33) in percent: the average rate change of the
    test codec against the anchor at equal quality. Negative means the test saves rate.

    Each curve is fitted with a cubic polynomial of ``log(rate)`` as a function of
    quality (``np.polyfit``, degree 3, all points, at least 4 distinct points);
    both fits are integrated over the overlapping quality interval, the mean
    difference ``d`` is taken, and ``(exp(d) - 1) * 100`` is returned. Points are
    sorted first. "PSNR" can be any quality in dB (e.g. MS-SSIM dB).

    Example:
        >>> r = [0.2, 0.4, 0.8, 1.6]; q = [27.0, 30.0, 33.0, 36.0]
        >>> round(bd_rate(r, q, [0.9 * v for v in r], q), 6)
        -10.0
    """
    ra, qa = _curve(anchor_bpp, anchor_psnr, "anchor")
    rt, qt = _curve(test_bpp, test_psnr, "test")
    d = _mean_gap(qa, np.log(ra), qt, np.log(rt), "quality (dB)")
    return (math.exp(d) - 1.0) * 100.0


def bd_psnr(anchor_bpp, anchor_psnr, test_bpp, test_psnr) -> float:
    """Bjontegaard delta PSNR (VCEG-M33) in dB: the average quality gain of the test
    codec against the anchor at equal rate. Positive means the test is better.

    Each curve's quality is fitted as a cubic polynomial in ``log(rate)``, the fits are
    integrated over the overlapping log-rate interval and the mean difference returned.

    Example:
        >>> r = [0.2, 0.4, 0.8, 1.6]; q = [27.0, 30.0, 33.0, 36.0]
        >>> round(bd_psnr(r, q, r, [v + 1 for v in q]), 6)
        1.0
    """
    ra, qa = _curve(anchor_bpp, anchor_psnr, "anchor")
    rt, qt = _curve(test_bpp, test_psnr, "test")
    return _mean_gap(np.log(ra), qa, np.log(rt), qt, "log rate")


# ----------------------------------------------------------------------------- R-D curves from records


def _value(rec: Mapping[str, Any], name: str) -> float:
    if name == "ms_ssim_db" and "ms_ssim_db" not in rec and "ms_ssim" in rec:
        # MS-SSIM is None for images too small for its five scales
        return float("nan") if rec["ms_ssim"] is None else float(ms_ssim_db(float(rec["ms_ssim"])))
    v = rec.get(name)
    return float("nan") if v is None else float(v)


def rd_points(
    records: Iterable[Mapping[str, Any]], x: str = "bpp", y: str = "psnr", group_by: str = "quality"
) -> tuple[np.ndarray, np.ndarray]:
    """Average per-image records into one curve: for every value of ``group_by``
    (a rate point, e.g. a codec quality or a model name), the mean of ``x`` and the mean
    of ``y`` over the images. Returns ``(xs, ys)`` sorted by ``xs``.

    Pass records of one codec / method only (filter first); every rate point should
    cover the same images, or the means are not comparable.

    Example:
        >>> recs = [{"quality": 10, "bpp": 0.2, "psnr": 27.0}, {"quality": 10, "bpp": 0.4, "psnr": 29.0}]
        >>> rd_points(recs)
        (array([0.3]), array([28.]))
    """
    groups: dict[Any, list[Mapping[str, Any]]] = defaultdict(list)
    for rec in records:
        groups[rec[group_by]].append(rec)
    xs = np.array([np.mean([_value(r, x) for r in g]) for g in groups.values()], dtype=np.float64)
    ys = np.array([np.mean([_value(r, y) for r in g]) for g in groups.values()], dtype=np.float64)
    order = np.argsort(xs, kind="stable")
    return xs[order], ys[order]


def mean_curve(
    records: Iterable[Mapping[str, Any]], key: str = "quality"
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean R-D curve of per-image records grouped by ``key`` (e.g. "quality" or "model").

    Returns ``(bpp, psnr, ms_ssim_db)`` arrays sorted by bpp. ``ms_ssim_db`` is taken from the
    records, computed from their ``ms_ssim`` if only that is present, else NaN. MS-SSIM dB
    is averaged in dB per image.

    Example:
        >>> recs = [{"model": "a", "bpp": 0.5, "psnr": 30.0, "ms_ssim": 0.99}]
        >>> [round(float(v[0]), 2) for v in mean_curve(recs, "model")]
        [0.5, 30.0, 20.0]
    """
    records = list(records)
    groups: dict[Any, list[Mapping[str, Any]]] = defaultdict(list)
    for rec in records:
        groups[rec[key]].append(rec)
    rows = np.array(
        [[np.mean([_value(r, m) for r in g]) for m in ("bpp", "psnr", "ms_ssim_db")] for g in groups.values()],
        dtype=np.float64,
    ).reshape(-1, 3)
    rows = rows[np.argsort(rows[:, 0], kind="stable")]
    return rows[:, 0], rows[:, 1], rows[:, 2]


def curves_from_records(
    records: Iterable[Mapping[str, Any]], curve_key: str = "codec", point_key: str = "quality"
) -> dict[str, dict[str, np.ndarray]]:
    """Split records into named curves by ``curve_key`` (e.g. "codec" or "method") and average
    each into a :func:`mean_curve` grouped by ``point_key`` (e.g. "quality" or "model").

    Returns ``{name: {"bpp": ..., "psnr": ..., "ms_ssim_db": ...}}`` in first-seen order,
    the format :func:`neurcomp.plotting.rd_plot` takes.

    Example:
        >>> recs = [{"codec": "jpeg", "quality": 50, "bpp": 1.0, "psnr": 30.0, "ms_ssim": 0.99}]
        >>> list(curves_from_records(recs))
        ['jpeg']
    """
    split: dict[str, list[Mapping[str, Any]]] = {}
    for rec in records:
        split.setdefault(str(rec[curve_key]), []).append(rec)
    out = {}
    for name, recs in split.items():
        b, p, m = mean_curve(recs, point_key)
        out[name] = {"bpp": b, "psnr": p, "ms_ssim_db": m}
    return out
