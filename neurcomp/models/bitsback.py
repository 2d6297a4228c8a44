r"""The bits-back hyperprior of Yang, Bamler & Mandt (2020, section 3.3 and supplement S2).

The mean-scale hyperprior (:class:`~neurcomp.models.hyperprior.MeanScaleHyperprior`) with two
changes that make lossy bits-back coding possible:

1. the hyper-analysis ``h_a`` outputs a mean *and* a log-variance: ``q(z | x) = N(mu_z, sigma_z^2)``
   (a Gaussian of learned width instead of the unit-width box of uniform-noise training);
2. the hyperprior ``p(z)`` is the flexible density itself, not convolved with a uniform: ``z`` is
   coded on the fine grid ``z_bin * k`` (``z_bin = 1/16`` by default) with
   ``P(z_hat) = F(z_hat + z_bin/2) - F(z_hat - z_bin/2)`` (:class:`~neurcomp.entropy.FactorizedDensity`
   with ``bin_width = z_bin``).

``y`` is quantized to the *integer* grid (not relative to the predicted mean, as the other
hyperpriors do): the encoder must fix ``y_hat`` before it knows ``z_hat`` (``z_hat`` is decoded
from the side information with a ``Q`` that depends on ``y_hat``), so ``y_hat`` cannot depend on
``z_hat``. Its symbols are coded under :class:`~neurcomp.entropy.OffsetGaussianConditional` (a
table per scale and per fractional part of the predicted mean).

Training minimizes the NELBO, ``E_q[-log2 p(y~ | z) - log2 p(z) + log2 q(z | x)] + lambda * 255^2 * D``:
the rate in ``forward``'s ``rate_bits`` has the parts ``y`` and ``z`` (bits written) and
``z_back`` (<= 0 on average: ``log2 (q(z) z_bin)``, minus the bits the decoder gets back), so
their sum is the *net* rate (file minus returned side information). Coding is
:mod:`neurcomp.bitsback` (Algorithm 1 on constriction's ANS stack coder).

Stream format (:meth:`BitsBackHyperprior.compress`; the ``.ncz`` container of
:mod:`neurcomp.container` around it): one section, the ANS stack as 32-bit little-endian words, which
unseals to the side information; ``extra`` (:meth:`~BitsBackHyperprior.pack_extra`)::

    bbvi      uint32   BBVI steps of reproducible_bbvi (0..2000)
    seed      uint32   its seed (and the random words' seed)
    pad       uint8    zero bytes that fill the side information's last word (0..3)
    length    uint32   only if the side information was topped up: its length in bytes
                       (pad == -length mod 4); extra is then 13 bytes instead of 9

A side information shorter than what the image takes from the stack (a caption, even empty) is
*topped up*: ``n >= 1`` words ``initial_words(seed, n)`` go on top of it, so the image takes from
them first (:meth:`~BitsBackHyperprior.start_stack`); the decoder checks them and gives back the
first ``length`` bytes (:func:`side_info_bytes`). Streams without side information, or with enough
of it, have 9 bytes of ``extra`` and the bytes they had before top-ups existed. Accounting:
``side_info_bits`` is what the decoder gives back, ``initial_bits`` the random bits the file carries
(a top-up's included).

Example:
    >>> import torch
    >>> m = BitsBackHyperprior(N=8, M=12, lambdas=[0.01, 0.05])
    >>> out = m(torch.rand(2, 3, 64, 64), rate_idx=1)
    >>> sorted(out["rate_bits"]), out["x_hat"].shape
    (['y', 'z', 'z_back'], torch.Size([2, 3, 64, 64]))
"""
from __future__ import annotations

import math
import struct
import time
from dataclasses import dataclass, field

import constriction
import numpy as np
import torch
import torch.nn as nn

from ..entropy import CodingError, FactorizedDensity, GaussianConditional, OffsetGaussianConditional
from ..inference.bbvi import DEFAULT_STEPS, joint_sga_bbvi, reproducible_bbvi
from ..inference.interface import BitsBackCoder
from ..layers import conv
from .base import Compressed
from .hyperprior import MeanScaleHyperprior

#: the posterior's standard deviation at initialization (in units of z before the per-lambda hyper
#: gain): 0.29 is the std of the unit-width uniform noise the warm-start hyperprior was trained with
SIGMA_INIT = 0.29
LOG2E = 1.0 / math.log(2.0)
#: the most BBVI steps a stream may ask the decoder for (the paper's 2000): decoding costs at most that many
#: steps, whatever a forged stream says
MAX_BBVI_STEPS = 2000
#: the most encoder-side (SGA + BBVI) steps
MAX_STEPS = 10_000
#: the bits that must remain on the stack after z is decoded from it (one 32-bit word): fewer means
#: the side information ran out and z was decoded from the coder's empty state, not from bits
SIDE_INFO_MARGIN_BITS = 32


class BitsBackParameterError(ValueError):
    """A step count or seed a bits-back stream cannot record (a usage error)."""


class SideInfoTooShort(CodingError):
    """The side information (or the stack under an archive's image) has fewer bits than ``Q(z_hat)`` takes."""


@dataclass
class PreparedImage:
    """An image's integer latents ``y_hat`` and the posterior ``Q`` (``mu``, ``sigma``: float64, in
    units of z) that both encoder and decoder derive from them; ``info``: seconds and steps."""

    y_hat: torch.Tensor
    mu: torch.Tensor
    sigma: torch.Tensor
    rate_idx: int
    bbvi_steps: int
    seed: int
    info: dict = field(default_factory=dict)


@dataclass
class StackedImage:
    """What :meth:`BitsBackHyperprior.push_image` did to the stack.

    ``bits``: information content in bits of what was written (``y``, ``z``) and, as ``z_back``
    (negative), of what was taken from the stack (``log2 Q(z_hat)``); their sum is the net rate.
    ``taken_bits`` / ``written_bits``: the same two measured on the stack (``num_valid_bits`` before
    and after each step)."""

    x_hat: torch.Tensor
    latent_shape: tuple
    bbvi_steps: int
    seed: int
    bits: dict
    taken_bits: int
    written_bits: int
    info: dict = field(default_factory=dict)

    @property
    def net_bits(self) -> int:
        return self.written_bits - self.taken_bits


class BitsBackHyperprior(MeanScaleHyperprior, BitsBackCoder):
    """Mean-scale hyperprior with a Gaussian ``q(z | x)`` and a non-convolved hyperprior: a
    :class:`~neurcomp.models.transform_coder.BitsBackCoder` (the interface of bits-back BBVI)."""

    kind = "bitsback"
    title = "bits-back hyperprior"
    takes_side_info = True
    #: ``bitsback``: SGA + bits-back ([M2] of Yang et al. 2020); ``bitsback_no_sga``: the amortized
    #: ``y_hat`` with BBVI over q(z) ([A5]); ``bitsback_no_iter``: no iterative inference at all, q(z)
    #: straight from the hyper-analysis of ``y_hat`` ([A6])
    methods = ("bitsback", "bitsback_no_sga", "bitsback_no_iter")
    num_sections = 1
    #: the stream's method parameters: BBVI steps (uint32), seed (uint32), side-information padding (byte)
    extra_size = 9
    #: ... and, when a short side information was topped up with random words, the side information's
    #: length in bytes (uint32) after them: 13 bytes (:meth:`pack_extra`)
    extra_sizes = (9, 13)

    def __init__(self, N: int = 128, M: int = 192, lambdas=(0.0067,), z_bin: float = 1 / 16):
        super().__init__(N, M, lambdas)
        if not 0 < z_bin <= 1 or math.log2(z_bin) != round(math.log2(z_bin)):
            raise ValueError(f"z_bin must be a power of two in (0, 1], got {z_bin}")
        self.z_bin = float(z_bin)
        self.h_a[-1] = conv(N, 2 * N)  # mean and log-variance of q(z | x)
        self.entropy_z = FactorizedDensity(N, bin_width=self.z_bin)
        self.entropy_y = OffsetGaussianConditional()
        #: the discretized posterior Q(z_hat | mu_z, sigma_z) over the z grid, in grid units (no escape)
        self.entropy_q = GaussianConditional(escape=False)
        #: the smallest posterior std, in units of z: a tenth of a grid step (Q is then one bin)
        self.sigma_min = 0.1 * self.z_bin

    @property
    def config(self) -> dict:
        return {**super().config, "z_bin": self.z_bin}

    # -- the posterior over z
    def posterior(self, y: torch.Tensor, hgain: torch.Tensor):
        """``(mu_z, sigma_z)`` of ``q(z | y)`` from the hyper-analysis (``hgain`` from :meth:`hgains`)."""
        mu, log_var = self.h_a(y).chunk(2, dim=1)
        sigma = (0.5 * log_var).exp() * hgain
        return mu * hgain, sigma.clamp_min(self.sigma_min)

    def log2_q(self, z: torch.Tensor, mu: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        """``log2 (q(z) * z_bin)`` per element: minus the bits the decoder gets back (approximately
        ``log2 Q(z_hat)`` of the discretized posterior)."""
        return LOG2E * (-0.5 * ((z - mu) / sigma) ** 2 - 0.5 * math.log(2 * math.pi)) - torch.log2(sigma / self.z_bin)

    def entropy_q_bits(self, sigma: torch.Tensor) -> torch.Tensor:
        """The expected bits back per element, ``H(q) - log2 z_bin = log2(sqrt(2 pi e) sigma / z_bin)``."""
        return torch.log2(sigma / self.z_bin) + 0.5 * math.log2(2 * math.pi * math.e)

    def forward(self, x: torch.Tensor, rate_idx=0) -> dict:
        """Training: ``z ~ q(z | x)`` (reparametrized), ``y`` with uniform noise; ``rate_bits`` is the
        NELBO's rate, in bits per element (``z_back`` <= 0 on average). In ``eval()`` mode the same
        one-sample estimate with a fixed seed (deterministic) and ``y`` rounded to integers."""
        gain, inv_gain, idx = self.gains(rate_idx, x.shape[0], x.device)
        hgain, inv_hgain = self.hgains(idx)
        y = self.g_a(x) * gain
        mu_z, sigma_z = self.posterior(y, hgain)
        if self.training:
            eps = torch.randn_like(mu_z)
            y_hat = y + torch.empty_like(y).uniform_(-0.5, 0.5)
        else:
            gen = torch.Generator(device=mu_z.device).manual_seed(0)
            eps = torch.randn(mu_z.shape, generator=gen, device=mu_z.device, dtype=mu_z.dtype)
            y_hat = torch.round(y)
        z = mu_z + sigma_z * eps
        z_back = self.log2_q(z, mu_z, sigma_z)
        mean, scale = self.entropy_parameters(z, inv_hgain)
        return {"x_hat": self.synthesize(y_hat, inv_gain),
                "rate_bits": {"y": self.entropy_y.bits(y_hat, mean, scale), "z": self.entropy_z.bits(z),
                              "z_back": z_back},
                "y": y, "mean": mean, "scale": scale, "mu_z": mu_z, "sigma_z": sigma_z}

    @torch.no_grad()
    def warm_start(self, source: nn.Module) -> None:
        """Start from a trained mean-scale hyperprior of the same ``N, M`` and lambdas: copy every
        parameter; the hyper-analysis' last layer keeps the source's mean and starts the log-variance
        at ``2 log(0.29)`` (the std of the unit-width noise the source was trained with)."""
        if not isinstance(source, MeanScaleHyperprior) or (source.N, source.M) != (self.N, self.M):
            raise ValueError(f"warm start needs a mean-scale hyperprior with N={self.N}, M={self.M}")
        if list(source.lambdas) != self.lambdas:
            raise ValueError(f"warm start needs the same lambdas ({self.lambdas}), got {list(source.lambdas)}")
        own = self.state_dict()
        for name, value in source.state_dict().items():
            if name.startswith("entropy_z.table_") or name.startswith("entropy_y."):
                continue
            if name in own and own[name].shape == value.shape:
                own[name].copy_(value)
        last = self.h_a[-1]
        src = source.h_a[-1]
        last.weight.zero_()
        last.weight[: self.N].copy_(src.weight)
        last.bias[: self.N].copy_(src.bias)
        last.bias[self.N:].fill_(2 * math.log(SIGMA_INIT))

    # -- coding (Algorithm 1 on an ANS stack; neurcomp.bitsback packs streams and archives)
    def method_steps(self, method: str | None, steps: int | None) -> tuple[int, bool, int]:
        """``(joint_steps, sga, bbvi_steps)`` of a method: ``steps`` (default 2000, at most 10,000) for the
        encoder's joint optimization of ``bitsback`` and ``min(steps, 2000)`` for ``reproducible_bbvi``
        (the decoder runs it too: a stream never asks for more than the paper's 2000); BBVI only for
        ``bitsback_no_sga``; neither for ``bitsback_no_iter``."""
        method = self.check_method(method)
        n = DEFAULT_STEPS if steps is None else int(steps)
        if not 1 <= n <= MAX_STEPS:
            raise BitsBackParameterError(f"steps must be between 1 and {MAX_STEPS} iterations, got {n}")
        b = min(n, MAX_BBVI_STEPS)
        return {"bitsback": (n, True, b), "bitsback_no_sga": (0, False, b), "bitsback_no_iter": (0, False, 0)}[method]

    def _q_plan(self, mu: torch.Tensor, sigma: torch.Tensor):
        """Q's symbol centres ``round(mu / z_bin)`` and scales in grid units (float64)."""
        return torch.round(mu / self.z_bin), sigma / self.z_bin

    def expected_q_bits(self, mu: torch.Tensor, sigma: torch.Tensor) -> float:
        """The expected bits Q takes from the stack: the entropy of each element's (quantized) table."""
        t = self.entropy_q.tables()
        p = t.counts.astype(np.float64) / float(t.counts[0].sum())
        h = -(p * np.log2(np.where(p > 0, p, 1.0))).sum(1)
        return float(h[self.entropy_q.scale_index(self._q_plan(mu, sigma)[1]).numpy().ravel()].sum())

    @torch.no_grad()
    def prepare_image(self, x: torch.Tensor, rate_idx: int = 0, method: str | None = None, steps: int | None = None,
                      seed: int = 0) -> "PreparedImage":
        """Algorithm 1, lines 1-3: optimize ``y_hat`` (SGA jointly with BBVI over q(z)), then the
        posterior ``reproducible_bbvi(y_hat)`` that the decoder will compute too. ``x``: ``[1, 3, H, W]``,
        padded to a multiple of 64."""
        return self.prepare_images(x, rate_idx, method, steps, seed)[0]

    @torch.no_grad()
    def prepare_images(self, x: torch.Tensor, rate_idx: int = 0, method: str | None = None, steps: int | None = None,
                       seed: int = 0) -> list:
        """:meth:`prepare_image` for a batch ``[B, 3, H, W]`` of same-size images: line 2 runs on the
        batch at once (Adam's per-coordinate steps make that the same as one image at a time), line 3
        per image."""
        joint_steps, sga, bbvi_steps = self.method_steps(method, steps)
        if not 0 <= int(seed) < 2 ** 32:
            raise BitsBackParameterError(f"a bits-back seed is a whole number from 0 to 2^32 - 1, got {seed}")
        joint = joint_sga_bbvi(self, x, rate_idx, steps=joint_steps, seed=seed, sga=sga)
        out = []
        for i in range(x.shape[0]):
            y_hat = joint.y_hat[i : i + 1].double().cpu()
            t0 = time.perf_counter()
            mu, sigma = reproducible_bbvi(self, y_hat, rate_idx, steps=bbvi_steps, seed=seed)
            out.append(PreparedImage(y_hat, mu, sigma, rate_idx, bbvi_steps, int(seed),
                                     {"steps": joint_steps, "opt_s": joint.seconds / x.shape[0],
                                      "bbvi_s": time.perf_counter() - t0}))
        return out

    def push_image(self, ans, prepared: "PreparedImage") -> StackedImage:
        """Algorithm 1, lines 4-5: *decode* ``z_hat`` from the top of the stack with ``Q`` (the bits the
        decoder gives back), then push ``y_hat`` under ``P(y_hat | z_hat)`` and ``z_hat`` under ``P(z_hat)``.
        Raises :class:`SideInfoTooShort` (the stack unchanged in content) if the stack runs out of bits."""
        p = prepared
        centre, q_scale = self._q_plan(p.mu, p.sigma)
        before = ans.num_valid_bits()
        k = self.entropy_q.pop(ans, q_scale) + centre
        taken = before - ans.num_valid_bits()
        if ans.num_valid_bits() < SIDE_INFO_MARGIN_BITS:
            self.entropy_q.push(ans, k - centre, q_scale)  # give the bits back: the stack is as it was
            need = self.expected_q_bits(p.mu, p.sigma)
            raise SideInfoTooShort(f"side information too short: this image takes about {need:.0f} bits back, the "
                                   f"stack had {before} (give at least {math.ceil(need) + 2 * SIDE_INFO_MARGIN_BITS})")
        z_hat = k * self.z_bin
        mean, scale = self.exact_params(z_hat, p.rate_idx)
        mid = ans.num_valid_bits()
        self.entropy_y.push(ans, p.y_hat, mean, scale)
        self.entropy_z.push(ans, k)
        written = ans.num_valid_bits() - mid
        _, inv_gain, _ = self.gains(p.rate_idx, 1, "cpu")
        bits = {"y": self.entropy_y.information_bits(p.y_hat, mean, scale), "z": self.entropy_z.information_bits(k),
                "z_back": -self.entropy_q.information_bits(k - centre, q_scale)}
        return StackedImage(self.reconstruct(p.y_hat, inv_gain), tuple(k.shape[2:]), p.bbvi_steps, p.seed, bits,
                            int(taken), int(written), dict(p.info))

    def initial_words_for(self, prepared: "PreparedImage", seed: int = 0, have_bits: int = 0) -> np.ndarray:
        """Random initial words enough for ``prepared``'s ``z_hat`` (its expected bits back + 25 % + two
        words): what a stack without side information starts with. ``have_bits``: bits already on the
        stack under these words (a short side information to top up, :meth:`start_stack`), counted
        against that; then at least one word (else at least two)."""
        need = 1.25 * self.expected_q_bits(prepared.mu, prepared.sigma) + 2 * SIDE_INFO_MARGIN_BITS - have_bits
        return initial_words(seed, max(1 if have_bits else 2, math.ceil(need / 32)))

    def start_stack(self, prepared: "PreparedImage", side_info: bytes | None, seed: int = 0):
        """Algorithm 1 for the first image on a new stack: the stack starts as ``side_info`` (or, without
        it, as :meth:`initial_words_for`) and :meth:`push_image` takes ``z_hat`` from it. A side
        information too short for that is *topped up*: seeded random words (:func:`initial_words`, the
        stream's seed) go on top of it, so the image takes from them first, as few as needed (from
        :meth:`initial_words_for` with the side information's bits counted). A side information that
        is long enough is used as it is (the stack and so the stream are what they were before top-ups
        existed).

        Returns ``(ans, img, start)``: the coder, :meth:`push_image`'s :class:`StackedImage` and a
        :class:`StackStart` (what the decoder needs to give back exactly the side information, and the
        bits to account for). Raises :class:`SideInfoTooShort` only without side information (random
        initial words that fall short: not expected, they carry a margin)."""
        if side_info is None:
            words = self.initial_words_for(prepared, seed)
            ans = constriction.stream.stack.AnsCoder(words, seal=True)
            img = self.push_image(ans, prepared)
            return ans, img, StackStart(32 * len(words), 32 * len(words), 0, None)
        side_info = bytes(side_info)
        words, pad = side_info_words(side_info)
        if len(words):
            ans = constriction.stream.stack.AnsCoder(words, seal=True)
            try:
                return ans, self.push_image(ans, prepared), StackStart(8 * len(side_info), 0, pad, None)
            except SideInfoTooShort:
                pass
        top_up = self.initial_words_for(prepared, seed, have_bits=8 * len(side_info))
        for _ in range(8):  # the estimate has a margin: once is the rule, more words a safeguard
            ans = constriction.stream.stack.AnsCoder(np.concatenate([words, top_up]), seal=True)
            try:
                img = self.push_image(ans, prepared)
            except SideInfoTooShort:
                top_up = initial_words(seed, 2 * len(top_up) + 2)
                continue
            return ans, img, StackStart(8 * len(side_info), 32 * len(top_up), pad, len(side_info))
        raise SideInfoTooShort("side information too short, and topping it up with random words failed")

    def pop_image(self, ans, latent_shape, rate_idx: int = 0, bbvi_steps: int = DEFAULT_STEPS,
                  seed: int = 0) -> torch.Tensor:
        """Algorithm 1, ``decode``: pop ``z_hat`` and ``y_hat``, reconstruct (line 6), then
        ``reproducible_bbvi(y_hat)`` and push ``z_hat`` back under ``Q``: the stack is then exactly
        what it was before :meth:`push_image` (line 7). Returns ``x_hat [1, 3, H, W]``."""
        k = self.entropy_z.pop(ans, (1, self.N, *latent_shape))
        mean, scale = self.exact_params(k * self.z_bin, rate_idx)
        y_hat = self.entropy_y.pop(ans, mean, scale)
        _, inv_gain, _ = self.gains(rate_idx, 1, "cpu")
        x_hat = self.reconstruct(y_hat, inv_gain)
        mu, sigma = reproducible_bbvi(self, y_hat, rate_idx, steps=bbvi_steps, seed=seed)
        centre, q_scale = self._q_plan(mu, sigma)
        self.entropy_q.push(ans, k - centre, q_scale)
        return x_hat

    @staticmethod
    def pack_extra(bbvi_steps: int, seed: int, side_pad: int, side_bytes: int | None = None) -> bytes:
        """The stream's method parameters: ``<IIB`` (9 bytes: BBVI steps, seed, side-information
        padding), or, after a top-up (``side_bytes``: the side information's length in bytes),
        ``<IIBI`` (13 bytes)."""
        if side_bytes is None:
            return struct.pack("<IIB", bbvi_steps, seed, side_pad)
        return struct.pack("<IIBI", bbvi_steps, seed, side_pad, side_bytes)

    @staticmethod
    def unpack_extra(extra: bytes) -> tuple[int, int, int, int | None]:
        """``(bbvi_steps, seed, side_pad, side_bytes)``, ``side_bytes`` None unless the side
        information was topped up; CodingError if malformed (a padding that is not the side
        information's, too)."""
        if len(extra) not in (9, 13):
            raise CodingError(f"a bitsback stream has 9 or 13 bytes of method parameters, got {len(extra)}")
        bbvi_steps, seed, pad = struct.unpack("<IIB", extra[:9])
        side_bytes = struct.unpack("<I", extra[9:])[0] if len(extra) == 13 else None
        if pad > 3 or bbvi_steps > MAX_BBVI_STEPS or (side_bytes is not None and pad != -side_bytes % 4):
            raise CodingError("malformed bits-back parameters")
        return bbvi_steps, seed, pad, side_bytes

    def planned_decode_iterations(self, method: str | None = None, steps: int | None = None) -> int:
        """The BBVI steps a stream of ``compress(..., method, steps)`` asks its decoder for."""
        return self.method_steps(self.check_method(method), steps)[2]

    def decode_iterations(self, extra: bytes = b"") -> int:
        """The BBVI steps the decoder repeats for a stream with these method parameters."""
        return self.unpack_extra(extra)[0]

    @torch.no_grad()
    def compress(self, x: torch.Tensor, rate_idx: int = 0, method=None, steps=None, seed=0, hw=None,
                 side_info: bytes | None = None) -> Compressed:
        """One image on its own ANS stack: the stack starts as ``side_info`` (bytes, any length: topped
        up with seeded random words when it is shorter than what the image takes, :meth:`start_stack`;
        or, without it, random initial bits that the file then carries: the initial-bits problem) and
        the stream's one section is the stack after :meth:`push_image`. ``info``: ``side_info_bits``
        (what the decoder gives back: ``8 * len(side_info)``, or the random initial words without
        side information), ``initial_bits`` (random bits the file carries: the initial words, a
        top-up's words, or 0), ``net_bits``, ``taken_bits``, ``written_bits``."""
        prepared = self.prepare_image(x, rate_idx, method, steps, seed)
        ans, img, start = self.start_stack(prepared, side_info, seed)
        data = ans.get_compressed().astype("<u4").tobytes()
        info = {"side_info_bits": start.side_info_bits, "taken_bits": img.taken_bits, "written_bits": img.written_bits,
                "net_bits": img.net_bits, "initial_bits": start.initial_bits, **img.info}
        return Compressed([data], img.latent_shape, img.x_hat, img.bits,
                          self.pack_extra(img.bbvi_steps, img.seed, start.pad, start.side_bytes), info)

    @torch.no_grad()
    def decompress_with_side_info(self, sections, latent_shape, rate_idx: int = 0,
                                  extra: bytes = b"") -> tuple[torch.Tensor, bytes]:
        """Decode a stream of :meth:`compress`: the image, and the side information given back (exactly
        the bytes given to ``compress``, without a top-up's words; without side information, its
        random initial bits)."""
        self.check_stream(sections, extra)
        bbvi_steps, seed, pad, side_len = self.unpack_extra(extra)
        data = sections[0]
        if len(data) % 4 or not data:
            raise CodingError("a bits-back section is a non-empty sequence of 32-bit words")
        words = np.frombuffer(data, "<u4").astype(np.uint32)
        try:
            ans = constriction.stream.stack.AnsCoder(words)
            x_hat = self.pop_image(ans, latent_shape, rate_idx, bbvi_steps, seed)
            side = ans.get_compressed(unseal=True)
        except CodingError:
            raise
        except Exception as e:  # constriction refuses a stack that does not end sealed
            raise CodingError(f"bits-back stack does not decode to sealed side information ({e})") from None
        return x_hat, side_info_bytes(side, pad, side_len, seed)

    def decompress(self, sections, latent_shape, rate_idx: int = 0, extra: bytes = b"") -> torch.Tensor:
        return self.decompress_with_side_info(sections, latent_shape, rate_idx, extra)[0]


def initial_words(seed: int, n_words: int) -> np.ndarray:
    """Random initial bits for a stack without side information (``n_words`` 32-bit words, seeded): the
    first image pays for them in its file (the initial-bits problem) and gets them back on decoding."""
    rng = np.random.default_rng([int(seed), 0xB175BAC])
    return rng.integers(1, 2 ** 32, size=n_words, dtype=np.uint64).astype(np.uint32)


def side_info_words(side_info: bytes) -> tuple[np.ndarray, int]:
    """Side information bytes as little-endian 32-bit words (zero-padded) and the padding (0-3 bytes)."""
    pad = -len(side_info) % 4
    return np.frombuffer(bytes(side_info) + b"\0" * pad, "<u4").astype(np.uint32), pad


@dataclass
class StackStart:
    """What a new stack started with (:meth:`BitsBackHyperprior.start_stack`). ``side_info_bits``: the
    bits the decoder gives back as side information (``8 * len(side_info)``; without side
    information, the random initial words, as ever); ``initial_bits``: random bits the file carries
    (the initial words without side information, a top-up's words, else 0); ``pad``: zero bytes
    that fill the side information's last word; ``side_bytes``: the side information's length in
    bytes if it was topped up, else None (the stream's or archive's header records it then)."""
    side_info_bits: int
    initial_bits: int
    pad: int
    side_bytes: int | None


def side_info_bytes(words: np.ndarray, pad: int, side_bytes: int | None, seed: int) -> bytes:
    """The side information a decoder gives back from the words left on the stack (``words``, unsealed):
    without a top-up (``side_bytes`` None) the words less ``pad`` bytes, as before top-ups existed;
    with one, the first ``side_bytes`` bytes, after checking that the rest is the zero padding and
    then the top-up, ``initial_words(seed, n)`` for the ``n >= 1`` words left (CodingError otherwise:
    a header that does not fit its stack).

    Example (11 bytes topped up with 3 words, and what the decoder gives back):
        >>> words, pad = side_info_words(b"a red barn!")
        >>> stack = np.concatenate([words, initial_words(7, 3)])
        >>> side_info_bytes(stack, pad, 11, seed=7)
        b'a red barn!'
        >>> side_info_bytes(stack, pad, 11, seed=8)
        Traceback (most recent call last):
        ...
        neurcomp.entropy.errors.CodingError: the side information's top-up is not the random words its header implies
    """
    raw = np.asarray(words, np.uint32).astype("<u4").tobytes()
    if side_bytes is None:
        return raw[: len(raw) - pad] if pad else raw
    k = -(-side_bytes // 4)  # words of side information, the last one zero-padded
    if len(words) <= k:
        raise CodingError(f"the stack gives back {len(raw)} bytes, not {side_bytes} of side information and a top-up")
    if any(raw[side_bytes: 4 * k]) or not np.array_equal(words[k:], initial_words(seed, len(words) - k)):
        raise CodingError("the side information's top-up is not the random words its header implies")
    return raw[:side_bytes]
