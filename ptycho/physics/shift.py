"""Sub-pixel translation, patch extraction and patch placement (NumPy reference).

This module owns the one translation sign convention of the package (ARCH-003, design D2) and
the patch geometry (ARCH-002/ARCH-004):

* ``translate(image, dx, dy)`` moves the image content by ``+dx`` columns and ``+dy`` rows:
  ``out[r, c] = bilinear(in, r - dy, c - dx)``. Each of the four bilinear neighbours that falls
  outside the image contributes zero (no wrap-around, no edge replication).
* ``extract_patches(obj, x, y, N)[p, i, j] = bilinear(obj, y[p] - N//2 + i, x[p] - N//2 + j)``, so
  patch pixel ``(N//2, N//2)`` sits on object pixel ``(y[p], x[p])`` (``N//2 == N/2`` for the
  even ``N`` the package uses). Neighbours outside the object read as zero.
* ``place_patches`` is the exact adjoint of ``extract_patches``:
  ``<extract_patches(o), p> == <o, place_patches(p)>`` (real inner product, complex conjugated
  where complex).

Everything is vectorised: bilinear interpolation is separable, so a translation is one two-tap
gather along rows and one along columns, and extraction/placement gather/scatter an
``(N+1, N+1)`` integer window per patch that is then combined with the four fractional weights.
Patches are processed in cache-sized chunks of many patches (never one patch at a time).
Arithmetic is float64 internally; outputs keep the input's precision class (float32/complex64
inputs give float32/complex64, float64/complex128 inputs give float64/complex128).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import cast

import numpy as np
import numpy.typing as npt

from ptycho.array_types import AnyArray, Float64Array, FloatArray, InexactArray, IntArray

__all__ = ["extract_patches", "place_patches", "place_patches_with_weights", "translate"]

logger = logging.getLogger(__name__)

# Window elements handled at once by extract/place: keeps temporaries in cache (a few MiB).
_CHUNK_ELEMENTS = 1 << 17


def _output_dtype(dtype: np.dtype, force_complex: bool = False) -> np.dtype:
    """Output dtype: keep double precision for double inputs, otherwise single precision."""
    is_complex = force_complex or np.issubdtype(dtype, np.complexfloating)
    double = dtype in (np.dtype(np.float64), np.dtype(np.complex128))
    if is_complex:
        return np.dtype(np.complex128 if double else np.complex64)
    return np.dtype(np.float64 if double else np.float32)


def _work_dtype(dtype: np.dtype) -> np.dtype:
    """Float64 working dtype (complex128 for complex inputs)."""
    if np.issubdtype(dtype, np.complexfloating):
        return np.dtype(np.complex128)
    return np.dtype(np.float64)


def _check_finite(name: str, arr: AnyArray) -> None:
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or Inf values; remove or replace them first")


def _as_array(name: str, value: npt.ArrayLike) -> AnyArray:
    arr = np.asarray(value)
    if arr.dtype == object:
        raise ValueError(f"{name} must be a numeric array, got an object array")
    return arr


def _shift_axis(arr: InexactArray, shift: FloatArray, axis: int) -> InexactArray:
    """Two-tap linear shift of ``arr`` (B, H, W) along ``axis`` (1 or 2) by ``shift`` (B,).

    ``out[..., k, ...] = (1 - f) * in[k + k0] + f * in[k + k0 + 1]`` with ``k0 = floor(-shift)``
    and ``f = -shift - k0``; taps outside ``[0, L)`` contribute zero.
    """
    length = arr.shape[axis]
    src = -shift  # source coordinate offset: out[k] = in(k - shift)
    k0 = np.floor(src)
    frac = src - k0  # (B,)
    k0 = k0.astype(np.int64)
    idx0 = np.arange(length, dtype=np.int64)[None, :] + k0[:, None]  # (B, L)
    idx1 = idx0 + 1
    w0 = (1.0 - frac)[:, None] * ((idx0 >= 0) & (idx0 < length))
    w1 = frac[:, None] * ((idx1 >= 0) & (idx1 < length))
    i0 = np.clip(idx0, 0, length - 1)
    i1 = np.clip(idx1, 0, length - 1)
    if axis == 1:
        g0 = np.take_along_axis(arr, i0[:, :, None], axis=1)
        g1 = np.take_along_axis(arr, i1[:, :, None], axis=1)
        shifted: InexactArray = g0 * w0[:, :, None] + g1 * w1[:, :, None]
        return shifted
    g0 = np.take_along_axis(arr, i0[:, None, :], axis=2)
    g1 = np.take_along_axis(arr, i1[:, None, :], axis=2)
    shifted = g0 * w0[:, None, :] + g1 * w1[:, None, :]
    return shifted


def translate(images: npt.ArrayLike, dx: npt.ArrayLike, dy: npt.ArrayLike) -> InexactArray:
    """Translate images by sub-pixel amounts with bilinear interpolation (ARCH-003).

    Content moves by ``+dx`` columns and ``+dy`` rows:
    ``out[..., r, c] = bilinear(images[..., :, :], r - dy, c - dx)``; every bilinear neighbour
    outside the image contributes zero.

    Parameters
    ----------
    images : (..., H, W) float or complex
        Images to translate; leading axes are batch axes.
    dx, dy : float or (...) float
        Shifts in pixels (columns and rows), broadcastable to the batch shape ``images.shape[:-2]``.

    Returns
    -------
    (..., H, W) float32/complex64 (float64/complex128 for double-precision input)
        The translated images.

    Raises
    ------
    ValueError
        If ``images`` has fewer than 2 dimensions, the shifts do not broadcast to the batch
        shape, or any input is not finite.
    """
    img = _as_array("images", images)
    if img.ndim < 2:
        raise ValueError(
            f"images must have shape (..., H, W) with at least 2 dimensions, got shape {img.shape}"
        )
    dxa = np.asarray(dx, dtype=np.float64)
    dya = np.asarray(dy, dtype=np.float64)
    batch = img.shape[:-2]
    try:
        dxa = np.broadcast_to(dxa, batch)
        dya = np.broadcast_to(dya, batch)
    except ValueError as exc:
        raise ValueError(
            f"dx {np.shape(dx)} and dy {np.shape(dy)} must broadcast to the batch shape {batch} "
            f"of images {img.shape}; pass one shift per image or a scalar"
        ) from exc
    _check_finite("dx", dxa)
    _check_finite("dy", dya)
    out_dtype = _output_dtype(img.dtype)
    h, w = img.shape[-2:]
    work = img.astype(_work_dtype(img.dtype), copy=False).reshape(-1, h, w)
    if work.shape[0] == 0 or h == 0 or w == 0:
        return np.zeros(img.shape, dtype=out_dtype)
    work = _shift_axis(work, dya.reshape(-1), axis=1)
    work = _shift_axis(work, dxa.reshape(-1), axis=2)
    return work.reshape(img.shape).astype(out_dtype, copy=False)


def _validate_positions(x: npt.ArrayLike, y: npt.ArrayLike) -> tuple[Float64Array, Float64Array]:
    xa = np.asarray(x, dtype=np.float64)
    ya = np.asarray(y, dtype=np.float64)
    if xa.ndim != 1 or ya.ndim != 1 or xa.shape != ya.shape:
        raise ValueError(
            f"x and y must be 1-D arrays of the same length (one position per patch), got shapes "
            f"{xa.shape} and {ya.shape}"
        )
    _check_finite("x", xa)
    _check_finite("y", ya)
    return xa, ya


def _window_geometry(
    x: Float64Array, y: Float64Array, n: int
) -> tuple[IntArray, IntArray, Float64Array, Float64Array]:
    """Integer window origin (row0, col0) and fractional parts (fy, fx) for each patch."""
    half = n // 2
    fy_floor = np.floor(y)
    fx_floor = np.floor(x)
    row0 = fy_floor.astype(np.int64) - half
    col0 = fx_floor.astype(np.int64) - half
    return row0, col0, y - fy_floor, x - fx_floor


def _chunks(total: int, per_item: int) -> Sequence[slice]:
    step = max(1, _CHUNK_ELEMENTS // max(per_item, 1))
    return [slice(start, min(start + step, total)) for start in range(0, total, step)]


def extract_patches(obj: npt.ArrayLike, x: npt.ArrayLike, y: npt.ArrayLike, N: int) -> InexactArray:
    """Cut ``N x N`` patches centred on sub-pixel positions (ARCH-002, ARCH-004).

    ``out[p, i, j] = bilinear(obj, y[p] - N//2 + i, x[p] - N//2 + j)``; neighbours outside the
    object contribute zero, so patches may extend past the object edge.

    Parameters
    ----------
    obj : (H, W) float or complex
        The object.
    x, y : (P,) float
        Patch-centre positions in object pixels (x = column, y = row).
    N : int
        Patch side in pixels.

    Returns
    -------
    (P, N, N) float32/complex64 (float64/complex128 for double-precision ``obj``)
        The patches; patch pixel ``(N//2, N//2)`` sits on object pixel ``(y, x)``.
    """
    o = _as_array("obj", obj)
    if o.ndim != 2:
        raise ValueError(f"obj must be a 2-D (H, W) array, got shape {o.shape}")
    n = int(N)
    if n < 1:
        raise ValueError(f"N (patch size) must be a positive integer, got {N}")
    xa, ya = _validate_positions(x, y)
    out_dtype = _output_dtype(o.dtype)
    p_count = xa.shape[0]
    out = np.zeros((p_count, n, n), dtype=out_dtype)
    h, w = o.shape
    if p_count == 0 or h == 0 or w == 0:
        return out
    work_dtype = _work_dtype(o.dtype)
    row0, col0, fy, fx = _window_geometry(xa, ya, n)
    offs = np.arange(n + 1, dtype=np.int64)
    for sl in _chunks(p_count, (n + 1) * (n + 1)):
        rows = row0[sl, None] + offs[None, :]  # (p, N+1)
        cols = col0[sl, None] + offs[None, :]
        rvalid = (rows >= 0) & (rows < h)
        cvalid = (cols >= 0) & (cols < w)
        rc = np.clip(rows, 0, h - 1)
        cc = np.clip(cols, 0, w - 1)
        win = o[rc[:, :, None], cc[:, None, :]].astype(work_dtype)  # (p, N+1, N+1)
        if not (rvalid.all() and cvalid.all()):
            win[~(rvalid[:, :, None] & cvalid[:, None, :])] = 0
        wy = fy[sl, None, None]
        wx = fx[sl, None, None]
        # separable bilinear: rows (1 - fy, fy), then columns (1 - fx, fx)
        by_rows = (1.0 - wy) * win[:, :-1, :] + wy * win[:, 1:, :]
        patch = (1.0 - wx) * by_rows[:, :, :-1] + wx * by_rows[:, :, 1:]
        out[sl] = patch
    return out


def place_patches(
    patches: npt.ArrayLike,
    x: npt.ArrayLike,
    y: npt.ArrayLike,
    shape: tuple[int, int],
) -> InexactArray:
    """Accumulate patches onto a canvas: the exact adjoint of :func:`extract_patches`.

    Each patch value is spread with the bilinear weights of ARCH-004 onto the four object pixels
    it was sampled from; contributions falling outside the canvas are dropped. Overlaps are
    summed (not averaged; see :func:`ptycho.stitching.stitch_patches` for averaging).

    Parameters
    ----------
    patches : (P, N, N) float or complex
        Patches to place.
    x, y : (P,) float
        Patch-centre positions in canvas pixels (x = column, y = row).
    shape : (H, W)
        Canvas shape.

    Returns
    -------
    (H, W) float32/complex64 (float64/complex128 for double-precision ``patches``)
        The accumulated canvas.
    """
    pa, xa, ya, h, w = _validate_place_inputs(patches, x, y, shape)
    canvas, _ = _accumulate(pa, xa, ya, h, w, with_weights=False)
    return canvas.astype(_output_dtype(pa.dtype), copy=False)


def place_patches_with_weights(
    patches: npt.ArrayLike,
    x: npt.ArrayLike,
    y: npt.ArrayLike,
    shape: tuple[int, int],
) -> tuple[InexactArray, FloatArray]:
    """:func:`place_patches` plus the placement of all-ones patches, in one pass.

    Parameters
    ----------
    patches : (P, N, N) float or complex
    x, y : (P,) float
        Patch-centre positions in canvas pixels.
    shape : (H, W)

    Returns
    -------
    canvas : (H, W) float64 or complex128
        ``place_patches(patches, x, y, shape)`` in double precision.
    weights : (H, W) float64
        ``place_patches(ones, x, y, shape)``: the bilinear coverage of each pixel (the number of
        patches covering it, fractional at sub-pixel edges).
    """
    pa, xa, ya, h, w = _validate_place_inputs(patches, x, y, shape)
    canvas, weights = _accumulate(pa, xa, ya, h, w, with_weights=True)
    return canvas, cast(FloatArray, weights)


def _validate_place_inputs(
    patches: npt.ArrayLike, x: npt.ArrayLike, y: npt.ArrayLike, shape: tuple[int, int]
) -> tuple[InexactArray, Float64Array, Float64Array, int, int]:
    """Shared validation of :func:`place_patches` arguments; returns (patches, x, y, H, W)."""
    pa = _as_array("patches", patches)
    if pa.ndim != 3 or pa.shape[1] != pa.shape[2]:
        raise ValueError(f"patches must have shape (P, N, N), got {pa.shape}")
    xa, ya = _validate_positions(x, y)
    if xa.shape[0] != pa.shape[0]:
        raise ValueError(
            f"got {pa.shape[0]} patches but {xa.shape[0]} positions; pass one (x, y) per patch"
        )
    try:
        h, w = (int(s) for s in shape)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"shape must be a pair (H, W) of integers, got {shape!r}") from exc
    if h < 0 or w < 0:
        raise ValueError(f"shape must be non-negative, got {(h, w)}")
    return pa, xa, ya, h, w


def _spread(data: InexactArray, wy: FloatArray, wx: FloatArray) -> InexactArray:
    """Bilinear spread of (..., p, N, N) float data onto (..., p, N+1, N+1) integer windows.

    Separable form of the four-weight rule: rows first (``1 - wy`` on row k, ``wy`` on row
    k + 1), then columns; ``wy``/``wx`` have shape (p, 1, 1).
    """
    n = data.shape[-1]
    rows = np.zeros((*data.shape[:-2], n + 1, n), dtype=np.float64)
    rows[..., :-1, :] = (1.0 - wy) * data
    rows[..., 1:, :] += wy * data
    win = np.zeros((*data.shape[:-2], n + 1, n + 1), dtype=np.float64)
    win[..., :-1] = (1.0 - wx) * rows
    win[..., 1:] += wx * rows
    return win


def _accumulate(
    pa: InexactArray, xa: Float64Array, ya: Float64Array, h: int, w: int, with_weights: bool
) -> tuple[InexactArray, FloatArray | None]:
    """Adjoint accumulation in float64/complex128; optionally also places all-ones patches.

    Returns the (H, W) canvas (float64 or complex128) and, when ``with_weights``, the (H, W)
    float64 canvas of placed ones (the bilinear coverage weight of every pixel).

    Patches are processed in cache-sized chunks; in each chunk the real part, the imaginary part
    (complex input) and the coverage are spread onto ``(N+1, N+1)`` windows and scattered with
    one ``np.bincount`` per plane over the chunk's range of flat canvas indices.
    """
    is_complex = np.issubdtype(pa.dtype, np.complexfloating)
    size = h * w
    planes = 1 + int(is_complex) + int(with_weights)
    acc = np.zeros((planes, size), dtype=np.float64)
    p_count, n = pa.shape[0], pa.shape[1]
    if p_count and size and n:
        row0, col0, fy, fx = _window_geometry(xa, ya, n)
        offs = np.arange(n + 1, dtype=np.int64)
        for sl in _chunks(p_count, planes * (n + 1) * (n + 1)):
            chunk = pa[sl]
            wy = fy[sl, None, None]
            wx = fx[sl, None, None]
            m = chunk.shape[0]
            n_data = planes - int(with_weights)
            data = np.empty((n_data, m, n, n), dtype=np.float64)
            data[0] = chunk.real
            if is_complex:
                data[1] = chunk.imag
            win = np.empty((planes, m, n + 1, n + 1), dtype=np.float64)
            win[:n_data] = _spread(data, wy, wx)
            if with_weights:
                # spread of an all-ones patch: outer product of 1-D weights (1-f, 1, ..., 1, f)
                wr = np.ones((m, n + 1))
                wc = np.ones((m, n + 1))
                wr[:, 0], wr[:, -1] = 1.0 - fy[sl], fy[sl]
                wc[:, 0], wc[:, -1] = 1.0 - fx[sl], fx[sl]
                win[-1] = wr[:, :, None] * wc[:, None, :]
            rows = row0[sl, None] + offs[None, :]
            cols = col0[sl, None] + offs[None, :]
            rvalid = (rows >= 0) & (rows < h)
            cvalid = (cols >= 0) & (cols < w)
            flat = rows[:, :, None] * w + cols[:, None, :]  # (p, N+1, N+1)
            if rvalid.all() and cvalid.all():
                flat = flat.ravel()
                vals = win.reshape(planes, -1)
            else:
                valid = rvalid[:, :, None] & cvalid[:, None, :]
                flat = flat[valid]
                vals = win[:, valid]
            if flat.size == 0:
                continue
            lo = int(flat.min())
            span = int(flat.max()) - lo + 1
            local = flat - lo
            for k in range(planes):
                acc[k, lo : lo + span] += np.bincount(local, weights=vals[k], minlength=span)
    canvas = (acc[0] + 1j * acc[1]) if is_complex else acc[0]
    weights = acc[-1].reshape(h, w) if with_weights else None
    return canvas.reshape(h, w), weights
