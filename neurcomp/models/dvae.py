r"""Discretized VAEs for lossy image compression (Duan et al. 2022), flat and hierarchical.

A VAE becomes a lossy *codec* once its latents live on a lattice and its prior is a pmf
on that lattice. The three components are chosen so that the free energy (negative ELBO)
of the VAE is exactly the rate-distortion loss of the codec:

**Posterior** (recognition model): a uniform box of width one around an encoder output,
:math:`q(z \mid x) = \mathcal U(f(x) - \tfrac12, f(x) + \tfrac12)`. Training samples
:math:`z = f(x) + u`, :math:`u \sim \mathcal U(-\tfrac12, \tfrac12)`; at test time
:math:`z = \lfloor f(x) \rceil` (nearest lattice point). *Why uniform:* its differential
entropy is :math:`\log 1 = 0`, so
:math:`\mathrm{KL}(q \,\|\, p) = \mathbb E_q[-\log p(z)] - H(q) = \mathbb E_q[-\log p(z)]`:
the KL term of the NELBO *is* the expected code length, with nothing subtracted. The
NELBO is exactly rate + distortion.

**Prior**: :math:`p(z) = F_{\mu,\sigma}(z + \tfrac12) - F_{\mu,\sigma}(z - \tfrac12)` with
:math:`F_{\mu,\sigma}` the CDF of :math:`\mathcal N(\mu, \sigma^2)`. *Why CDF differences:*
restricted to a lattice :math:`c + \mathbb Z` these numbers telescope to a sum of exactly one,
so the prior *is* a pmf on the lattice and :math:`-\log_2 p(\hat z)` is the length of a real
code (an entropy coder achieves it to within a few bytes); on the real line the same formula
is a density (it integrates to one), the Gaussian convolved with the unit box, which is what
the noisy training latents see. It is positive everywhere and shaped like the posterior.

**Emission**: :math:`p(x \mid z) \propto e^{-\lambda\, d(g(z), x)}` with :math:`d` the MSE.
*Why:* its negative log-likelihood is :math:`\lambda\, d(g(z), x)` (+ a constant), so the
reconstruction term of the NELBO is the distortion and :math:`\lambda` the Lagrange
multiplier of rate-distortion theory.

Together, per image (rates in bits per pixel, MSE on [0, 1] pixels, the library's CompressAI
convention): ``NELBO / (H W ln 2) = R + lambda * 255^2 * MSE`` up to a constant.

Coding. The latents are coded with the library's shared discretized-Gaussian machinery
(:class:`neurcomp.entropy.GaussianConditional`): the integer *symbol* is
:math:`k = \lfloor z - \mu \rceil` and :math:`\hat z = \mu + k`, i.e. the lattice of a latent
is :math:`\mu + \mathbb Z` (its prior mean shifted by integers; for the flat model, where
:math:`\mu` is a per-channel constant, this is Duan's integer lattice with a constant
offset the decoder absorbs). The pmf of :math:`k` is
:math:`\Phi((k + \tfrac12)/\sigma) - \Phi((k - \tfrac12)/\sigma)`: a zero-mean table, chosen by
the nearest :math:`\sigma` in a fixed log-spaced scale table, so encoder and decoder use
the same integers. In ``eval()`` mode the ``rate_bits`` are the costs under those integer
tables (:meth:`GaussianConditional.coded_bits`: table scale, 20-bit quantized counts, and the
escape code for values beyond six standard deviations), so the eval-mode ``rate_bits`` are the
coded size up to the range coder's few bytes of termination per section. (The continuous pmf differs from the
tables in the far tails: the tables floor every probability at 2^-20 and escape outliers;
a barely trained prior hits those tails often enough for a few % of rate.)

Variable rate: one network per list of ``lambdas``; per rate point a gain vector scales the
encoder output before discretization (and the prior mean and scale with it: a Gaussian scaled
by ``g`` is a Gaussian with mean ``g mu`` and scale ``g sigma``), an inverse gain scales the
lattice point before the decoder (Cui et al. 2021, as in
:class:`~neurcomp.models.hyperprior.AnalysisSynthesis`).

:class:`DiscretizedVAE` (kind ``"dvae"``): Balle-style analysis / synthesis transforms
(stride 16), per-channel learned :math:`(\mu, \sigma)`.

:class:`HierarchicalDVAE` (kind ``"hdvae"``): ``levels`` latent levels at strides 8, 16, 32,
... (top = coarsest), a bottom-up residual encoder and a top-down residual decoder. The top
level's prior has learned per-channel parameters; the prior of every lower level is a
discretized Gaussian whose mean and scale are predicted from the top-down state, i.e. from
all the levels above. Every level is discretized the same way (unit-width uniform posterior
around an encoder output that sees the image features *and* the levels above; rounding
relative to the predicted mean at test time), and the stream has one section per level, top
first. Convolutions pad by replication (see ``PADDING``), so that a model trained on 64x64
patches (upper levels of 2x2 / 4x4) still predicts well inside a large image. The decoder
computes each level's prior parameters from the integer latents it has
already decoded; the codec does that (and the synthesis) in float64 so that the table
choices and the 8-bit output do not depend on thread counts (see ``_Hyperprior.exact_params``).
:meth:`HierarchicalDVAE.unconditional_sample` draws images from the hierarchical prior, with
continuous or integer latents from the same random numbers (Duan's samples figure).

Example:
    >>> import torch
    >>> m = DiscretizedVAE(N=8, M=8, lambdas=[0.01, 0.05]).eval()
    >>> m(torch.rand(1, 3, 32, 32), rate_idx=1)["x_hat"].shape
    torch.Size([1, 3, 32, 32])
    >>> h = HierarchicalDVAE(channels=8, latent_channels=4, levels=3, lambdas=[0.01])
    >>> sorted(h(torch.rand(2, 3, 64, 64))["rate_bits"])
    ['z0', 'z1', 'z2']
    >>> s = h.unconditional_sample(2, (64, 64), seed=0, discrete=True)
    >>> s["x"].shape, bool(torch.equal(s["symbols"][0], s["symbols"][0].round()))
    (torch.Size([2, 3, 64, 64]), True)
"""
from __future__ import annotations

import math
from fractions import Fraction

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..entropy import GaussianConditional
from .base import Compressed, CompressionModel
from .hyperprior import AnalysisSynthesis
from .rate import rate_index
from .tiling import maybe_tiled

#: padding of every convolution of the hierarchical model (transposed ones excepted). Replicate, not
#: zeros: on 64x64 training patches the upper levels are 2x2 / 4x4 maps, all border, and with zero
#: padding the top-down prior learns to rely on the zeros; on a Kodak image its interior positions
#: then cost many times more bits. Measured (eval-mode rate, kodim01 crops at lambda 0.013):
#: configs/hdvae.yaml after 160 steps, 64x64 / 256x256 crop: zeros 0.56 / 4.1 bpp, replicate
#: 0.30 / 0.43 bpp; configs/hdvae_tiny.yaml after 300 steps: zeros 0.35 / 0.61, replicate 0.29 / 0.28.
PADDING = "replicate"


def _std_normal_cdf(x: torch.Tensor) -> torch.Tensor:
    return 0.5 * torch.erfc(-x / math.sqrt(2.0))


def discretized_gaussian_pmf(z: torch.Tensor, mean, scale) -> torch.Tensor:
    r"""Duan's prior :math:`F_{\mu,\sigma}(z + \frac12) - F_{\mu,\sigma}(z - \frac12)`, unclamped.

    On any lattice ``c + Z`` these values sum to one (the sum telescopes); on the real line
    they are a density (the Gaussian convolved with the unit box). Computed symmetrically
    around the mean (as :meth:`GaussianConditional.likelihood` does) to avoid cancellation
    in the upper tail.

    Example:
        >>> k = torch.arange(-50, 51, dtype=torch.float64)
        >>> round(float(discretized_gaussian_pmf(k, 0.3, 2.0).sum()), 12)
        1.0
    """
    z = torch.as_tensor(z)
    mean = torch.as_tensor(mean, dtype=z.dtype)
    scale = torch.as_tensor(scale, dtype=z.dtype)
    v = torch.abs(z - mean)
    return _std_normal_cdf((0.5 - v) / scale) - _std_normal_cdf((-0.5 - v) / scale)


def coding_scale(gc: GaussianConditional, scale: torch.Tensor) -> torch.Tensor:
    """The scale the range coder actually uses for ``scale``: the nearest entry of the fixed table."""
    table = torch.from_numpy(gc.scale_table()).to(scale.device)
    return table[gc.scale_index(scale).to(scale.device)].to(scale.dtype)


# ============================================================================ flat model


class DiscretizedVAE(AnalysisSynthesis):
    """Discretized VAE (Duan et al. 2022): uniform posterior, Gaussian-CDF-difference prior, MSE emission.

    Args:
        N: width of the analysis / synthesis transforms.
        M: latent channels.
        lambdas: rate points (loss = rate_bpp + lambda * 255^2 * MSE); one gain vector each.
    """

    kind = "dvae"
    title = "discretized VAE"
    stride = 16

    def __init__(self, N: int = 128, M: int = 192, lambdas=(0.0067,)):
        super().__init__(N, M, lambdas)
        self.prior_mean = nn.Parameter(torch.zeros(M))
        self.prior_raw_scale = nn.Parameter(torch.full((M,), math.log(math.e - 1.0)))  # softplus -> 1
        self.entropy_y = GaussianConditional()

    # -- prior
    def prior_params(self, gain: torch.Tensor):
        """Mean and scale ``[B, M, 1, 1]`` of the prior of the gain-scaled latents."""
        mean = self.prior_mean.view(1, -1, 1, 1) * gain
        scale = F.softplus(self.prior_raw_scale).view(1, -1, 1, 1) * gain
        return mean, scale

    def exact_prior(self, rate_idx: int):
        """Prior mean and scale ``[1, M, 1, 1]`` in float64 (the codec's path)."""
        idx = rate_index(rate_idx, 1, "cpu")
        gain = self.log_gain.detach().cpu().double()[idx].exp()[:, :, None, None]
        mean = self.prior_mean.detach().cpu().double().view(1, -1, 1, 1) * gain
        scale = F.softplus(self.prior_raw_scale.detach().cpu().double()).view(1, -1, 1, 1) * gain
        return mean, scale

    @torch.no_grad()
    def prior_pmf(self, rate_idx: int, k: torch.Tensor) -> torch.Tensor:
        """pmf ``[M, len(k)]`` of the integer symbols ``k`` (offsets from the prior mean) per channel."""
        _, scale = self.exact_prior(rate_idx)
        k = torch.as_tensor(k, dtype=torch.float64).view(1, -1)
        return discretized_gaussian_pmf(k, 0.0, scale.view(-1, 1))

    # -- model
    def forward(self, x: torch.Tensor, rate_idx=0) -> dict:
        gain, inv_gain, _ = self.gains(rate_idx, x.shape[0], x.device)
        y = self.g_a(x) * gain
        mean, scale = self.prior_params(gain)
        mean = mean.expand_as(y)
        y_hat = self.quantize(y.float(), mean.float())
        if self.training:
            bits = self.entropy_y.bits(y_hat, mean.float(), scale.float().expand_as(y))
        else:  # exactly what the range coder spends on round(y - mean)
            bits = self.entropy_y.coded_bits(y_hat - mean.float(), scale.expand_as(y)).float().to(y.device)
        return {"x_hat": self.synthesize(y_hat.to(y.dtype), inv_gain), "rate_bits": {"y": bits},
                "y": y, "mean": mean, "scale": scale}

    @torch.no_grad()
    def compress(self, x: torch.Tensor, rate_idx: int = 0, method=None, steps=None, seed=0, hw=None) -> Compressed:
        self.check_method(method)
        gain, inv_gain, _ = self.gains(rate_idx, 1, x.device)
        y = (self.analyze(x) * gain).double().cpu()
        mean, scale = self.exact_prior(rate_idx)
        sym = torch.round(y - mean)
        scale = scale.expand_as(sym)
        return Compressed([self.entropy_y.compress(sym, scale)], tuple(sym.shape[2:]),
                          self.reconstruct(sym + mean, inv_gain.cpu()),
                          {"y": self.entropy_y.information_bits(sym, scale)})

    @torch.no_grad()
    def decompress(self, sections: list[bytes], latent_shape, rate_idx: int = 0, extra: bytes = b"") -> torch.Tensor:
        self.check_stream(sections, extra)
        _, inv_gain, _ = self.gains(rate_idx, 1, "cpu")
        mean, scale = self.exact_prior(rate_idx)
        scale = scale.expand(1, self.M, *[int(v) for v in latent_shape])
        sym = self.entropy_y.decompress(sections[0], scale).double()
        return self.reconstruct(sym + mean, inv_gain)


# ============================================================================ hierarchical model


class ResBlock(nn.Module):
    """``x + conv3x3(gelu(conv3x3(gelu(x))))``; the residual branch starts small."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv1 = _conv3(channels, channels)
        self.conv2 = _conv3(channels, channels)
        with torch.no_grad():
            self.conv2.weight.mul_(0.1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(F.gelu(self.conv1(F.gelu(x))))


def _conv3(cin: int, cout: int) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 3, padding=1, padding_mode=PADDING)


def _down(cin: int, cout: int) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 4, stride=2, padding=1, padding_mode=PADDING)


def _up(cin: int, cout: int) -> nn.ConvTranspose2d:
    return nn.ConvTranspose2d(cin, cout, 4, stride=2, padding=1)


class HierarchicalDVAE(CompressionModel):
    """Hierarchical discretized VAE: ``levels`` discretized latent levels, top-down, residual blocks.

    Level ``i`` (0 = finest) has ``latent_channels`` channels at stride ``8 * 2**i``; the
    model's stride is ``8 * 2**(levels - 1)`` (32 for three levels).

    Args:
        channels: width C of every stage.
        latent_channels: channels K of every latent level.
        levels: number of latent levels (>= 2; Duan 2022 uses 3 and 12).
        blocks: residual blocks per stage (encoder and decoder).
        lambdas: rate points (loss = rate_bpp + lambda * 255^2 * MSE).
    """

    kind = "hdvae"
    title = "hierarchical discretized VAE"

    def __init__(self, channels: int = 64, latent_channels: int = 16, levels: int = 3, blocks: int = 1,
                 lambdas=(0.0067,)):
        super().__init__()
        if int(levels) < 2:
            raise ValueError("a hierarchical DVAE needs at least 2 latent levels")
        C, K, L = int(channels), int(latent_channels), int(levels)
        self.channels, self.latent_channels, self.levels, self.blocks = C, K, L, int(blocks)
        self.lambdas = [float(v) for v in lambdas]
        self.stride = 8 * 2 ** (L - 1)
        ref = math.exp(sum(math.log(v) for v in self.lambdas) / len(self.lambdas))
        init = torch.tensor([0.5 * math.log(v / ref) for v in self.lambdas])[:, None, None].expand(-1, L, K).clone()
        self.log_gain = nn.Parameter(init)  # [R, L, K]
        self.log_inv_gain = nn.Parameter(-init.clone())

        def stage(n):
            return [ResBlock(C) for _ in range(n)]

        # bottom-up: e_0 at stride 8, e_i = down(e_{i-1}) at stride 8 * 2^i
        self.stem = nn.Sequential(_down(3, C), nn.GELU(), _down(C, C), nn.GELU(), _down(C, C), *stage(self.blocks))
        self.enc = nn.ModuleList([nn.Sequential(_down(C, C), *stage(self.blocks)) for _ in range(L - 1)])
        # top-down
        self.top_mean = nn.Parameter(torch.zeros(K))
        self.top_raw_scale = nn.Parameter(torch.full((K,), math.log(math.e - 1.0)))
        self.post = nn.ModuleList(
            [nn.Sequential(_conv3(2 * C, C), nn.GELU(), _conv3(C, K))
             for _ in range(L - 1)]
            + [nn.Sequential(_conv3(C, C), nn.GELU(), _conv3(C, K))])
        self.prior = nn.ModuleList(
            [nn.Sequential(_conv3(C, C), nn.GELU(), _conv3(C, 2 * K))
             for _ in range(L - 1)])
        self.z_in = nn.ModuleList([_conv3(K, C) for _ in range(L)])
        self.dec = nn.ModuleList([nn.Sequential(*stage(self.blocks)) for _ in range(L)])
        self.up = nn.ModuleList([_up(C, C) for _ in range(L - 1)])  # up[i]: stride 8*2^(i+1) -> 8*2^i
        self.out = nn.Sequential(_up(C, C), nn.GELU(), _up(C, C), nn.GELU(), _up(C, 3))
        self.entropy = GaussianConditional()

    @property
    def config(self) -> dict:
        return {"kind": self.kind, "channels": self.channels, "latent_channels": self.latent_channels,
                "levels": self.levels, "blocks": self.blocks, "lambdas": self.lambdas}

    @property
    def num_sections(self) -> int:
        """One section per latent level, top level first."""
        return self.levels

    def level_shapes(self, image_hw) -> list[tuple[int, int]]:
        """Latent grid ``(h, w)`` of each level (0 = finest) for a padded image of size ``image_hw``."""
        H, W = (int(v) for v in image_hw)
        return [(H // (8 * 2 ** i), W // (8 * 2 ** i)) for i in range(self.levels)]

    def gains(self, rate_idx, batch: int, device, dtype=torch.float32):
        """Per-level gains and inverse gains, each a list of ``[B, K, 1, 1]`` tensors."""
        idx = rate_index(rate_idx, batch, device)
        g = self.log_gain.to(dtype)[idx].exp()
        ig = self.log_inv_gain.to(dtype)[idx].exp()
        return ([g[:, i, :, None, None] for i in range(self.levels)],
                [ig[:, i, :, None, None] for i in range(self.levels)])

    # -- the two passes
    def encode(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Bottom-up features ``e_i`` (0 = finest); the full-resolution stem runs in tiles on large images."""
        feats = [maybe_tiled(self.stem, x, Fraction(1, 8), 512, 64)]
        for block in self.enc:
            feats.append(block(feats[-1]))
        return feats

    def _top_prior(self, g: torch.Tensor, shape, dtype):
        mean = (self.top_mean.to(dtype).view(1, -1, 1, 1) * g).expand(shape)
        scale = (F.softplus(self.top_raw_scale.to(dtype)).view(1, -1, 1, 1) * g).expand(shape)
        return mean, scale

    def top_down(self, step, batch: int, top_hw, gains, inv_gains, feats=None, dtype=torch.float32):
        """Run the decoder from the top level down; ``step(i, q, mean, scale)`` returns the
        (gain-scaled) latent of level ``i`` given its posterior centre ``q`` (``None`` without
        ``feats``) and prior ``mean``, ``scale``. Returns the reconstruction (not clamped)."""
        L, K = self.levels, self.latent_channels
        h = None
        for i in reversed(range(L)):
            if i == L - 1:
                mean, scale = self._top_prior(gains[i], (batch, K, *top_hw), dtype)
                q = self.post[i](feats[i]) * gains[i] if feats is not None else None
            else:
                h = self.up[i](h)
                m, s = self.prior[i](h).chunk(2, dim=1)
                mean, scale = m * gains[i], F.softplus(s) * gains[i]
                q = self.post[i](torch.cat([h, feats[i].to(h.dtype)], 1)) * gains[i] if feats is not None else None
            z = step(i, q, mean, scale)
            zin = self.z_in[i](z.to(dtype) * inv_gains[i])
            h = zin if h is None else h + zin
            h = self.dec[i](h)
        return maybe_tiled(self.out, h, 8, 32, 4)  # stride 8 -> pixels, in tiles on large images

    # -- model
    def forward(self, x: torch.Tensor, rate_idx=0) -> dict:
        B = x.shape[0]
        gains, inv_gains = self.gains(rate_idx, B, x.device)
        feats = self.encode(x)
        rate_bits, symbols = {}, {}

        def step(i, q, mean, scale):
            q, mean, scale = q.float(), mean.float(), scale.float()
            if self.training:
                z = q + torch.empty_like(q).uniform_(-0.5, 0.5)
                rate_bits[f"z{i}"] = self.entropy.bits(z, mean, scale)
            else:
                k = torch.round(q - mean)
                z = mean + k
                symbols[f"z{i}"] = k
                rate_bits[f"z{i}"] = self.entropy.coded_bits(k, scale).float().to(k.device)
            return z

        x_hat = self.top_down(step, B, feats[-1].shape[2:], gains, inv_gains, feats, dtype=feats[-1].dtype)
        out = {"x_hat": x_hat, "rate_bits": rate_bits}
        if symbols:
            out["symbols"] = symbols
        return out

    @torch.no_grad()
    def compress(self, x: torch.Tensor, rate_idx: int = 0, method=None, steps=None, seed=0, hw=None) -> Compressed:
        self.check_method(method)
        feats = [f.double().cpu() for f in self.encode(x)]
        m64 = self.decoding_copy()
        gains, inv_gains = m64.gains(rate_idx, 1, "cpu", torch.float64)
        sections, bits = [None] * self.levels, {}

        def step(i, q, mean, scale):
            k = torch.round(q - mean)
            sections[self.levels - 1 - i] = self.entropy.compress(k, scale)
            bits[f"z{i}"] = self.entropy.information_bits(k, scale)
            return mean + k

        x_hat = m64.top_down(step, 1, feats[-1].shape[2:], gains, inv_gains, feats, dtype=torch.float64)
        return Compressed(sections, tuple(feats[-1].shape[2:]), x_hat.float(), bits)

    @torch.no_grad()
    def decompress(self, sections: list[bytes], latent_shape, rate_idx: int = 0, extra: bytes = b"") -> torch.Tensor:
        self.check_stream(sections, extra)
        return self.decompress_progressive(sections, latent_shape, rate_idx, self.levels)

    @torch.no_grad()
    def decompress_progressive(self, sections: list[bytes], latent_shape, rate_idx: int = 0,
                               received: int | None = None) -> torch.Tensor:
        """Progressive decoding: the image from the first ``received`` sections of a stream (top
        level first); every level not received takes its prior mean given the levels above. With
        all sections this is exactly :meth:`decompress`. Returns ``[1, 3, H, W]`` (not clamped).

        Example:
            >>> h = HierarchicalDVAE(channels=8, latent_channels=4, levels=3, lambdas=[0.01])
            >>> h.update()
            >>> c = h.compress(torch.rand(1, 3, 64, 64))
            >>> [tuple(h.decompress_progressive(c.sections, c.latent_shape, 0, n).shape) for n in (1, 3)]
            [(1, 3, 64, 64), (1, 3, 64, 64)]
        """
        received = self.levels if received is None else int(received)
        if not 0 <= received <= min(len(sections), self.levels):
            raise ValueError(f"received must be in 0..{min(len(sections), self.levels)}, got {received}")
        m64 = self.decoding_copy()
        gains, inv_gains = m64.gains(rate_idx, 1, "cpu", torch.float64)

        def step(i, q, mean, scale):
            j = self.levels - 1 - i  # the section of level i: the top level is section 0
            if j >= received:
                return mean
            k = self.entropy.decompress(sections[j], scale.contiguous())
            return mean + k.double()

        top_hw = tuple(int(v) for v in latent_shape)
        return m64.top_down(step, 1, top_hw, gains, inv_gains, None, dtype=torch.float64).float()

    # -- sampling
    @torch.no_grad()
    def unconditional_sample(self, n: int, shape=(64, 64), seed: int = 0, discrete: bool = True,
                             rate_idx: int | None = None, temperature: float = 1.0) -> dict:
        r"""Draw ``n`` images of size ``shape = (H, W)`` from the hierarchical prior.

        Every level draws standard normal numbers :math:`\varepsilon` from one generator seeded
        with ``seed`` (top level first, same order and shapes either way). Continuous latents:
        :math:`z = \mu + t\sigma\varepsilon`. Integer latents (``discrete=True``): the symbol
        :math:`k = \lfloor t\sigma\varepsilon \rceil` and :math:`z = \mu + k`; since
        :math:`P(\lfloor \sigma\varepsilon \rceil = k) = \Phi(\frac{k + 1/2}{\sigma}) - \Phi(\frac{k - 1/2}{\sigma})`,
        this is an exact draw from the discretized-Gaussian prior the codec uses, coupled to
        the continuous draw through the same :math:`\varepsilon`.

        Returns ``{"x": [n, 3, H, W] in [0, 1], "symbols": [...], "latents": [...]}`` with one
        ``[n, K, h_i, w_i]`` tensor per level, top level first (``symbols`` = ``z - mu``:
        integers when ``discrete``). ``rate_idx`` defaults to the last (highest) lambda;
        ``temperature`` ``t`` scales the prior's standard deviations.
        """
        H, W = (int(v) for v in shape)
        if H % self.stride or W % self.stride:
            raise ValueError(f"sample shape must be a multiple of the model stride {self.stride}, got {shape}")
        was_training = self.training
        self.eval()
        dev = self.top_mean.device
        rate_idx = len(self.lambdas) - 1 if rate_idx is None else int(rate_idx)
        gains, inv_gains = self.gains(rate_idx, 1, dev)
        gen = torch.Generator().manual_seed(int(seed))
        symbols, latents = [], []

        def step(i, q, mean, scale):
            eps = torch.randn(mean.shape, generator=gen, dtype=torch.float32).to(dev)
            k = temperature * scale * eps
            if discrete:
                k = torch.round(k)
            z = mean + k
            symbols.append(k)
            latents.append(z)
            return z

        top_hw = self.level_shapes((H, W))[-1]
        x = self.top_down(step, int(n), top_hw, [g.expand(int(n), -1, -1, -1) for g in gains],
                          [g.expand(int(n), -1, -1, -1) for g in inv_gains])
        self.train(was_training)
        return {"x": x.clamp(0, 1), "symbols": symbols, "latents": latents}


__all__ = ["DiscretizedVAE", "HierarchicalDVAE", "ResBlock", "discretized_gaussian_pmf", "coding_scale"]
