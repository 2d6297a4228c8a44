"""A CompressAI state dict as untrusted input: reading it, telling its architecture, and validating every
name, dtype, value and shape before anything is built from it (:func:`validate_state_dict`).

Part of :mod:`neurcomp.zoo.compressai` (which re-exports these names); split off to keep each file to one
concept.
"""
from __future__ import annotations

import re
from pathlib import Path

import torch

from ..models.compressai import ARCHITECTURES
from .errors import UnknownModel, WeightsError


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
        >>> from neurcomp.zoo.compressai import example_state_dict
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
