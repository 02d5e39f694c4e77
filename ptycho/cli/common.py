"""What every command-line tool of both backends shares (``specs/hardening.md``).

* :func:`check_output_dir` validates ``--output_dir`` without creating anything, and
  :func:`create_output_dir` creates it once the inputs are valid (HARD-008, HARD-009): an input
  error never leaves an empty output directory behind.
* :func:`check_group_request` enforces DATA-009 with a message that names the CLI's own flags
  (HARD-015).
* :func:`save_training_set` writes ``wts.h5.zip``, ``history.csv`` (and the loss curve) as one
  set (HARD-014); :func:`save_interrupted` does so for the model of the last finished epoch
  after Ctrl-C, and :func:`report_interrupt` prints the one line and returns
  :data:`INTERRUPTED_EXIT` (HARD-010, HARD-011).
* :data:`CLI_ERRORS`: the exceptions a CLI reports as ``<prog>: error: <message>`` (exit 1).

This module is framework-free; the backend is passed in as its API module.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ptycho.backend import BackendAPI, ModelBundle

__all__ = [
    "CLI_ERRORS",
    "INTERRUPTED_EXIT",
    "check_group_request",
    "check_output_dir",
    "create_output_dir",
    "report_interrupt",
    "save_interrupted",
    "save_training_set",
    "sigint_ignored",
]

logger = logging.getLogger(__name__)

#: Exit status after Ctrl-C (128 + SIGINT, what shells report for an interrupted command).
INTERRUPTED_EXIT = 130
#: Reported as one ``<prog>: error: ...`` line with exit status 1 (OSError covers
#: FileNotFoundError, PermissionError, a full disk ...).
CLI_ERRORS: tuple[type[BaseException], ...] = (ValueError, OSError, RuntimeError)


def _nearest_existing(path: Path) -> Path:
    current = path.absolute()
    while not current.exists() and current != current.parent:
        current = current.parent
    return current


def check_output_dir(path: Path, flag: str = "--output_dir") -> Path:
    """Check that ``path`` is, or can become, a writable directory; create nothing (HARD-008).

    Raises
    ------
    ValueError
        ``path`` (or a parent it would be created under) is an existing file.
    PermissionError
        The directory, or the nearest existing parent it would be created in, is not writable.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ValueError(
            f"{flag} {path} is an existing file, not a directory; choose a directory (it is "
            "created when missing)"
        )
    existing = _nearest_existing(path)
    if not existing.is_dir():
        raise ValueError(
            f"{flag} {path} cannot be created because {existing} is a file; choose another "
            "directory"
        )
    if not os.access(existing, os.W_OK | os.X_OK):
        what = (
            "is not writable"
            if existing == path.absolute()
            else (f"cannot be created: {existing} is not writable")
        )
        raise PermissionError(f"{flag} {path} {what}; choose a writable directory")
    return path


def create_output_dir(path: Path, flag: str = "--output_dir") -> Path:
    """Create ``path`` (after :func:`check_output_dir`) once the inputs are valid (HARD-009).

    Raises
    ------
    ValueError, PermissionError
        As :func:`check_output_dir`, or when creating it fails.
    """
    path = check_output_dir(path, flag)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise PermissionError(
            f"cannot create {flag} {path}: {exc}; choose a writable directory"
        ) from exc
    return path


def check_group_request(
    n_groups: int | None,
    positions: int,
    gridsize: int,
    *,
    enable_oversampling: bool = False,
    oversampling_flag: str | None = None,
    groups_flag: str = "--n_groups",
) -> None:
    """DATA-009 at a CLI: more groups than positions at gridsize > 1 is an error (HARD-015).

    Parameters
    ----------
    n_groups : int or None
        The request (None = one group per position).
    positions : int
        Scan positions available (after any subsampling).
    gridsize : int
        Group side.
    enable_oversampling : bool
        Whether the CLI's oversampling flag was given.
    oversampling_flag : str, optional
        The CLI's flag that allows more groups than positions; None when it has none (then the
        message does not suggest one).
    groups_flag : str
        The CLI's flag for the number of groups.

    Raises
    ------
    ValueError
        Naming the request, the positions and the CLI's own flags.
    """
    from ptycho.grouping import too_many_groups

    if not too_many_groups(n_groups, positions, gridsize, enable_oversampling):
        return
    fix = f"pass {groups_flag} {positions} or fewer (or omit it: one group per position)"
    if oversampling_flag is not None:
        fix += f", or {oversampling_flag} to draw more groups than positions"
    raise ValueError(
        f"{groups_flag} {n_groups} asks for more groups than the {positions} scan positions at "
        f"gridsize {gridsize} (each position seeds one group; DATA-009); {fix}"
    )


@contextlib.contextmanager
def sigint_ignored() -> Iterator[None]:
    """Ctrl-C is ignored while saving (so the save completes); main thread only."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def save_training_set(
    bundle: ModelBundle, api: BackendAPI, output_dir: Path, loss_curve: str | None = None
) -> dict[str, Path]:
    """Write the archive, ``history.csv`` and (optionally) the loss curve as one set (HARD-014).

    Every file is first written completely next to its target
    (:func:`ptycho.atomic.atomic_output_set`); only then are they moved into place, so a run
    killed while saving leaves the previous set untouched and never a history beside a model it
    does not describe.

    Parameters
    ----------
    bundle : ModelBundle
        The model (its ``history`` is written).
    api : module
        The bundle's backend API (``save_bundle``).
    output_dir : Path
        Created when missing.
    loss_curve : str, optional
        File name of the loss-curve PNG (None: no PNG).

    Returns
    -------
    dict[str, Path]
        ``archive``, ``history`` and ``loss_curve`` (when written).
    """
    from ptycho.archive import ARCHIVE_NAME
    from ptycho.atomic import atomic_output_set
    from ptycho.history import HISTORY_FILENAME, write_history_csv
    from ptycho.workflows.components import save_loss_curve

    out = create_output_dir(Path(output_dir))
    targets = {"archive": out / ARCHIVE_NAME, "history": out / HISTORY_FILENAME}
    if loss_curve is not None:
        targets["loss_curve"] = out / loss_curve
    with atomic_output_set(list(targets.values())) as temporaries:
        staged = dict(zip(targets, temporaries, strict=True))
        api.save_bundle(bundle, staged["archive"])
        write_history_csv(bundle.history, staged["history"])
        if loss_curve is not None:
            save_loss_curve(bundle.history, staged["loss_curve"])
    return targets


def save_interrupted(
    exc: BaseException, api: BackendAPI, output_dir: Path, loss_curve: str | None = None
) -> None:
    """After Ctrl-C in training, save the model of the last finished epoch (HARD-010).

    When ``exc`` is a :class:`ptycho.backend.TrainingInterrupted` with a model of at least one
    epoch, the set of :func:`save_training_set` is written (Ctrl-C is ignored meanwhile) and
    recorded in ``exc.saved``. Nothing is saved otherwise.
    """
    from ptycho.backend import TrainingInterrupted

    if not isinstance(exc, TrainingInterrupted) or exc.bundle is None:
        return
    if exc.epochs_completed < 1:
        return
    with sigint_ignored():
        exc.saved = save_training_set(exc.bundle, api, output_dir, loss_curve)


def report_interrupt(prog: str, exc: BaseException) -> int:
    """Print the one line that says what Ctrl-C left behind; return :data:`INTERRUPTED_EXIT`."""
    from ptycho.backend import TrainingInterrupted

    if isinstance(exc, TrainingInterrupted) and exc.saved:
        line = (
            f"{prog}: interrupted; the model of the last finished epoch "
            f"({exc.epochs_completed}) is saved in {exc.saved['archive']}"
        )
    elif isinstance(exc, TrainingInterrupted):
        line = f"{prog}: interrupted before the first epoch finished; no model was saved"
    else:
        line = f"{prog}: interrupted; nothing more was written"
    print(line, file=sys.stderr, flush=True)
    return INTERRUPTED_EXIT
