"""Iterative inference at compression time (Yang et al. 2020, sections 3.1-3.2, supplement S3).

Starting from the amortized latents of the inference networks, the encoder optimizes
``(mu_y, mu_z)`` for one image under the fixed decoder, then rounds. The *true* loss
is always ``R + lambda * 255^2 * MSE`` at the rounded latents (R in bits per pixel from
the discretized entropy models, MSE on [0, 1] pixels); each method minimizes a
different relaxation of it:

=================  ==========================================================  =======
method             relaxed loss                                                 lr
=================  ==========================================================  =======
``sga``            E over Gumbel-softmax roundings, annealed temperature         0.005
``map``  (A1)      no rounding at all; keep the best true loss (early stop)     0.005
``ste``  (A2)      round forward, identity backward; early stop                 1e-4
``uniform_noise``  uniform noise, the training NELBO (Campos et al. 2019)       0.005
``det_annealing``  expectation of SGA's rounding inside the loss                0.005
=================  ==========================================================  =======

``y`` is rounded relative to the predicted mean, as the codec codes it:
``y_hat = mu + round(y - mu)``. The model is a :class:`~neurcomp.inference.interface.TransformCoder`
(the members used here, their shapes and units); anything else is refused up front with a TypeError.

Example:
    >>> import torch
    >>> from neurcomp.zoo import load_pretrained
    >>> model, rate_idx, _ = load_pretrained("mshp@0.0067")
    >>> x = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    >>> res = optimize_latents(model, x, rate_idx, method="sga", steps=40, record_every=20)
    >>> res.steps, res.final["loss"][0] < res.true_loss[0][0]     # lower than the amortized start
    ([0, 20], True)
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import torch
from tqdm.auto import tqdm

from .interface import TransformCoder, require
from .rounding import annealed_temperature, expected_round, schedule_for, sga_round, ste_round

METHODS = ("sga", "map", "ste", "uniform_noise", "det_annealing")
LEARNING_RATES = {"sga": 0.005, "map": 0.005, "ste": 1e-4, "uniform_noise": 0.005, "det_annealing": 0.005}
EARLY_STOPPING = {"map", "ste"}


@dataclass(frozen=True)
class Settings:
    """How :func:`optimize_latents` runs: the method, its step budget and learning rate, the SGA
    annealing schedule ``tau(t) = tau0 * exp(-c * max(0, t - t0))`` (the paper's at 2000 steps; see
    :func:`~neurcomp.inference.rounding.schedule_for`) and what to record."""

    method: str = "sga"
    steps: int = 2000
    lr: float | None = None  # None: the method's default (LEARNING_RATES)
    seed: int = 0
    tau0: float = 0.5
    c: float = 0.001
    t0: int = 700
    record_every: int = 10
    trace_mu_y: bool = False
    progress: bool = False
    lmbda: float | None = None  # None: the rate point's lambda

    @property
    def learning_rate(self) -> float:
        return self.lr or LEARNING_RATES[self.method]


@dataclass
class InferenceResult:
    y_symbols: torch.Tensor  # integer symbols round(y - mu), [B, M, h, w]
    z_int: torch.Tensor  # integer hyper-latents, [B, N, h/4, w/4]
    steps: list[int] = field(default_factory=list)
    true_loss: list[list[float]] = field(default_factory=list)  # per recorded step, per image
    relaxed_loss: list[list[float]] = field(default_factory=list)
    tau: list[float] = field(default_factory=list)
    final: dict = field(default_factory=dict)  # per image: loss, bpp, mse at the returned latents
    seconds: float = 0.0
    mu_y_trace: list[torch.Tensor] = field(default_factory=list)  # mu_y at each recorded step (before its update)
    schedule: dict = field(default_factory=dict)  # the annealing schedule that ran: tau0, t0, c


def _terms(model, x, y_tilde_fn, z_tilde, inv_gain, inv_hgain):
    """Bits per image, MSE per image, given z_tilde and a function mean -> y_tilde."""
    mean, scale = model.entropy_parameters(z_tilde, inv_hgain)
    y_tilde = y_tilde_fn(mean)
    b = x.shape[0]
    bits = model.entropy_y.bits(y_tilde, mean, scale).reshape(b, -1).sum(1)
    bits = bits + model.entropy_z.bits(z_tilde).reshape(b, -1).sum(1)
    x_hat = model.g_s(y_tilde * inv_gain)
    mse = ((x_hat - x) ** 2).reshape(b, -1).mean(1)
    return bits, mse


def true_loss(model: TransformCoder, x, mu_y, mu_z, rate_idx) -> dict:
    """Loss, bpp and MSE per image ``[B]`` at the rounded latents (what the codec will produce)."""
    require(model, TransformCoder, "true_loss")
    return _true_loss(model, x, mu_y, mu_z, rate_idx)


def _true_loss(model, x, mu_y, mu_z, rate_idx, lmbda: float | None = None) -> dict:
    b, _, h, w = x.shape
    _, inv_gain, idx = model.gains(rate_idx, b, x.device)
    _, inv_hgain = model.hgains(idx)
    lam = _lambda(model, rate_idx, b, x.device, lmbda)
    z_hat = torch.round(mu_z)
    bits, mse = _terms(model, x, lambda mean: mean + torch.round(mu_y - mean), z_hat, inv_gain, inv_hgain)
    bpp = bits / (h * w)
    return {"loss": bpp + lam * 255 ** 2 * mse, "bpp": bpp, "mse": mse}


def _lambda(model, rate_idx, batch: int, device, lmbda: float | None) -> torch.Tensor:
    """The loss's lambda per image ``[B]``: the rate point's, or ``lmbda`` for every image."""
    if lmbda is None:
        return model.lambda_of(rate_idx, batch, device)
    return torch.full((batch,), float(lmbda), device=device)


def amortized_latents(model: TransformCoder, x, rate_idx):
    """``(y, z)`` of the inference networks (continuous, in quantization units): the iterative start."""
    require(model, TransformCoder, "amortized_latents")
    return _amortized_latents(model, x, rate_idx)


def _amortized_latents(model, x, rate_idx):
    b = x.shape[0]
    gain, _, idx = model.gains(rate_idx, b, x.device)
    hgain, _ = model.hgains(idx)
    y = model.g_a(x) * gain
    z = model.h_a(model.hyper_input(y)) * hgain
    return y, z


def optimize_latents(model: TransformCoder, x: torch.Tensor, rate_idx=0, method: str = "sga", steps: int = 2000,
                     lr: float | None = None, seed: int = 0, tau0: float = 0.5, c: float | None = None,
                     t0: int | None = None, record_every: int = 10, trace_mu_y: bool = False, init=None,
                     progress: bool = False, lmbda: float | None = None) -> InferenceResult:
    """Optimize the latents of a batch of images ``x`` [B, 3, H, W] (H, W multiples of the stride).

    The temperature ``tau(t) = min(tau0, tau0 * exp(-c (t - t0)))`` (``sga`` and ``det_annealing``) follows
    the paper's schedule scaled to ``steps`` unless ``t0`` / ``c`` are given: t0 = 0.35 steps, c = 2 / steps
    (:func:`~neurcomp.inference.rounding.schedule_for`; exactly t0 = 700, c = 0.001 at 2000 steps). The
    schedule that ran is in ``result.schedule``.
    ``lmbda``: the trade-off of the loss the encoder minimizes, ``R + lmbda * 255^2 * MSE`` (default: the
    rate point's lambda). The entropy models, gains and decoder stay the rate point's, so another value
    moves this image along that decoder's rate-distortion curve: how one compares with the amortized
    encoder at equal rate. ``result.final["loss"]`` is then measured with ``lmbda`` too.
    ``init``: optional ``(mu_y, mu_z)`` to start from (default: the amortized inference networks).
    """
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose from {', '.join(METHODS)}")
    require(model, TransformCoder, method)
    scaled = schedule_for(steps, tau0)
    t0 = scaled["t0"] if t0 is None else int(t0)
    c = scaled["c"] if c is None else float(c)
    settings = Settings(method, steps, lr, seed, tau0, c, t0, record_every, trace_mu_y, progress, lmbda)
    t_start = time.perf_counter()
    model.eval()
    was_trainable = [p.requires_grad for p in model.parameters()]
    for p in model.parameters():
        p.requires_grad_(False)
    try:
        res = _optimize(model, x, rate_idx, init, settings)
    finally:
        for p, flag in zip(model.parameters(), was_trainable):
            p.requires_grad_(flag)
    res.seconds = time.perf_counter() - t_start
    res.schedule = {"tau0": tau0, "t0": t0, "c": c}
    return res


def _relaxation(method: str, mu_y, mu_z, tau: float, gen):
    """``(z_tilde, y_tilde_fn)`` of one relaxed loss sample: ``y_tilde_fn(mean)`` maps the predicted mean
    to the relaxed ``y`` (the methods round ``y`` relative to it)."""
    if method == "sga":
        return sga_round(mu_z, tau, gen), lambda mean: mean + sga_round(mu_y - mean, tau, gen)
    if method == "det_annealing":
        return expected_round(mu_z, tau), lambda mean: mean + expected_round(mu_y - mean, tau)
    if method == "ste":
        return ste_round(mu_z), lambda mean: mean + ste_round(mu_y - mean)
    if method == "uniform_noise":
        z_t = mu_z + torch.rand(mu_z.shape, generator=gen, device=mu_z.device) - 0.5
        noise = torch.rand(mu_y.shape, generator=gen, device=mu_y.device) - 0.5
        return z_t, lambda mean: mu_y + noise
    return mu_z, lambda mean: mu_y  # map


def _optimize(model, x, rate_idx, init, cfg: Settings) -> InferenceResult:
    method, steps, record_every = cfg.method, cfg.steps, cfg.record_every
    gen = torch.Generator(device=x.device).manual_seed(cfg.seed)
    b, _, h, w = x.shape
    _, inv_gain, idx = model.gains(rate_idx, b, x.device)
    _, inv_hgain = model.hgains(idx)
    lam = _lambda(model, rate_idx, b, x.device, cfg.lmbda)
    with torch.no_grad():
        y0, z0 = _amortized_latents(model, x, rate_idx) if init is None else init
    mu_y = y0.detach().clone().requires_grad_(True)
    mu_z = z0.detach().clone().requires_grad_(True)
    opt = torch.optim.Adam([mu_y, mu_z], lr=cfg.learning_rate)
    res = InferenceResult(y_symbols=None, z_int=None)
    best_loss = torch.full((b,), float("inf"), device=x.device)
    best_y, best_z = mu_y.detach().clone(), mu_z.detach().clone()

    def relaxed(step):
        tau = annealed_temperature(step, cfg.tau0, cfg.c, cfg.t0)
        z_t, fy = _relaxation(method, mu_y, mu_z, tau, gen)
        bits, mse = _terms(model, x, fy, z_t, inv_gain, inv_hgain)
        return bits / (h * w) + lam * 255 ** 2 * mse, tau


    for step in tqdm(range(steps + 1), disable=not cfg.progress, desc=method):
        record = step % record_every == 0 or step == steps
        if record or method in EARLY_STOPPING:
            with torch.no_grad():
                tl = _true_loss(model, x, mu_y, mu_z, rate_idx, cfg.lmbda)["loss"]
            better = tl < best_loss
            best_loss = torch.where(better, tl, best_loss)
            best_y[better], best_z[better] = mu_y.detach()[better], mu_z.detach()[better]
        if step == steps:
            break
        if record and cfg.trace_mu_y:
            res.mu_y_trace.append(mu_y.detach().clone())  # the iterate whose true loss is recorded
        loss, tau = relaxed(step)
        opt.zero_grad(set_to_none=True)
        loss.sum().backward()
        opt.step()
        if record:
            res.steps.append(step)
            res.true_loss.append(tl.tolist())
            res.relaxed_loss.append(loss.detach().tolist())
            res.tau.append(tau)
    with torch.no_grad():
        if method in EARLY_STOPPING:
            mu_y_final, mu_z_final = best_y, best_z
        else:
            mu_y_final, mu_z_final = mu_y.detach(), mu_z.detach()
        final = _true_loss(model, x, mu_y_final, mu_z_final, rate_idx, cfg.lmbda)
        z_int = torch.round(mu_z_final)
        mean, _ = model.entropy_parameters(z_int, inv_hgain)
        res.y_symbols = torch.round(mu_y_final - mean)
        res.z_int = z_int
    res.final = {k: v.tolist() for k, v in final.items()}
    return res
