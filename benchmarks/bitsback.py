"""Benchmark: lossy bits-back coding (Yang, Bamler & Mandt 2020, section 3.3, Table 1 [M2], [A5], [A6]).

On the SGA benchmark's images (the first Kodak images, centre crops), for every chosen lambda:

* ``amortized`` and ``sga`` on the shipped mean-scale hyperprior (``mshp``, the paper's Base
  Hyperprior; range-coded streams);
* ``bitsback`` (SGA + bits-back, [M2]), ``bitsback_no_sga`` ([A5]) and ``bitsback_no_iter`` ([A6]) on
  the shipped bits-back hyperprior, each image with its own random side information (more bits than
  it takes); ``net_bpp`` = (stack bits - side information bits) / pixels.

Every bits-back stream is written as a real ``.ncz`` file and decoded by the CLI in a fresh process
with another thread count: the side information must come back byte for byte and the image must be
the encoder's reconstruction. Rates are payload bits (the container's header, the same for every
method, left out). Then the archive row: ``--archive-images`` crops on one ANS stack with no side
information, the net rate per image as images are added (the initial-bits cost shared), decoded in a
fresh process. Prints tables, BD-rates (PSNR) vs amortized and of SGA + BB vs SGA, and writes JSON.

    python benchmarks/bitsback.py --images 4 --crop 128 --steps 2000 --lambdas 0.0018 0.0067 0.013 0.0483

A run of hours can be interrupted: after every lambda (its streams already decoded in a fresh process) and
after the archive, the rows so far are saved next to the results file (``bitsback.json.partial``), and a
run started again with the same settings goes on from them (one run id; the number of starts recorded).
A long run can also be split: ``--methods amortized sga --json A.json`` first, then the bits-back methods
with ``--reuse A.json`` (its amortized / SGA records are taken over when its images, crop, steps and
``mshp`` weights are the same as this run's; otherwise the script refuses); the results file records it.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import constriction
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
import _records  # noqa: E402
from _common import nan_to_none, resume_partial  # noqa: E402
from sga import centre_crops, coded_rows  # noqa: E402

from neurcomp import results  # noqa: E402
from neurcomp.bitsback import compress_archive  # noqa: E402
from neurcomp.container import Stream, pack  # noqa: E402
from neurcomp.data import to_uint8  # noqa: E402
from neurcomp.evaluate import centre_crop  # noqa: E402
from neurcomp.inference import optimize_latents, true_loss  # noqa: E402
from neurcomp.inference.iterative import amortized_latents  # noqa: E402
from neurcomp.metrics import bd_rate, psnr  # noqa: E402
from neurcomp.models.bitsback import side_info_words  # noqa: E402
from neurcomp.zoo import fingerprint, list_models, load_pretrained  # noqa: E402

BB_METHODS = ("bitsback", "bitsback_no_sga", "bitsback_no_iter")


def hyperprior_rows(name, names, x, steps, seed):
    model, rate_idx, _ = load_pretrained(name)
    b = len(names)
    t0 = time.perf_counter()
    with torch.no_grad():
        y, z = amortized_latents(model, x, rate_idx)
        tl = true_loss(model, x, y, z, rate_idx)
        z_int = torch.round(z)
        mean, _ = model.entropy_parameters(z_int, model.hgains(torch.full((b,), rate_idx))[1])
    rows = coded_rows(model, x, rate_idx, torch.round(y - mean), z_int, names, "amortized", 0,
                      time.perf_counter() - t0, tl["loss"])
    with torch.enable_grad():
        res = optimize_latents(model, x, rate_idx, method="sga", steps=steps, seed=seed, record_every=max(1, steps // 20))
    rows += coded_rows(model, x, rate_idx, res.y_symbols, res.z_int, names, "sga", steps, res.seconds, res.final["loss"])
    for r in rows:
        r["net_bpp"] = r["bpp"]
    return rows


def side_information(seed: int, lam: float, method: str, image: str, n_bytes: int) -> bytes:
    """The random side information of one record: seeded by the record itself, so any row can be
    reproduced on its own."""
    key = [seed, round(lam * 1e6), BB_METHODS.index(method), *image.encode()]
    return np.random.default_rng(key).bytes(n_bytes)


def bits_back_rows(name, names, x, method, steps, seed, out_dir: Path):
    model, rate_idx, entry = load_pretrained(name)
    h, w = x.shape[-2:]
    prepared = model.prepare_images(x, rate_idx, method, steps, seed)
    rows = []
    for i, p in enumerate(prepared):
        t0 = time.perf_counter()
        need = model.expected_q_bits(p.mu, p.sigma)
        # at least twice what Q is expected to take
        side = side_information(seed, model.lambdas[rate_idx], method, names[i], int(np.ceil((2 * need + 256) / 8)))
        words, pad = side_info_words(side)
        ans = constriction.stream.stack.AnsCoder(words, seal=True)
        with torch.no_grad():
            img = model.push_image(ans, p)
        payload = ans.get_compressed().astype("<u4").tobytes()
        enc_s = p.info["opt_s"] + p.info["bbvi_s"] + time.perf_counter() - t0
        stem = f"{name}_{method}_{names[i]}"
        stream = Stream(method, entry["name"], fingerprint(entry), h, w, img.latent_shape,
                        model.pack_extra(img.bbvi_steps, img.seed, pad), [payload])
        (out_dir / f"{stem}.ncz").write_bytes(pack(stream))
        (out_dir / f"{stem}.side").write_bytes(side)
        np.save(out_dir / f"{stem}.npy", to_uint8(img.x_hat[0]))
        rows.append({"image": names[i], "method": method, "steps": p.info["steps"], "bbvi_steps": p.bbvi_steps,
                     "lambda": model.lambdas[rate_idx], "bpp": 8 * len(payload) / (h * w),
                     "net_bpp": (8 * len(payload) - 8 * len(side)) / (h * w),
                     "est_bpp": sum(img.bits.values()) / (h * w), "taken_bits": img.taken_bits,
                     "written_bits": img.written_bits, "side_info_bits": 8 * len(side),
                     "z_bits": img.bits["z"], "z_back_bits": -img.bits["z_back"],
                     "psnr": psnr(img.x_hat[0].clamp(0, 1), x[i]), "seconds": enc_s, "stem": stem})
    return rows


DECODER = """
import json, sys, time, torch
torch.set_num_threads(int(sys.argv[1]))
from neurcomp.cli import main
out = {}
for stem in sys.argv[3:]:
    t0 = time.perf_counter()
    rc = main(["decompress", f"{sys.argv[2]}/{stem}.ncz", f"{sys.argv[2]}/{stem}.png",
               "--side-info-out", f"{sys.argv[2]}/{stem}.back"])
    out[stem] = {"rc": rc, "dec_s": time.perf_counter() - t0}
print(json.dumps(out))
"""


def decode_fresh(out_dir: Path, stems: list, threads: int) -> dict:
    """Decode every stream with the CLI in one fresh process with ``threads`` threads; check pixels and side
    information; returns ``{stem: {"ok": bool, "dec_s": float}}``."""
    from PIL import Image

    proc = subprocess.run([sys.executable, "-c", DECODER, str(threads), str(out_dir), *stems], capture_output=True,
                          text=True, check=True)
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    checked = {}
    for stem in stems:
        ok = res[stem]["rc"] == 0
        if ok:
            ok = (np.array_equal(np.asarray(Image.open(out_dir / f"{stem}.png")), np.load(out_dir / f"{stem}.npy"))
                  and (out_dir / f"{stem}.back").read_bytes() == (out_dir / f"{stem}.side").read_bytes())
        checked[stem] = {"ok": bool(ok), "dec_s": res[stem]["dec_s"]}
    return checked


def archive_run(name, n, crop, method, steps, seed, out_dir: Path, threads: int) -> dict:
    """``n`` Kodak centre crops on one stack without side information; the net rate as images are added."""
    from neurcomp.data import kodak

    images = [(f"kodim{i + 1:02d}", centre_crop(img, crop)) for i, (_, img) in enumerate(kodak()[:n])]
    t0 = time.perf_counter()
    data, report = compress_archive(images, name, method=method, steps=steps, seed=seed, progress=True)
    enc_s = time.perf_counter() - t0
    path = out_dir / "archive.nca"
    path.write_bytes(data)
    code = ("import sys, torch; torch.set_num_threads(int(sys.argv[1])); from neurcomp.cli import main; "
            "sys.exit(main(['decompress', sys.argv[2], sys.argv[3]]))")
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", code, str(threads), str(path), str(out_dir / "archive")], check=True,
                   capture_output=True)
    dec_s = time.perf_counter() - t0
    from PIL import Image
    exact = all(np.array_equal(np.asarray(Image.open(out_dir / "archive" / f"{r['name']}.png")), r["x_hat"])
                for r in report["images"])
    pixels = crop * crop
    est = np.cumsum([sum(r["bits"].values()) for r in report["images"]]) / (pixels * np.arange(1, n + 1))
    rows = [{**c, "nelbo_bpp": float(e)} for c, e in zip(report["cumulative"], est)]
    return {"model": name, "method": method, "images": n, "crop": crop, "initial_bits": report["initial_bits"],
            "bytes": len(data), "exact_in_fresh_process": bool(exact), "enc_s": enc_s, "dec_s": dec_s,
            "cumulative": rows}


def reuse_records(a) -> tuple[list, dict | None]:
    """The records of ``a.reuse`` for the methods this run does not compute (and its archive when this run
    makes none), if that run had this run's settings and the installed weights."""
    old = results.read(a.reuse)
    args = old.details["args"]
    same = all(args[k] == getattr(a, k) for k in ("images", "crop", "steps", "seed")) and \
        set(a.lambdas) <= set(args["lambdas"])
    installed = {e["base"]: e["sha256"][:16] for e in list_models()}
    methods = {r.method for r in old.records} - set(a.methods)
    needed = {"mshp" if m in ("amortized", "sga") else "bitsback" for m in methods}
    if not same or any((old.provenance.get("weights") or {}).get(b) != installed.get(b) for b in needed):
        raise SystemExit(f"{a.reuse} was made with other settings or other weights: run without --reuse")
    rows = [_raw_row(r) for r in old.records if r.method in methods and r.value in a.lambdas]
    print(f"reusing {len(rows)} records of {a.reuse} ({', '.join(sorted(methods))})", flush=True)
    archive = old.details.get("archive") if not a.archive_images else None
    return rows, archive


def _raw_row(r) -> dict:
    """A record of an earlier results file as this script's own row (see benchmarks/_records.py)."""
    extra = {k: v for k, v in r.extra.items() if k not in ("rate", "gross_bpp")}
    return {"image": r.image, "method": r.method, "steps": r.steps or 0, "lambda": r.value,
            "bpp": r.extra.get("gross_bpp", r.bpp), "net_bpp": r.bpp, "est_bpp": r.ideal_bpp, "psnr": r.psnr,
            "seconds": r.enc_s, **({"dec_s": r.dec_s} if r.dec_s is not None else {}), **extra}


def summarize(records):
    keys = [m for m in ("amortized", "sga", *BB_METHODS) if any(r["method"] == m for r in records)]
    lambdas = sorted({r["lambda"] for r in records})
    table = []
    for lam in lambdas:
        for m in keys:
            rs = [r for r in records if r["method"] == m and r["lambda"] == lam]
            table.append({"lambda": lam, "method": m, "bpp": float(np.mean([r["bpp"] for r in rs])),
                          "net_bpp": float(np.mean([r["net_bpp"] for r in rs])),
                          "psnr": float(np.mean([r["psnr"] for r in rs])),
                          "s_per_image": float(np.mean([r["seconds"] for r in rs])), "images": len(rs)})

    def bd(ref, test):
        a = [t for t in table if t["method"] == ref]
        b = [t for t in table if t["method"] == test]
        try:
            return bd_rate([t["net_bpp"] for t in a], [t["psnr"] for t in a], [t["net_bpp"] for t in b],
                           [t["psnr"] for t in b])
        except ValueError as err:
            return f"n/a ({err})"

    return table, {f"{m} vs amortized": bd("amortized", m) for m in keys if m != "amortized"} | (
        {"bitsback vs sga": bd("sga", "bitsback")} if {"sga", "bitsback"} <= set(keys) else {})


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--images", type=int, default=4)
    p.add_argument("--crop", type=int, default=128)
    p.add_argument("--steps", type=int, default=2000, help="iterations of SGA and of each BBVI (paper: 2000)")
    p.add_argument("--lambdas", type=float, nargs="+", default=[0.0018, 0.0067, 0.013, 0.0483])
    p.add_argument("--methods", nargs="+", default=["amortized", "sga", *BB_METHODS])
    p.add_argument("--archive-images", type=int, default=12)
    p.add_argument("--archive-lambda", type=float, default=0.0067)
    p.add_argument("--archive-method", default="bitsback_no_sga", choices=BB_METHODS)
    p.add_argument("--threads", type=int, default=2, help="threads for encoding (decoding uses the other count)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--reuse", help="a JSON of an earlier run whose amortized / SGA records to take over")
    p.add_argument("--json", default=str(Path(__file__).parent / "results" / "bitsback.json"))
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    other = 1 if a.threads != 1 else 2
    names, x = centre_crops(a.images, a.crop)
    records, t_start = [], time.time()
    work = Path(tempfile.mkdtemp(prefix="nc_bitsback_"))
    reused, reused_archive = reuse_records(a) if a.reuse else ([], None)
    records += reused
    partial, partial_path = resume_partial(a.json, {k: v for k, v in vars(a).items() if k != "json"},
                                           lambdas_done=[], archive=None)
    if partial["lambdas_done"]:
        print(f"going on from lambda {', '.join(f'{v:g}' for v in partial['lambdas_done'])} of run "
              f"{partial['run_id']} ({partial_path})", flush=True)
    records += partial["records"]
    partial_path.parent.mkdir(parents=True, exist_ok=True)

    def save():
        partial_path.write_text(json.dumps(nan_to_none(partial)))

    for lam in a.lambdas:
        if lam in partial["lambdas_done"]:
            continue
        rows_lam = []
        if {"amortized", "sga"} & set(a.methods):
            rows = hyperprior_rows(f"mshp@{lam:g}", names, x, a.steps, a.seed)
            rows_lam += [r for r in rows if r["method"] in a.methods]
        for m in BB_METHODS:
            if m in a.methods:
                rows_lam += bits_back_rows(f"bitsback@{lam:g}", names, x, m, a.steps, a.seed, work)
        fresh = decode_fresh(work, [r["stem"] for r in rows_lam if "stem" in r], other)
        for r in rows_lam:
            if "stem" in r:
                r["exact_in_fresh_process"] = fresh[r["stem"]]["ok"]
                r["dec_s"] = fresh[r["stem"]]["dec_s"]
        records += rows_lam
        partial["records"] += rows_lam
        partial["lambdas_done"].append(lam)
        save()
        print(f"  lambda {lam:g}: done ({time.time() - t_start:.0f} s)", flush=True)
    archive = partial["archive"]
    if archive is None and a.archive_images:
        archive = archive_run(f"bitsback@{a.archive_lambda:g}", a.archive_images, a.crop, a.archive_method, a.steps,
                              a.seed, work, other)
        for c in archive["cumulative"]:
            c.pop("x_hat", None)
        partial["archive"] = archive
        save()
    archive = archive or reused_archive
    table, bd = summarize(records)
    checked = [r for r in records if "exact_in_fresh_process" in r]
    n_bb = len(checked)
    n_ok = sum(r["exact_in_fresh_process"] for r in checked)
    print(f"\nKodak, first {a.images} images, {a.crop}x{a.crop} centre crops, {a.steps} steps, {a.threads} thread(s) "
          f"encoding, {other} decoding, {time.time() - t_start:.0f} s in all")
    print(f"{'lambda':>8} {'method':>28} {'bpp':>7} {'net bpp':>8} {'PSNR':>7} {'s/img':>7}")
    for t in table:
        print(f"{t['lambda']:>8g} {results.METHOD_LABELS[t['method']]:>28} {t['bpp']:7.4f} {t['net_bpp']:8.4f} {t['psnr']:7.2f} "
              f"{t['s_per_image']:7.1f}")
    print("\nBD-rate (net bpp vs PSNR), negative = saves rate:")
    for k, v in bd.items():
        print(f"  {k:>28}: {v:+.2f} %" if isinstance(v, float) else f"  {k:>28}: {v}")
    print(f"\nbits-back streams decoded exactly in a fresh {other}-thread process, side information back byte for "
          f"byte: {n_ok}/{n_bb}")
    if archive:
        print(f"\narchive: {archive['images']} crops on one stack ({archive['method']}, lambda {a.archive_lambda:g}), "
              f"{archive['initial_bits']} random initial bits, restored exactly in a fresh process: "
              f"{archive['exact_in_fresh_process']}")
        print(f"{'images':>7} {'bpp':>8} {'net bpp':>8} {'NELBO bpp':>10}")
        for c in archive["cumulative"]:
            print(f"{c['images']:>7} {c['bpp']:8.4f} {c['net_bpp']:8.4f} {c['nelbo_bpp']:10.4f}")
    Path(a.json).parent.mkdir(parents=True, exist_ok=True)
    out = {"args": vars(a), "table": table, "bd_rate": bd, "fresh_process_exact": [n_ok, n_bb], "archive": archive,
           "records": records, "weights": {e["name"]: e["sha256"][:16] for e in list_models()
                                           if e["base"] in ("mshp", "bitsback")}}
    _records.write(a.json, "bitsback", nan_to_none(out), run_id=partial["run_id"], starts=partial["starts"],
                   reused=a.reuse and str(a.reuse))
    partial_path.unlink(missing_ok=True)
    print(f"wrote {a.json}")


if __name__ == "__main__":
    main()
