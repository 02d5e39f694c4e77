"""Seeds of the simulator: one integer split into independent, reproducible streams (ARCH-011).

Every simulation is seeded explicitly: a non-negative integer (or a
:class:`numpy.random.SeedSequence`) is split into child sequences for the object, probe, scan and
noise, so the same seed gives byte-identical outputs, and the shipped pretrained model's recipe
(:mod:`ptycho.pretrained`) reproduces its training data.
"""

from __future__ import annotations

import numpy as np

__all__ = ["SeedLike", "child_sequences", "generator", "seed_sequence"]

#: A master seed: a non-negative integer or a :class:`numpy.random.SeedSequence`.
SeedLike = int | np.random.SeedSequence


def seed_sequence(seed: SeedLike, what: str = "seed") -> np.random.SeedSequence:
    """``seed`` as a SeedSequence; ``what`` names it in the error for a bad seed."""
    if isinstance(seed, np.random.SeedSequence):
        return seed
    if isinstance(seed, (int, np.integer)) and not isinstance(seed, bool) and seed >= 0:
        return np.random.SeedSequence(int(seed))
    raise ValueError(
        f"{what} must be a non-negative integer (or a numpy SeedSequence), got {seed!r}; "
        "every simulation is seeded explicitly (ARCH-011)"
    )


def child_sequences(seed: SeedLike, count: int) -> list[np.random.SeedSequence]:
    """``count`` independent child sequences, without mutating a given SeedSequence (so passing
    the same SeedSequence twice gives the same streams, unlike ``SeedSequence.spawn``)."""
    ss = seed_sequence(seed)
    return [
        np.random.SeedSequence(ss.entropy, spawn_key=(*ss.spawn_key, i), pool_size=ss.pool_size)
        for i in range(count)
    ]


def generator(seed: SeedLike | np.random.Generator, what: str = "seed") -> np.random.Generator:
    """A NumPy Generator for ``seed`` (a given Generator is used as is)."""
    if isinstance(seed, np.random.Generator):
        return seed
    return np.random.default_rng(seed_sequence(seed, what))
