"""Chapter 9's glue: the benchmark JSONs, their provenance, every method on one table, and a live subset.

Part of :mod:`neurcomp.book` (see there for units and conventions). The benchmark scripts in
``benchmarks/`` write JSON files into ``benchmarks/results/``; :data:`BENCHMARKS` lists each
one with the command that regenerates it and the shipped networks whose weights it depends on
(``benchmarks/all.py`` runs them in this order). This module reads those files generically:

- :func:`load_results` reads every file and compares the weights fingerprints it recorded
  (the first 16 hex digits of the weights' sha256) with the installed networks': ``current``,
  ``stale`` (recorded for other weights), ``unrecorded`` (an older file that did not record them),
  ``not installed`` (a network it needs is not shipped here) or ``missing``;
- :func:`method_records` turns every file's per-image records into one format, and :func:`summary`
  makes the chapter's table from them (BD-rate against JPEG and against our amortized hyperprior on
  the *same images*, the ratio of the file's rate to the model's ideal rate, encode / decode seconds);
- :func:`live_subset` recomputes a few of the stored per-image numbers with the installed weights
  and compares them within stated tolerances.

Rates are bits per pixel of the image coded; the ideal rate is the model's information content
(``est_bpp``), the negative ELBO net of the bits got back (bits-back), or the KL (REC).
"""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import constriction
import numpy as np
import torch

from .. import data, metrics, zoo
from ..container import SIDE_INFO_METHODS
from ..data import kodak
from ..evaluate import centre_crop, evaluate_model
from ..inference import optimize_latents
from ..inference.iterative import amortized_latents
from ..models.bitsback import side_info_words
from ..published import COMPRESSAI_KODAK, FLAMICH2020_RATIO, YANG2020_BD, YANG2020_KODAK  # noqa: F401 (defined there, re-exported here)
from ..zoo import load_pretrained
from .chapter import shown_path

#: the repository root (``benchmarks/`` lives there in a checkout)
ROOT = Path(__file__).resolve().parents[2]


def results_dir() -> Path:
    """The folder with the benchmark JSONs: ``$NEURCOMP_RESULTS``, else ``benchmarks/results`` of the checkout.

    Examples
    --------
    >>> results_dir().name
    'results'
    """
    env = os.environ.get("NEURCOMP_RESULTS")
    return Path(env) if env else ROOT / "benchmarks" / "results"


@dataclass(frozen=True)
class Benchmark:
    """One benchmark script run and the JSON it writes.

    Attributes
    ----------
    name : str
        Short name (``--only NAME`` of ``benchmarks/all.py``); the JSON is ``NAME.json``.
    script : str
        The script in ``benchmarks/``.
    args : tuple of str
        Its arguments (without ``--json``).
    weights : tuple of str
        The shipped networks (bases) whose weights the results depend on.
    minutes : float
        Expected wall time on 2 CPU cores, minutes (measured on this machine's runs).
    what : str
        What the chapter reads from it.
    needs : str
        Something the run needs besides the package ("" if nothing).
    """

    name: str
    script: str
    args: tuple
    weights: tuple
    minutes: float
    what: str
    needs: str = ""

    @property
    def json(self) -> str:
        return f"{self.name}.json"

    def command(self, out_dir: str | os.PathLike | None = None) -> list[str]:
        """The command line, run from the repository root (``--json`` into ``out_dir`` or the results folder).

        Examples
        --------
        >>> BENCHMARKS["vq"].command()[:3]
        ['python', 'benchmarks/vq.py', '--images']
        """
        out = Path(out_dir) / self.json if out_dir else Path("benchmarks") / "results" / self.json
        return ["python", f"benchmarks/{self.script}", *self.args, "--json", str(out)]

    def command_line(self) -> str:
        return " ".join(self.command())


_LAMBDAS = ("0.0018", "0.0067", "0.013", "0.0483")

#: every benchmark chapter 9 reads, in the order ``benchmarks/all.py`` runs them (cheap ones first)
BENCHMARKS: dict[str, Benchmark] = {b.name: b for b in [
    Benchmark("baselines", "baselines.py", ("--images", "4"), (), 1,
              "JPEG, WebP, JPEG 2000 and AVIF (Pillow) on the first 4 Kodak images"),
    Benchmark("vq", "vq.py", ("--images", "6", "--crop", "256"), ("vq", "vq_alpha0"), 1,
              "the soft VQ autoencoder and its alpha = 0 ablation, 6 centre crops of 256 px"),
    Benchmark("dvae", "dvae.py", ("--images", "6"), ("dvae", "hdvae"), 4,
              "the discretized VAEs (one level, hierarchical), 6 Kodak images"),
    Benchmark("rec_betas", "rec.py", ("--images", "2", "--methods", "seed", "orc-hint"), ("pln",), 10,
              "the PLN with REC at every beta, 2 Kodak images: the R-D curve"),
    Benchmark("codec", "codec.py", ("--images", "24", "--models", "fp", "mshp"), ("fp", "mshp"), 20,
              "the factorized prior and the hyperprior (amortized), JPEG and WebP, all 24 Kodak images"),
    Benchmark("rec", "rec.py", ("--images", "24", "--betas", "2", "--methods", "seed", "orc-hint"), ("pln",), 16,
              "the PLN with REC at the middle beta, all 24 Kodak images: actual rate / KL"),
    Benchmark("codec_compressai", "codec.py", ("--images", "4", "--models", "mshp", "--compressai-only",
                                               "--repeat", "3"), ("mshp",), 3,
              "our codec's speed against CompressAI's on the same architecture",
              needs="benchmarks/.venv-compressai (bash benchmarks/setup_compressai.sh)"),
    Benchmark("sga", "sga.py", ("--images", "4", "--crop", "128", "--steps", "500", "--sga-steps", "2000",
                                "--lambdas", *_LAMBDAS), ("mshp",), 60,
              "amortized vs SGA and its ablations (MAP, STE, uniform noise, det. annealing), 4 crops of 128 px"),
    Benchmark("bitsback", "bitsback.py", ("--images", "4", "--crop", "128", "--steps", "2000",
                                          "--lambdas", *_LAMBDAS), ("mshp", "bitsback"), 150,
              "amortized, SGA, SGA + bits-back and its ablations, 4 crops of 128 px; the archive curve"),
]}


def installed_weights(bases: Iterable[str] | None = None) -> dict[str, str | None]:
    """``{base: first 16 hex digits of its sha256}`` of the installed networks (None if not installed).

    Examples
    --------
    >>> w = installed_weights(["mshp", "no_such_net"])
    >>> len(w["mshp"]), w["no_such_net"]
    (16, None)
    """
    found = {e["base"]: e["sha256"][:16] for e in zoo.list_models()}
    return {b: found.get(b) for b in (found if bases is None else bases)}


def recorded_weights(d: Mapping[str, Any]) -> dict[str, str] | None:
    """The weights fingerprints a result file recorded, ``{base: 16 hex digits}``, or None.

    Reads ``provenance.weights`` (written by ``benchmarks/all.py``), else the fields some scripts
    write themselves: ``models.<base>.sha256`` (codec.py) or ``weights.<name@value>`` (bitsback.py).

    Examples
    --------
    >>> recorded_weights({"weights": {"mshp@0.0018": "82596837f06dc68f"}})
    {'mshp': '82596837f06dc68f'}
    >>> recorded_weights({"table": []}) is None
    True
    """
    prov = d.get("provenance") or {}
    if prov.get("weights") is not None:
        return {b: (v or "")[:16] or None for b, v in prov["weights"].items()}
    if isinstance(d.get("models"), Mapping):
        return {b: m.get("sha256", "")[:16] for b, m in d["models"].items()}
    if isinstance(d.get("weights"), Mapping):
        return {n.split("@")[0]: v[:16] for n, v in d["weights"].items()}
    return None


@dataclass
class Result:
    """One benchmark JSON as read by :func:`load_results`."""

    spec: Benchmark
    path: Path
    data: dict | None
    status: str  # current | stale | unrecorded | not installed | missing
    detail: str = ""
    verified: bool | None = None  # set by the chapter when the live subset reproduced its numbers

    @property
    def ok(self) -> bool:
        return self.status == "current" or (self.status == "unrecorded" and bool(self.verified))

    @property
    def command(self) -> str:
        """The recorded command, else the registry's (marked ``(registry)``)."""
        prov = (self.data or {}).get("provenance") or {}
        if prov.get("command"):  # absolute paths of the machine that ran it shown as a reader's paths
            return " ".join(shown_path(w) if w.startswith("/") else w for w in prov["command"].split())
        if (self.data or {}).get("command"):
            return "python " + self.data["command"]
        return self.spec.command_line() + "  (registry)"


def check(spec: Benchmark, d: Mapping[str, Any] | None, installed: Mapping[str, str | None] | None = None):
    """``(status, detail)`` of a result file against the installed weights (see the module docstring).

    Examples
    --------
    >>> spec = BENCHMARKS["codec"]
    >>> check(spec, None)[0]
    'missing'
    >>> check(spec, {"models": {"fp": {"sha256": "0" * 64}, "mshp": {"sha256": "1" * 64}}},
    ...       {"fp": "0" * 16, "mshp": "2" * 16})
    ('stale', 'mshp: recorded 1111111111111111, installed 2222222222222222')
    """
    if d is None:
        return "missing", "no file"
    installed = installed_weights(spec.weights) if installed is None else installed
    absent = [b for b in spec.weights if not installed.get(b)]
    rec = recorded_weights(d)
    if absent:
        return "not installed", f"{', '.join(absent)} not installed" + (
            f" (recorded {', '.join(f'{b} {rec.get(b)}' for b in absent if rec and rec.get(b))})" if rec else "")
    if not spec.weights:
        return "current", "no network weights involved"
    if rec is None:
        return "unrecorded", "the file does not record the weights it used"
    diff = [f"{b}: recorded {rec.get(b)}, installed {installed[b]}" for b in spec.weights if rec.get(b) != installed[b]]
    if diff:
        return "stale", "; ".join(diff)
    return "current", ", ".join(f"{b} {installed[b]}" for b in spec.weights)


def load_results(folder: str | os.PathLike | None = None, names: Sequence[str] | None = None) -> dict[str, Result]:
    """Read the benchmark JSONs and check each against the installed weights.

    Parameters
    ----------
    folder : path, optional
        Where the JSONs are (default :func:`results_dir`).
    names : sequence of str, optional
        Which benchmarks (default all of :data:`BENCHMARKS`).

    Returns
    -------
    dict
        ``{name: Result}``.
    """
    folder = Path(folder) if folder else results_dir()
    out = {}
    installed = installed_weights()
    for name in names or BENCHMARKS:
        spec = BENCHMARKS[name]
        path = folder / spec.json
        d = json.loads(path.read_text()) if path.is_file() else None
        status, detail = check(spec, d, {b: installed.get(b) for b in spec.weights})
        out[name] = Result(spec, path, d, status, detail)
    return out


# ----------------------------------------------------------------------------- one record format



@dataclass
class Row:
    """One method of the chapter's table: its per-image records and where they come from."""

    label: str
    group: str  # "kodak" (whole images) or "crops NNN"
    source: str  # benchmark name
    records: list = field(default_factory=list)
    ideal: str = "information content"
    jpeg: list | None = None  # JPEG records on the same images (BD-rate anchor)
    amortized: list | None = None  # our amortized hyperprior on the same images (BD-rate anchor)
    note: str = ""


def _rec(image, point, bpp, psnr, ideal=None, ms_ssim=None, enc_s=None, dec_s=None, pixels=None):
    ms_db = None if ms_ssim is None else float(metrics.ms_ssim_db(ms_ssim))
    return {"image": image, "point": point, "bpp": float(bpp), "psnr": float(psnr),
            "ideal": None if ideal is None else float(ideal), "ms_ssim_db": ms_db,
            "enc_s": enc_s, "dec_s": dec_s, "pixels": pixels}


def _codec_like(recs, point="model"):
    return [_rec(r["image"], r[point], r["bpp"], r["psnr"], r.get("est_bpp"), r.get("ms_ssim"), r.get("enc_s"),
                 r.get("dec_s"), r.get("height", 0) * r.get("width", 0) or None) for r in recs]


def method_rows(results: Mapping[str, Result]) -> list[Row]:
    """Every method of every result file as a :class:`Row` (records in one format, with their anchors).

    Rows are made from whatever the files hold: a network, method or codec that is not in a file
    has no row. Whole-image rows get JPEG (``codec.json``'s per-image JPEG records) and our amortized
    hyperprior (``codec.json``'s ``mshp`` records) on the same images as anchors; crop rows get the
    amortized rows of their own file (JPEG's header alone is about 0.3 bpp on a 128 px crop, so no
    JPEG anchor there).
    """
    rows: list[Row] = []
    d = {n: r.data for n, r in results.items() if r.data is not None}
    jpeg_all, mshp_all = [], []
    if "codec" in d:
        c = d["codec"]
        jpeg_all = [_rec(r["image"], r["quality"], r["bpp"], r["psnr"], None, r.get("ms_ssim"), r.get("enc_s"),
                         r.get("dec_s")) for r in c.get("baseline_records", []) if r["codec"] == "jpeg"]
        for base, m in c.get("models", {}).items():
            recs = _codec_like([r for r in c["records"] if r["base"] == base])
            label = {"factorized": "factorized prior", "hyperprior": "hyperprior"}.get(m["kind"], base)
            rows.append(Row(f"{label} ({base}), amortized", "kodak", "codec", recs,
                            note="anchor" if base == "mshp" else ""))
            if base == "mshp":
                mshp_all = recs
        for codec, name in (("jpeg", "JPEG"), ("webp", "WebP")):
            recs = [_rec(r["image"], r["quality"], r["bpp"], r["psnr"], None, r.get("ms_ssim"), r.get("enc_s"),
                         r.get("dec_s")) for r in c.get("baseline_records", []) if r["codec"] == codec]
            if recs:
                rows.append(Row(name, "kodak", "codec", recs, ideal="-"))
    if "baselines" in d:
        names = {"jpeg2000": "JPEG 2000", "avif": "AVIF"}
        for codec, name in names.items():
            recs = [_rec(r["image"], r["quality"], r["bpp"], r["psnr"], None, r.get("ms_ssim"), r.get("enc_s"),
                         r.get("dec_s")) for r in d["baselines"]["records"] if r["codec"] == codec]
            if recs:
                rows.append(Row(name, "kodak", "baselines", recs, ideal="-"))
    if "dvae" in d:
        labels = {"dvae": "discretized VAE", "hdvae": "hierarchical discretized VAE"}
        for base in dict.fromkeys(r["base"] for r in d["dvae"]["records"]):
            recs = _codec_like([r for r in d["dvae"]["records"] if r["base"] == base])
            rows.append(Row(f"{labels.get(base, base)} ({base})", "kodak", "dvae", recs))
    if "rec_betas" in d:
        labels = {"seed": "PLN + REC, Flamich et al.'s coder", "orc-hint": "PLN + REC, ours (orc-hint)",
                  "orc": "PLN + REC, ordered random coding"}
        for m in dict.fromkeys(r["method"] for r in d["rec_betas"]["records"]):
            recs = [_rec(r["image"], r["beta"], r["bpp"], r["psnr_rec"], r["kl_bpp"], None, r["enc_s"], r["dec_s"],
                         r["height"] * r["width"]) for r in d["rec_betas"]["records"] if r["method"] == m]
            rows.append(Row(labels.get(m, f"PLN + REC ({m})"), "kodak", "rec_betas", recs, ideal="KL"))
    if "vq" in d:
        crop = (d["vq"].get("args") or {}).get("crop")
        for model in dict.fromkeys(r["model"] for r in d["vq"]["records"]):
            recs = [_rec(r["image"], model, r["bpp"], r["psnr"], r.get("est_bpp"), r.get("ms_ssim"), r.get("enc_s"),
                         r.get("dec_s"), (crop or 0) ** 2 or None) for r in d["vq"]["records"] if r["model"] == model]
            label = "soft VQ autoencoder" if model == "vq" else f"VQ autoencoder, {model.replace('vq_', '')}"
            rows.append(Row(f"{label} ({model})", f"crops {crop}", "vq", recs, note="one rate point"))
    sga_labels = {"sga": "SGA", "map": "MAP [A1]", "ste": "STE [A2]", "uniform_noise": "uniform noise [A3]",
                  "det_annealing": "det. annealing [A4]"}
    if "sga" in d:
        a = d["sga"]["args"]
        recs = d["sga"]["records"]
        amort = [_rec(r["image"], r["lambda"], r["bpp"], r["psnr"], r["est_bpp"], None, r["seconds"], None,
                      a["crop"] ** 2) for r in recs if r["method"] == "amortized"]
        rows.append(Row("hyperprior (mshp), amortized", f"crops {a['crop']}", "sga", amort, amortized=amort,
                        note="anchor"))
        for m, s in dict.fromkeys((r["method"], r["steps"]) for r in recs if r["method"] != "amortized"):
            rs = [_rec(r["image"], r["lambda"], r["bpp"], r["psnr"], r["est_bpp"], None, r["seconds"], None,
                       a["crop"] ** 2) for r in recs if (r["method"], r["steps"]) == (m, s)]
            rows.append(Row(f"hyperprior + {sga_labels.get(m, m)}, {s} steps", f"crops {a['crop']}", "sga", rs,
                            amortized=amort))
    if "bitsback" in d:
        a = d["bitsback"]["args"]
        recs = d["bitsback"]["records"]
        amort = [_rec(r["image"], r["lambda"], r["net_bpp"], r["psnr"], r["est_bpp"], None, r["seconds"], None,
                      a["crop"] ** 2) for r in recs if r["method"] == "amortized"]
        bb_labels = {"sga": "SGA", "bitsback": "SGA + bits-back [M2]", "bitsback_no_sga": "bits-back, no SGA [A5]",
                     "bitsback_no_iter": "bits-back, no iteration [A6]"}
        sga_steps = {r["steps"] for r in (d.get("sga") or {}).get("records", []) if r["method"] == "sga"}
        for m in dict.fromkeys(r["method"] for r in recs):
            if m == "amortized" or (m == "sga" and a["steps"] in sga_steps):
                continue  # the anchor only / the same run as a row of sga.json
            rs = [_rec(r["image"], r["lambda"], r["net_bpp"], r["psnr"], r["est_bpp"], None, r["seconds"],
                       r.get("dec_s"), a["crop"] ** 2) for r in recs if r["method"] == m]
            net = "hyperprior + " if m == "sga" else "bits-back hyperprior, "
            label = f"{net}{bb_labels.get(m, m)}" + ("" if m == "bitsback_no_iter" else f", {a['steps']} steps")
            rows.append(Row(label, f"crops {a['crop']}", "bitsback", rs, amortized=amort,
                            ideal="NELBO" if m in SIDE_INFO_METHODS else "information content"))
    for row in rows:
        if row.group == "kodak":
            imgs = {r["image"] for r in row.records}
            row.jpeg = [r for r in jpeg_all if r["image"] in imgs] or None
            row.amortized = [r for r in mshp_all if r["image"] in imgs] or None
            if row.jpeg is not None and {r["image"] for r in row.jpeg} != imgs:
                row.jpeg = None
            if row.amortized is not None and {r["image"] for r in row.amortized} != imgs:
                row.amortized = None
    return rows


def curve(records: Sequence[Mapping[str, Any]]) -> dict[str, np.ndarray]:
    """The mean R-D curve of per-image records, one point per ``point``: ``{"bpp", "psnr", "ms_ssim_db"}``.

    Examples
    --------
    >>> c = curve([_rec("a", 1, 0.5, 30.0), _rec("b", 1, 0.7, 32.0), _rec("a", 2, 0.2, 27.0)])
    >>> c["bpp"].tolist(), c["psnr"].tolist()
    ([0.2, 0.6], [27.0, 31.0])
    """
    pts: dict[Any, list] = {}
    for r in records:
        pts.setdefault(r["point"], []).append(r)
    rows = []
    for rs in pts.values():
        ms = [r["ms_ssim_db"] for r in rs]
        rows.append((np.mean([r["bpp"] for r in rs]), np.mean([r["psnr"] for r in rs]),
                     np.nan if any(m is None for m in ms) else float(np.mean(ms))))
    rows.sort()
    a = np.array(rows, dtype=float).reshape(-1, 3)
    return {"bpp": a[:, 0], "psnr": a[:, 1], "ms_ssim_db": a[:, 2]}


def bd(anchor: Sequence[Mapping] | None, test: Sequence[Mapping], metric: str = "psnr") -> float | None:
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


def summary(rows: Sequence[Row], results: Mapping[str, Result] | None = None) -> list[dict]:
    """One dict per row: ``method, images, points, bd_jpeg, bd_amortized, bd_jpeg_msssim, ratio, ideal,
    enc_s, dec_s, source, flag`` (BD-rates in %, ``ratio`` = total file bits / total ideal bits,
    seconds per image; ``flag`` marks rows from a file that is not current for the installed weights)."""
    out = []
    for r in rows:
        recs = r.records
        imgs = sorted({x["image"] for x in recs})
        ideal = [x["ideal"] for x in recs]
        ratio = None if any(v is None for v in ideal) else sum(x["bpp"] for x in recs) / sum(ideal)
        enc = [x["enc_s"] for x in recs if x["enc_s"] is not None]
        dec = [x["dec_s"] for x in recs if x["dec_s"] is not None]
        size = "Kodak" if r.group == "kodak" else r.group.replace("crops ", "") + " px crops"
        res = (results or {}).get(r.source)
        flag = "" if res is None or res.ok else res.status
        out.append({"method": r.label, "images": f"{len(imgs)} {size}", "points": len({x['point'] for x in recs}),
                    "bd_jpeg": None if r.label == "JPEG" else bd(r.jpeg, recs),
                    "bd_jpeg_msssim": None if r.label == "JPEG" else bd(r.jpeg, recs, "ms_ssim_db"),
                    "bd_amortized": "anchor" if r.note == "anchor" else bd(r.amortized, recs),
                    "ratio": ratio, "ideal": r.ideal if ratio is not None else "-",
                    "enc_s": float(np.mean(enc)) if enc else None, "dec_s": float(np.mean(dec)) if dec else None,
                    "source": f"{r.source}.json", "flag": flag,
                    "group": r.group})
    return out


def fmt_pct(v: float | None) -> str:
    """``-12.3 %`` or ``n/a``."""
    return "n/a" if v is None else f"{v:+.1f} %"


def fmt_num(v: float | None, spec: str = ".3f") -> str:
    return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else format(v, spec)


# ----------------------------------------------------------------------------- the live subset


@dataclass
class Check:
    """One live number against the stored one."""

    what: str  # e.g. "fp@0.0067 kodim01 bpp"
    source: str  # benchmark name
    stored: float
    live: float
    tol: float  # allowed |live - stored|
    rule: str  # how the tolerance was chosen

    @property
    def ok(self) -> bool:
        return abs(self.live - self.stored) <= self.tol + 1e-12


def _images(n: int, crop: int | None):
    imgs = kodak()[:n]
    names = [k for k, _ in imgs]
    if crop is None:
        return names, [img for _, img in imgs]
    return names, torch.stack([centre_crop(img, crop) for _, img in imgs])


def _hyperprior_coded(model, x, rate_idx, y_symbols, z_int):
    """(payload bits, information-content bits, psnr) per image: what benchmarks/sga.py records."""
    out = []
    for i in range(x.shape[0]):
        c = model.compress_latents(torch.zeros_like(y_symbols[i:i + 1]), z_int[i:i + 1], rate_idx,
                                   y_symbols=y_symbols[i:i + 1])
        out.append((8 * sum(len(s) for s in c.sections), sum(c.bits.values()),
                    metrics.psnr(c.x_hat[0].clamp(0, 1), x[i])))
    return out


def _amortized_symbols(model, x, rate_idx):
    with torch.no_grad():
        y, z = amortized_latents(model, x, rate_idx)
        z_int = torch.round(z)
        mean, _ = model.entropy_parameters(z_int, model.hgains(torch.full((x.shape[0],), rate_idx))[1])
    return torch.round(y - mean), z_int


#: the amortized encoders are deterministic on one machine, but their float32 analysis transform may round a
#: latent differently on another CPU (the decoders are exact everywhere, see neurcomp.models.base)
ENCODER_RULE = "deterministic encoder: exact where the file was made; 0.1 % of the rate and 0.01 dB on another CPU"


def _encoder_checks(what: str, rate_label: str, source: str, stored: dict, bpp: float, psnr: float) -> list[Check]:
    """The rate and PSNR of a deterministic encoder against a stored record (``bpp``, ``psnr``)."""
    return [Check(f"{what} {rate_label}", source, stored["bpp"], bpp, 1e-3 * stored["bpp"], ENCODER_RULE),
            Check(f"{what} PSNR", source, stored["psnr"], psnr, 0.01, ENCODER_RULE)]


def _stored(recs, **match):
    hits = [r for r in recs if all(r.get(k) == v for k, v in match.items())]
    return hits[0] if hits else None


def live_subset(results: Mapping[str, Result], full: bool = False, log=print) -> list[Check]:
    """Recompute a subset of the stored per-image numbers with the installed weights.

    Only files whose weights are installed are checked; each check codes the *same* images or
    crops the benchmark coded, with the same settings. What is deterministic given weights and
    images must agree exactly (bits of the file; PSNR to 1e-6 dB) on the machine that wrote the file:
    the amortized codecs (on another CPU their float32 analysis transform may round a latent
    differently, so they are held to 0.1 % of the rate and 0.01 dB: :data:`ENCODER_RULE`) and the
    REC file of Flamich et al.'s coder. SGA's noise depends on the batch it was drawn for: rerun on the stored
    batch it agrees exactly, on a smaller batch within 3 % of the rate and 0.15 dB. Bits-back's
    net rate depends on the random side information (which sample of q(z|x) is decoded from it):
    within 5 % or 0.02 bpp, its PSNR exactly.

    Parameters
    ----------
    results : mapping
        :func:`load_results`.
    full : bool
        More images and rate points (the ``full`` profile).
    log : callable
        Progress lines.

    Returns
    -------
    list of Check
    """
    checks: list[Check] = []
    usable = {n: r for n, r in results.items() if r.data is not None and r.status in ("current", "unrecorded")}
    exact = "deterministic: exact"

    def points(values, k):
        values = sorted(set(values))
        if len(values) <= k:
            return values
        idx = np.linspace(1, len(values) - 2, k).round().astype(int) if len(values) > k + 1 else range(k)
        return [values[i] for i in idx]

    n_img = 2 if full else 1
    # whole-image amortized codecs: codec.json (fp, mshp) and dvae.json (dvae, hdvae)
    for name, per_base in (("codec", 2), ("dvae", 1)):
        if name not in usable:
            continue
        recs = usable[name].data["records"]
        bases = list(dict.fromkeys(r["base"] for r in recs))
        if name == "codec" and not full:
            bases = [b for b in bases if b != "mshp"] or bases  # mshp is checked on crops below
        for base in bases:
            models = points([r["model"] for r in recs if r["base"] == base], per_base * (2 if full else 1))
            paths = [p for p in data.kodak_paths() if p.stem in {r["image"] for r in recs}][:n_img]
            for model in models:
                t0 = time.perf_counter()
                for live in evaluate_model(paths, model, progress=False):
                    s = _stored(recs, model=model, image=live["image"])
                    checks += _encoder_checks(f"{model} {live['image']}", "bpp (file)", name, s, live["bpp"], live["psnr"])
                log(f"  {name}: {model} on {len(paths)} image(s), {time.perf_counter() - t0:.1f} s")
    if "vq" in usable:
        d = usable["vq"].data
        crop = d["args"]["crop"]
        paths = [p for p in data.kodak_paths() if p.stem in {r["image"] for r in d["records"]}][:n_img]
        for model in dict.fromkeys(r["model"] for r in d["records"]):
            t0 = time.perf_counter()
            for live in evaluate_model(paths, model, crop=crop, progress=False):
                s = _stored(d["records"], model=model, image=live["image"])
                checks += _encoder_checks(f"{model} {live['image']}", "bpp (file)", "vq", s, live["bpp"], live["psnr"])
            log(f"  vq: {model} on {len(paths)} crop(s) of {crop} px, {time.perf_counter() - t0:.1f} s")
    # the hyperprior on crops, amortized (sga.json, bitsback.json)
    for name in ("sga", "bitsback"):
        if name not in usable or "mshp" not in (usable[name].spec.weights):
            continue
        if name == "bitsback" and results[name].status != "current" and "sga" in usable and not full:
            continue
        d = usable[name].data
        a, recs = d["args"], d["records"]
        lams = points([r["lambda"] for r in recs if r["method"] == "amortized"], 4 if full else 2)
        names, x = _images(min(a["images"], 4 if full else 2), a["crop"])
        t0 = time.perf_counter()
        for lam in lams:
            model, ri, _ = load_pretrained(f"mshp@{lam:g}")
            y_sym, z_int = _amortized_symbols(model, x, ri)
            for nm, (bits, _, p) in zip(names, _hyperprior_coded(model, x, ri, y_sym, z_int)):
                s = _stored(recs, method="amortized", image=nm, **{"lambda": lam})
                bpp = bits / (x.shape[-1] * x.shape[-2])
                checks += _encoder_checks(f"mshp@{lam:g} amortized {nm} crop", "bpp", name, s, bpp, p)
        log(f"  {name}: mshp amortized on {len(names)} crop(s) x {len(lams)} rate points, "
            f"{time.perf_counter() - t0:.1f} s")
    # SGA: the stored setting with the fewest steps
    sga_runs = []
    for name in ("sga", "bitsback"):
        if name in usable and results[name].status in ("current", "unrecorded"):
            d = usable[name].data
            for r in d["records"]:
                if r["method"] == "sga":
                    sga_runs.append((r["steps"], name, r["lambda"]))
    if sga_runs and ("mshp" in installed_weights(["mshp"]) and installed_weights(["mshp"])["mshp"]):
        steps, name, _ = min(sga_runs)
        d = usable[name].data
        a = d["args"]
        lam = points([lam for s, n, lam in sga_runs if (s, n) == (steps, name)], 1)[0]
        cheap = a["images"] * steps <= 200 or full
        names, x = _images(a["images"] if cheap else 1, a["crop"])

        model, ri, _ = load_pretrained(f"mshp@{lam:g}")
        t0 = time.perf_counter()
        with torch.enable_grad():
            res = optimize_latents(model, x, ri, method="sga", steps=steps, seed=a.get("seed", 0),
                                   record_every=max(1, steps // (50 if name == "sga" else 20)))
        rule = exact if cheap else "SGA noise drawn for another batch: 3 % of the rate, 0.15 dB"
        for nm, (bits, _, p) in zip(names, _hyperprior_coded(model, x, ri, res.y_symbols, res.z_int)):
            s = _stored(d["records"], method="sga", image=nm, steps=steps, **{"lambda": lam})
            bpp = bits / (x.shape[-1] * x.shape[-2])
            checks += [Check(f"mshp@{lam:g} SGA {steps} steps {nm} crop bpp", name, s["bpp"], bpp,
                             0.0 if cheap else 0.03 * s["bpp"], rule),
                       Check(f"mshp@{lam:g} SGA {steps} steps {nm} crop PSNR", name, s["psnr"], p,
                             1e-6 if cheap else 0.15, rule)]
        log(f"  {name}: SGA, {steps} steps, on {len(names)} crop(s), {time.perf_counter() - t0:.1f} s")
    # bits-back without iteration ([A6])
    if "bitsback" in usable and results["bitsback"].status == "current":
        d = usable["bitsback"].data
        a, recs = d["args"], d["records"]
        methods = [m for m in ("bitsback_no_iter",) + (("bitsback_no_sga",) if full else ())
                   if any(r["method"] == m for r in recs)]
        lams = points([r["lambda"] for r in recs if r["method"] in methods], 4 if full else 2)
        names, x = _images(min(a["images"], 4 if full else 2), a["crop"])
        rng = np.random.default_rng(2024)
        t0 = time.perf_counter()
        rule = "random side information: 5 % or 0.02 bpp; PSNR exact"
        for m in methods:
            for lam in lams:
                for nm, row in zip(names, bits_back_rows(f"bitsback@{lam:g}", x, m, a["steps"], a.get("seed", 0), rng)):
                    s = _stored(recs, method=m, image=nm, **{"lambda": lam})
                    checks += [Check(f"bitsback@{lam:g} {m} {nm} crop net bpp", "bitsback", s["net_bpp"],
                                     row["net_bpp"], max(0.05 * s["net_bpp"], 0.02), rule),
                               Check(f"bitsback@{lam:g} {m} {nm} crop PSNR", "bitsback", s["psnr"], row["psnr"],
                                     1e-6, rule)]
        log(f"  bitsback: {', '.join(methods)} on {len(names)} crop(s) x {len(lams)} rate points, "
            f"{time.perf_counter() - t0:.1f} s")
    # REC: Flamich et al.'s coder on one whole image at the highest beta (the fewest bits, the fastest)
    if "rec_betas" in usable:
        d = usable["rec_betas"].data
        recs = [r for r in d["records"] if r["method"] in (("seed", "orc-hint") if full else ("seed",))]
        if recs:
            betas = sorted({r["beta"] for r in recs})
            chosen = betas if full else betas[-1:]

            imgs = dict(kodak()[:2 if full else 1])
            for r in recs:
                if r["beta"] not in chosen or r["image"] not in imgs:
                    continue
                entry = next(e for e in zoo.list_models() if e["kind"] == "pln" and e["value"] == r["beta"])
                model, ri, _ = load_pretrained(entry["name"])
                params = (d.get("methods") or {}).get(r["method"], r.get("params") or {})
                t0 = time.perf_counter()
                c = model.compress(imgs[r["image"]][None], ri, seed=0, rec_method=r["method"],
                                   threads=torch.get_num_threads(), **params)
                kl = sum(c.bits.values())
                actual = 8 * sum(len(s) for s in c.sections)
                rule = "REC file: exact; KL to 1e-6 relative (float sums)"
                checks += [Check(f"{entry['name']} REC {r['method']} {r['image']} bits (file)", "rec_betas",
                                 r["actual_bits"], actual, 0.0, rule),
                           Check(f"{entry['name']} REC {r['method']} {r['image']} KL bits", "rec_betas", r["kl_bits"],
                                 kl, 1e-6 * r["kl_bits"], rule)]
                log(f"  rec_betas: {entry['name']} {r['method']} on {r['image']}, {time.perf_counter() - t0:.1f} s")
    return checks


def bits_back_rows(name: str, x: torch.Tensor, method: str, steps: int, seed: int, rng) -> list[dict]:
    """Code crops ``x`` [B, 3, H, W] with bits-back as ``benchmarks/bitsback.py`` does (each with its own random
    side information, twice what Q is expected to take plus 256 bits); returns ``bpp``, ``net_bpp``,
    ``est_bpp`` and ``psnr`` per image."""


    model, rate_idx, _ = zoo.load_pretrained(name)
    h, w = x.shape[-2:]
    rows = []
    for i, p in enumerate(model.prepare_images(x, rate_idx, method, steps, seed)):
        need = model.expected_q_bits(p.mu, p.sigma)
        side = rng.bytes(int(np.ceil((2 * need + 256) / 8)))
        words, _ = side_info_words(side)
        ans = constriction.stream.stack.AnsCoder(words, seal=True)
        with torch.no_grad():
            img = model.push_image(ans, p)
        payload = 8 * 4 * len(ans.get_compressed())
        rows.append({"bpp": payload / (h * w), "net_bpp": (payload - 8 * len(side)) / (h * w),
                     "est_bpp": sum(img.bits.values()) / (h * w), "psnr": metrics.psnr(img.x_hat[0].clamp(0, 1), x[i])})
    return rows


def recompute_all(out_dir: str | os.PathLike, names: Sequence[str] | None = None) -> int:
    """Run ``benchmarks/all.py --force --out OUT_DIR`` (the ``full`` profile): hours on a CPU; returns its exit code."""
    cmd = [sys.executable, str(ROOT / "benchmarks" / "all.py"), "--force", "--out", str(out_dir)]
    for n in names or ():
        cmd += ["--only", n]
    return subprocess.run(cmd, cwd=ROOT).returncode
