"""Stitching object patches into one object image (vectorised NumPy, no TensorFlow).

Two entry points:

* :func:`stitch_patches` places patches onto a **given** object grid (shape and pixel origin),
  e.g. the input object's grid in the Ptychodus adapter, and averages overlaps.
* :func:`reassemble_position` is the historical ``tf_helper.reassemble_position`` contract that
  Ptychodus's built-in PtychoPINN client calls: it sizes its own square canvas around the scan,
  keeps only the central ``M x M`` of every patch and returns ``(S, S, 1)`` complex.

Both are weighted averages: every patch (or its central crop) is spread onto the canvas with the
bilinear weights of ARCH-004 (patch pixel ``(N//2, N//2)`` on the position ``(y, x)``; rows are y,
columns are x), the same is done with all-ones patches, and the sum is divided by that coverage.
Pixels that no patch covers are zero. There is no Python loop over patches; see
:func:`ptycho.physics.shift.place_patches_with_weights`.
"""

from __future__ import annotations

import logging

import numpy as np
import numpy.typing as npt

from ptycho.array_types import Complex64Array, Float64Array, InexactArray
from ptycho.physics.shift import place_patches_with_weights
from ptycho.scan_geometry import check_canvas_size

__all__ = ["reassemble_position", "scan_canvas", "stitch_patches"]

logger = logging.getLogger(__name__)

# Coverage below this is treated as "not covered" (the division uses max(weight, _TINY)).
_TINY = 1e-9


def _central_crop(patches: InexactArray, crop: int | None) -> InexactArray:
    n = patches.shape[-1]
    if crop is None:
        return patches
    c = int(crop)
    if c != crop or c < 1 or c > n:
        raise ValueError(f"crop must be an integer between 1 and the patch size {n}, got {crop}")
    start = n // 2 - c // 2
    return patches[:, start : start + c, start : start + c]


def stitch_patches(
    patches: npt.ArrayLike,
    x: npt.ArrayLike,
    y: npt.ArrayLike,
    shape: tuple[int, int],
    crop: int | None = None,
    origin: tuple[float, float] = (0.0, 0.0),
    rim_crop: int | None = None,
) -> Complex64Array:
    """Average patches onto a given object grid.

    Patch ``p`` is placed so that its pixel ``(N//2, N//2)`` lands on canvas pixel
    ``(y[p] - origin[1], x[p] - origin[0])`` (sub-pixel positions are spread bilinearly, exactly
    as the adjoint of :func:`ptycho.physics.shift.extract_patches`). Overlapping patches are
    averaged with their bilinear coverage as weights; uncovered pixels are 0.

    Parameters
    ----------
    patches : (P, N, N) complex (or (P, N, N, 1))
        Object patches.
    x, y : (P,) float
        Patch-centre positions in object pixels (x = column, y = row).
    shape : (H, W)
        Canvas shape in pixels.
    crop : int, optional
        Use only the central ``crop x crop`` square of every patch (rows/cols
        ``N//2 - crop//2 .. N//2 - crop//2 + crop - 1``); default the whole patch.
    origin : (x0, y0), default (0.0, 0.0)
        The position, in the frame of ``x``/``y``, of canvas pixel ``(0, 0)`` (column ``x0``,
        row ``y0``). Use it to stitch onto a grid that starts elsewhere than the positions'
        frame.
    rim_crop : int, optional
        Pixels that no central ``crop x crop`` square covers but a central
        ``rim_crop x rim_crop`` square does (the rim of the scanned region) take the average of
        those larger squares instead of 0. Default: no rim fill.

    Returns
    -------
    (H, W) complex64
        The stitched object.

    Raises
    ------
    ValueError
        For wrong shapes, a crop larger than the patches, or non-finite positions.
    """
    pa = np.asarray(patches)
    if pa.ndim == 4 and pa.shape[-1] == 1:
        pa = pa[..., 0]
    if pa.ndim != 3 or pa.shape[1] != pa.shape[2]:
        raise ValueError(f"patches must have shape (P, N, N) or (P, N, N, 1), got {pa.shape}")
    try:
        x0, y0 = (float(v) for v in origin)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"origin must be a pair (x0, y0) of numbers, got {origin!r}") from exc
    if not (np.isfinite(x0) and np.isfinite(y0)):
        raise ValueError(f"origin must be finite, got {origin!r}")
    pa = _central_crop(pa, crop)
    if not np.issubdtype(pa.dtype, np.complexfloating):
        pa = pa.astype(np.complex128)
    xa = np.asarray(x, dtype=np.float64) - x0
    ya = np.asarray(y, dtype=np.float64) - y0
    total, weights = place_patches_with_weights(pa, xa, ya, shape)
    covered = weights > 0
    out = np.zeros(total.shape, dtype=np.complex128)
    np.divide(total, np.maximum(weights, _TINY), out=out, where=covered)
    if rim_crop is not None and (crop is None or rim_crop > crop) and not covered.all():
        wide = stitch_patches(patches, x, y, shape, crop=rim_crop, origin=origin)
        out[~covered] = wide[~covered]
    return out.astype(np.complex64)


def _flatten_offsets(offsets: Float64Array, count: int) -> Float64Array:
    """(P,1,2,1) | (P,1,1,2) | (P,2) [x, y] offsets to (P, 2)."""
    shapes_ok = offsets.shape in ((count, 1, 2, 1), (count, 1, 1, 2), (count, 2))
    if not shapes_ok:
        raise ValueError(
            f"global_offsets must have shape (P,1,2,1), (P,1,1,2) or (P,2) holding [x, y] with "
            f"P={count} (one per patch), got {offsets.shape}"
        )
    return offsets.reshape(count, 2)


def _canvas_parity(xa: Float64Array, ya: Float64Array) -> int:
    """0 (even S) or 1 (odd S): the parity that puts positions on integer canvas pixels.

    A position lands on canvas column ``(S-1)/2 + x - x_mid``. For positions sharing a fractional
    part (e.g. integers) this is an integer when the half-extent ``x_mid - x_min`` and
    ``(S-1)/2`` have the same fractional part. When x and y disagree, x (columns) wins.
    """
    errors = {}
    for parity, half in ((1, 0.0), (0, 0.5)):
        err = 0.0
        for axis_weight, values in ((1.0 + 1e-6, xa), (1.0, ya)):
            half_extent = (values.max() - values.min()) / 2.0
            frac = (half_extent - half) % 1.0
            err += axis_weight * min(frac, 1.0 - frac)
        errors[parity] = err
    return min(errors, key=lambda k: (errors[k], -k))


def scan_canvas(x: npt.ArrayLike, y: npt.ArrayLike, M: int) -> tuple[int, tuple[float, float]]:
    """Geometry of :func:`reassemble_position`'s canvas for patch centres ``(x, y)``.

    Parameters
    ----------
    x, y : (P,) float
        Patch-centre positions in object pixels (finite).
    M : int
        Side of the central crop of each patch that is stitched.

    Returns
    -------
    size : int
        Canvas side ``S`` (see :func:`reassemble_position`).
    origin : (x0, y0)
        Position, in the frame of ``x``/``y``, of canvas pixel ``(0, 0)``: a position ``(x, y)``
        lies on canvas column ``x - x0`` and row ``y - y0``.
    """
    xa = np.asarray(x, dtype=np.float64)
    ya = np.asarray(y, dtype=np.float64)
    extent = max(xa.max() - xa.min(), ya.max() - ya.min())
    size = int(np.ceil(extent + 2 * ((int(M) + 1) // 2) + 3 - 1e-9))
    if size % 2 != _canvas_parity(xa, ya):
        size += 1
    centre = (size - 1) / 2.0
    x_mid = (xa.max() + xa.min()) / 2.0
    y_mid = (ya.max() + ya.min()) / 2.0
    return size, (x_mid - centre, y_mid - centre)


def reassemble_position(
    obj_tensor: npt.ArrayLike, global_offsets: npt.ArrayLike, M: int = 20
) -> Complex64Array:
    """Stitch the central ``M x M`` of every patch on a canvas centred on the scan.

    This is the ``ptycho.tf_helper.reassemble_position`` contract (also re-exported there for
    Ptychodus's built-in client), implemented in vectorised NumPy.

    Canvas geometry: the canvas is ``S x S`` with ``S`` the smallest size that covers every
    position ``+- M/2`` plus a one-pixel margin, i.e. ``S >= extent + 2*ceil(M/2) + 3`` where
    ``extent`` is the larger side of the positions' bounding box. Canvas pixel
    ``((S-1)/2, (S-1)/2)`` corresponds to the midpoint of that bounding box (this matches
    Ptychodus's ``compute_object_geometry``, which centres the object on the scan's bounding
    box), so a patch centred at ``(y, x)`` lands on canvas pixel
    ``((S-1)/2 + y - y_mid, (S-1)/2 + x - x_mid)``: rows are y, columns are x (object-frame
    orientation). The parity of ``S`` is chosen so that integer positions land on integer canvas
    pixels (exactly, when the x and y extents have the same parity; otherwise the columns are
    kept on integer pixels). Overlaps are averaged (bilinear coverage weights); uncovered pixels
    are 0.

    Parameters
    ----------
    obj_tensor : (P, N, N, 1) or (P, N, N) complex
        Object patches (numpy array or anything with ``__array__``, e.g. a TF EagerTensor).
    global_offsets : (P, 1, 2, 1), (P, 1, 1, 2) or (P, 2) float
        Patch-centre positions ``[x, y]`` in object pixels.
    M : int, default 20
        Side of the central crop of each patch that is used, ``1 <= M <= N``.

    Returns
    -------
    (S, S, 1) complex64
        The stitched object.

    Raises
    ------
    ValueError
        Bad shapes or offsets, or a canvas above
        :data:`ptycho.scan_geometry.MAX_CANVAS_PIXELS` (checked before it is allocated).
    """
    patches = np.asarray(obj_tensor)
    if patches.ndim == 4 and patches.shape[-1] == 1:
        patches = patches[..., 0]
    if patches.ndim != 3 or patches.shape[1] != patches.shape[2]:
        raise ValueError(
            f"obj_tensor must have shape (P, N, N, 1) or (P, N, N), got {patches.shape}"
        )
    count, n = patches.shape[0], patches.shape[1]
    if count == 0:
        raise ValueError("obj_tensor holds no patches; nothing to reassemble")
    m = int(M)
    if m != M or m < 1 or m > n:
        raise ValueError(f"M must be an integer between 1 and the patch size N={n}, got {M}")
    offsets = _flatten_offsets(np.asarray(global_offsets, dtype=np.float64), count)
    if not np.all(np.isfinite(offsets)):
        raise ValueError("global_offsets contains NaN or Inf values")
    size, origin = scan_canvas(offsets[:, 0], offsets[:, 1], m)
    check_canvas_size((size, size))  # before allocating it (HARD-007)
    canvas = stitch_patches(
        patches, offsets[:, 0], offsets[:, 1], (size, size), crop=m, origin=origin
    )
    logger.debug("reassembled %d patches on a %dx%d canvas (M=%d)", count, size, size, m)
    return canvas[:, :, None]
