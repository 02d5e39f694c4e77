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

Reading is bounded (``specs/hardening.md`` HARD-001, HARD-002): only the three known members
are read; ``manifest.json`` may hold at most :data:`MANIFEST_MAX_BYTES`; the manifest is checked
key by key (:class:`ManifestError` names the archive, the key, the value and what was expected);
the weights and the probe may be at most what the manifest's architecture needs plus a margin
(:func:`member_limits`, from :func:`ptycho.weights.expected_weight_shapes`). Each limit is
checked against the zip directory before anything is decompressed and enforced again while the
member is streamed, so a small archive can never make us allocate gigabytes.

Modules (each one concept; this package re-exports their public names):

* :mod:`~ptycho.archive.layout`: the file and member names, the format versions;
* :mod:`~ptycho.archive.manifest`: :func:`build_manifest`, :func:`validate_manifest`,
  :class:`ManifestError`;
* :mod:`~ptycho.archive.limits`: :class:`MemberLimits`, :func:`member_limits`,
  :class:`ArchiveTooLargeError`;
* :mod:`~ptycho.archive.probe_member`: :func:`probe_to_bytes`, :func:`probe_from_bytes`;
* :mod:`~ptycho.archive.reading`: :func:`read_archive`, :class:`ArchiveContents`,
  :class:`BackendMismatchError`;
* :mod:`~ptycho.archive.writing`: :func:`write_archive`;
* :mod:`~ptycho.archive.locate`: :func:`resolve_archive_path`, :func:`find_model_file`.
"""

from __future__ import annotations

from ptycho.archive.layout import ARCHIVE_FORMAT_VERSION, ARCHIVE_NAME, MANIFEST_NAME, PROBE_NAME
from ptycho.archive.limits import (
    MANIFEST_MAX_BYTES,
    MAX_MEMBERS,
    PROBE_SIZE_SLACK,
    WEIGHTS_SIZE_FACTOR,
    WEIGHTS_SIZE_SLACK,
    ArchiveTooLargeError,
    MemberLimits,
    member_limits,
)
from ptycho.archive.locate import LAST_CHECKPOINT, find_model_file, resolve_archive_path
from ptycho.archive.manifest import ManifestError, build_manifest, validate_manifest
from ptycho.archive.probe_member import probe_from_bytes, probe_to_bytes
from ptycho.archive.reading import ArchiveContents, BackendMismatchError, read_archive
from ptycho.archive.writing import write_archive

__all__ = [
    "ARCHIVE_FORMAT_VERSION",
    "ARCHIVE_NAME",
    "LAST_CHECKPOINT",
    "MANIFEST_MAX_BYTES",
    "MANIFEST_NAME",
    "MAX_MEMBERS",
    "PROBE_NAME",
    "PROBE_SIZE_SLACK",
    "WEIGHTS_SIZE_FACTOR",
    "WEIGHTS_SIZE_SLACK",
    "ArchiveContents",
    "ArchiveTooLargeError",
    "BackendMismatchError",
    "ManifestError",
    "MemberLimits",
    "build_manifest",
    "find_model_file",
    "member_limits",
    "probe_from_bytes",
    "probe_to_bytes",
    "read_archive",
    "resolve_archive_path",
    "validate_manifest",
    "write_archive",
]
