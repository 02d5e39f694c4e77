"""Raw scan data: validation, NPZ I/O and grouping into model-ready arrays.

This module owns :class:`RawData` (``specs/data_contracts.md`` DATA-001 to DATA-007, DATA-010 and
DATA-011). A ``RawData`` holds one scan as NumPy arrays in the package conventions:

* diffraction **amplitude** ``sqrt(counts)``, float32 ``(M, N, N)`` (ARCH-001 / D1); integer
  input is detector counts and is converted once, at construction;
* scan positions in object pixels, ``x`` = column and ``y`` = row of the patch centre
  (ARCH-002 / D2);
* the probe's first mode ``(N, N)`` complex64 in ``probeGuess`` and every mode in
  ``probe_modes``.

Every constructor validates its input and raises ``ValueError`` naming the problem and the fix.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from ptycho.array_types import (
    AnyArray,
    BoolArray,
    Complex64Array,
    ComplexArray,
    Float32Array,
    Float64Array,
    FloatArray,
    IntArray,
)
from ptycho.atomic import atomic_savez
from ptycho.grouping import SeedLike, group_positions
from ptycho.normalization import normalize_diffraction
from ptycho.npy_io import npz_array, open_npz
from ptycho.probe import as_probe_modes

__all__ = ["RawData", "as_amplitude", "inpaint_bad_pixels", "relative_coords"]

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


def _first_bad(mask: BoolArray) -> str:
    idx = np.unravel_index(int(np.flatnonzero(mask)[0]), mask.shape)
    return "[" + ", ".join(str(int(i)) for i in idx) + "]"


def as_amplitude(
    diff3d: AnyArray, n_positions: int | None = None, valid: BoolArray | None = None
) -> Float32Array:
    """Validate diffraction data and return amplitudes ``(M, N, N)`` float32 (D1, ARCH-001).

    Parameters
    ----------
    diff3d : (M, N, N) or (M, N, N, 1), integer or float
        Integer dtype: detector counts, converted with ``sqrt`` in float64 (logged once at INFO).
        Float dtype: amplitude, kept as is (cast to float32).
    n_positions : int, optional
        Number of scan positions, only used to hint at the legacy ``(N, N, M)`` layout.
    valid : (N, N) bool, optional
        Pixels to check for NaN/Inf/negative values (bad pixels are replaced later).

    Returns
    -------
    (M, N, N) float32
    """
    arr = np.asarray(diff3d)
    if arr.ndim == 4 and arr.shape[3] == 1:
        arr = arr[..., 0]
    if arr.ndim != 3:
        raise ValueError(
            f"diff3d must have shape (M, N, N) (one N x N pattern per scan position), got "
            f"{arr.shape}"
        )
    if arr.shape[1] != arr.shape[2]:
        hint = ""
        if arr.shape[0] == arr.shape[1] and (n_positions is None or arr.shape[2] == n_positions):
            hint = (
                "; this looks like the legacy (N, N, M) layout: pass "
                "np.transpose(diff3d, (2, 0, 1))"
            )
        raise ValueError(
            f"diffraction patterns must be square, got {arr.shape[1]}x{arr.shape[2]} "
            f"(diff3d shape {arr.shape}){hint}"
        )
    if np.issubdtype(arr.dtype, np.complexfloating):
        raise ValueError(
            "diff3d must be real: detector counts (integer dtype) or amplitude sqrt(counts) "
            f"(float dtype), got {arr.dtype}"
        )
    if arr.dtype == np.bool_ or not np.issubdtype(arr.dtype, np.number):
        raise ValueError(f"diff3d must be integer counts or float amplitude, got dtype {arr.dtype}")
    checked = arr if valid is None else arr[:, valid]
    is_int = np.issubdtype(arr.dtype, np.integer)
    if not is_int:
        finite = np.isfinite(checked)
        if not finite.all():
            raise ValueError(
                f"diff3d contains {int((~finite).sum())} NaN/Inf values; fix or mask them "
                "(bad_pixels) before loading"
            )
    if checked.size and checked.min() < 0:
        n_neg = int((checked < 0).sum())
        what = "negative counts" if is_int else "negative amplitudes"
        raise ValueError(
            f"diff3d contains {n_neg} {what} (minimum {checked.min()}); diffraction must be "
            ">= 0: subtract the background with clipping, e.g. np.clip(diff3d, 0, None)"
        )
    if is_int:
        logger.info("converted integer counts to amplitude (sqrt) for %d patterns", arr.shape[0])
        a64 = arr.astype(np.float64)
        if valid is not None:
            a64[:, ~valid] = np.maximum(a64[:, ~valid], 0.0)
        return np.sqrt(a64).astype(np.float32)
    return arr.astype(np.float32)


def inpaint_bad_pixels(amplitude: FloatArray, bad_pixels: BoolArray) -> Float32Array:
    """Replace bad pixels by the mean of their good 4-neighbours (DATA-005).

    Pixels with no good 4-neighbour are filled in later passes from pixels filled before, so a
    bad region fills from its border inwards. The mask is shared by every pattern.

    Parameters
    ----------
    amplitude : (M, N, N) float32
        Patterns; values at bad pixels are ignored (may be NaN).
    bad_pixels : (N, N) bool
        True where a pixel is bad.

    Returns
    -------
    (M, N, N) float32
        Copy with every bad pixel replaced.
    """
    bad = np.asarray(bad_pixels, dtype=bool)
    out = np.array(amplitude, dtype=np.float32, copy=True)
    if not bad.any():
        return out
    if bad.all():
        raise ValueError(
            "bad_pixels marks every detector pixel bad, so no pattern can be repaired; check "
            "the mask (True = bad)"
        )
    out[:, bad] = 0.0
    good = ~bad
    while not good.all():
        g = good.astype(np.float64)
        vals = np.where(good, out, 0.0).astype(np.float64)
        count = np.zeros(good.shape)
        total = np.zeros(out.shape)
        count[1:, :] += g[:-1, :]
        count[:-1, :] += g[1:, :]
        count[:, 1:] += g[:, :-1]
        count[:, :-1] += g[:, 1:]
        total[:, 1:, :] += vals[:, :-1, :]
        total[:, :-1, :] += vals[:, 1:, :]
        total[:, :, 1:] += vals[:, :, :-1]
        total[:, :, :-1] += vals[:, :, 1:]
        fill = ~good & (count > 0)
        out[:, fill] = (total[:, fill] / count[fill]).astype(np.float32)
        good = good | fill
    return out


def relative_coords(coords_nn: Float64Array) -> tuple[Float64Array, Float64Array]:
    """Group centres and relative offsets (ARCH-005).

    Parameters
    ----------
    coords_nn : (B, 1, 2, C) float64
        Positions ``[x, y]`` of every channel.

    Returns
    -------
    coords_offsets : (B, 1, 2, 1) float64
        Mean over channels (group centre).
    coords_relative : (B, 1, 2, C) float64
        ``-(coords_nn - coords_offsets)`` (sign kept from the original).
    """
    offsets = coords_nn.mean(axis=3, keepdims=True)
    return offsets, -(coords_nn - offsets)


def _coords(name: str, values: npt.ArrayLike) -> Float64Array:
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise ValueError(
            f"{name} must be a 1-D array (M,) of object-pixel positions, got {arr.shape}"
        )
    if not np.issubdtype(arr.dtype, np.number) or np.issubdtype(arr.dtype, np.complexfloating):
        raise ValueError(f"{name} must be real numbers (object pixels), got dtype {arr.dtype}")
    arr = arr.astype(np.float64)
    bad = ~np.isfinite(arr)
    if bad.any():
        raise ValueError(
            f"{name} contains {int(bad.sum())} NaN/Inf values (first at index "
            f"{int(np.flatnonzero(bad)[0])}); remove those scan positions or fix their "
            "coordinates"
        )
    return arr


class RawData:
    """One scan: positions, diffraction amplitudes, probe, optional object and patches.

    Parameters
    ----------
    xcoords, ycoords : (M,) float
        Nominal scan positions in object pixels (x = column, y = row of the patch centre).
    xcoords_start, ycoords_start : (M,) float or None
        "Start" (true / position-corrected) positions; None copies the nominal ones.
    diff3d : (M, N, N) or (M, N, N, 1)
        Integer counts (converted to ``sqrt``) or float amplitude (D1).
    probeGuess : (N, N), (N, N, 1) or (modes, N, N) complex
        Probe; ``probeGuess`` keeps the first mode, ``probe_modes`` all modes.
    scan_index : (M,) int or None
        Scan (object) index of every position; None means zeros.
    objectGuess : (H, W) complex, optional
        Object (ground truth or reference); used to cut ground-truth patches.
    Y : (M, N, N) or (M, N, N, 1) complex, optional
        Precomputed ground-truth patch per position (takes precedence over ``objectGuess``).
    norm_Y_I : optional
        Accepted for compatibility; stored, never used.
    bad_pixels : (N, N) bool, optional
        True where a detector pixel is bad; those pixels are inpainted (DATA-005).
    metadata : dict, optional
        Free-form provenance (not written by :meth:`to_file`).

    Attributes
    ----------
    xcoords, ycoords, xcoords_start, ycoords_start : (M,) float64
    diff3d : (M, N, N) float32 amplitude
    probeGuess : (N, N) complex64 (first mode)
    probe_modes : (modes, N, N) complex64
    objectGuess : (H, W) complex64 or None
    scan_index : (M,) int64
    Y : (M, N, N) complex64 or None
    bad_pixels : (N, N) bool or None
    sample_indices : (M,) int64 or None
        Indices into a parent dataset when this one is a subsample (set by callers).
    """

    def __init__(
        self,
        xcoords: FloatArray,
        ycoords: FloatArray,
        xcoords_start: FloatArray | None,
        ycoords_start: FloatArray | None,
        diff3d: AnyArray,
        probeGuess: ComplexArray,
        scan_index: IntArray | None,
        objectGuess: ComplexArray | None = None,
        Y: ComplexArray | None = None,
        norm_Y_I: float | None = None,
        bad_pixels: BoolArray | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        x = _coords("xcoords", xcoords)
        y = _coords("ycoords", ycoords)
        xs = x.copy() if xcoords_start is None else _coords("xcoords_start", xcoords_start)
        ys = y.copy() if ycoords_start is None else _coords("ycoords_start", ycoords_start)
        m = x.size
        for name, arr in (("ycoords", y), ("xcoords_start", xs), ("ycoords_start", ys)):
            if arr.size != m:
                raise ValueError(
                    f"coordinate arrays differ in length: xcoords has {m} positions but {name} "
                    f"has {arr.size}; every coordinate array needs one value per pattern"
                )
        valid = None
        bp = None
        raw_shape = np.shape(diff3d)
        if bad_pixels is not None:
            bp = np.asarray(bad_pixels)
            if bp.dtype != np.bool_:
                if not np.issubdtype(bp.dtype, np.integer) or not np.isin(bp, (0, 1)).all():
                    raise ValueError(
                        f"bad_pixels must be a boolean (N, N) mask (True = bad), got dtype "
                        f"{bp.dtype}"
                    )
                bp = bp.astype(bool)
            if len(raw_shape) >= 3 and bp.shape != tuple(raw_shape[1:3]):
                raise ValueError(
                    f"bad_pixels has shape {bp.shape} but the diffraction patterns are "
                    f"{raw_shape[1]}x{raw_shape[2]}; the mask must be (N, N)"
                )
            if bp.all():
                raise ValueError(
                    "bad_pixels marks every detector pixel bad, so no pattern can be repaired; "
                    "check the mask (True = bad)"
                )
            valid = ~bp
        amp = as_amplitude(diff3d, n_positions=m, valid=valid)
        if amp.shape[0] != m:
            raise ValueError(
                f"got {m} scan positions but {amp.shape[0]} diffraction patterns; coordinates and "
                "patterns must correspond one to one"
            )
        n = amp.shape[1]
        if bp is not None:
            amp = inpaint_bad_pixels(amp, bp)
        modes = as_probe_modes(probeGuess, N=n, name="probeGuess")
        if scan_index is None:
            sidx = np.zeros(m, dtype=np.int64)
        else:
            sidx = np.asarray(scan_index)
            if sidx.ndim != 1 or sidx.size != m:
                raise ValueError(
                    f"scan_index must have shape ({m},) (one index per position), got {sidx.shape}"
                )
            if not np.issubdtype(sidx.dtype, np.integer):
                if not np.all(np.isfinite(sidx)) or not np.all(sidx == np.round(sidx)):
                    raise ValueError("scan_index must hold integers")
            sidx = sidx.astype(np.int64)
        obj = None
        if objectGuess is not None:
            obj = np.asarray(objectGuess)
            if obj.ndim != 2:
                hint = "; pass a single layer, e.g. objectGuess[0]" if obj.ndim == 3 else ""
                raise ValueError(f"objectGuess must be 2-D (H, W), got shape {obj.shape}{hint}")
            if not np.issubdtype(obj.dtype, np.number):
                raise ValueError(f"objectGuess must be numeric (complex), got dtype {obj.dtype}")
            obj = obj.astype(np.complex64)
            if not np.all(np.isfinite(obj)):
                raise ValueError("objectGuess contains NaN/Inf values; provide a finite object")
        y_arr = None
        if Y is not None:
            y_arr = np.asarray(Y)
            if y_arr.ndim == 4 and y_arr.shape[3] == 1:
                y_arr = y_arr[..., 0]
            if y_arr.shape != (m, n, n):
                raise ValueError(
                    f"Y must have shape ({m}, {n}, {n}) (one ground-truth patch per position), "
                    f"got {np.shape(Y)}"
                )
            y_arr = y_arr.astype(np.complex64)

        self.xcoords = x
        self.ycoords = y
        self.xcoords_start = xs
        self.ycoords_start = ys
        self.diff3d = amp
        self.probe_modes = modes
        self.probeGuess: Complex64Array = modes[0]
        self.scan_index = sidx
        self.objectGuess = obj
        self.Y = y_arr
        self.bad_pixels = bp
        self.norm_Y_I = norm_Y_I
        self.metadata = metadata
        self.sample_indices: IntArray | None = None
        self.subsample_seed: int | None = None
        logger.debug(
            "RawData: %d positions, N=%d, %d probe mode(s), objectGuess %s, Y %s",
            m,
            n,
            modes.shape[0],
            None if obj is None else obj.shape,
            "yes" if y_arr is not None else "no",
        )

    # --- basic properties --------------------------------------------------------------------
    @property
    def N(self) -> int:
        """Pattern side in pixels."""
        return int(self.diff3d.shape[1])

    def __len__(self) -> int:
        return int(self.diff3d.shape[0])

    def __repr__(self) -> str:
        return (
            f"RawData(M={len(self)}, N={self.N}, modes={self.probe_modes.shape[0]}, "
            f"objectGuess={None if self.objectGuess is None else self.objectGuess.shape})"
        )

    # --- constructors ------------------------------------------------------------------------
    @classmethod
    def from_coords_without_pc(
        cls,
        xcoords: FloatArray,
        ycoords: FloatArray,
        diff3d: AnyArray,
        probeGuess: ComplexArray,
        scan_index: IntArray | None,
        objectGuess: ComplexArray | None = None,
        bad_pixels: BoolArray | None = None,
    ) -> RawData:
        """Build from nominal positions only (start coordinates = nominal; no position correction).

        This is the entry point of Ptychodus's built-in client, which passes integer counts
        (converted to amplitude, D1) and a ``(modes, N, N)`` probe (first mode used).
        """
        return cls(
            xcoords,
            ycoords,
            None,
            None,
            diff3d,
            probeGuess,
            scan_index,
            objectGuess=objectGuess,
            bad_pixels=bad_pixels,
        )

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> RawData:
        """Read an NPZ dataset (DATA-001); never unpickles anything.

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
            raw = cls(
                xcoords,
                need("ycoords"),
                get("xcoords_start"),
                get("ycoords_start"),
                diff,
                need("probeGuess"),
                get("scan_index"),
                objectGuess=get("objectGuess"),
                Y=y_arr,
                bad_pixels=get("bad_pixels"),
            )
        logger.info("loaded %s: %d positions, N=%d", p, len(raw), raw.N)
        return raw

    def to_file(self, path: str | os.PathLike[str]) -> None:
        """Write the NPZ dataset (DATA-001) atomically (compressed temp file, then ``os.replace``).

        ``diff3d`` is written as float32 amplitude; ``probeGuess`` as ``(N, N)`` for one mode or
        ``(modes, N, N)`` for several. ``objectGuess``, ``Y`` and ``bad_pixels`` are written when
        present, and ``diff3d_layout = 'MNN'`` when M == N (so that reading it back does not warn
        about an ambiguous layout).
        """
        arrays: dict[str, AnyArray] = {
            "xcoords": self.xcoords,
            "ycoords": self.ycoords,
            "xcoords_start": self.xcoords_start,
            "ycoords_start": self.ycoords_start,
            "diff3d": self.diff3d,
            "probeGuess": self.probeGuess if self.probe_modes.shape[0] == 1 else self.probe_modes,
            "scan_index": self.scan_index,
        }
        if self.objectGuess is not None:
            arrays["objectGuess"] = self.objectGuess
        if self.Y is not None:
            arrays["Y"] = self.Y
        if self.bad_pixels is not None:
            arrays["bad_pixels"] = self.bad_pixels
        if self.diff3d.shape[0] == self.N:  # M == N: say which layout it is (HARD-016)
            arrays[LAYOUT_KEY] = np.array("MNN")
        atomic_savez(Path(path), arrays)

    # --- grouping ----------------------------------------------------------------------------
    def generate_grouped_data(
        self,
        N: int,
        K: int = 4,
        nsamples: int | None = None,
        dataset_path: str | None = None,
        seed: SeedLike = None,
        sequential_sampling: bool = False,
        gridsize: int | None = 1,
        enable_oversampling: bool = False,
        neighbor_pool_size: int | None = None,
    ) -> dict[str, Any]:
        """Group positions and return model-ready NumPy arrays (DATA-009, DATA-010).

        Parameters
        ----------
        N : int
            Pattern size; must equal the data's (``ValueError`` naming both otherwise).
        K : int
            Nearest neighbours the other ``C - 1`` members are drawn from (``gridsize > 1``).
        nsamples : int or None
            **Number of groups.** None = one group per scan position. A value below M honours
            the request literally (a seeded subset of the scan; a warning is logged for
            ``nsamples=1``, the Ptychodus ``NumSamples`` default, which then covers one position).
            Above M: gridsize 1 uses every position once; gridsize > 1 needs
            ``enable_oversampling``.
        dataset_path : str, optional
            Ignored (kept for call compatibility).
        seed : int, numpy.random.Generator or None
            Seed of the grouping (None = fresh entropy).
        sequential_sampling : bool
            Use the first ``nsamples`` positions as group seeds.
        gridsize : int or None
            ``C = gridsize**2`` channels; None means 1 (never read from a global).
        enable_oversampling, neighbor_pool_size
            See :func:`ptycho.grouping.group_positions`.

        Returns
        -------
        dict
            ``diffraction`` (B,N,N,C) float32 amplitude; ``X_full`` (B,N,N,C) float32 normalised
            (ARCH-007); ``norm_factor`` float; ``Y`` (B,N,N,C) complex64 or None (cut at each
            channel's own position); ``coords_nn``, ``coords_start_nn``, ``coords_relative``,
            ``coords_start_relative`` (B,1,2,C) float64; ``coords_offsets``,
            ``coords_start_offsets`` (B,1,2,1) float64; ``nn_indices`` (B,C) int64;
            ``objectGuess`` (H,W) complex64 or None; ``sample_indices`` when set.
        """
        del dataset_path
        if N != self.N:
            raise ValueError(
                f"requested N={N} but the diffraction patterns are {self.N}x{self.N}; set N to "
                f"{self.N} (the detector size of this dataset) or resample the data"
            )
        g = 1 if gridsize is None else gridsize
        m = len(self)
        if nsamples is not None and nsamples == 1 and m > 1:
            logger.warning(
                "nsamples=1 builds a single group covering 1 of %d scan positions; pass "
                "nsamples=None (or the number of positions) to use the whole scan",
                m,
            )
        nn = group_positions(
            self.xcoords,
            self.ycoords,
            g,
            n_groups=nsamples,
            K=K,
            seed=seed,
            sequential=sequential_sampling,
            enable_oversampling=enable_oversampling,
            neighbor_pool_size=neighbor_pool_size,
        )
        b, c = nn.shape
        diffraction = np.transpose(self.diff3d[nn], (0, 2, 3, 1))
        coords_nn = np.stack([self.xcoords[nn], self.ycoords[nn]], axis=1)[:, None]
        coords_start_nn = np.stack([self.xcoords_start[nn], self.ycoords_start[nn]], axis=1)[
            :, None
        ]
        coords_offsets, coords_relative = relative_coords(coords_nn)
        coords_start_offsets, coords_start_relative = relative_coords(coords_start_nn)
        x_full, factor = normalize_diffraction(diffraction, axes=(1, 2))
        if self.Y is not None:
            y_patches = np.transpose(self.Y[nn], (0, 2, 3, 1))
        elif self.objectGuess is not None:
            y_patches = self.ground_truth_patches(nn)
        else:
            y_patches = None
        dset: dict[str, Any] = {
            "diffraction": diffraction,
            "X_full": x_full,
            "norm_factor": factor,
            "Y": y_patches,
            "coords_offsets": coords_offsets,
            "coords_relative": coords_relative,
            "coords_start_offsets": coords_start_offsets,
            "coords_start_relative": coords_start_relative,
            "coords_nn": coords_nn,
            "coords_start_nn": coords_start_nn,
            "nn_indices": nn,
            "objectGuess": self.objectGuess,
        }
        if self.sample_indices is not None:
            dset["sample_indices"] = self.sample_indices
        logger.debug("grouped %d positions into %d groups of %d", m, b, c)
        return dset

    def ground_truth_patches(self, nn_indices: IntArray) -> Complex64Array:
        """Cut ``objectGuess`` patches at each channel's own nominal position (DATA-011).

        Parameters
        ----------
        nn_indices : (B, C) int
            Scan-position index of every channel.

        Returns
        -------
        (B, N, N, C) complex64
            ``patch[b, i, j, c] = bilinear(objectGuess, y - N/2 + i, x - N/2 + j)`` with
            ``(x, y)`` the position of ``nn_indices[b, c]`` (ARCH-004), zero outside.
        """
        if self.objectGuess is None:
            raise ValueError("no objectGuess to cut ground-truth patches from")
        from ptycho.physics.shift import extract_patches  # lazy: sibling module

        nn = np.asarray(nn_indices, dtype=np.int64)
        b, c = nn.shape
        flat = nn.reshape(-1)
        patches = extract_patches(self.objectGuess, self.xcoords[flat], self.ycoords[flat], self.N)
        patches = np.asarray(patches, dtype=np.complex64).reshape(b, c, self.N, self.N)
        return np.transpose(patches, (0, 2, 3, 1))
