r"""Bring your own CompressAI model: read CompressAI checkpoints (without importing CompressAI).

CompressAI (Begaint et al. 2020) trains and publishes ``bmshj2018-factorized``,
``bmshj2018-hyperprior`` and ``mbt2018-mean`` at eight qualities. :func:`load_compressai` turns such a
checkpoint (a state dict, as CompressAI saves it; also inside a ``{"state_dict": ...}`` training
checkpoint, with or without DataParallel's ``module.`` prefix, old or new entropy-bottleneck
parameter names) into a ready neurcomp model (:mod:`neurcomp.models.compressai`) with our own integer
coding tables: our codec writes ``.ncz`` streams with it, and the iterative encoders (``sga``,
``map``, ...) optimize its latents. The architecture and its widths ``N``, ``M`` are read off the
tensor shapes (or name it: ``arch="mbt2018-mean"``). The file is read with
``torch.load(weights_only=True)``: a checkpoint can hold tensors and plain containers, no code.

What is mapped (CompressAI -> neurcomp):

* convolutions: same names and ``nn.Sequential`` indexes, except that the transform after the
  entropy bottleneck (``g_s`` of the factorized prior, ``h_s`` of the hyperpriors) starts with a
  :class:`~neurcomp.models.compressai.Shift`, so its indexes move up by one;
* GDN / IGDN: CompressAI stores ``beta``, ``gamma`` as ``p`` with ``value = max(p, bound)^2 - 2^-36``,
  we as ``q`` with ``value = max(q, bound')^2 - 2^-18``: the values are recomputed in float64 and
  re-encoded;
* the entropy bottleneck's ``matrices`` / ``biases`` / ``factors`` (also the older ``_matrix0`` and
  ``_matrices.0`` names) become the factorized density's, and its medians (``quantiles[:, 0, 1]``)
  the shifts around it; CompressAI's integer CDFs are ignored (``update()`` builds ours);
* ``mbt2018-mean``'s hyper-synthesis ends in (scales, means), ours in (means, scales): the halves of
  its last convolution are swapped.

A stream records the model name ``compressai:<arch>`` and the first 8 bytes of the checkpoint file's
SHA-256; decoding needs the same file (``neurcomp decompress IN OUT --checkpoint FILE``).

Published weights by name: ``compressai:<arch>:<quality>`` (e.g. ``compressai:mbt2018-mean:3``, MSE
models, qualities 1..8) is downloaded once from CompressAI's official location (:data:`ROOT_URL`) into
``<data folder>/compressai/`` (``$NEURCOMP_DATA``, default ``~/.cache/neurcomp``) and checked against
the SHA-256 prefix in its file name. Offline, the error says which URL to fetch and where to put it.

Example (a checkpoint with CompressAI's layout, made here by renaming a neurcomp model's
parameters; ``tests/fixtures/compressai/`` holds real ones, made by CompressAI itself):
    >>> import tempfile, torch
    >>> from pathlib import Path
    >>> path = Path(tempfile.mkdtemp()) / "mine.pth.tar"
    >>> torch.save(example_state_dict("mbt2018-mean", N=8, M=12), path)
    >>> model = load_compressai(path)
    >>> model.arch, model.N, model.M, model.rate_points
    ('mbt2018-mean', 8, 12, [0.0067])
    >>> published_url("mbt2018-mean", 3)
    'https://compressai.s3.amazonaws.com/models/v1/mbt2018-mean-3-723404a8.pth.tar'
"""
from __future__ import annotations

import math
import re
from functools import lru_cache
from pathlib import Path

import torch

from ..fileio import sha256_file
from ..models.compressai import ARCHITECTURES, NO_BITS_BACK
from .errors import UnknownModel, WeightsError

#: where CompressAI publishes its image models (``compressai/zoo/image.py``)
ROOT_URL = "https://compressai.s3.amazonaws.com/models/v1"
#: the published MSE models: architecture -> quality -> file name (the part after the last ``-`` is the
#: first 8 hex digits of the file's SHA-256)
PUBLISHED = {
    "bmshj2018-factorized": {1: "bmshj2018-factorized-prior-1-446d5c7f.pth.tar",
                             2: "bmshj2018-factorized-prior-2-87279a02.pth.tar",
                             3: "bmshj2018-factorized-prior-3-5c6f152b.pth.tar",
                             4: "bmshj2018-factorized-prior-4-1ed4405a.pth.tar",
                             5: "bmshj2018-factorized-prior-5-866ba797.pth.tar",
                             6: "bmshj2018-factorized-prior-6-9b02ea3a.pth.tar",
                             7: "bmshj2018-factorized-prior-7-6dfd6734.pth.tar",
                             8: "bmshj2018-factorized-prior-8-5232faa3.pth.tar"},
    "bmshj2018-hyperprior": {1: "bmshj2018-hyperprior-1-7eb97409.pth.tar",
                             2: "bmshj2018-hyperprior-2-93677231.pth.tar",
                             3: "bmshj2018-hyperprior-3-6d87be32.pth.tar",
                             4: "bmshj2018-hyperprior-4-de1b779c.pth.tar",
                             5: "bmshj2018-hyperprior-5-f8b614e1.pth.tar",
                             6: "bmshj2018-hyperprior-6-1ab9c41e.pth.tar",
                             7: "bmshj2018-hyperprior-7-3804dcbd.pth.tar",
                             8: "bmshj2018-hyperprior-8-a583f0cf.pth.tar"},
    "mbt2018-mean": {1: "mbt2018-mean-1-e522738d.pth.tar",
                     2: "mbt2018-mean-2-e54a039d.pth.tar",
                     3: "mbt2018-mean-3-723404a8.pth.tar",
                     4: "mbt2018-mean-4-6dba02a3.pth.tar",
                     5: "mbt2018-mean-5-d504e8eb.pth.tar",
                     6: "mbt2018-mean-6-a19628ab.pth.tar",
                     7: "mbt2018-mean-7-d5d441d1.pth.tar",
                     8: "mbt2018-mean-8-8089ae3e.pth.tar"},
}
#: the lambda CompressAI trains each MSE quality with (loss = bpp + lambda * 255^2 * MSE, as ours)
QUALITY_LAMBDAS = {1: 0.0018, 2: 0.0035, 3: 0.0067, 4: 0.0130, 5: 0.0250, 6: 0.0483, 7: 0.0932, 8: 0.1800}
#: the lambda of a checkpoint whose quality is not known (CompressAI's quality 3); only the iterative
#: encoders (SGA, ...) use it: it is the trade-off they optimize, and it does not enter the stream
DEFAULT_LAMBDA = QUALITY_LAMBDAS[3]
PREFIX = "compressai:"
#: CompressAI's GDN reparametrization: pedestal (2^-18)^2 and beta's minimum
CAI_PEDESTAL, CAI_BETA_MIN = 2.0 ** -36, 1e-6
_SUPPORTED = ", ".join(ARCHITECTURES)
#: the widest ``N`` and ``M`` a checkpoint may have (CompressAI's published models: at most 320); wider
#: ones are refused before any model is built (its memory grows with ``N^2`` and ``M^2``)
MAX_WIDTH = 1024
#: the entropy bottleneck's limits: hidden layers (CompressAI: 4) and units per layer (CompressAI: 3)
MAX_BOTTLENECK_LAYERS, MAX_BOTTLENECK_UNITS = 16, 64
#: the largest median (``|quantiles[:, 0, 1]|``) accepted: 2^24, float32's last exact integer (the codec
#: rounds ``z - median`` in float32; far beyond it the symbols overflow and the stream cannot be decoded)
MAX_MEDIAN = float(2 ** 24)


class CheckpointError(UnknownModel):
    """A usage error about CompressAI checkpoints (a name without a quality, a stream that needs
    ``--checkpoint``, ``--checkpoint`` on a stream of a shipped model): exit code 2 in the CLI."""


class UnsupportedArchitecture(CheckpointError):
    """A checkpoint (or ``arch=``) of an architecture neurcomp does not code: an autoregressive context
    model (CompressAI's ``mbt2018``, ``cheng2020-*``) or an unknown name; a usage error (exit code 2)."""


# ----------------------------------------------------------------------------- reading state dicts


def _tensors_only(d) -> bool:
    return isinstance(d, dict) and bool(d) and all(isinstance(v, torch.Tensor) for v in d.values())


def read_state_dict(path) -> dict:
    """The CompressAI state dict in ``path`` (``torch.load(weights_only=True)``): unwrapped from a training
    checkpoint (``state_dict`` / ``model`` / ``network`` entries) and without ``module.`` prefixes."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"checkpoint {path} does not exist")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # pickle, zip and weights-only errors of every kind
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise WeightsError(f"checkpoint {path} is not a readable PyTorch state dict ({first})") from None
    for _ in range(2):
        if isinstance(obj, dict) and not _tensors_only(obj):
            inner = next((obj[k] for k in ("state_dict", "model", "network", "model_state_dict")
                          if isinstance(obj.get(k), dict)), None)
            if inner is not None:
                obj = inner
    if not isinstance(obj, dict) or not any(isinstance(v, torch.Tensor) for v in obj.values()):
        raise WeightsError(f"checkpoint {path} holds no state dict (expected tensors by parameter name)")
    return {(k[7:] if isinstance(k, str) and k.startswith("module.") else k): v for k, v in obj.items()
            if isinstance(v, torch.Tensor)}


def _leading(state: dict, key: str) -> int:
    """The first dimension of ``state[key]`` (WeightsError for a 0-d tensor)."""
    if state[key].dim() == 0:
        raise WeightsError(f"{key} is a 0-d tensor; expected a convolution weight [out, in, k, k]")
    return int(state[key].shape[0])


def infer_arch(state: dict) -> str:
    """The CompressAI architecture of a state dict, from its parameter names and shapes;
    UnsupportedArchitecture for a context model."""
    if any(isinstance(k, str) and k.startswith(("context_prediction.", "entropy_parameters.")) for k in state):
        raise UnsupportedArchitecture("this checkpoint has an autoregressive context model (CompressAI's mbt2018 "
                                      f"or cheng2020): neurcomp codes {_SUPPORTED}")
    if "g_a.0.weight" not in state or "g_a.6.weight" not in state:
        raise WeightsError(f"not a checkpoint of a supported CompressAI architecture ({_SUPPORTED}): "
                           "it has no g_a.0.weight / g_a.6.weight")
    if "h_s.4.weight" not in state:
        return "bmshj2018-factorized"
    M = _leading(state, "g_a.6.weight")
    return "mbt2018-mean" if _leading(state, "h_s.4.weight") == 2 * M else "bmshj2018-hyperprior"


_EB = re.compile(r"^entropy_bottleneck\.(?:(matrices|biases|factors)\.|_(matrices|biases|factors)\.|_(matrix|bias|factor))"
                 r"(\d+)$")
_EB_NAMES = {"matrix": "matrices", "bias": "biases", "factor": "factors"}
_IGNORED = re.compile(r"(_reparam\.|^gaussian_conditional\.|^entropy_bottleneck\.(_offset|_quantized_cdf|_cdf_length|"
                      r"target|likelihood_lower_bound\.))")
#: the floating-point types a tensor we read may have
_FLOATS = (torch.float16, torch.bfloat16, torch.float32, torch.float64)


# ----------------------------------------------------------------------------- validating state dicts


def _show(key) -> str:
    """A key for a one-line message: as it is when printable and short, else its ``repr`` (cut to 80 characters)."""
    if isinstance(key, str) and key.isprintable() and len(key) <= 80:
        return key
    text = repr(key)
    return text if len(text) <= 80 else text[:77] + "..."


def _canonical(key: str) -> str:
    """CompressAI's current name of a parameter: ``entropy_bottleneck._matrix0`` and ``._matrices.0`` (older
    CompressAI) -> ``entropy_bottleneck.matrices.0``; other names unchanged."""
    m = _EB.match(key)
    if not m:
        return key
    return f"entropy_bottleneck.{m.group(1) or m.group(2) or _EB_NAMES[m.group(3)]}.{int(m.group(4))}"


def expected_shapes(arch: str, N: int, M: int, filters=(3, 3, 3, 3)) -> dict[str, tuple[int, ...]]:
    """The shape of every parameter neurcomp reads from a CompressAI state dict of ``arch`` with widths
    ``N``, ``M`` and entropy-bottleneck hidden widths ``filters``, by CompressAI's (current) name.
    Convolutions are ``[out, in, k, k]``, transposed convolutions ``[in, out, k, k]``.

    Example:
        >>> shapes = expected_shapes("mbt2018-mean", N=8, M=12)
        >>> shapes["g_a.6.weight"], shapes["h_s.4.weight"], shapes["entropy_bottleneck.quantiles"]
        ((12, 8, 5, 5), (24, 18, 3, 3), (8, 1, 3))
    """
    def conv(name, c_out, c_in, k):
        return {f"{name}.weight": (c_out, c_in, k, k), f"{name}.bias": (c_out,)}

    def deconv(name, c_in, c_out, k):
        return {f"{name}.weight": (c_in, c_out, k, k), f"{name}.bias": (c_out,)}

    def gdn(name):
        return {f"{name}.beta": (N,), f"{name}.gamma": (N, N)}

    shapes = {**conv("g_a.0", N, 3, 5), **gdn("g_a.1"), **conv("g_a.2", N, N, 5), **gdn("g_a.3"),
              **conv("g_a.4", N, N, 5), **gdn("g_a.5"), **conv("g_a.6", M, N, 5),
              **deconv("g_s.0", M, N, 5), **gdn("g_s.1"), **deconv("g_s.2", N, N, 5), **gdn("g_s.3"),
              **deconv("g_s.4", N, N, 5), **gdn("g_s.5"), **deconv("g_s.6", N, 3, 5)}
    if arch != "bmshj2018-factorized":
        shapes.update({**conv("h_a.0", N, M, 3), **conv("h_a.2", N, N, 5), **conv("h_a.4", N, N, 5)})
    if arch == "bmshj2018-hyperprior":
        shapes.update({**deconv("h_s.0", N, N, 5), **deconv("h_s.2", N, N, 5), **conv("h_s.4", M, N, 3)})
    elif arch == "mbt2018-mean":
        wide = M * 3 // 2
        shapes.update({**deconv("h_s.0", N, M, 5), **deconv("h_s.2", M, wide, 5), **conv("h_s.4", 2 * M, wide, 3)})
    channels = M if arch == "bmshj2018-factorized" else N
    dims = (1, *filters, 1)
    for i in range(len(dims) - 1):
        shapes[f"entropy_bottleneck.matrices.{i}"] = (channels, dims[i + 1], dims[i])
        shapes[f"entropy_bottleneck.biases.{i}"] = (channels, dims[i + 1], 1)
        if i < len(filters):
            shapes[f"entropy_bottleneck.factors.{i}"] = (channels, dims[i + 1], 1)
    shapes["entropy_bottleneck.quantiles"] = (channels, 1, 3)
    return shapes


def _check_entries(state) -> None:
    """String keys; values dense (strided) CPU tensors with data (not sparse, not meta)."""
    if not isinstance(state, dict) or not state:
        raise WeightsError("a state dict maps parameter names to tensors; this checkpoint holds none")
    for key, value in state.items():
        if not isinstance(key, str):
            raise WeightsError(f"parameter name {_show(key)} is of type {type(key).__name__}; expected a string")
        if not isinstance(value, torch.Tensor):
            raise WeightsError(f"{_show(key)} is of type {type(value).__name__}; expected a tensor")
        if value.layout != torch.strided:
            raise WeightsError(f"{_show(key)} is a {str(value.layout).replace('torch.', '')} tensor; expected a "
                               "dense (strided) tensor")
        if value.device.type != "cpu":
            raise WeightsError(f"{_show(key)} is a tensor on the {value.device.type} device (no data); expected a "
                               "CPU tensor")


def _resolve_arch(arch: str | None, found: str) -> str:
    """``arch`` (default: ``found``, what the state dict is); refused when unknown or not ``found``."""
    if arch is None:
        return found
    if arch not in ARCHITECTURES:
        raise UnsupportedArchitecture(f"unknown CompressAI architecture {arch!r}; supported: {_SUPPORTED}")
    if arch != found:
        raise CheckpointError(f"the checkpoint is a {found} model, not {arch}")
    return arch


def _width(state: dict, key: str, name: str) -> int:
    """``N`` or ``M``: the output channels of ``state[key]``, in 1..MAX_WIDTH."""
    width = _leading(state, key)
    if not 1 <= width <= MAX_WIDTH:
        raise WeightsError(f"{key} declares {name}={width} channels; expected 1..{MAX_WIDTH}")
    return width


def _canonical_names(state: dict) -> dict[str, str]:
    """CompressAI's current name -> the key in ``state`` (WeightsError when two keys name one parameter)."""
    names: dict[str, str] = {}
    for key in state:
        name = _canonical(key)
        if name in names:
            raise WeightsError(f"{_show(key)} and {_show(names[name])} are both {name}; expected one of them")
        names[name] = key
    return names


def _bottleneck_filters(state: dict, names: dict[str, str]) -> tuple[int, ...]:
    """The entropy bottleneck's hidden widths, from ``matrices.0 .. matrices.K-1`` (``[C, out, in]``)."""
    prefix = "entropy_bottleneck.matrices."
    found = sorted(int(n[len(prefix):]) for n in names if re.fullmatch(r"entropy_bottleneck\.matrices\.[0-9]+", n))
    count = next((i for i in range(len(found) + 1) if i not in found), len(found))
    if count == 0 or count != len(found):
        raise WeightsError(f"{prefix}{count} is missing; expected the entropy bottleneck's matrices.0 .. "
                           "matrices.K-1")
    if count > MAX_BOTTLENECK_LAYERS + 1:
        raise WeightsError(f"the entropy bottleneck has {count} layers; expected at most {MAX_BOTTLENECK_LAYERS + 1}")
    filters = []
    for i in range(count - 1):
        key = names[f"{prefix}{i}"]
        value = state[key]
        if value.dim() != 3:
            raise WeightsError(f"{_show(key)} has shape {tuple(value.shape)}; expected a 3-d [channels, units, inputs] "
                               "tensor")
        if not 1 <= value.shape[1] <= MAX_BOTTLENECK_UNITS:
            raise WeightsError(f"{_show(key)} declares {value.shape[1]} units; expected 1..{MAX_BOTTLENECK_UNITS}")
        filters.append(int(value.shape[1]))
    return tuple(filters)


def _check_numbers(key: str, value: torch.Tensor, what: str) -> None:
    """A tensor we read: floating point and finite (also once in float32, as the model keeps it)."""
    if value.dtype not in _FLOATS:
        raise WeightsError(f"{_show(key)} has dtype {str(value.dtype).replace('torch.', '')}; expected {what} of "
                           "floating-point numbers (float16/bfloat16/float32/float64)")
    if not bool(torch.isfinite(value.float()).all()):
        raise WeightsError(f"{_show(key)} holds NaN or infinite values (in float32); expected finite numbers")


def validate_state_dict(state: dict, arch: str | None = None) -> tuple[str, int, int, tuple[int, ...]]:
    """Check a CompressAI state dict before anything is built from it; returns ``(arch, N, M, filters)``.

    A checkpoint is untrusted input: whatever is wrong with it ends here, in a one-line error naming the
    offending key and what was expected, not in a traceback, a huge allocation, or a model that writes
    undecodable streams. The checks, in order:

    1. keys are strings; values are dense (strided, not sparse) tensors on the CPU (not meta);
    2. the architecture: :class:`UnsupportedArchitecture` for a context model or an unknown ``arch``,
       :class:`CheckpointError` for a state dict of another architecture than ``arch``;
    3. the widths ``N`` (``g_a.0.weight``) and ``M`` (``g_a.6.weight``) are 1..:data:`MAX_WIDTH`, the entropy
       bottleneck's layers (``matrices.i``) within :data:`MAX_BOTTLENECK_LAYERS` / :data:`MAX_BOTTLENECK_UNITS`;
    4. the names: every parameter of :func:`expected_shapes` is there, once (older names count), and
       nothing else but what CompressAI keeps for its own coder (CDF tables, ...: never read);
    5. every tensor read is floating point, finite (no NaN, no infinity, also in float32) and has exactly
       its expected shape; the GDN reparametrization constants (``..._reparam.pedestal`` / ``.bound``) are one
       finite number each; the bottleneck's medians at most :data:`MAX_MEDIAN` in magnitude.

    Raises WeightsError (or its subclasses above); all of it on shapes and values, before any model exists.

    Example:
        >>> validate_state_dict(example_state_dict("bmshj2018-hyperprior", N=8, M=12))
        ('bmshj2018-hyperprior', 8, 12, (3, 3, 3, 3))
        >>> bad = example_state_dict("bmshj2018-hyperprior", N=8, M=12)
        >>> bad["h_a.2.weight"] = bad["h_a.2.weight"][0]
        >>> try:
        ...     validate_state_dict(bad)
        ... except WeightsError as e:
        ...     print(e)
        h_a.2.weight has shape (8, 5, 5); expected (8, 8, 5, 5) (bmshj2018-hyperprior with N=8, M=12)
    """
    _check_entries(state)
    arch = _resolve_arch(arch, infer_arch(state))
    N, M = _width(state, "g_a.0.weight", "N"), _width(state, "g_a.6.weight", "M")
    names = _canonical_names(state)
    filters = _bottleneck_filters(state, names)
    expected = expected_shapes(arch, N, M, filters)
    for name in expected:
        if name not in names:
            raise WeightsError(f"{name} is missing (expected in a {arch} checkpoint with N={N}, M={M})")
    for name, key in names.items():
        if name not in expected and not _IGNORED.search(name):
            raise WeightsError(f"unexpected parameter {_show(key)} for {arch}")
    for name, shape in expected.items():
        value = state[names[name]]
        _check_numbers(names[name], value, f"a {shape} tensor")
        if tuple(value.shape) != shape:
            raise WeightsError(f"{_show(names[name])} has shape {tuple(value.shape)}; expected {shape} ({arch} with "
                               f"N={N}, M={M})")
    medians = state[names["entropy_bottleneck.quantiles"]][:, 0, 1]
    if float(medians.abs().max()) > MAX_MEDIAN:
        raise WeightsError(f"entropy_bottleneck.quantiles has a median (quantiles[:, 0, 1]) of "
                           f"{float(medians.abs().max()):.3g}; expected at most 2^24 in magnitude")
    for name, key in names.items():  # the GDN constants _non_negative reads
        if "_reparam." in name and name.split("_reparam.")[0] in expected:
            _check_numbers(key, state[key], "one number")
            if state[key].numel() != 1:
                raise WeightsError(f"{_show(key)} has shape {tuple(state[key].shape)}; expected one number, (1,)")
    return arch, N, M, filters


def _non_negative(state: dict, prefix: str, minimum: float, pedestal: float) -> torch.Tensor:
    """CompressAI's stored ``p`` of a GDN parameter -> its value, in float64."""
    p = state[prefix].double()
    ped = float(state.get(prefix + "_reparam.pedestal", torch.tensor([CAI_PEDESTAL])).reshape(-1)[0])
    bound = float(state.get(prefix + "_reparam.lower_bound.bound",
                            torch.tensor([math.sqrt(minimum + ped)])).reshape(-1)[0])
    return torch.clamp(p, min=bound) ** 2 - ped


def convert_state_dict(state: dict, arch: str | None = None) -> tuple[dict, torch.Tensor, int, int, tuple]:
    """CompressAI parameter names and encodings -> ours (see the module docstring), after
    :func:`validate_state_dict`. Returns ``(state, medians, N, M, filters)``: our state dict (without coding
    tables), the bottleneck's per-channel medians and the widths."""
    arch, N, M, filters = validate_state_dict(state, arch)
    return (*_convert(state, arch), N, M, filters)


def _convert(state: dict, arch: str) -> tuple[dict, torch.Tensor]:
    """:func:`convert_state_dict` of a validated state dict: ``(our state dict, medians)``."""
    from ..layers import NonNegative

    after = "g_s" if arch == "bmshj2018-factorized" else "h_s"  # the transform that starts with the shift
    density = "entropy_y" if arch == "bmshj2018-factorized" else "entropy_z"
    out, medians = {}, None
    for key, value in state.items():
        if _IGNORED.search(key):
            continue
        if key == "entropy_bottleneck.quantiles":
            medians = value.detach().float()[:, 0, 1].clone()
            continue
        if _EB.match(key):  # entropy_bottleneck.<kind>.<i> -> <density>.<kind>.<i>
            out[f"{density}.{_canonical(key)[len('entropy_bottleneck.'):]}"] = value.float()
            continue
        parts = key.split(".")
        idx = int(parts[1]) + (parts[0] == after)
        if parts[2] in ("beta", "gamma"):
            minimum = CAI_BETA_MIN if parts[2] == "beta" else 0.0
            v = _non_negative(state, key, minimum, CAI_PEDESTAL)
            q = torch.sqrt(v + NonNegative.pedestal).float()
            if not bool(torch.isfinite(q).all()):
                raise WeightsError(f"{key} and its {key}_reparam.pedestal / lower_bound.bound give NaN or infinite "
                                   "values; expected CompressAI's GDN reparametrization")
            out[f"{parts[0]}.{idx}.{parts[2]}.param"] = q
            continue
        if arch == "mbt2018-mean" and parts[0] == "h_s" and parts[1] == "4":  # (scales, means) -> (means, scales)
            value = torch.cat(value.chunk(2, dim=0)[::-1])
        out[f"{parts[0]}.{idx}.{parts[2]}"] = value.float()
    return out, medians


def build_from_state_dict(state: dict, arch: str | None = None, lmbda: float | None = None):
    """A ready neurcomp model (eval mode, integer tables built) from a CompressAI state dict; the state dict
    is checked (:func:`validate_state_dict`) before the model is built."""
    arch, N, M, filters = validate_state_dict(state, arch)
    converted, medians = _convert(state, arch)
    model = ARCHITECTURES[arch](N, M, lmbda=DEFAULT_LAMBDA if lmbda is None else float(lmbda), filters=filters)
    target = model.state_dict()
    wrong = [k for k, v in converted.items() if k not in target or target[k].shape != v.shape]
    needed = {k for k, _ in model.named_parameters() if "gain" not in k}
    missing = sorted(needed - set(converted))
    if wrong or missing:
        what = (f"{wrong[0]} {tuple(converted[wrong[0]].shape)} does not fit" if wrong else f"{missing[0]} is missing")
        raise WeightsError(f"checkpoint does not fit {arch} with N={N}, M={M} ({what})")
    target.update(converted)
    model.load_state_dict(target)
    model.set_medians(medians)
    model.update()
    return model.eval()


# ----------------------------------------------------------------------------- files and names


def cache_dir() -> Path:
    """Where published CompressAI weights are kept: ``<data folder>/compressai``."""
    from ..data import data_dir

    return data_dir() / "compressai"


def published_url(arch: str, quality: int) -> str:
    return f"{ROOT_URL}/{PUBLISHED[arch][int(quality)]}"


def parse_name(name: str) -> tuple[str, int]:
    """``"compressai:mbt2018-mean:3"`` -> ``("mbt2018-mean", 3)``; CheckpointError otherwise."""
    parts = name[len(PREFIX):].split(":") if name.startswith(PREFIX) else []
    arch = parts[0] if parts else ""
    if arch not in PUBLISHED:
        raise CheckpointError(f"unknown CompressAI model {name!r}; use compressai:ARCH:QUALITY with ARCH one of "
                              f"{_SUPPORTED} and QUALITY 1..8")
    if len(parts) != 2 or not parts[1].isdigit() or int(parts[1]) not in PUBLISHED[arch]:
        raise CheckpointError(f"{name!r} names no published weights: use {PREFIX}{arch}:QUALITY (QUALITY 1..8, "
                              "e.g. --model compressai:mbt2018-mean:3) or your own file (--checkpoint FILE)")
    return arch, int(parts[1])


def published_names(arch: str = "mbt2018-mean") -> list[str]:
    """The names of CompressAI's published MSE weights of ``arch``, quality 1 (lowest rate) to 8: what the
    ``full`` profile of the book's iterative-inference chapters can load with :func:`load_compressai`
    (paper-scale models without training them; each file is downloaded once).

    Example:
        >>> published_names()[2], QUALITY_LAMBDAS[3]
        ('compressai:mbt2018-mean:3', 0.0067)
    """
    return [f"{PREFIX}{arch}:{q}" for q in sorted(PUBLISHED[arch])]


def _hash_prefix(file_name: str) -> str | None:
    m = re.search(r"-([0-9a-f]{8,64})\.pth(?:\.tar)?$", file_name)
    return m.group(1) if m else None


def _check_prefix(path: Path, prefix: str) -> str:
    digest = sha256_file(path)
    if not digest.startswith(prefix):
        raise WeightsError(f"{path} has sha256 {digest[:12]}..., but its name says {prefix}...: the file is "
                           "corrupted or incomplete (delete it and download it again)")
    return digest


def fetch_published(arch: str, quality: int, folder=None) -> Path:
    """The path of CompressAI's published ``arch`` at ``quality`` (MSE): from the cache folder, or
    downloaded into it once (checked against the SHA-256 prefix in the file name before it is saved)."""
    import hashlib

    from .. import data
    from ..fileio import atomic_write

    file_name = PUBLISHED[arch][int(quality)]
    folder = Path(folder) if folder is not None else cache_dir()
    path = folder / file_name
    prefix = _hash_prefix(file_name)
    if path.is_file():
        _check_prefix(path, prefix)
        return path
    url = published_url(arch, quality)
    try:
        blob = data._download(url, timeout=120.0)
    except Exception as err:  # offline, DNS, HTTP error, timeout ...
        reason = " ".join(str(err).split()) or type(err).__name__
        raise WeightsError(f"{PREFIX}{arch}:{quality} is not in {folder} and could not be downloaded ({reason}); "
                           f"download {url} into {folder}/ or pass the file with --checkpoint FILE") from None
    digest = hashlib.sha256(blob).hexdigest()
    if not digest.startswith(prefix):
        raise WeightsError(f"downloaded {url} has sha256 {digest[:12]}..., expected {prefix}...; not saved")
    try:
        atomic_write(path, blob)
    except OSError as err:
        raise WeightsError(f"cannot write {path} ({err.strerror or err}); set NEURCOMP_DATA to a writable "
                           "folder") from None
    return path


def _lambda_from_file_name(path: Path) -> float | None:
    """The lambda of a published MSE file's quality, from its name (``...-<quality>-<hash>.pth.tar``)."""
    m = re.search(r"-(\d)-[0-9a-f]{8}\.pth(?:\.tar)?$", path.name)
    if m and "ms-ssim" not in path.name and int(m.group(1)) in QUALITY_LAMBDAS:
        return QUALITY_LAMBDAS[int(m.group(1))]
    return None


@lru_cache(maxsize=8)
def _load_cached(path: str, size: int, mtime_ns: int, arch: str | None, lmbda: float | None):
    p = Path(path)
    prefix = _hash_prefix(p.name) if any(p.name in q.values() for q in PUBLISHED.values()) else None
    digest = _check_prefix(p, prefix) if prefix else sha256_file(p)
    state = read_state_dict(p)
    try:
        model = build_from_state_dict(state, arch, lmbda if lmbda is not None else _lambda_from_file_name(p))
    except WeightsError as e:
        raise type(e)(f"{p}: {e}") from None
    return model, digest


def checkpoint_entry(path, arch: str | None = None, lmbda: float | None = None, name: str | None = None):
    """``(model, rate_idx, entry)`` for a CompressAI checkpoint file, like :func:`neurcomp.zoo.load_pretrained`
    for shipped models: ``entry`` has ``name`` (``compressai:<arch>``, what a stream records), ``sha256``
    (of the file; a stream records its first 8 bytes), ``value`` (lambda), ``file`` and ``arch``."""
    p = Path(path).expanduser()
    if not p.is_file():
        raise WeightsError(f"checkpoint {p} does not exist")
    st = p.stat()
    model, digest = _load_cached(str(p.resolve()), st.st_size, st.st_mtime_ns, arch, lmbda)
    entry = {"name": name or f"{PREFIX}{model.arch}", "kind": model.kind, "rate_param": "lambda",
             "value": model.lambdas[0], "params": sum(t.numel() for t in model.parameters()), "rate_idx": 0,
             "base": name or f"{PREFIX}{model.arch}", "file": str(p), "sha256": digest, "arch": model.arch}
    return model, 0, entry


def load_published(name: str, folder=None):
    """``(model, rate_idx, entry)`` for a published name such as ``"compressai:mbt2018-mean:3"``."""
    arch, quality = parse_name(name)
    return checkpoint_entry(fetch_published(arch, quality, folder), arch, QUALITY_LAMBDAS[quality], name=name)


def load_compressai(path_or_name, arch: str | None = None, lmbda: float | None = None):
    """A ready neurcomp model from a CompressAI checkpoint file or a published name.

    Args:
        path_or_name: a checkpoint file (a state dict as CompressAI saves it), or
            ``"compressai:<arch>:<quality>"`` for CompressAI's published MSE weights (downloaded once).
        arch: ``"bmshj2018-factorized"``, ``"bmshj2018-hyperprior"`` or ``"mbt2018-mean"``; default:
            read off the state dict.
        lmbda: the model's rate-distortion trade-off (``bpp + lambda * 255^2 * MSE``), used by the
            iterative encoders; default: CompressAI's lambda of the quality of a published name or file
            name, else :data:`DEFAULT_LAMBDA`.

    Returns the model (eval mode, integer tables built; ``rate_idx`` 0). Code an image with
    ``model.compress(x)``, or write streams with ``neurcomp.codec.compress_image(x, checkpoint=path)``.
    """
    text = str(path_or_name)
    if text.startswith(PREFIX) and not Path(text).exists():
        found, quality = parse_name(text)
        if arch is not None and arch != found:
            raise CheckpointError(f"{text} is a {found} model, not {arch}")
        return checkpoint_entry(fetch_published(found, quality), found,
                                QUALITY_LAMBDAS[quality] if lmbda is None else lmbda)[0]
    return checkpoint_entry(path_or_name, arch, lmbda)[0]


def stream_checkpoint(stream_model: str, checkpoint=None):
    """``(model, rate_idx, entry)`` for a stream that names ``stream_model`` and the ``checkpoint`` it came
    with: CheckpointError when a ``compressai:<arch>`` stream comes without one, or a shipped model's stream
    with one (``neurcomp.zoo.load_for_stream`` decides)."""
    if not stream_model.startswith(PREFIX):
        raise CheckpointError(f"the stream was written with the shipped model {stream_model}, not a CompressAI "
                              "checkpoint: decode it without --checkpoint")
    if checkpoint is None:
        if stream_model.count(":") == 1:
            raise CheckpointError(f"the stream was written with a CompressAI checkpoint ({stream_model}): decode "
                                  "it with --checkpoint FILE (the same file)")
        return load_published(stream_model)
    return checkpoint_entry(checkpoint)  # a checkpoint of another model fails the stream's fingerprint check


def example_state_dict(arch: str, N: int = 8, M: int = 12, seed: int = 0) -> dict:
    """A state dict with CompressAI's names and encodings for ``arch`` (random weights, medians not 0), made
    from a neurcomp model: for examples and tests (the golden fixture in ``tests/fixtures/compressai/``
    was made by CompressAI itself)."""
    torch.manual_seed(seed)
    model = ARCHITECTURES[arch](N, M)
    density = "entropy_y" if arch == "bmshj2018-factorized" else "entropy_z"
    after = "g_s" if arch == "bmshj2018-factorized" else "h_s"
    out = {}
    for key, value in model.state_dict().items():
        parts = key.split(".")
        if parts[0] == density:
            if parts[1] in ("matrices", "biases", "factors"):
                out[f"entropy_bottleneck.{parts[1]}.{parts[2]}"] = value.clone()
            continue
        if parts[0] not in ("g_a", "g_s", "h_a", "h_s") or parts[-1] == "offset":
            continue
        idx = int(parts[1]) - (parts[0] == after)
        if parts[2] in ("beta", "gamma"):  # ours -> value -> CompressAI's encoding
            v = value.double() ** 2 - 2.0 ** -18
            out[f"{parts[0]}.{idx}.{parts[2]}"] = torch.sqrt(v.clamp_min(0) + CAI_PEDESTAL).float()
            continue
        if arch == "mbt2018-mean" and parts[0] == "h_s" and idx == 4:
            value = torch.cat(value.chunk(2, dim=0)[::-1])
        out[f"{parts[0]}.{idx}.{parts[2]}"] = value.clone()
    channels = N if density == "entropy_z" else M
    medians = torch.linspace(-0.45, 0.45, channels)
    out["entropy_bottleneck.quantiles"] = torch.stack([medians - 10, medians, medians + 10], 1)[:, None, :]
    return out


__all__ = ["load_compressai", "checkpoint_entry", "load_published", "fetch_published", "read_state_dict",
           "infer_arch", "validate_state_dict", "expected_shapes", "convert_state_dict", "build_from_state_dict",
           "published_url", "published_names", "parse_name", "stream_checkpoint", "example_state_dict",
           "CheckpointError", "UnsupportedArchitecture", "MAX_WIDTH", "MAX_MEDIAN", "PUBLISHED", "QUALITY_LAMBDAS",
           "ROOT_URL", "DEFAULT_LAMBDA", "NO_BITS_BACK"]
