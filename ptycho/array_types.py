"""NumPy array type aliases for the whole project (one module, framework-free).

The aliases name the *element type* (dtype) of an array only. NumPy's static types cannot express
shapes usefully, so shapes are documented where the array is: in the parameter's docstring
(``(B, N, N, C)``, ``(H, W)``) or in its name (``coords_nominal``, ``diff3d``).

Use the narrowest alias that is true for every value the code accepts or returns:

``FloatArray``
    Real floating point of any width (float16/32/64): amplitudes, intensities, positions,
    offsets, phases, images.
``Float32Array`` / ``Float64Array``
    Exactly float32 / float64, where the code fixes the width (network inputs are float32;
    geometry and metrics are computed in float64).
``ComplexArray``
    Complex of any width (complex64/128): objects, probes, exit waves, spectra.
``Complex64Array`` / ``Complex128Array``
    Exactly complex64 / complex128, where the code fixes it (the stored probe and object are
    complex64; some physics works in complex128).
``InexactArray``
    Real *or* complex floating point: functions that work on either (sub-pixel shifts,
    patch extraction, stitching).
``IntArray``
    Any integer width: indices, counts, labels.
``BoolArray``
    Masks.
``AnyArray``
    The dtype is genuinely not fixed by the code (array tables read from a file, network
    weights, dataset dictionaries that mix dtypes).

All are plain ``numpy.typing.NDArray`` aliases, so ``isinstance`` checks still use
``np.ndarray``; at run time they cost nothing.
"""

from __future__ import annotations

from typing import Any, TypeAlias

import numpy as np
import numpy.typing as npt

__all__ = [
    "AnyArray",
    "BoolArray",
    "Complex64Array",
    "Complex128Array",
    "ComplexArray",
    "Float32Array",
    "Float64Array",
    "FloatArray",
    "InexactArray",
    "IntArray",
]

AnyArray: TypeAlias = npt.NDArray[Any]
FloatArray: TypeAlias = npt.NDArray[np.floating[Any]]
Float32Array: TypeAlias = npt.NDArray[np.float32]
Float64Array: TypeAlias = npt.NDArray[np.float64]
ComplexArray: TypeAlias = npt.NDArray[np.complexfloating[Any, Any]]
Complex64Array: TypeAlias = npt.NDArray[np.complex64]
Complex128Array: TypeAlias = npt.NDArray[np.complex128]
InexactArray: TypeAlias = npt.NDArray[np.inexact[Any]]
IntArray: TypeAlias = npt.NDArray[np.integer[Any]]
BoolArray: TypeAlias = npt.NDArray[np.bool_]
