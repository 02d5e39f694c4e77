"""Lightning training: losses, schedulers, trainable parameters, callbacks, determinism, errors."""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from torch_factories import make_container, tiny_config

from ptycho.config.config import ModelConfig, PyTorchExecutionConfig
from ptycho.physics import forward as npf
from ptycho_torch import api
from ptycho_torch.accelerators import check_devices, resolve_accelerator
from ptycho_torch.datamodule import ContainerDataset
from ptycho_torch.loggers import check_logger_available
from ptycho_torch.model import PtychoPINN_Lightning
from ptycho_torch.trainer import resolve_monitor
from ptycho_torch.training import TrainingDivergedError


def _module(config, **kwargs):
    return PtychoPINN_Lightning(config.model, training_config=config, **kwargs)


def test_loss_names_follow_the_active_loss():
    """poisson_* for nll_weight > 0, mae_* for MAE only, supervised_* for supervised models
    (the names Ptychodus reads from trainer.callback_metrics)."""
    poisson = _module(tiny_config())
    assert (poisson.loss_name, poisson.val_loss_name) == ("poisson_train_loss", "poisson_val_loss")
    mae = _module(tiny_config(nll_weight=0.0, mae_weight=1.0))
    assert mae.loss_name == "mae_train_loss"
    supervised = _module(tiny_config(model_type="supervised"))
    assert supervised.val_loss_name == "supervised_val_loss"


def test_losses_use_the_tensorflow_backend_scaling(tiny_scan):
    """ARCH-007/009: input s X, predicted counts (s A)^2 against measured (s0 X)^2; the Poisson
    and MAE terms equal the NumPy reference on the same network output."""
    config = tiny_config(mae_weight=0.25)
    module = _module(config, data_intensity_scale=7.0, initial_intensity_scale=9.0)
    batch = ContainerDataset(make_container(tiny_scan, n_groups=4)).__getitems__([0, 1, 2, 3])
    with torch.no_grad():
        losses = module.compute_losses(batch)
        pred = module.net(9.0 * batch["X"], batch["coords"]).amplitude.numpy()
    measured = 7.0 * batch["X"].numpy()
    nll = npf.poisson_nll(pred**2, measured**2)
    mae = npf.diffraction_mae(pred, measured)
    assert float(losses["poisson"]) == pytest.approx(nll, rel=1e-4)
    assert float(losses["mae"]) == pytest.approx(mae, rel=1e-4)
    assert float(losses["total"]) == pytest.approx(nll + 0.25 * mae, rel=1e-4)


def test_exponential_and_warmup_cosine_schedules_reach_the_minimum_rate():
    config = tiny_config(nepochs=11, learning_rate=1e-3, min_learning_rate=1e-5)
    for name in ("exponential", "warmup_cosine"):
        setup = _module(config, scheduler=name).configure_optimizers()
        optimizer, scheduler = setup["optimizer"], setup["lr_scheduler"]["scheduler"]
        rates = []
        for _ in range(config.nepochs):
            rates.append(optimizer.param_groups[0]["lr"])
            optimizer.step()
            scheduler.step()
        assert rates[-1] == pytest.approx(1e-5, rel=1e-6), name
        if name == "warmup_cosine":
            assert rates[0] == pytest.approx(1e-4) and max(rates) == pytest.approx(1e-3)


def test_reduce_on_plateau_matches_the_tensorflow_rule():
    """Reduce by lr_plateau_factor after lr_plateau_patience epochs without strict improvement,
    never below min_learning_rate; monitors val_loss."""
    config = tiny_config(lr_plateau_patience=2, lr_plateau_factor=0.5, min_learning_rate=3e-4)
    setup = _module(config, scheduler="reduce_on_plateau").configure_optimizers()
    assert setup["lr_scheduler"]["monitor"] == "val_loss"
    optimizer, scheduler = setup["optimizer"], setup["lr_scheduler"]["scheduler"]
    rates = []
    for loss in (1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5):
        scheduler.step(loss)
        rates.append(optimizer.param_groups[0]["lr"])
    assert rates == pytest.approx([1e-3, 1e-3, 5e-4, 5e-4, 5e-4, 3e-4, 3e-4, 3e-4, 3e-4])


def test_training_returns_a_bundle_with_history_and_writes_nothing_without_output_dir(
    tiny_scan, tmp_path, monkeypatch
):
    """api.train -> ModelBundle('pytorch') with per-epoch TF-style history; with no output_dir
    no file is written (here: the current directory stays empty)."""
    monkeypatch.chdir(tmp_path)
    bundle = api.train(make_container(tiny_scan), tiny_config())
    assert bundle.backend == "pytorch" and bundle.epochs_trained == 2
    assert {"loss", "nll_loss", "mae_loss", "learning_rate"} <= set(bundle.history)
    assert all(math.isfinite(v) for v in bundle.history["loss"])
    assert bundle.probe.shape == (64, 64) and bundle.probe.dtype == np.complex64
    assert not bundle.network.training and bundle.network.probe_real.device.type == "cpu"
    assert list(tmp_path.iterdir()) == []


def test_probe_and_intensity_scale_change_only_when_trainable(tiny_scan):
    """Trainable probe/scale are real parameters: trained iff enabled, else bit-identical."""
    container = make_container(tiny_scan, n_groups=16)
    s0 = npf.intensity_scale(1e6, 64)
    frozen = api.train(
        container, tiny_config(nepochs=1, probe_trainable=False, intensity_scale_trainable=False)
    )
    assert frozen.intensity_scale == pytest.approx(s0, rel=1e-6)
    from ptycho.probe import normalize_probe

    np.testing.assert_array_equal(frozen.probe, normalize_probe(container.probe, 4.0))
    trained = api.train(
        container,
        tiny_config(nepochs=1, probe_trainable=True, intensity_scale_trainable=True),
    )
    assert abs(trained.intensity_scale - s0) > 1e-6
    assert np.max(np.abs(trained.probe - frozen.probe)) > 1e-6


def test_epoch_callback_receives_logs_and_stops_training_cleanly(tiny_scan):
    """EpochCallback: (epoch, logs) after every epoch; returning True stops after that epoch."""
    calls = []

    def on_epoch_end(epoch, logs):
        calls.append((epoch, dict(logs)))
        return epoch == 1

    bundle = api.train(
        make_container(tiny_scan, n_groups=16),
        tiny_config(nepochs=6, validation_fraction=0.25),
        on_epoch_end=on_epoch_end,
    )
    assert [c[0] for c in calls] == [0, 1]
    assert {"loss", "val_loss"} <= set(calls[0][1])
    assert bundle.epochs_trained == 2


def test_nan_loss_stops_with_a_clear_error_and_keeps_the_last_good_weights(tiny_scan, monkeypatch):
    """A non-finite loss raises TrainingDivergedError; its bundle holds the weights of the last
    finished epoch (finite) and the history of the good epochs."""
    original = PtychoPINN_Lightning.compute_losses
    count = {"n": 0}

    def poisoned(self, batch):
        losses = original(self, batch)
        count["n"] += 1
        if count["n"] > 2:  # epoch 0 has 2 batches; poison epoch 1
            losses["total"] = losses["total"] * float("nan")
        return losses

    monkeypatch.setattr(PtychoPINN_Lightning, "compute_losses", poisoned)
    with pytest.raises(TrainingDivergedError, match="loss became nan at epoch 1") as info:
        api.train(make_container(tiny_scan), tiny_config(nepochs=3))
    bundle = info.value.bundle
    assert bundle is not None and len(bundle.history["loss"]) == 1
    assert all(torch.isfinite(p).all() for p in bundle.network.state_dict().values())


def test_deterministic_runs_repeat_exactly(tiny_scan):
    """Same seed and data -> bit-identical weights and history (deterministic=True)."""
    container = make_container(tiny_scan, n_groups=16)
    config = tiny_config(nepochs=2, validation_fraction=0.25, seed=7)
    first = api.train(container, config)
    second = api.train(container, config)
    assert first.history == second.history
    for key, value in first.network.state_dict().items():
        assert torch.equal(value, second.network.state_dict()[key]), key


def test_artefacts_land_in_output_dir(tiny_scan, tmp_path):
    """With output_dir: checkpoints/last.ckpt + best, lightning_logs (csv) and the running
    checkpoints/history.csv (the top-level history.csv is written with the archive, HARD-014)."""
    execution = PyTorchExecutionConfig(logger_backend="csv")
    api.train(
        make_container(tiny_scan, n_groups=16),
        tiny_config(validation_fraction=0.25),
        execution=execution,
        output_dir=tmp_path,
    )
    assert (tmp_path / "checkpoints" / "last.ckpt").is_file()
    assert list((tmp_path / "checkpoints").glob("best-epoch*.ckpt"))
    assert list((tmp_path / "lightning_logs").glob("version_*/metrics.csv"))
    header = (tmp_path / "checkpoints" / "history.csv").read_text().splitlines()[0].split(",")
    assert header[0] == "epoch" and "loss" in header and "val_loss" in header
    assert not (tmp_path / "history.csv").exists()


def test_supervised_training_needs_ground_truth(tiny_scan):
    container = make_container(tiny_scan, n_groups=16)
    no_truth = container.subset(np.arange(len(container)))
    no_truth._Y = None  # a scan without objectGuess
    with pytest.raises(ValueError, match="supervised training needs ground-truth"):
        api.train(no_truth, tiny_config(model_type="supervised"))


def test_data_that_do_not_fit_the_model_are_rejected(tiny_scan):
    with pytest.raises(ValueError, match="grouped with gridsize 1 .* ModelConfig.gridsize is 2"):
        api.train(make_container(tiny_scan), tiny_config(gridsize=2))
    with pytest.raises(ValueError, match="another architecture"):
        bundle = api.train(make_container(tiny_scan, n_groups=16), tiny_config(nepochs=1))
        api.train(make_container(tiny_scan), tiny_config(probe_big=False), initial=bundle)


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without a CUDA GPU")
@pytest.mark.parametrize("name", ["gpu", "cuda"])
def test_gpu_accelerator_without_gpu_is_a_clear_error(name):
    with pytest.raises(RuntimeError, match=f"accelerator '{name}' was requested, but no CUDA GPU"):
        resolve_accelerator(name)


def test_auto_accelerator_picks_cuda_only_when_available():
    assert resolve_accelerator("auto") == ("cuda" if torch.cuda.is_available() else "cpu")


def test_more_devices_than_available_is_a_clear_error():
    with pytest.raises(ValueError, match=r"--devices 4096 was requested, but only \d+ CPU"):
        check_devices("cpu", 4096)
    assert check_devices("cpu", 1) == 1


def test_unknown_monitor_lists_the_choices_and_val_falls_back_without_validation():
    known = ["train_loss", "val_loss", "poisson_train_loss", "poisson_val_loss"]
    assert resolve_monitor("val_loss", has_validation=False, known=known) == "train_loss"
    assert resolve_monitor("poisson_val_loss", has_validation=True, known=known) == (
        "poisson_val_loss"
    )
    with pytest.raises(ValueError, match="unknown checkpoint monitor 'bogus'; choose one of"):
        resolve_monitor("bogus", has_validation=True, known=known)


def test_missing_optional_logger_packages_are_clear_errors():
    import importlib.util

    if importlib.util.find_spec("mlflow") is None:
        with pytest.raises(RuntimeError, match="pip install mlflow"):
            check_logger_available("mlflow")
    if not any(importlib.util.find_spec(m) for m in ("tensorboard", "tensorboardX")):
        with pytest.raises(RuntimeError, match="pip install tensorboard"):
            check_logger_available("tensorboard")
    check_logger_available("csv")
    check_logger_available(None)


def test_lightning_checkpoint_loads_weights_only_and_without_arguments(tiny_scan, tmp_path):
    """hparams are primitives: torch.load(weights_only=True) works and load_from_checkpoint
    needs no config arguments; another configuration is refused with the differing fields."""
    execution = PyTorchExecutionConfig(logger_backend=None)
    bundle = api.train(
        make_container(tiny_scan, n_groups=16),
        tiny_config(nepochs=1),
        execution=execution,
        output_dir=tmp_path,
    )
    path = tmp_path / "checkpoints" / "last.ckpt"
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    assert checkpoint["hyper_parameters"]["model_config"]["n_filters_scale"] == 1
    module = PtychoPINN_Lightning.load_from_checkpoint(path)
    for key, value in bundle.network.state_dict().items():
        assert torch.equal(module.net.state_dict()[key], value)
    other = dict(checkpoint["hyper_parameters"]["model_config"], n_filters_scale=2)
    with pytest.raises(ValueError, match="n_filters_scale: checkpoint 1, requested 2"):
        PtychoPINN_Lightning.load_from_checkpoint(path, model_config=other)


def test_module_builds_from_the_original_configs_as_ptychodus_does():
    """PtychoPINN_Lightning(model, data, training, inference) with the original configs (or their
    dicts) bridges them to the core configs."""
    import dataclasses

    from ptycho_torch import config_params as pt

    data = pt.DataConfig(N=64, grid_size=(1, 1), C=1, nphotons=1e6)
    model = pt.ModelConfig(n_filters_scale=1, C_model=1, C_forward=1)
    module = PtychoPINN_Lightning(model, data, pt.TrainingConfig(epochs=3), pt.InferenceConfig())
    assert module.model_config == ModelConfig(
        N=64, gridsize=1, n_filters_scale=1, amp_activation="swish"
    )
    assert module.training_config.nepochs == 3
    again = PtychoPINN_Lightning(dataclasses.asdict(model), dataclasses.asdict(data), None, None)
    assert again.model_config == module.model_config


def test_ddp_spawn_on_two_cpu_processes_trains_and_returns_the_weights(tiny_scan, tmp_path):
    """Multi-device: strategy ddp_spawn with 2 CPU processes trains one epoch; the trained
    weights and the history come back to the calling process."""
    if (os.cpu_count() or 1) < 2:
        pytest.skip("needs 2 CPU cores")
    execution = PyTorchExecutionConfig(
        accelerator="cpu", devices=2, strategy="ddp_spawn", logger_backend=None
    )
    bundle = api.train(
        make_container(tiny_scan, n_groups=16),
        tiny_config(nepochs=1),
        execution=execution,
        output_dir=tmp_path,
    )
    assert bundle.epochs_trained == 1
    assert (tmp_path / "checkpoints" / "last.ckpt").is_file()
    initial = PtychoPINN_Lightning(
        bundle.model_config, training_config=bundle.training_config
    ).net.state_dict()
    changed = [
        k
        for k, v in bundle.network.state_dict().items()
        if v.dtype.is_floating_point and not torch.equal(v, initial[k])
    ]
    assert changed, "the trained weights did not come back from the worker processes"
    assert Path(tmp_path / "checkpoints" / "history.csv").is_file()


def test_supervised_and_realspace_losses_train_on_ground_truth_groups(tiny_scan):
    """Supervised mode (complex MAE on the per-channel patches, central N/2 window) and a PINN
    with a real-space term both train on gridsize-2 groups; histories use the TF names."""
    container = make_container(tiny_scan, gridsize=2, n_groups=16)
    supervised = api.train(container, tiny_config(gridsize=2, nepochs=1, model_type="supervised"))
    assert set(supervised.history) >= {"loss", "realspace_loss"}
    assert supervised.history["loss"] == supervised.history["realspace_loss"]
    mixed = api.train(container, tiny_config(gridsize=2, nepochs=1, realspace_weight=0.5))
    h = mixed.history
    assert {"nll_loss", "mae_loss", "realspace_loss"} <= set(h)
    assert h["loss"][0] == pytest.approx(h["nll_loss"][0] + 0.5 * h["realspace_loss"][0], rel=1e-4)
