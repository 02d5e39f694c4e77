"""Atomic file writes: nothing half-written is ever left at a target path.

Every writer in the package goes through :func:`atomic_output`: the data is written to a temporary
file in the target's folder (created with ``open(..., 'xb')``, so it gets the usual umask
permissions), then moved over the target with :func:`os.replace`. On any error the temporary file
is removed and the target is untouched.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "atomic_output",
    "atomic_savez",
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_write_text",
    "temporary_sibling",
]


def temporary_sibling(path: Path) -> Path:
    """A unique, hidden temporary path next to ``path`` (same folder, same file system)."""
    return path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(6)}.tmp")


@contextmanager
def atomic_output(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path to write; on success it replaces ``path`` atomically.

    Raises
    ------
    FileNotFoundError
        When the target's folder does not exist (create it first).
    PermissionError
        When the target's folder is not writable.
    """
    target = Path(path)
    parent = target.parent
    if not parent.is_dir():
        raise FileNotFoundError(
            f"cannot write {target}: folder {parent} does not exist; create it first"
        )
    if not os.access(parent, os.W_OK):
        raise PermissionError(
            f"cannot write {target}: folder {parent} is not writable; choose another output folder"
        )
    tmp = temporary_sibling(target)
    try:
        yield tmp
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_output(path) as tmp, open(tmp, "xb") as handle:
        handle.write(data)


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write UTF-8 ``text`` to ``path`` atomically."""
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike[str], payload: Any) -> None:
    """Write ``payload`` as indented JSON (with a final newline) atomically."""
    atomic_write_text(path, json.dumps(payload, indent=2) + "\n")


def atomic_savez(
    path: str | os.PathLike[str], arrays: Mapping[str, np.ndarray], compressed: bool = True
) -> None:
    """``numpy.savez[_compressed]`` to ``path`` atomically (no pickled objects allowed)."""
    save = np.savez_compressed if compressed else np.savez
    for name, value in arrays.items():
        if np.asarray(value).dtype == object:
            raise TypeError(f"array {name!r} has dtype object; NPZ files here never hold pickles")
    with atomic_output(path) as tmp, open(tmp, "xb") as handle:
        save(handle, **arrays)
