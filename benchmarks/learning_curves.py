"""Learning curves of the networks in training: the trainer's Kodak evaluations, step by step.

The trainer evaluates every ``eval_every`` steps on the first ``eval_images`` Kodak images (eval
mode, the model's information content as bpp, PSNR of the clamped reconstruction) and keeps the
history in every checkpoint. This reads the slim checkpoints of ``checkpoints/`` (or any
checkpoint named on the command line), prints per network the first, every ``--every``-th and
the last evaluation (bpp / dB per rate point) and the PSNR gain at each rate point over the
last ``--window`` steps, and draws bpp-PSNR curves coloured by step (top row) and each rate
point's PSNR against the step (bottom row) into one figure.

    python benchmarks/learning_curves.py                          # every checkpoints/*.pt
    python benchmarks/learning_curves.py runs/fp/checkpoint.pt --every 5000

Writes ``benchmarks/results/learning_curves.json`` and ``.png``.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

try:
    from neurcomp.fileio import atomic_write
except ImportError:  # run from a checkout without installing
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from neurcomp.fileio import atomic_write

ROOT = Path(__file__).resolve().parents[1]


def history(path: Path) -> dict:
    """``{"name", "step", "train_seconds", "points": [{"step", "bpp": [...], "psnr": [...]}]}`` of a checkpoint."""
    ck = torch.load(path, map_location="cpu", weights_only=True)
    pts = [{"step": h["step"], "train_seconds": h.get("train_seconds"),
            "bpp": [r["bpp"] for r in h["kodak"]], "psnr": [r["psnr"] for r in h["kodak"]]}
           for h in ck.get("history", []) if h.get("kodak")]
    return {"name": ck["config"].get("name", path.stem), "file": str(path), "step": ck["step"],
            "train_seconds": ck.get("train_seconds"), "eval_images": ck["config"].get("eval_images"), "points": pts}


def gain_over(points: list[dict], window: int) -> list[float] | None:
    """PSNR gain (dB) per rate point between the last evaluation and the last one ``window`` steps earlier."""
    if not points:
        return None
    last = points[-1]
    earlier = [p for p in points if p["step"] <= last["step"] - window]
    if not earlier or len(earlier[-1]["psnr"]) != len(last["psnr"]):
        return None
    return [b - a for a, b in zip(earlier[-1]["psnr"], last["psnr"])]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("checkpoints", nargs="*", help="checkpoint files (default: checkpoints/*.pt)")
    p.add_argument("--every", type=int, default=4000, help="print every evaluation at multiples of this step")
    p.add_argument("--window", type=int, default=5000, help="steps over which the recent gain is measured")
    p.add_argument("--json", default=str(ROOT / "benchmarks" / "results" / "learning_curves.json"))
    a = p.parse_args(argv)
    files = [Path(f) for f in a.checkpoints] or sorted((ROOT / "checkpoints").glob("*.pt"))
    runs = [history(f) for f in files]
    for r in runs:
        hours = (r["train_seconds"] or 0) / 3600
        print(f"\n{r['name']} ({r['file']}): step {r['step']:,}, {hours:.1f} h of training; "
              f"Kodak, first {r['eval_images']} images, eval mode (bpp / PSNR dB per rate point)")
        for i, pt in enumerate(r["points"]):
            if i in (0, len(r["points"]) - 1) or pt["step"] % a.every == 0:
                print(f"  step {pt['step']:>7,}: " + "  ".join(f"{b:.3f}/{q:.2f}" for b, q in zip(pt["bpp"], pt["psnr"])))
        g = gain_over(r["points"], a.window)
        r["recent_gain_db"] = g
        if g:
            print(f"  PSNR gain over the last {a.window:,} steps: " + " ".join(f"{v:+.2f}" for v in g) + " dB")
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    drawn = [r for r in runs if len(r["points"]) > 1]
    if drawn:
        fig, axes = plt.subplots(2, len(drawn), figsize=(3.6 * len(drawn), 6.4), squeeze=False)
        for ax, r in zip(axes[1], drawn):  # PSNR of each rate point against the step
            n = max(len(pt["psnr"]) for pt in r["points"])
            for i in range(n):  # rate points added later (extend_rate_points) count from the lowest rate
                xs = [pt["step"] for pt in r["points"] if len(pt["psnr"]) == n or i >= n - len(pt["psnr"])]
                ys = [pt["psnr"][i - (n - len(pt["psnr"]))] for pt in r["points"]
                      if len(pt["psnr"]) == n or i >= n - len(pt["psnr"])]
                ax.plot(xs, ys, "-", color=plt.cm.plasma(i / max(1, n - 1)), lw=1)
            ax.set(xlabel="training step", ylabel="PSNR (dB), one line per rate point")
            ax.grid(alpha=0.3)
        for ax, r in zip(axes[0], drawn):
            steps = np.array([pt["step"] for pt in r["points"]], float)
            colours = plt.cm.viridis((steps - steps.min()) / max(1.0, steps.max() - steps.min()))
            for pt, c in zip(r["points"], colours):
                ax.plot(pt["bpp"], pt["psnr"], "-o", color=c, ms=2, lw=0.8)
            ax.set(title=f"{r['name']}: steps {int(steps.min()):,}-{int(steps.max()):,}", xlabel="bpp (information content)",
                   ylabel="PSNR (dB)")
            ax.grid(alpha=0.3)
        fig.tight_layout()
        png = Path(a.json).with_suffix(".png")
        png.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(png, dpi=110)
        print(f"\nwrote {png} (curves coloured from the first step, dark, to the last, yellow)")
    atomic_write(a.json, (json.dumps({"benchmark": "learning_curves", "runs": runs}, indent=1) + "\n").encode())
    print(f"wrote {a.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
