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
"""

from __future__ import annotations

import io
import json
import logging
import math
import numbers
import os
import re
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ptycho.array_types import Complex64Array, ComplexArray
from ptycho.atomic import atomic_output
from ptycho.backend import BACKENDS
from ptycho.npy_io import npy_from_bytes

if TYPE_CHECKING:
    from ptycho.backend import ModelBundle
    from ptycho.config.config import ModelConfig, TrainingConfig

__all__ = [
    "ARCHIVE_FORMAT_VERSION",
    "ARCHIVE_NAME",
    "MANIFEST_MAX_BYTES",
    "MANIFEST_NAME",
    "PROBE_NAME",
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


#: Largest ``manifest.json`` that is read (bytes). A manifest holds configs, the history and the
#: weight names: a few kB, or a few MB after very long trainings.
MANIFEST_MAX_BYTES = 32 * 1024 * 1024
#: The weights member may be this factor times the size of the expected float32 parameters ...
WEIGHTS_SIZE_FACTOR = 1.25
#: ... plus this many bytes (HDF5 / safetensors headers: measured <= 160 kB).
WEIGHTS_SIZE_SLACK = 1024 * 1024
#: Bytes allowed beyond the probe's ``N * N * 8`` (the ``.npy`` header is 128 bytes).
PROBE_SIZE_SLACK = 4096
#: An archive with more members than this is refused without reading any of them.
MAX_MEMBERS = 64
_CHUNK = 1024 * 1024
_VALUE_SHOWN = 80


class BackendMismatchError(ValueError):
    """An archive was written by a different backend than the one asked to load it."""


class ArchiveTooLargeError(ValueError):
    """An archive member is larger than the manifest's architecture allows (HARD-001)."""


class ManifestError(ValueError):
    """A manifest value of the wrong type or out of range (HARD-002).

    Attributes
    ----------
    archive : str
        The archive (or ``'manifest to write'``).
    key : str
        The manifest key, dotted for nested values (``model_config``, ``history.loss``).
    value : Any
        The offending value.
    expected : str
        What the key must hold.
    """

    def __init__(self, archive: str, key: str, value: Any, expected: str) -> None:
        shown = repr(value)
        if len(shown) > _VALUE_SHOWN:
            shown = shown[: _VALUE_SHOWN - 3] + "..."
        super().__init__(
            f"model archive {archive}: manifest key {key!r} is {shown} but must be {expected}; "
            "the archive is damaged or was not written by ptychopinn: re-train or copy it again"
        )
        self.archive = archive
        self.key = key
        self.value = value
        self.expected = expected


@dataclass(frozen=True)
class MemberLimits:
    """Largest uncompressed size, in bytes, of each member an archive may hold (HARD-001)."""

    manifest: int
    weights: int
    probe: int

    @property
    def total(self) -> int:
        """Limit on the three members together."""
        return self.manifest + self.weights + self.probe


def member_limits(model_config: ModelConfig) -> MemberLimits:
    """Size limits of an archive for ``model_config``'s network.

    The weights may be :data:`WEIGHTS_SIZE_FACTOR` times the float32 parameters of
    :func:`ptycho.weights.expected_weight_shapes` plus :data:`WEIGHTS_SIZE_SLACK`; the probe
    ``N * N * 8`` bytes (complex64) plus :data:`PROBE_SIZE_SLACK`; the manifest
    :data:`MANIFEST_MAX_BYTES`.
    """
    from ptycho.weights import expected_weight_shapes

    shapes = expected_weight_shapes(model_config)
    parameters = sum(math.prod(shape) for shape in shapes.values())
    n = int(model_config.N)
    return MemberLimits(
        manifest=MANIFEST_MAX_BYTES,
        weights=int(4 * parameters * WEIGHTS_SIZE_FACTOR) + WEIGHTS_SIZE_SLACK,
        probe=8 * n * n + PROBE_SIZE_SLACK,
    )


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


#: A PyTorch run's latest checkpoint, relative to its output directory.
LAST_CHECKPOINT = Path("checkpoints") / "last.ckpt"


def find_model_file(path: str | os.PathLike[str], *, checkpoints: bool = True) -> Path:
    """The model file a user means by ``path`` (a file, or a training output directory).

    A file is returned as is. In a directory, when both ``wts.h5.zip`` and
    ``checkpoints/last.ckpt`` exist the newer one is used (HARD-012): a finished or interrupted
    run saves its archive after its last checkpoint, while a killed run leaves a checkpoint
    newer than the archive of an earlier run. The choice and the reason are logged (a WARNING
    when the checkpoint wins). Without either, the newest ``checkpoints/best*.ckpt``.

    Parameters
    ----------
    path : path-like
        A model file or a directory.
    checkpoints : bool
        Whether Lightning checkpoints may be returned (only the PyTorch backend reads them);
        without, a directory means its archive, and a newer ``last.ckpt`` is only warned about.

    Raises
    ------
    FileNotFoundError
        Nothing found (the message lists what was tried).
    """
    path = Path(path)
    if path.is_file():
        return path
    if not path.is_dir():
        try:
            return resolve_archive_path(path)  # the legacy wts.h5 name, a missing .zip suffix
        except FileNotFoundError:
            raise FileNotFoundError(
                f"model path not found: {path}; pass a wts.h5.zip archive"
                + (", a Lightning .ckpt" if checkpoints else "")
                + " or the training output directory that holds it"
            ) from None
    archive, last = path / ARCHIVE_NAME, path / LAST_CHECKPOINT
    if archive.is_file() and last.is_file() and _modified(last) > _modified(archive):
        if checkpoints:
            logger.warning(
                "%s (%s) is newer than %s (%s): a later run did not save its archive; using "
                "the checkpoint (pass %s to use the archive)",
                last,
                _stamp(last),
                archive.name,
                _stamp(archive),
                archive,
            )
            return last
        logger.warning(
            "%s (%s) is newer than %s (%s), but only the pytorch backend reads checkpoints: "
            "using the archive",
            last,
            _stamp(last),
            archive.name,
            _stamp(archive),
        )
        return archive
    for candidate in (archive, last) if checkpoints else (archive,):
        if candidate.is_file():
            logger.info("model in %s: using %s", path, candidate.name)
            return candidate
    if not checkpoints:
        return resolve_archive_path(path)  # raises, listing what was tried
    best = sorted((path / "checkpoints").glob("best*.ckpt"), key=_modified, reverse=True)
    if best:
        logger.info("model in %s: using the newest best checkpoint %s", path, best[0].name)
        return best[0]
    raise FileNotFoundError(
        f"no model found in {path}: tried {ARCHIVE_NAME}, {LAST_CHECKPOINT} and "
        "checkpoints/best*.ckpt; pass the training output directory or a model file"
    )


def _modified(path: Path) -> float:
    return path.stat().st_mtime


def _stamp(path: Path) -> str:
    return datetime.fromtimestamp(_modified(path)).strftime("%Y-%m-%d %H:%M:%S")


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
        _check_hdf5_payload(files[manifest["weights_file"]], limits.weights, source)
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
    _check_manifest(manifest, source=source)
    _upgrade_manifest(manifest)
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


def _check_hdf5_payload(data: bytes, limit: int, source: str) -> None:
    """Decompressed size of every dataset of an HDF5 weights member, from its metadata.

    HDF5 datasets may be compressed inside the file, so the member's size does not bound what
    reading them allocates; their shapes and types do, and are read without reading the data.
    """
    import h5py

    total = 0
    try:
        with h5py.File(io.BytesIO(data), "r") as handle:
            datasets: list[Any] = []
            handle.visititems(
                lambda _name, obj: datasets.append(obj) if isinstance(obj, h5py.Dataset) else None
            )
            for dataset in datasets:
                if dataset.dtype.kind not in "iufcb":
                    raise ValueError(
                        f"model archive {source}: weights dataset {dataset.name!r} has type "
                        f"{dataset.dtype}, expected numbers; re-train or copy the archive again"
                    )
                total += int(dataset.size) * int(dataset.dtype.itemsize)
    except OSError as exc:
        raise ValueError(
            f"model archive {source}: cannot load its weights: the weights member is not a "
            f"readable HDF5 file ({exc}); the archive is damaged: re-train or copy it again"
        ) from exc
    if total > limit:
        raise ArchiveTooLargeError(
            f"model archive {source}: the weights hold {total:,} bytes once decompressed, more "
            f"than the {limit:,} bytes the model described by its manifest can need; re-train "
            "or copy the archive again"
        )


def _upgrade_manifest(manifest: dict[str, Any]) -> None:
    """Bring an older manifest to the current layout in place (version 1: ``cnn`` networks)."""
    if manifest["format_version"] == 1 and isinstance(manifest.get("model_config"), dict):
        manifest["model_config"].setdefault("architecture", "cnn")
        training = manifest.get("training_config")
        if isinstance(training, dict) and isinstance(training.get("model"), dict):
            training["model"].setdefault("architecture", "cnn")
        manifest["format_version"] = ARCHIVE_FORMAT_VERSION


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _check_manifest(manifest: dict[str, Any], source: str) -> None:
    missing = [key for key in _REQUIRED_MANIFEST_KEYS if key not in manifest]
    if missing:
        raise ValueError(f"{source}: manifest lacks required keys {missing}")
    version = manifest["format_version"]
    if not _is_int(version) or version not in _READABLE_VERSIONS:
        raise ValueError(
            f"{source}: archive format version {version!r} is not supported (this ptychopinn "
            f"reads versions {', '.join(map(str, _READABLE_VERSIONS))}); upgrade ptychopinn or "
            "re-train"
        )
    backend = manifest["backend"]
    if not isinstance(backend, str) or backend not in BACKENDS:
        raise ValueError(
            f"{source}: unknown backend {backend!r} in manifest "
            f"(expected one of {', '.join(BACKENDS)})"
        )


def validate_manifest(
    manifest: Mapping[str, Any], source: str
) -> tuple[ModelConfig, TrainingConfig | None]:
    """Check every manifest value a loader uses; return the model and training configs.

    Parameters
    ----------
    manifest : mapping
        A manifest that passed the required-keys, version and backend checks (and was upgraded
        to the current format version).
    source : str
        The archive, for messages.

    Raises
    ------
    ManifestError
        Naming the key, the value and what it must be (HARD-002).
    """
    from ptycho.config.config import MODEL_TYPES, ModelConfig, TrainingConfig, from_dict

    model_dict = manifest["model_config"]
    if not isinstance(model_dict, Mapping):
        raise ManifestError(source, "model_config", model_dict, "an object of ModelConfig fields")
    try:
        model_config = from_dict(ModelConfig, model_dict)
        model_config.validate(require_n=True)
    except (TypeError, ValueError) as exc:
        raise _config_error(source, "model_config", model_dict, exc) from None
    if not isinstance(manifest["model_type"], str) or manifest["model_type"] not in MODEL_TYPES:
        raise ManifestError(
            source, "model_type", manifest["model_type"], f"one of {', '.join(MODEL_TYPES)}"
        )
    for key, expected in (("N", model_config.N), ("gridsize", model_config.gridsize)):
        value = manifest[key]
        if not _is_int(value) or value != expected:
            raise ManifestError(source, key, value, f"the integer {expected} (model_config.{key})")
    scale = manifest["intensity_scale"]
    if not _is_number(scale) or not math.isfinite(float(scale)) or float(scale) <= 0:
        raise ManifestError(source, "intensity_scale", scale, "a finite number > 0")
    training_config = None
    training_dict = manifest.get("training_config")
    if training_dict is not None:
        if not isinstance(training_dict, Mapping):
            raise ManifestError(
                source,
                "training_config",
                training_dict,
                "null or an object of TrainingConfig fields",
            )
        try:
            training_config = from_dict(TrainingConfig, training_dict)
        except (TypeError, ValueError) as exc:
            raise _config_error(source, "training_config", training_dict, exc) from None
    _check_history(manifest.get("history"), source)
    names = manifest.get("weight_names")
    if names is not None and not (
        (isinstance(names, Mapping) and all(isinstance(v, str) for v in names.values()))
        or (isinstance(names, list) and all(isinstance(v, str) for v in names))
    ):
        raise ManifestError(
            source, "weight_names", names, "an object (or list) of weight-variable names"
        )
    return model_config, training_config


_FIELD_ERROR = re.compile(r"^(ModelConfig|TrainingConfig)\.(\w+) must be (.*), got .*$", re.DOTALL)


def _config_error(
    source: str, key: str, data: Mapping[str, Any], exc: BaseException
) -> ManifestError:
    """A :class:`ManifestError` naming the config field that ``exc`` (from ``from_dict``) names."""
    match = _FIELD_ERROR.match(str(exc))
    if match is None:
        return ManifestError(source, key, data, f"a valid configuration ({exc})")
    owner, field_name, requirement = match.groups()
    holder: Any = data
    if owner == "ModelConfig" and key == "training_config":
        key, holder = f"{key}.model", data.get("model", {})
    value = holder.get(field_name) if isinstance(holder, Mapping) else None
    return ManifestError(source, f"{key}.{field_name}", value, requirement)


def _check_history(history: Any, source: str) -> None:
    if history is None:
        return
    if not isinstance(history, Mapping):
        raise ManifestError(source, "history", history, "an object of per-epoch number lists")
    for key, values in history.items():
        if not isinstance(values, list) or not all(_is_number(v) for v in values):
            raise ManifestError(source, f"history.{key}", values, "a list of numbers")
