"""Grouping a scan into model-ready arrays: ``gridsize**2`` neighbouring positions per group.

Groups come from :func:`ptycho.grouping.group_positions`; coordinates are split into group
centres and relative offsets (ARCH-005) and the diffraction is normalised (ARCH-007). Arrays are
channels-last: ``(B, N, N, C)`` patterns, ``(B, 1, 2, C)`` coordinates in object pixels.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import numpy as np

from ptycho.array_types import Float64Array
from ptycho.grouping import SeedLike, group_positions
from ptycho.normalization import normalize_diffraction

if TYPE_CHECKING:
    from ptycho.raw_data.container import RawData

__all__ = ["group_raw_data", "relative_coords"]

logger = logging.getLogger(__name__)


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


def group_raw_data(
    raw: RawData,
    N: int,
    K: int = 4,
    nsamples: int | None = None,
    seed: SeedLike = None,
    sequential_sampling: bool = False,
    gridsize: int | None = 1,
    enable_oversampling: bool = False,
    neighbor_pool_size: int | None = None,
) -> dict[str, Any]:
    """Group ``raw``'s positions into model-ready arrays (DATA-009, DATA-010).

    This is :meth:`ptycho.raw_data.RawData.generate_grouped_data`, which documents the
    parameters and the returned dict.
    """
    if N != raw.N:
        raise ValueError(
            f"requested N={N} but the diffraction patterns are {raw.N}x{raw.N}; set N to "
            f"{raw.N} (the detector size of this dataset) or resample the data"
        )
    g = 1 if gridsize is None else gridsize
    m = len(raw)
    if nsamples is not None and nsamples == 1 and m > 1:
        logger.warning(
            "nsamples=1 builds a single group covering 1 of %d scan positions; pass "
            "nsamples=None (or the number of positions) to use the whole scan",
            m,
        )
    nn = group_positions(
        raw.xcoords,
        raw.ycoords,
        g,
        n_groups=nsamples,
        K=K,
        seed=seed,
        sequential=sequential_sampling,
        enable_oversampling=enable_oversampling,
        neighbor_pool_size=neighbor_pool_size,
    )
    b, c = nn.shape
    diffraction = np.transpose(raw.diff3d[nn], (0, 2, 3, 1))
    coords_nn = np.stack([raw.xcoords[nn], raw.ycoords[nn]], axis=1)[:, None]
    coords_start_nn = np.stack([raw.xcoords_start[nn], raw.ycoords_start[nn]], axis=1)[:, None]
    coords_offsets, coords_relative = relative_coords(coords_nn)
    coords_start_offsets, coords_start_relative = relative_coords(coords_start_nn)
    x_full, factor = normalize_diffraction(diffraction, axes=(1, 2))
    if raw.Y is not None:
        y_patches = np.transpose(raw.Y[nn], (0, 2, 3, 1))
    elif raw.objectGuess is not None:
        y_patches = raw.ground_truth_patches(nn)
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
        "objectGuess": raw.objectGuess,
    }
    if raw.sample_indices is not None:
        dset["sample_indices"] = raw.sample_indices
    logger.debug("grouped %d positions into %d groups of %d", m, b, c)
    return dset
