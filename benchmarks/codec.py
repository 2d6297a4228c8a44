"""The real codec of every shipped model on Kodak, against JPEG and WebP (and CompressAI's speed).

Part 1 (always). For each shipped network (``neurcomp.zoo.list_models()`` grouped by
"base", e.g. ``mshp`` with its rate points ``mshp@0.0018`` ...) every rate point codes the
first N Kodak images through ``neurcomp.evaluate.evaluate_model``: real ``.ncz`` bytes are
written and decoded (and the decoder's image checked against the encoder's). Per rate point
the table gives mean bpp (file size, headers included), mean est_bpp (the model's
information content), the overhead ``(bpp - est_bpp) / est_bpp``, mean PSNR, MS-SSIM and
MS-SSIM dB, and mean encode / decode seconds. Then, per network, BD-rate on PSNR and on
MS-SSIM dB against JPEG and WebP (``neurcomp.baselines.evaluate`` on the same images, default
quality sweeps; ``neurcomp.metrics.bd_rate`` of the mean curves, integrated over the quality
range both curves cover; negative = fewer bits than the anchor; "n/a" when the curves do
not overlap), and PSNR at 0.25 / 0.5 / 1.0 bpp beside the published number of the same
architecture (CompressAI's result files, docs/ARCHITECTURE.md "Reference numbers").

Part 2 (``--compressai``). Speed against CompressAI's implementation of the same
architecture (``compressai.models.MeanScaleHyperprior(N, M)`` for our "hyperprior" kind,
same N and M; freshly initialized weights, ``update(force=True)``), on the same images and
the same number of torch threads: CompressAI's ``model.compress`` / ``model.decompress`` vs
our ``neurcomp.codec.compress_image`` / ``decompress_stream`` (one rate point of our
shipped network, ``--compressai-model``). CompressAI is never a dependency of neurcomp: it
lives in ``benchmarks/.venv-compressai`` (make it with ``bash benchmarks/setup_compressai.sh``)
and runs in a subprocess (``benchmarks/_compressai_timing.py``). If that venv is missing
this part is skipped with a one-line hint. Note that our encode time includes the synthesis
transform (``compress_image`` returns the decoder's reconstruction), CompressAI's does not.

The JSON (``--json``) holds settings, versions, both tables, BD-rates, the baseline curves
and every per-image record.

``--held-out N`` codes N photos of the held-out BSDS500 test split instead (``neurcomp.data.HELD_OUT``:
photos no training run sees), so that no number is tuned to Kodak.

Usage (from the repository root; Kodak from $NEURCOMP_DATA/kodak):

    python benchmarks/codec.py                         # 24 images, part 1
    python benchmarks/codec.py --images 4 --compressai --json /tmp/codec4.json
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import subprocess
import sys
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
from neurcomp.plotting import REFERENCE_KODAK
import _records  # noqa: E402  (benchmarks/ is on sys.path when run as a script)
from _common import nan_to_none  # noqa: E402  (benchmarks/ is on sys.path when run as a script)

HERE = Path(__file__).resolve().parent
COMPRESSAI_VENV = HERE / ".venv-compressai"
COMPRESSAI_HELPER = HERE / "_compressai_timing.py"
ANCHORS = ("jpeg", "webp")
ANCHOR_LABEL = {"jpeg": "JPEG", "webp": "WebP"}
BD_METRICS = {"psnr": "PSNR", "ms_ssim_db": "MS-SSIM dB"}
TARGETS = (0.25, 0.5, 1.0)
NARROW_DB = 1.0  # BD-rates over a quality overlap narrower than this are flagged
#: our model kind -> (CompressAI class of the same architecture, published reference curve)
COMPRESSAI_ARCH = {"hyperprior": "MeanScaleHyperprior", "scale_hyperprior": "ScaleHyperprior",
                   "factorized": "FactorizedPrior"}
REFERENCE_NAME = {"hyperprior": "mean-scale hyperprior (Minnen 2018)",
                  "scale_hyperprior": "scale hyperprior (Balle 2018)",
                  "factorized": "factorized prior (Balle 2017)"}




def _mean(values) -> float:
    vals = [float(v) for v in values if v is not None]
    return float(np.mean(vals)) if vals else float("nan")


def psnr_at(bpp: np.ndarray, psnr: np.ndarray, target: float) -> float:
    """PSNR at ``target`` bpp, linear in log(bpp); NaN outside the curve."""
    b, t = np.log(bpp), math.log(target)
    return float(np.interp(t, b, psnr)) if b[0] <= t <= b[-1] else float("nan")


def bd_entry(anchor: dict, test: dict, metric: str) -> dict:
    """BD-rate of ``test`` vs ``anchor`` on one quality metric, with the quality range used."""
    qa, qt = np.asarray(anchor[metric]), np.asarray(test[metric])
    ok_a, ok_t = np.isfinite(qa), np.isfinite(qt)
    lo = max(qa[ok_a].min(), qt[ok_t].min()) if ok_a.any() and ok_t.any() else float("nan")
    hi = min(qa[ok_a].max(), qt[ok_t].max()) if ok_a.any() and ok_t.any() else float("nan")
    out = {"overlap_db": [float(lo), float(hi)] if hi > lo else None, "bd_rate": float("nan"), "error": None}
    try:
        out["bd_rate"] = metrics.bd_rate(anchor["bpp"][ok_a], qa[ok_a], test["bpp"][ok_t], qt[ok_t])
    except ValueError as e:
        out["error"] = str(e)
    return out


def warm_up(name: str) -> None:
    """Load (and hash) the weights and run the codec once on a small image, so the first
    timed image does not pay for it."""
    from neurcomp.codec import compress_image, decompress_stream

    zoo.load_pretrained(name)
    g = torch.Generator().manual_seed(0)
    blob, _ = compress_image(torch.rand(3, 128, 128, generator=g), name)
    decompress_stream(blob)


# ----------------------------------------------------------------------------- part 1


def run_rd(paths, bases: dict, progress: bool):
    records, table = [], []
    for base, entries in bases.items():
        warm_up(entries[0]["name"])
        for e in entries:
            t0 = time.perf_counter()
            recs = evaluate_model(paths, e["name"], progress=progress)
            wall = time.perf_counter() - t0
            for r in recs:
                r["base"], r["lambda"] = base, e["value"]
                r["ms_ssim_db"] = None if r["ms_ssim"] is None else float(metrics.ms_ssim_db(r["ms_ssim"]))
            records += recs
            bpp, est = _mean(r["bpp"] for r in recs), _mean(r["est_bpp"] for r in recs)
            row = {"base": base, "model": e["name"], "kind": e["kind"], "lambda": e["value"], "images": len(recs),
                   "bpp": bpp, "est_bpp": est, "overhead_pct": 100.0 * (bpp - est) / est,
                   "psnr": _mean(r["psnr"] for r in recs), "ms_ssim": _mean(r["ms_ssim"] for r in recs),
                   "ms_ssim_db": _mean(r["ms_ssim_db"] for r in recs),
                   "enc_s": _mean(r["enc_s"] for r in recs), "dec_s": _mean(r["dec_s"] for r in recs),
                   "wall_s": wall}
            table.append(row)
            if not progress:
                print(f"  {e['name']}: {bpp:.4f} bpp, {row['psnr']:.2f} dB ({wall:.0f} s)", file=sys.stderr)
    return records, table


def run_baselines(paths, progress: bool):
    records = []
    for codec in ANCHORS:
        records += baselines.evaluate(paths, codec, progress=progress)
    return records, metrics.curves_from_records(records, curve_key="codec", point_key="quality")


def summarize(bases: dict, records: list, curves: dict) -> list[dict]:
    out = []
    for base, entries in bases.items():
        b, p, m = metrics.mean_curve([r for r in records if r["base"] == base], "model")
        ours = {"bpp": b, "psnr": p, "ms_ssim_db": m}
        kind = entries[0]["kind"]
        ref_name = REFERENCE_NAME.get(kind)
        row = {"base": base, "kind": kind, "rate_points": len(entries),
               "bpp_range": [float(b[0]), float(b[-1])], "psnr_range": [float(p.min()), float(p.max())],
               "bd": {a: {k: bd_entry(curves[a], ours, k) for k in BD_METRICS} for a in ANCHORS},
               "psnr_at": {str(t): psnr_at(b, p, t) for t in TARGETS},
               "reference": ref_name, "reference_psnr_at": {str(t): v for t, v in REFERENCE_KODAK.get(ref_name, {}).items()}}
        out.append(row)
    return out


def print_rd(paths, table, summary, curves, dataset: str = "Kodak, first") -> None:
    n = len(paths)
    print(f"\nReal codec on {dataset} {n} image(s); means over images; torch {torch.__version__}, "
          f"{torch.get_num_threads()} thread(s)")
    for s in summary:
        rows = [r for r in table if r["base"] == s["base"]]
        print(f"\n{s['base']} ({s['kind']}, {s['rate_points']} rate points)")
        print(f"{'lambda':>8} {'bpp':>7} {'est bpp':>8} {'overhd':>7} {'PSNR':>7} {'MS-SSIM':>8} {'MS-SSIM':>8} "
              f"{'enc s':>6} {'dec s':>6}")
        print(f"{'':>8} {'':>7} {'':>8} {'%':>7} {'dB':>7} {'':>8} {'dB':>8} {'':>6} {'':>6}")
        for r in rows:
            print(f"{r['lambda']:>8g} {r['bpp']:>7.4f} {r['est_bpp']:>8.4f} {r['overhead_pct']:>+7.2f} "
                  f"{r['psnr']:>7.2f} {r['ms_ssim']:>8.4f} {r['ms_ssim_db']:>8.2f} {r['enc_s']:>6.2f} {r['dec_s']:>6.2f}")
        print(f"\nBD-rate of {s['base']} (negative = fewer bits at equal quality; over the quality range both cover)")
        for a in ANCHORS:
            for k, label in BD_METRICS.items():
                e = s["bd"][a][k]
                lo, hi = e["overlap_db"] or (float("nan"), float("nan"))
                if math.isfinite(e["bd_rate"]):
                    v = f"{e['bd_rate']:+8.1f} %  over {lo:.2f} - {hi:.2f} dB"
                    if hi - lo < NARROW_DB:
                        v += f"  (overlap < {NARROW_DB:g} dB: extrapolated fits, unreliable)"
                elif not hi > lo:
                    q = np.array([r[k] for r in table if r["base"] == s["base"]], dtype=float)
                    v = (f"     n/a    (no overlap: ours {np.nanmin(q):.2f} - {np.nanmax(q):.2f} dB, "
                         f"{ANCHOR_LABEL[a]} {np.nanmin(curves[a][k]):.2f} - {np.nanmax(curves[a][k]):.2f} dB)")
                else:
                    v = f"     n/a    ({e['error']})"
                print(f"  vs {ANCHOR_LABEL[a]:<5} {label:<11} {v}")
        ours = " / ".join(f"{s['psnr_at'][str(t)]:.2f}" for t in TARGETS)
        ref = s["reference_psnr_at"]
        ref_s = " / ".join(f"{ref[str(t)]:.2f}" for t in TARGETS) if ref else "-"
        print(f"  PSNR at 0.25 / 0.5 / 1.0 bpp: ours {ours}; published {s['reference'] or '-'} {ref_s} "
              f"(nan = outside our bpp range)")


# ----------------------------------------------------------------------------- part 2


def compressai_python() -> Path | None:
    py = COMPRESSAI_VENV / "bin" / "python"
    return py if py.exists() else None


def time_ours(paths, name: str, repeat: int) -> list[dict]:
    from neurcomp.codec import compress_image, decompress_stream

    warm_up(name)
    out = []
    for path in paths:
        x = data.load_image(path)
        runs = []
        for _ in range(max(1, repeat)):
            t0 = time.perf_counter()
            blob, info = compress_image(x, name)
            t1 = time.perf_counter()
            decompress_stream(blob)
            t2 = time.perf_counter()
            runs.append((t1 - t0, t2 - t1))
        out.append({"image": Path(path).stem, "height": int(x.shape[1]), "width": int(x.shape[2]),
                    "bytes": len(blob), "payload_bytes": len(blob) - info["header_bytes"],
                    "enc_s": min(r[0] for r in runs), "dec_s": min(r[1] for r in runs)})
    return out


def run_compressai(paths, bases: dict, args) -> dict:
    py = compressai_python()
    if py is None:
        return {"skipped": f"{COMPRESSAI_VENV} not found"}
    results = []
    for base, entries in bases.items():
        kind = entries[0]["kind"]
        arch = COMPRESSAI_ARCH.get(kind)
        if arch is None:
            continue
        if args.compressai_model:
            if args.compressai_model.split("@")[0] != base:
                continue
            entry = next(e for e in entries if e["name"] == args.compressai_model)
        else:
            entry = entries[len(entries) // 2]
        model = zoo.load_pretrained(entry["name"])[0]
        N, M = model.N, model.M
        cmd = [str(py), str(COMPRESSAI_HELPER), "--arch", arch, "--N", str(N), "--M", str(M),
               "--threads", str(args.threads), "--repeat", str(args.repeat), *map(str, paths)]
        print(f"\nCompressAI {arch}({N}, {M}) vs ours {entry['name']}: timing {len(paths)} image(s) ...",
              file=sys.stderr)
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=None if args.progress else subprocess.DEVNULL,
                              text=True)
        if proc.returncode != 0:
            results.append({"base": base, "model": entry["name"], "error": f"helper exited {proc.returncode}"})
            continue
        theirs = json.loads(proc.stdout.strip().splitlines()[-1])
        ours = time_ours(paths, entry["name"], args.repeat)
        row = {"base": base, "model": entry["name"], "arch": arch, "N": N, "M": M, "images": len(paths),
               "ours_enc_s": _mean(r["enc_s"] for r in ours), "ours_dec_s": _mean(r["dec_s"] for r in ours),
               "compressai_enc_s": _mean(r["enc_s"] for r in theirs["records"]),
               "compressai_dec_s": _mean(r["dec_s"] for r in theirs["records"]),
               "ours_bytes": _mean(r["bytes"] for r in ours),
               "compressai_bytes": _mean(r["bytes"] for r in theirs["records"])}
        row["enc_ratio"] = row["ours_enc_s"] / row["compressai_enc_s"]
        row["dec_ratio"] = row["ours_dec_s"] / row["compressai_dec_s"]
        results.append({**row, "compressai_version": theirs["compressai"], "compressai_torch": theirs["torch"],
                        "compressai_threads": theirs["threads"], "records_ours": ours,
                        "records_compressai": theirs["records"]})
    return {"torch_ours": torch.__version__, "results": results}


def print_compressai(res: dict, n: int, threads: int) -> None:
    rows = [r for r in res["results"] if "error" not in r]
    for r in res["results"]:
        if "error" in r:
            print(f"\nCompressAI timing for {r['model']} failed: {r['error']}")
    if not rows:
        return
    r0 = rows[0]
    print(f"\nSpeed vs CompressAI {r0['compressai_version']}, first {n} image(s), {threads} thread(s); "
          f"mean seconds per image (min of {max(1, res.get('repeat', 1))} run(s))")
    print(f"  ours: neurcomp {neurcomp.__version__}, torch {res['torch_ours']}; "
          f"CompressAI: torch {r0['compressai_torch']}, random weights")
    print(f"{'model':<14} {'arch (N, M)':<28} {'':>6} {'ours':>7} {'CompressAI':>10} {'ratio':>9}")
    for r in rows:
        label = f"{r['arch']} ({r['N']}, {r['M']})"
        print(f"{r['model']:<14} {label:<28} {'encode':>6} {r['ours_enc_s']:>7.3f} {r['compressai_enc_s']:>10.3f} "
              f"{r['enc_ratio']:>8.2f}x")
        print(f"{'':<14} {'':<28} {'decode':>6} {r['ours_dec_s']:>7.3f} {r['compressai_dec_s']:>10.3f} "
              f"{r['dec_ratio']:>8.2f}x")
        print(f"{'':<14} {'':<28} {'bytes':>6} {r['ours_bytes']:>7.0f} {r['compressai_bytes']:>10.0f}   "
              "(CompressAI: random weights, payload only)")
    print("ratio = ours / CompressAI seconds (> 1: ours slower); our encode also runs the synthesis "
          "transform (compress_image returns the reconstruction), CompressAI's does not")


# ----------------------------------------------------------------------------- main


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--images", type=int, default=24, help="use the first N Kodak images (default 24)")
    ap.add_argument("--held-out", type=int, metavar="N", help="instead of Kodak: N photos evenly spaced over the "
                    "held-out BSDS500 test split (neurcomp.data.HELD_OUT: photos no training run sees)")
    ap.add_argument("--json", help="output JSON file (default benchmarks/results/codec.json, "
                    "or codec_compressai.json with --compressai-only)")
    ap.add_argument("--threads", type=int, default=1,
                    help="torch threads (default 1: with another job on the cores, 2 threads are much slower)")
    ap.add_argument("--models", nargs="*", help="shipped bases to run (default: all)")
    ap.add_argument("--compressai", action="store_true", help="also time CompressAI side by side (part 2)")
    ap.add_argument("--compressai-only", action="store_true", help="run part 2 only")
    ap.add_argument("--compressai-model", help="our rate point to time against CompressAI (default: the middle one)")
    ap.add_argument("--repeat", type=int, default=1, help="part 2: min over R runs per image (default 1)")
    ap.add_argument("--no-progress", dest="progress", action="store_false")
    args = ap.parse_args(argv)

    if args.json is None:
        args.json = f"benchmarks/results/codec{'_compressai' if args.compressai_only else ''}.json"
    torch.set_num_threads(max(1, args.threads))
    if args.held_out:
        bsds = [p for p in data.training_paths(held_out=True) if "bsds500" in p.parts]
        paths = [bsds[int(i)] for i in np.linspace(0, len(bsds) - 1, min(args.held_out, len(bsds))).round()]
    else:
        paths = data.kodak_paths()[: max(1, args.images)]
    bases: dict[str, list[dict]] = {}
    for e in zoo.list_models():
        if e["kind"] == "bitsback" and e["base"] not in (args.models or []):
            continue  # its default method optimizes for minutes per image: benchmarks/bitsback.py measures it
        if not args.models or e["base"] in args.models:
            bases.setdefault(e["base"], []).append(e)
    for entries in bases.values():
        entries.sort(key=lambda e: e["value"])
    if not bases:
        print("no shipped models found (neurcomp.zoo.list_models() is empty)", file=sys.stderr)
        return 1

    out = {"benchmark": "codec", "dataset": "held-out BSDS500 test" if args.held_out else "kodak",
           "images": [p.stem for p in paths],
           "neurcomp": neurcomp.__version__, "torch": torch.__version__, "pillow": PIL.__version__,
           "python": platform.python_version(), "machine": platform.machine(), "torch_threads": torch.get_num_threads(),
           "models": {b: {"kind": es[0]["kind"], "params": es[0]["params"], "sha256": es[0]["sha256"],
                          "lambdas": [e["value"] for e in es]} for b, es in bases.items()},
           "baseline_settings": {c: baselines.CODEC_NOTES[c] for c in ANCHORS}}

    if not args.compressai_only:
        t0 = time.perf_counter()
        records, table = run_rd(paths, bases, args.progress)
        base_records, curves = run_baselines(paths, args.progress)
        summary = summarize(bases, records, curves)
        print_rd(paths, table, summary, curves, "held-out BSDS500 test photos," if args.held_out else "Kodak, first")
        out.update({"table": table, "summary": summary,
                    "baseline_curves": {c: {k: v.tolist() for k, v in curves[c].items()} for c in ANCHORS},
                    "records": records, "baseline_records": base_records, "seconds": time.perf_counter() - t0})

    if args.compressai or args.compressai_only:
        if compressai_python() is None:
            print(f"\nCompressAI comparison skipped: {COMPRESSAI_VENV.relative_to(HERE.parent)} is missing; "
                  "create it with `bash benchmarks/setup_compressai.sh` (a separate venv, ~5.5 GB)")
            out["compressai"] = {"skipped": "venv missing"}
        else:
            res = run_compressai(paths, bases, args)
            res["repeat"] = max(1, args.repeat)
            print_compressai(res, len(paths), torch.get_num_threads())
            out["compressai"] = res

    _records.write(args.json, "codec", nan_to_none(out))
    print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
