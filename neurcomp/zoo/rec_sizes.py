"""``python -m neurcomp.zoo.rec_sizes pln``: fit a shipped PLN's group-size tables on training images.

Flamich et al. (2020) code their coder's group sizes under an empirical distribution built from
the training set. This command builds it for a shipped PLN (:meth:`neurcomp.models.pln.PLN.
fit_rec_size_counts`): the centre ``--crop`` x ``--crop`` crop of every training image (the
held-out photos and images smaller than the crop excluded), every rate point, both latent levels; it writes the tables into the
model card's ``config`` (``rec_size_counts``), so they ship with the weights, and prints how
many groups of each size class were seen. ``python -m neurcomp.zoo`` does the same when it
ships a PLN. Like the ``neurcomp`` CLI this is an entry point: nothing imports it but
``neurcomp.zoo.__main__``.
"""
from __future__ import annotations

import argparse
import json
import sys

import numpy as np
import torch

from ..data import load_image, training_paths
from ..models import build_model
from . import WEIGHTS_DIR, model_card, resolve


def _centre_crop(x: torch.Tensor, crop: int):
    """``[1, 3, crop, crop]`` from the centre of ``x [3, H, W]`` (None if the image is smaller)."""
    h, w = x.shape[-2:]
    if h < crop or w < crop:
        return None
    top, left = (h - crop) // 2, (w - crop) // 2
    return x[None, :, top: top + crop, left: left + crop]


def fit_card(base: str, crop: int = 256, max_images: int | None = None, seed: int = 0, weights_dir=WEIGHTS_DIR) -> dict:
    """Fit ``base``'s tables on the centre crop of every training image and write them into its card; returns the tables."""
    card_path = weights_dir / f"{base}.json"
    card = json.loads(card_path.read_text())
    if card["config"].get("kind") != "pln":
        raise ValueError(f"{base!r} is not a PLN (group-size tables are for the REC coder of a PLN)")
    entry = resolve(f"{base}@{card['config']['betas'][0]:g}", weights_dir)
    from . import load_pretrained

    model, _, _ = load_pretrained(entry["name"], weights_dir)
    paths = training_paths()
    if max_images is not None:
        paths = paths[: int(max_images)]
    images = (c for c in (_centre_crop(load_image(q), crop) for q in paths) if c is not None)
    with torch.no_grad():
        tables = model.fit_rec_size_counts(images, seed=seed)
    tables["crop"] = int(crop)
    card["config"]["rec_size_counts"] = tables
    build_model(card["config"])  # the card must still build
    card_path.write_text(json.dumps(card, indent=1))
    return tables


def summary(tables: dict) -> str:
    """One line per level: groups seen per rate point and the share of full-size groups."""
    lines = []
    for level in ("z1", "z2"):
        c = np.asarray(tables[level])
        full = c[:, -1].sum() / max(c.sum(), 1)
        lines.append(f"{level}: {c.sum(1).tolist()} groups per rate point, {100 * full:.1f} % of size "
                     f"{tables['max_group']}")
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m neurcomp.zoo.rec_sizes", description=__doc__.split("\n")[0])
    p.add_argument("name", help="a shipped PLN, e.g. pln")
    p.add_argument("--crop", type=int, default=256, help="crop side in pixels (a multiple of 64; default 256)")
    p.add_argument("--max-images", type=int, help="only the first N training images")
    a = p.parse_args(argv)
    if a.crop % 64:
        p.error("--crop must be a multiple of 64")
    model_card(a.name)  # a clear error for an unknown name
    tables = fit_card(a.name, a.crop, a.max_images)
    print(f"{a.name}: group-size tables from {tables['images']} training crops of {a.crop} px "
          f"(B = {tables['budget_bits']} bits, G = {tables['max_group']})", file=sys.stderr)
    print(summary(tables), file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
