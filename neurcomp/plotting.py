"""One matplotlib style for every figure of the book, rate-distortion plots and image grids.

Example:
    >>> from neurcomp import plotting
    >>> plotting.set_style()
    >>> ax = plotting.rd_plot({"jpeg": {"bpp": [0.3, 0.6, 1.2], "psnr": [25.0, 29.0, 32.5]}},
    ...                       reference=["JPEG", "WebP"])
    >>> ax.get_xlabel()
    'bits per pixel (bpp)'
"""

from __future__ import annotations

import textwrap

from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import torch

from .metrics import curves_from_records
from .published import REFERENCE_KODAK  # noqa: F401 (defined there, re-exported here)

__all__ = [
    "PALETTE",
    "CODEC_STYLE",
    "REFERENCE_KODAK",
    "METRIC_LABELS",
    "BPP_LABEL",
    "set_style",
    "legibility",
    "COLUMN_WIDTH_IN",
    "MIN_FONT_PT",
    "style_for",
    "rd_plot",
    "rd_plot_records",
    "plot_reference",
    "image_grid",
]

#: the book's text column, in inches: a figure drawn at most this wide is shown at (nearly) its natural
#: size, so that its fonts keep their size in points (688 px at 96 px per inch in the HTML theme)
COLUMN_WIDTH_IN = 7.2
#: the smallest font a figure may use, in points (at a width of at most :data:`COLUMN_WIDTH_IN`)
MIN_FONT_PT = 9.0

#: colour cycle (colour-blind friendly, after Okabe & Ito) used by :func:`set_style`
PALETTE = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442"]

#: fixed colour and marker per codec / method, so a name looks the same in every chapter
CODEC_STYLE: dict[str, dict[str, str]] = {
    "jpeg": {"color": "#7f7f7f", "marker": "s"},
    "webp": {"color": "#E69F00", "marker": "^"},
    "jpeg2000": {"color": "#8c564b", "marker": "v"},
    "avif": {"color": "#CC79A7", "marker": "D"},
    "bpg": {"color": "#56B4E9", "marker": "P"},
    "vtm": {"color": "#000000", "marker": "X"},
    "factorized": {"color": "#009E73", "marker": "o"},
    "fp": {"color": "#009E73", "marker": "o"},
    "mshp": {"color": "#0072B2", "marker": "o"},
    "scale hyperprior": {"color": "#0072B2", "marker": "h"},
    "hyperprior": {"color": "#0072B2", "marker": "o"},
    "amortized": {"color": "#0072B2", "marker": "o"},
    "map": {"color": "#56B4E9", "marker": "<"},
    "ste": {"color": "#F0E442", "marker": ">"},
    "uniform_noise": {"color": "#009E73", "marker": "<"},
    "det_annealing": {"color": "#CC79A7", "marker": ">"},
    "sga": {"color": "#D55E00", "marker": "o"},
    "bitsback": {"color": "#882255", "marker": "*"},
    "bitsback_no_sga": {"color": "#AA4499", "marker": "P"},
    "bitsback_no_iter": {"color": "#999933", "marker": "X"},
    "rec": {"color": "#117733", "marker": "p"},
    "pln": {"color": "#117733", "marker": "p"},
    "dvae": {"color": "#332288", "marker": "d"},
    "hdvae": {"color": "#88CCEE", "marker": "H"},
    "vq": {"color": "#AA4499", "marker": "8"},
    "overfit": {"color": "#661100", "marker": "*"},
}


_REFERENCE_KEY = {
    "JPEG": "jpeg",
    "WebP": "webp",
    "JPEG 2000": "jpeg2000",
    "factorized prior (Balle 2017)": "factorized",
    "scale hyperprior (Balle 2018)": "scale hyperprior",
    "BPG 4:4:4": "bpg",
    "mean-scale hyperprior (Minnen 2018)": "hyperprior",
    "VTM (VVC intra)": "vtm",
}

METRIC_LABELS = {"psnr": "PSNR (dB)", "ms_ssim_db": "MS-SSIM (dB)"}
BPP_LABEL = "bits per pixel (bpp)"


def set_style() -> None:
    """Apply the book's matplotlib style (fonts, grid, colour cycle, 110 dpi, tight bbox).

    Call once at the top of a chapter; it changes ``matplotlib.rcParams`` globally.

    Example:
        >>> set_style()
        >>> import matplotlib; matplotlib.rcParams["figure.dpi"]
        110.0
    """
    import matplotlib as mpl  # matplotlib: heavy, needed only to draw
    from cycler import cycler  # with matplotlib, needed only to draw

    mpl.rcParams.update(
        {
            "figure.dpi": 110,
            "figure.figsize": (COLUMN_WIDTH_IN, 3.2),
            "savefig.dpi": 110,
            "savefig.bbox": "tight",
            "font.size": 10,
            "axes.titlesize": 11,
            "axes.labelsize": 10,
            "xtick.labelsize": 9,
            "ytick.labelsize": 9,
            "legend.fontsize": 9,
            "legend.title_fontsize": 9,
            "figure.titlesize": 11,
            "legend.frameon": False,
            "axes.grid": True,
            "grid.alpha": 0.3,
            "grid.linestyle": "-",
            "axes.spines.top": False,
            "axes.spines.right": False,
            "axes.prop_cycle": cycler(color=PALETTE),
            "lines.linewidth": 1.6,
            "lines.markersize": 4.5,
            "image.interpolation": "nearest",
        }
    )


def legibility(fig) -> list[str]:
    """What keeps a figure from being legible in the book's text column (an empty list: nothing).

    A figure wider than :data:`COLUMN_WIDTH_IN` is shrunk to the column, and so are its fonts; any
    visible text under :data:`MIN_FONT_PT` is too small even at the figure's natural size.

    Example:
        >>> import matplotlib.pyplot as plt
        >>> fig, ax = plt.subplots(figsize=(10, 3)); _ = ax.set_title("t", fontsize=7)
        >>> legibility(fig)
        ['10.00 in wide (the text column holds 7.2 in)', 'text at 7 pt (at least 9 pt): t']
        >>> plt.close(fig)
    """
    from matplotlib.text import Text  # matplotlib: heavy, needed only to draw

    problems = []
    # the width of the saved image ("savefig.bbox": "tight" adds what sticks out, e.g. a legend beside the axes)
    width = max(float(fig.get_size_inches()[0]), fig.get_tightbbox(fig.canvas.get_renderer()).width)
    if width > 1.02 * COLUMN_WIDTH_IN:  # (the tight bounding box may add a hair to a figure of exactly the width)
        problems.append(f"{width:.2f} in wide (the text column holds {COLUMN_WIDTH_IN:g} in)")
    small = {}
    for t in fig.findobj(Text):
        if t.get_visible() and t.get_text().strip() and t.get_fontsize() < MIN_FONT_PT - 1e-6:
            small.setdefault(round(float(t.get_fontsize()), 1), t.get_text().strip().replace("\n", " ")[:30])
    if small:
        problems.append(f"text at {', '.join(f'{s:g}' for s in sorted(small))} pt (at least {MIN_FONT_PT:g} pt): "
                        + "; ".join(small.values()))
    return problems


def _norm(name: str) -> str:
    return str(name).lower().replace("-", "").replace(" 2000", "2000").strip()


def style_for(name: str) -> dict[str, str]:
    """Colour and marker for a curve name: an exact (case-insensitive) :data:`CODEC_STYLE`
    key, else the first key the name starts with (``"sga (mshp)"`` -> ``"sga"``), else ``{}``
    (matplotlib's cycle then picks a colour).

    Example:
        >>> style_for("WebP")["marker"]
        '^'
    """
    key = _norm(name)
    if key in CODEC_STYLE:
        return dict(CODEC_STYLE[key])
    for k in sorted(CODEC_STYLE, key=len, reverse=True):
        if key.startswith(k):
            return dict(CODEC_STYLE[k])
    return {}


def plot_reference(ax, names: Iterable[str] | None = None, **kwargs: Any):
    """Draw the published Kodak PSNR points (:data:`REFERENCE_KODAK`) as dashed lines.

    ``names`` selects entries (default: all); extra keyword arguments go to ``ax.plot``.
    Returns the Axes.

    Example:
        >>> import matplotlib.pyplot as plt
        >>> ax = plot_reference(plt.figure().gca(), ["JPEG"])
    """
    chosen = list(REFERENCE_KODAK) if names is None else list(names)
    for name in chosen:
        if name not in REFERENCE_KODAK:
            raise KeyError(f"no reference curve {name!r}; known: {', '.join(REFERENCE_KODAK)}")
        pts = REFERENCE_KODAK[name]
        style = CODEC_STYLE.get(_REFERENCE_KEY.get(name, ""), {})
        opts = {"linestyle": "--", "linewidth": 1.0, "marker": "x", "alpha": 0.8, "color": style.get("color")}
        opts.update(kwargs)
        ax.plot(list(pts), list(pts.values()), label=f"{name} (published)", **opts)
    return ax


def rd_plot(
    curves: Mapping[str, Mapping[str, Any]],
    metric: str = "psnr",
    ax=None,
    reference: bool | Sequence[str] | None = None,
    title: str | None = None,
):
    """Rate-distortion plot: one line with markers per curve.

    ``curves`` maps a name to ``{"bpp": [...], "psnr": [...], "ms_ssim_db": [...]}`` (only
    the chosen ``metric`` is needed). ``metric`` is "psnr" or "ms_ssim_db".
    ``reference`` adds the published Kodak PSNR points as dashed lines: ``True`` for all,
    or a list of :data:`REFERENCE_KODAK` names (ignored for MS-SSIM, which has none).
    Returns the Axes (x label "bits per pixel (bpp)", y label "PSNR (dB)" / "MS-SSIM (dB)").

    Example:
        >>> ax = rd_plot({"webp": {"bpp": [0.2, 0.5, 1.0], "psnr": [27.0, 31.0, 35.0]}})
        >>> ax.get_ylabel()
        'PSNR (dB)'
    """
    import matplotlib.pyplot as plt  # matplotlib: heavy, needed only to draw

    if metric not in METRIC_LABELS:
        raise ValueError(f"metric must be one of {', '.join(METRIC_LABELS)}, got {metric!r}")
    if ax is None:
        _, ax = plt.subplots()
    for name, curve in curves.items():
        x = np.asarray(curve["bpp"], dtype=float)
        if metric not in curve:
            raise KeyError(f"curve {name!r} has no {metric!r} values")
        y = np.asarray(curve[metric], dtype=float)
        order = np.argsort(x)
        ax.plot(x[order], y[order], label=name, **style_for(name))
    if reference and metric == "psnr":
        plot_reference(ax, None if reference is True else reference)
    ax.set_xlabel(BPP_LABEL)
    ax.set_ylabel(METRIC_LABELS[metric])
    if title:
        ax.set_title(title)
    ax.legend()
    return ax


def rd_plot_records(
    records: Iterable[Mapping[str, Any]],
    key: str = "codec",
    point_key: str = "quality",
    metric: str = "psnr",
    ax=None,
    reference: bool | Sequence[str] | None = None,
    title: str | None = None,
):
    """:func:`rd_plot` straight from per-image JSON records (baseline or ``neurcomp eval``).

    Records are split into curves by ``key`` (e.g. "codec" or "method") and averaged over
    images per rate point ``point_key`` (e.g. "quality" or "model") with
    :func:`neurcomp.metrics.curves_from_records`. Returns the Axes.

    Example:
        >>> recs = [{"codec": "jpeg", "quality": q, "bpp": b, "psnr": p}
        ...         for q, b, p in [(10, 0.3, 25.0), (50, 1.0, 30.0)]]
        >>> rd_plot_records(recs).get_legend_handles_labels()[1]
        ['jpeg']
    """
    curves = curves_from_records(records, curve_key=key, point_key=point_key)
    return rd_plot(curves, metric=metric, ax=ax, reference=reference, title=title)


def _as_hwc(img: Any) -> np.ndarray:
    if isinstance(img, torch.Tensor):
        t = img.detach().cpu()
        if t.dim() == 4:
            t = t[0]
        if t.dim() == 3 and t.shape[0] in (1, 3):
            t = t.permute(1, 2, 0)
        arr = t.float().clamp(0, 1).numpy()
        return arr[..., 0] if arr.ndim == 3 and arr.shape[2] == 1 else arr
    return np.asarray(img)


def image_grid(
    images: Sequence[Any],
    titles: Sequence[str] | None = None,
    inset: tuple[int, int, int, int] | None = None,
    zoom: float = 3,
    ncols: int | None = None,
    size: float | None = None,
):
    """Show images side by side, optionally with a zoomed inset of the same region in each.

    ``images`` are tensors ``[3, H, W]`` in ``[0, 1]`` or uint8 arrays ``[H, W, 3]`` (same size
    for a fair inset). ``inset=(y0, x0, h, w)`` in pixels marks that region with a rectangle on
    each image and shows it enlarged ``zoom`` times (nearest neighbour) in the lower-right
    corner. ``ncols`` defaults to all in one row, up to three images (four: two rows of two);
    ``size`` is inches per panel, by default the text column (:data:`COLUMN_WIDTH_IN`) shared by the
    columns. Returns the Figure.

    Example:
        >>> fig = image_grid([torch.rand(3, 64, 96)] * 2, ["a", "b"], inset=(8, 8, 16, 16))
        >>> len(fig.axes) >= 2
        True
    """
    import matplotlib.pyplot as plt  # matplotlib: heavy, needed only to draw
    from matplotlib.patches import Rectangle  # matplotlib: heavy, needed only to draw

    arrays = [_as_hwc(im) for im in images]
    n = len(arrays)
    if n == 0:
        raise ValueError("image_grid needs at least one image")
    if titles is not None and len(titles) != n:
        raise ValueError(f"got {n} images but {len(titles)} titles")
    ncols = (n if n <= 3 else 2 if n == 4 else 3) if ncols is None else max(1, int(ncols))
    nrows = -(-n // ncols)
    size = COLUMN_WIDTH_IN / ncols if size is None else float(size)
    h0, w0 = arrays[0].shape[:2]
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows * h0 / w0 + 0.3), squeeze=False)
    for k, ax in enumerate(axes.flat):
        ax.axis("off")
        if k >= n:
            continue
        arr = arrays[k]
        ax.imshow(arr, cmap="gray" if arr.ndim == 2 else None, interpolation="nearest")
        if titles is not None:  # wrapped to the panel's width (about 5.5 pt per character at 10 pt)
            width = max(12, int(size * 72 / 5.5))
            ax.set_title("\n".join(textwrap.fill(line, width) for line in str(titles[k]).split("\n")), fontsize=10)
        if inset is None:
            continue
        y0, x0, hh, ww = (int(v) for v in inset)
        H, W = arr.shape[:2]
        if not (0 <= y0 < H and 0 <= x0 < W and hh > 0 and ww > 0):
            raise ValueError(f"inset {inset} lies outside the {H}x{W} image")
        ax.add_patch(Rectangle((x0 - 0.5, y0 - 0.5), ww, hh, fill=False, edgecolor="#ff3030", linewidth=1.2))
        crop = arr[y0 : y0 + hh, x0 : x0 + ww]
        fw = min(0.5, zoom * crop.shape[1] / W)
        fh = min(0.5, zoom * crop.shape[0] / H)
        sub = ax.inset_axes([1 - fw, 0, fw, fh])
        sub.imshow(crop, cmap="gray" if crop.ndim == 2 else None, interpolation="nearest")
        sub.set_xticks([])
        sub.set_yticks([])
        for spine in sub.spines.values():
            spine.set_edgecolor("#ff3030")
            spine.set_visible(True)
    fig.tight_layout()
    return fig
