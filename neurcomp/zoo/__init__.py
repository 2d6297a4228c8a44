"""Shipped pretrained weights: registry, SHA-256 check, ``load_pretrained(name)``.

Each shipped network is a safetensors file in ``neurcomp/weights/`` with a model
card beside it (``<file>.json``: config, training data and steps, wall time,
Kodak results, learning curve, sha256). A variable-rate network is listed once
per rate point, as ``<base>@<lambda>`` (e.g. ``mshp@0.0067``).

Shipping a trained network (export + Kodak results on the card) is the command
``python -m neurcomp.zoo CHECKPOINT NAME`` (:mod:`neurcomp.zoo.__main__`).

Every model the codec codes with comes from here, by one of three routes (:func:`load_model`):
a shipped name (the cards), a name of another *source* ``<scheme>:<rest>`` (:data:`SOURCES`: today
``compressai:ARCH:QUALITY``, CompressAI's published weights), or a checkpoint file that a source
reads (``--checkpoint``). A source is a :class:`ModelSource`; the CLI and the codec ask the
registry, never a name prefix.

Example:
    >>> "mshp@0.0067" in [m["name"] for m in list_models()]
    True
    >>> model, rate_idx, entry = load_pretrained("mshp@0.0067")
    >>> model.kind, rate_idx, entry["value"]
    ('hyperprior', 3, 0.0067)
"""
from __future__ import annotations

import json
import os
import warnings
from functools import lru_cache
from pathlib import Path
from typing import Callable, NamedTuple

import torch
from safetensors.torch import load_file, save_file

from ..fileio import sha256_file
from ..models import build_model
from . import compressai, overfit
from .errors import UnknownModel, WeightsError  # defined apart, for neurcomp.zoo.compressai

WEIGHTS_DIR = Path(__file__).resolve().parents[1] / "weights"


class ModelSource(NamedTuple):
    """Where models other than the shipped cards come from: names ``<scheme>:<rest>`` and checkpoint files.
    Each member returns ``(model, rate_idx, entry)`` like :func:`load_pretrained` (but ``with_quality``)."""

    load: Callable  # (name) -> (model, rate_idx, entry)
    load_checkpoint: Callable  # (path, arch, lmbda) -> ...: a checkpoint file (``--checkpoint``)
    for_stream: Callable  # (the stream's model name, checkpoint path or None) -> ...: what decodes a stream
    with_quality: Callable  # (name, quality) -> the full name of a rate point (``--model NAME --quality N``)
    catalogue: Callable = list  # () -> rows that ``neurcomp models`` lists besides the shipped cards
    details: Callable = lambda stream_model, sections: {}  # what ``neurcomp info`` adds for its streams


#: the sources by scheme; ``CHECKPOINT_SOURCE`` reads ``--checkpoint`` files
SOURCES = {"compressai": ModelSource(compressai.load_published, compressai.checkpoint_entry,
                                     compressai.stream_checkpoint, compressai.name_with_quality),
           "overfit": ModelSource(overfit.load_named, None, overfit.stream_entry, overfit.name_with_quality,
                                  overfit.catalogue, overfit.details)}
CHECKPOINT_SOURCE = "compressai"


def source_of(name: str) -> ModelSource | None:
    """The :class:`ModelSource` that serves ``name`` (``None`` for a shipped name).

    Example:
        >>> source_of("mshp@0.0067") is None, source_of("compressai:mbt2018-mean:3") is SOURCES["compressai"]
        (True, True)
    """
    scheme, sep, _ = name.partition(":")
    return SOURCES.get(scheme) if sep else None


def load_model(name: str | None = None, checkpoint=None, arch: str | None = None, lmbda: float | None = None):
    """``(model, rate_idx, entry)``: the checkpoint file ``checkpoint`` (read by :data:`CHECKPOINT_SOURCE`;
    ``arch`` and ``lmbda`` as in :func:`neurcomp.zoo.compressai.checkpoint_entry`), or the model ``name``
    (:func:`load_pretrained`)."""
    if checkpoint is not None:
        return SOURCES[CHECKPOINT_SOURCE].load_checkpoint(checkpoint, arch, lmbda)
    return load_pretrained(name)


def name_with_quality(name: str, quality: int) -> str:
    """The model name of rate point ``quality`` (1 = lowest rate) of the network ``name``; a full name
    (``mshp@0.0067``) of a shipped network is replaced by its ``quality``-th rate point."""
    source = source_of(name)
    if source is not None:
        return source.with_quality(name, quality)
    return by_quality(name.split("@")[0], quality)["name"]


def weights_dirs() -> list[Path]:
    """The shipped folder, then any folders listed in ``$NEURCOMP_WEIGHTS_PATH`` (os.pathsep separated)."""
    extra = [Path(p) for p in os.environ.get("NEURCOMP_WEIGHTS_PATH", "").split(os.pathsep) if p]
    return [WEIGHTS_DIR, *extra]


CARD_KEYS = ("name", "file", "config", "params", "sha256")


def _read_card(path: Path) -> dict:
    """A model card, checked for what the zoo needs; WeightsError naming the file otherwise."""
    try:
        card = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise WeightsError(f"model card {path} is not readable JSON ({e})") from None
    missing = [k for k in CARD_KEYS if not isinstance(card, dict) or k not in card]
    if missing:
        raise WeightsError(f"model card {path} lacks {', '.join(missing)}")
    cfg = card["config"]
    if not isinstance(cfg, dict) or not any(isinstance(cfg.get(k), list) and cfg[k] for k in ("lambdas", "betas")):
        raise WeightsError(f"model card {path} has no rate points (config.lambdas or config.betas)")
    card["_dir"] = str(path.parent)
    return card


def _cards(weights_dir: Path | None = None) -> list[dict]:
    """Every card of the shipped folder and the user folders; a bad card in a user folder is skipped with
    a one-line warning (the other models keep working); one in the shipped folder is an error."""
    cards = []
    dirs = weights_dirs() if weights_dir is None else [Path(weights_dir)]
    for p in sorted(q for d in dirs for q in d.glob("*.json")):
        try:
            cards.append(_read_card(p))
        except WeightsError as e:
            if p.parent == WEIGHTS_DIR:
                raise
            warnings.warn(f"skipping {e}", stacklevel=2)
    return cards


def list_models(weights_dir: Path | None = None) -> list[dict]:
    """One entry per shipped rate point: ``name, kind, rate_param, value, params`` (+ file, base, rate_idx)."""
    out = []
    for card in _cards(weights_dir):
        cfg = card["config"]
        rate_param = card.get("rate_param", "beta" if "betas" in cfg else "lambda")
        values = cfg[rate_param + "s"]
        for i, lam in enumerate(values):
            name = f"{card['name']}@{lam:g}" if len(values) > 1 else card["name"]
            out.append({"name": name, "kind": card.get("kind", cfg["kind"]), "rate_param": rate_param,
                        "value": lam, "params": card["params"], "base": card["name"], "rate_idx": i,
                        "file": str(Path(card["_dir"]) / card["file"]), "sha256": card["sha256"]})
    return out


def resolve(name: str, weights_dir: Path | None = None) -> dict:
    entries = list_models(weights_dir)
    for e in entries:
        if e["name"] == name:
            return e
    bases = sorted({e["base"] for e in entries})
    if name in bases:
        raise UnknownModel(f"model {name!r} has several rate points; pick one of: "
                           + ", ".join(e["name"] for e in entries if e["base"] == name) + " (or add --quality N)")
    known = ", ".join(e["name"] for e in entries) or "(none shipped)"
    raise UnknownModel(f"unknown model {name!r}; shipped models: {known}")


def by_quality(base: str, quality: int, weights_dir: Path | None = None) -> dict:
    """The entry of network ``base`` at ``quality`` (1 = the lowest rate, as CompressAI and JPEG tools
    count: the smallest lambda, or the largest beta).

    Example:
        >>> by_quality("mshp", 1)["name"], by_quality("pln", 1)["name"]
        ('mshp@0.0009', 'pln@1100')
    """
    entries = [e for e in list_models(weights_dir) if e["base"] == base]
    if not entries:
        known = ", ".join(sorted({e["base"] for e in list_models(weights_dir)}))
        raise UnknownModel(f"unknown network {base!r}; shipped networks: {known}")
    entries.sort(key=lambda e: -e["value"] if e["rate_param"] == "beta" else e["value"])
    if not 1 <= int(quality) <= len(entries):
        raise UnknownModel(f"{base} has qualities 1..{len(entries)} (1 = lowest rate), not {quality}")
    return entries[int(quality) - 1]


def load_weights(path, config: dict, sha256: str | None = None) -> torch.nn.Module:
    """Build ``config``'s model and load a safetensors file, checking its SHA-256 first."""
    path = Path(path)
    if not path.exists():
        raise WeightsError(f"weights file {path} is missing (reinstall neurcomp or re-export the model)")
    if sha256 is not None:
        actual = sha256_file(path)
        if actual != sha256:
            raise WeightsError(f"weights file {path} has sha256 {actual[:16]}..., expected {sha256[:16]}...: "
                               "the file is corrupted or was replaced")
    try:
        state = load_file(str(path))
    except Exception as e:  # safetensors raises its own error types for a malformed file
        raise WeightsError(f"weights file {path} is not a valid safetensors file ({e})") from None
    try:
        model = build_model(config)
        model.load_state_dict({k: (v.float() if v.is_floating_point() else v) for k, v in state.items()})
    except (TypeError, ValueError, RuntimeError, KeyError) as e:
        raise WeightsError(f"weights file {path} does not fit its card's config ({str(e).splitlines()[0]})") from None
    return model.eval()


@lru_cache(maxsize=8)
def _load_cached(file: str, sha256: str, config_json: str) -> torch.nn.Module:
    return load_weights(file, json.loads(config_json), sha256)


def load_pretrained(name: str, weights_dir: Path | None = None):
    """``(model, rate_idx, entry)`` for a shipped model name such as ``"mshp@0.0067"`` (or CompressAI's
    published weights by name, ``"compressai:mbt2018-mean:3"``: :mod:`neurcomp.zoo.compressai`)."""
    source = source_of(name)
    if source is not None:
        return source.load(name)
    entry = resolve(name, weights_dir)
    card = next(c for c in _cards(weights_dir) if c["name"] == entry["base"])
    model = _load_cached(entry["file"], entry["sha256"], json.dumps(card["config"], sort_keys=True))
    return model, entry["rate_idx"], entry


def load_for_stream(stream_model: str, checkpoint=None):
    """``(model, rate_idx, entry)`` to decode a stream that names ``stream_model``: a shipped model, CompressAI's
    published weights, or ``checkpoint`` (a CompressAI checkpoint file; a ``compressai:<arch>`` stream needs it)."""
    source = source_of(stream_model)
    if checkpoint is None and source is None:
        return load_pretrained(stream_model)
    return (source or SOURCES[CHECKPOINT_SOURCE]).for_stream(stream_model, checkpoint)


def model_card(base: str) -> dict:
    """The model card (JSON) of a shipped network, e.g. ``model_card("mshp")``."""
    for card in _cards():
        if card["name"] == base:
            return {k: v for k, v in card.items() if k != "_dir"}
    raise UnknownModel(f"no shipped network named {base!r}")


def fingerprint(entry: dict) -> bytes:
    """The 8 bytes of the weights hash that a stream records."""
    return bytes.fromhex(entry["sha256"][:16])


def export(checkpoint, name: str, out_dir: Path = WEIGHTS_DIR, card: dict | None = None) -> dict:
    """Turn a training checkpoint into shipped weights (float16) + a model card; returns the card."""
    ck = torch.load(checkpoint, map_location="cpu", weights_only=True) if not isinstance(checkpoint, dict) else checkpoint
    config = ck["config"]["model"]
    model = build_model(config)
    model.load_state_dict(ck["model"])
    # round the weights to float16 first, so the tables are built from exactly the shipped numbers
    model.load_state_dict({k: v.half().float() if v.is_floating_point() else v for k, v in model.state_dict().items()})
    model.update()
    state = {k: (v.half() if v.is_floating_point() else v).contiguous() for k, v in model.state_dict().items()}
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    file = out_dir / f"{name}.safetensors"
    save_file(state, str(file))
    os.chmod(file, 0o644)  # safetensors writes through a private temporary file (mode 0600)
    info = {"name": name, "file": file.name, "kind": config["kind"],
            "rate_param": "beta" if "betas" in config else "lambda", "config": config,
            "params": sum(p.numel() for p in model.parameters()), "sha256": sha256_file(file),
            "training": {"steps": ck.get("step"), "train_seconds": round(ck.get("train_seconds", 0.0), 1),
                         "config": {k: v for k, v in ck["config"].items() if k != "model"}},
            "learning_curve": ck.get("history", []), **(card or {})}
    (out_dir / f"{name}.json").write_text(json.dumps(info, indent=1))
    _load_cached.cache_clear()
    return info
