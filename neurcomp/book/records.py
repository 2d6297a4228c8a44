"""Rate-distortion records of the real codec, their curves, BD-rates and tables.

Part of :mod:`neurcomp.book` (see there for units and conventions).
"""
from __future__ import annotations

import json
import time
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import torch

from .. import baselines, data, metrics, plotting
from ..codec import compress_image, decompress_stream, stream_info
from ..evaluate import evaluate_model
from .chapter import ShownText


def evaluate_networks(images, nets: Mapping[str, Sequence[dict]], crop=None, method: str | None = None,
                      steps: int | None = None) -> list[dict]:
    """Code and decode images with every rate point of some networks (real ``.ncz`` streams).

    Parameters
    ----------
    images : folder, file or list of files
        What :func:`neurcomp.evaluate.evaluate_model` takes.
    nets : mapping
        ``{curve label: entries}``: each entry's ``name`` is coded, its records labelled.
    crop : int or (int, int), optional
        Code centre crops of this size (pixels).
    method, steps : optional
        The encoding method and its number of steps (default: the model's own method).

    Returns
    -------
    list of dict
        :func:`neurcomp.evaluate.evaluate_model` records (``bpp`` from the file size, ``est_bpp``,
        ``psnr`` in dB, ``ms_ssim``, ``enc_s``, ``dec_s``, ...) plus ``curve`` (the label) and
        ``lambda`` (the entry's rate parameter).

    Examples
    --------
    >>> from pathlib import Path
    >>> from neurcomp.book import network
    >>> import tempfile
    >>> path = data.save_png(torch.rand(3, 64, 64), Path(tempfile.mkdtemp()) / "noise.png")
    >>> recs = evaluate_networks([path], {"fp": network("factorized")[:2]})
    >>> [(r["curve"], r["image"]) for r in recs], recs[0]["bpp"] > 0
    ([('fp', 'noise'), ('fp', 'noise')], True)
    """
    records = []
    for label, entries in nets.items():
        for e in entries:
            for r in evaluate_model(images, e["name"], method=method, steps=steps, crop=crop, progress=False):
                records.append({**r, "curve": label, "lambda": e["value"]})
    return records


def baseline_records(images, codec: str = "jpeg", qualities: Iterable[float] | None = None,
                     curve: str | None = None) -> list[dict]:
    """A quality sweep of a Pillow codec, as records labelled for :func:`curves`.

    Parameters
    ----------
    images : mapping or folder / files
        ``{name: image}`` with tensors ``[3, H, W]`` in ``[0, 1]`` or uint8 arrays ``[H, W, 3]``
        (e.g. the same crops a model coded), or image files (then
        :func:`neurcomp.baselines.evaluate` codes them).
    codec : str
        ``"jpeg"``, ``"webp"``, ``"jpeg2000"`` or ``"avif"``.
    qualities : iterable of float, optional
        The codec's quality settings (for files: default the codec's own sweep).
    curve : str, optional
        The records' ``curve`` label; default ``"JPEG (measured)"``, ``"WebP (measured)"``, ...

    Returns
    -------
    list of dict
        One record per image and quality: ``curve``, ``model`` (``"jpeg@50"``), ``image``,
        ``bpp`` (real file size), ``psnr`` (dB), ``ms_ssim`` (None under 161 pixels a side).

    Examples
    --------
    >>> recs = baseline_records({"grey": torch.full((3, 32, 32), 0.5)}, "jpeg", [10, 90])
    >>> [r["model"] for r in recs], recs[0]["curve"], recs[0]["ms_ssim"], recs[1]["psnr"] > 40
    (['jpeg@10', 'jpeg@90'], 'JPEG (measured)', None, True)
    """
    names = {"jpeg": "JPEG", "webp": "WebP", "jpeg2000": "JPEG 2000", "avif": "AVIF"}
    curve = curve or f"{names.get(codec, codec)} (measured)"
    if not isinstance(images, Mapping):
        return [{**r, "curve": curve, "model": f"{codec}@{r['quality']:g}"}
                for r in baselines.evaluate(images, codec, qualities, progress=False)]
    records = []
    for name, img in images.items():
        arr = data.to_uint8(img) if isinstance(img, torch.Tensor) else np.asarray(img)
        for q in qualities or ():
            blob = baselines.encode(arr, codec, q)
            dec = baselines.decode(blob)
            small = min(arr.shape[:2]) < metrics.MS_SSIM_MIN_SIDE
            records.append({"curve": curve, "model": f"{codec}@{q:g}", "image": name,
                            "bpp": metrics.bpp(len(blob), *arr.shape[:2]), "psnr": metrics.psnr(dec, arr),
                            "ms_ssim": None if small else metrics.ms_ssim(dec, arr)})
    return records


def code_sweep(x: torch.Tensor, entries: Sequence[dict], method: str | None = None) -> list[dict]:
    """Code one image with several rate points through the real codec.

    Parameters
    ----------
    x : torch.Tensor
        The image ``[3, H, W]`` in ``[0, 1]``.
    entries : sequence of dict
        Rate points (:func:`network`).
    method : str, optional
        Encoding method (default: the model's own).

    Returns
    -------
    list of dict
        Per entry: ``name``, ``lambda``, ``blob`` (the stream, bytes), ``info`` (what
        :func:`neurcomp.codec.compress_image` returns), ``x_hat`` (uint8 ``[H, W, 3]``),
        ``bits`` (information content per part, bits), ``bpp`` (file size) and ``psnr`` (dB).

    Examples
    --------
    >>> from neurcomp.book import network
    >>> rows = code_sweep(torch.rand(3, 64, 64), network("factorized")[:2])
    >>> len(rows), rows[0]["x_hat"].shape, rows[0]["bpp"] < rows[1]["bpp"]
    (2, (64, 64, 3), True)
    """
    h, w = x.shape[-2:]
    rows = []
    for e in entries:
        blob, info = compress_image(x, e["name"], method)
        rows.append({"name": e["name"], "lambda": e["value"], "blob": blob, "info": info, "x_hat": info["x_hat"],
                     "bits": info["bits"], "bpp": metrics.bpp(len(blob), h, w), "psnr": metrics.psnr(info["x_hat"], x)})
    return rows


def round_trip(x: torch.Tensor, name: str, method: str | None = None, steps: int | None = None,
               seed: int = 0) -> dict:
    """Code an image into a real ``.ncz`` stream, decode it, and check that the decoder's image is the encoder's.

    Parameters
    ----------
    x : torch.Tensor
        The image ``[3, H, W]`` in ``[0, 1]``.
    name : str
        A shipped rate point, e.g. ``"mshp@0.0067"``.
    method, steps, seed : optional
        The encoding method (default: the model's own), its number of steps and seed.

    Returns
    -------
    dict
        ``name``, ``method``, ``blob`` (the stream), ``info`` (:func:`neurcomp.codec.compress_image`'s),
        ``stream`` (the parsed container), ``x_hat`` (the decoded uint8 ``[H, W, 3]``), ``bits``
        (information content per part, bits), ``bytes``, ``bpp`` (file size), ``est_bpp`` (information
        content), ``psnr`` (dB), ``enc_s`` and ``dec_s`` (seconds).

    Raises
    ------
    AssertionError
        If the decoded image differs from the encoder's reconstruction.

    Examples
    --------
    >>> from neurcomp.book import network
    >>> rt = round_trip(torch.rand(3, 64, 64), network("factorized")[0]["name"])
    >>> rt["x_hat"].shape, rt["bpp"] >= rt["est_bpp"], rt["method"]
    ((64, 64, 3), True, 'amortized')
    """
    t0 = time.perf_counter()
    blob, info = compress_image(x, name, method, steps, seed)
    t1 = time.perf_counter()
    x_hat, stream = decompress_stream(blob)
    t2 = time.perf_counter()
    assert np.array_equal(x_hat, info["x_hat"]), "the decoder must reproduce the encoder's reconstruction"
    h, w = x.shape[-2:]
    return {"name": name, "method": stream.method, "blob": blob, "info": info, "stream": stream, "x_hat": x_hat,
            "bits": info["bits"], "bytes": len(blob), "bpp": metrics.bpp(len(blob), h, w),
            "est_bpp": sum(info["bits"].values()) / (h * w), "psnr": metrics.psnr(x_hat, x), "enc_s": t1 - t0,
            "dec_s": t2 - t1}


def curves(records: Iterable[Mapping[str, Any]], point_key: str = "model") -> dict[str, dict[str, np.ndarray]]:
    """Mean R-D curves of records labelled with ``curve``, one point per ``point_key``.

    Parameters
    ----------
    records : iterable of dict
        Per-image records with ``curve``, ``point_key``, ``bpp``, ``psnr`` and ``ms_ssim``.
    point_key : str
        The record field that names a rate point (``"model"``; ``"quality"`` for baselines).

    Returns
    -------
    dict
        ``{curve: {"bpp": array, "psnr": array (dB), "ms_ssim_db": array (dB)}}`` sorted by bpp.

    Examples
    --------
    >>> recs = [{"curve": "a", "model": m, "bpp": b, "psnr": p, "ms_ssim": None}
    ...         for m, b, p in [("a@1", 0.5, 30.0), ("a@2", 0.2, 27.0)]]
    >>> curves(recs)["a"]["bpp"].tolist()
    [0.2, 0.5]
    """
    return metrics.curves_from_records(records, curve_key="curve", point_key=point_key)


def means(records: Iterable[Mapping[str, Any]], keys: Sequence[str], by: str = "model") -> list[dict]:
    """Averages of some record fields per rate point (or any other grouping field).

    Parameters
    ----------
    records : iterable of dict
        Per-image records.
    keys : sequence of str
        The fields averaged (in their own units).
    by : str
        The grouping field, e.g. ``"model"`` (one rate point).

    Returns
    -------
    list of dict
        One dict per group, in first-seen order: ``{by: value, key: mean, ...}``.

    Examples
    --------
    >>> means([{"model": "a", "bpp": 1.0}, {"model": "a", "bpp": 2.0}, {"model": "b", "bpp": 4.0}], ["bpp"])
    [{'model': 'a', 'bpp': 1.5}, {'model': 'b', 'bpp': 4.0}]
    """
    groups: dict[Any, list] = {}
    for r in records:
        groups.setdefault(r[by], []).append(r)
    return [{by: g, **{k: float(np.mean([r[k] for r in rs])) for k in keys}} for g, rs in groups.items()]


def bd(anchor: Mapping[str, Any], test: Mapping[str, Any], metric: str = "psnr") -> str:
    """The Bjontegaard delta rate of ``test`` against ``anchor``, formatted, or ``n/a``.

    Parameters
    ----------
    anchor, test : mapping
        Curves with ``bpp`` and the ``metric`` (dB), as :func:`curves` returns them.
    metric : str
        ``"psnr"`` or ``"ms_ssim_db"``.

    Returns
    -------
    str
        ``"  -12.3 %"`` (negative: fewer bits at equal quality), or ``"     n/a  "`` when the
        curves do not overlap in quality or have fewer than 4 points (10 characters either way).

    Examples
    --------
    >>> a = {"bpp": [0.25, 0.5, 1.0, 2.0], "psnr": [28.0, 31.0, 34.0, 37.0]}
    >>> b = {"bpp": [0.2, 0.4, 0.8, 1.6], "psnr": [28.0, 31.0, 34.0, 37.0]}
    >>> bd(a, b), bd(a, {"bpp": [1, 2], "psnr": [50, 51]})
    ('   -20.0 %', '     n/a  ')
    """
    try:
        return f"{metrics.bd_rate(anchor['bpp'], anchor[metric], test['bpp'], test[metric]):+8.1f} %"
    except ValueError:  # no overlap in quality, or too few points
        return "     n/a  "


def bd_table(curves: Mapping[str, Mapping[str, Any]], tests: Sequence[str], anchors, metrics_=("psnr",)) -> str:
    """Print the BD-rate of some curves against others, one row per test curve (see :func:`bd`).

    Parameters
    ----------
    curves : mapping
        ``{name: curve}`` as :func:`curves` returns it.
    tests : sequence of str
        The curves measured (rows).
    anchors : mapping or sequence of str
        The reference curves (columns), or ``{name: short name for the header}``.
    metrics_ : sequence of str
        ``"psnr"`` and / or ``"ms_ssim_db"``: one column per anchor and metric.

    Returns
    -------
    str
        The table (also printed); negative: fewer bits at equal quality. A curve against
        itself is left blank.

    Examples
    --------
    >>> cv = {"a": {"bpp": [0.25, 0.5, 1.0, 2.0], "psnr": [28.0, 31.0, 34.0, 37.0]},
    ...       "b": {"bpp": [0.2, 0.4, 0.8, 1.6], "psnr": [28.0, 31.0, 34.0, 37.0]}}
    >>> _ = bd_table(cv, ["a", "b"], {"a": "A"})
    BD-rate vs A (PSNR)
    a
    b           -20.0 %
    """
    anchors = dict(anchors) if isinstance(anchors, Mapping) else {a: a for a in anchors}
    names = {"psnr": "PSNR", "ms_ssim_db": "MS-SSIM"}
    cols = [("BD-rate", "test")] + [(f"vs {short} ({names[m]})", lambda r, a=a, m=m: r[a, m])
                                    for a, short in anchors.items() for m in metrics_]
    rows = [{"test": t, **{(a, m): "" if a == t else bd(curves[a], curves[t], m).strip() for a in anchors
                           for m in metrics_}} for t in tests]
    return table(rows, cols)


def psnr_table(curves: Mapping[str, Mapping[str, Any]], names, rates: Sequence[float] = (0.25, 0.5, 1.0),
               published: Sequence[str] = ()) -> str:
    """Print the PSNR of some curves at fixed rates, interpolated in log-rate, beside published values.

    Parameters
    ----------
    curves : mapping
        ``{name: curve}`` as :func:`curves` returns it.
    names : mapping or sequence of str
        The curves shown, or ``{name: header}``.
    rates : sequence of float
        The rates, bpp.
    published : sequence of str
        Names of :data:`neurcomp.plotting.REFERENCE_KODAK` entries (Kodak, all 24 images) shown too.

    Returns
    -------
    str
        The table (also printed): PSNR in dB, ``-`` outside a curve's measured rates (or where
        nothing is published).

    Examples
    --------
    >>> _ = psnr_table({"a": {"bpp": [0.2, 0.6], "psnr": [28.0, 31.0]}}, ["a"], published=["JPEG"])
     bpp     a JPEG (published)
    0.25 28.61            24.66
    0.50 30.50            28.95
    1.00     -            32.59
    """
    names = dict(names) if isinstance(names, Mapping) else {n: n for n in names}
    cols = [(" bpp", "{bpp:.2f}")] + [(h, lambda r, n=n: _fmt(r[n])) for n, h in names.items()]
    cols += [(f"{p} (published)", lambda r, p=p: _fmt(plotting.REFERENCE_KODAK[p].get(r["bpp"]))) for p in published]
    return table([{"bpp": r, **{n: psnr_at(curves[n], r) for n in names}} for r in rates], cols)


def _fmt(v: float | None) -> str:
    return "-" if v is None else f"{v:.2f}"


def psnr_at(curve: Mapping[str, Any], bpp: float, metric: str = "psnr") -> float | None:
    """A curve's quality at a rate, interpolated linearly in log-rate.

    Parameters
    ----------
    curve : mapping
        ``{"bpp": [...], metric: [...]}`` (bpp increasing).
    bpp : float
        The rate in bits per pixel.
    metric : str
        ``"psnr"`` (dB) or ``"ms_ssim_db"``.

    Returns
    -------
    float or None
        The quality in dB; None outside the curve's rate range.

    Examples
    --------
    >>> c = {"bpp": [0.25, 1.0], "psnr": [28.0, 34.0]}
    >>> psnr_at(c, 0.5), psnr_at(c, 2.0)
    (31.0, None)
    """
    b = np.asarray(curve["bpp"], dtype=float)
    if not b.min() <= bpp <= b.max():
        return None
    return float(np.interp(np.log(bpp), np.log(b), np.asarray(curve[metric], dtype=float)))


def same_rate(image, bpp: float, codecs: Sequence[str] = ("jpeg", "webp")) -> list[tuple[np.ndarray, str]]:
    """The same image coded by classical codecs at (at most) a given rate, for a picture.

    For each codec, :func:`neurcomp.baselines.quality_for_bpp` finds the highest quality whose
    file fits in ``bpp`` (or the lowest quality, if none fits).

    Parameters
    ----------
    image : numpy.ndarray or torch.Tensor
        uint8 ``[H, W, 3]`` or float ``[3, H, W]`` in ``[0, 1]``.
    bpp : float
        The rate budget, bits per pixel.
    codecs : sequence of str
        Pillow codecs (``"jpeg"``, ``"webp"``, ...).

    Returns
    -------
    list of (numpy.ndarray, str)
        Per codec: the decoded image (uint8 ``[H, W, 3]``) and a title with its quality, its
        real rate (bpp) and its PSNR (dB).

    Examples
    --------
    >>> panels = same_rate(torch.rand(3, 64, 64), 2.0, ["jpeg"])
    >>> panels[0][0].shape, panels[0][1].startswith("JPEG (quality")
    ((64, 64, 3), True)
    """
    arr = data.to_uint8(image) if isinstance(image, torch.Tensor) else np.asarray(image)
    names = {"jpeg": "JPEG", "webp": "WebP", "jpeg2000": "JPEG 2000", "avif": "AVIF"}
    panels = []
    for c in codecs:
        q, rate, blob = baselines.quality_for_bpp(arr, c, bpp)
        rec = baselines.decode(blob)
        panels.append((rec, f"{names.get(c, c)} (quality {q:g}): {rate:.3f} bpp, {metrics.psnr(rec, arr):.2f} dB"))
    return panels


def print_header(blob: bytes, keys: Sequence[str] = ("format_version", "method", "model", "weights", "height",
                                                     "width", "latent_shape", "sections", "bytes")) -> dict:
    """Print the container header of a ``.ncz`` stream as one line of JSON (no decoding).

    Parameters
    ----------
    blob : bytes
        The stream.
    keys : sequence of str
        The header fields shown (sizes in bytes, image size in pixels).

    Returns
    -------
    dict
        The whole header (:func:`neurcomp.codec.stream_info`).

    Examples
    --------
    >>> from neurcomp.book import network
    >>> blob, _ = compress_image(torch.rand(3, 64, 64), network("factorized")[0]["name"])
    >>> h = print_header(blob, ["method", "height", "width"])
    header: {"method": "amortized", "height": 64, "width": 64}
    """


    header = stream_info(blob)
    print("header:", json.dumps({k: header[k] for k in keys}))
    return header


class _Blank:
    """Formats as ``-`` whatever the format spec (a missing value in :func:`table`)."""

    def __format__(self, spec: str) -> str:
        return "-"


_BLANK = _Blank()


def table(rows: Iterable[Mapping[str, Any]], columns: Mapping[str, Any], markdown: bool | None = None) -> str:
    """Show rows as a table: rendered in a notebook and in the book, aligned text elsewhere.

    Parameters
    ----------
    rows : iterable of dict
        One dict per row.
    columns : mapping or sequence of pairs
        ``{header: template}``, or ``[(header, template), ...]`` if two headers are the same. A
        template is a ``str.format`` template on the row's fields, such as ``"{bpp:.3f}"`` (units
        as the row has them), a field name without braces (its value with ``str``), or a callable
        ``row -> str`` (which gets the row as it is). A field that is None is shown as ``-``.
    markdown : bool, optional
        ``None`` (default): in a Jupyter kernel, display the table as one output with two
        representations, a Markdown table (what JupyterLab, Colab and the built book render, math
        in headers included) and the aligned text (``text/plain``: what a terminal, nbval's
        comparison and a reader of the raw notebook see); elsewhere print the aligned text.
        ``True``: display only the Markdown table; ``False``: only print the aligned text.

    Returns
    -------
    str
        The table as aligned text (the Markdown source with ``markdown=True``); as a cell's last
        expression it is not shown a second time.

    Examples
    --------
    >>> t = table([{"name": "a", "bpp": 0.25}, {"name": "bb", "bpp": None}], {"model": "name", "bpp": "{bpp:.3f}"})
    model   bpp
    a     0.250
    bb        -
    """
    def cell(f, r):
        if callable(f):
            return str(f(r))
        blanked = {k: _BLANK if v is None else v for k, v in r.items()}
        return f.format(**blanked) if "{" in f else format(blanked[f])

    cols = list(columns.items()) if isinstance(columns, Mapping) else [tuple(c) for c in columns]
    cells = [[cell(f, r) for _, f in cols] for r in rows]
    heads = [h for h, _ in cols]
    widths = [max([len(h)] + [len(c[j]) for c in cells]) for j, h in enumerate(heads)]

    def line(vals):
        return " ".join(v.ljust(widths[j]) if j == 0 else v.rjust(widths[j]) for j, v in enumerate(vals)).rstrip()

    def md_cell(v):
        return v.replace("|", "\\|") if v.strip() else "&nbsp;"

    md = "\n".join("| " + " | ".join(md_cell(v) for v in vals) + " |"
                   for vals in [heads, [":--"] + ["--:"] * (len(heads) - 1), *cells])
    text = "\n".join([line(heads)] + [line(c) for c in cells])
    if markdown is None:
        markdown = "both" if _in_kernel() else False
    if markdown:
        from IPython.display import Markdown, display  # IPython: present only in a kernel

        if markdown == "both":
            display({"text/markdown": md, "text/plain": text}, raw=True)
            return ShownText(text)
        display(Markdown(md))
        return ShownText(md)
    print(text)
    return ShownText(text)


def _in_kernel() -> bool:
    """True in a Jupyter kernel (a notebook, JupyterLab, Colab, nbval, the book's build)."""
    try:
        from IPython import get_ipython  # IPython: present only in a kernel
    except ImportError:
        return False
    ip = get_ipython()
    return ip is not None and type(ip).__name__ == "ZMQInteractiveShell"
