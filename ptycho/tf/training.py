"""Seeded, reproducible training of the TF PtychoPINN model.

:func:`train` builds a network (or continues ``initial``) and runs :func:`fit`, a compiled
``tf.function`` training loop with

- a seeded validation split (:func:`ptycho.loader.split_container`) unless a validation container
  is given, and seeded shuffling (``numpy.random.default_rng(config.seed)``);
- initialisers seeded per layer from ``config.seed`` (no global RNG is touched); the CPU kernels
  are deterministic for a fixed thread count, so the same seed gives bit-identical weights on CPU
  (TensorFlow op determinism is switched on for the run when a GPU is visible);
- Adam at ``config.learning_rate``, reduce-on-plateau (``lr_plateau_factor``,
  ``lr_plateau_patience``, ``min_learning_rate``) and early stopping
  (``early_stopping_patience``), both monitoring ``val_loss`` when there is validation data and
  ``loss`` otherwise;
- a per-epoch history (``loss``, ``nll_loss``, ``mae_loss``, ``realspace_loss`` when used, the
  same with ``val_`` and ``learning_rate``), optionally written as ``history.csv``;
- an epoch hook (:data:`ptycho.backend.EpochCallback`) that may stop training cleanly;
- a NaN/Inf guard: the weights of the last finite epoch are restored and
  :class:`TrainingDivergedError` names the epoch;
- Ctrl-C: the weights of the last finished epoch are restored and
  :class:`ptycho.backend.TrainingInterrupted` carries them (HARD-010).

Scaling (ARCH-007/009): the network always sees the normalised ``X`` (its input is ``s X`` with the
current ``s = exp(log_intensity_scale)``, divided by the same ``s`` inside). Predicted counts
``(s A)^2`` are compared with the measured counts ``(s0 X)^2``, where
``s0 = sqrt(nphotons) / (N/2)`` is fixed by the data. A trainable ``s`` therefore learns the
count scale of the prediction, and inference (which feeds ``X * s``) sees exactly what training
saw.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import keras
import numpy as np
import tensorflow as tf

from ptycho.backend import ModelBundle, TrainingDivergedError, TrainingInterrupted
from ptycho.history import HISTORY_FILENAME, write_history_csv
from ptycho.tf import physics
from ptycho.tf.network import PtychoPINNModel, build_model

if TYPE_CHECKING:
    from ptycho.backend import EpochCallback
    from ptycho.config.config import TrainingConfig
    from ptycho.loader import PtychoDataContainer

__all__ = [
    "HISTORY_FILENAME",
    "EarlyStopping",
    "ReduceOnPlateau",
    "TrainingDivergedError",
    "check_container",
    "fit",
    "train",
    "write_history_csv",
]

logger = logging.getLogger(__name__)


# --------------------------------------------------------------------------------------------
# Validation of inputs
# --------------------------------------------------------------------------------------------


def check_container(container: PtychoDataContainer, n: int, gridsize: int, what: str) -> None:
    """Raise ``ValueError`` when ``container`` does not fit a model of size ``n`` / ``gridsize``."""
    x = np.asarray(container.X)
    if x.ndim != 4:
        raise ValueError(f"{what} diffraction must have shape (B, N, N, C), got {x.shape}")
    if x.shape[1] != n or x.shape[2] != n:
        raise ValueError(
            f"{what} diffraction patterns are {x.shape[1]}x{x.shape[2]} but the model has N={n}; "
            f"use a model with N={x.shape[1]} (or set N={x.shape[1]})"
        )
    c = gridsize * gridsize
    if x.shape[3] != c:
        raise ValueError(
            f"{what} data has {x.shape[3]} patterns per group but the model has gridsize="
            f"{gridsize} (C={c}); group the data with gridsize={gridsize}"
        )
    if len(container) == 0:
        raise ValueError(f"{what} data holds no groups")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{what} diffraction contains NaN or Inf values; fix the input data")


# --------------------------------------------------------------------------------------------
# Loss and compiled steps
# --------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _LossSpec:
    supervised: bool
    nll_weight: float
    mae_weight: float
    realspace_weight: float
    use_y: bool
    measured_scale: float  # s0


def _loss_spec(config: TrainingConfig, has_y: bool) -> _LossSpec:
    from ptycho.physics.forward import intensity_scale

    supervised = config.model.model_type == "supervised"
    if supervised and not has_y:
        raise ValueError(
            "model_type='supervised' trains on ground-truth object patches, but the data has no "
            "Y: provide objectGuess (or Y) in the dataset, or use model_type='pinn'"
        )
    if config.realspace_weight > 0 and not has_y:
        raise ValueError(
            f"realspace_weight={config.realspace_weight} needs ground-truth object patches, but "
            "the data has no Y: provide objectGuess (or Y) in the dataset, or set "
            "realspace_weight=0"
        )
    use_y = has_y and (supervised or config.realspace_weight > 0)
    return _LossSpec(
        supervised=supervised,
        nll_weight=float(config.nll_weight),
        mae_weight=float(config.mae_weight),
        realspace_weight=float(config.realspace_weight),
        use_y=use_y,
        measured_scale=intensity_scale(config.nphotons, config.model.N),
    )


def _make_functions(
    network: PtychoPINNModel,
    spec: _LossSpec,
    optimizer: keras.optimizers.Optimizer,
    jit_compile: bool,
) -> tuple[Any, Any]:
    model = network.training_model
    log_scale = network.scale_layer.log_intensity_scale
    variables = network.trainable_variables
    n, c = network.N, network.channels

    def losses(x: tf.Tensor, pos: tf.Tensor, y: tf.Tensor | None, training: bool):
        s = tf.stop_gradient(tf.exp(tf.convert_to_tensor(log_scale)))
        _, patches, amp_scaled = model([x * s, pos], training=training)
        terms: dict[str, tf.Tensor] = {}
        if spec.supervised:
            terms["realspace_loss"] = physics.complex_mae_center(patches, y)
            return terms["realspace_loss"], terms
        measured = x * spec.measured_scale
        terms["nll_loss"] = physics.poisson_nll(tf.square(amp_scaled), tf.square(measured))
        terms["mae_loss"] = physics.diffraction_mae(amp_scaled, measured)
        total = spec.nll_weight * terms["nll_loss"] + spec.mae_weight * terms["mae_loss"]
        if spec.use_y:
            terms["realspace_loss"] = physics.complex_mae_center(patches, y)
            total = total + spec.realspace_weight * terms["realspace_loss"]
        return total, terms

    signature = [
        tf.TensorSpec((None, n, n, c), tf.float32),
        tf.TensorSpec((None, 1, 2, c), tf.float32),
    ]
    if spec.use_y:
        signature.append(tf.TensorSpec((None, n, n, c), tf.complex64))

    def train_step(x, pos, y=None):
        with tf.GradientTape() as tape:
            total, terms = losses(x, pos, y, True)
        grads = tape.gradient(total, variables)
        optimizer.apply(grads, variables)
        return total, terms

    def eval_step(x, pos, y=None):
        return losses(x, pos, y, False)

    return (
        tf.function(train_step, input_signature=signature, jit_compile=jit_compile),
        tf.function(eval_step, input_signature=signature, jit_compile=jit_compile),
    )


# --------------------------------------------------------------------------------------------
# Schedule
# --------------------------------------------------------------------------------------------


class ReduceOnPlateau:
    """Keras-style reduce-on-plateau on a monitored value (mode ``min``, no cooldown).

    After ``patience`` epochs without a strictly lower value the learning rate is multiplied by
    ``factor`` (never below ``min_lr``) and the wait restarts.
    """

    def __init__(self, factor: float, patience: int, min_lr: float) -> None:
        self.factor = float(factor)
        self.patience = int(patience)
        self.min_lr = float(min_lr)
        self.best = math.inf
        self.wait = 0

    def update(self, value: float, lr: float) -> float:
        """Record this epoch's value; return the (possibly reduced) learning rate."""
        if value < self.best:
            self.best, self.wait = value, 0
            return lr
        self.wait += 1
        if self.wait >= self.patience and lr > self.min_lr:
            self.wait = 0
            return max(lr * self.factor, self.min_lr)
        return lr


class EarlyStopping:
    """Stop after ``patience`` epochs without a strictly lower monitored value."""

    def __init__(self, patience: int) -> None:
        self.patience = int(patience)
        self.best = math.inf
        self.wait = 0

    def update(self, value: float) -> bool:
        """Record this epoch's value; True when training should stop."""
        if value < self.best:
            self.best, self.wait = value, 0
            return False
        self.wait += 1
        return self.wait >= self.patience


# --------------------------------------------------------------------------------------------
# The loop
# --------------------------------------------------------------------------------------------


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
    spec = _loss_spec(config, train_data.Y is not None)
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
        train_step, eval_step = _make_functions(network, spec, optimizer, jit_compile)
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


# --------------------------------------------------------------------------------------------
# High-level entry point
# --------------------------------------------------------------------------------------------


def train(
    train: PtychoDataContainer,
    config: TrainingConfig,
    *,
    validation: PtychoDataContainer | None = None,
    on_epoch_end: EpochCallback | None = None,
    initial: ModelBundle | None = None,
    verbose: int = 0,
    output_dir: str | os.PathLike[str] | None = None,
    jit_compile: bool = False,
) -> ModelBundle:
    """Build (or continue) a model, train it and return the bundle.

    Parameters
    ----------
    train : PtychoDataContainer
        Grouped training data. ``config.model.N == 0`` takes N from the data.
    config : TrainingConfig
        Not modified (a copy is stored on the bundle).
    validation : PtychoDataContainer, optional
        Validation data; None = a seeded split of ``train`` by
        ``config.validation_fraction`` (no validation when that leaves no group).
    on_epoch_end : EpochCallback, optional
        See :func:`fit`.
    initial : ModelBundle, optional
        A TensorFlow bundle to continue training from (its network, probe and scale).
    verbose, output_dir, jit_compile
        See :func:`fit`.

    Returns
    -------
    ModelBundle
        ``backend='tensorflow'``, the trained network, its current probe and ``s``, the history.

    Raises
    ------
    ValueError
        Data that does not fit the model (N, gridsize), missing ground truth for the supervised
        or real-space loss, an ``initial`` bundle of another backend.
    TrainingDivergedError
        NaN/Inf loss (its ``bundle`` holds the restored model).
    ptycho.backend.TrainingInterrupted
        Ctrl-C; its ``bundle`` holds the model of the last finished epoch (None when no epoch
        finished).
    """
    from ptycho.loader import split_container
    from ptycho.physics.forward import intensity_scale
    from ptycho.probe import normalize_probe

    x_shape = np.asarray(train.X).shape
    model_config = dataclasses.replace(config.model)
    if model_config.N == 0:
        model_config.N = int(x_shape[1])
    config = dataclasses.replace(config, model=model_config)
    config.validate(require_n=True)
    check_container(train, model_config.N, model_config.gridsize, "training")

    if initial is not None:
        if initial.backend != "tensorflow" or not isinstance(initial.network, PtychoPINNModel):
            raise ValueError(
                f"initial bundle is from the {initial.backend} backend; the tensorflow backend "
                "can only continue a tensorflow model"
            )
        network = initial.network
        if (network.N, network.gridsize) != (model_config.N, model_config.gridsize):
            raise ValueError(
                f"initial model has N={network.N}, gridsize={network.gridsize} but the training "
                f"config asks for N={model_config.N}, gridsize={model_config.gridsize}"
            )
        config = dataclasses.replace(config, model=dataclasses.replace(network.model_config))
        from ptycho.fine_tuning import continued_probe_and_scale

        probe, scale = continued_probe_and_scale(initial, train.probe, config)
        network.probe_layer.probe_real.assign(probe.real)
        network.probe_layer.probe_imag.assign(probe.imag)
        network.scale_layer.log_intensity_scale.assign(np.float32(math.log(scale)))
    else:
        probe = normalize_probe(train.probe, model_config.probe_scale)
        scale = intensity_scale(config.nphotons, model_config.N)
        network = build_model(model_config, config, probe, scale)

    if validation is None and config.validation_fraction > 0:
        train_part, val_part = split_container(train, config.validation_fraction, config.seed)
        if len(val_part) > 0:
            train, validation = train_part, val_part
    try:
        history = fit(
            network,
            train,
            config,
            validation=validation,
            on_epoch_end=on_epoch_end,
            verbose=verbose,
            output_dir=output_dir,
            jit_compile=jit_compile,
        )
    except TrainingDivergedError as exc:
        exc.bundle = _bundle(network, config, exc.history)
        raise
    except TrainingInterrupted as exc:
        if exc.epochs_completed > 0:
            exc.bundle = _bundle(network, config, exc.history)
        raise
    return _bundle(network, config, history)


def _bundle(
    network: PtychoPINNModel, config: TrainingConfig, history: dict[str, list[float]]
) -> ModelBundle:
    return ModelBundle(
        backend="tensorflow",
        model_config=dataclasses.replace(network.model_config),
        training_config=config,
        intensity_scale=network.intensity_scale,
        probe=network.probe,
        history={k: list(v) for k, v in history.items()},
        network=network,
    )


# --------------------------------------------------------------------------------------------
# History CSV
# --------------------------------------------------------------------------------------------


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
