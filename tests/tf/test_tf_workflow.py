"""Workflow API (ptycho.workflows.components) and inference: train -> save -> load -> infer."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ptycho import model_manager, params
from ptycho.config.config import InferenceConfig, ModelConfig, TrainingConfig
from ptycho.tf import api
from ptycho.workflows import components

pytestmark = pytest.mark.integration


def _config(tmp_path: Path, gridsize: int = 2) -> TrainingConfig:
    return TrainingConfig(
        model=ModelConfig(N=0, gridsize=gridsize, n_filters_scale=1),
        nepochs=1,
        batch_size=8,
        nphotons=1e6,
        n_groups=512,  # more than the positions: one group per position is used
        neighbor_count=6,
        output_dir=tmp_path / "unused",
    )


def test_run_cdi_example_trains_reconstructs_and_saves_like_the_ptychodus_client(
    npz_pair: tuple[Path, Path], tmp_path: Path
) -> None:
    """Ptychodus built-in train child: run_cdi_example -> model_manager.save(OUT) ->
    save_outputs(...). The test reconstruction is stitched on the test object's grid."""
    train_raw = components.load_data(npz_pair[0])
    test_raw = components.load_data(npz_pair[1])
    config = _config(tmp_path)
    amp, phase, results = components.run_cdi_example(train_raw, test_raw, config)
    assert amp is not None and phase is not None
    assert amp.shape == test_raw.objectGuess.shape == phase.shape
    assert np.all(np.isfinite(amp)) and np.abs(phase).max() <= np.pi + 1e-6
    assert results["model_bundle"].model_config.N == 64
    assert len(results["history"]["loss"]) == 1
    assert results["reconstructed_obj"].shape == (len(test_raw), 64, 64, 1)
    out = tmp_path / "OUT"
    archive = model_manager.save(out)
    components.save_outputs(amp, phase, results, str(out))
    assert archive == out / "wts.h5.zip"
    names = sorted(p.name for p in out.iterdir())
    assert names == [
        "history.csv",
        "reconstructed_amplitude.png",
        "reconstructed_phase.png",
        "reconstruction.npz",
        "wts.h5.zip",
    ]
    with np.load(out / "reconstruction.npz") as saved:
        np.testing.assert_allclose(np.abs(saved["object"]), amp, rtol=1e-5, atol=1e-6)
    assert not (tmp_path / "unused").exists()


def test_run_cdi_example_without_test_data_returns_no_images(
    npz_pair: tuple[Path, Path], tmp_path: Path
) -> None:
    """Without test data recon_amp/recon_phase are None and results still hold the model."""
    amp, phase, results = components.run_cdi_example(
        components.load_data(npz_pair[0]), None, _config(tmp_path, gridsize=1)
    )
    assert amp is None and phase is None
    assert results["model_bundle"].backend == "tensorflow"
    assert model_manager.last_trained() is results["model_bundle"]


def test_load_inference_bundle_sets_params_and_predicts_like_the_builtin_client(
    npz_pair: tuple[Path, Path], tmp_path: Path
) -> None:
    """Ptychodus built-in reconstruct child: load_inference_bundle(dir) sets
    params.cfg['intensity_scale'], then model.predict([X*s, local_offsets]) gives complex
    (B,N,N,1) patches that ptycho.tf_helper.reassemble_position stitches."""
    from ptycho.config.config import update_legacy_dict
    from ptycho.loader import load
    from ptycho.raw_data import RawData
    from ptycho.tf_helper import reassemble_position

    train_raw = components.load_data(npz_pair[0])
    bundle = components.train(train_raw, _config(tmp_path, gridsize=1))
    api.save_bundle(bundle, tmp_path / "model" / "wts.h5.zip")
    params.cfg.pop("intensity_scale", None)
    test = np.load(npz_pair[1])
    update_legacy_dict(params.cfg, InferenceConfig(model=ModelConfig(N=64, gridsize=1)))
    model, cfg = components.load_inference_bundle(tmp_path / "model")
    assert params.get("intensity_scale") == pytest.approx(bundle.intensity_scale)
    assert cfg["N"] == 64 and cfg["gridsize"] == 1 and cfg["probe"].shape == (64, 64, 1)
    counts = np.round(test["diff3d"].astype(np.float64) ** 2).astype(np.uint32)
    raw = RawData.from_coords_without_pc(
        test["xcoords"],
        test["ycoords"],
        counts,
        test["probeGuess"][None],
        np.zeros(len(counts), np.int64),
        objectGuess=test["objectGuess"],
    )
    grouped = raw.generate_grouped_data(64, K=7, nsamples=len(counts), gridsize=1, seed=0)
    container = load(lambda: grouped, raw.probeGuess, which=None, create_split=False)
    pred = model.predict(
        [container.X * params.get("intensity_scale"), container.local_offsets], verbose=0
    )
    assert pred.shape == (len(counts), 64, 64, 1) and np.iscomplexobj(pred)
    stitched = np.squeeze(reassemble_position(pred, container.global_offsets, M=20))
    assert stitched.ndim == 2 and np.iscomplexobj(stitched)


def test_api_train_save_load_reconstruct_cycle(npz_pair: tuple[Path, Path], tmp_path: Path) -> None:
    """Integration: train -> save_bundle -> load_bundle -> reconstruct (object on the
    objectGuess grid, probe returned) gives the same object as the in-memory model."""
    train_raw = components.load_data(npz_pair[0])
    test_raw = components.load_data(npz_pair[1])
    bundle = components.train(train_raw, _config(tmp_path))
    api.save_bundle(bundle, tmp_path / "wts.h5.zip")
    loaded = api.load_bundle(tmp_path / "wts.h5.zip")
    inference = InferenceConfig(
        model=loaded.model_config, neighbor_count=6, batch_size=5, probe_source="model"
    )
    recon = api.reconstruct(loaded, test_raw, inference)
    again = api.reconstruct(bundle, test_raw, inference)
    assert recon.on_object_grid and recon.object.shape == test_raw.objectGuess.shape
    np.testing.assert_array_equal(recon.object, again.object)
    np.testing.assert_array_equal(recon.probe, bundle.probe)
    # the scan's own probe (the default 'auto' for a fixed probe) is the model's up to rounding:
    # the simulator scales each scan's probe to its photon count, normalisation removes it
    auto = dataclasses.replace(inference, probe_source="auto")
    scan_probe = api.reconstruct(loaded, test_raw, auto)
    np.testing.assert_allclose(scan_probe.object, recon.object, rtol=1e-4, atol=1e-6)
    no_truth = components.load_data(npz_pair[1])
    no_truth.objectGuess = None
    canvas = api.reconstruct(loaded, no_truth, inference)
    assert not canvas.on_object_grid and canvas.object.ndim == 2


def test_reconstruct_rejects_data_of_another_pattern_size(trained_g1: Any) -> None:
    """Bad input: data whose N differs from the model's -> ValueError naming both sizes."""
    from ptycho.simulation import simulate_dataset

    raw = simulate_dataset(N=128, n_positions=6, nphotons=1e6, seed=0).raw
    with pytest.raises(ValueError, match="128x128.*N=64"):
        api.reconstruct(trained_g1, raw, InferenceConfig())


def test_gridsize_larger_than_the_data_allows_is_rejected(tmp_path: Path) -> None:
    """Bad input: gridsize 3 (9 per group) on a 6-position scan -> ValueError."""
    from ptycho.simulation import simulate_dataset

    raw = simulate_dataset(N=64, n_positions=6, nphotons=1e6, seed=0).raw
    with pytest.raises(ValueError, match="gridsize"):
        components.train(raw, _config(tmp_path, gridsize=3))


def test_workflow_module_imports_without_tensorflow() -> None:
    """D8: importing ptycho.workflows.components and ptycho.model_manager loads no TF."""
    import subprocess

    code = (
        "import sys, ptycho.workflows.components, ptycho.model_manager, ptycho.cli.train, "
        "ptycho.cli.infer; print('tensorflow' in sys.modules or 'keras' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert out.stdout.strip() == "False"
