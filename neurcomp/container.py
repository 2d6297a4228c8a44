"""The ``.ncz`` bitstream container shared by every method.

Layout (all integers little endian; ``varint`` = unsigned LEB128)::

    magic     4 bytes  b"NCZ" + format version (1)
    method    1 byte   index into METHODS
    model     1 byte length + ASCII name (e.g. "mshp@0.0067")
    weights   8 bytes  first 8 bytes of the weights file's SHA-256
    height    varint   image size in pixels
    width     varint
    latent    2 varints  spatial size of the coarsest latent
    extra     varint length + bytes (method parameters, e.g. a seed)
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
           "bitsback_no_iter")


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


def pack(s: Stream) -> bytes:
    if s.method not in METHODS:
        raise ValueError(f"unknown method {s.method!r}")
    name = s.model.encode("ascii")
    if len(name) > 255 or len(s.weights) != 8 or len(s.sections) > 255:
        raise ValueError("model name too long, weights fingerprint not 8 bytes, or too many sections")
    body = bytearray(MAGIC + bytes([VERSION, METHODS.index(s.method), len(name)]) + name + s.weights)
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
    method_idx, name_len = r.take(2)
    if method_idx >= len(METHODS):
        raise BitstreamError(f"corrupted stream: unknown method id {method_idx}")
    try:
        model = r.take(name_len).decode("ascii")
    except UnicodeDecodeError:
        raise BitstreamError("corrupted stream: model name is not ASCII") from None
    weights = r.take(8)
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
