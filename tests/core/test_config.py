"""Tests of ptycho.config.config: the configuration dataclasses, validation, serialisation and
the legacy-dict bridge (specs/ptychodus_api_spec.md, CFG-001..CFG-013, CONFIG-001, CONFIG-002)."""

from __future__ import annotations

import ast
import copy
import dataclasses
import importlib.util
import json
import math
import pickle
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ptycho.config.config import (
    ACCELERATORS,
    AMP_ACTIVATIONS,
    BACKENDS,
    KEY_MAPPINGS,
    LOGGER_BACKENDS,
    MODEL_TYPES,
    PRECISIONS,
    SCHEDULERS,
    InferenceConfig,
    ModelConfig,
    PyTorchExecutionConfig,
    TrainingConfig,
    dataclass_to_legacy_dict,
    from_dict,
    to_dict,
    update_legacy_dict,
)

# ------------------------------------------------------------------------------------------------
# The keyword NAMES Ptychodus 1.7.0 passes, copied from
# ptychodus/model/ptychopinn/reconstructor.py (_build_model_config, _build_inference_config,
# _build_training_config). test_ptychodus_source_passes_exactly_these_keywords re-reads the
# installed source and fails if Ptychodus changes them.
# ------------------------------------------------------------------------------------------------
PTYCHODUS_MODEL_KWARGS = (
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
PTYCHODUS_INFERENCE_KWARGS = ("model", "model_path", "test_data_file", "debug", "output_dir")
PTYCHODUS_TRAINING_KWARGS = (
    "model",
    "train_data_file",
    "test_data_file",
    "batch_size",
    "nepochs",
    "mae_weight",
    "nll_weight",
    "realspace_mae_weight",
    "realspace_weight",
    "nphotons",
    "positions_provided",
    "probe_trainable",
    "intensity_scale_trainable",
    "output_dir",
)


def _ptychodus_model_kwargs(n: int, model_type: str = "pinn") -> dict[str, Any]:
    """The values Ptychodus's settings give by default (settings.py), keyed by the names above."""
    values = [n, 1, 2, model_type, "sigmoid", True, True, False, True, 4.0, 0.0]
    return dict(zip(PTYCHODUS_MODEL_KWARGS, values, strict=True))


def _ptychodus_training_kwargs() -> dict[str, Any]:
    values = [
        ModelConfig(**_ptychodus_model_kwargs(0)),
        Path(),
        None,
        16,
        50,
        0.0,
        1.0,
        0.0,
        0.0,
        1e6,
        True,
        False,
        True,
        Path(),
    ]
    return dict(zip(PTYCHODUS_TRAINING_KWARGS, values, strict=True))


def _ptychodus_inference_kwargs(n: int = 64) -> dict[str, Any]:
    values = [ModelConfig(**_ptychodus_model_kwargs(n, "supervised")), Path(), Path(), True, Path()]
    return dict(zip(PTYCHODUS_INFERENCE_KWARGS, values, strict=True))


def _non_default_configs() -> list[Any]:
    """One instance of each class with many non-default values."""
    model = ModelConfig(
        N=128,
        gridsize=2,
        n_filters_scale=1,
        model_type="supervised",
        amp_activation="swish",
        probe_big=False,
        probe_mask=True,
        pad_object=False,
        probe_scale=2.5,
        gaussian_smoothing_sigma=0.7,
    )
    training = TrainingConfig(
        model=model,
        train_data_file=Path("/data/train.npz"),
        test_data_file="rel/test.npz",
        batch_size=3,
        nepochs=7,
        learning_rate=2.5e-4,
        mae_weight=0.3,
        nll_weight=0.0,
        realspace_weight=0.1,
        nphotons=1e6,
        n_groups=33,
        n_subsample=100,
        subsample_seed=5,
        neighbor_count=6,
        enable_oversampling=True,
        neighbor_pool_size=8,
        positions_provided=False,
        probe_trainable=True,
        intensity_scale_trainable=False,
        output_dir="out/train",
        sequential_sampling=True,
        backend="pytorch",
        seed=0,
        validation_fraction=0.5,
        early_stopping_patience=9,
        lr_plateau_patience=4,
        lr_plateau_factor=0.1,
        min_learning_rate=0.0,
    )
    inference = InferenceConfig(
        model=ModelConfig(N=256, amp_activation="relu"),
        model_path="models/wts.h5.zip",
        test_data_file=Path("test.npz"),
        n_groups=10,
        neighbor_count=7,
        debug=True,
        output_dir=Path("inf"),
        backend="pytorch",
        seed=1,
        batch_size=5,
    )
    execution = PyTorchExecutionConfig(
        accelerator="auto",
        devices="auto",
        strategy="ddp_spawn",
        deterministic="warn",
        precision="bf16-mixed",
        gradient_clip_val=1.5,
        gradient_clip_algorithm="value",
        accumulate_grad_batches=2,
        num_workers=2,
        pin_memory=True,
        persistent_workers=True,
        learning_rate=5e-4,
        scheduler="reduce_on_plateau",
        enable_progress_bar=True,
        enable_checkpointing=False,
        checkpoint_save_top_k=-1,
        checkpoint_monitor="train_loss",
        checkpoint_mode="max",
        early_stop_patience=5,
        logger_backend=None,
        inference_batch_size=32,
    )
    return [model, training, inference, execution]


# ------------------------------------------------------------------------------------------------
# CFG-001: classes, defaults, mutability, pickling
# ------------------------------------------------------------------------------------------------


def test_model_config_defaults_match_spec_table() -> None:
    """CFG-001: ModelConfig defaults are those of the spec's field table."""
    assert to_dict(ModelConfig()) == {
        "N": 64,
        "gridsize": 1,
        "n_filters_scale": 2,
        "model_type": "pinn",
        "amp_activation": "sigmoid",
        "object_big": True,
        "probe_big": True,
        "probe_mask": False,
        "pad_object": True,
        "probe_scale": 4.0,
        "gaussian_smoothing_sigma": 0.0,
        "architecture": "backprop_unet",
    }


def test_training_config_defaults_match_spec_table() -> None:
    """CFG-001, CFG-006: TrainingConfig defaults (n_groups None -> 512, our added fields)."""
    config = TrainingConfig()
    assert config.model == ModelConfig()
    expected = {
        "train_data_file": None,
        "test_data_file": None,
        "batch_size": 16,
        "nepochs": 50,
        "learning_rate": 1e-3,
        "mae_weight": 0.0,
        "nll_weight": 1.0,
        "realspace_mae_weight": 0.0,
        "realspace_weight": 0.0,
        "nphotons": 1e9,
        "n_groups": 512,
        "n_subsample": None,
        "subsample_seed": None,
        "neighbor_count": 4,
        "enable_oversampling": False,
        "neighbor_pool_size": None,
        "positions_provided": True,
        "probe_trainable": False,
        "intensity_scale_trainable": True,
        "output_dir": Path("training_outputs"),
        "sequential_sampling": False,
        "backend": "tensorflow",
        "seed": 42,
        "validation_fraction": 0.05,
        "early_stopping_patience": 3,
        "lr_plateau_patience": 2,
        "lr_plateau_factor": 0.5,
        "min_learning_rate": 1e-4,
        "refined_target_iterations": 0,
        "precision": "float32",
    }
    actual = {name: getattr(config, name) for name in expected}
    assert actual == expected
    assert [f.name for f in dataclasses.fields(config)] == ["model", *expected]


def test_inference_config_defaults_match_spec_table() -> None:
    """CFG-001, CFG-006: InferenceConfig defaults (n_groups None = all positions)."""
    config = InferenceConfig()
    expected = {
        "model_path": None,
        "test_data_file": None,
        "n_groups": None,
        "n_subsample": None,
        "subsample_seed": None,
        "neighbor_count": 4,
        "enable_oversampling": False,
        "neighbor_pool_size": None,
        "debug": False,
        "output_dir": Path("inference_outputs"),
        "backend": "tensorflow",
        "seed": 45,
        "batch_size": 64,
        "refine_iterations": 0,
        "refine_probe": False,
        "probe_source": "auto",
        "precision": "float32",
    }
    assert {name: getattr(config, name) for name in expected} == expected
    assert [f.name for f in dataclasses.fields(config)] == ["model", *expected]


def test_execution_config_defaults_match_spec_table() -> None:
    """CFG-001, CFG-008: PyTorchExecutionConfig defaults."""
    assert to_dict(PyTorchExecutionConfig()) == {
        "accelerator": "cpu",
        "devices": 1,
        "strategy": "auto",
        "deterministic": True,
        "precision": "32-true",
        "gradient_clip_val": None,
        "gradient_clip_algorithm": "norm",
        "accumulate_grad_batches": 1,
        "num_workers": 0,
        "pin_memory": False,
        "persistent_workers": False,
        "learning_rate": None,
        "scheduler": "reduce_on_plateau",
        "enable_progress_bar": False,
        "enable_checkpointing": True,
        "checkpoint_save_top_k": 1,
        "checkpoint_monitor": "val_loss",
        "checkpoint_mode": "min",
        "early_stop_patience": None,
        "logger_backend": "csv",
        "inference_batch_size": None,
    }


def test_nested_model_default_is_not_shared_between_instances() -> None:
    """CFG-001: each TrainingConfig/InferenceConfig gets its own ModelConfig."""
    first, second = TrainingConfig(), TrainingConfig()
    first.model.N = 128
    assert second.model.N == 64
    assert InferenceConfig().model is not InferenceConfig().model


@pytest.mark.parametrize("index", range(4), ids=["model", "training", "inference", "execution"])
def test_every_config_pickles_and_deep_copies_to_an_equal_object(index: int) -> None:
    """CFG-001: all configs pickle (Ptychodus sends them to a child process) and deep-copy."""
    config = _non_default_configs()[index]
    restored = pickle.loads(pickle.dumps(config))
    assert restored == config
    assert type(restored) is type(config)
    assert copy.deepcopy(config) == config


def test_mutated_config_pickles_with_its_mutation() -> None:
    """CFG-001: the child sees a mutation made before pickling (N set after construction)."""
    config = TrainingConfig(model=ModelConfig(N=0))
    config.model.N = 256
    assert pickle.loads(pickle.dumps(config)).model.N == 256


def test_backends_tuple_agrees_with_backend_module() -> None:
    """CFG-007: config.BACKENDS is the same tuple as ptycho.backend.BACKENDS."""
    backend = pytest.importorskip("ptycho.backend")
    assert tuple(backend.BACKENDS) == BACKENDS == ("tensorflow", "pytorch")


def test_dataclasses_replace_revalidates() -> None:
    """CFG-003: dataclasses.replace goes through validation too."""
    config = TrainingConfig()
    assert dataclasses.replace(config, nepochs=3).nepochs == 3
    with pytest.raises(ValueError, match=r"TrainingConfig\.nepochs"):
        dataclasses.replace(config, nepochs=0)


# ------------------------------------------------------------------------------------------------
# CFG-002: the exact keyword sets Ptychodus 1.7 passes
# ------------------------------------------------------------------------------------------------


def test_model_config_accepts_ptychodus_keywords_with_n_zero() -> None:
    """CFG-002, CFG-004: ModelConfig(N=0, ...) as Ptychodus builds it for training."""
    config = ModelConfig(**_ptychodus_model_kwargs(0))
    assert config.N == 0
    for n in (64, 128, 256):
        assert ModelConfig(**_ptychodus_model_kwargs(n, "supervised")).N == n


def test_inference_config_accepts_ptychodus_keywords() -> None:
    """CFG-002: InferenceConfig(model, model_path=Path(), test_data_file=Path(), debug,
    output_dir=Path()) constructs, pickles, and bridges to the legacy dict."""
    config = InferenceConfig(**_ptychodus_inference_kwargs(128))
    restored = pickle.loads(pickle.dumps(config))
    assert restored == config
    assert restored.debug is True
    assert restored.model_path == Path()
    legacy: dict[str, Any] = {}
    update_legacy_dict(legacy, restored)
    assert legacy["N"] == 128
    assert legacy["model_type"] == "supervised"
    assert legacy["test_data_file_path"] == "."


def test_training_config_accepts_ptychodus_keywords_and_child_sets_n() -> None:
    """CFG-002, CFG-004, CONFIG-001: the Ptychodus training path: construct with N=0 in the
    parent, pickle, set .N in the child, validate with require_n, update the legacy dict."""
    config = TrainingConfig(**_ptychodus_training_kwargs())
    assert config.model.N == 0
    assert config.n_groups == 512
    child = pickle.loads(pickle.dumps(config))
    child.model.N = 64
    child.validate(require_n=True)
    legacy: dict[str, Any] = {"N": 128, "gridsize": 2}
    update_legacy_dict(legacy, child)
    assert legacy["N"] == 64
    assert legacy["gridsize"] == 1
    assert legacy["nphotons"] == 1e6
    assert legacy["positions.provided"] is True
    assert legacy["train_data_file_path"] == "."
    assert "test_data_file_path" not in legacy


def _ptychodus_reconstructor_source() -> Path:
    spec = importlib.util.find_spec("ptychodus")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("ptychodus is not installed")
    path = Path(next(iter(spec.submodule_search_locations))) / "model/ptychopinn/reconstructor.py"
    if not path.is_file():
        pytest.skip(f"{path} not found in this ptychodus version")
    return path


@pytest.mark.ptychodus
def test_ptychodus_source_passes_exactly_these_keywords() -> None:
    """CFG-002: the keyword names copied above are those in the installed Ptychodus source."""
    tree = ast.parse(_ptychodus_reconstructor_source().read_text())
    found: dict[str, set[str]] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            if node.func.id in ("ModelConfig", "InferenceConfig", "TrainingConfig"):
                found.setdefault(node.func.id, set()).update(
                    k.arg for k in node.keywords if k.arg is not None
                )
    assert found == {
        "ModelConfig": set(PTYCHODUS_MODEL_KWARGS),
        "InferenceConfig": set(PTYCHODUS_INFERENCE_KWARGS),
        "TrainingConfig": set(PTYCHODUS_TRAINING_KWARGS),
    }


@pytest.mark.ptychodus
@pytest.mark.integration
def test_ptychodus_config_builders_produce_valid_picklable_configs() -> None:
    """CFG-002: Ptychodus's own builders (default settings, both model types) build our configs,
    which pickle, accept the child's `.N` mutation and bridge to the legacy dict."""
    pytest.importorskip("ptychodus")
    from ptychodus.api.settings import SettingsRegistry
    from ptychodus.model.ptychopinn import reconstructor as host
    from ptychodus.model.ptychopinn.settings import (
        PtychoPINNModelSettings,
        PtychoPINNTrainingSettings,
    )

    registry = SettingsRegistry()
    model_settings = PtychoPINNModelSettings(registry)
    training_settings = PtychoPINNTrainingSettings(registry)
    for name in ("PINN", "Supervised"):
        training = host._build_training_config(model_settings, training_settings, name)
        inference = host._build_inference_config(
            model_settings, name, 64, is_developer_mode_enabled=False
        )
        assert isinstance(training, TrainingConfig)
        assert isinstance(inference, InferenceConfig)
        assert training.model.model_type == name.lower()
        child = pickle.loads(pickle.dumps(training))
        child.model.N = 128
        child.validate(require_n=True)
        legacy: dict[str, Any] = {}
        update_legacy_dict(legacy, child)
        update_legacy_dict(legacy, pickle.loads(pickle.dumps(inference)))
        assert legacy["N"] == 64


# ------------------------------------------------------------------------------------------------
# CFG-003: validation on construction (parametrised table of bad values)
# ------------------------------------------------------------------------------------------------

NAN = float("nan")
INF = float("inf")

BAD_VALUES: list[tuple[type, dict[str, Any], str]] = [
    # ModelConfig
    (ModelConfig, {"N": 100}, "N"),
    (ModelConfig, {"N": 32}, "N"),
    (ModelConfig, {"N": -64}, "N"),
    (ModelConfig, {"N": 64.0}, "N"),
    (ModelConfig, {"N": "64"}, "N"),
    (ModelConfig, {"N": True}, "N"),
    (ModelConfig, {"gridsize": 0}, "gridsize"),
    (ModelConfig, {"gridsize": 1.5}, "gridsize"),
    (ModelConfig, {"gridsize": True}, "gridsize"),
    (ModelConfig, {"n_filters_scale": 0}, "n_filters_scale"),
    (ModelConfig, {"n_filters_scale": 0.5}, "n_filters_scale"),
    (ModelConfig, {"model_type": "unsupervised"}, "model_type"),
    (ModelConfig, {"model_type": "PINN"}, "model_type"),
    (ModelConfig, {"amp_activation": "silu"}, "amp_activation"),
    (ModelConfig, {"amp_activation": None}, "amp_activation"),
    (ModelConfig, {"object_big": "yes"}, "object_big"),
    (ModelConfig, {"probe_big": 1}, "probe_big"),
    (ModelConfig, {"probe_mask": None}, "probe_mask"),
    (ModelConfig, {"pad_object": "true"}, "pad_object"),
    (ModelConfig, {"probe_scale": 0}, "probe_scale"),
    (ModelConfig, {"probe_scale": -1.0}, "probe_scale"),
    (ModelConfig, {"probe_scale": NAN}, "probe_scale"),
    (ModelConfig, {"probe_scale": INF}, "probe_scale"),
    (ModelConfig, {"probe_scale": "4"}, "probe_scale"),
    (ModelConfig, {"gaussian_smoothing_sigma": -0.1}, "gaussian_smoothing_sigma"),
    (ModelConfig, {"gaussian_smoothing_sigma": NAN}, "gaussian_smoothing_sigma"),
    (ModelConfig, {"object_big": False, "gridsize": 2}, "object_big"),
    # TrainingConfig
    (TrainingConfig, {"model": {"N": 64}}, "model"),
    (TrainingConfig, {"train_data_file": 3}, "train_data_file"),
    (TrainingConfig, {"test_data_file": 3.5}, "test_data_file"),
    (TrainingConfig, {"output_dir": None}, "output_dir"),
    (TrainingConfig, {"batch_size": 0}, "batch_size"),
    (TrainingConfig, {"batch_size": 2.0}, "batch_size"),
    (TrainingConfig, {"nepochs": 0}, "nepochs"),
    (TrainingConfig, {"learning_rate": 0}, "learning_rate"),
    (TrainingConfig, {"learning_rate": -1e-3}, "learning_rate"),
    (TrainingConfig, {"learning_rate": NAN}, "learning_rate"),
    (TrainingConfig, {"mae_weight": -1.0}, "mae_weight"),
    (TrainingConfig, {"nll_weight": INF}, "nll_weight"),
    (TrainingConfig, {"realspace_mae_weight": NAN}, "realspace_mae_weight"),
    (TrainingConfig, {"realspace_weight": -0.5}, "realspace_weight"),
    (TrainingConfig, {"nll_weight": 0.0, "mae_weight": 0.0}, "nll_weight"),
    (TrainingConfig, {"nphotons": 0}, "nphotons"),
    (TrainingConfig, {"nphotons": -1e6}, "nphotons"),
    (TrainingConfig, {"nphotons": INF}, "nphotons"),
    (TrainingConfig, {"n_groups": 0}, "n_groups"),
    (TrainingConfig, {"n_groups": 1.5}, "n_groups"),
    (TrainingConfig, {"n_subsample": 0}, "n_subsample"),
    (TrainingConfig, {"subsample_seed": -1}, "subsample_seed"),
    (TrainingConfig, {"neighbor_count": 0}, "neighbor_count"),
    (TrainingConfig, {"enable_oversampling": "no"}, "enable_oversampling"),
    (TrainingConfig, {"neighbor_pool_size": 0}, "neighbor_pool_size"),
    (TrainingConfig, {"positions_provided": None}, "positions_provided"),
    (TrainingConfig, {"probe_trainable": "x"}, "probe_trainable"),
    (TrainingConfig, {"intensity_scale_trainable": 2}, "intensity_scale_trainable"),
    (TrainingConfig, {"sequential_sampling": None}, "sequential_sampling"),
    (TrainingConfig, {"backend": "jax"}, "backend"),
    (TrainingConfig, {"backend": "TensorFlow"}, "backend"),
    (TrainingConfig, {"backend": "torch"}, "backend"),
    (TrainingConfig, {"seed": -1}, "seed"),
    (TrainingConfig, {"seed": 1.5}, "seed"),
    (TrainingConfig, {"validation_fraction": -0.1}, "validation_fraction"),
    (TrainingConfig, {"validation_fraction": 0.6}, "validation_fraction"),
    (TrainingConfig, {"early_stopping_patience": 0}, "early_stopping_patience"),
    (TrainingConfig, {"lr_plateau_patience": 0}, "lr_plateau_patience"),
    (TrainingConfig, {"lr_plateau_factor": 0.0}, "lr_plateau_factor"),
    (TrainingConfig, {"lr_plateau_factor": 1.0}, "lr_plateau_factor"),
    (TrainingConfig, {"lr_plateau_factor": 1.5}, "lr_plateau_factor"),
    (TrainingConfig, {"min_learning_rate": -1e-5}, "min_learning_rate"),
    (TrainingConfig, {"refined_target_iterations": -1}, "refined_target_iterations"),
    (TrainingConfig, {"refined_target_iterations": 10}, "realspace_weight is 0"),
    # InferenceConfig
    (InferenceConfig, {"model": None}, "model"),
    (InferenceConfig, {"model_path": 5}, "model_path"),
    (InferenceConfig, {"test_data_file": 1}, "test_data_file"),
    (InferenceConfig, {"n_groups": 0}, "n_groups"),
    (InferenceConfig, {"n_subsample": -3}, "n_subsample"),
    (InferenceConfig, {"neighbor_count": 0}, "neighbor_count"),
    (InferenceConfig, {"debug": "yes"}, "debug"),
    (InferenceConfig, {"output_dir": 7}, "output_dir"),
    (InferenceConfig, {"backend": "torch"}, "backend"),
    (InferenceConfig, {"seed": -2}, "seed"),
    (InferenceConfig, {"batch_size": 0}, "batch_size"),
    # PyTorchExecutionConfig
    (PyTorchExecutionConfig, {"accelerator": "tpu"}, "accelerator"),
    (PyTorchExecutionConfig, {"accelerator": "GPU"}, "accelerator"),
    (PyTorchExecutionConfig, {"devices": 0}, "devices"),
    (PyTorchExecutionConfig, {"devices": -1}, "devices"),
    (PyTorchExecutionConfig, {"devices": True}, "devices"),
    (PyTorchExecutionConfig, {"devices": "all"}, "devices"),
    (PyTorchExecutionConfig, {"devices": 1.5}, "devices"),
    (PyTorchExecutionConfig, {"strategy": ""}, "strategy"),
    (PyTorchExecutionConfig, {"strategy": None}, "strategy"),
    (PyTorchExecutionConfig, {"deterministic": "yes"}, "deterministic"),
    (PyTorchExecutionConfig, {"precision": "64-true"}, "precision"),
    (PyTorchExecutionConfig, {"precision": 32}, "precision"),
    (PyTorchExecutionConfig, {"gradient_clip_val": 0.0}, "gradient_clip_val"),
    (PyTorchExecutionConfig, {"gradient_clip_val": -1.0}, "gradient_clip_val"),
    (PyTorchExecutionConfig, {"gradient_clip_algorithm": "l2"}, "gradient_clip_algorithm"),
    (PyTorchExecutionConfig, {"accumulate_grad_batches": 0}, "accumulate_grad_batches"),
    (PyTorchExecutionConfig, {"num_workers": -1}, "num_workers"),
    (PyTorchExecutionConfig, {"pin_memory": "no"}, "pin_memory"),
    (PyTorchExecutionConfig, {"persistent_workers": True}, "persistent_workers"),
    (PyTorchExecutionConfig, {"learning_rate": 0.0}, "learning_rate"),
    (PyTorchExecutionConfig, {"learning_rate": -1e-3}, "learning_rate"),
    (PyTorchExecutionConfig, {"learning_rate": NAN}, "learning_rate"),
    (PyTorchExecutionConfig, {"scheduler": "Default"}, "scheduler"),
    (PyTorchExecutionConfig, {"scheduler": "cosine"}, "scheduler"),
    (PyTorchExecutionConfig, {"enable_progress_bar": None}, "enable_progress_bar"),
    (PyTorchExecutionConfig, {"enable_checkpointing": "y"}, "enable_checkpointing"),
    (PyTorchExecutionConfig, {"checkpoint_save_top_k": -2}, "checkpoint_save_top_k"),
    (PyTorchExecutionConfig, {"checkpoint_monitor": ""}, "checkpoint_monitor"),
    (PyTorchExecutionConfig, {"checkpoint_mode": "avg"}, "checkpoint_mode"),
    (PyTorchExecutionConfig, {"early_stop_patience": 0}, "early_stop_patience"),
    (PyTorchExecutionConfig, {"logger_backend": "wandb"}, "logger_backend"),
    (PyTorchExecutionConfig, {"logger_backend": "none"}, "logger_backend"),
    (PyTorchExecutionConfig, {"inference_batch_size": 0}, "inference_batch_size"),
]


@pytest.mark.parametrize(
    ("cls", "kwargs", "field_name"),
    BAD_VALUES,
    ids=[
        f"{c.__name__}-{'-'.join(f'{k}={v!r}' for k, v in kw.items())}" for c, kw, _ in BAD_VALUES
    ],
)
def test_bad_value_raises_value_error_naming_the_field(
    cls: type, kwargs: dict[str, Any], field_name: str
) -> None:
    """CFG-003: every invalid value raises ValueError whose message names Class.field."""
    with pytest.raises(ValueError) as info:
        cls(**kwargs)
    message = str(info.value)
    owner = cls.__name__
    assert f"{owner}.{field_name}" in message or (
        message.startswith(f"{owner}:") and field_name in message
    ), message


@pytest.mark.parametrize(
    ("cls", "kwargs"),
    [
        (ModelConfig, {"amp_activation": "silu"}),
        (ModelConfig, {"model_type": "unsupervised"}),
        (TrainingConfig, {"backend": "jax"}),
        (PyTorchExecutionConfig, {"accelerator": "tpu"}),
        (PyTorchExecutionConfig, {"scheduler": "Default"}),
        (PyTorchExecutionConfig, {"precision": "64-true"}),
    ],
)
def test_choice_error_lists_bad_value_and_every_allowed_value(
    cls: type, kwargs: dict[str, Any]
) -> None:
    """CFG-003: a choice error shows the bad value and all allowed values (how to fix it)."""
    ((name, value),) = kwargs.items()
    allowed = {
        "amp_activation": AMP_ACTIVATIONS,
        "model_type": MODEL_TYPES,
        "backend": BACKENDS,
        "accelerator": ACCELERATORS,
        "scheduler": SCHEDULERS,
        "precision": PRECISIONS,
    }[name]
    with pytest.raises(ValueError) as info:
        cls(**kwargs)
    message = str(info.value)
    assert repr(value) in message
    for choice in allowed:
        assert repr(choice) in message


def test_n_error_message_is_exactly_the_documented_one() -> None:
    """CFG-003: the N message names the field, the allowed values and the bad value."""
    with pytest.raises(ValueError) as info:
        ModelConfig(N=100)
    assert str(info.value) == (
        "ModelConfig.N must be one of 64, 128, 256 (or 0 = from data), got 100"
    )


def test_logger_backend_error_lists_none_as_a_choice() -> None:
    """CFG-003, CFG-008: the logger_backend message lists None as the way to disable logging."""
    with pytest.raises(ValueError, match="None") as info:
        PyTorchExecutionConfig(logger_backend="none")
    for choice in LOGGER_BACKENDS:
        assert repr(choice) in str(info.value)


GOOD_VALUES: list[tuple[type, dict[str, Any]]] = [
    (ModelConfig, {"N": 128}),
    (ModelConfig, {"N": 256}),
    (ModelConfig, {"N": 0}),
    (ModelConfig, {"gridsize": 3}),
    (ModelConfig, {"object_big": False, "gridsize": 1}),
    (ModelConfig, {"probe_scale": 1e-3, "gaussian_smoothing_sigma": 0.0}),
    (TrainingConfig, {"batch_size": 3}),  # powers of two are NOT required
    (TrainingConfig, {"batch_size": 1}),
    (TrainingConfig, {"validation_fraction": 0.0}),
    (TrainingConfig, {"validation_fraction": 0.5}),
    (TrainingConfig, {"mae_weight": 5.0, "nll_weight": 2.0}),  # weights above 1 are fine
    (TrainingConfig, {"nll_weight": 0.0, "mae_weight": 1.0}),
    (TrainingConfig, {"nll_weight": 0.0, "model": ModelConfig(model_type="supervised")}),
    (TrainingConfig, {"min_learning_rate": 0.0}),
    (InferenceConfig, {"n_groups": 1}),
    (PyTorchExecutionConfig, {"devices": "auto"}),
    (PyTorchExecutionConfig, {"devices": 4, "strategy": "ddp"}),
    (PyTorchExecutionConfig, {"deterministic": "warn"}),
    (PyTorchExecutionConfig, {"deterministic": False}),
    (PyTorchExecutionConfig, {"checkpoint_save_top_k": -1}),
    (PyTorchExecutionConfig, {"checkpoint_save_top_k": 0}),
    (PyTorchExecutionConfig, {"logger_backend": None}),
    (PyTorchExecutionConfig, {"logger_backend": "tensorboard"}),
    (PyTorchExecutionConfig, {"num_workers": 1, "persistent_workers": True}),
]


@pytest.mark.parametrize(("cls", "kwargs"), GOOD_VALUES)
def test_boundary_values_are_accepted_and_stored(cls: type, kwargs: dict[str, Any]) -> None:
    """CFG-003: values on the edge of each valid range are accepted unchanged."""
    config = cls(**kwargs)
    for name, value in kwargs.items():
        assert getattr(config, name) == value


@pytest.mark.parametrize("accelerator", ACCELERATORS)
def test_accelerator_is_stored_as_given_including_auto(accelerator: str) -> None:
    """CFG-008: accelerator values (including 'auto') are kept; resolution is the backend's job."""
    assert PyTorchExecutionConfig(accelerator=accelerator).accelerator == accelerator


def test_numpy_scalars_are_normalised_to_python_types() -> None:
    """CFG-005: numpy ints/floats/bools are accepted and stored as Python int/float/bool."""
    model = ModelConfig(
        N=np.int64(128),
        gridsize=np.int32(2),
        probe_scale=np.float32(2.0),
        probe_mask=np.bool_(True),
    )
    assert (type(model.N), type(model.gridsize), type(model.probe_scale)) == (int, int, float)
    assert model.probe_mask is True
    training = TrainingConfig(nphotons=np.float64(1e6), batch_size=np.int64(8), nepochs=10**1)
    assert type(training.batch_size) is int
    assert type(training.nphotons) is float
    assert TrainingConfig(nphotons=1000000).nphotons == 1e6


def test_path_fields_accept_str_or_path_and_store_path() -> None:
    """CFG-005: every path field accepts str or Path and stores a pathlib.Path."""
    training = TrainingConfig(
        train_data_file="a/train.npz", test_data_file=Path("b.npz"), output_dir="out"
    )
    assert training.train_data_file == Path("a/train.npz")
    assert isinstance(training.train_data_file, Path)
    assert isinstance(training.test_data_file, Path)
    assert training.output_dir == Path("out")
    inference = InferenceConfig(model_path="m/wts.h5.zip", test_data_file="t.npz", output_dir="o")
    assert (inference.model_path, inference.test_data_file, inference.output_dir) == (
        Path("m/wts.h5.zip"),
        Path("t.npz"),
        Path("o"),
    )


# ------------------------------------------------------------------------------------------------
# CFG-004: mutation and validate()
# ------------------------------------------------------------------------------------------------


def test_model_config_is_mutable_and_validate_accepts_new_n() -> None:
    """CFG-004: `.N = 128` after construction, then validate(require_n=True) passes."""
    config = ModelConfig(N=0)
    config.validate()  # N=0 is legal until the model is built
    config.N = 128
    config.validate(require_n=True)
    assert config.N == 128


def test_validate_require_n_rejects_zero_with_the_fix() -> None:
    """CFG-004: require_n=True rejects N=0 and says how to fix it (set model.N)."""
    with pytest.raises(ValueError, match=r"ModelConfig\.N .*got 0.*model\.N"):
        ModelConfig(N=0).validate(require_n=True)
    with pytest.raises(ValueError, match=r"ModelConfig\.N"):
        TrainingConfig(model=ModelConfig(N=0)).validate(require_n=True)
    with pytest.raises(ValueError, match=r"ModelConfig\.N"):
        InferenceConfig(model=ModelConfig(N=0)).validate(require_n=True)


def test_validate_catches_invalid_mutations() -> None:
    """CFG-004: validate() re-checks every rule after the fields were changed."""
    model = ModelConfig()
    model.N = 100
    with pytest.raises(ValueError, match=r"ModelConfig\.N"):
        model.validate()
    model.N = 64
    model.gridsize = 2
    model.object_big = False
    with pytest.raises(ValueError, match=r"ModelConfig\.object_big"):
        model.validate()
    training = TrainingConfig()
    training.batch_size = 0
    with pytest.raises(ValueError, match=r"TrainingConfig\.batch_size"):
        training.validate()
    training.batch_size = 8
    training.model.amp_activation = "tanh"
    with pytest.raises(ValueError, match=r"ModelConfig\.amp_activation"):
        training.validate()
    execution = PyTorchExecutionConfig()
    execution.devices = 0
    with pytest.raises(ValueError, match=r"PyTorchExecutionConfig\.devices"):
        execution.validate()
    inference = InferenceConfig()
    inference.backend = "numpy"
    with pytest.raises(ValueError, match=r"InferenceConfig\.backend"):
        inference.validate()


# ------------------------------------------------------------------------------------------------
# CFG-006: n_groups and the deprecated n_images alias
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("cls", [TrainingConfig, InferenceConfig])
def test_n_images_alias_sets_n_groups_with_deprecation_warning(cls: type) -> None:
    """CFG-006: n_images is accepted as a deprecated alias of n_groups, with a warning."""
    with pytest.warns(DeprecationWarning, match="n_images is deprecated"):
        config = cls(n_images=10)
    assert config.n_groups == 10
    assert "n_images" not in to_dict(config)


@pytest.mark.parametrize("cls", [TrainingConfig, InferenceConfig])
def test_n_images_conflicting_with_n_groups_is_rejected(cls: type) -> None:
    """CFG-006: giving n_groups and a different n_images is an error naming both."""
    with (
        pytest.warns(DeprecationWarning),
        pytest.raises(ValueError, match="n_groups=5.*n_images=6"),
    ):
        cls(n_groups=5, n_images=6)


def test_n_groups_defaults_differ_between_training_and_inference() -> None:
    """CFG-006: training defaults to 512 groups; inference None (= all positions)."""
    assert TrainingConfig().n_groups == 512
    assert TrainingConfig(n_groups=None).n_groups == 512
    assert InferenceConfig().n_groups is None


def test_no_warning_without_n_images() -> None:
    """CFG-006: the deprecation warning appears only when n_images is used."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        TrainingConfig(n_groups=7)
        InferenceConfig()


# ------------------------------------------------------------------------------------------------
# CFG-009 / CFG-010: to_dict / from_dict
# ------------------------------------------------------------------------------------------------


def _assert_json_types(value: Any) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            assert isinstance(key, str)
            _assert_json_types(item)
    else:
        assert value is None or type(value) in (str, int, float, bool), (value, type(value))


@pytest.mark.parametrize("index", range(4), ids=["model", "training", "inference", "execution"])
def test_to_dict_from_dict_round_trips_exactly_through_json(index: int) -> None:
    """CFG-009, CFG-010: to_dict is JSON-safe and from_dict(json round trip) == original."""
    config = _non_default_configs()[index]
    data = to_dict(config)
    _assert_json_types(data)
    restored = from_dict(type(config), json.loads(json.dumps(data)))
    assert restored == config
    assert to_dict(restored) == data


def test_to_dict_nests_model_and_stringifies_paths() -> None:
    """CFG-009: nested model is a dict and Paths are str."""
    data = to_dict(TrainingConfig(train_data_file=Path("/x/y.npz"), model=ModelConfig(N=128)))
    assert data["model"]["N"] == 128
    assert data["train_data_file"] == "/x/y.npz"
    assert data["output_dir"] == "training_outputs"


def test_from_dict_missing_keys_take_defaults() -> None:
    """CFG-010: missing keys take defaults, including inside the nested model."""
    assert from_dict(TrainingConfig, {}) == TrainingConfig()
    config = from_dict(InferenceConfig, {"model": {"gridsize": 2}, "seed": 3})
    assert config == InferenceConfig(model=ModelConfig(gridsize=2), seed=3)
    assert from_dict(PyTorchExecutionConfig, {}) == PyTorchExecutionConfig()


def test_from_dict_accepts_a_model_config_instance() -> None:
    """CFG-010: the nested model may already be a ModelConfig."""
    model = ModelConfig(N=256)
    assert from_dict(TrainingConfig, {"model": model}).model == model


def test_from_dict_rejects_unknown_keys_listing_unknown_and_valid_names() -> None:
    """CFG-010: unknown keys raise ValueError naming them and the valid keys."""
    with pytest.raises(ValueError) as info:
        from_dict(TrainingConfig, {"nepochs": 3, "bogus": 1, "fno_modes": 12})
    message = str(info.value)
    assert "bogus" in message and "fno_modes" in message
    assert "TrainingConfig" in message
    assert "nepochs" in message and "min_learning_rate" in message  # the valid names


def test_from_dict_rejects_unknown_nested_model_keys() -> None:
    """CFG-010: unknown keys in the nested model are rejected by ModelConfig's name."""
    with pytest.raises(ValueError, match=r"unknown ModelConfig keys: depth"):
        from_dict(InferenceConfig, {"model": {"depth": 3}})


def test_from_dict_validates_values() -> None:
    """CFG-010: from_dict validates like the constructor."""
    with pytest.raises(ValueError, match=r"PyTorchExecutionConfig\.num_workers"):
        from_dict(PyTorchExecutionConfig, {"num_workers": -1})
    with pytest.raises(ValueError, match=r"ModelConfig\.N"):
        from_dict(TrainingConfig, {"model": {"N": 48}})


def test_from_dict_accepts_deprecated_n_images_key() -> None:
    """CFG-006, CFG-010: from_dict maps the deprecated n_images key like the constructor."""
    with pytest.warns(DeprecationWarning):
        assert from_dict(TrainingConfig, {"n_images": 12}).n_groups == 12


def test_from_dict_and_to_dict_reject_wrong_types() -> None:
    """CFG-009, CFG-010: non-mapping data and non-config classes give clear errors."""
    with pytest.raises(ValueError, match="mapping"):
        from_dict(ModelConfig, [("N", 64)])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="from_dict"):
        from_dict(dict, {})  # type: ignore[type-var]
    with pytest.raises(TypeError, match="to_dict"):
        to_dict({"N": 64})  # type: ignore[arg-type]


def test_json_round_trip_preserves_float_values_bit_for_bit() -> None:
    """CFG-010: floats survive JSON exactly (no rounding)."""
    config = TrainingConfig(learning_rate=math.pi * 1e-4, nphotons=1.2345678901234567e7)
    restored = from_dict(TrainingConfig, json.loads(json.dumps(to_dict(config))))
    assert restored.learning_rate == config.learning_rate
    assert restored.nphotons == config.nphotons


# ------------------------------------------------------------------------------------------------
# CFG-011 / CONFIG-001 / CONFIG-002: legacy key mapping
# ------------------------------------------------------------------------------------------------

EXPECTED_KEY_MAPPINGS = {
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


def test_key_mappings_are_the_documented_table() -> None:
    """CFG-011: KEY_MAPPINGS is exactly the original's nine renames."""
    assert dict(KEY_MAPPINGS) == EXPECTED_KEY_MAPPINGS


@pytest.mark.parametrize(("field_name", "legacy_key"), sorted(EXPECTED_KEY_MAPPINGS.items()))
def test_each_key_mapping_renames_the_field_in_the_legacy_dict(
    field_name: str, legacy_key: str
) -> None:
    """CFG-011: every mapped field appears under its legacy key (not its own name), Paths as
    str."""
    training = _non_default_configs()[1]
    legacy = dataclass_to_legacy_dict(training)
    assert field_name not in legacy
    source = training.model if hasattr(training.model, field_name) else training
    expected = getattr(source, field_name)
    if isinstance(expected, Path):
        expected = str(expected)
    assert legacy[legacy_key] == expected


def test_legacy_dict_flattens_model_and_keeps_other_names() -> None:
    """CFG-011: the nested model is flattened; unmapped fields keep their names; no 'model'."""
    inference = _non_default_configs()[2]
    legacy = dataclass_to_legacy_dict(inference)
    assert "model" not in legacy
    for f in dataclasses.fields(ModelConfig):
        assert KEY_MAPPINGS.get(f.name, f.name) in legacy
    assert legacy["N"] == 256
    assert legacy["model_path"] == "models/wts.h5.zip"
    assert legacy["output_prefix"] == "inf"
    assert legacy["backend"] == "pytorch"
    assert all(not isinstance(value, Path) for value in legacy.values())


def test_update_legacy_dict_does_not_overwrite_with_none() -> None:
    """CONFIG-001: None values never erase existing entries; other values overwrite."""
    cfg: dict[str, Any] = {
        "train_data_file_path": "old_train.npz",
        "n_subsample": 7,
        "gridsize": 2,
        "unrelated": "kept",
    }
    update_legacy_dict(cfg, TrainingConfig(train_data_file=None, n_subsample=None))
    assert cfg["train_data_file_path"] == "old_train.npz"
    assert cfg["n_subsample"] == 7
    assert cfg["gridsize"] == 1
    assert cfg["unrelated"] == "kept"
    assert cfg["output_prefix"] == "training_outputs"


def test_dataclass_to_legacy_dict_keeps_none_values() -> None:
    """CFG-011: the conversion keeps None (only update_legacy_dict skips them)."""
    legacy = dataclass_to_legacy_dict(TrainingConfig())
    assert legacy["train_data_file_path"] is None
    assert legacy["n_subsample"] is None


def test_model_config_alone_can_be_bridged() -> None:
    """CONFIG-001: a bare ModelConfig bridges with its renamed keys."""
    cfg: dict[str, Any] = {}
    update_legacy_dict(cfg, ModelConfig(N=128, probe_mask=True))
    assert cfg["N"] == 128 and cfg["probe.mask"] is True and cfg["object.big"] is True


def test_execution_config_is_never_written_to_the_legacy_dict() -> None:
    """CONFIG-002: PyTorchExecutionConfig is refused with TypeError; the dict is unchanged."""
    cfg: dict[str, Any] = {"N": 64}
    with pytest.raises(TypeError, match="CONFIG-002"):
        update_legacy_dict(cfg, PyTorchExecutionConfig())
    with pytest.raises(TypeError, match="CONFIG-002"):
        dataclass_to_legacy_dict(PyTorchExecutionConfig())
    assert cfg == {"N": 64}


def test_update_legacy_dict_rejects_other_objects() -> None:
    """CONFIG-001: only the three bridged config classes are accepted."""
    with pytest.raises(TypeError, match="ModelConfig, TrainingConfig or InferenceConfig"):
        update_legacy_dict({}, {"N": 64})  # type: ignore[arg-type]


def test_update_legacy_dict_validates_before_writing() -> None:
    """CONFIG-001, CFG-004: a config mutated into an invalid state leaves the dict untouched."""
    config = TrainingConfig()
    config.model.N = 100
    cfg: dict[str, Any] = {"N": 64}
    with pytest.raises(ValueError, match=r"ModelConfig\.N"):
        update_legacy_dict(cfg, config)
    assert cfg == {"N": 64}


# ------------------------------------------------------------------------------------------------
# ptycho.config.config is the public home of the split package (issue 12)
# ------------------------------------------------------------------------------------------------

#: Every name ptycho.config.config exported before it was split into one module per concept.
_NAMES_BEFORE_THE_SPLIT = (
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
)


def test_config_module_still_exports_every_public_name() -> None:
    """CFG-002: Ptychodus's client and our modules keep importing from ptycho.config.config."""
    import ptycho.config.config as public

    assert set(_NAMES_BEFORE_THE_SPLIT) <= set(public.__all__)
    for name in public.__all__:
        assert hasattr(public, name), name


def test_pickles_that_name_the_old_module_still_load() -> None:
    """CFG-001: a config pickled before the split (classes named ptycho.config.config.*) loads."""
    config = TrainingConfig(model=ModelConfig(N=0), output_dir=Path("out"))
    config.model.N = 128
    data = pickle.dumps(config, protocol=0)
    for module in (b"ptycho.config.training", b"ptycho.config.model"):
        assert module in data
        data = data.replace(module, b"ptycho.config.config")
    assert pickle.loads(data) == config


def test_config_package_imports_only_the_standard_library() -> None:
    """CFG-001: Ptychodus's GUI process imports the configs without loading NumPy."""
    code = (
        "import sys, ptycho.config.config; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'numpy', 'h5py', 'scipy'}))"
    )
    root = Path(__file__).resolve().parents[2]
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
