"""Widget explorers that work without a kernel: pre-rendered pages behind a slider.

Part of :mod:`neurcomp.book` (see there for units and conventions).
"""
from __future__ import annotations

import io
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import torch

from .. import data


def png(image, crop: tuple[int, int, int, int] | None = None) -> bytes:
    """PNG bytes of an image, or of a crop of it.

    Parameters
    ----------
    image : numpy.ndarray or torch.Tensor
        uint8 ``[H, W, 3]``, or a float tensor ``[3, H, W]`` in ``[0, 1]``.
    crop : (int, int, int, int), optional
        ``(top, left, height, width)`` in pixels.

    Returns
    -------
    bytes
        A PNG file.

    Examples
    --------
    >>> png(np.zeros((32, 48, 3), np.uint8), crop=(0, 0, 8, 8))[:4]
    b'\\x89PNG'
    """
    from PIL import Image  # Pillow: needed only for this widget's pictures

    arr = data.to_uint8(image) if isinstance(image, torch.Tensor) else np.asarray(image)
    if crop is not None:
        y0, x0, h, w = crop
        arr = arr[y0:y0 + h, x0:x0 + w]
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(arr)).save(buf, format="PNG")
    return buf.getvalue()


def fig_png(fig, dpi: int = 90) -> bytes:
    """PNG bytes of a matplotlib figure, which is then closed (for a widget page).

    Parameters
    ----------
    fig : matplotlib.figure.Figure
    dpi : int
        Resolution, dots per inch.

    Returns
    -------
    bytes
        A PNG file.

    Examples
    --------
    >>> import matplotlib.pyplot as plt
    >>> fig_png(plt.figure(figsize=(1, 1)))[:4]
    b'\\x89PNG'
    """
    import matplotlib.pyplot as plt  # matplotlib: heavy, needed only to draw

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    plt.close(fig)
    return buf.getvalue()


def card(image, text: str = "", crop: tuple[int, int, int, int] | None = None, width: str = "384px"):
    """A widget: an image (or a crop of it) with an HTML caption below.

    Parameters
    ----------
    image : numpy.ndarray, torch.Tensor or bytes
        An image (see :func:`png`) or PNG bytes.
    text : str
        The caption, HTML.
    crop : (int, int, int, int), optional
        ``(top, left, height, width)`` in pixels.
    width : str
        Display width (CSS, e.g. ``"384px"``).

    Returns
    -------
    ipywidgets.VBox

    Examples
    --------
    >>> c = card(np.zeros((16, 16, 3), np.uint8), "<b>black</b>", width="64px")
    >>> type(c).__name__, c.children[1].value
    ('VBox', '<b>black</b>')
    """
    import ipywidgets as widgets  # ipywidgets: optional (the book extra)

    value = image if isinstance(image, bytes) else png(image, crop)
    return widgets.VBox([widgets.Image(value=value, format="png", layout=widgets.Layout(width=width)),
                         widgets.HTML(text)])


def slider(labels: Sequence[str], description: str, stacks, index: int | None = None):
    """A selection slider that turns the pages of one or more ``ipywidgets.Stack`` s.

    The link runs in the browser (``jslink``), so the explorer also works in the static HTML
    book, where no kernel runs.

    Parameters
    ----------
    labels : sequence of str
        One label per page.
    description : str
        The slider's name (e.g. ``"λ"``).
    stacks : ipywidgets.Stack or list of them
        The stacks to link (same number of pages as ``labels``).
    index : int, optional
        The page shown first (default: the middle one).

    Returns
    -------
    ipywidgets.SelectionSlider

    Examples
    --------
    >>> import ipywidgets as widgets
    >>> pages = widgets.Stack([widgets.HTML("a"), widgets.HTML("b")])
    >>> slider(["1", "2"], "x", pages, index=1).value, pages.selected_index
    ('2', 1)
    """
    import ipywidgets as widgets  # ipywidgets: optional (the book extra)

    index = len(labels) // 2 if index is None else index
    s = widgets.SelectionSlider(options=list(labels), index=index, description=description, continuous_update=True)
    for st in stacks if isinstance(stacks, (list, tuple)) else [stacks]:
        st.selected_index = index
        widgets.jslink((s, "index"), (st, "selected_index"))
    return s


def pages(items: Sequence[Any], index: int | None = None):
    """An ``ipywidgets.Stack`` that shows one of ``items`` at a time (turn it with :func:`slider`).

    Parameters
    ----------
    items : sequence
        One widget per page; a list or tuple of widgets is shown as a row (``HBox``).
    index : int, optional
        The page shown first (default: the middle one).

    Returns
    -------
    ipywidgets.Stack

    Examples
    --------
    >>> import ipywidgets as widgets
    >>> st = pages([widgets.HTML("a"), [widgets.HTML("b"), widgets.HTML("c")]])
    >>> st.selected_index, type(st.children[1]).__name__
    (1, 'HBox')
    """
    import ipywidgets as widgets  # ipywidgets: optional (the book extra)

    items = [widgets.HBox(list(w)) if isinstance(w, (list, tuple)) else w for w in items]
    return widgets.Stack(items, selected_index=len(items) // 2 if index is None else index)


def stack(items: Sequence[Any], labels: Sequence[str], description: str, index: int | None = None):
    """Pages of widgets behind a :func:`slider`: ``(slider, stack)``.

    Parameters
    ----------
    items : sequence
        One widget per page (e.g. :func:`card` s); a list or tuple of widgets is shown as a row.
    labels : sequence of str
        One slider label per page.
    description : str
        The slider's name.
    index : int, optional
        The page shown first (default: the middle one).

    Returns
    -------
    tuple
        ``(ipywidgets.SelectionSlider, ipywidgets.Stack)``.

    Examples
    --------
    >>> import ipywidgets as widgets
    >>> s, st = stack([widgets.HTML(str(i)) for i in range(3)], ["a", "b", "c"], "x")
    >>> s.value, st.selected_index
    ('b', 1)
    """
    st = pages(items, index)
    return slider(labels, description, st, index), st


def explorer(*controls, content, left=None) -> None:
    """Show an explorer: its sliders on top, then (an optional fixed widget on the left and) the pages.

    Parameters
    ----------
    *controls : widgets
        The sliders, top to bottom.
    content : widget
        What the sliders turn (a :func:`pages` stack).
    left : widget, optional
        A fixed widget shown left of ``content`` (e.g. the original image).

    Examples
    --------
    >>> import ipywidgets as widgets
    >>> s, st = stack([widgets.HTML("a"), widgets.HTML("b")], ["1", "2"], "x")
    >>> explorer(s, content=st, left=widgets.HTML("original"))  # doctest: +ELLIPSIS
    VBox(children=(SelectionSlider(...), HBox(children=(HTML(value='original'), Stack(...
    """
    import ipywidgets as widgets  # ipywidgets: optional (the book extra)
    from IPython.display import display  # IPython: present only in a kernel

    display(widgets.VBox([*controls, widgets.HBox([left, content]) if left is not None else content]))


def _as_page(item, width: str):
    """A page widget from what a render function returns: a matplotlib figure (rendered to PNG and
    closed), PNG bytes or an image (a :func:`card`), a list of those (a row), or a widget as it is."""
    import matplotlib.figure  # matplotlib: heavy, needed only to draw

    if isinstance(item, (list, tuple)):
        return [_as_page(i, width) for i in item]
    if isinstance(item, matplotlib.figure.Figure):
        return card(fig_png(item), width=width)
    if isinstance(item, (bytes, np.ndarray, torch.Tensor)):
        return card(item, width=width)
    return item


def grid_explorer(render: Callable[..., Any], grid: Mapping[str, Sequence[Any]], index: Mapping[str, int] | None = None,
                  left=None, width: str = "640px", show: bool = True):
    """The book's one pattern for explorers: ``render`` pre-rendered over a grid of one or two
    parameters, behind sliders that are linked in the browser, so the explorer works on the static
    HTML page (no kernel) as well as in a live one.

    Parameters
    ----------
    render : callable
        ``render(**point)`` for every grid point (keyword arguments named like ``grid``'s keys);
        returns a matplotlib figure (rendered to PNG and closed), PNG bytes, an image, a widget
        (e.g. a :func:`card`), or a list of those (shown as a row).
    grid : mapping
        ``{name: values}`` with one or two parameters; the names label the sliders. With two, the
        first slider picks a stack of pages and the second turns the pages inside every stack.
    index : mapping, optional
        ``{name: position}`` of the first page (default: the middle of each parameter).
    left : widget, optional
        A fixed widget left of the pages (e.g. the original image).
    width : str
        CSS width of rendered figures and images.
    show : bool
        Display the explorer (default) and return nothing (so that a cell ending with the call shows
        it once), or return it without displaying it.

    Returns
    -------
    ipywidgets.VBox or None
        With ``show=False``: the sliders, then the pages.

    Examples
    --------
    >>> import ipywidgets as widgets
    >>> ex = grid_explorer(lambda a, b: widgets.HTML(f"{a}{b}"), {"a": [1, 2], "b": "xyz"}, show=False)
    >>> [type(w).__name__ for w in ex.children], ex.children[2].children[1].children[0].value
    (['SelectionSlider', 'SelectionSlider', 'Stack'], '2x')
    """
    import ipywidgets as widgets  # ipywidgets: optional (the book extra)

    names = list(grid)
    if len(names) not in (1, 2):
        raise ValueError(f"grid_explorer takes one or two parameters, got {names}")
    values = [list(grid[n]) for n in names]
    start = [(index or {}).get(n, len(v) // 2) for n, v in zip(names, values)]
    labels = [[f"{v:g}" if isinstance(v, float) else str(v) for v in vs] for vs in values]
    if len(names) == 1:
        sliders_, content = stack([_as_page(render(**{names[0]: v}), width) for v in values[0]], labels[0], names[0],
                                  start[0])
        sliders_ = [sliders_]
    else:
        inner = [pages([_as_page(render(**{names[0]: a, names[1]: b}), width) for b in values[1]], start[1])
                 for a in values[0]]
        inner_slider = slider(labels[1], names[1], inner, start[1])
        outer_slider, content = stack(inner, labels[0], names[0], start[0])
        sliders_ = [outer_slider, inner_slider]
    box = widgets.VBox([*sliders_, widgets.HBox([left, content]) if left is not None else content])
    if not show:
        return box
    from IPython.display import display  # IPython: present only in a kernel

    display(box)
    return None
