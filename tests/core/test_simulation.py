"""Tests of ptycho.simulation: seeded object, probe, scans and the simulated dataset (D11)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial import cKDTree

from ptycho.physics.forward import far_field_amplitude, illuminate
from ptycho.physics.shift import extract_patches
from ptycho.raw_data import RawData
from ptycho.simulation import (
    OBJECT_FAMILIES,
    SimulatedDataset,
    probe_diameter_px,
    raster_scan,
    save_npz,
    simulate_dataset,
    simulate_object,
    simulate_probe,
    simulate_train_test,
    spiral_scan,
    split_by_region,
)


@pytest.fixture(scope="module")
def small() -> SimulatedDataset:
    return simulate_dataset(N=64, n_positions=64, nphotons=1e6, seed=3)


def test_object_has_structured_amplitude_and_phase_in_range() -> None:
    """D11: the object has amplitude in [0.3, 1] and a non-constant phase in [-1, 1] rad that is
    not a function of the amplitude."""
    obj = simulate_object(96, seed=1)
    assert obj.shape == (96, 96) and obj.dtype == np.complex64
    amp, phase = np.abs(obj), np.angle(obj)
    assert amp.min() == pytest.approx(0.3, abs=1e-5) and amp.max() == pytest.approx(1.0, abs=1e-5)
    assert phase.min() == pytest.approx(-1.0, abs=1e-5)
    assert phase.max() == pytest.approx(1.0, abs=1e-5)
    assert phase.std() > 0.15 and amp.std() > 0.05
    assert abs(np.corrcoef(amp.ravel(), phase.ravel())[0, 1]) < 0.95
    rect = simulate_object((40, 72), seed=1)
    assert rect.shape == (40, 72)


def test_object_is_seeded() -> None:
    """ARCH-011: the same seed gives a byte-identical object; another seed a different one."""
    a = simulate_object(64, seed=5)
    assert a.tobytes() == simulate_object(64, seed=5).tobytes()
    assert not np.array_equal(a, simulate_object(64, seed=6))


@pytest.mark.parametrize("kind", ["disk", "zone_plate"])
@pytest.mark.parametrize("N", [64, 128])
def test_probe_is_compact_with_non_trivial_phase(kind: str, N: int) -> None:
    """D11: disk / zone-plate probes peak at 1, stay inside the N x N window (< 1% of the power
    beyond radius 0.45 N), are about a third of N across and carry a non-flat phase."""
    probe = simulate_probe(N, kind, seed=2)
    assert probe.shape == (N, N) and probe.dtype == np.complex64
    amp = np.abs(probe)
    assert amp.max() == pytest.approx(1.0, rel=1e-6)
    rr = np.hypot(*(np.mgrid[0:N, 0:N] - N / 2))
    power = amp**2
    assert power[rr > 0.45 * N].sum() / power.sum() < 0.01
    assert 0.25 * N < probe_diameter_px(probe) < 0.45 * N
    weights = power / power.sum()
    phase = np.angle(probe * np.conj(probe[N // 2, N // 2]))
    phase_spread = np.sqrt(np.sum(weights * (phase - np.sum(weights * phase)) ** 2))
    assert phase_spread > 0.3


def test_probe_rejects_unknown_kind_and_bad_size() -> None:
    """Bad input: an unknown probe kind or an odd N is a ValueError naming the choices."""
    with pytest.raises(ValueError, match="disk"):
        simulate_probe(64, "gaussian")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="even"):
        simulate_probe(63)


def test_raster_scan_has_requested_pitch_and_is_centred() -> None:
    """D11: raster positions sit on a grid of the requested pitch (no jitter), centred on 0;
    the 70 % overlap step is 0.3 x probe diameter."""
    diameter = probe_diameter_px(simulate_probe(64, "disk"))
    step = 0.3 * diameter
    pos = raster_scan(30, step)
    assert pos.shape == (30, 2)
    dist, _ = cKDTree(pos).query(pos, k=2)
    np.testing.assert_allclose(dist[:, 1], step, rtol=1e-12)
    full = raster_scan(36, step)
    np.testing.assert_allclose(full.mean(axis=0), 0.0, atol=1e-12)
    jittered = raster_scan(30, step, jitter_px=0.5, seed=1)
    shift = jittered - pos
    assert 0.3 < shift.std() < 0.7
    np.testing.assert_array_equal(jittered, raster_scan(30, step, jitter_px=0.5, seed=1))


def test_spiral_scan_median_neighbour_distance_is_the_step() -> None:
    """D11: the Fermat spiral is scaled so the median nearest-neighbour distance is the step."""
    pos = spiral_scan(200, 6.5)
    dist, _ = cKDTree(pos).query(pos, k=2)
    assert np.median(dist[:, 1]) == pytest.approx(6.5, rel=1e-12)
    assert dist[:, 1].min() > 0.6 * 6.5
    with pytest.raises(ValueError, match="step_px"):
        spiral_scan(10, 0.0)


def test_dataset_shapes_units_and_counts(small: SimulatedDataset) -> None:
    """ARCH-001/D11: diff3d is float32 amplitude sqrt(counts); counts average nphotons per
    pattern; Y, objectGuess and probeGuess are the ground truth."""
    raw = small.raw
    assert isinstance(raw, RawData)
    assert raw.diff3d.shape == (64, 64, 64) and raw.diff3d.dtype == np.float32
    assert small.counts is not None and small.counts.shape == (64, 64, 64)
    np.testing.assert_array_equal(
        raw.diff3d, np.sqrt(small.counts.astype(np.float64)).astype(np.float32)
    )
    # the counts are recoverable exactly from the stored float32 amplitude
    np.testing.assert_array_equal(np.rint(raw.diff3d.astype(np.float64) ** 2), small.counts)
    mean_counts = small.counts.sum(axis=(1, 2)).mean()
    assert mean_counts == pytest.approx(1e6, rel=2e-3)
    assert small.info["mean_counts_per_pattern"] == pytest.approx(mean_counts)
    np.testing.assert_array_equal(raw.objectGuess, small.object)
    np.testing.assert_array_equal(raw.probeGuess, small.probe)
    assert raw.Y is not None and raw.Y.shape == (64, 64, 64)
    assert small.info["overlap"] == pytest.approx(0.7)


def test_dataset_physics_is_consistent(small: SimulatedDataset) -> None:
    """ARCH-004/ARCH-006: Y are the object patches at the positions and the expected counts
    |FFT(probe * Y)|^2 average exactly nphotons; the noisy data follow them."""
    raw = small.raw
    patches = extract_patches(small.object, raw.xcoords, raw.ycoords, 64)
    np.testing.assert_allclose(raw.Y, patches, atol=1e-6)
    expected = far_field_amplitude(illuminate(raw.Y.astype(np.complex128), small.probe)) ** 2
    assert expected.sum(axis=(1, 2)).mean() == pytest.approx(1e6, rel=1e-5)
    counts = small.counts.astype(np.float64)
    # Poisson: the per-pixel mean residual is ~0 and the variance matches the mean
    resid = counts - expected
    assert abs(resid.mean()) < 0.01 * np.sqrt(expected.mean())
    bright = expected > 100
    assert np.mean(resid[bright] ** 2 / expected[bright]) == pytest.approx(1.0, abs=0.1)


def test_every_patch_lies_fully_on_the_object(small: SimulatedDataset) -> None:
    """D11: positions are inside [N/2, W - N/2 - 1] so no patch reads outside the object."""
    h, w = small.object.shape
    x, y = small.raw.xcoords, small.raw.ycoords
    assert x.min() >= 32 and x.max() <= w - 33
    assert y.min() >= 32 and y.max() <= h - 33
    np.testing.assert_array_equal(small.positions_px, np.stack([x, y], axis=1))


def test_dataset_is_byte_identical_for_a_seed_and_differs_across_seeds() -> None:
    """ARCH-011: the same seed reproduces every array exactly; another seed changes them."""
    kwargs = {"N": 64, "n_positions": 20, "nphotons": 1e5, "scan": "spiral"}
    a = simulate_dataset(seed=11, **kwargs)
    b = simulate_dataset(seed=11, **kwargs)
    c = simulate_dataset(seed=12, **kwargs)
    for name in ("diff3d", "xcoords", "ycoords", "objectGuess", "probeGuess", "Y"):
        assert getattr(a.raw, name).tobytes() == getattr(b.raw, name).tobytes(), name
    assert not np.array_equal(a.raw.diff3d, c.raw.diff3d)
    assert not np.array_equal(a.object, c.object)
    assert not np.array_equal(a.raw.xcoords, c.raw.xcoords)


def test_zone_plate_spiral_and_n128_datasets() -> None:
    """D11: zone-plate probe with a spiral scan, and N = 128, both simulate with full coverage."""
    zp = simulate_dataset(N=64, n_positions=30, seed=0, probe_kind="zone_plate", scan="spiral")
    assert zp.raw.diff3d.shape == (30, 64, 64)
    assert zp.info["probe_kind"] == "zone_plate" and zp.info["scan"] == "spiral"
    big = simulate_dataset(N=128, n_positions=9, seed=0, nphotons=1e7)
    assert big.raw.diff3d.shape == (9, 128, 128)
    assert big.counts.sum(axis=(1, 2)).mean() == pytest.approx(1e7, rel=1e-3)


def test_dataset_rejects_bad_arguments() -> None:
    """Bad input: too-small object, odd N, non-positive photons, bad overlap, negative seed."""
    with pytest.raises(ValueError, match="too small"):
        simulate_dataset(N=64, n_positions=100, object_size=80)
    with pytest.raises(ValueError, match="even"):
        simulate_dataset(N=65, n_positions=4)
    with pytest.raises(ValueError, match="nphotons"):
        simulate_dataset(N=64, n_positions=4, nphotons=0)
    with pytest.raises(ValueError, match="overlap"):
        simulate_dataset(N=64, n_positions=4, overlap=1.0)
    with pytest.raises(ValueError, match="seed"):
        simulate_dataset(N=64, n_positions=4, seed=-1)
    with pytest.raises(ValueError, match="scan"):
        simulate_dataset(N=64, n_positions=4, scan="zigzag")  # type: ignore[arg-type]


def test_train_test_use_the_same_probe_and_different_objects() -> None:
    """D11: simulate_train_test gives two objects from different streams, the same probe shape,
    the requested sizes and nphotons each; it is reproducible."""
    train, test = simulate_train_test(N=64, n_train=25, n_test=16, nphotons=1e5, seed=4)
    assert len(train) == 25 and len(test) == 16
    assert not np.array_equal(train.object[:40, :40], test.object[:40, :40])
    shape_train = train.probe / np.abs(train.probe).max()
    shape_test = test.probe / np.abs(test.probe).max()
    np.testing.assert_allclose(shape_train, shape_test, atol=1e-6)
    for ds in (train, test):
        assert ds.counts.sum(axis=(1, 2)).mean() == pytest.approx(1e5, rel=1e-2)
    again, _ = simulate_train_test(N=64, n_train=25, n_test=16, nphotons=1e5, seed=4)
    assert again.raw.diff3d.tobytes() == train.raw.diff3d.tobytes()
    assert train.info["role"] == "train" and test.info["role"] == "test"


def test_split_by_region_leaves_no_shared_pixels() -> None:
    """D11: the two regions are separated by N pixels, so no patch footprint is shared."""
    ds = simulate_dataset(N=64, n_positions=400, seed=2, nphotons=1e4, keep_counts=True)
    top, bottom = split_by_region(ds, fraction=0.4, axis="y")
    assert len(top) > 0 and len(bottom) > 0 and len(top) + len(bottom) < len(ds)
    assert bottom.raw.ycoords.min() - top.raw.ycoords.max() >= 64
    np.testing.assert_array_equal(top.raw.objectGuess, ds.object)
    assert top.counts is not None and top.counts.shape[0] == len(top)
    with pytest.raises(ValueError, match="empty"):
        split_by_region(ds, fraction=0.5, gap_px=1000)


def test_save_npz_round_trips_through_rawdata(
    small: SimulatedDataset, tmp_path: pytest.TempPathFactory
) -> None:
    """DATA contract: save_npz writes every RawData.to_file key (same arrays) plus nphotons and
    the seed, and RawData.from_file reads the ground truth back."""
    path = save_npz(small, tmp_path / "sim.npz")
    small.raw.to_file(tmp_path / "ref.npz")
    with np.load(path) as ours, np.load(tmp_path / "ref.npz") as ref:
        assert set(ref.files) <= set(ours.files)
        for key in ref.files:
            np.testing.assert_array_equal(ours[key], ref[key], err_msg=key)
        assert float(ours["nphotons"]) == 1e6
        assert int(ours["sim_seed"]) == 3
    back = RawData.from_file(path)
    np.testing.assert_array_equal(back.diff3d, small.raw.diff3d)
    np.testing.assert_array_equal(back.objectGuess, small.object)
    np.testing.assert_array_equal(back.Y, small.raw.Y)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ref.npz", "sim.npz"]
    with pytest.raises(FileNotFoundError, match="does not exist"):
        save_npz(small, tmp_path / "missing" / "x.npz")


def test_a_seed_sequence_can_be_reused() -> None:
    """ARCH-011: passing the same SeedSequence twice gives the same dataset (it is not consumed)."""
    ss = np.random.SeedSequence(99)
    a = simulate_dataset(N=64, n_positions=9, nphotons=1e4, seed=ss)
    b = simulate_dataset(N=64, n_positions=9, nphotons=1e4, seed=ss)
    assert a.raw.diff3d.tobytes() == b.raw.diff3d.tobytes()
    assert a.seed is None and a.info["seed"] is None


@pytest.mark.parametrize("family", OBJECT_FAMILIES)
def test_every_object_family_is_seeded_structured_and_in_range(family: str) -> None:
    """Object families (the pretrained model's training and held-out test data): seeded, finite,
    amplitude in (0, 1], phase within [-1, 1] rad, and with structure in both."""
    a = simulate_object((96, 80), seed=7, family=family)
    b = simulate_object((96, 80), seed=7, family=family)
    np.testing.assert_array_equal(a, b)
    assert a.shape == (96, 80) and a.dtype == np.complex64
    amp, phase = np.abs(a), np.angle(a)
    assert 0.0 < amp.min() and amp.max() <= 1.0 + 1e-6
    assert -1.0 - 1e-6 <= phase.min() and phase.max() <= 1.0 + 1e-6
    assert amp.std() > 0.05 and phase.std() > 0.05
    assert not np.array_equal(a, simulate_object((96, 80), seed=8, family=family))


def test_object_families_differ_and_unknown_family_is_refused() -> None:
    mixed = simulate_object(64, seed=1)
    grains = simulate_object(64, seed=1, family="grains")
    assert not np.allclose(mixed, grains)
    with pytest.raises(ValueError, match="object family must be one of mixed, grains, siemens"):
        simulate_object(64, seed=1, family="cells")


def test_dataset_records_its_object_family() -> None:
    ds = simulate_dataset(N=64, n_positions=16, seed=3, object_family="siemens")
    assert ds.info["object_family"] == "siemens"
