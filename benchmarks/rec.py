"""Benchmark: relative entropy coding of a PLN's latents (Flamich et al. 2020), the paper's coder vs ours.

For every rate point (beta) of a shipped PLN and a set of Kodak images (optionally centre
crops, a multiple of 64), code the posterior sample with

* ``seed`` -- Flamich et al. 2020's coder: adaptive groups (Algorithm 2), importance sampler with
  ``ceil(2^KL_group)`` candidates and the argmax rule (Eq. 8), Elias-delta indices, group sizes
  under the distribution fixed from training images that the shipped PLN's card carries;
* ``orc``  -- the same kind of groups with octave sizes, ordered random coding
  (2^(B + t) candidates per group), entropy-coded indices and group sizes (an ablation);
* ``orc-hint`` -- ours: ordered random coding in groups formed from a KL prediction the decoder
  computes from p(z1 | z2) (``PLN.kl_hint``), so no group sizes are sent, ``2^(ceil KL_g + t)``
  candidates per group, split flags where the prediction was too low;

and report per image: the KL (ideal REC rate) in bits, the actual bits (the two REC
sections), actual/KL, its split into index, group-size and outlier bits, PSNR of the decoded reconstruction and of an exact posterior
sample drawn with the same seed, encode and decode seconds, candidate evaluations and
the encode time extrapolated to a full 768x512 image. ``--kodak-latent`` also times both
coders on a Kodak-sized stand-in latent (147456 dims whose KL map is the information map
of the shipped mean-scale hyperprior on kodim01). Prints a table and writes JSON. When no PLN is shipped, a tiny one is trained for ``--train-steps`` steps (or a
random one, ``--train-steps 0``) and the output says so.

    python benchmarks/rec.py --images 24 --betas 2            # the middle beta on all of Kodak
    python benchmarks/rec.py --images 4                       # every beta, 4 images
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from neurcomp.data import kodak  # noqa: E402
from neurcomp.evaluate import centre_crop  # noqa: E402
from neurcomp.models import build_model  # noqa: E402
from neurcomp.zoo import list_models, load_pretrained  # noqa: E402
import _records  # noqa: E402  (benchmarks/ is on sys.path when run as a script)

KODAK_PIXELS = 768 * 512


def get_model(base: str | None, train_steps: int):
    """``(model, betas, description)``: a shipped PLN, or a tiny one trained here."""
    shipped = sorted({e["base"] for e in list_models() if e["kind"] == "pln"})
    if base or shipped:
        base = base or shipped[0]
        entries = [e for e in list_models() if e["base"] == base]
        model, _, _ = load_pretrained(entries[0]["name"])
        return model, [e["value"] for e in entries], f"shipped PLN {base!r}"
    from neurcomp.train import load_config, train

    cfg = load_config(ROOT / "configs" / "pln_tiny.yaml")
    torch.manual_seed(0)
    if train_steps > 0:
        cfg.update(steps=train_steps, eval_images=0)
        import tempfile

        with tempfile.TemporaryDirectory() as d:
            ck = train(cfg, Path(d), quiet=True)
        model = build_model(cfg["model"])
        model.load_state_dict(ck["model"])
        desc = f"NO PLN IS SHIPPED: configs/pln_tiny.yaml trained here for {train_steps} steps (numbers are illustrative)"
    else:
        model = build_model(cfg["model"])
        desc = "NO PLN IS SHIPPED: a randomly initialised configs/pln_tiny.yaml model (numbers are illustrative)"
    return model.eval(), model.betas, desc


def psnr(a: torch.Tensor, x: torch.Tensor) -> float:
    mse = float(((torch.round(a.clamp(0, 1) * 255) - torch.round(x.clamp(0, 1) * 255)) ** 2).mean())
    return 10 * math.log10(255 ** 2 / max(mse, 1e-10))


def run(model, betas, images, methods: dict, seed: int = 0, threads: int = 1, which=None) -> list[dict]:
    rows = []
    for rate_idx, beta in enumerate(betas):
        if which is not None and rate_idx not in which:
            continue
        for name, img in images:
            x = img.unsqueeze(0)
            h, w = x.shape[-2:]
            for method, params in methods.items():
                kw = dict(params)
                kw["threads"] = threads
                t0 = time.perf_counter()
                c = model.compress(x, rate_idx, seed=seed, rec_method=method, **kw)
                enc_s = time.perf_counter() - t0
                t0 = time.perf_counter()
                x_dec = model.decompress(c.sections, c.latent_shape, rate_idx, extra=c.extra)
                dec_s = time.perf_counter() - t0
                if not torch.equal(x_dec, c.x_hat):
                    raise RuntimeError(f"{name} {method}: decoder output differs from the encoder's")
                kl = sum(c.bits.values())
                actual = 8 * sum(len(s) for s in c.sections)
                ri = c.details["rec"]
                evals = sum(v.get("candidate_evals", 0.0) for v in ri.values())
                rec_s = c.info["rec_enc_s"]
                rows.append({
                    "beta": beta, "image": name, "height": h, "width": w, "method": method, "params": params,
                    "kl_bits": kl, "actual_bits": actual, "ratio": actual / kl, "kl_bpp": kl / (h * w),
                    "bpp": actual / (h * w), "psnr_rec": psnr(c.x_hat, x), "psnr_exact": c.info["psnr_exact"],
                    "enc_s": enc_s, "rec_enc_s": rec_s, "dec_s": dec_s, "candidate_evals": evals,
                    "ns_per_eval": 1e9 * rec_s / evals if evals else None,
                    "kodak_enc_s_estimate": rec_s * KODAK_PIXELS / (h * w),
                    "groups": sum(v.get("n_groups", 0) for v in ri.values()),
                    "outliers": sum(v.get("n_outliers", 0) for v in ri.values()),
                    "index_bits": sum(v.get("index_bits", 0) for v in ri.values()),
                    "size_bits": sum(v.get("size_bits", 0) for v in ri.values()),
                    "outlier_bits": sum(v.get("outlier_bits", 0) for v in ri.values()),
                    "size_table": ("training images" if any(v.get("size_table") for v in ri.values())
                                   else "per stream" if method == "seed" else None),
                })
                r = rows[-1]
                print(f"  beta {beta:g} {name} {method}: KL {kl:.0f} b, actual {actual} b (x{r['ratio']:.3f}), "
                      f"PSNR {r['psnr_rec']:.2f} / exact {r['psnr_exact']:.2f} dB, enc {enc_s:.1f} s, dec {dec_s:.2f} s",
                      flush=True)
    return rows


def kodak_sized_latent(rate_idx: int = 2, fraction_from_mean: float = 0.3):
    """A Kodak-sized stand-in latent for timing: the per-element information (bits) of the shipped
    mean-scale hyperprior's ``y`` on kodim01 (768x512 -> 96 x 32 x 48 = 147456 elements), turned into
    Gaussians ``q = N(m, s^2)`` vs ``p = N(0, 1)`` with exactly that KL (``fraction_from_mean`` of it
    from the mean). Returns ``(m, s, description)`` or ``None`` without shipped mshp weights."""
    entries = [e for e in list_models() if e["base"] == "mshp"]
    if not entries:
        return None
    from neurcomp.data import pad_to_multiple

    e = entries[min(rate_idx, len(entries) - 1)]
    model, idx, _ = load_pretrained(e["name"])
    name, img = kodak()[0]
    xp, _ = pad_to_multiple(img[None], model.stride)
    with torch.no_grad():
        bits = model.eval()(xp, idx)["rate_bits"]["y"].double().numpy().ravel()
    kl = np.maximum(bits, 1e-9) * math.log(2)
    rng = np.random.default_rng(0)
    m = np.sqrt(2 * fraction_from_mean * kl) * np.sign(rng.normal(size=kl.size))
    t = (1 - fraction_from_mean) * kl  # solve -log s + (s^2 - 1) / 2 = t for s in (0, 1] by bisection in log s
    lo, hi = np.full(kl.size, math.log(1e-12)), np.zeros(kl.size)
    for _ in range(80):
        mid = 0.5 * (lo + hi)
        g = -mid + 0.5 * (np.exp(2 * mid) - 1) - t
        lo, hi = np.where(g > 0, mid, lo), np.where(g > 0, hi, mid)
    return m, np.exp(0.5 * (lo + hi)), f"information map of {e['name']}'s y on {name} ({bits.size} dims, {bits.sum():.0f} bits)"


def time_kodak_latent(methods: dict, threads: int) -> list[dict]:
    from neurcomp.rec import rec_decode, rec_encode

    lat = kodak_sized_latent()
    if lat is None:
        print("no shipped mshp weights: skipping the Kodak-sized latent timing")
        return []
    m, s, desc = lat
    print(f"\nKodak-sized latent: {desc}", flush=True)
    zeros, ones = np.zeros(m.size), np.ones(m.size)
    rows = []
    for method, params in methods.items():
        if method == "orc-hint":  # needs a decoder-side hint, which this stand-in latent has not
            continue
        t0 = time.perf_counter()
        data, z, info = rec_encode(m, s, zeros, ones, 0, method, threads=threads, **params)
        enc = time.perf_counter() - t0
        t0 = time.perf_counter()
        ok = bool(np.array_equal(z, rec_decode(data, zeros, ones, 0, (m.size,), method)))
        dec = time.perf_counter() - t0
        rows.append({"method": method, "params": params, "dims": int(m.size), "kl_bits": info["kl_bits"],
                     "actual_bits": info["coded_bits"], "ratio": info["coded_bits"] / info["kl_bits"],
                     "enc_s": enc, "dec_s": dec, "decoded_ok": ok, "groups": info["n_groups"],
                     "candidate_evals": info["candidate_evals"], "source": desc})
        print(f"  {method}: KL {info['kl_bits']:.0f} b, actual {info['coded_bits']} b (x{rows[-1]['ratio']:.3f}), "
              f"encode {enc:.1f} s, decode {dec:.3f} s, {info['n_groups']} groups, "
              f"{info['candidate_evals']:.2e} candidate evaluations, decoded ok: {ok}", flush=True)
    return rows


def summarize(rows: list[dict]) -> list[dict]:
    out = []
    for beta in sorted({r["beta"] for r in rows}):
        for method in dict.fromkeys(r["method"] for r in rows):
            sel = [r for r in rows if r["beta"] == beta and r["method"] == method]
            kl = sum(r["kl_bits"] for r in sel)
            out.append({"beta": beta, "method": method, "images": len(sel),
                        "kl_bpp": float(np.mean([r["kl_bpp"] for r in sel])),
                        "bpp": float(np.mean([r["bpp"] for r in sel])),
                        "ratio": sum(r["actual_bits"] for r in sel) / kl,
                        "index_ratio": sum(r["index_bits"] for r in sel) / kl,
                        "size_share": sum(r["size_bits"] for r in sel) / sum(r["actual_bits"] for r in sel),
                        "size_table": sel[0].get("size_table"),
                        "psnr_rec": float(np.mean([r["psnr_rec"] for r in sel])),
                        "psnr_exact": float(np.mean([r["psnr_exact"] for r in sel])),
                        "psnr_gap": float(np.mean([r["psnr_exact"] - r["psnr_rec"] for r in sel])),
                        "enc_s": float(np.mean([r["enc_s"] for r in sel])),
                        "dec_s": float(np.mean([r["dec_s"] for r in sel])),
                        "kodak_enc_s_estimate": float(np.mean([r["kodak_enc_s_estimate"] for r in sel]))})
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", help="shipped PLN base name (default: the first shipped PLN)")
    p.add_argument("--images", type=int, default=2, help="first N Kodak images")
    p.add_argument("--crop", type=int, nargs=2, metavar=("H", "W"), help="centre crop (rounded down to x64)")
    p.add_argument("--train-steps", type=int, default=300, help="steps for the stand-in tiny PLN if none is shipped")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2, help="threads (torch and the candidate scan)")
    p.add_argument("--betas", type=int, nargs="+", help="rate indices to run (default: all)")
    p.add_argument("--methods", nargs="+", default=["seed", "orc", "orc-hint"], help="REC methods to compare")
    p.add_argument("--orc-hint", default='{}', help="JSON parameters of our coder")
    p.add_argument("--orc", default='{"budget_bits": 12, "extra_bits": 2}', help="JSON parameters of orc (sizes sent)")
    p.add_argument("--seed-coder", default='{"budget_bits": 14}', help="JSON parameters of Flamich et al. 2020's coder")
    p.add_argument("--kodak-latent", action="store_true",
                   help="also time both coders on a Kodak-sized stand-in latent (needs the shipped mshp weights)")
    p.add_argument("--json", default=str(ROOT / "benchmarks" / "results" / "rec.json"))
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    model, betas, desc = get_model(a.model, a.train_steps)
    images = [(name, centre_crop(img, a.crop, multiple=64)) for name, img in kodak()[: a.images]]
    crop_note = f"centre crops {tuple(images[0][1].shape[1:])}" if a.crop else "full images"
    print(f"model: {desc}; betas {betas}; {len(images)} Kodak images, {crop_note}", flush=True)
    params = {"seed": json.loads(a.seed_coder), "orc": json.loads(a.orc), "orc-hint": json.loads(a.orc_hint)}
    methods = {m: params[m] for m in a.methods}
    rows = run(model, betas, images, methods, a.seed, a.threads, a.betas)
    table = summarize(rows)
    print(f"\n{'beta':>7} {'method':>8} {'KL bpp':>8} {'bpp':>8} {'actual/KL':>9} {'index/KL':>8} {'sizes %':>7} "
          f"{'PSNR rec':>9} {'PSNR exact':>10} {'gap dB':>6} {'enc s':>7} {'dec s':>6} {'Kodak enc s (est.)':>18}")
    for r in table:
        print(f"{r['beta']:>7g} {r['method']:>8} {r['kl_bpp']:>8.4f} {r['bpp']:>8.4f} {r['ratio']:>9.3f} "
              f"{r['index_ratio']:>8.3f} {100 * r['size_share']:>7.1f} "
              f"{r['psnr_rec']:>9.2f} {r['psnr_exact']:>10.2f} {r['psnr_gap']:>6.2f} {r['enc_s']:>7.2f} {r['dec_s']:>6.3f} "
              f"{r['kodak_enc_s_estimate']:>18.1f}")
    if "seed" in methods:
        print("Flamich et al. 2020 report 1.6-1.8x the KL for their coder (Elias-delta indices; group sizes under a "
              "distribution from training images); 'sizes %' is the group sizes' share of the stream")
    kodak_latent = time_kodak_latent(methods, a.threads) if a.kodak_latent else []
    out = {"model": desc, "betas": betas, "images": [n for n, _ in images], "crop": crop_note,
           "methods": methods, "threads": a.threads, "summary": table, "records": rows,
           "kodak_sized_latent": kodak_latent}
    _records.write(a.json, "rec", out)
    print(f"wrote {a.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
