"""TensorFlow mirror of the NumPy reference physics (:mod:`ptycho.physics`).

Everything here is a pure function of tensors (no state, no globals) and follows the conventions
of ``specs/architecture.md`` exactly, so the TF model agrees with the NumPy reference to float32
precision:

- :func:`translate`: ARCH-003 bilinear translation with zero fill, implemented as a separable
  integer gather plus two-tap bilinear weights (no per-pixel homography warp).
- :func:`merge_group_patches` / :func:`extract_group_patches`: ARCH-010 object_big merge and
  re-extraction, strictly per group (any batch size; never across groups).
- :func:`far_field_amplitude`: ARCH-006 orthonormal far-field amplitude.
- :func:`poisson_nll`, :func:`diffraction_mae`, :func:`complex_mae_center`: ARCH-009 loss terms.
- :func:`gaussian_smooth`: 3x3 Gaussian smoothing with reflect padding (real and imaginary parts).
- :func:`backproject` / :func:`backprojection_features`: ARCH-014 probe backprojection, the input
  layer of the ``backprop_unet`` network (:mod:`ptycho.physics.backprojection`).

Shapes: images are ``(..., H, W)``; grouped tensors use the channel format ``(B, N, N, C)`` and
coordinates ``(B, 1, 2, C)`` with axis 2 = ``[x, y]`` (ARCH-005).
"""

from __future__ import annotations

import math

import numpy as np
import tensorflow as tf

from ptycho.physics.forward import DEFAULT_NLL_EPS, gaussian_kernel_1d
from ptycho.physics.object_big import (
    MAX_POSITION_JITTER,
    OBJECT_BIG_OFFSET,
    border_mask,
    center_mask,
    padded_size,
)

# The same names, in the same order, as ``ptycho_torch.physics.__all__`` (tests/parity).
__all__ = [
    "DEFAULT_NLL_EPS",
    "MAX_POSITION_JITTER",
    "OBJECT_BIG_OFFSET",
    "backproject",
    "backprojection_features",
    "border_mask",
    "center_mask",
    "combine_amp_phase",
    "complex_mae_center",
    "crop_center",
    "diffraction_mae",
    "extract_group_patches",
    "far_field_amplitude",
    "gaussian_smooth",
    "merge_group_patches",
    "padded_size",
    "poisson_nll",
    "translate",
]

#: Floor on the far-field intensity before the square root, so the gradient stays finite.
_MIN_INTENSITY = 1e-30


# --------------------------------------------------------------------------------------------
# Translation (ARCH-003/004)
# --------------------------------------------------------------------------------------------


def _taps(shift: tf.Tensor, out_size: int, in_size: int, offset: int):
    """Gather indices and weights of one separable bilinear pass.

    Output index ``r`` samples the input at ``u = r + offset - shift``; its two neighbours are
    ``floor(u)`` and ``floor(u) + 1`` with weights ``1 - frac`` and ``frac``; a neighbour outside
    ``[0, in_size)`` contributes zero.

    Returns clipped indices ``(..., out_size)`` int32 (two of them) and weights of the same shape.
    """
    k = tf.floor(-shift)
    frac = -shift - k
    base = tf.cast(k, tf.int32)[..., None] + (tf.range(out_size, dtype=tf.int32) + offset)
    idx0 = base
    idx1 = base + 1
    valid0 = tf.cast((idx0 >= 0) & (idx0 < in_size), shift.dtype)
    valid1 = tf.cast((idx1 >= 0) & (idx1 < in_size), shift.dtype)
    w0 = (1.0 - frac)[..., None] * valid0
    w1 = frac[..., None] * valid1
    idx0 = tf.clip_by_value(idx0, 0, in_size - 1)
    idx1 = tf.clip_by_value(idx1, 0, in_size - 1)
    return idx0, idx1, w0, w1


def _shift_sample(
    x: tf.Tensor,
    dx: tf.Tensor,
    dy: tf.Tensor,
    out_h: int,
    out_w: int,
    row_offset: int,
    col_offset: int,
) -> tf.Tensor:
    """Bilinear resampling ``out[..., r, c, k] = bilinear(x, r + row_offset - dy, c + ...)``.

    (and the same along columns with ``col_offset`` and ``dx``).

    Parameters
    ----------
    x : (*S, H, W, K) float32
        Real images; ``K`` trailing components (e.g. real and imaginary parts) share the shift.
    dx, dy : (*S, *E) float32
        Shifts in pixels. ``E`` are extra "copy" axes: each image of ``x`` is sampled once per
        element of ``E`` (used to re-extract C patches from one group canvas without tiling).

    Returns
    -------
    (*S, *E, out_h, out_w, K) float32
    """
    n_batch = len(x.shape) - 3
    h, w = int(x.shape[-3]), int(x.shape[-2])
    r0, r1, wr0, wr1 = _taps(dy, out_h, h, row_offset)
    c0, c1, wc0, wc1 = _taps(dx, out_w, w, col_offset)
    rows = tf.gather(x, r0, axis=n_batch, batch_dims=n_batch) * wr0[..., None, None]
    rows += tf.gather(x, r1, axis=n_batch, batch_dims=n_batch) * wr1[..., None, None]
    n_all = len(dx.shape)
    out = tf.gather(rows, c0, axis=n_all + 1, batch_dims=n_all) * wc0[..., None, :, None]
    out += tf.gather(rows, c1, axis=n_all + 1, batch_dims=n_all) * wc1[..., None, :, None]
    return out


def _to_real_parts(x: tf.Tensor) -> tf.Tensor:
    """Complex ``(...)`` -> float ``(..., 2)``; real ``(...)`` -> ``(..., 1)``."""
    if x.dtype.is_complex:
        return tf.stack([tf.math.real(x), tf.math.imag(x)], axis=-1)
    return x[..., None]


def _from_real_parts(x: tf.Tensor, complex_out: bool) -> tf.Tensor:
    if complex_out:
        return tf.complex(x[..., 0], x[..., 1])
    return x[..., 0]


def translate(images: tf.Tensor, dx: tf.Tensor, dy: tf.Tensor) -> tf.Tensor:
    """Translate images by ``(dx, dy)`` pixels (ARCH-003).

    ``out[r, c] = bilinear(in, r - dy, c - dx)``: content moves by ``+dx`` columns and ``+dy``
    rows; each bilinear neighbour outside the image contributes zero (no wrap-around).

    Parameters
    ----------
    images : (..., H, W) float32 or complex64
    dx, dy : (...) float
        One shift per image (broadcast against the leading axes of ``images``).

    Returns
    -------
    (..., H, W), same dtype as ``images``.
    """
    images = tf.convert_to_tensor(images)
    lead = tf.shape(images)[:-2]
    h, w = int(images.shape[-2]), int(images.shape[-1])
    real_dtype = tf.float64 if images.dtype in (tf.float64, tf.complex128) else tf.float32
    dx = tf.broadcast_to(tf.cast(dx, real_dtype), lead)
    dy = tf.broadcast_to(tf.cast(dy, real_dtype), lead)
    flat = tf.reshape(images, tf.concat([[-1], [h, w]], axis=0))
    parts = _to_real_parts(flat)
    out = _shift_sample(parts, tf.reshape(dx, [-1]), tf.reshape(dy, [-1]), h, w, 0, 0)
    out = _from_real_parts(out, images.dtype.is_complex)
    return tf.reshape(out, tf.shape(images))


# --------------------------------------------------------------------------------------------
# object_big merge and re-extraction (ARCH-010)
# --------------------------------------------------------------------------------------------


def _split_coords(coords_relative: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """``(B, 1, 2, C)`` -> ``x (B, C)``, ``y (B, C)`` as float32."""
    coords = tf.cast(coords_relative, tf.float32)
    return coords[:, 0, 0, :], coords[:, 0, 1, :]


def merge_group_patches(patches: tf.Tensor, coords_relative: tf.Tensor, padded: int) -> tf.Tensor:
    """Merge the C patches of each group onto its own canvas (ARCH-010).

    Each patch is zero padded to ``padded x padded`` (centred), moved by ``-coords_relative``
    (to its position relative to the group centre), summed over C and divided by
    ``max(count, 1)`` where ``count`` is the same merge applied to the central ``N/2`` masks.

    Parameters
    ----------
    patches : (B, N, N, C) complex64
    coords_relative : (B, 1, 2, C) float
    padded : int
        Canvas side ``P`` (``ptycho.physics.object_big.padded_size``); ``P - N`` must be even.

    Returns
    -------
    (B, P, P) complex64
    """
    patches = tf.convert_to_tensor(patches, dtype=tf.complex64)
    n = int(patches.shape[1])
    pad = _half_margin(padded, n)
    x, y = _split_coords(coords_relative)
    # (B, C, N, N, 3): real, imaginary, centre mask
    chw = tf.transpose(patches, [0, 3, 1, 2])
    mask = tf.broadcast_to(tf.constant(center_mask(n)), tf.shape(chw))
    parts = tf.stack([tf.math.real(chw), tf.math.imag(chw), mask], axis=-1)
    moved = _shift_sample(parts, -x, -y, padded, padded, -pad, -pad)  # (B, C, P, P, 3)
    summed = tf.reduce_sum(moved, axis=1)
    count = tf.maximum(summed[..., 2], 1.0)
    return tf.complex(summed[..., 0] / count, summed[..., 1] / count)


def extract_group_patches(canvas: tf.Tensor, coords_relative: tf.Tensor, N: int) -> tf.Tensor:
    """Re-extract each channel's patch from its group canvas (ARCH-010, inverse move).

    Channel ``c`` is the canvas moved by ``+coords_relative[..., c]`` and cropped to the central
    ``N x N``.

    Parameters
    ----------
    canvas : (B, P, P) complex64
    coords_relative : (B, 1, 2, C) float
    N : int

    Returns
    -------
    (B, N, N, C) complex64
    """
    return tf.transpose(_extract_bcnn(canvas, coords_relative, N), [0, 2, 3, 1])


def _extract_bcnn(canvas: tf.Tensor, coords_relative: tf.Tensor, n: int) -> tf.Tensor:
    """As :func:`extract_group_patches` but ``(B, C, N, N)``."""
    canvas = tf.convert_to_tensor(canvas, dtype=tf.complex64)
    padded = int(canvas.shape[-1])
    offset = _half_margin(padded, n)
    x, y = _split_coords(coords_relative)
    parts = _to_real_parts(canvas)  # (B, P, P, 2)
    out = _shift_sample(parts, x, y, n, n, offset, offset)  # (B, C, N, N, 2)
    return _from_real_parts(out, True)


def crop_center(canvas: tf.Tensor, N: int) -> tf.Tensor:
    """Central ``N x N`` crop of ``(B, P, P)`` -> ``(B, N, N)``."""
    offset = _half_margin(int(canvas.shape[-1]), N)
    return canvas[:, offset : offset + N, offset : offset + N]


def _half_margin(padded: int, n: int) -> int:
    if padded < n or (padded - n) % 2:
        raise ValueError(
            f"canvas size {padded} must be >= N={n} with an even difference; use "
            "ptycho.physics.object_big.padded_size(N, gridsize)"
        )
    return (padded - n) // 2


# --------------------------------------------------------------------------------------------
# Forward model (ARCH-006) and losses (ARCH-009)
# --------------------------------------------------------------------------------------------


def combine_amp_phase(amp: tf.Tensor, phase: tf.Tensor) -> tf.Tensor:
    """``amp * exp(i * phase)`` as complex64 (amplitudes may be negative).

    Parameters
    ----------
    amp, phase : (...) float32, the same shape
    """
    return tf.complex(amp * tf.cos(phase), amp * tf.sin(phase))


def _far_field_intensity(exit_wave: tf.Tensor) -> tf.Tensor:
    """``fftshift(|FFT2(psi)|^2) / N^2`` over the last two axes.

    Parameters
    ----------
    exit_wave : (..., N, N) complex64

    Returns
    -------
    (..., N, N) float32, zero frequency at ``(N/2, N/2)``.
    """
    n_rows, n_cols = int(exit_wave.shape[-2]), int(exit_wave.shape[-1])
    spectrum = tf.signal.fft2d(tf.cast(exit_wave, tf.complex64))
    power = tf.math.real(spectrum) ** 2 + tf.math.imag(spectrum) ** 2
    power = power / float(n_rows * n_cols)
    return tf.roll(power, shift=[n_rows // 2, n_cols // 2], axis=[-2, -1])


def far_field_amplitude(exit_wave: tf.Tensor) -> tf.Tensor:
    """Orthonormal far-field amplitude ``sqrt(fftshift(|FFT2(psi)|^2) / N^2)`` (ARCH-006).

    The intensity is floored at :data:`_MIN_INTENSITY` before the square root so the gradient is
    finite everywhere (the value changes by at most 1e-15).

    Parameters
    ----------
    exit_wave : (..., N, N) complex64

    Returns
    -------
    (..., N, N) float32
    """
    return tf.sqrt(tf.maximum(_far_field_intensity(exit_wave), _MIN_INTENSITY))


def poisson_nll(
    pred_counts: tf.Tensor, measured_counts: tf.Tensor, eps: float = DEFAULT_NLL_EPS
) -> tf.Tensor:
    """Mean Poisson negative log-likelihood ``y_hat - y * log(y_hat + eps)`` (ARCH-009)."""
    return tf.reduce_mean(pred_counts - measured_counts * tf.math.log(pred_counts + eps))


def diffraction_mae(pred_amplitude: tf.Tensor, measured_amplitude: tf.Tensor) -> tf.Tensor:
    """Mean absolute error of (scaled) amplitudes ``mean |s A_hat - s X|`` (ARCH-009)."""
    return tf.reduce_mean(tf.abs(pred_amplitude - measured_amplitude))


def complex_mae_center(pred: tf.Tensor, target: tf.Tensor) -> tf.Tensor:
    """Mean ``|pred - target|`` (complex modulus) over the central ``N/2 x N/2`` window.

    Parameters
    ----------
    pred, target : (B, N, N, C) complex64
    """
    n = int(pred.shape[1])
    lo, hi = n // 4, n // 4 + n // 2
    diff = pred[:, lo:hi, lo:hi, :] - tf.cast(target, pred.dtype)[:, lo:hi, lo:hi, :]
    return tf.reduce_mean(tf.abs(diff))


# --------------------------------------------------------------------------------------------
# Gaussian smoothing of the exit wave
# --------------------------------------------------------------------------------------------


def gaussian_smooth(field: tf.Tensor, sigma: float) -> tf.Tensor:
    """3x3 Gaussian smoothing with reflect padding over the last two axes.

    Complex inputs are smoothed on their real and imaginary parts separately. ``sigma == 0``
    returns the input unchanged.

    Parameters
    ----------
    field : (..., H, W) float32 or complex64
    sigma : float
    """
    field = tf.convert_to_tensor(field)
    if sigma == 0 or math.isclose(sigma, 0.0):
        return field
    k = gaussian_kernel_1d(sigma)
    kernel = np.outer(k, k).astype(np.float32)  # (3, 3)
    h, w = int(field.shape[-2]), int(field.shape[-1])
    rank = len(field.shape)
    paddings = [[0, 0]] * (rank - 2) + [[1, 1], [1, 1]]

    def smooth(real: tf.Tensor) -> tf.Tensor:
        padded = tf.pad(real, paddings, mode="REFLECT")
        out = None
        for a in range(3):
            for b in range(3):
                term = float(kernel[a, b]) * padded[..., a : a + h, b : b + w]
                out = term if out is None else out + term
        return out

    if field.dtype.is_complex:
        return tf.complex(smooth(tf.math.real(field)), smooth(tf.math.imag(field)))
    return smooth(field)


# --------------------------------------------------------------------------------------------
# Probe backprojection (ARCH-014)
# --------------------------------------------------------------------------------------------


def _fftshift2(x: tf.Tensor) -> tf.Tensor:
    n_rows, n_cols = int(x.shape[-2]), int(x.shape[-1])
    return tf.roll(x, shift=[n_rows // 2, n_cols // 2], axis=[-2, -1])


def _ifftshift2(x: tf.Tensor) -> tf.Tensor:
    n_rows, n_cols = int(x.shape[-2]), int(x.shape[-1])
    return tf.roll(x, shift=[-(n_rows // 2), -(n_cols // 2)], axis=[-2, -1])


def backproject(amplitude: tf.Tensor, probe: tf.Tensor, reg: float | None = None) -> tf.Tensor:
    """One modulus projection from a flat object, ``O'`` (ARCH-014).

    ``conj(P) IFFT2_ortho(ifftshift(X u)) / (|P|^2 + reg max|P|^2)``, ``u`` the probe's
    far-field phasor (computed in double precision, where its phase is well conditioned).

    Parameters
    ----------
    amplitude : (..., N, N) float32
    probe : (N, N) complex64
    reg : float, optional
        Default :data:`ptycho.physics.backprojection.BACKPROJECTION_REG`.

    Returns
    -------
    (..., N, N) complex64
    """
    from ptycho.physics.backprojection import BACKPROJECTION_REG, PHASOR_EPS

    alpha = BACKPROJECTION_REG if reg is None else float(reg)
    n = int(probe.shape[-1])
    spectrum = _fftshift2(tf.signal.fft2d(tf.cast(probe, tf.complex128))) / float(n)
    magnitude = tf.abs(spectrum)
    phasor = spectrum / tf.cast(magnitude + PHASOR_EPS * tf.reduce_max(magnitude), tf.complex128)
    phasor = tf.cast(phasor, tf.complex64)
    # tf.complex, not a cast: the same value and gradient (the real part of the incoming one),
    # without TensorFlow's "discards the imaginary part" warning when the gradient reaches a
    # trainable intensity scale through the amplitude
    amplitude = tf.cast(amplitude, tf.float32)
    shifted = _ifftshift2(tf.complex(amplitude, tf.zeros_like(amplitude)) * phasor)
    psi = tf.signal.ifft2d(shifted) * float(n)
    weight = tf.math.real(probe) ** 2 + tf.math.imag(probe) ** 2
    denominator = tf.cast(weight + alpha * tf.reduce_max(weight), tf.complex64)
    return tf.math.conj(probe) * psi / denominator


def backprojection_features(amplitude: tf.Tensor, probe: tf.Tensor) -> tf.Tensor:
    """Input of the ``backprop_unet`` U-Net: ``(B, N, N, C)`` -> ``(B, N/2, N/2, 2C)`` float32.

    Channels ``[Re O'_1 .. Re O'_C, Im O'_1 .. Im O'_C]`` of the central ``N/2`` crop.
    """
    n = int(amplitude.shape[1])
    q = n // 4
    estimate = backproject(tf.transpose(amplitude, [0, 3, 1, 2]), probe)
    estimate = estimate[..., q : q + n // 2, q : q + n // 2]
    features = tf.concat([tf.math.real(estimate), tf.math.imag(estimate)], axis=1)
    return tf.transpose(features, [0, 2, 3, 1])
