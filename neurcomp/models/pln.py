r"""Probabilistic ladder network (PLN) for compression without quantization (Flamich et al. 2020).

Two stochastic levels, convolutional throughout (Flamich et al. 2020 Fig. 1, after Balle et al. 2018):

* bottom-up (deterministic): ``y = g_a(x)`` (stride 16, ``M`` channels, GDN), a 3x3 head
  turns ``y`` into the *likelihood* term ``N(mu_l1, sigma_l1^2)`` of ``z1``; ``h_a(y)``
  (stride 64, leaky ReLU) gives ``q(z2 | x) = N(mu_2, sigma_2^2)``.
* top-down: ``p(z2) = N(0, I)``; ``h_s(z2)`` gives ``p(z1 | z2) = N(mu_p1, sigma_p1^2)``;
  the posterior of the first level is the ladder's precision-weighted combination
  (Sonderby et al. 2016) ``q(z1 | x, z2) \propto N(mu_l1, sigma_l1^2) p(z1 | z2)``::

      1/sigma_q1^2 = 1/sigma_l1^2 + 1/sigma_p1^2,   mu_q1 = sigma_q1^2 (mu_l1/sigma_l1^2 + mu_p1/sigma_p1^2)

  so ``sigma_q1 <= sigma_p1`` everywhere (the density ratio q/p REC works with is bounded).
* synthesis ``x_hat = g_s(z1)`` (IGDN, stride 16; linear output as in the hyperprior models, clamped
  to [0, 1] by the codec). :meth:`PLN.warm_start` copies ``g_a``/``g_s`` and the gains of a trained
  transform coder of the same size (a CPU shortcut; Flamich et al. 2020 trains from scratch).

Training objective: the beta-ELBO (Flamich et al. 2020 Eq. 6-7), ``L = D + beta R`` per image with
``R = (KL[q(z2|x) || p(z2)] + KL[q(z1|x,z2) || p(z1|z2)]) / (H W)`` in bits per pixel (the
rate REC achieves up to its overhead; single-sample estimate in z2, closed form per
level) and ``D = 255^2 MSE`` (``distortion="mse"``) or ``255 MAE`` (``"mae"``, Flamich et al.'s
choice), means over pixels and channels of [0, 1] images. ``rd_loss`` returns
``loss = D / beta + R`` (same minimizer; it keeps the rate points' losses on one scale),
so ``beta = 1 / lambda`` compared with the hyperprior models' ``R + lambda 255^2 MSE``.
One network serves every ``beta`` in ``betas``: per rate point a channel gain on ``y`` and
offsets on both posteriors' scales (encoder side), and channel gains on ``z2`` and ``z1``
(decoder side).

``forward`` draws a posterior sample in training and in ``eval()`` mode (the codec sends a
sample, not a mean); it returns ``x_hat``, ``rate_bits = {"z1": kl1, "z2": kl2}`` (the
per-element KL in bits, with gradients: the ideal REC rate) and the Gaussian parameters
``q1, p1, q2`` as ``(mu, sigma)`` pairs.

Coding (``compress``/``decompress``; latents walked position-major, see :func:`_pm`):
``z2`` is REC-coded under ``p(z2) = N(0, 1)`` (domain 2),
then ``p(z1 | z2)`` is computed in float64 from the *decoded* ``z2`` and ``z1`` is REC-coded
under it (domain 1); the decoder regenerates both samples with the same seed (sent in
``extra``) and runs ``h_s`` and ``g_s`` in float64. Stride 64, ``latent_shape = (H/64, W/64)``
(the ``z2`` grid; ``z1`` is 4x finer).

Flamich et al.'s own coder (``rec_method="seed"``) codes group sizes under a distribution fixed
from training images (``rec_size_counts``, one table per rate point and level, fitted by
:meth:`PLN.fit_rec_size_counts` and shipped in the model card's config); without a table, or
with other grouping parameters than the table's, every stream carries its own histogram.

Example:
    >>> import torch
    >>> m = PLN(N=8, M=8, F=4, betas=[40, 150]).eval()
    >>> out = m(torch.rand(1, 3, 64, 64), rate_idx=1)
    >>> out["x_hat"].shape, sorted(out["rate_bits"])
    (torch.Size([1, 3, 64, 64]), ['z1', 'z2'])
"""
from __future__ import annotations

import math
import struct

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from ..layers import GDN, conv, deconv
from ..rec import DEFAULTS, METHODS, rec_decode, rec_encode
from ..rec.samplers import kl_bits, standardize
from ..rec.size_table import count_group_sizes
from .base import Compressed, CompressionModel
from .hyperprior import AnalysisSynthesis
from .rate import extend_rate_points, has_training_options, rate_index, training_rate_bpp

LN2 = math.log(2.0)
_SIGMA_MIN = 1e-3
_EXTRA = struct.Struct("<QB")  # seed, REC method id


def gaussian_kl_bits(mu_q, sigma_q, mu_p, sigma_p) -> torch.Tensor:
    """Elementwise KL[N(mu_q, sigma_q^2) || N(mu_p, sigma_p^2)] in bits."""
    r = sigma_q / sigma_p
    d = (mu_q - mu_p) / sigma_p
    return (-torch.log(r) + 0.5 * (r * r + d * d - 1.0)) / LN2


def precision_combine(mu_a, sigma_a, mu_b, sigma_b):
    """Product of two Gaussians (normalized): the ladder's precision-weighted combination."""
    pa, pb = sigma_a.pow(-2), sigma_b.pow(-2)
    var = 1.0 / (pa + pb)
    return var * (mu_a * pa + mu_b * pb), var.sqrt()


def _pm(t: torch.Tensor) -> np.ndarray:
    """[1, C, H, W] -> float64 [1, H, W, C]: REC walks the latent position by position (all channels of
    a position, then the next), where the greedy grouping's sizes vary less than channel by channel."""
    return np.ascontiguousarray(t.detach().cpu().double().permute(0, 2, 3, 1).numpy())


def _cm(t: torch.Tensor) -> torch.Tensor:
    """[1, H, W, C] -> [1, C, H, W]."""
    return t.permute(0, 3, 1, 2).contiguous()


def _psnr_8bit(a: torch.Tensor, x: torch.Tensor, hw) -> float:
    """PSNR in dB of 8-bit versions of ``a`` and ``x`` over their top-left ``hw = (h, w)``."""
    h, w = hw
    d = torch.round(a[..., :h, :w].clamp(0, 1) * 255) - torch.round(x.cpu()[..., :h, :w].clamp(0, 1) * 255)
    return 10 * math.log10(255 ** 2 / max(float((d ** 2).mean()), 1e-10))


def _scale(raw: torch.Tensor) -> torch.Tensor:
    return F.softplus(raw) + _SIGMA_MIN


class PLN(CompressionModel):
    """Two-level probabilistic ladder network trained with the beta-ELBO; coded with REC."""

    kind = "pln"
    title = "probabilistic ladder network"
    stride = 64
    methods = ("rec",)
    rate_param = "beta"
    num_sections = 2
    extra_size = _EXTRA.size

    def __init__(self, N: int = 96, M: int = 96, F: int = 64, betas=(40.0, 150.0, 550.0), distortion: str = "mse",
                 rec_size_counts: dict | None = None):
        super().__init__()
        if distortion not in ("mse", "mae"):
            raise ValueError("distortion must be 'mse' or 'mae'")
        self.rec_size_counts = rec_size_counts
        if rec_size_counts is not None and any(len(rec_size_counts[k]) != len(betas) for k in ("z1", "z2")):
            raise ValueError("rec_size_counts needs one table per rate point for z1 and z2")
        self.N, self.M, self.F = int(N), int(M), int(F)
        self.betas = [float(b) for b in betas]
        self.distortion = distortion
        L = len(self.betas)
        ref = math.exp(sum(math.log(b) for b in self.betas) / L)
        self.g_a = nn.Sequential(conv(3, N), GDN(N), conv(N, N), GDN(N), conv(N, N), GDN(N), conv(N, M))
        self.head1 = nn.Conv2d(M, 2 * M, 3, padding=1)
        self.h_a = nn.Sequential(conv(M, N, 3, 1), nn.LeakyReLU(0.2), conv(N, N), nn.LeakyReLU(0.2), conv(N, 2 * F))
        self.h_s = nn.Sequential(deconv(F, N), nn.LeakyReLU(0.2), deconv(N, N), nn.LeakyReLU(0.2),
                                 nn.Conv2d(N, 2 * M, 3, padding=1))
        self.g_s = nn.Sequential(deconv(M, N), GDN(N, inverse=True), deconv(N, N), GDN(N, inverse=True),
                                 deconv(N, N), GDN(N, inverse=True), deconv(N, 3))
        # per-rate conditioning (encoder: gain on y, offsets on the posterior scales; decoder: gains)
        off = torch.tensor([[0.25 * math.log(b / ref)] for b in self.betas])
        self.enc_gain = nn.Parameter(torch.zeros(L, M))
        self.q1_scale_offset = nn.Parameter(off.expand(-1, M).clone())
        self.q2_scale_offset = nn.Parameter(off.expand(-1, F).clone())
        self.z1_gain = nn.Parameter(torch.zeros(L, M))
        self.z2_gain = nn.Parameter(torch.zeros(L, F))
        with torch.no_grad():  # start with small posteriors' means and scales near the prior's
            self.h_s[-1].bias[M:].fill_(0.5413)  # softplus^-1(1) = 0.5413
            self.head1.bias[M:].fill_(0.5413)

    # ------------------------------------------------------------------ plumbing

    @property
    def config(self) -> dict:
        cfg = {"kind": self.kind, "N": self.N, "M": self.M, "F": self.F, "betas": self.betas,
               "distortion": self.distortion}
        if self.rec_size_counts is not None:
            cfg["rec_size_counts"] = self.rec_size_counts
        return cfg

    def update(self) -> None:
        """No coding tables: REC codes under the Gaussian priors directly."""

    @staticmethod
    def _vec(p: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        return p[idx][:, :, None, None]

    @torch.no_grad()
    def warm_start(self, coder: nn.Module) -> None:
        """Start from a trained transform coder (e.g. the shipped mean-scale hyperprior) of the same
        ``N, M``: copy its analysis and synthesis transforms, take its per-lambda gains at
        ``lambda = 1 / beta`` (interpolated in log-lambda) for ``enc_gain`` / ``z1_gain``, and set the
        likelihood head to ``mu_l1 = y`` with ``sigma_l1 = 0.29`` (the std of the unit-width uniform
        noise the coder was trained with) before the per-beta scale offsets. The hyper path and the
        priors start fresh."""
        if not isinstance(coder, AnalysisSynthesis) or (coder.N, coder.M) != (self.N, self.M):
            raise ValueError(f"warm start needs a transform coder with N={self.N}, M={self.M}")
        self.g_a.load_state_dict(coder.g_a.state_dict())
        self.g_s.load_state_dict(coder.g_s.state_dict())
        gains = extend_rate_points({"log_gain": coder.log_gain.detach(), "log_inv_gain": coder.log_inv_gain.detach()},
                                   list(coder.lambdas), [1.0 / b for b in self.betas])
        self.enc_gain.copy_(gains["log_gain"])
        self.z1_gain.copy_(gains["log_inv_gain"])
        w = torch.zeros_like(self.head1.weight)
        w[torch.arange(self.M), torch.arange(self.M), 1, 1] = 1.0
        self.head1.weight.copy_(w)
        self.head1.bias[: self.M].zero_()
        self.head1.bias[self.M:].fill_(math.log(math.expm1(0.29 - _SIGMA_MIN)))

    # ------------------------------------------------------------------ the network

    def posterior2(self, x: torch.Tensor, idx: torch.Tensor):
        """Bottom-up pass: ``(mu_l1, sigma_l1), (mu_2, sigma_2)`` (likelihood of z1, posterior of z2)."""
        y = self.g_a(x) * self._vec(self.enc_gain, idx).exp()
        mu_l1, raw1 = self.head1(y).chunk(2, dim=1)
        mu_2, raw2 = self.h_a(y).chunk(2, dim=1)
        sigma_l1 = _scale(raw1 + self._vec(self.q1_scale_offset, idx))
        sigma_2 = _scale(raw2 + self._vec(self.q2_scale_offset, idx))
        return (mu_l1, sigma_l1), (mu_2, sigma_2)

    def prior1(self, z2: torch.Tensor, idx: torch.Tensor, h_s: nn.Module | None = None, gain=None):
        """``p(z1 | z2) = (mu, sigma)``."""
        g = self._vec(self.z2_gain, idx).exp() if gain is None else gain
        mu, raw = (h_s or self.h_s)(z2 * g).chunk(2, dim=1)
        return mu, _scale(raw)

    def synthesize(self, z1: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        return self.g_s(z1 * self._vec(self.z1_gain, idx).exp())

    def forward(self, x: torch.Tensor, rate_idx=0) -> dict:
        idx = rate_index(rate_idx, x.shape[0], x.device)
        (mu_l1, s_l1), (mu_2, s_2) = self.posterior2(x, idx)
        z2 = mu_2 + s_2 * torch.randn_like(mu_2)
        mu_p1, s_p1 = self.prior1(z2, idx)
        mu_q1, s_q1 = precision_combine(mu_l1, s_l1, mu_p1, s_p1)
        z1 = mu_q1 + s_q1 * torch.randn_like(mu_q1)
        kl2 = gaussian_kl_bits(mu_2, s_2, torch.zeros_like(mu_2), torch.ones_like(s_2))
        kl1 = gaussian_kl_bits(mu_q1, s_q1, mu_p1, s_p1)
        return {"x_hat": self.synthesize(z1, idx),
                "rate_bits": {"z1": kl1, "z2": kl2}, "q1": (mu_q1, s_q1), "p1": (mu_p1, s_p1), "q2": (mu_2, s_2)}

    def rd_loss(self, x: torch.Tensor, out: dict, rate_idx, free_bits=0.0, rate_weight: float = 1.0) -> dict:
        """Per-batch means: ``bpp`` (KL bits per pixel), ``mse``, ``psnr`` and ``loss = D / beta + bpp``; the
        training options put free bits on the KL of each level and weight it (Kingma et al. 2016's KL floor)."""
        b, _, h, w = x.shape
        idx = rate_index(rate_idx, b, x.device)
        bpp = sum(t.reshape(b, -1).sum(1) for t in out["rate_bits"].values()) / (h * w)
        diff = out["x_hat"] - x
        mse = (diff ** 2).reshape(b, -1).mean(1)
        if self.distortion == "mse":
            dist = 255.0 ** 2 * mse
        else:
            dist = 255.0 * diff.abs().reshape(b, -1).mean(1)
        beta = torch.tensor(self.betas, device=x.device, dtype=x.dtype)[idx]
        loss = (dist / beta + bpp).mean()
        if has_training_options(free_bits, rate_weight):
            loss = (dist / beta).mean() + rate_weight * training_rate_bpp(out["rate_bits"], h * w, free_bits)
        return {"loss": loss, "bpp": bpp.mean(), "mse": mse.mean(),
                "psnr": (-10 * torch.log10(mse.clamp_min(1e-10))).mean()}

    # ------------------------------------------------------------------ codec

    def _exact(self, rate_idx: int):
        """float64 decoder-side networks and gains of a rate point (from :meth:`decoding_copy`)."""
        m64 = self.decoding_copy()
        idx = torch.tensor([rate_idx])
        return m64.h_s, m64.g_s, self._vec(m64.z2_gain, idx).exp(), self._vec(m64.z1_gain, idx).exp()

    @torch.no_grad()
    def exact_prior1(self, z2: torch.Tensor, rate_idx: int):
        """``p(z1 | z2)`` in float64 (what encoder and decoder both use for coding z1)."""
        h_s64, _, g2, _ = self._exact(rate_idx)
        mu, raw = h_s64(z2.double() * g2).chunk(2, dim=1)
        return mu, F.softplus(raw) + _SIGMA_MIN

    @torch.no_grad()
    def reconstruct(self, z1: torch.Tensor, rate_idx: int) -> torch.Tensor:
        """The codec's synthesis in float64 (8-bit output independent of thread counts)."""
        _, g_s64, _, g1 = self._exact(rate_idx)
        return g_s64(z1.double() * g1).clamp(0.0, 1.0).float()

    @staticmethod
    def kl_hint(s_p1: torch.Tensor, log2_sigma_l: torch.Tensor) -> torch.Tensor:
        """Decoder-side prediction of the KL of ``z1`` per element, in bits: with a per-channel
        likelihood scale ``sigma_l``, ``q(z1 | x, z2)`` has ``sigma_q^2 = 1 / (1/sigma_l^2 + 1/sigma_p^2)``,
        and ``E[KL] = log2(sigma_p / sigma_q)`` when ``z1`` is distributed as the prior says."""
        sl = torch.exp2(log2_sigma_l.double())[None, :, None, None]
        return 0.5 * torch.log2(1.0 + (s_p1.double() / sl) ** 2)

    def _hint_from_prefix(self, prefix: bytes, s_p1: torch.Tensor) -> np.ndarray:
        """The ``orc-hint`` hint of ``z1`` (position-major) from the stream's per-channel ``log2 sigma_l``
        bytes (1/16 steps) and ``p(z1 | z2)``'s scales; encoder and decoder both call this."""
        q = torch.from_numpy(np.frombuffer(prefix, np.int8).astype(np.float64))
        return _pm(self.kl_hint(s_p1, q / 16))

    @torch.no_grad()
    def fit_rec_size_counts(self, images, budget_bits: int | None = None, max_group: int | None = None,
                            seed: int = 0) -> dict:
        """Flamich et al.'s group-size distribution, fixed from training ``images`` (an iterable of
        ``[1, 3, H, W]`` tensors, H and W multiples of 64): at every rate point, the sizes of the groups
        the ``seed`` coder forms from an exact posterior sample's per-dimension KL, counted for
        ``z1`` and ``z2`` (:func:`neurcomp.rec.size_table.count_group_sizes`). Returns the dict that
        ``rec_size_counts`` takes (``budget_bits``, ``max_group``, ``images``, ``z1``, ``z2``: per rate
        point a list of ``max_group`` counts); set it on the model (or its card's config) to use it."""
        B = int(DEFAULTS["seed"]["budget_bits"] if budget_bits is None else budget_bits)
        G = int(DEFAULTS["seed"]["max_group"] if max_group is None else max_group)
        L = len(self.betas)
        counts = {"z1": np.zeros((L, G), np.int64), "z2": np.zeros((L, G), np.int64)}
        dev = self.z1_gain.device
        n = 0
        for i, x in enumerate(images):
            n += 1
            for r in range(L):
                (mu_l1, s_l1), (mu_2, s_2) = (tuple(t.cpu().double() for t in pair) for pair in
                                              self.posterior2(x.float().to(dev), torch.tensor([r], device=dev)))
                gen = torch.Generator().manual_seed(int(seed) + 1000 * i + r)
                z2 = mu_2 + s_2 * torch.randn(mu_2.shape, generator=gen, dtype=torch.float64)
                mu_p1, s_p1 = self.exact_prior1(z2, r)
                mu_q1, s_q1 = precision_combine(mu_l1, s_l1, mu_p1, s_p1)
                kl2 = kl_bits(*standardize(_pm(mu_2), _pm(s_2), 0.0, 1.0))
                kl1 = kl_bits(*standardize(_pm(mu_q1), _pm(s_q1), _pm(mu_p1), _pm(s_p1)))
                counts["z2"][r] += count_group_sizes(kl2, B, G)
                counts["z1"][r] += count_group_sizes(kl1, B, G)
        return {"budget_bits": B, "max_group": G, "images": n,
                "z1": counts["z1"].tolist(), "z2": counts["z2"].tolist()}

    def _size_counts(self, rec_params: dict, rate_idx: int) -> dict:
        """``{"z2": ..., "z1": ...}`` size tables for the ``seed`` coder at these parameters (empty when the
        model has none or the parameters group differently from the tables')."""
        t = self.rec_size_counts
        p = {**DEFAULTS["seed"], **rec_params}
        if t is None or "size_counts" in rec_params or p["outlier_bits"] is not None or \
                (int(p["budget_bits"]), int(p["max_group"])) != (t["budget_bits"], t["max_group"]):
            return {}
        return {"z2": t["z2"][rate_idx], "z1": t["z1"][rate_idx]}

    @torch.no_grad()
    def compress(self, x: torch.Tensor, rate_idx: int = 0, method=None, steps=None, seed: int = 0, hw=None,
                 rec_method: str = "orc-hint", **rec_params) -> Compressed:
        """REC-code a posterior sample of ``x [1, 3, H, W]`` (H, W multiples of 64).

        ``rec_method`` codes ``z1`` (``z2``, about 1 % of the bits, is coded with ``"orc"`` when it is
        ``"orc-hint"``). With ``"orc-hint"`` the groups of ``z1`` follow :meth:`kl_hint`, computed from
        ``p(z1 | z2)`` and the per-channel median of ``log2 sigma_l1`` (sent: one byte per channel,
        in 1/16 steps, in front of the ``z1`` section), so no group sizes are sent.
        ``seed`` keys the shared randomness (stored in ``extra`` with the REC method); ``hw``
        (the image size before padding) restricts the PSNRs in ``info`` to the image;
        ``rec_params`` go to :func:`neurcomp.rec.rec_encode` (e.g. ``budget_bits``, ``threads``).
        ``info``: ``kl_bpp``, ``psnr_exact`` (reconstruction from an exact posterior sample drawn
        with the same seed), ``psnr_rec`` (from the coded sample), ``rec_bits`` and ``rec_enc_s``;
        ``details["rec"]``: REC's statistics of each part (``{"z2": ..., "z1": ...}``).
        With ``rec_method="seed"`` the group sizes are coded under the model's ``rec_size_counts``
        (when its grouping parameters are the coder's).
        """

        self.check_method(method)
        method = rec_method
        if x.shape[0] != 1:
            raise ValueError("compress codes one image at a time")
        if x.shape[-2] % self.stride or x.shape[-1] % self.stride:
            raise ValueError(f"image size must be a multiple of {self.stride} (pad it first)")
        if method not in METHODS:
            raise ValueError(f"unknown REC method {method!r}; choose from {', '.join(METHODS)}")
        seed = int(seed) % (1 << 64)
        rec_params.setdefault("threads", max(1, torch.get_num_threads()))  # the stream does not depend on it
        dev = self.z1_gain.device
        (mu_l1, s_l1), (mu_2, s_2) = (tuple(t.cpu() for t in pair) for pair in
                                      self.posterior2(x.float().to(dev), torch.tensor([rate_idx], device=dev)))
        method2 = "orc" if method == "orc-hint" else method
        p2 = {k: v for k, v in rec_params.items() if k != "split_bits"}
        tables = self._size_counts(rec_params, rate_idx) if method == "seed" else {}
        p1 = {**rec_params, **({"size_counts": tables["z1"]} if tables else {})}
        if tables:
            p2["size_counts"] = tables["z2"]
        data2, z2, info2 = rec_encode(_pm(mu_2), _pm(s_2), np.zeros(1), np.ones(1), seed, method2, domain=2, **p2)
        z2 = _cm(torch.from_numpy(z2))
        mu_p1, s_p1 = self.exact_prior1(z2, rate_idx)
        mu_q1, s_q1 = precision_combine(mu_l1.double(), s_l1.double(), mu_p1, s_p1)
        prefix, hint = b"", None
        if method == "orc-hint":
            q = torch.round(16 * torch.log2(s_l1[0].double()).flatten(1).median(dim=1).values).clamp(-128, 127)
            prefix = q.numpy().astype(np.int8).tobytes()
            hint = self._hint_from_prefix(prefix, s_p1)  # exactly what the decoder will compute
        data1, z1, info1 = rec_encode(_pm(mu_q1), _pm(s_q1), _pm(mu_p1), _pm(s_p1), seed, method, domain=1,
                                      kl_hint=hint, **p1)
        data1 = prefix + data1
        info1["coded_bits"] = 8 * len(data1)
        x_hat = self.reconstruct(_cm(torch.from_numpy(z1)), rate_idx)
        h, w = x.shape[-2:]
        hw = (h, w) if hw is None else (int(hw[0]), int(hw[1]))
        x_exact = self.exact_sample_reconstruction((mu_l1, s_l1), (mu_2, s_2), seed, rate_idx)
        info = {"kl_bpp": (info1["kl_bits"] + info2["kl_bits"]) / (hw[0] * hw[1]),
                "psnr_exact": _psnr_8bit(x_exact, x, hw), "psnr_rec": _psnr_8bit(x_hat, x, hw),
                "rec_method": method, "rec_seed": seed, "rec_bits": info1["coded_bits"] + info2["coded_bits"],
                "rec_enc_s": info1["enc_s"] + info2["enc_s"]}
        return Compressed([data2, data1], (h // self.stride, w // self.stride), x_hat,
                          {"z2": info2["kl_bits"], "z1": info1["kl_bits"]}, _EXTRA.pack(seed, METHODS.index(method)),
                          info, {"rec": {"z2": info2, "z1": info1}})

    @torch.no_grad()
    def exact_sample_reconstruction(self, likelihood1, posterior2, seed: int, rate_idx: int) -> torch.Tensor:
        """The reference REC is measured against: the reconstruction of an *exact* posterior sample
        (``z2 ~ q(z2 | x)``, then ``z1 ~ q(z1 | x, z2)``) drawn with torch's generator seeded by ``seed``,
        from the bottom-up pass's ``(mu_l1, sigma_l1)`` and ``(mu_2, sigma_2)``."""
        (mu_l1, s_l1), (mu_2, s_2) = likelihood1, posterior2
        gen = torch.Generator().manual_seed(int(seed) % (1 << 63))
        z2 = mu_2.double() + s_2.double() * torch.randn(mu_2.shape, generator=gen, dtype=torch.float64)
        mp, sp = self.exact_prior1(z2, rate_idx)
        mq, sq = precision_combine(mu_l1.double(), s_l1.double(), mp, sp)
        z1 = mq + sq * torch.randn(mq.shape, generator=gen, dtype=torch.float64)
        return self.reconstruct(z1, rate_idx)

    @torch.no_grad()
    def decompress(self, sections, latent_shape, rate_idx: int = 0, extra: bytes = b"") -> torch.Tensor:

        self.check_stream(sections, extra)
        seed, mid = _EXTRA.unpack(extra)
        if mid >= len(METHODS):
            raise ValueError("unknown REC method in the stream")
        method = METHODS[mid]
        h2, w2 = (int(v) for v in latent_shape)
        tables = self.rec_size_counts or {}
        sizes2 = tables["z2"][rate_idx] if tables else None
        sizes1 = tables["z1"][rate_idx] if tables else None
        z2 = rec_decode(sections[0], np.zeros(1), np.ones(1), seed, (1, h2, w2, self.F), domain=2, size_counts=sizes2)
        mu_p1, s_p1 = self.exact_prior1(_cm(torch.from_numpy(z2)), rate_idx)
        data1, hint = bytes(sections[1]), None
        if method == "orc-hint":
            if len(data1) < self.M:
                raise ValueError("corrupted stream: z1 section too short")
            data1, hint = data1[self.M:], self._hint_from_prefix(data1[: self.M], s_p1)
        mu_p1, s_p1 = _pm(mu_p1), _pm(s_p1)
        z1 = rec_decode(data1, mu_p1, s_p1, seed, mu_p1.shape, method, domain=1, kl_hint=hint, size_counts=sizes1)
        return self.reconstruct(_cm(torch.from_numpy(z1)), rate_idx)
