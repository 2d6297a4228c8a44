r"""The overfitted codec's starting networks, learned across images with Reptile (Nichol et al. 2018).

An overfitted codec (:class:`~neurcomp.models.OverfitCodec`) trains its entropy model and synthesis on
each image it encodes. From random weights, a thousand steps of Adam leave it far from converged (on a
256 x 256 Kodak crop at lambda 0.0483, 3,000 steps gain 1.1 dB at 8 % fewer bits). Starting every
encoding from networks that have already been fitted to many images closes much of that in the same
number of steps, and since the stream codes each parameter's *difference* to the starting point, the
networks cost fewer bits too. Strümpler et al. (2022) meta-learn such an initialization for neural
implicit image codecs; Reptile is the simplest way to do it:

.. math::
   \theta_0 \leftarrow \theta_0 + \tfrac{1}{t+1}\,(\mathrm{fit}_K(\theta_0; x_t, \lambda) - \theta_0),

where :math:`\mathrm{fit}_K` is the codec's own encoder-side training (:meth:`OverfitCodec.fit`: ``K``
steps with its relaxation and schedule) on a random crop :math:`x_t` of a training photo: the starting
point is the running mean of fits that each began from the mean so far. One starting point per width and
per trade-off :math:`\lambda` of :data:`LAMBDAS` (the networks of a low-rate fit are not those of a
high-rate one; a starting point fitted across all rates lost to random weights on a textured Kodak crop).
Only the networks are learned this way; the latents of every image still start at zero.

The result is a small JSON file (every value an integer times ``2^-11``, the exact decoder's grid) that the
zoo's ``overfit`` presets load; its SHA-256 is part of their architecture fingerprint, so a stream encoded
from other starting networks is refused rather than decoded into noise.

    python -m neurcomp.train_overfit --widths 8x8 16x16 --outer 40 --inner 400 --crop 128 \
        --out neurcomp/zoo/overfit_init.json
"""
from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

import torch
from tqdm import tqdm

from .data import load_image, training_paths
from .models.overfit import OverfitCodec

#: values are stored as integers times 2^-FRACTION_BITS (the finest parameter step the exact decoder allows)
FRACTION_BITS = 11
#: the trade-offs the shipped starting networks are fitted at (an encoder at another lambda starts from the
#: nearest, in log lambda)
LAMBDAS = (0.0018, 0.0067, 0.013, 0.0483)


def reptile(width: tuple[int, int], lmbda: float, outer: int, inner: int, crop: int, seed: int = 0,
            grids: int = 7, paths=None, progress: bool = True) -> dict[str, torch.Tensor]:
    """Reptile's starting networks for an overfitted codec ``width`` = (ARM, synthesis) hidden units wide
    at the trade-off ``lmbda``: ``outer`` fits of ``inner`` steps each, on random ``crop`` x ``crop`` crops of
    the training photos (``paths``; default :func:`~neurcomp.data.training_paths`), the t-th moving the
    starting point by 1/(t+1) of the way to its result (so it is the running mean of the fits, each
    started from the mean so far). Returns each parameter's value, rounded to a multiple of
    ``2^-FRACTION_BITS``.

    Example (2 fits of 5 steps on 32 x 32 crops: the values are on the exact decoder's grid):
        >>> import tempfile, numpy as np
        >>> from neurcomp.data import save_png
        >>> folder = Path(tempfile.mkdtemp())
        >>> p = save_png(np.random.default_rng(0).integers(0, 256, (40, 40, 3), dtype=np.uint8), folder / "a.png")
        >>> init = reptile((4, 4), 0.01, outer=2, inner=5, crop=32, grids=4, paths=[p], progress=False)
        >>> v = init["arm.0.weight"]
        >>> tuple(v.shape), bool(torch.equal(v, torch.round(v * 2048) / 2048))
        ((4, 28, 1, 1), True)
    """
    rng = random.Random(seed)
    paths = list(paths) if paths is not None else training_paths()
    model = OverfitCodec(grids=grids, widths=[width], lambdas=[float(lmbda)], steps=inner)
    model.reset_parameters(seed)
    theta0 = {n: t.detach().clone() for n, t in model.named_parameters()}
    names = list(theta0)
    model.lambdas = [float(lmbda)]
    bar = tqdm(range(outer), desc=f"reptile {width[0]}x{width[1]} @{lmbda:g}", disable=not progress)
    for it in bar:
        img = load_image(rng.choice(paths))
        h, w = img.shape[-2:]
        if min(h, w) < crop:
            raise ValueError(f"a training photo is {w}x{h}, smaller than the {crop} px crop")
        i, j = rng.randrange(h - crop + 1), rng.randrange(w - crop + 1)
        model.init_values = {f"{width[0]}x{width[1]}": {n: theta0[n].double() for n in names}}  # fit starts here
        last = model.fit(img[None, :, i:i + crop, j:j + crop], 0, steps=inner, seed=seed * 100003 + it,
                         progress=lambda *a: None)
        eps = 1.0 / (it + 1)
        with torch.no_grad():
            for n, t in model.named_parameters():
                theta0[n] += eps * (t.detach() - theta0[n])
        bar.set_postfix(bpp=f"{last['bpp']:.3f}", psnr=f"{last['psnr']:.2f}")
    scale = float(1 << FRACTION_BITS)
    return {n: torch.round(t.double() * scale) / scale for n, t in theta0.items()}


def to_card(inits: dict[str, dict[str, dict[str, torch.Tensor]]], training: dict) -> dict:
    """The JSON file's content: ``fraction_bits``, per lambda and width each tensor's shape and integers, and
    how it was made (``training``)."""
    scale = float(1 << FRACTION_BITS)
    return {"name": "overfit_init", "format": 1, "fraction_bits": FRACTION_BITS, "training": training,
            "lambdas": {lam: {w: {n: {"shape": list(t.shape), "ints": [int(v) for v in torch.round(t * scale).flatten()]}
                                  for n, t in tensors.items()} for w, tensors in by_width.items()}
                        for lam, by_width in inits.items()}}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m neurcomp.train_overfit", description=__doc__.split("\n")[0])
    p.add_argument("--widths", nargs="+", default=["8x8", "16x16"], help="ARMxSYNTH hidden widths (default 8x8 16x16)")
    p.add_argument("--lambdas", nargs="+", type=float, default=list(LAMBDAS), help="trade-offs (default: LAMBDAS)")
    p.add_argument("--outer", type=int, default=4, help="fits per width and lambda (default 4)")
    p.add_argument("--inner", type=int, default=1000, help="Adam steps per fit (default 1000, the fast preset's)")
    p.add_argument("--crop", type=int, default=256, help="training crop side in pixels (default 256)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    p.add_argument("--out", required=True, help="the JSON file to write (the presets read neurcomp/zoo/overfit_init.json)")
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    try:
        widths = [tuple(int(v) for v in w.split("x")) for w in a.widths]
    except ValueError:
        p.error("widths are ARMxSYNTH, e.g. 16x16")
    t0 = time.time()
    inits = {f"{lam:g}": {f"{w[0]}x{w[1]}": reptile(w, lam, a.outer, a.inner, a.crop, a.seed) for w in widths}
             for lam in a.lambdas}
    training = {"method": "reptile", "command": "python -m neurcomp.train_overfit " + " ".join(argv or sys.argv[1:]),
                "outer": a.outer, "inner": a.inner, "crop": a.crop, "seed": a.seed,
                "images": len(training_paths()), "seconds": round(time.time() - t0, 1)}
    Path(a.out).write_text(json.dumps(to_card(inits, training), separators=(",", ":")) + "\n")
    print(f"wrote {a.out} ({len(inits)} lambdas x {len(widths)} widths; {training['seconds']:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
