"""Per-group object_big merge and re-extraction (ARCH-005, ARCH-010; design D4).

For ``gridsize > 1`` the model predicts ``C = gridsize**2`` object patches per group. They are
merged on a small per-group canvas of side ``padded_size = N + (gridsize - 1) * offset +
max_jitter`` and re-extracted, which ties the channels of one group to one object:

1. each patch is zero padded to ``padded x padded`` (centred: ``(padded - N)//2`` before);
2. patch ``c`` is translated by ``-coords_relative[..., c]`` (its content moves to its physical
   position relative to the group centre, ARCH-005 sign);
3. the patches of the group are summed and divided by ``max(count, 1)``, where ``count`` is the
   same merge applied to the centre mask (ones on the central ``N/2 x N/2`` square of each
   patch). Unlike the original (``count + 0.001``) there is no x1000 gain outside the covered
   region;
4. the object output is the central ``N x N`` crop of the canvas;
5. channel ``c`` is re-extracted by the opposite move (``+coords_relative``) and an ``N x N``
   crop.

Everything is done per group, vectorised over the batch (the original collapsed all groups into
one canvas when ``B * C >= 64``; this module never mixes groups). Translations use
:func:`ptycho.physics.shift.translate` (ARCH-003).
"""

from __future__ import annotations

import logging

import numpy as np
import numpy.typing as npt

from ptycho.array_types import ComplexArray, Float32Array, Float64Array, FloatArray, InexactArray
from ptycho.physics.shift import translate

__all__ = [
    "MAX_POSITION_JITTER",
    "OBJECT_BIG_OFFSET",
    "border_mask",
    "center_mask",
    "extract_group_patches",
    "merge_group_patches",
    "object_big_roundtrip",
    "padded_size",
]

logger = logging.getLogger(__name__)

#: Nominal spacing allowance between neighbouring patches that sizes the group canvas, pixels.
OBJECT_BIG_OFFSET = 4
#: Extra group-canvas allowance for position jitter, pixels.
MAX_POSITION_JITTER = 10


def padded_size(
    N: int,
    gridsize: int,
    offset: int = OBJECT_BIG_OFFSET,
    max_jitter: int = MAX_POSITION_JITTER,
) -> int:
    """Side of the per-group canvas, ``N + (gridsize - 1) * offset + max_jitter``.

    Parameters
    ----------
    N : int
        Patch side in pixels.
    gridsize : int >= 1
        Group side (``C = gridsize**2`` patches per group).
    offset : int, default 4
        Nominal spacing allowance between neighbouring patches in pixels.
    max_jitter : int, default 10
        Extra allowance for position jitter in pixels.

    Returns
    -------
    int
        74 for ``N=64, gridsize=1``; 78 for ``N=64, gridsize=2``.
    """
    if int(N) != N or N < 1:
        raise ValueError(f"N must be a positive integer, got {N}")
    if int(gridsize) != gridsize or gridsize < 1:
        raise ValueError(f"gridsize must be an integer >= 1, got {gridsize}")
    if offset < 0 or max_jitter < 0:
        raise ValueError(f"offset and max_jitter must be >= 0, got {offset} and {max_jitter}")
    return int(N + (gridsize - 1) * offset + max_jitter)


def center_mask(N: int) -> Float32Array:
    """Ones on the central ``N/2 x N/2`` square (rows/cols ``N//4 .. N//4 + N//2 - 1``).

    Parameters
    ----------
    N : int
        Patch side in pixels.

    Returns
    -------
    (N, N) float32
    """
    if int(N) != N or N < 2:
        raise ValueError(f"N must be an integer >= 2, got {N}")
    n = int(N)
    mask = np.zeros((n, n), dtype=np.float32)
    lo = n // 4
    mask[lo : lo + n // 2, lo : lo + n // 2] = 1.0
    return mask


def border_mask(N: int) -> FloatArray:
    """Zeros on the central ``N/2 x N/2`` square, ones elsewhere (``1 - center_mask(N)``).

    Parameters
    ----------
    N : int
        Patch side in pixels.

    Returns
    -------
    (N, N) float32
    """
    return 1.0 - center_mask(N)


def _validate_coords(coords_relative: npt.ArrayLike, batch: int, channels: int) -> Float64Array:
    coords = np.asarray(coords_relative, dtype=np.float64)
    expected = (batch, 1, 2, channels)
    if coords.shape != expected:
        raise ValueError(
            f"coords_relative must have shape (B, 1, 2, C) = {expected} with axis 2 = [x, y], "
            f"got {coords.shape}"
        )
    if not np.all(np.isfinite(coords)):
        raise ValueError("coords_relative contains NaN or Inf values")
    return coords


def _crop_start(padded: int, n: int) -> int:
    return (padded - n) // 2


def _pad_to_canvas(stack: InexactArray, padded: int) -> InexactArray:
    """Zero pad the last two axes of ``stack`` (..., N, N) to (..., padded, padded), centred."""
    n = stack.shape[-1]
    before = _crop_start(padded, n)
    after = padded - n - before
    pad = [(0, 0)] * (stack.ndim - 2) + [(before, after), (before, after)]
    return np.pad(stack, pad)


def merge_group_patches(
    patches: npt.ArrayLike, coords_relative: npt.ArrayLike, padded: int
) -> ComplexArray:
    """Merge the C patches of each group on its own canvas (ARCH-010 steps 1-3).

    Parameters
    ----------
    patches : (B, N, N, C) complex
        Object patches, channel-last.
    coords_relative : (B, 1, 2, C) float
        ``-(position - group centre)``, axis 2 = ``[x, y]`` (ARCH-005).
    padded : int
        Canvas side, ``>= N`` (usually :func:`padded_size`).

    Returns
    -------
    (B, padded, padded) complex64 (complex128 for complex128 input)
        ``sum_c translate(pad(patch_c), -coords_relative_c) / max(count, 1)``.
    """
    p = np.asarray(patches)
    if p.ndim != 4 or p.shape[1] != p.shape[2]:
        raise ValueError(f"patches must have shape (B, N, N, C), got {p.shape}")
    b, n, _, c = p.shape
    if int(padded) != padded or padded < n:
        raise ValueError(f"padded size must be an integer >= N={n}, got {padded}")
    padded = int(padded)
    coords = _validate_coords(coords_relative, b, c)
    double = p.dtype == np.complex128
    out_dtype = np.complex128 if double else np.complex64
    stack = np.moveaxis(p.astype(np.complex128), 3, 1)  # (B, C, N, N)
    dx = -coords[:, 0, 0, :]  # (B, C)
    dy = -coords[:, 0, 1, :]
    moved = translate(_pad_to_canvas(stack, padded), dx, dy)  # complex128
    mask = np.broadcast_to(center_mask(n).astype(np.float64), (b, c, n, n))
    counts = translate(_pad_to_canvas(mask, padded), dx, dy).sum(axis=1)  # (B, P, P) float64
    merged: ComplexArray = moved.sum(axis=1) / np.maximum(counts, 1.0)
    return merged.astype(out_dtype, copy=False)


def extract_group_patches(
    canvas: npt.ArrayLike, coords_relative: npt.ArrayLike, N: int
) -> ComplexArray:
    """Re-extract each channel from its group's canvas (ARCH-010 step 5).

    Channel ``c`` of group ``b`` is ``crop_N(translate(canvas[b], +coords_relative[b, ..., c]))``:
    the opposite of the merge move, so a patch merged alone comes back unchanged (for integer
    offsets, where the canvas holds it).

    Parameters
    ----------
    canvas : (B, P, P) complex
        Per-group canvases.
    coords_relative : (B, 1, 2, C) float
        As for :func:`merge_group_patches`.
    N : int
        Patch side, ``<= P``.

    Returns
    -------
    (B, N, N, C) complex64 (complex128 for complex128 input)
    """
    cv = np.asarray(canvas)
    if cv.ndim != 3 or cv.shape[1] != cv.shape[2]:
        raise ValueError(f"canvas must have shape (B, P, P), got {cv.shape}")
    b, padded, _ = cv.shape
    n = int(N)
    if n != N or n < 1 or n > padded:
        raise ValueError(f"N must be an integer between 1 and the canvas side {padded}, got {N}")
    coords = np.asarray(coords_relative, dtype=np.float64)
    if coords.ndim != 4 or coords.shape[:3] != (b, 1, 2):
        raise ValueError(
            f"coords_relative must have shape (B, 1, 2, C) with B={b} and axis 2 = [x, y], "
            f"got {coords.shape}"
        )
    coords = _validate_coords(coords, b, coords.shape[3])
    c = coords.shape[3]
    double = cv.dtype == np.complex128
    out_dtype = np.complex128 if double else np.complex64
    copies = np.broadcast_to(cv.astype(np.complex128)[:, None], (b, c, padded, padded))
    moved = translate(copies, coords[:, 0, 0, :], coords[:, 0, 1, :])
    start = _crop_start(padded, n)
    crop = moved[:, :, start : start + n, start : start + n]  # (B, C, N, N)
    return np.moveaxis(crop, 1, 3).astype(out_dtype, copy=False)


def object_big_roundtrip(
    patches: npt.ArrayLike, coords_relative: npt.ArrayLike, padded: int | None = None
) -> tuple[ComplexArray, ComplexArray]:
    """Merge the patches of each group and re-extract them (ARCH-010).

    Parameters
    ----------
    patches : (B, N, N, C) complex
        Object patches from the decoders, channel-last.
    coords_relative : (B, 1, 2, C) float
        ``-(position - group centre)``, axis 2 = ``[x, y]``.
    padded : int, optional
        Canvas side; default ``padded_size(N, gridsize)`` with ``gridsize = sqrt(C)`` (rounded
        up when C is not a square).

    Returns
    -------
    object_output : (B, N, N) complex64
        Central ``N x N`` crop of each group canvas (the model's object output).
    patches : (B, N, N, C) complex64
        The re-extracted per-channel patches.
    """
    p = np.asarray(patches)
    if p.ndim != 4:
        raise ValueError(f"patches must have shape (B, N, N, C), got {p.shape}")
    n, c = p.shape[1], p.shape[3]
    if padded is None:
        gridsize = int(np.ceil(np.sqrt(c) - 1e-9))
        padded = padded_size(n, max(gridsize, 1))
    canvas = merge_group_patches(p, coords_relative, padded)
    start = _crop_start(int(padded), n)
    obj = canvas[:, start : start + n, start : start + n].copy()
    return obj, extract_group_patches(canvas, coords_relative, n)
