"""D13: the pretraining loop (tiny budget) and running a backprop_unet model at another N."""

from __future__ import annotations

import dataclasses
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from ptycho.config.config import InferenceConfig, ModelConfig
from ptycho.pretrained import RECIPE
from ptycho.probe import normalize_probe
from ptycho.simulation import simulate_dataset, simulate_probe
from ptycho.weights import resized_bundle
from ptycho_torch import api
from ptycho_torch.pretrain import main, pretrain

TINY = dataclasses.replace(
    RECIPE,
    n_filters_scale=1,
    n_scans=4,
    positions=24,
    steps=6,
    batch_size=4,
    evaluation_families=("mixed",),
)


@pytest.fixture(scope="module")
def tiny_result():
    torch.set_num_threads(1)
    return pretrain(TINY)


def test_pretraining_learns_a_backprop_unet_model_and_evaluates_it(tiny_result) -> None:
    bundle = tiny_result.bundle
    assert bundle.backend == "pytorch"
    assert bundle.model_config.architecture == "backprop_unet"
    assert bundle.gridsize == TINY.gridsize
    assert len(bundle.history["loss"]) == 1 and np.isfinite(bundle.history["loss"][0])
    assert tiny_result.evaluation["steps"] == TINY.steps
    for key in ("mixed/disk", "mixed/zone_plate"):
        assert set(tiny_result.evaluation[key]) == {"amp_ssim", "phase_ssim"}


def test_pretraining_is_reproducible(tiny_result) -> None:
    """ARCH-011: the same recipe gives the same weights."""
    again = pretrain(TINY)
    for (name, a), b in zip(
        tiny_result.bundle.network.state_dict().items(),
        again.bundle.network.state_dict().values(),
        strict=True,
    ):
        torch.testing.assert_close(a, b, rtol=0, atol=0, msg=name)


def test_pretrain_command_writes_an_archive_with_its_model_card(tmp_path: Path) -> None:
    main(
        [
            "--output_dir",
            str(tmp_path),
            "--steps",
            "2",
            "--n_scans",
            "2",
            "--threads",
            "1",
            "--eval_every",
            "0",
        ]
    )
    with zipfile.ZipFile(tmp_path / "wts.h5.zip") as archive:
        manifest = json.loads(archive.read("manifest.json"))
    assert manifest["pretraining"]["recipe"]["steps"] == 2
    assert manifest["pretraining"]["evaluation"]["steps"] == 2


def test_pretrain_command_batch_size_goes_into_the_recipe(tmp_path: Path) -> None:
    main(
        [
            "--output_dir",
            str(tmp_path),
            "--steps",
            "1",
            "--n_scans",
            "2",
            "--threads",
            "1",
            "--eval_every",
            "0",
            "--batch_size",
            "4",
            "--device",
            "cpu",
        ]
    )
    with zipfile.ZipFile(tmp_path / "wts.h5.zip") as archive:
        manifest = json.loads(archive.read("manifest.json"))
    assert manifest["pretraining"]["recipe"]["batch_size"] == 4


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message without a GPU")
def test_pretrain_on_a_missing_gpu_is_a_clear_error_before_any_work(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="no CUDA device"):
        main(["--output_dir", str(tmp_path / "out"), "--device", "cuda"])
    assert not (tmp_path / "out").exists()


def test_a_backprop_unet_model_runs_at_another_pattern_size(tiny_result) -> None:
    """ARCH-014: the same weights reconstruct N=128 patterns with the scan's probe."""
    scan = simulate_dataset(N=128, n_positions=12, nphotons=1e6, seed=5)
    probe = normalize_probe(scan.raw.probeGuess)
    big = resized_bundle(tiny_result.bundle, 128, probe, api)
    assert big.N == 128 and big.probe.shape == (128, 128)
    small_weights = api.weights_of(tiny_result.bundle)
    for name, value in api.weights_of(big).items():
        if name not in ("probe_real", "probe_imag"):
            np.testing.assert_array_equal(value, small_weights[name])
    recon = api.reconstruct(big, scan.raw, InferenceConfig(model=big.model_config))
    assert recon.object.shape == scan.object.shape and np.all(np.isfinite(recon.object))


def test_a_cnn_model_cannot_run_at_another_pattern_size() -> None:
    config = ModelConfig(N=64, n_filters_scale=1, architecture="cnn")
    from ptycho.weights import expected_weight_shapes

    weights = {k: np.zeros(s, np.float32) for k, s in expected_weight_shapes(config).items()}
    probe = normalize_probe(simulate_probe(64))
    bundle = api.bundle_from_weights(config, None, weights, probe, 10.0)
    with pytest.raises(ValueError, match="architecture 'cnn' depends on N"):
        resized_bundle(bundle, 128, normalize_probe(simulate_probe(128)), api)


@pytest.mark.parametrize("backend", ["pytorch", "tensorflow"])
def test_fine_tuning_a_pretrained_model_takes_the_data_probe_and_n(tiny_result, backend) -> None:
    """ptycho.fine_tuning: continuing the (N=64) pretrained model on an N=128 zone-plate scan
    keeps its weights' layout, trains at N=128 with the scan's probe and photon level."""
    from ptycho.config.config import TrainingConfig
    from ptycho.physics.forward import intensity_scale
    from ptycho.workflows.backend_selector import get_backend, train_with_backend

    get_backend(backend)
    scan = simulate_dataset(N=128, n_positions=16, nphotons=1e5, seed=8, probe_kind="zone_plate")
    model = dataclasses.replace(tiny_result.bundle.model_config, N=128)
    config = TrainingConfig(
        model=model,
        nepochs=1,
        batch_size=4,
        nphotons=1e5,
        n_groups=16,
        backend=backend,
        validation_fraction=0.0,
    )
    tuned = train_with_backend(scan.raw, config, initial=tiny_result.bundle)
    assert tuned.backend == backend and tuned.N == 128
    np.testing.assert_allclose(tuned.probe, normalize_probe(scan.raw.probeGuess), rtol=1e-5)
    # restarted from the data's s0 (4.9; the pretrained model's was 31.25), then trained 1 epoch
    assert tuned.intensity_scale == pytest.approx(intensity_scale(1e5, 128), rel=0.05)
