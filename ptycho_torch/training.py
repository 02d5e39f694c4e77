"""Lightning ``Trainer`` construction and the backend's ``train`` entry point.

This module owns how a :class:`~ptycho.config.config.PyTorchExecutionConfig` becomes a Lightning
``Trainer``:

* accelerator: ``'auto'`` picks CUDA when ``torch.cuda.is_available()``, else the CPU;
  ``'gpu'``/``'cuda'`` (or ``'mps'``) without such a device is a ``RuntimeError`` raised before
  anything starts (never a hang); ``devices`` larger than what exists is a ``ValueError``;
* strategy (``'auto'``, ``'ddp'``, ``'ddp_spawn'``, ``'ddp_fork'``; DDP on CPU uses gloo),
  ``deterministic``, precision, gradient clipping and accumulation;
* seeding with :func:`lightning.seed_everything` (``TrainingConfig.seed``);
* checkpoints in ``<output_dir>/checkpoints/``: ``last.ckpt`` plus the best
  (``best-epochNNN.ckpt``, ``checkpoint_save_top_k`` of them) by ``checkpoint_monitor``;
* loggers ``csv`` / ``tensorboard`` / ``mlflow`` / ``None`` writing under
  ``<output_dir>/lightning_logs/`` (MLflow under ``<output_dir>/mlruns``); a logger whose package
  is missing is a ``RuntimeError`` with the install command;
* early stopping (``early_stop_patience``) on the same monitor;
* :class:`EpochCallbackBridge`: per-epoch history (also written, after every epoch, to
  ``<output_dir>/checkpoints/history.csv``, next to the ``last.ckpt`` it describes), the user's
  :data:`~ptycho.backend.EpochCallback` (returning True stops training cleanly after that epoch)
  and the NaN guard (a non-finite training loss restores the weights of the last finished epoch
  and raises :class:`TrainingDivergedError`);
* Ctrl-C (SIGINT, single process): Lightning would turn it into ``sys.exit(1)``; instead the
  weights of the last finished epoch are restored and :class:`ptycho.backend.TrainingInterrupted`
  carries them (HARD-010 of ``specs/hardening.md``).

The top-level ``<output_dir>/history.csv`` is not written here: the CLIs write it together with
the model archive it describes (HARD-014).

Files are written only under the ``output_dir`` given to :func:`train`; without it nothing is
written (``TrainingConfig.output_dir`` is not used implicitly, so nothing lands in the current
directory by default).
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import io
import logging
import math
import os
import signal
import tempfile
import threading
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Literal, cast

import lightning as L
import numpy as np
import torch
from lightning.pytorch.callbacks import Callback, EarlyStopping, ModelCheckpoint

from ptycho.atomic import atomic_write_bytes
from ptycho.backend import (
    EpochCallback,
    ModelBundle,
    TrainingDivergedError,
    TrainingInterrupted,
)
from ptycho.config.config import PyTorchExecutionConfig, TrainingConfig
from ptycho.history import HISTORY_FILENAME
from ptycho.loader import PtychoDataContainer
from ptycho_torch.datamodule import PtychoDataModule
from ptycho_torch.model import PtychoPINN_Lightning, config_differences

__all__ = [
    "CHECKPOINT_DIR",
    "HISTORY_FILENAME",
    "LOG_DIR",
    "STRATEGIES",
    "EpochCallbackBridge",
    "TrainingDivergedError",
    "build_logger",
    "build_trainer",
    "check_devices",
    "check_logger_available",
    "early_stop_patience",
    "execution_for",
    "quiet_lightning",
    "resolve_accelerator",
    "resolve_monitor",
    "train",
]

logger = logging.getLogger(__name__)

CHECKPOINT_DIR = "checkpoints"
LOG_DIR = "lightning_logs"
#: Lightning strategies offered by the CLI.
STRATEGIES: tuple[str, ...] = ("auto", "ddp", "ddp_spawn", "ddp_fork")
#: The Lightning precision strings :data:`ptycho.config.config.PRECISIONS` allows.
_LightningPrecision = Literal["32-true", "16-mixed", "bf16-mixed"]


# ----------------------------------------------------------------------------------------------
# Accelerators and devices
# ----------------------------------------------------------------------------------------------


def resolve_accelerator(name: str) -> str:
    """Resolve an accelerator name to ``'cpu'``, ``'cuda'`` or ``'mps'``.

    Raises
    ------
    RuntimeError
        ``'gpu'``/``'cuda'`` without a CUDA GPU, or ``'mps'`` without Apple MPS.
    ValueError
        An unknown name (the message lists the choices).
    """
    from ptycho.config.config import ACCELERATORS

    if name == "auto":
        chosen = "cuda" if torch.cuda.is_available() else "cpu"
        logger.info("accelerator 'auto' resolved to %s", chosen)
        return chosen
    if name in ("gpu", "cuda"):
        if not torch.cuda.is_available():
            raise RuntimeError(
                f"accelerator {name!r} was requested, but no CUDA GPU is available "
                f"(torch {torch.__version__}: torch.cuda.is_available() is False); use "
                "--accelerator cpu, or --accelerator auto to use a GPU only when present"
            )
        return "cuda"
    if name == "mps":
        if not torch.backends.mps.is_available():
            raise RuntimeError(
                "accelerator 'mps' was requested, but Apple MPS is not available on this "
                "machine; use --accelerator cpu or auto"
            )
        return "mps"
    if name == "cpu":
        return "cpu"
    raise ValueError(f"unknown accelerator {name!r}; choose one of {', '.join(ACCELERATORS)}")


def check_devices(accelerator: str, devices: int | str) -> int | str:
    """Validate the device count against what exists (``'auto'`` passes through).

    Raises
    ------
    ValueError
        ``devices`` exceeds the GPUs (CUDA) or CPU cores (CPU) available.
    """
    if devices == "auto":
        return devices
    count = int(devices)
    if accelerator == "cuda":
        available = torch.cuda.device_count()
        what = "CUDA GPU(s)"
    elif accelerator == "mps":
        available = 1
        what = "MPS device"
    else:
        available = os.cpu_count() or 1
        what = "CPU core(s)"
    if count > available:
        raise ValueError(
            f"--devices {count} was requested, but only {available} {what} are available; "
            f"use --devices {available} or fewer"
        )
    return count


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


# ----------------------------------------------------------------------------------------------
# Loggers and callbacks
# ----------------------------------------------------------------------------------------------


def check_logger_available(backend: str | None) -> None:
    """Raise ``RuntimeError`` with the install command when the logger's package is missing."""
    import importlib.util

    if backend == "tensorboard" and not any(
        importlib.util.find_spec(m) for m in ("tensorboard", "tensorboardX")
    ):
        raise RuntimeError(
            "--logger tensorboard needs the tensorboard package, which is not installed: "
            "pip install tensorboard (or use --logger csv)"
        )
    if backend == "mlflow" and importlib.util.find_spec("mlflow") is None:
        raise RuntimeError(
            "--logger mlflow needs the optional mlflow package, which is not installed: "
            "pip install mlflow (or use --logger csv / none)"
        )


def build_logger(backend: str | None, output_dir: Path) -> Any:
    """Lightning logger for ``backend`` (``None`` -> ``False``).

    Raises
    ------
    RuntimeError
        The logger's package (tensorboard / mlflow) is not installed.
    """
    check_logger_available(backend)
    if backend is None or backend == "none":
        return False
    if backend == "csv":
        from lightning.pytorch.loggers import CSVLogger

        return CSVLogger(save_dir=str(output_dir), name=LOG_DIR)
    if backend == "tensorboard":
        from lightning.pytorch.loggers import TensorBoardLogger

        return TensorBoardLogger(save_dir=str(output_dir), name=LOG_DIR)
    if backend == "mlflow":
        from lightning.pytorch.loggers import MLFlowLogger

        return MLFlowLogger(
            experiment_name="ptychopinn", tracking_uri=(output_dir / "mlruns").resolve().as_uri()
        )
    raise ValueError(f"unknown logger {backend!r}; choose one of csv, tensorboard, mlflow, none")


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


class _SigintDuringFit(BaseException):
    """Raised by our SIGINT handler inside ``trainer.fit`` (not a KeyboardInterrupt, which
    Lightning turns into ``sys.exit(1)``; Lightning re-raises other exceptions after teardown)."""


@contextlib.contextmanager
def _sigint_raises() -> Iterator[None]:
    """While fitting, Ctrl-C raises :class:`_SigintDuringFit` (main thread only; elsewhere no
    SIGINT reaches Python anyway). The previous handler is restored afterwards."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        raise _SigintDuringFit()

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


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


@contextlib.contextmanager
def quiet_lightning(quiet: bool) -> Iterator[None]:
    """Silence Lightning's info messages and its data-loader performance hints."""
    names = ("lightning", "lightning.pytorch", "lightning.fabric", "lightning_fabric")
    levels = {n: logging.getLogger(n).level for n in names}
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*does not have many workers.*")
        warnings.filterwarnings("ignore", message=".*smaller than the logging interval.*")
        warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\).*")
        warnings.filterwarnings("ignore", message=".*Total length of .* across ranks is zero.*")
        warnings.filterwarnings(
            "ignore", message=".*Checkpoint directory .* exists and is not empty.*"
        )
        if quiet:
            for n in names:
                logging.getLogger(n).setLevel(logging.WARNING)
        try:
            yield
        finally:
            for n, level in levels.items():
                logging.getLogger(n).setLevel(level)


# ----------------------------------------------------------------------------------------------
# Trainer
# ----------------------------------------------------------------------------------------------


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


def _initial_probe(train: PtychoDataContainer, config: TrainingConfig) -> np.ndarray:
    from ptycho.probe import normalize_probe

    return normalize_probe(train.probe, config.model.probe_scale)


def _check_data(train: PtychoDataContainer, config: TrainingConfig, what: str = "training") -> None:
    model = config.model
    if train.N != model.N:
        raise ValueError(
            f"the {what} data have {train.N}x{train.N} diffraction patterns but ModelConfig.N is "
            f"{model.N}; set N={train.N}"
        )
    if train.gridsize != model.gridsize:
        raise ValueError(
            f"the {what} data are grouped with gridsize {train.gridsize} "
            f"(C={train.gridsize**2}) but ModelConfig.gridsize is {model.gridsize}; regroup the "
            f"data or set gridsize={train.gridsize}"
        )
    if not np.all(np.isfinite(train.X)):
        raise ValueError(f"the {what} diffraction data contain NaN/Inf values; fix the input")
    needs_truth = model.model_type == "supervised" or config.realspace_weight > 0
    if needs_truth and train.Y is None:
        need = "supervised training" if model.model_type == "supervised" else "realspace_weight > 0"
        raise ValueError(
            f"{need} needs ground-truth object patches (Y), but the {what} data have none; "
            "provide an objectGuess (ground truth) in the NPZ, or use model_type='pinn' with "
            "realspace_weight=0"
        )


def train(
    train: PtychoDataContainer,
    config: TrainingConfig,
    *,
    validation: PtychoDataContainer | None = None,
    on_epoch_end: EpochCallback | None = None,
    execution: PyTorchExecutionConfig | None = None,
    initial: ModelBundle | None = None,
    output_dir: str | os.PathLike[str] | None = None,
    verbose: int = 0,
) -> ModelBundle:
    """Train a PtychoPINN model with Lightning (the backend contract's ``train``).

    Parameters
    ----------
    train : PtychoDataContainer
        Grouped, normalised training data (``X (B, N, N, C)``). ``config.model.N == 0`` takes
        N from the data.
    config : TrainingConfig
        Model, loss weights, epochs, batch size, seed. Not modified (the bundle holds a copy).
    validation : PtychoDataContainer, optional
        Validation groups; None = a seeded ``config.validation_fraction`` split of ``train``
        (no validation when that leaves no group).
    on_epoch_end : EpochCallback, optional
        ``(epoch, logs) -> bool``; True stops training cleanly after that epoch.
    execution : PyTorchExecutionConfig, optional
        Lightning settings; None = CPU-or-GPU defaults with the TF backend's schedule
        (:func:`execution_for`).
    initial : ModelBundle, optional
        A PyTorch bundle to continue from (same architecture required).
    output_dir : path-like, optional
        Where checkpoints (``checkpoints/``, with the running ``checkpoints/history.csv``) and
        logs (``lightning_logs/``) go. When None nothing is written (Lightning works in a
        temporary directory that is removed; checkpointing and the logger are off), as the
        TensorFlow backend without ``output_dir``.
    verbose : int
        0: as ``execution`` says; 1: Lightning progress bar; 2: one INFO log line per epoch.

    Returns
    -------
    ModelBundle
        ``backend='pytorch'``, the trained network (on the CPU, eval mode), the learned
        intensity scale and probe, and the per-epoch history (``loss``, ``val_loss``,
        ``nll_loss``, ``mae_loss``, ... as in the TF backend).

    Raises
    ------
    ValueError
        Inconsistent data/config, unknown monitor/strategy, too many devices, an ``initial``
        bundle of another backend or architecture.
    RuntimeError
        Unavailable accelerator or logger package; :class:`TrainingDivergedError` when the
        loss becomes NaN (its ``bundle`` holds the last finite weights).
    ptycho.backend.TrainingInterrupted
        Ctrl-C during a single-process fit; its ``bundle`` holds the model of the last finished
        epoch (None when no epoch finished).
    """
    model_config = dataclasses.replace(config.model)
    if model_config.N == 0:
        model_config.N = int(train.N)
    config = dataclasses.replace(config, model=model_config, backend="pytorch")
    config.validate(require_n=True)
    _check_data(train, config)
    if validation is not None and len(validation) > 0:
        _check_data(validation, config, "validation")
    if initial is not None:
        if initial.backend != "pytorch" or not isinstance(initial.network, torch.nn.Module):
            raise ValueError(
                f"initial bundle is from the {initial.backend} backend; the pytorch backend can "
                "only continue a pytorch model (convert it with ptycho.workflows.backend_selector)"
            )
        diffs = config_differences(initial.model_config, config.model)
        if diffs:
            raise ValueError(
                "the initial model has another architecture than the training config: "
                + "; ".join(diffs)
            )
    execution = execution_for(config, execution)
    if verbose == 1:
        execution = dataclasses.replace(execution, enable_progress_bar=True)
    with contextlib.ExitStack() as stack:
        if output_dir is None:
            run_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="ptycho_torch_")))
            execution = dataclasses.replace(
                execution, enable_checkpointing=False, logger_backend=None
            )
            keep_history = False
        else:
            run_dir = Path(output_dir).resolve()
            run_dir.mkdir(parents=True, exist_ok=True)
            keep_history = True
        return _fit(
            train,
            config,
            validation,
            on_epoch_end,
            execution,
            initial,
            run_dir,
            keep_history,
            log_epochs=verbose >= 2,
        )


def _fit(
    train: PtychoDataContainer,
    config: TrainingConfig,
    validation: PtychoDataContainer | None,
    on_epoch_end: EpochCallback | None,
    execution: PyTorchExecutionConfig,
    initial: ModelBundle | None,
    run_dir: Path,
    keep_history: bool,
    log_epochs: bool = False,
) -> ModelBundle:
    from ptycho.physics.forward import intensity_scale

    L.seed_everything(int(config.seed), workers=True, verbose=False)
    s0 = intensity_scale(config.nphotons, config.model.N)
    module = PtychoPINN_Lightning(
        config.model,
        training_config=config,
        data_intensity_scale=s0,
        learning_rate=execution.learning_rate,
        scheduler=execution.scheduler,
        probe=(initial.probe if initial is not None else _initial_probe(train, config)),
        initial_intensity_scale=(initial.intensity_scale if initial is not None else s0),
    )
    if initial is not None:
        from ptycho.fine_tuning import continued_probe_and_scale

        module.net.load_state_dict(initial.network.state_dict())
        probe, scale = continued_probe_and_scale(initial, train.probe, config)
        module.net.set_probe(probe)
        module.net.set_intensity_scale(scale)
    datamodule = PtychoDataModule(
        train,
        validation,
        batch_size=config.batch_size,
        num_workers=execution.num_workers,
        seed=int(config.seed),
        validation_fraction=float(config.validation_fraction) if validation is None else 0.0,
        with_truth=config.model.model_type == "supervised" or config.realspace_weight > 0,
        pin_memory=execution.pin_memory,
        persistent_workers=execution.persistent_workers,
    )
    history_path = run_dir / CHECKPOINT_DIR / HISTORY_FILENAME
    history_path.unlink(missing_ok=True)
    with quiet_lightning(not execution.enable_progress_bar):
        trainer, bridge = build_trainer(
            config, execution, module, datamodule.has_validation, run_dir, on_epoch_end
        )
        bridge.history_path = history_path
        bridge.log_epochs = log_epochs
        try:
            with _sigint_raises():
                trainer.fit(module, datamodule=datamodule)
        except (_SigintDuringFit, KeyboardInterrupt):
            raise _interrupted(module, config, bridge) from None
        except TrainingDivergedError as exc:
            exc.bundle = _bundle(module, config, bridge.history)
            raise
        except Exception as exc:  # ddp_spawn re-raises a worker's error as another type
            if "TrainingDivergedError" in str(exc):
                raise TrainingDivergedError(
                    f"training diverged in a worker process: {exc}; the last finished epoch is "
                    f"in {run_dir / CHECKPOINT_DIR / 'last.ckpt'}"
                ) from exc
            raise
    history = bridge.history
    if not history and history_path.is_file():  # trained in spawned worker processes
        history = read_history(history_path)
    if not keep_history:
        history_path.unlink(missing_ok=True)
    return _bundle(module, config, history)


def _interrupted(
    module: PtychoPINN_Lightning, config: TrainingConfig, bridge: EpochCallbackBridge
) -> TrainingInterrupted:
    """Restore the weights of the last finished epoch; the exception that carries them."""
    done = bridge.snapshot_epochs
    history = {k: list(v[:done]) for k, v in bridge.history.items() if v[:done]}
    logger.info("training interrupted; restored the weights of epoch %d", done)
    if done == 0 or bridge.snapshot is None:
        return TrainingInterrupted(0)
    module.load_state_dict(bridge.snapshot)
    return TrainingInterrupted(done, _bundle(module, config, history), history)


def _bundle(
    module: PtychoPINN_Lightning, config: TrainingConfig, history: Mapping[str, list[float]]
) -> ModelBundle:
    net = module.net.to("cpu").eval()
    scale = float(net.intensity_scale.detach())
    if not math.isfinite(scale):
        raise TrainingDivergedError("the learned intensity scale is not finite")
    return ModelBundle(
        backend="pytorch",
        model_config=config.model,
        training_config=config,
        intensity_scale=scale,
        probe=net.probe.detach().cpu().numpy().astype(np.complex64),
        history={k: list(v) for k, v in history.items()},
        network=net,
    )
