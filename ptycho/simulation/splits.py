"""Train/test datasets: two objects under one probe, or two regions of one scan.

:func:`simulate_train_test` simulates two datasets with the **same probe** and scan statistics
on **two different objects** (independent object seeds) with independent noise, so the test
object has never been seen in training and each dataset carries its own complete ground truth.
:func:`split_by_region` instead splits one scan into two spatial regions of the same object
separated by a gap of ``N`` pixels, so that no training patch shares a pixel with a test patch.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

from ptycho.array_types import BoolArray, IntArray
from ptycho.simulation.datasets import DEFAULT_N_POSITIONS, SimulatedDataset, simulate_dataset
from ptycho.simulation.seeds import child_sequences

__all__ = ["simulate_train_test", "split_by_region"]


def simulate_train_test(
    N: int = 64,
    n_train: int = DEFAULT_N_POSITIONS,
    n_test: int | None = None,
    nphotons: float = 1e6,
    seed: int = 0,
    **kwargs: Any,
) -> tuple[SimulatedDataset, SimulatedDataset]:
    """Training and held-out test datasets: same probe, two different objects.

    The seed is split into a training and a test stream; each dataset gets its own object,
    scan jitter and Poisson noise. The test dataset uses the training probe's shape (rescaled
    to the test object's mean counts, so both datasets average ``nphotons`` counts per pattern;
    the two probes differ only by a scalar factor close to 1). The test object is therefore
    unseen in training, and each dataset carries its complete ground truth in ``objectGuess``.

    Parameters
    ----------
    N, nphotons : as in :func:`simulate_dataset`
    n_train : int
        Training positions.
    n_test : int, optional
        Test positions (default ``n_train``).
    seed : int
        Master seed.
    **kwargs
        Passed to :func:`simulate_dataset` (``probe_kind``, ``scan``, ``jitter_px``,
        ``overlap``, ``step_px``, ``object_size``, ``keep_counts``).

    Returns
    -------
    (train, test) : tuple of SimulatedDataset
    """
    if "probe" in kwargs or "seed" in kwargs:
        raise ValueError("simulate_train_test chooses the probe and the seeds itself")
    ss_train, ss_test = child_sequences(seed, 2)
    train = simulate_dataset(N=N, n_positions=n_train, nphotons=nphotons, seed=ss_train, **kwargs)
    shape = (train.probe / np.max(np.abs(train.probe))).astype(np.complex64)
    test = simulate_dataset(
        N=N,
        n_positions=n_train if n_test is None else n_test,
        nphotons=nphotons,
        seed=ss_test,
        probe=shape,
        **kwargs,
    )
    for ds, role in ((train, "train"), (test, "test")):
        ds.seed = int(seed)
        ds.info["seed"] = int(seed)
        ds.info["role"] = role
        ds.info["probe_kind"] = kwargs.get("probe_kind", "disk")
    return train, test


def _subset(ds: SimulatedDataset, keep: IntArray | BoolArray, role: str) -> SimulatedDataset:
    raw = ds.raw
    sub = raw.select(keep)
    info = dict(ds.info)
    info["n_positions"] = int(np.count_nonzero(keep))
    info["role"] = role
    if ds.counts is not None:
        info["mean_counts_per_pattern"] = float(
            np.mean(np.sum(ds.counts[keep], axis=(1, 2), dtype=np.int64))
        )
    return SimulatedDataset(
        raw=sub,
        object=ds.object,
        probe=ds.probe,
        positions_px=ds.positions_px[keep],
        counts=None if ds.counts is None else ds.counts[keep],
        nphotons=ds.nphotons,
        seed=ds.seed,
        info=info,
    )


def split_by_region(
    dataset: SimulatedDataset,
    fraction: float = 0.5,
    axis: Literal["x", "y"] = "y",
    gap_px: float | None = None,
) -> tuple[SimulatedDataset, SimulatedDataset]:
    """Split one scan into two spatial regions of the same object.

    Positions with coordinate ``< t`` go to the first dataset and those ``>= t + gap_px`` to the
    second, where ``t`` is the ``fraction`` quantile of the coordinate along ``axis`` and
    ``gap_px`` defaults to ``N`` (so no ``N x N`` patch of one part shares a pixel with the
    other). Positions inside the gap are dropped. Both keep the full ``objectGuess``; evaluate
    each on its own scanned region (:func:`ptycho.metrics.scanned_roi`).

    Returns
    -------
    (first, second) : tuple of SimulatedDataset
    """
    if axis not in ("x", "y"):
        raise ValueError(f"axis must be 'x' or 'y', got {axis!r}")
    if not (0.0 < fraction < 1.0):
        raise ValueError(f"fraction must be in (0, 1), got {fraction!r}")
    coord = dataset.raw.xcoords if axis == "x" else dataset.raw.ycoords
    gap = float(dataset.N if gap_px is None else gap_px)
    t = float(np.quantile(coord, fraction))
    first = coord < t
    second = coord >= t + gap
    if not first.any() or not second.any():
        raise ValueError(
            f"split_by_region left an empty part (threshold {t:.1f} px, gap {gap:.1f} px, "
            f"{axis} range {coord.min():.1f}..{coord.max():.1f}); use a larger scan, a smaller "
            "gap_px or another fraction"
        )
    return _subset(dataset, first, "first"), _subset(dataset, second, "second")
