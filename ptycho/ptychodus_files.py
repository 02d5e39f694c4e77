"""Ptychodus batch-input files (``diffraction.h5`` + ``product.h5``) and the pixel <-> metre map.

This module owns

* the conversion between our object-pixel scan positions (ARCH-002: patch pixel ``(N/2, N/2)``
  sits on object pixel ``(y, x)``) and Ptychodus's physical positions in metres
  (:func:`object_px_to_ptychodus_m`, :func:`ptychodus_m_to_object_px`), which the Ptychodus
  adapter reuses;
* :func:`write_ptychodus_batch_input`, which writes the two files ``ptychodus -b reconstruct|train
  -i DIR`` needs: ``diffraction.h5`` (integer detector counts, ``/patterns (M, N, N)``,
  ``/indexes (M,)``, ``/bad_pixels (N, N)``, detector pixel size attributes) and ``product.h5``
  (positions in metres, probe ``(1, modes, N, N)``, object guess ``(1, H, W)`` with pixel size and
  centre, metadata attributes, empty loss history). It uses ``ptychodus.api.io`` when Ptychodus
  is importable and otherwise writes the same layout with h5py;
* :func:`read_ptychodus_product` / :func:`read_ptychodus_diffraction`, h5py readers of those
  layouts (they need no Ptychodus install).

Pixel convention
----------------
Ptychodus maps a position in metres to object pixels with ``ObjectGeometry``::

    x_px = (x_m - center_x_m) / pixel_width_m + (width_px - 1) / 2

i.e. the world centre sits at pixel index ``(W - 1) / 2`` and a probe of ``N`` pixels placed at
``x_px`` has its pixel ``(N - 1) / 2`` there. Our patches put pixel ``N/2`` on the position, so
the same physical patch has ``x_ours = x_px + 0.5`` (ARCH-002). Combined::

    x_ours = (x_m - center_x_m) / pixel_width_m + W / 2
    x_m    = center_x_m + (x_ours - W / 2) * pixel_width_m

and the same for ``y`` with the height, ``center_y_m`` and ``pixel_height_m``.

Pixel size
----------
For a far-field geometry the object (and probe) pixel is ``lambda * z / (N * detector_pixel)``
(51.66 nm for 10 keV, 2 m, 75 um and N = 64); ``write_ptychodus_batch_input`` uses that value
unless ``pixel_size_m`` is given.
"""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import h5py
import numpy as np

from ptycho.atomic import temporary_sibling

__all__ = [
    "PtychodusDiffraction",
    "PtychodusProduct",
    "far_field_pixel_size_m",
    "object_px_to_ptychodus_m",
    "ptychodus_m_to_object_px",
    "read_ptychodus_diffraction",
    "read_ptychodus_product",
    "write_ptychodus_batch_input",
]

logger = logging.getLogger(__name__)

#: h * c in eV * m (CODATA), for the photon wavelength ``lambda = HC_EV_M / E``.
HC_EV_M = 1.239841984e-6

DIFFRACTION_FILE = "diffraction.h5"
PRODUCT_FILE = "product.h5"


# --------------------------------------------------------------------------------------------
# Coordinates
# --------------------------------------------------------------------------------------------


def object_px_to_ptychodus_m(
    x_px: np.ndarray | float,
    y_px: np.ndarray | float,
    *,
    width_px: int,
    height_px: int,
    pixel_width_m: float,
    pixel_height_m: float,
    center_x_m: float = 0.0,
    center_y_m: float = 0.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Convert our object-pixel positions (ARCH-002) to Ptychodus positions in metres.

    ``x_m = center_x_m + (x_px - 0.5 - (width_px - 1) / 2) * pixel_width_m``: first our
    ``N/2`` convention is moved to Ptychodus's centred ``(N - 1) / 2`` one (subtract 0.5 px), then
    Ptychodus's ``ObjectGeometry`` mapping is inverted. Same for ``y`` with the height.

    Parameters
    ----------
    x_px, y_px : (M,) float
        Patch-centre positions in our object pixels (x = column, y = row).
    width_px, height_px : int
        Object array shape ``(height_px, width_px)``.
    pixel_width_m, pixel_height_m : float
        Object pixel size in metres (> 0).
    center_x_m, center_y_m : float
        Physical position of the object array centre in metres.

    Returns
    -------
    x_m, y_m : (M,) float64
        Positions in metres.
    """
    _check_geometry(width_px, height_px, pixel_width_m, pixel_height_m)
    x = np.asarray(x_px, dtype=np.float64)
    y = np.asarray(y_px, dtype=np.float64)
    x_m = center_x_m + (x - 0.5 - (width_px - 1) / 2.0) * pixel_width_m
    y_m = center_y_m + (y - 0.5 - (height_px - 1) / 2.0) * pixel_height_m
    return x_m, y_m


def ptychodus_m_to_object_px(
    x_m: np.ndarray | float,
    y_m: np.ndarray | float,
    *,
    width_px: int,
    height_px: int,
    pixel_width_m: float,
    pixel_height_m: float,
    center_x_m: float = 0.0,
    center_y_m: float = 0.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Convert Ptychodus positions in metres to our object pixels (inverse of the above).

    ``x_px = (x_m - center_x_m) / pixel_width_m + (width_px - 1) / 2 + 0.5``: Ptychodus's
    ``ObjectGeometry.map_probe_positions_to_object_x_px`` plus the 0.5 px of ARCH-002.

    Parameters
    ----------
    x_m, y_m : (M,) float
        Positions in metres.
    width_px, height_px, pixel_width_m, pixel_height_m, center_x_m, center_y_m
        Object geometry, as in :func:`object_px_to_ptychodus_m`.

    Returns
    -------
    x_px, y_px : (M,) float64
        Patch-centre positions in our object pixels.
    """
    _check_geometry(width_px, height_px, pixel_width_m, pixel_height_m)
    x = np.asarray(x_m, dtype=np.float64)
    y = np.asarray(y_m, dtype=np.float64)
    x_px = (x - center_x_m) / pixel_width_m + (width_px - 1) / 2.0 + 0.5
    y_px = (y - center_y_m) / pixel_height_m + (height_px - 1) / 2.0 + 0.5
    return x_px, y_px


def _check_geometry(
    width_px: int, height_px: int, pixel_width_m: float, pixel_height_m: float
) -> None:
    if int(width_px) < 1 or int(height_px) < 1:
        raise ValueError(f"object size must be at least 1 x 1 pixels, got {width_px} x {height_px}")
    for name, value in (("pixel_width_m", pixel_width_m), ("pixel_height_m", pixel_height_m)):
        if not (math.isfinite(value) and value > 0):
            raise ValueError(f"{name} must be a positive finite length in metres, got {value}")


def far_field_pixel_size_m(
    N: int, *, detector_pixel_m: float, distance_m: float, energy_eV: float
) -> float:
    """Object-plane pixel size ``lambda * z / (N * detector_pixel)`` of a far-field geometry.

    Parameters
    ----------
    N : int
        Detector (pattern) side in pixels.
    detector_pixel_m, distance_m : float
        Detector pixel size and sample-detector distance in metres (> 0).
    energy_eV : float
        Photon energy in eV (> 0); ``lambda = 1.2398e-6 m eV / energy``.
    """
    for name, value in (
        ("detector_pixel_m", detector_pixel_m),
        ("distance_m", distance_m),
        ("energy_eV", energy_eV),
    ):
        if not (math.isfinite(value) and value > 0):
            raise ValueError(f"{name} must be a positive finite number, got {value}")
    wavelength_m = HC_EV_M / energy_eV
    return wavelength_m * distance_m / (N * detector_pixel_m)


# --------------------------------------------------------------------------------------------
# Writer
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _BatchArrays:
    """Validated arrays for one batch-input directory."""

    patterns: np.ndarray  # (M, N, N) uint32 counts or float32 intensities
    indexes: np.ndarray  # (M,) int64
    bad_pixels: np.ndarray  # (N, N) bool
    x_m: np.ndarray  # (M,) float64
    y_m: np.ndarray  # (M,) float64
    probe: np.ndarray  # (1, modes, N, N) complex64
    obj: np.ndarray  # (1, H, W) complex64
    pixel_size_m: float
    center_x_m: float
    center_y_m: float
    detector_pixel_m: float
    distance_m: float
    energy_eV: float
    probe_photon_count: float
    name: str
    comments: str


def _unpack_source(dataset_or_raw: Any) -> tuple[Any, np.ndarray | None]:
    """Return ``(raw, counts)`` from a SimulatedDataset or a RawData-like object."""
    raw = getattr(dataset_or_raw, "raw", None)
    if raw is not None and hasattr(raw, "diff3d"):
        counts = getattr(dataset_or_raw, "counts", None)
        return raw, None if counts is None else np.asarray(counts)
    if hasattr(dataset_or_raw, "diff3d"):
        return dataset_or_raw, None
    raise ValueError(
        "write_ptychodus_batch_input needs a SimulatedDataset or a RawData (an object with "
        f"diff3d, xcoords, ycoords, probeGuess), got {type(dataset_or_raw).__name__}"
    )


def _prepare(
    dataset_or_raw: Any,
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
) -> _BatchArrays:
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
    _check_geometry(width, height, pixel_size_m, pixel_size_m)
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
    return _BatchArrays(
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


def _ptychodus_api() -> Any | None:
    """Import the Ptychodus I/O API lazily; ``None`` when Ptychodus is not installed."""
    try:
        from ptychodus.api import io as ptio
        from ptychodus.api.assemble import AssembledDiffractionData
        from ptychodus.api.geometry import PixelGeometry
        from ptychodus.api.object import Object, ObjectCenter
        from ptychodus.api.probe import ProbeSequence
        from ptychodus.api.probe_positions import ProbePosition, ProbePositionSequence
        from ptychodus.api.product import Product, ProductMetadata
    except ImportError:
        return None

    class _Api:
        pass

    api = _Api()
    for obj in (
        AssembledDiffractionData,
        PixelGeometry,
        Object,
        ObjectCenter,
        ProbeSequence,
        ProbePosition,
        ProbePositionSequence,
        Product,
        ProductMetadata,
    ):
        setattr(api, obj.__name__, obj)
    api.save_product = ptio.save_product  # type: ignore[attr-defined]
    api.save_diffraction_data = ptio.save_diffraction_data  # type: ignore[attr-defined]
    return api


def _write_with_ptychodus(api: Any, arrays: _BatchArrays, diff_path: Path, prod_path: Path) -> None:
    detector = api.PixelGeometry(arrays.detector_pixel_m, arrays.detector_pixel_m)
    assembled = api.AssembledDiffractionData(
        arrays.indexes, arrays.patterns, detector, arrays.bad_pixels
    )
    api.save_diffraction_data(diff_path, assembled)

    # ProductMetadata's 8 required fields are passed positionally (name, comments,
    # detector distance, photon energy, probe photon count, exposure time, mass attenuation,
    # tomography angle): their keyword names changed between Ptychodus releases.
    metadata = api.ProductMetadata(
        arrays.name,
        arrays.comments,
        arrays.distance_m,
        arrays.energy_eV,
        arrays.probe_photon_count,
        0.0,
        0.0,
        0.0,
    )
    positions = api.ProbePositionSequence(
        [
            api.ProbePosition(int(i), float(xm), float(ym))
            for i, xm, ym in zip(arrays.indexes, arrays.x_m, arrays.y_m, strict=True)
        ]
    )
    pixel = api.PixelGeometry(arrays.pixel_size_m, arrays.pixel_size_m)
    probes = api.ProbeSequence(arrays.probe, None, pixel)
    obj = api.Object(
        arrays.obj,
        api.PixelGeometry(arrays.pixel_size_m, arrays.pixel_size_m),
        api.ObjectCenter(arrays.center_x_m, arrays.center_y_m),
        [],
    )
    product = api.Product(
        metadata=metadata, probe_positions=positions, probes=probes, object_=obj, losses=[]
    )
    api.save_product(prod_path, product)


def _write_with_h5py(arrays: _BatchArrays, diff_path: Path, prod_path: Path) -> None:
    with h5py.File(diff_path, "w") as f:
        f.create_dataset("indexes", data=arrays.indexes, compression="lzf")
        pat = f.create_dataset("patterns", data=arrays.patterns, compression="lzf")
        pat.attrs["detector_pixel_width_m"] = arrays.detector_pixel_m
        pat.attrs["detector_pixel_height_m"] = arrays.detector_pixel_m
        f.create_dataset("bad_pixels", data=arrays.bad_pixels, compression="lzf")

    with h5py.File(prod_path, "w") as f:
        f.attrs["name"] = arrays.name
        f.attrs["comments"] = arrays.comments
        f.attrs["detector_object_distance_m"] = arrays.distance_m
        f.attrs["photon_energy_eV"] = arrays.energy_eV
        f.attrs["probe_photon_count"] = arrays.probe_photon_count
        f.attrs["exposure_time_s"] = 0.0
        f.attrs["mass_attenuation_m2_per_kg"] = 0.0
        f.attrs["tomography_angle_deg"] = 0.0
        f.attrs["focus_object_distance_m"] = 0.0
        f.attrs["tilt_angle_deg"] = 0.0
        f.attrs["far_field"] = True
        f.create_dataset("probe_position_indexes", data=arrays.indexes)
        f.create_dataset("probe_position_x_m", data=arrays.x_m)
        f.create_dataset("probe_position_y_m", data=arrays.y_m)
        probe = f.create_dataset("probe", data=arrays.probe)
        probe.attrs["pixel_width_m"] = arrays.pixel_size_m
        probe.attrs["pixel_height_m"] = arrays.pixel_size_m
        obj = f.create_dataset("object", data=arrays.obj)
        obj.attrs["center_x_m"] = arrays.center_x_m
        obj.attrs["center_y_m"] = arrays.center_y_m
        obj.attrs["pixel_width_m"] = arrays.pixel_size_m
        obj.attrs["pixel_height_m"] = arrays.pixel_size_m
        f.create_dataset("object_layer_spacing_m", data=np.zeros(0, dtype=np.float64))
        # an empty history, written as Ptychodus's save_product writes an empty list (float64)
        f.create_dataset("loss_epochs", data=np.zeros(0, dtype=np.float64))
        f.create_dataset("loss_values", data=np.zeros(0, dtype=np.float64))


def write_ptychodus_batch_input(
    dataset_or_raw: Any,
    directory: str | os.PathLike[str],
    *,
    pixel_size_m: float | None = None,
    detector_pixel_m: float = 75e-6,
    distance_m: float = 2.0,
    energy_eV: float = 10000.0,
    as_counts: bool = True,
    object_init: Literal["flat", "input"] = "flat",
    center_x_m: float = 0.0,
    center_y_m: float = 0.0,
    name: str = "ptychopinn",
    comments: str = "",
    writer: Literal["auto", "ptychodus", "h5py"] = "auto",
) -> tuple[Path, Path]:
    """Write a Ptychodus batch-input directory: ``diffraction.h5`` and ``product.h5``.

    Parameters
    ----------
    dataset_or_raw : SimulatedDataset or RawData
        Source. Patterns: a SimulatedDataset's exact integer ``counts`` when present, else
        integer ``diff3d`` as counts, else float ``diff3d`` as amplitude (squared). Positions:
        ``xcoords``/``ycoords`` (our object pixels, ARCH-002). Probe: ``probe_modes`` or
        ``probeGuess``. Object grid: ``objectGuess``'s shape (or the box ``[0, max + N/2]`` of
        the positions when there is none).
    directory : path
        Output directory (created if missing). Existing files of the same name are replaced.
    pixel_size_m : float, optional
        Object/probe pixel size in metres; default ``lambda z / (N detector_pixel_m)``.
    detector_pixel_m, distance_m, energy_eV : float
        Detector pixel size (m), sample-detector distance (m) and photon energy (eV).
    as_counts : bool
        True (default): ``/patterns`` is ``uint32`` counts (``rint`` of the intensities).
        False: ``float32`` intensities (amplitude squared) without rounding.
    object_init : {'flat', 'input'}
        Object written to ``product.h5`` as the initial guess: ``'flat'`` (default) is all ones
        on the object grid, so that a reconstructor cannot start from the ground truth;
        ``'input'`` writes ``objectGuess`` as is.
    center_x_m, center_y_m : float
        Physical position of the object array centre.
    name, comments : str
        Product metadata.
    writer : {'auto', 'ptychodus', 'h5py'}
        ``'auto'`` uses ``ptychodus.api.io.save_diffraction_data``/``save_product`` when
        Ptychodus is importable and h5py otherwise; the other two force one of them
        (``'ptychodus'`` raises ``RuntimeError`` if it is not installed).

    Returns
    -------
    (diffraction_path, product_path) : tuple of Path

    Notes
    -----
    Scan indexes are ``0 .. M-1`` in pattern order in both files, so Ptychodus pairs pattern
    ``i`` with position ``i``. Positions are converted with :func:`object_px_to_ptychodus_m`.
    The product's probe photon count is the mean counts per pattern. All inputs are validated
    before anything is written; each file is written to a temporary file in ``directory`` and
    renamed into place.
    """
    if writer not in ("auto", "ptychodus", "h5py"):
        raise ValueError(f"writer must be 'auto', 'ptychodus' or 'h5py', got {writer!r}")
    arrays = _prepare(
        dataset_or_raw,
        pixel_size_m=pixel_size_m,
        detector_pixel_m=detector_pixel_m,
        distance_m=distance_m,
        energy_eV=energy_eV,
        as_counts=as_counts,
        object_init=object_init,
        center_x_m=center_x_m,
        center_y_m=center_y_m,
        name=name,
        comments=comments,
    )
    api = None if writer == "h5py" else _ptychodus_api()
    if writer == "ptychodus" and api is None:
        raise RuntimeError(
            "writer='ptychodus' was requested but ptychodus is not installed; "
            "install it with: pip install 'ptychopinn[ptychodus]' (or use writer='h5py')"
        )
    out_dir = Path(directory)
    out_dir.mkdir(parents=True, exist_ok=True)
    diff_final = out_dir / DIFFRACTION_FILE
    prod_final = out_dir / PRODUCT_FILE
    tmp_paths: list[Path] = []
    try:
        for final in (diff_final, prod_final):
            tmp_paths.append(temporary_sibling(final))
        diff_tmp, prod_tmp = tmp_paths
        if api is not None:
            _write_with_ptychodus(api, arrays, diff_tmp, prod_tmp)
        else:
            _write_with_h5py(arrays, diff_tmp, prod_tmp)
        os.replace(diff_tmp, diff_final)
        os.replace(prod_tmp, prod_final)
    finally:
        for tmp in tmp_paths:
            if tmp.exists():
                tmp.unlink()
    logger.info(
        "wrote Ptychodus batch input %s (%d patterns %dx%d, %s, pixel %.4g m, writer %s)",
        out_dir,
        arrays.patterns.shape[0],
        arrays.patterns.shape[1],
        arrays.patterns.shape[2],
        arrays.patterns.dtype,
        arrays.pixel_size_m,
        "ptychodus" if api is not None else "h5py",
    )
    return diff_final, prod_final


# --------------------------------------------------------------------------------------------
# Readers (h5py only)
# --------------------------------------------------------------------------------------------


@dataclass
class PtychodusProduct:
    """Contents of a Ptychodus HDF5 product, in our conventions.

    Attributes
    ----------
    object : (H, W) complex64
        Object layer 0.
    object_layers : (L, H, W) complex64
        All object layers.
    probe : (N, N) complex64
        First incoherent mode of OPR mode 0.
    probe_modes : (modes, N, N) complex64
        Incoherent modes of OPR mode 0.
    x, y : (M,) float64
        Scan positions in our object pixels (ARCH-002), via :func:`ptychodus_m_to_object_px`.
    x_m, y_m : (M,) float64
        Scan positions in metres as stored.
    indexes : (M,) int64
        Scan indexes.
    losses : list of (epoch, value)
        Loss history (empty for a batch input).
    object_pixel_size_m : (width, height) floats
    object_center_m : (x, y) floats
    probe_pixel_size_m : (width, height) floats
    metadata : dict
        Root attributes (name, comments, detector_object_distance_m, photon_energy_eV, ...).
    """

    object: np.ndarray
    object_layers: np.ndarray
    probe: np.ndarray
    probe_modes: np.ndarray
    x: np.ndarray
    y: np.ndarray
    x_m: np.ndarray
    y_m: np.ndarray
    indexes: np.ndarray
    losses: list[tuple[int, float]]
    object_pixel_size_m: tuple[float, float]
    object_center_m: tuple[float, float]
    probe_pixel_size_m: tuple[float, float]
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass
class PtychodusDiffraction:
    """Contents of a Ptychodus ``diffraction.h5``.

    Attributes
    ----------
    patterns : (M, N, N) as stored (usually integer counts)
    indexes : (M,) int64
    bad_pixels : (N, N) bool
    detector_pixel_size_m : (width, height) floats
    """

    patterns: np.ndarray
    indexes: np.ndarray
    bad_pixels: np.ndarray
    detector_pixel_size_m: tuple[float, float]


def _dataset(f: h5py.File, key: str, path: Path) -> h5py.Dataset:
    item = f.get(key)
    if not isinstance(item, h5py.Dataset):
        raise ValueError(
            f"{path} is not a Ptychodus product/diffraction file: dataset '{key}' is missing; "
            "write it with ptychodus.api.io or write_ptychodus_batch_input"
        )
    return item


def _attr_str(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if isinstance(value, np.generic):
        return value.item()
    return value


def read_ptychodus_product(path: str | os.PathLike[str]) -> PtychodusProduct:
    """Read a Ptychodus HDF5 product (``product.h5`` or ``product.NNNNNN.h5``) with h5py.

    Parameters
    ----------
    path : path
        The product file.

    Returns
    -------
    PtychodusProduct
        Object, probe, positions in our object pixels, losses and metadata.
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"Ptychodus product file not found: {p}")
    with h5py.File(p, "r") as f:
        obj_ds = _dataset(f, "object", p)
        layers = np.asarray(obj_ds[()])
        if layers.ndim == 2:
            layers = layers[None]
        if layers.ndim != 3:
            raise ValueError(f"{p}: object must be (H, W) or (L, H, W), got {layers.shape}")
        try:
            pw = float(obj_ds.attrs["pixel_width_m"])
            ph = float(obj_ds.attrs["pixel_height_m"])
            cx = float(obj_ds.attrs["center_x_m"])
            cy = float(obj_ds.attrs["center_y_m"])
        except KeyError as exc:
            raise ValueError(
                f"{p}: object attribute {exc} is missing (need pixel_width_m, pixel_height_m, "
                "center_x_m, center_y_m)"
            ) from exc
        probe_ds = _dataset(f, "probe", p)
        probe = np.asarray(probe_ds[()])
        while probe.ndim < 4:
            probe = probe[None]
        if probe.ndim != 4:
            raise ValueError(f"{p}: probe must have 2 to 4 dimensions, got {probe.shape}")
        probe_pixel = (
            float(probe_ds.attrs.get("pixel_width_m", pw)),
            float(probe_ds.attrs.get("pixel_height_m", ph)),
        )
        indexes = np.asarray(_dataset(f, "probe_position_indexes", p)[()], dtype=np.int64)
        x_m = np.asarray(_dataset(f, "probe_position_x_m", p)[()], dtype=np.float64)
        y_m = np.asarray(_dataset(f, "probe_position_y_m", p)[()], dtype=np.float64)
        if not (indexes.shape == x_m.shape == y_m.shape):
            raise ValueError(
                f"{p}: position arrays differ in length (indexes {indexes.shape}, "
                f"x {x_m.shape}, y {y_m.shape})"
            )
        values_key = "loss_values" if "loss_values" in f else ("costs" if "costs" in f else None)
        losses: list[tuple[int, float]] = []
        if values_key is not None:
            values = np.asarray(f[values_key][()], dtype=np.float64).ravel()
            if "loss_epochs" in f:
                epochs = np.asarray(f["loss_epochs"][()]).ravel()
            else:
                epochs = np.arange(values.size)
            losses = [(int(e), float(v)) for e, v in zip(epochs, values, strict=False)]
        metadata = {str(k): _attr_str(v) for k, v in f.attrs.items()}
    height, width = layers.shape[-2:]
    x, y = ptychodus_m_to_object_px(
        x_m,
        y_m,
        width_px=width,
        height_px=height,
        pixel_width_m=pw,
        pixel_height_m=ph,
        center_x_m=cx,
        center_y_m=cy,
    )
    layers = layers.astype(np.complex64)
    modes = probe[0].astype(np.complex64)
    return PtychodusProduct(
        object=layers[0],
        object_layers=layers,
        probe=modes[0],
        probe_modes=modes,
        x=x,
        y=y,
        x_m=x_m,
        y_m=y_m,
        indexes=indexes,
        losses=losses,
        object_pixel_size_m=(pw, ph),
        object_center_m=(cx, cy),
        probe_pixel_size_m=probe_pixel,
        metadata=metadata,
    )


def read_ptychodus_diffraction(path: str | os.PathLike[str]) -> PtychodusDiffraction:
    """Read a Ptychodus assembled ``diffraction.h5`` with h5py.

    Parameters
    ----------
    path : path
        The diffraction file.

    Returns
    -------
    PtychodusDiffraction
        Patterns (dtype as stored), indexes, bad pixels and detector pixel size.
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"Ptychodus diffraction file not found: {p}")
    with h5py.File(p, "r") as f:
        pat = _dataset(f, "patterns", p)
        patterns = np.asarray(pat[()])
        try:
            det = (
                float(pat.attrs["detector_pixel_width_m"]),
                float(pat.attrs["detector_pixel_height_m"]),
            )
        except KeyError as exc:
            raise ValueError(f"{p}: /patterns attribute {exc} is missing") from exc
        indexes = np.asarray(_dataset(f, "indexes", p)[()], dtype=np.int64)
        bad = np.asarray(_dataset(f, "bad_pixels", p)[()], dtype=bool)
    if patterns.ndim != 3 or indexes.shape != (patterns.shape[0],):
        raise ValueError(
            f"{p}: expected /patterns (M, H, W) and /indexes (M,), got {patterns.shape} and "
            f"{indexes.shape}"
        )
    return PtychodusDiffraction(
        patterns=patterns, indexes=indexes, bad_pixels=bad, detector_pixel_size_m=det
    )
