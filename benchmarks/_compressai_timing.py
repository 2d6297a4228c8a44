"""Time CompressAI's codec on images; run with benchmarks/.venv-compressai/bin/python.

Called by ``benchmarks/codec.py --compressai``; it imports nothing from neurcomp (CompressAI
lives in its own venv and is never a dependency of neurcomp). It builds a CompressAI model
of the same architecture and size as ours, with freshly initialized weights (random, seed
0), builds the entropy tables with ``model.update(force=True)`` and, per image, times
``model.compress(x)`` (analysis, hyper-analysis/synthesis, range coding) and
``model.decompress(strings, shape)``. One untimed warm-up on the first image comes first.
With ``--repeat R`` each timing is the minimum over R runs.

Prints one JSON object on stdout::

    {"compressai": "1.2.8", "torch": "2.14.1+cu130", "arch": "MeanScaleHyperprior", "N": 96,
     "M": 96, "threads": 1, "repeat": 1,
     "records": [{"image": "kodim01", "height": 512, "width": 768, "bytes": ..., "enc_s": ...,
                  "dec_s": ...}, ...]}

Usage:
    python benchmarks/_compressai_timing.py --arch MeanScaleHyperprior --N 96 --M 96 \\
        [--threads 1] [--repeat 1] IMAGE [IMAGE ...]
"""
from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

ARCHS = ("FactorizedPrior", "ScaleHyperprior", "MeanScaleHyperprior")


def load(path) -> torch.Tensor:
    with Image.open(path) as im:
        arr = np.asarray(im.convert("RGB"), dtype=np.uint8)
    return torch.from_numpy(arr.copy()).permute(2, 0, 1).float().div_(255.0).unsqueeze(0)


def pad(x: torch.Tensor, multiple: int = 64) -> torch.Tensor:
    h, w = x.shape[-2:]
    ph, pw = (-h) % multiple, (-w) % multiple
    return F.pad(x, (0, pw, 0, ph), mode="replicate") if ph or pw else x


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("images", nargs="+")
    ap.add_argument("--arch", default="MeanScaleHyperprior", choices=ARCHS)
    ap.add_argument("--N", type=int, required=True)
    ap.add_argument("--M", type=int, required=True)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=1)
    a = ap.parse_args(argv)

    torch.set_num_threads(max(1, a.threads))
    torch.manual_seed(0)
    warnings.filterwarnings("ignore", category=FutureWarning)  # torch.jit.script deprecation inside CompressAI
    import compressai
    from compressai import models

    model = getattr(models, a.arch)(a.N, a.M).eval()
    model.update(force=True)

    def code(x):
        t0 = time.perf_counter()
        out = model.compress(x)
        t1 = time.perf_counter()
        model.decompress(out["strings"], out["shape"])
        t2 = time.perf_counter()
        nbytes = sum(len(s) for group in out["strings"] for s in group)
        return t1 - t0, t2 - t1, nbytes

    records = []
    with torch.no_grad():
        code(pad(load(a.images[0])))  # warm-up, not recorded
        for i, path in enumerate(a.images):
            x = load(path)
            h, w = x.shape[-2:]
            xp = pad(x)
            runs = [code(xp) for _ in range(max(1, a.repeat))]
            records.append({"image": Path(path).stem, "height": int(h), "width": int(w), "bytes": runs[0][2],
                            "enc_s": min(r[0] for r in runs), "dec_s": min(r[1] for r in runs)})
            print(f"compressai {i + 1}/{len(a.images)} {records[-1]['image']}: enc {records[-1]['enc_s']:.3f} s, "
                  f"dec {records[-1]['dec_s']:.3f} s", file=sys.stderr)
    print(json.dumps({"compressai": compressai.__version__, "torch": torch.__version__, "arch": a.arch, "N": a.N,
                      "M": a.M, "threads": torch.get_num_threads(), "repeat": max(1, a.repeat),
                      "records": records}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
