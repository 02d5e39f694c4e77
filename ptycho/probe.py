"""Probe handling: shape checks, the central-disk mask, normalisation and the default probe.

This module owns the probe conventions of ``specs/data_contracts.md`` (DATA-004, DATA-015,
DATA-016) and ``specs/architecture.md`` ARCH-008:

* probes arrive as ``(N, N)``, ``(N, N, 1)`` or ``(modes, N, N)``; the model uses the **first
  mode** (:func:`as_probe_modes`, :func:`first_mode`);
* :func:`probe_mask` is the disk of radius ``N/4`` centred at ``(N/2 - 0.5, N/2 - 0.5)``;
* :func:`normalize_probe` divides by ``probe_scale * mean_NxN |mask * P|``;
* :func:`default_probe` is the smoothed-disk fallback probe;
* :func:`set_probe_guess` and :func:`get_default_probe` are legacy entry points for external
  callers (Ptychodus's built-in client). ``set_probe_guess`` is the only function here that
  touches the legacy dictionary ``ptycho.params.cfg``; nothing else in the package reads it.
"""

from __future__ import annotations

import logging

import numpy as np

from ptycho.array_types import (
    AnyArray,
    Complex64Array,
    Float32Array,
    Float64Array,
    FloatArray,
    InexactArray,
)

__all__ = [
    "as_probe_modes",
    "default_probe",
    "estimate_gaussian_probe",
    "first_mode",
    "get_default_probe",
    "normalize_probe",
    "probe_mask",
    "set_probe_guess",
]

logger = logging.getLogger(__name__)

#: Scale of the default probe's Gaussian window, std = N / (DEFAULT_PROBE_SCALE * pi**2).
DEFAULT_PROBE_SCALE = 0.7


def as_probe_modes(
    probe: AnyArray, N: int | None = None, name: str = "probeGuess"
) -> Complex64Array:
    """Return a probe as ``(modes, N, N)`` complex64.

    Parameters
    ----------
    probe : (N, N), (N, N, 1) or (modes, N, N) complex
        Probe on the detector-sized object-pixel grid. A trailing singleton axis is the legacy
        TensorFlow layout; a leading axis is the mode axis (Ptychodus passes ``(modes, N, N)``).
    N : int, optional
        Expected side; a different side raises ``ValueError``.
    name : str
        Name used in error messages.

    Returns
    -------
    (modes, N, N) complex64
    """
    arr = np.asarray(probe)
    if not np.issubdtype(arr.dtype, np.number):
        raise ValueError(f"{name} must be a numeric (complex) array, got dtype {arr.dtype}")
    if arr.ndim == 2:
        modes = arr[None]
    elif arr.ndim == 3 and arr.shape[2] == 1 and arr.shape[0] == arr.shape[1] and arr.shape[0] > 1:
        modes = np.moveaxis(arr, 2, 0)
    elif arr.ndim == 3:
        modes = arr
    else:
        raise ValueError(
            f"{name} must have shape (N, N), (N, N, 1) or (modes, N, N), got {arr.shape}"
        )
    if modes.shape[0] < 1 or modes.shape[1] != modes.shape[2]:
        raise ValueError(
            f"{name} must be square with shape (N, N), (N, N, 1) or (modes, N, N), got {arr.shape}"
        )
    if N is not None and modes.shape[1] != N:
        raise ValueError(
            f"{name} is {modes.shape[1]}x{modes.shape[2]} but the diffraction patterns are "
            f"{N}x{N}; the probe must be sampled on the N x N detector-sized grid"
        )
    modes = modes.astype(np.complex64)
    if not np.all(np.isfinite(modes)):
        raise ValueError(f"{name} contains NaN/Inf values; provide a finite probe")
    return modes


def first_mode(probe: AnyArray, N: int | None = None, name: str = "probe") -> Complex64Array:
    """Return the first (dominant) mode of a probe as ``(N, N)`` complex64.

    Multi-mode probes ``(modes, N, N)`` are reduced to ``probe[0]``: the model is a single-mode
    forward model (ARCH-008); the other modes are kept only as data (``RawData.probe_modes``).
    """
    first: Complex64Array = as_probe_modes(probe, N=N, name=name)[0]
    return first


def probe_mask(N: int) -> Float32Array:
    """Disk mask of radius ``N/4`` centred at ``(N/2 - 0.5, N/2 - 0.5)`` (strict ``<``).

    Parameters
    ----------
    N : int
        Probe side in pixels.

    Returns
    -------
    (N, N) float32
        1 inside the disk, 0 outside (ARCH-008).
    """
    if int(N) != N or N < 1:
        raise ValueError(f"N must be a positive integer, got {N!r}")
    idx = np.arange(int(N), dtype=np.float64) - (N / 2.0 - 0.5)
    r = np.sqrt(idx[:, None] ** 2 + idx[None, :] ** 2)
    return (r < N / 4.0).astype(np.float32)


def normalize_probe(probe: AnyArray, probe_scale: float = 4.0) -> Complex64Array:
    """Normalise a probe so that ``mean_NxN |mask * P| = 1 / probe_scale`` (ARCH-008).

    Parameters
    ----------
    probe : (N, N), (N, N, 1) or (modes, N, N) complex
        Unnormalised probe. A multi-mode probe uses its **first mode**.
    probe_scale : float
        Positive scale; 4.0 is the dataclass default (the legacy value was 10).

    Returns
    -------
    (N, N) complex64
        ``P / (probe_scale * mean_NxN |mask * P|)``, computed in float64/complex128.
    """
    if not np.isfinite(probe_scale) or probe_scale <= 0:
        raise ValueError(f"probe_scale must be a positive finite number, got {probe_scale!r}")
    p = first_mode(probe).astype(np.complex128)
    n = p.shape[0]
    norm = float(probe_scale) * float(np.mean(np.abs(probe_mask(n) * p)))
    if norm <= 0.0:
        raise ValueError(
            f"the probe is zero inside the central disk of radius {n / 4:g} px, so it cannot be "
            "normalised; check that the probe is centred in its N x N array"
        )
    return (p / norm).astype(np.complex64)


def default_probe(N: int) -> Complex64Array:
    """Smoothed-disk default probe (zero phase, maximum about 1).

    A 1-D Gaussian window with ``std = N / (0.7 pi^2)`` (divided by its maximum) is turned into a
    2-D disk by thresholding its outer product at 0.5 (radius about 0.17 N), blurred with a
    Gaussian of sigma 1 px, and offset by 1e-9.

    Parameters
    ----------
    N : int
        Probe side in pixels.

    Returns
    -------
    (N, N) complex64
    """
    from scipy.ndimage import gaussian_filter
    from scipy.signal.windows import gaussian

    if int(N) != N or N < 2:
        raise ValueError(f"N must be an integer >= 2, got {N!r}")
    n = int(N)
    w = gaussian(n, std=n / (DEFAULT_PROBE_SCALE * np.pi**2), sym=True)
    w = w / w.max()
    disk = (np.outer(w, w) > 0.5).astype(np.float64)
    probe: Float64Array = gaussian_filter(disk, sigma=1.0) + 1e-9
    return probe.astype(np.complex64)


def get_default_probe(N: int, fmt: str = "np") -> InexactArray:
    """Legacy accessor of :func:`default_probe`.

    Parameters
    ----------
    N : int
        Probe side.
    fmt : {'np', 'tf'}
        ``'np'``: real ``(N, N)`` float64 (as the original); ``'tf'``: ``(N, N, 1)`` complex64
        NumPy array (no TensorFlow import).
    """
    p = default_probe(N)
    if fmt == "np":
        return p.real.astype(np.float64)
    if fmt == "tf":
        return p[..., None]
    raise ValueError(f"fmt must be 'np' or 'tf', got {fmt!r}")


def estimate_gaussian_probe(X: FloatArray) -> Complex64Array:
    """Estimate a Gaussian probe from diffraction amplitudes (used when no probe is known).

    The mean pattern is inverse-Fourier transformed (with shifts); the magnitude along the
    centre row, normalised to sum 1, gives a second moment ``sigma^2`` about ``N/2``. The probe
    is ``exp(-r^2 / (2 sigma^2)) + 1e-9`` about ``(N/2, N/2)``, multiplied by :func:`probe_mask`
    and rescaled so its sum matches the default probe's.

    Parameters
    ----------
    X : (B, N, N, C), (M, N, N) or (N, N) float
        Diffraction amplitudes (channel format, stack, or one pattern).

    Returns
    -------
    (N, N) complex64
        Unnormalised probe estimate.
    """
    arr = np.asarray(X, dtype=np.float64)
    if arr.ndim == 4:
        mean = arr.mean(axis=(0, 3))
    elif arr.ndim == 3:
        mean = arr.mean(axis=0)
    elif arr.ndim == 2:
        mean = arr
    else:
        raise ValueError(
            f"X_train must have shape (B, N, N, C), (M, N, N) or (N, N), got {arr.shape}"
        )
    if mean.shape[0] != mean.shape[1]:
        raise ValueError(
            f"diffraction patterns must be square, got {mean.shape[0]}x{mean.shape[1]}"
        )
    if not np.all(np.isfinite(mean)):
        raise ValueError("X_train contains NaN/Inf values; cannot estimate a probe")
    n = mean.shape[0]
    real_space = np.abs(np.fft.fftshift(np.fft.ifft2(np.fft.ifftshift(mean))))
    row = real_space[n // 2, :]
    total = row.sum()
    if total <= 0:
        raise ValueError("X_train is all zero; cannot estimate a probe from it")
    p_hat = row / total
    k = np.arange(n, dtype=np.float64) - n / 2.0
    sigma2 = float(np.sum(p_hat * k**2))
    sigma2 = max(sigma2, 1e-6)
    r2 = k[:, None] ** 2 + k[None, :] ** 2
    probe: FloatArray = (np.exp(-r2 / (2.0 * sigma2)) + 1e-9) * probe_mask(n)
    target = float(np.sum(np.abs(default_probe(n))))
    probe = probe * (target / float(np.sum(probe)))
    return probe.astype(np.complex64)


def set_probe_guess(
    X_train: FloatArray | None = None,
    probe_guess: AnyArray | None = None,
    probe_scale: float | None = None,
) -> Complex64Array:
    """Legacy: store the normalised probe in ``ptycho.params.cfg['probe']``.

    For external callers only (Ptychodus's built-in client calls
    ``set_probe_guess(None, raw.probeGuess)``); our own modules pass probes explicitly.

    Parameters
    ----------
    X_train : (B, N, N, C) or (M, N, N) float, optional
        Diffraction amplitudes, used to estimate a Gaussian probe when ``probe_guess`` is None.
    probe_guess : (N, N), (N, N, 1) or (modes, N, N) complex, optional
        Probe guess; a multi-mode probe uses its first mode.
    probe_scale : float, optional
        Normalisation scale; defaults to ``ptycho.params.cfg['probe_scale']`` when set there
        (the legacy contract: the caller ran ``update_legacy_dict`` first), else 4.0.

    Returns
    -------
    (N, N, 1) complex64
        The **unnormalised** probe (first mode). ``cfg['probe']`` receives the normalised probe
        as ``(N, N, 1)`` complex64.
    """
    from ptycho import params  # lazy: legacy global dictionary

    if probe_guess is not None:
        probe = first_mode(probe_guess, name="probe_guess")
    elif X_train is not None:
        probe = estimate_gaussian_probe(X_train)
    else:
        raise ValueError(
            "set_probe_guess needs a probe_guess or X_train (diffraction amplitudes) to estimate "
            "a probe from"
        )
    if probe_scale is None:
        probe_scale = float(params.cfg.get("probe_scale", 4.0) or 4.0)
    params.cfg["probe"] = normalize_probe(probe, probe_scale)[..., None]
    logger.debug("stored a normalised %dx%d probe in ptycho.params.cfg['probe']", *probe.shape)
    return probe[..., None]
