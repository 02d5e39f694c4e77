"""Reading ``.npy`` / ``.npz`` data that may come from anyone, with our own error messages.

Every array the package reads from a file or an archive member goes through here (HARD-003 of
``specs/hardening.md``):

* nothing is ever unpickled (``allow_pickle=False``);
* a pickled object array, a damaged array or a file that is not an NPZ archive at all (a text
  file, a single ``.npy``) gives a ``ValueError`` that names the file (and the key or archive
  member) and says how to fix it. NumPy's own text for pickled data suggests turning pickles
  on (the unsafe fix), so it is never shown.
"""

from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ptycho.array_types import AnyArray

if TYPE_CHECKING:
    from numpy.lib.npyio import NpzFile

__all__ = [
    "NPY_MAGIC",
    "ZIP_MAGIC",
    "describe_file_start",
    "npy_from_bytes",
    "npz_array",
    "open_npz",
]

#: First bytes of a ``.npy`` file.
NPY_MAGIC = b"\x93NUMPY"
#: First bytes of a zip archive (and so of an ``.npz``); ``PK\x05\x06`` is an empty archive.
ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")

# NumPy's messages for pickled data mention this word; we replace them with our own.
_PICKLE_WORD = "pickle"


def _pickled_message(source: str) -> str:
    return (
        f"{source} holds a pickled object, which is never loaded (unpickling a file can run "
        "code); store it as a plain numeric array"
    )


def _reason(exc: BaseException) -> str:
    """NumPy's reason for a damaged array, or a neutral text when it speaks of pickles."""
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if _PICKLE_WORD in text.lower():
        return "it is not a plain numeric array"
    return text


def describe_file_start(head: bytes) -> str:
    """What the first bytes of a file suggest it is (for error messages)."""
    if not head:
        return "the file is empty"
    if head.startswith(NPY_MAGIC):
        return "it holds a single .npy array"
    if head.startswith(b"BZh"):
        return "it is bzip2-compressed"
    if head.startswith(b"\x89HDF"):
        return "it is an HDF5 file"
    if head.startswith(b"\x80"):
        return "it looks like a Python pickle"
    try:
        head.decode("utf-8")
    except UnicodeDecodeError:
        return f"it starts with the bytes {head[:8]!r}"
    return "it looks like a text file"


def npy_from_bytes(data: bytes, source: str) -> AnyArray:
    """Read ``.npy`` bytes without unpickling.

    Parameters
    ----------
    data : bytes
        The ``.npy`` content.
    source : str
        What the bytes are, for messages, e.g. ``"model archive /a/wts.h5.zip, member
        'probe.npy'"``.

    Raises
    ------
    ValueError
        Pickled object data, or bytes that are not a complete ``.npy`` array.
    """
    if not data.startswith(NPY_MAGIC):
        raise ValueError(f"{source} is not a .npy array ({describe_file_start(data[:64])})")
    try:
        array = np.load(io.BytesIO(data), allow_pickle=False)
    except ValueError as exc:
        if _PICKLE_WORD in str(exc).lower():
            raise ValueError(_pickled_message(source)) from None
        raise ValueError(f"{source} is a damaged .npy array ({_reason(exc)})") from None
    except (OSError, EOFError) as exc:
        raise ValueError(f"{source} is a damaged .npy array ({_reason(exc)})") from None
    return np.asarray(array)


def open_npz(
    path: str | os.PathLike[str],
    *,
    what: str = "NPZ file",
    fix: str = "write it with numpy.savez",
) -> NpzFile:
    """Open an NPZ archive lazily (``numpy.lib.npyio.NpzFile``; use it as a context manager).

    Parameters
    ----------
    path : path-like
        An existing file.
    what : str
        What the file should be, for messages (``"NPZ dataset"``).
    fix : str
        How to produce a good file, appended to messages.

    Raises
    ------
    FileNotFoundError
        No such file.
    ValueError
        ``<path> is not a readable <what> (<why>); <fix>`` for a file that is not a zip archive
        (a text file, a pickle, an empty file ...) or is truncated; ``<path> holds a single
        array, not an <what> with named keys`` for a ``.npy`` file.
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"{what} not found: {p}")
    with open(p, "rb") as handle:
        head = handle.read(64)
    if head.startswith(NPY_MAGIC):
        raise ValueError(f"{p} holds a single array, not an {what} with named keys; {fix}")
    if not head.startswith(ZIP_MAGIC):
        raise ValueError(f"{p} is not a readable {what} ({describe_file_start(head)}); {fix}")
    try:
        npz: NpzFile = np.load(p, allow_pickle=False)
    except (ValueError, OSError, zipfile.BadZipFile, EOFError) as exc:
        raise ValueError(f"{p} is not a readable {what} ({_reason(exc)}); {fix}") from None
    return npz


def npz_array(npz: NpzFile, key: str, source: str) -> AnyArray:
    """``npz[key]`` without unpickling; ``source`` names the file in messages.

    Raises
    ------
    ValueError
        ``<source>: key '<key>' holds a pickled ...`` or ``... is damaged (...)``.
    """
    what = f"{source}: key {key!r}"
    try:
        return np.asarray(npz[key])
    except ValueError as exc:
        if _PICKLE_WORD in str(exc).lower():
            raise ValueError(_pickled_message(what)) from None
        raise ValueError(f"{what} is damaged ({_reason(exc)}); write the file again") from None
    except (OSError, EOFError, zipfile.BadZipFile) as exc:
        raise ValueError(f"{what} is damaged ({_reason(exc)}); write the file again") from None
