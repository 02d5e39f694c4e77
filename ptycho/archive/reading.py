"""Bounded reading of a model archive: only its known members, each within its size limit.

Nothing here unpickles or imports code: the manifest is JSON, the probe is read with
``allow_pickle=False``, and the weights are returned as bytes for the backend to open with a
weights-only loader. Only the three known members are read; every limit of
:mod:`ptycho.archive.limits` is checked against the zip directory before anything is
decompressed and enforced again while the member is streamed (HARD-001, HARD-002).
"""

from __future__ import annotations

import json
import logging
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ptycho.archive.layout import MANIFEST_NAME, PROBE_NAME
from ptycho.archive.limits import (
    MANIFEST_MAX_BYTES,
    MAX_MEMBERS,
    ArchiveTooLargeError,
    MemberLimits,
    check_hdf5_payload,
    member_limits,
)
from ptycho.archive.locate import resolve_archive_path
from ptycho.archive.manifest import (
    ManifestError,
    check_manifest,
    upgrade_manifest,
    validate_manifest,
)
from ptycho.archive.probe_member import probe_from_bytes
from ptycho.array_types import Complex64Array

if TYPE_CHECKING:
    from ptycho.config.config import ModelConfig, TrainingConfig

__all__ = ["ArchiveContents", "BackendMismatchError", "read_archive"]

logger = logging.getLogger(__name__)

_CHUNK = 1024 * 1024


class BackendMismatchError(ValueError):
    """An archive was written by a different backend than the one asked to load it."""


@dataclass(frozen=True)
class ArchiveContents:
    """A validated archive: its manifest, configs, probe and the raw bytes of its members.

    Attributes
    ----------
    path : Path
        The archive file.
    manifest : dict
        The checked manifest (upgraded to the current format version).
    files : dict[str, bytes]
        The weights and probe members by name (nothing else is read).
    model_config : ModelConfig
        ``manifest["model_config"]`` as a validated config.
    training_config : TrainingConfig or None
        ``manifest["training_config"]`` as a validated config, when stored.
    probe : (N, N) complex64
        The stored probe.
    """

    path: Path
    manifest: dict[str, Any]
    files: dict[str, bytes]
    model_config: ModelConfig
    training_config: TrainingConfig | None
    probe: Complex64Array

    @property
    def backend(self) -> str:
        """The backend that wrote the archive."""
        return str(self.manifest["backend"])

    @property
    def weights(self) -> bytes:
        """Raw bytes of the weights member."""
        return self.files[self.manifest["weights_file"]]


def read_archive(
    path: str | os.PathLike[str], expected_backend: str | None = None
) -> ArchiveContents:
    """Open and validate an archive, reading only its known members within size limits.

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
    ManifestError
        A manifest value of the wrong type or out of range (names the key and the value).
    ArchiveTooLargeError
        A member larger than the architecture in the manifest allows (HARD-001).
    ValueError
        The file is not a zip (corrupt or truncated), a member is damaged, the manifest is
        missing, unreadable, of an unknown format version or incomplete, or the probe is
        unreadable.
    BackendMismatchError
        The archive was written by another backend than ``expected_backend``.
    """
    archive_path = resolve_archive_path(path)
    source = str(archive_path)
    try:
        with zipfile.ZipFile(archive_path) as archive:
            infos = _member_directory(archive, source)
            manifest = _read_manifest(archive, infos, source)
            model_config, training_config = validate_manifest(manifest, source)
            if expected_backend is not None and manifest["backend"] != expected_backend:
                raise BackendMismatchError(
                    f"model archive {archive_path} was written by the {manifest['backend']} "
                    f"backend, but the {expected_backend} backend was asked to load it; select "
                    f"the {manifest['backend']} backend, or load it through "
                    "ptycho.workflows.backend_selector, which converts between backends"
                )
            limits = member_limits(model_config)
            wanted = {
                manifest["weights_file"]: limits.weights,
                manifest["probe_file"]: limits.probe,
            }
            _check_directory(infos, wanted, limits, source)
            files = {
                name: _read_member(archive, infos[name], limit, source)
                for name, limit in wanted.items()
            }
    except zipfile.BadZipFile as exc:
        raise ValueError(
            f"model archive {archive_path} is corrupt or truncated ({exc}); re-train or copy "
            "the archive again"
        ) from exc
    if manifest["weights_file"].endswith(".h5"):
        check_hdf5_payload(files[manifest["weights_file"]], limits.weights, source)
    probe_name = manifest["probe_file"]
    probe = probe_from_bytes(
        files[probe_name], f"model archive {source}, member {probe_name!r},", int(model_config.N)
    )
    return ArchiveContents(
        path=archive_path,
        manifest=manifest,
        files=files,
        model_config=model_config,
        training_config=training_config,
        probe=probe,
    )


def _member_directory(archive: zipfile.ZipFile, source: str) -> dict[str, zipfile.ZipInfo]:
    """The archive's members by name (from the zip directory; nothing is decompressed)."""
    infos = archive.infolist()
    if len(infos) > MAX_MEMBERS:
        raise ValueError(
            f"model archive {source} holds {len(infos)} members; a ptychopinn archive holds 3 "
            f"({MANIFEST_NAME}, the weights and {PROBE_NAME}): it is not a model archive"
        )
    directory = {info.filename: info for info in infos}
    if MANIFEST_NAME not in directory:
        raise ValueError(
            f"{source} is not a ptychopinn model archive (no {MANIFEST_NAME}); "
            "archives of the original PtychoPINN (dill pickles) are not supported "
            "because loading them can execute code: re-train with ptychopinn"
        )
    return directory


def _too_large(source: str, name: str, size: int, limit: int, what: str) -> ArchiveTooLargeError:
    return ArchiveTooLargeError(
        f"model archive {source}: member {name!r} {what} {size:,} bytes, more than the "
        f"{limit:,} bytes the model described by its manifest can need; the archive is damaged "
        "or was not written by ptychopinn, so it is not read: re-train or copy it again"
    )


def _read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int, source: str) -> bytes:
    """Stream one member, never holding more than ``limit`` bytes of it (HARD-001)."""
    if info.file_size > limit:
        raise _too_large(source, info.filename, info.file_size, limit, "declares")
    chunks: list[bytes] = []
    size = 0
    try:
        with archive.open(info) as handle:
            while chunk := handle.read(min(_CHUNK, limit + 1 - size)):
                size += len(chunk)
                if size > limit:
                    raise _too_large(source, info.filename, size, limit, "holds more than")
                chunks.append(chunk)
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise ValueError(
            f"model archive {source} is corrupt (member {info.filename!r}: {exc}); re-train "
            "or copy the archive again"
        ) from exc
    return b"".join(chunks)


def _read_manifest(
    archive: zipfile.ZipFile, infos: dict[str, zipfile.ZipInfo], source: str
) -> dict[str, Any]:
    """Read, parse, check and upgrade ``manifest.json``."""
    raw = _read_member(archive, infos[MANIFEST_NAME], MANIFEST_MAX_BYTES, source)
    try:
        manifest = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise ValueError(f"model archive {source} has an unreadable manifest: {exc}") from exc
    if not isinstance(manifest, dict):
        raise ValueError(f"model archive {source} has a malformed manifest (not an object)")
    check_manifest(manifest, source=source)
    upgrade_manifest(manifest)
    for key in ("weights_file", "probe_file"):
        name = manifest[key]
        if not isinstance(name, str) or not name or name == MANIFEST_NAME:
            raise ManifestError(source, key, name, "the name of an archive member")
        if name not in infos:
            raise ValueError(f"model archive {source} is incomplete: member {name!r} is missing")
    if manifest["weights_file"] == manifest["probe_file"]:
        raise ManifestError(
            source, "probe_file", manifest["probe_file"], "another member than weights_file"
        )
    return manifest


def _check_directory(
    infos: dict[str, zipfile.ZipInfo], wanted: dict[str, int], limits: MemberLimits, source: str
) -> None:
    """Member sizes from the zip directory, before anything is decompressed."""
    for name, limit in wanted.items():
        if infos[name].file_size > limit:
            raise _too_large(source, name, infos[name].file_size, limit, "declares")
    total = infos[MANIFEST_NAME].file_size + sum(infos[name].file_size for name in wanted)
    if total > limits.total:
        raise ArchiveTooLargeError(
            f"model archive {source}: its members declare {total:,} bytes together, more than "
            f"the {limits.total:,} bytes its model can need; re-train or copy it again"
        )
    ignored = sorted(set(infos) - set(wanted) - {MANIFEST_NAME})
    if ignored:
        logger.warning(
            "model archive %s: ignoring %d unknown member(s) (%s); they are not read",
            source,
            len(ignored),
            ", ".join(repr(n) for n in ignored[:5]) + (" ..." if len(ignored) > 5 else ""),
        )
