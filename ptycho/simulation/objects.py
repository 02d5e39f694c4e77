"""Seeded complex test objects: the ``mixed``, ``grains`` and ``siemens`` families (design D11).

The default ``'mixed'`` object combines the "lines" recipe of the original PtychoPINN (random
one-pixel segments on a canvas twice the size, blurred with ``G_1 + 2 G_5 + 5 G_10``, centre
crop; drawn here vectorised and seeded) with smooth random blobs and a few larger soft-edged
disks. The lines are shared by amplitude and phase (they absorb and shift the phase, like
material would); blobs and disks are drawn independently for each, so the phase is not a
function of the amplitude. Amplitude lies in ``[0.3, 1.0]``, phase in ``[-1, 1]`` rad; shapes
are ``(H, W)`` in object pixels.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from ptycho.array_types import Complex64Array, ComplexArray, FloatArray
from ptycho.simulation.seeds import SeedLike, generator

__all__ = ["OBJECT_FAMILIES", "simulate_object"]

#: ``simulate_object`` families; the first is the default.
OBJECT_FAMILIES: tuple[str, ...] = ("mixed", "grains", "siemens")


def _normalise01(img: FloatArray) -> FloatArray:
    lo = float(img.min())
    hi = float(img.max())
    if hi - lo <= 0:
        return np.zeros_like(img)
    return (img - lo) / (hi - lo)


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
    rng = generator(seed)
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
