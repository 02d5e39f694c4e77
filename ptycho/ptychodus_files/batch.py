"""The validated arrays of one Ptychodus batch-input directory (``diffraction.h5`` +
``product.h5``), built from a SimulatedDataset or a RawData."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol, TypeAlias, runtime_checkable

import numpy as np
import numpy.typing as npt

from ptycho.array_types import AnyArray, BoolArray, Complex64Array, Float64Array, IntArray
from ptycho.ptychodus_files.coordinates import (
    check_geometry,
    far_field_pixel_size_m,
    object_px_to_ptychodus_m,
)

__all__ = [
    "DIFFRACTION_FILE",
    "PRODUCT_FILE",
    "BatchArrays",
    "BatchSource",
    "ScanSource",
    "SimulatedScanSource",
    "prepare_batch_arrays",
]

DIFFRACTION_FILE = "diffraction.h5"
PRODUCT_FILE = "product.h5"


@dataclass(frozen=True)
class BatchArrays:
    """Validated arrays for one batch-input directory, what a :class:`BatchWriter` writes.

    Attributes
    ----------
    patterns : (M, N, N) uint32 counts or float32 intensities
    indexes : (M,) int64
        Scan indexes ``0 .. M-1`` in pattern order (pattern ``i`` pairs with position ``i``).
    bad_pixels : (N, N) bool
    x_m, y_m : (M,) float64
        Scan positions in metres (Ptychodus's convention, :func:`object_px_to_ptychodus_m`).
    probe : (1, modes, N, N) complex64
        One OPR mode holding the incoherent probe modes.
    obj : (1, H, W) complex64
        Initial object guess, one layer.
    pixel_size_m : float
        Object and probe pixel size in metres (square pixels).
    center_x_m, center_y_m : float
        Physical position of the object array centre in metres.
    detector_pixel_m, distance_m : float
        Detector pixel size and sample-detector distance in metres.
    energy_eV : float
        Photon energy in eV.
    probe_photon_count : float
        Mean counts per pattern.
    name, comments : str
        Product metadata.
    """

    patterns: AnyArray  # (M, N, N) uint32 counts or float32 intensities
    indexes: IntArray  # (M,) int64
    bad_pixels: BoolArray  # (N, N) bool
    x_m: Float64Array  # (M,) float64
    y_m: Float64Array  # (M,) float64
    probe: Complex64Array  # (1, modes, N, N) complex64
    obj: Complex64Array  # (1, H, W) complex64
    pixel_size_m: float
    center_x_m: float
    center_y_m: float
    detector_pixel_m: float
    distance_m: float
    energy_eV: float
    probe_photon_count: float
    name: str
    comments: str


@runtime_checkable
class ScanSource(Protocol):
    """A scan the batch files are written from: a :class:`ptycho.raw_data.RawData`, or any object
    with these arrays (``bad_pixels``, ``probe_modes`` and ``objectGuess`` are used when present).
    """

    @property
    def diff3d(self) -> npt.ArrayLike:
        """``(M, N, N)`` diffraction amplitudes (float) or counts (integer)."""
        ...

    @property
    def xcoords(self) -> npt.ArrayLike:
        """``(M,)`` scan x positions in object pixels."""
        ...

    @property
    def ycoords(self) -> npt.ArrayLike:
        """``(M,)`` scan y positions in object pixels."""
        ...

    @property
    def probeGuess(self) -> npt.ArrayLike:
        """``(N, N)`` probe."""
        ...


class SimulatedScanSource(Protocol):
    """A simulated scan (:class:`ptycho.simulation.SimulatedDataset`): its ``raw`` scan and,
    when known, the exact integer ``counts`` that the patterns were drawn as."""

    @property
    def raw(self) -> ScanSource:
        """The scan."""
        ...

    @property
    def counts(self) -> npt.ArrayLike | None:
        """``(M, N, N)`` integer counts, or None."""
        ...


#: What :func:`prepare_batch_arrays` and ``write_ptychodus_batch_input`` accept.
BatchSource: TypeAlias = ScanSource | SimulatedScanSource


def _unpack_source(dataset_or_raw: object) -> tuple[ScanSource, AnyArray | None]:
    """Return ``(raw, counts)`` from a SimulatedDataset or a RawData-like object."""
    raw = getattr(dataset_or_raw, "raw", None)
    if isinstance(raw, ScanSource):
        counts = getattr(dataset_or_raw, "counts", None)
        return raw, None if counts is None else np.asarray(counts)
    if isinstance(dataset_or_raw, ScanSource):
        return dataset_or_raw, None
    raise ValueError(
        "write_ptychodus_batch_input needs a SimulatedDataset or a RawData (an object with "
        f"diff3d, xcoords, ycoords, probeGuess), got {type(dataset_or_raw).__name__}"
    )


def prepare_batch_arrays(
    dataset_or_raw: BatchSource,
    *,
    pixel_size_m: float | None,
    detector_pixel_m: float,
    distance_m: float,
    energy_eV: float,
    as_counts: bool,
    object_init: str,
    center_x_m: float,
    center_y_m: float,
    name: str,
    comments: str,
) -> BatchArrays:
    """Validate a dataset and convert it to the arrays of one batch-input directory.

    See :func:`ptycho.ptychodus_files.write_ptychodus_batch_input` for the parameters; nothing
    is written here, so every error is raised before a file exists.
    """
    raw, counts = _unpack_source(dataset_or_raw)
    diff = np.asarray(raw.diff3d)
    if diff.ndim != 3:
        raise ValueError(f"diff3d must have shape (M, N, N), got {diff.shape}")
    m, n, n2 = diff.shape
    if n != n2:
        raise ValueError(f"diffraction patterns must be square, got {n}x{n2}")
    if m == 0:
        raise ValueError("the dataset has no diffraction patterns; nothing to write")
    x = np.asarray(raw.xcoords, dtype=np.float64).ravel()
    y = np.asarray(raw.ycoords, dtype=np.float64).ravel()
    if x.shape != (m,) or y.shape != (m,):
        raise ValueError(
            f"got {m} diffraction patterns but {x.size} x and {y.size} y coordinates; "
            "pass one (x, y) per pattern"
        )
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        raise ValueError("scan coordinates contain NaN or Inf; remove those positions")

    if counts is not None:
        counts = np.asarray(counts)
        if counts.shape != diff.shape:
            raise ValueError(f"counts shape {counts.shape} does not match diff3d {diff.shape}")
        intensity = counts
    elif np.issubdtype(diff.dtype, np.integer):
        intensity = diff  # integer diffraction is counts already (ARCH-001)
    else:
        if not np.all(np.isfinite(diff)):
            raise ValueError("diff3d contains NaN or Inf; fix or drop those patterns first")
        if np.any(diff < 0):
            raise ValueError("diff3d (amplitude) contains negative values; amplitudes are >= 0")
        intensity = diff.astype(np.float64) ** 2
    if np.any(intensity < 0):
        raise ValueError("diffraction counts contain negative values; counts must be >= 0")
    if as_counts:
        patterns = np.rint(intensity).astype(np.uint32)
    else:
        patterns = np.asarray(intensity, dtype=np.float32)

    bad = getattr(raw, "bad_pixels", None)
    bad_pixels = np.zeros((n, n), dtype=bool) if bad is None else np.asarray(bad, dtype=bool)
    if bad_pixels.shape != (n, n):
        raise ValueError(f"bad_pixels shape {bad_pixels.shape} does not match patterns {n}x{n}")

    modes = getattr(raw, "probe_modes", None)
    probe = np.asarray(modes if modes is not None else raw.probeGuess)
    if probe.ndim == 2:
        probe = probe[None]
    if probe.ndim != 3 or probe.shape[1:] != (n, n):
        raise ValueError(
            f"probe shape {probe.shape} does not match the {n}x{n} patterns; "
            "the probe must be (N, N) or (modes, N, N)"
        )
    probe = probe.astype(np.complex64)[None]  # (1 OPR mode, incoherent modes, N, N)

    obj_guess = getattr(raw, "objectGuess", None)
    if obj_guess is not None:
        obj_guess = np.asarray(obj_guess)
        if obj_guess.ndim != 2:
            raise ValueError(f"objectGuess must be (H, W), got shape {obj_guess.shape}")
        height, width = obj_guess.shape
    else:
        if x.min() < 0 or y.min() < 0:
            raise ValueError(
                "positions are negative but the dataset has no objectGuess to define the object "
                "grid; shift the positions into the object frame or provide objectGuess"
            )
        width = math.ceil(x.max() + n / 2) + 1
        height = math.ceil(y.max() + n / 2) + 1
    if object_init == "flat" or obj_guess is None:
        obj = np.ones((1, height, width), dtype=np.complex64)
    elif object_init == "input":
        obj = obj_guess.astype(np.complex64)[None]
    else:
        raise ValueError(f"object_init must be 'flat' or 'input', got {object_init!r}")

    if pixel_size_m is None:
        pixel_size_m = far_field_pixel_size_m(
            n, detector_pixel_m=detector_pixel_m, distance_m=distance_m, energy_eV=energy_eV
        )
    check_geometry(width, height, pixel_size_m, pixel_size_m)
    far_field_pixel_size_m(  # validates detector_pixel_m / distance_m / energy_eV
        n, detector_pixel_m=detector_pixel_m, distance_m=distance_m, energy_eV=energy_eV
    )
    x_m, y_m = object_px_to_ptychodus_m(
        x,
        y,
        width_px=width,
        height_px=height,
        pixel_width_m=pixel_size_m,
        pixel_height_m=pixel_size_m,
        center_x_m=center_x_m,
        center_y_m=center_y_m,
    )
    photon_count = float(np.mean(np.sum(np.asarray(intensity, dtype=np.float64), axis=(1, 2))))
    return BatchArrays(
        patterns=patterns,
        indexes=np.arange(m, dtype=np.int64),
        bad_pixels=bad_pixels,
        x_m=x_m,
        y_m=y_m,
        probe=probe,
        obj=obj,
        pixel_size_m=float(pixel_size_m),
        center_x_m=float(center_x_m),
        center_y_m=float(center_y_m),
        detector_pixel_m=float(detector_pixel_m),
        distance_m=float(distance_m),
        energy_eV=float(energy_eV),
        probe_photon_count=photon_count,
        name=name,
        comments=comments,
    )
