"""Seeded Poisson photon noise (design D3/D4, ARCH-011).

Every draw takes an explicit :class:`numpy.random.Generator` (or an integer seed that builds
one); nothing here touches the global NumPy RNG.
"""

from __future__ import annotations

import logging

import numpy as np
import numpy.typing as npt

from ptycho.array_types import FloatArray, IntArray

__all__ = ["as_generator", "poisson_amplitude", "poisson_counts"]

logger = logging.getLogger(__name__)


def as_generator(rng: np.random.Generator | int) -> np.random.Generator:
    """Return ``rng`` itself, or a new ``numpy.random.default_rng(rng)`` for an integer seed.

    Raises
    ------
    ValueError
        For ``None`` or anything else: randomness must be seeded explicitly (ARCH-011).
    """
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, (int, np.integer)) and not isinstance(rng, bool):
        return np.random.default_rng(int(rng))
    raise ValueError(
        f"rng must be a numpy.random.Generator or an integer seed, got {type(rng).__name__}; "
        "pass e.g. numpy.random.default_rng(0)"
    )


def poisson_counts(expected_counts: npt.ArrayLike, rng: np.random.Generator | int) -> IntArray:
    """Draw Poisson counts with the given means.

    Parameters
    ----------
    expected_counts : (...) float >= 0
        Expected photon counts per pixel.
    rng : numpy.random.Generator or int seed

    Returns
    -------
    (...) int64
        Detector counts.

    Raises
    ------
    ValueError
        For negative, NaN or infinite expected counts.
    """
    lam = np.asarray(expected_counts, dtype=np.float64)
    if not np.all(np.isfinite(lam)):
        raise ValueError("expected_counts contains NaN or Inf; check the simulated intensities")
    if np.any(lam < 0):
        raise ValueError(
            f"expected_counts must be >= 0, got minimum {lam.min()}; pass intensities, not "
            "signed amplitudes"
        )
    return as_generator(rng).poisson(lam).astype(np.int64, copy=False)


def poisson_amplitude(
    amplitude: npt.ArrayLike, scale: float, rng: np.random.Generator | int
) -> FloatArray:
    """Noisy amplitude ``sqrt(Poisson((scale * A)^2)) / scale``.

    ``(scale * A)^2`` are the expected counts; the result is back in the units of ``A``, so
    ``(scale * result)^2`` are integer counts.

    Parameters
    ----------
    amplitude : (...) float >= 0
        Noise-free diffraction amplitude ``A``.
    scale : float > 0
        Amplitude-to-count-amplitude factor (e.g. the simulation's intensity scale).
    rng : numpy.random.Generator or int seed

    Returns
    -------
    (...) float32
        Noisy amplitude.
    """
    if not np.isfinite(scale) or scale <= 0:
        raise ValueError(f"scale must be a positive finite number, got {scale}")
    amp = np.asarray(amplitude, dtype=np.float64)
    if not np.all(np.isfinite(amp)):
        raise ValueError("amplitude contains NaN or Inf")
    if np.any(amp < 0):
        raise ValueError(f"amplitude must be >= 0, got minimum {amp.min()}")
    counts = poisson_counts((float(scale) * amp) ** 2, rng)
    return (np.sqrt(counts.astype(np.float64)) / float(scale)).astype(np.float32)
