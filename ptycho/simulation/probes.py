"""Simulated probes with a non-trivial phase, and the probe diameter that sets the scan overlap.

``'disk'`` is the default probe of :mod:`ptycho.probe` (a smoothed disk of radius about
``0.17 N``) times a defocus phase ``exp(i a r^2)`` (1.5 pi rad at the disk edge) plus small
seeded astigmatism; ``'zone_plate'`` is the defocused focus of an annular pupil (a zone plate
with a central stop), i.e. ``IFFT(annulus * exp(i b k^2))``, about ``0.35 N`` across.
:func:`simulate_probe` returns the ``(N, N)`` shape with peak amplitude 1;
:func:`ptycho.simulation.datasets.simulate_dataset` scales it into photon units.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
from scipy import ndimage

from ptycho.array_types import Complex64Array, ComplexArray
from ptycho.probe import default_probe
from ptycho.simulation.seeds import SeedLike, generator

__all__ = ["probe_diameter_px", "simulate_probe"]


def simulate_probe(
    N: int,
    kind: Literal["disk", "zone_plate"] = "disk",
    seed: SeedLike | np.random.Generator = 0,
) -> Complex64Array:
    """Illumination with a non-trivial phase, peak amplitude 1.

    * ``'disk'``: :func:`ptycho.probe.default_probe` (smoothed disk, radius ~0.17 N) times
      ``exp(i (1.5 pi (r / r_edge)^2 + astig))``: a defocus of 1.5 pi rad at the disk edge
      ``r_edge = 0.17 N`` plus seeded astigmatism ``a1 (u^2 - v^2) + a2 (2 u v)`` with
      ``a1, a2 ~ N(0, 0.3)`` rad at the edge.
    * ``'zone_plate'``: the inverse FFT of an annular pupil (outer radius N/4, inner radius
      0.4 of it, edges softened over 1 px) with a pupil defocus phase of ``0.175 pi R`` rad at the
      outer radius ``R``, which spreads the focus to a disk about ``0.35 N`` across with a bright
      rim and Fresnel fringes, centred on pixel ``(N/2, N/2)``; the seed adds a small random
      astigmatism (``N(0, 0.5)`` rad at the pupil edge).

    The result is divided by ``max |P|``; :func:`simulate_dataset` rescales it to photon units.

    Parameters
    ----------
    N : int
        Probe side (even, >= 16).
    kind : {'disk', 'zone_plate'}
    seed : int, SeedSequence or Generator

    Returns
    -------
    (N, N) complex64
    """
    if int(N) != N or N < 16 or N % 2:
        raise ValueError(f"N must be an even integer >= 16, got {N!r}")
    n = int(N)
    rng = generator(seed)
    a1, a2 = rng.normal(0.0, 1.0, 2)
    if kind == "disk":
        base = default_probe(n).astype(np.complex128)
        centre = (n - 1) / 2.0  # the default probe's disk is symmetric about (N-1)/2
        r_edge = 0.17 * n
        v, u = np.mgrid[0:n, 0:n].astype(np.float64)
        u = (u - centre) / r_edge
        v = (v - centre) / r_edge
        phase = 1.5 * np.pi * (u * u + v * v) + 0.3 * (a1 * (u * u - v * v) + a2 * 2.0 * u * v)
        probe = base * np.exp(1j * phase)
    elif kind == "zone_plate":
        outer = n / 4.0
        inner = 0.4 * outer
        kv, ku = np.mgrid[0:n, 0:n].astype(np.float64) - n / 2.0
        kr = np.sqrt(ku * ku + kv * kv)
        pupil = 0.25 * (1.0 - np.tanh((kr - outer) / 0.5)) * (1.0 + np.tanh((kr - inner) / 0.5))
        un = ku / outer
        vn = kv / outer
        alpha = 0.175 * np.pi * outer
        phase = alpha * (un * un + vn * vn) + 0.5 * (a1 * (un * un - vn * vn) + a2 * 2 * un * vn)
        field_k = pupil * np.exp(1j * phase)
        probe = np.fft.fftshift(np.fft.ifft2(np.fft.ifftshift(field_k)))
    else:
        raise ValueError(f"probe kind must be 'disk' or 'zone_plate', got {kind!r}")
    probe = probe / np.max(np.abs(probe))
    peak_one: ComplexArray = probe
    return peak_one.astype(np.complex64)


def probe_diameter_px(probe: ComplexArray) -> float:
    """Probe diameter used for the overlap: equal-area diameter of ``|P| >= max|P| / 2``.

    The thresholded region's holes are filled (a zone-plate focus can be dark in the centre), and
    ``D = 2 sqrt(area / pi)``.

    Parameters
    ----------
    probe : (N, N) complex

    Returns
    -------
    float
        Diameter in pixels.
    """
    amp = np.abs(np.asarray(probe))
    if amp.ndim != 2 or amp.max() <= 0:
        raise ValueError(f"probe must be a non-zero (N, N) array, got shape {amp.shape}")
    region = ndimage.binary_fill_holes(amp >= 0.5 * amp.max())
    return float(2.0 * math.sqrt(float(np.count_nonzero(region)) / math.pi))
