"""NPZ files of a scan (DATA-001): the keys, the ``diff3d`` layout, reading and writing arrays.

Reading never unpickles anything; a file that is not an NPZ archive, or a damaged or pickled key,
is a ``ValueError`` that names the file (HARD-003). :meth:`~ptycho.raw_data.RawData.from_file`
and :meth:`~ptycho.raw_data.RawData.to_file` are built on :func:`read_npz` and
:func:`npz_arrays`.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ptycho.array_types import AnyArray
from ptycho.npy_io import npz_array, open_npz

if TYPE_CHECKING:
    from ptycho.raw_data.container import RawData

__all__ = ["LAYOUTS", "LAYOUT_KEY", "REQUIRED_KEYS", "npz_arrays", "read_npz"]

logger = logging.getLogger(__name__)

#: NPZ keys that :meth:`RawData.from_file` requires (``diff3d`` may be spelt ``diffraction``).
REQUIRED_KEYS = ("xcoords", "ycoords", "diff3d", "probeGuess")
#: Optional NPZ key saying how ``diff3d`` is laid out: ``'MNN'`` (the default) or ``'NNM'`` (the
#: legacy layout, transposed on reading). Needed only when M == N (DATA-001, HARD-016).
LAYOUT_KEY = "diff3d_layout"
LAYOUTS = ("MNN", "NNM")
_NPZ_FIX = "write it with numpy.savez or RawData.to_file"


def _apply_layout(diff: AnyArray, layout: AnyArray | None, m: int, path: Path) -> AnyArray:
    """Read ``diff3d`` as ``diff3d_layout`` says; warn when an (N, N, N) array is ambiguous.

    A legacy ``(N, N, M)`` array with ``M == N`` cannot be told from ``(M, N, N)`` by its shape:
    without ``diff3d_layout`` it is read as ``(M, N, N)`` with a WARNING (HARD-016).
    """
    if layout is not None:
        name = str(layout.item()) if layout.ndim == 0 and layout.dtype.kind in "US" else None
        if name not in LAYOUTS:
            raise ValueError(
                f"{path}: {LAYOUT_KEY} must be the string 'MNN' or 'NNM', got {layout!r}"
            )
        if name == "NNM":
            if diff.ndim != 3:
                raise ValueError(f"{path}: {LAYOUT_KEY}='NNM' needs a 3-D diff3d, got {diff.shape}")
            logger.info("%s: diff3d is stored (N, N, M); transposed to (M, N, N)", path)
            return np.transpose(diff, (2, 0, 1))
        return diff
    if diff.ndim == 3 and diff.shape[0] == diff.shape[1] == diff.shape[2] == m:
        logger.warning(
            "%s: diff3d has shape %s with as many positions as pixels per side, so its layout "
            "cannot be checked: it is read as (M, N, N). If it is the legacy (N, N, M) layout, "
            "store np.transpose(diff3d, (2, 0, 1)), or add %s='NNM' to the NPZ (add "
            "%s='MNN' to silence this warning)",
            path,
            diff.shape,
            LAYOUT_KEY,
            LAYOUT_KEY,
        )
    return diff


def read_npz(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The :class:`~ptycho.raw_data.RawData` constructor arguments stored in an NPZ dataset.

    Required keys: ``xcoords``, ``ycoords``, ``diff3d`` (alias ``diffraction``),
    ``probeGuess``. Optional: ``xcoords_start``, ``ycoords_start``, ``objectGuess``,
    ``scan_index``, ``Y`` (used only when its first axis equals M), ``bad_pixels``,
    ``diff3d_layout`` (``'MNN'`` or ``'NNM'``, HARD-016). Pickled entries such as
    ``_metadata`` are skipped. A file that is not an NPZ archive, or a damaged or pickled
    key, is a ``ValueError`` that names the file (never NumPy's text suggesting
    ``allow_pickle``, HARD-003).
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"dataset file not found: {p}")
    npz = open_npz(p, what="NPZ dataset", fix=_NPZ_FIX)
    with npz as f:
        keys = set(f.files)
        diff_key = (
            "diff3d" if "diff3d" in keys else ("diffraction" if "diffraction" in keys else None)
        )
        missing = [k for k in ("xcoords", "ycoords") if k not in keys]
        if diff_key is None:
            missing.append("diff3d (or 'diffraction')")
        if "probeGuess" not in keys:
            missing.append("probeGuess")
        if missing:
            raise ValueError(
                f"{p} is missing required keys: {', '.join(missing)} (found: "
                f"{', '.join(sorted(keys)) or 'none'}); an NPZ dataset needs xcoords, "
                "ycoords, diff3d and probeGuess (see specs/data_contracts.md DATA-001)"
            )

        def get(key: str) -> AnyArray | None:
            return npz_array(f, key, str(p)) if key in keys else None

        def need(key: str) -> AnyArray:  # a required key: its presence was checked above
            return npz_array(f, key, str(p))

        if "_metadata" in keys:
            logger.debug("%s: skipping pickled '_metadata' entry", p)
        assert diff_key is not None  # else 'missing' named it and we raised above
        xcoords = need("xcoords")
        diff = need(diff_key)
        m = int(np.shape(xcoords)[0]) if np.ndim(xcoords) == 1 else -1
        diff = _apply_layout(diff, get(LAYOUT_KEY), m, p)
        y_arr = get("Y")
        if y_arr is not None and (y_arr.ndim < 1 or y_arr.shape[0] != m):
            logger.warning(
                "%s: ignoring 'Y' with shape %s (its first axis is not the %d positions)",
                p,
                y_arr.shape,
                m,
            )
            y_arr = None
        return {
            "xcoords": xcoords,
            "ycoords": need("ycoords"),
            "xcoords_start": get("xcoords_start"),
            "ycoords_start": get("ycoords_start"),
            "diff3d": diff,
            "probeGuess": need("probeGuess"),
            "scan_index": get("scan_index"),
            "objectGuess": get("objectGuess"),
            "Y": y_arr,
            "bad_pixels": get("bad_pixels"),
        }


def npz_arrays(raw: RawData) -> dict[str, AnyArray]:
    """The arrays :meth:`~ptycho.raw_data.RawData.to_file` writes, by NPZ key.

    ``diff3d`` is written as float32 amplitude; ``probeGuess`` as ``(N, N)`` for one mode or
    ``(modes, N, N)`` for several. ``objectGuess``, ``Y`` and ``bad_pixels`` are written when
    present, and ``diff3d_layout = 'MNN'`` when M == N (so that reading it back does not warn
    about an ambiguous layout).
    """
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
    if raw.Y is not None:
        arrays["Y"] = raw.Y
    if raw.bad_pixels is not None:
        arrays["bad_pixels"] = raw.bad_pixels
    if raw.diff3d.shape[0] == raw.N:  # M == N: say which layout it is (HARD-016)
        arrays[LAYOUT_KEY] = np.array("MNN")
    return arrays
