"""Every registered backend saves, loads and refuses archives alike (issue 12, item 5; D6).

Each backend builds its bundle from the same seeded canonical weights
(``BackendAPI.bundle_from_weights``), so no training is needed; the archive failure modes are
the ones ``specs/hardening.md`` promises for every loader.
"""

from __future__ import annotations

import dataclasses
import io
import json
import re
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ptycho.archive import ARCHIVE_FORMAT_VERSION, BackendMismatchError
from ptycho.backend import ModelBundle
from ptycho.config.config import TrainingConfig
from ptycho.loader import PtychoDataContainer, container_from_raw
from ptycho.simulation import simulate_dataset
from ptycho.workflows.registry import backend_names
from tests.contract.backends import CONTRACT_MODEL, Backend, random_weights


@pytest.fixture(scope="module")
def container() -> PtychoDataContainer:
    """A tiny gridsize-2 scan of the contract network's N."""
    dataset = simulate_dataset(N=CONTRACT_MODEL.N, n_positions=24, nphotons=1e6, seed=11)
    return container_from_raw(dataset.raw, CONTRACT_MODEL.N, gridsize=2, n_groups=8, seed=0)


@pytest.fixture(scope="module")
def bundle(backend: Backend) -> ModelBundle:
    weights = random_weights(CONTRACT_MODEL, seed=0)
    training = TrainingConfig(model=CONTRACT_MODEL, nepochs=1, backend=backend.name)
    probe = weights["probe_real"] + 1j * weights["probe_imag"]
    return backend.api.bundle_from_weights(CONTRACT_MODEL, training, weights, probe, 100.0)


@pytest.fixture(scope="module")
def saved(backend: Backend, bundle: ModelBundle, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundle saved once into a fresh directory (``<dir>/wts.h5.zip``)."""
    directory = tmp_path_factory.mktemp(f"archive_{backend.name}")
    backend.api.save_bundle(bundle, directory)
    return directory / "wts.h5.zip"


def _rewrite(
    src: Path,
    dst: Path,
    edit_manifest: Callable[[dict[str, Any]], None] | None = None,
    replace: dict[str, bytes] | None = None,
) -> Path:
    """Copy an archive, optionally editing its manifest or replacing members."""
    with zipfile.ZipFile(src) as zin:
        members = {name: zin.read(name) for name in zin.namelist()}
    if edit_manifest is not None:
        manifest = json.loads(members["manifest.json"])
        edit_manifest(manifest)
        members["manifest.json"] = json.dumps(manifest).encode()
    members.update(replace or {})
    with zipfile.ZipFile(dst, "w") as zout:
        for name, data in members.items():
            zout.writestr(name, data)
    return dst


def test_bundle_from_weights_gives_back_the_same_canonical_weights(
    backend: Backend, bundle: ModelBundle
) -> None:
    """``weights_of(bundle_from_weights(w)) == w`` under canonical names (ptycho.weights)."""
    weights = random_weights(CONTRACT_MODEL, seed=0)
    assert bundle.backend == backend.name
    back = backend.api.weights_of(bundle)
    assert set(back) == set(weights)
    for name, value in weights.items():
        np.testing.assert_allclose(back[name], value, rtol=1e-6, atol=1e-7, err_msg=name)


def test_bundle_from_weights_names_a_missing_weight(backend: Backend) -> None:
    weights = random_weights(CONTRACT_MODEL, seed=0)
    name = sorted(k for k in weights if k.endswith("/kernel"))[0]
    del weights[name]
    probe = np.ones((CONTRACT_MODEL.N, CONTRACT_MODEL.N), np.complex64)
    with pytest.raises(ValueError, match=name.split("/")[0]):
        backend.api.bundle_from_weights(CONTRACT_MODEL, None, weights, probe, 1.0)


def test_save_to_a_directory_writes_one_archive_of_known_members(
    backend: Backend, saved: Path
) -> None:
    """D6: <dir>/wts.h5.zip and nothing else (atomic, no temporaries); the archive holds the
    JSON manifest, the weights member it names and probe.npy, and no pickle."""
    assert sorted(p.name for p in saved.parent.iterdir()) == ["wts.h5.zip"]
    with zipfile.ZipFile(saved) as archive:
        names = set(archive.namelist())
        manifest = json.loads(archive.read("manifest.json"))
        probe = np.load(io.BytesIO(archive.read("probe.npy")), allow_pickle=False)
    assert names == {"manifest.json", manifest["weights_file"], "probe.npy"}
    assert manifest["backend"] == backend.name
    assert manifest["format_version"] == ARCHIVE_FORMAT_VERSION
    assert manifest["N"] == CONTRACT_MODEL.N and manifest["gridsize"] == CONTRACT_MODEL.gridsize
    assert probe.shape == (CONTRACT_MODEL.N, CONTRACT_MODEL.N) and probe.dtype == np.complex64


def test_round_trip_gives_identical_predictions(
    backend: Backend, bundle: ModelBundle, saved: Path, container: PtychoDataContainer
) -> None:
    """save -> load: the same configs, probe, scale and bit-identical predictions."""
    loaded = backend.api.load_bundle(saved)
    assert loaded.backend == backend.name
    assert loaded.model_config == bundle.model_config
    assert loaded.intensity_scale == pytest.approx(bundle.intensity_scale, rel=1e-6)
    np.testing.assert_array_equal(loaded.probe, bundle.probe)
    np.testing.assert_array_equal(
        backend.api.predict_patches(loaded, container),
        backend.api.predict_patches(bundle, container),
    )


def test_unwritable_destination_fails_without_writing(
    backend: Backend, bundle: ModelBundle, tmp_path: Path
) -> None:
    """A regular file where a directory should be: an OSError, nothing written."""
    blocker = tmp_path / "not_a_dir"
    blocker.write_text("x")
    with pytest.raises(OSError):
        backend.api.save_bundle(bundle, blocker / "sub" / "wts.h5.zip")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["not_a_dir"]


def test_missing_archive_is_a_file_not_found_error(backend: Backend, tmp_path: Path) -> None:
    """The error names the path that does not exist (each backend says what it accepts)."""
    missing = tmp_path / "nothing" / "wts.h5.zip"
    with pytest.raises(FileNotFoundError, match=re.escape(str(missing))):
        backend.api.load_bundle(missing)


def test_garbage_and_truncated_archives_say_corrupt_or_truncated(
    backend: Backend, saved: Path, tmp_path: Path
) -> None:
    garbage = tmp_path / "garbage.h5.zip"
    garbage.write_bytes(b"this is not a zip file" * 100)
    with pytest.raises(ValueError, match="corrupt or truncated"):
        backend.api.load_bundle(garbage)
    data = saved.read_bytes()
    truncated = tmp_path / "truncated.h5.zip"
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="corrupt|truncated"):
        backend.api.load_bundle(truncated)


def test_damaged_weights_member_names_the_archive(
    backend: Backend, saved: Path, tmp_path: Path
) -> None:
    weights_file = json.loads(zipfile.ZipFile(saved).read("manifest.json"))["weights_file"]
    damaged = _rewrite(saved, tmp_path / "damaged.h5.zip", replace={weights_file: b"\x00" * 1000})
    with pytest.raises(ValueError, match="damaged.h5.zip") as info:
        backend.api.load_bundle(damaged)
    assert "weights" in str(info.value)


def test_archive_of_another_backend_names_both(
    backend: Backend, saved: Path, tmp_path: Path
) -> None:
    """D6: loading another backend's archive directly raises BackendMismatchError naming both
    (the dispatcher converts instead)."""
    other = next(name for name in backend_names() if name != backend.name)
    foreign = _rewrite(saved, tmp_path / "other.h5.zip", lambda m: m.update(backend=other))
    with pytest.raises(BackendMismatchError) as info:
        backend.api.load_bundle(foreign)
    assert other in str(info.value) and backend.name in str(info.value)


def test_unknown_manifest_version_is_rejected(
    backend: Backend, saved: Path, tmp_path: Path
) -> None:
    future = _rewrite(saved, tmp_path / "future.h5.zip", lambda m: m.update(format_version=99))
    with pytest.raises(ValueError, match="format version 99"):
        backend.api.load_bundle(future)


def test_archive_loading_never_unpickles(backend: Backend, saved: Path, tmp_path: Path) -> None:
    """D6 / HARD-016: a pickled probe member is refused, never loaded."""
    buffer = io.BytesIO()
    np.save(buffer, np.array([{"evil": 1}], dtype=object), allow_pickle=True)
    evil = _rewrite(saved, tmp_path / "evil.h5.zip", replace={"probe.npy": buffer.getvalue()})
    with pytest.raises(ValueError, match="probe"):
        backend.api.load_bundle(evil)


def test_weights_of_a_bundle_of_another_backend_is_refused(
    backend: Backend, bundle: ModelBundle
) -> None:
    other = next(name for name in backend_names() if name != backend.name)
    foreign = dataclasses.replace(bundle, backend=other)
    with pytest.raises(ValueError):
        backend.api.weights_of(foreign)
