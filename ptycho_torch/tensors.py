"""NumPy <-> torch at the backend's boundary, and the backend's group layout.

The same names as :mod:`ptycho.tf.tensors`: a caller that holds NumPy arrays in the core's
layout (groups as ``(B, N, N, C)``, design D4) converts them here and never needs to know which
framework or channel order the backend uses (this backend keeps groups channels-first,
``(B, C, N, N)``). The registry names this module (``BackendSpec.tensors_module``), so the
backend contract tests (``tests/contract/``) run for every registered backend.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt
import torch

__all__ = [
    "GROUP_LAYOUT",
    "from_numpy",
    "gradient",
    "group_from_numpy",
    "group_to_numpy",
    "to_complex",
    "to_numpy",
]

#: Axis order of a group of patches inside this backend: batch, channels, rows, columns.
GROUP_LAYOUT = "BCNN"


def from_numpy(array: npt.ArrayLike) -> torch.Tensor:
    """A tensor with the array's values and dtype (float64 stays float64), on the CPU."""
    return torch.from_numpy(np.ascontiguousarray(array))


def to_numpy(tensor: torch.Tensor) -> np.ndarray:
    """The tensor's values as a NumPy array (detached, on the CPU)."""
    return np.asarray(tensor.detach().cpu().numpy())


def group_from_numpy(patches_bnnc: npt.ArrayLike) -> torch.Tensor:
    """Group patches ``(B, N, N, C)`` in the core's layout -> this backend's ``(B, C, N, N)``."""
    return from_numpy(np.moveaxis(np.asarray(patches_bnnc), -1, 1))


def group_to_numpy(patches: torch.Tensor) -> np.ndarray:
    """This backend's group patches ``(B, C, N, N)`` -> the core's ``(B, N, N, C)``."""
    return np.ascontiguousarray(np.moveaxis(to_numpy(patches), 1, -1))


def to_complex(real: torch.Tensor) -> torch.Tensor:
    """A real tensor as complex64 with zero imaginary part (differentiable in ``real``)."""
    real32 = real.to(torch.float32)
    return torch.complex(real32, torch.zeros_like(real32))


def gradient(function: Callable[[torch.Tensor], torch.Tensor], x: npt.ArrayLike) -> np.ndarray:
    """``d sum(function(X)) / dX`` at the real array ``x``, as NumPy (same shape as ``x``).

    ``function`` takes and returns tensors of this backend and must return a real tensor.
    """
    variable = torch.tensor(np.asarray(x, dtype=np.float32), requires_grad=True)
    total = function(variable).sum()
    if not total.requires_grad:
        raise ValueError("function's output does not depend on its input (no gradient)")
    total.backward()
    assert variable.grad is not None
    return to_numpy(variable.grad)
