"""Ptychodus settings of the PtychoPINNx library and their translation into our configs.

This module owns

* the five Ptychodus settings groups the library creates in its constructor (so Ptychodus
  persists them in its INI files and lists them in the Settings view): ``PtychoPINNxModel``,
  ``PtychoPINNxTraining``, ``PtychoPINNxInference``, ``PtychoPINNxFit`` and
  ``PtychoPINNxExecution`` (:class:`PtychoPINNxSettings`);
* one pure function per configuration class that turns those settings into a validated config:
  :func:`model_config_from_settings`, :func:`training_config_from_settings`,
  :func:`inference_config_from_settings` and :func:`execution_config_from_settings`
  (``specs/ptychodus_api_spec.md`` §5.2, ADAPT-010 .. ADAPT-015).

Every value is checked where it is read (ADAPT-015): a choice that is not allowed
(``Backend = jax``), a number outside its range (Ptychodus would silently clamp it) or a value the
config classes reject raises ``ValueError`` naming the INI group, the key, the value and what is
allowed.

Only the standard library, ``ptychodus.api``, ``ptycho.backend`` (the backend names) and
``ptycho.config.config`` are imported: this module is loaded in the Ptychodus GUI process, which
must not load TensorFlow or torch (D8).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Final, TypeVar

from ptychodus.api.observer import Observable, Observer
from ptychodus.api.parameters import (
    BooleanParameter,
    IntegerParameter,
    Parameter,
    ParameterGroup,
    RealParameter,
    StringParameter,
)

from ptycho import defaults
from ptycho.backend import BACKENDS

if TYPE_CHECKING:
    from ptychodus.api.settings import SettingsRegistry

    from ptycho.config.config import (
        InferenceConfig,
        ModelConfig,
        PyTorchExecutionConfig,
        TrainingConfig,
    )

__all__ = [
    "ACCELERATOR_CHOICES",
    "AMP_ACTIVATION_CHOICES",
    "ARCHITECTURE_CHOICES",
    "BACKEND_CHOICES",
    "GROUP_PREFIX",
    "PRECISION_CHOICES",
    "PROBE_SOURCE_CHOICES",
    "PtychoPINNxExecutionSettings",
    "PtychoPINNxFitSettings",
    "PtychoPINNxInferenceSettings",
    "PtychoPINNxModelSettings",
    "PtychoPINNxSettings",
    "PtychoPINNxTrainingSettings",
    "execution_config_from_settings",
    "inference_config_from_settings",
    "model_config_from_settings",
    "model_path_from_settings",
    "read_int",
    "training_config_from_settings",
]

#: Prefix of every settings group (INI section) the library creates.
GROUP_PREFIX: Final[str] = "PtychoPINNx"
#: Allowed values of ``PtychoPINNxExecution.Backend``: :data:`ptycho.backend.BACKENDS`.
BACKEND_CHOICES: Final[tuple[str, ...]] = BACKENDS
#: Allowed values of ``PtychoPINNxExecution.Accelerator``.
ACCELERATOR_CHOICES: Final[tuple[str, ...]] = ("cpu", "gpu", "cuda", "mps", "auto")
#: Allowed values of ``PtychoPINNxModel.AmpActivation``.
AMP_ACTIVATION_CHOICES: Final[tuple[str, ...]] = ("sigmoid", "swish", "softplus", "relu")
#: Allowed values of ``PtychoPINNxModel.Architecture`` (``ptycho.config.config.ARCHITECTURES``).
ARCHITECTURE_CHOICES: Final[tuple[str, ...]] = ("backprop_unet", "cnn")
#: Allowed values of ``PtychoPINNxInference.ProbeSource`` (``...config.PROBE_SOURCES``).
PROBE_SOURCE_CHOICES: Final[tuple[str, ...]] = ("auto", "data", "model")
#: Allowed values of ``PtychoPINNxExecution.Precision`` (``...config.NETWORK_PRECISIONS``).
PRECISION_CHOICES: Final[tuple[str, ...]] = ("auto", "float32", "bfloat16")
#: Model types of the two trainable reconstructors.
_MODEL_TYPES: Final[tuple[str, ...]] = ("pinn", "supervised")
#: Upper bound used for "unbounded" integer settings (the GUI spin box needs a maximum).
_INT_MAX: Final[int] = 0x7FFFFFFF

_Config = TypeVar("_Config")


class _SettingsGroup(Observable, Observer):
    """One Ptychodus settings group (one INI section); notifies observers on any change."""

    def __init__(self, registry: SettingsRegistry, suffix: str) -> None:
        super().__init__()
        self.name = f"{GROUP_PREFIX}{suffix}"
        self._group: ParameterGroup = registry.create_group(self.name)
        self._group.add_observer(self)

    def parameters(self) -> dict[str, Parameter[object]]:
        """The group's parameters by INI key."""
        return dict(self._group.parameters())

    def _update(self, observable: Observable) -> None:
        if observable is self._group:
            self.notify_observers()


class PtychoPINNxModelSettings(_SettingsGroup):
    """``[PtychoPINNxModel]``: network architecture and physics (ModelConfig)."""

    def __init__(self, registry: SettingsRegistry) -> None:
        super().__init__(registry, "Model")
        g = self._group
        self.architecture = g.create_string_parameter("Architecture", ARCHITECTURE_CHOICES[0])
        self.gridsize = g.create_integer_parameter(
            "GridSize", defaults.GRIDSIZE, minimum=1, maximum=4
        )
        self.n_filters_scale = g.create_integer_parameter(
            "NumFiltersScale", 2, minimum=1, maximum=8
        )
        self.amp_activation = g.create_string_parameter("AmpActivation", "sigmoid")
        self.object_big = g.create_boolean_parameter("ObjectBig", True)
        self.probe_big = g.create_boolean_parameter("ProbeBig", True)
        self.probe_mask = g.create_boolean_parameter("ProbeMask", False)
        self.pad_object = g.create_boolean_parameter("PadObject", True)
        self.probe_scale = g.create_real_parameter("ProbeScale", 4.0, minimum=0.0)
        self.gaussian_smoothing_sigma = g.create_real_parameter(
            "GaussianSmoothingSigma", 0.0, minimum=0.0
        )


class PtychoPINNxTrainingSettings(_SettingsGroup):
    """``[PtychoPINNxTraining]``: a training run (TrainingConfig)."""

    def __init__(self, registry: SettingsRegistry) -> None:
        super().__init__(registry, "Training")
        g = self._group
        self.nepochs = g.create_integer_parameter("NumEpochs", 50, minimum=1, maximum=100_000)
        self.batch_size = g.create_integer_parameter("BatchSize", 16, minimum=1, maximum=65536)
        self.learning_rate = g.create_real_parameter("LearningRate", 1e-3, minimum=0.0)
        self.nll_weight = g.create_real_parameter("NLLWeight", 1.0, minimum=0.0)
        self.mae_weight = g.create_real_parameter("MAEWeight", 0.0, minimum=0.0)
        self.realspace_mae_weight = g.create_real_parameter("RealspaceMAEWeight", 0.0, minimum=0.0)
        self.realspace_weight = g.create_real_parameter("RealspaceWeight", 0.0, minimum=0.0)
        self.nphotons = g.create_real_parameter("NumPhotons", 0.0, minimum=0.0)
        self.n_groups = g.create_integer_parameter("NumGroups", 512, minimum=1, maximum=_INT_MAX)
        self.neighbor_count = g.create_integer_parameter("NeighborCount", 4, minimum=1, maximum=64)
        self.probe_trainable = g.create_boolean_parameter("ProbeTrainable", False)
        self.intensity_scale_trainable = g.create_boolean_parameter("IntensityScaleTrainable", True)
        self.validation_fraction = g.create_real_parameter(
            "ValidationFraction", 0.05, minimum=0.0, maximum=0.5
        )
        self.early_stopping_patience = g.create_integer_parameter(
            "EarlyStoppingPatience", 10, minimum=1, maximum=100_000
        )
        self.seed = g.create_integer_parameter("Seed", 42, minimum=0, maximum=_INT_MAX)
        self.refined_target_iterations = g.create_integer_parameter(
            "RefinedTargetIterations", 0, minimum=0, maximum=100_000
        )
        self.start_from_pretrained = g.create_boolean_parameter(
            "StartFromPretrained", defaults.START_FROM_PRETRAINED
        )


class PtychoPINNxInferenceSettings(_SettingsGroup):
    """``[PtychoPINNxInference]``: the model to infer with and how the scan is grouped."""

    def __init__(self, registry: SettingsRegistry) -> None:
        super().__init__(registry, "Inference")
        g = self._group
        self.model_path = g.create_path_parameter("ModelPath", Path())
        self.neighbor_count = g.create_integer_parameter("NeighborCount", 4, minimum=1, maximum=64)
        self.n_groups = g.create_integer_parameter("NumGroups", 0, minimum=0, maximum=_INT_MAX)
        self.batch_size = g.create_integer_parameter("BatchSize", 64, minimum=1, maximum=65536)
        self.stitch_crop = g.create_integer_parameter("StitchCrop", 0, minimum=0, maximum=256)
        self.refine_iterations = g.create_integer_parameter(
            "RefineIterations", defaults.REFINE_ITERATIONS, minimum=0, maximum=100_000
        )
        self.refine_probe = g.create_boolean_parameter("RefineProbe", False)
        self.probe_source = g.create_string_parameter("ProbeSource", PROBE_SOURCE_CHOICES[0])


class PtychoPINNxFitSettings(_SettingsGroup):
    """``[PtychoPINNxFit]``: the self-supervised PINN-Fit reconstructor."""

    def __init__(self, registry: SettingsRegistry) -> None:
        super().__init__(registry, "Fit")
        g = self._group
        self.nepochs = g.create_integer_parameter("NumEpochs", 20, minimum=1, maximum=100_000)
        self.start_from_model = g.create_boolean_parameter("StartFromModel", True)


class PtychoPINNxExecutionSettings(_SettingsGroup):
    """``[PtychoPINNxExecution]``: backend, devices and the network's precision."""

    def __init__(self, registry: SettingsRegistry) -> None:
        super().__init__(registry, "Execution")
        g = self._group
        self.backend = g.create_string_parameter("Backend", BACKEND_CHOICES[0])
        self.accelerator = g.create_string_parameter("Accelerator", defaults.ACCELERATOR)
        self.devices = g.create_integer_parameter("Devices", 1, minimum=1, maximum=1024)
        self.strategy = g.create_string_parameter("Strategy", "auto")
        # off by default: deterministic kernels cost much on a GPU (CPU runs are reproducible
        # either way); turn it on for bit-reproducible GPU training
        self.deterministic = g.create_boolean_parameter("Deterministic", False)
        # the arithmetic of the network's convolutions in training and inference (ARCH-016)
        self.precision = g.create_string_parameter("Precision", defaults.PRECISION)


class PtychoPINNxSettings:
    """All settings groups of the library, created in one Ptychodus ``SettingsRegistry``.

    Parameters
    ----------
    registry : ptychodus.api.settings.SettingsRegistry
        The registry of the running ``ModelCore`` (groups must be created before
        ``open_settings`` runs, i.e. during ``ModelCore.__init__``).

    Raises
    ------
    ValueError
        When the registry already holds a group of the same name (Ptychodus's own message).
    """

    def __init__(self, registry: SettingsRegistry) -> None:
        self.model = PtychoPINNxModelSettings(registry)
        self.training = PtychoPINNxTrainingSettings(registry)
        self.inference = PtychoPINNxInferenceSettings(registry)
        self.fit = PtychoPINNxFitSettings(registry)
        self.execution = PtychoPINNxExecutionSettings(registry)

    @property
    def groups(self) -> tuple[_SettingsGroup, ...]:
        """The five groups, in INI order."""
        return (self.model, self.training, self.inference, self.fit, self.execution)

    @property
    def backend(self) -> str:
        """The selected backend name (validated)."""
        return _choice(self.execution, self.execution.backend, BACKEND_CHOICES)

    @property
    def precision(self) -> str:
        """The selected network precision (validated; ``'auto'`` is resolved by the backend)."""
        return _choice(self.execution, self.execution.precision, PRECISION_CHOICES)


# ------------------------------------------------------------------------------------------------
# Reading values (with the checks Ptychodus does not do)
# ------------------------------------------------------------------------------------------------


def _key(group: _SettingsGroup, parameter: object) -> str:
    """``Group.Key`` of ``parameter`` (found by identity) for error messages."""
    for name, candidate in group.parameters().items():
        if candidate is parameter:
            return f"{group.name}.{name}"
    return f"{group.name}.<unknown>"  # pragma: no cover - every parameter belongs to its group


def _choice(group: _SettingsGroup, parameter: StringParameter, choices: tuple[str, ...]) -> str:
    raw = parameter.get_value()
    value = raw.strip().casefold()
    if value not in choices:
        raise ValueError(
            f"setting {_key(group, parameter)} = {raw!r} is not a known value; choose one of "
            f"{', '.join(choices)} (edit it in the PtychoPINNx panel or in the "
            f"[{group.name}] section of the settings file)"
        )
    return value


def read_int(group: _SettingsGroup, parameter: IntegerParameter) -> int:
    """An integer setting; ``ValueError`` when its stored value is outside its range.

    Ptychodus clamps out-of-range values silently on ``get_value``; an INI file saying
    ``NumEpochs = 0`` would then train for 1 epoch. This reads the stored value instead.
    """
    value = parameter.get_value()
    raw = parameter.get_value_as_string()
    try:
        stored = int(raw)
    except ValueError:
        stored = None
    if stored != value:
        lo, hi = parameter.get_minimum(), parameter.get_maximum()
        raise ValueError(
            f"setting {_key(group, parameter)} = {raw} is outside its range "
            f"[{lo}, {hi if hi is not None and hi < _INT_MAX else 'inf'}]; choose a value "
            "inside it"
        )
    return int(value)


def _real(group: _SettingsGroup, parameter: RealParameter) -> float:
    value = parameter.get_value()
    raw = parameter.get_value_as_string()
    stored = float(raw)
    if not math.isfinite(stored):
        raise ValueError(
            f"setting {_key(group, parameter)} = {raw} is not a finite number; enter a number"
        )
    if stored != value:
        lo, hi = parameter.get_minimum(), parameter.get_maximum()
        raise ValueError(
            f"setting {_key(group, parameter)} = {raw} is outside its range "
            f"[{lo}, {hi if hi is not None else 'inf'}]; choose a value inside it"
        )
    return float(value)


def _bool(parameter: BooleanParameter) -> bool:
    return bool(parameter.get_value())


def _model_type(model_type: str) -> str:
    value = model_type.strip().casefold()
    if value not in _MODEL_TYPES:
        raise ValueError(f"model_type must be one of {', '.join(_MODEL_TYPES)}, got {model_type!r}")
    return value


def _build(cls_name: str, factory: Callable[..., _Config], **kwargs: object) -> _Config:
    """Construct a config; re-raise its ValueError saying it came from the PtychoPINNx settings."""
    try:
        return factory(**kwargs)
    except ValueError as exc:
        raise ValueError(
            f"the PtychoPINNx settings give an invalid {cls_name}: {exc} (fix the setting in "
            "the PtychoPINNx panel or the settings file)"
        ) from exc


# ------------------------------------------------------------------------------------------------
# Settings -> configs (pure functions)
# ------------------------------------------------------------------------------------------------


def model_config_from_settings(
    settings: PtychoPINNxSettings, *, N: int, model_type: str
) -> ModelConfig:
    """Build a :class:`~ptycho.config.config.ModelConfig` from ``[PtychoPINNxModel]`` (ADAPT-011).

    Parameters
    ----------
    settings : PtychoPINNxSettings
        The library's settings.
    N : int
        Diffraction pattern size in pixels (64, 128 or 256; 0 = "from the data").
    model_type : {'pinn', 'supervised'}
        Which reconstructor asks.

    Returns
    -------
    ModelConfig

    Raises
    ------
    ValueError
        An unknown ``Architecture`` or ``AmpActivation``, an out-of-range number, or a
        combination ModelConfig rejects (e.g. ``ObjectBig = False`` with ``GridSize = 2``).
    """
    from ptycho.config.config import ModelConfig

    m = settings.model
    return _build(
        "ModelConfig",
        ModelConfig,
        N=int(N),
        gridsize=read_int(m, m.gridsize),
        n_filters_scale=read_int(m, m.n_filters_scale),
        architecture=_choice(m, m.architecture, ARCHITECTURE_CHOICES),
        model_type=_model_type(model_type),
        amp_activation=_choice(m, m.amp_activation, AMP_ACTIVATION_CHOICES),
        object_big=_bool(m.object_big),
        probe_big=_bool(m.probe_big),
        probe_mask=_bool(m.probe_mask),
        pad_object=_bool(m.pad_object),
        probe_scale=_real(m, m.probe_scale),
        gaussian_smoothing_sigma=_real(m, m.gaussian_smoothing_sigma),
    )


def training_config_from_settings(
    settings: PtychoPINNxSettings,
    *,
    N: int,
    model_type: str,
    output_dir: Path,
    data_nphotons: float | None = None,
    train_data_file: Path | None = None,
    test_data_file: Path | None = None,
    model: ModelConfig | None = None,
) -> TrainingConfig:
    """Build a :class:`~ptycho.config.config.TrainingConfig` (ADAPT-012).

    Parameters
    ----------
    settings : PtychoPINNxSettings
        ``[PtychoPINNxTraining]``, ``[PtychoPINNxModel]``, ``Backend`` and ``Precision`` are
        read.
    N : int
        Diffraction pattern size in pixels.
    model_type : {'pinn', 'supervised'}
        Which reconstructor trains.
    output_dir : pathlib.Path
        Where the run writes its outputs.
    data_nphotons : float, optional
        Mean photon count per pattern measured on the training data; used when
        ``NumPhotons = 0`` ("from the data").
    train_data_file, test_data_file : pathlib.Path, optional
        Recorded in the config (informational).
    model : ModelConfig, optional
        Use this model config (e.g. the loaded model's, when fine-tuning) instead of building
        one from ``[PtychoPINNxModel]``.

    Returns
    -------
    TrainingConfig

    Raises
    ------
    ValueError
        Out-of-range or invalid values, or ``NumPhotons = 0`` without ``data_nphotons``.
    """
    from ptycho.config.config import TrainingConfig

    t = settings.training
    nphotons = _real(t, t.nphotons)
    if nphotons == 0.0:
        if data_nphotons is None or not (math.isfinite(data_nphotons) and data_nphotons > 0):
            raise ValueError(
                f"setting {_key(t, t.nphotons)} = 0 means 'photons per pattern from the data', "
                f"but no positive photon count was measured (got {data_nphotons!r}); set "
                "NumPhotons to the mean photon count per diffraction pattern"
            )
        nphotons = float(data_nphotons)
    if model is None:
        model = model_config_from_settings(settings, N=N, model_type=model_type)
    return _build(
        "TrainingConfig",
        TrainingConfig,
        model=model,
        train_data_file=train_data_file,
        test_data_file=test_data_file,
        batch_size=read_int(t, t.batch_size),
        nepochs=read_int(t, t.nepochs),
        learning_rate=_real(t, t.learning_rate),
        mae_weight=_real(t, t.mae_weight),
        nll_weight=_real(t, t.nll_weight),
        realspace_mae_weight=_real(t, t.realspace_mae_weight),
        realspace_weight=_real(t, t.realspace_weight),
        nphotons=nphotons,
        n_groups=read_int(t, t.n_groups),
        neighbor_count=read_int(t, t.neighbor_count),
        probe_trainable=_bool(t.probe_trainable),
        intensity_scale_trainable=_bool(t.intensity_scale_trainable),
        output_dir=Path(output_dir),
        backend=settings.backend,
        seed=read_int(t, t.seed),
        validation_fraction=_real(t, t.validation_fraction),
        early_stopping_patience=read_int(t, t.early_stopping_patience),
        refined_target_iterations=read_int(t, t.refined_target_iterations),
        precision=settings.precision,
    )


def model_path_from_settings(settings: PtychoPINNxSettings) -> Path | None:
    """``PtychoPINNxInference.ModelPath``, or None when it is empty (``''`` or ``'.'``)."""
    path = settings.inference.model_path.get_value()
    text = str(path).strip()
    if text in ("", "."):
        return None
    return Path(text).expanduser()


def inference_config_from_settings(
    settings: PtychoPINNxSettings,
    *,
    model: ModelConfig,
    model_path: Path | None = None,
) -> InferenceConfig:
    """Build a :class:`~ptycho.config.config.InferenceConfig` (ADAPT-013).

    Parameters
    ----------
    settings : PtychoPINNxSettings
        ``[PtychoPINNxInference]``, ``Backend`` and ``Precision`` are read.
    model : ModelConfig
        The model that will run (the loaded archive's config).
    model_path : pathlib.Path, optional
        The archive; default ``ModelPath`` from the settings.

    Returns
    -------
    InferenceConfig
        ``n_groups = None`` (one group per scan position) when ``NumGroups = 0``.
    """
    from ptycho.config.config import InferenceConfig

    i = settings.inference
    n_groups = read_int(i, i.n_groups)
    return _build(
        "InferenceConfig",
        InferenceConfig,
        model=model,
        model_path=model_path if model_path is not None else model_path_from_settings(settings),
        n_groups=None if n_groups == 0 else n_groups,
        neighbor_count=read_int(i, i.neighbor_count),
        backend=settings.backend,
        batch_size=read_int(i, i.batch_size),
        seed=read_int(settings.training, settings.training.seed),
        refine_iterations=read_int(i, i.refine_iterations),
        refine_probe=_bool(i.refine_probe),
        probe_source=_choice(i, i.probe_source, PROBE_SOURCE_CHOICES),
        precision=settings.precision,
    )


def execution_config_from_settings(settings: PtychoPINNxSettings) -> PyTorchExecutionConfig:
    """Build a :class:`~ptycho.config.config.PyTorchExecutionConfig` (ADAPT-014).

    In-process runs inside Ptychodus write nothing but the model archive and the training
    outputs the adapter names, so Lightning's logger, progress bar and checkpoint callback are
    off (the adapter saves the final model itself). The schedule matches the TensorFlow
    backend's: reduce-on-plateau and early stopping after
    ``PtychoPINNxTraining.EarlyStoppingPatience`` epochs without improvement.

    Raises
    ------
    ValueError
        An unknown ``Accelerator``, an empty ``Strategy`` or an out-of-range ``Devices``.
    """
    from ptycho.config.config import PyTorchExecutionConfig

    e = settings.execution
    strategy = e.strategy.get_value().strip()
    if not strategy:
        raise ValueError(
            f"setting {_key(e, e.strategy)} is empty; use 'auto' or a Lightning strategy name "
            "such as 'ddp'"
        )
    return _build(
        "PyTorchExecutionConfig",
        PyTorchExecutionConfig,
        accelerator=_choice(e, e.accelerator, ACCELERATOR_CHOICES),
        devices=read_int(e, e.devices),
        strategy=strategy,
        deterministic=_bool(e.deterministic),
        scheduler="reduce_on_plateau",
        early_stop_patience=read_int(settings.training, settings.training.early_stopping_patience),
        enable_progress_bar=False,
        enable_checkpointing=False,
        logger_backend=None,
    )
