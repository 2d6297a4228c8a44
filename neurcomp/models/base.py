r"""The model contract: what the codec, the zoo, the trainer and the CLI rely on.

A compression model is a :class:`CompressionModel` (an ``nn.Module``) in its own file under
``neurcomp/models/``, registered with one line in ``MODEL_CLASSES`` (``neurcomp/models/__init__.py``).
With that, ``neurcomp compress / decompress / eval / models``, ``neurcomp.train`` and
``python -m neurcomp.zoo`` work for it unchanged, and the conformance test
(``tests/test_model_contract.py``) checks it. A model has:

* class attributes ``kind`` (a unique string; the ``kind`` of ``neurcomp models``),
  ``methods`` (the stream methods it can encode with, its default first: e.g.
  ``("amortized", "sga", ...)`` or ``("rec",)``) and ``rate_param`` (``"lambda"``: loss =
  ``rate_bpp + lambda * 255^2 * MSE``, the CompressAI convention; or ``"beta"``: beta-ELBO
  weight on the rate); a ``stride`` (the image is padded to a multiple of it; the stream's
  ``latent_shape`` is ``(H / stride, W / stride)``); :attr:`num_sections` (sections per stream)
  and :attr:`extra_size` (bytes of the stream's ``extra`` field: 0, or the method parameters a
  model stores there; a model with a second, optional layout lists every length it writes in
  :attr:`extra_sizes`, e.g. bits-back's 9 and 13).
* ``__init__(**config)`` and a :attr:`config` property (``{"kind": ..., **kwargs}``, with the
  rate points as ``"lambdas"`` or ``"betas"``); ``neurcomp.models.build_model(config)`` rebuilds
  it. :attr:`rate_points` lists the rate points; one network may serve all of them, and
  ``rate_idx`` (an int, or a LongTensor ``[B]``) selects one (see :mod:`neurcomp.models.rate`).
* ``forward(x [B, 3, H, W] in [0, 1], rate_idx)`` -> dict with at least ``"x_hat"`` and
  ``"rate_bits"``: ``{part: tensor of bits per latent element}``. In ``eval()`` mode the sum of
  ``rate_bits`` is the information content the coder writes (for REC: the KL). A part whose name
  ends in ``_back`` counts bits the decoder gets back (bits-back coding; <= 0 on average), so the
  sum is the *net* rate.
* ``method_notes``: ``{method: why this model cannot code with it}`` for methods it lacks (optional).
* a model that offers an iterative method (``"sga"``, ...) or bits-back also implements the
  *transform-coder* interface that those methods optimize through (:class:`neurcomp.models.TransformCoder`,
  :class:`neurcomp.models.BitsBackCoder`, in :mod:`neurcomp.models.transform_coder`: the transforms,
  gains and entropy models with their shapes and units); the conformance test checks it.
* bits-back models (``takes_side_info = True``) also take ``compress(..., side_info=bytes)`` and
  have ``decompress_with_side_info(...) -> (x_hat, side_info)`` (see :mod:`neurcomp.bitsback`).
* ``rd_loss(x, out, rate_idx, free_bits=0.0, rate_weight=1.0)`` -> per-batch means ``loss``
  (minimized by ``neurcomp.train``), ``bpp``, ``mse`` and ``psnr``. The default is
  ``bpp + lambda * 255^2 * MSE``; the trainer's options ``free_bits`` and ``rate_weight`` change only
  ``loss`` (a model whose rate cannot take one raises ValueError naming it).
* ``update()``: builds the integer coding tables after training (saved with the weights).
* ``compress(x_padded [1, 3, H, W], rate_idx, method=None, steps=None, seed=0, hw=None)`` ->
  :class:`Compressed`, where ``x_hat`` is *exactly* what ``decompress`` will return.
* ``decompress(sections, latent_shape, rate_idx, extra=b"")`` -> ``x_hat [1, 3, H, W]``.
* :meth:`decode_iterations` ``(extra)``: how many optimization steps decoding a stream with this
  ``extra`` runs (0 for every model but bits-back, whose decoder repeats BBVI). The codec bounds a
  stream's decoding work (pixels x (1 + iterations)) with it before decoding anything, and with
  :meth:`planned_decode_iterations` ``(method, steps)`` before encoding.
  Decoding must not depend on bit-identical floats between encoder and decoder processes:
  integer coding tables, and where a float decides a table index or a sample, float64 through
  :meth:`decoding_copy` (float32 convolutions differ in their last bits between a 1- and a
  2-thread process, enough to flip a few 8-bit pixels).

Example (a toy model that stores each pixel and channel as one bit, > 0.5 or not; the whole
contract in a few lines):

    >>> import numpy as np, torch
    >>> class OneBit(CompressionModel):
    ...     kind, stride = "one_bit", 1
    ...     def __init__(self, lambdas=(1.0,)):
    ...         super().__init__()
    ...         self.lambdas = list(lambdas)
    ...     @property
    ...     def config(self):
    ...         return {"kind": self.kind, "lambdas": self.lambdas}
    ...     def forward(self, x, rate_idx=0):
    ...         return {"x_hat": (x > 0.5).float(), "rate_bits": {"x": torch.ones_like(x)}}
    ...     def compress(self, x, rate_idx=0, method=None, steps=None, seed=0, hw=None):
    ...         bits = (x > 0.5).numpy().ravel()
    ...         return Compressed([np.packbits(bits).tobytes()], tuple(x.shape[-2:]), (x > 0.5).float(),
    ...                           {"x": float(bits.size)})
    ...     def decompress(self, sections, latent_shape, rate_idx=0, extra=b""):
    ...         self.check_stream(sections, extra)
    ...         n = 3 * latent_shape[0] * latent_shape[1]
    ...         bits = np.unpackbits(np.frombuffer(sections[0], np.uint8))[:n]
    ...         return torch.from_numpy(bits.astype(np.float32)).reshape(1, 3, *latent_shape)
    >>> m = OneBit()
    >>> c = m.compress(torch.rand(1, 3, 4, 4))
    >>> torch.equal(m.decompress(c.sections, c.latent_shape), c.x_hat), c.bits, c.payload_bytes
    (True, {'x': 48.0}, 6)
"""
from __future__ import annotations

import copy
import weakref
from dataclasses import dataclass, field

import torch
import torch.nn as nn

from ..entropy import CodingError, FactorizedDensity, GaussianConditional
from .rate import has_training_options, rate_values, training_rate_bpp


@dataclass
class Compressed:
    """What a model's ``compress`` returns.

    Attributes:
        sections: the stream's sections (bytes each), in the order ``decompress`` reads them.
        latent_shape: ``(h, w)`` recorded in the stream header (the coarsest latent grid the
            decoder needs to know, usually ``(H / stride, W / stride)`` of the padded image).
        x_hat: ``[1, 3, H, W]`` float, the reconstruction exactly as ``decompress`` returns it.
        bits: information content per part, in bits (``{"y": ..., "z": ...}``; for REC the KL).
        extra: bytes stored in the stream header's ``extra`` field (e.g. a seed), ``b""`` if none.
        info: extra per-image fields for evaluation records (JSON-able numbers, e.g. ``kl_bpp``).
        details: diagnostics that are not record fields (e.g. REC's per-part statistics).
    """

    sections: list
    latent_shape: tuple
    x_hat: torch.Tensor
    bits: dict
    extra: bytes = b""
    info: dict = field(default_factory=dict)
    details: dict = field(default_factory=dict)

    @property
    def information_bits(self) -> float:
        """Total information content in bits (sum of :attr:`bits`)."""
        return float(sum(self.bits.values()))

    @property
    def payload_bytes(self) -> int:
        """Bytes of all sections (the stream without its container header)."""
        return sum(len(s) for s in self.sections)


_DECODING_COPIES: "weakref.WeakKeyDictionary[nn.Module, tuple]" = weakref.WeakKeyDictionary()


class CompressionModel(nn.Module):
    """Base class of every neurcomp model; the module docstring is the contract."""

    kind: str = "abstract"
    #: what tables and legends call the model (e.g. "mean-scale hyperprior"); "" means its kind
    title: str = ""
    stride: int = 16
    methods: tuple = ("amortized",)
    rate_param: str = "lambda"
    num_sections: int = 1
    extra_size: int = 0
    #: every length of ``extra`` a stream of this model may have, when there is more than one layout
    #: (bits-back: 9, or 13 after a side information was topped up); None: just :attr:`extra_size`
    extra_sizes: tuple | None = None
    #: bits-back models: ``compress(..., side_info=bytes)`` and ``decompress_with_side_info``
    takes_side_info: bool = False
    #: why a method of the stream format that this model does not have is unavailable for it, by method
    #: (e.g. a CompressAI hyperprior has no Gaussian q(z|x) for bits-back); shown in the codec's error
    method_notes: dict = {}

    # -- what a model is
    @property
    def config(self) -> dict:
        raise NotImplementedError

    @property
    def default_method(self) -> str:
        """The method ``compress`` uses when none is asked for (the first of :attr:`methods`)."""
        return self.methods[0]

    @property
    def rate_points(self) -> list:
        """The model's rate points (its lambdas, or betas for ``rate_param == "beta"``)."""
        return list(self.config[self.rate_param + "s"])

    # -- training
    def rd_loss(self, x: torch.Tensor, out: dict, rate_idx, free_bits=0.0, rate_weight: float = 1.0) -> dict:
        """Per-batch means of ``bpp`` (bits per pixel, from ``out["rate_bits"]``), ``mse`` ([0, 1]
        pixels), ``psnr`` and ``loss = bpp + lambda * 255^2 * mse``.

        Training options (``neurcomp.train`` hands them over from its config): ``free_bits`` (bits per
        latent element, a number or per latent group: :func:`neurcomp.models.rate.training_rate_bpp`)
        and ``rate_weight`` (the rate term's weight, e.g. a warm-up from 0 to 1). They change only
        ``loss``; ``bpp`` stays the true rate."""
        b, _, h, w = x.shape
        bits = sum(t.reshape(b, -1).sum(1) for t in out["rate_bits"].values())
        bpp = bits / (h * w)
        mse = ((out["x_hat"] - x) ** 2).reshape(b, -1).mean(1)
        lam = rate_values(self.rate_points, rate_idx, b, x.device)
        loss = (bpp + lam * 255.0 ** 2 * mse).mean()
        if has_training_options(free_bits, rate_weight):
            loss = rate_weight * training_rate_bpp(out["rate_bits"], h * w, free_bits) + (lam * 255.0 ** 2 * mse).mean()
        return {"loss": loss, "bpp": bpp.mean(), "mse": mse.mean(),
                "psnr": (-10 * torch.log10(mse.clamp_min(1e-10))).mean()}

    def update(self) -> None:
        """Build the integer coding tables (after training, before coding): every entropy model
        of this model builds its own."""
        for m in self.modules():
            if isinstance(m, (FactorizedDensity, GaussianConditional)):
                m.update()

    # -- coding
    def compress(self, x: torch.Tensor, rate_idx: int = 0, method: str | None = None, steps: int | None = None,
                 seed: int = 0, hw=None) -> Compressed:
        raise NotImplementedError

    def decompress(self, sections, latent_shape, rate_idx: int = 0, extra: bytes = b"") -> torch.Tensor:
        raise NotImplementedError

    def check_method(self, method: str | None) -> str:
        """``method`` (default: :attr:`default_method`) if this model encodes with it, else ValueError."""
        method = method or self.default_method
        if method not in self.methods:
            raise ValueError(f"a {self.kind} model codes with {', '.join(self.methods)}, not {method!r}")
        return method

    def check_stream(self, sections, extra: bytes = b"") -> None:
        """Refuse a stream whose section count or ``extra`` size is not what this model writes."""
        if len(sections) != self.num_sections:
            raise CodingError(f"a {self.kind} stream has {self.num_sections} section(s), got {len(sections)}")
        sizes = self.extra_sizes or (self.extra_size,)
        if len(extra) not in sizes:
            raise CodingError(f"a {self.kind} stream has {' or '.join(map(str, sizes))} bytes of method parameters, "
                              f"got {len(extra)}")

    def planned_decode_iterations(self, method: str | None = None, steps: int | None = None) -> int:
        """The :meth:`decode_iterations` that ``compress(..., method, steps)`` will write into its stream
        (so the codec refuses an image whose stream the decoder would refuse, before coding it)."""
        return 0

    def warm_start(self, source: "CompressionModel") -> None:
        """Initialise this model from another trained one (``init_from`` in a training config), e.g. the
        probabilistic ladder network from a hyperprior. Models that cannot refuse (ValueError)."""
        raise ValueError(f"a {self.kind} model cannot be warm-started from another network")

    def decode_iterations(self, extra: bytes = b"") -> int:
        """Optimization steps :meth:`decompress` runs for a stream with method parameters ``extra``
        (0: decoding is one pass). CodingError if ``extra`` is malformed."""
        return 0

    def decoding_copy(self) -> "CompressionModel":
        """A float64 CPU copy of this model for the codec's platform-robust paths (cached until a
        parameter changes). Use its networks, never train it."""
        key = tuple((id(p), p._version) for p in self.parameters())
        cached = _DECODING_COPIES.get(self)
        if cached is None or cached[0] != key:
            m64 = copy.deepcopy(self).cpu().double().eval()
            for p in m64.parameters():
                p.requires_grad_(False)
            cached = (key, m64)
            _DECODING_COPIES[self] = cached
        return cached[1]


__all__ = ["CompressionModel", "Compressed"]
