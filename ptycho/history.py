"""Per-epoch training history as ``history.csv``: the one writer both backends and the CLIs use.

A history is a mapping of metric name (``loss``, ``val_loss``, ``learning_rate`` ...) to its
per-epoch values. The CSV has an ``epoch`` column first (epochs completed, from 1), then one
column per metric; values are written with :func:`repr` of a float so they read back exactly;
a column shorter than the longest is padded with blanks.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from ptycho.atomic import atomic_output

__all__ = ["HISTORY_FILENAME", "format_history_csv", "write_history_csv"]

HISTORY_FILENAME = "history.csv"


def format_history_csv(
    history: Mapping[str, Sequence[float]],
    keys: Sequence[str] | None = None,
    *,
    lineterminator: str = "\r\n",
) -> str:
    """Return the ``history.csv`` text of ``history``.

    Parameters
    ----------
    history : mapping of str to sequence of float
        Per-epoch values of each metric.
    keys : sequence of str, optional
        The metric columns in order (default: every key of ``history`` in its order).
    lineterminator : str
        Row end (the :mod:`csv` default ``"\\r\\n"`` unless given).
    """
    columns = list(history) if keys is None else list(keys)
    n_rows = max((len(history[k]) for k in columns), default=0)
    text = io.StringIO(newline="")
    writer = csv.writer(text, lineterminator=lineterminator)
    writer.writerow(["epoch", *columns])
    for i in range(n_rows):
        writer.writerow(
            [i + 1] + [repr(float(history[k][i])) if i < len(history[k]) else "" for k in columns]
        )
    return text.getvalue()


def write_history_csv(history: Mapping[str, Sequence[float]], path: str | os.PathLike[str]) -> Path:
    """Write a per-epoch history as CSV (``epoch`` column first, 1-based), atomically.

    Parameters
    ----------
    history : mapping of str to sequence of float
        Per-epoch values (``loss``, ``val_loss``, ...); shorter columns are padded with blanks.
    path : path-like
        Target file; its directory is created when missing.

    Raises
    ------
    PermissionError
        When the directory cannot be created or is not writable.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise PermissionError(
            f"cannot create directory {path.parent}: {exc}; choose another output directory"
        ) from exc
    if not os.access(path.parent, os.W_OK):
        raise PermissionError(
            f"directory {path.parent} is not writable; choose another output directory"
        )
    content = format_history_csv(history)
    with atomic_output(path) as tmp, open(tmp, "w", newline="") as handle:
        handle.write(content)
    return path
