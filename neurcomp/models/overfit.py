r"""An overfitted per-image codec: latents, entropy model and a tiny decoder trained on the image itself.

The amortization gap taken to zero (Ladune et al. 2023, Cool-chic; Leguay et al. 2023; Kim et al. 2024,
C3): nothing is learned from a data set. Encoding *is* training, on the one image: Adam optimizes

* latent grids :math:`\hat y_0, \dots, \hat y_{G-1}` at resolutions :math:`1, 1/2, \dots, 1/2^{G-1}` of
  the image (one channel each);
* an *entropy model* (the ARM), a small MLP that predicts each latent's mean and log-scale from its
  context: the co-located 3 x 3 neighbourhood of the next coarser grid and those of its 16 neighbours in
  the same grid (:data:`NEIGHBOURS`: the 5 x 5 window less the offsets of the latent's own pass) that were
  decoded in an earlier pass (three passes per grid, :func:`pass_map`: a generalization of He et al.
  2021's checkerboard, so that a grid decodes in three vectorized passes instead of one latent at a time);
* a *synthesis*, which upsamples every grid to the image's size (repeated 2x steps with learned separable
  8-tap filters, one per step, initialized to bicubic interpolation; Cool-chic's upsampling is also learned)
  and maps the G values of each pixel to RGB (1 x 1 convolutions, then two residual 3 x 3 convolutions);

for the rate-distortion loss ``rate_bpp + lambda * 255^2 * MSE`` (the package's convention), with
soft rounding and noise in place of rounding for most of the steps and the straight-through estimator for
the last few. The latents learn at a higher rate (``latent_lr``) than the networks: with a budget of about
a thousand steps instead of Cool-chic's hundred thousand, latents that start at zero must be able to move
far enough (at the networks' rate they stay within a few quantization steps of zero; on a textured 256 x 256
crop that cost 0.5 dB at lambda 0.0067 and 4 dB at 0.0483). The ARM's and the synthesis' parameters are
then quantized with power-of-two steps chosen by the rate-distortion cost (their bits included) and sent
in the stream with the latents: the decoder needs nothing but the architecture (the model's config).

**Which width.** The networks' parameters are a fixed cost per image, a large one on a small image at a
low rate (on a 256 x 256 crop, 16 hidden units cost 0.10 to 0.16 bits per pixel), while a wider synthesis
is worth its bits at high rates. Like C3 (Kim et al. 2024), which tries several configurations per image,
the encoder fits every candidate of ``widths`` (pairs of ARM and synthesis widths; one per thread, up to
``torch.get_num_threads()`` at once) and keeps the one of lowest R-D cost, measured on its real stream and
decoded pixels; the stream's first byte says which.

**Where the networks start.** From seeded random weights by default (the stream then codes the quantized
parameters themselves), or from shipped starting networks (:meth:`OverfitCodec.set_init`, learned across
training photos by :mod:`neurcomp.train_overfit`; the zoo's ``warm`` preset): a thousand steps get further
from a start that already fits images, and the stream codes each parameter's quantized *difference* to its
starting value, which the decoder adds back.

**Exact decoding.** Everything the decoder computes runs in float64 on *dyadic* numbers: the parameters
are integers times :math:`2^{-p}`, the latents integers, and every layer's output is rounded to a
multiple of :math:`2^{-16}` (:data:`ACT_FRACTION_BITS`). Products and sums of such numbers need at most
52 significant bits, within float64's 53, so every sum is *exact*: its value does not depend on the
order of summation, the thread count, BLAS or the CPU (the error budget is in :func:`_dyadic`). The
entropy coder's table choices (``round(mean)``, the mean's 1/16 fraction, the scale level from the
log-scale) are then the same on every machine.

**Stream** (two sections): the parameters (one byte: the width; one byte per layer: the step exponent ``p``; one byte per
tensor: the table of its integers; then the integers, each parameter's difference to its starting value (or
zero) in steps ``2^-p``, range-coded under zero-mean discretized Gaussians)
and the latents (constriction's ANS stack, coarsest grid first, anchors then non-anchors, each latent
under the :class:`~neurcomp.entropy.OffsetGaussianConditional` table of its predicted mean and scale).

Decoding cost: :attr:`OverfitCodec.macs_per_pixel` (about 1,600 multiply-accumulates per pixel in the
default configuration, against about 43k for CompressAI's hyperprior).

Example (a 64 x 64 image, 40 steps: a real stream that decodes to the encoder's reconstruction):
    >>> import torch
    >>> m = OverfitCodec(grids=4, arm_hidden=8, synth_hidden=8, lambdas=[0.01], steps=40)
    >>> x = torch.rand(1, 3, 64, 64)
    >>> c = m.compress(x, 0)
    >>> torch.equal(m.decompress(c.sections, c.latent_shape, 0), c.x_hat), sorted(c.bits)
    (True, ['latents', 'params'])
"""
from __future__ import annotations

import concurrent.futures
import math
import threading

import constriction
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from ..entropy import CodingError, GaussianConditional, OffsetGaussianConditional, decode_symbols, encode_symbols
from ..entropy.gaussian import SCALE_MAX, SCALE_MIN
from .base import Compressed, CompressionModel
from .rate import rate_values

#: the layer layout's revision (in the zoo's architecture fingerprint): 2 added the 5 x 5 context window and
#: the learned upsampling filters, 3 the width byte that starts the parameter section
ARCHITECTURE_REVISION = 3
#: every decoder activation is rounded to a multiple of 2^-ACT_FRACTION_BITS (see the module docstring)
ACT_FRACTION_BITS = 16
#: the parameter step exponents p (step 2^-p) the encoder chooses from, per network
PARAM_STEP_EXPONENTS = tuple(range(3, 12))
#: decoding passes per grid (:func:`pass_map`) and the same-grid neighbours the ARM may see: the 5 x 5 window
#: less the offsets whose latent is always in the same pass (both even: (0, 2), (2, 2), ...)
PASSES = 3
NEIGHBOURS = ((-1, 0), (1, 0), (0, -1), (0, 1), (-1, -1), (-1, 1), (1, -1), (1, 1),
              (-2, -1), (-2, 1), (2, -1), (2, 1), (-1, -2), (1, -2), (-1, 2), (1, 2))
#: ARM input: 16 same-grid neighbours (those of earlier passes), the one-hot pass, the coarser grid's 3 x 3
ARM_INPUTS = len(NEIGHBOURS) + PASSES + 9
#: how the training relaxes rounding: C3's soft rounding around uniform noise, the same around Gaussian noise
#: whose std anneals from 0.25 to 0.1 (Cool-chic's c3x schedule), or plain uniform noise
RELAXATIONS = ("soft", "soft-gauss", "noise")


#: the upsampling filters start as cubic convolution (a = -1/2) at distances 1/4, 3/4, 5/4, 7/4: the taps
#: 222/256, 58/256, -18/256, -6/256 (each output's 4 taps add up to 1); the stream carries the learned
#: difference to them
BICUBIC_TAPS = (222.0 / 256, 58.0 / 256, -18.0 / 256, -6.0 / 256)
#: magnitudes the exact arithmetic allows: parameters below 2^6, activations and latents below 2^14 (with
#: 2^-11 parameter steps, 2^-16 activations and fan-ins up to 2^5: 27 fractional + 20 + 5 bits = 52 < 53)
PARAM_LIMIT, ACT_LIMIT = 2.0 ** 6, 2.0 ** 14


def _dyadic(t: torch.Tensor) -> torch.Tensor:
    """Round to a multiple of 2^-16. With parameters k 2^-p (``|.| < PARAM_LIMIT``, p <= 11) and inputs below
    ``ACT_LIMIT``, a product needs at most 16 + 11 + 6 + 14 = 47 bits and a sum of up to 2^5 such terms 52:
    float64's 53-bit significand holds every partial sum exactly, in any order. A value at or above the limit
    (only a damaged stream or a diverged fit gets there) is refused."""
    s = float(1 << ACT_FRACTION_BITS)
    if t.numel() and float(t.detach().abs().max()) >= ACT_LIMIT:
        raise CodingError(f"overfit decoder: an activation of magnitude {float(t.detach().abs().max()):.3g} is beyond "
                          f"the exact range (2^14)")
    return torch.round(t * s) / s


def upsample2(v: torch.Tensor, taps: torch.Tensor, r=lambda t: t) -> torch.Tensor:
    """2x upsampling of every channel of ``v`` ``[B, C, h, w]`` -> ``[B, C, 2h, 2w]`` with the symmetric
    separable 8-tap filter ``taps`` (``[a0, a1, a2, a3]``: the weights of the inputs 1/4, 3/4, 5/4 and 7/4 of
    an input step away from an output), along the rows then the columns, edges replicated; ``r`` rounds
    after each axis (the exact decoder's :func:`_dyadic`). With :data:`BICUBIC_TAPS` it is bicubic
    interpolation: a linear ramp stays a ramp.

    Example:
        >>> ramp = torch.arange(8.0).expand(1, 1, 4, 8)  # away from the edges, outputs at 1/4 and 3/4 of a step
        >>> upsample2(ramp, torch.tensor(BICUBIC_TAPS))[0, 0, 0, 3:9].tolist()
        [1.25, 1.75, 2.25, 2.75, 3.25, 3.75]
    """
    b, c, h, w = v.shape
    k = torch.cat([taps.flip(0), taps])
    t = F.pad(v.reshape(b * c, 1, h, w), (2, 2, 0, 0), mode="replicate")
    t = r(F.conv_transpose2d(t, k.reshape(1, 1, 1, 8), stride=(1, 2))[..., 7:7 + 2 * w])
    t = F.pad(t, (0, 0, 2, 2), mode="replicate")
    t = r(F.conv_transpose2d(t, k.reshape(1, 1, 8, 1), stride=(2, 1))[..., 7:7 + 2 * h, :])
    return t.reshape(b, c, 2 * h, 2 * w)


def soft_round(v: torch.Tensor, temperature: float) -> torch.Tensor:
    """Agustsson and Theis (2020)'s soft rounding: the identity as ``temperature`` -> infinity, ``round``
    as it -> 0; differentiable everywhere. ``floor(v) + 1/2 + tanh(r / T) / (2 tanh(1 / 2T))`` with
    ``r = v - floor(v) - 1/2``.

    Example:
        >>> soft_round(torch.tensor([0.3, 1.7]), 1e-3).tolist(), soft_round(torch.tensor([0.3]), 100.0).item() - 0.3 < 1e-4
        ([0.0, 2.0], True)
    """
    a = 1.0 / temperature
    f = torch.floor(v).detach()
    return f + 0.5 + torch.tanh(a * (v - f - 0.5)) / (2 * math.tanh(a / 2))


def _pointwise(h: torch.Tensor, conv: nn.Conv2d) -> torch.Tensor:
    """A 1 x 1 convolution applied to ``h`` ``[N, C_in]`` (one row per pixel or latent) -> ``[N, C_out]``."""
    return F.linear(h, conv.weight[:, :, 0, 0].to(h.dtype), conv.bias.to(h.dtype))


def pass_map(h: int, w: int, device=None) -> torch.Tensor:
    """The decoding pass of every latent of an ``h x w`` grid, ``[h, w]`` int64: 0 at (even, even), 1 at
    (odd, odd), 2 elsewhere. A quarter of the latents is decoded first (seeing only the coarser grid), a
    quarter next (seeing their 4 diagonal neighbours), the other half last (seeing their 4 direct ones).

    Example:
        >>> pass_map(2, 4).tolist()
        [[0, 2, 0, 2], [2, 1, 2, 1]]
    """
    i = torch.arange(h, device=device)[:, None] % 2
    j = torch.arange(w, device=device)[None, :] % 2
    return torch.where(i == j, i, torch.full_like(i + j, 2))


def _context(y: torch.Tensor, parent: torch.Tensor | None, passes: torch.Tensor) -> torch.Tensor:
    """The ARM's input for every latent of grid ``y`` ``[B, 1, h, w]``: its 16 neighbours, each zero unless
    decoded in an earlier pass (:func:`pass_map` ``passes``), the one-hot pass, the 3 x 3 neighbourhood of
    its parent in the coarser grid ``parent`` ``[B, 1, h/2, w/2]`` (zeros for the coarsest grid) ->
    ``[B, 28, h, w]``."""
    b, _, h, w = y.shape
    p = F.pad(y, (2, 2, 2, 2))
    q = F.pad(passes, (2, 2, 2, 2), value=PASSES)  # outside the image: never decoded
    feats = []
    for di, dj in NEIGHBOURS:
        known = (q[2 + di:2 + di + h, 2 + dj:2 + dj + w] < passes).to(y.dtype)
        feats.append(p[..., 2 + di:2 + di + h, 2 + dj:2 + dj + w] * known)
    feats += [(passes == k).to(y.dtype).expand(b, 1, h, w) for k in range(PASSES)]
    if parent is None:
        feats.append(y.new_zeros(b, 9, h, w))
    else:
        r = F.pad(parent, (1, 1, 1, 1), mode="replicate")
        hh, ww = parent.shape[-2:]
        nine = torch.cat([r[..., a:a + hh, c:c + ww] for a in range(3) for c in range(3)], 1)
        feats.append(nine.repeat_interleave(2, dim=2).repeat_interleave(2, dim=3))
    return torch.cat(feats, 1)


class OverfitCodec(CompressionModel):
    """The overfitted codec (module docstring). ``grids`` latent grids (finest: the image's resolution,
    so :attr:`stride` is ``2^(grids-1)``), an ARM with ``arm_hidden`` units in each of its 2 hidden layers,
    a synthesis ``synth_hidden`` wide, or ``widths``: several ``(arm_hidden, synth_hidden)`` candidates, the
    encoder keeps the best for each image (the model is built at the last until a stream says otherwise;
    :attr:`width_idx`); ``steps`` Adam steps per image (encoding time grows linearly with
    them) at learning rate ``lr`` for the networks and ``latent_lr`` for the latents, the last
    ``ste_fraction`` of them with hard rounding (straight-through) at ``ste_lr`` times those rates."""

    kind = "overfit"
    title = "overfitted codec"
    methods = ("overfit",)
    num_sections = 2
    extra_size = 0

    def __init__(self, grids: int = 7, arm_hidden: int = 16, synth_hidden: int = 16, lambdas=(0.0067,),
                 steps: int = 2000, lr: float = 0.01, ste_fraction: float = 0.05, relax: str = "soft",
                 ste_lr: float = 0.1, latent_lr: float = 0.05, widths=None, init: str | None = None):
        super().__init__()
        self.grids = int(grids)
        self.widths = [(int(a), int(s)) for a, s in (widths or [(arm_hidden, synth_hidden)])]
        self.lambdas = [float(v) for v in lambdas]
        self.steps, self.lr, self.ste_fraction = int(steps), float(lr), float(ste_fraction)
        if not 1 <= len(self.widths) <= 255:
            raise ValueError("widths: 1 to 255 (ARM, synthesis) pairs")
        if not all(1 <= v <= 30 for w in self.widths for v in w):  # fan-ins (with biases) up to 2^5: see _dyadic
            raise ValueError("hidden widths are 1 to 30 (the exact decoder's range)")
        if relax not in RELAXATIONS:
            raise ValueError(f"relax is one of {', '.join(RELAXATIONS)}, not {relax!r}")
        self.relax, self.ste_lr, self.latent_lr = relax, float(ste_lr), float(latent_lr)
        #: the name of the networks' starting point (:meth:`set_init`; ``None``: seeded random, coded from zero)
        self.init = init
        self.init_values: dict[str, dict[str, torch.Tensor]] | None = None
        self.stride = 2 ** (self.grids - 1)
        self.entropy = OffsetGaussianConditional()
        self.param_coder = GaussianConditional()
        self.latents: list[torch.Tensor] | None = None  # per image, not part of the weights (see fit)
        self._rng = torch.Generator().manual_seed(0)  # the training noise (reseeded by fit)
        self.quantized: dict | None = None  # after compress: the chosen steps and the parameters' bits
        self.build(len(self.widths) - 1)

    def build(self, width_idx: int) -> None:
        """Fresh networks (:meth:`reset_parameters`) of the candidate width ``widths[width_idx]``: the
        encoder fits every candidate and keeps the best by the R-D cost, the stream says which it was."""
        self.width_idx = int(width_idx)
        self.arm_hidden, self.synth_hidden = self.widths[self.width_idx]
        H, C, G = self.arm_hidden, self.synth_hidden, self.grids
        self.arm = nn.ModuleList([nn.Conv2d(ARM_INPUTS, H, 1), nn.Conv2d(H, H, 1), nn.Conv2d(H, 2, 1)])
        self.arm_grid_bias = nn.Parameter(torch.zeros(G, H))  # which grid a latent is in: a bias of layer 1
        self.up_taps = nn.Parameter(torch.zeros(G - 1, 4))  # each 2x step's filter, less BICUBIC_TAPS
        self.synth = nn.ModuleList([nn.Conv2d(G, C, 1), nn.Conv2d(C, C, 1), nn.Conv2d(C, 3, 1),
                                    nn.Conv2d(3, 3, 3, padding=1, padding_mode="replicate"),
                                    nn.Conv2d(3, 3, 3, padding=1, padding_mode="replicate")])
        self.reset_parameters()

    @property
    def config(self) -> dict:
        return {"kind": self.kind, "grids": self.grids, "widths": [list(w) for w in self.widths],
                "lambdas": self.lambdas, "steps": self.steps, "lr": self.lr,
                "ste_fraction": self.ste_fraction, "relax": self.relax, "ste_lr": self.ste_lr,
                "latent_lr": self.latent_lr, **({"init": self.init} if self.init else {})}

    # -- the networks
    def reset_parameters(self, seed: int = 0) -> None:
        """Fresh networks (seeded: encoding an image twice gives the same stream) and no latents."""
        g = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for conv in [*self.arm, *self.synth]:
                fan_in = conv.weight[0].numel()
                conv.weight.copy_(torch.randn(conv.weight.shape, generator=g) * math.sqrt(1.0 / fan_in))
                conv.bias.zero_()
            for conv in self.synth[3:]:  # the residual layers start as the identity
                conv.weight.zero_()
            self.arm[-1].weight.mul_(0.1)
            self.arm[-1].bias.copy_(torch.tensor([0.0, math.log(0.5)]))
            self.synth[2].bias.fill_(0.5)  # mid-grey before anything is learned
            self.arm_grid_bias.zero_()
            self.up_taps.zero_()
            for name, t in self.named_parameters():  # a shipped starting point replaces the random one
                if (v := self._init_of(name, t)) is not None:
                    t.copy_(v)
        self.latents, self.quantized = None, None

    def set_init(self, values: dict[str, dict[str, torch.Tensor]]) -> None:
        """The networks' starting point, per candidate width: ``{"AxS": {parameter name: tensor}}`` (``"16x16"``
        for ARM and synthesis 16 wide), every value a multiple of ``2^-11`` below ``2^6`` in magnitude (the
        exact decoder's range). Encoding starts from it instead of random weights, and the stream codes each
        parameter's *difference* to it, so a decoder needs the same values (the zoo's ``overfit`` presets load
        them from a file whose hash is in the architecture's fingerprint)."""
        for key, tensors in values.items():
            for name, t in tensors.items():
                v = t.double()
                if (v.abs() >= PARAM_LIMIT).any() or not torch.equal(v, torch.round(v * 2.0 ** 11) / 2.0 ** 11):
                    raise ValueError(f"init {key} {name}: values are multiples of 2^-11 below 2^6 in magnitude")
        self.init_values = {k: {n: t.double() for n, t in v.items()} for k, v in values.items()}
        self.reset_parameters()

    def _init_of(self, name: str, t: torch.Tensor) -> torch.Tensor | None:
        """The shipped starting value of parameter ``name`` (shape of ``t``) at the current width, float64, or
        None (then the parameter starts random and the stream codes it from zero)."""
        got = (self.init_values or {}).get(f"{self.arm_hidden}x{self.synth_hidden}", {}).get(name)
        if got is not None and got.shape != t.shape:
            raise ValueError(f"init {name}: shape {tuple(got.shape)}, the model's is {tuple(t.shape)}")
        return got

    def param_groups(self) -> dict[str, list[nn.Parameter]]:
        """The layers whose parameters the stream carries, in stream order, each with its own quantization
        step: the ARM's per-grid bias and its 3 layers (``arm.grid``, ``arm.0`` ...), the upsampling filters
        (``up``), the synthesis' 5 (``synth.0`` ...); a layer's weight and bias share the step."""
        groups = {"arm.grid": [self.arm_grid_bias]}
        for net in ("arm", "synth"):
            for i, conv in enumerate(getattr(self, net)):
                groups[f"{net}.{i}"] = [conv.weight, conv.bias]
            if net == "arm":
                groups["up"] = [self.up_taps]
        return groups

    @property
    def macs_per_pixel(self) -> float:
        """Multiply-accumulates per decoded pixel: the ARM once per latent (``4/3`` latents per pixel as the
        grids halve), the synthesis once per pixel, the upsampling's 6 per output value of each 2x step and
        grid (4 taps along the rows for half the outputs, 4 along the columns for all)."""
        H, C, G = self.arm_hidden, self.synth_hidden, self.grids
        latents_per_px = sum(4.0 ** -k for k in range(G))
        arm = ARM_INPUTS * H + H * H + 2 * H
        synth = G * C + C * C + 3 * C + 2 * 27 * 3
        up = sum(6 * sum(4.0 ** -j for j in range(k)) for k in range(1, G))  # grid k is upsampled k times
        return latents_per_px * arm + synth + up

    def _arm(self, ctx: torch.Tensor, grid: int, exact: bool):
        """Mean and log-scale ``[B, 1, h, w]`` each of the latents of grid ``grid`` whose context is ``ctx``
        ``[B, ARM_INPUTS, h, w]``."""
        return self._arm_grids([ctx], [grid], exact)[0]

    def _arm_grids(self, ctxs: list[torch.Tensor], grids, exact: bool):
        """:meth:`_arm` of several grids in one pass of the MLP (its 1 x 1 layers as matrix products over
        all their latents: fewer, larger products than one per grid, and faster than convolutions on a
        CPU; every row is computed alone, so batching changes no bit of the exact arithmetic)."""
        r = _dyadic if exact else (lambda t: t)
        rows = [c.permute(0, 2, 3, 1).reshape(-1, ARM_INPUTS) for c in ctxs]
        counts = [len(t) for t in rows]
        h = torch.cat(rows) if len(rows) > 1 else rows[0]
        bias = torch.repeat_interleave(self.arm_grid_bias[list(grids)].to(h.dtype),
                                       torch.tensor(counts, device=h.device), dim=0)
        h = torch.relu(r(_pointwise(h, self.arm[0]) + bias))
        h = torch.relu(r(_pointwise(h, self.arm[1])))
        out = r(_pointwise(h, self.arm[2]))
        res = []
        for c, o in zip(ctxs, torch.split(out, counts)):
            b, _, hh, ww = c.shape
            o = o.reshape(b, hh, ww, 2).permute(0, 3, 1, 2)
            res.append((o[:, :1], o[:, 1:]))
        return res

    def _synthesize(self, y_hat: list[torch.Tensor], exact: bool) -> torch.Tensor:
        r = _dyadic if exact else (lambda t: t)
        up = y_hat[-1]  # coarsest first: grid k is upsampled k times, all coarser grids in one call per step
        bicubic = torch.tensor(BICUBIC_TAPS, dtype=up.dtype)
        for k in reversed(range(self.grids - 1)):
            up = torch.cat([y_hat[k], upsample2(up, bicubic + self.up_taps[k].to(up.dtype), r)], 1)
        b, _, hh, ww = up.shape
        h = up.permute(0, 2, 3, 1).reshape(-1, self.grids)
        h = r(torch.relu(_pointwise(h, self.synth[0])))
        h = r(torch.relu(_pointwise(h, self.synth[1])))
        h = r(_pointwise(h, self.synth[2])).reshape(b, hh, ww, 3).permute(0, 3, 1, 2)
        h = r(h + self.synth[3](h))
        return r(h + self.synth[4](torch.relu(h)))

    def _means_scales(self, y_hat: list[torch.Tensor], exact: bool):
        """``[(mean, log_scale)]`` per grid, every latent's distribution given its (causal) context."""
        ctx = [_context(v, y_hat[k + 1] if k + 1 < self.grids else None, pass_map(*v.shape[-2:], v.device))
               for k, v in enumerate(y_hat)]
        return self._arm_grids(ctx, range(self.grids), exact)

    # -- one image's latents
    def _grid_shapes(self, b: int, h: int, w: int):
        if h % self.stride or w % self.stride:
            raise ValueError(f"an overfit model codes images whose sides are multiples of {self.stride}, not {h}x{w}")
        return [(b, 1, h >> k, w >> k) for k in range(self.grids)]

    def _ensure_latents(self, x: torch.Tensor) -> list[torch.Tensor]:
        shapes = self._grid_shapes(x.shape[0], *x.shape[-2:])
        if self.latents is None or [tuple(t.shape) for t in self.latents] != shapes:
            self.latents = [torch.zeros(s, device=x.device, requires_grad=True) for s in shapes]
        return self.latents

    def _quantize_latents(self, mode: str, temperature: float = 0.3, noise_std: float = 0.25) -> list[torch.Tensor]:
        if mode == "soft":  # Kim et al. 2024 (C3): soft rounding, uniform noise, soft rounding again
            return [soft_round(soft_round(v, temperature) + torch.empty_like(v).uniform_(-0.5, 0.5, generator=self._rng),
                               temperature) for v in self.latents]
        if mode == "soft-gauss":  # the same with Gaussian noise of std noise_std
            return [soft_round(soft_round(v, temperature) + noise_std * torch.randn(v.shape, generator=self._rng),
                               temperature) for v in self.latents]
        if mode == "noise":
            return [v + torch.empty_like(v).uniform_(-0.5, 0.5, generator=self._rng) for v in self.latents]
        if mode == "ste":
            return [v + (torch.round(v) - v).detach() for v in self.latents]
        return [torch.round(v) for v in self.latents]

    def forward(self, x: torch.Tensor, rate_idx=0, mode: str | None = None, temperature: float = 0.3,
                noise_std: float = 0.25) -> dict:
        """The R-D terms of the current latents and networks on ``x`` (the image being fitted; new latents,
        all zero, when its shape differs from the last one's). ``mode``: ``"soft"`` (soft rounding with
        noise at ``temperature``) or ``"noise"`` (the training default: the config's ``relax``), ``"ste"`` or
        ``"round"`` (the eval default). In eval mode ``rate_bits`` are what the coder writes:
        ``"latents"`` per latent under the coding tables and, after :meth:`compress`, ``"params"`` (the
        networks' bits, per parameter)."""
        self._ensure_latents(x)
        mode = mode or (self.relax if self.training else "round")
        y_hat = self._quantize_latents(mode, temperature, noise_std)
        x_hat = self._synthesize(y_hat, exact=False)
        if self.training or mode != "round":
            bits = [self.entropy.bits(v, m, ls.exp().clamp(SCALE_MIN, SCALE_MAX))
                    for v, (m, ls) in zip(y_hat, self._means_scales(y_hat, exact=False))]
            return {"x_hat": x_hat, "rate_bits": {"latents": torch.cat([b.flatten(1) for b in bits], 1)}}
        with torch.no_grad():  # the coder's tables, chosen by the decoder's exact float64 arithmetic
            y64 = [v.detach().double().cpu() for v in y_hat]
            exact = self.decoding_copy()._means_scales(y64, exact=True)
            bits = torch.cat([self.entropy.coded_bits(v, m, None, log_scale=ls).flatten(1).float()
                              for v, (m, ls) in zip(y64, exact)], 1)
        rate = {"latents": bits}
        if self.quantized is not None:
            rate["params"] = torch.full((x.shape[0], 1), float(self.quantized["bits"]))
        return {"x_hat": x_hat, "rate_bits": rate}

    # -- encoding = training on the image
    def fit(self, x: torch.Tensor, rate_idx: int = 0, steps: int | None = None, seed: int = 0, progress=None,
            hw=None) -> dict:
        """Train latents and networks on ``x`` ``[1, 3, H, W]`` for ``steps`` (default: the config's) at
        the lambda of ``rate_idx``; ``progress(step, steps, bpp, psnr)`` is called every 50 steps (bits per
        pixel of the latents, dB). ``hw``: the image's size when ``x`` is padded beyond it (the distortion is
        measured on the image only). Returns the last step's ``{"bpp", "psnr"}``."""
        steps = self.steps if steps is None else int(steps)
        h, w = hw or x.shape[-2:]
        self.reset_parameters(seed)
        self._rng = torch.Generator().manual_seed(seed)  # the relaxation's noise (not torch's global generator:
        # candidates fitted at once in threads each draw their own)
        self.train()
        latents = self._ensure_latents(x)
        lam = float(rate_values(self.lambdas, rate_idx, 1, "cpu")[0])
        opt = torch.optim.Adam([{"params": latents, "base_lr": self.latent_lr},
                                {"params": list(self.parameters()), "base_lr": self.lr}])
        ste_from = int(round(steps * (1 - self.ste_fraction)))
        last = {"bpp": float("nan"), "psnr": float("nan")}
        for step in range(steps):
            mode = self.relax if step < ste_from else "ste"
            temperature = 0.3 + (0.1 - 0.3) * step / max(1, ste_from)  # C3's soft-rounding schedule, 0.3 -> 0.1
            noise_std = 0.25 + (0.1 - 0.25) * step / max(1, ste_from)  # (soft-gauss) Gaussian noise, 0.25 -> 0.1
            frac = step / max(1, steps)
            for g in opt.param_groups:  # cosine decay to 0 (a restart at ste_lr times the rates for the straight-through steps)
                g["lr"] = g["base_lr"] * (0.5 * (1 + math.cos(math.pi * frac)) if mode != "ste"
                                          else self.ste_lr * 0.5 * (1 + math.cos(math.pi * (step - ste_from) / max(1, steps - ste_from))))
            out = self.forward(x, rate_idx, mode=mode, temperature=temperature, noise_std=noise_std)
            bpp = out["rate_bits"]["latents"].sum() / (x.shape[-2] * x.shape[-1])
            mse = ((out["x_hat"] - x)[..., :h, :w] ** 2).mean()
            loss = bpp + lam * 255.0 ** 2 * mse
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if progress is not None and (step % 50 == 0 or step == steps - 1):
                last = {"bpp": float(bpp.detach()), "psnr": float(-10 * torch.log10(mse.detach().clamp_min(1e-10)))}
                progress(step + 1, steps, last["bpp"], last["psnr"])
        self.eval()
        return last

    def _quantize_params(self, exponents: dict[str, int]) -> tuple[list, list, dict[str, float]]:
        """Integers and table indexes of every parameter tensor at steps ``2^-p``, and the bits of each layer."""
        ints, tables, bits = [], [], {}
        coder = self.param_coder
        for name, params in self.param_groups().items():
            p = exponents[name]
            for t in params:
                ref = self._reference(t)  # the stream codes t - ref (ref: the shipped starting point, or 0)
                lo = torch.ceil((-PARAM_LIMIT + 2.0 ** -11 - ref) * 2.0 ** p)  # the exact arithmetic's range (_dyadic)
                hi = torch.floor((PARAM_LIMIT - 2.0 ** -11 - ref) * 2.0 ** p)
                q = torch.minimum(torch.maximum(torch.round((t.detach().double().cpu() - ref) * 2.0 ** p), lo), hi)
                idx = int(coder.scale_index(q.std(unbiased=False).clamp_min(SCALE_MIN).reshape(1))[0])
                ints.append(q)
                tables.append(idx)
                bits[name] = bits.get(name, 0.0) + coder.tables().information_bits(
                    q.numpy().astype(np.int64).ravel(), np.full(q.numel(), idx, np.int64))
        return ints, tables, bits

    def _set_params(self, ints: list, exponents: dict[str, int]) -> None:
        it = iter(ints)
        with torch.no_grad():
            for name, params in self.param_groups().items():
                for t in params:
                    t.copy_((self._reference(t) + next(it) / 2.0 ** exponents[name]).to(t.dtype))

    def _reference(self, t: nn.Parameter) -> torch.Tensor:
        """What the stream codes parameter ``t``'s difference to: its shipped starting value, or zeros."""
        name = next(n for n, v in self.named_parameters() if v is t)
        got = self._init_of(name, t)
        return torch.zeros(t.shape, dtype=torch.float64) if got is None else got

    @torch.no_grad()
    def _rd_cost(self, x: torch.Tensor, lam: float, exponents: dict[str, int], floats: list) -> float:
        """The R-D cost (bits per pixel + lambda 255^2 MSE) with the layers quantized at ``exponents``: the
        latents' rate from the continuous likelihood (float32; close to the tables', and fast)."""
        self._restore(floats)
        ints, _, pbits = self._quantize_params(exponents)
        pbits = sum(pbits.values())
        self._set_params(ints, exponents)
        y_hat = [torch.round(v.detach()) for v in self.latents]
        bits = sum(float(self.entropy.bits(v, m, ls.exp().clamp(SCALE_MIN, SCALE_MAX)).sum())
                   for v, (m, ls) in zip(y_hat, self._means_scales(y_hat, exact=False)))
        mse = float(((self._synthesize(y_hat, exact=False).clamp(0, 1) - x) ** 2).mean())
        return (bits + pbits) / (x.shape[-2] * x.shape[-1]) + lam * 255.0 ** 2 * mse

    @torch.no_grad()
    def _choose_steps(self, x: torch.Tensor, lam: float) -> dict[str, int]:
        """The step exponent of every layer, by the R-D cost (latent and parameter bits, distortion): first
        one per network (the other in fine steps), then each layer within 2 of its network's; the networks
        are left in float (the caller quantizes them)."""
        floats = [t.detach().clone() for ps in self.param_groups().values() for t in ps]
        names = list(self.param_groups())
        chosen = dict.fromkeys(names, max(PARAM_STEP_EXPONENTS))

        def best(candidates, layers):
            costs = [(self._rd_cost(x, lam, {**chosen, **dict.fromkeys(layers, p)}, floats), p) for p in candidates]
            return min(costs)[1]

        for net in ("arm", "synth"):
            layers = [n for n in names if n.startswith(net)]
            chosen.update(dict.fromkeys(layers, best(PARAM_STEP_EXPONENTS, layers)))
        for name in names:
            near = [p for p in PARAM_STEP_EXPONENTS if abs(p - chosen[name]) <= 2]
            chosen[name] = best(near, [name])
        self._restore(floats)
        return chosen

    def _restore(self, floats: list) -> None:
        it = iter(floats)
        with torch.no_grad():
            for ps in self.param_groups().values():
                for t in ps:
                    t.copy_(next(it))

    # -- the stream
    def _plan_chunks(self):
        """Decoding order: coarsest grid first; in each, its passes in order (:func:`pass_map`)."""
        for k in reversed(range(self.grids)):
            for q in range(PASSES):
                yield k, q

    def _code_latents(self, y_hat: list[torch.Tensor] | None, shapes, ans) -> tuple[list[torch.Tensor], list[float]]:
        """Encode (``y_hat`` given: pushed in reverse decoding order) or decode (``y_hat`` None: popped) the
        latents with the ARM of this model's float64 copy (quantized parameters: exact arithmetic). Returns
        the latents and, when encoding, the bits the coder spends on each grid (finest first)."""
        m64 = self.decoding_copy()
        known = [torch.zeros(s, dtype=torch.float64) for s in shapes]
        chunks = []
        for k, q in self._plan_chunks():
            mean, ls = m64._grid_params(known, k)
            sel = (pass_map(*shapes[k][-2:]) == q).expand(shapes[k])
            if y_hat is None:
                vals = self.entropy.pop(ans, mean[sel], None, log_scale=ls[sel])
            else:
                vals = y_hat[k].double()[sel]
                chunks.append((k, vals, mean[sel], ls[sel]))
            grid = known[k].clone()
            grid[sel] = vals
            known[k] = grid
        bits = [0.0] * self.grids
        for k, vals, mean, ls in reversed(chunks):  # a stack: the first chunk decoded is pushed last
            self.entropy.push(ans, vals, mean, None, log_scale=ls)
            bits[k] += float(self.entropy.coded_bits(vals, mean, None, log_scale=ls).sum())
        return known, bits

    def _grid_params(self, known: list[torch.Tensor], k: int):
        parent = known[k + 1] if k + 1 < self.grids else None
        return self._arm(_context(known[k], parent, pass_map(*known[k].shape[-2:])), k, exact=True)

    @torch.no_grad()
    def compress(self, x: torch.Tensor, rate_idx: int = 0, method=None, steps=None, seed=0, hw=None,
                 progress=None) -> Compressed:
        """Fit the image (:meth:`fit`) with the networks of every candidate width, quantize them, write the
        two sections, keep the candidate of lowest R-D cost (its real bits, its decoded pixels). The model
        keeps that candidate's networks and latents (its eval-mode ``forward`` gives the coded rate)."""
        self.check_method(method)
        self._check_init()
        x = x.detach().float().cpu()
        lam = float(rate_values(self.lambdas, rate_idx, 1, "cpu")[0])
        h, w = hw or x.shape[-2:]
        n = len(self.widths)
        workers = min(n, torch.get_num_threads())
        steps_done, lock = [0] * n, threading.Lock()

        def fit_one(i: int):
            if workers > 1:
                torch.set_num_threads(1)  # this thread's own setting (OpenMP's is per thread)
            m = self if n == 1 else type(self)(**{k: v for k, v in self.config.items() if k != "kind"})
            m.init_values = self.init_values  # the same starting networks (and coding reference)
            m.build(i)

            def report(step, total, bpp, psnr):
                if progress is not None:
                    with lock:
                        steps_done[i] = step
                        progress(sum(steps_done), n * total, bpp, psnr)
            c = m._compress_built(x, rate_idx, lam, steps, seed, hw, report)
            mse = float(((c.x_hat - x)[..., :h, :w] ** 2).mean())
            return sum(c.bits.values()) / (h * w) + lam * 255.0 ** 2 * mse, c, m

        if workers > 1:  # one candidate per thread, each fitting on one core (same arithmetic as one thread)
            threads = torch.get_num_threads()
            torch.set_num_threads(1)
            try:
                with concurrent.futures.ThreadPoolExecutor(workers) as pool:
                    fitted = list(pool.map(fit_one, range(n)))
            finally:
                torch.set_num_threads(threads)
        else:
            fitted = [fit_one(i) for i in range(n)]
        i = min(range(n), key=lambda j: fitted[j][0])  # the lowest cost; the first of equals
        _, c, m = fitted[i]
        c.info["width_rd_costs"] = [f[0] for f in fitted]  # bits per pixel + lambda 255^2 MSE of each candidate
        if m is not self:
            self.build(i)
            self.load_state_dict(m.state_dict())
            self.latents, self.quantized = m.latents, m.quantized
        return c

    def _compress_built(self, x: torch.Tensor, rate_idx: int, lam: float, steps, seed, hw, progress) -> Compressed:
        """:meth:`compress` with the networks of the current width."""
        with torch.enable_grad():
            last = self.fit(x, rate_idx, steps, seed, progress, hw)
        exponents = self._choose_steps(x, lam)
        ints, tables, layer_bits = self._quantize_params(exponents)
        header_bits = 8 * (1 + len(exponents) + len(tables))  # the width, a step exponent per layer, a table per tensor
        pbits = sum(layer_bits.values()) + header_bits
        self._set_params(ints, exponents)
        params = bytes([self.width_idx, *exponents.values(), *tables]) + encode_symbols(
            torch.cat([q.reshape(-1) for q in ints]).numpy().astype(np.int64),
            np.concatenate([np.full(q.numel(), i, np.int64) for q, i in zip(ints, tables)]), self.param_coder.tables())
        self.quantized = {"exponents": exponents, "bits": pbits}
        shapes = self._grid_shapes(1, *x.shape[-2:])
        y_hat = [torch.round(v.detach()) for v in self.latents]
        ans = constriction.stream.stack.AnsCoder()
        _, grid_bits = self._code_latents(y_hat, shapes, ans)
        latent_bits = sum(grid_bits)
        x_hat = self.decoding_copy()._synthesize([v.double() for v in y_hat], exact=True).clamp(0, 1).float()
        latents = ans.get_compressed().tobytes()
        info = {"latent_bpp": latent_bits / x[0, 0].numel(), "param_bits": pbits,
                "steps": self.steps if steps is None else int(steps), "macs_per_pixel": self.macs_per_pixel,
                "widths": [self.arm_hidden, self.synth_hidden],
                "fit_psnr": last["psnr"], "param_step_exponents": exponents,
                # where the bits go: each latent grid (finest first), each layer's parameters, their header
                "latent_bits_by_grid": grid_bits, "param_bits_by_layer": {**layer_bits, "header": header_bits}}
        return Compressed([params, latents], tuple(s >> (self.grids - 1) for s in x.shape[-2:]), x_hat,
                          {"latents": latent_bits, "params": pbits}, info=info)

    def _check_init(self) -> None:
        if self.init and self.init_values is None:
            raise ValueError(f"this overfit model starts from the networks {self.init!r}: load them first (set_init; "
                             f"the zoo's presets do)")

    @torch.no_grad()
    def decompress(self, sections, latent_shape, rate_idx: int = 0, extra: bytes = b"") -> torch.Tensor:
        self._check_init()
        self.check_stream(sections, extra)
        params, latents = sections
        if len(params) < 1:
            raise CodingError("overfit stream: parameter section too short")
        if params[0] >= len(self.widths):
            raise CodingError("overfit stream: width out of range")
        self.build(params[0])
        params = params[1:]
        groups = self.param_groups()
        n_tensors, n_layers = sum(len(v) for v in groups.values()), len(groups)
        if len(params) < n_layers + n_tensors:
            raise CodingError("overfit stream: parameter section too short")
        exponents = dict(zip(groups, params[:n_layers]))
        if not all(p in PARAM_STEP_EXPONENTS for p in exponents.values()):
            raise CodingError("overfit stream: parameter step out of range")
        tables = list(params[n_layers:n_layers + n_tensors])
        if max(tables) >= len(self.param_coder.tables()):
            raise CodingError("overfit stream: parameter table out of range")
        sizes = [t.numel() for ps in groups.values() for t in ps]
        vals = decode_symbols(params[n_layers + n_tensors:], np.concatenate([np.full(n, i, np.int64) for n, i in zip(sizes, tables)]),
                              self.param_coder.tables())
        chunks = np.split(vals, np.cumsum(sizes)[:-1])
        shapes_t = [t.shape for ps in groups.values() for t in ps]
        self._set_params([torch.from_numpy(c.astype(np.float64)).reshape(s) for c, s in zip(chunks, shapes_t)], exponents)
        h, w = (int(v) << (self.grids - 1) for v in latent_shape)
        shapes = self._grid_shapes(1, h, w)
        if len(latents) % 4:
            raise CodingError("overfit stream: latent section is not whole 32-bit words")
        ans = constriction.stream.stack.AnsCoder(np.frombuffer(latents, np.uint32).copy())
        y_hat, _ = self._code_latents(None, shapes, ans)
        return self.decoding_copy()._synthesize(y_hat, exact=True).clamp(0, 1).float()


__all__ = ["OverfitCodec", "ACT_FRACTION_BITS", "ARCHITECTURE_REVISION", "BICUBIC_TAPS", "NEIGHBOURS",
           "PARAM_STEP_EXPONENTS", "pass_map", "soft_round", "upsample2"]
