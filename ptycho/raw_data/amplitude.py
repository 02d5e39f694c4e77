"""Diffraction amplitude: counts or amplitude in, validated ``sqrt(counts)`` out (D1, ARCH-001).

Integer input is detector counts and is converted once, with ``sqrt`` in float64; float input
is amplitude. Bad detector pixels are inpainted from their good neighbours (DATA-005). Patterns
are ``(M, N, N)`` float32.
"""

from __future__ import annotations

import logging

import numpy as np

from ptycho.array_types import AnyArray, BoolArray, Float32Array, FloatArray

__all__ = ["as_amplitude", "inpaint_bad_pixels"]

logger = logging.getLogger(__name__)


def as_amplitude(
    diff3d: AnyArray, n_positions: int | None = None, valid: BoolArray | None = None
) -> Float32Array:
    """Validate diffraction data and return amplitudes ``(M, N, N)`` float32 (D1, ARCH-001).

    Parameters
    ----------
    diff3d : (M, N, N) or (M, N, N, 1), integer or float
        Integer dtype: detector counts, converted with ``sqrt`` in float64 (logged once at INFO).
        Float dtype: amplitude, kept as is (cast to float32).
    n_positions : int, optional
        Number of scan positions, only used to hint at the legacy ``(N, N, M)`` layout.
    valid : (N, N) bool, optional
        Pixels to check for NaN/Inf/negative values (bad pixels are replaced later).

    Returns
    -------
    (M, N, N) float32
    """
    arr = np.asarray(diff3d)
    if arr.ndim == 4 and arr.shape[3] == 1:
        arr = arr[..., 0]
    if arr.ndim != 3:
        raise ValueError(
            f"diff3d must have shape (M, N, N) (one N x N pattern per scan position), got "
            f"{arr.shape}"
        )
    if arr.shape[1] != arr.shape[2]:
        hint = ""
        if arr.shape[0] == arr.shape[1] and (n_positions is None or arr.shape[2] == n_positions):
            hint = (
                "; this looks like the legacy (N, N, M) layout: pass "
                "np.transpose(diff3d, (2, 0, 1))"
            )
        raise ValueError(
            f"diffraction patterns must be square, got {arr.shape[1]}x{arr.shape[2]} "
            f"(diff3d shape {arr.shape}){hint}"
        )
    if np.issubdtype(arr.dtype, np.complexfloating):
        raise ValueError(
            "diff3d must be real: detector counts (integer dtype) or amplitude sqrt(counts) "
            f"(float dtype), got {arr.dtype}"
        )
    if arr.dtype == np.bool_ or not np.issubdtype(arr.dtype, np.number):
        raise ValueError(f"diff3d must be integer counts or float amplitude, got dtype {arr.dtype}")
    checked = arr if valid is None else arr[:, valid]
    is_int = np.issubdtype(arr.dtype, np.integer)
    if not is_int:
        finite = np.isfinite(checked)
        if not finite.all():
            raise ValueError(
                f"diff3d contains {int((~finite).sum())} NaN/Inf values; fix or mask them "
                "(bad_pixels) before loading"
            )
    if checked.size and checked.min() < 0:
        n_neg = int((checked < 0).sum())
        what = "negative counts" if is_int else "negative amplitudes"
        raise ValueError(
            f"diff3d contains {n_neg} {what} (minimum {checked.min()}); diffraction must be "
            ">= 0: subtract the background with clipping, e.g. np.clip(diff3d, 0, None)"
        )
    if is_int:
        logger.info("converted integer counts to amplitude (sqrt) for %d patterns", arr.shape[0])
        a64 = arr.astype(np.float64)
        if valid is not None:
            a64[:, ~valid] = np.maximum(a64[:, ~valid], 0.0)
        return np.sqrt(a64).astype(np.float32)
    return arr.astype(np.float32)


def inpaint_bad_pixels(amplitude: FloatArray, bad_pixels: BoolArray) -> Float32Array:
    """Replace bad pixels by the mean of their good 4-neighbours (DATA-005).

    Pixels with no good 4-neighbour are filled in later passes from pixels filled before, so a
    bad region fills from its border inwards. The mask is shared by every pattern.

    Parameters
    ----------
    amplitude : (M, N, N) float32
        Patterns; values at bad pixels are ignored (may be NaN).
    bad_pixels : (N, N) bool
        True where a pixel is bad.

    Returns
    -------
    (M, N, N) float32
        Copy with every bad pixel replaced.
    """
    bad = np.asarray(bad_pixels, dtype=bool)
    out = np.array(amplitude, dtype=np.float32, copy=True)
    if not bad.any():
        return out
    if bad.all():
        raise ValueError(
            "bad_pixels marks every detector pixel bad, so no pattern can be repaired; check "
            "the mask (True = bad)"
        )
    out[:, bad] = 0.0
    good = ~bad
    while not good.all():
        g = good.astype(np.float64)
        vals = np.where(good, out, 0.0).astype(np.float64)
        count = np.zeros(good.shape)
        total = np.zeros(out.shape)
        count[1:, :] += g[:-1, :]
        count[:-1, :] += g[1:, :]
        count[:, 1:] += g[:, :-1]
        count[:, :-1] += g[:, 1:]
        total[:, 1:, :] += vals[:, :-1, :]
        total[:, :-1, :] += vals[:, 1:, :]
        total[:, :, 1:] += vals[:, :, :-1]
        total[:, :, :-1] += vals[:, :, 1:]
        fill = ~good & (count > 0)
        out[:, fill] = (total[:, fill] / count[fill]).astype(np.float32)
        good = good | fill
    return out
