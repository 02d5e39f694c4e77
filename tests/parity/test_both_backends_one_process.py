"""Both backends in one process (issue 5 item 4, design D8): no crash, no cross-talk.

A Ptychodus GUI user trains with TensorFlow, switches to PyTorch, trains again and reconstructs
with each model, all in one Python process. Tiny data, 1 epoch, ``n_filters_scale=1``.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("tensorflow")
pytest.importorskip("torch")
pytest.importorskip("lightning")

from ptycho import params
from ptycho.config.config import InferenceConfig, ModelConfig, TrainingConfig
from ptycho.simulation import simulate_train_test
from ptycho.workflows.backend_selector import (
    convert_bundle_to_backend,
    get_backend,
    load_inference_bundle_with_backend,
    reconstruct_with_backend,
    train_with_backend,
)

pytestmark = pytest.mark.integration


def test_train_tensorflow_then_pytorch_then_reconstruct_with_each(tmp_path: Path) -> None:
    """D8 / issue 5: TF training, then torch training, then reconstruction with both models in
    one process; the TF model is untouched by torch work and vice versa; starting both from the
    same weights on the same single batch, the two reconstructions agree closely."""
    train_ds, test_ds = simulate_train_test(N=64, n_train=24, n_test=16, nphotons=1e6, seed=5)
    model = ModelConfig(N=64, gridsize=1, n_filters_scale=1)
    config = TrainingConfig(
        model=model,
        nepochs=1,
        batch_size=32,
        n_groups=24,
        nphotons=1e6,
        seed=3,
        validation_fraction=0.0,
        output_dir=tmp_path / "tf",
    )
    inference = InferenceConfig(model=model, seed=0, batch_size=16)

    tf_bundle = train_with_backend(train_ds.raw, config)
    assert tf_bundle.backend == "tensorflow" and tf_bundle.epochs_trained == 1
    tf_before = reconstruct_with_backend(tf_bundle, test_ds.raw, inference)
    assert params.cfg["backend"] == "tensorflow"

    # PyTorch starts from the TF model *before* TF continues, so both see the same start
    torch_start = convert_bundle_to_backend(tf_bundle, "pytorch")
    torch_config = dataclasses.replace(config, backend="pytorch", output_dir=tmp_path / "torch")
    torch_bundle = train_with_backend(train_ds.raw, torch_config, initial=torch_start)
    assert torch_bundle.backend == "pytorch" and torch_bundle.epochs_trained == 1
    assert params.cfg["backend"] == "pytorch"

    # no cross-talk: the TF model predicts exactly as before torch trained in this process
    tf_after = reconstruct_with_backend(tf_bundle, test_ds.raw, inference)
    np.testing.assert_array_equal(tf_after.object, tf_before.object)
    torch_recon = reconstruct_with_backend(torch_bundle, test_ds.raw, inference)
    assert np.all(np.isfinite(torch_recon.object))

    # continue TF from the same start for one epoch: the two trained models agree closely
    tf_start = convert_bundle_to_backend(torch_start, "tensorflow")
    tf_trained = train_with_backend(
        train_ds.raw, dataclasses.replace(config, output_dir=tmp_path / "tf2"), initial=tf_start
    )
    tf_recon = reconstruct_with_backend(tf_trained, test_ds.raw, inference)
    scale = float(np.abs(tf_recon.object).max())
    assert scale > 0
    assert float(np.abs(torch_recon.object - tf_recon.object).max()) <= 1e-2 * scale
    torch_again = reconstruct_with_backend(torch_bundle, test_ds.raw, inference)
    np.testing.assert_array_equal(torch_again.object, torch_recon.object)

    # each backend loads the other's archive in the same process
    get_backend("tensorflow").save_bundle(tf_trained, tmp_path / "tf.h5.zip")
    get_backend("pytorch").save_bundle(torch_bundle, tmp_path / "torch.h5.zip")
    as_torch = load_inference_bundle_with_backend(tmp_path / "tf.h5.zip", backend="pytorch")
    as_tf = load_inference_bundle_with_backend(tmp_path / "torch.h5.zip", backend="tensorflow")
    np.testing.assert_allclose(
        reconstruct_with_backend(as_torch, test_ds.raw, inference).object,
        tf_recon.object,
        atol=1e-4 * scale,
    )
    np.testing.assert_allclose(
        reconstruct_with_backend(as_tf, test_ds.raw, inference).object,
        torch_recon.object,
        atol=1e-4 * scale,
    )
