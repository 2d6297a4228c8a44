"""Large photos: a 4000 x 3000 image through every shipped amortized model, with peak memory.

The image is a mosaic of 16 real training photos at their native resolution (4 x 4 crops of
1000 x 750 from ``$NEURCOMP_DATA/train``), so it has a phone picture's size and real detail. For
each model, ``compress`` runs in one fresh process (2 torch threads) and ``neurcomp decompress``
in another (1 thread); the benchmark checks that the decoded PNG equals the encoder's
reconstruction and reports the file's bpp, PSNR, seconds (and seconds per megapixel) and the
peak resident memory of each process (``wait4``'s ``ru_maxrss``). Prints a table, writes JSON.

    NEURCOMP_DATA=../shared/data python benchmarks/large_photos.py            # ~5-10 min per model on 2 cores
    python benchmarks/large_photos.py --models mshp@0.0067 --size 2000 1500
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from neurcomp.data import training_paths
from neurcomp.fileio import atomic_write
from neurcomp.metrics import psnr

DEFAULT_MODELS = ["mshp@0.0067", "fp@0.0067", "dvae@0.0067", "hdvae@0.0067", "vq"]
ENCODE = ("import sys, numpy as np, torch; torch.set_num_threads(2)\n"
          "from neurcomp.codec import compress_file\n"
          "r = compress_file(sys.argv[1], sys.argv[2], sys.argv[3])\n"
          "np.save(sys.argv[4], r['x_hat'])")


def mosaic(width: int, height: int, tiles: int = 4) -> np.ndarray:
    """A ``height x width`` RGB mosaic of ``tiles x tiles`` centre crops of the largest training photos."""
    tw, th = width // tiles, height // tiles
    photos = [p for p in training_paths() if p.suffix.lower() in (".png", ".jpg", ".jpeg")]
    big = [p for p in photos if Image.open(p).size[0] >= tw and Image.open(p).size[1] >= th][: tiles * tiles]
    if len(big) < tiles * tiles:
        raise SystemExit(f"need {tiles * tiles} training photos of at least {tw}x{th}, found {len(big)}")
    out = np.zeros((th * tiles, tw * tiles, 3), np.uint8)
    for k, p in enumerate(big):
        img = np.asarray(Image.open(p).convert("RGB"))
        t, l = (img.shape[0] - th) // 2, (img.shape[1] - tw) // 2
        r, c = divmod(k, tiles)
        out[r * th:(r + 1) * th, c * tw:(c + 1) * tw] = img[t:t + th, l:l + tw]
    return out


def run(cmd: list[str], threads: int) -> tuple[float, float, subprocess.CompletedProcess]:
    """Seconds and peak RSS (GiB) of one fresh process."""
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    _, status, usage = os.wait4(p.pid, 0)
    seconds = time.perf_counter() - t0
    out, err = p.stdout.read(), p.stderr.read()
    code = os.waitstatus_to_exitcode(status)
    if code:
        raise RuntimeError(f"{' '.join(cmd[:3])}... failed ({code}): {err[-500:]}")
    return seconds, usage.ru_maxrss / 2 ** 20, subprocess.CompletedProcess(cmd, code, out, err)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", nargs="+", default=DEFAULT_MODELS)
    ap.add_argument("--size", type=int, nargs=2, default=(4000, 3000), metavar=("W", "H"))
    ap.add_argument("--json", default=str(Path(__file__).parent / "results" / "large_photos.json"))
    a = ap.parse_args(argv)
    width, height = a.size
    img = mosaic(width, height)
    mp = width * height / 1e6
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "photo.png"
        Image.fromarray(img).save(src)
        for model in a.models:
            ncz, npy, png = (Path(tmp) / f"{model}.{ext}" for ext in ("ncz", "npy", "png"))
            enc_s, enc_gb, _ = run([sys.executable, "-c", ENCODE, str(src), str(ncz), model, str(npy)], 2)
            dec_s, dec_gb, _ = run([sys.executable, "-m", "neurcomp", "decompress", str(ncz), str(png)], 1)
            decoded = np.asarray(Image.open(png))
            row = {"model": model, "width": width, "height": height, "bpp": 8 * ncz.stat().st_size / (width * height),
                   "psnr": psnr(decoded, img), "exact": bool(np.array_equal(decoded, np.load(npy))),
                   "enc_s": enc_s, "dec_s": dec_s, "enc_s_per_mp": enc_s / mp, "dec_s_per_mp": dec_s / mp,
                   "enc_peak_gib": enc_gb, "dec_peak_gib": dec_gb}
            rows.append(row)
            print(f"{model:14s} {row['bpp']:.4f} bpp {row['psnr']:6.2f} dB  exact={row['exact']}  "
                  f"enc {enc_s:6.1f} s ({row['enc_s_per_mp']:.1f} s/MP, {enc_gb:.2f} GiB)  "
                  f"dec {dec_s:6.1f} s ({row['dec_s_per_mp']:.1f} s/MP, {dec_gb:.2f} GiB)", flush=True)
    print("\n| model | bpp | PSNR dB | exact | encode s (s/MP) | decode s (s/MP) | peak RSS enc / dec GiB |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for r in rows:
        print(f"| {r['model']} | {r['bpp']:.4f} | {r['psnr']:.2f} | {r['exact']} | {r['enc_s']:.1f} "
              f"({r['enc_s_per_mp']:.1f}) | {r['dec_s']:.1f} ({r['dec_s_per_mp']:.1f}) | "
              f"{r['enc_peak_gib']:.2f} / {r['dec_peak_gib']:.2f} |")
    atomic_write(a.json, (json.dumps({"command": " ".join(sys.argv), "rows": rows}, indent=1) + "\n").encode())
    return 0 if all(r["exact"] for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
