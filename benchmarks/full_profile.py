"""What the ``full`` profile of the iterative-inference chapters costs: seconds per optimization step.

Chapters 5 and 6 in the ``full`` profile optimize the latents of whole Kodak images (768 x 512) for
2000 steps with CompressAI's published mean-scale hyperprior (Minnen et al. 2018; qualities 1-4 have
N = 128, M = 192 channels, qualities 5-8 N = 192, M = 320). A step's cost depends on the architecture's
size, not on its weights, so this script times SGA steps (forward, backward and Adam on the latents,
:func:`neurcomp.inference.optimize_latents`) of both sizes with fresh weights, on the CPU (1 and 2
threads) and on a GPU where there is one, next to our shipped ``mshp`` (N = M = 96) as the baseline,
all in one run. It prints a table with the ratios to that baseline and the time of 2000 steps, and
writes JSON.

    python benchmarks/full_profile.py                 # CPU; add --device cuda on a GPU machine
    python benchmarks/full_profile.py --steps 5 --threads 1
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import torch

from neurcomp import __version__, data
from neurcomp.inference import optimize_latents
from neurcomp.models.compressai import CompressAIMeanScale
from neurcomp.zoo import load_pretrained

PAPER_STEPS = 2000


def seconds_per_step(model, x, rate_idx, steps: int, device: torch.device) -> float:
    """Wall seconds per SGA step (after one warm-up step), synchronized on a GPU."""
    model = model.to(device)
    x = x.to(device)
    optimize_latents(model, x, rate_idx, method="sga", steps=1, seed=0, record_every=1)
    if device.type == "cuda":
        torch.cuda.synchronize()
    t = time.perf_counter()
    optimize_latents(model, x, rate_idx, method="sga", steps=steps, seed=0, record_every=steps)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - t) / steps


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=10, help="timed steps per configuration (default 10)")
    ap.add_argument("--threads", type=int, nargs="*", default=[1, 2], help="CPU thread counts (default 1 2)")
    ap.add_argument("--device", default="auto", help="'cpu', 'cuda' or 'auto' (a GPU too when there is one)")
    ap.add_argument("--image", default="kodim23", help="a Kodak image (default kodim23, 768 x 512)")
    ap.add_argument("--json", default=str(Path(__file__).parent / "results" / "full_profile.json"))
    args = ap.parse_args(argv)

    x = data.load_image(next(p for p in data.kodak_paths() if p.stem == args.image)).unsqueeze(0)
    mshp, mshp_idx, entry = load_pretrained("mshp@0.0067")
    models = {"mshp (ours, N=M=96)": (mshp, mshp_idx)}
    for q, (n, m) in (("1-4", (128, 192)), ("5-8", (192, 320))):
        net = CompressAIMeanScale(N=n, M=m).eval()
        net.set_medians(torch.zeros(n))
        net.update()
        models[f"mbt2018-mean q{q} (N={n}, M={m})"] = (net, 0)

    targets = [("cpu", t) for t in args.threads]
    want_gpu = args.device in ("cuda", "auto") and torch.cuda.is_available()
    if args.device == "cuda" and not want_gpu:
        raise SystemExit("--device cuda: no GPU here")
    if want_gpu:
        targets.append(("cuda", None))

    rows = []
    old_threads = torch.get_num_threads()
    for dev, threads in targets:
        if threads:
            torch.set_num_threads(threads)
        where = f"{dev}" + (f", {threads} thread{'s' if threads > 1 else ''}" if threads else
                            f" ({torch.cuda.get_device_name()})")
        base = None
        for label, (model, idx) in models.items():
            s = seconds_per_step(model, x, idx, args.steps, torch.device(dev))
            model.to("cpu")
            base = s if base is None else base
            rows.append({"device": where, "model": label, "s_per_step": s, "ratio_to_mshp": s / base,
                         "paper_run_minutes": s * PAPER_STEPS / 60})
            print(f"{where:28s} {label:34s} {s:7.3f} s/step  x{s / base:4.2f}  "
                  f"{PAPER_STEPS} steps: {s * PAPER_STEPS / 60:6.1f} min", flush=True)
    torch.set_num_threads(old_threads)

    out = {"benchmark": "full_profile", "neurcomp": __version__, "torch": torch.__version__,
           "machine": platform.machine(), "cpus": os.cpu_count(), "image": args.image,
           "pixels": [int(x.shape[-2]), int(x.shape[-1])], "timed_steps": args.steps, "paper_steps": PAPER_STEPS,
           "mshp_sha256": entry["sha256"], "rows": rows}
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(out, indent=1) + "\n")
    print(f"wrote {args.json}")
    return out


if __name__ == "__main__":
    main()
