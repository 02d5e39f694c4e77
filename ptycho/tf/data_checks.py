"""Checks that a data container fits a TF model (training and prediction input).

Wrong shapes, an empty container or NaN/Inf diffraction are a ``ValueError`` that says what to
change, raised before any TensorFlow work starts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from ptycho.loader import PtychoDataContainer

__all__ = ["check_container"]


def check_container(container: PtychoDataContainer, n: int, gridsize: int, what: str) -> None:
    """Raise ``ValueError`` when ``container`` does not fit a model of size ``n`` / ``gridsize``."""
    x = np.asarray(container.X)
    if x.ndim != 4:
        raise ValueError(f"{what} diffraction must have shape (B, N, N, C), got {x.shape}")
    if x.shape[1] != n or x.shape[2] != n:
        raise ValueError(
            f"{what} diffraction patterns are {x.shape[1]}x{x.shape[2]} but the model has N={n}; "
            f"use a model with N={x.shape[1]} (or set N={x.shape[1]})"
        )
    c = gridsize * gridsize
    if x.shape[3] != c:
        raise ValueError(
            f"{what} data has {x.shape[3]} patterns per group but the model has gridsize="
            f"{gridsize} (C={c}); group the data with gridsize={gridsize}"
        )
    if len(container) == 0:
        raise ValueError(f"{what} data holds no groups")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{what} diffraction contains NaN or Inf values; fix the input data")
