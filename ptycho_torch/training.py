"""The torch backend's ``train`` entry point (the backend contract's ``train``).

:func:`train` checks the data and the ``initial`` bundle, builds the
:class:`~ptycho_torch.model.PtychoPINN_Lightning` module and the
:class:`~ptycho_torch.datamodule.PtychoDataModule`, seeds with :func:`lightning.seed_everything`
(``TrainingConfig.seed``) and fits with the Lightning ``Trainer`` of
:func:`ptycho_torch.trainer.build_trainer`. The pieces live in modules of their own:

* :mod:`ptycho_torch.trainer`: the ``Trainer`` from the execution config (checkpoints in
  ``<output_dir>/checkpoints/``, early stopping, strategy, precision);
* :mod:`ptycho_torch.accelerators`: accelerator and device-count checks;
* :mod:`ptycho_torch.loggers`: the experiment loggers under ``<output_dir>/lightning_logs/``;
* :mod:`ptycho_torch.callbacks`: per-epoch history (also ``checkpoints/history.csv``), the user's
  :data:`~ptycho.backend.EpochCallback` and the NaN guard (a non-finite training loss restores the
  weights of the last finished epoch and raises :class:`TrainingDivergedError`);
* :mod:`ptycho_torch.interrupts`: Ctrl-C (SIGINT, single process) restores the weights of the last
  finished epoch and raises :class:`ptycho.backend.TrainingInterrupted` carrying them (HARD-010
  of ``specs/hardening.md``).

The top-level ``<output_dir>/history.csv`` is not written here: the CLIs write it together with
the model archive it describes (HARD-014).

Files are written only under the ``output_dir`` given to :func:`train`; without it nothing is
written (``TrainingConfig.output_dir`` is not used implicitly, so nothing lands in the current
directory by default).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path

import lightning as L
import numpy as np
import torch

from ptycho.backend import (
    EpochCallback,
    ModelBundle,
    TrainingDivergedError,
    TrainingInterrupted,
)
from ptycho.config.config import PyTorchExecutionConfig, TrainingConfig
from ptycho.history import HISTORY_FILENAME
from ptycho.loader import PtychoDataContainer
from ptycho_torch.accelerators import resolve_accelerator
from ptycho_torch.callbacks import EpochCallbackBridge, read_history
from ptycho_torch.datamodule import PtychoDataModule
from ptycho_torch.interrupts import SigintDuringFit, sigint_raises
from ptycho_torch.loggers import quiet_lightning
from ptycho_torch.model import PtychoPINN_Lightning, config_differences
from ptycho_torch.network import resolve_network_precision
from ptycho_torch.trainer import CHECKPOINT_DIR, build_trainer, execution_for

__all__ = ["HISTORY_FILENAME", "TrainingDivergedError", "train"]

logger = logging.getLogger(__name__)


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
        (:func:`~ptycho_torch.trainer.execution_for`).
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
    device = resolve_accelerator(execution.accelerator)
    module.net.set_precision(resolve_network_precision(config.precision, device))
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
            with sigint_raises():
                trainer.fit(module, datamodule=datamodule)
        except (SigintDuringFit, KeyboardInterrupt):
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
    net.set_precision("float32")  # a run setting (ARCH-016): the bundle's network is float32
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
