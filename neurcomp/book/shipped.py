"""Shipped networks and test images for the chapters: which rate points, loaded once, cropped.

Part of :mod:`neurcomp.book` (see there for units and conventions).
"""
from __future__ import annotations

import copy
import math
import os
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

import torch

from .. import data, zoo
from ..evaluate import centre_crop
from ..train import DEFAULTS, train
from ..zoo import compressai
from ..zoo.errors import UnknownModel, WeightsError


def networks(kinds: Iterable[str], prefer: Sequence[str] = ()) -> dict[str, list[dict]]:
    """The shipped networks of some kinds, one entry per rate point, sorted by rate parameter.

    Parameters
    ----------
    kinds : iterable of str
        Model kinds (``"hyperprior"``, ``"factorized"``, ``"dvae"``, ...; see ``neurcomp models``).
    prefer : sequence of str
        Network names ("bases") to list first, in this order.

    Returns
    -------
    dict
        ``{base: [entry, ...]}``; each entry is a :func:`neurcomp.zoo.list_models` row (``name``,
        ``kind``, ``value`` = lambda or beta, ``params``, ...), sorted by ``value``.

    Examples
    --------
    >>> nets = networks(["hyperprior"])
    >>> "mshp" in nets, nets["mshp"][0]["name"].startswith("mshp@")
    (True, True)
    """
    kinds = set(kinds)
    out: dict[str, list[dict]] = {}
    for e in zoo.list_models():
        if e["kind"] in kinds:
            out.setdefault(e["base"], []).append(e)
    order = sorted(out, key=lambda b: prefer.index(b) if b in prefer else len(prefer))
    return {b: sorted(out[b], key=lambda e: e["value"]) for b in order}


def network(kind: str, prefer: str | None = None, want: Callable[[dict], bool] | None = None,
            required: bool = False, stand_in: Mapping[str, Any] | None = None, minutes: float = 0.5) -> list[dict]:
    """The rate points of one shipped network of ``kind``, sorted by rate parameter.

    Parameters
    ----------
    kind : str
        The model kind, e.g. ``"hyperprior"`` or ``"pln"``.
    prefer : str, optional
        The network to take when it is shipped (e.g. ``"mshp"``); else the first of that kind.
    want : callable, optional
        Only networks whose config (``zoo.model_card(base)["config"]``) passes this test.
    required : bool
        Raise RuntimeError (naming the installed models) instead of returning an empty list.
    stand_in : mapping, optional
        A model config (``{"kind": ..., "lambdas": [...], ...}``). If no network of ``kind`` is
        shipped (a development checkout), train this one for ``minutes`` (wall clock) with
        :func:`neurcomp.train.train` on 64 x 64 crops of the training photos, export it into a
        temporary folder added to ``$NEURCOMP_WEIGHTS_PATH``, and return it (as ``<kind>_standin``).
        A stand-in's numbers say nothing about the method.

    Returns
    -------
    list of dict
        :func:`neurcomp.zoo.list_models` rows of that network; empty if none is shipped.

    Examples
    --------
    >>> [e["name"] for e in network("hyperprior", "mshp")][:1]
    ['mshp@0.0009']
    >>> network("vq", want=lambda cfg: cfg["alpha"] > 1e9)
    []
    >>> network("vq", "vq_big", want=lambda cfg: cfg["alpha"] > 1e9, required=True)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    RuntimeError: this chapter needs a shipped vq network (vq_big); installed: ...
    """
    for base, entries in networks([kind], prefer=(prefer,) if prefer else ()).items():
        if want is None or want(zoo.model_card(base)["config"]):
            return entries
    if stand_in is not None:
        return _train_stand_in(kind, stand_in, minutes)
    if required:
        raise RuntimeError(f"this chapter needs a shipped {kind} network{f' ({prefer})' if prefer else ''}; "
                           f"installed: {', '.join(e['name'] for e in zoo.list_models())}")
    return []


def published_network(arch: str = "mbt2018-mean") -> list[dict]:
    """CompressAI's published MSE weights of ``arch`` as rate points (quality 1 to 8), or ``[]``.

    Each file is downloaded once into the cache (:func:`neurcomp.zoo.compressai.fetch_published`,
    checked against the SHA-256 prefix in its name). When one cannot be had (offline, a proxy),
    one printed line says why and what to do, and the list is empty.

    Parameters
    ----------
    arch : str
        ``"mbt2018-mean"`` (the mean-scale hyperprior of Minnen et al. 2018, the architecture of
        ``mshp``), ``"bmshj2018-hyperprior"`` or ``"bmshj2018-factorized"``.

    Returns
    -------
    list of dict
        Entries like :func:`network`'s (``name`` such as ``"compressai:mbt2018-mean:3"``, ``kind``,
        ``value`` = CompressAI's lambda of that quality, ``params``, ``sha256``), sorted by lambda;
        :func:`load` takes their names.
    """
    entries = []
    for name in compressai.published_names(arch):
        try:
            entries.append(compressai.load_published(name)[2])
        except (WeightsError, UnknownModel) as err:
            print(f"CompressAI's published {arch} weights are not at hand ({' '.join(str(err).split())}); "
                  "this run uses the shipped network instead (download the files once with network access, "
                  f"or put them into {compressai.cache_dir()})")
            return []
    return sorted(entries, key=lambda e: e["value"])


def hyperprior_rate_points(profile: str, prefer: str = "mshp", arch: str = "mbt2018-mean") -> list[dict]:
    """The mean-scale hyperprior the iterative-inference chapters optimize: ours, or CompressAI's published one.

    The ``quick`` profile takes the shipped network ``prefer`` (CPU-trained, small). The ``full``
    profile takes CompressAI's published weights of the same architecture (Minnen et al. 2018,
    trained to convergence at eight lambdas; :func:`published_network`), so that paper-sized runs
    start from paper-scale models, and falls back to the shipped network, with one printed line,
    where they cannot be downloaded.

    Parameters
    ----------
    profile : str
        ``"quick"`` or ``"full"`` (``Chapter.profile``).
    prefer : str
        The shipped network of kind ``hyperprior`` (default ``"mshp"``).
    arch : str
        The CompressAI architecture of the full profile.

    Returns
    -------
    list of dict
        Rate points sorted by lambda; their ``name`` goes to :func:`load`.

    Examples
    --------
    >>> [e["name"] for e in hyperprior_rate_points("quick")][3]
    'mshp@0.0067'
    """
    if profile == "full":
        entries = published_network(arch)
        if entries:
            return entries
    return network("hyperprior", prefer, required=True)


def _train_stand_in(kind: str, config: Mapping[str, Any], minutes: float) -> list[dict]:


    folder = Path(tempfile.mkdtemp(prefix=f"neurcomp_{kind}_"))
    cfg = {**DEFAULTS, "model": dict(config), "steps": 10**6, "batch_size": 8, "crop": 64, "lr": 2e-3,
           "warmup_steps": 20, "eval_images": 0}
    ck = train(cfg, folder / "run", quiet=True, max_minutes=minutes)
    zoo.export(ck, f"{kind}_standin", folder / "zoo")
    os.environ["NEURCOMP_WEIGHTS_PATH"] = os.pathsep.join(
        p for p in (os.environ.get("NEURCOMP_WEIGHTS_PATH", ""), str(folder / "zoo")) if p)
    print(f"no shipped {kind} network: trained a stand-in for {ck['step']} steps ({ck['train_seconds']:.0f} s)")
    return network(kind, f"{kind}_standin")


def nearest(entries: Sequence[dict], value: float) -> dict:
    """The entry whose rate parameter is nearest to ``value`` on a log scale.

    Parameters
    ----------
    entries : sequence of dict
        Rate points (:func:`network`).
    value : float
        A lambda (or beta), same units as the entries' ``value``.

    Returns
    -------
    dict
        One of ``entries``.

    Examples
    --------
    >>> nearest([{"value": 0.0035}, {"value": 0.0067}, {"value": 0.013}], 0.006)
    {'value': 0.0067}
    """
    return min(entries, key=lambda e: abs(math.log(e["value"] / value)))


def describe_networks(bases: Mapping[str, Sequence[dict]], labels: Mapping[str, str], training: bool = False) -> None:
    """Print one line per network: name, description, parameter count, rate points.

    Parameters
    ----------
    bases : mapping
        ``{base: entries}`` as :func:`networks` returns it.
    labels : mapping
        ``{kind: description}``, e.g. ``{"hyperprior": "mean-scale hyperprior"}``.
    training : bool
        Add the number of training steps and the training time (hours) from the model card.

    Examples
    --------
    >>> describe_networks({"x": [{"kind": "k", "params": 1000, "value": 0.01, "rate_param": "lambda"}]},
    ...                   {"k": "a network"})
      x          a network                              1,000 parameters   lambda = 0.01
    """
    for b, es in bases.items():
        trained = ""
        if training:
            t = zoo.model_card(b).get("training", {})
            trained = f"{t.get('steps', '?')} steps ({t.get('train_seconds', float('nan')) / 3600:.1f} h), "
        print(f"  {b:10s} {labels.get(es[0]['kind'], es[0]['kind']):36s} {es[0]['params']:>7,d} parameters   "
              f"{trained}{es[0].get('rate_param', 'lambda')} = " + ", ".join(f"{e['value']:g}" for e in es))


def weights_used(*bases: str) -> str:
    """Print the fingerprint of every shipped network a chapter's outputs were computed with.

    A chapter calls this in a cell whose output nbval compares. When a network is re-trained and
    re-shipped, its SHA-256 changes, nbval fails on this cell, and re-executing the chapter updates
    the fingerprints together with every output computed from the new weights.

    Parameters
    ----------
    *bases : str
        Network names (e.g. ``"mshp"``, ``"fp"``); none for a chapter that uses no shipped weights.

    Returns
    -------
    str
        The lines printed: name, first 16 hex digits of the weights' SHA-256, training steps and
        the rate points (or a line saying that a network is not shipped in this checkout).

    Examples
    --------
    >>> line = weights_used("mshp")  # doctest: +ELLIPSIS
    shipped weights used by this chapter (name, sha256, training steps, rate points):
      mshp       ...
    >>> _ = weights_used()
    this chapter uses no shipped weights
    """
    if not bases:
        lines = ["this chapter uses no shipped weights"]
    else:
        lines = ["shipped weights used by this chapter (name, sha256, training steps, rate points):"]
        rows = {}
        for e in zoo.list_models():
            rows.setdefault(e["base"], []).append(e)
        for b in bases:
            if b not in rows:
                lines.append(f"  {b:10s} not shipped in this checkout")
                continue
            es = sorted(rows[b], key=lambda e: e["value"])
            steps = zoo.model_card(b).get("training", {}).get("steps")
            values = f"{es[0]['value']:g}" if len(es) == 1 else f"{es[0]['value']:g} ... {es[-1]['value']:g}"
            lines.append(f"  {b:10s} {es[0]['sha256'][:16]}  {steps if steps is None else f'{steps:,d}':>7} steps "
                         f"{len(es):>3} x {es[0].get('rate_param', 'lambda')}: {values}")
    text = "\n".join(lines)
    print(text)
    return text


_ON_DEVICE: dict[tuple[str, str], torch.nn.Module] = {}


def load(name: str, device: torch.device | str = "cpu"):
    """A shipped rate point on ``device``: ``(model, rate_idx, value)``.

    The CPU model is :func:`neurcomp.zoo.load_pretrained`'s cached one (the codec uses it);
    a copy per network is kept on any other device.

    Parameters
    ----------
    name : str
        A rate point such as ``"mshp@0.0067"``.
    device : torch.device or str
        Where the model should live.

    Returns
    -------
    tuple
        ``(model, rate_idx, value)``: the network in eval mode, the index of the rate point,
        and its lambda (or beta).

    Examples
    --------
    >>> model, rate_idx, lam = load("mshp@0.0067")
    >>> rate_idx, lam, model.stride
    (3, 0.0067, 64)
    """
    model, rate_idx, entry = zoo.load_pretrained(name)
    device = torch.device(device)
    if device.type != "cpu":
        model = _ON_DEVICE.setdefault((entry["base"], str(device)), copy.deepcopy(model).to(device))
    return model, rate_idx, entry["value"]


def load_crop(image: str | os.PathLike, size=None, at: tuple[int, int] | None = None) -> torch.Tensor:
    """An image, or a crop of it, as a float tensor ``[3, h, w]`` in ``[0, 1]``.

    Parameters
    ----------
    image : str or path
        A Kodak name such as ``"kodim23"`` (from :func:`neurcomp.data.kodak_paths`) or an image file.
    size : int or (int, int), optional
        Crop size in pixels (``h, w``; one int for a square). ``None``: the whole image.
    at : (int, int), optional
        ``(top, left)`` of the crop in pixels; default the centre.

    Returns
    -------
    torch.Tensor
        ``[3, h, w]``, float32.

    Examples
    --------
    >>> import tempfile
    >>> path = data.save_png(torch.rand(3, 40, 60), Path(tempfile.mkdtemp()) / "im.png")
    >>> load_crop(path).shape, load_crop(path, 16, at=(4, 8)).shape, load_crop(path, (20, 30)).shape
    (torch.Size([3, 40, 60]), torch.Size([3, 16, 16]), torch.Size([3, 20, 30]))
    """
    path = Path(image)
    if not path.suffix:
        path = next(p for p in data.kodak_paths() if p.stem == str(image))
    x = data.load_image(path)
    if size is None:
        return x
    if at is None:
        return centre_crop(x, size).contiguous()
    h, w = (size, size) if isinstance(size, int) else size
    return x[:, at[0]:at[0] + h, at[1]:at[1] + w].contiguous()
