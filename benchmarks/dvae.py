"""Discretized VAEs (Duan 2022) on Kodak with the real codec: dvae and hdvae against JPEG and each other.

For every shipped network of kind ``dvae`` and ``hdvae`` (``neurcomp.zoo.list_models()``, grouped
by "base"), each rate point codes the images through ``neurcomp.evaluate.evaluate_model``: real
``.ncz`` bytes are written and decoded, the decoder's image checked against the encoder's.
Per rate point the table gives mean bpp (real file size, headers included), est_bpp (the model's
information content = its eval-mode rate_bits), PSNR, MS-SSIM (images >= 161 px) and encode /
decode seconds; for every hierarchical network, each latent level's share of the coded bits per
rate point. Then BD-rate (``neurcomp.metrics.bd_rate`` on the mean curves, PSNR; negative =
fewer bits at equal quality; "n/a" when the curves do not overlap or have < 4 points) of every
network against JPEG (``neurcomp.baselines.evaluate``, Pillow, default quality sweep, same
images) and of every hdvae against every dvae.

When no network of a kind is shipped the script says so and, for a smoke run, trains a tiny one
from ``configs/<kind>_tiny.yaml`` (``--smoke-steps`` steps, one thread) into a temporary zoo and
benchmarks that instead; the JSON then has ``"smoke": true`` and the numbers say nothing about
the method, only that the pipeline runs.

Usage (from the repository root; Kodak from $NEURCOMP_DATA/kodak):

    python benchmarks/dvae.py                                  # 24 images -> benchmarks/results/dvae.json
    python benchmarks/dvae.py --images 2 --crop 256 --json /tmp/dvae_smoke.json
"""
from __future__ import annotations

import argparse
import math
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

try:
    import neurcomp  # noqa: F401
except ImportError:  # run from a checkout without installing
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import PIL
import torch

import neurcomp
from neurcomp import baselines, data, metrics, zoo
from neurcomp.evaluate import evaluate_model
import _records  # noqa: E402  (benchmarks/ is on sys.path when run as a script)
from _common import nan_to_none  # noqa: E402  (benchmarks/ is on sys.path when run as a script)

ROOT = Path(__file__).resolve().parents[1]
KINDS = ("dvae", "hdvae")
ANCHOR = "jpeg"




def _mean(values) -> float:
    vals = [float(v) for v in values if v is not None]
    return float(np.mean(vals)) if vals else float("nan")


def bd(anchor: dict, test: dict) -> dict:
    """BD-rate (%) of ``test`` vs ``anchor`` on PSNR, with the PSNR range both curves cover."""
    lo, hi = max(anchor["psnr"].min(), test["psnr"].min()), min(anchor["psnr"].max(), test["psnr"].max())
    out = {"bd_rate": float("nan"), "overlap_db": [float(lo), float(hi)] if hi > lo else None, "error": None}
    try:
        out["bd_rate"] = metrics.bd_rate(anchor["bpp"], anchor["psnr"], test["bpp"], test["psnr"])
    except ValueError as e:
        out["error"] = str(e)
    return out


# ----------------------------------------------------------------------------- models


def shipped_bases() -> dict[str, list[dict]]:
    bases: dict[str, list[dict]] = {}
    for e in zoo.list_models():
        if e["kind"] in KINDS:
            bases.setdefault(e["base"], []).append(e)
    return bases


def train_smoke_models(kinds, steps: int, out_dir: Path) -> dict[str, float]:
    """Train ``configs/<kind>_tiny.yaml`` for ``steps`` steps and export it as ``<kind>_smoke``."""
    from neurcomp.train import load_config, train

    seconds = {}
    for kind in kinds:
        cfg = {**load_config(ROOT / "configs" / f"{kind}_tiny.yaml"), "steps": steps, "eval_images": 0}
        t0 = time.perf_counter()
        torch.manual_seed(cfg["seed"])
        ck = train(cfg, out_dir / f"run_{kind}", quiet=True)
        zoo.export(ck, f"{kind}_smoke", out_dir / "zoo")
        seconds[f"{kind}_smoke"] = time.perf_counter() - t0
        print(f"  trained {kind}_smoke: {steps} steps of configs/{kind}_tiny.yaml in {seconds[f'{kind}_smoke']:.0f} s",
              file=sys.stderr)
    os.environ["NEURCOMP_WEIGHTS_PATH"] = os.pathsep.join(
        p for p in [os.environ.get("NEURCOMP_WEIGHTS_PATH", ""), str(out_dir / "zoo")] if p)
    zoo._load_cached.cache_clear()
    return seconds


# ----------------------------------------------------------------------------- images


def prepare_images(n: int, crop: int | None, tmp: Path) -> list[Path]:
    """The first ``n`` Kodak images, or their ``crop`` x ``crop`` centre crops written as PNGs
    (so that our codec and JPEG see exactly the same pixels)."""
    paths = data.kodak_paths()[:n]
    if not crop:
        return paths
    out = []
    (tmp / "images").mkdir(parents=True, exist_ok=True)
    for p in paths:
        x = data.load_image(p)
        h, w = x.shape[1:]
        t, l = (h - crop) // 2, (w - crop) // 2
        q = tmp / "images" / f"{p.stem}.png"
        data.save_png(x[:, t : t + crop, l : l + crop], q)
        out.append(q)
    return out


# ----------------------------------------------------------------------------- runs


def run_models(paths, bases: dict, progress: bool):
    records, table = [], []
    for base, entries in bases.items():
        zoo.load_pretrained(entries[0]["name"])  # load + hash outside the timings
        for e in entries:
            t0 = time.perf_counter()
            recs = evaluate_model(paths, e["name"], progress=progress)
            wall = time.perf_counter() - t0
            for r in recs:
                r["base"], r["kind"], r["lambda"] = base, e["kind"], e["value"]
            records += recs
            bpp, est = _mean(r["bpp"] for r in recs), _mean(r["est_bpp"] for r in recs)
            table.append({"base": base, "model": e["name"], "kind": e["kind"], "lambda": e["value"],
                          "images": len(recs), "bpp": bpp, "est_bpp": est,
                          "overhead_pct": 100.0 * (bpp - est) / est if est > 0 else float("nan"),
                          "psnr": _mean(r["psnr"] for r in recs), "ms_ssim": _mean(r["ms_ssim"] for r in recs),
                          "enc_s": _mean(r["enc_s"] for r in recs), "dec_s": _mean(r["dec_s"] for r in recs),
                          "wall_s": wall})
            print(f"  {e['name']}: {bpp:.4f} bpp, {table[-1]['psnr']:.2f} dB ({wall:.1f} s)", file=sys.stderr)
    return records, table


def curve(records) -> dict:
    b, p, m = metrics.mean_curve(records, "model")
    return {"bpp": b, "psnr": p, "ms_ssim_db": m}


def summarize(bases: dict, records: list, jpeg_curve: dict) -> dict:
    curves = {base: curve([r for r in records if r["base"] == base]) for base in bases}
    kinds = {base: entries[0]["kind"] for base, entries in bases.items()}
    vs_jpeg = {base: bd(jpeg_curve, c) for base, c in curves.items()}
    h_vs_d = {f"{h} vs {d}": bd(curves[d], curves[h])
              for h in bases if kinds[h] == "hdvae" for d in bases if kinds[d] == "dvae"}
    return {"curves": curves, "bd_vs_jpeg": vs_jpeg, "bd_hdvae_vs_dvae": h_vs_d, "level_shares": level_shares(records)}


def level_shares(records) -> dict:
    """Per hierarchical network and rate point: each latent level's share (%) of the coded bits
    (information content of that level's symbols, summed over all images), finest level first."""
    out: dict = {}
    for r in records:
        if r["kind"] != "hdvae":
            continue
        tot = out.setdefault(r["base"], {}).setdefault(r["model"], {"lambda": r["lambda"], "bits": {}})["bits"]
        for part, bpp in r["part_bpp"].items():
            tot[part] = tot.get(part, 0.0) + bpp * r["height"] * r["width"]
    for base in out.values():
        for row in base.values():
            total = sum(row["bits"].values())
            row["share_pct"] = {p: 100.0 * b / total for p, b in sorted(row.pop("bits").items())}
    return out


def _fmt_bd(e: dict) -> str:
    if math.isfinite(e["bd_rate"]):
        lo, hi = e["overlap_db"]
        return f"{e['bd_rate']:+8.1f} %  (PSNR {lo:.2f} - {hi:.2f} dB)"
    return f"     n/a  ({e['error']})"


def print_report(paths, table, summary, jpeg_curve, smoke, train_seconds) -> None:
    print(f"\nDiscretized VAEs, real codec on {len(paths)} Kodak image(s) "
          f"({'x'.join(map(str, data.load_image(paths[0]).shape[1:]))} first); means over images; "
          f"torch {torch.__version__}, {torch.get_num_threads()} thread(s)")
    if smoke:
        print("SMOKE RUN: no shipped dvae/hdvae for " + ", ".join(smoke) + "; freshly trained tiny models "
              "(" + ", ".join(f"{k} {v:.0f} s" for k, v in train_seconds.items()) + "): pipeline check, not results")
    print(f"\n{'model':<22} {'kind':<6} {'lambda':>8} {'bpp':>7} {'est bpp':>8} {'ovh %':>6} {'PSNR':>6} "
          f"{'MS-SSIM':>8} {'enc s':>6} {'dec s':>6}")
    for r in table:
        ms = f"{r['ms_ssim']:>8.4f}" if math.isfinite(r["ms_ssim"]) else f"{'-':>8}"
        print(f"{r['model']:<22} {r['kind']:<6} {r['lambda']:>8g} {r['bpp']:>7.4f} {r['est_bpp']:>8.4f} "
              f"{r['overhead_pct']:>+6.2f} {r['psnr']:>6.2f} {ms} {r['enc_s']:>6.2f} {r['dec_s']:>6.2f}")
    jb, jp = jpeg_curve["bpp"], jpeg_curve["psnr"]
    print(f"\nJPEG (Pillow, {len(jb)} qualities): {jb[0]:.3f} - {jb[-1]:.3f} bpp, {jp.min():.2f} - {jp.max():.2f} dB")
    print("\nBD-rate, PSNR (negative = fewer bits at equal quality)")
    for base, e in summary["bd_vs_jpeg"].items():
        print(f"  {base + ' vs JPEG':<34} {_fmt_bd(e)}")
    for name, e in summary["bd_hdvae_vs_dvae"].items():
        print(f"  {name:<34} {_fmt_bd(e)}")
    for base, rows in summary["level_shares"].items():
        levels = list(next(iter(rows.values()))["share_pct"])
        print(f"\n{base}: share of the coded bits per latent level (%, all images; z0 = finest)")
        print(f"{'model':<22} " + " ".join(f"{lv:>7}" for lv in levels))
        for name, row in rows.items():
            print(f"{name:<22} " + " ".join(f"{row['share_pct'][lv]:>7.2f}" for lv in levels))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--images", type=int, default=24, help="first N Kodak images (default 24)")
    p.add_argument("--crop", type=int, default=None, help="centre crops of this side instead of full images")
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    p.add_argument("--smoke-steps", type=int, default=50, help="training steps of a smoke model (default 50)")
    p.add_argument("--json", default=str(ROOT / "benchmarks" / "results" / "dvae.json"))
    p.add_argument("--progress", action="store_true")
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    t_start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        bases = shipped_bases()
        missing = [k for k in KINDS if not any(e[0]["kind"] == k for e in bases.values())]
        train_seconds = {}
        if missing:
            print(f"no shipped model of kind {', '.join(missing)}: training tiny one(s) for a smoke run",
                  file=sys.stderr)
            train_seconds = train_smoke_models(missing, a.smoke_steps, tmp)
            bases = {b: es for b, es in shipped_bases().items()
                     if es[0]["kind"] not in missing or b.endswith("_smoke")}
        paths = prepare_images(a.images, a.crop, tmp)
        records, table = run_models(paths, bases, a.progress)
        jpeg_records = baselines.evaluate(paths, ANCHOR, progress=a.progress)
        jpeg_curve = {k: v for k, v in zip(("bpp", "psnr", "ms_ssim_db"), metrics.mean_curve(jpeg_records, "quality"))}
        summary = summarize(bases, records, jpeg_curve)
        print_report(paths, table, summary, jpeg_curve, missing, train_seconds)
    out = {"benchmark": "dvae", "dataset": "kodak", "images": [Path(q).stem for q in paths], "crop": a.crop,
           "smoke": bool(missing), "smoke_kinds": missing, "smoke_steps": a.smoke_steps if missing else None,
           "smoke_train_seconds": train_seconds, "anchor": ANCHOR, "anchor_settings": baselines.CODEC_NOTES[ANCHOR],
           "versions": {"neurcomp": getattr(neurcomp, "__version__", None), "torch": torch.__version__,
                        "pillow": PIL.__version__, "python": platform.python_version()},
           "torch_threads": torch.get_num_threads(), "table": table, **summary, "jpeg_curve": jpeg_curve,
           "records": records, "jpeg_records": jpeg_records, "seconds": time.perf_counter() - t_start}
    _records.write(a.json, "dvae", nan_to_none(out))
    print(f"\nwrote {a.json} ({out['seconds']:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
