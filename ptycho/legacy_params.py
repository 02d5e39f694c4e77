"""Writes into the legacy global ``ptycho.params.cfg`` (CONFIG-001), in one place.

Every entry point that runs work for a configuration first writes it into ``params.cfg``
(:func:`bridge_config`); loading a trained model for inference also writes the model's scale,
size, grid and probe (:func:`bridge_bundle`). Both backends' workflow modules, the PyTorch CLIs
and :mod:`ptycho.workflows.backend_selector` call these helpers instead of repeating the block.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from ptycho.backend import ModelBundle
    from ptycho.config.config import InferenceConfig, ModelConfig, TrainingConfig

__all__ = ["bridge_bundle", "bridge_config"]


def bridge_config(config: ModelConfig | TrainingConfig | InferenceConfig) -> None:
    """Write ``config`` (a model, training or inference config) into ``ptycho.params.cfg``
    (CONFIG-001).

    The execution configs (e.g. ``PyTorchExecutionConfig``) are never passed here (CONFIG-002).
    """
    from ptycho import params
    from ptycho.config.config import update_legacy_dict

    update_legacy_dict(params.cfg, config)


def bridge_bundle(bundle: ModelBundle) -> None:
    """Write a loaded model's settings into ``ptycho.params.cfg``.

    Sets the model config (``update_legacy_dict``), ``intensity_scale`` (the model's ``s``),
    ``N``, ``gridsize``, ``probe`` (``(N, N, 1) complex64``, the normalised probe the model
    uses) and, when the training config is known, ``nphotons``.
    """
    from ptycho import params

    bridge_config(bundle.model_config)
    params.cfg["intensity_scale"] = float(bundle.intensity_scale)
    params.cfg["N"] = int(bundle.model_config.N)
    params.cfg["gridsize"] = int(bundle.model_config.gridsize)
    params.cfg["probe"] = np.asarray(bundle.probe, dtype=np.complex64)[..., None]
    if bundle.training_config is not None:
        params.cfg["nphotons"] = float(bundle.training_config.nphotons)
