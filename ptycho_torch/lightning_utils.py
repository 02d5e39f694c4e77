"""Lightning helpers used by Ptychodus's built-in PtychoPINN-Torch client.

This module owns :func:`find_best_checkpoint`, which Ptychodus calls on a training run directory
(``<output>/run_<timestamp>``) to find the model file it then offers to the user.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["find_best_checkpoint"]


def find_best_checkpoint(run_dir: str | os.PathLike[str]) -> Path | None:
    """The checkpoint to use from ``run_dir/checkpoints``, or None when there is none.

    Order: ``best-checkpoint.ckpt``, the newest ``best*.ckpt`` (this backend's
    ``best-epochNNN.ckpt``), ``last.ckpt``, then any ``*.ckpt`` (sorted by name).
    """
    directory = Path(run_dir) / "checkpoints"
    if not directory.is_dir():
        return None
    named = directory / "best-checkpoint.ckpt"
    if named.is_file():
        return named
    best = sorted(directory.glob("best*.ckpt"), key=lambda p: p.stat().st_mtime, reverse=True)
    if best:
        return best[0]
    last = directory / "last.ckpt"
    if last.is_file():
        return last
    others = sorted(directory.glob("*.ckpt"))
    return others[0] if others else None
