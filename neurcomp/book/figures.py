"""Figures the chapters share: R-D plots, sweeps, image grids, learning curves.

Part of :mod:`neurcomp.book` (see there for units and conventions).
"""
from __future__ import annotations

import textwrap

from typing import Any, Mapping, Sequence

import numpy as np
import torch

from .. import data, plotting


def moving_average(values: Sequence[float], beta: float = 0.97) -> np.ndarray:
    """Exponential moving average of a noisy sequence (e.g. per-batch training losses).

    Parameters
    ----------
    values : sequence of float
        The values, in their own units.
    beta : float
        Weight of the running mean (0.97: about the last 30 values count).

    Returns
    -------
    numpy.ndarray
        Same length and units as ``values``; starts at ``values[0]``.

    Examples
    --------
    >>> moving_average([1.0, 1.0, 4.0], beta=0.5).tolist()
    [1.0, 1.0, 2.5]
    """
    out, m = [], float(values[0])
    for v in values:
        m = beta * m + (1 - beta) * float(v)
        out.append(m)
    return np.array(out)


def smooth(values: Sequence[float], k: int = 5) -> np.ndarray:
    """Running mean over ``k`` neighbouring values (the ends are kept as they are).

    Parameters
    ----------
    values : sequence of float
        The values, in their own units (e.g. single-sample relaxed losses).
    k : int
        Window length.

    Returns
    -------
    numpy.ndarray
        Same length and units as ``values``.

    Examples
    --------
    >>> smooth([0.0, 3.0, 0.0, 3.0, 0.0], k=3).tolist()
    [0.0, 1.0, 2.0, 1.0, 0.0]
    """
    v = np.asarray(values, dtype=float)
    if len(v) < k:
        return v
    c = np.convolve(v, np.ones(k) / k, mode="valid")
    return np.concatenate([v[: k // 2], c, v[len(v) - (k - 1 - k // 2):]])


def plot_training(ax, values: Sequence[float], label: str | None = None, beta: float = 0.97, legend: bool = False):
    """Per-batch values in grey and their :func:`moving_average` in the book's first colour.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
        Where to draw; x is the training step (1, 2, ...).
    values : sequence of float
        One value per step (its units label the y axis).
    label : str, optional
        The y label.
    beta : float
        Weight of the moving average.
    legend : bool
        Add a legend ("per batch", "moving average").

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> import matplotlib.pyplot as plt
    >>> ax = plot_training(plt.figure().gca(), [3.0, 2.0, 1.5, 1.2], "loss")
    >>> len(ax.get_lines()), ax.get_ylabel()
    (2, 'loss')
    """
    steps = np.arange(1, len(values) + 1)
    ax.plot(steps, values, color="#bbbbbb", lw=0.6, label="per batch")
    ax.plot(steps, moving_average(values, beta), color=plotting.PALETTE[0], label="moving average")
    ax.set(xlabel="training step", ylabel=label or "")
    if legend:
        ax.legend()
    return ax


def zoom_rd(ax, xmax: float, pad: float = 0.5):
    """Zoom an R-D plot on rates ``(0, xmax]``, with y limits fitted to what is visible there.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
        A plot of quality (dB) against rate (bpp).
    xmax : float
        The largest rate shown, bpp.
    pad : float
        Margin above and below the visible curves, dB.

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> import matplotlib.pyplot as plt
    >>> ax = plt.figure().gca()
    >>> _ = ax.plot([0.1, 0.5, 3.0], [25.0, 30.0, 45.0])
    >>> [float(v) for v in zoom_rd(ax, 1.0).get_ylim()]
    [24.5, 30.5]
    """
    ys = [float(y) for line in ax.get_lines() for x, y in zip(line.get_xdata(), line.get_ydata())
          if 0 < x <= xmax and np.isfinite(y)]
    ax.set_xlim(0, xmax)
    if ys:
        ax.set_ylim(min(ys) - pad, max(ys) + pad)
    return ax


def colors(n: int, cmap: str = "viridis") -> list:
    """``n`` colours spread over a matplotlib colour map (for one line per rate point, temperature, ...).

    Parameters
    ----------
    n : int
        Number of colours.
    cmap : str
        A matplotlib colour map name.

    Returns
    -------
    list
        ``n`` RGBA tuples, from the start to the end of the map.

    Examples
    --------
    >>> [tuple(round(v, 2) for v in c) for c in colors(2, "Greys")]
    [(1.0, 1.0, 1.0, 1.0), (0.0, 0.0, 0.0, 1.0)]
    """
    import matplotlib.pyplot as plt  # matplotlib: heavy, needed only to draw

    return [tuple(float(v) for v in c) for c in plt.get_cmap(cmap)(np.linspace(0, 1, n) if n > 1 else [0.0])]


def label_points(ax, xs: Sequence[float], ys: Sequence[float], labels: Sequence[Any], offset=(4, -10),
                 fontsize: float = 9, fmt: str = "{:g}"):
    """Write a small label next to each point of a plot (e.g. the lambda of each rate point).

    Parameters
    ----------
    ax : matplotlib.axes.Axes
    xs, ys : sequence of float
        The points, in data units.
    labels : sequence
        One label per point, formatted with ``fmt``.
    offset : (float, float)
        Offset of the text from the point, in points.
    fontsize : float
        Text size, points.
    fmt : str
        ``str.format`` template for a label.

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> import matplotlib.pyplot as plt
    >>> ax = label_points(plt.figure().gca(), [0.1, 0.5], [28.0, 32.0], [0.0035, 0.013])
    >>> [t.get_text() for t in ax.texts]
    ['0.0035', '0.013']
    """
    for x, y, label in zip(xs, ys, labels):
        ax.annotate(fmt.format(label), (x, y), textcoords="offset points", xytext=offset, fontsize=fontsize)
    return ax


def plot_sweep(ax, rows: Sequence[Mapping[str, Any]], annotate: str | None = "lambda", x: str = "bpp",
               y: str = "psnr", **style):
    """One image's R-D points, one per rate point, joined by a line and labelled with their rate parameter.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
    rows : sequence of dict
        One dict per rate point with ``x`` (bpp) and ``y`` (dB) fields (e.g. :func:`code_sweep`).
    annotate : str or None
        The field written next to each point (``"lambda"``), or None for no labels.
    x, y : str
        The fields plotted.
    **style
        Passed to ``ax.plot`` (default: ``"o-"`` markers and line).

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> import matplotlib.pyplot as plt
    >>> ax = plot_sweep(plt.figure().gca(), [{"bpp": 0.2, "psnr": 28.0, "lambda": 0.0035},
    ...                                      {"bpp": 0.5, "psnr": 31.0, "lambda": 0.013}], color="C0")
    >>> len(ax.get_lines()), [t.get_text() for t in ax.texts]
    (1, ['0.0035', '0.013'])
    """
    style = {"marker": "o", "linestyle": "-", **style}
    ax.plot([r[x] for r in rows], [r[y] for r in rows], **style)
    if annotate:
        label_points(ax, [r[x] for r in rows], [r[y] for r in rows], [r[annotate] for r in rows])
    return ax


def rd_figure(curves: Mapping[str, Mapping[str, Any]], metrics_: Sequence[str] = ("psnr", "ms_ssim_db"),
              styles: Mapping[str, Mapping[str, Any]] | None = None, reference: Sequence[str] | None = None,
              xmax: float | None = None, title: str = "Kodak", legend: str = "below", size=None):
    """Rate-distortion curves side by side, one panel per quality metric.

    Parameters
    ----------
    curves : mapping
        ``{name: {"bpp": ..., "psnr": ..., "ms_ssim_db": ...}}`` (:func:`curves`); rates in bpp,
        qualities in dB.
    metrics_ : sequence of str
        One panel per metric, ``"psnr"`` and / or ``"ms_ssim_db"``.
    styles : mapping, optional
        ``{name: matplotlib line style}``; other curves get :func:`neurcomp.plotting.style_for`.
    reference : sequence of str, optional
        Published Kodak PSNR curves (:data:`neurcomp.plotting.REFERENCE_KODAK` names), dashed, on the
        PSNR panel.
    xmax : float, optional
        Zoom on rates up to ``xmax`` bpp (:func:`zoom_rd`).
    title : str
        Panel titles start with it ("Kodak, PSNR").
    legend : {"below", "inside", "outside", "none"}
        One legend below the panels (default: the figure keeps the page's width, so its tick
        labels stay readable), one per panel, one to the right of the figure, or none.
    size : (float, float), optional
        Inches per panel; default: the text column shared by the panels
        (:data:`neurcomp.plotting.COLUMN_WIDTH_IN`), 3.4 in high.

    Returns
    -------
    tuple
        ``(fig, axes)``, axes a list with one Axes per metric.

    Examples
    --------
    >>> fig, axes = rd_figure({"jpeg": {"bpp": [0.5, 1.0], "psnr": [30.0, 33.0], "ms_ssim_db": [12.0, 15.0]}},
    ...                       reference=["JPEG"], xmax=1.5)
    >>> [ax.get_title() for ax in axes], [float(v) for v in axes[0].get_xlim()]
    (['Kodak, PSNR', 'Kodak, MS-SSIM'], [0.0, 1.5])
    """
    import matplotlib.pyplot as plt  # matplotlib: heavy, needed only to draw

    styles = styles or {}
    size = size or (plotting.COLUMN_WIDTH_IN / len(metrics_), 3.4)
    fig, axes = plt.subplots(1, len(metrics_), figsize=(size[0] * len(metrics_), size[1]), squeeze=False)
    axes = list(axes[0])
    for ax, metric in zip(axes, metrics_):
        for name, c in curves.items():
            ax.plot(c["bpp"], c[metric], label=name, **(styles.get(name) or plotting.style_for(name)))
        if reference and metric == "psnr":
            plotting.plot_reference(ax, reference)
        if xmax:
            zoom_rd(ax, xmax)
        ax.set(xlabel=plotting.BPP_LABEL, ylabel=plotting.METRIC_LABELS[metric],
               title=f"{title}, {'PSNR' if metric == 'psnr' else 'MS-SSIM'}")
        if legend == "inside":
            ax.legend(fontsize=9)
    fig.tight_layout()
    if legend == "outside":
        fig.legend(*axes[0].get_legend_handles_labels(), loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=9)
    elif legend == "below":
        handles, labels = axes[0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, 0.0), fontsize=9, frameon=False,
                   ncol=min(len(labels), 2))
    return fig, axes


def show_image(ax, image, title: str | None = None, **title_kw):
    """Show an image on an Axes without ticks or frame, with an optional title.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
    image : numpy.ndarray or torch.Tensor
        uint8 ``[H, W, 3]``, float ``[H, W, 3]`` or ``[H, W]`` in ``[0, 1]``, or a float tensor
        ``[3, H, W]`` in ``[0, 1]``.
    title : str, optional
    **title_kw
        Passed to ``ax.set_title`` (e.g. ``fontsize=9``, ``loc="left"``).

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> import matplotlib.pyplot as plt
    >>> ax = show_image(plt.figure().gca(), torch.rand(3, 8, 8), "noise", fontsize=9)
    >>> ax.get_title(), ax.axison
    ('noise', False)
    """
    if isinstance(image, torch.Tensor):
        image = data.to_uint8(image)
    ax.imshow(image)
    ax.axis("off")
    if title is not None:
        ax.set_title(title, **title_kw)
    return ax


def stacked_bars(ax, ticks: Sequence[str], parts: Sequence[tuple[str, Sequence[float], Any]], width: float = 0.8):
    """Stacked bars: one bar per tick, one coloured part per entry of ``parts``, bottom to top.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
    ticks : sequence of str
        The label of each bar.
    parts : sequence of (str, sequence of float, colour)
        Legend label, one value per bar (in the units of the y axis), colour.
    width : float
        Bar width, in units of the bar spacing.

    Returns
    -------
    numpy.ndarray
        The total height of each bar.

    Examples
    --------
    >>> import matplotlib.pyplot as plt
    >>> stacked_bars(plt.figure().gca(), ["a", "b"], [("x", [1, 2], "C0"), ("y", [3, 1], "C1")]).tolist()
    [4.0, 3.0]
    """
    bottom = np.zeros(len(ticks))
    for label, values, color in parts:
        ax.bar(np.arange(len(ticks)), values, bottom=bottom, color=color, width=width, label=label)
        bottom += np.asarray(values, dtype=float)
    ax.set_xticks(np.arange(len(ticks)), list(ticks))
    return bottom


def crop_grid(panels: Sequence[tuple[Any, str]], crop: tuple[int, int, int, int], ncols: int,
              size: tuple[float, float] | None = None, spare: int = 1, fontsize: float = 9):
    """The same crop of several images in a grid, with spare panels (e.g. for an R-D plot).

    Parameters
    ----------
    panels : sequence of (image, str) or None
        Images (uint8 ``[H, W, 3]`` or float ``[3, H, W]``) and their titles, row by row; None
        leaves a panel empty.
    crop : (int, int, int, int)
        ``(top, left, height, width)`` in pixels.
    ncols : int
        Panels per row.
    size : (float, float), optional
        Inches per panel; default: the text column (:data:`neurcomp.plotting.COLUMN_WIDTH_IN`)
        shared by the columns, square panels.
    spare : int
        Empty panels after the images, returned for the caller to draw in.
    fontsize : float
        Title size, points.

    Returns
    -------
    tuple
        ``(fig, spare_axes)``; unused panels are hidden.

    Examples
    --------
    >>> fig, (ax,) = crop_grid([(np.zeros((32, 32, 3), np.uint8), "black")] * 3, (0, 0, 16, 16), ncols=2)
    >>> len(fig.axes), ax.axison
    (4, True)
    """
    import matplotlib.pyplot as plt  # matplotlib: heavy, needed only to draw

    y0, x0, h, w = crop
    size = size or (plotting.COLUMN_WIDTH_IN / ncols, plotting.COLUMN_WIDTH_IN / ncols * 0.95)
    n = len(panels) + spare
    nrows = -(-n // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(size[0] * ncols, size[1] * nrows), squeeze=False)
    axes = axes.flatten()
    for k, ax in enumerate(axes):
        if k < len(panels) and panels[k] is not None:
            img = panels[k][0]
            arr = data.to_uint8(img) if isinstance(img, torch.Tensor) else np.asarray(img)
            ax.imshow(arr[y0:y0 + h, x0:x0 + w])
            width = max(12, int(size[0] * 72 / (0.55 * fontsize)))  # wrapped to the panel's width
            ax.set_title("\n".join(textwrap.fill(line, width) for line in str(panels[k][1]).split("\n")),
                         fontsize=fontsize)
        if k < len(panels) or k >= n:
            ax.axis("off")
    return fig, list(axes[len(panels):n])


def image_strip(batch: torch.Tensor, gap: int = 2) -> np.ndarray:
    """A batch of images side by side, separated by white gaps, ready for ``imshow``.

    Parameters
    ----------
    batch : torch.Tensor
        ``[n, 3, h, w]`` in ``[0, 1]``.
    gap : int
        Width of the white gaps, pixels.

    Returns
    -------
    numpy.ndarray
        ``[h, n * (w + gap) - gap, 3]`` float in ``[0, 1]``.

    Examples
    --------
    >>> image_strip(torch.zeros(3, 3, 8, 10)).shape
    (8, 34, 3)
    """
    n, _, h, w = batch.shape
    canvas = torch.ones(3, h, n * (w + gap) - gap)
    for i in range(n):
        canvas[:, :, i * (w + gap): i * (w + gap) + w] = batch[i].detach().cpu().clamp(0, 1)
    return canvas.permute(1, 2, 0).numpy()


def learning_curve(card: Mapping[str, Any]) -> dict[float, dict[str, np.ndarray]]:
    """The learning curve of a model card, one curve per rate point.

    Parameters
    ----------
    card : mapping
        A model card (:func:`neurcomp.zoo.model_card`) with a ``learning_curve``: a list of
        ``{"step": ..., "kodak": [{"lambda": ..., "bpp": ..., "psnr": ...}, ...]}``.

    Returns
    -------
    dict
        ``{rate parameter: {"step": array, "bpp": array (model estimate), "psnr": array (dB)}}``;
        empty if the card has no learning curve.

    Examples
    --------
    >>> card = {"learning_curve": [{"step": s, "kodak": [{"lambda": 0.01, "bpp": b, "psnr": p}]}
    ...                            for s, b, p in [(1000, 0.5, 28.0), (2000, 0.4, 29.0)]]}
    >>> learning_curve(card)[0.01]["psnr"].tolist()
    [28.0, 29.0]
    """
    out: dict[float, dict[str, list]] = {}
    for row in card.get("learning_curve") or []:
        for r in row.get("kodak", []):
            c = out.setdefault(r["lambda"], {"step": [], "bpp": [], "psnr": []})
            c["step"].append(row["step"])
            c["bpp"].append(r["bpp"])
            c["psnr"].append(r["psnr"])
    return {k: {m: np.array(v) for m, v in c.items()} for k, c in out.items()}


def plot_learning_curve(card: Mapping[str, Any], ax_bpp, ax_psnr, ax_rd=None, cmap: str = "viridis") -> dict:
    """Draw a model card's learning curve: rate and PSNR against the training step, per rate point.

    Parameters
    ----------
    card : mapping
        A model card (:func:`neurcomp.zoo.model_card`).
    ax_bpp, ax_psnr : matplotlib.axes.Axes
        Rate (bpp, the model's estimate) and PSNR (dB) against the step; the figure gets a legend of the
        rate points, below the panels.
    ax_rd : matplotlib.axes.Axes, optional
        Each rate point's path through the R-D plane, with the card's final real-codec Kodak
        results as stars.
    cmap : str
        Colour map over the rate points.

    Returns
    -------
    dict
        :func:`learning_curve` of the card.

    Examples
    --------
    >>> from neurcomp import zoo
    >>> import matplotlib.pyplot as plt
    >>> fig, axes = plt.subplots(1, 3)
    >>> lc = plot_learning_curve(zoo.model_card("mshp"), *axes)
    >>> len(axes[0].get_lines()) == len(lc) > 0
    True
    """
    import matplotlib.pyplot as plt  # matplotlib: heavy, needed only to draw

    lc = learning_curve(card)
    colors = plt.get_cmap(cmap)(np.linspace(0, 1, max(2, len(lc))))
    for color, (value, c) in zip(colors, lc.items()):
        ax_bpp.plot(c["step"], c["bpp"], "o-", color=color, ms=3)
        ax_psnr.plot(c["step"], c["psnr"], "o-", color=color, ms=3, label=f"{value:g}")
        if ax_rd is not None:
            ax_rd.plot(c["bpp"], c["psnr"], "o-", color=color, ms=3, alpha=0.6)
            for r in card.get("kodak", []):
                if abs(r["lambda"] - value) < 1e-12:
                    ax_rd.plot(r["bpp"], r["psnr"], "*", color=color, ms=11, mec="k", mew=0.5)
    ax_bpp.set(xlabel="training step", ylabel="bpp (model estimate)")
    ax_psnr.set(xlabel="training step", ylabel="PSNR (dB)")
    if lc:  # one legend below the figure, one row: inside a panel it would cover the curves
        fig = ax_psnr.figure
        fig.legend(*ax_psnr.get_legend_handles_labels(), title=card.get("rate_param", "lambda"), loc="upper center",
                   bbox_to_anchor=(0.5, 0.0), ncol=min(len(lc), 4), frameon=False)
    if ax_rd is not None:
        ax_rd.set(xlabel="bpp", ylabel="PSNR (dB)")
    return lc
