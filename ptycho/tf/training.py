"""The TF backend's ``train`` entry point (the backend contract's ``train``).

:func:`train` builds a network (:func:`ptycho.tf.network.build_model`) or continues ``initial``,
splits off seeded validation data (:func:`ptycho.loader.split_container`) unless a validation
container is given, and trains with :func:`ptycho.tf.loop.fit`, the seeded training loop
(initialisers are seeded per layer from ``config.seed``; no global RNG is touched). The pieces
live in modules of their own:

* :mod:`ptycho.tf.loop`: the epoch loop (history, epoch callback, NaN guard, Ctrl-C);
* :mod:`ptycho.tf.steps`: the loss and the compiled train / eval steps (ARCH-007/009 scaling);
* :mod:`ptycho.tf.callbacks`: reduce-on-plateau and early stopping;
* :mod:`ptycho.tf.data_checks`: the data / model shape checks.
"""

from __future__ import annotations

import dataclasses
import math
import os
from typing import TYPE_CHECKING

import numpy as np

from ptycho.backend import ModelBundle, TrainingDivergedError, TrainingInterrupted
from ptycho.history import HISTORY_FILENAME
from ptycho.tf.data_checks import check_container
from ptycho.tf.loop import fit
from ptycho.tf.network import PtychoPINNModel, build_model, resolve_network_precision

if TYPE_CHECKING:
    from ptycho.backend import EpochCallback
    from ptycho.config.config import TrainingConfig
    from ptycho.loader import PtychoDataContainer

__all__ = ["HISTORY_FILENAME", "TrainingDivergedError", "train"]


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
        See :func:`ptycho.tf.loop.fit`.
    initial : ModelBundle, optional
        A TensorFlow bundle to continue training from (its network, probe and scale).
    verbose, output_dir, jit_compile
        See :func:`ptycho.tf.loop.fit`.

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

    network.set_precision(resolve_network_precision(config.precision))
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
    network.set_precision("float32")  # a run setting (ARCH-016): the bundle's network is float32
    return ModelBundle(
        backend="tensorflow",
        model_config=dataclasses.replace(network.model_config),
        training_config=config,
        intensity_scale=network.intensity_scale,
        probe=network.probe,
        history={k: list(v) for k, v in history.items()},
        network=network,
    )
