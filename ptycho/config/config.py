"""Configuration dataclasses for PtychoPINN, and the bridge to the legacy parameter dict.

This module owns the four configuration classes every part of the package takes as arguments:

- :class:`ModelConfig`: network architecture and physics (patch size ``N``, ``gridsize``, ...).
- :class:`TrainingConfig`: a training run (data files, loss weights, schedule, seeds, backend).
- :class:`InferenceConfig`: an inference run (model path, data file, grouping, backend).
- :class:`PyTorchExecutionConfig`: Lightning/dataloader execution knobs of the PyTorch backend.

All four are mutable, picklable stdlib dataclasses. Ptychodus 1.7's built-in PtychoPINN client
builds them in its GUI process with the exact keyword sets listed in
``specs/ptychodus_api_spec.md`` (CFG-002) and sets ``training_config.model.N`` in a child process
after construction, so ``ModelConfig`` must stay mutable and ``N = 0`` ("take N from the data") is
legal until the model is built (CFG-004).

Every constructor validates its arguments (CFG-003) and raises :class:`ValueError` naming the
field, the bad value and the allowed values; :meth:`ModelConfig.validate` and friends re-check a
configuration after mutation. :func:`to_dict` / :func:`from_dict` give a JSON-safe round trip
(CFG-009, CFG-010).

:data:`KEY_MAPPINGS`, :func:`dataclass_to_legacy_dict` and :func:`update_legacy_dict` fill the
legacy ``ptycho.params.cfg`` dictionary for **external callers only** (the Ptychodus client,
CONFIG-001). Our own modules take configuration objects as arguments and never read that dict
(design D5). :class:`PyTorchExecutionConfig` is never written into it (CONFIG-002).

This module imports only the standard library: it is imported in Ptychodus's GUI process, which
must not load TensorFlow, torch or NumPy.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import numbers
import os
import warnings
from collections.abc import Mapping, MutableMapping
from dataclasses import InitVar, dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final, NoReturn, TypeVar

__all__ = [
    "ACCELERATORS",
    "AMP_ACTIVATIONS",
    "ARCHITECTURES",
    "BACKENDS",
    "CHECKPOINT_MODES",
    "GRADIENT_CLIP_ALGORITHMS",
    "KEY_MAPPINGS",
    "LOGGER_BACKENDS",
    "MODEL_TYPES",
    "PRECISIONS",
    "PROBE_SOURCES",
    "SCHEDULERS",
    "SUPPORTED_N",
    "InferenceConfig",
    "ModelConfig",
    "PyTorchExecutionConfig",
    "TrainingConfig",
    "dataclass_to_legacy_dict",
    "from_dict",
    "to_dict",
    "update_legacy_dict",
]

logger = logging.getLogger(__name__)

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

#: Default number of training groups when ``TrainingConfig.n_groups`` is not given.
DEFAULT_TRAINING_N_GROUPS: Final[int] = 512


# ------------------------------------------------------------------------------------------------
# Validation helpers (all raise ValueError "<Class>.<field> must be <requirement>, got <value>")
# ------------------------------------------------------------------------------------------------


def _fail(owner: str, name: str, requirement: str, value: Any) -> NoReturn:
    raise ValueError(f"{owner}.{name} must be {requirement}, got {value!r}")


def _is_numpy_bool(value: Any) -> bool:
    dtype = getattr(value, "dtype", None)
    return (
        dtype is not None and getattr(dtype, "kind", "") == "b" and getattr(value, "ndim", 1) == 0
    )


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_real(value: Any) -> bool:
    return (
        isinstance(value, numbers.Real)
        and not isinstance(value, bool)
        and not _is_numpy_bool(value)
    )


def _is_bool(value: Any) -> bool:
    return isinstance(value, bool) or _is_numpy_bool(value)


def _check_int(
    owner: str, name: str, value: Any, *, minimum: int | None = None, allow_none: bool = False
) -> None:
    if value is None and allow_none:
        return
    requirement = "an integer" if minimum is None else f"an integer >= {minimum}"
    if allow_none:
        requirement = f"None or {requirement}"
    if not _is_int(value) or (minimum is not None and value < minimum):
        _fail(owner, name, requirement, value)


def _check_real(
    owner: str,
    name: str,
    value: Any,
    *,
    low: float | None = None,
    low_inclusive: bool = True,
    high: float | None = None,
    high_inclusive: bool = True,
    allow_none: bool = False,
) -> None:
    if value is None and allow_none:
        return
    if low is not None and high is not None:
        left = "[" if low_inclusive else "("
        right = "]" if high_inclusive else ")"
        requirement = f"a finite number in {left}{low:g}, {high:g}{right}"
    elif low is not None:
        requirement = f"a finite number {'>=' if low_inclusive else '>'} {low:g}"
    else:
        requirement = "a finite number"
    if allow_none:
        requirement = f"None or {requirement}"
    if not _is_real(value) or not math.isfinite(float(value)):
        _fail(owner, name, requirement, value)
    number = float(value)
    if low is not None and (number < low or (not low_inclusive and number == low)):
        _fail(owner, name, requirement, value)
    if high is not None and (number > high or (not high_inclusive and number == high)):
        _fail(owner, name, requirement, value)


def _format_choices(choices: tuple[Any, ...]) -> str:
    return ", ".join(repr(choice) for choice in choices)


def _check_choice(owner: str, name: str, value: Any, choices: tuple[str | None, ...]) -> None:
    # Choices are strings (or None): a non-string value never matches, whatever its __eq__.
    if not any(
        (value is None and choice is None)
        or (isinstance(value, str) and choice is not None and value == choice)
        for choice in choices
    ):
        _fail(owner, name, f"one of {_format_choices(choices)}", value)


def _check_bool(owner: str, name: str, value: Any) -> None:
    if not _is_bool(value):
        _fail(owner, name, "True or False", value)


def _check_path(owner: str, name: str, value: Any, *, allow_none: bool = False) -> None:
    if value is None and allow_none:
        return
    if not isinstance(value, (str, os.PathLike)):
        requirement = "a path (str or pathlib.Path)"
        _fail(owner, name, f"None or {requirement}" if allow_none else requirement, value)


def _check_nonempty_str(owner: str, name: str, value: Any) -> None:
    if not isinstance(value, str) or not value:
        _fail(owner, name, "a non-empty string", value)


def _coerce_int(value: Any) -> Any:
    return int(value) if _is_int(value) else value


def _coerce_float(value: Any) -> Any:
    return float(value) if _is_real(value) else value


def _coerce_bool(value: Any) -> Any:
    return bool(value) if _is_numpy_bool(value) else value


def _coerce_path(value: Any) -> Any:
    return Path(value) if isinstance(value, (str, os.PathLike)) else value


_CONVERTERS: Final[Mapping[str, Any]] = MappingProxyType(
    {"path": _coerce_path, "bool": _coerce_bool, "float": _coerce_float, "int": _coerce_int}
)


def _field_kind(annotation: Any) -> str | None:
    """Scalar kind of a field from its (string) annotation, e.g. ``'float | None'`` -> float."""
    parts = {part.strip() for part in str(annotation).split("|")}
    for kind, type_name in (("path", "Path"), ("bool", "bool"), ("float", "float"), ("int", "int")):
        if type_name in parts:
            return kind
    return None


def _coerce_fields(obj: Any) -> None:
    """Normalise field values in place (CFG-005): numpy scalars -> Python scalars, str -> Path.

    The conversion is chosen from each field's annotation; values of the wrong type are left
    alone for :meth:`validate` to reject with a clear message.
    """
    for f in dataclasses.fields(obj):
        kind = _field_kind(f.type)
        if kind is not None:
            setattr(obj, f.name, _CONVERTERS[kind](getattr(obj, f.name)))


def _resolve_n_groups_alias(owner: str, n_groups: Any, n_images: Any) -> Any:
    """Apply the deprecated ``n_images`` alias of ``n_groups`` (CFG-006)."""
    if n_images is None:
        return n_groups
    message = f"{owner}.n_images is deprecated; use n_groups (the number of groups) instead"
    warnings.warn(message, DeprecationWarning, stacklevel=4)
    logger.warning(message)
    if n_groups is not None and n_groups != n_images:
        raise ValueError(
            f"{owner}: n_groups={n_groups!r} and the deprecated alias n_images={n_images!r} "
            "disagree; pass only n_groups"
        )
    return n_images


# ------------------------------------------------------------------------------------------------
# Configuration classes
# ------------------------------------------------------------------------------------------------


@dataclass
class ModelConfig:
    """Network architecture and physics settings shared by both backends.

    Attributes
    ----------
    N : int
        Patch (diffraction pattern) size in pixels: 64, 128 or 256. ``0`` means "not known yet,
        take it from the data" (Ptychodus builds training configs with ``N=0`` and sets ``.N`` in
        the child); :meth:`validate` with ``require_n=True`` rejects 0 (CFG-004).
    gridsize : int
        Patterns per group side; each group holds ``C = gridsize**2`` patterns.
    n_filters_scale : int
        Multiplier on every convolution's filter count (>= 1).
    model_type : str
        ``'pinn'`` (physics loss on diffraction) or ``'supervised'`` (loss on ground-truth
        object patches).
    amp_activation : str
        Activation of the amplitude head: ``'sigmoid'``, ``'swish'``, ``'softplus'`` or
        ``'relu'``.
    object_big : bool
        Merge the ``C`` patches of a group onto a shared canvas before re-extraction (ARCH-010).
        ``False`` requires ``gridsize == 1``.
    probe_big : bool
        Add the decoder ``border`` branch that fills the region outside the central ``N/2``.
    probe_mask : bool
        Multiply the exit wave by the disk probe mask.
    pad_object : bool
        Decoders predict the central ``N/2`` region and zero-pad it to ``N``.
    probe_scale : float
        Probe normalisation divisor (ARCH-008), > 0.
    gaussian_smoothing_sigma : float
        Sigma (pixels) of the 3x3 Gaussian smoothing of the exit wave; 0 = off.
    architecture : str
        ``'backprop_unet'`` (default): each pattern is first backprojected with the probe into a
        real-space object estimate and a U-Net cleans it (ARCH-014; ``probe_big`` and
        ``pad_object`` do not apply, the object is always the central ``N/2``). ``'cnn'``: the
        original encoder-decoder on the raw diffraction (ARCH-012).
    """

    N: int = 64
    gridsize: int = 1
    n_filters_scale: int = 2
    model_type: str = "pinn"
    amp_activation: str = "sigmoid"
    object_big: bool = True
    probe_big: bool = True
    probe_mask: bool = False
    pad_object: bool = True
    probe_scale: float = 4.0
    gaussian_smoothing_sigma: float = 0.0
    architecture: str = "backprop_unet"

    def __post_init__(self) -> None:
        _coerce_fields(self)
        self.validate()

    def validate(self, require_n: bool = False) -> None:
        """Check every field; call again after mutating the config.

        Parameters
        ----------
        require_n : bool
            When True, ``N = 0`` ("from data") is rejected: use this right before building a
            model, when the patch size must be known.

        Raises
        ------
        ValueError
            Naming the field, the bad value and the allowed values.
        """
        owner = type(self).__name__
        allowed_n = ", ".join(str(n) for n in SUPPORTED_N)
        if not _is_int(self.N) or (self.N not in SUPPORTED_N and self.N != 0):
            _fail(owner, "N", f"one of {allowed_n} (or 0 = from data)", self.N)
        if require_n and self.N == 0:
            raise ValueError(
                f"{owner}.N must be one of {allowed_n} when the model is built, got 0 "
                "(N=0 means 'take N from the data': set config.model.N to the diffraction "
                "pattern size first)"
            )
        _check_int(owner, "gridsize", self.gridsize, minimum=1)
        _check_int(owner, "n_filters_scale", self.n_filters_scale, minimum=1)
        _check_choice(owner, "model_type", self.model_type, MODEL_TYPES)
        _check_choice(owner, "amp_activation", self.amp_activation, AMP_ACTIVATIONS)
        _check_choice(owner, "architecture", self.architecture, ARCHITECTURES)
        for name in ("object_big", "probe_big", "probe_mask", "pad_object"):
            _check_bool(owner, name, getattr(self, name))
        _check_real(owner, "probe_scale", self.probe_scale, low=0.0, low_inclusive=False)
        _check_real(owner, "gaussian_smoothing_sigma", self.gaussian_smoothing_sigma, low=0.0)
        if not self.object_big and self.gridsize != 1:
            raise ValueError(
                f"{owner}.object_big=False requires gridsize=1, got gridsize={self.gridsize!r} "
                "(set object_big=True, or gridsize=1)"
            )


def _validate_grouping(owner: str, obj: Any) -> None:
    """Checks shared by TrainingConfig and InferenceConfig (grouping and sampling fields)."""
    _check_int(owner, "n_subsample", obj.n_subsample, minimum=1, allow_none=True)
    _check_int(owner, "subsample_seed", obj.subsample_seed, minimum=0, allow_none=True)
    _check_int(owner, "neighbor_count", obj.neighbor_count, minimum=1)
    _check_bool(owner, "enable_oversampling", obj.enable_oversampling)
    _check_int(owner, "neighbor_pool_size", obj.neighbor_pool_size, minimum=1, allow_none=True)
    _check_path(owner, "test_data_file", obj.test_data_file, allow_none=True)
    _check_path(owner, "output_dir", obj.output_dir)
    _check_choice(owner, "backend", obj.backend, BACKENDS)
    _check_int(owner, "seed", obj.seed, minimum=0)
    _check_int(owner, "batch_size", obj.batch_size, minimum=1)


def _check_model(owner: str, model: Any, require_n: bool) -> None:
    if not isinstance(model, ModelConfig):
        _fail(
            owner,
            "model",
            "a ModelConfig (use from_dict() to build configs from dictionaries)",
            model,
        )
    model.validate(require_n=require_n)


@dataclass
class TrainingConfig:
    """Settings of one training run (both backends).

    Attributes
    ----------
    model : ModelConfig
        Architecture and physics.
    train_data_file, test_data_file : pathlib.Path or None
        NPZ files (str accepted, stored as Path). Not checked for existence here.
    batch_size : int
        Groups per optimisation step (>= 1; powers of two are not required).
    nepochs : int
        Maximum number of epochs (>= 1).
    learning_rate : float
        Initial Adam learning rate (> 0).
    mae_weight, nll_weight, realspace_mae_weight, realspace_weight : float
        Loss weights (>= 0, finite; ARCH-009). A ``'pinn'`` model needs at least one of
        ``nll_weight``, ``mae_weight``, ``realspace_weight`` > 0.
    nphotons : float
        Mean photons per diffraction pattern; sets the intensity scale (ARCH-007).
    n_groups : int
        Number of groups to train on (default 512). ``n_images`` is a deprecated alias.
    n_subsample, subsample_seed : int or None
        Positions randomly kept before grouping, and the seed of that choice.
    neighbor_count : int
        ``K`` of the K-nearest-neighbour grouping.
    enable_oversampling : bool
        Allow more groups than positions ("K choose C" sampling).
    neighbor_pool_size : int or None
        ``K`` used for oversampling (None = ``neighbor_count``).
    positions_provided : bool
        Accepted for Ptychodus compatibility; positions are always read from the data.
    probe_trainable, intensity_scale_trainable : bool
        Train the probe / the intensity scale as real model parameters.
    output_dir : pathlib.Path
        Where training outputs are written.
    sequential_sampling : bool
        Take the first positions as group seeds instead of a seeded random choice.
    backend : str
        ``'tensorflow'`` (default) or ``'pytorch'``.
    seed : int
        Seed of every random choice in the run (ARCH-011).
    validation_fraction : float
        Fraction of the groups held out for validation, in [0, 0.5].
    early_stopping_patience : int
        Epochs without validation improvement before stopping (>= 1).
    lr_plateau_patience, lr_plateau_factor, min_learning_rate
        Reduce-on-plateau schedule: epochs without improvement, multiplicative factor in (0, 1),
        and the floor of the learning rate.
    refined_target_iterations : int
        0 (default) = off. Otherwise every training scan given as a scan (``RawData``: the
        CLIs, the dispatcher, Ptychodus) is first refined from a flat object for this many
        iterations (:func:`ptycho.refine.with_refined_object`) and the network is trained
        towards that object's patches with the real-space loss (weight ``realspace_weight``,
        which must then be > 0; 20 is a good start) next to the diffraction loss. It replaces
        any ground truth the scan carries, and anchors the PINN to the data-consistent solution
        rather than the conjugate-like twin (ARCH-013). Containers are used as given.
    """

    model: ModelConfig = field(default_factory=ModelConfig)
    train_data_file: Path | None = None
    test_data_file: Path | None = None
    batch_size: int = 16
    nepochs: int = 50
    learning_rate: float = 1e-3
    mae_weight: float = 0.0
    nll_weight: float = 1.0
    realspace_mae_weight: float = 0.0
    realspace_weight: float = 0.0
    nphotons: float = 1e9
    n_groups: int | None = None
    n_images: InitVar[int | None] = None
    n_subsample: int | None = None
    subsample_seed: int | None = None
    neighbor_count: int = 4
    enable_oversampling: bool = False
    neighbor_pool_size: int | None = None
    positions_provided: bool = True
    probe_trainable: bool = False
    intensity_scale_trainable: bool = True
    output_dir: Path = Path("training_outputs")
    sequential_sampling: bool = False
    backend: str = "tensorflow"
    seed: int = 42
    validation_fraction: float = 0.05
    early_stopping_patience: int = 3
    lr_plateau_patience: int = 2
    lr_plateau_factor: float = 0.5
    min_learning_rate: float = 1e-4
    refined_target_iterations: int = 0

    def __post_init__(self, n_images: int | None) -> None:
        self.n_groups = _resolve_n_groups_alias(type(self).__name__, self.n_groups, n_images)
        if self.n_groups is None:
            self.n_groups = DEFAULT_TRAINING_N_GROUPS
        _coerce_fields(self)
        self.validate()

    def validate(self, require_n: bool = False) -> None:
        """Check every field (and the nested model); call again after mutating the config.

        Parameters
        ----------
        require_n : bool
            Passed to :meth:`ModelConfig.validate`: reject ``model.N == 0``.

        Raises
        ------
        ValueError
            Naming the field, the bad value and the allowed values.
        """
        owner = type(self).__name__
        _check_model(owner, self.model, require_n)
        _check_path(owner, "train_data_file", self.train_data_file, allow_none=True)
        _validate_grouping(owner, self)
        _check_int(owner, "nepochs", self.nepochs, minimum=1)
        _check_real(owner, "learning_rate", self.learning_rate, low=0.0, low_inclusive=False)
        for name in ("mae_weight", "nll_weight", "realspace_mae_weight", "realspace_weight"):
            _check_real(owner, name, getattr(self, name), low=0.0)
        _check_real(owner, "nphotons", self.nphotons, low=0.0, low_inclusive=False)
        _check_int(owner, "n_groups", self.n_groups, minimum=1)
        for name in (
            "positions_provided",
            "probe_trainable",
            "intensity_scale_trainable",
            "sequential_sampling",
        ):
            _check_bool(owner, name, getattr(self, name))
        _check_real(owner, "validation_fraction", self.validation_fraction, low=0.0, high=0.5)
        _check_int(owner, "early_stopping_patience", self.early_stopping_patience, minimum=1)
        _check_int(owner, "lr_plateau_patience", self.lr_plateau_patience, minimum=1)
        _check_real(
            owner,
            "lr_plateau_factor",
            self.lr_plateau_factor,
            low=0.0,
            low_inclusive=False,
            high=1.0,
            high_inclusive=False,
        )
        _check_real(owner, "min_learning_rate", self.min_learning_rate, low=0.0)
        _check_int(owner, "refined_target_iterations", self.refined_target_iterations, minimum=0)
        if self.refined_target_iterations > 0 and self.realspace_weight <= 0:
            raise ValueError(
                f"{owner}: refined_target_iterations={self.refined_target_iterations} trains "
                "towards the refined object with the real-space loss, but realspace_weight is 0 "
                "(set realspace_weight, e.g. 20.0)"
            )
        if self.model.model_type == "pinn" and (
            self.nll_weight == 0 and self.mae_weight == 0 and self.realspace_weight == 0
        ):
            raise ValueError(
                f"{owner}: a 'pinn' model needs a loss, but nll_weight, mae_weight and "
                "realspace_weight are all 0 (set nll_weight=1.0, the Poisson loss)"
            )


@dataclass
class InferenceConfig:
    """Settings of one inference run (both backends).

    Attributes
    ----------
    model : ModelConfig
        Architecture and physics (a loaded archive's own config takes precedence for the
        network; this one describes the data, e.g. ``N`` and ``gridsize``).
    model_path : pathlib.Path or None
        Model archive (``wts.h5.zip``) or the directory holding it; checked when loading, not
        here (Ptychodus passes a placeholder ``Path()``).
    test_data_file : pathlib.Path or None
        NPZ file to reconstruct; checked when loading.
    n_groups : int or None
        Number of groups to predict; None = one group per scan position (all positions).
        ``n_images`` is a deprecated alias.
    n_subsample, subsample_seed, neighbor_count, enable_oversampling, neighbor_pool_size
        Grouping settings, as in :class:`TrainingConfig`.
    debug : bool
        Developer mode (Ptychodus passes its developer-mode flag); more logging and outputs.
    output_dir : pathlib.Path
        Where inference outputs are written.
    backend : str
        ``'tensorflow'`` (default) or ``'pytorch'``.
    seed : int
        Seed of every random choice (group sampling).
    batch_size : int
        Groups per prediction batch (>= 1).
    refine_iterations : int
        Iterations of physics refinement of the stitched network prediction against every
        measured pattern (:mod:`ptycho.refine`); 0 (default) returns the network's prediction
        as it is.
    refine_probe : bool
        Also refine the probe during those iterations (use it when the probe is only a guess).
    probe_source : str
        Which probe the ``backprop_unet`` network backprojects with and refinement starts from
        (ARCH-014): ``'data'`` the scan's own probe (normalised like the model's), ``'model'``
        the probe stored with the model, ``'auto'`` (default) the model's when it was learned in
        training (``probe_trainable``) or the scan has none, else the scan's.
    """

    model: ModelConfig = field(default_factory=ModelConfig)
    model_path: Path | None = None
    test_data_file: Path | None = None
    n_groups: int | None = None
    n_images: InitVar[int | None] = None
    n_subsample: int | None = None
    subsample_seed: int | None = None
    neighbor_count: int = 4
    enable_oversampling: bool = False
    neighbor_pool_size: int | None = None
    debug: bool = False
    output_dir: Path = Path("inference_outputs")
    backend: str = "tensorflow"
    seed: int = 45
    batch_size: int = 64
    refine_iterations: int = 0
    refine_probe: bool = False
    probe_source: str = "auto"

    def __post_init__(self, n_images: int | None) -> None:
        self.n_groups = _resolve_n_groups_alias(type(self).__name__, self.n_groups, n_images)
        _coerce_fields(self)
        self.validate()

    def validate(self, require_n: bool = False) -> None:
        """Check every field (and the nested model); call again after mutating the config.

        Parameters
        ----------
        require_n : bool
            Passed to :meth:`ModelConfig.validate`: reject ``model.N == 0``.

        Raises
        ------
        ValueError
            Naming the field, the bad value and the allowed values.
        """
        owner = type(self).__name__
        _check_model(owner, self.model, require_n)
        _check_path(owner, "model_path", self.model_path, allow_none=True)
        _check_int(owner, "n_groups", self.n_groups, minimum=1, allow_none=True)
        _validate_grouping(owner, self)
        _check_bool(owner, "debug", self.debug)
        _check_int(owner, "refine_iterations", self.refine_iterations, minimum=0)
        _check_bool(owner, "refine_probe", self.refine_probe)
        _check_choice(owner, "probe_source", self.probe_source, PROBE_SOURCES)


@dataclass
class PyTorchExecutionConfig:
    """Execution settings of the PyTorch + Lightning backend (never used by TensorFlow).

    This config is never written into the legacy ``ptycho.params.cfg`` (CONFIG-002).

    Attributes
    ----------
    accelerator : str
        ``'cpu'`` (default), ``'gpu'``, ``'cuda'``, ``'mps'`` or ``'auto'``. ``'auto'`` is kept
        as given; the torch backend resolves it (a GPU when present, else the CPU).
    devices : int or str
        Number of devices (positive int) or ``'auto'``.
    strategy : str
        Lightning strategy (``'auto'``, ``'ddp'``, ``'ddp_spawn'``, ...).
    deterministic : bool or str
        Lightning's ``deterministic`` flag: True, False or ``'warn'``.
    precision : str
        ``'32-true'``, ``'16-mixed'`` or ``'bf16-mixed'``.
    gradient_clip_val : float or None
        Gradient clipping threshold (> 0), None = no clipping.
    gradient_clip_algorithm : str
        ``'norm'`` or ``'value'``.
    accumulate_grad_batches : int
        Optimisation step every this many batches (>= 1).
    num_workers : int
        DataLoader worker processes (>= 0).
    pin_memory, persistent_workers : bool
        DataLoader flags; ``persistent_workers`` needs ``num_workers > 0``.
    learning_rate : float or None
        Overrides ``TrainingConfig.learning_rate`` when set (> 0); None = use the training
        config's value.
    scheduler : str
        ``'reduce_on_plateau'`` (default: the same schedule as the TensorFlow backend, from
        ``TrainingConfig.lr_plateau_*`` and ``min_learning_rate``), ``'none'`` (constant
        learning rate), ``'exponential'`` or ``'warmup_cosine'``.
    enable_progress_bar, enable_checkpointing : bool
        Lightning progress bar and checkpoint callback.
    checkpoint_save_top_k : int
        Best checkpoints kept (-1 = all, 0 = none, >= -1).
    checkpoint_monitor : str
        Logged metric the checkpoint and early-stopping callbacks watch.
    checkpoint_mode : str
        ``'min'`` or ``'max'``.
    early_stop_patience : int or None
        Patience of Lightning's early-stopping callback (>= 1); None (default) = use
        ``TrainingConfig.early_stopping_patience``, so both backends stop alike.
    logger_backend : str or None
        ``'csv'``, ``'tensorboard'``, ``'mlflow'`` or None (no logger).
    inference_batch_size : int or None
        Prediction batch size (>= 1); None = ``InferenceConfig.batch_size``.
    """

    accelerator: str = "cpu"
    devices: int | str = 1
    strategy: str = "auto"
    deterministic: bool | str = True
    precision: str = "32-true"
    gradient_clip_val: float | None = None
    gradient_clip_algorithm: str = "norm"
    accumulate_grad_batches: int = 1
    num_workers: int = 0
    pin_memory: bool = False
    persistent_workers: bool = False
    learning_rate: float | None = None
    scheduler: str = "reduce_on_plateau"
    enable_progress_bar: bool = False
    enable_checkpointing: bool = True
    checkpoint_save_top_k: int = 1
    checkpoint_monitor: str = "val_loss"
    checkpoint_mode: str = "min"
    early_stop_patience: int | None = None
    logger_backend: str | None = "csv"
    inference_batch_size: int | None = None

    def __post_init__(self) -> None:
        _coerce_fields(self)
        self.validate()

    def validate(self) -> None:
        """Check every field; call again after mutating the config.

        Raises
        ------
        ValueError
            Naming the field, the bad value and the allowed values.
        """
        owner = type(self).__name__
        _check_choice(owner, "accelerator", self.accelerator, ACCELERATORS)
        if not (self.devices == "auto" or (_is_int(self.devices) and self.devices >= 1)):
            _fail(owner, "devices", "a positive integer or 'auto'", self.devices)
        _check_nonempty_str(owner, "strategy", self.strategy)
        if not (_is_bool(self.deterministic) or self.deterministic == "warn"):
            _fail(owner, "deterministic", "True, False or 'warn'", self.deterministic)
        _check_choice(owner, "precision", self.precision, PRECISIONS)
        _check_real(
            owner,
            "gradient_clip_val",
            self.gradient_clip_val,
            low=0.0,
            low_inclusive=False,
            allow_none=True,
        )
        _check_choice(
            owner, "gradient_clip_algorithm", self.gradient_clip_algorithm, GRADIENT_CLIP_ALGORITHMS
        )
        _check_int(owner, "accumulate_grad_batches", self.accumulate_grad_batches, minimum=1)
        _check_int(owner, "num_workers", self.num_workers, minimum=0)
        for name in (
            "pin_memory",
            "persistent_workers",
            "enable_progress_bar",
            "enable_checkpointing",
        ):
            _check_bool(owner, name, getattr(self, name))
        if self.persistent_workers and self.num_workers == 0:
            raise ValueError(
                f"{owner}.persistent_workers=True requires num_workers > 0, got num_workers=0 "
                "(set num_workers >= 1 or persistent_workers=False)"
            )
        _check_real(
            owner,
            "learning_rate",
            self.learning_rate,
            low=0.0,
            low_inclusive=False,
            allow_none=True,
        )
        _check_choice(owner, "scheduler", self.scheduler, SCHEDULERS)
        _check_int(owner, "checkpoint_save_top_k", self.checkpoint_save_top_k, minimum=-1)
        _check_nonempty_str(owner, "checkpoint_monitor", self.checkpoint_monitor)
        _check_choice(owner, "checkpoint_mode", self.checkpoint_mode, CHECKPOINT_MODES)
        _check_int(
            owner, "early_stop_patience", self.early_stop_patience, minimum=1, allow_none=True
        )
        _check_choice(owner, "logger_backend", self.logger_backend, LOGGER_BACKENDS)
        _check_int(
            owner, "inference_batch_size", self.inference_batch_size, minimum=1, allow_none=True
        )


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


# ------------------------------------------------------------------------------------------------
# Serialisation (CFG-009, CFG-010)
# ------------------------------------------------------------------------------------------------


def _json_value(value: Any) -> Any:
    if isinstance(value, ModelConfig):
        return to_dict(value)
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if _is_bool(value):
        return bool(value)
    if _is_int(value):
        return int(value)
    if _is_real(value):
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


# ------------------------------------------------------------------------------------------------
# Legacy dict bridge (CONFIG-001, CONFIG-002)
# ------------------------------------------------------------------------------------------------


def _check_legacy_source(obj: Any, caller: str) -> None:
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
