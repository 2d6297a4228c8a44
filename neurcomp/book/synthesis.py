"""Chapter 9's glue: every method of every results file on one table, its curves, and a live subset.

Part of :mod:`neurcomp.book` (see there for units and conventions). The benchmark scripts and
``neurcomp eval --json`` write results files (:mod:`neurcomp.results`); this module reads them
without knowing any model or benchmark:

- :func:`load_results` (from :mod:`.benchmarks`) reads every file and checks it against the
  installed weights;
- :func:`method_rows` groups the records of all files by ``(label, group)`` into one :class:`Row`
  per method and set of images, with its anchors (JPEG and the amortized hyperprior on the same
  images), and :func:`summary` makes the chapter's table from them (BD-rates, the ratio of the
  file's rate to the model's ideal rate, encode / decode seconds);
- :func:`live_subset` (from :mod:`.live`) recomputes a few stored numbers with the installed weights.

Rates are bits per pixel of the image coded; the ideal rate is the model's information content,
the negative ELBO net of the bits got back (bits-back), or the KL (REC).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np

from .. import metrics, plotting
from ..published import COMPRESSAI_KODAK, FLAMICH2020_RATIO, YANG2020_BD, YANG2020_KODAK  # noqa: F401 (re-exported)
from ..results import CODECS, Record
from .benchmarks import (BENCHMARKS, ROOT, Benchmark, Result, check, installed_weights,  # noqa: F401 (re-exported)
                         load_results, recompute_all, recorded_weights, results_dir)
from .live import ENCODER_RULE, Check, bits_back_rows, live_subset  # noqa: F401 (re-exported)


@dataclass
class Row:
    """One method on one set of images: its per-image records, the file they come from, and its anchors."""

    label: str
    group: str  # "kodak" (whole images) or "crops NNN"
    source: str  # the results file's name (stem)
    records: list = field(default_factory=list)  # neurcomp.results.Record
    ideal: str = "-"
    anchor: bool = False  # the amortized hyperprior its group is compared with
    jpeg: list | None = None  # JPEG records on the same images (BD-rate anchor)
    amortized: list | None = None  # the anchor's records on the same images

    @property
    def method(self) -> str:
        return self.records[0].method

    @property
    def base(self) -> str:
        return self.records[0].base

    @property
    def images(self) -> set:
        return {r.image for r in self.records}


def _pick_anchor(row: Row, candidates: Mapping[str, list]) -> list | None:
    """The candidate records (by file) that cover the row's images, most images first, then the row's own
    file; restricted to the row's images."""
    imgs = row.images
    covering = [(len({r.image for r in recs}), src == row.source, recs) for src, recs in candidates.items()
                if imgs <= {r.image for r in recs}]
    if not covering:
        return None
    _, _, recs = max(covering, key=lambda t: (t[0], t[1]))
    return [r for r in recs if r.image in imgs]


def _coverage(item) -> tuple:
    recs = item[1]
    points = len({r.model for r in recs})
    return points >= 4, len({r.image for r in recs}), points


def method_rows(results: Mapping[str, Result]) -> list[Row]:
    """Every method of every results file as a :class:`Row`, grouped by ``(label, group)``.

    When two files hold the same row (e.g. SGA at 2000 steps in ``sga.json`` and ``bitsback.json``),
    the one that makes a curve (4 rate points or more, what a BD-rate needs) is kept, then the one with more
    images, then more rate points, else the first file read. Each row gets as anchors the JPEG
    records and the ``role == "anchor"`` records of its group that cover its images (the file with
    the most images, else its own). Kodak rows come first, then crop groups by size; in a group the
    anchor first and the classical codecs last.
    """
    by_file: dict[tuple, dict[str, list]] = {}
    for name, res in results.items():
        for r in res.records or ():
            by_file.setdefault((r.label, r.group), {}).setdefault(name, []).append(r)
    rows = []
    for (label, group), files in by_file.items():
        name, recs = max(files.items(), key=_coverage)  # ties: the first file
        rows.append(Row(label, group, name, recs, ideal=recs[0].ideal or "-",
                        anchor=any(r.role == "anchor" for r in recs)))
    for row in rows:
        jpeg = {r.source: r.records for r in rows if r.group == row.group and r.method == "jpeg"}
        anchors = {r.source: r.records for r in rows if r.group == row.group and r.anchor}
        if row.method != "jpeg":
            row.jpeg = _pick_anchor(row, jpeg)
        row.amortized = _pick_anchor(row, anchors)

    def order(row: Row):
        size = 0 if row.group == "kodak" else int("".join(c for c in row.group if c.isdigit()) or 10 ** 6)
        return size, row.group, 0 if row.anchor else 2 if row.method in CODECS else 1

    return sorted(rows, key=order)  # stable: file order within a rank


def curve(records: Sequence[Record]) -> dict[str, np.ndarray]:
    """The mean R-D curve of per-image records, one point per rate point (``model``):
    ``{"bpp", "psnr", "ms_ssim_db"}`` (NaN where a record has no MS-SSIM).

    Examples
    --------
    >>> rec = lambda image, model, bpp, psnr: Record("x", "kodak", image, model, "m", None, "amortized", bpp, psnr)
    >>> c = curve([rec("a", "m@1", 0.5, 30.0), rec("b", "m@1", 0.7, 32.0), rec("a", "m@2", 0.2, 27.0)])
    >>> c["bpp"].tolist(), c["psnr"].tolist()
    ([0.2, 0.6], [27.0, 31.0])
    """
    pts: dict[Any, list] = {}
    for r in records:
        pts.setdefault(r.model, []).append(r)
    rows = []
    for rs in pts.values():
        ms = [r.ms_ssim for r in rs]
        rows.append((np.mean([r.bpp for r in rs]), np.mean([r.psnr for r in rs]),
                     np.nan if any(m is None for m in ms) else float(np.mean(metrics.ms_ssim_db(np.array(ms))))))
    rows.sort()
    a = np.array(rows, dtype=float).reshape(-1, 3)
    return {"bpp": a[:, 0], "psnr": a[:, 1], "ms_ssim_db": a[:, 2]}


def bd(anchor: Sequence[Record] | None, test: Sequence[Record], metric: str = "psnr") -> float | None:
    """BD-rate (%) of ``test`` against ``anchor`` records (mean curves), or None where it is undefined.

    Undefined: no anchor, fewer than 4 rate points on either side, or no overlap in quality.
    """
    if not anchor:
        return None
    a, t = curve(anchor), curve(test)
    if metric != "psnr" and (np.isnan(a[metric]).any() or np.isnan(t[metric]).any()):
        return None
    try:
        return float(metrics.bd_rate(a["bpp"], a[metric], t["bpp"], t[metric]))
    except ValueError:
        return None


def published_records(name: str) -> list[Record]:
    """A published Kodak curve of CompressAI's (:data:`COMPRESSAI_KODAK`) as mean records, one per rate point."""
    b, p = COMPRESSAI_KODAK[name]
    return [Record(f"{name} (published)", "kodak", "mean", f"{name}@{i + 1}", name, i + 1, "amortized", bi, pi)
            for i, (bi, pi) in enumerate(zip(b, p))]


def summary(rows: Sequence[Row], results: Mapping[str, Result] | None = None) -> list[dict]:
    """One dict per row: ``method, images, points, bd_jpeg, bd_amortized, bd_jpeg_msssim, ratio, ideal,
    enc_s, dec_s, source, flag, group`` (BD-rates in %, ``ratio`` = total file bits / total ideal bits,
    seconds per image; ``flag`` marks rows from a file that is not current for the installed weights)."""
    out = []
    for r in rows:
        recs = r.records
        ideal = [x.ideal_bpp for x in recs]
        ratio = None if any(v is None for v in ideal) else sum(x.bpp for x in recs) / sum(ideal)
        enc = [x.enc_s for x in recs if x.enc_s is not None]
        dec = [x.dec_s for x in recs if x.dec_s is not None]
        size = ("Kodak" if r.group == "kodak" else r.group.replace("crops ", "") + " px crops"
                if r.group.startswith("crops ") else r.group)
        res = (results or {}).get(r.source)
        out.append({"method": r.label, "images": f"{len(r.images)} {size}", "points": len({x.model for x in recs}),
                    "bd_jpeg": bd(r.jpeg, recs), "bd_jpeg_msssim": bd(r.jpeg, recs, "ms_ssim_db"),
                    "bd_amortized": "anchor" if r.anchor else bd(r.amortized, recs),
                    "ratio": ratio, "ideal": r.ideal if ratio is not None else "-",
                    "enc_s": float(np.mean(enc)) if enc else None, "dec_s": float(np.mean(dec)) if dec else None,
                    "source": f"{r.source}.json", "flag": "" if res is None or res.ok else res.status,
                    "group": r.group})
    return out


def style(row: Row) -> dict:
    """The row's plot style: :data:`neurcomp.plotting.CODEC_STYLE` of its method, else of its network
    (dotted for the methods a chapter calls ablations or baselines of REC)."""
    st = plotting.style_for(row.method if row.method in plotting.CODEC_STYLE and row.method != "amortized" else row.base)
    if row.method in ("seed", "bitsback_no_iter"):
        st["linestyle"] = ":"
    return st


def distinct_styles(rows: Sequence[Row]) -> list[dict]:
    """:func:`style` of each row, made distinct within ``rows`` (one panel's curves): a row whose colour and
    marker an earlier row already has (SGA at 500 and at 2000 steps, two VQ networks) is drawn dashed with
    open markers, a third dotted, and so on, so that no two curves of a panel look the same.

    Examples
    --------
    >>> rec = lambda steps: Record("SGA", "crops 128", "kodim01", "mshp@0.0067", "mshp", 0.0067, "sga", 0.5, 30.0,
    ...                            steps=steps)
    >>> a, b = distinct_styles([Row("SGA, 500 steps", "crops 128", "sga", [rec(500)]),
    ...                         Row("SGA, 2000 steps", "crops 128", "sga", [rec(2000)])])
    >>> a["color"] == b["color"], a.get("linestyle", "-"), b["linestyle"], b["markerfacecolor"]
    (True, '-', '--', 'none')
    """
    dashes = ["-", "--", ":", "-."]
    seen: dict[tuple, int] = {}
    out = []
    for r in rows:
        st = dict(style(r))
        key = (st.get("color"), st.get("marker"))
        k = seen.get(key, 0)
        seen[key] = k + 1
        if k:
            st["linestyle"] = dashes[k % len(dashes)]
            st["markerfacecolor"] = "none"
        out.append(st)
    return out


def fmt_pct(v: float | None) -> str:
    """``-12.3 %`` or ``n/a``."""
    return "n/a" if v is None else f"{v:+.1f} %"


def fmt_num(v: float | None, spec: str = ".3f") -> str:
    return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else format(v, spec)
