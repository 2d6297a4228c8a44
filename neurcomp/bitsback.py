r"""Lossy bits-back coding (Yang, Bamler & Mandt 2020, Algorithm 1): side information and archives.

A bits-back stream carries *more* than its image: before coding the image's latents, the encoder
*decodes* the hyper-latents ``z_hat`` from the top of an ANS stack (constriction's
``AnsCoder``) with the posterior ``Q(z_hat | y_hat)``; the decoder, after decoding the image,
*encodes* ``z_hat`` with the same ``Q`` and so gets those bits back. The net cost of the image is
the file size minus the bits given back, close to ``-log2 P(y_hat)`` instead of
``-log2 P(y_hat, z_hat)``: the marginalization gap closed (see
:class:`neurcomp.models.BitsBackHyperprior` for the model, :mod:`neurcomp.inference.bbvi` for
the two optimizations).

Where do the bits on the stack come from?

* **Side information** (``compress_image(..., side_info=b"...")``, ``neurcomp compress --side-info``):
  any bytes, e.g. a caption; ``neurcomp decompress --side-info-out`` writes them back exactly.
  Side information shorter than what the first image takes (a caption of a few words: a 256-pixel
  crop takes over a thousand bits) is *topped up* with seeded random words on top of it, which the image
  takes first; the file carries them as initial bits, and the header records the side
  information's length so that the decoder gives back exactly its bytes
  (:meth:`neurcomp.models.BitsBackHyperprior.start_stack`).
* **Without it**, the stack starts with random words that the file carries (the *initial-bits
  problem*: a lone image pays for them in full).
* **An archive** (:func:`compress_archive`): many images on one stack, where every image after the
  first takes its ``z_hat`` from the bits of the images before it, so only the first pays the
  initial bits and the net rate per image approaches the NELBO estimate as images are added.

Archive format (``.nca``; integers little endian, ``varint`` = unsigned LEB128)::

    magic     4 bytes  b"NCA" + format version (1)
    method    1 byte   index into neurcomp.container.METHODS (a bits-back method)
    model     1 byte length + ASCII name (e.g. "bitsback@0.0067")
    weights   8 bytes  first 8 bytes of the weights file's SHA-256
    bbvi      varint   BBVI steps of reproducible_bbvi (0: none)
    seed      varint   its seed
    pad       1 byte   zero bytes added to the side information to fill its last 32-bit word (0-3);
                       plus 0x80 (TOPPED_UP) if the side information was topped up, and then
    length    varint   (only then) the side information's length in bytes
    count     varint   number of images, then per image in coding order:
                       name (varint length + UTF-8), height varint, width varint
                       (a name is a plain file name: see check_entry_names)
    stack     varint length + the ANS stack (32-bit little-endian words)
    crc32     4 bytes  of everything above

The decoder pops the images in reverse order (a stack), each giving back the bits its
``z_hat`` took, and ends with the side information (or the random initial words). After a
top-up the stack ends with the side information, its padding and the top-up words
(``initial_words(seed, n)``, checked) and the decoder gives back the first ``length`` bytes.
An archive without a top-up has the bytes it had before top-ups existed (format version 1 for
both; a decoder that predates top-ups refuses a topped-up archive's pad byte as malformed).

Example (an archive of two small images, decoded exactly):
    >>> import torch
    >>> imgs = [("a", torch.rand(3, 64, 64, generator=torch.Generator().manual_seed(1))),
    ...         ("b", torch.rand(3, 64, 64, generator=torch.Generator().manual_seed(2)))]
    >>> data, report = compress_archive(imgs, "bitsback@0.0067", method="bitsback_no_iter")
    >>> out, side = decompress_archive(data)
    >>> [name for name, _ in out], all((o == r["x_hat"]).all() for (_, o), r in zip(out, report["images"]))
    (['a', 'b'], True)
"""
from __future__ import annotations

import math
import struct
import time
import zlib

import constriction
import numpy as np
import torch
from tqdm.auto import tqdm

from . import BitstreamError
from .codec import MethodUnavailable, check_decode_work, check_size
from .container import METHODS, SIDE_INFO_METHODS, Reader, read_identity, write_identity
from .data import pad_to_multiple, to_uint8
from .entropy import CodingError
from .entropy.bits import varint
from .models.bitsback import MAX_BBVI_STEPS, SideInfoTooShort, side_info_bytes
from .zoo import WeightsError, fingerprint, load_pretrained

MAGIC = b"NCA"
VERSION = 1
BITSBACK_METHODS = SIDE_INFO_METHODS  # the methods an archive may name
#: the longest image name an archive holds, in UTF-8 bytes (file systems allow 255 for "NAME.png")
MAX_NAME_BYTES = 200
#: the most images one archive holds
MAX_IMAGES = 100_000
#: the flag added to the header's pad byte when the side information was topped up (its length follows)
TOPPED_UP = 0x80


class ArchiveNameError(ValueError):
    """An image name that cannot be an archive entry: not a plain, unique, UTF-8 file name."""


def check_entry_names(names) -> None:
    """Refuse (:class:`ArchiveNameError`, one line) names that could not be written as ``NAME.png``
    inside the output folder and nowhere else: empty, ``.`` or ``..``, containing a path separator,
    a NUL or another control character, not valid UTF-8 (a file name in another encoding), longer than
    :data:`MAX_NAME_BYTES`, or the same as another entry's (also up to case: one would overwrite the
    other on a case-insensitive file system).

    Example:
        >>> check_entry_names(["kodim01", "kodim02"])
        >>> check_entry_names(["../x"])
        Traceback (most recent call last):
        ...
        neurcomp.bitsback.ArchiveNameError: image name '../x' is not a plain file name (it contains a path separator)
        >>> check_entry_names(["x", "X"])
        Traceback (most recent call last):
        ...
        neurcomp.bitsback.ArchiveNameError: two images are named 'X' (up to case): an archive names each image by its file name, so they must differ
    """
    seen = set()
    for name in names:
        why = None
        if not isinstance(name, str) or not name:
            why = "it is empty"
        elif name in (".", ".."):
            why = "it names a folder"
        elif "/" in name or "\\" in name:
            why = "it contains a path separator"
        elif any(ord(c) < 32 or ord(c) == 127 for c in name):
            why = "it contains a control character"
        else:
            try:
                raw = name.encode("utf-8")
            except UnicodeEncodeError:
                why = "it is not valid UTF-8"
            else:
                if len(raw) > MAX_NAME_BYTES:
                    why = f"it is longer than {MAX_NAME_BYTES} bytes"
        if why:
            shown = name.encode("utf-8", "backslashreplace").decode("ascii", "backslashreplace") if isinstance(name, str) else name
            raise ArchiveNameError(f"image name {shown!r} is not a plain file name ({why})")
        if name.casefold() in seen:
            raise ArchiveNameError(f"two images are named {name!r} (up to case): an archive names each image by its "
                                   "file name, so they must differ")
        seen.add(name.casefold())


def is_archive(data: bytes) -> bool:
    """Whether ``data`` starts like a bits-back archive (not a single-image ``.ncz`` stream)."""
    return data[:3] == MAGIC


def _bits_back_model(model_name: str, method: str | None):
    model, rate_idx, entry = load_pretrained(model_name)
    if not model.takes_side_info:
        raise MethodUnavailable(f"{model_name} is a {model.kind} model; bits-back coding needs a bitsback model "
                                "(see 'neurcomp models')")
    return model, rate_idx, entry, model.check_method(method)


def compress_archive(images, model_name: str, method: str | None = None, steps: int | None = None, seed: int = 0,
                     side_info: bytes | None = None, progress: bool = False) -> tuple[bytes, dict]:
    """Code ``images`` (a list of ``(name, tensor [3, H, W] in [0, 1])``) onto one ANS stack.

    Returns the archive bytes and a report: ``images`` (per image: ``name, height, width,
    taken_bits, written_bits, net_bits, bits`` (information content per part), ``x_hat`` (uint8 HWC,
    what the decoder returns), ``enc_s``), ``side_info_bits`` (what the decoder gives back:
    ``side_info``, or the random initial words without it), ``initial_bits`` (random bits the archive
    carries: the initial words, the words that topped up a ``side_info`` shorter than what the first
    image takes, or 0), ``cumulative`` (per prefix of ``n`` images: the archive size in bits and bits
    per pixel so far, and ``net_bpp``: less ``side_info_bits``)."""
    if not images:
        raise ValueError("an archive needs at least one image")
    if len(images) > MAX_IMAGES:
        raise ArchiveNameError(f"an archive holds at most {MAX_IMAGES:,d} images, got {len(images):,d}")
    check_entry_names([name for name, _ in images])
    model, rate_idx, entry, method = _bits_back_model(model_name, method)
    for _, x in images:
        check_size(*x.shape[-2:])
    iterations = model.planned_decode_iterations(method, steps)
    check_decode_work([(*x.shape[-2:], iterations) for _, x in images], archive=True, encoding=True)
    rows, cumulative, pixels, ans, start, bbvi_steps = [], [], 0, None, None, 0
    for name, x in tqdm(images, desc="bits-back archive", disable=not progress):
        t0 = time.perf_counter()
        h, w = x.shape[-2:]
        xp, _ = pad_to_multiple(x.unsqueeze(0).float(), model.stride)
        prepared = model.prepare_image(xp, rate_idx, method, steps, seed)
        try:
            with torch.no_grad():
                if ans is None:  # the stack starts as the side information (topped up if short), or random words
                    ans, img, start = model.start_stack(prepared, side_info, seed)
                else:
                    img = model.push_image(ans, prepared)
        except SideInfoTooShort as e:
            raise SideInfoTooShort(f"{name}: {e}") from None
        bbvi_steps = img.bbvi_steps
        pixels += h * w
        rows.append({"name": name, "height": int(h), "width": int(w), "taken_bits": img.taken_bits,
                     "written_bits": img.written_bits, "net_bits": img.net_bits, "bits": img.bits,
                     "x_hat": to_uint8(img.x_hat[0, :, :h, :w]), "enc_s": time.perf_counter() - t0})
        total = 32 * ans.num_words()
        cumulative.append({"images": len(rows), "stack_bits": total, "bpp": total / pixels,
                           "net_bpp": (total - start.side_info_bits) / pixels})
    stack = ans.get_compressed().astype("<u4").tobytes()
    data = _pack(method, entry["name"], fingerprint(entry), bbvi_steps, seed, start.pad,
                 [(r["name"], r["height"], r["width"]) for r in rows], stack, start.side_bytes)
    return data, {"images": rows, "side_info_bits": start.side_info_bits, "initial_bits": start.initial_bits,
                  "cumulative": cumulative, "bytes": len(data), "model": entry["name"], "method": method}


def _pack(method, model, weights, bbvi_steps, seed, pad, entries, stack: bytes, side_bytes: int | None = None) -> bytes:
    """The archive's bytes; ``side_bytes``: the side information's length in bytes if it was topped up."""
    body = write_identity(MAGIC, VERSION, method, model, weights)
    body += varint(bbvi_steps) + varint(seed)
    body += bytes([pad]) if side_bytes is None else bytes([pad | TOPPED_UP]) + varint(side_bytes)
    body += varint(len(entries))
    for img_name, h, w in entries:
        raw = str(img_name).encode("utf-8")
        body += varint(len(raw)) + raw + varint(h) + varint(w)
    body += varint(len(stack)) + stack
    return bytes(body) + struct.pack("<I", zlib.crc32(body))


def read_header(data: bytes) -> dict:
    """The archive's header as a dict (no decoding); raises :class:`BitstreamError`."""
    if len(data) < 8 or not is_archive(data):
        raise BitstreamError("not a neurcomp bits-back archive (bad magic bytes)")
    if data[3] != VERSION:
        raise BitstreamError(f"unsupported archive version {data[3]} (this neurcomp reads version {VERSION})")
    body, (crc,) = data[:-4], struct.unpack("<I", data[-4:])
    if zlib.crc32(body) != crc:
        raise BitstreamError("corrupted archive: checksum mismatch (the file was altered or truncated)")
    r = Reader(body, "archive")
    r.take(4)
    method_idx, model, weights = read_identity(r)
    if method_idx >= len(METHODS) or METHODS[method_idx] not in BITSBACK_METHODS:
        raise BitstreamError(f"corrupted archive: method id {method_idx} is not a bits-back method")
    bbvi_steps, seed, pad = r.varint(), r.varint(), r.take(1)[0]
    side_bytes = r.varint() if pad & TOPPED_UP else None
    pad &= ~TOPPED_UP
    count = r.varint()
    if (pad > 3 or bbvi_steps > MAX_BBVI_STEPS or seed >= 2 ** 32
            or (side_bytes is not None and (pad != -side_bytes % 4 or side_bytes > len(body)))):
        raise BitstreamError("corrupted archive: malformed bits-back parameters")
    if count == 0 or count > MAX_IMAGES:
        raise BitstreamError(f"corrupted archive: {count} images (an archive holds 1 to {MAX_IMAGES:,d})")
    entries = []
    for _ in range(count):
        try:
            name = r.take(r.varint()).decode("utf-8")
        except UnicodeDecodeError:
            raise BitstreamError("corrupted archive: an image name is not UTF-8") from None
        entries.append((name, r.varint(), r.varint()))
    try:
        check_entry_names([name for name, _, _ in entries])
    except ArchiveNameError as e:
        raise BitstreamError(f"corrupted archive: {e}") from None
    stack = r.take(r.varint())
    if r.pos != len(body):
        raise BitstreamError("corrupted archive: trailing bytes after the stack")
    return {"method": METHODS[method_idx], "model": model, "weights": weights, "bbvi_steps": bbvi_steps, "seed": seed,
            "pad": pad, "side_bytes": side_bytes, "images": entries, "stack": stack}


def decompress_archive(data: bytes, progress: bool = False) -> tuple[list, bytes]:
    """Decode an archive: ``([(name, uint8 image [H, W, 3]), ...] in coding order, side information)``
    (the side information exactly as given to :func:`compress_archive`, or its random initial words).
    Raises :class:`BitstreamError`."""
    head = read_header(data)
    for _, h, w in head["images"]:
        check_size(h, w)
    check_decode_work([(h, w, head["bbvi_steps"]) for _, h, w in head["images"]], archive=True)
    try:
        model, rate_idx, entry = load_pretrained(head["model"])
    except WeightsError as e:
        raise BitstreamError(f"archive needs model {head['model']!r}, which this installation cannot load ({e})") from None
    if fingerprint(entry) != head["weights"]:
        raise BitstreamError(f"archive was written with other weights for {head['model']!r}")
    if not model.takes_side_info:
        raise BitstreamError(f"corrupted archive: {head['model']} is not a bits-back model")
    if len(head["stack"]) % 4 or not head["stack"]:
        raise BitstreamError("corrupted archive: the stack is not a non-empty sequence of 32-bit words")
    out = []
    try:
        ans = constriction.stream.stack.AnsCoder(np.frombuffer(head["stack"], "<u4").astype(np.uint32))
        for name, h, w in tqdm(head["images"][::-1], desc="bits-back archive", disable=not progress):
            shape = (math.ceil(h / model.stride), math.ceil(w / model.stride))
            with torch.no_grad():
                x_hat = model.pop_image(ans, shape, rate_idx, head["bbvi_steps"], head["seed"])
            out.append((name, to_uint8(x_hat[0, :, :h, :w])))
        side = side_info_bytes(ans.get_compressed(unseal=True), head["pad"], head["side_bytes"], head["seed"])
    except CodingError as e:
        raise BitstreamError(f"corrupted archive: {e}") from None
    except Exception as e:
        raise BitstreamError(f"corrupted archive: decoding failed ({type(e).__name__}: {e})") from None
    return out[::-1], side


def archive_info(data: bytes) -> dict:
    """The archive header as a JSON-able dict."""
    head = read_header(data)
    return {"format": "bits-back archive", "format_version": data[3], "method": head["method"], "model": head["model"],
            "weights": head["weights"].hex(), "bbvi_steps": head["bbvi_steps"], "seed": head["seed"],
            **({"side_info_bytes": head["side_bytes"]} if head["side_bytes"] is not None else {}),
            "images": [{"name": n, "height": h, "width": w} for n, h, w in head["images"]],
            "stack_bytes": len(head["stack"]), "bytes": len(data)}


__all__ = ["compress_archive", "decompress_archive", "archive_info", "read_header", "is_archive", "check_entry_names",
           "ArchiveNameError", "BITSBACK_METHODS"]
