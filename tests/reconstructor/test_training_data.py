"""ADAPT-050 .. ADAPT-055: training-data export, discovery, containers and outputs."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from ptychodus.api.io import save_ptychopinn_training_data

from ptycho.config.config import ModelConfig, TrainingConfig
from ptycho_reconstructor.training_data import (
    build_training_containers,
    export_training_data,
    find_training_inputs,
    write_training_outputs,
)


def test_export_writes_our_npz_contract_and_round_trips_positions(
    tmp_path: Path, sim: Any, sim_input: Any
) -> None:
    """ADAPT-051: float32 amplitude, positions in our pixels (exactly the simulated ones)."""
    target = export_training_data(tmp_path / "scan_export", sim_input)
    assert target == tmp_path / "scan_export.npz"  # the suffix is added, as numpy.savez does
    assert target.is_file()
    with np.load(target, allow_pickle=False) as f:
        assert {"xcoords", "ycoords", "diff3d", "probeGuess", "objectGuess", "scan_index"} <= set(
            f.files
        )
        assert f["diff3d"].dtype == np.float32
        np.testing.assert_allclose(f["diff3d"], np.sqrt(sim.counts), rtol=1e-6)
        # simulator -> Ptychodus metres (-0.5 px) -> adapter (+0.5 px): the same positions
        np.testing.assert_allclose(f["xcoords"], sim.raw.xcoords, atol=1e-6)
        np.testing.assert_allclose(f["ycoords"], sim.raw.ycoords, atol=1e-6)
        assert f["probeGuess"].shape == (64, 64)
        assert f["objectGuess"].shape == sim.object.shape


def test_train_and_test_npz_are_preferred(tmp_path: Path, sim_input: Any) -> None:
    """ADAPT-050: train_data.npz trains, test_data.npz validates; other NPZ are ignored."""
    export_training_data(tmp_path / "train_data.npz", sim_input)
    export_training_data(tmp_path / "test_data.npz", sim_input)
    export_training_data(tmp_path / "other.npz", sim_input)
    inputs = find_training_inputs(tmp_path)
    assert inputs.sources == [tmp_path / "train_data.npz"]
    assert len(inputs.train) == 1 and inputs.test is not None
    assert inputs.N == 64


def test_every_npz_is_training_data(tmp_path: Path, sim_input: Any) -> None:
    """ADAPT-050: without train_data.npz every *.npz trains (test_data.npz validates)."""
    export_training_data(tmp_path / "a.npz", sim_input)
    export_training_data(tmp_path / "b.npz", sim_input)
    inputs = find_training_inputs(tmp_path)
    assert inputs.sources == [tmp_path / "a.npz", tmp_path / "b.npz"]
    assert inputs.test is None and inputs.source_kind == "npz"
    assert inputs.mean_photons == pytest.approx(1e6, rel=0.05)


def test_ptychodus_builtin_export_is_accepted_with_half_pixel_shift(
    tmp_path: Path, sim: Any, sim_input: Any
) -> None:
    """ADAPT-053: Ptychodus's exporter (integer counts, (modes,N,N) probe, (N-1)/2 pixels)."""
    save_ptychopinn_training_data(tmp_path / "exported.npz", sim_input)
    with np.load(tmp_path / "exported.npz") as f:
        assert np.issubdtype(f["diff3d"].dtype, np.integer) and f["probeGuess"].ndim == 3
    inputs = find_training_inputs(tmp_path)
    raw = inputs.train[0]
    np.testing.assert_allclose(raw.xcoords, sim.raw.xcoords, atol=1e-6)
    np.testing.assert_allclose(raw.ycoords, sim.raw.ycoords, atol=1e-6)
    np.testing.assert_allclose(raw.diff3d, np.sqrt(sim.counts), rtol=1e-6)


def test_batch_layout_is_used_when_there_is_no_npz(
    tmp_path: Path, batch_dir: Path, sim: Any
) -> None:
    """ADAPT-050: diffraction.h5 + product.h5 train on the scan itself."""
    for name in ("diffraction.h5", "product.h5"):
        shutil.copy(batch_dir / name, tmp_path / name)
    inputs = find_training_inputs(tmp_path)
    assert inputs.source_kind == "ptychodus-batch" and len(inputs.train[0]) == 64
    np.testing.assert_allclose(inputs.train[0].xcoords, sim.raw.xcoords, atol=1e-6)


def test_missing_training_files_are_a_clear_error(tmp_path: Path) -> None:
    """Bad input: no training data (and a directory that does not exist)."""
    with pytest.raises(FileNotFoundError, match=r"no training data in .*\*\.npz"):
        find_training_inputs(tmp_path)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        find_training_inputs(tmp_path / "nope")


def test_unreadable_npz_names_the_file(tmp_path: Path) -> None:
    """Bad input: a broken training file is reported with its name."""
    (tmp_path / "broken.npz").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="cannot train on .*broken.npz"):
        find_training_inputs(tmp_path)


def test_containers_concatenate_files_and_split_validation(tmp_path: Path, sim_input: Any) -> None:
    """ADAPT-052: groups of every file, seeded validation split when no test file."""
    export_training_data(tmp_path / "a.npz", sim_input)
    export_training_data(tmp_path / "b.npz", sim_input)
    inputs = find_training_inputs(tmp_path)
    config = TrainingConfig(
        model=ModelConfig(N=64), n_groups=64, validation_fraction=0.25, seed=3, nphotons=1e6
    )
    train, validation = build_training_containers(inputs, config)
    assert validation is not None
    assert len(train) + len(validation) == 128 and len(validation) == 32
    assert train.X.shape[1:] == (64, 64, 1)
    assert set(np.unique(np.concatenate([train.nn_indices, validation.nn_indices]))) == set(
        range(128)
    )


def test_supervised_needs_the_true_object() -> None:
    """ADAPT-052: Supervised without an object in the data is a clear error."""
    from ptycho.raw_data import RawData
    from ptycho_reconstructor.training_data import TrainingInputs

    rng = np.random.default_rng(0)
    raw = RawData(
        rng.uniform(40, 60, 16),
        rng.uniform(40, 60, 16),
        None,
        None,
        rng.uniform(0, 3, (16, 64, 64)).astype(np.float32),
        np.ones((64, 64), dtype=np.complex64),
        None,
    )
    config = TrainingConfig(model=ModelConfig(N=64, model_type="supervised"), nphotons=1e6)
    with pytest.raises(ValueError, match="Supervised reconstructor needs the true object"):
        build_training_containers(TrainingInputs(train=[raw]), config)


def test_training_outputs_csv_and_png(tmp_path: Path) -> None:
    """ADAPT-054: history.csv (one row per epoch, counted from 1) and loss.png."""
    csv_path, png_path = write_training_outputs(
        tmp_path, {"loss": [3.0, 2.0], "val_loss": [4.0, 2.5], "nll": [1.0, 0.5]}
    )
    lines = csv_path.read_text().splitlines()
    assert lines == ["epoch,loss,val_loss,nll", "1,3.0,4.0,1.0", "2,2.0,2.5,0.5"]
    assert png_path is not None and png_path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_refined_targets_replace_the_exported_object(tmp_path: Path, sim_input: Any) -> None:
    """ARCH-013: with RefinedTargetIterations the real-space targets Y are patches of each
    scan's refined object, not of the object the scan was exported with."""
    export_training_data(tmp_path / "a.npz", sim_input)
    inputs = find_training_inputs(tmp_path)
    plain = TrainingConfig(
        model=ModelConfig(N=64), n_groups=32, validation_fraction=0.0, seed=3, nphotons=1e6
    )
    refined = TrainingConfig(
        model=ModelConfig(N=64),
        n_groups=32,
        validation_fraction=0.0,
        seed=3,
        nphotons=1e6,
        realspace_weight=20.0,
        refined_target_iterations=3,
    )
    train_plain, _ = build_training_containers(inputs, plain)
    train_refined, _ = build_training_containers(inputs, refined)
    np.testing.assert_array_equal(train_refined.X, train_plain.X)
    assert train_refined.Y is not None and train_plain.Y is not None
    assert not np.allclose(train_refined.Y, train_plain.Y)
