"""Scan-geometry checks shared by the inference CLIs and the Ptychodus adapter.

Before a reconstruction allocates anything, the scan positions are checked against the grid the
object is stitched onto (``specs/hardening.md`` HARD-005 .. HARD-007):

* with an object grid (the NPZ's ``objectGuess``, Ptychodus's object), every patch centre must
  lie on it: ``0 <= x <= W`` and ``0 <= y <= H`` (:func:`check_positions_on_object`);
* without one, the canvas spans every position (:func:`ptycho.stitching.scan_canvas`), so
  positions far from the rest of the scan are refused, naming their indices
  (:func:`find_outliers`), and so is a canvas above :data:`MAX_CANVAS_PIXELS`
  (:func:`check_canvas_size`): the memory of a reconstruction never grows with the square of an
  outlier's distance.

Positions are object pixels, ``x`` = column and ``y`` = row of the patch centre (ARCH-002).
"""

from __future__ import annotations

import logging

import numpy as np
import numpy.typing as npt

from ptycho.array_types import Float64Array, IntArray

__all__ = [
    "MAX_CANVAS_PIXELS",
    "MIN_POSITIONS_FOR_OUTLIERS",
    "OUTLIER_QUANTILE",
    "check_canvas_size",
    "check_positions_on_object",
    "check_scan_canvas",
    "find_outliers",
]

logger = logging.getLogger(__name__)

#: Largest scan-centred canvas, in pixels (8192 x 8192). Stitching and refinement hold about
#: 50 bytes per canvas pixel, so this bounds them at about 3.4 GB.
MAX_CANVAS_PIXELS = 8192 * 8192
#: The bulk of a scan is the central ``1 - 2 q`` of the positions on each axis ...
OUTLIER_QUANTILE = 0.05
#: ... and outliers are only looked for among this many positions or more.
MIN_POSITIONS_FOR_OUTLIERS = 8
_LISTED = 8


def _finite_positions(x: npt.ArrayLike, y: npt.ArrayLike) -> tuple[Float64Array, Float64Array]:
    xa = np.asarray(x, dtype=np.float64).ravel()
    ya = np.asarray(y, dtype=np.float64).ravel()
    if xa.shape != ya.shape:
        raise ValueError(f"got {xa.size} x positions but {ya.size} y positions")
    if xa.size == 0:
        raise ValueError("the scan has no positions")
    if not (np.all(np.isfinite(xa)) and np.all(np.isfinite(ya))):
        raise ValueError("some scan positions are NaN/Inf; fix the scan positions")
    return xa, ya


def _indices_text(indices: IntArray) -> str:
    shown = ", ".join(str(int(i)) for i in indices[:_LISTED])
    return shown + (f", ... ({indices.size} in all)" if indices.size > _LISTED else "")


def check_positions_on_object(
    x: npt.ArrayLike,
    y: npt.ArrayLike,
    shape: tuple[int, int],
    fix: str = "enlarge or re-centre the object so that it covers the whole scan",
) -> None:
    """Every patch centre must lie on the object grid (HARD-005, ADAPT-009).

    Parameters
    ----------
    x, y : (M,) float
        Patch centres in object pixels (x = column, y = row).
    shape : (H, W)
        The object grid.
    fix : str
        How to fix it, appended to the message (it differs between the CLIs and Ptychodus).

    Raises
    ------
    ValueError
        ``K of M probe positions lie outside the object (W x H px; positions span x a..b px,
        y c..d px; first outside: indices ...); <fix>``, or for non-finite positions.
    """
    xa, ya = _finite_positions(x, y)
    height, width = int(shape[0]), int(shape[1])
    outside = (xa < 0) | (xa > width) | (ya < 0) | (ya > height)
    if outside.any():
        raise ValueError(
            f"{int(outside.sum())} of {xa.size} probe positions lie outside the object "
            f"({width} x {height} px; positions span x {xa.min():.1f}..{xa.max():.1f} px, y "
            f"{ya.min():.1f}..{ya.max():.1f} px; outside: indices "
            f"{_indices_text(np.flatnonzero(outside))}); {fix}"
        )


def find_outliers(x: npt.ArrayLike, y: npt.ArrayLike, N: int) -> IntArray:
    """Indices of the positions far from the rest of the scan (HARD-006).

    The bulk of the scan is the box between the :data:`OUTLIER_QUANTILE` and ``1 -`` that
    quantile of the positions on each axis; its size ``w`` is the larger of its two sides and at
    least ``N``. A position is an outlier when it lies more than ``w`` outside that box on either
    axis (for a uniformly filled scan the extreme positions lie about ``0.06 w`` outside it).
    Scans of fewer than :data:`MIN_POSITIONS_FOR_OUTLIERS` positions have no outliers.

    Returns
    -------
    (K,) int64
        Sorted indices.
    """
    xa, ya = _finite_positions(x, y)
    if xa.size < MIN_POSITIONS_FOR_OUTLIERS:
        return np.zeros(0, dtype=np.int64)
    q = OUTLIER_QUANTILE
    x_lo, x_hi = np.quantile(xa, [q, 1.0 - q])
    y_lo, y_hi = np.quantile(ya, [q, 1.0 - q])
    width = max(x_hi - x_lo, y_hi - y_lo, float(N))
    far = (xa < x_lo - width) | (xa > x_hi + width) | (ya < y_lo - width) | (ya > y_hi + width)
    return np.flatnonzero(far).astype(np.int64)


def check_canvas_size(size: tuple[int, int], what: str = "scan-centred canvas") -> None:
    """Refuse a canvas above :data:`MAX_CANVAS_PIXELS` (HARD-007) before it is allocated."""
    height, width = int(size[0]), int(size[1])
    pixels = height * width
    if pixels > MAX_CANVAS_PIXELS:
        limit = int(np.sqrt(MAX_CANVAS_PIXELS))
        raise ValueError(
            f"the {what} would be {width} x {height} px ({pixels / 1e6:.0f} Mpx), above the "
            f"limit of {limit} x {limit} px ({MAX_CANVAS_PIXELS / 1e6:.0f} Mpx, about "
            f"{50 * MAX_CANVAS_PIXELS / 1e9:.1f} GB to stitch); reconstruct the scan in parts "
            "of smaller extent"
        )


def check_scan_canvas(x: npt.ArrayLike, y: npt.ArrayLike, N: int, crop: int) -> None:
    """Outliers and canvas size of a scan stitched on a scan-centred canvas (HARD-006/007).

    Parameters
    ----------
    x, y : (M,) float
        Scan positions in object pixels.
    N : int
        Pattern size (the smallest bulk size, see :func:`find_outliers`).
    crop : int
        Side of the central patch crop that is stitched.

    Raises
    ------
    ValueError
        Naming the outlier indices and their positions, or the canvas size and its limit.
    """
    from ptycho.stitching import scan_canvas

    xa, ya = _finite_positions(x, y)
    outliers = find_outliers(xa, ya, N)
    if outliers.size:
        keep = np.ones(xa.size, dtype=bool)
        keep[outliers] = False
        first = int(outliers[0])
        size, _ = scan_canvas(xa, ya, crop)
        raise ValueError(
            f"{outliers.size} of {xa.size} scan positions lie far from the rest of the scan "
            f"(indices {_indices_text(outliers)}; e.g. index {first} at x={xa[first]:.1f}, "
            f"y={ya[first]:.1f} px, while the others span x {xa[keep].min():.1f}.."
            f"{xa[keep].max():.1f}, y {ya[keep].min():.1f}..{ya[keep].max():.1f} px): the "
            f"scan-centred canvas would be {size} x {size} px and almost empty. Remove these "
            "positions from the data or correct them (or provide an objectGuess whose grid "
            "holds the whole scan)"
        )
    size, _ = scan_canvas(xa, ya, crop)
    check_canvas_size((size, size))
