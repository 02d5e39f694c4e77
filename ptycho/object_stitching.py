"""Stitch predicted patches into one object with the workflow API's options (flip, transpose).

:func:`stitch_reconstruction` is the framework-free step both workflow modules
(:mod:`ptycho.workflows.components`, :mod:`ptycho_torch.workflows.components`) run after
prediction; ``ptycho.workflows.components`` re-exports it under its public name.
"""

from __future__ import annotations

import numpy as np

from ptycho.array_types import Complex64Array, ComplexArray, FloatArray
from ptycho.stitching import reassemble_position, stitch_patches

__all__ = ["stitch_reconstruction"]


def stitch_reconstruction(
    patches: ComplexArray,
    global_offsets: FloatArray,
    object_shape: tuple[int, int] | None = None,
    flip_x: bool = False,
    flip_y: bool = False,
    transpose: bool = False,
    M: int = 20,
) -> Complex64Array:
    """Stitch ``(B, N, N, 1)`` patches into one ``(H, W) complex64`` object.

    With ``object_shape`` (and no flip/transpose) the patches land on that object grid
    (:func:`ptycho.stitching.stitch_patches`); otherwise on a scan-centred canvas
    (:func:`ptycho.stitching.reassemble_position`). ``flip_x``/``flip_y`` negate the x/y
    offsets and ``transpose`` transposes the patches and swaps x and y (the original's options).
    """
    patches = np.asarray(patches)
    offsets = np.array(global_offsets, dtype=np.float64, copy=True)
    m = min(int(M), patches.shape[1])
    if object_shape is not None and not (flip_x or flip_y or transpose):
        return stitch_patches(
            patches[..., 0],
            offsets[:, 0, 0, 0],
            offsets[:, 0, 1, 0],
            (int(object_shape[0]), int(object_shape[1])),
            crop=m,
        )
    if flip_x:
        offsets[:, 0, 0, :] = -offsets[:, 0, 0, :]
    if flip_y:
        offsets[:, 0, 1, :] = -offsets[:, 0, 1, :]
    if transpose:
        patches = np.transpose(patches, (0, 2, 1, 3))
        offsets = offsets[:, :, ::-1, :]
    return reassemble_position(patches, offsets, M=m)[..., 0]
