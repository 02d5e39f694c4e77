"""Differentiable torch mirror of the NumPy reference physics in :mod:`ptycho.physics`.

This module owns the torch implementation of the package's physics conventions; each function
matches its NumPy counterpart to float32 precision (tested in ``tests/torch/test_physics.py``):

* :func:`translate` - ARCH-003 bilinear translation, zero outside, via index gathers (no
  ``grid_sample``, no wrap-around), separable: one two-tap gather along rows, one along columns.
* :func:`extract_patches` - ARCH-004 patch extraction from a full object.
* :func:`merge_group_patches` / :func:`extract_group_patches` - ARCH-010 per-group object_big
  merge and re-extraction (never across groups; any batch size, one vectorised call).
* :func:`far_field_amplitude` - ARCH-006 orthonormal far-field amplitude.
* :func:`poisson_nll`, :func:`diffraction_mae`, :func:`complex_mae_center` - ARCH-009 losses.
* :func:`gaussian_smooth` - the optional 3x3 Gaussian smoothing of the exit wave.
* :func:`backproject` / :func:`backprojection_features` - ARCH-014 probe backprojection, the
  input layer of the ``backprop_unet`` network (:mod:`ptycho.physics.backprojection`).

Layout: torch code is **channel-first**. Where the core uses ``(B, N, N, C)`` these functions take
``(B, C, N, N)``; group coordinates keep the core layout ``coords_relative (B, 1, 2, C)`` with
axis 2 = ``[x, y]`` (ARCH-005).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ptycho.physics.forward import DEFAULT_NLL_EPS, gaussian_kernel_1d
from ptycho.physics.object_big import (
    MAX_POSITION_JITTER,
    OBJECT_BIG_OFFSET,
    border_mask,
    center_mask,
    padded_size,
)

# The same names, in the same order, as ``ptycho.tf.physics.__all__`` (tests/parity). The
# torch-only extra :func:`extract_patches` (ARCH-004, used by the parity harness) stays outside.
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


def _shift_axis(images: torch.Tensor, shift: torch.Tensor, dim: int) -> torch.Tensor:
    """Two-tap linear shift of ``images (M, H, W)`` along ``dim`` (1 rows, 2 columns).

    ``out[k] = (1 - f) * in[k + k0] + f * in[k + k0 + 1]`` with ``k0 = floor(-shift)`` and
    ``f = -shift - k0``; taps outside ``[0, L)`` contribute zero (ARCH-003).
    """
    m, h, w = images.shape
    length = images.shape[dim]
    src = -shift.to(torch.float64)
    k0 = torch.floor(src)
    frac = (src - k0).to(torch.float32)  # (M,)
    base = torch.arange(length, device=images.device, dtype=torch.int64)
    idx0 = base[None, :] + k0.to(torch.int64)[:, None]  # (M, L)
    idx1 = idx0 + 1
    w0 = (1.0 - frac)[:, None] * ((idx0 >= 0) & (idx0 < length)).to(torch.float32)
    w1 = frac[:, None] * ((idx1 >= 0) & (idx1 < length)).to(torch.float32)
    i0 = idx0.clamp(0, length - 1)
    i1 = idx1.clamp(0, length - 1)
    if dim == 1:
        g0 = images.gather(1, i0[:, :, None].expand(m, h, w))
        g1 = images.gather(1, i1[:, :, None].expand(m, h, w))
        return g0 * w0[:, :, None] + g1 * w1[:, :, None]
    g0 = images.gather(2, i0[:, None, :].expand(m, h, w))
    g1 = images.gather(2, i1[:, None, :].expand(m, h, w))
    return g0 * w0[:, None, :] + g1 * w1[:, None, :]


def translate(images: torch.Tensor, dx: torch.Tensor, dy: torch.Tensor) -> torch.Tensor:
    """Translate images by sub-pixel amounts with bilinear interpolation (ARCH-003).

    Content moves by ``+dx`` columns and ``+dy`` rows: ``out[..., r, c] = bilinear(in, r - dy,
    c - dx)``; each bilinear neighbour outside the image contributes zero. Differentiable with
    respect to ``images`` (the shifts are treated as constants).

    Parameters
    ----------
    images : (..., H, W) float32 or complex64 tensor
        Images; leading axes are batch axes.
    dx, dy : (...) float tensor, broadcastable to ``images.shape[:-2]``
        Shifts in pixels (columns, rows).

    Returns
    -------
    (..., H, W) tensor of the input dtype
    """
    if images.ndim < 2:
        raise ValueError(f"images must have shape (..., H, W), got {tuple(images.shape)}")
    batch = images.shape[:-2]
    h, w = images.shape[-2:]
    dx = torch.as_tensor(dx, device=images.device).detach().broadcast_to(batch).reshape(-1)
    dy = torch.as_tensor(dy, device=images.device).detach().broadcast_to(batch).reshape(-1)
    work = images.reshape(-1, h, w)
    if work.shape[0] == 0:
        return images.clone()
    work = _shift_axis(work, dy, dim=1)
    work = _shift_axis(work, dx, dim=2)
    return work.reshape(images.shape)


def extract_patches(obj: torch.Tensor, x: torch.Tensor, y: torch.Tensor, N: int) -> torch.Tensor:
    """Cut ``N x N`` patches at sub-pixel positions from one object (ARCH-002/004).

    ``out[p, i, j] = bilinear(obj, y[p] - N//2 + i, x[p] - N//2 + j)``, zero outside.

    Parameters
    ----------
    obj : (H, W) float32 or complex64 tensor
    x, y : (P,) float tensors
        Patch centres in object pixels (x = column, y = row).
    N : int
        Patch side.

    Returns
    -------
    (P, N, N) tensor of ``obj``'s dtype
    """
    if obj.ndim != 2:
        raise ValueError(f"obj must be a 2-D (H, W) tensor, got shape {tuple(obj.shape)}")
    x = torch.as_tensor(x, dtype=torch.float64, device=obj.device).reshape(-1)
    y = torch.as_tensor(y, dtype=torch.float64, device=obj.device).reshape(-1)
    h, w = obj.shape
    half = N // 2
    fy = torch.floor(y)
    fx = torch.floor(x)
    offs = torch.arange(N + 1, device=obj.device, dtype=torch.int64)
    rows = fy.to(torch.int64)[:, None] - half + offs[None, :]  # (P, N+1)
    cols = fx.to(torch.int64)[:, None] - half + offs[None, :]
    rvalid = (rows >= 0) & (rows < h)
    cvalid = (cols >= 0) & (cols < w)
    win = obj[rows.clamp(0, h - 1)[:, :, None], cols.clamp(0, w - 1)[:, None, :]]
    win = win * (rvalid[:, :, None] & cvalid[:, None, :]).to(torch.float32)
    wy = (y - fy).to(torch.float32)[:, None, None]
    wx = (x - fx).to(torch.float32)[:, None, None]
    return (
        (1 - wy) * (1 - wx) * win[:, :-1, :-1]
        + (1 - wy) * wx * win[:, :-1, 1:]
        + wy * (1 - wx) * win[:, 1:, :-1]
        + wy * wx * win[:, 1:, 1:]
    )


def _pad_to(images: torch.Tensor, size: int) -> torch.Tensor:
    """Zero-pad ``(..., N, N)`` symmetrically to ``(..., size, size)``."""
    n = images.shape[-1]
    before = (size - n) // 2
    after = size - n - before
    return F.pad(images, (before, after, before, after))


def crop_center(canvas: torch.Tensor, N: int) -> torch.Tensor:
    """Central ``N x N`` crop of ``(..., P, P)`` (start ``(P - N) // 2``)."""
    p = canvas.shape[-1]
    start = (p - N) // 2
    return canvas[..., start : start + N, start : start + N]


def _group_shifts(coords_relative: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(dx, dy)`` of shape (B, C) that move each patch to its place on the group canvas.

    ARCH-005: patch ``c`` moves by ``-coords_relative[..., c]``.
    """
    if coords_relative.ndim != 4 or coords_relative.shape[1] != 1 or coords_relative.shape[2] != 2:
        raise ValueError(
            "coords_relative must have shape (B, 1, 2, C) with axis 2 = [x, y], got "
            f"{tuple(coords_relative.shape)}"
        )
    return -coords_relative[:, 0, 0, :], -coords_relative[:, 0, 1, :]


def _group_coverage(
    coords_relative: torch.Tensor,
    N: int,
    padded: int,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """Per-pixel count of patches whose central ``N/2 x N/2`` square covers it (ARCH-010).

    The central-square mask of each patch is placed on the canvas exactly like the patch
    (bilinear move by ``-coords_relative``), so sub-pixel shifts give fractional counts at the
    square's edges.

    Returns
    -------
    (B, padded, padded) float tensor
    """
    dx, dy = _group_shifts(coords_relative)
    b, c = dx.shape
    mask = torch.from_numpy(center_mask(N)).to(dtype=dtype, device=coords_relative.device)
    masks = _pad_to(mask, padded).expand(b, c, padded, padded)
    return translate(masks, dx, dy).sum(dim=1)


def merge_group_patches(
    patches: torch.Tensor, coords_relative: torch.Tensor, padded: int
) -> torch.Tensor:
    """Merge the C patches of each group onto its own canvas (ARCH-010).

    Each patch is zero padded to ``padded``, moved by ``-coords_relative`` (its position relative
    to the group centre), summed over C and divided by ``max(count, 1)`` where ``count`` is
    :func:`_group_coverage`.

    Parameters
    ----------
    patches : (B, C, N, N) complex64 (or float32) tensor
    coords_relative : (B, 1, 2, C) float tensor
    padded : int
        Canvas side (:func:`padded_size`).

    Returns
    -------
    (B, padded, padded) tensor of ``patches``' dtype
    """
    n = patches.shape[-1]
    dx, dy = _group_shifts(coords_relative.to(torch.float64))
    moved = translate(_pad_to(patches, padded), dx, dy)
    count = _group_coverage(coords_relative, n, padded)
    return moved.sum(dim=1) / count.clamp(min=1.0)


def extract_group_patches(
    canvas: torch.Tensor,
    coords_relative: torch.Tensor,
    N: int,
) -> torch.Tensor:
    """Re-extract each channel's patch from its group canvas (ARCH-010).

    The canvas is moved by ``+coords_relative[..., c]`` (the opposite of the merge move) and the
    central ``N x N`` is kept.

    Parameters
    ----------
    canvas : (B, P, P) tensor
    coords_relative : (B, 1, 2, C) float tensor
    N : int

    Returns
    -------
    (B, C, N, N) tensor of ``canvas``' dtype
    """
    dx, dy = _group_shifts(coords_relative.to(torch.float64))
    b, c = dx.shape
    p = canvas.shape[-1]
    moved = translate(canvas[:, None].expand(b, c, p, p), -dx, -dy)
    return crop_center(moved, N)


def combine_amp_phase(amp: torch.Tensor, phase: torch.Tensor) -> torch.Tensor:
    """``amp * exp(i * phase)`` as complex64 (amplitudes may be negative; no ``polar``)."""
    return torch.complex(amp * torch.cos(phase), amp * torch.sin(phase))


def far_field_amplitude(exit_wave: torch.Tensor) -> torch.Tensor:
    """Far-field amplitude ``sqrt(fftshift(|FFT2(psi)|^2) / N^2)`` (ARCH-006).

    Orthonormal FFT over the last two axes, zero frequency moved to ``(N/2, N/2)``; no padding,
    no real-space shift.

    Parameters
    ----------
    exit_wave : (..., N, N) complex64 tensor

    Returns
    -------
    (..., N, N) float32 tensor
    """
    spectrum = torch.fft.fft2(exit_wave, norm="ortho")
    return torch.fft.fftshift(torch.abs(spectrum), dim=(-2, -1))


def _reflect_pad1(images: torch.Tensor) -> torch.Tensor:
    """Reflect-pad the last two axes by one pixel (``numpy.pad(mode='reflect')``).

    Built from slices and ``cat`` rather than ``F.pad(mode='reflect')``, whose CUDA backward is
    non-deterministic (it raises under ``torch.use_deterministic_algorithms``).
    """
    rows = torch.cat([images[..., 1:2, :], images, images[..., -2:-1, :]], dim=-2)
    return torch.cat([rows[..., :, 1:2], rows, rows[..., :, -2:-1]], dim=-1)


def gaussian_smooth(field: torch.Tensor, sigma: float) -> torch.Tensor:
    """3x3 Gaussian smoothing with reflect padding, on real and imaginary parts separately.

    Reflect padding mirrors without repeating the edge (``numpy.pad(mode='reflect')``).
    ``sigma <= 0`` returns ``field`` unchanged.

    Parameters
    ----------
    field : (..., H, W) float32 or complex64 tensor
    sigma : float
        Gaussian width in pixels.
    """
    if sigma <= 0:
        return field
    k = torch.tensor(gaussian_kernel_1d(sigma), dtype=torch.float32, device=field.device)
    kernel = (k[:, None] * k[None, :])[None, None]  # (1, 1, 3, 3)
    shape = field.shape
    h, w = shape[-2:]

    def smooth_real(part: torch.Tensor) -> torch.Tensor:
        flat = _reflect_pad1(part.reshape(-1, 1, h, w))
        return F.conv2d(flat, kernel).reshape(shape)

    if field.is_complex():
        return torch.complex(smooth_real(field.real), smooth_real(field.imag))
    return smooth_real(field)


def poisson_nll(
    pred_counts: torch.Tensor, measured_counts: torch.Tensor, eps: float = DEFAULT_NLL_EPS
) -> torch.Tensor:
    """Mean Poisson negative log-likelihood ``y_hat - y * log(y_hat + eps)`` (ARCH-009).

    Constant terms (``log y!``) are omitted, as in the NumPy reference.
    """
    return torch.mean(pred_counts - measured_counts * torch.log(pred_counts + eps))


def diffraction_mae(pred_amplitude: torch.Tensor, measured_amplitude: torch.Tensor) -> torch.Tensor:
    """Mean absolute difference of (scaled) amplitudes ``mean |s A_hat - s X|`` (ARCH-009)."""
    return torch.mean(torch.abs(pred_amplitude - measured_amplitude))


def complex_mae_center(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean complex modulus ``|pred - target|`` over the central ``N/2 x N/2`` window (ARCH-009).

    Parameters
    ----------
    pred, target : (B, C, N, N) complex64 tensors
    """
    n = pred.shape[-1]
    q = n // 4
    window = (slice(None), slice(None), slice(q, q + n // 2), slice(q, q + n // 2))
    return torch.mean(torch.abs(pred[window] - target[window]))


def backproject(
    amplitude: torch.Tensor, probe: torch.Tensor, reg: float | None = None
) -> torch.Tensor:
    """One modulus projection from a flat object, ``O'`` (ARCH-014).

    ``conj(P) IFFT2_ortho(ifftshift(X u)) / (|P|^2 + reg max|P|^2)`` with the probe's far-field
    phasor ``u = F_P / (|F_P| + eps max|F_P|)``, ``F_P = fftshift(FFT2_ortho(P))``.

    Parameters
    ----------
    amplitude : (..., N, N) float32 tensor
        Diffraction amplitudes ``X``, zero frequency at the centre.
    probe : (N, N) complex64 tensor
    reg : float, optional
        Default :data:`ptycho.physics.backprojection.BACKPROJECTION_REG`.

    Returns
    -------
    (..., N, N) complex64 tensor
    """
    from ptycho.physics.backprojection import BACKPROJECTION_REG, PHASOR_EPS

    alpha = BACKPROJECTION_REG if reg is None else float(reg)
    # the phasor in double precision: where |F_P| is tiny its phase is ill-conditioned in float32
    spectrum = torch.fft.fft2(probe.to(torch.complex128), norm="ortho")
    spectrum = torch.fft.fftshift(spectrum, dim=(-2, -1))
    magnitude = torch.abs(spectrum)
    phasor = (spectrum / (magnitude + PHASOR_EPS * magnitude.max())).to(probe.dtype)
    shifted = torch.fft.ifftshift(amplitude * phasor, dim=(-2, -1))
    psi = torch.fft.ifft2(shifted, norm="ortho")
    weight = probe.real**2 + probe.imag**2
    return torch.conj(probe) * psi / (weight + alpha * weight.max())


def backprojection_features(amplitude: torch.Tensor, probe: torch.Tensor) -> torch.Tensor:
    """Input of the ``backprop_unet`` U-Net: ``(B, C, N, N)`` -> ``(B, 2C, N/2, N/2)`` float32.

    Channels ``[Re O'_1 .. Re O'_C, Im O'_1 .. Im O'_C]`` of the central ``N/2`` crop.
    """
    n = amplitude.shape[-1]
    q = n // 4
    estimate = backproject(amplitude, probe)[..., q : q + n // 2, q : q + n // 2]
    return torch.cat([estimate.real, estimate.imag], dim=1)
