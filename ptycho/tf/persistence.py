"""Save and load TF bundles as ``wts.h5.zip`` archives (design D6) through :mod:`ptycho.archive`.

The archive holds ``manifest.json`` (configs, N, gridsize, intensity scale, history, versions),
``weights.weights.h5`` (Keras weights only: every variable of the network, including
``log_intensity_scale``, ``probe_real`` and ``probe_imag``) and ``probe.npy``. The manifest's
``weight_names`` maps the weights file's dataset paths to Keras variable paths
(:func:`ptycho.weights.keras_weight_names`), so the archive can be converted without TensorFlow.

Loading rebuilds the network from the manifest's configs with :func:`ptycho.tf.network.build_model`
and then calls ``load_weights``: nothing in the archive is ever executed or unpickled
(no ``keras.models.load_model``, no unsafe deserialisation).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from ptycho.backend import ModelBundle
from ptycho.tf.network import PtychoPINNModel, build_model

__all__ = ["WEIGHTS_FILE", "load_bundle", "save_bundle"]

logger = logging.getLogger(__name__)

#: Archive member holding the Keras weights.
WEIGHTS_FILE = "weights.weights.h5"


def _weights_bytes(network: PtychoPINNModel) -> bytes:
    with tempfile.TemporaryDirectory(prefix="ptycho-tf-save-") as tmp:
        path = Path(tmp) / WEIGHTS_FILE
        network.save_weights(str(path))
        return path.read_bytes()


def save_bundle(bundle: ModelBundle, path: str | os.PathLike[str]) -> Path:
    """Write ``bundle`` as a model archive (atomic).

    Parameters
    ----------
    bundle : ModelBundle
        A TensorFlow bundle.
    path : path-like
        Archive file (conventionally ``<dir>/wts.h5.zip``) or a directory (then
        ``<dir>/wts.h5.zip``).

    Returns
    -------
    pathlib.Path
        The archive written.

    Raises
    ------
    ValueError
        The bundle is not a TensorFlow bundle.
    PermissionError
        The target directory is not writable (nothing is written).
    """
    from ptycho.archive import build_manifest, probe_to_bytes, write_archive
    from ptycho.weights import WEIGHT_NAMES_KEY, keras_weight_names

    if bundle.backend != "tensorflow" or not isinstance(bundle.network, PtychoPINNModel):
        raise ValueError(
            f"save_bundle of the tensorflow backend got a {bundle.backend} bundle; save it with "
            "its own backend"
        )
    network = bundle.network
    # the network is the source of truth for the trained parameters
    bundle.intensity_scale = network.intensity_scale
    bundle.probe = network.probe
    extra: dict[str, Any] = {
        "padded_size": int(network.padded_size),
        "tensorflow_version": tf.__version__,
        "keras_version": keras.__version__,
        # weights-file dataset path -> Keras variable path, so ptycho.weights can read the
        # weights without TensorFlow (conversion to the PyTorch backend)
        WEIGHT_NAMES_KEY: keras_weight_names(network.training_model),
    }
    manifest = build_manifest(bundle, WEIGHTS_FILE, extra=extra)
    target = Path(path)
    if target.is_dir():
        from ptycho.archive import ARCHIVE_NAME

        target = target / ARCHIVE_NAME
    _check_parent_writable(target.parent)
    files = {
        WEIGHTS_FILE: _weights_bytes(network),
        manifest["probe_file"]: probe_to_bytes(bundle.probe),
    }
    return write_archive(target, manifest, files)


def _check_parent_writable(directory: Path) -> None:
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise PermissionError(
            f"cannot create directory {directory} for the model archive: {exc}; choose another "
            "output directory"
        ) from exc
    if not os.access(directory, os.W_OK):
        raise PermissionError(
            f"cannot write the model archive: directory {directory} is not writable; choose "
            "another output directory"
        )


def load_bundle(path: str | os.PathLike[str]) -> ModelBundle:
    """Read a TensorFlow model archive.

    Parameters
    ----------
    path : path-like
        The archive or a directory holding ``wts.h5.zip``.

    Returns
    -------
    ModelBundle
        With a freshly built network carrying the stored weights.

    Raises
    ------
    FileNotFoundError
        No archive at ``path``.
    ptycho.archive.BackendMismatchError
        The archive was written by the PyTorch backend (the message names both).
    ValueError
        Corrupt or truncated archive, unknown format version, incomplete manifest, or weights
        that do not match the architecture of the manifest.
    """
    from ptycho.archive import read_archive
    from ptycho.config.config import ModelConfig, TrainingConfig, from_dict

    contents = read_archive(path, expected_backend="tensorflow")
    manifest = contents.manifest
    try:
        model_config = from_dict(ModelConfig, manifest["model_config"])
        training_dict = manifest.get("training_config")
        training_config = (
            from_dict(TrainingConfig, training_dict) if training_dict is not None else None
        )
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"model archive {contents.path} has an invalid configuration in its manifest: {exc}"
        ) from exc
    if (int(manifest["N"]), int(manifest["gridsize"])) != (model_config.N, model_config.gridsize):
        raise ValueError(
            f"model archive {contents.path} is inconsistent: manifest N/gridsize "
            f"{manifest['N']}/{manifest['gridsize']} differ from its model config "
            f"{model_config.N}/{model_config.gridsize}"
        )
    try:
        probe = contents.probe
    except ValueError as exc:
        raise ValueError(f"model archive {contents.path} has an unreadable probe: {exc}") from exc
    n = model_config.N
    if probe.shape != (n, n):
        raise ValueError(
            f"model archive {contents.path} holds a probe of shape {probe.shape}, expected "
            f"({n}, {n})"
        )
    network = build_model(model_config, training_config, probe, float(manifest["intensity_scale"]))
    with tempfile.TemporaryDirectory(prefix="ptycho-tf-load-") as tmp:
        weights_path = Path(tmp) / WEIGHTS_FILE
        weights_path.write_bytes(contents.weights)
        try:
            network.load_weights(str(weights_path))
        except Exception as exc:  # h5py/Keras raise many types for damaged or mismatched files
            raise ValueError(
                f"model archive {contents.path}: cannot load its weights into the "
                f"N={n}, gridsize={model_config.gridsize} network described by its manifest "
                f"({type(exc).__name__}: {exc}); the archive is damaged or was written by an "
                "incompatible version"
            ) from exc
    _check_weights_finite(network, contents.path)
    history = {
        str(k): [float(v) for v in values] for k, values in (manifest.get("history") or {}).items()
    }
    logger.info("loaded %s model archive %s", "tensorflow", contents.path)
    return ModelBundle(
        backend="tensorflow",
        model_config=dataclasses.replace(network.model_config),
        training_config=training_config,
        intensity_scale=network.intensity_scale,
        probe=network.probe,
        history=history,
        network=network,
    )


def _check_weights_finite(network: PtychoPINNModel, path: Path) -> None:
    for weight in network.weights:
        if not np.all(np.isfinite(weight.numpy())):
            raise ValueError(
                f"model archive {path}: weight {weight.path} holds NaN/Inf values; re-train the "
                "model"
            )
