"""Compress and decompress images with a shipped model, through the ``.ncz`` container.

``compress_image`` asks the model to code the image with a method it supports (its
``methods``: amortized inference, an iterative method of :mod:`neurcomp.inference`, REC for the
PLN, ...) and packs the sections it returns into a stream;
``decompress_stream`` checks the stream, finds the model it names, verifies the
weights fingerprint and decodes. Both return the 8-bit reconstruction, so a test
can check that the decoder reproduces the encoder's image exactly.

Example:
    >>> import numpy as np, torch
    >>> data, info = compress_image(torch.full((3, 48, 80), 0.5), "mshp@0.0067")
    >>> image, stream = decompress_stream(data)
    >>> image.shape, bool(np.array_equal(image, info["x_hat"])), stream.method
    ((48, 80, 3), True, 'amortized')
"""
from __future__ import annotations

import inspect
import math
import os
import time
from pathlib import Path

import numpy as np
import torch

from . import BitstreamError
from .container import SIDE_INFO_METHODS, Stream, pack, unpack
from .data import load_image, pad_to_multiple, save_png, to_uint8
from .entropy import CodingError
from .fileio import atomic_write, read_capped
from .zoo import WeightsError, fingerprint, load_for_stream, load_model, source_of
from .zoo.compressai import CheckpointError


class MethodUnavailable(ValueError):
    """The method exists in the stream format but not for this model or in this version."""


class OutputCollision(ValueError):
    """An output path that is an input, another output, or a folder where a file is written: refused
    before anything is read or written (a usage error)."""


#: the largest image (in pixels) a stream may ask the decoder for, unless ``NEURCOMP_MAX_PIXELS`` says
#: otherwise: 64 megapixels (e.g. 9248 x 6936, a large phone photo). Decoding runs in tiles, so memory
#: grows with the image only through the latents and the output (about ``DECODE_BYTES_PER_PIXEL``).
DEFAULT_MAX_PIXELS = 64 * 1024 * 1024
#: bytes per pixel a decode holds at its peak beyond the model and one tile (output image, latents,
#: 8-bit copy), an upper estimate from the large-photo benchmark (benchmarks/large_photos.py)
DECODE_BYTES_PER_PIXEL = 64


#: the largest stream or archive file the decoder reads: 256 MiB (a 64-megapixel image at 32 bits per pixel)
MAX_STREAM_BYTES = 256 * 2 ** 20
#: the largest side information a bits-back stream is given to carry: 64 MiB
MAX_SIDE_INFO_BYTES = 64 * 2 ** 20
#: the decoding work one stream may ask for, in pixel-iterations, unless ``NEURCOMP_MAX_DECODE_WORK`` says
#: otherwise: 2^30, a Kodak image (768 x 512) at the 2000 BBVI steps of Yang et al. 2020 with room to spare.
#: An image of P pixels whose decoder runs n optimization steps (BBVI for bits-back, 0 for every other
#: method) costs P + n (P + STEP_OVERHEAD_PIXELS): a step has a fixed cost too. Measured on one loaded core of
#: this project's CPU (``reproducible_bbvi``, bitsback@0.0067): 32 ms a step at 128 x 128, 52 ms at 256 x 256,
#: 105 ms at 512 x 512, i.e. about 2.5 million pixel-iterations per second, so the bound is about 7 minutes; a
#: forged 175-byte stream asking for 1024 x 1024 x 2000 ran 22 minutes before there was a bound.
DEFAULT_MAX_DECODE_WORK = 2 ** 30
#: the fixed cost of one optimization step, in pixels of image it is worth (about 20 ms at 0.33 us a pixel)
STEP_OVERHEAD_PIXELS = 65536
#: an archive's images together may ask for this many times a stream's bound (each image alone: one bound)
ARCHIVE_WORK_FACTOR = 32


def max_decode_work(archive: bool = False) -> int:
    """The decoding-work bound in pixel-iterations: ``NEURCOMP_MAX_DECODE_WORK`` (or
    :data:`DEFAULT_MAX_DECODE_WORK`) for a stream, :data:`ARCHIVE_WORK_FACTOR` times that for an archive.

    Example:
        >>> max_decode_work() == 2 ** 30, max_decode_work(archive=True) == 32 * 2 ** 30
        (True, True)
    """
    value = os.environ.get("NEURCOMP_MAX_DECODE_WORK")
    try:
        limit = int(value) if value else DEFAULT_MAX_DECODE_WORK
    except ValueError:
        raise ValueError(f"NEURCOMP_MAX_DECODE_WORK must be a whole number of pixel-iterations, got {value!r}") from None
    return limit * ARCHIVE_WORK_FACTOR if archive else limit


def decode_work(images) -> int:
    """Pixel-iterations to decode ``images``, an iterable of ``(height, width, iterations)``:
    ``pixels + iterations * (pixels + STEP_OVERHEAD_PIXELS)`` each."""
    return sum(h * w + n * (h * w + STEP_OVERHEAD_PIXELS) for h, w, n in images)


def check_decode_work(images, archive: bool = False, encoding: bool = False) -> None:
    """Refuse (BitstreamError; ``encoding``: MethodUnavailable, before a stream is written that the
    decoder would refuse) when ``images`` (``(height, width, iterations)`` each) need more decoding
    work than :func:`max_decode_work` allows.

    Example:
        >>> check_decode_work([(512, 768, 2000)])                # a Kodak image at the paper's 2000 steps
        >>> check_decode_work([(1024, 1024, 2000)])
        Traceback (most recent call last):
        ...
        neurcomp.BitstreamError: stream asks for 2.2e+09 pixel-iterations of decoding (1024x1024 at 2000 steps), above the limit of 1.1e+09 (set NEURCOMP_MAX_DECODE_WORK to allow more)
    """
    images = list(images)
    for h, w, n in images:  # every image, an archive's too, within a stream's bound
        _refuse_work("an image of the archive" if archive else "stream", decode_work([(h, w, n)]), max_decode_work(),
                     f"{h}x{w} at {n} steps", encoding)
    if archive:
        _refuse_work("archive", decode_work(images), max_decode_work(archive=True), f"{len(images)} images", encoding)


def _refuse_work(what: str, work: int, limit: int, detail: str, encoding: bool) -> None:
    if work <= limit:
        return
    if encoding:
        raise MethodUnavailable(f"the {what} would ask its decoder for {work:.2g} pixel-iterations ({detail}), above "
                                f"the limit of {limit:.2g}: use fewer --steps or smaller images (or set "
                                "NEURCOMP_MAX_DECODE_WORK, for the decoder too)")
    raise BitstreamError(f"{what} asks for {work:.2g} pixel-iterations of decoding ({detail}), above the limit of "
                         f"{limit:.2g} (set NEURCOMP_MAX_DECODE_WORK to allow more)")


def max_pixels() -> int:
    """The decoder's image-size limit: ``NEURCOMP_MAX_PIXELS`` if set, else ``DEFAULT_MAX_PIXELS``."""
    value = os.environ.get("NEURCOMP_MAX_PIXELS")
    try:
        return int(value) if value else DEFAULT_MAX_PIXELS
    except ValueError:
        raise ValueError(f"NEURCOMP_MAX_PIXELS must be a whole number of pixels, got {value!r}") from None


def _physical_memory() -> int | None:
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def check_size(height: int, width: int) -> None:
    """Refuse (BitstreamError) a header whose image is empty, above :func:`max_pixels`, or would need
    more memory than this machine has, before any decoding work."""
    pixels = height * width
    if pixels == 0:
        raise BitstreamError(f"corrupted stream: empty image ({height}x{width})")
    if pixels > max_pixels():
        raise BitstreamError(f"stream asks for a {height}x{width} image ({pixels / 1e6:.0f} megapixels), above the "
                             f"decoder's limit of {max_pixels() / 1e6:.0f} megapixels "
                             "(set NEURCOMP_MAX_PIXELS to decode larger images)")
    memory = _physical_memory()
    if memory is not None and pixels * DECODE_BYTES_PER_PIXEL > memory:
        raise BitstreamError(f"a {height}x{width} image needs about {pixels * DECODE_BYTES_PER_PIXEL / 2 ** 30:.1f} "
                             f"GiB to decode, more than this machine's {memory / 2 ** 30:.1f} GiB")


def compress_image(x: torch.Tensor, model_name: str | None, method: str | None = None, steps: int | None = None,
                   seed: int = 0, side_info: bytes | None = None, checkpoint=None, arch: str | None = None,
                   lmbda: float | None = None, progress=None) -> tuple[bytes, dict]:
    """Code an image tensor ``[3, H, W]`` in [0, 1]; returns the stream and a dict with
    ``x_hat`` (uint8 HWC, the decoder's output), ``bits`` (information content per
    latent, in bits), ``header_bytes`` (container overhead), ``stream`` and ``extra_info``
    (the model's extra record fields; for bits-back also ``net_bpp``: the file minus the side
    information the decoder gives back, per pixel).

    ``method`` defaults to the model's own (``model.default_method``). ``side_info`` (bytes) is
    for bits-back models (:mod:`neurcomp.bitsback`): the bits the stream carries besides the image;
    any length (shorter than what the image takes back, it is topped up with random words, which
    ``extra_info["initial_bits"]`` counts and ``net_bpp`` includes).

    ``checkpoint``: a CompressAI checkpoint file to code with instead of ``model_name``
    (:mod:`neurcomp.zoo.compressai`; ``arch`` and ``lmbda`` as in its ``load_compressai``).

    ``progress(step, steps, bpp, psnr)``: called during encoding by models that train on the image
    (``overfit:...``; the others ignore it)."""
    model, rate_idx, entry = load_model(model_name, checkpoint, arch, lmbda)
    model_name = entry["name"]
    method = method or model.default_method
    if method not in model.methods:
        hint = " (bits-back coding needs a bitsback model, e.g. bitsback@0.0067)" if method in SIDE_INFO_METHODS else ""
        if method in model.method_notes:
            hint = f": {model.method_notes[method]}"
        raise MethodUnavailable(f"{model_name} ({type(model).__name__}) codes with {', '.join(model.methods)}, "
                                f"not {method!r}{hint}")
    if side_info is not None and not model.takes_side_info:
        raise MethodUnavailable(f"side information is carried by bits-back streams only; {model_name} is a "
                                f"{model.kind} model")
    if x.dim() == 4:
        x = x[0]
    h, w = x.shape[-2:]
    xp, _ = pad_to_multiple(x.unsqueeze(0).float(), model.stride)
    check_size(int(h), int(w))  # no stream that a decoder with the default limits would refuse
    check_decode_work([(int(h), int(w), model.planned_decode_iterations(method, steps))], encoding=True)
    kwargs = {"side_info": side_info} if side_info is not None else {}
    if progress is not None and "progress" in inspect.signature(model.compress).parameters:
        kwargs["progress"] = progress
    try:
        with torch.no_grad():
            out = model.compress(xp, rate_idx, method=method, steps=steps, seed=seed, hw=(int(h), int(w)), **kwargs)
    except CodingError as e:  # e.g. weights that turn the image into NaN or astronomically large latents
        raise WeightsError(f"{model_name} cannot code this image: {e}") from None
    stream = Stream(method, entry["name"], fingerprint(entry), int(h), int(w), tuple(out.latent_shape), out.extra,
                    out.sections)
    data = pack(stream)
    x_hat = to_uint8(out.x_hat[0, :, :h, :w])
    if checkpoint is not None:  # weights from outside the zoo (no golden streams): the stream must decode, check it
        try:
            decoded, _ = decompress_stream(data, checkpoint)
        except BitstreamError as e:
            raise WeightsError(f"checkpoint {checkpoint} writes a stream for this image that does not decode ({e}); "
                               "not written") from None
        if not np.array_equal(decoded, x_hat):
            raise WeightsError(f"checkpoint {checkpoint} writes a stream for this image that decodes to another image "
                               "than the encoder's; not written")
    extra_info = dict(out.info)
    if "side_info_bits" in extra_info:
        extra_info["net_bpp"] = (8 * len(data) - extra_info["side_info_bits"]) / (int(h) * int(w))
    return data, {"x_hat": x_hat, "bits": out.bits,
                  "header_bytes": len(data) - out.payload_bytes, "stream": stream, "extra_info": extra_info}


def decompress_stream(data: bytes, checkpoint=None) -> tuple[np.ndarray, Stream]:
    """Decode a stream to an 8-bit RGB image ``[H, W, 3]``; raises :class:`BitstreamError`.
    ``checkpoint``: the CompressAI checkpoint file a ``compressai:<arch>`` stream was written with."""
    image, stream, _ = decompress_with_side_info(data, checkpoint)
    return image, stream


def decompress_with_side_info(data: bytes, checkpoint=None) -> tuple[np.ndarray, Stream, bytes | None]:
    """:func:`decompress_stream`, plus the side information a bits-back stream gives back (``None``
    for other streams)."""
    stream = unpack(data)
    check_size(stream.height, stream.width)
    try:
        model, rate_idx, entry = load_for_stream(stream.model, checkpoint)
    except CheckpointError:
        raise
    except WeightsError as e:
        raise BitstreamError(f"stream needs model {stream.model!r}, which this installation cannot load ({e})") from None
    if fingerprint(entry) != stream.weights:
        where = f"checkpoint {checkpoint}" if checkpoint is not None else "installed"
        raise BitstreamError(f"stream was written with other weights for {stream.model!r} "
                             f"({stream.weights.hex()} vs {where} {fingerprint(entry).hex()})")
    if stream.method not in model.methods:
        raise BitstreamError(f"corrupted stream: {stream.model} does not code with method {stream.method!r}")
    expected = (math.ceil(stream.height / model.stride), math.ceil(stream.width / model.stride))
    if tuple(stream.latent_shape) != expected:
        raise BitstreamError(f"corrupted stream: latent size {stream.latent_shape} does not fit a "
                             f"{stream.height}x{stream.width} image")
    try:
        iterations = model.decode_iterations(stream.extra)
    except CodingError as e:
        raise BitstreamError(f"corrupted stream: {e}") from None
    check_decode_work([(stream.height, stream.width, iterations)])
    side = None
    try:
        with torch.no_grad():
            if model.takes_side_info:
                x_hat, side = model.decompress_with_side_info(stream.sections, stream.latent_shape, rate_idx,
                                                              extra=stream.extra)
            else:
                x_hat = model.decompress(stream.sections, stream.latent_shape, rate_idx, extra=stream.extra)
    except CodingError as e:
        raise BitstreamError(f"corrupted stream: {e}") from None
    except Exception as e:  # whatever a forged stream makes a decoder do (MemoryError included) is the stream's fault
        raise BitstreamError(f"corrupted stream: decoding failed ({type(e).__name__}: {e})") from None
    return to_uint8(x_hat[0, :, : stream.height, : stream.width]), stream, side


def _same_file(a: Path, b: Path) -> bool:
    try:
        if a.exists() and b.exists():
            return os.path.samefile(a, b)
    except OSError:
        pass
    return a.resolve() == b.resolve()


def check_outputs(inputs, outputs) -> list[Path]:
    """Refuse (:class:`OutputCollision`, one line) output files that are one of the ``inputs``, that
    name the same file twice, or that are folders; and (PermissionError) read-only ones
    (:func:`check_output`). Call it before reading or writing anything: then no input is overwritten
    and no run stops half-way with a partial output. ``None`` entries are skipped; returns the paths.

    Example:
        >>> check_outputs(["in.png"], ["out.ncz"])
        [PosixPath('out.ncz')]
        >>> check_outputs(["in.png"], ["./in.png"])
        Traceback (most recent call last):
        ...
        neurcomp.codec.OutputCollision: output in.png is also an input: refusing to overwrite it
    """
    ins = [Path(p) for p in inputs if p is not None]
    outs = [Path(p) for p in outputs if p is not None]
    for k, out in enumerate(outs):
        if out.is_dir():
            raise OutputCollision(f"output {out} is a folder; give a file name")
        if any(_same_file(out, p) for p in ins):
            raise OutputCollision(f"output {out} is also an input: refusing to overwrite it")
        if any(_same_file(out, other) for other in outs[:k]):
            raise OutputCollision(f"output {out} is given twice: one would overwrite the other")
        check_output(out)
    return outs


def check_output(dst) -> Path:
    """Refuse (PermissionError naming it) an output path that exists and is read-only: the atomic
    rename would otherwise replace it silently."""
    dst = Path(dst)
    # the mode bits too: os.access says yes to root, who would replace the file all the same
    if dst.exists() and (not os.access(dst, os.W_OK) or not dst.stat().st_mode & 0o222):
        raise PermissionError(13, "output exists and is read-only (remove it or choose another name)", str(dst))
    return dst


def compress_file(src, dst, model_name: str | None, method: str | None = None, steps: int | None = None,
                  seed: int = 0, side_info: bytes | None = None, checkpoint=None, arch: str | None = None,
                  lmbda: float | None = None, progress=None) -> dict:
    """Read an image file, write a ``.ncz`` atomically; returns sizes and timings (and, for bits-back,
    ``net_bpp``, ``side_info_bits`` and ``initial_bits``). ``checkpoint``, ``arch``, ``lmbda``, ``progress``:
    see :func:`compress_image`."""
    check_outputs([src], [dst])
    x = load_image(src)
    t0 = time.perf_counter()
    data, info = compress_image(x, model_name, method, steps, seed, side_info, checkpoint, arch, lmbda, progress)
    enc_s = time.perf_counter() - t0
    atomic_write(dst, data)
    h, w = x.shape[-2:]
    return {"bytes": len(data), "bpp": 8 * len(data) / (h * w), "est_bpp": sum(info["bits"].values()) / (h * w),
            "enc_s": enc_s, "x_hat": info["x_hat"], **{k: v for k, v in info["extra_info"].items()
                                                       if k in ("net_bpp", "side_info_bits", "initial_bits")}}


def decompress_file(src, dst, side_info_out=None, checkpoint=None) -> dict:
    """Decode a ``.ncz`` file to a PNG (written atomically); returns the header's facts and the time.
    ``side_info_out``: where to write the side information a bits-back stream gives back;
    ``checkpoint``: the CompressAI checkpoint a ``compressai:<arch>`` stream was written with."""
    check_outputs([src, checkpoint], [dst, side_info_out])
    data = read_stream(src)
    t0 = time.perf_counter()
    image, stream, side = decompress_with_side_info(data, checkpoint)
    dec_s = time.perf_counter() - t0
    if side_info_out is not None and side is None:
        raise MethodUnavailable(f"{src} is a {stream.method} stream, which carries no side information")
    if side_info_out is not None:
        atomic_write(side_info_out, side)
    try:
        save_png(image, dst)
    except BaseException:  # no half result: the side information goes with the image or not at all
        if side_info_out is not None:
            Path(side_info_out).unlink(missing_ok=True)
        raise
    return {"dec_s": dec_s, "height": stream.height, "width": stream.width, "model": stream.model,
            "method": stream.method, "side_info_bytes": None if side is None else len(side)}


def read_stream(path) -> bytes:
    """The bytes of a stream or archive file, refused (InputTooLarge, an OSError) above
    :data:`MAX_STREAM_BYTES`: ``/dev/zero`` is not read forever."""
    return read_capped(path, MAX_STREAM_BYTES, "neurcomp stream or archive")


def read_side_info(path) -> bytes:
    """The bytes of a side-information file, refused above :data:`MAX_SIDE_INFO_BYTES`."""
    return read_capped(path, MAX_SIDE_INFO_BYTES, "side information file")


def stream_info(data: bytes) -> dict:
    """The header of a stream as a JSON-able dict (no decoding)."""
    s = unpack(data)
    source = source_of(s.model)
    try:  # what the model's source adds (an overfitted stream: MAC/px, parameter and latent bits)
        details = source.details(s.model, s.sections) if source is not None else {}
    except WeightsError:  # a name no source knows: the header alone
        details = {}
    return {**{"format_version": data[3], "method": s.method, "model": s.model, "weights": s.weights.hex(),
            "height": s.height, "width": s.width, "latent_shape": list(s.latent_shape), "extra_bytes": len(s.extra),
            "sections": [len(x) for x in s.sections], "bytes": len(data),
            "bpp": 8 * len(data) / (s.height * s.width) if s.height and s.width else None}, **details}
