"""Read tike-style ptychography NPZ files (e.g. the APS Siemens-star test scan) as RawData.

The layout (used by the public ``tike`` project's test data, and by the real scan in the shared
data folder, see DATA-017 in ``specs/data_contracts.md``):

- ``data`` ``(1, M, N, N)`` (or ``(M, N, N)``): detector **counts** with the zero frequency at
  the array corner; we move it to ``(N/2, N/2)`` with ``fftshift`` (ARCH-001);
- ``scan`` ``(1, M, 2)`` (or ``(M, 2)``): positions in object pixels as ``(row, column)``, any
  origin;
- ``probe``: any shape whose last two axes are ``(N, N)`` (e.g. ``(1, 1, 1, 1, N, N)``); the
  leading axes are flattened into probe modes.

Bzip2-compressed files (``.npz.bz2``) are decompressed into a temporary directory (never next to
the source) and removed after reading.

Positions become our ``x`` (column) and ``y`` (row) on an object grid whose pixel ``(0, 0)`` is
``margin`` pixels beyond half a pattern from the smallest position, so every probe window lies
inside the grid; ``objectGuess`` is that grid filled with ones (a flat start, not ground truth).
"""

from __future__ import annotations

import bz2
import logging
import math
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from ptycho.array_types import AnyArray
from ptycho.npy_io import npz_array, open_npz
from ptycho.raw_data import RawData

__all__ = ["load_tike_npz"]

logger = logging.getLogger(__name__)


def _squeeze_leading(name: str, arr: AnyArray, trailing: int) -> AnyArray:
    """Drop leading length-1 axes until ``arr`` has ``trailing`` axes."""
    while arr.ndim > trailing and arr.shape[0] == 1:
        arr = arr[0]
    if arr.ndim != trailing:
        raise ValueError(
            f"'{name}' must have {trailing} axes after dropping leading length-1 axes, got "
            f"shape {arr.shape}"
        )
    return arr


def _read_arrays(path: Path) -> dict[str, AnyArray]:
    if path.suffix == ".bz2":
        with tempfile.TemporaryDirectory(prefix="ptychopinn-tike-") as tmp:
            target = Path(tmp) / path.stem
            with bz2.open(path, "rb") as src, open(target, "wb") as dst:
                shutil.copyfileobj(src, dst, length=1 << 20)
            return _read_arrays(target)
    fix = "pass the tike scan file (.npz or .npz.bz2)"
    with open_npz(path, what="tike-style NPZ", fix=fix) as data:
        missing = [k for k in ("data", "scan", "probe") if k not in data.files]
        if missing:
            raise ValueError(
                f"{path} is not a tike-style NPZ: missing {', '.join(missing)} (it has "
                f"{', '.join(data.files) or 'no arrays'})"
            )
        return {k: npz_array(data, k, str(path)) for k in ("data", "scan", "probe")}


def load_tike_npz(
    path: str | os.PathLike[str],
    *,
    margin: int = 4,
    max_positions: int | None = None,
    center_radius: float | None = None,
) -> RawData:
    """Read a tike-style NPZ (optionally ``.bz2``) into :class:`~ptycho.raw_data.RawData`.

    Parameters
    ----------
    path : path
        The ``.npz`` or ``.npz.bz2`` file.
    margin : int
        Extra object pixels around the scan (beyond half a pattern on each side).
    max_positions : int, optional
        Keep only the first this many positions (after ``center_radius``), for quick runs.
    center_radius : float, optional
        Keep only positions within this distance (pixels) of the scan's bounding-box centre.

    Returns
    -------
    RawData
        Amplitudes ``sqrt(counts)`` with the zero frequency centred, positions on a flat
        ``objectGuess`` grid, the probe modes as given, ``metadata['source']`` = the path.

    Raises
    ------
    FileNotFoundError
        No such file.
    ValueError
        Missing arrays, inconsistent shapes, non-square patterns, negative counts, or no
        position left after the selection.
    """
    src = Path(path)
    if not src.is_file():
        raise FileNotFoundError(f"no such file: {src}")
    arrays = _read_arrays(src)
    counts = _squeeze_leading("data", arrays["data"], 3)
    scan = _squeeze_leading("scan", arrays["scan"], 2).astype(np.float64)
    if counts.shape[1] != counts.shape[2]:
        raise ValueError(
            f"diffraction patterns must be square, got {counts.shape[1]}x{counts.shape[2]}"
        )
    n = counts.shape[-1]
    if scan.shape != (counts.shape[0], 2):
        raise ValueError(
            f"'scan' must hold one (row, column) position per pattern, shape "
            f"({counts.shape[0]}, 2), got {scan.shape}"
        )
    probe = np.asarray(arrays["probe"])
    if probe.ndim < 2 or probe.shape[-2:] != (n, n):
        raise ValueError(f"'probe' must end with ({n}, {n}) axes, got shape {probe.shape}")
    probe = probe.reshape(-1, n, n).astype(np.complex64)
    if not np.all(np.isfinite(counts)) or np.any(counts < 0):
        raise ValueError("'data' must hold finite, non-negative detector counts")

    rows, cols = scan[:, 0], scan[:, 1]
    keep = np.arange(counts.shape[0])
    if center_radius is not None:
        r0 = (rows.max() + rows.min()) / 2.0
        c0 = (cols.max() + cols.min()) / 2.0
        keep = keep[np.hypot(rows - r0, cols - c0) <= float(center_radius)]
    if max_positions is not None:
        keep = keep[: int(max_positions)]
    if keep.size == 0:
        raise ValueError("no scan position is left after center_radius/max_positions")
    rows, cols = rows[keep], cols[keep]
    amplitude = np.sqrt(np.fft.fftshift(counts[keep].astype(np.float64), axes=(-2, -1)))

    offset = n / 2.0 + int(margin)
    y = rows - rows.min() + offset
    x = cols - cols.min() + offset
    height = math.ceil(y.max() + offset)
    width = math.ceil(x.max() + offset)
    raw = RawData(
        x,
        y,
        None,
        None,
        amplitude.astype(np.float32),
        probe,
        keep.astype(np.int64),
        objectGuess=np.ones((height, width), dtype=np.complex64),
        metadata={"source": str(src)},
    )
    logger.info(
        "read %d of %d patterns (%dx%d) from %s onto a %dx%d object grid",
        keep.size,
        counts.shape[0],
        n,
        n,
        src,
        height,
        width,
    )
    return raw
