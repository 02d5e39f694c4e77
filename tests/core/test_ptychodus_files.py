"""Tests of ptycho.ptychodus_files: pixel <-> metre map and the Ptychodus batch-input files.

The core writes with h5py only; Ptychodus's own writer is tested in
tests/reconstructor/test_ptychodus_io.py.
"""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from ptycho.ptychodus_files import (
    BatchArrays,
    BatchWriter,
    far_field_pixel_size_m,
    object_px_to_ptychodus_m,
    ptychodus_m_to_object_px,
    read_ptychodus_diffraction,
    read_ptychodus_product,
    write_ptychodus_batch_input,
)
from ptycho.raw_data import RawData
from ptycho.simulation import SimulatedDataset, simulate_dataset

GEOM = {
    "width_px": 120,
    "height_px": 90,
    "pixel_width_m": 5e-8,
    "pixel_height_m": 6e-8,
    "center_x_m": 1e-6,
    "center_y_m": -2e-6,
}


@pytest.fixture(scope="module")
def sim() -> SimulatedDataset:
    return simulate_dataset(N=64, n_positions=25, nphotons=1e5, seed=7)


def test_pixel_metre_conversion_round_trips_and_centres() -> None:
    """ARCH-002: px -> m -> px is the identity; our pixel W/2 (Ptychodus (W-1)/2 + 0.5) maps to
    the object centre."""
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 120, 50)
    y = rng.uniform(0, 90, 50)
    x_m, y_m = object_px_to_ptychodus_m(x, y, **GEOM)
    x2, y2 = ptychodus_m_to_object_px(x_m, y_m, **GEOM)
    np.testing.assert_allclose(x2, x, atol=1e-9)
    np.testing.assert_allclose(y2, y, atol=1e-9)
    cx, cy = object_px_to_ptychodus_m(60.0, 45.0, **GEOM)
    assert float(cx) == pytest.approx(1e-6) and float(cy) == pytest.approx(-2e-6)
    one_px, _ = object_px_to_ptychodus_m(61.0, 45.0, **GEOM)
    assert float(one_px - cx) == pytest.approx(5e-8)
    with pytest.raises(ValueError, match="pixel_width_m"):
        object_px_to_ptychodus_m(x, y, **{**GEOM, "pixel_width_m": 0.0})


def test_conversion_matches_ptychodus_object_geometry_plus_half_pixel() -> None:
    """ARCH-002: our x equals Ptychodus ObjectGeometry's x_px + 0.5 for the same metres."""
    pytest.importorskip("ptychodus")
    from ptychodus.api.geometry import PixelGeometry
    from ptychodus.api.object import Object, ObjectCenter
    from ptychodus.api.probe_positions import ProbePosition, ProbePositionSequence

    obj = Object(
        np.ones((GEOM["height_px"], GEOM["width_px"]), np.complex64),
        PixelGeometry(GEOM["pixel_width_m"], GEOM["pixel_height_m"]),
        ObjectCenter(GEOM["center_x_m"], GEOM["center_y_m"]),
    )
    geometry = obj.get_geometry()
    x_m = np.array([1e-6, 1.3e-6, 0.2e-6])
    y_m = np.array([-2e-6, -1.1e-6, -2.5e-6])
    seq = ProbePositionSequence(
        [
            ProbePosition(i, float(a), float(b))
            for i, (a, b) in enumerate(zip(x_m, y_m, strict=True))
        ]
    )
    x_px = geometry.map_probe_positions_to_object_x_px(seq)
    y_px = geometry.map_probe_positions_to_object_y_px(seq)
    ours_x, ours_y = ptychodus_m_to_object_px(x_m, y_m, **GEOM)
    np.testing.assert_allclose(ours_x, x_px + 0.5, atol=1e-9)
    np.testing.assert_allclose(ours_y, y_px + 0.5, atol=1e-9)


def test_far_field_pixel_size() -> None:
    """D11: lambda z / (N dp) = 51.66 nm for 10 keV, 2 m, 75 um, N=64."""
    px = far_field_pixel_size_m(64, detector_pixel_m=75e-6, distance_m=2.0, energy_eV=10000.0)
    assert px == pytest.approx(5.166e-8, rel=1e-3)
    with pytest.raises(ValueError, match="energy_eV"):
        far_field_pixel_size_m(64, detector_pixel_m=75e-6, distance_m=2.0, energy_eV=-1.0)


def test_read_product_returns_our_pixels_probe_and_losses(tmp_path: Path) -> None:
    """ARCH-002: read_ptychodus_product converts metres to our object pixels and reads losses
    written by Ptychodus's save_product (a reconstruction output)."""
    pytest.importorskip("ptychodus")
    from ptychodus.api.geometry import PixelGeometry
    from ptychodus.api.io import save_product
    from ptychodus.api.object import Object, ObjectCenter
    from ptychodus.api.probe import ProbeSequence
    from ptychodus.api.probe_positions import ProbePosition, ProbePositionSequence
    from ptychodus.api.product import LossValue, Product, ProductMetadata

    rng = np.random.default_rng(1)
    obj = rng.uniform(0.5, 1, (90, 120)) * np.exp(1j * rng.uniform(-1, 1, (90, 120)))
    probe = rng.standard_normal((2, 64, 64)) + 1j * rng.standard_normal((2, 64, 64))
    x = rng.uniform(32, 88, 10)
    y = rng.uniform(32, 58, 10)
    x_m, y_m = object_px_to_ptychodus_m(x, y, **GEOM)
    product = Product(
        metadata=ProductMetadata("r", "", 2.0, 10000.0, 1e6, 0.0, 0.0, 0.0),
        probe_positions=ProbePositionSequence(
            [
                ProbePosition(i, float(a), float(b))
                for i, (a, b) in enumerate(zip(x_m, y_m, strict=True))
            ]
        ),
        probes=ProbeSequence(probe.astype(np.complex64), None, PixelGeometry(5e-8, 6e-8)),
        object_=Object(
            obj.astype(np.complex64), PixelGeometry(5e-8, 6e-8), ObjectCenter(1e-6, -2e-6)
        ),
        losses=[LossValue(0, 1.5), LossValue(1, 0.75)],
    )
    save_product(tmp_path / "product.000001.h5", product)
    read = read_ptychodus_product(tmp_path / "product.000001.h5")
    np.testing.assert_allclose(read.x, x, atol=1e-9)
    np.testing.assert_allclose(read.y, y, atol=1e-9)
    np.testing.assert_array_equal(read.object, obj.astype(np.complex64))
    assert read.probe_modes.shape == (2, 64, 64)
    np.testing.assert_array_equal(read.probe, probe[0].astype(np.complex64))
    assert read.losses == [(0, 1.5), (1, 0.75)]
    assert read.object_pixel_size_m == (5e-8, 6e-8)
    assert read.object_center_m == (1e-6, -2e-6)
    assert read.metadata["photon_energy_eV"] == 10000.0


def test_h5py_round_trip_without_ptychodus(sim: SimulatedDataset, tmp_path: Path) -> None:
    """D11: h5py writer + our readers reproduce counts, positions (our px), probe and object."""
    write_ptychodus_batch_input(sim, tmp_path, writer="h5py", object_init="input", as_counts=True)
    diff = read_ptychodus_diffraction(tmp_path / "diffraction.h5")
    np.testing.assert_array_equal(diff.patterns, sim.counts)
    assert diff.detector_pixel_size_m == (75e-6, 75e-6)
    prod = read_ptychodus_product(tmp_path / "product.h5")
    np.testing.assert_allclose(prod.x, sim.raw.xcoords, atol=1e-9)
    np.testing.assert_allclose(prod.y, sim.raw.ycoords, atol=1e-9)
    np.testing.assert_array_equal(prod.probe, sim.probe)
    np.testing.assert_array_equal(prod.object, sim.object)
    np.testing.assert_array_equal(prod.indexes, np.arange(len(sim)))
    assert prod.losses == []


def test_rawdata_amplitude_is_written_as_rounded_counts_or_float_intensity(
    sim: SimulatedDataset, tmp_path: Path
) -> None:
    """ARCH-001: a RawData (amplitude) is written as uint32 counts = rint(amp^2), or float32
    intensities with as_counts=False; probe modes are kept."""
    raw = sim.raw
    write_ptychodus_batch_input(raw, tmp_path / "c", writer="h5py")
    np.testing.assert_array_equal(
        read_ptychodus_diffraction(tmp_path / "c" / "diffraction.h5").patterns, sim.counts
    )
    write_ptychodus_batch_input(raw, tmp_path / "f", writer="h5py", as_counts=False)
    pat = read_ptychodus_diffraction(tmp_path / "f" / "diffraction.h5").patterns
    assert pat.dtype == np.float32
    np.testing.assert_allclose(pat, sim.counts, rtol=1e-5)
    modes = np.stack([sim.probe, 0.5 * sim.probe])
    two = RawData(
        raw.xcoords, raw.ycoords, None, None, raw.diff3d, modes, None, objectGuess=raw.objectGuess
    )
    write_ptychodus_batch_input(two, tmp_path / "m", writer="h5py")
    assert read_ptychodus_product(tmp_path / "m" / "product.h5").probe_modes.shape == (2, 64, 64)


def test_bad_input_raises_before_anything_is_written(sim: SimulatedDataset, tmp_path: Path) -> None:
    """Bad input: wrong source type, bad object_init, bad geometry and missing files give clear
    errors, and no output folder is created."""
    out = tmp_path / "never"
    with pytest.raises(ValueError, match="SimulatedDataset or a RawData"):
        write_ptychodus_batch_input(np.zeros((3, 8, 8)), out)
    with pytest.raises(ValueError, match="object_init"):
        write_ptychodus_batch_input(sim, out, object_init="truth")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="distance_m"):
        write_ptychodus_batch_input(sim, out, distance_m=0.0)
    with pytest.raises(ValueError, match="writer"):
        write_ptychodus_batch_input(sim, out, writer="zarr")  # type: ignore[arg-type]
    assert not out.exists()
    with pytest.raises(FileNotFoundError):
        read_ptychodus_product(tmp_path / "missing.h5")
    with h5py.File(tmp_path / "bad.h5", "w") as f:
        f.create_dataset("patterns", data=np.zeros((2, 4, 4)))
    with pytest.raises(ValueError, match="'object' is missing"):
        read_ptychodus_product(tmp_path / "bad.h5")


def test_core_writes_without_ptychodus_and_rejects_its_writer_names(
    sim: SimulatedDataset,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """D11: with ptychodus unimportable the core writes the layout with h5py by default;
    writer='auto'/'ptychodus' name the adapter function instead of importing the host."""
    for name in [m for m in sys.modules if m == "ptychodus" or m.startswith("ptychodus.")]:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.setitem(sys.modules, "ptychodus", None)
    with caplog.at_level(logging.INFO, logger="ptycho.ptychodus_files"):
        write_ptychodus_batch_input(sim, tmp_path / "core")
    assert "writer h5py" in caplog.text
    back = read_ptychodus_diffraction(tmp_path / "core" / "diffraction.h5")
    np.testing.assert_array_equal(back.patterns, sim.counts)
    for name in ("auto", "ptychodus"):
        with pytest.raises(ValueError, match="ptycho_reconstructor.ptychodus_io"):
            write_ptychodus_batch_input(sim, tmp_path / name, writer=name)  # type: ignore[arg-type]
        assert not (tmp_path / name).exists()


def test_importing_and_writing_never_loads_ptychodus(tmp_path: Path) -> None:
    """Issue 12: the core package imports no host application, even when it writes."""
    code = (
        "import sys; from ptycho.ptychodus_files import write_ptychodus_batch_input; "
        "from ptycho.simulation import simulate_dataset; "
        "scan = simulate_dataset(N=64, n_positions=4, seed=1); "
        f"write_ptychodus_batch_input(scan, {str(tmp_path)!r}); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'ptychodus'))"
    )
    root = Path(__file__).resolve().parents[2]
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[]"
    assert (tmp_path / "product.h5").is_file()


class _RecordingWriter:
    """A BatchWriter hook that records the arrays and writes empty files."""

    name = "recording"

    def __init__(self) -> None:
        self.arrays: BatchArrays | None = None

    def write(self, arrays: BatchArrays, diffraction_path: Path, product_path: Path) -> None:
        self.arrays = arrays
        diffraction_path.write_bytes(b"")
        product_path.write_bytes(b"")


def test_writer_hook_gets_validated_arrays_and_its_files_are_renamed_into_place(
    sim: SimulatedDataset, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A BatchWriter receives the validated arrays (counts, metres, (1, modes, N, N) probe) and
    writes temporaries that end up as diffraction.h5 / product.h5; a non-writer is refused."""
    hook = _RecordingWriter()
    assert isinstance(hook, BatchWriter)
    with caplog.at_level(logging.INFO, logger="ptycho.ptychodus_files"):
        diff_path, prod_path = write_ptychodus_batch_input(sim, tmp_path / "hook", writer=hook)
    assert "writer recording" in caplog.text
    assert sorted(p.name for p in (tmp_path / "hook").iterdir()) == ["diffraction.h5", "product.h5"]
    assert diff_path.is_file() and prod_path.is_file()
    arrays = hook.arrays
    assert arrays is not None
    np.testing.assert_array_equal(arrays.patterns, sim.counts)
    assert arrays.probe.shape == (1, 1, 64, 64)
    x_px, _ = ptychodus_m_to_object_px(
        arrays.x_m,
        arrays.y_m,
        width_px=sim.object.shape[1],
        height_px=sim.object.shape[0],
        pixel_width_m=arrays.pixel_size_m,
        pixel_height_m=arrays.pixel_size_m,
    )
    np.testing.assert_allclose(x_px, sim.raw.xcoords, atol=1e-9)
    with pytest.raises(ValueError, match="BatchWriter"):
        write_ptychodus_batch_input(sim, tmp_path / "bad", writer=object())  # type: ignore[arg-type]
    assert not (tmp_path / "bad").exists()


class _FailingWriter:
    """Writes diffraction.h5's temporary, then fails before product.h5."""

    name = "failing"

    def write(self, arrays: BatchArrays, diffraction_path: Path, product_path: Path) -> None:
        diffraction_path.write_bytes(b"half a batch")
        raise OSError("disk full")


def test_batch_files_are_one_output_set(sim: SimulatedDataset, tmp_path: Path) -> None:
    """The two files are replaced together or not at all (ptycho.atomic.atomic_output_set): a
    writer that fails after the first file leaves the previous batch and no temporary behind."""
    write_ptychodus_batch_input(sim, tmp_path, writer="h5py")
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    with pytest.raises(OSError, match="disk full"):
        write_ptychodus_batch_input(sim, tmp_path, writer=_FailingWriter())
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before
