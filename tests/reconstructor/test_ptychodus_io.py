"""Tests of ptycho_reconstructor.ptychodus_io: Ptychodus's own writer behind the core's hook.

Real ptychodus (no mocks): the files written by either writer load in ``ptychodus.api.io`` and
give Ptychodus the same counts, positions, probe, object and metadata.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from ptycho.ptychodus_files import BatchWriter, read_ptychodus_diffraction
from ptycho.simulation import SimulatedDataset, simulate_dataset
from ptycho_reconstructor.ptychodus_io import (
    PtychodusBatchWriter,
    ptychodus_batch_writer,
    write_ptychodus_batch_input,
)

pytest.importorskip("ptychodus")


@pytest.fixture(scope="module")
def sim() -> SimulatedDataset:
    return simulate_dataset(N=64, n_positions=25, nphotons=1e5, seed=7)


def _check_with_ptychodus(directory: Path, sim: SimulatedDataset, flat: bool = True) -> None:
    from ptychodus.api.io import load_diffraction_data, load_product
    from ptychodus.api.reconstruct import prepare_reconstruct_input

    product = load_product(directory / "product.h5")
    assembled = load_diffraction_data(directory / "diffraction.h5")
    patterns = assembled.get_patterns()
    assert patterns.dtype == np.uint32
    np.testing.assert_array_equal(patterns, sim.counts)
    np.testing.assert_array_equal(assembled.get_indexes(), np.arange(len(sim)))
    assert not assembled.get_bad_pixels().any()
    assert assembled.get_pixel_geometry().width_m == pytest.approx(75e-6)
    geometry = product.object_.get_geometry()
    assert (geometry.height_px, geometry.width_px) == sim.object.shape
    assert geometry.pixel_width_m == pytest.approx(5.166e-8, rel=1e-3)
    x_px = geometry.map_probe_positions_to_object_x_px(product.probe_positions)
    y_px = geometry.map_probe_positions_to_object_y_px(product.probe_positions)
    np.testing.assert_allclose(x_px + 0.5, sim.raw.xcoords, atol=1e-9)
    np.testing.assert_allclose(y_px + 0.5, sim.raw.ycoords, atol=1e-9)
    probe = product.probes.get_array()
    assert probe.shape == (1, 1, 64, 64)
    np.testing.assert_array_equal(probe[0, 0], sim.probe)
    obj = product.object_.get_array()
    assert obj.shape == (1, *sim.object.shape)
    if flat:
        np.testing.assert_array_equal(obj[0], np.ones_like(sim.object))
    else:
        np.testing.assert_array_equal(obj[0], sim.object)
    meta = product.metadata
    assert meta.detector_distance_m == 2.0
    assert meta.probe_photon_count == pytest.approx(sim.counts.sum(axis=(1, 2)).mean())
    assert list(product.losses) == []
    # Ptychodus pairs pattern i with position i
    ri = prepare_reconstruct_input(assembled, product)
    np.testing.assert_array_equal(ri.diffraction_patterns, sim.counts)
    np.testing.assert_allclose(
        ri.product.probe_positions.get_coordinates_x_m(),
        product.probe_positions.get_coordinates_x_m(),
    )


def test_batch_input_written_with_ptychodus_api_loads_in_ptychodus(
    sim: SimulatedDataset, tmp_path: Path
) -> None:
    """D11: writer='ptychodus' uses ptychodus.api.io; load_product / load_diffraction_data and
    prepare_reconstruct_input see counts, positions, probe, flat object and metadata."""
    diff_path, prod_path = write_ptychodus_batch_input(sim, tmp_path / "in", writer="ptychodus")
    assert diff_path == tmp_path / "in" / "diffraction.h5"
    assert prod_path == tmp_path / "in" / "product.h5"
    assert sorted(p.name for p in (tmp_path / "in").iterdir()) == ["diffraction.h5", "product.h5"]
    _check_with_ptychodus(tmp_path / "in", sim)


def test_batch_input_written_with_h5py_loads_in_ptychodus(
    sim: SimulatedDataset, tmp_path: Path
) -> None:
    """D11: the h5py fallback writes the same layout: the real Ptychodus reads it identically;
    object_init='input' writes the given object."""
    write_ptychodus_batch_input(sim, tmp_path / "h5", writer="h5py", object_init="input")
    _check_with_ptychodus(tmp_path / "h5", sim, flat=False)


def _h5_layout(path: Path) -> dict[str, object]:
    out: dict[str, object] = {}
    with h5py.File(path, "r") as f:
        out["/attrs"] = sorted(f.attrs.keys())
        for key, item in f.items():
            out[key] = (item.shape, item.dtype.kind, sorted(item.attrs.keys()))
    return out


def test_both_writers_produce_the_same_layout(sim: SimulatedDataset, tmp_path: Path) -> None:
    """D11: datasets, shapes, dtype kinds and attribute names agree between the two writers."""
    write_ptychodus_batch_input(sim, tmp_path / "a", writer="ptychodus")
    write_ptychodus_batch_input(sim, tmp_path / "b", writer="h5py")
    for name in ("diffraction.h5", "product.h5"):
        assert _h5_layout(tmp_path / "a" / name) == _h5_layout(tmp_path / "b" / name), name


def test_auto_writer_falls_back_to_h5py_without_ptychodus(
    sim: SimulatedDataset,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """D11: when ptychodus cannot be imported, writer='auto' writes the same files with h5py
    and writer='ptychodus' raises RuntimeError with the install command."""
    for name in [m for m in sys.modules if m == "ptychodus" or m.startswith("ptychodus.")]:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.setitem(sys.modules, "ptychodus", None)
    with caplog.at_level(logging.INFO, logger="ptycho.ptychodus_files"):
        write_ptychodus_batch_input(sim, tmp_path / "auto")
    assert "writer h5py" in caplog.text
    back = read_ptychodus_diffraction(tmp_path / "auto" / "diffraction.h5")
    np.testing.assert_array_equal(back.patterns, sim.counts)
    with pytest.raises(RuntimeError, match="pip install"):
        write_ptychodus_batch_input(sim, tmp_path / "forced", writer="ptychodus")
    assert not (tmp_path / "forced").exists()


def test_auto_picks_ptychodus_writer_when_importable(
    sim: SimulatedDataset, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """writer='auto' (the default) writes through ptychodus.api.io when Ptychodus imports."""
    writer = ptychodus_batch_writer()
    assert isinstance(writer, PtychodusBatchWriter) and isinstance(writer, BatchWriter)
    with caplog.at_level(logging.INFO, logger="ptycho.ptychodus_files"):
        write_ptychodus_batch_input(sim, tmp_path / "auto")
    assert "writer ptychodus" in caplog.text
    _check_with_ptychodus(tmp_path / "auto", sim)


def test_bad_writer_name_raises_before_anything_is_written(
    sim: SimulatedDataset, tmp_path: Path
) -> None:
    """An unknown writer name is refused with the accepted ones, and nothing is created."""
    with pytest.raises(ValueError, match="'auto', 'ptychodus' or 'h5py'"):
        write_ptychodus_batch_input(sim, tmp_path / "x", writer="zarr")  # type: ignore[arg-type]
    assert not (tmp_path / "x").exists()
