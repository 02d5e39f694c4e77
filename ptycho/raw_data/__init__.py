"""Raw scan data: validation, NPZ I/O and grouping into model-ready arrays.

This package owns :class:`RawData` (``specs/data_contracts.md`` DATA-001 to DATA-007, DATA-010 and
DATA-011). A ``RawData`` holds one scan as NumPy arrays in the package conventions:

* diffraction **amplitude** ``sqrt(counts)``, float32 ``(M, N, N)`` (ARCH-001 / D1); integer
  input is detector counts and is converted once, at construction;
* scan positions in object pixels, ``x`` = column and ``y`` = row of the patch centre
  (ARCH-002 / D2);
* the probe's first mode ``(N, N)`` complex64 in ``probeGuess`` and every mode in
  ``probe_modes``.

Every constructor validates its input and raises ``ValueError`` naming the problem and the fix.

Modules (each one concept; this package re-exports their public names):

* :mod:`~ptycho.raw_data.container`: :class:`RawData` and its validation;
* :mod:`~ptycho.raw_data.amplitude`: :func:`as_amplitude`, :func:`inpaint_bad_pixels`;
* :mod:`~ptycho.raw_data.npz`: the NPZ keys and ``diff3d`` layout, reading and writing arrays;
* :mod:`~ptycho.raw_data.grouped`: grouping into model-ready arrays, :func:`relative_coords`.
"""

from __future__ import annotations

from ptycho.raw_data.amplitude import as_amplitude, inpaint_bad_pixels
from ptycho.raw_data.container import RawData
from ptycho.raw_data.grouped import relative_coords
from ptycho.raw_data.npz import LAYOUT_KEY, LAYOUTS, REQUIRED_KEYS

__all__ = [
    "LAYOUTS",
    "LAYOUT_KEY",
    "REQUIRED_KEYS",
    "RawData",
    "as_amplitude",
    "inpaint_bad_pixels",
    "relative_coords",
]
