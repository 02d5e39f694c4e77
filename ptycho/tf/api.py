"""The TensorFlow backend's implementation of the shared backend contract.

Same names and arguments as ``ptycho_torch.api`` (see :class:`ptycho.backend.BackendAPI`):
:func:`train`, :func:`predict_patches`, :func:`save_bundle`, :func:`load_bundle`, plus
:func:`reconstruct` (scan -> stitched object and probe) and the weight-conversion hooks
:func:`weights_of` / :func:`bundle_from_weights` used by :mod:`ptycho.weights`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np

from ptycho.tf import persistence as _persistence
from ptycho.tf import prediction as _prediction
from ptycho.tf import training as _training
from ptycho.tf.prediction import Reconstruction

if TYPE_CHECKING:
    from pathlib import Path

    from ptycho.backend import EpochCallback, ModelBundle
    from ptycho.config.config import (
        InferenceConfig,
        ModelConfig,
        PyTorchExecutionConfig,
        TrainingConfig,
    )
    from ptycho.loader import PtychoDataContainer
    from ptycho.raw_data import RawData

__all__ = [
    "BACKEND",
    "Reconstruction",
    "bundle_from_weights",
    "load_bundle",
    "predict_patches",
    "reconstruct",
    "save_bundle",
    "train",
    "weights_of",
]

BACKEND = "tensorflow"


def train(
    train: PtychoDataContainer,
    config: TrainingConfig,
    *,
    validation: PtychoDataContainer | None = None,
    on_epoch_end: EpochCallback | None = None,
    execution: PyTorchExecutionConfig | None = None,
    initial: ModelBundle | None = None,
    verbose: int = 0,
    output_dir: str | os.PathLike[str] | None = None,
) -> ModelBundle:
    """Train a model (from ``initial`` when given) and return it with its history.

    ``execution`` is the PyTorch execution config and is ignored here. ``verbose`` (0 silent,
    1 progress bar, 2 a log line per epoch) and ``output_dir`` (write ``history.csv`` there) are
    TensorFlow extras. See :func:`ptycho.tf.training.train`.
    """
    del execution
    return _training.train(
        train,
        config,
        validation=validation,
        on_epoch_end=on_epoch_end,
        initial=initial,
        verbose=verbose,
        output_dir=output_dir,
    )


def predict_patches(
    bundle: ModelBundle,
    container: PtychoDataContainer,
    batch_size: int = 64,
    *,
    probe: np.ndarray | None = None,
    precision: str = "float32",
) -> np.ndarray:
    """Object patches at the group centres, ``(B, N, N, 1) complex64`` (``probe`` and
    ``precision``: see :func:`ptycho.tf.prediction.predict_patches`)."""
    return _prediction.predict_patches(
        bundle, container, batch_size=batch_size, probe=probe, precision=precision
    )


def save_bundle(bundle: ModelBundle, path: str | os.PathLike[str] | Path) -> None:
    """Write ``bundle`` as a ``wts.h5.zip`` archive (atomic; design D6)."""
    _persistence.save_bundle(bundle, path)


def load_bundle(path: str | os.PathLike[str] | Path) -> ModelBundle:
    """Read an archive written by :func:`save_bundle` (never executes archive content)."""
    return _persistence.load_bundle(path)


def reconstruct(
    bundle: ModelBundle, raw: RawData, inference_config: InferenceConfig, *, M: int = 20
) -> Reconstruction:
    """Group, predict and stitch a scan; returns the object and the probe used."""
    return _prediction.reconstruct(bundle, raw, inference_config, M=M)


def weights_of(bundle: ModelBundle) -> dict[str, np.ndarray]:
    """Canonical weights of a TensorFlow bundle (names of :mod:`ptycho.weights`, Keras layout)."""
    from ptycho.weights import canonical_from_keras_path

    network = _prediction._network(bundle)
    return {
        canonical_from_keras_path(variable.path): np.asarray(variable.numpy(), dtype=np.float32)
        for variable in network.weights
    }


def bundle_from_weights(
    model_config: ModelConfig,
    training_config: TrainingConfig | None,
    weights: Mapping[str, np.ndarray],
    probe: np.ndarray,
    intensity_scale: float,
) -> ModelBundle:
    """Build a TensorFlow bundle from canonical weights (e.g. converted from PyTorch).

    ``probe`` and ``intensity_scale`` are used when ``weights`` lacks ``probe_real``/
    ``probe_imag`` or ``log_intensity_scale`` (as in the PyTorch backend).

    Raises
    ------
    ValueError
        When a weight is missing or has the wrong shape for ``model_config``.
    """
    import dataclasses
    import math

    from ptycho.backend import ModelBundle
    from ptycho.tf.network import build_model
    from ptycho.weights import canonical_from_keras_path

    network = build_model(model_config, training_config, probe, intensity_scale)
    weights = dict(weights)
    p = np.asarray(probe, dtype=np.complex64)
    weights.setdefault("probe_real", p.real.astype(np.float32))
    weights.setdefault("probe_imag", p.imag.astype(np.float32))
    weights.setdefault(
        "log_intensity_scale", np.asarray(math.log(float(intensity_scale)), dtype=np.float32)
    )
    for variable in network.weights:
        name = canonical_from_keras_path(variable.path)
        if name not in weights:
            raise ValueError(f"weight {name!r} is missing for the tensorflow network")
        value = np.asarray(weights[name], dtype=np.float32)
        if tuple(value.shape) != tuple(variable.shape):
            raise ValueError(
                f"weight {name!r} has shape {value.shape}, the tensorflow network expects "
                f"{tuple(variable.shape)}"
            )
        variable.assign(value)
    return ModelBundle(
        backend=BACKEND,
        model_config=dataclasses.replace(network.model_config),
        training_config=training_config,
        intensity_scale=network.intensity_scale,
        probe=network.probe,
        history={},
        network=network,
    )
