"""The ``wts.h5.zip`` model archive shared by both backends (design D6).

An archive is one zip file holding

- ``manifest.json``: format version, backend, model type, the full model and training configs,
  ``N``, ``gridsize``, intensity scale, the names of the other members and a training summary;
- the weights in a non-executable format (``weights.weights.h5`` for Keras,
  ``weights.safetensors`` for torch), named by ``manifest["weights_file"]``;
- ``probe.npy``: the normalised ``(N, N) complex64`` probe the model uses.

Nothing here unpickles or imports code: the manifest is JSON, the probe is read with
``allow_pickle=False``, and the weights are opened by the backend with a weights-only loader.
Writes are atomic (a temporary file in the target directory, then :func:`os.replace`), so a
failed save never leaves a half-written archive behind.
"""

from __future__ import annotations

import io
import json
import logging
import os
import zipfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ptycho.atomic import atomic_output
from ptycho.backend import BACKENDS

if TYPE_CHECKING:
    from ptycho.backend import ModelBundle

__all__ = [
    "ARCHIVE_FORMAT_VERSION",
    "ARCHIVE_NAME",
    "MANIFEST_NAME",
    "PROBE_NAME",
    "ArchiveContents",
    "BackendMismatchError",
    "build_manifest",
    "probe_from_bytes",
    "probe_to_bytes",
    "read_archive",
    "resolve_archive_path",
    "write_archive",
]

logger = logging.getLogger(__name__)

#: Version of the archive layout; bump when the manifest or members change incompatibly.
#: Version 2 added ``model_config["architecture"]``; version 1 archives are all ``'cnn'``.
ARCHIVE_FORMAT_VERSION = 2
#: Older versions this release still reads (upgraded in memory by :func:`read_archive`).
_READABLE_VERSIONS = (1, ARCHIVE_FORMAT_VERSION)
#: The archive's conventional file name (what Ptychodus's built-in client expects).
ARCHIVE_NAME = "wts.h5.zip"
MANIFEST_NAME = "manifest.json"
PROBE_NAME = "probe.npy"
_REQUIRED_MANIFEST_KEYS = (
    "format_version",
    "backend",
    "model_type",
    "model_config",
    "N",
    "gridsize",
    "intensity_scale",
    "weights_file",
    "probe_file",
)


class BackendMismatchError(ValueError):
    """An archive was written by a different backend than the one asked to load it."""


@dataclass(frozen=True)
class ArchiveContents:
    """A validated archive: its manifest and the raw bytes of every member."""

    path: Path
    manifest: dict[str, Any]
    files: dict[str, bytes]

    @property
    def backend(self) -> str:
        """The backend that wrote the archive."""
        return str(self.manifest["backend"])

    @property
    def weights(self) -> bytes:
        """Raw bytes of the weights member."""
        return self.files[self.manifest["weights_file"]]

    @property
    def probe(self) -> np.ndarray:
        """The stored probe, ``(N, N) complex64``."""
        return probe_from_bytes(self.files[self.manifest["probe_file"]])


def resolve_archive_path(path: str | os.PathLike[str]) -> Path:
    """Find the archive a user means by ``path``.

    A directory means ``<dir>/wts.h5.zip``; a name ending in ``wts.h5`` means ``wts.h5.zip``;
    otherwise the path itself, or the path with a ``.zip`` suffix when only that exists.

    Raises
    ------
    FileNotFoundError
        When none of the candidates exists (the message lists what was tried).
    """
    path = Path(path)
    candidates = []
    if path.is_dir():
        candidates.append(path / ARCHIVE_NAME)
    else:
        candidates.append(path)
        if path.name == "wts.h5":
            candidates.append(path.with_name(ARCHIVE_NAME))
        candidates.append(path.with_suffix(path.suffix + ".zip"))
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    tried = ", ".join(str(c) for c in candidates)
    raise FileNotFoundError(
        f"no model archive found at {path} (tried {tried}); pass the path of a wts.h5.zip "
        "written by ptycho-train / ptycho_torch.train, or the directory that contains it"
    )


def probe_to_bytes(probe: np.ndarray) -> bytes:
    """Serialise a probe as ``.npy`` bytes (complex64, no pickle)."""
    buffer = io.BytesIO()
    np.save(buffer, np.asarray(probe, dtype=np.complex64), allow_pickle=False)
    return buffer.getvalue()


def probe_from_bytes(data: bytes) -> np.ndarray:
    """Read ``.npy`` probe bytes written by :func:`probe_to_bytes` (no pickle)."""
    array = np.load(io.BytesIO(data), allow_pickle=False)
    return np.asarray(array, dtype=np.complex64)


def build_manifest(
    bundle: ModelBundle, weights_file: str, extra: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Build the manifest for ``bundle`` (configs serialised with ``to_dict``)."""
    from ptycho import __version__
    from ptycho.config.config import to_dict

    history = bundle.history or {}
    summary: dict[str, Any] = {"epochs": len(history.get("loss", []))}
    for key in ("loss", "val_loss"):
        values = history.get(key) or []
        if values:
            summary[f"final_{key}"] = float(values[-1])
    manifest: dict[str, Any] = {
        "format_version": ARCHIVE_FORMAT_VERSION,
        "backend": bundle.backend,
        "model_type": bundle.model_config.model_type,
        "model_config": to_dict(bundle.model_config),
        "training_config": (
            to_dict(bundle.training_config) if bundle.training_config is not None else None
        ),
        "N": int(bundle.model_config.N),
        "gridsize": int(bundle.model_config.gridsize),
        "intensity_scale": float(bundle.intensity_scale),
        "weights_file": weights_file,
        "probe_file": PROBE_NAME,
        "history": {k: [float(v) for v in vals] for k, vals in history.items()},
        "training_summary": summary,
        "ptychopinn_version": __version__,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    if extra:
        manifest.update(extra)
    return manifest


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
    _check_manifest(manifest, source="manifest to write")
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


def read_archive(
    path: str | os.PathLike[str], expected_backend: str | None = None
) -> ArchiveContents:
    """Open and validate an archive.

    Parameters
    ----------
    path : path-like
        The archive, or a directory holding ``wts.h5.zip`` (see :func:`resolve_archive_path`).
    expected_backend : str, optional
        When given, an archive of another backend raises :class:`BackendMismatchError` naming
        both backends.

    Raises
    ------
    FileNotFoundError
        No archive at ``path``.
    ValueError
        The file is not a zip (corrupt or truncated), a member is damaged, the manifest is
        missing, unreadable, of an unknown format version or incomplete.
    BackendMismatchError
        The archive was written by another backend than ``expected_backend``.
    """
    archive_path = resolve_archive_path(path)
    try:
        with zipfile.ZipFile(archive_path) as archive:
            damaged = archive.testzip()
            if damaged is not None:
                raise ValueError(
                    f"model archive {archive_path} is corrupt (member {damaged!r} fails its "
                    "checksum); re-train or copy the archive again"
                )
            names = set(archive.namelist())
            if MANIFEST_NAME not in names:
                raise ValueError(
                    f"{archive_path} is not a ptychopinn model archive (no {MANIFEST_NAME}); "
                    "archives of the original PtychoPINN (dill pickles) are not supported "
                    "because loading them can execute code: re-train with ptychopinn"
                )
            files = {name: archive.read(name) for name in names}
    except zipfile.BadZipFile as exc:
        raise ValueError(
            f"model archive {archive_path} is corrupt or truncated ({exc}); re-train or copy "
            "the archive again"
        ) from exc
    try:
        manifest = json.loads(files.pop(MANIFEST_NAME).decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"model archive {archive_path} has an unreadable manifest: {exc}") from exc
    if not isinstance(manifest, dict):
        raise ValueError(f"model archive {archive_path} has a malformed manifest (not an object)")
    _check_manifest(manifest, source=str(archive_path))
    _upgrade_manifest(manifest)
    for key in ("weights_file", "probe_file"):
        if manifest[key] not in files:
            raise ValueError(
                f"model archive {archive_path} is incomplete: member {manifest[key]!r} is missing"
            )
    if expected_backend is not None and manifest["backend"] != expected_backend:
        raise BackendMismatchError(
            f"model archive {archive_path} was written by the {manifest['backend']} backend, "
            f"but the {expected_backend} backend was asked to load it; select the "
            f"{manifest['backend']} backend, or load it through "
            "ptycho.workflows.backend_selector, which converts between backends"
        )
    return ArchiveContents(path=archive_path, manifest=manifest, files=files)


def _upgrade_manifest(manifest: dict[str, Any]) -> None:
    """Bring an older manifest to the current layout in place (version 1: ``cnn`` networks)."""
    if manifest["format_version"] == 1 and isinstance(manifest.get("model_config"), dict):
        manifest["model_config"].setdefault("architecture", "cnn")
        training = manifest.get("training_config")
        if isinstance(training, dict) and isinstance(training.get("model"), dict):
            training["model"].setdefault("architecture", "cnn")
        manifest["format_version"] = ARCHIVE_FORMAT_VERSION


def _check_manifest(manifest: dict[str, Any], source: str) -> None:
    missing = [key for key in _REQUIRED_MANIFEST_KEYS if key not in manifest]
    if missing:
        raise ValueError(f"{source}: manifest lacks required keys {missing}")
    version = manifest["format_version"]
    if version not in _READABLE_VERSIONS:
        raise ValueError(
            f"{source}: archive format version {version!r} is not supported (this ptychopinn "
            f"reads versions {', '.join(map(str, _READABLE_VERSIONS))}); upgrade ptychopinn or "
            "re-train"
        )
    if manifest["backend"] not in BACKENDS:
        raise ValueError(
            f"{source}: unknown backend {manifest['backend']!r} in manifest "
            f"(expected one of {', '.join(BACKENDS)})"
        )
