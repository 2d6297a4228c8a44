r"""MIRACLE warm-up (Flamich 2019): a small beta-VAE on scikit-learn's 8x8 digits, coded with REC.

Flamich 2019 proposes to start "on a tractable data set" where the whole latent of one image
has a KL small enough for a single block: no grouping, just minimal random coding
(Havasi et al. 2018) of the whole latent vector. Here:

* :class:`DigitsVAE` -- MLP encoder / decoder, Gaussian posterior ``q(z|x)``, prior N(0, I),
  ``latent_dim`` dims (default 6); distortion ``255^2 MSE`` on [0, 1] pixels. Loss
  ``D / beta + KL_bits / 64`` per image (bits per pixel), like the PLN's; the default
  ``beta = 5000`` gives about 11 bits of KL per digit (one block of ~2^13 candidates).
* :func:`train_digits_vae` -- about 20 s on one CPU thread (``seconds``).
* :func:`code_digits` -- REC-code digits (default method ``miracle``: one block of
  ``2^(KL + t)`` candidates, index Elias-delta coded), decode them, and report ideal vs
  actual bits and the PSNR of the REC reconstruction vs an exact posterior sample's.
* :func:`sample_check_1d`, :func:`sample_check_2d` -- the empirical check that REC samples
  follow q: over many seeds, a KS test against q's CDF in 1-D, and in 2-D KS tests on
  projections (Bonferroni) plus an MMD permutation test against exact samples of q;
  :func:`histogram_vs_density` for the figure.

Example:
    >>> vae, log = train_digits_vae(seconds=2, seed=0)            # doctest: +SKIP
    >>> rows = code_digits(vae, load_digits_tensor()[:5])       # doctest: +SKIP
"""
from __future__ import annotations

import math
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from .api import rec_decode, rec_encode
from .samplers import kl_bits

LN2 = math.log(2.0)


def load_digits_tensor() -> torch.Tensor:
    """The 1797 digits of ``sklearn.datasets.load_digits`` as ``[N, 64]`` floats in [0, 1]."""
    from sklearn.datasets import load_digits  # scikit-learn: optional (dev extra), only this toy data set

    return torch.tensor(load_digits().data / 16.0, dtype=torch.float32)


class DigitsVAE(nn.Module):
    """MLP beta-VAE for 8x8 digits with a diagonal Gaussian posterior."""

    def __init__(self, latent_dim: int = 6, hidden: int = 128, beta: float = 5000.0):
        super().__init__()
        self.latent_dim, self.hidden, self.beta = int(latent_dim), int(hidden), float(beta)
        self.enc = nn.Sequential(nn.Linear(64, hidden), nn.LeakyReLU(0.2), nn.Linear(hidden, hidden),
                                 nn.LeakyReLU(0.2), nn.Linear(hidden, 2 * latent_dim))
        self.dec = nn.Sequential(nn.Linear(latent_dim, hidden), nn.LeakyReLU(0.2), nn.Linear(hidden, hidden),
                                 nn.LeakyReLU(0.2), nn.Linear(hidden, 64))

    def posterior(self, x: torch.Tensor):
        mu, raw = self.enc(x).chunk(2, dim=-1)
        return mu, F.softplus(raw) + 1e-3

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.dec(z))

    def forward(self, x: torch.Tensor) -> dict:
        mu, sigma = self.posterior(x)
        z = mu + sigma * torch.randn_like(mu)
        kl = (-torch.log(sigma) + 0.5 * (sigma ** 2 + mu ** 2 - 1)).sum(-1) / LN2
        x_hat = self.decode(z)
        mse = ((x_hat - x) ** 2).mean(-1)
        loss = (255.0 ** 2 * mse / self.beta + kl / 64).mean()
        return {"loss": loss, "kl_bits": kl, "mse": mse, "x_hat": x_hat}


def train_digits_vae(seconds: float = 20.0, latent_dim: int = 6, beta: float = 5000.0, seed: int = 0,
                     batch_size: int = 128, lr: float = 2e-3, max_steps: int = 100_000):
    """Train a :class:`DigitsVAE` for about ``seconds``; returns ``(model, log)`` (``log``: steps,
    seconds, final mean KL bits and PSNR over the whole data set)."""
    torch.manual_seed(seed)
    X = load_digits_tensor()
    vae = DigitsVAE(latent_dim, beta=beta)
    opt = torch.optim.Adam(vae.parameters(), lr=lr)
    gen = torch.Generator().manual_seed(seed)
    t0, step = time.perf_counter(), 0
    while time.perf_counter() - t0 < seconds and step < max_steps:
        batch = X[torch.randint(0, X.shape[0], (batch_size,), generator=gen)]
        out = vae(batch)
        opt.zero_grad()
        out["loss"].backward()
        opt.step()
        step += 1
    vae.eval()
    with torch.no_grad():
        out = vae(X)
    log = {"steps": step, "seconds": time.perf_counter() - t0, "kl_bits": float(out["kl_bits"].mean()),
           "psnr": float((-10 * torch.log10(out["mse"])).mean())}
    return vae, log


def _psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    mse = float(((a - b) ** 2).mean())
    return 10 * math.log10(1.0 / max(mse, 1e-12))


@torch.no_grad()
def code_digits(vae: DigitsVAE, X: torch.Tensor, method: str = "miracle", seed: int = 0, **params) -> list[dict]:
    """REC-code each digit's latent (one block for ``miracle``) and decode it again.

    Returns one dict per digit: ``kl_bits``, ``coded_bits`` (the REC payload in bits),
    ``psnr_rec`` (reconstruction from the decoded sample), ``psnr_exact`` (from an exact
    posterior sample), ``decoded_ok`` (the decoder reproduced the encoder's sample bit for
    bit) and ``enc_s``."""
    if method == "miracle":
        params = {"extra_bits": 2.0, **params}
    mu, sigma = vae.posterior(X)
    gen = torch.Generator().manual_seed(seed)
    rows = []
    zeros, ones = np.zeros(vae.latent_dim), np.ones(vae.latent_dim)
    for i in range(X.shape[0]):
        data, z, info = rec_encode(mu[i], sigma[i], zeros, ones, seed + i, method, **params)
        z_dec = rec_decode(data, zeros, ones, seed + i, (vae.latent_dim,), method)
        z_exact = mu[i] + sigma[i] * torch.randn(vae.latent_dim, generator=gen)
        rows.append({"kl_bits": info["kl_bits"], "coded_bits": 8 * len(data), "index_bits": info.get("index_bits"),
                     "psnr_rec": _psnr(vae.decode(torch.from_numpy(z_dec).float()), X[i]),
                     "psnr_exact": _psnr(vae.decode(z_exact), X[i]),
                     "decoded_ok": bool(np.array_equal(z, z_dec)), "enc_s": info["enc_s"]})
    return rows


# ----------------------------------------------------------------------------- sampling checks


def rec_samples(mu_q, sigma_q, n_seeds: int, method: str = "orc", first_seed: int = 0, **params) -> np.ndarray:
    """One REC sample per seed (``n_seeds`` seeds) of q = N(mu_q, diag sigma_q^2) under p = N(0, I),
    each decoded by :func:`rec_decode`: ``[n_seeds, dim]``."""
    mu_q, sigma_q = np.atleast_1d(np.asarray(mu_q, np.float64)), np.atleast_1d(np.asarray(sigma_q, np.float64))
    zeros, ones = np.zeros_like(mu_q), np.ones_like(mu_q)
    out = np.empty((n_seeds, mu_q.size))
    for k in range(n_seeds):
        data, _, _ = rec_encode(mu_q, sigma_q, zeros, ones, first_seed + k, method, **params)
        out[k] = rec_decode(data, zeros, ones, first_seed + k, mu_q.shape, method)
    return out


def sample_check_1d(mu_q: float = 0.8, sigma_q: float = 0.4, n_seeds: int = 400, method: str = "orc",
                    **params) -> dict:
    """KS test of REC samples (one per seed) against N(mu_q, sigma_q^2); also their mean and std."""
    from scipy import stats  # SciPy: heavy, only these tests of the samples

    z = rec_samples([mu_q], [sigma_q], n_seeds, method, **params)[:, 0]
    res = stats.kstest(z, stats.norm(mu_q, sigma_q).cdf)
    return {"ks_stat": float(res.statistic), "p_value": float(res.pvalue), "mean": float(z.mean()),
            "std": float(z.std(ddof=1)), "kl_bits": float(kl_bits([mu_q], [sigma_q])[0]), "samples": z}


def histogram_vs_density(samples, mu_q: float, sigma_q: float, bins: int = 30, width: float = 4.0) -> dict:
    """Histogram (as a density) of 1-D samples next to q's density at the bin centres, for a figure:
    ``{"edges", "centres", "histogram", "density"}`` over ``mu_q +- width * sigma_q``."""
    edges = np.linspace(mu_q - width * sigma_q, mu_q + width * sigma_q, bins + 1)
    hist, _ = np.histogram(np.asarray(samples).ravel(), bins=edges, density=True)
    centres = 0.5 * (edges[1:] + edges[:-1])
    density = np.exp(-0.5 * ((centres - mu_q) / sigma_q) ** 2) / (sigma_q * math.sqrt(2 * math.pi))
    return {"edges": edges, "centres": centres, "histogram": hist, "density": density}


def mmd2_rbf(a: np.ndarray, b: np.ndarray, bandwidth: float) -> float:
    """Unbiased squared MMD with a Gaussian kernel."""
    def k(x, y):
        d2 = ((x[:, None, :] - y[None, :, :]) ** 2).sum(-1)
        return np.exp(-d2 / (2 * bandwidth ** 2))
    n, m = len(a), len(b)
    kaa, kbb, kab = k(a, a), k(b, b), k(a, b)
    return float((kaa.sum() - np.trace(kaa)) / (n * (n - 1)) + (kbb.sum() - np.trace(kbb)) / (m * (m - 1))
                 - 2 * kab.mean())


def sample_check_2d(mu_q=(0.6, -0.4), sigma_q=(0.5, 0.3), n_seeds: int = 300, method: str = "orc",
                    n_projections: int = 4, n_permutations: int = 200, rng_seed: int = 0, **params) -> dict:
    """2-D check: KS tests of projections onto ``n_projections`` directions (exact Gaussian CDFs;
    ``p_value`` = Bonferroni-corrected minimum) and an MMD permutation test against as many exact
    samples of q (``mmd_p_value``)."""
    from scipy import stats  # SciPy: heavy, only these tests of the samples

    mu_q, sigma_q = np.asarray(mu_q, np.float64), np.asarray(sigma_q, np.float64)
    z = rec_samples(mu_q, sigma_q, n_seeds, method, **params)
    angles = np.pi * np.arange(n_projections) / n_projections
    pvals = []
    for a in angles:
        u = np.array([np.cos(a), np.sin(a)])
        proj = z @ u
        pvals.append(stats.kstest(proj, stats.norm(u @ mu_q, math.sqrt(u ** 2 @ sigma_q ** 2)).cdf).pvalue)
    rng = np.random.default_rng(rng_seed)
    exact = mu_q + sigma_q * rng.standard_normal(z.shape)
    bw = float(np.median(sigma_q))
    stat = mmd2_rbf(z, exact, bw)
    pooled = np.concatenate([z, exact])
    null = []
    for _ in range(n_permutations):
        perm = rng.permutation(len(pooled))
        null.append(mmd2_rbf(pooled[perm[: len(z)]], pooled[perm[len(z):]], bw))
    mmd_p = (1 + np.sum(np.asarray(null) >= stat)) / (1 + n_permutations)
    return {"p_value": float(min(1.0, min(pvals) * n_projections)), "projection_p_values": [float(p) for p in pvals],
            "mmd2": stat, "mmd_p_value": float(mmd_p), "mean": z.mean(0).tolist(), "std": z.std(0, ddof=1).tolist(),
            "kl_bits": float(kl_bits(mu_q, sigma_q).sum()), "samples": z}


__all__ = ["DigitsVAE", "load_digits_tensor", "train_digits_vae", "code_digits", "rec_samples", "sample_check_1d",
           "sample_check_2d", "histogram_vs_density", "mmd2_rbf"]
