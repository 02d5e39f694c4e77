"""Configuration dataclasses for PtychoPINN, and the bridge to the legacy parameter dict.

The public home of the configuration API; the code lives in one module per concept:

- :mod:`ptycho.config.model`: :class:`ModelConfig`, network architecture and physics (patch
  size ``N``, ``gridsize``, ...).
- :mod:`ptycho.config.training`: :class:`TrainingConfig`, a training run (data files, loss
  weights, schedule, seeds, backend).
- :mod:`ptycho.config.inference`: :class:`InferenceConfig`, an inference run (model path, data
  file, grouping, backend).
- :mod:`ptycho.config.execution`: :class:`PyTorchExecutionConfig`, Lightning/dataloader
  execution knobs of the PyTorch backend.
- :mod:`ptycho.config.choices`: the allowed values of the choice fields (:data:`BACKENDS`, ...)
  and defaults.
- :mod:`ptycho.config.validation`: the field checks every constructor runs (CFG-003).
- :mod:`ptycho.config.serialization`: :func:`to_dict` / :func:`from_dict`, a JSON-safe round
  trip (CFG-009, CFG-010).
- :mod:`ptycho.config.legacy`: :data:`KEY_MAPPINGS`, :func:`dataclass_to_legacy_dict` and
  :func:`update_legacy_dict`, which fill the legacy ``ptycho.params.cfg`` dictionary for
  **external callers only** (the Ptychodus client, CONFIG-001). Our own modules take
  configuration objects as arguments and never read that dict (design D5).
  :class:`PyTorchExecutionConfig` is never written into it (CONFIG-002).

All four classes are mutable, picklable stdlib dataclasses. Ptychodus 1.7's built-in PtychoPINN
client imports them from here (``from ptycho.config.config import update_legacy_dict,
InferenceConfig, TrainingConfig, ModelConfig``), builds them in its GUI process with the exact
keyword sets listed in ``specs/ptychodus_api_spec.md`` (CFG-002) and sets
``training_config.model.N`` in a child process after construction, so ``ModelConfig`` must stay
mutable and ``N = 0`` ("take N from the data") is legal until the model is built (CFG-004).
Pickles name each class by its defining module (``ptycho.config.training.TrainingConfig``);
pickles written before the split name ``ptycho.config.config``, which still resolves here.

Every constructor validates its arguments (CFG-003) and raises :class:`ValueError` naming the
field, the bad value and the allowed values; :meth:`ModelConfig.validate` and friends re-check a
configuration after mutation.

The package imports only the standard library: it is imported in Ptychodus's GUI process, which
must not load TensorFlow, torch or NumPy.
"""

from __future__ import annotations

from ptycho.config.choices import (
    ACCELERATORS,
    AMP_ACTIVATIONS,
    ARCHITECTURES,
    BACKENDS,
    CHECKPOINT_MODES,
    DEFAULT_TRAINING_N_GROUPS,
    GRADIENT_CLIP_ALGORITHMS,
    LOGGER_BACKENDS,
    MODEL_TYPES,
    NETWORK_PRECISIONS,
    PRECISIONS,
    PROBE_SOURCES,
    SCHEDULERS,
    SUPPORTED_N,
)
from ptycho.config.execution import PyTorchExecutionConfig
from ptycho.config.inference import InferenceConfig
from ptycho.config.legacy import KEY_MAPPINGS, dataclass_to_legacy_dict, update_legacy_dict
from ptycho.config.model import ModelConfig
from ptycho.config.serialization import AnyConfig, ConfigT, from_dict, to_dict
from ptycho.config.training import TrainingConfig

__all__ = [
    "ACCELERATORS",
    "AMP_ACTIVATIONS",
    "ARCHITECTURES",
    "BACKENDS",
    "CHECKPOINT_MODES",
    "DEFAULT_TRAINING_N_GROUPS",
    "GRADIENT_CLIP_ALGORITHMS",
    "KEY_MAPPINGS",
    "LOGGER_BACKENDS",
    "MODEL_TYPES",
    "NETWORK_PRECISIONS",
    "PRECISIONS",
    "PROBE_SOURCES",
    "SCHEDULERS",
    "SUPPORTED_N",
    "AnyConfig",
    "ConfigT",
    "InferenceConfig",
    "ModelConfig",
    "PyTorchExecutionConfig",
    "TrainingConfig",
    "dataclass_to_legacy_dict",
    "from_dict",
    "to_dict",
    "update_legacy_dict",
]
