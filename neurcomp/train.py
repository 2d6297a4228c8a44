"""Training loop for the transform-coding models: ``python -m neurcomp.train --config FILE``.

The loss is ``R + lambda * 255^2 * D`` per sample (R in bits per pixel, D the MSE of
[0, 1] pixels), with a rate point drawn at random for every sample of the batch so
one variable-rate model learns all its lambdas at once. Features: tqdm progress
(loss, bpp, PSNR), periodic evaluation on Kodak (the learning curve), atomic
checkpoints every few minutes and ``--resume``, seeds, automatic device choice
(cuda, mps, cpu) with bfloat16 autocast on CUDA, and multi-process data parallel
training under ``torchrun`` (NCCL on GPUs, gloo on CPUs).

Example (a few steps of a tiny model)::

    python -m neurcomp.train --config configs/mshp_tiny.yaml --steps 5 --out runs/tiny
"""
from __future__ import annotations

import argparse
import io
import json
import math
import os
import sys
import time
from pathlib import Path

import torch
import torch.distributed as dist
import yaml
from tqdm.auto import tqdm

from .data import CropDataset, kodak, pad_to_multiple, training_paths
from .fileio import atomic_write
from .models import build_model
from .models.rate import extend_rate_points

DEFAULTS = {
    "seed": 0,
    "steps": 1000,
    "batch_size": 8,
    "crop": 128,
    "lr": 1e-3,
    "lr_milestones": [],  # steps at which the learning rate is multiplied by lr_gamma
    "lr_gamma": 0.3,
    "warmup_steps": 100,
    "clip_grad": 1.0,
    "eval_every": 1000,
    "eval_images": 4,
    "ckpt_minutes": 5.0,
    "channels_last": True,
    "data": None,  # folder of training images; default $NEURCOMP_DATA/train
    "init_from": None,  # checkpoint whose model warm-starts a fresh run (model.warm_start), e.g. checkpoints/mshp.pt
    # against posterior collapse (a latent level the decoder learns to ignore): see training_options
    "free_bits": 0.0,  # bits per latent element that each (latent group, channel) gets for free in the loss
    "rate_warmup_steps": 0,  # the rate term's weight ramps linearly from 0 to 1 over these first steps
}


def load_config(path) -> dict:
    """Read a YAML (or TOML) training config; unknown top-level keys are an error."""
    path = Path(path)
    text = path.read_text()
    if path.suffix == ".toml":
        import tomllib  # Python 3.11+ only, for TOML configs
        cfg = tomllib.loads(text)
    else:
        cfg = yaml.safe_load(text)
    if "model" not in cfg:
        raise ValueError(f"{path}: config needs a 'model' section (kind, N, M, lambdas)")
    unknown = set(cfg) - set(DEFAULTS) - {"model", "name"}
    if unknown:
        raise ValueError(f"{path}: unknown config keys {sorted(unknown)}")
    return {**DEFAULTS, **cfg}


def training_options(cfg: dict, step: int) -> dict:
    """What the trainer hands to ``model.rd_loss`` at ``step`` besides the batch: ``free_bits`` (the
    config's, a number or per latent group: :func:`neurcomp.models.rate.training_rate_bpp`) and
    ``rate_weight``, the rate warm-up ``min(1, step / rate_warmup_steps)`` (so the decoder learns to use
    every level before the rate is charged in full). Neither changes what is measured or coded; a model
    whose rate cannot take an option refuses it in its ``rd_loss`` (ValueError).

    Example:
        >>> training_options({"free_bits": {"z2": 1.25}, "rate_warmup_steps": 200}, 50)
        {'free_bits': {'z2': 1.25}, 'rate_weight': 0.25}
        >>> from neurcomp.models import build_model
        >>> m = build_model({"kind": "hdvae", "channels": 8, "latent_channels": 2, "levels": 2, "lambdas": [0.01]})
        >>> x = torch.rand(2, 3, 32, 32)
        >>> out = m(x, 0)
        >>> plain, warm = m.rd_loss(x, out, 0), m.rd_loss(x, out, 0, **training_options({"rate_warmup_steps": 20}, 10))
        >>> bool(torch.isclose(warm["loss"], plain["loss"] - 0.5 * plain["bpp"])), bool(warm["bpp"] == plain["bpp"])
        (True, True)
    """
    warm = int(cfg.get("rate_warmup_steps") or 0)
    return {"free_bits": cfg.get("free_bits") or 0.0, "rate_weight": min(1.0, step / warm) if warm > 0 else 1.0}


def pick_device(name: str | None = None) -> torch.device:
    if name:
        return torch.device(name)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def learning_rate(cfg: dict, step: int, warm_from: int = 0) -> float:
    """Learning rate at ``step``: linear warm-up over ``warmup_steps`` counted from ``warm_from``
    (the step at which Adam's moments were last fresh), then piecewise-constant decay."""
    lr = cfg["lr"] * min(1.0, (step - warm_from + 1) / max(1, cfg["warmup_steps"]))
    for m in cfg["lr_milestones"]:
        if step >= m:
            lr *= cfg["lr_gamma"]
    return lr


def _save_atomic(obj, path: Path) -> None:
    buf = io.BytesIO()
    torch.save(obj, buf)
    atomic_write(path, buf.getvalue())


@torch.no_grad()
def evaluate_kodak(model, images, device) -> list[dict]:
    """Rate (bits/pixel, from the eval-mode ``rate_bits``) and PSNR per rate point, averaged over images."""
    was_training = model.training
    model.eval()
    rows = []
    for l, lam in enumerate(model.rate_points):
        bpp, psnr = [], []
        for x in images:
            xp, hw = pad_to_multiple(x.unsqueeze(0).to(device), model.stride)
            out = model(xp, rate_idx=l)
            bits = sum(float(b.sum()) for b in out["rate_bits"].values())
            x_hat = out["x_hat"][..., : hw[0], : hw[1]].clamp(0, 1)
            mse = float(((torch.round(x_hat * 255) - torch.round(x.to(device) * 255)) ** 2).mean())
            bpp.append(bits / (hw[0] * hw[1]))
            psnr.append(10 * math.log10(255 ** 2 / max(mse, 1e-10)))
        rows.append({"lambda": lam, "bpp": sum(bpp) / len(bpp), "psnr": sum(psnr) / len(psnr)})
    model.train(was_training)
    return rows


class _Run:
    """One training run's moving parts: model, optimizer, data, progress state."""

    def __init__(self, cfg: dict, out_dir: Path, device: str | None, quiet: bool):
        self.cfg, self.out_dir, self.quiet = cfg, Path(out_dir), quiet
        self.distributed = int(os.environ.get("WORLD_SIZE", "1")) > 1
        self.rank = 0
        if self.distributed:
            dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
            self.rank = dist.get_rank()
            if torch.cuda.is_available():
                torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", 0)))
                device = f"cuda:{torch.cuda.current_device()}"
        self.dev = pick_device(device)
        torch.manual_seed(cfg["seed"] + self.rank)
        self.model = build_model(cfg["model"]).to(self.dev)
        if cfg["channels_last"]:
            self.model = self.model.to(memory_format=torch.channels_last)
        self.opt = torch.optim.Adam(self.model.parameters(), lr=cfg["lr"])
        self.ckpt_path = self.out_dir / "checkpoint.pt"
        self.state = {"step": 0, "history": [], "train_seconds": 0.0}
        self.warm_from = 0  # the step at which Adam's moments were last fresh

    def say(self, message: str) -> None:
        if not self.quiet and self.rank == 0:
            print(message, file=sys.stderr)

    def restore(self, source: Path) -> None:
        """Continue from a checkpoint (full or slim); a changed lambda list grows the rate points."""
        ck = torch.load(source, map_location=self.dev, weights_only=True)
        weights = {k: v.float() if v.is_floating_point() else v for k, v in ck["model"].items()}
        old_lambdas = list(ck["config"]["model"].get("lambdas", [])) if "config" in ck else []
        new_lambdas = list(self.cfg["model"].get("lambdas", []))
        changed = bool(old_lambdas) and old_lambdas != new_lambdas
        if changed:
            weights = extend_rate_points(weights, old_lambdas, new_lambdas)
        self.model.load_state_dict(weights)
        self.state = {k: ck[k] for k in ("step", "history", "train_seconds")}
        if "optimizer" in ck and not changed:
            self.opt.load_state_dict(ck["optimizer"])
        else:
            self.warm_from = self.state["step"]
            self.say(f"fresh Adam moments: learning rate warms up again from step {self.warm_from}")
        self.say(f"resumed from {source} at step {self.state['step']}")

    def step(self, net, data, gen, amp: bool) -> dict:
        """One optimizer step on a fresh batch, every sample at a random rate point; returns the losses."""
        cfg, model = self.cfg, self.model
        for group in self.opt.param_groups:
            group["lr"] = learning_rate(cfg, self.state["step"], self.warm_from)
        t0 = time.time()
        x = data.sample_batch(cfg["batch_size"], generator=gen).to(self.dev)
        if cfg["channels_last"]:
            x = x.contiguous(memory_format=torch.channels_last)
        rate_idx = torch.randint(0, len(model.rate_points), (x.shape[0],), generator=gen).to(self.dev)
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=amp):
            out = net(x, rate_idx)
        out = {**out, "x_hat": out["x_hat"].float()}
        losses = model.rd_loss(x, out, rate_idx, **training_options(cfg, self.state["step"]))
        self.opt.zero_grad(set_to_none=True)
        losses["loss"].backward()
        if cfg["clip_grad"]:
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg["clip_grad"])
        self.opt.step()
        self.state["step"] += 1
        self.state["train_seconds"] += time.time() - t0
        last = {k: float(v.detach()) for k, v in losses.items()}
        if not math.isfinite(last["loss"]):
            raise FloatingPointError(f"loss became {last['loss']} at step {self.state['step']}")
        return last

    def evaluate(self, eval_images, last: dict, bar) -> None:
        rows = evaluate_kodak(self.model, eval_images, self.dev)
        self.state["history"].append({"step": self.state["step"], "train_seconds": round(self.state["train_seconds"], 1),
                                      "train": last, "kodak": rows})
        bar.write(f"step {self.state['step']}: " + "  ".join(f"{r['bpp']:.3f}bpp/{r['psnr']:.2f}dB" for r in rows))

    def checkpoint(self) -> dict:
        ck = {"config": self.cfg, "model": self.model.state_dict(), "optimizer": self.opt.state_dict(), **self.state}
        _save_atomic(ck, self.ckpt_path)
        (self.out_dir / "history.json").write_text(json.dumps(self.state["history"], indent=1))
        return ck


def train(cfg: dict, out_dir: Path, resume: bool = False, device: str | None = None,
          max_steps: int | None = None, max_minutes: float | None = None, quiet: bool = False,
          resume_from=None) -> dict:
    """Train (or resume) the model of ``cfg``; returns the final checkpoint dict."""


    run = _Run(cfg, out_dir, device, quiet)
    source = run.ckpt_path if run.ckpt_path.exists() else (Path(resume_from) if resume_from else None)
    if resume and source is not None and source.exists():
        run.restore(source)
    elif cfg.get("init_from"):
        warm_start(run.model, cfg["init_from"])
        run.say(f"warm start from {cfg['init_from']}")
    net = torch.nn.parallel.DistributedDataParallel(run.model) if run.distributed else run.model
    data = CropDataset(training_paths(cfg["data"]), crop=cfg["crop"], seed=cfg["seed"] + 1000 * run.rank)
    gen = torch.Generator().manual_seed(cfg["seed"] + 7919 * run.rank + run.state["step"])
    eval_images = [img for _, img in kodak()[: cfg["eval_images"]]] if cfg["eval_images"] else []

    end_step = min(cfg["steps"], run.state["step"] + max_steps) if max_steps is not None else cfg["steps"]
    bar = tqdm(total=end_step, initial=run.state["step"], disable=quiet or run.rank != 0, desc="train",
               dynamic_ncols=True, mininterval=1.0 if sys.stderr.isatty() else 60.0)
    t_start = t_ckpt = time.time()
    run.model.train()
    while run.state["step"] < end_step:
        if max_minutes is not None and time.time() - t_start > 60 * max_minutes:
            break
        last = run.step(net, data, gen, amp=run.dev.type == "cuda")
        bar.update(1)
        bar.set_postfix(loss=f"{last['loss']:.3f}", bpp=f"{last['bpp']:.3f}", psnr=f"{last['psnr']:.2f}", refresh=False)
        if run.rank == 0:
            if eval_images and cfg["eval_every"] and run.state["step"] % cfg["eval_every"] == 0:
                run.evaluate(eval_images, last, bar)
            if time.time() - t_ckpt > 60 * cfg["ckpt_minutes"]:
                run.checkpoint()
                t_ckpt = time.time()
    bar.close()
    ck = run.checkpoint() if run.rank == 0 else None
    if run.distributed:
        dist.barrier()
        dist.destroy_process_group()
    return ck


def warm_start(model, checkpoint) -> None:
    """Initialise ``model`` from the network in ``checkpoint`` (a path, relative paths from the
    repository root too) with ``model.warm_start(source)``."""
    path = Path(checkpoint)
    if not path.is_absolute() and not path.exists():
        path = Path(__file__).resolve().parents[1] / path
    ck = torch.load(path, map_location="cpu", weights_only=True)
    source = build_model(ck["config"]["model"])
    source.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in ck["model"].items()})
    dev = next(model.parameters()).device
    model.warm_start(source.to(dev))


def save_slim(checkpoint, path) -> Path:
    """A small resumable checkpoint: float16 weights, step, seconds, history (no optimizer state;
    Adam restarts, with the config's warm-up). About a third of a full checkpoint."""
    ck = torch.load(checkpoint, map_location="cpu", weights_only=True) if not isinstance(checkpoint, dict) else checkpoint
    slim = {"config": ck["config"], "step": ck["step"], "train_seconds": ck["train_seconds"], "history": ck["history"],
            "model": {k: v.half() if v.is_floating_point() else v for k, v in ck["model"].items()}}
    _save_atomic(slim, Path(path))
    return Path(path)


#: where committed slim checkpoints live (``--resume`` starts from ``<name>.pt`` there when the run folder is empty)
CHECKPOINTS_DIR = Path(__file__).resolve().parents[1] / "checkpoints"


def leave_stretch(ck: dict, name: str, first_step: int, hours: float, folder: Path = CHECKPOINTS_DIR) -> str:
    """End a working stretch of a training that spans sessions: the slim checkpoint ``<folder>/<name>.pt``
    (to commit) and one line appended to ``<folder>/training_log.tsv`` (date, config, steps from and to,
    wall hours, the last Kodak evaluation's PSNR per rate point in dB); returns that line.

    Example:
        >>> import tempfile
        >>> ck = {"config": {}, "step": 7, "train_seconds": 1.0, "model": {}, "history": [
        ...       {"step": 5, "kodak": [{"bpp": 0.2, "psnr": 25.0}, {"bpp": 0.5, "psnr": 28.5}]}]}
        >>> leave_stretch(ck, "tiny", 2, 0.01, Path(tempfile.mkdtemp())).split(chr(9))[1:]
        ['tiny', '2', '7', '0.01', 'step 5: 25.00 28.50 dB']
    """
    folder = Path(folder)
    save_slim(ck, folder / f"{name}.pt")
    last = next((h for h in reversed(ck.get("history") or []) if h.get("kodak")), None)
    kodak = f"step {last['step']}: " + " ".join(f"{r['psnr']:.2f}" for r in last["kodak"]) + " dB" if last else "no eval"
    line = "\t".join([time.strftime("%Y-%m-%d %H:%M"), name, str(first_step), str(ck["step"]), f"{hours:.2f}", kodak])
    log = folder / "training_log.tsv"
    header = "" if log.exists() else "date\tconfig\tfrom step\tto step\thours\tlast Kodak eval (PSNR per rate point)\n"
    with open(log, "a") as f:
        f.write(header + line + "\n")
    return line


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m neurcomp.train", description=__doc__.split("\n")[0])
    p.add_argument("config_file", nargs="?", metavar="CONFIG", help="YAML or TOML config (see configs/)")
    p.add_argument("--config", help="the same, as an option")
    p.add_argument("--out", help="run folder for checkpoints (default runs/<config name>)")
    p.add_argument("--resume", action="store_true", help="continue from <out>/checkpoint.pt, else from --resume-from, "
                   "else from the committed slim checkpoints/<config name>.pt")
    p.add_argument("--resume-from", help="with --resume: the checkpoint to start from when <out> has none")
    p.add_argument("--steps", type=int, help="train at most this many more steps (default: up to the config's total)")
    p.add_argument("--minutes", type=float, help="stop after this many minutes of wall time")
    p.add_argument("--hours", type=float, help="a working stretch: stop after this many hours, then leave the slim "
                   "checkpoint checkpoints/<config name>.pt and a line in checkpoints/training_log.tsv")
    p.add_argument("--checkpoints", default=str(CHECKPOINTS_DIR), help="with --hours: where to leave them "
                   "(default: the repository's checkpoints/)")
    p.add_argument("--device", help="cpu, cuda, cuda:1, mps (default: best available)")
    p.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    p.add_argument("--quiet", action="store_true")
    a = p.parse_args(argv)
    config = a.config or a.config_file
    if not config:
        p.error("give the config: python -m neurcomp.train configs/X.yaml (or --config FILE)")
    if a.threads:
        torch.set_num_threads(a.threads)
    try:
        cfg = load_config(config)
    except (OSError, ValueError, yaml.YAMLError) as e:
        print(f"neurcomp.train: {e}", file=sys.stderr)
        return 2
    name = Path(config).stem
    out = Path(a.out or Path("runs") / name)
    out.mkdir(parents=True, exist_ok=True)
    resume_from = a.resume_from
    committed = Path(a.checkpoints) / f"{name}.pt"
    if a.resume and resume_from is None and committed.exists():
        resume_from = committed
    start = (out / "checkpoint.pt") if (out / "checkpoint.pt").exists() else resume_from
    first = int(torch.load(start, map_location="cpu", weights_only=True, mmap=True)["step"]) if a.resume and start else 0
    t0 = time.time()
    minutes = a.minutes if a.hours is None else 60 * a.hours
    ck = train(cfg, out, resume=a.resume, device=a.device, max_steps=a.steps, max_minutes=minutes, quiet=a.quiet,
               resume_from=resume_from)
    if a.hours is not None:
        print(leave_stretch(ck, name, first, (time.time() - t0) / 3600, Path(a.checkpoints)), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
