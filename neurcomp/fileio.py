"""Writing files safely and fingerprinting them: the package's one atomic write and one SHA-256.

:func:`atomic_write` writes through a temporary file in the target folder and ``os.replace``:
readers see the old file or the complete new one, never half a file, and an interrupted
write leaves no partial output behind. The new file gets the usual permissions
(``0666 & ~umask``; ``mkstemp`` alone would make it ``0600``).

:func:`read_capped` reads an input that has a largest valid size (a stream, an archive, side
information): it stops one byte past the cap, so ``/dev/zero`` or a runaway pipe is refused with
one line (:class:`InputTooLarge`) instead of filling the memory.

Example:
    >>> import tempfile, pathlib
    >>> p = atomic_write(pathlib.Path(tempfile.mkdtemp()) / "hello.txt", b"hello")
    >>> p.read_bytes(), sha256_file(p)[:16]
    (b'hello', '2cf24dba5fb0a30e')
    >>> read_capped(p, 5, "greeting")
    b'hello'
    >>> read_capped(p, 4, "greeting")
    Traceback (most recent call last):
    ...
    neurcomp.fileio.InputTooLarge: ... is larger than a greeting can be (4 bytes)
"""
from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path


def atomic_write(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (creating the parent folder); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return path


class InputTooLarge(OSError):
    """An input file (or device, or pipe) is larger than any valid input of its kind."""


def read_capped(path: str | os.PathLike, max_bytes: int, what: str) -> bytes:
    """The bytes of ``path``, at most ``max_bytes`` of them: reads up to one byte more and raises
    :class:`InputTooLarge` (naming ``what``, e.g. "stream") if it got it, so an endless input such as
    ``/dev/zero`` costs ``max_bytes + 1`` bytes of memory, not all of it."""
    with open(path, "rb") as f:
        data = f.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise InputTooLarge(f"{path} is larger than a {what} can be ({max_bytes:,d} bytes)")
    return data


def sha256_file(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a file, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


__all__ = ["atomic_write", "read_capped", "InputTooLarge", "sha256_file"]
