"""The :class:`RawData` container: one scan as validated NumPy arrays (DATA-001 to DATA-007).

A ``RawData`` holds diffraction **amplitude** ``sqrt(counts)``, float32 ``(M, N, N)`` (ARCH-001 /
D1; :mod:`ptycho.raw_data.amplitude`); scan positions in object pixels, ``x`` = column and ``y`` =
row of the patch centre (ARCH-002 / D2); the probe's first mode ``(N, N)`` complex64 in
``probeGuess`` and every mode in ``probe_modes``. Its constructor validates every input and
raises ``ValueError`` naming the problem and the fix. NPZ I/O is :mod:`ptycho.raw_data.npz`,
grouping :mod:`ptycho.raw_data.grouped`.
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
    Float64Array,
    FloatArray,
    IntArray,
)
from ptycho.atomic import atomic_savez
from ptycho.grouping import SeedLike
from ptycho.probe import as_probe_modes
from ptycho.raw_data.amplitude import as_amplitude, inpaint_bad_pixels
from ptycho.raw_data.grouped import group_raw_data
from ptycho.raw_data.npz import npz_arrays, read_npz

__all__ = ["RawData"]

logger = logging.getLogger(__name__)


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
        raw = cls(**read_npz(p))
        logger.info("loaded %s: %d positions, N=%d", p, len(raw), raw.N)
        return raw

    def to_file(self, path: str | os.PathLike[str]) -> None:
        """Write the NPZ dataset (DATA-001) atomically (compressed temp file, then ``os.replace``).

        ``diff3d`` is written as float32 amplitude; ``probeGuess`` as ``(N, N)`` for one mode or
        ``(modes, N, N)`` for several. ``objectGuess``, ``Y`` and ``bad_pixels`` are written when
        present, and ``diff3d_layout = 'MNN'`` when M == N (so that reading it back does not warn
        about an ambiguous layout).
        """
        atomic_savez(Path(path), npz_arrays(self))

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
        return group_raw_data(
            self,
            N,
            K=K,
            nsamples=nsamples,
            seed=seed,
            sequential_sampling=sequential_sampling,
            gridsize=gridsize,
            enable_oversampling=enable_oversampling,
            neighbor_pool_size=neighbor_pool_size,
        )

    def select(self, keep: IntArray | BoolArray) -> RawData:
        """The scan positions ``keep`` (indices or a boolean mask over the M positions).

        Per-position arrays are indexed; the probe, ``objectGuess`` and the bad-pixel mask are
        kept (validated again by the constructor). ``sample_indices`` is not set (callers that
        subsample record their own).
        """
        return RawData(
            self.xcoords[keep],
            self.ycoords[keep],
            self.xcoords_start[keep],
            self.ycoords_start[keep],
            self.diff3d[keep],
            self.probe_modes,
            self.scan_index[keep],
            objectGuess=self.objectGuess,
            Y=None if self.Y is None else self.Y[keep],
            bad_pixels=self.bad_pixels,
        )

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
