"""Live training demos: a model trained for a minute inside a chapter.

Part of :mod:`neurcomp.book` (see there for units and conventions).
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable, Mapping

import torch

from .. import data
from ..train import DEFAULTS, learning_rate


def training_images() -> list[Path]:
    """The photos a live training demo learns from.

    ``$NEURCOMP_DATA/train`` (any depth) when it has images. Where it does not (Colab, a fresh
    machine), the 24 Kodak images stand in (downloaded and SHA-256 checked on first use), and one
    printed line says so: enough to watch a loss fall in a minute, not to train a codec (the shipped
    networks were trained on a photo collection; see their model cards). Offline and without data,
    :class:`neurcomp.data.DataError` says in one line how to set ``NEURCOMP_DATA``.

    Returns
    -------
    list of pathlib.Path
        Image files.

    Examples
    --------
    >>> len(training_images()) > 0  # doctest: +SKIP
    True
    """
    try:
        return data.training_paths()
    except data.DataError:
        paths = data.kodak_paths()
        print(f"no training photos under {data.data_dir() / 'train'}: this demo trains on the {len(paths)} Kodak "
              "images instead, a small stand-in (enough to watch the loss fall, not to train a codec)")
        return paths


def train_live(model: torch.nn.Module, sample: Callable[..., torch.Tensor], batch: int, seconds: float,
               max_steps: int, lr: float = 2e-3, warmup_steps: int = 50, rate_idx: int = 0, seed: int = 0,
               every: int = 0, evaluate: Callable[[torch.nn.Module], Mapping[str, Any]] | None = None) -> dict:
    """Train a model for a time budget with the training step of :func:`neurcomp.train.train`.

    Each step draws a batch, runs the model in training mode, minimizes ``model.rd_loss``
    (for a lambda model: ``bpp + lambda * 255^2 * MSE``) with Adam under the learning-rate
    schedule of :func:`neurcomp.train.learning_rate`, and clips the gradient norm.

    Parameters
    ----------
    model : torch.nn.Module
        A neurcomp model (any ``forward(x, rate_idx)`` / ``rd_loss(x, out, rate_idx)``), on its device.
    sample : callable
        ``sample(batch, generator=...)`` -> images ``[batch, 3, h, w]`` in ``[0, 1]``
        (e.g. :meth:`neurcomp.data.CropDataset.sample_batch`).
    batch : int
        Images per step.
    seconds : float
        Wall-clock budget; training stops after the step that exceeds it.
    max_steps : int
        Step budget.
    lr, warmup_steps : float, int
        Peak learning rate and linear warm-up steps.
    rate_idx : int
        The rate point trained.
    seed : int
        Seeds the batch generator.
    every : int
        Call ``evaluate(model)`` after every ``every`` steps (0: never).
    evaluate : callable, optional
        Returns a dict of numbers; it is stored with its ``step`` in ``log["eval"]``.

    Returns
    -------
    dict
        One list per loss term of ``rd_loss`` (``loss``, ``bpp``, ``mse``, ``psnr`` (dB), ...),
        one value per step; ``eval`` (list of dicts), ``steps`` and ``seconds``. The model is
        left in training mode.

    Examples
    --------
    >>> from neurcomp.models import MeanScaleHyperprior
    >>> torch.manual_seed(0)  # doctest: +ELLIPSIS
    <torch._C.Generator object at ...>
    >>> m = MeanScaleHyperprior(N=8, M=8, lambdas=[0.01])
    >>> rand = lambda n, generator: torch.rand(n, 3, 64, 64, generator=generator)
    >>> log = train_live(m, rand, batch=2, seconds=60, max_steps=4, every=2, evaluate=lambda m: {"ok": 1})
    >>> log["steps"], len(log["loss"]), [e["step"] for e in log["eval"]]
    (4, 4, [2, 4])
    """
    cfg = {**DEFAULTS, "lr": lr, "warmup_steps": warmup_steps}
    device = next(model.parameters()).device
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    log: dict[str, Any] = {"eval": []}
    model.train()
    step, t0 = 0, time.perf_counter()
    while step < max_steps and time.perf_counter() - t0 < seconds:
        for group in opt.param_groups:
            group["lr"] = learning_rate(cfg, step)
        x = sample(batch, generator=gen).to(device)
        losses = model.rd_loss(x, model(x, rate_idx), rate_idx)
        opt.zero_grad(set_to_none=True)
        losses["loss"].backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg["clip_grad"])
        opt.step()
        step += 1
        for k, v in losses.items():
            log.setdefault(k, []).append(float(v.detach()) if torch.is_tensor(v) else float(v))
        if every and evaluate is not None and step % every == 0:
            log["eval"].append({"step": step, **evaluate(model)})
            model.train()
    log.update(steps=step, seconds=time.perf_counter() - t0)
    return log
