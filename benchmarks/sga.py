"""Benchmark: amortized inference vs SGA and its ablations (Yang et al. 2020, Table 1 / Fig. 3).

For every shipped lambda of a hyperprior model and a set of Kodak centre crops (all
crops optimized together as one batch: Adam's per-coordinate steps make that the same
as optimizing each image alone), run each method and measure, per image, the real
coded size (range coder, bits per pixel), PSNR, the true R-D loss and seconds; print
mean rows and the BD-rate of each method against amortized (PSNR), and write JSON.

    python benchmarks/sga.py --images 6 --crop 128 --steps 500 --sga-steps 2000
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from neurcomp.data import kodak
from neurcomp.evaluate import centre_crop
from neurcomp.inference import METHODS, optimize_latents, true_loss
from neurcomp.inference.iterative import amortized_latents
from neurcomp.metrics import bd_rate, psnr
from neurcomp.zoo import list_models, load_pretrained
import _records  # noqa: E402  (benchmarks/ is on sys.path when run as a script)


def centre_crops(n: int, size: int) -> tuple[list[str], torch.Tensor]:
    images = kodak()[:n]
    return [name for name, _ in images], torch.stack([centre_crop(img, size) for _, img in images])


def coded_rows(model, x, rate_idx, y_symbols, z_int, names, method, steps, seconds, loss):
    rows = []
    for i, name in enumerate(names):
        out = model.compress_latents(torch.zeros_like(y_symbols[i : i + 1]), z_int[i : i + 1], rate_idx,
                                     y_symbols=y_symbols[i : i + 1])
        n_bytes = sum(len(s) for s in out.sections)
        h, w = x.shape[-2:]
        rows.append({"image": name, "method": method, "steps": steps, "lambda": model.lambdas[rate_idx],
                     "bpp": 8 * n_bytes / (h * w), "est_bpp": sum(out.bits.values()) / (h * w),
                     "psnr": psnr(out.x_hat[0].clamp(0, 1), x[i]), "true_loss": float(loss[i]),
                     "seconds": seconds / len(names)})
    return rows


def run(base: str, n_images: int, crop: int, steps: int, sga_steps: list[int], methods, lambdas=None, seed=0):
    names, x = centre_crops(n_images, crop)
    entries = [e for e in list_models() if e["base"] == base and (lambdas is None or e["value"] in lambdas)]
    records = []
    for e in entries:
        model, rate_idx, _ = load_pretrained(e["name"])
        t0 = time.perf_counter()
        with torch.no_grad():
            y, z = amortized_latents(model, x, rate_idx)
            tl = true_loss(model, x, y, z, rate_idx)
            z_int = torch.round(z)
            mean, _ = model.entropy_parameters(z_int, model.hgains(torch.full((len(names),), rate_idx))[1])
            y_sym = torch.round(y - mean)
        records += coded_rows(model, x, rate_idx, y_sym, z_int, names, "amortized", 0, time.perf_counter() - t0, tl["loss"])
        runs = [(m, steps) for m in methods] + [("sga", s) for s in sga_steps if s != steps or "sga" not in methods]
        for method, n in runs:
            with torch.enable_grad():
                res = optimize_latents(model, x, rate_idx, method=method, steps=n, seed=seed, record_every=max(1, n // 50))
            records += coded_rows(model, x, rate_idx, res.y_symbols, res.z_int, names, method, n, res.seconds,
                                  res.final["loss"])
            print(f"  {e['name']} {method}@{n}: loss {np.mean(res.final['loss']):.4f} ({res.seconds:.0f} s)", flush=True)
    return records


def summarize(records):
    keys = sorted({(r["method"], r["steps"]) for r in records}, key=lambda k: (k[0] != "amortized", k[0], k[1]))
    lambdas = sorted({r["lambda"] for r in records})
    table = []
    for lam in lambdas:
        for m, s in keys:
            rs = [r for r in records if r["method"] == m and r["steps"] == s and r["lambda"] == lam]
            amort = [r for r in records if r["method"] == "amortized" and r["lambda"] == lam]
            table.append({"lambda": lam, "method": m, "steps": s, "bpp": np.mean([r["bpp"] for r in rs]),
                          "psnr": np.mean([r["psnr"] for r in rs]), "true_loss": np.mean([r["true_loss"] for r in rs]),
                          "s_per_image": np.mean([r["seconds"] for r in rs]),
                          "beats_amortized": int(sum(r["true_loss"] < a["true_loss"] for r, a in zip(rs, amort))),
                          "images": len(rs)})
    bd = {}
    anchor = [t for t in table if t["method"] == "amortized"]
    for m, s in keys:
        if m == "amortized":
            continue
        test = [t for t in table if t["method"] == m and t["steps"] == s]
        try:
            bd[f"{m}@{s}"] = bd_rate([t["bpp"] for t in anchor], [t["psnr"] for t in anchor],
                                     [t["bpp"] for t in test], [t["psnr"] for t in test])
        except ValueError as err:
            bd[f"{m}@{s}"] = f"n/a ({err})"
    return table, bd


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", default="mshp", help="shipped hyperprior base name")
    p.add_argument("--images", type=int, default=6)
    p.add_argument("--crop", type=int, default=128)
    p.add_argument("--steps", type=int, default=500, help="iterations for every method")
    p.add_argument("--sga-steps", type=int, nargs="*", default=[2000], help="extra SGA rows with these iterations")
    p.add_argument("--methods", nargs="+", default=list(METHODS))
    p.add_argument("--lambdas", type=float, nargs="+")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--json", default=str(Path(__file__).parent / "results" / "sga.json"))
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    t0 = time.time()
    records = run(a.model, a.images, a.crop, a.steps, a.sga_steps, a.methods, a.lambdas)
    table, bd = summarize(records)
    print(f"\nKodak, first {a.images} images, {a.crop}x{a.crop} centre crops, model {a.model}, "
          f"{a.threads} thread(s), {time.time() - t0:.0f} s in all")
    print(f"{'lambda':>8} {'method':>14} {'steps':>6} {'bpp':>7} {'PSNR':>7} {'loss':>8} {'s/img':>7} {'<amort':>7}")
    for t in table:
        print(f"{t['lambda']:>8g} {t['method']:>14} {t['steps']:>6} {t['bpp']:7.4f} {t['psnr']:7.2f} "
              f"{t['true_loss']:8.4f} {t['s_per_image']:7.1f} {t['beats_amortized']:>4}/{t['images']}")
    print("\nBD-rate vs amortized (PSNR), negative = saves rate:")
    for k, v in bd.items():
        print(f"  {k:>20}: {v:+.1f} %" if isinstance(v, float) else f"  {k:>20}: {v}")
    _records.write(a.json, "sga", {"args": vars(a), "table": table, "bd_rate_vs_amortized": bd, "records": records})
    print(f"wrote {a.json}")


if __name__ == "__main__":
    main()
