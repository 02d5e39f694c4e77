"""The TF training loop: :func:`fit` trains a built network in place.

A compiled ``tf.function`` step (:mod:`ptycho.tf.steps`) run over

- seeded shuffling (``numpy.random.default_rng(config.seed)``); the CPU kernels are deterministic
  for a fixed thread count, so the same seed gives bit-identical weights on CPU (TensorFlow op
  determinism is switched on for the run when a GPU is visible);
- Adam at ``config.learning_rate``, reduce-on-plateau (``lr_plateau_factor``,
  ``lr_plateau_patience``, ``min_learning_rate``) and early stopping
  (``early_stopping_patience``), both monitoring ``val_loss`` when there is validation data and
  ``loss`` otherwise (:mod:`ptycho.tf.callbacks`);
- a per-epoch history (``loss``, ``nll_loss``, ``mae_loss``, ``realspace_loss`` when used, the
  same with ``val_`` and ``learning_rate``), optionally written as ``history.csv``;
- an epoch hook (:data:`ptycho.backend.EpochCallback`) that may stop training cleanly;
- a NaN/Inf guard: the weights of the last finite epoch are restored and
  :class:`~ptycho.backend.TrainingDivergedError` names the epoch;
- Ctrl-C: the weights of the last finished epoch are restored and
  :class:`ptycho.backend.TrainingInterrupted` carries them (HARD-010).

The torch backend has no loop of its own (Lightning's ``Trainer``, :mod:`ptycho_torch.trainer`).
"""

from __future__ import annotations

import logging
import math
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import keras
import numpy as np
import tensorflow as tf

from ptycho.backend import TrainingDivergedError, TrainingInterrupted
from ptycho.history import HISTORY_FILENAME, write_history_csv
from ptycho.tf.callbacks import EarlyStopping, ReduceOnPlateau
from ptycho.tf.data_checks import check_container
from ptycho.tf.network import PtychoPINNModel
from ptycho.tf.steps import loss_spec, make_steps

if TYPE_CHECKING:
    from ptycho.backend import EpochCallback
    from ptycho.config.config import TrainingConfig
    from ptycho.loader import PtychoDataContainer

__all__ = ["fit"]

logger = logging.getLogger(__name__)


def _arrays(container: PtychoDataContainer, use_y: bool) -> list[np.ndarray]:
    arrays = [
        np.ascontiguousarray(container.X, dtype=np.float32),
        np.ascontiguousarray(container.coords_nominal, dtype=np.float32),
    ]
    if use_y:
        if container.Y is None:
            raise ValueError(
                "the validation data has no ground-truth Y but the loss needs it; split it from "
                "the same dataset as the training data"
            )
        arrays.append(np.ascontiguousarray(container.Y, dtype=np.complex64))
    return arrays


def _run_epoch(step: Any, arrays: list[np.ndarray], batch: int, order: np.ndarray, bar: Any):
    total_sum = 0.0
    term_sums: dict[str, float] = {}
    count = 0
    for k, start in enumerate(range(0, len(order), batch)):
        idx = order[start : start + batch]
        total, terms = step(*(a[idx] for a in arrays))
        weight = len(idx)
        total_sum += float(total) * weight
        for key, value in terms.items():
            term_sums[key] = term_sums.get(key, 0.0) + float(value) * weight
        count += weight
        if bar is not None:
            bar.update(k + 1, values=[("loss", float(total))])
    logs = {"loss": total_sum / count}
    logs.update({key: value / count for key, value in term_sums.items()})
    return logs


def _determinism_api() -> tuple[Any, Any]:
    """(is_enabled, disable) functions of TF op determinism (public name, else TF's own module)."""
    from tensorflow.python.framework import config as tf_framework_config

    is_enabled = getattr(
        tf.config.experimental,
        "is_op_determinism_enabled",
        tf_framework_config.is_op_determinism_enabled,
    )
    disable = getattr(
        tf.config.experimental,
        "disable_op_determinism",
        tf_framework_config.disable_op_determinism,
    )
    return is_enabled, disable


def _set_determinism(enabled: bool) -> bool:
    """Enable TF op determinism; returns the previous state so the caller can restore it."""
    is_enabled, _ = _determinism_api()
    previous = bool(is_enabled())
    if enabled and not previous:
        tf.config.experimental.enable_op_determinism()
    return previous


def _restore_determinism(previous: bool) -> None:
    is_enabled, disable = _determinism_api()
    if not previous and is_enabled():
        disable()


def fit(
    network: PtychoPINNModel,
    train_data: PtychoDataContainer,
    config: TrainingConfig,
    *,
    validation: PtychoDataContainer | None = None,
    on_epoch_end: EpochCallback | None = None,
    verbose: int = 0,
    output_dir: str | os.PathLike[str] | None = None,
    jit_compile: bool = False,
    deterministic: bool | None = None,
) -> dict[str, list[float]]:
    """Train ``network`` in place and return the per-epoch history.

    Parameters
    ----------
    network : PtychoPINNModel
        Built by :func:`ptycho.tf.network.build_model` for ``config.model``.
    train_data : PtychoDataContainer
        Training groups ``X (B, N, N, C)``, ``coords_nominal (B, 1, 2, C)``, optional ``Y``.
    config : TrainingConfig
        Epochs, batch size, learning-rate schedule, loss weights, seed.
    validation : PtychoDataContainer, optional
        Validation groups; None = no validation (``val_*`` absent, monitors use ``loss``).
    on_epoch_end : EpochCallback, optional
        Called with ``(epoch, logs)`` (0-based epoch) after every epoch; returning True stops
        training after that epoch.
    verbose : int
        0 silent (library default), 1 a Keras progress bar, 2 one log line per epoch (INFO).
    output_dir : path-like, optional
        When given, ``history.csv`` is written there (atomically) after training.
    jit_compile : bool
        Compile the steps with XLA. Measured on a 2-core CPU it is slower than the plain graph
        (and TF has no deterministic XLA max-pool gradient), so it is off by default.
    deterministic : bool or None
        Enable TensorFlow op determinism for the run. None (default) enables it only when a GPU
        is visible: the CPU kernels used here are already deterministic for a fixed thread count
        (same seed -> bit-identical weights, tested), and op determinism halves CPU speed.

    Returns
    -------
    dict[str, list[float]]
        Per-epoch values.

    Raises
    ------
    TrainingDivergedError
        A loss became NaN/Inf; the weights of the last finite epoch (or the initial weights)
        were restored first.
    ptycho.backend.TrainingInterrupted
        Ctrl-C: the weights of the last finished epoch were restored first; its ``history``
        holds the finished epochs (HARD-010). ``history.csv`` is not written.
    """
    spec = loss_spec(config, train_data.Y is not None)
    check_container(train_data, network.N, network.gridsize, "training")
    if validation is not None and len(validation) == 0:
        validation = None
    if validation is not None:
        check_container(validation, network.N, network.gridsize, "validation")
    train_arrays = _arrays(train_data, spec.use_y)
    val_arrays = _arrays(validation, spec.use_y) if validation is not None else None
    if output_dir is not None:
        _check_writable(Path(output_dir))

    if deterministic is None:
        deterministic = bool(tf.config.list_physical_devices("GPU"))
    if deterministic and jit_compile:
        raise ValueError(
            "jit_compile=True cannot run deterministically (TensorFlow has no deterministic XLA "
            "max-pool gradient); pass deterministic=False or jit_compile=False"
        )
    previous_determinism = _set_determinism(deterministic)
    try:
        optimizer = keras.optimizers.Adam(learning_rate=float(config.learning_rate))
        optimizer.build(network.trainable_variables)
        train_step, eval_step = make_steps(network, spec, optimizer, jit_compile)
        history = _loop(
            network,
            config,
            optimizer,
            train_step,
            eval_step,
            train_arrays,
            val_arrays,
            on_epoch_end,
            verbose,
        )
    finally:
        _restore_determinism(previous_determinism)
    if output_dir is not None:
        write_history_csv(history, Path(output_dir) / HISTORY_FILENAME)
    return history


def _loop(
    network: PtychoPINNModel,
    config: TrainingConfig,
    optimizer: keras.optimizers.Optimizer,
    train_step: Any,
    eval_step: Any,
    train_arrays: list[np.ndarray],
    val_arrays: list[np.ndarray] | None,
    on_epoch_end: EpochCallback | None,
    verbose: int,
) -> dict[str, list[float]]:
    rng = np.random.default_rng(config.seed)
    batch = int(config.batch_size)
    n_train = train_arrays[0].shape[0]
    n_batches = math.ceil(n_train / batch)
    monitor = "val_loss" if val_arrays is not None else "loss"
    history: dict[str, list[float]] = {}
    good_weights = network.get_weights()
    lr = float(config.learning_rate)
    plateau = ReduceOnPlateau(
        config.lr_plateau_factor, config.lr_plateau_patience, config.min_learning_rate
    )
    stopper = EarlyStopping(config.early_stopping_patience)
    # (weights, epochs) of the last finished epoch; assigned as one tuple, so a Ctrl-C between
    # two statements can never pair the weights of one epoch with the history of another
    good = (good_weights, 0)
    try:
        for epoch in range(int(config.nepochs)):
            started = time.perf_counter()
            order = rng.permutation(n_train)
            bar = None
            if verbose == 1:
                bar = keras.utils.Progbar(n_batches, stateful_metrics=["loss"])
            logs = _run_epoch(train_step, train_arrays, batch, order, bar)
            if val_arrays is not None:
                val_logs = _run_epoch(
                    eval_step, val_arrays, batch, np.arange(val_arrays[0].shape[0]), None
                )
                logs.update({f"val_{key}": value for key, value in val_logs.items()})
            logs["learning_rate"] = lr
            if not all(math.isfinite(v) for v in logs.values()):
                network.set_weights(good[0])
                bad = ", ".join(f"{k}={v}" for k, v in logs.items() if not math.isfinite(v))
                raise TrainingDivergedError(
                    f"training diverged in epoch {epoch + 1}/{config.nepochs} ({bad}); the "
                    f"weights of the last good epoch ({epoch}) were restored. Lower "
                    f"learning_rate (now {lr:g}), check the data for outliers, or reduce nphotons",
                    epoch=epoch + 1,
                    history=history,
                )
            for key, value in logs.items():
                history.setdefault(key, []).append(float(value))
            good = (network.get_weights(), epoch + 1)
            if verbose == 2:
                summary = " ".join(f"{k}={v:.6g}" for k, v in logs.items())
                logger.info(
                    "epoch %d/%d (%.1f s): %s",
                    epoch + 1,
                    config.nepochs,
                    time.perf_counter() - started,
                    summary,
                )
            stop = False
            if on_epoch_end is not None and on_epoch_end(epoch, dict(logs)):
                logger.info("training stopped by the epoch callback after epoch %d", epoch + 1)
                stop = True
            current = logs[monitor]
            new_lr = plateau.update(current, lr)
            if new_lr != lr:
                lr = new_lr
                optimizer.learning_rate.assign(lr)
                logger.info("epoch %d: %s plateau, learning rate -> %g", epoch + 1, monitor, lr)
            if stopper.update(current):
                logger.info(
                    "early stopping after epoch %d (%s did not improve for %d epochs)",
                    epoch + 1,
                    monitor,
                    stopper.wait,
                )
                stop = True
            if stop:
                break
    except KeyboardInterrupt:
        weights, done = good
        network.set_weights(weights)
        kept = {key: values[:done] for key, values in history.items() if values[:done]}
        logger.info("training interrupted; restored the weights of epoch %d", done)
        raise TrainingInterrupted(done, history=kept) from None
    return history


def _check_writable(directory: Path) -> None:
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise PermissionError(
            f"cannot create output directory {directory}: {exc}; choose another output_dir"
        ) from exc
    if not os.access(directory, os.W_OK):
        raise PermissionError(
            f"output directory {directory} is not writable; choose another output_dir"
        )
