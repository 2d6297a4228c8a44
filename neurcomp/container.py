"""The ``.ncz`` bitstream container shared by every method.

Layout (all integers little endian; ``varint`` = unsigned LEB128)::

    magic     4 bytes  b"NCZ" + format version (1)
    method    1 byte   index into METHODS
    model     1 byte length + ASCII name (e.g. "mshp@0.0067")
    weights   8 bytes  first 8 bytes of the weights file's SHA-256
    height    varint   image size in pixels
    width     varint
    latent    2 varints  spatial size of the coarsest latent
    extra     varint length + bytes (method parameters, e.g. a seed; the model's extra_size, or
                       one of its extra_sizes: bits-back's 9 or 13 bytes, neurcomp.models.bitsback)
    sections  1 byte count, then per section: varint length + bytes
    crc32     4 bytes  of everything above

A stream that is truncated, corrupted, or not a neurcomp stream raises
:class:`neurcomp.BitstreamError` with a one-line reason.

Example:
    >>> s = Stream("amortized", "toy", b"12345678", 32, 48, (1, 1), b"", [b"ab", b"c"])
    >>> unpack(pack(s)) == s
    True
"""
from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field

from . import BitstreamError
from .entropy.bits import read_varint, varint
from .entropy.errors import CodingError, TruncatedCode

MAGIC = b"NCZ"
VERSION = 1
METHODS = ("amortized", "sga", "map", "ste", "uniform_noise", "det_annealing", "bitsback", "rec", "bitsback_no_sga",
           "bitsback_no_iter", "overfit")
#: the methods whose streams carry side information besides the image (lossy bits-back coding, Yang, Bamler &
#: Mandt 2020): ``--side-info``, several images into one archive (:mod:`neurcomp.bitsback`)
SIDE_INFO_METHODS = ("bitsback", "bitsback_no_sga", "bitsback_no_iter")


@dataclass
class Stream:
    method: str
    model: str
    weights: bytes  # 8-byte weights fingerprint
    height: int
    width: int
    latent_shape: tuple[int, int]
    extra: bytes = b""
    sections: list[bytes] = field(default_factory=list)

    def header_bytes(self) -> int:
        """Bytes the container adds on top of the sections' payload."""
        return len(pack(self)) - sum(len(s) for s in self.sections)


class Reader:
    """Reads a header field by field; ``what`` names the format in its errors ("stream", "archive")."""

    def __init__(self, data: bytes, what: str = "stream"):
        self.data, self.pos, self.what = data, 0, what

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise BitstreamError(f"truncated {self.what}: it ends in the middle of the header or a section")
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def varint(self) -> int:
        try:
            n, self.pos = read_varint(self.data, self.pos)
        except TruncatedCode:
            raise BitstreamError(f"truncated {self.what}: it ends in the middle of the header or a section") from None
        except CodingError:
            raise BitstreamError(f"corrupted {self.what}: malformed length field") from None
        return n


def write_identity(magic: bytes, version: int, method: str, model: str, weights: bytes) -> bytearray:
    """The fields every neurcomp format starts with (streams and :mod:`neurcomp.bitsback`'s archives):
    ``magic`` (3 bytes) + version byte, method id (1 byte), model name (1 byte length + ASCII),
    weights fingerprint (8 bytes). ValueError for what cannot be written."""
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}")
    name = model.encode("ascii")
    if len(name) > 255 or len(weights) != 8:
        raise ValueError("model name too long, or weights fingerprint not 8 bytes")
    return bytearray(magic + bytes([version, METHODS.index(method), len(name)]) + name + weights)


def read_identity(r: Reader) -> tuple[int, str, bytes]:
    """Read what :func:`write_identity` wrote after the magic and version (``r`` is past them):
    ``(method id, model name, weights fingerprint)``; the caller decides which method ids its format takes."""
    method_idx, name_len = r.take(2)
    try:
        model = r.take(name_len).decode("ascii")
    except UnicodeDecodeError:
        raise BitstreamError(f"corrupted {r.what}: model name is not ASCII") from None
    return method_idx, model, r.take(8)


def pack(s: Stream) -> bytes:
    if len(s.sections) > 255:
        raise ValueError("too many sections")
    body = write_identity(MAGIC, VERSION, s.method, s.model, s.weights)
    for v in (s.height, s.width, *s.latent_shape, len(s.extra)):
        body += varint(int(v))
    body += s.extra + bytes([len(s.sections)])
    for sec in s.sections:
        body += varint(len(sec)) + sec
    return bytes(body) + struct.pack("<I", zlib.crc32(body))


def unpack(data: bytes) -> Stream:
    if len(data) < 4 or data[:3] != MAGIC:
        raise BitstreamError("not a neurcomp stream (bad magic bytes)")
    if data[3] != VERSION:
        raise BitstreamError(f"unsupported neurcomp stream version {data[3]} (this neurcomp reads version {VERSION})")
    if len(data) < 8:
        raise BitstreamError("truncated stream: shorter than the smallest header")
    body, (crc,) = data[:-4], struct.unpack("<I", data[-4:])
    r = Reader(body)
    r.take(4)
    method_idx, model, weights = read_identity(r)
    if method_idx >= len(METHODS):
        raise BitstreamError(f"corrupted stream: unknown method id {method_idx}")
    height, width, lh, lw, n_extra = (r.varint() for _ in range(5))
    extra = r.take(n_extra)
    sections = [r.take(r.varint()) for _ in range(r.take(1)[0])]
    if r.pos != len(body):
        if zlib.crc32(body) != crc:
            raise BitstreamError("corrupted stream: checksum mismatch")
        raise BitstreamError("corrupted stream: trailing bytes after the last section")
    if zlib.crc32(body) != crc:
        raise BitstreamError("corrupted stream: checksum mismatch (the file was altered or truncated)")
    return Stream(METHODS[method_idx], model, weights, height, width, (lh, lw), extra, sections)
