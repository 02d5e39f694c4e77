"""Atomic file writes: nothing half-written is ever left at a target path.

Every writer in the package goes through :func:`atomic_output`: the data is written to a temporary
file in the target's folder (created with ``open(..., 'xb')``, so it gets the usual umask
permissions), then moved over the target with :func:`os.replace`. On any error the temporary file
is removed and the target is untouched.

A process killed while writing (``kill -9``, power loss) cannot remove its temporary file. Such
files are named ``.<target>.ptychopinn-incomplete.<host>.<pid>.<hex>.tmp`` so that a user can
tell what they are, and the next write into the same folder removes those whose process is gone
(:func:`remove_stale_temporaries`, HARD-013 of ``specs/hardening.md``).

:func:`atomic_output_set` writes several files as one set (e.g. a model archive with the
``history.csv`` that describes it, HARD-014): every file is first written completely to its
temporary, and only then are they all moved into place, one right after the other.
"""

from __future__ import annotations

import json
import logging
import os
import re
import secrets
import socket
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from ptycho.array_types import AnyArray

__all__ = [
    "TEMPORARY_MARKER",
    "atomic_output",
    "atomic_output_set",
    "atomic_savez",
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_write_text",
    "remove_stale_temporaries",
    "temporary_sibling",
]

logger = logging.getLogger(__name__)

#: Part of every temporary file name (so a user can tell what a left-over file is).
TEMPORARY_MARKER = "ptychopinn-incomplete"
#: Temporary files of another host (shared file systems) are removed after this many seconds.
FOREIGN_TEMPORARY_AGE_S = 24 * 3600.0
_TEMPORARY = re.compile(
    r"^\.(?P<target>.+)\."
    + TEMPORARY_MARKER
    + r"\.(?P<host>[A-Za-z0-9-]*)\.(?P<pid>\d+)\.[0-9a-f]+\.tmp$"
)
# the naming of earlier releases: .<target>.<pid>.<12 hex>.tmp (always this host)
_LEGACY_TEMPORARY = re.compile(r"^\.(?P<target>.+)\.(?P<pid>\d+)\.[0-9a-f]{12}\.tmp$")


def _host() -> str:
    return re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname())[:63]


def temporary_sibling(path: Path) -> Path:
    """A unique, hidden temporary path next to ``path`` (same folder, same file system).

    ``.<name>.ptychopinn-incomplete.<host>.<pid>.<hex>.tmp``: the host and process id let a
    later run tell whether the writer is still alive (:func:`remove_stale_temporaries`).
    """
    path = Path(path)
    token = secrets.token_hex(6)
    return path.with_name(f".{path.name}.{TEMPORARY_MARKER}.{_host()}.{os.getpid()}.{token}.tmp")


def _process_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True  # exists, owned by someone else (or unknown): keep its file
    return True


def _is_stale(entry: os.DirEntry[str]) -> bool:
    match = _TEMPORARY.match(entry.name)
    if match is not None:
        if match["host"] == _host():
            return not _process_alive(int(match["pid"]))
        try:
            age = time.time() - entry.stat(follow_symlinks=False).st_mtime
        except OSError:
            return False
        return age > FOREIGN_TEMPORARY_AGE_S
    legacy = _LEGACY_TEMPORARY.match(entry.name)
    return legacy is not None and not _process_alive(int(legacy["pid"]))


def remove_stale_temporaries(folder: str | os.PathLike[str]) -> list[Path]:
    """Remove the temporary files that killed writers left in ``folder`` (HARD-013).

    A temporary file (see :func:`temporary_sibling`, and the ``.<name>.<pid>.<hex>.tmp`` naming
    of earlier releases) is stale when it was written on this host by a process that no longer
    exists, or on another host more than :data:`FOREIGN_TEMPORARY_AGE_S` ago. Nothing else is
    touched; errors (a missing or unreadable folder) are ignored.

    Returns
    -------
    list of Path
        The files removed (each is logged at INFO).
    """
    removed: list[Path] = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        if not entry.name.endswith(".tmp") or not entry.is_file(follow_symlinks=False):
            continue
        if _is_stale(entry):
            try:
                os.unlink(entry.path)
            except OSError:
                continue
            logger.info("removed %s, left by an interrupted earlier write", entry.path)
            removed.append(Path(entry.path))
    return removed


def _check_folder(target: Path) -> None:
    """The target's folder must exist and be writable; stale temporaries there are removed."""
    parent = target.parent
    if not parent.is_dir():
        raise FileNotFoundError(
            f"cannot write {target}: folder {parent} does not exist; create it first"
        )
    if not os.access(parent, os.W_OK):
        raise PermissionError(
            f"cannot write {target}: folder {parent} is not writable; choose another output folder"
        )
    remove_stale_temporaries(parent)


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
    with _staged(Path(path)) as tmp:
        yield tmp
        os.replace(tmp, path)


@contextmanager
def atomic_output_set(paths: Sequence[str | os.PathLike[str]]) -> Iterator[list[Path]]:
    """Yield one temporary path per target; on success move them all into place (HARD-014).

    Nothing is moved before every file of the set is complete, so an error or an interruption
    while writing leaves every previous target untouched (and no temporary file behind). The
    moves then follow one another immediately (microseconds apart).

    Parameters
    ----------
    paths : sequence of path-like
        The targets, moved into place in this order.

    Raises
    ------
    FileNotFoundError, PermissionError
        As :func:`atomic_output`, for any target's folder.
    """
    targets = [Path(p) for p in paths]
    with ExitStack() as stack:
        temporaries = [stack.enter_context(_staged(target)) for target in targets]
        yield temporaries
        for tmp, target in zip(temporaries, targets, strict=True):
            if not tmp.exists():
                raise FileNotFoundError(f"{target} was not written (nothing was replaced)")
        for tmp, target in zip(temporaries, targets, strict=True):
            os.replace(tmp, target)


@contextmanager
def _staged(target: Path) -> Iterator[Path]:
    """A temporary sibling of ``target`` that is removed unless it was moved into place."""
    _check_folder(target)
    tmp = temporary_sibling(target)
    try:
        yield tmp
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
    path: str | os.PathLike[str], arrays: Mapping[str, AnyArray], compressed: bool = True
) -> None:
    """``numpy.savez[_compressed]`` to ``path`` atomically (no pickled objects allowed)."""
    save = np.savez_compressed if compressed else np.savez
    for name, value in arrays.items():
        if np.asarray(value).dtype == object:
            raise TypeError(f"array {name!r} has dtype object; NPZ files here never hold pickles")
    with atomic_output(path) as tmp, open(tmp, "xb") as handle:
        # mypy matches **arrays against savez's keyword-only allow_pickle: bool
        save(handle, **arrays)  # type: ignore[arg-type]
