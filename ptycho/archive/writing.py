"""Writing a model archive atomically (a temporary file in the target directory, then
:func:`os.replace`), so a failed save never leaves a half-written archive behind."""

from __future__ import annotations

import json
import logging
import os
import zipfile
from pathlib import Path
from typing import Any

from ptycho.archive.layout import ARCHIVE_NAME, MANIFEST_NAME
from ptycho.archive.manifest import check_manifest
from ptycho.atomic import atomic_output

__all__ = ["write_archive"]

logger = logging.getLogger(__name__)


def write_archive(
    path: str | os.PathLike[str], manifest: dict[str, Any], files: dict[str, bytes]
) -> Path:
    """Write an archive atomically and return its path.

    Parameters
    ----------
    path : path-like
        Target file (conventionally ``<dir>/wts.h5.zip``). A directory means ``<dir>/wts.h5.zip``.
    manifest : dict
        JSON-serialisable manifest (see :func:`build_manifest`).
    files : dict[str, bytes]
        Other members by name; must include ``manifest["weights_file"]`` and
        ``manifest["probe_file"]``.

    Raises
    ------
    ValueError
        When the manifest is incomplete or names a member that is not given.
    PermissionError / OSError
        When the directory is not writable (nothing is left behind).
    """
    path = Path(path)
    if path.is_dir():
        path = path / ARCHIVE_NAME
    check_manifest(manifest, source="manifest to write")
    for key in ("weights_file", "probe_file"):
        if manifest[key] not in files:
            raise ValueError(f"archive member {manifest[key]!r} (manifest {key}) was not given")
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(manifest, indent=2, sort_keys=True)
    with (
        atomic_output(path) as tmp,
        zipfile.ZipFile(tmp, "x", compression=zipfile.ZIP_DEFLATED) as archive,
    ):
        archive.writestr(MANIFEST_NAME, text)
        for name, data in files.items():
            archive.writestr(name, data)
    logger.info("wrote model archive %s (%s backend)", path, manifest["backend"])
    return path
