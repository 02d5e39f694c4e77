"""Writing a simulated dataset as our NPZ (DATA-001) with its ground truth, atomically."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from ptycho.array_types import AnyArray
from ptycho.atomic import atomic_savez
from ptycho.raw_data import LAYOUT_KEY, RawData
from ptycho.simulation.datasets import SimulatedDataset

__all__ = ["save_npz"]

logger = logging.getLogger(__name__)


def save_npz(
    dataset: SimulatedDataset | RawData,
    path: str | os.PathLike[str],
    *,
    include_patches: bool = True,
) -> Path:
    """Write a dataset as our NPZ (DATA-001) with ground truth, atomically.

    Keys: exactly those of :meth:`RawData.to_file` (``xcoords``, ``ycoords``, ``xcoords_start``,
    ``ycoords_start``, ``diff3d`` float32 amplitude, ``probeGuess``, ``scan_index``,
    ``objectGuess`` = ground truth, ``Y`` = ground-truth patches, ``bad_pixels`` when present,
    ``diff3d_layout`` when M == N)
    plus, for a SimulatedDataset, the scalars ``nphotons`` (float64) and ``sim_seed`` (int64,
    -1 when unknown). :meth:`RawData.from_file` reads it back.

    Parameters
    ----------
    dataset : SimulatedDataset or RawData
    path : path
        Target ``.npz`` file; its folder must exist.
    include_patches : bool
        Write ``Y`` (``M x N x N`` complex64, the largest array). ``False`` leaves it out; the
        patches can be cut again from ``objectGuess`` at the positions
        (:meth:`RawData.ground_truth_patches`).

    Returns
    -------
    Path
    """
    p = Path(path)
    if not p.parent.is_dir():
        raise FileNotFoundError(f"cannot write {p}: folder {p.parent} does not exist; create it")
    raw = dataset.raw if isinstance(dataset, SimulatedDataset) else dataset
    if not isinstance(raw, RawData):
        raise ValueError(f"save_npz needs a SimulatedDataset or RawData, got {type(dataset)}")
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
    if raw.Y is not None and include_patches:
        arrays["Y"] = raw.Y
    if raw.bad_pixels is not None:
        arrays["bad_pixels"] = raw.bad_pixels
    if raw.diff3d.shape[0] == raw.N:  # M == N: say which layout it is (HARD-016)
        arrays[LAYOUT_KEY] = np.array("MNN")
    if isinstance(dataset, SimulatedDataset):
        arrays["nphotons"] = np.asarray(dataset.nphotons, dtype=np.float64)
        arrays["sim_seed"] = np.asarray(-1 if dataset.seed is None else dataset.seed, np.int64)
    atomic_savez(p, arrays)
    logger.info("wrote %s (%d patterns)", p, len(raw))
    return p
