"""Model archives for external callers: ``save(out_dir)``, ``save_model``, ``load``.

Ptychodus's built-in PtychoPINN client trains through
:func:`ptycho.workflows.components.run_cdi_example` and then calls
``ptycho.model_manager.save(OUT)`` expecting ``OUT/wts.h5.zip``. To serve that call this module
keeps **one documented module-level reference**, :data:`_last_trained`: the bundle of the most
recent training run in this process (set by the workflow functions through
:func:`set_last_trained`). It is the only global of the package besides ``ptycho.params.cfg``;
everything else passes bundles explicitly (:func:`save_model`).

Importing this module loads no framework; the backend that wrote or reads an archive is imported
lazily through the backend registry (:mod:`ptycho.workflows.registry`).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ptycho.backend import ModelBundle

__all__ = ["last_trained", "load", "save", "save_model", "set_last_trained"]

logger = logging.getLogger(__name__)

#: The most recently trained bundle in this process (None until a workflow trains one). Read it
#: with :func:`last_trained`; :func:`save` writes it.
_last_trained: ModelBundle | None = None


def set_last_trained(bundle: ModelBundle | None) -> None:
    """Record ``bundle`` as the most recently trained model (what :func:`save` writes)."""
    global _last_trained
    _last_trained = bundle


def last_trained() -> ModelBundle | None:
    """The most recently trained bundle of this process, or None."""
    return _last_trained


def save(out_dir: str | os.PathLike[str]) -> Path:
    """Save the most recently trained model to ``out_dir/wts.h5.zip`` (atomic).

    Parameters
    ----------
    out_dir : path-like
        Directory (created when missing).

    Returns
    -------
    pathlib.Path
        The archive written.

    Raises
    ------
    RuntimeError
        When no model has been trained in this process.
    PermissionError
        When ``out_dir`` is not writable (nothing is written).
    """
    from ptycho.archive import ARCHIVE_NAME

    bundle = _last_trained
    if bundle is None:
        raise RuntimeError(
            "no model has been trained in this process, so there is nothing to save; train with "
            "ptycho.workflows.components.run_cdi_example (or train_cdi_model) first, or save an "
            "explicit bundle with ptycho.model_manager.save_model(bundle, path)"
        )
    return save_model(bundle, Path(out_dir) / ARCHIVE_NAME)


def save_model(model_bundle: ModelBundle, path: str | os.PathLike[str]) -> Path:
    """Save ``model_bundle`` as a model archive at ``path`` (a directory means ``path/wts.h5.zip``).

    The bundle's own backend writes it (weights only, design D6).
    """
    from ptycho.archive import ARCHIVE_NAME
    from ptycho.workflows.registry import get_backend

    target = Path(path)
    if target.is_dir():
        target = target / ARCHIVE_NAME
    get_backend(model_bundle.backend).save_bundle(model_bundle, target)
    logger.info("saved %s model to %s", model_bundle.backend, target)
    return target


def load(path: str | os.PathLike[str]) -> ModelBundle:
    """Load a model archive with the backend that wrote it.

    Parameters
    ----------
    path : path-like
        ``wts.h5.zip`` or the directory holding it.

    Raises
    ------
    FileNotFoundError, ValueError
        Missing, corrupt, truncated or unknown-version archives (see :mod:`ptycho.archive`).
    RuntimeError
        The archive's backend is not installed (with the pip command).
    """
    from ptycho.archive import read_archive
    from ptycho.workflows.registry import get_backend

    contents = read_archive(path)
    return get_backend(contents.backend).load_bundle(contents.path)
