"""Cross-backend archives (issue 5 item 2): TF -> torch -> TF and torch -> TF -> torch are exact.

Conversions only rename and transpose float32 arrays, so a round trip must give back bit-identical
weights and therefore bit-identical outputs; the other backend's outputs agree to float32
precision (same-weights tolerance 1e-4 relative).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("tensorflow")
pytest.importorskip("torch")
pytest.importorskip("lightning")

from ptycho.archive import read_archive
from ptycho.config.config import ModelConfig, TrainingConfig
from ptycho.loader import PtychoDataContainer, container_from_raw
from ptycho.probe import normalize_probe
from ptycho.simulation import simulate_dataset
from ptycho.weights import read_archive_weights
from ptycho.workflows.backend_selector import (
    convert_bundle_to_backend,
    get_backend,
    load_inference_bundle_with_backend,
)

pytestmark = pytest.mark.integration

MODEL = ModelConfig(N=64, gridsize=2, n_filters_scale=1, probe_mask=True)


@pytest.fixture(scope="module")
def container() -> PtychoDataContainer:
    raw = simulate_dataset(N=64, n_positions=20, nphotons=1e6, seed=11).raw
    return container_from_raw(raw, 64, gridsize=2, n_groups=6, K=4, seed=0)


def _initial_bundle(backend: str, container: PtychoDataContainer) -> Any:
    """An untrained model of ``backend``: random weights drawn by that backend's initialisers."""
    training = TrainingConfig(model=MODEL, backend=backend, seed=5, probe_trainable=True)
    probe = normalize_probe(container.probe, MODEL.probe_scale)
    if backend == "tensorflow":
        from ptycho.backend import ModelBundle
        from ptycho.tf.network import build_model

        net = build_model(MODEL, training, probe, 30.0, seed=5)
        return ModelBundle(backend, MODEL, training, net.intensity_scale, net.probe, {}, net)
    import torch

    from ptycho.backend import ModelBundle
    from ptycho_torch.network import PtychoPINNNet

    with torch.random.fork_rng():
        torch.manual_seed(5)
        net = PtychoPINNNet(MODEL, probe=probe, intensity_scale=30.0, probe_trainable=True)
    scale = float(net.intensity_scale.detach())
    return ModelBundle(
        backend, MODEL, training, scale, net.probe.detach().numpy(), {"loss": [1.5]}, net.eval()
    )


def _round_trip(start: str, container: PtychoDataContainer, tmp_path: Path) -> dict[str, Any]:
    other = "pytorch" if start == "tensorflow" else "tensorflow"
    first = _initial_bundle(start, container)
    get_backend(start).save_bundle(first, tmp_path / "a.h5.zip")
    middle = load_inference_bundle_with_backend(tmp_path / "a.h5.zip", backend=other)
    get_backend(other).save_bundle(middle, tmp_path / "b.h5.zip")
    last = load_inference_bundle_with_backend(tmp_path / "b.h5.zip", backend=start)
    get_backend(start).save_bundle(last, tmp_path / "c.h5.zip")
    return {"first": first, "middle": middle, "last": last, "other": other}


@pytest.mark.parametrize("start", ["tensorflow", "pytorch"])
def test_round_trip_through_the_other_backend_is_bit_identical(
    start: str, container: PtychoDataContainer, tmp_path: Path
) -> None:
    """Issue 5: X -> other -> X through archives gives identical weights and identical outputs;
    the other backend's object patches agree to <= 1e-4 relative."""
    trip = _round_trip(start, container, tmp_path)
    first, middle, last = trip["first"], trip["middle"], trip["last"]
    assert (first.backend, middle.backend, last.backend) == (start, trip["other"], start)
    weights = [read_archive_weights(read_archive(tmp_path / f"{n}.h5.zip")) for n in "abc"]
    assert set(weights[0]) == set(weights[1]) == set(weights[2])
    for name in weights[0]:
        np.testing.assert_array_equal(weights[2][name], weights[0][name], err_msg=name)
        np.testing.assert_array_equal(weights[1][name], weights[0][name], err_msg=name)
    api = get_backend(start)
    original = api.predict_patches(first, container)
    again = api.predict_patches(last, container)
    np.testing.assert_array_equal(again, original)
    converted = get_backend(trip["other"]).predict_patches(middle, container)
    assert np.max(np.abs(converted - original)) <= 1e-4 * np.max(np.abs(original))
    np.testing.assert_array_equal(last.probe, first.probe)
    assert last.intensity_scale == pytest.approx(first.intensity_scale, rel=1e-7)
    assert last.model_config == first.model_config
    assert last.training_config.probe_trainable is True
    assert last.training_config.backend == start


def test_in_memory_conversion_matches_the_archive_route(
    container: PtychoDataContainer, tmp_path: Path
) -> None:
    """Issue 5: convert_bundle_to_backend gives the same model as save + converting load."""
    bundle = _initial_bundle("tensorflow", container)
    in_memory = convert_bundle_to_backend(bundle, "pytorch")
    assert convert_bundle_to_backend(bundle, "tensorflow") is bundle
    get_backend("tensorflow").save_bundle(bundle, tmp_path / "tf.h5.zip")
    via_archive = load_inference_bundle_with_backend(tmp_path / "tf.h5.zip", backend="pytorch")
    api = get_backend("pytorch")
    np.testing.assert_array_equal(
        api.predict_patches(in_memory, container), api.predict_patches(via_archive, container)
    )
