"""``python -m neurcomp.zoo CHECKPOINT NAME``: ship a trained network.

Exports the checkpoint's weights as float16 safetensors with a model card into
``neurcomp/weights/`` (:func:`neurcomp.zoo.export`), then codes the first ``--images`` Kodak
images with the real codec at every rate point and writes the results onto the card (for a PLN,
first the group-size tables of Flamich et al.'s coder: :mod:`neurcomp.zoo.rec_sizes`). Like
the ``neurcomp`` CLI this is an entry point: nothing imports it.
"""
from __future__ import annotations

import argparse
import json
import sys

from ..data import kodak_paths
from ..evaluate import kodak_results
from . import WEIGHTS_DIR, export
from .rec_sizes import fit_card, summary


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m neurcomp.zoo", description=__doc__.split("\n")[0])
    p.add_argument("checkpoint")
    p.add_argument("name")
    p.add_argument("--images", type=int, default=24, help="first N Kodak images for the card (default 24)")
    p.add_argument("--method", help="the card's coding method (default: the model's own; e.g. bitsback_no_iter for "
                   "a bits-back model, whose default optimizes for minutes per image)")
    a = p.parse_args(argv)
    card = export(a.checkpoint, a.name)
    if card["config"]["kind"] == "pln":  # Flamich et al.'s coder codes group sizes under tables from training images
        card["config"]["rec_size_counts"] = fit_card(a.name)
        print(summary(card["config"]["rec_size_counts"]), file=sys.stderr)
    card["kodak"] = kodak_results(a.name, kodak_paths()[: a.images], method=a.method)
    (WEIGHTS_DIR / f"{a.name}.json").write_text(json.dumps(card, indent=1))
    for r in card["kodak"]:
        print(f"{r['model']}: {r['bpp']:.4f} bpp (est {r['est_bpp']:.4f}), {r['psnr']:.2f} dB, MS-SSIM {r['ms_ssim']:.4f}",
              file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
