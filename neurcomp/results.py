"""One record type for every rate-distortion result: what the benchmarks and ``neurcomp eval`` write
and what the book reads.

A *results file* is JSON::

    {"format": "neurcomp-results/1",
     "provenance": {"command": ..., "run_id": ..., "weights": {base: 16 hex digits of the sha256}, ...},
     "records": [Record, ...],
     ...}                                   # anything else the writer keeps (its tables, args, ...)

Each :class:`Record` is one image coded at one rate point by one method, in fixed units: ``bpp``
is bits per pixel of the image coded (the file's size with its header, or the payload where a
benchmark says so in ``extra``; for bits-back the *net* rate, the bits taken back subtracted),
``psnr`` dB on 8-bit pixels, ``ms_ssim`` the linear index (None where the image is too small),
``ideal_bpp`` the model's ideal rate of the same kind as ``ideal`` ("information content", "NELBO"
or "KL"), ``enc_s`` / ``dec_s`` seconds. ``label`` names the row of a results table the record
belongs to; writers make it with :func:`row_label` from the model's own ``title`` and
:data:`METHOD_LABELS`, so a reader groups records by ``(label, group)`` without knowing any model.

Example:
    >>> r = Record(label="JPEG", group="kodak", image="kodim01", model="jpeg@50", base="jpeg", value=50,
    ...            method="jpeg", bpp=1.02, psnr=31.5)
    >>> Record.from_json(r.to_json()) == r
    True
    >>> row_label("mean-scale hyperprior", "mshp", "sga", 2000)
    'mean-scale hyperprior (mshp), SGA [M1], 2000 steps'
    >>> group_name("kodak", None), group_name("kodak", 128)
    ('kodak', 'crops 128')
"""
from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import os
import platform
import sys
import uuid
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Iterable, Mapping

from . import __version__
from .fileio import atomic_write

FORMAT = "neurcomp-results/1"

#: the label of every encoding method and classical codec, in every table and legend (the tags M1-M3 and
#: A1-A6 are Yang, Bamler & Mandt 2020's names of their methods and ablations)
METHOD_LABELS: dict[str, str] = {
    "amortized": "amortized",
    "sga": "SGA [M1]",
    "map": "MAP [A1]",
    "ste": "STE [A2]",
    "uniform_noise": "uniform noise [A3]",
    "det_annealing": "det. annealing [A4]",
    "bitsback": "SGA + bits-back [M2]",
    "bitsback_no_sga": "bits-back, no SGA [A5]",
    "bitsback_no_iter": "bits-back, no iteration [A6]",
    "seed": "REC, Flamich et al.'s coder",
    "orc": "REC, ordered random coding",
    "orc-hint": "REC, ours (orc-hint)",
    "overfit": "overfitted",
    "jpeg": "JPEG",
    "webp": "WebP",
    "jpeg2000": "JPEG 2000",
    "avif": "AVIF",
}
#: the methods that run a number of optimization steps (the others code in one pass)
STEPPED_METHODS = ("sga", "map", "ste", "uniform_noise", "det_annealing", "bitsback", "bitsback_no_sga", "overfit")
#: classical codecs: their label is the codec's name alone
CODECS = ("jpeg", "webp", "jpeg2000", "avif")


class ResultsFileError(ValueError):
    """A file that is not a results file of this format (one line: which file, what is wrong)."""


@dataclass(frozen=True)
class Record:
    """One image coded at one rate point by one method (units in the module docstring).

    Attributes
    ----------
    label, group : str
        The table row (:func:`row_label`) and the images (:func:`group_name`: ``"kodak"`` or ``"crops 128"``).
    image : str
        The image's name (file stem).
    model, base : str
        The rate point's name (``"mshp@0.0067"``, ``"jpeg@50"``) and the network or codec (``"mshp"``).
    value : float or None
        The rate parameter (lambda, beta or the codec's quality).
    method : str
        The encoding method (``"amortized"``, ``"sga"``, ``"orc-hint"``, ``"jpeg"``, ...).
    bpp, psnr : float
        Bits per pixel; PSNR in dB.
    steps : int or None
        Optimization steps of an iterative method.
    ms_ssim : float or None
        MS-SSIM (linear).
    ideal_bpp : float or None; ideal : str
        The model's ideal rate (bits per pixel) and which it is.
    pixels : int or None
        Pixels of the image coded.
    enc_s, dec_s : float or None
        Encode and decode seconds.
    role : str
        ``"anchor"``: the amortized hyperprior the other rows of its group are compared with.
    extra : dict
        The writer's own per-image fields (e.g. ``bytes``, ``kl_bits``), kept as they are.
    """

    label: str
    group: str
    image: str
    model: str
    base: str
    value: float | None
    method: str
    bpp: float
    psnr: float
    steps: int | None = None
    ms_ssim: float | None = None
    ideal_bpp: float | None = None
    ideal: str = ""
    pixels: int | None = None
    enc_s: float | None = None
    dec_s: float | None = None
    role: str = ""
    extra: dict = field(default_factory=dict, compare=False)

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> "Record":
        names = {f.name for f in fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise ResultsFileError(f"a record has unknown field(s) {', '.join(sorted(unknown))}")
        return cls(**d)


def row_label(title: str, base: str, method: str, steps: int | None = None) -> str:
    """The table label of a network's records: ``"title (base), method label[, N steps]"``; a codec's name alone."""
    if method in CODECS:
        return METHOD_LABELS[method]
    label = f"{title} ({base}), {METHOD_LABELS.get(method, method)}"
    return f"{label}, {steps} steps" if method in STEPPED_METHODS and steps else label


def group_name(dataset: str, crop: int | tuple | None) -> str:
    """``"crops N"`` for centre crops of N pixels a side (``"crops HxW"`` for others), else the data set's name."""
    if not crop:
        return dataset
    h, w = (crop, crop) if isinstance(crop, int) else crop
    return f"crops {h}" if h == w else f"crops {h}x{w}"


@functools.cache
def cpu_fingerprint() -> str:
    """What decides a float32 result's last bits on this machine: the architecture, the CPU's vendor, family,
    model and stepping, a hash of its feature flags (AVX2, AVX-512, AMX, ...), the cache size, the vector
    kernels PyTorch dispatches to and PyTorch's version (Linux: ``/proc/cpuinfo``; elsewhere what
    :mod:`platform` says).

    Recorded in a results file's provenance (``cpu``) and in a re-executed chapter's metadata: float32
    encoders and optimizers are exact on the CPU that wrote a number, within a tolerance on another one.

    >>> fp = cpu_fingerprint(); fp == cpu_fingerprint() and "torch" in fp
    True
    """
    import torch

    parts = [platform.machine()]
    try:
        block = Path("/proc/cpuinfo").read_text().split("\n\n")[0]
        info = dict((k.strip(), v.strip()) for k, _, v in (line.partition(":") for line in block.splitlines()))
        flags = hashlib.sha256(" ".join(sorted(info.get("flags", "").split())).encode()).hexdigest()[:10]
        parts += [info.get("vendor_id", "?"), info.get("model name", "?"),
                   f"family {info.get('cpu family', '?')} model {info.get('model', '?')} stepping {info.get('stepping', '?')}",
                   f"flags {flags}", f"cache {info.get('cache size', '?')}"]
    except OSError:
        parts.append(platform.processor() or "?")
    parts += [f"kernels {torch.backends.cpu.get_cpu_capability()}", f"torch {torch.__version__}"]
    return " | ".join(parts)


def provenance(command: str | None = None, weights: Mapping[str, str | None] | None = None, **more) -> dict:
    """The ``provenance`` block of a results file: the command (default this process's), a new run id,
    the weights fingerprints it depends on, when, and the versions."""
    import torch  # a heavy import only for its version string

    return {"command": command or " ".join(["python", *sys.argv]), "run_id": more.pop("run_id", None) or uuid.uuid4().hex[:12],
            "weights": dict(weights or {}),
            "written": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "neurcomp": __version__, "torch": torch.__version__, "python": platform.python_version(),
            "machine": platform.machine(), "cpu": cpu_fingerprint(), **more}


def write(path: str | os.PathLike, records: Iterable[Record], prov: Mapping[str, Any], **details) -> Path:
    """Write a results file atomically (``details``: the writer's other top-level keys); returns the path."""
    out = {"format": FORMAT, "provenance": dict(prov), **details, "records": [r.to_json() for r in records]}
    return atomic_write(path, (json.dumps(_finite(out), indent=1) + "\n").encode())


@dataclass
class ResultsFile:
    """A results file as read by :func:`read`."""

    path: Path
    records: list
    provenance: dict
    details: dict


def read(path: str | os.PathLike) -> ResultsFile:
    """Read a results file; :class:`ResultsFileError` (one line) if it is not one."""
    path = Path(path)
    try:
        d = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise ResultsFileError(f"{path.name}: cannot read it as JSON ({e})") from None
    if not isinstance(d, dict) or d.get("format") != FORMAT:
        found = d.get("format") if isinstance(d, dict) else type(d).__name__
        raise ResultsFileError(f"{path.name}: not a {FORMAT} results file (format {found!r}); "
                               "upgrade it with python benchmarks/_records.py --upgrade FILE")
    try:
        records = [Record.from_json(r) for r in d.get("records", [])]
    except (TypeError, ResultsFileError) as e:
        raise ResultsFileError(f"{path.name}: {e}") from None
    details = {k: v for k, v in d.items() if k not in ("format", "provenance", "records")}
    return ResultsFile(path, records, d.get("provenance") or {}, details)


def is_results_file(path: str | os.PathLike) -> bool:
    """Whether ``path`` is JSON in this format (cheap: reads the file, checks ``format``)."""
    try:
        d = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return False
    return isinstance(d, dict) and d.get("format") == FORMAT


def _finite(obj):
    """JSON has no NaN or infinity: None instead, recursively (numpy and torch numbers as Python's)."""
    if hasattr(obj, "tolist"):
        obj = obj.tolist()
    if isinstance(obj, float) and obj != obj or obj in (float("inf"), float("-inf")):
        return None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    return obj


__all__ = ["FORMAT", "METHOD_LABELS", "CODECS", "STEPPED_METHODS", "Record", "ResultsFile", "ResultsFileError", "row_label",
           "group_name", "provenance", "write", "read", "is_results_file"]
