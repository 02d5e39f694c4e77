"""h5py readers of Ptychodus's ``product.h5`` and ``diffraction.h5`` (no Ptychodus install needed).

Positions are returned both as stored (metres) and in our object pixels (ARCH-002, via
:func:`ptycho.ptychodus_files.coordinates.ptychodus_m_to_object_px`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from ptycho.ptychodus_files.coordinates import ptychodus_m_to_object_px

__all__ = [
    "PtychodusDiffraction",
    "PtychodusProduct",
    "read_ptychodus_diffraction",
    "read_ptychodus_product",
]


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


def _attr_str(value: object) -> object:
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
