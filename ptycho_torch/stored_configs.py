"""Model configurations stored with PyTorch checkpoints: reading them back and comparing them.

Lightning-free (only the core configs and, for original ``config_params`` configs, the bridge),
so loading a model archive for inference does not import Lightning (issue 14: CLI start-up).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ptycho.config.config import ModelConfig, TrainingConfig, from_dict

__all__ = [
    "ARCHITECTURE_FIELDS",
    "config_differences",
    "is_core_dict",
    "resolve_configs",
    "with_legacy_architecture",
]

#: ModelConfig fields that change the network's parameters or physics.
ARCHITECTURE_FIELDS: tuple[str, ...] = (
    "architecture",
    "N",
    "gridsize",
    "n_filters_scale",
    "model_type",
    "amp_activation",
    "object_big",
    "probe_big",
    "probe_mask",
    "pad_object",
    "probe_scale",
    "gaussian_smoothing_sigma",
)


def with_legacy_architecture(stored: Mapping[str, Any]) -> dict[str, Any]:
    """A stored model-config dict; one without ``architecture`` predates ARCH-014 (``'cnn'``)."""
    data = dict(stored)
    data.setdefault("architecture", "cnn")
    return data


def is_core_dict(value: Any) -> bool:
    """A ``to_dict(ModelConfig)`` dict (as opposed to an original ``config_params`` one)."""
    return isinstance(value, Mapping) and "model_type" in value


def resolve_configs(
    model_config: Any,
    data_config: Any = None,
    training_config: Any = None,
) -> tuple[ModelConfig, TrainingConfig]:
    """Normalise the accepted config forms to core ``(ModelConfig, TrainingConfig)``.

    ``model_config`` may be a core :class:`~ptycho.config.config.ModelConfig`, its
    :func:`~ptycho.config.config.to_dict` dict, or an original
    :class:`ptycho_torch.config_params.ModelConfig` (instance or dict, with ``mode``); in the
    last case ``data_config``/``training_config`` are the original configs and are bridged with
    :func:`ptycho_torch.config_bridge.core_configs_from_pt`.
    """
    from ptycho_torch import config_params as pt

    if isinstance(model_config, ModelConfig) or is_core_dict(model_config):
        model = (
            model_config
            if isinstance(model_config, ModelConfig)
            else from_dict(ModelConfig, with_legacy_architecture(model_config))
        )
        if isinstance(training_config, TrainingConfig):
            training = training_config
        elif isinstance(training_config, Mapping) and "nepochs" in training_config:
            training = from_dict(TrainingConfig, training_config)
        else:
            training = TrainingConfig(model=model, backend="pytorch")
        training.model = model
        return model, training
    if isinstance(model_config, (pt.ModelConfig, Mapping)):
        from ptycho_torch.config_bridge import core_configs_from_pt

        return core_configs_from_pt(data_config, model_config, training_config)
    raise ValueError(
        "model_config must be a ptycho.config.config.ModelConfig, its to_dict() dict, or a "
        f"ptycho_torch.config_params.ModelConfig; got {type(model_config).__name__}"
    )


def config_differences(stored: ModelConfig, requested: ModelConfig) -> list[str]:
    """Human-readable list of architecture fields that differ (``'N: 64 != 128'``)."""
    return [
        f"{name}: checkpoint {getattr(stored, name)!r}, requested {getattr(requested, name)!r}"
        for name in ARCHITECTURE_FIELDS
        if getattr(stored, name) != getattr(requested, name)
    ]
