"""Benchmark: the overfitted codec against WebP, JPEG, AVIF and the amortized hyperprior on the same crops.

On 256 x 256 centre crops of the first Kodak images, for every lambda:

* ``overfit``: ``overfit:PRESET@LAMBDA`` trained on each crop for ``--steps`` (default: the preset's) and
  written as a real ``.ncz`` stream (container header included in ``bpp``); encode and decode seconds; the
  bits of the networks' parameters and of the latents; the width the encoder kept (of the preset's
  candidates) and each candidate's R-D cost; the decoder's multiply-accumulates per pixel;
* ``amortized`` on the shipped mean-scale hyperprior at the same lambda (``mshp@LAMBDA``; real streams too);
* JPEG, WebP and AVIF (Pillow) over their quality sweeps on the same crops.

Every overfitted stream is decoded again by the CLI in one fresh process with another thread count
(``--threads`` for encoding, the other of 1 / 2 for decoding) and must give the encoder's pixels.
Prints the mean curves and BD-rates (PSNR) of the overfitted codec against each other row, and writes
a results file whose provenance holds the command, steps, seeds and the run id (the overfitted rows
depend on no shipped weights; the ``mshp`` rows record its fingerprint).

    python benchmarks/overfit.py --images 6 --crop 256 --preset fast --lambdas 0.0018 0.0067 0.013 0.0483

The same crops with ``mshp`` + SGA at the paper's 2000 steps are ``benchmarks/sga.py``'s (``--images 6 --crop 256
--methods sga --sga-steps --json benchmarks/results/sga_256.json``: about 40 minutes per lambda on one thread);
chapter 10 reads both files.

Encoding is training: minutes per crop and lambda. After every (crop, lambda) the rows so far are saved next
to the results file (``overfit.json.partial``), and a run started again with the same settings goes on from
them (one run id; the number of starts recorded).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
import _records  # noqa: E402
from _common import nan_to_none, resume_partial  # noqa: E402

from neurcomp import baselines, results  # noqa: E402
from neurcomp.book.benchmarks import installed_weights  # noqa: E402
from neurcomp.codec import compress_image, decompress_stream  # noqa: E402
from neurcomp.data import kodak, save_png  # noqa: E402
from neurcomp.evaluate import centre_crop  # noqa: E402
from neurcomp.metrics import bd_rate, psnr  # noqa: E402
from neurcomp.zoo.overfit import PRESETS, architecture_sha256, model_name  # noqa: E402

CODECS = ("jpeg", "webp", "avif")

DECODER = """
import hashlib, json, sys, time, torch
torch.set_num_threads(int(sys.argv[1]))
from neurcomp.codec import decompress_stream
out = {}
for path in sys.argv[2:]:
    t0 = time.perf_counter()
    img, _ = decompress_stream(open(path, "rb").read())
    out[path] = {"sha256": hashlib.sha256(img.tobytes()).hexdigest(), "dec_s": time.perf_counter() - t0}
print(json.dumps(out))
"""


def _sha(arr: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(arr).tobytes()).hexdigest()


def code_one(x: torch.Tensor, name: str, model: str, method: str | None, steps: int | None, seed: int,
             stream_path: Path | None = None) -> dict:
    """Encode + decode one crop with a named model; the row (file rate, PSNR, seconds, parts)."""
    t0 = time.perf_counter()
    data, info = compress_image(x, model, method, steps, seed)
    enc_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    x_hat, stream = decompress_stream(data)
    dec_s = time.perf_counter() - t0
    if not np.array_equal(x_hat, info["x_hat"]):
        raise SystemExit(f"{name} {model}: the decoder's pixels differ from the encoder's")
    if stream_path is not None:
        stream_path.write_bytes(data)
    h, w = x.shape[-2:]
    extra = info["extra_info"]
    return {"image": name, "model": model, "method": stream.method, "bpp": 8 * len(data) / (h * w),
            "est_bpp": sum(float(b) for b in info["bits"].values()) / (h * w),
            "part_bpp": {k: float(v) / (h * w) for k, v in info["bits"].items()},
            "psnr": psnr(torch.from_numpy(x_hat).permute(2, 0, 1).float() / 255, x), "enc_s": enc_s, "dec_s": dec_s,
            "bytes": len(data), "steps": extra.get("steps", steps), "macs_per_pixel": extra.get("macs_per_pixel"),
            **({"widths": extra["widths"], "width_rd_costs": extra["width_rd_costs"]} if "widths" in extra else {}),
            "x_hat_sha256": _sha(x_hat), **({"stream": stream_path.name} if stream_path is not None else {})}


def decode_fresh(paths: list[Path], threads: int) -> dict:
    proc = subprocess.run([sys.executable, "-c", DECODER, str(threads), *map(str, paths)], capture_output=True,
                          text=True, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def mean_curve(rows, key="model"):
    """``{label: (bpp, psnr)}``: the mean over images of each rate point, sorted by rate."""
    points = {}
    for r in rows:
        points.setdefault(r[key], []).append((r["bpp"], r["psnr"]))
    curve = sorted((float(np.mean([b for b, _ in v])), float(np.mean([p for _, p in v]))) for v in points.values())
    return [c[0] for c in curve], [c[1] for c in curve]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--images", type=int, default=6, help="the first N Kodak images (default 6)")
    ap.add_argument("--crop", type=int, default=256, help="centre crop side in pixels (default 256)")
    ap.add_argument("--preset", choices=list(PRESETS), default="fast")
    ap.add_argument("--steps", type=int, help="Adam steps per crop (default: the preset's)")
    ap.add_argument("--lambdas", type=float, nargs="+", default=[0.0018, 0.0067, 0.013, 0.0483])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2, help="torch threads for encoding (decoding: the other count)")
    ap.add_argument("--json", default="benchmarks/results/overfit.json")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    steps = args.steps or PRESETS[args.preset]["steps"]
    images = [(n, centre_crop(img, args.crop)) for n, img in kodak()[: args.images]]
    import neurcomp.models.overfit as overfit_module  # its source's hash: a partial run of other code starts afresh

    code = hashlib.sha256(Path(overfit_module.__file__).read_bytes()).hexdigest()[:16]
    arch = architecture_sha256({"kind": "overfit", **PRESETS[args.preset]})[:16]  # with the starting networks' file
    settings = {k: v for k, v in vars(args).items() if k != "json"} | {"steps": steps, "overfit_code": code,
                                                                        "architecture": arch,
                                                                        "images": [n for n, _ in images]}
    partial, partial_path = resume_partial(args.json, settings, done=[])
    out_dir = Path(tempfile.mkdtemp(prefix="overfit_streams_"))

    def save():
        partial_path.write_text(json.dumps(nan_to_none(partial), indent=1))

    jobs = [(lam, n, x, m, meth, st) for lam in args.lambdas for n, x in images for m, meth, st in
            [(model_name(args.preset, lam), None, steps), (f"mshp@{lam:g}", "amortized", None)]]
    for i, (lam, name, x, model, method, st) in enumerate(jobs, 1):
        key = f"{model} {method or 'overfit'} {name or 'all crops'}"
        if key in partial["done"]:
            continue
        t0 = time.perf_counter()
        row = code_one(x, name, model, method, st, args.seed,
                       out_dir / f"{name}_{lam:g}.ncz" if method is None else None)
        row["lambda"] = lam
        if method is None:  # decode this stream in a fresh process with the other thread count now
            fresh = decode_fresh([out_dir / row["stream"]], 1 if args.threads != 1 else 2)
            got = next(iter(fresh.values()))
            row["fresh_process_exact"] = got["sha256"] == row["x_hat_sha256"]
            row["fresh_dec_s"] = got["dec_s"]
        partial["records"].append(row)
        partial["done"].append(key)
        save()
        print(f"[{i}/{len(jobs)}] {key}: {row['bpp']:.4f} bpp {row['psnr']:.2f} dB, enc {row['enc_s']:.1f} s "
              f"dec {row['dec_s']:.2f} s ({time.perf_counter() - t0:.0f} s)", flush=True)

    with tempfile.TemporaryDirectory() as tmp:  # the classical codecs on the same crops (PNG files of them)
        paths = [save_png(x, Path(tmp) / f"{n}.png") for n, x in images]
        codec_rows = [r for c in CODECS if baselines.available_codecs().get(c)
                      for r in baselines.evaluate(paths, c, progress=False)]

    rows = partial["records"]
    overfit = [r for r in rows if r["method"] == "overfit"]
    curves = {"overfit": mean_curve(overfit)}
    curves["mshp amortized"] = mean_curve([r for r in rows if r["method"] == "amortized"])
    for c in dict.fromkeys(r["codec"] for r in codec_rows):
        curves[c] = mean_curve([{**r, "model": r["quality"]} for r in codec_rows if r["codec"] == c])
    macs = sorted({r["macs_per_pixel"] for r in overfit})  # one per width the encoder kept
    print(f"\n{len(images)} Kodak centre crops of {args.crop} px; overfit:{args.preset} ({steps} steps, "
          f"{' or '.join(f'{m:.0f}' for m in macs)} MAC/px)")
    print(f"{'lambda':>8} {'overfit bpp':>11} {'dB':>6} {'params bpp':>10} {'enc s':>6} {'dec s':>6}"
          f" | {'mshp bpp':>8} {'dB':>6} | widths kept")
    for lam in args.lambdas:
        def mean(meth, k, rs=rows, lam=lam):
            v = [r[k] for r in rs if r["lambda"] == lam and r["method"] == meth]
            return float(np.mean(v)) if v else float("nan")
        params = float(np.mean([r["part_bpp"].get("params", 0) for r in overfit if r["lambda"] == lam]))
        print(f"{lam:>8g} {mean('overfit', 'bpp'):>11.4f} {mean('overfit', 'psnr'):>6.2f} {params:>10.4f} "
              f"{mean('overfit', 'enc_s'):>6.0f} {mean('overfit', 'dec_s'):>6.2f} | {mean('amortized', 'bpp'):>8.4f} "
              f"{mean('amortized', 'psnr'):>6.2f} | "
              + " ".join(str(r.get("widths", ["-"])[0]) for r in overfit if r["lambda"] == lam))
    bd = {}
    print("\nBD-rate (PSNR) of the overfitted codec against (negative: it needs fewer bits for the same PSNR)")
    for other, (b, p) in curves.items():
        if other == "overfit":
            continue
        try:
            bd[other] = bd_rate(b, p, *curves["overfit"])
        except ValueError as e:
            bd[other] = None
            print(f"  {other:>14}: - ({e})")
            continue
        print(f"  {other:>14}: {bd[other]:+.1f} %")
    exact = [r["fresh_process_exact"] for r in overfit]
    print(f"fresh-process decodes with another thread count, identical pixels: {sum(exact)} of {len(exact)}")

    group = results.group_name("kodak", args.crop)
    recs = []
    for r in rows:
        base = r["model"].split("@")[0]
        method = r["method"]
        title = "overfitted codec" if method == "overfit" else "mean-scale hyperprior"
        st = r["steps"] if method in results.STEPPED_METHODS else None
        known = {"image", "model", "method", "bpp", "psnr", "est_bpp", "enc_s", "dec_s", "lambda", "steps"}
        recs.append(results.Record(results.row_label(title, base, method, st), group, r["image"], r["model"], base,
                                   r["lambda"], method, r["bpp"], r["psnr"], steps=st, ideal_bpp=r["est_bpp"],
                                   ideal="information content", pixels=args.crop ** 2, enc_s=r["enc_s"],
                                   dec_s=r["dec_s"], role="anchor" if base == "mshp" and method == "amortized" else "",
                                   extra={k: v for k, v in r.items() if k not in known}))
    recs += _records.codec_records(codec_rows, group)
    prov = results.provenance(" ".join(["python", "benchmarks/overfit.py", *(argv if argv is not None else sys.argv[1:])]),
                              weights=installed_weights(["mshp"]), run_id=partial["run_id"], starts=partial["starts"],
                              seeds=[args.seed], steps=steps)
    results.write(args.json, recs, prov, benchmark="overfit", settings=settings,
                  macs_per_pixel=macs, bd_rate_psnr=nan_to_none(bd),
                  fresh_process_exact=[sum(exact), len(exact)],
                  decoder_threads=1 if args.threads != 1 else 2, encoder_threads=args.threads)
    partial_path.unlink(missing_ok=True)
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
