"""Tests of ptycho.loader (ARCH-007; specs/data_contracts.md DATA-012, DATA-013, DATA-014)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ptycho.loader import (
    PtychoDataContainer,
    container_from_raw,
    load,
    normalize_diffraction,
    split_container,
)
from ptycho.raw_data import RawData

N = 64


def _probe() -> np.ndarray:
    i = np.arange(N) - N / 2
    return np.exp(-(i[:, None] ** 2 + i[None, :] ** 2) / 50.0).astype(np.complex64)


def _raw(m: int = 16, with_object: bool = True, start_shift: float = 0.0) -> RawData:
    side = int(np.ceil(np.sqrt(m)))
    yy, xx = np.mgrid[0:side, 0:side]
    x = 40.0 + 6 * xx.ravel()[:m]
    y = 40.0 + 5 * yy.ravel()[:m]
    rng = np.random.default_rng(0)
    counts = rng.poisson(9.0, (m, N, N)).astype(np.uint16)
    obj = np.exp(1j * rng.uniform(-1, 1, (130, 130))).astype(np.complex64) if with_object else None
    return RawData(
        x,
        y,
        x + start_shift,
        y - start_shift,
        counts,
        _probe()[None],
        np.zeros(m, np.int64),
        objectGuess=obj,
    )


# --- normalisation ---------------------------------------------------------------------------


def test_normalize_diffraction_gives_mean_energy_n_over_2_squared() -> None:
    """DATA-012 (ARCH-007): mean per-pattern energy (N/2)^2, float32 output, float factor."""
    amp = np.random.default_rng(1).random((7, N, N)) * 30
    out, factor = normalize_diffraction(amp)
    assert out.dtype == np.float32 and out.shape == amp.shape
    assert isinstance(factor, float)
    assert np.mean(np.sum(out.astype(np.float64) ** 2, axis=(1, 2))) == pytest.approx(
        (N / 2) ** 2, rel=1e-6
    )
    np.testing.assert_allclose(out, amp * factor, rtol=1e-6)


def test_normalize_diffraction_channel_format_and_integer_input() -> None:
    """DATA-012: axes=(1, 2) for (B,N,N,C); uint16 input is squared in float64 (no overflow)."""
    amp = np.full((3, N, N, 4), 60000, dtype=np.uint16)
    out, factor = normalize_diffraction(amp, axes=(1, 2))
    assert out.shape == (3, N, N, 4)
    assert np.mean(np.sum(out.astype(np.float64) ** 2, axis=(1, 2))) == pytest.approx(
        (N / 2) ** 2, rel=1e-6
    )
    assert factor == pytest.approx(np.sqrt((N / 2) ** 2 / (N * N * 60000.0**2)))


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (np.zeros((2, N, N)), "all diffraction patterns are zero"),
        (np.ones((2, N, 32)), "must be square, got 64x32"),
        (np.full((2, N, N), np.nan), "NaN/Inf"),
    ],
)
def test_normalize_diffraction_bad_input(data: np.ndarray, message: str) -> None:
    """DATA-006: zero, non-square or non-finite data cannot be normalised."""
    with pytest.raises(ValueError, match=message):
        normalize_diffraction(data)


# --- load ------------------------------------------------------------------------------------


def test_load_builds_container_from_grouped_dict() -> None:
    """DATA-013: load() maps the grouped dict onto the container's NumPy arrays."""
    raw = _raw(16, start_shift=0.75)
    grouped = raw.generate_grouped_data(N, K=5, seed=0, gridsize=2)
    c = load(lambda: grouped, raw.probe_modes, which=None, create_split=False)
    assert len(c) == 16
    assert isinstance(c.X, np.ndarray) and c.X.dtype == np.float32
    np.testing.assert_array_equal(c.X, grouped["X_full"])
    np.testing.assert_array_equal(c.local_offsets, grouped["coords_relative"])
    np.testing.assert_array_equal(c.coords_nominal, grouped["coords_relative"])
    np.testing.assert_array_equal(c.coords, grouped["coords_relative"])
    np.testing.assert_array_equal(c.coords_true, grouped["coords_start_relative"])
    np.testing.assert_array_equal(c.global_offsets, grouped["coords_offsets"])
    np.testing.assert_array_equal(c.nn_indices, grouped["nn_indices"])
    assert c.probe.shape == (N, N) and c.probe.dtype == np.complex64
    np.testing.assert_array_equal(c.probe, raw.probeGuess)  # unnormalised, first mode
    assert c.norm_factor == pytest.approx(grouped["norm_factor"])
    assert c.Y is not None and c.Y.dtype == np.complex64
    np.testing.assert_allclose(c.Y_I, np.abs(grouped["Y"]), rtol=1e-6)
    np.testing.assert_allclose(c.Y_phi, np.angle(grouped["Y"]), rtol=1e-6)
    assert c.N == N and c.gridsize == 2


def test_load_without_ground_truth_has_no_placeholder() -> None:
    """DATA-013: without Y the container says so (Y, Y_I, Y_phi are None)."""
    raw = _raw(9, with_object=False)
    c = load(lambda: raw.generate_grouped_data(N), raw.probeGuess)
    assert c.Y is None and c.Y_I is None and c.Y_phi is None


def test_load_normalises_when_only_diffraction_is_given() -> None:
    """DATA-013: a dict with 'diffraction' but no 'X_full' is normalised in load()."""
    raw = _raw(9)
    grouped = raw.generate_grouped_data(N)
    partial = {k: v for k, v in grouped.items() if k not in ("X_full", "norm_factor")}
    c = load(lambda: partial, raw.probeGuess)
    np.testing.assert_allclose(c.X, grouped["X_full"], rtol=1e-6)
    assert c.norm_factor == pytest.approx(grouped["norm_factor"])


def test_load_create_split_keeps_first_fraction_for_train() -> None:
    """DATA-013: create_split: 'train' = first int(B * frac) groups, 'test' = the rest."""
    raw = _raw(16)
    grouped = raw.generate_grouped_data(N)
    train = load(lambda: (grouped, 0.7), raw.probeGuess, which="train", create_split=True)
    test = load(lambda: (grouped, 0.7), raw.probeGuess, which="test", create_split=True)
    assert len(train) == 11 and len(test) == 5
    np.testing.assert_array_equal(train.X, grouped["X_full"][:11])
    np.testing.assert_array_equal(test.global_offsets, grouped["coords_offsets"][11:])
    assert test.Y is not None
    np.testing.assert_array_equal(test.Y, grouped["Y"][11:])


def test_load_bad_arguments() -> None:
    """DATA-013: wrong 'which', a missing key, or a non-dict are ValueErrors."""
    raw = _raw(9)
    grouped = raw.generate_grouped_data(N)
    with pytest.raises(ValueError, match="which must be 'train' or 'test'"):
        load(lambda: (grouped, 0.5), raw.probeGuess, which="val", create_split=True)
    with pytest.raises(ValueError, match="missing coords_relative"):
        load(lambda: {k: v for k, v in grouped.items() if k != "coords_relative"}, raw.probeGuess)
    with pytest.raises(ValueError, match="grouped-data dict"):
        load(lambda: [1, 2], raw.probeGuess)


def test_ptychodus_builtin_call_sequence() -> None:
    """DATA-013: the calls of Ptychodus's built-in client work (uint32 counts, (modes,N,N)
    probe, K=7, nsamples=1 literal, loader.load(lambda: grouped, ...))."""
    side = np.arange(4) * 6.0 + 40
    x, y = np.meshgrid(side, side)
    counts = np.random.default_rng(2).poisson(30, (16, N, N)).astype(np.uint32)
    raw = RawData.from_coords_without_pc(
        xcoords=x.ravel(),
        ycoords=y.ravel(),
        diff3d=counts,
        probeGuess=np.stack([_probe(), 0.1 * _probe()]),
        scan_index=np.zeros(16, np.int64),
        objectGuess=np.ones((120, 120), np.complex64),
    )
    grouped = raw.generate_grouped_data(N, K=7, nsamples=1, gridsize=1)
    c = load(lambda: grouped, raw.probeGuess, which=None, create_split=False)
    assert c.X.shape == (1, N, N, 1)
    assert c.local_offsets.shape == (1, 1, 2, 1)
    assert c.global_offsets.shape == (1, 1, 2, 1)
    full = load(
        lambda: raw.generate_grouped_data(N, K=7, nsamples=None, gridsize=1), raw.probeGuess
    )
    assert full.X.shape == (16, N, N, 1)
    np.testing.assert_array_equal(full.global_offsets[:, 0, 0, 0], x.ravel())
    np.testing.assert_array_equal(full.local_offsets, 0.0)


# --- container -------------------------------------------------------------------------------


def test_container_from_raw_and_n_mismatch() -> None:
    """DATA-013: container_from_raw groups and loads; a different N names both sizes."""
    raw = _raw(16)
    c = container_from_raw(raw, N, gridsize=2, n_groups=6, K=4, seed=1)
    assert c.X.shape == (6, N, N, 4)
    again = container_from_raw(raw, N, gridsize=2, n_groups=6, K=4, seed=1)
    np.testing.assert_array_equal(c.nn_indices, again.nn_indices)
    with pytest.raises(ValueError, match="requested N=128 but the diffraction patterns are 64x64"):
        container_from_raw(raw, 128)


def test_container_validates_shapes() -> None:
    """DATA-013: mismatched Y channels or coordinate shapes are ValueErrors."""
    X = np.ones((3, N, N, 4), np.float32)
    coords = np.zeros((3, 1, 2, 4))
    offsets = np.zeros((3, 1, 2, 1))
    with pytest.raises(ValueError, match="Y has 1 channels but X has 4"):
        PtychoDataContainer(X, coords, offsets, _probe(), Y=np.ones((3, N, N, 1), np.complex64))
    with pytest.raises(ValueError, match=r"global_offsets must have shape \(3, 1, 2, 1\)"):
        PtychoDataContainer(X, coords, np.zeros((3, 2)), _probe())
    with pytest.raises(ValueError, match="probe is 32x32 but the diffraction patterns are 64x64"):
        PtychoDataContainer(X, coords, offsets, np.ones((32, 32), np.complex64))


def test_subset_selects_groups() -> None:
    """DATA-013: subset keeps the chosen groups of every array."""
    c = container_from_raw(_raw(16), N, gridsize=2, K=4, seed=0)
    s = c.subset([3, 0, 5])
    assert len(s) == 3
    np.testing.assert_array_equal(s.X, c.X[[3, 0, 5]])
    np.testing.assert_array_equal(s.nn_indices, c.nn_indices[[3, 0, 5]])
    assert s.Y is not None and c.Y is not None
    np.testing.assert_array_equal(s.Y, c.Y[[3, 0, 5]])
    mask = np.zeros(16, bool)
    mask[[1, 2]] = True
    assert len(c.subset(mask)) == 2
    with pytest.raises(ValueError, match="subset indices must lie in"):
        c.subset([16])


def test_container_npz_round_trip(tmp_path: Path) -> None:
    """DATA-013: to_npz / from_npz reproduce every array; the write leaves no temp file."""
    c = container_from_raw(_raw(9, start_shift=0.5), N, gridsize=1)
    path = tmp_path / "c.npz"
    c.to_npz(path)
    assert [p.name for p in tmp_path.iterdir()] == ["c.npz"]
    with np.load(path) as f:
        assert {
            "X",
            "Y",
            "coords_nominal",
            "coords_true",
            "global_offsets",
            "local_offsets",
            "nn_indices",
            "probe",
            "norm_factor",
        } <= set(f.files)
    back = PtychoDataContainer.from_npz(path)
    for attr in (
        "X",
        "Y",
        "coords_nominal",
        "coords_true",
        "global_offsets",
        "nn_indices",
        "probe",
    ):
        np.testing.assert_array_equal(getattr(back, attr), getattr(c, attr), err_msg=attr)
    assert back.norm_factor == c.norm_factor


# --- split -----------------------------------------------------------------------------------


def test_split_container_is_seeded_disjoint_and_complete() -> None:
    """DATA-014: seeded random split; parts disjoint, union = all, sizes floor(B * fraction)."""
    c = container_from_raw(_raw(25), N, gridsize=1)
    train, val = split_container(c, 0.2, seed=4)
    assert len(train) == 20 and len(val) == 5
    t_idx, v_idx = train.nn_indices[:, 0], val.nn_indices[:, 0]
    assert set(t_idx.tolist()).isdisjoint(v_idx.tolist())
    assert sorted(t_idx.tolist() + v_idx.tolist()) == list(range(25))
    assert np.all(np.diff(t_idx) > 0) and np.all(np.diff(v_idx) > 0)  # original order kept
    _, val2 = split_container(c, 0.2, seed=4)
    np.testing.assert_array_equal(val2.nn_indices, val.nn_indices)
    _, val3 = split_container(c, 0.2, seed=5)
    assert not np.array_equal(val3.nn_indices, val.nn_indices)


def test_split_container_can_give_empty_validation() -> None:
    """DATA-014: fraction 0 or too little data gives an empty validation container."""
    c = container_from_raw(_raw(9), N, gridsize=1)
    train, val = split_container(c, 0.0, seed=0)
    assert len(train) == 9 and len(val) == 0 and val.X.shape == (0, N, N, 1)
    train, val = split_container(c, 0.05, seed=0)
    assert len(train) == 9 and len(val) == 0
    one = c.subset([0])
    train, val = split_container(one, 0.9, seed=0)
    assert len(train) == 1 and len(val) == 0


@pytest.mark.parametrize("fraction", [-0.1, 1.0, float("nan")])
def test_split_container_rejects_bad_fraction(fraction: float) -> None:
    """DATA-014: validation_fraction must lie in [0, 1)."""
    c = container_from_raw(_raw(9), N, gridsize=1)
    with pytest.raises(ValueError, match=r"validation_fraction must lie in \[0, 1\)"):
        split_container(c, fraction, seed=0)
