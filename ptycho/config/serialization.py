"""JSON-safe round trip of the configuration classes: :func:`to_dict` / :func:`from_dict`
(CFG-009, CFG-010)."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Final, TypeVar

from ptycho.config.execution import PyTorchExecutionConfig
from ptycho.config.inference import InferenceConfig
from ptycho.config.model import ModelConfig
from ptycho.config.training import TrainingConfig
from ptycho.config.validation import is_bool, is_int, is_real

__all__ = ["AnyConfig", "ConfigT", "from_dict", "to_dict"]

AnyConfig = ModelConfig | TrainingConfig | InferenceConfig | PyTorchExecutionConfig
_CONFIG_CLASSES: Final[tuple[type, ...]] = (
    ModelConfig,
    TrainingConfig,
    InferenceConfig,
    PyTorchExecutionConfig,
)
#: Deprecated constructor keywords accepted by from_dict (alias -> field).
_DEPRECATED_KEYS: Final[Mapping[type, Mapping[str, str]]] = MappingProxyType(
    {
        TrainingConfig: MappingProxyType({"n_images": "n_groups"}),
        InferenceConfig: MappingProxyType({"n_images": "n_groups"}),
    }
)

ConfigT = TypeVar("ConfigT", ModelConfig, TrainingConfig, InferenceConfig, PyTorchExecutionConfig)


def _json_value(value: Any) -> Any:
    if isinstance(value, ModelConfig):
        return to_dict(value)
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if is_bool(value):
        return bool(value)
    if is_int(value):
        return int(value)
    if is_real(value):
        return float(value)
    return value


def to_dict(config: AnyConfig) -> dict[str, Any]:
    """Return a JSON-safe dictionary of ``config`` (CFG-009).

    Parameters
    ----------
    config : ModelConfig | TrainingConfig | InferenceConfig | PyTorchExecutionConfig
        The configuration to serialise.

    Returns
    -------
    dict[str, Any]
        One key per dataclass field, in field order; the nested ``model`` is a dict, paths are
        ``str``, numbers are Python ``int``/``float``. ``json.dumps`` accepts it as is.

    Raises
    ------
    TypeError
        If ``config`` is not one of the four configuration classes.
    """
    if not isinstance(config, _CONFIG_CLASSES):
        raise TypeError(
            "to_dict() takes a ModelConfig, TrainingConfig, InferenceConfig or "
            f"PyTorchExecutionConfig, got {type(config).__name__}"
        )
    return {f.name: _json_value(getattr(config, f.name)) for f in dataclasses.fields(config)}


def from_dict(cls: type[ConfigT], data: Mapping[str, Any]) -> ConfigT:
    """Build a configuration of class ``cls`` from a dictionary such as :func:`to_dict` returns.

    Missing keys take their defaults; the nested ``model`` may be a dict or a ``ModelConfig``;
    the result is validated like any constructed config (CFG-010).

    Parameters
    ----------
    cls : type
        ``ModelConfig``, ``TrainingConfig``, ``InferenceConfig`` or ``PyTorchExecutionConfig``.
    data : Mapping[str, Any]
        Field values by name.

    Returns
    -------
    ConfigT
        A new, validated configuration.

    Raises
    ------
    ValueError
        If ``data`` has keys that are not fields of ``cls`` (the message lists the unknown and
        the valid names), or a value is invalid.
    TypeError
        If ``cls`` is not a configuration class.
    """
    if cls not in _CONFIG_CLASSES:
        raise TypeError(
            "from_dict() builds ModelConfig, TrainingConfig, InferenceConfig or "
            f"PyTorchExecutionConfig, got {cls!r}"
        )
    if not isinstance(data, Mapping):
        raise ValueError(
            f"from_dict({cls.__name__}, ...) needs a mapping of field names to values, "
            f"got {type(data).__name__}"
        )
    valid = [f.name for f in dataclasses.fields(cls)]
    aliases = _DEPRECATED_KEYS.get(cls, {})
    unknown = sorted(str(key) for key in data if key not in valid and key not in aliases)
    if unknown:
        raise ValueError(
            f"unknown {cls.__name__} keys: {', '.join(unknown)}; valid keys are: {', '.join(valid)}"
        )
    kwargs = dict(data)
    model = kwargs.get("model")
    if "model" in valid and isinstance(model, Mapping):
        kwargs["model"] = from_dict(ModelConfig, model)
    return cls(**kwargs)
