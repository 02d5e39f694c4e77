"""The ``probe.npy`` member: the ``(N, N) complex64`` probe as ``.npy`` bytes (no pickle)."""

from __future__ import annotations

import io

import numpy as np

from ptycho.array_types import Complex64Array, ComplexArray
from ptycho.npy_io import npy_from_bytes

__all__ = ["probe_from_bytes", "probe_to_bytes"]


def probe_to_bytes(probe: ComplexArray) -> bytes:
    """Serialise a probe as ``.npy`` bytes (complex64, no pickle)."""
    buffer = io.BytesIO()
    np.save(buffer, np.asarray(probe, dtype=np.complex64), allow_pickle=False)
    return buffer.getvalue()


def probe_from_bytes(
    data: bytes, source: str = "the probe", n: int | None = None
) -> Complex64Array:
    """Read ``.npy`` probe bytes written by :func:`probe_to_bytes` (no pickle).

    Parameters
    ----------
    data : bytes
        The ``.npy`` content.
    source : str
        What the bytes are, for messages.
    n : int, optional
        When given, the probe must be ``(n, n)``.

    Returns
    -------
    (N, N) complex64

    Raises
    ------
    ValueError
        Pickled or damaged data, a non-numeric array, another shape, or NaN/Inf values; the
        message names ``source`` and never suggests unpickling.
    """
    array = npy_from_bytes(data, source)
    if array.dtype.kind not in "iufc":
        raise ValueError(f"{source} holds a {array.dtype} array, expected complex64 numbers")
    square = array.ndim == 2 and array.shape[0] == array.shape[1]
    if not square or (n is not None and array.shape[0] != n):
        want = f"({n}, {n})" if n is not None else "(N, N)"
        raise ValueError(f"{source} holds an array of shape {array.shape}, expected {want}")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{source} holds NaN/Inf values")
    return np.asarray(array, dtype=np.complex64)
