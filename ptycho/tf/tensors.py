"""NumPy <-> TensorFlow at the backend's boundary, and the backend's group layout.

The same names as :mod:`ptycho_torch.tensors`: a caller that holds NumPy arrays in the core's
layout (groups as ``(B, N, N, C)``, design D4) converts them here and never needs to know which
framework or channel order the backend uses. The registry names this module
(``BackendSpec.tensors_module``), so the backend contract tests
(``tests/contract/``) run for every registered backend.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt
import tensorflow as tf

__all__ = [
    "GROUP_LAYOUT",
    "from_numpy",
    "gradient",
    "group_from_numpy",
    "group_to_numpy",
    "to_complex",
    "to_numpy",
]

#: Axis order of a group of patches inside this backend: batch, rows, columns, channels.
GROUP_LAYOUT = "BNNC"


def from_numpy(array: npt.ArrayLike) -> tf.Tensor:
    """A tensor with the array's values and dtype (float64 stays float64)."""
    return tf.convert_to_tensor(np.asarray(array))


def to_numpy(tensor: tf.Tensor) -> np.ndarray:
    """The tensor's values as a NumPy array (a copy for eager tensors)."""
    return np.asarray(tensor.numpy())


def group_from_numpy(patches_bnnc: npt.ArrayLike) -> tf.Tensor:
    """Group patches ``(B, N, N, C)`` in the core's layout -> this backend's ``(B, N, N, C)``."""
    return from_numpy(patches_bnnc)


def group_to_numpy(patches: tf.Tensor) -> np.ndarray:
    """This backend's group patches ``(B, N, N, C)`` -> the core's ``(B, N, N, C)``."""
    return to_numpy(patches)


def to_complex(real: tf.Tensor) -> tf.Tensor:
    """A real tensor as complex64 with zero imaginary part (differentiable in ``real``)."""
    real32 = tf.cast(real, tf.float32)
    return tf.complex(real32, tf.zeros_like(real32))


def gradient(function: Callable[[tf.Tensor], tf.Tensor], x: npt.ArrayLike) -> np.ndarray:
    """``d sum(function(X)) / dX`` at the real array ``x``, as NumPy (same shape as ``x``).

    ``function`` takes and returns tensors of this backend and must return a real tensor.
    """
    variable = tf.Variable(np.asarray(x, dtype=np.float32))
    with tf.GradientTape() as tape:
        total = tf.reduce_sum(function(variable))
    grad = tape.gradient(total, variable)
    if grad is None:
        raise ValueError("function's output does not depend on its input (no gradient)")
    return to_numpy(tf.convert_to_tensor(grad))
