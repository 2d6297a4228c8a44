"""The chapter object every chapter starts with: profile, threads, device, plot style (:func:`setup`).

Part of :mod:`neurcomp.book` (see there for units and conventions).
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from .. import __version__, data, plotting
from ..train import pick_device

#: the compute profiles a chapter can run in
PROFILES = ("quick", "full")


@dataclass
class Chapter:
    """What :func:`setup` returns: the chapter's profile, device and start time.

    Attributes
    ----------
    profile : str
        ``"quick"`` (CPU-sized runs, minutes) or ``"full"`` (paper-sized runs, hours).
    device : torch.device
        Where the chapter's own training / optimization runs (the codec always runs on the CPU).
    data_dir : pathlib.Path
        The data folder (``$NEURCOMP_DATA``, or ``~/.cache/neurcomp``).
    t_start : float
        ``time.perf_counter()`` at setup, in seconds.

    Examples
    --------
    >>> ch = Chapter("full", torch.device("cpu"), Path("."), time.perf_counter())
    >>> ch.quick, ch.pick(quick=128, full=None)
    (False, None)
    """

    profile: str
    device: torch.device
    data_dir: Path
    t_start: float = field(default_factory=time.perf_counter)
    #: figures shown so far that are not legible in the text column (:func:`neurcomp.plotting.legibility`)
    figure_problems: list = field(default_factory=list)

    @property
    def quick(self) -> bool:
        """True in the ``quick`` profile."""
        return self.profile == "quick"

    def pick(self, quick: Any, full: Any) -> Any:
        """``quick`` in the quick profile, else ``full`` (e.g. a number of steps or images).

        Examples
        --------
        >>> Chapter("quick", torch.device("cpu"), Path(".")).pick(300, 2000)
        300
        """
        return quick if self.quick else full

    def elapsed(self) -> float:
        """Seconds since :func:`setup`.

        Examples
        --------
        >>> Chapter("quick", torch.device("cpu"), Path(".")).elapsed() >= 0
        True
        """
        return time.perf_counter() - self.t_start

    def done(self) -> str:
        """The chapter's last line: its run time in seconds and the profile (printed and returned).

        Raises
        ------
        AssertionError
            When a figure of the chapter was not legible in the text column: drawn wider than
            :data:`neurcomp.plotting.COLUMN_WIDTH_IN` or with text under :data:`neurcomp.plotting.MIN_FONT_PT`
            (checked as each figure is shown, in a Jupyter kernel; the build and nbval then fail here).

        Examples
        --------
        >>> line = Chapter("quick", torch.device("cpu"), Path(".")).done()  # doctest: +ELLIPSIS
        chapter run time: ... s (profile quick)
        """
        line = f"chapter run time: {self.elapsed():.0f} s (profile {self.profile})"
        print(line)
        assert not self.figure_problems, ("figures not legible in the text column:\n  "
                                          + "\n  ".join(self.figure_problems))
        return ShownText(line)  # printed once: as a cell's last value it is not shown again


class ShownText(str):
    """A string that was already shown: as a cell's last value it does not display a second time."""

    def _ipython_display_(self) -> None:
        pass


def _inline_figures() -> None:
    """``%matplotlib inline`` when running in a Jupyter kernel (nothing elsewhere)."""
    try:
        from IPython import get_ipython  # IPython: present only in a kernel
    except ImportError:
        return
    ip = get_ipython()
    if ip is not None and type(ip).__name__ == "ZMQInteractiveShell":
        ip.run_line_magic("matplotlib", "inline")


def _check_figures(ch: Chapter) -> None:
    """In a Jupyter kernel: check every figure as it is shown (:func:`neurcomp.plotting.legibility`) and
    note the problems, with the cell's number, in ``ch.figure_problems``; the figure is shown as before."""
    try:
        from IPython import get_ipython  # IPython: present only in a kernel
        from matplotlib.figure import Figure  # matplotlib: heavy, needed only to draw
    except ImportError:
        return
    ip = get_ipython()
    if ip is None or type(ip).__name__ != "ZMQInteractiveShell":
        return
    formatter = ip.display_formatter.formatters["image/png"]
    try:
        show_png = formatter.lookup_by_type(Figure)
    except KeyError:
        return
    show_png = getattr(show_png, "shows_png", show_png)  # a chapter set up twice checks once

    shown = [0]  # figures shown so far (a count: the figures themselves are closed after showing)

    def checked_png(fig, *args, **kwargs):
        shown[0] += 1
        titles = "; ".join(t for t in [fig._suptitle.get_text() if fig._suptitle else ""]
                           + [ax.get_title() or ax.get_ylabel() for ax in fig.axes[:2]] if t)
        png = show_png(fig, *args, **kwargs)  # drawn first: the automatic layout has placed everything
        for problem in plotting.legibility(fig):
            ch.figure_problems.append(f"figure {shown[0]} of the chapter ({titles or 'untitled'}): {problem}")
        return png

    checked_png.shows_png = show_png
    formatter.for_type(Figure, checked_png)


def shown_path(path) -> str:
    """A folder as a reader may see it on a page: ``$NEURCOMP_DATA`` or ``$NEURCOMP_RESULTS`` (and below) when
    the environment names it, relative to the repository for a folder in it, ``~/...`` under the home
    folder; never the build machine's absolute path.

    Examples
    --------
    >>> shown_path(Path.home() / ".cache" / "neurcomp")
    '~/.cache/neurcomp'
    """
    path = Path(path).resolve()
    for var in ("NEURCOMP_DATA", "NEURCOMP_RESULTS"):
        if os.environ.get(var):
            base = Path(os.environ[var]).resolve()
            if path == base or base in path.parents:
                return "/".join([f"${var}", *path.relative_to(base).parts])
    for base, shown in ((Path(__file__).resolve().parents[2], ""), (Path.home().resolve(), "~")):
        if path == base or base in path.parents:
            return "/".join([p for p in (shown, *path.relative_to(base).parts) if p]) or "."
    return path.name


def setup(profile: str | None = None, threads: int | None = None, device: str = "cpu", style: bool = True,
          banner: bool = True) -> Chapter:
    """Set a chapter up: check the profile, set threads and device, apply the plot style.

    Parameters
    ----------
    profile : str, optional
        ``"quick"`` or ``"full"``. A chapter passes ``os.environ.get("NEURCOMP_PROFILE", "quick")``
        so that the reader sees where it comes from; ``None`` reads that variable here.
    threads : int, optional
        torch's intra-op thread count. Default: 1 in the quick profile (its tensors are small,
        and on a shared CPU more threads were several times slower), torch's own choice in full.
    device : {"cpu", "auto", "full"}
        ``"auto"``: a GPU (CUDA or MPS) when there is one, else the CPU; ``"full"``: the same in
        the full profile, the CPU in the quick one; ``"cpu"``: always the CPU.
    style : bool
        In a Jupyter kernel, show figures inline (``%matplotlib inline``, which also wins over an
        ``MPLBACKEND=Agg`` set by CI); then apply :func:`neurcomp.plotting.set_style`, and lay every
        figure out automatically (``figure.autolayout``, as ``fig.tight_layout()`` does). Every figure
        shown is checked for the text column (:meth:`Chapter.done` fails on one that is not legible).
    banner : bool
        Print one line: package version, profile, device, data folder, torch version.

    Returns
    -------
    Chapter
        Profile, device, data folder and start time of the chapter.

    Raises
    ------
    ValueError
        For a profile other than ``"quick"`` / ``"full"`` or an unknown ``device``.

    Examples
    --------
    >>> ch = setup("quick", device="full", banner=False)
    >>> ch.device.type, torch.get_num_threads()
    ('cpu', 1)
    >>> setup("fast")
    Traceback (most recent call last):
    ...
    ValueError: NEURCOMP_PROFILE must be 'quick' or 'full', got 'fast'
    """
    if profile is None:
        profile = os.environ.get("NEURCOMP_PROFILE", "quick")
    if profile not in PROFILES:
        raise ValueError(f"NEURCOMP_PROFILE must be 'quick' or 'full', got {profile!r}")
    if device not in ("cpu", "auto", "full"):
        raise ValueError(f"device must be 'cpu', 'auto' or 'full', got {device!r}")
    if threads is None and profile == "quick":
        threads = 1
    if threads:
        torch.set_num_threads(int(threads))

    dev = pick_device() if device == "auto" or (device == "full" and profile == "full") else torch.device("cpu")
    if style:
        _inline_figures()  # first: the inline backend resets some of the style
        plotting.set_style()
        import matplotlib as mpl  # matplotlib: heavy, needed only to draw

        mpl.rcParams["figure.autolayout"] = True  # every figure is laid out as by fig.tight_layout()
    ch = Chapter(profile, dev, data.data_dir())
    if style:
        _check_figures(ch)
    if banner:
        print(f"neurcomp {__version__} | profile: {profile} | device: {dev} | data: {shown_path(ch.data_dir)} "
              f"| torch {torch.__version__}")
    return ch
