"""Dataset normalisation of diffraction amplitudes (``specs/data_contracts.md`` DATA-012, ARCH-007).

Both :mod:`ptycho.raw_data` (grouping) and :mod:`ptycho.loader` (containers) scale amplitudes
with :func:`normalize_diffraction`; it lives here so that neither imports the other for it.
:mod:`ptycho.loader` re-exports it under its documented name ``loader.normalize_diffraction``.
"""

from __future__ import annotations

import numpy as np

from ptycho.array_types import Float32Array, FloatArray

__all__ = ["normalize_diffraction"]


def normalize_diffraction(
    amplitude: FloatArray, axes: tuple[int, int] = (-2, -1)
) -> tuple[Float32Array, float]:
    """Scale diffraction amplitudes to a mean per-pattern energy of ``(N/2)^2`` (ARCH-007).

    Parameters
    ----------
    amplitude : (..., N, N) float
        Diffraction amplitudes; ``axes`` names the two detector axes (use ``axes=(1, 2)`` for
        channel format ``(B, N, N, C)``). The mean runs over every other axis.
    axes : tuple of int
        The two square detector axes.

    Returns
    -------
    normalised : same shape, float32
        ``amplitude * factor``.
    factor : float
        ``sqrt((N/2)^2 / mean_patterns(sum_detector amplitude^2))``, computed in float64.
    """
    arr = np.asarray(amplitude)
    if arr.ndim < 2:
        raise ValueError(f"amplitude must have at least 2 dimensions (N, N), got {arr.shape}")
    ax = tuple(a % arr.ndim for a in axes)
    if len(set(ax)) != 2:
        raise ValueError(f"axes must name two different detector axes, got {axes}")
    n0, n1 = arr.shape[ax[0]], arr.shape[ax[1]]
    if n0 != n1:
        raise ValueError(f"diffraction patterns must be square, got {n0}x{n1}")
    if arr.size == 0:
        raise ValueError("no diffraction patterns to normalise (empty array)")
    a64 = arr.astype(np.float64)
    if not np.all(np.isfinite(a64)):
        raise ValueError("diffraction amplitudes contain NaN/Inf values; fix the input data")
    energy = float(np.mean(np.sum(a64 * a64, axis=ax)))
    if energy <= 0.0:
        raise ValueError(
            "all diffraction patterns are zero, so the dataset cannot be normalised; check the "
            "input data"
        )
    factor = float(np.sqrt((n0 / 2.0) ** 2 / energy))
    return (a64 * factor).astype(np.float32), factor
