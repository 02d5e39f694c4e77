"""Physics refinement after stitching (ARCH-013) is the same in both backends.

``InferenceConfig.refine_iterations`` runs :func:`ptycho.refine.refine_object` on the stitched
network prediction inside the shared :func:`ptycho.inference.reconstruct_scan`, so the same
weights give the same refined object in TensorFlow and PyTorch, on the object grid and on the
scan-centred canvas (a scan without ``objectGuess``). Tiny data, a 1-epoch model.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pytest

pytest.importorskip("tensorflow")
pytest.importorskip("torch")
pytest.importorskip("lightning")

from ptycho.config.config import InferenceConfig, ModelConfig, TrainingConfig
from ptycho.simulation import simulate_train_test
from ptycho.workflows.backend_selector import (
    convert_bundle_to_backend,
    reconstruct_with_backend,
    train_with_backend,
)

pytestmark = pytest.mark.integration

ITERATIONS = 15

#: (TF bundle, the same weights as a PyTorch bundle, the test dataset, the inference config)
Setup = tuple[Any, Any, Any, InferenceConfig]


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Setup:
    train_ds, test_ds = simulate_train_test(N=64, n_train=24, n_test=49, nphotons=1e6, seed=5)
    model = ModelConfig(N=64, gridsize=1, n_filters_scale=1)
    config = TrainingConfig(
        model=model,
        nepochs=1,
        batch_size=32,
        n_groups=24,
        nphotons=1e6,
        seed=3,
        validation_fraction=0.0,
        output_dir=tmp_path_factory.mktemp("tf"),
    )
    tf_bundle = train_with_backend(train_ds.raw, config)
    torch_bundle = convert_bundle_to_backend(tf_bundle, "pytorch")
    inference = InferenceConfig(model=model, seed=0, refine_iterations=ITERATIONS)
    return tf_bundle, torch_bundle, test_ds, inference


def test_refinement_lowers_the_amplitude_error_and_keeps_the_network_prediction(
    setup: Setup,
) -> None:
    tf_bundle, _, test_ds, inference = setup
    recon = reconstruct_with_backend(tf_bundle, test_ds.raw, inference)
    plain = reconstruct_with_backend(
        tf_bundle, test_ds.raw, dataclasses.replace(inference, refine_iterations=0)
    )
    assert recon.network_object is not None and plain.network_object is None
    assert plain.refinement_errors == []
    np.testing.assert_array_equal(recon.network_object, plain.object)
    assert len(recon.refinement_errors) == ITERATIONS + 1
    assert recon.refinement_errors[-1] < 0.5 * recon.refinement_errors[0]
    # the probe was not refined: the model's probe comes back unchanged
    np.testing.assert_allclose(recon.probe, tf_bundle.probe, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("on_object_grid", [True, False])
def test_both_backends_refine_to_the_same_object(setup: Setup, on_object_grid: bool) -> None:
    """Same weights, same scan: the refined objects agree within 1e-3 of their scale (the
    network predictions agree within float32 tolerance; refinement is shared NumPy)."""
    tf_bundle, torch_bundle, test_ds, inference = setup
    raw = test_ds.raw
    if not on_object_grid:
        raw = _without_truth(raw)
    tf_recon = reconstruct_with_backend(tf_bundle, raw, inference)
    torch_recon = reconstruct_with_backend(torch_bundle, raw, inference)
    assert tf_recon.on_object_grid is on_object_grid
    scale = float(np.abs(tf_recon.object).max())
    np.testing.assert_allclose(torch_recon.object, tf_recon.object, atol=1e-3 * scale)
    # on the scan-centred canvas the positions are mapped with the canvas origin: a wrong
    # mapping would not lower the error this much
    assert tf_recon.refinement_errors[-1] < 0.5 * tf_recon.refinement_errors[0]


def test_probe_refinement_returns_a_changed_probe_in_the_model_scale(setup: Setup) -> None:
    tf_bundle, _, test_ds, inference = setup
    recon = reconstruct_with_backend(
        tf_bundle, test_ds.raw, dataclasses.replace(inference, refine_probe=True)
    )
    assert not np.allclose(recon.probe, tf_bundle.probe)
    ratio = np.abs(recon.probe).max() / np.abs(tf_bundle.probe).max()
    assert 0.5 < ratio < 2.0, ratio


def _without_truth(raw: Any) -> Any:
    from ptycho.raw_data import RawData

    return RawData(
        raw.xcoords,
        raw.ycoords,
        raw.xcoords_start,
        raw.ycoords_start,
        raw.diff3d,
        raw.probe_modes,
        raw.scan_index,
    )
