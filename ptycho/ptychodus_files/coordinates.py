"""The pixel <-> metre map between our scan positions and Ptychodus's, and the far-field pixel.

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
(51.66 nm for 10 keV, 2 m, 75 um and N = 64).
"""

from __future__ import annotations

import math

import numpy as np

__all__ = [
    "HC_EV_M",
    "check_geometry",
    "far_field_pixel_size_m",
    "object_px_to_ptychodus_m",
    "ptychodus_m_to_object_px",
]

#: h * c in eV * m (CODATA), for the photon wavelength ``lambda = HC_EV_M / E``.
HC_EV_M = 1.239841984e-6


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
    check_geometry(width_px, height_px, pixel_width_m, pixel_height_m)
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
    check_geometry(width_px, height_px, pixel_width_m, pixel_height_m)
    x = np.asarray(x_m, dtype=np.float64)
    y = np.asarray(y_m, dtype=np.float64)
    x_px = (x - center_x_m) / pixel_width_m + (width_px - 1) / 2.0 + 0.5
    y_px = (y - center_y_m) / pixel_height_m + (height_px - 1) / 2.0 + 0.5
    return x_px, y_px


def check_geometry(
    width_px: int, height_px: int, pixel_width_m: float, pixel_height_m: float
) -> None:
    """Raise ``ValueError`` unless the object grid is at least 1 x 1 pixels and both pixel sizes
    are positive finite lengths in metres."""
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
