"""D6: the shared wts.h5.zip archive (manifest, atomic writes, validation, no pickle)."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

from ptycho import archive
from ptycho.backend import ModelBundle
from ptycho.config.config import ModelConfig, TrainingConfig


def _bundle(backend: str = "tensorflow") -> ModelBundle:
    model = ModelConfig(N=64, gridsize=2)
    probe = (np.arange(64 * 64).reshape(64, 64) * (1 + 1j)).astype(np.complex64)
    return ModelBundle(
        backend=backend,
        model_config=model,
        training_config=TrainingConfig(model=model, nepochs=3),
        intensity_scale=123.5,
        probe=probe,
        history={"loss": [3.0, 2.0, 1.5], "val_loss": [3.5, 2.5, 2.0]},
    )


def _write(tmp_path: Path, backend: str = "tensorflow") -> Path:
    bundle = _bundle(backend)
    manifest = archive.build_manifest(bundle, weights_file="weights.bin")
    files = {
        "weights.bin": b"\x00\x01weights",
        archive.PROBE_NAME: archive.probe_to_bytes(bundle.probe),
    }
    return archive.write_archive(tmp_path / "wts.h5.zip", manifest, files)


def test_archive_round_trip_keeps_manifest_probe_and_weights(tmp_path: Path) -> None:
    """D6: manifest fields, probe and weights come back unchanged."""
    path = _write(tmp_path)
    contents = archive.read_archive(path)
    manifest = contents.manifest
    assert manifest["format_version"] == archive.ARCHIVE_FORMAT_VERSION
    assert manifest["backend"] == "tensorflow"
    assert manifest["N"] == 64 and manifest["gridsize"] == 2
    assert manifest["intensity_scale"] == pytest.approx(123.5)
    assert manifest["model_config"]["gridsize"] == 2
    assert manifest["training_config"]["nepochs"] == 3
    assert manifest["training_summary"] == {"epochs": 3, "final_loss": 1.5, "final_val_loss": 2.0}
    assert contents.weights == b"\x00\x01weights"
    np.testing.assert_array_equal(contents.probe, _bundle().probe)


def test_archive_is_json_and_npy_only(tmp_path: Path) -> None:
    """D6: no pickle anywhere: the manifest parses as JSON, the probe loads without pickle."""
    path = _write(tmp_path)
    with zipfile.ZipFile(path) as zf:
        assert sorted(zf.namelist()) == ["manifest.json", "probe.npy", "weights.bin"]
        json.loads(zf.read("manifest.json"))


def test_directory_and_wts_h5_names_resolve_to_the_archive(tmp_path: Path) -> None:
    """D6: a directory or the legacy 'wts.h5' name both find wts.h5.zip."""
    path = _write(tmp_path)
    assert archive.resolve_archive_path(tmp_path) == path
    assert archive.resolve_archive_path(tmp_path / "wts.h5") == path


def test_missing_archive_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no model archive found"):
        archive.read_archive(tmp_path / "nope.zip")


def test_truncated_archive_is_a_clear_error(tmp_path: Path) -> None:
    """Bad input: a truncated file says corrupt or truncated."""
    path = _write(tmp_path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="corrupt or truncated"):
        archive.read_archive(path)


def test_archive_without_manifest_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "wts.h5.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("manifest.dill", b"pickle")
    with pytest.raises(ValueError, match="not a ptychopinn model archive"):
        archive.read_archive(path)


def test_unknown_format_version_is_rejected(tmp_path: Path) -> None:
    path = _write(tmp_path)
    contents = archive.read_archive(path)
    manifest = dict(contents.manifest, format_version=99)
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("manifest.json", json.dumps(manifest))
        for name, data in contents.files.items():
            zf.writestr(name, data)
    with pytest.raises(ValueError, match="format version 99 is not supported"):
        archive.read_archive(path)


def test_other_backend_archive_names_both_backends(tmp_path: Path) -> None:
    """D6/D7: loading a pytorch archive as tensorflow names both backends."""
    path = _write(tmp_path, backend="pytorch")
    with pytest.raises(archive.BackendMismatchError, match="pytorch backend.*tensorflow backend"):
        archive.read_archive(path, expected_backend="tensorflow")


def test_failed_write_leaves_no_file_behind(tmp_path: Path) -> None:
    """D6: a write that fails validation creates nothing (atomic)."""
    manifest = archive.build_manifest(_bundle(), weights_file="weights.bin")
    with pytest.raises(ValueError, match="was not given"):
        archive.write_archive(tmp_path / "wts.h5.zip", manifest, {archive.PROBE_NAME: b""})
    assert list(tmp_path.iterdir()) == []


def test_overwrite_is_atomic_and_leaves_no_temp_files(tmp_path: Path) -> None:
    _write(tmp_path)
    _write(tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == ["wts.h5.zip"]


def test_model_bundle_reports_size_and_epochs() -> None:
    bundle = _bundle()
    assert (bundle.N, bundle.gridsize, bundle.epochs_trained) == (64, 2, 3)
