"""Allowed values and defaults of the configuration fields (one tuple per choice field).

Standard library only (imported in Ptychodus's GUI process, see :mod:`ptycho.config.config`).
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "ACCELERATORS",
    "AMP_ACTIVATIONS",
    "ARCHITECTURES",
    "BACKENDS",
    "CHECKPOINT_MODES",
    "DEFAULT_TRAINING_N_GROUPS",
    "GRADIENT_CLIP_ALGORITHMS",
    "LOGGER_BACKENDS",
    "MODEL_TYPES",
    "NETWORK_PRECISIONS",
    "PRECISIONS",
    "PROBE_SOURCES",
    "SCHEDULERS",
    "SUPPORTED_N",
]

#: Patch sizes the network supports (each selects an encoder/decoder filter ladder).
SUPPORTED_N: Final[tuple[int, ...]] = (64, 128, 256)
#: ``ModelConfig.model_type`` values.
MODEL_TYPES: Final[tuple[str, ...]] = ("pinn", "supervised")
#: ``ModelConfig.architecture`` values (``specs/architecture.md`` ARCH-012, ARCH-014); the first
#: is the default. Archives and checkpoints written before the field existed are ``'cnn'``.
ARCHITECTURES: Final[tuple[str, ...]] = ("backprop_unet", "cnn")
#: ``InferenceConfig.probe_source`` values (which probe inference uses, ARCH-014).
PROBE_SOURCES: Final[tuple[str, ...]] = ("auto", "data", "model")
#: ``ModelConfig.amp_activation`` values (activation of the amplitude head).
AMP_ACTIVATIONS: Final[tuple[str, ...]] = ("sigmoid", "swish", "softplus", "relu")
#: Backend names accepted by ``TrainingConfig.backend`` / ``InferenceConfig.backend``
#: (the same tuple as :data:`ptycho.backend.BACKENDS`).
BACKENDS: Final[tuple[str, ...]] = ("tensorflow", "pytorch")
#: ``PyTorchExecutionConfig.accelerator`` values (``'auto'`` is resolved by the torch backend).
ACCELERATORS: Final[tuple[str, ...]] = ("auto", "cpu", "gpu", "cuda", "mps")
#: ``TrainingConfig.precision`` / ``InferenceConfig.precision`` values: the arithmetic of the
#: network's convolutions in both backends (the physics always runs in float32). ``'auto'`` is
#: bfloat16 where the hardware has bfloat16 units, else float32 (:mod:`ptycho.precision`).
NETWORK_PRECISIONS: Final[tuple[str, ...]] = ("auto", "float32", "bfloat16")
#: ``PyTorchExecutionConfig.precision`` values (Lightning precision strings).
PRECISIONS: Final[tuple[str, ...]] = ("32-true", "16-mixed", "bf16-mixed")
#: ``PyTorchExecutionConfig.scheduler`` values.
SCHEDULERS: Final[tuple[str, ...]] = ("none", "exponential", "warmup_cosine", "reduce_on_plateau")
#: ``PyTorchExecutionConfig.checkpoint_mode`` values.
CHECKPOINT_MODES: Final[tuple[str, ...]] = ("min", "max")
#: ``PyTorchExecutionConfig.logger_backend`` values (``None`` = no logger).
LOGGER_BACKENDS: Final[tuple[str | None, ...]] = ("csv", "tensorboard", "mlflow", None)
#: ``PyTorchExecutionConfig.gradient_clip_algorithm`` values.
GRADIENT_CLIP_ALGORITHMS: Final[tuple[str, ...]] = ("norm", "value")

#: Default number of training groups when ``TrainingConfig.n_groups`` is not given.
DEFAULT_TRAINING_N_GROUPS: Final[int] = 512
