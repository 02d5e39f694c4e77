"""Original PyTorch configs (ptycho_torch.config_params) and the bridge to the core configs."""

from __future__ import annotations

import dataclasses
import pickle
import warnings
from pathlib import Path

import pytest

from ptycho.config import config as core
from ptycho_torch import config_bridge as bridge
from ptycho_torch.config_params import (
    DataConfig,
    DatagenConfig,
    InferenceConfig,
    ModelConfig,
    TrainingConfig,
)

REQUIRED = {"nphotons": 1e9, "n_groups": 64, "train_data_file": "train.npz"}


def _training(**overrides):
    data = overrides.pop("data", DataConfig(grid_size=(2, 2), C=4, K=7))
    model = overrides.pop("model", ModelConfig())
    training = overrides.pop("training", TrainingConfig(epochs=3))
    tf_model = bridge.to_model_config(data, model)
    kwargs = {**REQUIRED, "test_data_file": "test.npz", **overrides}
    return bridge.to_training_config(tf_model, data, model, training, overrides=kwargs)


def test_configs_accept_every_keyword_ptychodus_passes_and_pickle():
    """Ptychodus 1.7's PtychoPINN-Torch parent builds the five configs with its keywords and
    pickles them to the child (reference/ptychopinn_torch.md §5.1)."""
    pytest.importorskip("ptychodus")
    from ptychodus.api.settings import SettingsRegistry
    from ptychodus.model.ptychopinn_torch import settings as s
    from ptychodus.model.ptychopinn_torch.reconstructor import _build_configs

    registry = SettingsRegistry()
    configs = _build_configs(
        "Supervised",
        s.PtychoPINNTorchDataSettings(registry),
        s.PtychoPINNTorchModelSettings(registry),
        s.PtychoPINNTorchTrainingSettings(registry),
        s.PtychoPINNTorchInferenceSettings(registry),
    )
    restored = pickle.loads(pickle.dumps(configs))
    assert [type(c) for c in restored] == [
        DataConfig,
        ModelConfig,
        TrainingConfig,
        InferenceConfig,
        DatagenConfig,
    ]
    assert restored[1].mode == "Supervised"
    model, training = bridge.core_configs_from_pt(restored[0], restored[1], restored[2])
    assert (model.N, model.gridsize, model.model_type, model.amp_activation) == (
        128,
        2,
        "supervised",
        "swish",
    )
    assert training.backend == "pytorch" and training.neighbor_count == 6


def test_importing_config_params_loads_neither_torch_nor_tensorflow(subprocess_env):
    """The Ptychodus parent process imports config_params; it must stay framework-free."""
    import subprocess
    import sys

    code = (
        "import sys, ptycho_torch.config_params, ptycho_torch.config_bridge;"
        "print(sorted(m for m in ('torch','tensorflow','lightning') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], env=subprocess_env, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize(("grid", "expected"), [((1, 1), 1), ((2, 2), 2), ((3, 3), 3)])
def test_square_grid_size_maps_to_gridsize(grid, expected):
    """grid_size (rows, cols) -> gridsize = rows."""
    data = DataConfig(grid_size=grid, C=grid[0] * grid[1])
    assert bridge.to_model_config(data, ModelConfig()).gridsize == expected


def test_non_square_grid_and_inconsistent_channel_count_are_errors():
    with pytest.raises(ValueError, match="Non-square grids"):
        bridge.to_model_config(DataConfig(grid_size=(2, 3), C=6), ModelConfig())
    with pytest.raises(ValueError, match="C=4 does not match grid_size"):
        bridge.to_model_config(DataConfig(grid_size=(1, 1), C=4), ModelConfig())


@pytest.mark.parametrize(
    ("mode", "model_type"), [("Unsupervised", "pinn"), ("Supervised", "supervised")]
)
def test_mode_maps_to_model_type(mode, model_type):
    assert bridge.to_model_config(DataConfig(), ModelConfig(mode=mode)).model_type == model_type


def test_invalid_mode_is_an_error():
    with pytest.raises(ValueError, match="Invalid mode 'InvalidMode'"):
        bridge.to_model_config(DataConfig(), ModelConfig(mode="InvalidMode"))


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("silu", "swish"),
        ("SiLU", "swish"),
        ("swish", "swish"),
        ("sigmoid", "sigmoid"),
        ("softplus", "softplus"),
        ("relu", "relu"),
    ],
)
def test_activation_names_map_to_core_names(name, expected):
    model = bridge.to_model_config(DataConfig(), ModelConfig(amp_activation=name))
    assert model.amp_activation == expected


def test_unknown_activation_lists_supported_values():
    with pytest.raises(ValueError, match="Unknown activation 'gelu'. Supported values"):
        bridge.to_model_config(DataConfig(), ModelConfig(amp_activation="gelu"))


def test_model_fields_pass_through_and_overrides_win():
    data = DataConfig(N=128, grid_size=(1, 1), C=1, probe_scale=2.0)
    model = ModelConfig(
        n_filters_scale=1,
        object_big=False,
        probe_big=False,
        pad_object=False,
        gaussian_smoothing_sigma=0.5,
        probe_mask=None,
    )
    out = bridge.to_model_config(data, model)
    assert (out.N, out.n_filters_scale, out.object_big, out.probe_big, out.pad_object) == (
        128,
        1,
        False,
        False,
        False,
    )
    assert out.probe_scale == 2.0 and out.gaussian_smoothing_sigma == 0.5
    assert out.probe_mask is False  # None -> False
    assert bridge.to_model_config(data, ModelConfig(probe_mask=True)).probe_mask is True
    assert bridge.to_model_config(data, model, overrides={"pad_object": True}).pad_object is True
    with pytest.raises(ValueError, match="unknown override keys for ModelConfig: bogus"):
        bridge.to_model_config(data, model, overrides={"bogus": 1})


def test_training_mapping_rules():
    """epochs -> nepochs, K -> neighbor_count, nll -> nll_weight, backend 'pytorch', plateau
    fields, n_subsample never taken from the original (different meaning)."""
    config = _training()
    assert config.nepochs == 3 and config.neighbor_count == 7 and config.nll_weight == 1.0
    assert config.backend == "pytorch" and config.n_subsample is None
    assert config.train_data_file == Path("train.npz") and config.n_groups == 64
    no_nll = _training(training=TrainingConfig(nll=False), mae_weight=0.5)
    assert no_nll.nll_weight == 0.0 and no_nll.mae_weight == 0.5
    mae = _training(model=ModelConfig(loss_function="MAE"))
    assert (mae.nll_weight, mae.mae_weight) == (0.0, 1.0)
    plateau = _training(
        training=TrainingConfig(plateau_factor=0.3, plateau_patience=4, plateau_min_lr=1e-5)
    )
    assert (plateau.lr_plateau_factor, plateau.lr_plateau_patience, plateau.min_learning_rate) == (
        0.3,
        4,
        1e-5,
    )
    assert _training(n_subsample=100).n_subsample == 100  # only an override sets it


def test_training_requires_explicit_nphotons_n_groups_and_train_file():
    data = DataConfig(grid_size=(1, 1), C=1)
    tf_model = bridge.to_model_config(data, ModelConfig())
    args = (tf_model, data, ModelConfig(), TrainingConfig())
    with pytest.raises(ValueError, match=r"nphotons default divergence detected.*nphotons="):
        bridge.to_training_config(*args, overrides={"n_groups": 8, "train_data_file": "a.npz"})
    with pytest.raises(ValueError, match=r"n_groups is required in overrides.*n_groups=512"):
        bridge.to_training_config(*args, overrides={"nphotons": 1e9, "train_data_file": "a"})
    with pytest.raises(ValueError, match="train_data_file is required"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bridge.to_training_config(*args, overrides={"nphotons": 1e9, "n_groups": 8})
    with pytest.warns(UserWarning, match="test_data_file") as record:
        bridge.to_training_config(
            *args, overrides={"nphotons": 1e9, "n_groups": 8, "train_data_file": "a.npz"}
        )
    assert len(record) == 1


def test_inference_mapping_and_required_paths():
    data = DataConfig(grid_size=(1, 1), C=1, K=5)
    tf_model = bridge.to_model_config(data, ModelConfig())
    config = bridge.to_inference_config(
        tf_model,
        data,
        InferenceConfig(batch_size=8),
        overrides={"model_path": "m", "test_data_file": "t.npz", "n_groups": 10},
    )
    assert isinstance(config, core.InferenceConfig)
    assert (config.neighbor_count, config.batch_size, config.backend, config.n_groups) == (
        5,
        8,
        "pytorch",
        10,
    )
    assert config.model_path == Path("m")
    with pytest.raises(ValueError, match="model_path is required"):
        bridge.to_inference_config(tf_model, data, InferenceConfig(), {"test_data_file": "t"})
    with pytest.raises(ValueError, match="test_data_file is required"):
        bridge.to_inference_config(tf_model, data, InferenceConfig(), {"model_path": "m"})


def test_execution_config_mapping_never_touches_the_legacy_dict():
    """device/n_devices/strategy/accum_steps/clip/scheduler -> PyTorchExecutionConfig
    (CONFIG-002: nothing is written to ptycho.params.cfg)."""
    from ptycho import params

    before = dict(params.cfg)
    execution = bridge.to_execution_config(
        TrainingConfig(
            device="cuda",
            n_devices=2,
            strategy="ddp_spawn",
            accum_steps=3,
            gradient_clip_val=0.5,
            scheduler="Exponential",
            num_workers=1,
        )
    )
    assert (execution.accelerator, execution.devices, execution.strategy) == (
        "auto",
        2,
        "ddp_spawn",
    )
    assert (execution.accumulate_grad_batches, execution.gradient_clip_val) == (3, 0.5)
    assert execution.scheduler == "exponential" and execution.num_workers == 1
    assert (
        bridge.to_execution_config(TrainingConfig(device="cpu", strategy=None)).accelerator == "cpu"
    )
    assert (
        bridge.to_execution_config(TrainingConfig(scheduler="Cosine")).scheduler == "warmup_cosine"
    )
    with pytest.raises(ValueError, match="scheduler 'MultiStage' is not supported"):
        bridge.to_execution_config(TrainingConfig(scheduler="MultiStage"))
    assert dict(params.cfg) == before


def test_configs_also_accepted_as_dicts_from_a_checkpoint():
    """Checkpoints store the configs as dicts (lists for tuples); the bridge takes them back."""
    data = dataclasses.asdict(DataConfig(grid_size=(1, 1), C=1))
    data["grid_size"] = list(data["grid_size"])
    model, training = bridge.core_configs_from_pt(data, dataclasses.asdict(ModelConfig()), None)
    assert model.gridsize == 1 and training.nphotons == 1e5
    with pytest.raises(ValueError, match="unknown ptycho_torch.config_params.DataConfig keys: zzz"):
        bridge.core_configs_from_pt({"zzz": 1}, None, None)
