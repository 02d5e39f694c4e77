"""Training: reproducibility, history, callbacks, schedule, trainable parameters, bad input."""

from __future__ import annotations

import csv
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ptycho.tf import api
from ptycho.tf.callbacks import EarlyStopping, ReduceOnPlateau
from ptycho.tf.training import TrainingDivergedError


def _weights(bundle: Any) -> list[np.ndarray]:
    return bundle.network.get_weights()


def test_same_seed_twice_gives_identical_weights(
    container_g2: Any, make_config: Callable[..., Any]
) -> None:
    """ARCH-011: same seed -> bit-identical weights and history on CPU (gridsize 2, with a
    seeded validation split)."""
    config = make_config(gridsize=2, validation_fraction=0.2, seed=5)
    first = api.train(container_g2, config)
    second = api.train(container_g2, config)
    assert first.history == second.history
    for a, b in zip(_weights(first), _weights(second), strict=True):
        np.testing.assert_array_equal(a, b)
    other = api.train(container_g2, make_config(gridsize=2, validation_fraction=0.2, seed=6))
    assert any(
        not np.array_equal(a, b) for a, b in zip(_weights(first), _weights(other), strict=True)
    )


def test_history_has_train_and_validation_terms_and_is_written_as_csv(
    container_g1: Any, make_config: Callable[..., Any], tmp_path: Path
) -> None:
    """Per-epoch history (loss, per-term, val_*, learning rate) returned and in history.csv."""
    config = make_config(nepochs=2, validation_fraction=0.25)
    bundle = api.train(container_g1, config, output_dir=tmp_path)
    history = bundle.history
    for key in ("loss", "nll_loss", "mae_loss", "val_loss", "val_nll_loss", "learning_rate"):
        assert len(history[key]) == 2
    assert bundle.epochs_trained == 2
    with open(tmp_path / "history.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [int(r["epoch"]) for r in rows] == [1, 2]
    assert float(rows[1]["val_loss"]) == pytest.approx(history["val_loss"][1])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["history.csv"]


def test_epoch_callback_sees_every_epoch_and_can_stop_training(
    container_g1: Any, make_config: Callable[..., Any]
) -> None:
    """D10: the hook gets (epoch, logs) after each epoch; returning True stops cleanly."""
    seen: list[tuple[int, float]] = []

    def hook(epoch: int, logs: Any) -> bool:
        seen.append((epoch, logs["loss"]))
        return epoch == 1

    bundle = api.train(container_g1, make_config(nepochs=5), on_epoch_end=hook)
    assert [e for e, _ in seen] == [0, 1]
    assert bundle.epochs_trained == 2
    assert all(math.isfinite(v) for _, v in seen)


def test_trainable_probe_and_scale_change_and_frozen_ones_stay_fixed(
    container_g1: Any, make_config: Callable[..., Any]
) -> None:
    """probe_trainable / intensity_scale_trainable train real parameters; off = unchanged."""
    from ptycho.physics.forward import intensity_scale
    from ptycho.probe import normalize_probe

    probe0 = normalize_probe(container_g1.probe, 4.0)
    s0 = intensity_scale(1e6, 64)
    free = api.train(
        container_g1, make_config(probe_trainable=True, intensity_scale_trainable=True)
    )
    assert not np.allclose(free.probe, probe0, rtol=0, atol=1e-6)
    assert abs(free.intensity_scale - s0) > 1e-6 * s0
    frozen = api.train(
        container_g1, make_config(probe_trainable=False, intensity_scale_trainable=False)
    )
    np.testing.assert_array_equal(frozen.probe, probe0)
    assert frozen.intensity_scale == pytest.approx(s0, rel=1e-6)


def test_nan_loss_stops_with_the_epoch_named_and_the_last_good_weights_restored(
    container_g1: Any, make_config: Callable[..., Any]
) -> None:
    """A NaN loss raises TrainingDivergedError naming the epoch; weights revert to epoch 1's."""
    snapshot: dict[str, list[np.ndarray]] = {}

    def poison(epoch: int, logs: Any) -> bool:
        network = bundle_holder["network"]
        snapshot["weights"] = network.get_weights()
        kernel = network.training_model.get_layer("unet_down1_conv1").kernel
        kernel.assign(np.full(kernel.shape, np.nan, np.float32))
        return False

    from ptycho.tf import network as tf_network

    bundle_holder: dict[str, Any] = {}
    original = tf_network.build_model

    def capture(*args: Any, **kwargs: Any) -> Any:
        bundle_holder["network"] = original(*args, **kwargs)
        return bundle_holder["network"]

    import ptycho.tf.training as training

    training.build_model, saved = capture, training.build_model
    try:
        with pytest.raises(TrainingDivergedError, match="epoch 2") as info:
            api.train(container_g1, make_config(nepochs=3), on_epoch_end=poison)
    finally:
        training.build_model = saved
    error = info.value
    assert error.epoch == 2 and len(error.history["loss"]) == 1
    assert error.bundle is not None
    for restored, good in zip(error.bundle.network.get_weights(), snapshot["weights"], strict=True):
        np.testing.assert_array_equal(restored, good)


def test_supervised_mode_trains_on_ground_truth_patches(
    container_g1: Any, make_config: Callable[..., Any]
) -> None:
    """model_type='supervised': the loss is the complex MAE against Y (history realspace_loss)."""
    bundle = api.train(container_g1, make_config(nepochs=2, model={"model_type": "supervised"}))
    assert "realspace_loss" in bundle.history and "nll_loss" not in bundle.history
    assert bundle.history["loss"] == bundle.history["realspace_loss"]


def test_losses_that_need_ground_truth_reject_data_without_y(
    container_g1: Any, make_config: Callable[..., Any]
) -> None:
    """Supervised mode or realspace_weight > 0 without Y: ValueError naming the fix."""
    no_y = container_g1.subset(np.arange(len(container_g1)))
    no_y._Y = None
    with pytest.raises(ValueError, match="supervised"):
        api.train(no_y, make_config(model={"model_type": "supervised"}))
    with pytest.raises(ValueError, match="realspace_weight"):
        api.train(no_y, make_config(realspace_weight=1.0))


def test_data_that_does_not_fit_the_model_is_rejected(
    container_g1: Any, container_g2: Any, make_config: Callable[..., Any]
) -> None:
    """Bad input: N or gridsize of the data differ from the config; NaN in the diffraction."""
    with pytest.raises(ValueError, match="N=128"):
        api.train(container_g1, make_config(model={"N": 128}))
    with pytest.raises(ValueError, match="gridsize=1"):
        api.train(container_g2, make_config(gridsize=1))
    bad = container_g1.subset(np.arange(len(container_g1)))
    bad._X = bad.X.copy()
    bad._X[0, 0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        api.train(bad, make_config())


def test_n_zero_is_taken_from_the_data(container_g1: Any, make_config: Callable[..., Any]) -> None:
    """CFG-004: model.N = 0 means 'from the data'; the caller's config is not modified."""
    config = make_config(model={"N": 0})
    bundle = api.train(container_g1, config)
    assert bundle.model_config.N == 64 and config.model.N == 0


def test_reduce_on_plateau_and_early_stopping_follow_their_patience() -> None:
    """The schedule: lr x factor after `patience` flat epochs (floored); stop after patience."""
    plateau = ReduceOnPlateau(factor=0.5, patience=2, min_lr=1e-4)
    lrs = []
    lr = 1e-3
    for value in [5.0, 4.0, 4.0, 4.5, 3.0, 3.0, 3.0, 3.0, 3.0, 3.0, 3.0, 3.0]:
        lr = plateau.update(value, lr)
        lrs.append(lr)
    assert lrs[:3] == [1e-3, 1e-3, 1e-3]
    assert lrs[3] == pytest.approx(5e-4)
    assert lrs[6] == pytest.approx(2.5e-4)
    assert min(lrs) == pytest.approx(1e-4)
    stopper = EarlyStopping(patience=3)
    decisions = [stopper.update(v) for v in [3.0, 2.0, 2.5, 2.1, 2.0]]
    assert decisions == [False, False, False, False, True]


def test_continuing_from_an_initial_bundle_keeps_its_network(
    trained_g1: Any, container_g1: Any, make_config: Callable[..., Any]
) -> None:
    """initial=bundle continues training the same network (weights move, shapes kept)."""
    before = trained_g1.network.get_weights()
    continued = api.train(container_g1, make_config(), initial=trained_g1)
    assert continued.network is trained_g1.network
    assert any(
        not np.array_equal(a, b)
        for a, b in zip(before, continued.network.get_weights(), strict=True)
    )
