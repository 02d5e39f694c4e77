"""Seeded far-field ptychography simulator: the embedded default data (design D11).

This module owns the synthetic object, probe and scan generators and :func:`simulate_dataset`,
which turns them into a :class:`~ptycho.raw_data.RawData` with ground truth:

1. **Object** (:func:`simulate_object`): a structured complex transmission with amplitude in
   ``[0.3, 1.0]`` and phase in ``[-1, 1]`` rad. It combines the "lines" recipe of the original
   PtychoPINN (random one-pixel segments on a canvas twice the size, blurred with
   ``G_1 + 2 G_5 + 5 G_10``, centre crop; drawn here vectorised and seeded) with smooth random
   blobs and a few larger soft-edged disks. The lines are shared by amplitude and phase (they
   absorb and shift the phase, like material would); blobs and disks are drawn independently for
   each, so the phase is not a function of the amplitude.
2. **Probe** (:func:`simulate_probe`): ``'disk'`` is the default probe of :mod:`ptycho.probe`
   (a smoothed disk of radius about ``0.17 N``) times a defocus phase ``exp(i a r^2)`` (1.5 pi
   rad at the disk edge) plus small seeded astigmatism; ``'zone_plate'`` is the defocused focus
   of an annular pupil (a zone plate with a central stop), i.e. ``IFFT(annulus * exp(i b k^2))``,
   about ``0.35 N`` across. :func:`simulate_probe` returns the shape with peak amplitude 1;
   :func:`simulate_dataset` scales it into photon units (see 4.).
3. **Scan** (:func:`raster_scan`, :func:`spiral_scan`): positions with step
   ``step = (1 - overlap) * D`` for a linear overlap ``overlap`` (default 0.7), where ``D`` is the
   probe diameter of :func:`probe_diameter_px` (equal-area diameter of the region where
   ``|P| >= max|P| / 2``, holes filled) and the step is the grid pitch (raster) or the median
   nearest-neighbour distance (Fermat spiral). Seeded Gaussian jitter (``jitter_px`` standard
   deviation) breaks the raster periodicity.
4. **Diffraction**: ground-truth patches ``Y = extract_patches(object, x, y, N)`` (ARCH-004),
   exit waves ``P * Y``, far-field amplitude (ARCH-006). The probe is scaled so that the
   expected counts ``|FFT(P * Y)|^2`` (orthonormal) average ``nphotons`` per pattern over the
   dataset, i.e. ``|P|^2`` is in photons per pixel per exposure, consistent with the counts.
   Counts are Poisson draws; ``diff3d = sqrt(counts)`` (amplitude in count units, ARCH-001).

Everything is vectorised (no Python loop over positions) and seeded: one integer seed is split
with :class:`numpy.random.SeedSequence` into independent streams for object, probe, scan and
noise, so the same seed gives byte-identical outputs (ARCH-011).

Train/test: :func:`simulate_train_test` simulates two datasets with the **same probe** and scan
statistics on **two different objects** (independent object seeds) with independent noise, so
the test object has never been seen in training and each dataset carries its own complete
ground truth. :func:`split_by_region` instead splits one scan into two spatial regions of the
same object separated by a gap of ``N`` pixels, so that no training patch shares a pixel with a
test patch.
"""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
from scipy import ndimage

from ptycho.array_types import (
    AnyArray,
    BoolArray,
    Complex64Array,
    ComplexArray,
    Float64Array,
    FloatArray,
    IntArray,
)
from ptycho.atomic import atomic_savez
from ptycho.physics.forward import far_field_amplitude, illuminate
from ptycho.physics.noise import poisson_counts
from ptycho.physics.shift import extract_patches
from ptycho.probe import default_probe
from ptycho.raw_data import LAYOUT_KEY, RawData

__all__ = [
    "DEFAULT_OVERLAP",
    "OBJECT_FAMILIES",
    "SimulatedDataset",
    "probe_diameter_px",
    "raster_scan",
    "save_npz",
    "simulate_dataset",
    "simulate_object",
    "simulate_probe",
    "simulate_train_test",
    "spiral_scan",
    "split_by_region",
]

logger = logging.getLogger(__name__)

#: ``simulate_object`` families; the first is the default.
OBJECT_FAMILIES: tuple[str, ...] = ("mixed", "grains", "siemens")
#: Default linear overlap ``1 - step / probe_diameter``.
DEFAULT_OVERLAP = 0.7
#: Default number of scan positions of :func:`simulate_dataset`.
DEFAULT_N_POSITIONS = 1024

SeedLike = int | np.random.SeedSequence


def _seed_sequence(seed: SeedLike, what: str = "seed") -> np.random.SeedSequence:
    if isinstance(seed, np.random.SeedSequence):
        return seed
    if isinstance(seed, (int, np.integer)) and not isinstance(seed, bool) and seed >= 0:
        return np.random.SeedSequence(int(seed))
    raise ValueError(
        f"{what} must be a non-negative integer (or a numpy SeedSequence), got {seed!r}; "
        "every simulation is seeded explicitly (ARCH-011)"
    )


def _children(seed: SeedLike, count: int) -> list[np.random.SeedSequence]:
    """``count`` independent child sequences, without mutating a given SeedSequence (so passing
    the same SeedSequence twice gives the same streams, unlike ``SeedSequence.spawn``)."""
    ss = _seed_sequence(seed)
    return [
        np.random.SeedSequence(ss.entropy, spawn_key=(*ss.spawn_key, i), pool_size=ss.pool_size)
        for i in range(count)
    ]


def _generator(seed: SeedLike | np.random.Generator, what: str = "seed") -> np.random.Generator:
    if isinstance(seed, np.random.Generator):
        return seed
    return np.random.default_rng(_seed_sequence(seed, what))


def _normalise01(img: FloatArray) -> FloatArray:
    lo = float(img.min())
    hi = float(img.max())
    if hi - lo <= 0:
        return np.zeros_like(img)
    return (img - lo) / (hi - lo)


# --------------------------------------------------------------------------------------------
# Object
# --------------------------------------------------------------------------------------------


def _lines_image(height: int, width: int, rng: np.random.Generator) -> FloatArray:
    """The "lines" texture: random segments on a 2x canvas, 3-scale blur, centre crop.

    Line density follows the original recipe (400 segments on a 448 x 448 canvas).
    """
    ch, cw = 2 * height, 2 * width
    n_lines = max(8, round(400 * (ch * cw) / (448.0 * 448.0)))
    ends = rng.uniform(0.0, 1.0, size=(n_lines, 4)) * np.array([ch - 1, cw - 1, ch - 1, cw - 1])
    n_samples = 2 * max(ch, cw)
    t = np.linspace(0.0, 1.0, n_samples)[None, :]
    rows = np.rint(ends[:, :1] + t * (ends[:, 2:3] - ends[:, :1])).astype(np.int64)
    cols = np.rint(ends[:, 1:2] + t * (ends[:, 3:4] - ends[:, 1:2])).astype(np.int64)
    canvas = np.zeros((ch, cw), dtype=np.float64)
    canvas[rows.ravel(), cols.ravel()] = 1.0
    img = (
        ndimage.gaussian_filter(canvas, 1.0)
        + 2.0 * ndimage.gaussian_filter(canvas, 5.0)
        + 5.0 * ndimage.gaussian_filter(canvas, 10.0)
    )
    r0 = (ch - height) // 2
    c0 = (cw - width) // 2
    crop: FloatArray = img[r0 : r0 + height, c0 : c0 + width]
    return crop


def _blobs(height: int, width: int, rng: np.random.Generator) -> FloatArray:
    """Smooth random field: white noise blurred with sigma = min(H, W) / 12."""
    noise = rng.standard_normal((height, width))
    field: FloatArray = ndimage.gaussian_filter(
        noise, max(1.0, min(height, width) / 12.0), mode="wrap"
    )
    return field


def _disks(height: int, width: int, rng: np.random.Generator, count: int) -> FloatArray:
    """Sum of ``count`` soft-edged disks of random centre, radius and signed weight."""
    rr = np.arange(height, dtype=np.float64)[None, :, None]
    cc = np.arange(width, dtype=np.float64)[None, None, :]
    size = min(height, width)
    cy = rng.uniform(0.1, 0.9, count)[:, None, None] * height
    cx = rng.uniform(0.1, 0.9, count)[:, None, None] * width
    radius = rng.uniform(0.04, 0.12, count)[:, None, None] * size
    weight = (
        rng.choice([-1.0, 1.0], count)[:, None, None] * rng.uniform(0.5, 1.0, count)[:, None, None]
    )
    dist = np.sqrt((rr - cy) ** 2 + (cc - cx) ** 2)
    disks: FloatArray = np.sum(weight * 0.5 * (1.0 - np.tanh((dist - radius) / 1.5)), axis=0)
    return disks


def _grains(height: int, width: int, rng: np.random.Generator) -> Complex64Array:
    """Voronoi polycrystal: per-cell amplitude and phase, edges softened by a 1 px blur."""
    cell = 12.0
    count = max(4, round(height * width / (cell * cell)))
    centres = rng.uniform(0.0, 1.0, size=(count, 2)) * np.array([height, width])
    from scipy.spatial import cKDTree

    rows, cols = np.mgrid[0:height, 0:width]
    _, label = cKDTree(centres).query(np.stack([rows.ravel(), cols.ravel()], axis=1))
    label = label.reshape(height, width)
    amp = rng.uniform(0.4, 1.0, count)[label]
    phase = rng.uniform(-1.0, 1.0, count)[label]
    amp = ndimage.gaussian_filter(amp, 0.7)
    phase = ndimage.gaussian_filter(phase, 0.7)
    obj: ComplexArray = amp * np.exp(1j * phase)
    return obj.astype(np.complex64)


def _siemens_star(height: int, width: int, rng: np.random.Generator) -> Complex64Array:
    """Siemens star with a random spoke count and a weak smooth background."""
    spokes = int(rng.integers(16, 41))
    rows, cols = np.mgrid[0:height, 0:width].astype(np.float64)
    cy = height / 2.0 + rng.uniform(-0.05, 0.05) * height
    cx = width / 2.0 + rng.uniform(-0.05, 0.05) * width
    radius = np.hypot(rows - cy, cols - cx)
    angle = np.arctan2(rows - cy, cols - cx) + rng.uniform(0.0, 2.0 * np.pi)
    outer = 0.45 * min(height, width)
    inside = 0.5 * (1.0 - np.tanh((radius - outer) / 1.0))
    centre = 0.5 * (1.0 - np.tanh((radius - 0.06 * outer) / 1.0))
    spoke = 0.5 * (1.0 + np.tanh(3.0 * np.sin(spokes * angle)))
    material = np.clip(inside * spoke + centre, 0.0, 1.0)
    material = ndimage.gaussian_filter(material, 0.6)
    background = 0.1 * _normalise01(_blobs(height, width, rng))
    amp = 1.0 - 0.4 * material - background
    phase = 0.8 * material + background
    obj: ComplexArray = amp * np.exp(1j * phase)
    return obj.astype(np.complex64)


def simulate_object(
    size_px: int | tuple[int, int],
    seed: SeedLike | np.random.Generator = 0,
    family: str = "mixed",
) -> Complex64Array:
    """Structured complex test object with amplitude and phase.

    Families (:data:`OBJECT_FAMILIES`):

    * ``'mixed'`` (default): ``amp = 1 - 0.7 * norm(0.6 L + 0.25 B_a + 0.15 D_a)`` in
      ``[0.3, 1.0]`` and ``phase = 2 * norm(0.5 L + 0.3 B_p + 0.4 D_p) - 1`` in ``[-1, 1]`` rad,
      where ``L`` is the lines texture, ``B`` smooth random blobs, ``D`` soft-edged disks
      (independent draws for amp and phase) and ``norm`` maps to ``[0, 1]`` by min/max.
    * ``'grains'``: a polycrystal: Voronoi cells (mean cell diameter about 12 px) with edges
      softened over about 1 px, each with its own amplitude in ``[0.4, 1.0]`` and phase in
      ``[-1, 1]`` rad (independent); no lines, no smooth blobs.
    * ``'siemens'``: a Siemens star (16 to 40 spokes, centred, outer radius 0.45 of the smaller
      side, a solid central disk) of amplitude 0.6 and phase 0.8 rad on 1.0 / 0 rad, with a weak
      smooth background: a test pattern like the real scan of ``../shared/data``.

    Parameters
    ----------
    size_px : int or (H, W)
        Object shape (at least 8 px each way).
    seed : int, SeedSequence or Generator
        Randomness; the same seed gives the same object.
    family : str
        One of :data:`OBJECT_FAMILIES`.

    Returns
    -------
    (H, W) complex64
    """
    if isinstance(size_px, (int, np.integer)):
        height = width = int(size_px)
    else:
        height, width = (int(s) for s in size_px)
    if height < 8 or width < 8:
        raise ValueError(f"object size must be at least 8 x 8 pixels, got {height} x {width}")
    if family not in OBJECT_FAMILIES:
        raise ValueError(
            f"object family must be one of {', '.join(OBJECT_FAMILIES)}, got {family!r}"
        )
    rng = _generator(seed)
    if family == "grains":
        return _grains(height, width, rng)
    if family == "siemens":
        return _siemens_star(height, width, rng)
    lines = _normalise01(_lines_image(height, width, rng))
    n_disks = int(rng.integers(4, 8))
    amp_mix = (
        0.6 * lines
        + 0.25 * _normalise01(_blobs(height, width, rng))
        + 0.15 * _normalise01(_disks(height, width, rng, n_disks))
    )
    phase_mix = (
        0.5 * lines
        + 0.3 * _normalise01(_blobs(height, width, rng))
        + 0.4 * _normalise01(_disks(height, width, rng, n_disks))
    )
    amp = 1.0 - 0.7 * _normalise01(amp_mix)
    phase = 2.0 * _normalise01(phase_mix) - 1.0
    obj: ComplexArray = amp * np.exp(1j * phase)
    return obj.astype(np.complex64)


# --------------------------------------------------------------------------------------------
# Probe
# --------------------------------------------------------------------------------------------


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
    rng = _generator(seed)
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


# --------------------------------------------------------------------------------------------
# Scans
# --------------------------------------------------------------------------------------------


def _check_scan_args(n_positions: int, step_px: float, jitter_px: float) -> None:
    if int(n_positions) != n_positions or n_positions < 1:
        raise ValueError(f"n_positions must be a positive integer, got {n_positions!r}")
    if not (math.isfinite(step_px) and step_px > 0):
        raise ValueError(f"step_px must be a positive number of pixels, got {step_px!r}")
    if not (math.isfinite(jitter_px) and jitter_px >= 0):
        raise ValueError(f"jitter_px must be >= 0, got {jitter_px!r}")


def raster_scan(
    n_positions: int,
    step_px: float,
    *,
    jitter_px: float = 0.0,
    seed: SeedLike | np.random.Generator = 0,
) -> Float64Array:
    """Raster scan on a square-ish grid with pitch ``step_px``, centred on (0, 0).

    The grid has ``ceil(sqrt(n))`` columns and as many rows as needed; positions are taken in
    row-major order (the last row may be partial). The grid's bounding box is centred on the
    origin, then Gaussian jitter of standard deviation ``jitter_px`` is added to x and y.
    Linear overlap for a probe of diameter ``D`` is ``1 - step_px / D``.

    Parameters
    ----------
    n_positions : int
    step_px : float
        Grid pitch in pixels.
    jitter_px : float
        Standard deviation of the positional jitter in pixels.
    seed : int, SeedSequence or Generator
        Jitter randomness.

    Returns
    -------
    (n_positions, 2) float64
        Columns ``[x, y]`` (object pixels relative to the scan centre).
    """
    _check_scan_args(n_positions, step_px, jitter_px)
    n = int(n_positions)
    ncols = math.ceil(math.sqrt(n))
    nrows = math.ceil(n / ncols)
    k = np.arange(n)
    x = (k % ncols - (ncols - 1) / 2.0) * step_px
    y = (k // ncols - (nrows - 1) / 2.0) * step_px
    pos = np.stack([x, y], axis=1).astype(np.float64)
    if jitter_px > 0:
        pos = pos + _generator(seed).normal(0.0, jitter_px, size=pos.shape)
    return pos


def spiral_scan(
    n_positions: int,
    step_px: float,
    *,
    jitter_px: float = 0.0,
    seed: SeedLike | np.random.Generator = 0,
) -> Float64Array:
    """Fermat-spiral scan centred on (0, 0) whose median nearest-neighbour distance is ``step_px``.

    Point ``k`` sits at radius ``c sqrt(k + 0.5)`` and angle ``k * pi (3 - sqrt(5))`` (the golden
    angle); ``c`` is chosen so that the median nearest-neighbour distance equals ``step_px``
    (measured on the generated points, so the statement is exact). Gaussian jitter of standard
    deviation ``jitter_px`` is then added. Linear overlap for a probe of diameter ``D`` is
    ``1 - step_px / D``.

    Returns
    -------
    (n_positions, 2) float64
        Columns ``[x, y]``.
    """
    _check_scan_args(n_positions, step_px, jitter_px)
    n = int(n_positions)
    k = np.arange(n, dtype=np.float64)
    r = np.sqrt(k + 0.5)
    theta = k * math.pi * (3.0 - math.sqrt(5.0))
    pos = np.stack([r * np.cos(theta), r * np.sin(theta)], axis=1)
    if n > 1:
        from scipy.spatial import cKDTree

        dist, _ = cKDTree(pos).query(pos, k=2)
        pos = pos * (step_px / float(np.median(dist[:, 1])))
    if jitter_px > 0:
        pos = pos + _generator(seed).normal(0.0, jitter_px, size=pos.shape)
    return pos


# --------------------------------------------------------------------------------------------
# Dataset
# --------------------------------------------------------------------------------------------


@dataclass
class SimulatedDataset:
    """A simulated scan with its ground truth.

    Attributes
    ----------
    raw : RawData
        ``diff3d`` (M, N, N) float32 noisy amplitude ``sqrt(counts)``; ``xcoords``/``ycoords``
        true positions (object px, ARCH-002; the start coordinates are the same);
        ``probeGuess`` the true probe (photon units); ``objectGuess`` the ground-truth object;
        ``Y`` (M, N, N) complex64 ground-truth object patches at each position.
    object : (H, W) complex64
        Ground-truth object (same array as ``raw.objectGuess``).
    probe : (N, N) complex64
        True probe, scaled so that ``|FFT_ortho(probe * Y)|^2`` averages ``nphotons`` counts
        per pattern.
    positions_px : (M, 2) float64
        ``[x, y]`` object-pixel positions (same as ``raw.xcoords``/``raw.ycoords``).
    counts : (M, N, N) int32 or None
        The Poisson counts (``raw.diff3d == sqrt(counts)``).
    nphotons : float
        Requested dataset-mean expected counts per pattern.
    seed : int or None
        The integer seed, when one was given.
    info : dict
        JSON-safe simulation parameters (N, n_positions, probe kind, scan, step, overlap,
        probe diameter, jitter, object shape, mean counts, ...).
    """

    raw: RawData
    object: Complex64Array
    probe: Complex64Array
    positions_px: Float64Array
    counts: IntArray | None = None
    nphotons: float = 1e6
    seed: int | None = None
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def N(self) -> int:
        """Pattern side in pixels."""
        return int(self.raw.N)

    def __len__(self) -> int:
        return len(self.raw)


def _dataset_from_arrays(
    obj: ComplexArray,
    probe_shape: ComplexArray,
    x: FloatArray,
    y: FloatArray,
    nphotons: float,
    noise_rng: np.random.Generator,
) -> tuple[RawData, Complex64Array, IntArray]:
    """Forward simulation: returns (raw, scaled probe, counts)."""
    n = probe_shape.shape[0]
    patches = extract_patches(obj, x, y, n).astype(np.complex64)  # (M, N, N)
    amp = far_field_amplitude(illuminate(patches, probe_shape)).astype(np.float64)
    mean_energy = float(np.mean(np.sum(amp * amp, axis=(1, 2))))
    if not mean_energy > 0:
        raise ValueError("the simulated exit waves carry no energy; check the probe and object")
    scale = math.sqrt(nphotons / mean_energy)
    probe = (probe_shape.astype(np.complex128) * scale).astype(np.complex64)
    counts64 = poisson_counts((scale * amp) ** 2, noise_rng)
    counts = counts64.astype(np.int32)
    diff = np.sqrt(counts64.astype(np.float64)).astype(np.float32)
    raw = RawData(
        x,
        y,
        None,
        None,
        diff,
        probe,
        np.zeros(x.size, dtype=np.int64),
        objectGuess=obj,
        Y=patches,
    )
    return raw, probe, counts


def simulate_dataset(
    N: int = 64,
    n_positions: int = DEFAULT_N_POSITIONS,
    nphotons: float = 1e6,
    seed: SeedLike = 0,
    object_size: int | tuple[int, int] | None = None,
    probe_kind: Literal["disk", "zone_plate"] = "disk",
    scan: Literal["raster", "spiral"] = "raster",
    jitter_px: float = 0.5,
    overlap: float = DEFAULT_OVERLAP,
    step_px: float | None = None,
    probe: ComplexArray | None = None,
    keep_counts: bool = True,
    object_family: str = "mixed",
) -> SimulatedDataset:
    """Simulate a noisy far-field ptychography scan with ground truth.

    Parameters
    ----------
    N : int
        Pattern (and probe) side in pixels, even, >= 16 (the models support 64, 128, 256).
    n_positions : int
        Number of scan positions.
    nphotons : float
        Dataset-mean expected counts per pattern (> 0).
    seed : int or SeedSequence
        Master seed; split into object, probe, scan-jitter and noise streams.
    object_size : int or (H, W), optional
        Object shape. Default: the scan's extent plus ``N`` plus a jitter margin, so every patch
        lies fully on the object. A given size must be at least that large.
    probe_kind : {'disk', 'zone_plate'}
        See :func:`simulate_probe`.
    scan : {'raster', 'spiral'}
        See :func:`raster_scan`, :func:`spiral_scan`.
    jitter_px : float
        Positional jitter (standard deviation, px).
    overlap : float
        Linear overlap in ``[0, 1)``; ``step = (1 - overlap) * probe_diameter_px(probe)``.
    step_px : float, optional
        Explicit scan step (overrides ``overlap``).
    probe : (N, N) complex, optional
        Probe shape to use instead of :func:`simulate_probe` (it is rescaled to ``nphotons``).
    keep_counts : bool
        Keep the integer counts in ``.counts``.
    object_family : str
        Object family (:func:`simulate_object`).

    Returns
    -------
    SimulatedDataset

    Notes
    -----
    Positions are shifted so the scan's bounding box is centred on the object, and clipped to
    ``[N/2, W - N/2 - 1]`` (rows likewise) so the bilinear patch of every position lies fully on
    the object.
    """
    if int(N) != N or N < 16 or N % 2:
        raise ValueError(
            f"N must be an even integer >= 16 (64, 128 or 256 for the models), got {N!r}"
        )
    n = int(N)
    if not (math.isfinite(nphotons) and nphotons > 0):
        raise ValueError(f"nphotons must be a positive number, got {nphotons!r}")
    if not (0.0 <= overlap < 1.0):
        raise ValueError(f"overlap must be in [0, 1), got {overlap!r}")
    if scan not in ("raster", "spiral"):
        raise ValueError(f"scan must be 'raster' or 'spiral', got {scan!r}")
    if not (math.isfinite(jitter_px) and jitter_px >= 0):
        raise ValueError(f"jitter_px must be >= 0, got {jitter_px!r}")
    int_seed = int(seed) if isinstance(seed, (int, np.integer)) else None
    ss_obj, ss_probe, ss_scan, ss_noise = _children(seed, 4)

    if probe is None:
        probe_shape = simulate_probe(n, probe_kind, ss_probe)
    else:
        probe_shape = np.asarray(probe)
        if probe_shape.shape != (n, n):
            raise ValueError(
                f"probe must have shape ({n}, {n}) to match N, got {probe_shape.shape}"
            )
        if not np.all(np.isfinite(probe_shape)):
            raise ValueError("probe contains NaN/Inf values")
        probe_shape = (probe_shape / np.max(np.abs(probe_shape))).astype(np.complex64)
    diameter = probe_diameter_px(probe_shape)
    step = float(step_px) if step_px is not None else (1.0 - overlap) * diameter
    scan_fn = raster_scan if scan == "raster" else spiral_scan
    rel = scan_fn(n_positions, step, jitter_px=jitter_px, seed=ss_scan)

    lo = rel.min(axis=0)
    hi = rel.max(axis=0)
    extent = hi - lo  # [x, y]
    margin = 1.0
    need_w = math.ceil(extent[0] + n + 2 * margin)
    need_h = math.ceil(extent[1] + n + 2 * margin)
    if object_size is None:
        height, width = need_h, need_w
    else:
        if isinstance(object_size, (int, np.integer)):
            height = width = int(object_size)
        else:
            height, width = (int(s) for s in object_size)
        if height < need_h or width < need_w:
            raise ValueError(
                f"object_size {height} x {width} is too small for this scan: it needs at least "
                f"{need_h} x {need_w} px (scan extent {extent[1]:.1f} x {extent[0]:.1f} px plus "
                f"N={n}); enlarge object_size, reduce n_positions, or leave object_size=None"
            )
    # Centre the scan's bounding box on the object and keep every patch on it.
    x = rel[:, 0] - (lo[0] + hi[0]) / 2.0 + width / 2.0
    y = rel[:, 1] - (lo[1] + hi[1]) / 2.0 + height / 2.0
    x = np.clip(x, n / 2.0, width - n / 2.0 - 1.0)
    y = np.clip(y, n / 2.0, height - n / 2.0 - 1.0)

    obj = simulate_object((height, width), ss_obj, family=object_family)
    raw, probe_scaled, counts = _dataset_from_arrays(
        obj, probe_shape, x, y, float(nphotons), np.random.default_rng(ss_noise)
    )
    mean_counts = float(np.mean(np.sum(counts, axis=(1, 2), dtype=np.int64)))
    info: dict[str, Any] = {
        "N": n,
        "n_positions": int(n_positions),
        "nphotons": float(nphotons),
        "mean_counts_per_pattern": mean_counts,
        "seed": int_seed,
        "probe_kind": probe_kind if probe is None else "given",
        "object_family": object_family,
        "probe_diameter_px": diameter,
        "scan": scan,
        "step_px": step,
        "overlap": 1.0 - step / diameter,
        "jitter_px": float(jitter_px),
        "object_shape": [int(height), int(width)],
    }
    logger.info(
        "simulated %d patterns %dx%d on a %dx%d object: mean %.4g counts/pattern, step %.2f px, "
        "overlap %.2f",
        n_positions,
        n,
        n,
        height,
        width,
        mean_counts,
        step,
        info["overlap"],
    )
    return SimulatedDataset(
        raw=raw,
        object=raw.objectGuess if raw.objectGuess is not None else obj,
        probe=probe_scaled,
        positions_px=np.stack([raw.xcoords, raw.ycoords], axis=1),
        counts=counts if keep_counts else None,
        nphotons=float(nphotons),
        seed=int_seed,
        info=info,
    )


def simulate_train_test(
    N: int = 64,
    n_train: int = DEFAULT_N_POSITIONS,
    n_test: int | None = None,
    nphotons: float = 1e6,
    seed: int = 0,
    **kwargs: Any,
) -> tuple[SimulatedDataset, SimulatedDataset]:
    """Training and held-out test datasets: same probe, two different objects.

    The seed is split into a training and a test stream; each dataset gets its own object,
    scan jitter and Poisson noise. The test dataset uses the training probe's shape (rescaled
    to the test object's mean counts, so both datasets average ``nphotons`` counts per pattern;
    the two probes differ only by a scalar factor close to 1). The test object is therefore
    unseen in training, and each dataset carries its complete ground truth in ``objectGuess``.

    Parameters
    ----------
    N, nphotons : as in :func:`simulate_dataset`
    n_train : int
        Training positions.
    n_test : int, optional
        Test positions (default ``n_train``).
    seed : int
        Master seed.
    **kwargs
        Passed to :func:`simulate_dataset` (``probe_kind``, ``scan``, ``jitter_px``,
        ``overlap``, ``step_px``, ``object_size``, ``keep_counts``).

    Returns
    -------
    (train, test) : tuple of SimulatedDataset
    """
    if "probe" in kwargs or "seed" in kwargs:
        raise ValueError("simulate_train_test chooses the probe and the seeds itself")
    ss_train, ss_test = _children(seed, 2)
    train = simulate_dataset(N=N, n_positions=n_train, nphotons=nphotons, seed=ss_train, **kwargs)
    shape = (train.probe / np.max(np.abs(train.probe))).astype(np.complex64)
    test = simulate_dataset(
        N=N,
        n_positions=n_train if n_test is None else n_test,
        nphotons=nphotons,
        seed=ss_test,
        probe=shape,
        **kwargs,
    )
    for ds, role in ((train, "train"), (test, "test")):
        ds.seed = int(seed)
        ds.info["seed"] = int(seed)
        ds.info["role"] = role
        ds.info["probe_kind"] = kwargs.get("probe_kind", "disk")
    return train, test


def _subset(ds: SimulatedDataset, keep: IntArray | BoolArray, role: str) -> SimulatedDataset:
    raw = ds.raw
    sub = RawData(
        raw.xcoords[keep],
        raw.ycoords[keep],
        raw.xcoords_start[keep],
        raw.ycoords_start[keep],
        raw.diff3d[keep],
        raw.probe_modes,
        raw.scan_index[keep],
        objectGuess=raw.objectGuess,
        Y=None if raw.Y is None else raw.Y[keep],
        bad_pixels=raw.bad_pixels,
    )
    info = dict(ds.info)
    info["n_positions"] = int(np.count_nonzero(keep))
    info["role"] = role
    if ds.counts is not None:
        info["mean_counts_per_pattern"] = float(
            np.mean(np.sum(ds.counts[keep], axis=(1, 2), dtype=np.int64))
        )
    return SimulatedDataset(
        raw=sub,
        object=ds.object,
        probe=ds.probe,
        positions_px=ds.positions_px[keep],
        counts=None if ds.counts is None else ds.counts[keep],
        nphotons=ds.nphotons,
        seed=ds.seed,
        info=info,
    )


def split_by_region(
    dataset: SimulatedDataset,
    fraction: float = 0.5,
    axis: Literal["x", "y"] = "y",
    gap_px: float | None = None,
) -> tuple[SimulatedDataset, SimulatedDataset]:
    """Split one scan into two spatial regions of the same object.

    Positions with coordinate ``< t`` go to the first dataset and those ``>= t + gap_px`` to the
    second, where ``t`` is the ``fraction`` quantile of the coordinate along ``axis`` and
    ``gap_px`` defaults to ``N`` (so no ``N x N`` patch of one part shares a pixel with the
    other). Positions inside the gap are dropped. Both keep the full ``objectGuess``; evaluate
    each on its own scanned region (:func:`ptycho.metrics.scanned_roi`).

    Returns
    -------
    (first, second) : tuple of SimulatedDataset
    """
    if axis not in ("x", "y"):
        raise ValueError(f"axis must be 'x' or 'y', got {axis!r}")
    if not (0.0 < fraction < 1.0):
        raise ValueError(f"fraction must be in (0, 1), got {fraction!r}")
    coord = dataset.raw.xcoords if axis == "x" else dataset.raw.ycoords
    gap = float(dataset.N if gap_px is None else gap_px)
    t = float(np.quantile(coord, fraction))
    first = coord < t
    second = coord >= t + gap
    if not first.any() or not second.any():
        raise ValueError(
            f"split_by_region left an empty part (threshold {t:.1f} px, gap {gap:.1f} px, "
            f"{axis} range {coord.min():.1f}..{coord.max():.1f}); use a larger scan, a smaller "
            "gap_px or another fraction"
        )
    return _subset(dataset, first, "first"), _subset(dataset, second, "second")


# --------------------------------------------------------------------------------------------
# Saving
# --------------------------------------------------------------------------------------------


def save_npz(
    dataset: SimulatedDataset | RawData,
    path: str | os.PathLike[str],
    *,
    include_patches: bool = True,
) -> Path:
    """Write a dataset as our NPZ (DATA-001) with ground truth, atomically.

    Keys: exactly those of :meth:`RawData.to_file` (``xcoords``, ``ycoords``, ``xcoords_start``,
    ``ycoords_start``, ``diff3d`` float32 amplitude, ``probeGuess``, ``scan_index``,
    ``objectGuess`` = ground truth, ``Y`` = ground-truth patches, ``bad_pixels`` when present,
    ``diff3d_layout`` when M == N)
    plus, for a SimulatedDataset, the scalars ``nphotons`` (float64) and ``sim_seed`` (int64,
    -1 when unknown). :meth:`RawData.from_file` reads it back.

    Parameters
    ----------
    dataset : SimulatedDataset or RawData
    path : path
        Target ``.npz`` file; its folder must exist.
    include_patches : bool
        Write ``Y`` (``M x N x N`` complex64, the largest array). ``False`` leaves it out; the
        patches can be cut again from ``objectGuess`` at the positions
        (:meth:`RawData.ground_truth_patches`).

    Returns
    -------
    Path
    """
    p = Path(path)
    if not p.parent.is_dir():
        raise FileNotFoundError(f"cannot write {p}: folder {p.parent} does not exist; create it")
    raw = dataset.raw if isinstance(dataset, SimulatedDataset) else dataset
    if not isinstance(raw, RawData):
        raise ValueError(f"save_npz needs a SimulatedDataset or RawData, got {type(dataset)}")
    arrays: dict[str, AnyArray] = {
        "xcoords": raw.xcoords,
        "ycoords": raw.ycoords,
        "xcoords_start": raw.xcoords_start,
        "ycoords_start": raw.ycoords_start,
        "diff3d": raw.diff3d,
        "probeGuess": raw.probeGuess if raw.probe_modes.shape[0] == 1 else raw.probe_modes,
        "scan_index": raw.scan_index,
    }
    if raw.objectGuess is not None:
        arrays["objectGuess"] = raw.objectGuess
    if raw.Y is not None and include_patches:
        arrays["Y"] = raw.Y
    if raw.bad_pixels is not None:
        arrays["bad_pixels"] = raw.bad_pixels
    if raw.diff3d.shape[0] == raw.N:  # M == N: say which layout it is (HARD-016)
        arrays[LAYOUT_KEY] = np.array("MNN")
    if isinstance(dataset, SimulatedDataset):
        arrays["nphotons"] = np.asarray(dataset.nphotons, dtype=np.float64)
        arrays["sim_seed"] = np.asarray(-1 if dataset.seed is None else dataset.seed, np.int64)
    atomic_savez(p, arrays)
    logger.info("wrote %s (%d patterns)", p, len(raw))
    return p
