"""The simulated dataset: object, probe and scan turned into noisy diffraction with ground truth.

Ground-truth patches ``Y = extract_patches(object, x, y, N)`` (ARCH-004), exit waves ``P * Y``,
far-field amplitude (ARCH-006). The probe is scaled so that the expected counts
``|FFT(P * Y)|^2`` (orthonormal) average ``nphotons`` per pattern over the dataset, i.e.
``|P|^2`` is in photons per pixel per exposure, consistent with the counts. Counts are Poisson
draws; ``diff3d = sqrt(counts)`` (amplitude in count units, ARCH-001). Everything is vectorised
(no Python loop over positions), and one master seed is split into the object, probe, scan and
noise streams (:mod:`ptycho.simulation.seeds`).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from ptycho.array_types import Complex64Array, ComplexArray, Float64Array, FloatArray, IntArray
from ptycho.physics.forward import far_field_amplitude, illuminate
from ptycho.physics.noise import poisson_counts
from ptycho.physics.shift import extract_patches
from ptycho.raw_data import RawData
from ptycho.simulation.objects import simulate_object
from ptycho.simulation.probes import probe_diameter_px, simulate_probe
from ptycho.simulation.scans import DEFAULT_OVERLAP, raster_scan, spiral_scan
from ptycho.simulation.seeds import SeedLike, child_sequences

__all__ = ["DEFAULT_N_POSITIONS", "SimulatedDataset", "simulate_dataset"]

logger = logging.getLogger(__name__)

#: Default number of scan positions of :func:`simulate_dataset`.
DEFAULT_N_POSITIONS = 1024


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
    ss_obj, ss_probe, ss_scan, ss_noise = child_sequences(seed, 4)

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
