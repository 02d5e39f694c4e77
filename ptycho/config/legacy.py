"""The configuration -> legacy ``ptycho.params.cfg`` dictionary bridge (CONFIG-001, CONFIG-002).

:data:`KEY_MAPPINGS`, :func:`dataclass_to_legacy_dict` and :func:`update_legacy_dict` fill the
legacy dictionary for **external callers only** (the Ptychodus built-in client). Our own modules
take configuration objects and never read that dict (design D5); the one place that writes the
global ``ptycho.params.cfg`` is :mod:`ptycho.legacy_params`. :class:`PyTorchExecutionConfig` is
never written into it (CONFIG-002). Standard library only (Ptychodus's GUI process imports it).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping, MutableMapping
from types import MappingProxyType
from typing import Any, Final

from ptycho.config.execution import PyTorchExecutionConfig
from ptycho.config.inference import InferenceConfig
from ptycho.config.model import ModelConfig
from ptycho.config.training import TrainingConfig

__all__ = ["KEY_MAPPINGS", "dataclass_to_legacy_dict", "update_legacy_dict"]

#: Dataclass field name -> legacy ``ptycho.params.cfg`` key, for the fields whose legacy name
#: differs (every other field keeps its own name). See CONFIG-001 in the API spec.
KEY_MAPPINGS: Final[Mapping[str, str]] = MappingProxyType(
    {
        "object_big": "object.big",
        "probe_big": "probe.big",
        "probe_mask": "probe.mask",
        "probe_trainable": "probe.trainable",
        "intensity_scale_trainable": "intensity_scale.trainable",
        "positions_provided": "positions.provided",
        "output_dir": "output_prefix",
        "train_data_file": "train_data_file_path",
        "test_data_file": "test_data_file_path",
    }
)


def _check_legacy_source(obj: object, caller: str) -> None:
    if isinstance(obj, PyTorchExecutionConfig):
        raise TypeError(
            f"{caller}() refuses PyTorchExecutionConfig: execution settings are never written "
            "into the legacy params dict (CONFIG-002); pass it to the PyTorch backend directly"
        )
    if not isinstance(obj, (ModelConfig, TrainingConfig, InferenceConfig)):
        raise TypeError(
            f"{caller}() takes a ModelConfig, TrainingConfig or InferenceConfig, "
            f"got {type(obj).__name__}"
        )


def dataclass_to_legacy_dict(obj: ModelConfig | TrainingConfig | InferenceConfig) -> dict[str, Any]:
    """Convert a configuration into legacy ``params.cfg`` key/value pairs.

    The nested ``model`` is flattened into the top level, keys listed in :data:`KEY_MAPPINGS`
    are renamed (e.g. ``object_big`` -> ``'object.big'``), paths become ``str``; every other
    field keeps its name. None values are kept here (:func:`update_legacy_dict` skips them).

    Parameters
    ----------
    obj : ModelConfig | TrainingConfig | InferenceConfig
        The configuration to convert.

    Returns
    -------
    dict[str, Any]
        Legacy key -> value.

    Raises
    ------
    TypeError
        For a :class:`PyTorchExecutionConfig` (CONFIG-002) or any other type.
    """
    _check_legacy_source(obj, "dataclass_to_legacy_dict")
    flat: dict[str, Any] = {}
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if isinstance(value, ModelConfig):
            for g in dataclasses.fields(value):
                flat[g.name] = getattr(value, g.name)
        else:
            flat[f.name] = value
    legacy: dict[str, Any] = {}
    for name, value in flat.items():
        legacy[KEY_MAPPINGS.get(name, name)] = (
            os.fspath(value) if isinstance(value, os.PathLike) else value
        )
    return legacy


def update_legacy_dict(
    cfg: MutableMapping[str, Any], obj: ModelConfig | TrainingConfig | InferenceConfig
) -> None:
    """Write ``obj`` into the legacy dict ``cfg`` (usually ``ptycho.params.cfg``): CONFIG-001.

    For external callers only (the Ptychodus built-in client calls it before any legacy code
    reads ``params.cfg``). Our own modules never read the legacy dict. ``obj`` is validated
    first, so a config mutated into an invalid state leaves ``cfg`` untouched. Pairs whose value
    is None are skipped: a None never erases an existing entry.

    Parameters
    ----------
    cfg : MutableMapping[str, Any]
        The dictionary to update in place.
    obj : ModelConfig | TrainingConfig | InferenceConfig
        The configuration to copy (see :func:`dataclass_to_legacy_dict` for the key mapping).

    Raises
    ------
    TypeError
        For a :class:`PyTorchExecutionConfig` (CONFIG-002) or any other type.
    ValueError
        If ``obj`` fails validation.
    """
    _check_legacy_source(obj, "update_legacy_dict")
    obj.validate()
    for key, value in dataclass_to_legacy_dict(obj).items():
        if value is not None:
            cfg[key] = value
