"""Bridge from the original PyTorch configs (:mod:`ptycho_torch.config_params`) to the core
dataclasses of :mod:`ptycho.config.config`.

This module owns the mapping rules (``reference/ptychopinn_torch.md`` §2.2):

=========================  ======================================================================
core field                 source / rule
=========================  ======================================================================
``N``                      ``data.N``
``gridsize``               ``data.grid_size[0]``; a non-square grid is a ``ValueError``;
                           ``data.C`` must equal ``rows * cols``
``model_type``             ``model.mode``: 'Unsupervised' -> 'pinn', 'Supervised' -> 'supervised'
``amp_activation``         'silu'/'SiLU'/'swish' -> 'swish'; 'sigmoid', 'softplus', 'relu' kept
``probe_mask``             ``bool(model.probe_mask)`` (None -> False)
``probe_scale``            ``data.probe_scale``
``nepochs``                ``training.epochs``
``nll_weight``             1.0 if ``training.nll`` else 0.0 (``loss_function='MAE'`` -> 0.0 and
                           ``mae_weight`` 1.0)
``neighbor_count``         ``data.K``
``nphotons``               ``data.nphotons``, which must be given explicitly in ``overrides``
                           while it still has the original's divergent default 1e5
``n_groups``               ``training.n_groups`` or ``overrides`` (required)
``train_data_file``        ``training.train_data_file`` or ``overrides`` (required)
``test_data_file``         optional; a ``UserWarning`` when missing
``backend``                'pytorch'
``lr_plateau_*``           ``training.plateau_factor`` / ``plateau_patience``;
                           ``min_learning_rate`` = ``training.plateau_min_lr``
=========================  ======================================================================

``overrides`` are applied last; an override key that is not a field of the target dataclass is a
``ValueError`` listing the valid keys. :func:`to_execution_config` maps the execution fields
(``device``, ``n_devices``, ``strategy``, ``num_workers``, ``accum_steps``, gradient clipping,
``scheduler``) to a :class:`~ptycho.config.config.PyTorchExecutionConfig`; it never touches the
legacy ``params.cfg`` (CONFIG-002). This module imports neither torch nor TensorFlow.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict, TypeVar

from ptycho.config import config as core
from ptycho_torch import config_params as pt

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

__all__ = [
    "ACTIVATION_MAP",
    "MODE_MAP",
    "PT_DEFAULT_NPHOTONS",
    "SCHEDULER_MAP",
    "core_configs_from_pt",
    "pt_configs_from_core",
    "to_execution_config",
    "to_inference_config",
    "to_model_config",
    "to_training_config",
]

#: Original mode names -> core ``model_type``.
MODE_MAP: dict[str, str] = {"Unsupervised": "pinn", "Supervised": "supervised"}
#: Original activation names -> core ``amp_activation``.
ACTIVATION_MAP: dict[str, str] = {
    "silu": "swish",
    "SiLU": "swish",
    "swish": "swish",
    "sigmoid": "sigmoid",
    "softplus": "softplus",
    "relu": "relu",
}
#: Original scheduler names -> core ``PyTorchExecutionConfig.scheduler``.
SCHEDULER_MAP: dict[str, str] = {
    "Default": "none",
    "Exponential": "exponential",
    "Cosine": "warmup_cosine",
    "WarmupCosine": "warmup_cosine",
    "ReduceLROnPlateau": "reduce_on_plateau",
}
#: The original ``DataConfig.nphotons`` default, which differs from the core's 1e9.
PT_DEFAULT_NPHOTONS = 1e5

#: A config dataclass (original or core).
_Config = TypeVar("_Config", bound="DataclassInstance")


class _LossWeights(TypedDict):
    nll_weight: float
    mae_weight: float


def _as_config(value: _Config | Mapping[str, Any] | None, cls: type[_Config]) -> _Config:
    """Accept an instance of ``cls`` or a dict of its fields (e.g. from a checkpoint)."""
    if isinstance(value, cls):
        return value
    if isinstance(value, Mapping):
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(k for k in value if k not in names)
        if unknown:
            raise ValueError(f"unknown {cls.__module__}.{cls.__name__} keys: {', '.join(unknown)}")
        kwargs = dict(value)
        for key in ("grid_size", "x_bounds", "y_bounds", "image_size"):
            if isinstance(kwargs.get(key), list):
                kwargs[key] = tuple(kwargs[key])
        return cls(**kwargs)
    if value is None:
        return cls()
    raise ValueError(
        f"expected a {cls.__name__} or a dict of its fields, got {type(value).__name__}"
    )


def _apply_overrides(
    cls: type[_Config], kwargs: dict[str, Any], overrides: Mapping[str, Any] | None
) -> _Config:
    if overrides:
        names = [f.name for f in dataclasses.fields(cls)]
        extra = [] if cls is not core.TrainingConfig else ["n_images"]
        unknown = sorted(k for k in overrides if k not in names and k not in extra)
        if unknown:
            raise ValueError(
                f"unknown override keys for {cls.__name__}: {', '.join(unknown)}; valid keys "
                f"are: {', '.join(names)}"
            )
        kwargs.update(overrides)
    return cls(**kwargs)


def _optional_path(value: str | None) -> Path | None:
    """A path field of the original configs as the core's type (the core converts a str too)."""
    return None if value is None else Path(value)


def _gridsize(data: pt.DataConfig) -> int:
    grid = tuple(data.grid_size)
    if len(grid) != 2:
        raise ValueError(
            f"DataConfig.grid_size must be a pair (rows, cols), got {data.grid_size!r}"
        )
    rows, cols = (int(g) for g in grid)
    if rows != cols:
        raise ValueError(
            f"Non-square grids are not supported: grid_size={grid}; use a square grid such as "
            "(2, 2)"
        )
    if int(data.C) != rows * cols:
        raise ValueError(
            f"DataConfig.C={data.C} does not match grid_size={grid} (C must be "
            f"{rows * cols} = rows * cols); set C={rows * cols}"
        )
    return rows


def _model_type(model: pt.ModelConfig) -> str:
    if model.mode not in MODE_MAP:
        raise ValueError(f"Invalid mode {model.mode!r}. Must be 'Unsupervised' or 'Supervised'.")
    return MODE_MAP[model.mode]


def _activation(model: pt.ModelConfig) -> str:
    if model.amp_activation not in ACTIVATION_MAP:
        raise ValueError(
            f"Unknown activation {model.amp_activation!r}. Supported values: "
            f"{sorted(ACTIVATION_MAP)}"
        )
    return ACTIVATION_MAP[model.amp_activation]


def to_model_config(
    data: pt.DataConfig | Mapping[str, Any],
    model: pt.ModelConfig | Mapping[str, Any],
    overrides: Mapping[str, Any] | None = None,
) -> core.ModelConfig:
    """Core :class:`~ptycho.config.config.ModelConfig` from the original data and model configs.

    Raises
    ------
    ValueError
        Non-square ``grid_size``, ``C`` inconsistent with it, an unknown ``mode`` or
        activation, an unknown override key, or an invalid resulting value.
    """
    data = _as_config(data, pt.DataConfig)
    model = _as_config(model, pt.ModelConfig)
    kwargs: dict[str, Any] = {
        "N": int(data.N),
        "gridsize": _gridsize(data),
        "n_filters_scale": int(model.n_filters_scale),
        "model_type": _model_type(model),
        "amp_activation": _activation(model),
        "object_big": bool(model.object_big),
        "probe_big": bool(model.probe_big),
        "probe_mask": bool(model.probe_mask) if model.probe_mask is not None else False,
        "pad_object": bool(model.pad_object),
        "probe_scale": float(data.probe_scale),
        "gaussian_smoothing_sigma": float(model.gaussian_smoothing_sigma),
    }
    return _apply_overrides(core.ModelConfig, kwargs, overrides)


def _loss_weights(model: pt.ModelConfig, training: pt.TrainingConfig) -> _LossWeights:
    if model.loss_function not in ("Poisson", "MAE"):
        raise ValueError(
            f"ModelConfig.loss_function must be 'Poisson' or 'MAE', got {model.loss_function!r}"
        )
    if model.loss_function == "MAE" or training.torch_loss_mode == "mae":
        return {"nll_weight": 0.0, "mae_weight": 1.0}
    return {"nll_weight": 1.0 if training.nll else 0.0, "mae_weight": 0.0}


def to_training_config(
    tf_model: core.ModelConfig,
    data: pt.DataConfig | Mapping[str, Any],
    pt_model: pt.ModelConfig | Mapping[str, Any],
    training: pt.TrainingConfig | Mapping[str, Any],
    overrides: Mapping[str, Any] | None = None,
) -> core.TrainingConfig:
    """Core :class:`~ptycho.config.config.TrainingConfig` from the original configs.

    Errors, in this order:

    1. ``data.nphotons`` still at the original default 1e5 and no ``nphotons`` override:
       ``ValueError`` ("nphotons default divergence detected ... overrides=dict(...,
       nphotons=1000000000.0)").
    2. No ``n_groups`` (training or overrides): ``ValueError`` naming ``overrides=dict(...,
       n_groups=512)``.
    3. No ``test_data_file``: one ``UserWarning`` (training still works).
    4. No ``train_data_file``: ``ValueError``.
    """
    data = _as_config(data, pt.DataConfig)
    pt_model = _as_config(pt_model, pt.ModelConfig)
    training = _as_config(training, pt.TrainingConfig)
    overrides = dict(overrides or {})
    if "nphotons" not in overrides and float(data.nphotons) == PT_DEFAULT_NPHOTONS:
        raise ValueError(
            "nphotons default divergence detected: the PyTorch DataConfig default nphotons=1e5 "
            "differs from the core default 1e9; pass the photon count explicitly in "
            "overrides, e.g. overrides=dict(..., nphotons=1000000000.0)"
        )
    n_groups = overrides.get("n_groups", training.n_groups)
    if n_groups is None:
        raise ValueError(
            "n_groups is required in overrides for TrainingConfig (the number of groups to "
            "train on); pass overrides=dict(..., n_groups=512)"
        )
    test_file = overrides.get("test_data_file", training.test_data_file)
    if test_file is None:
        warnings.warn(
            "test_data_file is not set: training runs without a held-out test set for "
            "evaluation/inference; pass overrides=dict(..., test_data_file='test.npz')",
            UserWarning,
            stacklevel=2,
        )
    train_file = overrides.get("train_data_file", training.train_data_file)
    if train_file is None:
        raise ValueError(
            "train_data_file is required in overrides for TrainingConfig; pass "
            "overrides=dict(..., train_data_file='train.npz')"
        )
    kwargs: dict[str, Any] = {
        "model": tf_model,
        "batch_size": int(training.batch_size),
        "nepochs": int(training.epochs),
        "learning_rate": float(training.learning_rate),
        **_loss_weights(pt_model, training),
        "neighbor_count": int(data.K),
        "nphotons": float(data.nphotons),
        "intensity_scale_trainable": bool(pt_model.intensity_scale_trainable),
        "backend": "pytorch",
        "train_data_file": Path(train_file),
        "test_data_file": None if test_file is None else Path(test_file),
        "n_groups": int(n_groups),
        "n_subsample": None,
        "subsample_seed": data.subsample_seed,
        "output_dir": Path(training.output_dir or "training_outputs"),
        "lr_plateau_factor": float(training.plateau_factor),
        "lr_plateau_patience": int(training.plateau_patience),
        "min_learning_rate": float(training.plateau_min_lr),
    }
    overrides.pop("n_groups", None)
    overrides.pop("train_data_file", None)
    overrides.pop("test_data_file", None)
    return _apply_overrides(core.TrainingConfig, kwargs, overrides)


def to_inference_config(
    tf_model: core.ModelConfig,
    data: pt.DataConfig | Mapping[str, Any],
    inference: pt.InferenceConfig | Mapping[str, Any],
    overrides: Mapping[str, Any] | None = None,
) -> core.InferenceConfig:
    """Core :class:`~ptycho.config.config.InferenceConfig` from the original configs.

    ``model_path`` and ``test_data_file`` are required in ``overrides`` (``ValueError``
    otherwise); ``neighbor_count = data.K``, ``batch_size = inference.batch_size``,
    ``backend = 'pytorch'``.
    """
    data = _as_config(data, pt.DataConfig)
    inference = _as_config(inference, pt.InferenceConfig)
    overrides = dict(overrides or {})
    if overrides.get("model_path") is None:
        raise ValueError(
            "model_path is required in overrides for InferenceConfig; pass "
            "overrides=dict(model_path='training_outputs/wts.h5.zip', ...)"
        )
    if overrides.get("test_data_file") is None:
        raise ValueError(
            "test_data_file is required in overrides for InferenceConfig; pass "
            "overrides=dict(test_data_file='test.npz', ...)"
        )
    kwargs: dict[str, Any] = {
        "model": tf_model,
        "neighbor_count": int(data.K),
        "batch_size": int(inference.batch_size),
        "backend": "pytorch",
        "subsample_seed": data.subsample_seed,
    }
    overrides["model_path"] = Path(overrides["model_path"])
    overrides["test_data_file"] = Path(overrides["test_data_file"])
    return _apply_overrides(core.InferenceConfig, kwargs, overrides)


def to_execution_config(
    training: pt.TrainingConfig | Mapping[str, Any],
    overrides: Mapping[str, Any] | None = None,
) -> core.PyTorchExecutionConfig:
    """Execution settings from the original ``TrainingConfig``.

    ``device`` 'cuda'/'gpu' maps to accelerator ``'auto'`` (a GPU when present, otherwise the
    CPU, as Ptychodus expects), 'cpu' to 'cpu', 'mps' to 'mps'; ``n_devices`` -> ``devices``;
    ``strategy`` (None -> 'auto'); ``accum_steps`` -> ``accumulate_grad_batches``; the scheduler
    through :data:`SCHEDULER_MAP` (unknown names are a ``ValueError`` listing the choices).
    """
    training = _as_config(training, pt.TrainingConfig)
    device = str(training.device).lower()
    accelerator = {"cuda": "auto", "gpu": "auto", "cpu": "cpu", "mps": "mps", "auto": "auto"}.get(
        device
    )
    if accelerator is None:
        raise ValueError(
            f"TrainingConfig.device must be 'cuda', 'gpu', 'cpu', 'mps' or 'auto', got "
            f"{training.device!r}"
        )
    if training.scheduler not in SCHEDULER_MAP:
        raise ValueError(
            f"TrainingConfig.scheduler {training.scheduler!r} is not supported; choose one of "
            f"{', '.join(SCHEDULER_MAP)}"
        )
    clip = training.gradient_clip_val
    kwargs: dict[str, Any] = {
        "accelerator": accelerator,
        "devices": int(training.n_devices),
        "strategy": training.strategy or "auto",
        "num_workers": int(training.num_workers),
        "accumulate_grad_batches": int(training.accum_steps),
        "gradient_clip_val": float(clip) if clip else None,
        "gradient_clip_algorithm": (
            training.gradient_clip_algorithm
            if training.gradient_clip_algorithm in core.GRADIENT_CLIP_ALGORITHMS
            else "norm"
        ),
        "learning_rate": float(training.learning_rate),
        "scheduler": SCHEDULER_MAP[training.scheduler],
    }
    return _apply_overrides(core.PyTorchExecutionConfig, kwargs, overrides)


def core_configs_from_pt(
    data: pt.DataConfig | Mapping[str, Any] | None,
    model: pt.ModelConfig | Mapping[str, Any] | None,
    training: pt.TrainingConfig | Mapping[str, Any] | None,
) -> tuple[core.ModelConfig, core.TrainingConfig]:
    """Lenient bridge used when a model is built straight from the original configs.

    Unlike :func:`to_training_config` this needs no data files or explicit ``n_groups`` and
    keeps ``data.nphotons`` as given: it is what Ptychodus's built-in client and
    ``PtychoPINN_Lightning(model_config, data_config, training_config, inference_config)``
    use, where the data arrive separately.
    """
    data = _as_config(data, pt.DataConfig)
    model = _as_config(model, pt.ModelConfig)
    training = _as_config(training, pt.TrainingConfig)
    model_config = to_model_config(data, model)
    training_config = core.TrainingConfig(
        model=model_config,
        batch_size=int(training.batch_size),
        nepochs=int(training.epochs),
        learning_rate=float(training.learning_rate),
        **_loss_weights(model, training),
        neighbor_count=int(data.K),
        nphotons=float(data.nphotons),
        intensity_scale_trainable=bool(model.intensity_scale_trainable),
        backend="pytorch",
        train_data_file=_optional_path(training.train_data_file),
        test_data_file=_optional_path(training.test_data_file),
        n_groups=training.n_groups,
        subsample_seed=data.subsample_seed,
        output_dir=Path(training.output_dir or "training_outputs"),
        lr_plateau_factor=float(training.plateau_factor),
        lr_plateau_patience=int(training.plateau_patience),
        min_learning_rate=float(training.plateau_min_lr),
    )
    return model_config, training_config


#: Core ``amp_activation`` -> original name (inverse of :data:`ACTIVATION_MAP` for 'swish').
_ACTIVATION_BACK = {"swish": "silu", "sigmoid": "sigmoid", "softplus": "softplus", "relu": "relu"}


def pt_configs_from_core(
    model: core.ModelConfig, training: core.TrainingConfig | None = None
) -> tuple[pt.DataConfig, pt.ModelConfig, pt.TrainingConfig, pt.InferenceConfig]:
    """The original configs describing a core configuration (inverse of the bridge).

    Used to answer Ptychodus's built-in client, which reads the original configs back from a
    checkpoint. Bridging the result again (:func:`core_configs_from_pt`) gives the same
    architecture (``ModelConfig``) and the same main training fields.
    """
    training = training or core.TrainingConfig(model=model, backend="pytorch")
    c = int(model.gridsize) ** 2
    data = pt.DataConfig(
        nphotons=float(training.nphotons),
        N=int(model.N),
        C=c,
        K=int(training.neighbor_count),
        subsample_seed=training.subsample_seed,
        grid_size=(int(model.gridsize), int(model.gridsize)),
        probe_scale=float(model.probe_scale),
    )
    pt_model = pt.ModelConfig(
        mode="Supervised" if model.model_type == "supervised" else "Unsupervised",
        n_filters_scale=int(model.n_filters_scale),
        amp_activation=_ACTIVATION_BACK[model.amp_activation],
        object_big=bool(model.object_big),
        probe_big=bool(model.probe_big),
        probe_mask=bool(model.probe_mask),
        pad_object=bool(model.pad_object),
        gaussian_smoothing_sigma=float(model.gaussian_smoothing_sigma),
        intensity_scale_trainable=bool(training.intensity_scale_trainable),
        C_model=c,
        C_forward=c,
        decoder_last_amp_channels=c,
        loss_function="MAE" if training.nll_weight == 0 and training.mae_weight > 0 else "Poisson",
    )
    pt_training = pt.TrainingConfig(
        nll=training.nll_weight > 0,
        learning_rate=float(training.learning_rate),
        epochs=int(training.nepochs),
        batch_size=int(training.batch_size),
        plateau_factor=float(training.lr_plateau_factor),
        plateau_patience=int(training.lr_plateau_patience),
        plateau_min_lr=float(training.min_learning_rate),
        n_groups=training.n_groups,
        output_dir=str(training.output_dir),
    )
    return data, pt_model, pt_training, pt.InferenceConfig()
