"""The Lightning callback behind the training loop's per-epoch bookkeeping.

:class:`EpochCallbackBridge` keeps the per-epoch history (also written, after every epoch, to
``<output_dir>/checkpoints/history.csv``, next to the ``last.ckpt`` it describes; read back by
:func:`read_history`), calls the user's :data:`~ptycho.backend.EpochCallback` (returning True
stops training cleanly after that epoch) and runs the NaN guard (a non-finite training loss
restores the weights of the last finished epoch and raises
:class:`~ptycho.backend.TrainingDivergedError`). Its weight snapshot is what a Ctrl-C restores
(:mod:`ptycho_torch.interrupts`).

History keys are the TensorFlow backend's (:data:`HISTORY_KEYS`), so both backends' histories
read the same. The TensorFlow mirror, :mod:`ptycho.tf.callbacks`, holds that loop's
reduce-on-plateau and early stopping (here Lightning's scheduler and ``EarlyStopping``).
"""

from __future__ import annotations

import contextlib
import csv
import io
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback

from ptycho.atomic import atomic_write_bytes
from ptycho.backend import EpochCallback, TrainingDivergedError

__all__ = ["HISTORY_KEYS", "EpochCallbackBridge", "read_history"]

logger = logging.getLogger(__name__)


#: Lightning metric name -> history key (the TensorFlow backend's names, so both backends'
#: histories read the same).
HISTORY_KEYS: dict[str, str] = {
    "train_loss": "loss",
    "val_loss": "val_loss",
    "poisson_train_loss": "nll_loss",
    "poisson_val_loss": "val_nll_loss",
    "mae_train_loss": "mae_loss",
    "mae_val_loss": "val_mae_loss",
    "realspace_train_loss": "realspace_loss",
    "realspace_val_loss": "val_realspace_loss",
    "supervised_train_loss": "realspace_loss",
    "supervised_val_loss": "val_realspace_loss",
    "learning_rate": "learning_rate",
}


def _history_key(name: str) -> str:
    return HISTORY_KEYS.get(name, name)


class EpochCallbackBridge(Callback):
    """History, the user's epoch callback, and the NaN guard.

    Parameters
    ----------
    on_epoch_end : EpochCallback, optional
        Called on rank 0 after every epoch with ``(epoch, logs)``; ``logs`` holds ``loss``,
        ``val_loss`` (when validating) and the per-term losses. Returning True stops training
        after this epoch (all ranks). Under ``ddp_spawn`` it must be picklable.
    history_path : Path, optional
        Where the history CSV is (re)written atomically after each epoch (rank 0).

    ``snapshot`` holds the weights after the last finished epoch (or the initial weights) and
    ``snapshot_epochs`` the number of finished epochs they belong to; both are taken together
    at the end of each epoch, so they always match the history.
    """

    def __init__(
        self, on_epoch_end: EpochCallback | None = None, history_path: Path | None = None
    ) -> None:
        super().__init__()
        self.on_epoch_end = on_epoch_end
        self.history_path = history_path
        self.history: dict[str, list[float]] = {}
        self.stopped_by_callback = False
        self.log_epochs = False
        self.snapshot: dict[str, torch.Tensor] | None = None
        self.snapshot_epochs = 0
        self._last_good_epoch = -1

    # NaN guard and interrupts ------------------------------------------------------------------
    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.snapshot is None:
            self.snapshot = _state_copy(pl_module)

    def on_train_batch_end(
        self,
        trainer: L.Trainer,
        pl_module: L.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
    ) -> None:
        loss = outputs.get("loss") if isinstance(outputs, Mapping) else outputs
        if loss is None or bool(torch.isfinite(loss.detach()).all()):
            return
        if self.snapshot is not None:
            pl_module.load_state_dict(self.snapshot)
        raise TrainingDivergedError(
            f"training diverged: the loss became {float(loss.detach())} at epoch "
            f"{trainer.current_epoch}, batch {batch_idx}; the weights of the last finished epoch "
            f"({self._last_good_epoch}) were kept (see also checkpoints/last.ckpt). Lower the "
            "learning rate (--learning-rate) or check the data for NaN/zeros"
        )

    # history and user callback -----------------------------------------------------------------
    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        logs: dict[str, float] = {}
        for name, value in trainer.callback_metrics.items():
            if name.endswith("_step"):
                continue
            key = _history_key(name[:-6] if name.endswith("_epoch") else name)
            with contextlib.suppress(TypeError, ValueError):
                logs[key] = float(value)
        for key, number in logs.items():
            self.history.setdefault(key, []).append(number)
        # one assignment: weights and their epoch count always go together
        self.snapshot, self.snapshot_epochs = _state_copy(pl_module), self.snapshot_epochs + 1
        self._last_good_epoch = trainer.current_epoch
        stop = False
        if trainer.is_global_zero:
            if self.log_epochs:
                summary = " ".join(f"{k}={v:.6g}" for k, v in sorted(logs.items()))
                logger.info(
                    "epoch %d/%d: %s", trainer.current_epoch + 1, trainer.max_epochs, summary
                )
            if self.history_path is not None:
                _write_history(self.history_path, self.history)
            if self.on_epoch_end is not None:
                stop = bool(self.on_epoch_end(int(trainer.current_epoch), dict(logs)))
        stop = trainer.strategy.reduce_boolean_decision(stop, all=False)
        if stop:
            logger.info(
                "stop requested by the epoch callback after epoch %d", trainer.current_epoch
            )
            self.stopped_by_callback = True
            trainer.should_stop = True


def _state_copy(module: L.LightningModule) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def _write_history(path: Path, history: Mapping[str, list[float]]) -> None:
    """Write ``history`` as CSV (``epoch`` column first, 1-based), atomically."""
    keys = sorted(history)
    rows = max((len(v) for v in history.values()), default=0)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(["epoch", *keys])
    for i in range(rows):
        writer.writerow(
            [i + 1] + [repr(history[k][i]) if i < len(history[k]) else "" for k in keys]
        )
    atomic_write_bytes(path, text.getvalue().encode("utf-8"))


def read_history(path: Path) -> dict[str, list[float]]:
    """Read a history CSV written by :class:`EpochCallbackBridge`."""
    history: dict[str, list[float]] = {}
    with open(path, newline="") as handle:
        for row in csv.DictReader(handle):
            for key, value in row.items():
                if key == "epoch" or value in ("", None):
                    continue
                history.setdefault(key, []).append(float(value))
    return history
