"""Benchmark: the soft cross-entropy ablation of Gregorova et al. 2021 (alpha = 0 vs alpha > 0, same codebook).

Two VQ autoencoders that differ only in alpha, the weight of the soft cross-entropy s(c)
(``configs/vq.yaml`` and ``configs/vq_alpha0.yaml``): the shipped weights when they are
installed (``neurcomp models`` lists ``vq`` and ``vq_alpha0``), otherwise both are trained here
for ``--steps`` steps with the same seed and data and exported into a temporary zoo. Each is
then run through the real codec (``neurcomp.codec``: range-coded indices in an ``.ncz``
stream, decoded again and checked) on Kodak centre crops, and we report per model:

- ``bpp``: the real stream size (container header included), ``est_bpp``: information content;
- ``psnr`` of the decoded 8-bit image;
- ``entropy_bits``: the empirical entropy of the code indices over all crops (bits per index),
  ``entropy_bpp`` = the same per pixel (the rate of an ideal prior fitted to these crops),
  ``used`` / ``K`` codewords and the ``perplexity`` 2^entropy.

    python benchmarks/vq.py --steps 2000 --images 8 --crop 256          # trains both (CPU: ~25 min)
    python benchmarks/vq.py --steps 20 --images 2 --crop 128 --set channels=16 blocks=1 --json /tmp/vq.json
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import yaml

from neurcomp.codec import compress_image, decompress_stream
from neurcomp.data import kodak, pad_to_multiple
from neurcomp.evaluate import centre_crop
from neurcomp.metrics import psnr
from neurcomp.models.vq import usage_histogram, usage_stats
import _records  # noqa: E402  (benchmarks/ is on sys.path when run as a script)

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = [ROOT / "configs" / "vq.yaml", ROOT / "configs" / "vq_alpha0.yaml"]


def centre_crops(n: int, size: int):
    return [(name, centre_crop(img, size)) for name, img in kodak()[:n]]


def _parse_set(items) -> dict:
    out = {}
    for item in items or []:
        key, _, value = item.partition("=")
        out[key] = yaml.safe_load(value)
    return out


def prepare_models(configs, steps: int, overrides: dict, retrain: bool, zoo_dir: Path, quiet: bool) -> list[dict]:
    """Shipped weights when present (and no retrain / override asked), else train + export here."""
    from neurcomp.train import load_config, train
    from neurcomp.zoo import export, list_models

    shipped = {e["base"] for e in list_models()}
    models = []
    for path in configs:
        cfg = load_config(path)
        name = cfg.get("name", Path(path).stem)
        if name in shipped and not retrain and not overrides:
            models.append({"name": name, "source": "shipped", "config": str(path)})
            continue
        cfg = {**cfg, "model": {**cfg["model"], **overrides}, "steps": steps, "eval_images": 0,
               "warmup_steps": min(cfg["warmup_steps"], max(1, steps // 10)),
               "lr_milestones": [m for m in cfg["lr_milestones"] if m < steps]}
        t0 = time.time()
        torch.manual_seed(cfg["seed"])
        ck = train(cfg, zoo_dir / f"run_{name}", quiet=quiet)
        export(ck, f"{name}_bench", zoo_dir)
        models.append({"name": f"{name}_bench", "source": f"trained here ({steps} steps, {time.time() - t0:.0f} s)",
                       "config": str(path)})
    return models


def measure(model_name: str, crops) -> tuple[dict, list[dict]]:
    from neurcomp.zoo import load_pretrained

    model, rate_idx, entry = load_pretrained(model_name)
    K = model.codebook_size
    hist = np.zeros(K, np.int64)
    records, pixels, positions = [], 0, 0
    for name, x in crops:
        h, w = x.shape[1:]
        t0 = time.perf_counter()
        data, info = compress_image(x, model_name)
        t1 = time.perf_counter()
        x_hat, _ = decompress_stream(data)
        t2 = time.perf_counter()
        if not np.array_equal(x_hat, info["x_hat"]):
            raise RuntimeError(f"{model_name}/{name}: decoder output differs from the encoder's reconstruction")
        xp, _ = pad_to_multiple(x.unsqueeze(0), model.stride)
        idx = model.code_indices(xp)
        hist += usage_histogram(idx, K)
        pixels += h * w
        positions += idx.numel()
        records.append({"image": name, "model": model_name, "bpp": 8 * len(data) / (h * w),
                        "est_bpp": sum(info["bits"].values()) / (h * w), "psnr": psnr(x_hat, x),
                        "codes_used": int(np.count_nonzero(usage_histogram(idx, K))),
                        "enc_s": t1 - t0, "dec_s": t2 - t1})
    stats = usage_stats(hist)
    row = {"model": model_name, "alpha": model.alpha, "beta": model.beta, "sigma": model.sigma,
           "codebook_size": K, "lambda": model.lambdas[0], "images": len(records),
           **{k: float(np.mean([r[k] for r in records])) for k in ("bpp", "est_bpp", "psnr", "enc_s", "dec_s")},
           "entropy_bits": stats["entropy_bits"], "entropy_bpp": stats["entropy_bits"] * positions / pixels,
           "used": stats["used"], "perplexity": stats["perplexity"], "usage_histogram": hist.tolist()}
    return row, records


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--steps", type=int, default=200, help="training steps when no shipped weights are used")
    p.add_argument("--images", type=int, default=4, help="first N Kodak images")
    p.add_argument("--crop", type=int, default=256, help="centre crop side in pixels")
    p.add_argument("--configs", nargs="+", default=[str(c) for c in CONFIGS])
    p.add_argument("--set", nargs="*", metavar="KEY=VALUE", help="override model config keys (forces training)")
    p.add_argument("--retrain", action="store_true", help="train even if shipped weights exist")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--json", default=str(ROOT / "benchmarks" / "results" / "vq.json"))
    p.add_argument("--quiet", action="store_true")
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    t0 = time.time()
    overrides = _parse_set(a.set)
    crops = centre_crops(a.images, a.crop)
    with tempfile.TemporaryDirectory() as tmp:
        zoo_dir = Path(tmp)
        old = os.environ.get("NEURCOMP_WEIGHTS_PATH")
        os.environ["NEURCOMP_WEIGHTS_PATH"] = os.pathsep.join([p for p in (old, str(zoo_dir)) if p])
        try:
            models = prepare_models(a.configs, a.steps, overrides, a.retrain, zoo_dir, a.quiet)
            rows, records = [], []
            for m in models:
                row, recs = measure(m["name"], crops)
                rows.append({**row, "source": m["source"], "config": m["config"]})
                records += recs
        finally:
            if old is None:
                os.environ.pop("NEURCOMP_WEIGHTS_PATH", None)
            else:
                os.environ["NEURCOMP_WEIGHTS_PATH"] = old
    print(f"\nKodak, first {a.images} images, {a.crop}x{a.crop} centre crops, {a.threads} thread(s), "
          f"{time.time() - t0:.0f} s in all")
    print(f"{'model':>16} {'alpha':>5} {'bpp':>7} {'est_bpp':>7} {'PSNR':>6} {'H(c) bits':>9} {'H bpp':>6} "
          f"{'used/K':>9} {'perplex':>7}  source")
    for r in rows:
        print(f"{r['model']:>16} {r['alpha']:>5g} {r['bpp']:7.4f} {r['est_bpp']:7.4f} {r['psnr']:6.2f} "
              f"{r['entropy_bits']:9.3f} {r['entropy_bpp']:6.4f} {r['used']:>4}/{r['codebook_size']:<4} "
              f"{r['perplexity']:7.1f}  {r['source']}")
    _records.write(a.json, "vq", {"args": vars(a), "table": rows, "records": records})
    print(f"wrote {a.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
