"""Per-image evaluation with the real codec: the records that ``neurcomp eval``, the model cards,
the benchmarks and the chapters share.

:func:`evaluate_model` codes each image into a real ``.ncz`` stream, decodes it again (the
decoded image must equal the encoder's reconstruction), and returns one :func:`record` per
image: ``image, model, method, bpp`` (from the real stream size, container included),
``est_bpp`` (the model's information content), ``part_bpp`` (that content per latent group, e.g.
``{"y": ..., "z": ...}`` or the levels ``z0, z1, ...`` of a hierarchical VAE, bits per pixel),
``psnr`` (dB, 8-bit), ``ms_ssim`` (None for images too small for it), ``enc_s``, ``dec_s``
(seconds), ``bytes``, ``height``, ``width``, ``pixels``, plus the model's own fields (``kl_bpp`` and ``psnr_exact`` for a PLN).

Example:
    >>> import torch
    >>> centre_crop(torch.zeros(3, 512, 768), (256, 256)).shape
    torch.Size([3, 256, 256])
    >>> centre_crop(torch.zeros(3, 100, 150), (300, 300), multiple=64).shape
    torch.Size([3, 64, 128])
"""
from __future__ import annotations

import time

import torch
from tqdm.auto import tqdm

from . import BitstreamError
from .codec import compress_image, decompress_stream
from .data import kodak_paths, list_images, load_image
from .metrics import ms_ssim, psnr
from .results import STEPPED_METHODS, Record, row_label
from .zoo import list_models, load_model


def centre_crop(x: torch.Tensor, size=None, multiple: int = 1) -> torch.Tensor:
    """The centre ``size = (h, w)`` (or one int for a square) of an image ``[3, H, W]``, capped at
    the image size and rounded down to a multiple of ``multiple``; ``size=None`` keeps the whole image
    (still rounded down to ``multiple``)."""
    h, w = x.shape[-2:]
    if size is None:
        ch, cw = h, w
    else:
        ch, cw = (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))
        ch, cw = min(ch, h), min(cw, w)
    ch, cw = ch - ch % multiple, cw - cw % multiple
    top, left = (h - ch) // 2, (w - cw) // 2
    return x[..., top : top + ch, left : left + cw]


def record(name: str, x: torch.Tensor, model: str, data: bytes, info: dict, x_hat, enc_s: float,
           dec_s: float) -> dict:
    """The per-image record of one coded image ``x [3, H, W]`` (see the module docstring)."""
    h, w = x.shape[-2:]
    try:
        ssim = ms_ssim(x_hat, x)
    except ValueError:  # smaller than MS-SSIM's five scales need
        ssim = None
    rec = {"image": name, "model": model, "method": info["stream"].method, "bpp": 8 * len(data) / (h * w),
           "est_bpp": sum(info["bits"].values()) / (h * w),
           "part_bpp": {part: float(bits) / (h * w) for part, bits in info["bits"].items()}, "psnr": psnr(x_hat, x), "ms_ssim": ssim,
           "enc_s": enc_s, "dec_s": dec_s, "bytes": len(data), "height": h, "width": w, "pixels": h * w}
    rec.update(info.get("extra_info", {}))
    return rec


def evaluate_image(x: torch.Tensor, model: str | None, method: str | None = None, steps=None, seed: int = 0,
                   name: str = "image", checkpoint=None, arch: str | None = None, lmbda: float | None = None) -> dict:
    """Code and decode one image ``[3, H, W]`` in [0, 1]; returns its :func:`record`. ``checkpoint``
    (with ``arch``, ``lmbda``): a CompressAI checkpoint instead of ``model`` (:mod:`neurcomp.zoo.compressai`)."""
    t0 = time.perf_counter()
    data, info = compress_image(x, model, method, steps, seed, checkpoint=checkpoint, arch=arch, lmbda=lmbda)
    t1 = time.perf_counter()
    x_hat, _ = decompress_stream(data, checkpoint)
    model = model or info["stream"].model
    t2 = time.perf_counter()
    if (x_hat != info["x_hat"]).any():
        raise BitstreamError(f"{name}: decoder output differs from the encoder's reconstruction")
    return record(name, x, model, data, info, x_hat, t1 - t0, t2 - t1)


def evaluate_model(images, model: str | None, method: str | None = None, steps=None, crop=None, seed: int = 0,
                   progress: bool = True, checkpoint=None, arch: str | None = None,
                   lmbda: float | None = None) -> list[dict]:
    """Records for every image of ``images`` (a folder, a file, or a list of files) coded with
    ``model`` (a name such as ``"mshp@0.0067"``), or with a CompressAI ``checkpoint`` file;
    ``crop = (h, w)`` codes centre crops."""
    records = []
    for path in tqdm(list_images(images), desc=f"eval {model or checkpoint}", disable=not progress):
        x = load_image(path)
        if crop:
            x = centre_crop(x, crop)
        records.append(evaluate_image(x, model, method, steps, seed, name=path.stem, checkpoint=checkpoint, arch=arch,
                                      lmbda=lmbda))
    return records


def kodak_results(name: str, images=None, progress: bool = True, method: str | None = None) -> list[dict]:
    """Mean real-codec results (the :func:`record` fields, averaged) for every rate point of the
    shipped network ``name`` (a base name such as ``"mshp"``) on ``images`` (default: Kodak), coded
    with ``method`` (default: each model's own)."""
    paths = kodak_paths() if images is None else images
    rows = []
    for entry in [e for e in list_models() if e["base"] == name]:
        recs = evaluate_model(paths, entry["name"], method=method, progress=progress)
        n = len(recs)
        keys = ("bpp", "est_bpp", "psnr", "ms_ssim", "enc_s", "dec_s", "kl_bpp", "psnr_exact", "net_bpp")
        rows.append({"model": entry["name"], "lambda": entry["value"], "images": n, "method": recs[0]["method"],
                     **{k: sum(r[k] for r in recs) / n for k in keys if all(k in r for r in recs)}})
    return rows


#: the fields of a :func:`record` that a :class:`~neurcomp.results.Record` has under its own name (the rest
#: go to ``Record.extra``)
_RECORD_FIELDS = ("image", "model", "method", "bpp", "psnr", "ms_ssim", "enc_s", "dec_s", "est_bpp", "kl_bpp",
                  "net_bpp", "height", "width", "pixels")


def describe(name: str | None = None, checkpoint=None, arch: str | None = None, lmbda: float | None = None) -> dict:
    """``title`` (what tables call the model), ``base`` (the network's name), ``value`` (its rate
    parameter) and ``weights`` (the first 16 hex digits of the weights' sha256, None if unknown) of a
    model name or checkpoint (:func:`neurcomp.zoo.load_model`'s arguments)."""
    model, _, entry = load_model(name, checkpoint, arch, lmbda)
    return {"title": model.title or model.kind, "base": entry.get("base") or (name or str(checkpoint)).split("@")[0],
            "value": entry.get("value"), "weights": (entry.get("sha256") or "")[:16] or None}


def to_records(recs, group: str, title: str, base: str, value: float | None = None, steps: int | None = None,
               role: str = "") -> list[Record]:
    """:class:`~neurcomp.results.Record` s of :func:`record` dicts of one network (``title``, ``base``,
    ``value``: :func:`describe`) on the images ``group`` (:func:`neurcomp.results.group_name`); ``steps``
    is recorded for the methods that take steps (:data:`~neurcomp.results.STEPPED_METHODS`).

    ``bpp`` is the file's rate, for bits-back the net rate (``net_bpp``; the file's in ``extra["gross_bpp"]``);
    the ideal rate is the KL for REC (``kl_bpp``), the negative ELBO for bits-back, else the information
    content (``est_bpp``)."""
    out = []
    for r in recs:
        net = r.get("net_bpp")
        ideal, ideal_bpp = (("KL", r["kl_bpp"]) if "kl_bpp" in r else ("NELBO", r["est_bpp"]) if net is not None
                            else ("information content", r.get("est_bpp")))
        extra = {k: v for k, v in r.items() if k not in _RECORD_FIELDS}
        if net is not None:
            extra["gross_bpp"] = r["bpp"]
        n = steps if r["method"] in STEPPED_METHODS else None
        out.append(Record(label=row_label(title, base, r["method"], n), group=group, image=r["image"],
                          model=r["model"], base=base, value=value, method=r["method"],
                          bpp=float(r["bpp"] if net is None else net), psnr=float(r["psnr"]), steps=n,
                          ms_ssim=r.get("ms_ssim"), ideal_bpp=ideal_bpp, ideal=ideal,
                          pixels=r.get("pixels"), enc_s=r.get("enc_s"),
                          dec_s=r.get("dec_s"), role=role, extra=extra))
    return out


__all__ = ["centre_crop", "record", "evaluate_image", "evaluate_model", "kodak_results", "describe", "to_records"]
