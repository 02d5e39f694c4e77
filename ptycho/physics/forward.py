"""NumPy reference forward model and losses (ARCH-006, ARCH-007, ARCH-009; design D3).

This module owns the physics every backend is tested against:

* object parameterisation ``O = amp * exp(i * phi)`` with the amplitude activations
  (sigmoid, swish, softplus, relu) and the phase activation ``pi * tanh``;
* illumination ``Psi = P * O`` and the optional 3x3 Gaussian smoothing of the exit wave;
* the orthonormal far-field propagator ``A = sqrt(fftshift(|FFT2(Psi)|^2) / N^2)`` with no
  real-space shift and no padding (zero frequency at pixel ``(N/2, N/2)``, ``sum A^2 ==
  sum |Psi|^2``);
* the intensity scale ``s = sqrt(nphotons) / (N/2)``;
* the losses: Poisson negative log-likelihood on counts, diffraction MAE, complex real-space MAE.

Arithmetic is float64 internally; array outputs are float32/complex64 unless the inputs are
double precision, and losses are Python floats.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import numpy.typing as npt

from ptycho.array_types import AnyArray, ComplexArray, Float64Array, FloatArray, InexactArray

__all__ = [
    "AMP_ACTIVATIONS",
    "DEFAULT_NLL_EPS",
    "amp_activation",
    "combine_amp_phase",
    "complex_mae",
    "diffraction_mae",
    "far_field_amplitude",
    "forward_amplitude",
    "gaussian_kernel_1d",
    "gaussian_smooth_3x3",
    "illuminate",
    "intensity_scale",
    "phase_activation",
    "poisson_nll",
]

logger = logging.getLogger(__name__)

#: Epsilon (counts) inside the Poisson log (ARCH-009), shared by every backend's loss.
DEFAULT_NLL_EPS = 1e-6

AMP_ACTIVATIONS: tuple[str, ...] = ("sigmoid", "swish", "softplus", "relu")


def _is_double(arr: AnyArray) -> bool:
    return arr.dtype in (np.dtype(np.float64), np.dtype(np.complex128))


def _real_out(double: bool) -> np.dtype[np.floating[Any]]:
    return np.dtype(np.float64 if double else np.float32)


def _complex_out(double: bool) -> np.dtype[np.complexfloating[Any, Any]]:
    return np.dtype(np.complex128 if double else np.complex64)


def _numeric(name: str, value: npt.ArrayLike) -> AnyArray:
    arr = np.asarray(value)
    if arr.dtype == object or not (
        np.issubdtype(arr.dtype, np.number) or np.issubdtype(arr.dtype, np.bool_)
    ):
        raise ValueError(f"{name} must be a numeric array, got dtype {arr.dtype}")
    return arr


def combine_amp_phase(amp: npt.ArrayLike, phase: npt.ArrayLike) -> ComplexArray:
    """Complex object from amplitude and phase, ``amp * exp(i * phase)`` (polar form).

    Parameters
    ----------
    amp : (...) float
        Amplitude (non-negative in practice; not checked).
    phase : (...) float, radians
        Phase, broadcastable with ``amp``.

    Returns
    -------
    (...) complex64 (complex128 when either input is float64)
    """
    a = _numeric("amp", amp)
    p = _numeric("phase", phase)
    double = _is_double(a) or _is_double(p)
    out: ComplexArray = a.astype(np.float64) * np.exp(1j * p.astype(np.float64))
    return out.astype(_complex_out(double), copy=False)


def _sigmoid(x: FloatArray) -> FloatArray:
    # Numerically stable logistic: exp only of non-positive arguments.
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def amp_activation(name: str, x: npt.ArrayLike) -> FloatArray:
    """Amplitude head activation (design D3).

    Parameters
    ----------
    name : {'sigmoid', 'swish', 'softplus', 'relu'}
        ``sigmoid(x)``, ``swish(x) = x * sigmoid(x)``, ``softplus(x) = log(1 + exp(x))``,
        ``relu(x) = max(x, 0)``.
    x : (...) float
        Pre-activation values.

    Returns
    -------
    (...) float32 (float64 for float64 input)

    Raises
    ------
    ValueError
        For an unknown activation name.
    """
    if name not in AMP_ACTIVATIONS:
        raise ValueError(
            f"unknown amplitude activation {name!r}; choose one of {', '.join(AMP_ACTIVATIONS)}"
        )
    xa = _numeric("x", x)
    double = _is_double(xa)
    v = xa.astype(np.float64)
    if name == "sigmoid":
        out = _sigmoid(v)
    elif name == "swish":
        out = v * _sigmoid(v)
    elif name == "softplus":
        out = np.logaddexp(0.0, v)
    else:
        out = np.maximum(v, 0.0)
    return out.astype(_real_out(double), copy=False)


def phase_activation(x: npt.ArrayLike) -> FloatArray:
    """Phase head activation ``pi * tanh(x)`` (radians, in ``(-pi, pi)``).

    Parameters
    ----------
    x : (...) float

    Returns
    -------
    (...) float32 (float64 for float64 input)
    """
    xa = _numeric("x", x)
    out = np.pi * np.tanh(xa.astype(np.float64))
    return out.astype(_real_out(_is_double(xa)), copy=False)


def illuminate(object_patches: npt.ArrayLike, probe: npt.ArrayLike) -> ComplexArray:
    """Exit wave ``Psi = P * O`` (the probe broadcasts over the leading axes).

    Parameters
    ----------
    object_patches : (..., N, N) complex
        Object patches.
    probe : (N, N) complex
        Illumination.

    Returns
    -------
    (..., N, N) complex64 (complex128 for double-precision inputs)

    Raises
    ------
    ValueError
        If the probe is not 2-D or its shape differs from the patches' last two axes.
    """
    o = _numeric("object_patches", object_patches)
    p = _numeric("probe", probe)
    if p.ndim != 2:
        raise ValueError(
            f"probe must be a 2-D (N, N) array, got shape {p.shape}; for a multi-mode probe pass "
            "its first mode"
        )
    if o.ndim < 2 or o.shape[-2:] != p.shape:
        raise ValueError(
            f"object patches {o.shape} must end in the probe shape {p.shape} (..., N, N)"
        )
    double = _is_double(o) or _is_double(p)
    out = o.astype(np.complex128) * p.astype(np.complex128)
    return out.astype(_complex_out(double), copy=False)


def gaussian_kernel_1d(sigma: float) -> Float64Array:
    """The 3-tap kernel ``softmax(-x^2 / (2 sigma^2))`` over ``x in {-1, 0, 1}``.

    Parameters
    ----------
    sigma : float > 0
        Standard deviation in pixels.

    Returns
    -------
    (3,) float64
        Normalised kernel (sums to 1).
    """
    if not np.isfinite(sigma) or sigma <= 0:
        raise ValueError(f"sigma must be a positive finite number, got {sigma}")
    x = np.array([-1.0, 0.0, 1.0])
    logits = -(x**2) / (2.0 * float(sigma) ** 2)
    logits -= logits.max()
    k = np.exp(logits)
    kernel: Float64Array = k / k.sum()
    return kernel


def gaussian_smooth_3x3(field: npt.ArrayLike, sigma: float) -> InexactArray:
    """3x3 Gaussian blur of the last two axes with REFLECT padding (optional exit-wave smoothing).

    The 2-D kernel is the outer product of :func:`gaussian_kernel_1d`; the real and imaginary
    parts are filtered separately (equivalent to filtering the complex field with the real
    kernel). Reflect padding mirrors without repeating the edge pixel (``[1, 0, 1, 2, ...]``).

    Parameters
    ----------
    field : (..., H, W) float or complex, H, W >= 2
        Field to smooth.
    sigma : float >= 0
        Standard deviation in pixels; ``0`` returns the field unchanged (identity).

    Returns
    -------
    (..., H, W)
        Same precision class as the input (float32/complex64 unless double precision).
    """
    f = _numeric("field", field)
    if f.ndim < 2:
        raise ValueError(f"field must have shape (..., H, W), got {f.shape}")
    if not np.isfinite(sigma) or sigma < 0:
        raise ValueError(f"gaussian smoothing sigma must be >= 0 and finite, got {sigma}")
    is_complex = np.issubdtype(f.dtype, np.complexfloating)
    double = _is_double(f)
    out_dtype = _complex_out(double) if is_complex else _real_out(double)
    if sigma == 0:
        return f.astype(out_dtype, copy=True)
    if f.shape[-1] < 2 or f.shape[-2] < 2:
        raise ValueError(f"reflect padding needs H, W >= 2, got field shape {f.shape}")
    k = gaussian_kernel_1d(sigma)
    work = f.astype(np.complex128 if is_complex else np.float64)
    pad = [(0, 0)] * (work.ndim - 2) + [(1, 1), (1, 1)]
    padded = np.pad(work, pad, mode="reflect")
    rows = k[0] * padded[..., :-2, :] + k[1] * padded[..., 1:-1, :] + k[2] * padded[..., 2:, :]
    out: InexactArray = k[0] * rows[..., :-2] + k[1] * rows[..., 1:-1] + k[2] * rows[..., 2:]
    return out.astype(out_dtype, copy=False)


def far_field_amplitude(exit_wave: npt.ArrayLike) -> FloatArray:
    """Far-field diffraction amplitude (ARCH-006).

    ``A = sqrt(fftshift(|FFT2(Psi)|^2) / (H * W))`` over the last two axes: orthonormal (so
    ``sum A^2 == sum |Psi|^2``), no real-space shift (the real-space origin is pixel 0, which
    only adds a phase ramp that the modulus removes), no padding. The zero frequency lands on
    pixel ``(H//2, W//2)``.

    Parameters
    ----------
    exit_wave : (..., N, N) complex
        Exit wave ``Psi``.

    Returns
    -------
    (..., N, N) float32 (float64 for complex128 input)
        Amplitude (square root of the intensity).
    """
    psi = _numeric("exit_wave", exit_wave)
    if psi.ndim < 2:
        raise ValueError(f"exit_wave must have shape (..., N, N), got {psi.shape}")
    double = _is_double(psi)
    spec = np.fft.fft2(psi.astype(np.complex128), axes=(-2, -1), norm="ortho")
    intensity = spec.real**2 + spec.imag**2
    amp = np.sqrt(np.fft.fftshift(intensity, axes=(-2, -1)))
    return amp.astype(_real_out(double), copy=False)


def forward_amplitude(
    object_patches: npt.ArrayLike,
    probe: npt.ArrayLike,
    *,
    smoothing_sigma: float = 0.0,
    probe_mask: npt.ArrayLike | None = None,
) -> FloatArray:
    """Object patches to predicted diffraction amplitude (design D3).

    ``Psi = P * O``; optionally ``Psi <- gaussian_smooth_3x3(Psi, smoothing_sigma)``; optionally
    ``Psi <- Psi * probe_mask``; then :func:`far_field_amplitude`.

    Parameters
    ----------
    object_patches : (..., N, N) complex
    probe : (N, N) complex
    smoothing_sigma : float, default 0 (off)
    probe_mask : (N, N) float or None
        Multiplies the exit wave when given.

    Returns
    -------
    (..., N, N) float32 (float64 for double-precision inputs)
    """
    psi: InexactArray = illuminate(object_patches, probe)
    if smoothing_sigma:
        psi = gaussian_smooth_3x3(psi, smoothing_sigma)
    if probe_mask is not None:
        mask = _numeric("probe_mask", probe_mask)
        if mask.shape != psi.shape[-2:]:
            raise ValueError(
                f"probe_mask shape {mask.shape} must equal the patch shape {psi.shape[-2:]}"
            )
        psi = (psi * mask).astype(psi.dtype, copy=False)
    return far_field_amplitude(psi)


def intensity_scale(nphotons: float, N: int) -> float:
    """Intensity scale ``s = sqrt(nphotons) / (N/2)`` (ARCH-007).

    With diffraction normalised to mean pattern energy ``(N/2)^2``, ``(s * X)^2`` are photon
    counts with a dataset mean of ``nphotons`` per pattern.

    Parameters
    ----------
    nphotons : float > 0
        Mean photons per pattern.
    N : int > 0
        Pattern side in pixels.

    Returns
    -------
    float
    """
    if not np.isfinite(nphotons) or nphotons <= 0:
        raise ValueError(f"nphotons must be a positive finite number, got {nphotons}")
    if int(N) != N or N <= 0:
        raise ValueError(f"N must be a positive integer, got {N}")
    return float(np.sqrt(float(nphotons)) / (float(N) / 2.0))


def poisson_nll(
    pred_counts: npt.ArrayLike, measured_counts: npt.ArrayLike, eps: float = DEFAULT_NLL_EPS
) -> float:
    """Poisson negative log-likelihood, mean over all elements (ARCH-009).

    Per element ``pred - meas * log(pred + eps)`` (the ``log(meas!)`` constant is dropped).
    Finite at ``pred = 0``; minimised over ``pred`` at ``pred = meas`` (up to ``eps``).

    Parameters
    ----------
    pred_counts : (...) float >= 0
        Predicted counts ``(s * A_hat)^2``.
    measured_counts : (...) float >= 0
        Measured counts ``(s * X)^2``, broadcastable with ``pred_counts``.
    eps : float > 0, counts
        Added inside the logarithm.

    Returns
    -------
    float
    """
    if not eps > 0:
        raise ValueError(f"eps must be positive, got {eps}")
    pred = _numeric("pred_counts", pred_counts).astype(np.float64)
    meas = _numeric("measured_counts", measured_counts).astype(np.float64)
    return float(np.mean(pred - meas * np.log(pred + eps)))


def diffraction_mae(pred_amp: npt.ArrayLike, meas_amp: npt.ArrayLike) -> float:
    """Diffraction mean absolute error ``mean |pred - meas|`` on amplitudes (ARCH-009).

    Callers pass the scaled amplitudes ``s * A_hat`` and ``s * X``.

    Parameters
    ----------
    pred_amp, meas_amp : (...) float
        Broadcastable arrays.

    Returns
    -------
    float
    """
    pred = _numeric("pred_amp", pred_amp).astype(np.float64)
    meas = _numeric("meas_amp", meas_amp).astype(np.float64)
    return float(np.mean(np.abs(pred - meas)))


def complex_mae(
    pred: npt.ArrayLike,
    target: npt.ArrayLike,
    window: int | npt.ArrayLike | None = None,
    axes: tuple[int, int] = (-2, -1),
) -> float:
    """Complex mean absolute error ``mean |pred - target|`` (modulus of the complex difference).

    Used for the real-space loss and for supervised training (ARCH-009), where the window is
    the central ``N/2 x N/2`` square of each patch.

    Parameters
    ----------
    pred, target : (..., N, N) complex (or real)
        Broadcastable arrays; the spatial axes are ``axes`` (default the last two; pass
        ``axes=(1, 2)`` for channel-last ``(B, N, N, C)`` arrays).
    window : None, int, or (N, N) float/bool mask
        ``None``: all pixels. ``int w``: only the central ``w x w`` square of the spatial axes
        (starting at ``(N - w)//2``). Array: per-pixel weights over the spatial axes; the result
        is ``sum(weight * |d|) / (sum(weight) * other elements)``, i.e. the mean over the pixels
        inside the mask.
    axes : (int, int)
        The two spatial axes.

    Returns
    -------
    float
    """
    p = _numeric("pred", pred).astype(np.complex128)
    t = _numeric("target", target).astype(np.complex128)
    try:
        diff = np.abs(p - t)
    except ValueError as exc:
        raise ValueError(
            f"pred {p.shape} and target {t.shape} must have broadcastable shapes"
        ) from exc
    if diff.ndim < 2:
        raise ValueError(f"pred/target must have at least 2 spatial dimensions, got {diff.shape}")
    diff = np.moveaxis(diff, axes, (-2, -1))
    if window is None:
        return float(np.mean(diff))
    if np.ndim(window) == 0:
        w = int(window)  # type: ignore[arg-type]
        h, wd = diff.shape[-2:]
        if w < 1 or w > min(h, wd):
            raise ValueError(f"window must be between 1 and {min(h, wd)} pixels, got {window}")
        r0, c0 = (h - w) // 2, (wd - w) // 2
        return float(np.mean(diff[..., r0 : r0 + w, c0 : c0 + w]))
    mask = np.asarray(window, dtype=np.float64)
    if mask.shape != diff.shape[-2:]:
        raise ValueError(
            f"window mask shape {mask.shape} must equal the spatial shape {diff.shape[-2:]}"
        )
    total = mask.sum()
    if total <= 0:
        raise ValueError("window mask selects no pixels; pass a mask with positive weights")
    others = diff.size // mask.size
    return float(np.sum(diff * mask) / (total * others))
