"""Probe backprojection: the physics input layer of the ``backprop_unet`` network (ARCH-014).

A diffraction pattern alone is a Fourier-domain image: a convolutional network has to learn the
inverse of ``|FFT2|`` from scratch, which it does poorly (the original encoder-decoder's image is
a low-pass blur and settles into the twin, ARCH-013). One modulus projection with the known probe
turns each pattern into a real-space image of the object instead:

1. ``F_P = fftshift(FFT2_ortho(P))`` and its unit phasor ``u = F_P / (|F_P| + 1e-6 max|F_P|)``;
2. ``psi' = IFFT2_ortho(ifftshift(X * u))``: the measured amplitude with the probe's own
   far-field phase, back in real space;
3. ``O' = conj(P) psi' / (|P|^2 + alpha max|P|^2)`` with ``alpha = BACKPROJECTION_REG``.

For a weak object ``O = 1 + o`` this is in-line holography: ``O'`` holds the object term ``o``
in focus plus its twin propagated by twice the probe's defocus (a diffuse halo), so the true image
and its twin are no longer interchangeable, and the network only has to clean a real-space image
(it sees the probe, so a model transfers to another probe). A probe with a flat phase and a
centro-symmetric amplitude leaves the twin in focus too: nothing per pattern can tell them apart
then (ARCH-013), only the overlap of neighbouring patterns.

The network sees the central ``N/2 x N/2`` of ``O'`` (where the output object lives, ARCH-012's
``pad_object``), real and imaginary parts as channels: :func:`backprojection_features`.
Both backends implement exactly this (tested against this module to float32 precision).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from ptycho.array_types import Complex128Array, ComplexArray, Float32Array

__all__ = [
    "BACKPROJECTION_REG",
    "PHASOR_EPS",
    "backproject",
    "backprojection_features",
    "probe_far_field_phasor",
]

#: ``alpha``: Tikhonov term of the division by ``|P|^2``, relative to ``max |P|^2``.
BACKPROJECTION_REG = 0.1
#: Floor of ``|F_P|`` in the phasor, relative to ``max |F_P|`` (keeps exact zeros finite).
PHASOR_EPS = 1e-6


def _probe(probe: npt.ArrayLike) -> Complex128Array:
    p = np.asarray(probe)
    if p.ndim == 3 and p.shape[-1] == 1:
        p = p[..., 0]
    if p.ndim != 2 or p.shape[0] != p.shape[1]:
        raise ValueError(f"probe must have shape (N, N), got {p.shape}")
    if not np.all(np.isfinite(p)):
        raise ValueError("probe contains NaN or Inf values")
    if not np.any(p):
        raise ValueError("probe is zero everywhere; backprojection needs the illumination")
    return p.astype(np.complex128)


def probe_far_field_phasor(probe: npt.ArrayLike) -> Complex128Array:
    """Unit phasor of the probe's far field, ``(N, N) complex128``, zero frequency at the centre.

    ``u = F_P / (|F_P| + PHASOR_EPS * max|F_P|)`` with ``F_P = fftshift(FFT2_ortho(P))``.
    """
    p = _probe(probe)
    spectrum = np.fft.fftshift(np.fft.fft2(p, norm="ortho"))
    magnitude = np.abs(spectrum)
    phasor: Complex128Array = spectrum / (magnitude + PHASOR_EPS * magnitude.max())
    return phasor


def backproject(
    amplitude: npt.ArrayLike, probe: npt.ArrayLike, reg: float = BACKPROJECTION_REG
) -> ComplexArray:
    """One modulus projection from a flat object: the real-space object estimate ``O'``.

    Parameters
    ----------
    amplitude : (..., N, N) float
        Diffraction amplitudes ``X`` (ARCH-001), zero frequency at ``(N/2, N/2)``.
    probe : (N, N) complex
        The (normalised, ARCH-008) probe.
    reg : float
        ``alpha`` (> 0).

    Returns
    -------
    (..., N, N) complex64 (complex128 for float64 input)
        ``conj(P) IFFT2_ortho(ifftshift(X u)) / (|P|^2 + alpha max|P|^2)``.
    """
    x = np.asarray(amplitude)
    if x.ndim < 2 or x.shape[-2:] != np.shape(probe)[:2]:
        raise ValueError(
            f"amplitude must have shape (..., N, N) matching the probe {np.shape(probe)}, "
            f"got {x.shape}"
        )
    if not reg > 0:
        raise ValueError(f"reg must be > 0, got {reg!r}")
    p = _probe(probe)
    phasor = probe_far_field_phasor(p)
    spectrum = np.fft.ifftshift(x.astype(np.float64) * phasor, axes=(-2, -1))
    psi = np.fft.ifft2(spectrum, axes=(-2, -1), norm="ortho")
    weight = np.abs(p) ** 2
    estimate: ComplexArray = np.conj(p) * psi / (weight + reg * weight.max())
    double = x.dtype == np.float64
    return estimate.astype(np.complex128 if double else np.complex64)


def backprojection_features(
    X: npt.ArrayLike, probe: npt.ArrayLike, reg: float = BACKPROJECTION_REG
) -> Float32Array:
    """Network input of ``backprop_unet``: central ``N/2`` of ``O'``, real and imaginary parts.

    Parameters
    ----------
    X : (B, N, N, C) float
        Grouped diffraction amplitudes (channel format, ARCH-005).
    probe : (N, N) complex

    Returns
    -------
    (B, N/2, N/2, 2C) float32
        Channels ``[Re O'_1 .. Re O'_C, Im O'_1 .. Im O'_C]``, rows/columns ``N/4 .. 3N/4 - 1``.
    """
    x = np.asarray(X)
    if x.ndim != 4 or x.shape[1] != x.shape[2]:
        raise ValueError(f"X must have shape (B, N, N, C), got {x.shape}")
    n = x.shape[1]
    q = n // 4
    estimate = backproject(np.moveaxis(x, -1, 1), probe, reg)  # (B, C, N, N)
    core = estimate[:, :, q : q + n // 2, q : q + n // 2]
    features = np.concatenate([core.real, core.imag], axis=1)
    return np.moveaxis(features, 1, -1).astype(np.float32)
