"""PyTorch workflow API: the torch counterparts of :mod:`ptycho.workflows.components`.

Functions (same arguments and return structures as the TensorFlow ones, so
:mod:`ptycho.workflows.backend_selector` can route either way):

- :func:`train_cdi_model_torch` -> results dict (``history``, ``history_epochs``,
  ``model_bundle``, ``model_instance``, ``diffraction_to_obj``, ``intensity_scale``,
  ``train_container``, ``test_container``; with test data ``reconstructed_obj`` and
  ``global_offsets``);
- :func:`run_cdi_example_torch` -> ``(recon_amp, recon_phase, results)`` with the stitched test
  object in ``results['obj_tensor_full']``;
- :func:`load_inference_bundle_torch` -> ``(model, params_dict)``, where ``model`` is a
  :class:`~ptycho_torch.network.DiffractionToObject` taking ``[X * s, local_offsets]`` in the
  Keras layout, like the TensorFlow ``diffraction_to_obj``.

Each function first writes the config into the legacy ``ptycho.params.cfg``
(``update_legacy_dict``, CONFIG-001) before any data is loaded; the
:class:`~ptycho.config.config.PyTorchExecutionConfig` is never written there (CONFIG-002).
Grouping and stitching are the core's (:func:`ptycho.containers.
create_ptycho_data_container`, :func:`ptycho.object_stitching.stitch_reconstruction`), so
both backends group and stitch identically. Every training run is recorded with
:func:`ptycho.model_manager.set_last_trained`.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from typing import TYPE_CHECKING, Any

import numpy as np

from ptycho_torch import require_torch

if TYPE_CHECKING:
    from ptycho.backend import EpochCallback, ModelBundle
    from ptycho.config.config import PyTorchExecutionConfig, TrainingConfig
    from ptycho.loader import PtychoDataContainer
    from ptycho.raw_data import RawData

__all__ = [
    "load_inference_bundle",
    "load_inference_bundle_torch",
    "run_cdi_example",
    "run_cdi_example_torch",
    "train",
    "train_cdi_model",
    "train_cdi_model_torch",
    "train_torch",
]

logger = logging.getLogger(__name__)


def _bridge_legacy(config: Any) -> None:
    from ptycho.legacy_params import bridge_config

    bridge_config(config)


def _with_n_from_data(config: TrainingConfig, data: RawData | PtychoDataContainer) -> Any:
    from ptycho.raw_data import RawData

    if config.model.N != 0:
        return config
    n = data.N if isinstance(data, RawData) else int(np.asarray(data.X).shape[1])
    return dataclasses.replace(config, model=dataclasses.replace(config.model, N=n))


def train_torch(
    train_data: RawData | PtychoDataContainer,
    config: TrainingConfig,
    *,
    validation_data: RawData | PtychoDataContainer | None = None,
    on_epoch_end: EpochCallback | None = None,
    initial: ModelBundle | None = None,
    execution_config: PyTorchExecutionConfig | None = None,
    output_dir: str | os.PathLike[str] | None = None,
    verbose: int = 0,
) -> ModelBundle:
    """Group (when given RawData) and train with the PyTorch backend.

    Mirrors ``ptycho.workflows.components.train``; the bundle is recorded as the process's last
    trained model (:mod:`ptycho.model_manager`).
    """
    require_torch()
    from ptycho import model_manager
    from ptycho.containers import create_ptycho_data_container
    from ptycho_torch import api

    config = _with_n_from_data(config, train_data)
    _bridge_legacy(config)
    container = create_ptycho_data_container(train_data, config)
    validation = (
        create_ptycho_data_container(validation_data, config)
        if validation_data is not None
        else None
    )
    bundle = api.train(
        container,
        config,
        validation=validation,
        on_epoch_end=on_epoch_end,
        execution=execution_config,
        initial=initial,
        output_dir=output_dir,
        verbose=verbose,
    )
    model_manager.set_last_trained(bundle)
    return bundle


def train_cdi_model_torch(
    train_data: RawData | PtychoDataContainer,
    test_data: RawData | PtychoDataContainer | None,
    config: TrainingConfig,
    execution_config: PyTorchExecutionConfig | None = None,
) -> dict[str, Any]:
    """Train on ``train_data`` and, when given, predict the object patches of ``test_data``.

    Returns
    -------
    dict
        ``history`` (per-epoch lists), ``history_epochs``, ``model_bundle``, ``model_instance``
        (the :class:`~ptycho_torch.network.PtychoPINNNet`), ``diffraction_to_obj``
        (:class:`~ptycho_torch.network.DiffractionToObject`), ``intensity_scale``,
        ``train_container``, ``test_container``; with test data also ``reconstructed_obj``
        ``(B, N, N, 1) complex64`` and ``global_offsets`` ``(B, 1, 2, 1)``.
    """
    require_torch()
    from ptycho.containers import create_ptycho_data_container
    from ptycho_torch import api
    from ptycho_torch.network import DiffractionToObject

    config = _with_n_from_data(config, train_data)
    _bridge_legacy(config)
    train_container = create_ptycho_data_container(train_data, config)
    bundle = train_torch(train_container, config, execution_config=execution_config)
    results: dict[str, Any] = {
        "history": bundle.history,
        "history_epochs": list(range(1, bundle.epochs_trained + 1)),
        "model_bundle": bundle,
        "model_instance": bundle.network,
        "diffraction_to_obj": DiffractionToObject(bundle.network),
        "intensity_scale": bundle.intensity_scale,
        "train_container": train_container,
        "test_container": None,
    }
    if test_data is not None:
        test_container = create_ptycho_data_container(test_data, config, n_groups=None)
        results["test_container"] = test_container
        batch = execution_config.inference_batch_size if execution_config else None
        results["reconstructed_obj"] = api.predict_patches(
            bundle, test_container, batch_size=batch or 64
        )
        results["global_offsets"] = np.asarray(test_container.global_offsets, dtype=np.float64)
    return results


def run_cdi_example_torch(
    train_data: RawData | PtychoDataContainer,
    test_data: RawData | PtychoDataContainer | None,
    config: TrainingConfig,
    flip_x: bool = False,
    flip_y: bool = False,
    transpose: bool = False,
    M: int = 20,
    do_stitching: bool = False,
    execution_config: PyTorchExecutionConfig | None = None,
) -> tuple[np.ndarray | None, np.ndarray | None, dict[str, Any]]:
    """Train, then reconstruct and stitch the test data (``run_cdi_example`` for PyTorch).

    As in the TensorFlow version, a given ``test_data`` is always reconstructed and stitched
    (``do_stitching`` is accepted for compatibility): onto the test object's grid when it is a
    RawData with an ``objectGuess``, else onto a scan-centred canvas (central ``M x M`` of each
    patch).

    Returns
    -------
    recon_amp, recon_phase : (H, W) float32 or None
        Amplitude and phase (radians) of the stitched test object; None without test data.
    results : dict
        :func:`train_cdi_model_torch`'s results plus ``obj_tensor_full``, ``recon_amp`` and
        ``recon_phase``.
    """
    del do_stitching
    from ptycho.object_stitching import stitch_reconstruction
    from ptycho.raw_data import RawData

    _bridge_legacy(config)
    results = train_cdi_model_torch(train_data, test_data, config, execution_config)
    if test_data is None:
        return None, None, results
    shape = None
    if isinstance(test_data, RawData) and test_data.objectGuess is not None:
        shape = tuple(test_data.objectGuess.shape)
    obj = stitch_reconstruction(
        results["reconstructed_obj"],
        results["global_offsets"],
        shape,
        flip_x,
        flip_y,
        transpose,
        M,
    )
    amp = np.abs(obj).astype(np.float32)
    phase = np.angle(obj).astype(np.float32)
    results.update(obj_tensor_full=obj, recon_amp=amp, recon_phase=phase)
    return amp, phase, results


def load_inference_bundle_torch(
    bundle_dir: str | os.PathLike[str], model_name: str = "diffraction_to_obj"
) -> tuple[Any, dict[str, Any]]:
    """Load a model for external callers (``load_inference_bundle`` for PyTorch).

    Parameters
    ----------
    bundle_dir : path-like
        Directory holding ``wts.h5.zip`` (or ``checkpoints/last.ckpt``), an archive or a
        ``.ckpt``. A TensorFlow archive is converted (the layers match one to one).
    model_name : {'diffraction_to_obj', 'autoencoder'}
        ``'diffraction_to_obj'``: a :class:`~ptycho_torch.network.DiffractionToObject`
        (``model([X * s, local_offsets])`` -> ``(B, N, N, 1)`` complex64, Keras layout);
        ``'autoencoder'``: the full :class:`~ptycho_torch.network.PtychoPINNNet`.

    Returns
    -------
    model : torch.nn.Module
        In eval mode, on the CPU.
    params : dict
        A copy of ``ptycho.params.cfg`` after it was updated with the model's configuration,
        ``intensity_scale``, ``N``, ``gridsize``, ``probe`` (``(N, N, 1)`` complex64) and
        ``nphotons`` (when known).
    """
    require_torch()
    from pathlib import Path

    from ptycho import params
    from ptycho.legacy_params import bridge_bundle
    from ptycho_torch.network import DiffractionToObject
    from ptycho_torch.persistence import find_model_file

    if model_name not in ("diffraction_to_obj", "autoencoder"):
        raise KeyError(
            f"unknown model name {model_name!r}; choose 'diffraction_to_obj' or 'autoencoder'"
        )
    path = find_model_file(Path(bundle_dir))
    if path.suffix == ".ckpt":
        from ptycho_torch.persistence import load_checkpoint

        bundle = load_checkpoint(path)
    else:
        from ptycho.workflows.backend_selector import load_inference_bundle_with_backend

        bundle = load_inference_bundle_with_backend(path, backend="pytorch")
    bridge_bundle(bundle)
    network = bundle.network.eval()
    model = DiffractionToObject(network) if model_name == "diffraction_to_obj" else network
    logger.info(
        "loaded PyTorch model (N=%d, gridsize=%d, intensity_scale=%.6g)",
        bundle.model_config.N,
        bundle.model_config.gridsize,
        bundle.intensity_scale,
    )
    return model, dict(params.cfg)


# The workflow contract's names, the same in every backend's workflow module (the dispatcher,
# ptycho.workflows.backend_selector, calls these); the ``_torch`` names above are kept for
# existing callers.
train = train_torch
train_cdi_model = train_cdi_model_torch
run_cdi_example = run_cdi_example_torch
load_inference_bundle = load_inference_bundle_torch
