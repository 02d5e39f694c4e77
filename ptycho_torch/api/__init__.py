"""The shared backend contract of the PyTorch backend (:class:`ptycho.backend.BackendAPI`).

``ptycho.workflows.backend_selector`` imports this module by name for ``backend='pytorch'``.
Same names and arguments as ``ptycho.tf.api``:

* :func:`train` (:func:`ptycho_torch.training.train`; extras ``verbose`` and ``output_dir``);
* :func:`predict_patches` and :func:`reconstruct` (:mod:`ptycho_torch.prediction`);
* :func:`save_bundle` and :func:`load_bundle` (:mod:`ptycho_torch.persistence`; ``load_bundle``
  also accepts a Lightning ``.ckpt`` or a training output directory);
* :func:`weights_of` / :func:`bundle_from_weights`: the weight-conversion hooks used by
  :mod:`ptycho.weights` (canonical names and Keras layout).

Importing this module fails fast with the install command when torch or lightning is missing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np

from ptycho_torch import require_torch

require_torch()

from ptycho.backend import TrainingDivergedError  # noqa: E402
from ptycho_torch.persistence import load_bundle, save_bundle  # noqa: E402
from ptycho_torch.prediction import (  # noqa: E402
    Reconstruction,
    predict_patches,
    reconstruct,
)

if TYPE_CHECKING:
    import os

    from ptycho.backend import EpochCallback, ModelBundle
    from ptycho.config.config import ModelConfig, PyTorchExecutionConfig, TrainingConfig
    from ptycho.loader import PtychoDataContainer

BACKEND = "pytorch"


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
    """Train with Lightning (:func:`ptycho_torch.training.train`, imported on first use so that
    loading and running a model never imports Lightning)."""
    from ptycho_torch.training import train as lightning_train

    return lightning_train(
        train,
        config,
        validation=validation,
        on_epoch_end=on_epoch_end,
        execution=execution,
        initial=initial,
        output_dir=output_dir,
        verbose=verbose,
    )


__all__ = [
    "BACKEND",
    "Reconstruction",
    "TrainingDivergedError",
    "bundle_from_weights",
    "load_bundle",
    "predict_patches",
    "reconstruct",
    "save_bundle",
    "train",
    "weights_of",
]


def weights_of(bundle: ModelBundle) -> dict[str, np.ndarray]:
    """Canonical weights of a PyTorch bundle (names of :mod:`ptycho.weights`, Keras layout)."""
    import torch

    from ptycho.weights import canonical_from_torch_state

    if bundle.backend != BACKEND or not isinstance(bundle.network, torch.nn.Module):
        raise ValueError(
            f"this is a {bundle.backend} model bundle; the pytorch backend cannot read its weights"
        )
    return canonical_from_torch_state(bundle.network.state_dict())


def bundle_from_weights(
    model_config: ModelConfig,
    training_config: TrainingConfig | None,
    weights: Mapping[str, np.ndarray],
    probe: np.ndarray,
    intensity_scale: float,
) -> ModelBundle:
    """Build a PyTorch bundle from canonical weights (e.g. converted from TensorFlow).

    ``probe`` and ``intensity_scale`` are used when ``weights`` lacks ``probe_real``/
    ``probe_imag`` or ``log_intensity_scale``.

    Raises
    ------
    ValueError
        When a weight is missing or has the wrong shape for ``model_config`` (listed).
    """
    import math

    import torch

    from ptycho.weights import torch_state_from_canonical, validate_weights
    from ptycho_torch.persistence import bundle_from_state_dict

    full = dict(weights)
    p = np.asarray(probe, dtype=np.complex64)
    full.setdefault("probe_real", p.real.astype(np.float32))
    full.setdefault("probe_imag", p.imag.astype(np.float32))
    full.setdefault("log_intensity_scale", np.asarray(math.log(float(intensity_scale)), np.float32))
    validate_weights(
        full, model_config, context="cannot build a PyTorch network from these weights"
    )
    state = {
        key: torch.from_numpy(np.array(value, dtype=np.float32, order="C"))
        for key, value in torch_state_from_canonical(full).items()
    }
    return bundle_from_state_dict(
        model_config, training_config, state, source="the converted weights"
    )
