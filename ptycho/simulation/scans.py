"""Scan patterns: jittered raster and Fermat spiral, in object pixels relative to the scan centre.

The step is ``step = (1 - overlap) * D`` for a linear overlap ``overlap`` (default
:data:`DEFAULT_OVERLAP`), where ``D`` is :func:`ptycho.simulation.probes.probe_diameter_px`; it
is the grid pitch (raster) or the median nearest-neighbour distance (Fermat spiral). Seeded
Gaussian jitter (``jitter_px`` standard deviation) breaks the raster periodicity. Positions are
``(n_positions, 2)`` float64 with columns ``[x, y]``.
"""

from __future__ import annotations

import math

import numpy as np

from ptycho.array_types import Float64Array
from ptycho.simulation.seeds import SeedLike, generator

__all__ = ["DEFAULT_OVERLAP", "raster_scan", "spiral_scan"]

#: Default linear overlap ``1 - step / probe_diameter``.
DEFAULT_OVERLAP = 0.7


def _check_scan_args(n_positions: int, step_px: float, jitter_px: float) -> None:
    if int(n_positions) != n_positions or n_positions < 1:
        raise ValueError(f"n_positions must be a positive integer, got {n_positions!r}")
    if not (math.isfinite(step_px) and step_px > 0):
        raise ValueError(f"step_px must be a positive number of pixels, got {step_px!r}")
    if not (math.isfinite(jitter_px) and jitter_px >= 0):
        raise ValueError(f"jitter_px must be >= 0, got {jitter_px!r}")


def raster_scan(
    n_positions: int,
    step_px: float,
    *,
    jitter_px: float = 0.0,
    seed: SeedLike | np.random.Generator = 0,
) -> Float64Array:
    """Raster scan on a square-ish grid with pitch ``step_px``, centred on (0, 0).

    The grid has ``ceil(sqrt(n))`` columns and as many rows as needed; positions are taken in
    row-major order (the last row may be partial). The grid's bounding box is centred on the
    origin, then Gaussian jitter of standard deviation ``jitter_px`` is added to x and y.
    Linear overlap for a probe of diameter ``D`` is ``1 - step_px / D``.

    Parameters
    ----------
    n_positions : int
    step_px : float
        Grid pitch in pixels.
    jitter_px : float
        Standard deviation of the positional jitter in pixels.
    seed : int, SeedSequence or Generator
        Jitter randomness.

    Returns
    -------
    (n_positions, 2) float64
        Columns ``[x, y]`` (object pixels relative to the scan centre).
    """
    _check_scan_args(n_positions, step_px, jitter_px)
    n = int(n_positions)
    ncols = math.ceil(math.sqrt(n))
    nrows = math.ceil(n / ncols)
    k = np.arange(n)
    x = (k % ncols - (ncols - 1) / 2.0) * step_px
    y = (k // ncols - (nrows - 1) / 2.0) * step_px
    pos = np.stack([x, y], axis=1).astype(np.float64)
    if jitter_px > 0:
        pos = pos + generator(seed).normal(0.0, jitter_px, size=pos.shape)
    return pos


def spiral_scan(
    n_positions: int,
    step_px: float,
    *,
    jitter_px: float = 0.0,
    seed: SeedLike | np.random.Generator = 0,
) -> Float64Array:
    """Fermat-spiral scan centred on (0, 0) whose median nearest-neighbour distance is ``step_px``.

    Point ``k`` sits at radius ``c sqrt(k + 0.5)`` and angle ``k * pi (3 - sqrt(5))`` (the golden
    angle); ``c`` is chosen so that the median nearest-neighbour distance equals ``step_px``
    (measured on the generated points, so the statement is exact). Gaussian jitter of standard
    deviation ``jitter_px`` is then added. Linear overlap for a probe of diameter ``D`` is
    ``1 - step_px / D``.

    Returns
    -------
    (n_positions, 2) float64
        Columns ``[x, y]``.
    """
    _check_scan_args(n_positions, step_px, jitter_px)
    n = int(n_positions)
    k = np.arange(n, dtype=np.float64)
    r = np.sqrt(k + 0.5)
    theta = k * math.pi * (3.0 - math.sqrt(5.0))
    pos = np.stack([r * np.cos(theta), r * np.sin(theta)], axis=1)
    if n > 1:
        from scipy.spatial import cKDTree

        dist, _ = cKDTree(pos).query(pos, k=2)
        pos = pos * (step_px / float(np.median(dist[:, 1])))
    if jitter_px > 0:
        pos = pos + generator(seed).normal(0.0, jitter_px, size=pos.shape)
    return pos
