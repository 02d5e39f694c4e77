"""The library's loaded model, shared by its reconstructors.

This module owns ``specs/ptychodus_api_spec.md`` ADAPT-030 .. ADAPT-034: one
:class:`ModelSlot` per library holds the model that ``PINN`` and ``Supervised`` infer with and
that ``PINN-Fit`` starts from. The ``PtychoPINNxInference.ModelPath`` setting is its persistent
pointer: loading or training a model writes the archive path there (so it is saved in the INI
file and shown in the panel), and a path typed into the setting is loaded on the next run.

The slot loads archives with the backend selected in ``PtychoPINNxExecution.Backend``; when that
differs from the archive's backend, ``ptycho.workflows.backend_selector`` converts the weights
(or raises an error naming both backends). Besides our own ``wts.h5.zip`` archives under any file
name (batch mode loads ``IN/model.zip``), a zip that *contains* a ``wts.h5.zip`` (the layout
Ptychodus's built-in PtychoPINN saves) is accepted.

The slot is an ``Observable``: the GUI panel listens to show the loaded model, refresh the
``ModelPath`` field and the Infer button (on the GUI thread; the slot itself never touches Qt).
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import threading
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING

from ptychodus.api.observer import Observable

from ptycho.atomic import atomic_output
from ptycho_reconstructor.settings import PtychoPINNxSettings, model_path_from_settings

if TYPE_CHECKING:
    from ptycho.backend import ModelBundle

__all__ = ["ModelSlot", "describe_bundle"]

logger = logging.getLogger(__name__)

_ARCHIVE_NAME = "wts.h5.zip"
#: Largest ``wts.h5.zip`` unpacked from a zip that contains one (ADAPT-033, HARD-004); the
#: archive read afterwards is bounded by its own manifest (:func:`ptycho.archive.read_archive`).
NESTED_ARCHIVE_MAX_BYTES = 1024**3
_CHUNK = 1024 * 1024


def _nested_too_large(source: Path, name: str, size: int) -> ValueError:
    return ValueError(
        f"{source}: its member {name!r} holds {size:,} bytes, more than the "
        f"{NESTED_ARCHIVE_MAX_BYTES:,} bytes any model archive needs; it is not unpacked. Load "
        "the wts.h5.zip written by training instead"
    )


def _copy_bounded(
    outer: zipfile.ZipFile, info: zipfile.ZipInfo, target: Path, source: Path
) -> None:
    """Unpack one member to ``target``, stopping at :data:`NESTED_ARCHIVE_MAX_BYTES`."""
    size = 0
    try:
        with outer.open(info) as src, target.open("wb") as dst:
            while chunk := src.read(_CHUNK):
                size += len(chunk)
                if size > NESTED_ARCHIVE_MAX_BYTES:
                    raise _nested_too_large(source, info.filename, size)
                dst.write(chunk)
    except (zipfile.BadZipFile, OSError) as exc:
        raise ValueError(f"{source} is corrupt ({info.filename!r}: {exc})") from exc


def describe_bundle(bundle: ModelBundle) -> str:
    """One line describing a model: type, backend, N, gridsize, epochs."""
    return (
        f"{bundle.model_config.model_type} model ({bundle.backend}, N={bundle.N}, "
        f"gridsize={bundle.gridsize}, {bundle.epochs_trained} epochs)"
    )


def _pretrained_archive() -> Path | None:
    """The pretrained model that ships with ptychopinn, or None when it is not installed."""
    from ptycho.pretrained import archive_path

    try:
        return archive_path()
    except FileNotFoundError:
        return None


def _same_path(a: Path | None, b: Path | None) -> bool:
    if a is None or b is None:
        return a is b
    try:
        return a.resolve() == b.resolve()
    except OSError:
        return a == b


class ModelSlot(Observable):
    """The loaded model of one library (thread-safe).

    Parameters
    ----------
    settings : PtychoPINNxSettings
        The library's settings (``ModelPath`` and ``Backend`` are read and ``ModelPath`` written).
    """

    def __init__(self, settings: PtychoPINNxSettings) -> None:
        super().__init__()
        self._settings = settings
        self._lock = threading.RLock()
        self._bundle: ModelBundle | None = None
        self._path: Path | None = None
        self._pretrained = False
        self._unpacked: tempfile.TemporaryDirectory[str] | None = None

    @property
    def path(self) -> Path | None:
        """The archive the current model came from (or was saved to), if any."""
        with self._lock:
            return self._path

    @property
    def bundle(self) -> ModelBundle | None:
        """The model in memory, if any (it may be stale w.r.t. ``ModelPath``; see :meth:`get`)."""
        with self._lock:
            return self._bundle

    def is_loaded(self) -> bool:
        """True when a model is in memory, ``ModelPath`` names an existing file or directory, or
        the pretrained model that ships with ptychopinn is installed (used when neither)."""
        with self._lock:
            if self._bundle is not None:
                return True
        path = model_path_from_settings(self._settings)
        if path is None:
            return _pretrained_archive() is not None
        return path.is_file() or (path / _ARCHIVE_NAME).is_file()

    def describe(self) -> str:
        """Human-readable state for the GUI."""
        with self._lock:
            if self._bundle is not None:
                where = f" from {self._path}" if self._path is not None else ""
                return describe_bundle(self._bundle) + where
        path = model_path_from_settings(self._settings)
        if path is not None:
            return f"not loaded yet: {path} (loaded on the next run)"
        if _pretrained_archive() is not None:
            return "the pretrained model (ships with ptychopinn; train or load one to replace it)"
        return "no model loaded (train one, or Load Model...)"

    def load(self, path: Path) -> ModelBundle:
        """Load the archive at ``path`` with the selected backend and make it the model.

        Raises
        ------
        FileNotFoundError
            Nothing at ``path``.
        ValueError
            Not a ptychopinn archive, corrupt, or of another backend and not convertible.
        RuntimeError
            The selected backend is not installed.
        """
        from ptycho_reconstructor.execution import load_bundle

        source = Path(path).expanduser()
        if not source.exists():
            raise FileNotFoundError(
                f"model file {source} does not exist; choose a wts.h5.zip written by "
                "PtychoPINNx Train, ptycho-train or ptycho_torch.train"
            )
        backend = self._settings.backend
        archive, unpacked = self._archive_in(source)
        bundle = load_bundle(archive, backend)
        logger.info("loaded %s from %s", describe_bundle(bundle), source)
        with self._lock:
            if self._unpacked is not None and self._unpacked is not unpacked:
                self._unpacked.cleanup()
            self._unpacked = unpacked
            self._bundle = bundle
            self._path = source
            self._pretrained = False
        self._set_model_path(source)
        self.notify_observers()
        return bundle

    def set(self, bundle: ModelBundle, path: Path | None) -> None:
        """Make ``bundle`` (just trained, saved at ``path``) the model."""
        with self._lock:
            self._bundle = bundle
            self._path = None if path is None else Path(path)
            self._pretrained = False
        if path is not None:
            self._set_model_path(Path(path))
        self.notify_observers()

    def _set_model_path(self, path: Path) -> None:
        # Without notification: this may run on Ptychodus's worker thread, and the setting's
        # observers include Qt widgets. The GUI refreshes them on the GUI thread when this slot
        # notifies (ptycho_reconstructor.gui).
        self._settings.inference.model_path.set_value(path, notify=False)

    def get(self) -> ModelBundle:
        """The model to run, loading or converting it when needed.

        The model in memory is used when it came from ``ModelPath`` (or ``ModelPath`` is empty)
        and matches the selected backend; otherwise ``ModelPath`` (or the model's own archive)
        is (re)loaded with the selected backend.

        Raises
        ------
        RuntimeError
            No model is loaded and ``ModelPath`` is empty.
        """
        setting = model_path_from_settings(self._settings)
        backend = self._settings.backend
        with self._lock:
            bundle, path = self._bundle, self._path
        if bundle is not None and (setting is None or _same_path(setting, path)):
            if bundle.backend == backend:
                return bundle
            pretrained = _pretrained_archive() if self._pretrained else None
            if pretrained is not None:
                return self._load_pretrained(pretrained)
            if path is None:
                raise RuntimeError(
                    f"the loaded model runs on the {bundle.backend} backend but "
                    f"PtychoPINNxExecution.Backend is {backend}; select {bundle.backend}, or "
                    "save the model and load it again so it can be converted"
                )
            logger.info("backend changed to %s: reloading %s", backend, path)
            return self.load(path)
        if setting is not None:
            return self.load(setting)
        pretrained = _pretrained_archive()
        if pretrained is not None:
            return self._load_pretrained(pretrained)
        raise RuntimeError(
            "no PtychoPINNx model is loaded: train one (Train), load one (Load Model...), or set "
            "PtychoPINNxInference.ModelPath to a wts.h5.zip archive"
        )

    def _load_pretrained(self, archive: Path) -> ModelBundle:
        """Load the shipped model without writing its path into ``ModelPath`` (the user's INI
        file should not point into site-packages)."""
        from ptycho_reconstructor.execution import load_bundle

        bundle = load_bundle(archive, self._settings.backend)
        logger.info("no model given: using the pretrained %s", describe_bundle(bundle))
        with self._lock:
            self._bundle = bundle
            self._path = None
            self._pretrained = True
        self.notify_observers()
        return bundle

    def _archive_in(self, source: Path) -> tuple[Path, tempfile.TemporaryDirectory[str] | None]:
        """Our archive at ``source``; unpack a zip that merely contains a ``wts.h5.zip``."""
        if source.is_dir() or not zipfile.is_zipfile(source):
            return source, None
        with zipfile.ZipFile(source) as outer:
            names = outer.namelist()
            if "manifest.json" in names:
                return source, None
            nested = [n for n in names if n.rsplit("/", 1)[-1] == _ARCHIVE_NAME]
            if len(nested) != 1:
                return source, None
            info = outer.getinfo(nested[0])
            if info.file_size > NESTED_ARCHIVE_MAX_BYTES:
                raise _nested_too_large(source, nested[0], info.file_size)
            unpacked = tempfile.TemporaryDirectory(prefix="ptychopinnx-model-")
            target = Path(unpacked.name) / _ARCHIVE_NAME
            try:
                _copy_bounded(outer, info, target, source)
            except BaseException:
                unpacked.cleanup()
                raise
        logger.info("%s holds %s; loading that archive", source, nested[0])
        return target, unpacked

    def save(self, file_path: Path) -> Path:
        """Write the current model to ``file_path`` (atomic; any file name).

        Raises
        ------
        RuntimeError
            No model is loaded.
        """
        from ptycho_reconstructor.execution import resolve_backend

        bundle = self.get()
        target = Path(file_path)
        with self._lock:
            source = self._path
        if source is not None and source.is_file() and not _same_path(source, target):
            with atomic_output(target) as tmp:
                shutil.copyfile(source, tmp)
        else:
            resolve_backend(bundle.backend).save_bundle(bundle, target)
        logger.info("saved %s to %s", describe_bundle(bundle), target)
        return target
