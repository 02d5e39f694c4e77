"""The wts.h5.zip archive of the TF backend (design D6) and ptycho.model_manager.

The archive failure modes every backend shares are in tests/contract/test_persistence_contract.py.
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ptycho import model_manager
from ptycho.archive import ARCHIVE_FORMAT_VERSION, read_archive
from ptycho.tf import api


@pytest.fixture(scope="module")
def saved(trained_g1: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The trained gridsize-1 bundle saved once as <dir>/wts.h5.zip."""
    directory = tmp_path_factory.mktemp("archive")
    api.save_bundle(trained_g1, directory / "wts.h5.zip")
    return directory / "wts.h5.zip"


def test_round_trip_restores_weights_probe_scale_and_predictions(
    trained_g1: Any, saved: Path, container_g1: Any
) -> None:
    """D6: save -> load gives the same weights (incl. trained probe and scale), configs,
    history and bit-identical predictions."""
    from ptycho.physics.forward import intensity_scale
    from ptycho.probe import normalize_probe

    # the trained probe and scale moved away from their initial values ...
    assert not np.allclose(trained_g1.probe, normalize_probe(container_g1.probe), atol=1e-6)
    assert trained_g1.intensity_scale != pytest.approx(intensity_scale(1e6, 64), rel=1e-6)
    # ... and survive the round trip exactly
    loaded = api.load_bundle(saved)
    assert loaded.backend == "tensorflow"
    assert loaded.model_config == trained_g1.model_config
    assert loaded.training_config == trained_g1.training_config
    assert loaded.history == trained_g1.history
    assert loaded.intensity_scale == trained_g1.intensity_scale
    np.testing.assert_array_equal(loaded.probe, trained_g1.probe)
    for a, b in zip(loaded.network.get_weights(), trained_g1.network.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(
        api.predict_patches(loaded, container_g1), api.predict_patches(trained_g1, container_g1)
    )


def test_archive_holds_json_manifest_keras_weights_and_probe_only(saved: Path) -> None:
    """D6: manifest.json + weights.weights.h5 + probe.npy; no pickles; manifest fields."""
    with zipfile.ZipFile(saved) as archive:
        names = set(archive.namelist())
        manifest = json.loads(archive.read("manifest.json"))
        probe = np.load(io.BytesIO(archive.read("probe.npy")), allow_pickle=False)
    assert names == {"manifest.json", "weights.weights.h5", "probe.npy"}
    assert manifest["backend"] == "tensorflow"
    assert manifest["format_version"] == ARCHIVE_FORMAT_VERSION
    assert manifest["model_type"] == "pinn" and manifest["N"] == 64 and manifest["gridsize"] == 1
    assert manifest["training_config"]["probe_trainable"] is True
    assert manifest["training_summary"]["epochs"] == 2
    assert probe.shape == (64, 64) and probe.dtype == np.complex64
    assert manifest["weight_names"]


def test_model_manager_saves_the_last_trained_model(
    trained_g1: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """model_manager.save(out_dir) -> out_dir/wts.h5.zip of the last trained bundle; without
    one it raises; save_model/load round trip by the archive's backend."""
    monkeypatch.setattr(model_manager, "_last_trained", None)
    with pytest.raises(RuntimeError, match="no model has been trained"):
        model_manager.save(tmp_path / "none")
    model_manager.set_last_trained(trained_g1)
    path = model_manager.save(tmp_path / "out")
    assert path == tmp_path / "out" / "wts.h5.zip" and path.is_file()
    assert read_archive(path).backend == "tensorflow"
    explicit = model_manager.save_model(trained_g1, tmp_path / "explicit.h5.zip")
    loaded = model_manager.load(explicit)
    assert loaded.backend == "tensorflow"
    np.testing.assert_array_equal(loaded.probe, trained_g1.probe)
