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

from .. import data
from ..data import data_dir
from ..fileio import sha256_file
from ..layers import NonNegative
from ..models.compressai import ARCHITECTURES, NO_BITS_BACK
from .compressai_state import (  # noqa: F401 (re-exported: this module is their public home)
    _EB, _IGNORED, _SUPPORTED, MAX_MEDIAN, MAX_WIDTH, CheckpointError, UnsupportedArchitecture, _canonical,
    expected_shapes, infer_arch, read_state_dict, validate_state_dict,
)
from .errors import WeightsError

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
    file_name = PUBLISHED[arch][int(quality)]
    folder = Path(folder) if folder is not None else cache_dir()
    path = folder / file_name
    prefix = _hash_prefix(file_name)
    if path.is_file():
        _check_prefix(path, prefix)
        return path
    url = published_url(arch, quality)
    try:
        data.fetch_verified(url, path, prefix, timeout=120.0)
    except data.ChecksumMismatch as err:
        raise WeightsError(str(err)) from None
    except data.DownloadError as err:
        raise WeightsError(f"{PREFIX}{arch}:{quality} is not in {folder} and could not be downloaded ({err}); "
                           f"download {url} into {folder}/ or pass the file with --checkpoint FILE") from None
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


def name_with_quality(name: str, quality: int) -> str:
    """``compressai:ARCH`` with ``--quality N``: ``compressai:ARCH:N`` (a name with its quality stays as it is)."""
    return name if name.count(":") > 1 else f"{name}:{quality}"


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
