r"""Bounded memory on large images: run a convolutional transform tile by tile.

A transform whose output at a position depends only on its input within a limited window (its
receptive field) can run on overlapping tiles: each tile is computed with ``margin`` extra input
on every side, and only its centre is kept, so the result does not depend on where the tiles are
cut (up to float rounding: a convolution library may sum in another order on a smaller tensor).
The encoder and the decoder run the same tiled function on the same sizes, so the decoded image is
still exactly the encoder's. Peak memory is then that of one tile, whatever the image size.

``factor`` is the transform's scale: 16 for a synthesis from a stride-16 latent to pixels, 1/16
(``Fraction(1, 16)``) for an analysis; tile size and margin are in input units and must map to whole
output units.

Example:
    >>> import torch
    >>> conv = torch.nn.Conv2d(3, 4, 5, stride=2, padding=2)
    >>> x = torch.rand(1, 3, 96, 128, dtype=torch.float64)
    >>> conv = conv.double()
    >>> whole = conv(x)
    >>> tiles = tiled(conv, x, factor=Fraction(1, 2), tile=32, margin=8)
    >>> tiles.shape == whole.shape, bool((tiles - whole).abs().max() < 1e-12)
    (True, True)
"""
from __future__ import annotations

from fractions import Fraction
from typing import Callable

import torch

#: images up to this many pixels (half a megapixel: a Kodak image is 0.39) run in one piece, as the
#: shipped models' cards and the golden streams were measured; larger ones are tiled
MAX_UNTILED_PIXELS = 1 << 19


def tiled(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, factor, tile: int, margin: int) -> torch.Tensor:
    """``fn(x)`` for ``x [B, C, H, W]`` computed on tiles of ``tile x tile`` input units with ``margin``
    units of context on each side; ``fn`` maps an ``h x w`` input to ``h * factor x w * factor``."""
    factor = Fraction(factor)
    if (tile * factor).denominator != 1 or (margin * factor).denominator != 1:
        raise ValueError("tile and margin must map to whole output units")
    H, W = x.shape[-2:]
    out = None
    for r0 in range(0, H, tile):
        r1 = min(H, r0 + tile)
        a0, a1 = max(0, r0 - margin), min(H, r1 + margin)
        for c0 in range(0, W, tile):
            c1 = min(W, c0 + tile)
            b0, b1 = max(0, c0 - margin), min(W, c1 + margin)
            y = fn(x[..., a0:a1, b0:b1])
            if out is None:
                out = y.new_empty(*y.shape[:-2], int(H * factor), int(W * factor))
            out[..., int(r0 * factor):int(r1 * factor), int(c0 * factor):int(c1 * factor)] = \
                y[..., int((r0 - a0) * factor):int((r1 - a0) * factor), int((c0 - b0) * factor):int((c1 - b0) * factor)]
    return out


def maybe_tiled(fn, x: torch.Tensor, factor, tile: int, margin: int) -> torch.Tensor:
    """``fn(x)`` in one piece when the image it belongs to is small (at most ``MAX_UNTILED_PIXELS``
    pixels, judged at pixel resolution), else :func:`tiled`."""
    factor = Fraction(factor)
    pixel_scale = factor if factor > 1 else 1  # synthesis input is latent: its pixels are factor^2 more
    if x.shape[-2] * x.shape[-1] * pixel_scale * pixel_scale <= MAX_UNTILED_PIXELS:
        return fn(x)
    return tiled(fn, x, factor, tile, margin)


__all__ = ["tiled", "maybe_tiled", "MAX_UNTILED_PIXELS"]
