"""Finding the model a user means: an archive path, or a training output directory (HARD-012)."""

from __future__ import annotations

import logging
import os
from datetime import datetime
from pathlib import Path

from ptycho.archive.layout import ARCHIVE_NAME

__all__ = ["LAST_CHECKPOINT", "find_model_file", "resolve_archive_path"]

logger = logging.getLogger(__name__)


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
