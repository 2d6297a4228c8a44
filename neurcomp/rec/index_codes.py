"""REC's stream layout: a varint header (method id, sizes, parameters) and length-prefixed sections.

The integer codes inside the sections (Elias codes, range-coded integers) are the coding
layer's: :mod:`neurcomp.entropy.bits` and :mod:`neurcomp.entropy.integer_codes`.

Example:
    >>> unpack_sections(pack_sections([1, 300], [b"ab", b""]), 2)
    ([1, 300], [b'ab', b''])
"""
from __future__ import annotations

from ..entropy.bits import read_varint, varint
from ..entropy.errors import CodingError


def pack_sections(header: list[int], sections: list[bytes]) -> bytes:
    out = bytearray(varint(len(header)))
    for h in header:
        out += varint(h)
    for s in sections:
        out += varint(len(s)) + s
    return bytes(out)


def unpack_sections(data: bytes, n_sections: int) -> tuple[list[int], list[bytes]]:
    n, pos = read_varint(data, 0)
    if n > 64:
        raise CodingError("corrupt REC header")
    header = []
    for _ in range(n):
        v, pos = read_varint(data, pos)
        header.append(v)
    sections = []
    for _ in range(n_sections):
        length, pos = read_varint(data, pos)
        if pos + length > len(data):
            raise CodingError("REC stream is truncated")
        sections.append(data[pos : pos + length])
        pos += length
    if pos != len(data):
        raise CodingError("trailing bytes after the REC stream")
    return header, sections


__all__ = ["pack_sections", "unpack_sections"]
