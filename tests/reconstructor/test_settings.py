"""ADAPT-010 .. ADAPT-015: PtychoPINNx settings groups and settings -> config functions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from ptychodus.api.settings import SettingsRegistry

from ptycho.config.config import (
    InferenceConfig,
    ModelConfig,
    PyTorchExecutionConfig,
    TrainingConfig,
)
from ptycho.defaults import REFINE_ITERATIONS
from ptycho_reconstructor.settings import (
    PtychoPINNxSettings,
    execution_config_from_settings,
    inference_config_from_settings,
    model_config_from_settings,
    model_path_from_settings,
    training_config_from_settings,
)

GROUPS = [
    "PtychoPINNxModel",
    "PtychoPINNxTraining",
    "PtychoPINNxInference",
    "PtychoPINNxFit",
    "PtychoPINNxExecution",
]


@pytest.fixture
def settings(registry: Any) -> PtychoPINNxSettings:
    return PtychoPINNxSettings(registry)


def test_settings_create_the_five_groups_in_the_registry(registry: Any) -> None:
    """ADAPT-010: the groups exist in the registry (so Ptychodus saves and loads them)."""
    PtychoPINNxSettings(registry)
    assert [name for name in registry if name.startswith("PtychoPINNx")] == GROUPS


def test_settings_cover_every_issue_field(settings: PtychoPINNxSettings) -> None:
    """ADAPT-010: every model, training, inference and execution field of issue 6 item 2."""
    keys = {f"{group.name}.{key}" for group in settings.groups for key in group.parameters()}
    required = {
        "PtychoPINNxModel.GridSize",
        "PtychoPINNxModel.NumFiltersScale",
        "PtychoPINNxModel.AmpActivation",
        "PtychoPINNxModel.ObjectBig",
        "PtychoPINNxModel.ProbeBig",
        "PtychoPINNxModel.ProbeMask",
        "PtychoPINNxModel.PadObject",
        "PtychoPINNxModel.ProbeScale",
        "PtychoPINNxModel.GaussianSmoothingSigma",
        "PtychoPINNxTraining.NumEpochs",
        "PtychoPINNxTraining.BatchSize",
        "PtychoPINNxTraining.LearningRate",
        "PtychoPINNxTraining.NLLWeight",
        "PtychoPINNxTraining.MAEWeight",
        "PtychoPINNxTraining.RealspaceMAEWeight",
        "PtychoPINNxTraining.RealspaceWeight",
        "PtychoPINNxTraining.NumPhotons",
        "PtychoPINNxTraining.ProbeTrainable",
        "PtychoPINNxTraining.IntensityScaleTrainable",
        "PtychoPINNxTraining.NeighborCount",
        "PtychoPINNxTraining.NumGroups",
        "PtychoPINNxTraining.Seed",
        "PtychoPINNxInference.ModelPath",
        "PtychoPINNxInference.NeighborCount",
        "PtychoPINNxInference.NumGroups",
        "PtychoPINNxInference.RefineIterations",
        "PtychoPINNxInference.RefineProbe",
        "PtychoPINNxExecution.Backend",
        "PtychoPINNxExecution.Accelerator",
        "PtychoPINNxExecution.Devices",
        "PtychoPINNxExecution.Precision",
    }
    assert required <= keys


def test_model_config_maps_every_model_setting(settings: PtychoPINNxSettings) -> None:
    """ADAPT-011: each [PtychoPINNxModel] key lands in its ModelConfig field."""
    m = settings.model
    m.gridsize.set_value(2)
    m.n_filters_scale.set_value(3)
    m.amp_activation.set_value("Swish ")
    m.object_big.set_value(True)
    m.probe_big.set_value(False)
    m.probe_mask.set_value(True)
    m.pad_object.set_value(False)
    m.probe_scale.set_value(7.5)
    m.gaussian_smoothing_sigma.set_value(0.25)
    config = model_config_from_settings(settings, N=128, model_type="supervised")
    assert config == ModelConfig(
        N=128,
        gridsize=2,
        n_filters_scale=3,
        model_type="supervised",
        amp_activation="swish",
        object_big=True,
        probe_big=False,
        probe_mask=True,
        pad_object=False,
        probe_scale=7.5,
        gaussian_smoothing_sigma=0.25,
    )


def test_training_config_maps_every_training_setting(settings: PtychoPINNxSettings) -> None:
    """ADAPT-012: each [PtychoPINNxTraining] key lands in its TrainingConfig field."""
    t = settings.training
    t.nepochs.set_value(7)
    t.batch_size.set_value(8)
    t.learning_rate.set_value(5e-4)
    t.nll_weight.set_value(0.5)
    t.mae_weight.set_value(0.25)
    t.realspace_mae_weight.set_value(0.125)
    t.realspace_weight.set_value(0.0625)
    t.nphotons.set_value(1e7)
    t.n_groups.set_value(100)
    t.neighbor_count.set_value(6)
    t.probe_trainable.set_value(True)
    t.intensity_scale_trainable.set_value(False)
    t.validation_fraction.set_value(0.2)
    t.early_stopping_patience.set_value(4)
    t.seed.set_value(11)
    settings.execution.backend.set_value("pytorch")
    settings.execution.precision.set_value("float32")
    config = training_config_from_settings(
        settings, N=64, model_type="pinn", output_dir=Path("/tmp/out"), data_nphotons=3.0
    )
    assert isinstance(config, TrainingConfig)
    assert (config.nepochs, config.batch_size, config.learning_rate) == (7, 8, 5e-4)
    assert (config.nll_weight, config.mae_weight) == (0.5, 0.25)
    assert (config.realspace_mae_weight, config.realspace_weight) == (0.125, 0.0625)
    assert config.nphotons == 1e7  # the setting wins over the measured value
    assert (config.n_groups, config.neighbor_count) == (100, 6)
    assert (config.probe_trainable, config.intensity_scale_trainable) == (True, False)
    assert (config.validation_fraction, config.early_stopping_patience) == (0.2, 4)
    assert (config.seed, config.backend, config.output_dir) == (11, "pytorch", Path("/tmp/out"))
    assert config.model.N == 64 and config.model.model_type == "pinn"
    assert config.precision == "float32"


def test_training_config_takes_nphotons_from_data_when_setting_is_zero(
    settings: PtychoPINNxSettings,
) -> None:
    """ADAPT-012: NumPhotons = 0 means the measured mean photons per pattern."""
    config = training_config_from_settings(
        settings, N=64, model_type="pinn", output_dir=Path("o"), data_nphotons=12345.0
    )
    assert config.nphotons == 12345.0
    with pytest.raises(ValueError, match="NumPhotons"):
        training_config_from_settings(settings, N=64, model_type="pinn", output_dir=Path("o"))


def test_inference_config_from_settings(settings: PtychoPINNxSettings, tmp_path: Path) -> None:
    """ADAPT-013: ModelPath, grouping, batch size and backend; NumGroups 0 means all."""
    i = settings.inference
    i.model_path.set_value(tmp_path / "wts.h5.zip")
    i.neighbor_count.set_value(5)
    i.batch_size.set_value(32)
    model = ModelConfig(N=64)
    config = inference_config_from_settings(settings, model=model)
    assert isinstance(config, InferenceConfig)
    assert config.model_path == tmp_path / "wts.h5.zip"
    assert (config.n_groups, config.neighbor_count, config.batch_size) == (None, 5, 32)
    assert config.backend == "tensorflow"
    assert (config.refine_iterations, config.refine_probe) == (REFINE_ITERATIONS, False)
    assert config.probe_source == "auto"
    assert config.precision == "auto"
    settings.execution.precision.set_value("BFloat16")
    assert inference_config_from_settings(settings, model=model).precision == "bfloat16"
    i.n_groups.set_value(10)
    i.refine_iterations.set_value(25)
    i.refine_probe.set_value(True)
    i.probe_source.set_value("Model")
    config = inference_config_from_settings(settings, model=model)
    assert (config.n_groups, config.refine_iterations, config.refine_probe) == (10, 25, True)
    assert config.probe_source == "model"


def test_model_path_empty_means_none(settings: PtychoPINNxSettings) -> None:
    """ADAPT-013: the default ModelPath ('.') means 'no model path'."""
    assert model_path_from_settings(settings) is None
    settings.inference.model_path.set_value(Path("a/model.zip"))
    assert model_path_from_settings(settings) == Path("a/model.zip")


def test_execution_config_from_settings(settings: PtychoPINNxSettings) -> None:
    """ADAPT-014: accelerator, devices, strategy; no logger/checkpoint files in-process."""
    e = settings.execution
    e.accelerator.set_value("GPU")
    e.devices.set_value(2)
    e.strategy.set_value("ddp")
    e.deterministic.set_value(False)
    config = execution_config_from_settings(settings)
    assert isinstance(config, PyTorchExecutionConfig)
    assert (config.accelerator, config.devices, config.strategy) == ("gpu", 2, "ddp")
    assert config.deterministic is False
    assert config.logger_backend is None and config.enable_checkpointing is False
    assert config.scheduler == "reduce_on_plateau"
    assert config.early_stop_patience == settings.training.early_stopping_patience.get_value()


@pytest.mark.parametrize(
    ("group", "key", "value", "call"),
    [
        ("execution", "backend", "jax", "training"),
        ("execution", "accelerator", "tpu", "execution"),
        ("execution", "precision", "float16", "training"),
        ("model", "amp_activation", "tanh", "model"),
    ],
)
def test_unknown_choice_values_raise_clear_errors(
    settings: PtychoPINNxSettings, group: str, key: str, value: str, call: str
) -> None:
    """ADAPT-015: an unknown setting value names the key, the value and the choices."""
    getattr(getattr(settings, group), key).set_value(value)
    with pytest.raises(ValueError, match=rf"= '{value}' is not a known value; choose one of"):
        if call == "model":
            model_config_from_settings(settings, N=64, model_type="pinn")
        elif call == "training":
            training_config_from_settings(
                settings, N=64, model_type="pinn", output_dir=Path("o"), data_nphotons=1.0
            )
        else:
            execution_config_from_settings(settings)


def test_out_of_range_values_from_an_ini_file_are_refused(tmp_path: Path) -> None:
    """ADAPT-015: Ptychodus clamps silently; the config functions refuse instead."""
    registry = SettingsRegistry()
    settings = PtychoPINNxSettings(registry)
    ini = tmp_path / "bad.ini"
    ini.write_text("[PtychoPINNxTraining]\nNumEpochs = 0\n")
    registry.open_settings(ini)
    with pytest.raises(ValueError, match=r"PtychoPINNxTraining.NumEpochs = 0 is outside"):
        training_config_from_settings(
            settings, N=64, model_type="pinn", output_dir=Path("o"), data_nphotons=1.0
        )


def test_invalid_combination_is_reported_as_a_settings_error(
    settings: PtychoPINNxSettings,
) -> None:
    """ADAPT-011: a combination ModelConfig rejects names the PtychoPINNx settings."""
    settings.model.object_big.set_value(False)
    settings.model.gridsize.set_value(2)
    with pytest.raises(ValueError, match="PtychoPINNx settings give an invalid ModelConfig"):
        model_config_from_settings(settings, N=64, model_type="pinn")


def test_settings_round_trip_through_ptychodus_ini(tmp_path: Path) -> None:
    """ADAPT-010: values survive Ptychodus's save_settings / open_settings."""
    first = SettingsRegistry()
    a = PtychoPINNxSettings(first)
    a.model.gridsize.set_value(2)
    a.model.amp_activation.set_value("relu")
    a.model.probe_scale.set_value(3.25)
    a.training.nepochs.set_value(9)
    a.training.learning_rate.set_value(2.5e-4)
    a.training.probe_trainable.set_value(True)
    a.inference.model_path.set_value(tmp_path / "m" / "wts.h5.zip")
    a.fit.start_from_model.set_value(False)
    a.execution.backend.set_value("pytorch")
    a.execution.devices.set_value(3)
    ini = tmp_path / "settings.ini"
    first.save_settings(ini)

    second = SettingsRegistry()
    b = PtychoPINNxSettings(second)
    second.open_settings(ini)
    for group_a, group_b in zip(a.groups, b.groups, strict=True):
        for key, parameter in group_a.parameters().items():
            assert group_b.parameters()[key].get_value() == parameter.get_value(), key
    assert b.execution.backend.get_value() == "pytorch"
    text = ini.read_text()
    assert "[PtychoPINNxExecution]" in text and "Backend = pytorch" in text


def test_defaults_are_the_recommended_ones(settings: PtychoPINNxSettings) -> None:
    """Issue 11 / D14: a user who only picks the algorithm gets the measured best path:
    backprop_unet at gridsize 2, the refined image (RefineIterations > 0, the network alone is
    RefineIterations = 0), the scan's probe, a GPU when there is one."""
    from ptycho import defaults

    assert settings.model.architecture.get_value() == "backprop_unet"
    assert settings.model.gridsize.get_value() == defaults.GRIDSIZE == 2
    assert settings.inference.refine_iterations.get_value() == defaults.REFINE_ITERATIONS > 0
    assert settings.inference.probe_source.get_value() == "auto"
    assert settings.execution.accelerator.get_value() == defaults.ACCELERATOR == "auto"
    assert settings.execution.deterministic.get_value() is False
    assert settings.execution.precision.get_value() == defaults.PRECISION
    assert settings.training.start_from_pretrained.get_value() is defaults.START_FROM_PRETRAINED
    # the default model settings describe the pretrained network, so Train fine-tunes it
    from ptycho.config.config import ModelConfig

    shipped = ModelConfig(N=64, gridsize=2, n_filters_scale=2)
    assert model_config_from_settings(settings, N=64, model_type="pinn") == shipped
    config = inference_config_from_settings(
        settings, model=model_config_from_settings(settings, N=64, model_type="pinn")
    )
    assert config.refine_iterations == defaults.REFINE_ITERATIONS
