"""Colour shifts of decoded images: the mean per-channel error of each network, photo by photo.

A codec can score a fair PSNR and still decode a photo in the wrong colours (a VQ codebook
without saturated colours turns a green leaf brown-grey). This measures it directly: for each
photo and model, the real codec writes and decodes the stream, and we take the **mean signed
error of each RGB channel** over the image, in 8-bit levels (``mean(x_hat - x) * 255``), and
its largest magnitude over the three channels, ``shift`` (0 = no cast; a cast of 10 levels is
visible on a grey card). Per model the table gives the mean and the worst ``shift`` over the
photos and the photo where it is worst, with bpp and PSNR; the hyperprior at the rate point
nearest in bpp is the reference (``--reference``), and ``ratio`` = model's mean shift / the
reference's. Then JPEG's PSNR at each model's bpp on the same photos (interpolated in its
quality sweep), so a network's R-D can be compared with JPEG *at its own rates*.

    python benchmarks/colour_shift.py                                  # vq, vq_alpha0 vs mshp on 24 Kodak photos
    python benchmarks/colour_shift.py --folder ../shared/data/train/wikipedia_photos --images 12
    python benchmarks/colour_shift.py --models vq --images 2 --json /tmp/colour.json

Writes ``benchmarks/results/colour_shift.json`` (per-photo records and the table).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

try:
    import neurcomp  # noqa: F401
except ImportError:  # run from a checkout without installing
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import torch

from neurcomp import baselines, data, metrics, zoo
from neurcomp.codec import compress_image, decompress_stream
from neurcomp.fileio import atomic_write
from neurcomp.metrics import mean_channel_error, psnr

ROOT = Path(__file__).resolve().parents[1]


def code(name: str, model: str, x: torch.Tensor) -> dict:
    """Code one photo with the real codec; the record with bpp, PSNR and the channel errors."""
    stream, info = compress_image(x, model)
    x_hat, _ = decompress_stream(stream)
    if not np.array_equal(x_hat, info["x_hat"]):
        raise RuntimeError(f"{model}/{name}: decoder output differs from the encoder's reconstruction")
    errs = mean_channel_error(x_hat, x)
    h, w = x.shape[1:]
    return {"image": name, "model": model, "bpp": 8 * len(stream) / (h * w), "psnr": psnr(x_hat, x),
            "channel_error": errs, "shift": max(abs(e) for e in errs)}


def reference_point(base: str, bpp: float, photos) -> str:
    """The rate point of ``base`` whose bpp on the first photo is nearest ``bpp``."""
    name, x = photos[0]
    best = None
    for e in (e for e in zoo.list_models() if e["base"] == base):
        r = code(name, e["name"], x)
        if best is None or abs(r["bpp"] - bpp) < best[0]:
            best = (abs(r["bpp"] - bpp), e["name"])
    return best[1]


def jpeg_psnr_at(photos_paths, bpps: dict[str, float]) -> dict[str, float]:
    """JPEG's mean PSNR (Pillow quality sweep, same photos) interpolated at each given mean bpp."""
    b, p, _ = metrics.mean_curve(baselines.evaluate(photos_paths, "jpeg", progress=False), "quality")
    return {m: float(np.interp(v, b, p)) for m, v in bpps.items()}


def summarize(records, models) -> list[dict]:
    rows = []
    for m in models:
        rs = [r for r in records if r["model"] == m]
        worst = max(rs, key=lambda r: r["shift"])
        rows.append({"model": m, "photos": len(rs), "bpp": float(np.mean([r["bpp"] for r in rs])),
                     "psnr": float(np.mean([r["psnr"] for r in rs])),
                     "mean_shift": float(np.mean([r["shift"] for r in rs])), "worst_shift": worst["shift"],
                     "worst_photo": worst["image"], "worst_channel_error": worst["channel_error"]})
    return rows


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--models", nargs="+", default=["vq", "vq_alpha0"], help="shipped model names")
    p.add_argument("--reference", default="mshp", help="network whose nearest rate point is the reference")
    p.add_argument("--folder", help="photos to use instead of Kodak (any folder neurcomp.data.list_images reads)")
    p.add_argument("--images", type=int, default=24, help="first N photos (default 24)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--json", default=str(ROOT / "benchmarks" / "results" / "colour_shift.json"))
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    t0 = time.time()
    paths = (data.list_images(a.folder) if a.folder else data.kodak_paths())[: a.images]
    photos = [(q.stem, data.load_image(q)) for q in paths]
    records = [code(n, m, x) for m in a.models for n, x in photos]
    first = {m: next(r["bpp"] for r in records if r["model"] == m) for m in a.models}
    refs = sorted({reference_point(a.reference, b, photos) for b in first.values()})
    records += [code(n, m, x) for m in refs for n, x in photos]
    rows = summarize(records, [*a.models, *refs])
    jpeg = jpeg_psnr_at(paths, {r["model"]: r["bpp"] for r in rows})
    ref_shift = min(rows[len(a.models):], key=lambda r: r["mean_shift"])["mean_shift"] if refs else float("nan")
    for r in rows:
        r["jpeg_psnr_at_bpp"] = jpeg[r["model"]]
        r["ratio_to_reference"] = r["mean_shift"] / ref_shift if ref_shift > 0 else float("nan")
    where = a.folder or "Kodak"
    print(f"\nColour shift, real codec, {len(photos)} photo(s) of {where}; shift = largest |mean channel error| "
          f"(8-bit levels); {time.time() - t0:.0f} s")
    print(f"{'model':<16} {'bpp':>6} {'PSNR':>6} {'JPEG@bpp':>8} {'mean shift':>10} {'ratio':>6} "
          f"{'worst':>6}  worst photo (R, G, B errors)")
    for r in rows:
        e = ", ".join(f"{v:+.1f}" for v in r["worst_channel_error"])
        print(f"{r['model']:<16} {r['bpp']:>6.3f} {r['psnr']:>6.2f} {r['jpeg_psnr_at_bpp']:>8.2f} "
              f"{r['mean_shift']:>10.2f} {r['ratio_to_reference']:>6.2f} {r['worst_shift']:>6.1f}  "
              f"{r['worst_photo']} ({e})")
    out = {"benchmark": "colour_shift", "photos": where, "images": [n for n, _ in photos], "reference": refs,
           "torch_threads": torch.get_num_threads(), "table": rows, "records": records,
           "seconds": time.time() - t0}
    Path(a.json).parent.mkdir(parents=True, exist_ok=True)
    atomic_write(a.json, (json.dumps(out, indent=1) + "\n").encode())
    print(f"wrote {a.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
