"""Workflow API (ptycho_torch.workflows.components), dispatcher routing and import hygiene."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from torch_factories import tiny_config

from ptycho import params
from ptycho_torch.workflows import components


def test_run_cdi_example_torch_returns_the_tensorflow_structures(tiny_scan):
    """(recon_amp, recon_phase, results) with the same keys as the TF run_cdi_example; the
    stitched object lies on the test object's grid; the bundle becomes the last trained model."""
    from ptycho import model_manager

    config = tiny_config(nepochs=1, n_groups=16)
    amp, phase, results = components.run_cdi_example_torch(tiny_scan.raw, tiny_scan.raw, config)
    assert amp.shape == tiny_scan.object.shape and amp.dtype == np.float32
    assert phase.shape == amp.shape
    for key in (
        "history",
        "history_epochs",
        "model_bundle",
        "model_instance",
        "diffraction_to_obj",
        "intensity_scale",
        "train_container",
        "test_container",
        "reconstructed_obj",
        "global_offsets",
        "obj_tensor_full",
        "recon_amp",
        "recon_phase",
    ):
        assert key in results, key
    assert results["history_epochs"] == [1]
    assert results["reconstructed_obj"].shape == (len(tiny_scan.raw), 64, 64, 1)
    assert model_manager.last_trained() is results["model_bundle"]
    assert params.cfg["N"] == 64 and params.cfg["backend"] == "pytorch"


def test_legacy_dict_is_updated_before_any_data_loading(tiny_scan, monkeypatch):
    """CONFIG-001: update_legacy_dict(params.cfg, config) runs before grouping; the execution
    config is never written there (CONFIG-002)."""
    import ptycho.containers as core_components
    from ptycho.config.config import PyTorchExecutionConfig

    events = []
    original = core_components.create_ptycho_data_container

    def spy(*args, **kwargs):
        events.append(("group", params.cfg.get("nepochs")))
        raise RuntimeError("stop after the first data loading")

    monkeypatch.setattr(core_components, "create_ptycho_data_container", spy)
    params.cfg.pop("nepochs", None)
    with pytest.raises(RuntimeError, match="stop after"):
        components.train_cdi_model_torch(
            tiny_scan.raw, None, tiny_config(nepochs=3), PyTorchExecutionConfig(num_workers=0)
        )
    assert events == [("group", 3)]
    assert "accelerator" not in params.cfg and "logger_backend" not in params.cfg
    assert original is not spy


def test_load_inference_bundle_torch_sets_the_legacy_parameters(tiny_scan, tmp_path):
    """(model, params dict): model([X * s, offsets]) -> (B, N, N, 1) complex; params.cfg holds
    the intensity scale, N, gridsize and the probe, as the TF load_inference_bundle."""
    from ptycho.loader import container_from_raw
    from ptycho_torch import api

    bundle = components.train_torch(tiny_scan.raw, tiny_config(nepochs=1, n_groups=16))
    api.save_bundle(bundle, tmp_path / "wts.h5.zip")
    model, cfg = components.load_inference_bundle_torch(tmp_path)
    assert cfg["intensity_scale"] == pytest.approx(bundle.intensity_scale)
    assert (cfg["N"], cfg["gridsize"]) == (64, 1)
    assert cfg["probe"].shape == (64, 64, 1)
    container = container_from_raw(tiny_scan.raw, 64, n_groups=8, seed=0)
    out = model.predict([container.X * cfg["intensity_scale"], container.coords_nominal])
    np.testing.assert_allclose(out, api.predict_patches(bundle, container), atol=1e-6)
    net, _ = components.load_inference_bundle_torch(tmp_path, model_name="autoencoder")
    assert net is not model
    with pytest.raises(KeyError, match="unknown model name"):
        components.load_inference_bundle_torch(tmp_path, model_name="encoder")


def test_dispatcher_routes_pytorch_configs_to_this_backend(tiny_scan):
    """ptycho.workflows.backend_selector with backend='pytorch' runs the torch workflow."""
    from ptycho.workflows.backend_selector import run_cdi_example_with_backend

    config = tiny_config(nepochs=1, n_groups=16)
    amp, _, results = run_cdi_example_with_backend(tiny_scan.raw, tiny_scan.raw, config)
    assert results["backend"] == "pytorch"
    assert results["model_bundle"].backend == "pytorch"
    assert amp.shape == tiny_scan.object.shape


def test_the_backend_never_imports_tensorflow(subprocess_env):
    """D8: importing every ptycho_torch module (and running a forward pass) loads no
    tensorflow/keras; importing the package alone loads no torch."""
    code = """
import sys
import ptycho_torch
assert 'torch' not in sys.modules, 'import ptycho_torch loaded torch'
import ptycho_torch.api, ptycho_torch.train, ptycho_torch.inference, ptycho_torch.persistence
import ptycho_torch.prediction, ptycho_torch.network, ptycho_torch.training
import ptycho_torch.workflows.components, ptycho_torch.datamodule, ptycho_torch.config_bridge
import torch
from ptycho.config.config import ModelConfig
from ptycho_torch.network import PtychoPINNNet
PtychoPINNNet(ModelConfig(n_filters_scale=1))(torch.rand(1, 1, 64, 64), torch.zeros(1, 1, 2, 1))
bad = [m for m in ('tensorflow', 'keras') if m in sys.modules]
assert not bad, bad
print('ok')
"""
    out = subprocess.run(
        [sys.executable, "-c", code], env=subprocess_env, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "ok"


def test_missing_torch_fails_fast_with_the_install_command(monkeypatch):
    """Issue 4 item 6: selecting this backend without torch/lightning -> RuntimeError with
    'PyTorch backend selected' and the pip command."""
    import importlib.util

    import ptycho_torch

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "lightning" else real(name)
    )
    with pytest.raises(
        RuntimeError, match=r"PyTorch backend selected.*pip install 'ptychopinn\[torch\]'"
    ):
        ptycho_torch.require_torch()
    assert ptycho_torch.torch_available() is False
