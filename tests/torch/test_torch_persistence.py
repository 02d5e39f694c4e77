"""Archives (wts.h5.zip) and Lightning checkpoints of the PyTorch backend (design D6)."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from torch_factories import make_container, tiny_config

from ptycho.archive import read_archive, write_archive
from ptycho.backend import ModelBundle
from ptycho.config.config import ModelConfig, PyTorchExecutionConfig
from ptycho_torch import api
from ptycho_torch.persistence import find_model_file, load_bundle, load_checkpoint


@pytest.fixture(scope="module")
def trained(tiny_scan, tmp_path_factory) -> tuple[ModelBundle, Path]:
    """One epoch of training with checkpoints in a run directory."""
    run = tmp_path_factory.mktemp("run")
    bundle = api.train(
        make_container(tiny_scan, n_groups=16),
        tiny_config(nepochs=1, probe_trainable=True),
        execution=PyTorchExecutionConfig(logger_backend=None),
        output_dir=run,
    )
    return bundle, run


def test_archive_round_trip_gives_identical_predictions(trained, tiny_scan, tmp_path):
    """save_bundle -> load_bundle: same weights, probe, scale, configs, history; the manifest
    names the pytorch backend and the weights are safetensors (no pickle member)."""
    bundle, _ = trained
    path = tmp_path / "wts.h5.zip"
    api.save_bundle(bundle, path)
    contents = read_archive(path)
    assert contents.backend == "pytorch"
    assert contents.manifest["weights_file"] == "weights.safetensors"
    assert contents.manifest["N"] == 64 and contents.manifest["gridsize"] == 1
    assert contents.manifest["intensity_scale"] == pytest.approx(bundle.intensity_scale)
    assert sorted(zipfile.ZipFile(path).namelist()) == [
        "manifest.json",
        "probe.npy",
        "weights.safetensors",
    ]
    loaded = api.load_bundle(tmp_path)  # a directory means <dir>/wts.h5.zip
    assert loaded.model_config == bundle.model_config
    assert loaded.training_config.probe_trainable is True
    assert loaded.history == bundle.history
    np.testing.assert_array_equal(loaded.probe, bundle.probe)
    container = make_container(tiny_scan, n_groups=8)
    np.testing.assert_array_equal(
        api.predict_patches(loaded, container), api.predict_patches(bundle, container)
    )


def test_load_bundle_accepts_a_checkpoint_or_a_run_directory(trained, tiny_scan):
    """A .ckpt (weights only) or a run directory (checkpoints/last.ckpt when there is no
    archive) loads the same network."""
    bundle, run = trained
    assert find_model_file(run) == run / "checkpoints" / "last.ckpt"
    from_dir = load_bundle(run)
    from_ckpt = load_bundle(run / "checkpoints" / "last.ckpt")
    for key, value in bundle.network.state_dict().items():
        assert torch.equal(from_dir.network.state_dict()[key], value)
        assert torch.equal(from_ckpt.network.state_dict()[key], value)
    assert from_ckpt.intensity_scale == pytest.approx(bundle.intensity_scale)


def test_model_file_search_order(tmp_path):
    """Run directory search: wts.h5.zip, then checkpoints/last.ckpt, then best*.ckpt."""
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / "best-epoch003.ckpt").write_bytes(b"x")
    assert find_model_file(tmp_path).name == "best-epoch003.ckpt"
    (tmp_path / "checkpoints" / "last.ckpt").write_bytes(b"x")
    assert find_model_file(tmp_path).name == "last.ckpt"
    (tmp_path / "wts.h5.zip").write_bytes(b"x")
    assert find_model_file(tmp_path).name == "wts.h5.zip"
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match="tried wts.h5.zip, checkpoints/last.ckpt"):
        find_model_file(empty)
    with pytest.raises(FileNotFoundError, match="model path not found"):
        find_model_file(tmp_path / "missing")


def test_truncated_archive_and_checkpoint_are_clear_errors(trained, tmp_path):
    bundle, run = trained
    archive = tmp_path / "wts.h5.zip"
    api.save_bundle(bundle, archive)
    data = archive.read_bytes()
    broken = tmp_path / "broken.h5.zip"
    broken.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="corrupt or truncated"):
        load_bundle(broken)
    ckpt = (run / "checkpoints" / "last.ckpt").read_bytes()
    truncated = tmp_path / "truncated.ckpt"
    truncated.write_bytes(ckpt[: len(ckpt) // 3])
    with pytest.raises(ValueError, match="truncated or corrupt"):
        load_checkpoint(truncated)


def test_checkpoint_of_another_configuration_lists_the_differing_fields(trained):
    _, run = trained
    requested = ModelConfig(N=64, gridsize=2, n_filters_scale=1, probe_big=False)
    with pytest.raises(ValueError, match="gridsize: checkpoint 1, requested 2.*probe_big"):
        load_checkpoint(run / "checkpoints" / "last.ckpt", model_config=requested)


def test_archive_whose_weights_do_not_fit_its_config_lists_the_mismatches(trained, tmp_path):
    """A manifest edited to another architecture: the strict load names keys and shapes."""
    bundle, _ = trained
    path = tmp_path / "wts.h5.zip"
    api.save_bundle(bundle, path)
    contents = read_archive(path)
    manifest = dict(contents.manifest)
    manifest["model_config"] = dict(manifest["model_config"], n_filters_scale=2)
    write_archive(path, manifest, contents.files)
    with pytest.raises(ValueError, match="do not fit the configured network.*shape mismatches"):
        load_bundle(path)
    assert json.loads(zipfile.ZipFile(path).read("manifest.json"))["backend"] == "pytorch"


def test_canonical_weights_round_trip_through_the_conversion_hooks(trained, tiny_scan):
    """weights_of / bundle_from_weights (used by ptycho.weights for cross-backend archives)
    reproduce the network exactly."""
    bundle, _ = trained
    weights = api.weights_of(bundle)
    assert weights["unet_down1_conv1/kernel"].shape == (3, 3, 2, 16)  # Re, Im of 1 pattern; s_f 1
    rebuilt = api.bundle_from_weights(
        bundle.model_config, bundle.training_config, weights, bundle.probe, bundle.intensity_scale
    )
    container = make_container(tiny_scan, n_groups=8)
    np.testing.assert_array_equal(
        api.predict_patches(rebuilt, container), api.predict_patches(bundle, container)
    )
