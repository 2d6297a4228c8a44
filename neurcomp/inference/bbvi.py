r"""The two optimizations of lossy bits-back coding (Yang, Bamler & Mandt 2020, Algorithm 1, supplement S3).

* :func:`joint_sga_bbvi` (Algorithm 1, line 2; encoder only): starting from the inference networks,
  Adam over ``mu_y`` (Stochastic Gumbel Annealing towards *integer* ``y_hat``) and over the
  posterior ``q(z) = N(mu_z, sigma_z^2)`` (black-box VI with reparametrized Gaussian samples),
  minimizing the NELBO ``[-log2 P(y~ | z) - log2 p(z) + log2 q(z)] / pixels + lambda * 255^2 * MSE``
  (learning rate 0.005, SGA's annealing schedule, 2000 iterations by default). Only its ``y_hat``
  is kept: the posterior it found depends on the image, which the decoder does not have.
* :func:`reproducible_bbvi` (lines 3, 7, 9-10; encoder *and* decoder): the posterior over ``z`` given
  ``y_hat`` alone, ``q(z) = N(mu_z, sigma_z^2)``, started from the hyper-analysis of ``y_hat`` and
  refined by BBVI on ``E_q[-log2 P(y_hat | z) - log2 p(z) + log2 q(z)]`` (Adam, learning rate
  0.003). Both sides must get *bit-identical* results, so it runs in float64 on the model's
  :meth:`~neurcomp.models.base.CompressionModel.decoding_copy`, on one CPU thread (the summation
  order of a convolution depends on the thread count), with its Gaussian noise drawn from a
  ``torch.Generator`` seeded with the stream's seed (the same numbers on every platform).
  Caveat: bit-identical float64 results are guaranteed for the same PyTorch build on the same
  kind of CPU; the stream records the step count and seed, not the floats.

This module knows no model classes; it works on any
:class:`~neurcomp.inference.interface.BitsBackCoder` (``gains``, ``hgains``, ``posterior``,
``entropy_parameters``, ``entropy_y``, ``entropy_z``, ``log2_q``, ``analyze``, ``g_s``, ``sigma_min``,
``lambdas``, ``decoding_copy``: their shapes and units are documented there) and refuses anything else
up front with a TypeError.

Example (a tiny untrained model: the decoder's call gives the encoder's posterior exactly):
    >>> import torch
    >>> from neurcomp.models import BitsBackHyperprior
    >>> m = BitsBackHyperprior(N=8, M=8, lambdas=[0.01]).eval()
    >>> y_hat = torch.round(3 * torch.randn(1, 8, 4, 4, generator=torch.Generator().manual_seed(0)))
    >>> a = reproducible_bbvi(m, y_hat, 0, steps=20, seed=3)
    >>> b = reproducible_bbvi(m, y_hat, 0, steps=20, seed=3)
    >>> torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]), a[0].dtype
    (True, torch.float64)
"""
from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass

import torch

from .interface import BitsBackCoder, require
from .rounding import annealed_temperature, sga_round

JOINT_LR = 0.005
BBVI_LR = 0.003
DEFAULT_STEPS = 2000


@contextlib.contextmanager
def one_thread():
    """Run the block on one intra-op CPU thread (restored afterwards)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _frozen(model):
    @contextlib.contextmanager
    def ctx():
        flags = [p.requires_grad for p in model.parameters()]
        for p in model.parameters():
            p.requires_grad_(False)
        try:
            yield
        finally:
            for p, f in zip(model.parameters(), flags):
                p.requires_grad_(f)
    return ctx()


def _z_rate_bits(m, y_hat, z, mu, sigma, inv_hgain):
    """``-log2 P(y_hat | z) - log2 P(z) + log2 (q(z) z_bin)`` summed per image (bits)."""
    mean, scale = m.entropy_parameters(z, inv_hgain)
    b = y_hat.shape[0]
    bits = m.entropy_y.bits(y_hat, mean, scale).reshape(b, -1).sum(1)
    return bits + (m.entropy_z.bits(z) + m.log2_q(z, mu, sigma)).reshape(b, -1).sum(1)


def reproducible_bbvi(model: BitsBackCoder, y_hat: torch.Tensor, rate_idx: int, steps: int = DEFAULT_STEPS,
                      seed: int = 0, lr: float = BBVI_LR) -> tuple[torch.Tensor, torch.Tensor]:
    """``(mu_z, sigma_z)`` (float64, ``[1, N, h/4, w/4]``) of the posterior over ``z`` given the integer
    latents ``y_hat`` alone: the hyper-analysis of ``y_hat``, then ``steps`` Adam steps of BBVI (none
    for ``steps = 0``). Deterministic: the same ``y_hat``, steps and seed give bit-identical results
    in any process (float64, one thread, seeded noise)."""
    require(model, BitsBackCoder, "reproducible_bbvi")
    m = model.decoding_copy()
    y_hat = y_hat.detach().double().cpu()
    with one_thread(), _frozen(m), torch.enable_grad():
        _, _, idx = m.gains(rate_idx, 1, "cpu")
        hgain, inv_hgain = m.hgains(idx)
        with torch.no_grad():
            mu0, sigma0 = m.posterior(y_hat, hgain)
        if steps <= 0:
            return mu0, sigma0
        gen = torch.Generator().manual_seed(int(seed))
        mu = mu0.clone().requires_grad_(True)
        log_sigma = torch.log(sigma0).requires_grad_(True)
        opt = torch.optim.Adam([mu, log_sigma], lr=lr)
        for _ in range(int(steps)):
            eps = torch.randn(mu.shape, generator=gen, dtype=torch.float64)
            sigma = log_sigma.exp().clamp_min(m.sigma_min)
            z = mu + sigma * eps
            loss = _z_rate_bits(m, y_hat, z, mu, sigma, inv_hgain).sum()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        return mu.detach(), log_sigma.detach().exp().clamp_min(m.sigma_min)


def joint_loss(model: BitsBackCoder, x, y_t, z, mu_z, sigma, inv_gain, inv_hgain, lam: float) -> torch.Tensor:
    """The relaxed NELBO of line 2 *per image* ``[B]``: ``[-log2 P(y~ | z) - log2 p(z) + log2 q(z)] / pixels
    + lambda * 255^2 * MSE`` (a batch optimizes every image's own loss)."""
    require(model, BitsBackCoder, "joint_loss")
    return _joint_loss(model, x, y_t, z, mu_z, sigma, inv_gain, inv_hgain, lam)


def _joint_loss(model, x, y_t, z, mu_z, sigma, inv_gain, inv_hgain, lam: float) -> torch.Tensor:
    b, _, h, w = x.shape
    bits = _z_rate_bits(model, y_t, z, mu_z, sigma, inv_hgain)
    mse = ((model.g_s(y_t * inv_gain) - x) ** 2).reshape(b, -1).mean(1)
    return bits / (h * w) + lam * 255 ** 2 * mse


@dataclass
class JointResult:
    y_hat: torch.Tensor  # integer-valued float, [1, M, h, w]
    nelbo: list  # per image, the relaxed loss every ``record_every`` steps (bits per pixel + lambda * 255^2 * MSE)
    seconds: float


def joint_sga_bbvi(model: BitsBackCoder, x: torch.Tensor, rate_idx: int, steps: int = DEFAULT_STEPS, seed: int = 0,
                   lr: float = JOINT_LR, sga: bool = True, record_every: int = 50) -> JointResult:
    """Algorithm 1, line 2: optimize ``mu_y`` with SGA (``sga=False``: leave ``y_hat`` at the rounded
    amortized ``y``) jointly with ``q(z)`` by BBVI, for one padded image ``x [1, 3, H, W]``; returns the
    integer ``y_hat``. The SGA schedule is the paper's, scaled to ``steps`` (t0 = 0.35 steps, c = 2 / steps)."""
    require(model, BitsBackCoder, "joint_sga_bbvi")
    t0 = time.perf_counter()
    b, _, h, w = x.shape
    with torch.no_grad():
        gain, inv_gain, idx = model.gains(rate_idx, b, x.device)
        hgain, inv_hgain = model.hgains(idx)
        y = model.analyze(x) * gain  # tiled above a megapixel: bounded memory for large photos
    if not sga or steps <= 0:
        return JointResult(torch.round(y), [], time.perf_counter() - t0)
    with torch.no_grad():
        mu_z0, sigma_z0 = model.posterior(y, hgain)
    lam = float(model.lambdas[rate_idx])
    gen = torch.Generator(device=x.device).manual_seed(int(seed))
    mu_y = y.clone().requires_grad_(True)
    mu_z = mu_z0.clone().requires_grad_(True)
    log_sigma = torch.log(sigma_z0).requires_grad_(True)
    opt = torch.optim.Adam([mu_y, mu_z, log_sigma], lr=lr)
    t_anneal, c = round(0.35 * steps), 0.001 * DEFAULT_STEPS / steps
    nelbo = []
    with _frozen(model), torch.enable_grad():
        for step in range(int(steps)):
            tau = annealed_temperature(step, 0.5, c, t_anneal)
            y_t = sga_round(mu_y, tau, gen)
            sigma = log_sigma.exp().clamp_min(model.sigma_min)
            z = mu_z + sigma * torch.randn(mu_z.shape, generator=gen, device=x.device)
            loss = _joint_loss(model, x, y_t, z, mu_z, sigma, inv_gain, inv_hgain, lam)
            opt.zero_grad(set_to_none=True)
            loss.sum().backward()
            opt.step()
            if step % record_every == 0:
                nelbo.append(loss.detach().tolist())
    return JointResult(torch.round(mu_y.detach()), nelbo, time.perf_counter() - t0)


__all__ = ["reproducible_bbvi", "joint_sga_bbvi", "joint_loss", "JointResult", "one_thread", "JOINT_LR", "BBVI_LR", "DEFAULT_STEPS"]
