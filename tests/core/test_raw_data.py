"""Tests of ptycho.raw_data.RawData (specs/data_contracts.md DATA-001 to DATA-007, DATA-010/011)."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import pytest

from ptycho.raw_data import RawData, inpaint_bad_pixels

N = 64


def _object(h: int = 120, w: int = 128, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    amp = 0.5 + 0.5 * rng.random((h, w))
    phase = rng.uniform(-1, 1, (h, w))
    return (amp * np.exp(1j * phase)).astype(np.complex64)


def _positions(m: int = 9) -> tuple[np.ndarray, np.ndarray]:
    side = int(np.ceil(np.sqrt(m)))
    yy, xx = np.mgrid[0:side, 0:side]
    x = (40 + 8 * xx.ravel()[:m]).astype(np.float64)
    y = (36 + 7 * yy.ravel()[:m]).astype(np.float64)
    return x, y


def _probe() -> np.ndarray:
    i = np.arange(N) - N / 2
    r2 = i[:, None] ** 2 + i[None, :] ** 2
    return (np.exp(-r2 / 60.0) * np.exp(0.3j)).astype(np.complex64)


def _counts(m: int, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).poisson(20.0, (m, N, N)).astype(np.uint32)


def _raw(m: int = 9, **kw: object) -> RawData:
    x, y = _positions(m)
    args: dict[str, object] = {
        "xcoords": x,
        "ycoords": y,
        "xcoords_start": None,
        "ycoords_start": None,
        "diff3d": np.sqrt(_counts(m)).astype(np.float32),
        "probeGuess": _probe(),
        "scan_index": None,
        "objectGuess": _object(),
    }
    args.update(kw)
    return RawData(**args)  # type: ignore[arg-type]


def _save(path: Path, **arrays: object) -> Path:
    np.savez(path, **arrays)  # type: ignore[arg-type]
    return path


# --- counts versus amplitude -----------------------------------------------------------------


def test_integer_counts_become_float32_amplitude(caplog: pytest.LogCaptureFixture) -> None:
    """DATA-002 (D1, ARCH-001): integer diff3d is counts -> sqrt, float32, logged once at INFO."""
    counts = _counts(9)
    counts[0, 0, 0] = 4_000_000_000  # near the uint32 limit: squared in float64, no overflow
    x, y = _positions(9)
    with caplog.at_level(logging.INFO, logger="ptycho.raw_data"):
        raw = RawData.from_coords_without_pc(x, y, counts, _probe(), np.zeros(9, np.int64))
    assert raw.diff3d.dtype == np.float32 and raw.diff3d.shape == (9, N, N)
    np.testing.assert_allclose(raw.diff3d, np.sqrt(counts.astype(np.float64)), rtol=1e-6)
    msgs = [r.getMessage() for r in caplog.records if "converted integer counts" in r.getMessage()]
    assert len(msgs) == 1 and caplog.records[0].levelno == logging.INFO


def test_float_diffraction_is_amplitude_kept_as_is() -> None:
    """DATA-002: a float array is amplitude (no sqrt)."""
    amp = np.random.default_rng(2).random((9, N, N))
    raw = _raw(diff3d=amp)
    assert raw.diff3d.dtype == np.float32
    np.testing.assert_allclose(raw.diff3d, amp.astype(np.float32))


def test_trailing_channel_axis_is_squeezed() -> None:
    """DATA-001: (M, N, N, 1) diffraction is accepted."""
    amp = np.ones((9, N, N, 1), np.float32)
    assert _raw(diff3d=amp).diff3d.shape == (9, N, N)


# --- probes ----------------------------------------------------------------------------------


@pytest.mark.parametrize("layout", ["NN", "NN1", "modes"])
def test_probe_layouts(layout: str) -> None:
    """DATA-004: (N,N), (N,N,1) and (modes,N,N) probes; probeGuess is the first mode."""
    p = _probe()
    given = {"NN": p, "NN1": p[..., None], "modes": np.stack([p, 0.5 * p, 0.1j * p])}[layout]
    raw = _raw(probeGuess=given)
    assert raw.probeGuess.shape == (N, N) and raw.probeGuess.dtype == np.complex64
    np.testing.assert_array_equal(raw.probeGuess, p)
    assert raw.probe_modes.shape == ((3, N, N) if layout == "modes" else (1, N, N))


# --- bad input ----------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_diffraction_is_rejected(bad: float) -> None:
    """DATA-006: NaN/Inf in diffraction."""
    amp = np.ones((9, N, N), np.float32)
    amp[2, 3, 4] = bad
    with pytest.raises(ValueError, match="diff3d contains 1 NaN/Inf values"):
        _raw(diff3d=amp)


@pytest.mark.parametrize("key", ["xcoords", "ycoords", "xcoords_start", "ycoords_start"])
def test_non_finite_coordinates_are_rejected(key: str) -> None:
    """DATA-006: NaN/Inf in any coordinate array, with the array name and index."""
    x, _ = _positions(9)
    bad = x.copy()
    bad[5] = np.nan
    with pytest.raises(ValueError, match=f"{key} contains 1 NaN/Inf values \\(first at index 5\\)"):
        _raw(**{key: bad})


def test_negative_counts_are_rejected() -> None:
    """DATA-006: negative counts (signed integer input)."""
    counts = _counts(9).astype(np.int32)
    counts[1, 2, 3] = -5
    with pytest.raises(ValueError, match="1 negative counts"):
        _raw(diff3d=counts)


def test_negative_amplitudes_are_rejected() -> None:
    """DATA-006: negative amplitudes with a fix (clip)."""
    amp = np.ones((9, N, N), np.float32)
    amp[0, 0, 0] = -0.1
    with pytest.raises(ValueError, match="negative amplitudes.*np.clip"):
        _raw(diff3d=amp)


def test_non_square_patterns_are_rejected() -> None:
    """DATA-006: non-square patterns name both sizes."""
    with pytest.raises(ValueError, match="must be square, got 64x48"):
        _raw(diff3d=np.ones((9, 64, 48), np.float32))


def test_legacy_nnm_layout_is_not_guessed_but_hinted() -> None:
    """DATA-001: (N, N, M) is an error whose message says how to transpose."""
    with pytest.raises(ValueError, match=r"legacy \(N, N, M\) layout.*np.transpose"):
        _raw(diff3d=np.ones((N, N, 9), np.float32))


def test_wrong_rank_diffraction_is_rejected() -> None:
    """DATA-006: diff3d must be (M, N, N)."""
    with pytest.raises(ValueError, match=r"diff3d must have shape \(M, N, N\)"):
        _raw(diff3d=np.ones((N, N), np.float32))


def test_complex_diffraction_is_rejected() -> None:
    """DATA-002: diffraction must be real counts or amplitude."""
    with pytest.raises(ValueError, match="diff3d must be real"):
        _raw(diff3d=np.ones((9, N, N), np.complex64))


def test_position_and_pattern_counts_must_match() -> None:
    """DATA-006: coordinate and pattern counts that differ."""
    with pytest.raises(ValueError, match="got 9 scan positions but 8 diffraction patterns"):
        _raw(diff3d=np.ones((8, N, N), np.float32))


def test_coordinate_arrays_must_have_equal_lengths() -> None:
    """DATA-006: coordinate arrays of different lengths."""
    with pytest.raises(ValueError, match="xcoords has 9 positions but ycoords has 8"):
        _raw(ycoords=np.zeros(8))


def test_two_dimensional_coordinates_are_rejected() -> None:
    """DATA-006: coordinates must be 1-D."""
    with pytest.raises(ValueError, match="xcoords must be a 1-D array"):
        _raw(xcoords=np.zeros((9, 1)))


def test_probe_not_matching_n_is_rejected() -> None:
    """DATA-006: probe shape not matching N."""
    with pytest.raises(ValueError, match="probeGuess is 32x32 but the diffraction patterns are"):
        _raw(probeGuess=np.ones((32, 32), np.complex64))


def test_object_guess_must_be_2d() -> None:
    """DATA-006: objectGuess must be (H, W); a layered object gets a hint."""
    with pytest.raises(ValueError, match=r"objectGuess must be 2-D.*objectGuess\[0\]"):
        _raw(objectGuess=np.ones((1, 100, 100), np.complex64))


def test_scan_index_length_must_match() -> None:
    """DATA-006: scan_index needs one value per position."""
    with pytest.raises(ValueError, match=r"scan_index must have shape \(9,\)"):
        _raw(scan_index=np.zeros(4, np.int64))


def test_y_shape_must_match() -> None:
    """DATA-006: Y given to the constructor must be (M, N, N)."""
    with pytest.raises(ValueError, match=r"Y must have shape \(9, 64, 64\)"):
        _raw(Y=np.ones((9, 32, 32), np.complex64))


# --- bad pixels ------------------------------------------------------------------------------


def test_bad_pixels_are_replaced_by_the_mean_of_good_4_neighbours() -> None:
    """DATA-005: an isolated bad pixel becomes the mean of its 4 neighbours; NaN there is fine."""
    rng = np.random.default_rng(3)
    amp = rng.random((9, N, N)).astype(np.float32)
    amp[:, 10, 20] = np.nan
    mask = np.zeros((N, N), bool)
    mask[10, 20] = True
    raw = _raw(diff3d=amp, bad_pixels=mask)
    expected = (amp[:, 9, 20] + amp[:, 11, 20] + amp[:, 10, 19] + amp[:, 10, 21]) / 4
    np.testing.assert_allclose(raw.diff3d[:, 10, 20], expected, rtol=1e-6)
    untouched = ~mask
    np.testing.assert_array_equal(raw.diff3d[:, untouched], amp[:, untouched])
    assert raw.bad_pixels is not None and raw.bad_pixels.dtype == np.bool_


def test_bad_pixel_block_and_corner_fill_from_their_border() -> None:
    """DATA-005: a bad block fills from outside in; a constant pattern stays constant."""
    amp = np.full((2, N, N), 3.0, np.float32)
    mask = np.zeros((N, N), bool)
    mask[20:25, 30:36] = True
    mask[0, 0] = True
    amp[:, mask] = 1000.0
    out = inpaint_bad_pixels(amp, mask)
    np.testing.assert_allclose(out, 3.0)


def test_bad_pixels_with_integer_counts_are_inpainted_after_sqrt() -> None:
    """DATA-005: counts at bad pixels may be garbage; they are replaced."""
    counts = np.full((9, N, N), 16, np.int64)
    counts[:, 5, 5] = -7  # negative only at a bad pixel: allowed, it is replaced
    mask = np.zeros((N, N), bool)
    mask[5, 5] = True
    raw = _raw(diff3d=counts, bad_pixels=mask)
    np.testing.assert_allclose(raw.diff3d, 4.0)


def test_all_bad_pixels_is_an_error() -> None:
    """DATA-005: a mask marking every pixel bad is a ValueError."""
    with pytest.raises(ValueError, match="marks every detector pixel bad"):
        _raw(bad_pixels=np.ones((N, N), bool))


def test_bad_pixel_mask_shape_must_match() -> None:
    """DATA-005: the mask must be (N, N)."""
    with pytest.raises(ValueError, match=r"bad_pixels has shape \(32, 32\)"):
        _raw(bad_pixels=np.zeros((32, 32), bool))


# --- NPZ I/O ---------------------------------------------------------------------------------


def test_npz_round_trip(tmp_path: Path) -> None:
    """DATA-007: to_file then from_file reproduces every array."""
    x, y = _positions(9)
    mask = np.zeros((N, N), bool)
    mask[1, 1] = True
    raw = RawData(
        x,
        y,
        x + 0.25,
        y - 0.5,
        _counts(9),
        np.stack([_probe(), 0.2 * _probe()]),
        np.arange(9),
        objectGuess=_object(),
        Y=np.ones((9, N, N), np.complex64),
        bad_pixels=mask,
    )
    path = tmp_path / "data.npz"
    raw.to_file(path)
    back = RawData.from_file(path)
    for attr in (
        "xcoords",
        "ycoords",
        "xcoords_start",
        "ycoords_start",
        "diff3d",
        "probeGuess",
        "probe_modes",
        "objectGuess",
        "scan_index",
        "Y",
        "bad_pixels",
    ):
        np.testing.assert_array_equal(getattr(back, attr), getattr(raw, attr), err_msg=attr)
    assert back.diff3d.dtype == np.float32
    assert [p.name for p in tmp_path.iterdir()] == ["data.npz"]  # no temp file left


def test_to_file_is_atomic_when_writing_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DATA-007: a failed write leaves the previous file intact and no temp file."""
    path = tmp_path / "data.npz"
    raw = _raw()
    raw.to_file(path)
    before = path.read_bytes()

    def boom(*args: object, **kwargs: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez_compressed", boom)
    with pytest.raises(OSError, match="disk full"):
        _raw(diff3d=np.zeros((9, N, N), np.float32)).to_file(path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["data.npz"]


def test_to_file_into_missing_folder(tmp_path: Path) -> None:
    """DATA-007: a missing parent folder is a FileNotFoundError naming it."""
    with pytest.raises(FileNotFoundError, match="does not exist"):
        _raw().to_file(tmp_path / "nope" / "data.npz")


def test_from_file_missing_file_names_the_path(tmp_path: Path) -> None:
    """DATA-007: FileNotFoundError with the path."""
    path = tmp_path / "absent.npz"
    with pytest.raises(FileNotFoundError, match="absent.npz"):
        RawData.from_file(path)


def test_from_file_lists_every_missing_key(tmp_path: Path) -> None:
    """DATA-001: missing keys are listed by name, with the fix."""
    path = _save(tmp_path / "d.npz", xcoords=np.zeros(3), objectGuess=_object())
    with pytest.raises(ValueError) as err:
        RawData.from_file(path)
    msg = str(err.value)
    assert "missing required keys: ycoords, diff3d (or 'diffraction'), probeGuess" in msg
    assert "DATA-001" in msg


def test_from_file_minimal_schema_and_defaults(tmp_path: Path) -> None:
    """DATA-001: 'diffraction' alias; start coords, scan_index and objectGuess optional."""
    x, y = _positions(9)
    amp = np.ones((9, N, N), np.float32)
    path = _save(tmp_path / "d.npz", xcoords=x, ycoords=y, diffraction=amp, probeGuess=_probe())
    raw = RawData.from_file(path)
    np.testing.assert_array_equal(raw.xcoords_start, x)
    np.testing.assert_array_equal(raw.ycoords_start, y)
    np.testing.assert_array_equal(raw.scan_index, np.zeros(9, np.int64))
    assert raw.objectGuess is None and raw.Y is None
    np.testing.assert_array_equal(raw.diff3d, amp)


def test_from_file_reads_ptychodus_export(tmp_path: Path) -> None:
    """DATA-001/002/004: Ptychodus's NPZ (uint32 counts, (modes,N,N) probe, bad_pixels)."""
    x, y = _positions(9)
    counts = _counts(9)
    path = _save(
        tmp_path / "train_data.npz",
        xcoords=x,
        ycoords=y,
        xcoords_start=x,
        ycoords_start=y,
        diff3d=counts,
        bad_pixels=np.zeros((N, N), bool),
        probeGuess=_probe()[None],
        objectGuess=_object(),
        scan_index=np.zeros(9, np.int64),
    )
    raw = RawData.from_file(path)
    np.testing.assert_allclose(raw.diff3d, np.sqrt(counts.astype(np.float64)), rtol=1e-6)
    assert raw.probeGuess.shape == (N, N) and raw.probe_modes.shape == (1, N, N)


def test_from_file_uses_y_only_when_it_matches_the_positions(tmp_path: Path) -> None:
    """DATA-001: Y is used when its first axis equals M, ignored (warning) otherwise."""
    x, y = _positions(9)
    base = {
        "xcoords": x,
        "ycoords": y,
        "diff3d": np.ones((9, N, N), np.float32),
        "probeGuess": _probe(),
    }
    good = _save(tmp_path / "a.npz", Y=np.ones((9, N, N, 1), np.complex64), **base)
    assert RawData.from_file(good).Y.shape == (9, N, N)  # type: ignore[union-attr]
    other = _save(tmp_path / "b.npz", Y=np.ones((4, N, N), np.complex64), **base)
    assert RawData.from_file(other).Y is None


def test_from_file_never_unpickles(tmp_path: Path) -> None:
    """DATA-007: a pickled '_metadata' entry is skipped; a pickled required key is an error."""
    x, y = _positions(9)
    base = {"xcoords": x, "ycoords": y, "diff3d": np.ones((9, N, N), np.float32)}
    meta = np.array({"nphotons": 1e6}, dtype=object)
    ok = _save(tmp_path / "a.npz", probeGuess=_probe(), _metadata=meta, **base)
    assert len(RawData.from_file(ok)) == 9
    bad = _save(tmp_path / "b.npz", probeGuess=np.array([_probe()], dtype=object), **base)
    with pytest.raises(ValueError, match="pickled object, which is never loaded"):
        RawData.from_file(bad)


def test_from_file_rejects_non_npz(tmp_path: Path) -> None:
    """DATA-007: a file that is not an NPZ archive is a ValueError."""
    path = tmp_path / "junk.npz"
    path.write_bytes(b"not a zip file at all")
    with pytest.raises(ValueError, match="not a readable NPZ dataset"):
        RawData.from_file(path)
    single = tmp_path / "single.npy"
    np.save(single, np.zeros(3))
    with pytest.raises(ValueError, match="single array"):
        RawData.from_file(single)


def test_from_coords_without_pc_sets_start_equal_to_nominal() -> None:
    """DATA-003: no position correction: start coordinates = nominal."""
    x, y = _positions(9)
    raw = RawData.from_coords_without_pc(x, y, _counts(9), _probe()[None], np.zeros(9, np.int64))
    np.testing.assert_array_equal(raw.xcoords_start, raw.xcoords)
    np.testing.assert_array_equal(raw.ycoords_start, raw.ycoords)
    assert raw.xcoords.dtype == np.float64


# --- grouped data ----------------------------------------------------------------------------


def test_grouped_data_keys_shapes_and_dtypes() -> None:
    """DATA-010: the dict of generate_grouped_data (NumPy only)."""
    raw = _raw(16)
    d = raw.generate_grouped_data(N, K=4, nsamples=None, seed=0, gridsize=2)
    b, c = 16, 4
    assert d["diffraction"].shape == (b, N, N, c) and d["diffraction"].dtype == np.float32
    assert d["X_full"].shape == (b, N, N, c) and d["X_full"].dtype == np.float32
    assert d["Y"].shape == (b, N, N, c) and d["Y"].dtype == np.complex64
    for key in ("coords_nn", "coords_start_nn", "coords_relative", "coords_start_relative"):
        assert d[key].shape == (b, 1, 2, c) and d[key].dtype == np.float64, key
    for key in ("coords_offsets", "coords_start_offsets"):
        assert d[key].shape == (b, 1, 2, 1) and d[key].dtype == np.float64, key
    assert d["nn_indices"].shape == (b, c) and d["nn_indices"].dtype == np.int64
    assert d["objectGuess"].shape == raw.objectGuess.shape  # type: ignore[union-attr]
    assert isinstance(d["norm_factor"], float)
    for v in d.values():
        assert v is None or isinstance(v, np.ndarray | float)


def test_grouped_coordinates_follow_arch_005() -> None:
    """DATA-010 (ARCH-005): coords_nn = [x, y] per channel; offsets = mean;
    relative = -(coords - mean)."""
    raw = _raw(16, xcoords_start=_positions(16)[0] + 1.0)
    d = raw.generate_grouped_data(N, K=5, seed=3, gridsize=2)
    nn = d["nn_indices"]
    np.testing.assert_array_equal(d["coords_nn"][:, 0, 0, :], raw.xcoords[nn])
    np.testing.assert_array_equal(d["coords_nn"][:, 0, 1, :], raw.ycoords[nn])
    centre = d["coords_nn"].mean(axis=3, keepdims=True)
    np.testing.assert_allclose(d["coords_offsets"], centre)
    np.testing.assert_allclose(d["coords_relative"], -(d["coords_nn"] - centre))
    np.testing.assert_allclose(d["coords_start_nn"][:, 0, 0, :], raw.xcoords[nn] + 1.0)
    np.testing.assert_allclose(d["coords_start_relative"], d["coords_relative"])
    np.testing.assert_array_equal(d["diffraction"], np.transpose(raw.diff3d[nn], (0, 2, 3, 1)))


def test_grouped_x_full_has_mean_energy_n_over_2_squared() -> None:
    """DATA-012 (ARCH-007): mean over groups and channels of sum X^2 = (N/2)^2."""
    d = _raw(9).generate_grouped_data(N, gridsize=1)
    energy = np.mean(np.sum(d["X_full"].astype(np.float64) ** 2, axis=(1, 2)))
    assert energy == pytest.approx((N / 2) ** 2, rel=1e-5)
    np.testing.assert_allclose(d["X_full"], d["diffraction"] * d["norm_factor"], rtol=1e-6)


def test_y_is_cut_at_each_channels_own_position() -> None:
    """DATA-011 (D4): ground truth for gridsize 2 = direct crop at each channel's own position
    (integer positions), never mirrored through the group centre."""
    raw = _raw(16)
    obj = raw.objectGuess
    assert obj is not None
    d = raw.generate_grouped_data(N, K=6, seed=1, gridsize=2)
    nn = d["nn_indices"]
    mirrored_differs = False
    for b in range(nn.shape[0]):
        for c in range(4):
            xi, yi = int(raw.xcoords[nn[b, c]]), int(raw.ycoords[nn[b, c]])
            crop = obj[yi - N // 2 : yi + N // 2, xi - N // 2 : xi + N // 2]
            np.testing.assert_array_equal(d["Y"][b, :, :, c], crop)
            # the original's mirrored position 2*centre - own differs for these groups
            mx = 2 * d["coords_offsets"][b, 0, 0, 0] - raw.xcoords[nn[b, c]]
            my = 2 * d["coords_offsets"][b, 0, 1, 0] - raw.ycoords[nn[b, c]]
            mirrored_differs |= bool(abs(mx - xi) > 0.5 or abs(my - yi) > 0.5)
    assert mirrored_differs


def test_y_at_half_pixel_matches_bilinear_reference() -> None:
    """DATA-011 (ARCH-004): a half-pixel position averages the two neighbouring crops."""
    x = np.array([60.5, 64.0])
    y = np.array([50.0, 58.0])
    raw = RawData(
        x, y, None, None, np.ones((2, N, N), np.float32), _probe(), None, objectGuess=_object()
    )
    d = raw.generate_grouped_data(N, gridsize=1)
    obj = raw.objectGuess
    assert obj is not None
    rows = slice(50 - 32, 50 + 32)
    ref = 0.5 * (obj[rows, 60 - 32 : 60 + 32] + obj[rows, 61 - 32 : 61 + 32])
    np.testing.assert_allclose(d["Y"][0, :, :, 0], ref, atol=1e-6)


def test_y_from_precomputed_patches_takes_precedence() -> None:
    """DATA-010: RawData.Y is grouped like the diffraction."""
    patches = (np.arange(9)[:, None, None] * np.ones((9, N, N))).astype(np.complex64)
    raw = _raw(9, Y=patches)
    d = raw.generate_grouped_data(N, K=3, seed=0, gridsize=2)
    np.testing.assert_array_equal(d["Y"][:, 0, 0, :], d["nn_indices"].astype(np.complex64))


def test_y_is_none_without_object_or_patches() -> None:
    """DATA-010: no ground truth -> Y is None."""
    assert _raw(objectGuess=None).generate_grouped_data(N)["Y"] is None


def test_nsamples_semantics(caplog: pytest.LogCaptureFixture) -> None:
    """DATA-009: None = one group per position; an int = that many groups (1 warns)."""
    raw = _raw(9)
    assert raw.generate_grouped_data(N)["X_full"].shape[0] == 9
    assert raw.generate_grouped_data(N, nsamples=4, seed=0)["X_full"].shape[0] == 4
    with caplog.at_level(logging.WARNING, logger="ptycho.raw_data"):
        d = raw.generate_grouped_data(N, K=7, nsamples=1, gridsize=1)
    assert d["X_full"].shape == (1, N, N, 1)
    assert any("nsamples=1 builds a single group" in r.getMessage() for r in caplog.records)


def test_grouping_is_seeded() -> None:
    """DATA-008 (ARCH-011): same seed, same groups."""
    raw = _raw(16)
    a = raw.generate_grouped_data(N, K=6, seed=11, gridsize=2)["nn_indices"]
    b = raw.generate_grouped_data(N, K=6, seed=11, gridsize=2)["nn_indices"]
    np.testing.assert_array_equal(a, b)


def test_requested_n_must_match_the_data() -> None:
    """DATA-006: N different from the data names both."""
    msg = "requested N=128 but the diffraction patterns are 64x64"
    with pytest.raises(ValueError, match=msg):
        _raw().generate_grouped_data(128)


def test_too_few_positions_for_gridsize_in_grouped_data() -> None:
    """DATA-006: fewer positions than a group needs."""
    with pytest.raises(ValueError, match="need at least C=9 positions for gridsize 3, got 4"):
        _raw(4).generate_grouped_data(N, K=8, gridsize=3)


def test_environment_not_polluted(tmp_path: Path) -> None:
    """DATA-007: nothing is written to the current directory by loading and grouping."""
    cwd = Path.cwd()
    before = set(os.listdir(cwd))
    raw = _raw()
    raw.to_file(tmp_path / "x.npz")
    RawData.from_file(tmp_path / "x.npz").generate_grouped_data(N)
    assert set(os.listdir(cwd)) == before


def test_select_keeps_the_chosen_positions_and_shares_probe_and_object() -> None:
    """RawData.select(keep): per-position arrays indexed (indices or mask), the rest kept."""
    from ptycho.simulation import simulate_dataset

    raw = simulate_dataset(N=32, n_positions=12, nphotons=1e4, seed=3).raw
    keep = np.array([0, 4, 7])
    sub = raw.select(keep)
    assert len(sub) == 3
    np.testing.assert_array_equal(sub.xcoords, raw.xcoords[keep])
    np.testing.assert_array_equal(sub.diff3d, raw.diff3d[keep])
    np.testing.assert_array_equal(sub.scan_index, raw.scan_index[keep])
    np.testing.assert_array_equal(sub.objectGuess, raw.objectGuess)
    np.testing.assert_array_equal(sub.probeGuess, raw.probeGuess)
    mask = np.zeros(len(raw), dtype=bool)
    mask[keep] = True
    np.testing.assert_array_equal(raw.select(mask).ycoords, sub.ycoords)
