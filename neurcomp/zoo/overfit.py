r"""Overfitted codecs by name: ``overfit:<preset>@<lambda>`` (no weights to ship: the stream carries them).

An overfitted model (:class:`~neurcomp.models.OverfitCodec`) is trained on each image when it is
encoded, so the zoo has nothing to load: a name says which *architecture* (a preset of
:data:`PRESETS`) and which rate-distortion trade-off (``lambda``: ``bpp + lambda * 255^2 * MSE``) to
train for. The stream records that name; the decoder rebuilds the architecture from the preset and
reads the networks' quantized parameters from the stream. What the stream's 8-byte "weights" field
holds for it is the first 8 bytes of the SHA-256 of the architecture (:func:`architecture_sha256`), so
a stream written by another architecture under the same preset name is refused.

Presets (the encoding steps only change the encoder's time, not what the decoder needs):

* ``fast``: 8 or 16 hidden units in the entropy model and the synthesis, whichever has the lower R-D cost on
  the image (the encoder fits both; about 760 or 1,600 multiply-accumulates per decoded pixel), 1,000 steps;
* ``slow``: the same decoders, 4,000 steps;
* ``warm``: the same decoders, 1,000 steps, starting from networks fitted to training photos
  (:mod:`neurcomp.train_overfit`, Reptile: one starting point per width at each of its lambdas, the nearest
  one used) instead of random ones; the stream codes the differences to them, so the decoder loads the same
  file (``neurcomp/zoo/overfit_init.json``, its SHA-256 in the architecture fingerprint).

Example:
    >>> model, rate_idx, entry = load_named("overfit:fast@0.0067")
    >>> model.kind, model.lambdas, entry["base"], entry["value"], model.steps
    ('overfit', [0.0067], 'overfit:fast', 0.0067, 1000)
    >>> round(model.macs_per_pixel)
    1605
"""
from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import torch

from ..models import build_model
from ..models.overfit import ARCHITECTURE_REVISION
from .errors import UnknownModel

PREFIX = "overfit:"
#: where the shipped starting networks are (:func:`load_init`)
INIT_DIR = Path(__file__).resolve().parent
#: the architectures by preset name, and the Adam steps each encodes with by default
PRESETS = {
    "fast": {"grids": 7, "widths": [[8, 8], [16, 16]], "steps": 1000},
    "slow": {"grids": 7, "widths": [[8, 8], [16, 16]], "steps": 4000},
    "warm": {"grids": 7, "widths": [[8, 8], [16, 16]], "steps": 1000, "init": "overfit_init"},
}
#: the trade-off ``neurcomp compress --model overfit`` uses without ``--lambda`` (mshp@0.0067's)
DEFAULT_LAMBDA = 0.0067
#: the rate points ``neurcomp models`` lists (the shipped mshp's lambdas; any positive lambda works)
LISTED_LAMBDAS = (0.0018, 0.0067, 0.0483)


def model_name(preset: str = "fast", lmbda: float = DEFAULT_LAMBDA) -> str:
    """The name of an overfitted model: ``model_name("slow", 0.0018)`` is ``"overfit:slow@0.0018"``."""
    if preset not in PRESETS:
        raise UnknownModel(f"overfit presets are {', '.join(PRESETS)}, not {preset!r}")
    if not lmbda > 0:
        raise UnknownModel(f"an overfitted model's lambda is positive, not {lmbda}")
    return f"{PREFIX}{preset}@{float(lmbda):g}"


def parse_name(name: str) -> tuple[str, float]:
    """``"overfit:fast@0.0067"`` -> ``("fast", 0.0067)``; UnknownModel (one line) otherwise."""
    preset, _, value = name[len(PREFIX):].partition("@") if name.startswith(PREFIX) else ("", "", "")
    try:
        lmbda = float(value)
    except ValueError:
        lmbda = float("nan")
    if preset not in PRESETS or not lmbda > 0:
        raise UnknownModel(f"{name!r} is no overfitted model: use overfit:PRESET@LAMBDA with PRESET one of "
                           f"{', '.join(PRESETS)} (e.g. overfit:fast@0.0067), or --model overfit --lambda L")
    return preset, lmbda


def architecture_sha256(config: dict) -> str:
    """The SHA-256 (hex) of what the decoder needs to know of ``config``: kind, grids, widths, the
    revision of the layer layout (:data:`neurcomp.models.overfit.ARCHITECTURE_REVISION`: a stream of an
    earlier layout is refused rather than decoded into noise) and, for a preset that starts from shipped
    networks, the SHA-256 of their file (the stream codes the differences to them)."""
    widths = config.get("widths") or [[config["arm_hidden"], config["synth_hidden"]]]
    arch = {"kind": config["kind"], "grids": config["grids"], "widths": [list(map(int, w)) for w in widths],
            "revision": ARCHITECTURE_REVISION}
    if config.get("init"):
        arch["init_sha256"] = hashlib.sha256(init_path(config["init"]).read_bytes()).hexdigest()
    return hashlib.sha256(json.dumps(arch, sort_keys=True).encode()).hexdigest()


def init_path(name: str) -> Path:
    """The file of the shipped starting networks ``name`` (``neurcomp/zoo/<name>.json``)."""
    path = INIT_DIR / f"{name}.json"
    if not path.is_file():
        raise UnknownModel(f"no shipped overfit starting point {name!r} ({path} is missing)")
    return path


def load_init(name: str, lmbda: float) -> dict[str, dict[str, torch.Tensor]]:
    """The starting networks of :func:`init_path` for the trade-off ``lmbda`` (those fitted at the nearest
    lambda of the file, in log lambda) as :meth:`~neurcomp.models.OverfitCodec.set_init` takes them: per
    width ``"AxS"``, each parameter's tensor (integers times ``2^-fraction_bits``)."""
    card = json.loads(init_path(name).read_text())
    scale = 2.0 ** -int(card["fraction_bits"])
    nearest = min(card["lambdas"], key=lambda v: abs(math.log(float(v) / lmbda)))
    return {width: {n: torch.tensor(t["ints"], dtype=torch.float64).reshape(t["shape"]) * scale
                    for n, t in tensors.items()} for width, tensors in card["lambdas"][nearest].items()}


def load_named(name: str):
    """``(model, rate_idx, entry)`` like :func:`neurcomp.zoo.load_pretrained`, for ``overfit:PRESET@LAMBDA``:
    a fresh (untrained) model of the preset's architecture, its default steps, the one lambda."""
    preset, lmbda = parse_name(name)
    config = {"kind": "overfit", **PRESETS[preset], "lambdas": [lmbda]}
    model = build_model(config).eval()
    if config.get("init"):
        model.set_init(load_init(config["init"], lmbda))
    entry = {"name": name, "base": f"{PREFIX}{preset}", "kind": "overfit", "rate_param": "lambda", "value": lmbda,
             "params": 0, "rate_idx": 0, "sha256": architecture_sha256(config), "config": config}
    return model, 0, entry


def stream_entry(stream_model: str, checkpoint=None):
    """What decodes a stream that names ``stream_model`` (an overfitted stream needs no checkpoint)."""
    if checkpoint is not None:
        raise UnknownModel(f"a {stream_model} stream carries its own networks: decode it without --checkpoint")
    return load_named(stream_model)


def name_with_quality(name: str, quality: int) -> str:
    """``--quality N`` picks the N-th of :data:`LISTED_LAMBDAS` (1 = lowest rate) for a preset name."""
    preset = name[len(PREFIX):].partition("@")[0]
    if not 1 <= int(quality) <= len(LISTED_LAMBDAS):
        raise UnknownModel(f"overfitted models have qualities 1..{len(LISTED_LAMBDAS)} (or any --lambda), not {quality}")
    return model_name(preset, LISTED_LAMBDAS[int(quality) - 1])


def catalogue() -> list[dict]:
    """The rows ``neurcomp models`` lists for overfitted models (any other positive lambda works too)."""
    rows = []
    for preset in PRESETS:
        for lam in LISTED_LAMBDAS:
            name = model_name(preset, lam)
            rows.append({"name": name, "kind": "overfit", "rate_param": "lambda", "value": lam, "params": 0,
                         "base": f"{PREFIX}{preset}"})
    return rows


def details(stream_model: str, sections) -> dict:
    """What ``neurcomp info`` adds for an overfitted stream (no decoding): the decoder's multiply-accumulates
    per pixel and the bits of the stream's two sections (the networks' parameters, the latents; each with
    its coder's few bytes of padding)."""
    model, _, _ = load_named(stream_model)
    if len(sections) == 2 and sections[0] and sections[0][0] < len(model.widths):
        model.build(sections[0][0])  # the width the encoder chose (the section's first byte)
    out = {"macs_per_pixel": round(model.macs_per_pixel, 1), "widths": [model.arm_hidden, model.synth_hidden]}
    if len(sections) == 2:
        out.update(param_bits=8 * len(sections[0]), latent_bits=8 * len(sections[1]))
    return out
