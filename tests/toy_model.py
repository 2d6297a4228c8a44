"""A model that is not part of neurcomp: the conformance test registers it with one line to show that
adding a model is one new file plus one registry entry (codec, zoo and CLI need no change).

It codes the mean colour of every 8x8 block with ``levels`` levels per channel under a uniform
integer table (through neurcomp's table coder), and decodes to flat blocks plus a learned
per-channel offset (so it has weights to ship).
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from neurcomp.entropy import PmfTables, TableStore, decode_symbols, encode_symbols
from neurcomp.models import Compressed, CompressionModel


class BlockColours(CompressionModel):
    kind = "block_colours"
    stride = 8

    def __init__(self, levels: int = 32, lambdas=(0.01,)):
        super().__init__()
        self.levels = int(levels)
        self.lambdas = [float(v) for v in lambdas]
        self.offset = torch.nn.Parameter(torch.zeros(3))
        self.table = TableStore()

    @property
    def config(self) -> dict:
        return {"kind": self.kind, "levels": self.levels, "lambdas": self.lambdas}

    def _symbols(self, x):
        return F.avg_pool2d(x, self.stride) * (self.levels - 1)

    def _image(self, sym, offset):
        up = F.interpolate(sym / (self.levels - 1), scale_factor=self.stride, mode="nearest")
        return up + offset.view(1, 3, 1, 1)

    def forward(self, x, rate_idx=0):
        s = self._symbols(x)
        s_hat = s + (torch.round(s) - s).detach()
        bits = torch.full_like(s, math.log2(self.levels))
        return {"x_hat": self._image(s_hat, self.offset), "rate_bits": {"colours": bits}}

    def update(self):
        self.table.store_tables(PmfTables.from_probabilities([np.full(self.levels, 1.0 / self.levels)], offsets=[0],
                                                             tail_masses=[0.0]))

    @torch.no_grad()
    def compress(self, x, rate_idx=0, method=None, steps=None, seed=0, hw=None) -> Compressed:
        self.check_method(method)
        sym = torch.round(self._symbols(x)).clamp(0, self.levels - 1)
        values = sym.numpy().astype(np.int64).ravel()
        tables = self.table.tables()
        data = encode_symbols(values, np.zeros(values.size, np.int64), tables)
        return Compressed([data], tuple(sym.shape[2:]), self._decode(sym),
                          {"colours": tables.information_bits(values, np.zeros(values.size, np.int64))})

    def _decode(self, sym):
        return self._image(sym.double(), self.decoding_copy().offset).float()

    @torch.no_grad()
    def decompress(self, sections, latent_shape, rate_idx=0, extra=b""):
        self.check_stream(sections, extra)
        h, w = (int(v) for v in latent_shape)
        values = decode_symbols(sections[0], np.zeros(3 * h * w, np.int64), self.table.tables())
        return self._decode(torch.from_numpy(values).reshape(1, 3, h, w))
