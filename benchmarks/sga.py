"""Benchmark: amortized inference vs SGA and its ablations (Yang et al. 2020, Table 1 / Fig. 3).

For every shipped lambda of a hyperprior model and a set of Kodak centre crops (all
crops optimized together as one batch: Adam's per-coordinate steps make that the same
as optimizing each image alone), run each method and measure, per image, the real
coded size (range coder, bits per pixel), PSNR, the true R-D loss and seconds; print
mean rows and the BD-rate of each method against amortized (PSNR), and write JSON.

Every method runs the paper's 2000 steps by default (Yang et al. 2020, Table 1 and S3); SGA also runs
at 500. SGA and deterministic annealing (A4) anneal their temperature with the paper's schedule scaled
to the step budget (``neurcomp.inference.schedule_for``: t0 = 0.35 steps, c = 2 / steps, so exactly
t0 = 700, c = 0.001 at 2000 steps); every row records the schedule it ran (``tau0``, ``t0``, ``c``).

    python benchmarks/sga.py --images 4 --crop 128 --steps 2000 --sga-steps 500

Hours on one CPU thread: after every method the rows so far are saved next to the results file
(``sga.json.partial``), and a run interrupted with the same settings goes on from them when started again
(one run: the results file records its run id and how many times it was started).
"""
from __future__ import annotations

import argparse
import json
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
from _common import resume_partial  # noqa: E402

#: the methods whose relaxation has a temperature (the others ignore the schedule)
ANNEALED = ("sga", "det_annealing")


def centre_crops(n: int, size: int) -> tuple[list[str], torch.Tensor]:
    images = kodak()[:n]
    return [name for name, _ in images], torch.stack([centre_crop(img, size) for _, img in images])


def coded_rows(model, x, rate_idx, y_symbols, z_int, names, method, steps, seconds, loss, schedule=None):
    rows = []
    for i, name in enumerate(names):
        out = model.compress_latents(torch.zeros_like(y_symbols[i : i + 1]), z_int[i : i + 1], rate_idx,
                                     y_symbols=y_symbols[i : i + 1])
        n_bytes = sum(len(s) for s in out.sections)
        h, w = x.shape[-2:]
        rows.append({"image": name, "method": method, "steps": steps, "lambda": model.lambdas[rate_idx],
                     "bpp": 8 * n_bytes / (h * w), "est_bpp": sum(out.bits.values()) / (h * w),
                     "psnr": psnr(out.x_hat[0].clamp(0, 1), x[i]), "true_loss": float(loss[i]),
                     "seconds": seconds / len(names),
                     **({"tau0": schedule["tau0"], "t0": schedule["t0"], "c": schedule["c"]}
                        if schedule and method in ANNEALED else {})})
    return rows


def run(base: str, n_images: int, crop: int, steps: int, sga_steps: list[int], methods, lambdas=None, seed=0,
        records=None, save=None):
    """Every method at every rate point; ``records``: rows of an interrupted run with the same settings (their
    (lambda, method, steps) are not run again); ``save(records)`` is called after each method."""
    names, x = centre_crops(n_images, crop)
    entries = [e for e in list_models() if e["base"] == base and (lambdas is None or e["value"] in lambdas)]
    records = list(records or [])
    done = {(r["lambda"], r["method"], r["steps"]) for r in records}
    for e in entries:
        model, rate_idx, _ = load_pretrained(e["name"])
        lam = model.lambdas[rate_idx]
        runs = [(m, steps) for m in methods] + [("sga", s) for s in sga_steps if s != steps or "sga" not in methods]
        if all((lam, m, n) in done for m, n in [("amortized", 0), *runs]):
            continue
        t0 = time.perf_counter()
        with torch.no_grad():
            y, z = amortized_latents(model, x, rate_idx)
            tl = true_loss(model, x, y, z, rate_idx)
            z_int = torch.round(z)
            mean, _ = model.entropy_parameters(z_int, model.hgains(torch.full((len(names),), rate_idx))[1])
            y_sym = torch.round(y - mean)
        if (lam, "amortized", 0) not in done:
            records += coded_rows(model, x, rate_idx, y_sym, z_int, names, "amortized", 0, time.perf_counter() - t0,
                                  tl["loss"])
        for method, n in runs:
            if (lam, method, n) in done:
                continue
            with torch.enable_grad():
                res = optimize_latents(model, x, rate_idx, method=method, steps=n, seed=seed, record_every=max(1, n // 50))
            records += coded_rows(model, x, rate_idx, res.y_symbols, res.z_int, names, method, n, res.seconds,
                                  res.final["loss"], res.schedule)
            print(f"  {e['name']} {method}@{n}: loss {np.mean(res.final['loss']):.4f} ({res.seconds:.0f} s)", flush=True)
            if save:
                save(records)
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
                          "images": len(rs),
                          "schedule": ({k: rs[0][k] for k in ("tau0", "t0", "c")} if "t0" in rs[0] else None)})
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
    p.add_argument("--images", type=int, default=4)
    p.add_argument("--crop", type=int, default=128)
    p.add_argument("--steps", type=int, default=2000, help="iterations for every method (the paper's 2000)")
    p.add_argument("--sga-steps", type=int, nargs="*", default=[500], help="extra SGA rows with these iterations")
    p.add_argument("--methods", nargs="+", default=list(METHODS))
    p.add_argument("--lambdas", type=float, nargs="+")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--json", default=str(Path(__file__).parent / "results" / "sga.json"))
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    t0 = time.time()
    # a run of hours can be interrupted: its rows so far are kept next to the results file and a later run with
    # the same settings goes on from them (the same run: one run id, the number of starts recorded)
    partial, partial_path = resume_partial(a.json, {k: v for k, v in vars(a).items() if k != "json"})
    if partial["records"]:
        print(f"going on from {len(partial['records'])} rows of run {partial['run_id']} ({partial_path})", flush=True)

    def save(rows):
        partial["records"] = rows
        partial_path.write_text(json.dumps(partial))

    records = run(a.model, a.images, a.crop, a.steps, a.sga_steps, a.methods, a.lambdas, records=partial["records"],
                  save=save)
    table, bd = summarize(records)
    print(f"\nKodak, first {a.images} images, {a.crop}x{a.crop} centre crops, model {a.model}, "
          f"{a.threads} thread(s), {time.time() - t0:.0f} s in all")
    print(f"{'lambda':>8} {'method':>14} {'steps':>6} {'bpp':>7} {'PSNR':>7} {'loss':>8} {'s/img':>7} {'<amort':>7}"
          f"  schedule")
    for t in table:
        sched = "t0={t0} c={c:g} tau0={tau0:g}".format(**t["schedule"]) if t["schedule"] else "-"
        print(f"{t['lambda']:>8g} {t['method']:>14} {t['steps']:>6} {t['bpp']:7.4f} {t['psnr']:7.2f} "
              f"{t['true_loss']:8.4f} {t['s_per_image']:7.1f} {t['beats_amortized']:>4}/{t['images']}  {sched}")
    print("\nBD-rate vs amortized (PSNR), negative = saves rate:")
    for k, v in bd.items():
        print(f"  {k:>20}: {v:+.1f} %" if isinstance(v, float) else f"  {k:>20}: {v}")
    _records.write(a.json, "sga", {"args": vars(a), "table": table, "bd_rate_vs_amortized": bd, "records": records},
                   run_id=partial["run_id"], starts=partial["starts"])
    partial_path.unlink(missing_ok=True)
    print(f"wrote {a.json}")


if __name__ == "__main__":
    main()
