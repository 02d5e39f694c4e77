"""Lightning ``Trainer`` construction from a :class:`~ptycho.config.config.PyTorchExecutionConfig`.

:func:`build_trainer` checks everything that can be checked before training starts and builds

* the accelerator and device count (:mod:`ptycho_torch.accelerators`);
* strategy (``'auto'``, ``'ddp'``, ``'ddp_spawn'``, ``'ddp_fork'``; DDP on CPU uses gloo),
  ``deterministic``, precision, gradient clipping and accumulation;
* checkpoints in ``<output_dir>/checkpoints/``: ``last.ckpt`` plus the best
  (``best-epochNNN.ckpt``, ``checkpoint_save_top_k`` of them) by ``checkpoint_monitor``
  (:func:`resolve_monitor`);
* the logger (:mod:`ptycho_torch.loggers`);
* early stopping (:func:`early_stop_patience`) on the same monitor;
* the :class:`~ptycho_torch.callbacks.EpochCallbackBridge` (history, epoch callback, NaN guard).

The TensorFlow backend runs its own loop (:mod:`ptycho.tf.loop`), so this module has no
TensorFlow mirror.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Literal, cast

import lightning as L
from lightning.pytorch.callbacks import Callback, EarlyStopping, ModelCheckpoint

from ptycho.backend import EpochCallback
from ptycho.config.config import PyTorchExecutionConfig, TrainingConfig
from ptycho.history import HISTORY_FILENAME
from ptycho_torch.accelerators import check_devices, resolve_accelerator
from ptycho_torch.callbacks import EpochCallbackBridge
from ptycho_torch.loggers import build_logger
from ptycho_torch.model import PtychoPINN_Lightning

__all__ = [
    "CHECKPOINT_DIR",
    "STRATEGIES",
    "build_trainer",
    "early_stop_patience",
    "execution_for",
    "resolve_monitor",
]

logger = logging.getLogger(__name__)

#: Folder of ``output_dir`` holding ``last.ckpt``, the best checkpoints and the running history.
CHECKPOINT_DIR = "checkpoints"
#: Lightning strategies offered by the CLI.
STRATEGIES: tuple[str, ...] = ("auto", "ddp", "ddp_spawn", "ddp_fork")
#: The Lightning precision strings :data:`ptycho.config.config.PRECISIONS` allows.
_LightningPrecision = Literal["32-true", "16-mixed", "bf16-mixed"]


def resolve_monitor(monitor: str, has_validation: bool, known: list[str]) -> str:
    """Map the requested checkpoint/early-stopping monitor to a metric that will be logged.

    Without validation, ``val_*`` / ``*_val_*`` names fall back to their training counterpart.

    Raises
    ------
    ValueError
        An unknown metric name (the message lists the choices).
    """
    name = monitor
    if not has_validation and ("val_" in name):
        name = name.replace("val_", "train_")
        logger.info("no validation data: monitoring %r instead of %r", name, monitor)
    choices = [k for k in known if has_validation or "val_" not in k]
    if name not in choices:
        raise ValueError(
            f"unknown checkpoint monitor {monitor!r}; choose one of {', '.join(choices)}"
        )
    return name


def execution_for(
    config: TrainingConfig, execution: PyTorchExecutionConfig | None
) -> PyTorchExecutionConfig:
    """The execution config to use: ``execution``, or the defaults.

    The defaults (CPU, reduce-on-plateau from ``config.lr_plateau_*``, early stopping after
    ``config.early_stopping_patience`` epochs) give the TensorFlow backend's schedule, so
    ``train(container, config)`` behaves the same on both backends.
    """
    return execution if execution is not None else PyTorchExecutionConfig()


def early_stop_patience(config: TrainingConfig, execution: PyTorchExecutionConfig) -> int:
    """``execution.early_stop_patience``, or ``config.early_stopping_patience`` when None."""
    if execution.early_stop_patience is not None:
        return int(execution.early_stop_patience)
    return int(config.early_stopping_patience)


def build_trainer(
    config: TrainingConfig,
    execution: PyTorchExecutionConfig,
    module: PtychoPINN_Lightning,
    has_validation: bool,
    output_dir: Path,
    on_epoch_end: EpochCallback | None = None,
) -> tuple[L.Trainer, EpochCallbackBridge]:
    """Build the Lightning ``Trainer`` and the history/callback bridge.

    Everything that can be checked (accelerator, devices, strategy, monitor, logger package) is
    checked here, before any training starts.
    """
    accelerator = resolve_accelerator(execution.accelerator)
    devices = check_devices(accelerator, execution.devices)
    if execution.strategy not in STRATEGIES:
        raise ValueError(
            f"unknown strategy {execution.strategy!r}; choose one of {', '.join(STRATEGIES)}"
        )
    known = ["train_loss", "val_loss"]
    for term in module.terms:
        known += [f"{term}_train_loss", f"{term}_val_loss"]
    monitor = resolve_monitor(execution.checkpoint_monitor, has_validation, known)
    log = build_logger(execution.logger_backend, output_dir)
    bridge = EpochCallbackBridge(
        on_epoch_end, history_path=output_dir / CHECKPOINT_DIR / HISTORY_FILENAME
    )
    callbacks: list[Callback] = [bridge]
    if execution.enable_checkpointing:
        callbacks.append(
            ModelCheckpoint(
                dirpath=str(output_dir / CHECKPOINT_DIR),
                filename="best-epoch{epoch:03d}",
                auto_insert_metric_name=False,
                monitor=monitor,
                mode=execution.checkpoint_mode,
                save_top_k=execution.checkpoint_save_top_k,
                save_last=True,
                enable_version_counter=False,
            )
        )
    callbacks.append(
        EarlyStopping(
            monitor=monitor,
            patience=early_stop_patience(config, execution),
            mode=execution.checkpoint_mode,
            check_finite=False,
        )
    )
    trainer = L.Trainer(
        max_epochs=int(config.nepochs),
        accelerator=accelerator,
        devices=devices,
        strategy=execution.strategy,
        deterministic="warn"
        if execution.deterministic == "warn"
        else bool(execution.deterministic),
        # one of ptycho.config.config.PRECISIONS (checked by PyTorchExecutionConfig.validate)
        precision=cast("_LightningPrecision", execution.precision),
        gradient_clip_val=execution.gradient_clip_val,
        gradient_clip_algorithm=execution.gradient_clip_algorithm,
        accumulate_grad_batches=execution.accumulate_grad_batches,
        callbacks=callbacks,
        logger=log,
        enable_progress_bar=execution.enable_progress_bar,
        enable_checkpointing=execution.enable_checkpointing,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        log_every_n_steps=1,
        default_root_dir=str(output_dir),
    )
    return trainer, bridge
