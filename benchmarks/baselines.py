"""Classical codecs on Kodak: JPEG, WebP, JPEG 2000 and AVIF through Pillow.

Runs each codec's default quality sweep (neurcomp.baselines.CODEC_QUALITIES) on the Kodak
images, averages the per-image results into one R-D curve per codec (mean bpp and mean
PSNR / MS-SSIM dB per quality), and prints:

* a table: codec, images, range of mean bpp, mean PSNR at both ends of the sweep,
  BD-rate against JPEG on PSNR and on MS-SSIM dB (negative = fewer bits than JPEG);
* PSNR interpolated at 0.25 / 0.5 / 1.0 bpp beside the published CompressAI numbers.

BD-rates are computed on the mean curves over the quality range both curves cover
(neurcomp.metrics.bd_rate, cubic fits as in VCEG-M33). The JSON output holds the settings,
the table and every per-image record.

Usage (from the repository root; images from $NEURCOMP_DATA/kodak or downloaded):

    python benchmarks/baselines.py                  # all 24 images, a few minutes on 2 cores
    python benchmarks/baselines.py --images 4 --json /tmp/b.json
"""

from __future__ import annotations

import argparse
import math
import platform
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

from neurcomp import baselines, data, metrics
from neurcomp.plotting import REFERENCE_KODAK
import _records  # noqa: E402  (benchmarks/ is on sys.path when run as a script)

REF_NAMES = {"jpeg": "JPEG", "webp": "WebP", "jpeg2000": "JPEG 2000"}
TARGETS = (0.25, 0.5, 1.0)


def psnr_at(curve: dict, target_bpp: float) -> float:
    """Mean PSNR at ``target_bpp``, interpolated linearly in log(bpp); NaN outside the curve."""
    b, p = np.log(curve["bpp"]), curve["psnr"]
    t = math.log(target_bpp)
    return float(np.interp(t, b, p)) if b[0] <= t <= b[-1] else float("nan")


def bd_or_nan(anchor: dict, test: dict, metric: str) -> float:
    try:
        return metrics.bd_rate(anchor["bpp"], anchor[metric], test["bpp"], test[metric])
    except ValueError:
        return float("nan")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--images", type=int, default=24, help="use the first N Kodak images (default 24)")
    ap.add_argument("--json", default="benchmarks/results/baselines.json", help="output JSON file")
    ap.add_argument("--codecs", nargs="*", default=None, help="codecs to run (default: all Pillow has)")
    ap.add_argument("--no-progress", action="store_true")
    ap.add_argument(
        "--threads", type=int, default=1,
        help="torch threads for MS-SSIM (default 1: one image gains little from more, "
        "and on shared cores extra threads make it 10-20x slower)",
    )
    args = ap.parse_args(argv)

    torch.set_num_threads(max(1, args.threads))
    paths = data.kodak_paths()[: max(1, args.images)]
    avail = baselines.available_codecs()
    codecs = args.codecs or [c for c, ok in avail.items() if ok]
    if "jpeg" not in codecs:
        codecs = ["jpeg", *codecs]  # the anchor of every BD-rate

    records, seconds = [], {}
    for codec in codecs:
        t0 = time.perf_counter()
        records += baselines.evaluate(paths, codec, progress=not args.no_progress)
        seconds[codec] = time.perf_counter() - t0
    curves = metrics.curves_from_records(records, curve_key="codec", point_key="quality")

    table = []
    for codec in codecs:
        c = curves[codec]
        quals = sorted({r["quality"] for r in records if r["codec"] == codec})
        table.append(
            {
                "codec": codec,
                "images": len(paths),
                "qualities": quals,
                "bpp_min": float(c["bpp"][0]),
                "bpp_max": float(c["bpp"][-1]),
                "psnr_at_bpp_min": float(c["psnr"][0]),
                "psnr_at_bpp_max": float(c["psnr"][-1]),
                "bd_rate_vs_jpeg_psnr": bd_or_nan(curves["jpeg"], c, "psnr"),
                "bd_rate_vs_jpeg_msssim_db": bd_or_nan(curves["jpeg"], c, "ms_ssim_db"),
                **{f"psnr_at_{t}": psnr_at(c, t) for t in TARGETS},
                "published_psnr": REFERENCE_KODAK.get(REF_NAMES.get(codec, ""), None),
                "seconds": seconds[codec],
            }
        )

    print(f"\nKodak, first {len(paths)} image(s); Pillow {PIL.__version__}; mean curves over images")
    head = f"{'codec':<9} {'images':>6} {'mean bpp range':>15} {'PSNR (dB) at ends':>18} " \
           f"{'BD-rate vs JPEG':>16} {'BD-rate vs JPEG':>16}"
    print(head)
    print(f"{'':<9} {'':>6} {'':>15} {'':>18} {'(PSNR)':>16} {'(MS-SSIM dB)':>16}")
    for row in table:
        if row["codec"] == "jpeg":
            bd = f"{'(anchor)':>16} {'(anchor)':>16}"
        else:
            bd = f"{row['bd_rate_vs_jpeg_psnr']:>+14.1f} % {row['bd_rate_vs_jpeg_msssim_db']:>+14.1f} %"
        print(
            f"{row['codec']:<9} {row['images']:>6} "
            f"{row['bpp_min']:>6.3f} - {row['bpp_max']:<6.3f} "
            f"{row['psnr_at_bpp_min']:>7.2f} - {row['psnr_at_bpp_max']:<7.2f}  {bd}"
        )
    print("\nPSNR (dB) at 0.25 / 0.5 / 1.0 bpp (ours, interpolated) vs published (CompressAI, 24 images)")
    for row in table:
        ours = " / ".join(f"{row[f'psnr_at_{t}']:.2f}" for t in TARGETS)
        pub = row["published_psnr"]
        pub_s = " / ".join(f"{pub[t]:.2f}" for t in TARGETS) if pub else "-"
        print(f"{row['codec']:<9} {ours:<24} published {pub_s}")

    out = {
        "benchmark": "baselines",
        "dataset": "kodak",
        "images": [p.stem for p in paths],
        "pillow": PIL.__version__,
        "python": platform.python_version(),
        "torch_threads": torch.get_num_threads(),
        "settings": {c: baselines.CODEC_NOTES[c] for c in codecs},
        "table": table,
        "records": records,
    }
    _records.write(args.json, "baselines", out)
    print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
