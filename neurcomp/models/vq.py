r"""Learned transform coding with vector quantization and a soft cross-entropy rate (Gregorova et al. 2021).

Gregorova, Desaulles & Kalousis, "Learned transform compression with optimized entropy
encoding" (DMML workshop 2021). An encoder :math:`\mathcal E_\theta` maps an image to a
grid of latent vectors :math:`z^{(i)} \in \mathbb R^d` (``groups`` vectors per position of
a grid ``H/stride x W/stride``); each vector is replaced by its nearest codeword of a
learned codebook :math:`E = \{e^{(1)}, \dots, e^{(K)}\}`, and only the codeword *indices*
:math:`c^{(i)} \in \{0, \dots, K-1\}` are stored, range-coded under a categorical prior
:math:`q_c` shared by every position (Gregorova et al.'s choice :math:`q_{c_i} = q_{c_j}`), kept as
a vector of learnable logits :math:`\psi`: :math:`q_c(k) = \mathrm{softmax}(\psi)_k`.

Quantization (hard forward, soft backward)::

    hard:  p(c = k | x)   = 1[k = argmin_j ||z - e_j||^2]          z_hat   = sum_k p(c=k|x) e_k
    soft:  p^(c = k | x)  = softmax_k(-sigma ||z - e_k||^2)          z_tilde = sum_k p^(c=k|x) e_k
    decoder input:          sg(z_hat - z_tilde) + z_tilde           (value z_hat, gradient of z_tilde)

(``soft_distance="squared"``, the default and the shipped models' choice, uses ``||z - e||^2``
like the hard rule; ``"euclidean"`` uses ``||z - e||`` as Gregorova et al.'s slide writes it, which is
much softer at the same ``sigma``. Either tends to the hard assignment as ``sigma -> inf`` and
to uniform as ``sigma -> 0``.)

Rates, in bits (``sg`` = stop-gradient, sums over the n latent vectors of an image)::

    h(c) = - sum_i sum_k p(c_i = k | x)  log2 q_c(k)      hard cross-entropy: the real code length
                                                          (gradient only to the prior logits psi)
    s(c) = - sum_i sum_k p^(c_i = k | x) log2 sg(q_c(k))  soft cross-entropy: gradient to encoder
                                                          and codebook, moves the code distribution

Cross-entropy = entropy of the code distribution + KL(p_c || q_c): minimizing ``h`` over
``q_c`` only fits the prior (KL), it cannot lower the entropy; ``s`` is the term that
changes the pushforward distribution of the codes and so lowers the rate.

Loss per image, with the library's rate-distortion convention (MSE on [0, 1] pixels,
rates in bits per pixel, ``lambda`` as in CompressAI)::

    L = alpha * s(c) / (H W) + beta * h(c) / (H W) + lambda * 255^2 * MSE(x, D(sg(z_hat - z_tilde) + z_tilde))

(Gregorova et al.'s ``d(x, x_hat) + alpha s + beta h`` up to a global scale). ``alpha = 0`` is the
ablation "rate not optimized": the codes are then whatever the distortion makes them, and
the prior is only fitted to them. ``rd_loss`` reports ``bpp`` = h / (H W) (what the coder
spends), ``soft_bpp`` = s / (H W), ``mse`` and ``psnr``.

Initialization, on the first training batch (:meth:`VQAutoencoder.initialize`): the last encoder
layer is rescaled so that the latents have spread ``latent_std`` per dimension (``sigma`` is an
inverse temperature on squared distances, so it only means something relative to that scale;
with PyTorch's default init they start with a spread of about 0.01, the soft assignment is then
nearly uniform, which collapses the codebook), then the codebook (``codebook_init``):
``"kmeans++"`` (k-means++ seeding on those latents) or ``"uniform"`` (uniform in their bounding
box); :func:`compare_codebook_inits` compares the two on a batch. With ``centre_latents`` the
rescaling also centres the latents (the last layer's bias absorbs their mean).
During training the latents move and the codebook follows only where it is used, so codewords can
die; every ``restart_every`` steps, codewords whose running usage is below ``restart_threshold``
times the uniform share 1/K are moved onto random latent vectors of the current batch ("random
restarts" of dead codes, Dhariwal et al. 2020; 0 = off). ``commitment`` > 0 adds van den Oord
et al.'s (2017) commitment loss, ``commitment * mean ||z - sg(e_c)||^2 / d`` per image, which pulls
the latents towards their codewords (without it they can drift far from the codebook, where the
soft assignment is hard and its gradient vanishes). The prior's logits are stored
divided by ``prior_lr_scale`` (> 1 lets Adam fit q_c faster; 1 = plain logits). Coding: :meth:`update`
quantizes ``q_c`` once into an integer table (a buffer saved with the weights); indices are
range-coded with :mod:`neurcomp.entropy.coder`, so the decoder needs no float to agree, and the
codec runs the decoder network in float64 (:meth:`VQAutoencoder.reconstruct`) so that the decoded
8-bit image does not depend on the thread count either.

Example:
    >>> import torch
    >>> m = VQAutoencoder(channels=8, blocks=1, dim=4, codebook_size=16)
    >>> out = m(torch.rand(2, 3, 32, 32))
    >>> out["x_hat"].shape, out["indices"].shape
    (torch.Size([2, 3, 32, 32]), torch.Size([2, 1, 8, 8]))
    >>> sorted(m.rd_loss(torch.rand(2, 3, 32, 32), out, 0))[:3]
    ['bpp', 'loss', 'mse']
"""
from __future__ import annotations

import copy
import math
from fractions import Fraction

import numpy as np
import torch
import torch.nn as nn

from ..entropy.coder import PRECISION_BITS, CodingError, PmfTables, TableStore, decode_symbols, encode_symbols
from .base import Compressed, CompressionModel
from .rate import has_training_options, rate_values
from .tiling import maybe_tiled

LN2 = math.log(2.0)
CODEBOOK_INITS = ("kmeans++", "uniform")


# ----------------------------------------------------------------------------- quantizer pieces


def squared_distances(z: torch.Tensor, codebook: torch.Tensor) -> torch.Tensor:
    """``||z_i - e_k||^2`` for vectors ``z [N, d]`` and codewords ``codebook [K, d]`` -> ``[N, K]``."""
    d2 = (z * z).sum(1, keepdim=True) - 2.0 * z @ codebook.t() + (codebook * codebook).sum(1)[None, :]
    return d2.clamp_min(0.0)


def hard_assignment(z: torch.Tensor, codebook: torch.Tensor) -> torch.Tensor:
    """Index of the nearest codeword of each vector of ``z [N, d]`` -> LongTensor ``[N]``."""
    return squared_distances(z, codebook).argmin(1)


def soft_assignment(z: torch.Tensor, codebook: torch.Tensor, sigma: float, squared: bool = True) -> torch.Tensor:
    """``softmax_k(-sigma ||z - e_k||^2)`` (``squared=False``: Gregorova et al. 2021's ``||z - e_k||``)
    -> probabilities ``[N, K]``; tends to the hard (nearest-codeword) one-hot as sigma grows."""
    d2 = squared_distances(z, codebook)
    return torch.softmax(-sigma * (d2 if squared else _norm(d2)), dim=1)


def _norm(d2: torch.Tensor) -> torch.Tensor:
    return d2.clamp_min(1e-12).sqrt()


def kmeans_pp(points: torch.Tensor, k: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """k-means++ seeding (Arthur & Vassilvitskii 2007): ``k`` rows of ``points [N, d]``, each drawn
    with probability proportional to its squared distance to the rows already chosen.

    Points already chosen have distance 0 and are never drawn again, so the result has ``k``
    distinct rows whenever ``points`` has at least ``k`` distinct rows; otherwise the missing
    codewords are copies of random points plus a tiny jitter (still distinct).
    """
    pts = points.detach().double()
    n = pts.shape[0]
    if n == 0:
        raise ValueError("k-means++ needs at least one point")
    chosen = torch.empty(k, pts.shape[1], dtype=torch.float64)
    i = int(torch.randint(n, (1,), generator=generator))
    chosen[0] = pts[i]
    d2 = ((pts - chosen[0]) ** 2).sum(1)
    scale = float(pts.std()) if n > 1 else 1.0
    for j in range(1, k):
        total = float(d2.sum())
        if total > 0:
            i = int(torch.multinomial(d2 / total, 1, generator=generator))
            chosen[j] = pts[i]
        else:  # fewer distinct points than codewords
            i = int(torch.randint(n, (1,), generator=generator))
            chosen[j] = pts[i] + 1e-3 * max(scale, 1e-6) * torch.randn(pts.shape[1], generator=generator,
                                                                        dtype=torch.float64)
        d2 = torch.minimum(d2, ((pts - chosen[j]) ** 2).sum(1))
    return chosen.to(points.dtype)


def uniform_codebook(points: torch.Tensor, k: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """``k`` codewords drawn uniformly in the per-dimension bounding box of ``points [N, d]``."""
    lo, hi = points.detach().min(0).values, points.detach().max(0).values
    u = torch.rand(k, points.shape[1], generator=generator, dtype=points.dtype)
    return lo + (hi - lo) * u


def init_codebook(points: torch.Tensor, k: int, method: str = "kmeans++",
                  generator: torch.Generator | None = None, max_points: int = 16384) -> torch.Tensor:
    """A ``[k, d]`` codebook from encoder outputs ``points [N, d]`` (``method``: see ``CODEBOOK_INITS``)."""
    if method not in CODEBOOK_INITS:
        raise ValueError(f"unknown codebook_init {method!r}; choose from {', '.join(CODEBOOK_INITS)}")
    points = points.detach().float().cpu()
    if points.shape[0] > max_points:
        points = points[torch.randperm(points.shape[0], generator=generator)[:max_points]]
    return (kmeans_pp if method == "kmeans++" else uniform_codebook)(points, k, generator)


def usage_histogram(indices, codebook_size: int) -> np.ndarray:
    """How often each codeword is used: counts ``[K]`` of an index array/tensor of any shape."""
    idx = indices.detach().cpu().numpy() if isinstance(indices, torch.Tensor) else np.asarray(indices)
    idx = idx.astype(np.int64).ravel()
    if idx.size and (idx.min() < 0 or idx.max() >= codebook_size):
        raise ValueError("code index out of range")
    return np.bincount(idx, minlength=codebook_size)


def usage_stats(hist) -> dict:
    """Summary of a usage histogram: ``used`` codewords, their ``fraction``, the empirical
    ``entropy_bits`` of the code distribution (bits per index) and its ``perplexity`` (2^entropy)."""
    hist = np.asarray(hist, np.float64)
    n = hist.sum()
    p = hist[hist > 0] / n if n > 0 else np.zeros(0)
    entropy = float(-(p * np.log2(p)).sum()) if p.size else 0.0
    return {"codebook_size": int(hist.size), "used": int((hist > 0).sum()), "fraction": float((hist > 0).mean()),
            "entropy_bits": entropy, "perplexity": float(2.0 ** entropy), "count": int(n)}


# ----------------------------------------------------------------------------- network


class ResBlock(nn.Module):
    """``x + conv3x3(relu(conv3x3(relu(x))))`` (the residual block with a skip connection)."""

    def __init__(self, channels: int):
        super().__init__()
        self.body = nn.Sequential(nn.ReLU(), nn.Conv2d(channels, channels, 3, padding=1), nn.ReLU(),
                                  nn.Conv2d(channels, channels, 3, padding=1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


def vq_encoder(channels: int, blocks: int, downsamples: int, out_channels: int) -> nn.Sequential:
    layers = [nn.Conv2d(3, channels, 3, padding=1)]
    for _ in range(downsamples):
        layers += [nn.ReLU(), nn.Conv2d(channels, channels, 4, stride=2, padding=1)]
    layers += [ResBlock(channels) for _ in range(blocks)]
    layers += [nn.ReLU(), nn.Conv2d(channels, out_channels, 1)]
    return nn.Sequential(*layers)


def vq_decoder(channels: int, blocks: int, downsamples: int, in_channels: int) -> nn.Sequential:
    layers = [nn.Conv2d(in_channels, channels, 3, padding=1)]
    layers += [ResBlock(channels) for _ in range(blocks)]
    for _ in range(downsamples):
        layers += [nn.ReLU(), nn.ConvTranspose2d(channels, channels, 4, stride=2, padding=1)]
    layers += [nn.ReLU(), nn.Conv2d(channels, 3, 3, padding=1)]
    return nn.Sequential(*layers)


class CodeTable(TableStore):
    """The integer coding table of q_c (K symbols + the coder's escape bin), saved with the weights;
    empty until ``VQAutoencoder.update()`` fills it."""


class VQAutoencoder(CompressionModel):
    """Soft/hard vector-quantized autoencoder with a shared categorical prior (Gregorova et al. 2021).

    Args:
        channels: width of the convolutional encoder / decoder (Gregorová et al. 2021: 64).
        blocks: residual blocks in the encoder and in the decoder (Gregorová et al. 2021: 10).
        downsamples: stride-2 stages; the total stride is ``2 ** downsamples``.
        dim: dimension d of each latent vector (and codeword).
        codebook_size: K, the number of codewords; at most ``log2 K`` bits per vector.
        groups: latent vectors per spatial position, all quantized with the same codebook
            and coded under the same prior (Gregorová et al. 2021: 1).
        sigma: inverse temperature of the soft assignment (Gregorová et al. 2021: 1).
        alpha: weight of the soft cross-entropy s(c) (0 = the "no rate" ablation).
        beta: weight of the hard cross-entropy h(c), which fits the prior (Gregorová et al. 2021: 1).
        codebook_init: "kmeans++" or "uniform", applied to the first training batch.
        latent_std: spread per dimension the latents are rescaled to at initialization (0: off).
        soft_distance: "euclidean" (Gregorova et al.'s ``||z - e||``) or "squared" (``||z - e||^2``) in the
            soft assignment (default "squared").
        restart_every: steps between random restarts of dead codewords (0 = never).
        restart_threshold: a codeword is dead when its running usage is below this times 1/K.
        centre_latents: at initialization, also shift the latents to zero mean.
        commitment: weight of the commitment loss (van den Oord et al. 2017), the mean squared
            distance per latent element between each latent vector and its codeword (codeword
            held fixed), added to the loss: it keeps the encoder's latents next to the codebook,
            where the soft assignment still has a gradient (0 = off, Gregorova et al.'s loss).
        prior_lr_scale: multiplier of the prior logits' parametrization (their effective Adam
            learning rate); 1 = the plain logits.
        lambdas: one distortion weight (loss = rate_bpp + lambda * 255^2 * MSE).
    """

    kind = "vq"
    title = "soft VQ autoencoder"
    stride = 4

    def __init__(self, channels: int = 64, blocks: int = 2, downsamples: int = 2, dim: int = 16,
                 codebook_size: int = 256, groups: int = 1, sigma: float = 1.0, alpha: float = 1.0,
                 beta: float = 1.0, codebook_init: str = "kmeans++", latent_std: float = 1.0,
                 prior_lr_scale: float = 1.0, lambdas=(0.0067,), soft_distance: str = "squared",
                 restart_every: int = 0, restart_threshold: float = 0.05, centre_latents: bool = False,
                 commitment: float = 0.0):
        super().__init__()
        if codebook_init not in CODEBOOK_INITS:
            raise ValueError(f"unknown codebook_init {codebook_init!r}; choose from {', '.join(CODEBOOK_INITS)}")
        if len(lambdas) != 1:
            raise ValueError("VQAutoencoder has one rate point per network: give a single lambda")
        if codebook_size < 2 or codebook_size >= 1 << (PRECISION_BITS - 1):
            raise ValueError(f"codebook_size must be in [2, {1 << (PRECISION_BITS - 1)})")
        self.channels, self.blocks, self.downsamples = int(channels), int(blocks), int(downsamples)
        self.dim, self.codebook_size, self.groups = int(dim), int(codebook_size), int(groups)
        self.sigma, self.alpha, self.beta = float(sigma), float(alpha), float(beta)
        self.codebook_init = codebook_init
        if soft_distance not in ("euclidean", "squared"):
            raise ValueError(f"soft_distance must be 'euclidean' or 'squared', got {soft_distance!r}")
        self.soft_distance = soft_distance
        self.restart_every, self.restart_threshold = int(restart_every), float(restart_threshold)
        self.centre_latents = bool(centre_latents)
        self.commitment = float(commitment)
        self.latent_std = float(latent_std)
        self.prior_lr_scale = float(prior_lr_scale)
        self.lambdas = [float(v) for v in lambdas]
        self.stride = 2 ** self.downsamples
        self.encoder = vq_encoder(channels, blocks, downsamples, groups * dim)
        self.decoder = vq_decoder(channels, blocks, downsamples, groups * dim)
        self.codebook = nn.Parameter(torch.rand(codebook_size, dim) * 2 - 1)
        self.prior_param = nn.Parameter(torch.zeros(codebook_size))  # logits / prior_lr_scale
        self.register_buffer("codebook_initialized", torch.zeros((), dtype=torch.int32))
        # training-time statistics for the restarts (not part of the weights)
        self.register_buffer("usage_ema", torch.full((codebook_size,), 1.0 / codebook_size), persistent=False)
        self.register_buffer("train_steps", torch.zeros((), dtype=torch.int64), persistent=False)
        self.code_table = CodeTable()

    @property
    def config(self) -> dict:
        return {"kind": self.kind, "channels": self.channels, "blocks": self.blocks,
                "downsamples": self.downsamples, "dim": self.dim, "codebook_size": self.codebook_size,
                "groups": self.groups, "sigma": self.sigma, "alpha": self.alpha, "beta": self.beta,
                "codebook_init": self.codebook_init, "latent_std": self.latent_std,
                "prior_lr_scale": self.prior_lr_scale, "lambdas": self.lambdas, "soft_distance": self.soft_distance,
                "restart_every": self.restart_every, "restart_threshold": self.restart_threshold,
                "centre_latents": self.centre_latents, "commitment": self.commitment}

    # -- latents <-> vectors
    def _to_vectors(self, z: torch.Tensor) -> torch.Tensor:
        b, _, h, w = z.shape
        return z.reshape(b, self.groups, self.dim, h, w).permute(0, 1, 3, 4, 2).reshape(-1, self.dim)

    def _from_vectors(self, v: torch.Tensor, b: int, h: int, w: int) -> torch.Tensor:
        return v.reshape(b, self.groups, h, w, self.dim).permute(0, 1, 4, 2, 3).reshape(b, self.groups * self.dim, h, w)

    def latent_vectors(self, x: torch.Tensor) -> torch.Tensor:
        """Encoder outputs of ``x`` as vectors ``[N, d]`` (float32)."""
        return self._to_vectors(self.encoder(x).float())

    def _tiled_encoder(self, x: torch.Tensor) -> torch.Tensor:
        return maybe_tiled(self.encoder, x, Fraction(1, self.stride), 256, 64)

    @torch.no_grad()
    def init_codebook(self, x_or_vectors: torch.Tensor, method: str | None = None,
                      generator: torch.Generator | None = None) -> None:
        """Set the codebook from the encoder outputs of a batch ``[B, 3, H, W]`` (or from
        vectors ``[N, d]``) with ``method`` (default: the configured ``codebook_init``)."""
        v = x_or_vectors if x_or_vectors.dim() == 2 else self.latent_vectors(x_or_vectors)
        e = init_codebook(v, self.codebook_size, method or self.codebook_init, generator)
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            e = e.to(self.codebook.device)
            torch.distributed.broadcast(e, 0)  # every rank starts from rank 0's codebook
        self.codebook.data.copy_(e.to(self.codebook.device))
        self.codebook_initialized.fill_(1)

    @torch.no_grad()
    def _rescale_encoder(self, v: torch.Tensor) -> float:
        """Data-dependent init: scale the last encoder layer so that the latents of this batch have
        standard deviation ``latent_std`` (the scale on which ``sigma`` is meaningful); returns the factor."""
        std = float(v.detach().float().std(0).mean())  # spread per dimension, not the offsets between them
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            t = torch.tensor([std], device=v.device)
            torch.distributed.broadcast(t, 0)
            std = float(t)
        factor = self.latent_std / max(std, 1e-8)
        last = self.encoder[-1]
        last.weight.mul_(factor)
        last.bias.mul_(factor)
        if self.centre_latents:
            mean = v.detach().float().mean(0)  # [d]
            if torch.distributed.is_available() and torch.distributed.is_initialized():
                torch.distributed.broadcast(mean, 0)
            last.bias.sub_(factor * mean.repeat(self.groups).to(last.bias))
        return factor

    # -- prior and coding tables
    def prior_logits(self, dtype=torch.float32) -> torch.Tensor:
        """The logits psi of q_c (stored divided by ``prior_lr_scale``, which multiplies the prior's
        effective learning rate: with Adam the loss weight beta alone cannot speed it up)."""
        return self.prior_param.to(dtype) * self.prior_lr_scale

    def prior_probs(self) -> torch.Tensor:
        """q_c, the categorical prior over the K codewords (float)."""
        return torch.softmax(self.prior_logits(), 0)

    def _prior_tables(self) -> PmfTables:
        p = torch.softmax(self.prior_logits(torch.float64).detach().cpu(), 0).numpy()
        return PmfTables.from_probabilities([p], offsets=[0], tail_masses=[0.0])

    @torch.no_grad()
    def update(self) -> None:
        """Quantize q_c into the integer coding table (call after training, before coding)."""
        self.code_table.store_tables(self._prior_tables())

    def tables(self) -> PmfTables:
        """The stored integer table of q_c (RuntimeError before :meth:`update`)."""
        return self.code_table.tables()

    def coded_probs(self) -> torch.Tensor:
        """Probabilities ``[K]`` the range coder uses: the stored table (after :meth:`update`), else
        the table :meth:`update` would build from the current prior."""
        t = self.code_table.tables() if self.code_table.built() else self._prior_tables()
        return torch.from_numpy(t.counts[0, : self.codebook_size].astype(np.float64) / (1 << PRECISION_BITS))

    # -- forward
    def quantize(self, z: torch.Tensor) -> dict:
        """Hard / soft quantization of ``z [B, groups*d, h, w]``; see the module docstring."""
        b, _, h, w = z.shape
        with torch.autocast(device_type=z.device.type, enabled=False):
            v = self._to_vectors(z.float())
            e = self.codebook.float()
            d2 = squared_distances(v, e)
            idx = d2.argmin(1)
            p_soft = torch.softmax(-self.sigma * (d2 if self.soft_distance == "squared" else _norm(d2)), dim=1)
            z_hard = e[idx]
            z_soft = p_soft @ e
            z_q = z_soft + (z_hard - z_soft).detach()
        return {"z_q": self._from_vectors(z_q, b, h, w), "indices": idx.reshape(b, self.groups, h, w),
                "soft_probs": p_soft, "vectors": v, "codewords": z_hard}

    def decode_indices(self, indices: torch.Tensor) -> torch.Tensor:
        """The decoder's reconstruction from code indices ``[B, groups, h, w]``."""
        b, _, h, w = indices.shape
        z_hat = self.codebook.float()[indices.reshape(-1).long()]
        return self.decoder(self._from_vectors(z_hat, b, h, w))

    @torch.no_grad()
    def initialize(self, x: torch.Tensor) -> None:
        """Data-dependent initialization on a batch (done by the first training ``forward``):
        rescale the encoder output to ``latent_std`` (if > 0), then ``init_codebook``."""
        v = self.latent_vectors(x)
        if self.latent_std > 0:
            shift = v.float().mean(0) if self.centre_latents else 0.0
            v = (v - shift) * self._rescale_encoder(v)
        self.init_codebook(v)

    @torch.no_grad()
    def reconstruct(self, indices: torch.Tensor) -> torch.Tensor:
        """The codec's decoder, in float64: the 8-bit output must not depend on thread counts or
        summation order (float32 convolutions differ in the last bits between processes)."""
        b, _, h, w = indices.shape
        m64 = self.decoding_copy()
        z_hat = m64.codebook[indices.reshape(-1).long().cpu()]
        z = self._from_vectors(z_hat, b, h, w)
        # 256-pixel tiles: the full-resolution 3x3 convolutions' im2col buffers (64 channels, float64)
        # cost about 4.6 KB per pixel of a tile
        return maybe_tiled(m64.decoder, z, self.stride, 256 // self.stride, 64 // self.stride).float()

    def forward(self, x: torch.Tensor, rate_idx=0) -> dict:
        if self.training and not bool(self.codebook_initialized):
            self.initialize(x)
        z = self.encoder(x)
        q = self.quantize(z)
        idx = q["indices"]
        if self.training and self.restart_every > 0:
            self._restart_dead_codes(idx, q["vectors"])
        log_q = torch.log_softmax(self.prior_logits(), 0)
        if self.training:
            bits = -log_q[idx] / LN2  # -log2 q_c(c) = h(c), gradient to the prior logits only
        else:  # exactly what the range coder spends
            bits = -torch.log2(self.coded_probs()).to(device=x.device, dtype=torch.float32)[idx]
        soft_bits = -(q["soft_probs"] * log_q.detach()[None, :]).sum(1) / LN2  # s(c) per vector
        out = {"x_hat": self.decoder(q["z_q"].to(z.dtype)), "rate_bits": {"c": bits}, "indices": idx,
               "soft_bits": soft_bits.reshape(idx.shape), "z": z}
        if self.commitment > 0:  # per image: mean squared latent-to-codeword distance per element
            out["commit"] = ((q["vectors"] - q["codewords"].detach()) ** 2).reshape(x.shape[0], -1).mean(1)
        return out

    @torch.no_grad()
    def _restart_dead_codes(self, idx: torch.Tensor, vectors: torch.Tensor) -> None:
        counts = torch.bincount(idx.reshape(-1), minlength=self.codebook_size).float()
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            torch.distributed.all_reduce(counts)
        self.usage_ema.mul_(0.99).add_(counts / counts.sum(), alpha=0.01)
        self.train_steps += 1
        if int(self.train_steps) % self.restart_every:
            return
        dead = self.usage_ema < self.restart_threshold / self.codebook_size
        n = int(dead.sum())
        if n == 0 or n == self.codebook_size:
            return
        v = vectors.detach().float()
        pick = torch.randint(0, v.shape[0], (n,), device=v.device)
        self.codebook.data[dead] = (v[pick] + 0.01 * v.std(0) * torch.randn_like(v[pick])).to(self.codebook.dtype)
        self.prior_param.data[dead] = self.prior_param.data[~dead].median()
        self.usage_ema[dead] = 1.0 / self.codebook_size
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            torch.distributed.broadcast(self.codebook.data, 0)  # every rank keeps rank 0's codebook
            torch.distributed.broadcast(self.prior_param.data, 0)

    def rd_loss(self, x: torch.Tensor, out: dict, rate_idx=0, free_bits=0.0, rate_weight: float = 1.0) -> dict:
        """``alpha * s/(HW) + beta * h/(HW) + lambda * 255^2 * MSE`` (+ ``commitment`` times the mean squared
        latent-to-codeword distance when set; per-batch means; bpp = h/(HW)). ``rate_weight`` scales the two
        rate terms (a warm-up); ``free_bits`` is refused: code indices have no channels to give a floor."""
        if has_training_options(free_bits):
            raise ValueError("free_bits: a vq model's rate is the entropy of its code indices, which have no latent "
                             "channels to give free bits (rate_warmup_steps works)")
        b, _, h, w = x.shape
        hard_bits = out["rate_bits"]["c"].reshape(b, -1).sum(1)
        bpp = hard_bits / (h * w)
        soft_bpp = out["soft_bits"].reshape(b, -1).sum(1) / (h * w)
        mse = ((out["x_hat"] - x) ** 2).reshape(b, -1).mean(1)
        lam = rate_values(self.lambdas, rate_idx, b, x.device)
        loss = rate_weight * (self.alpha * soft_bpp + self.beta * bpp) + lam * 255.0 ** 2 * mse
        losses = {"bpp": bpp.mean(), "soft_bpp": soft_bpp.mean(), "mse": mse.mean(),
                  "psnr": (-10 * torch.log10(mse.clamp_min(1e-10))).mean()}
        if self.commitment > 0:
            loss = loss + self.commitment * out["commit"]
            losses["commit"] = out["commit"].mean()
        return {"loss": loss.mean(), **losses}

    # -- codec
    @torch.no_grad()
    def code_indices(self, x: torch.Tensor) -> torch.Tensor:
        """Hard code indices ``[B, groups, h, w]`` of a (padded) batch."""
        v = self._to_vectors(self._tiled_encoder(x).float())
        b, _, hh, ww = x.shape
        return hard_assignment(v, self.codebook.float()).reshape(b, self.groups, hh // self.stride, ww // self.stride)

    @torch.no_grad()
    def code_usage(self, x: torch.Tensor) -> np.ndarray:
        """Usage histogram ``[K]`` of the codewords on a batch (see :func:`usage_stats`)."""
        return usage_histogram(self.code_indices(x), self.codebook_size)

    @torch.no_grad()
    def compress(self, x: torch.Tensor, rate_idx: int = 0, method=None, steps=None, seed=0, hw=None) -> Compressed:
        self.check_method(method)
        idx = self.code_indices(x)
        tables = self.tables()
        sym = idx.cpu().numpy().astype(np.int64).ravel()
        table_idx = np.zeros(sym.size, np.int64)
        return Compressed([encode_symbols(sym, table_idx, tables)], tuple(idx.shape[2:]), self.reconstruct(idx),
                          {"c": tables.information_bits(sym, table_idx)}, info={"codes_used": int(np.unique(sym).size)})

    @torch.no_grad()
    def decompress(self, sections: list[bytes], latent_shape, rate_idx: int = 0, extra: bytes = b"") -> torch.Tensor:
        self.check_stream(sections, extra)
        h, w = (int(v) for v in latent_shape)
        n = self.groups * h * w
        sym = decode_symbols(sections[0], np.zeros(n, np.int64), self.tables())
        if sym.size and (sym.min() < 0 or sym.max() >= self.codebook_size):
            raise CodingError("code index out of range")
        idx = torch.from_numpy(sym).reshape(1, self.groups, h, w).to(self.codebook.device)
        return self.reconstruct(idx)


@torch.no_grad()
def compare_codebook_inits(model: VQAutoencoder, x: torch.Tensor, methods=CODEBOOK_INITS, seed: int = 0,
                           holdout: torch.Tensor | None = None) -> dict:
    """Initialize the codebook of (a copy of) ``model`` from the encoder outputs of ``x`` with each
    method (after the latent rescaling of :meth:`VQAutoencoder.initialize` if the model was never
    initialized) and report, on ``holdout`` (default: ``x`` itself), the quantization error
    ``mean ||z - z_hat||^2 / d``, the distortion MSE of the reconstruction and the usage stats.

    Example:
        >>> m = VQAutoencoder(channels=8, blocks=1, dim=4, codebook_size=16)
        >>> r = compare_codebook_inits(m, torch.rand(2, 3, 32, 32))
        >>> sorted(r), r["kmeans++"]["used"] <= 16
        (['kmeans++', 'uniform'], True)
    """
    m = copy.deepcopy(model).eval()
    if not bool(m.codebook_initialized) and m.latent_std > 0:  # an untrained model: as initialize() would
        m._rescale_encoder(m.latent_vectors(x))
    test = x if holdout is None else holdout
    out = {}
    for method in methods:
        m.init_codebook(x, method, torch.Generator().manual_seed(seed))
        v = m.latent_vectors(test)
        idx = hard_assignment(v, m.codebook)
        qerr = float(((v - m.codebook[idx]) ** 2).mean())
        b, _, h, w = test.shape
        x_hat = m.decode_indices(idx.reshape(b, m.groups, h // m.stride, w // m.stride))
        out[method] = {"quantization_mse": qerr, "mse": float(((x_hat - test) ** 2).mean()),
                       **usage_stats(usage_histogram(idx, m.codebook_size))}
    return out


__all__ = ["VQAutoencoder", "CODEBOOK_INITS", "squared_distances", "hard_assignment", "soft_assignment",
           "kmeans_pp", "uniform_codebook", "init_codebook", "usage_histogram", "usage_stats",
           "compare_codebook_inits"]
