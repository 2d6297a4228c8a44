"""Chapter 9's live subset: a few stored numbers recomputed with the installed weights.

Part of :mod:`neurcomp.book` (see there for units and conventions). :func:`live_subset` codes the
*same* images or crops a results file coded, with the same settings, and compares its records
(:class:`neurcomp.results.Record`) within stated tolerances (:class:`Check`).
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Mapping

import constriction
import numpy as np
import torch

from .. import data, metrics, zoo
from ..data import kodak
from ..evaluate import centre_crop, evaluate_model
from ..inference import PAPER_STEPS, optimize_latents, schedule_for
from ..inference.iterative import amortized_latents
from ..models.bitsback import side_info_words
from ..results import CODECS, cpu_fingerprint
from ..zoo import load_pretrained
from .benchmarks import Result, installed_weights


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


#: what an exact check becomes on a CPU other than the one that wrote the file (or a file that does not say)
FOREIGN = "on another CPU than the file's"


def _made_here(result) -> bool:
    """Whether the results file was written on this CPU (its provenance records ``cpu`` since 2026-12-08)."""
    return ((result.data or {}).get("provenance") or {}).get("cpu") == cpu_fingerprint()


def _encoder_checks(what: str, rate_label: str, source: str, stored: dict, bpp: float, psnr: float) -> list[Check]:
    """The rate and PSNR of a deterministic encoder against a stored record."""
    return [Check(f"{what} {rate_label}", source, stored.bpp, bpp, 1e-3 * stored.bpp, ENCODER_RULE),
            Check(f"{what} PSNR", source, stored.psnr, psnr, 0.01, ENCODER_RULE)]


def _stored(recs, **match):
    hits = [r for r in recs if all(getattr(r, k) == v for k, v in match.items())]
    return hits[0] if hits else None


def recorded_schedule(record) -> dict:
    """The annealing schedule a stored SGA record ran (``tau0, t0, c``): as it records it, else the one
    ``optimize_latents`` used before it scaled the schedule to the step budget (t0 = 700, c = 0.001 whatever
    the steps), for files written before the records carried their schedule.

    Examples
    --------
    >>> from neurcomp.results import Record
    >>> r = Record("SGA", "crops 128", "kodim01", "mshp@0.0067", "mshp", 0.0067, "sga", 0.5, 30.0, steps=500)
    >>> recorded_schedule(r)
    {'tau0': 0.5, 't0': 700, 'c': 0.001}
    >>> r.extra.update(tau0=0.5, t0=175, c=0.004); recorded_schedule(r)
    {'tau0': 0.5, 't0': 175, 'c': 0.004}
    """
    if all(k in record.extra for k in ("tau0", "t0", "c")):
        return {k: record.extra[k] for k in ("tau0", "t0", "c")}
    return schedule_for(PAPER_STEPS)  # the paper's constants, whatever the steps


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
    within 5 % or 0.02 bpp, its PSNR exactly. The exact SGA and bits-back checks hold on the CPU that wrote
    the file (its provenance's ``cpu``); elsewhere float32 steps may decide a latent otherwise, and they are
    held to 3 % and 0.15 dB (SGA) and 0.01 dB (bits-back's PSNR).

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
        recs = [r for r in usable[name].records if r.method not in CODECS]
        bases = list(dict.fromkeys(r.base for r in recs))
        if name == "codec" and not full:
            bases = [b for b in bases if b != "mshp"] or bases  # mshp is checked on crops below
        for base in bases:
            models = points([r.model for r in recs if r.base == base], per_base * (2 if full else 1))
            paths = [p for p in data.kodak_paths() if p.stem in {r.image for r in recs}][:n_img]
            for model in models:
                t0 = time.perf_counter()
                for live in evaluate_model(paths, model, progress=False):
                    s = _stored(recs, model=model, image=live["image"])
                    checks += _encoder_checks(f"{model} {live['image']}", "bpp (file)", name, s, live["bpp"], live["psnr"])
                log(f"  {name}: {model} on {len(paths)} image(s), {time.perf_counter() - t0:.1f} s")
    if "vq" in usable:
        crop = usable["vq"].data["args"]["crop"]
        recs = usable["vq"].records
        paths = [p for p in data.kodak_paths() if p.stem in {r.image for r in recs}][:n_img]
        for model in dict.fromkeys(r.model for r in recs):
            t0 = time.perf_counter()
            for live in evaluate_model(paths, model, crop=crop, progress=False):
                s = _stored(recs, model=model, image=live["image"])
                checks += _encoder_checks(f"{model} {live['image']}", "bpp (file)", "vq", s, live["bpp"], live["psnr"])
            log(f"  vq: {model} on {len(paths)} crop(s) of {crop} px, {time.perf_counter() - t0:.1f} s")
    # the hyperprior on crops, amortized (sga.json, bitsback.json)
    for name in ("sga", "bitsback"):
        if name not in usable or "mshp" not in (usable[name].spec.weights):
            continue
        if name == "bitsback" and results[name].status != "current" and "sga" in usable and not full:
            continue
        a, recs = usable[name].data["args"], usable[name].records
        lams = points([r.value for r in recs if r.method == "amortized"], 4 if full else 2)
        names, x = _images(min(a["images"], 4 if full else 2), a["crop"])
        t0 = time.perf_counter()
        for lam in lams:
            model, ri, _ = load_pretrained(f"mshp@{lam:g}")
            y_sym, z_int = _amortized_symbols(model, x, ri)
            for nm, (bits, _, p) in zip(names, _hyperprior_coded(model, x, ri, y_sym, z_int)):
                s = _stored(recs, method="amortized", image=nm, value=lam)
                bpp = bits / (x.shape[-1] * x.shape[-2])
                checks += _encoder_checks(f"mshp@{lam:g} amortized {nm} crop", "bpp", name, s, bpp, p)
        log(f"  {name}: mshp amortized on {len(names)} crop(s) x {len(lams)} rate points, "
            f"{time.perf_counter() - t0:.1f} s")
    # SGA: the stored setting with the fewest steps
    sga_runs = []
    for name in ("sga", "bitsback"):
        if name in usable and results[name].status in ("current", "unrecorded"):
            for r in usable[name].records:
                if r.method == "sga":
                    sga_runs.append((r.steps, name, r.value))
    if sga_runs and ("mshp" in installed_weights(["mshp"]) and installed_weights(["mshp"])["mshp"]):
        steps, name, _ = min(sga_runs)
        a = usable[name].data["args"]
        lam = points([lam for s, n, lam in sga_runs if (s, n) == (steps, name)], 1)[0]
        cheap = a["images"] * steps <= 200 or full
        names, x = _images(a["images"] if cheap else 1, a["crop"])

        model, ri, _ = load_pretrained(f"mshp@{lam:g}")
        stored = _stored(usable[name].records, method="sga", image=names[0], steps=steps, value=lam)
        t0 = time.perf_counter()
        with torch.enable_grad():
            res = optimize_latents(model, x, ri, method="sga", steps=steps, seed=a.get("seed", 0),
                                   record_every=max(1, steps // (50 if name == "sga" else 20)),
                                   **recorded_schedule(stored))
        cheap_here = cheap and _made_here(usable[name])
        rule = (f"SGA on the stored batch: exact; 3 % of the rate, 0.15 dB {FOREIGN}" if cheap
                else "SGA noise drawn for another batch: 3 % of the rate, 0.15 dB")
        for nm, (bits, _, p) in zip(names, _hyperprior_coded(model, x, ri, res.y_symbols, res.z_int)):
            s = _stored(usable[name].records, method="sga", image=nm, steps=steps, value=lam)
            bpp = bits / (x.shape[-1] * x.shape[-2])
            checks += [Check(f"mshp@{lam:g} SGA {steps} steps {nm} crop bpp", name, s.bpp, bpp,
                             0.0 if cheap_here else 0.03 * s.bpp, rule),
                       Check(f"mshp@{lam:g} SGA {steps} steps {nm} crop PSNR", name, s.psnr, p,
                             1e-6 if cheap_here else 0.15, rule)]
        log(f"  {name}: SGA, {steps} steps, on {len(names)} crop(s), {time.perf_counter() - t0:.1f} s")
    # bits-back without iteration ([A6])
    if "bitsback" in usable and results["bitsback"].status == "current":
        a, recs = usable["bitsback"].data["args"], usable["bitsback"].records
        methods = [m for m in ("bitsback_no_iter",) + (("bitsback_no_sga",) if full else ())
                   if any(r.method == m for r in recs)]
        lams = points([r.value for r in recs if r.method in methods], 4 if full else 2)
        names, x = _images(min(a["images"], 4 if full else 2), a["crop"])
        rng = np.random.default_rng(2024)
        t0 = time.perf_counter()
        here = _made_here(usable["bitsback"])
        rule = f"random side information: 5 % or 0.02 bpp; PSNR exact, 0.01 dB {FOREIGN}"
        for m in methods:
            for lam in lams:
                for nm, row in zip(names, bits_back_rows(f"bitsback@{lam:g}", x, m, a["steps"], a.get("seed", 0), rng)):
                    s = _stored(recs, method=m, image=nm, value=lam)
                    checks += [Check(f"bitsback@{lam:g} {m} {nm} crop net bpp", "bitsback", s.bpp,
                                     row["net_bpp"], max(0.05 * s.bpp, 0.02), rule),
                               Check(f"bitsback@{lam:g} {m} {nm} crop PSNR", "bitsback", s.psnr, row["psnr"],
                                     1e-6 if here else 0.01, rule)]
        log(f"  bitsback: {', '.join(methods)} on {len(names)} crop(s) x {len(lams)} rate points, "
            f"{time.perf_counter() - t0:.1f} s")
    # REC: Flamich et al.'s coder on one whole image at the highest beta (the fewest bits, the fastest)
    if "rec_betas" in usable:
        d = usable["rec_betas"].data
        recs = [r for r in usable["rec_betas"].records if r.method in (("seed", "orc-hint") if full else ("seed",))]
        if recs:
            betas = sorted({r.value for r in recs})
            chosen = betas if full else betas[-1:]

            imgs = dict(kodak()[:2 if full else 1])
            for r in recs:
                if r.value not in chosen or r.image not in imgs:
                    continue
                model, ri, _ = load_pretrained(r.model)
                params = (d.get("methods") or {}).get(r.method, r.extra.get("params") or {})
                t0 = time.perf_counter()
                c = model.compress(imgs[r.image][None], ri, seed=0, rec_method=r.method,
                                   threads=torch.get_num_threads(), **params)
                kl = sum(c.bits.values())
                actual = 8 * sum(len(s) for s in c.sections)
                rule = "REC file: exact; KL to 1e-6 relative (float sums)"
                checks += [Check(f"{r.model} REC {r.method} {r.image} bits (file)", "rec_betas",
                                 r.extra["actual_bits"], actual, 0.0, rule),
                           Check(f"{r.model} REC {r.method} {r.image} KL bits", "rec_betas", r.extra["kl_bits"],
                                 kl, 1e-6 * r.extra["kl_bits"], rule)]
                log(f"  rec_betas: {r.model} {r.method} on {r.image}, {time.perf_counter() - t0:.1f} s")
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


