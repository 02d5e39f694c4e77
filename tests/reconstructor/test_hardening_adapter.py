"""HARD-004, HARD-005, HARD-015 (specs/hardening.md) in the Ptychodus adapter.

A zip that holds a nested ``wts.h5.zip`` (ADAPT-033) is unpacked only up to a size no model
archive needs; positions off the object use the core's shared check (ADAPT-009); a training scan
smaller than ``NumGroups`` gives one group per position (ADAPT-052), never an error naming an
oversampling option Ptychodus does not have.
"""

from __future__ import annotations

import tempfile
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ptycho_reconstructor import model_slot


def test_nested_archive_larger_than_any_model_is_not_unpacked(
    library: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """HARD-004: a nested wts.h5.zip that declares more than NESTED_ARCHIVE_MAX_BYTES is refused
    from the zip directory (here the limit is lowered to 1 MiB), naming the file and the member;
    no temporary folder is left behind."""
    monkeypatch.setattr(model_slot, "NESTED_ARCHIVE_MAX_BYTES", 1024 * 1024)
    outer = tmp_path / "model.zip"
    with zipfile.ZipFile(outer, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("saved/wts.h5.zip", bytes(3 * 1024 * 1024))
    before = set(Path(tempfile.gettempdir()).glob("ptychopinnx-model-*"))
    with pytest.raises(ValueError) as info:
        library.reconstructor("PINN").load_model_from_file(outer)
    message = str(info.value)
    assert f"{outer}: its member 'saved/wts.h5.zip' holds 3,145,728 bytes" in message
    assert "more than the 1,048,576 bytes any model archive needs" in message
    assert set(Path(tempfile.gettempdir()).glob("ptychopinnx-model-*")) == before


def test_nested_archive_is_streamed_with_a_bound(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """HARD-004: the copy itself stops at the bound, whatever the zip directory declares."""
    monkeypatch.setattr(model_slot, "NESTED_ARCHIVE_MAX_BYTES", 1024 * 1024)
    outer = tmp_path / "model.zip"
    with zipfile.ZipFile(outer, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("wts.h5.zip", bytes(3 * 1024 * 1024))
    target = tmp_path / "copy.zip"
    with zipfile.ZipFile(outer) as zf, pytest.raises(ValueError, match="holds 2,097,152 bytes"):
        model_slot._copy_bounded(zf, zf.getinfo("wts.h5.zip"), target, outer)
    assert target.stat().st_size <= 1024 * 1024


def test_positions_off_the_object_use_the_shared_check() -> None:
    """HARD-005 / ADAPT-009: the adapter's message comes from ptycho.scan_geometry, with the
    Ptychodus fix and the indices of the positions at fault."""
    from ptycho_reconstructor.convert import positions_to_object_px

    geometry = _Geometry(width_px=100, height_px=100)
    x_m = np.array([0.0, 0.0, 80.0]) * geometry.pixel_width_m
    with pytest.raises(ValueError) as info:
        positions_to_object_px(x_m, np.zeros(3), geometry)  # type: ignore[arg-type]
    message = str(info.value)
    assert message.startswith("1 of 3 probe positions lie outside the object (100 x 100 px;")
    assert "indices 2" in message and "enlarge or re-centre the object in Ptychodus" in message


class _Geometry:
    """The attributes of ptychodus.api.object.ObjectGeometry that the conversion reads."""

    def __init__(self, width_px: int, height_px: int) -> None:
        self.width_px = width_px
        self.height_px = height_px
        self.pixel_width_m = 1e-8
        self.pixel_height_m = 1e-8
        self.center_x_m = 0.0
        self.center_y_m = 0.0


def test_scan_smaller_than_num_groups_gives_one_group_per_position() -> None:
    """HARD-015 / ADAPT-052: with GridSize 2 (the recommended default) and NumGroups 512, a
    training scan of 40 positions gives 40 groups instead of a DATA-009 error."""
    from ptycho.config.config import ModelConfig, TrainingConfig
    from ptycho.raw_data import RawData
    from ptycho_reconstructor.training_data import TrainingInputs, build_training_containers

    rng = np.random.default_rng(0)
    raw = RawData.from_coords_without_pc(
        rng.uniform(40, 80, 40),
        rng.uniform(40, 80, 40),
        rng.uniform(0, 3, (40, 64, 64)).astype(np.float32),
        np.ones((64, 64), np.complex64),
        np.zeros(40, int),
    )
    config = TrainingConfig(
        model=ModelConfig(N=64, gridsize=2), n_groups=512, validation_fraction=0.0, nphotons=1e6
    )
    train, validation = build_training_containers(TrainingInputs(train=[raw]), config)
    assert len(train) == 40 and validation is None
