r"""Bits-back coding with a discrete latent-variable model small enough to follow by hand.

A model ``P(z) P(x | z)`` over a latent ``z in {0..K-1}`` and an observation ``x in {0..V-1}``,
with an approximate posterior ``Q(z | x)``. Coding ``x`` the plain way sends ``z`` and ``x``:
``-log2 P(z) - log2 P(x | z)`` bits. Bits-back coding (Wallace 1990; Hinton & van Camp 1993;
Townsend, Bird & Barber 2019) does better on an ANS *stack*: the encoder first *decodes* ``z``
from the bits already on the stack with ``Q(z | x)`` (taking ``-log2 Q(z | x)`` bits off it), then
pushes ``x`` under ``P(x | z)`` and ``z`` under ``P(z)``. The decoder pops ``z`` and ``x`` and
*encodes* ``z`` with ``Q(z | x)``, which puts the taken bits back. Net cost per item:

    -log2 P(z) - log2 P(x | z) + log2 Q(z | x)        (the negative ELBO, in bits)

which equals ``-log2 P(x)`` when ``Q`` is the exact posterior. This module is the teaching and
testing version of what :mod:`neurcomp.bitsback` does with images: integer tables
(:class:`~neurcomp.entropy.PmfTables`, without escape) on constriction's ``AnsCoder``, and a
trace of the stack size after every step.

Example:
    >>> import constriction, numpy as np
    >>> toy = ToyLatentModel.random(K=4, V=6, rng=np.random.default_rng(0))
    >>> ans = constriction.stream.stack.AnsCoder(np.array([0xDEADBEEF, 0x12345678], np.uint32), seal=True)
    >>> xs = np.array([0, 5, 2, 2, 1])
    >>> zs = toy.encode(ans, xs)
    >>> net = ans.num_valid_bits() - 64
    >>> bool(abs(net - sum(toy.nelbo_bits(x, z) for x, z in zip(xs, zs))) < 33)
    True
    >>> toy.decode(ans, len(xs)).tolist(), ans.get_compressed(unseal=True).tolist() == [0xDEADBEEF, 0x12345678]
    ([0, 5, 2, 2, 1], True)
"""
from __future__ import annotations

import numpy as np

from .coder import PRECISION_BITS, PmfTables, pop_symbols, push_symbols


def _tables(rows: np.ndarray) -> PmfTables:
    return PmfTables.from_probabilities([np.asarray(r, np.float64) / np.sum(r) for r in rows],
                                        offsets=np.zeros(len(rows), np.int64), tail_masses=[0.0] * len(rows),
                                        escape=False)


class ToyLatentModel:
    """``P(z)`` (``[K]``), ``P(x | z)`` (``[K, V]``), ``Q(z | x)`` (``[V, K]``; default: the exact
    posterior of the model) as integer tables."""

    def __init__(self, prior, likelihood, posterior=None):
        self.prior = np.asarray(prior, np.float64) / np.sum(prior)
        lik = np.asarray(likelihood, np.float64)
        self.likelihood = lik / lik.sum(1, keepdims=True)
        if posterior is None:
            joint = self.prior[:, None] * self.likelihood  # [K, V]
            posterior = (joint / joint.sum(0, keepdims=True)).T
        post = np.asarray(posterior, np.float64)
        self.posterior = np.ascontiguousarray(post / post.sum(1, keepdims=True))
        self.K, self.V = self.likelihood.shape
        self.t_prior, self.t_lik, self.t_post = _tables([self.prior]), _tables(self.likelihood), _tables(self.posterior)

    @classmethod
    def random(cls, K: int, V: int, rng: np.random.Generator, exact_posterior: bool = True,
               concentration: float = 0.5) -> "ToyLatentModel":
        """A random model (Dirichlet rows); ``exact_posterior=False``: a random ``Q`` instead."""
        prior = rng.dirichlet(np.full(K, 1.0))
        lik = rng.dirichlet(np.full(V, concentration), size=K)
        post = None if exact_posterior else rng.dirichlet(np.full(K, 1.0), size=V)
        return cls(prior, lik, post)

    # -- information content under the integer tables, in bits
    @staticmethod
    def _bits(t: PmfTables, value: int, table: int) -> float:
        return float(PRECISION_BITS - np.log2(t.counts[table, value]))

    def nelbo_bits(self, x: int, z: int) -> float:
        """Net bits of one item with latent ``z``: ``-log2 P(z) - log2 P(x | z) + log2 Q(z | x)``."""
        return self._bits(self.t_prior, z, 0) + self._bits(self.t_lik, x, z) - self._bits(self.t_post, z, x)

    def marginal_bits(self, x: int) -> float:
        """``-log2 P(x)`` under the model's (float) probabilities: what an ideal coder of ``x`` alone pays."""
        return float(-np.log2(self.prior @ self.likelihood[:, x]))

    def joint_bits(self, x: int, z: int) -> float:
        """``-log2 P(z) - log2 P(x | z)``: what sending both costs without bits back."""
        return self._bits(self.t_prior, z, 0) + self._bits(self.t_lik, x, z)

    # -- coding on a constriction AnsCoder
    def encode(self, ans, xs, trace: list | None = None) -> np.ndarray:
        """Push every ``x`` of ``xs`` with bits back; returns the latents taken off the stack. ``trace``
        (a list) gets ``(item, step, stack_bits)`` after each pop / push."""
        zs = []
        for i, x in enumerate(np.asarray(xs, np.int64)):
            z = int(pop_symbols(ans, np.array([x]), self.t_post)[0])  # decode z from the stack: bits taken
            if trace is not None:
                trace.append((i, "decode z with Q(z|x)", ans.num_valid_bits()))
            push_symbols(ans, np.array([x]), np.array([z]), self.t_lik)
            if trace is not None:
                trace.append((i, "encode x with P(x|z)", ans.num_valid_bits()))
            push_symbols(ans, np.array([z]), np.zeros(1, np.int64), self.t_prior)
            if trace is not None:
                trace.append((i, "encode z with P(z)", ans.num_valid_bits()))
            zs.append(z)
        return np.array(zs, np.int64)

    def decode(self, ans, n: int, trace: list | None = None) -> np.ndarray:
        """Pop ``n`` items (last encoded first) and give every ``z``'s bits back; returns ``xs`` in
        encoding order."""
        xs = []
        for i in range(n - 1, -1, -1):
            z = int(pop_symbols(ans, np.zeros(1, np.int64), self.t_prior)[0])
            if trace is not None:
                trace.append((i, "decode z with P(z)", ans.num_valid_bits()))
            x = int(pop_symbols(ans, np.array([z]), self.t_lik)[0])
            if trace is not None:
                trace.append((i, "decode x with P(x|z)", ans.num_valid_bits()))
            push_symbols(ans, np.array([z]), np.array([x]), self.t_post)  # encode z with Q: bits back
            if trace is not None:
                trace.append((i, "encode z with Q(z|x)", ans.num_valid_bits()))
            xs.append(x)
        return np.array(xs[::-1], np.int64)


__all__ = ["ToyLatentModel"]
