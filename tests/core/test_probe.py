"""Tests of ptycho.probe (ARCH-008; specs/data_contracts.md DATA-004, DATA-015, DATA-016)."""

from __future__ import annotations

import sys
import types
from typing import Any

import numpy as np
import pytest

from ptycho.probe import (
    as_probe_modes,
    default_probe,
    estimate_gaussian_probe,
    first_mode,
    get_default_probe,
    normalize_probe,
    probe_mask,
    set_probe_guess,
)

N = 64


@pytest.fixture
def legacy_cfg(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """A fresh ``ptycho.params.cfg`` dict (the real module when present)."""
    try:
        from ptycho import params
    except ImportError:  # params.py is written by another module owner
        params = types.ModuleType("ptycho.params")
        params.cfg = {}  # type: ignore[attr-defined]
        monkeypatch.setitem(sys.modules, "ptycho.params", params)
        import ptycho

        monkeypatch.setattr(ptycho, "params", params, raising=False)
    cfg: dict[str, Any] = {"probe_scale": 4.0}
    monkeypatch.setattr(params, "cfg", cfg)
    return cfg


def test_probe_mask_is_a_centred_disk_of_radius_n_over_4() -> None:
    """ARCH-008: mask = r < N/4 about (N/2 - 0.5, N/2 - 0.5), float32."""
    m = probe_mask(N)
    assert m.shape == (N, N) and m.dtype == np.float32
    i = np.arange(N) - (N / 2 - 0.5)
    expected = (np.sqrt(i[:, None] ** 2 + i[None, :] ** 2) < N / 4).astype(np.float32)
    np.testing.assert_array_equal(m, expected)
    np.testing.assert_array_equal(m, m[::-1, :])  # symmetric about the geometric centre
    np.testing.assert_array_equal(m, m.T)
    assert m[N // 2, N // 2] == 1 and m[0, 0] == 0
    assert m[N // 2, N // 2 + N // 4 - 1] == 1 and m[N // 2, N // 2 + N // 4] == 0


def test_default_probe_is_the_smoothed_disk() -> None:
    """DATA-015: default probe: 376 px above 0.5 at N=64, maximum 1, zero phase, complex64."""
    p = default_probe(N)
    assert p.shape == (N, N) and p.dtype == np.complex64
    assert int((np.abs(p) > 0.5).sum()) == 376
    assert np.abs(p).max() == pytest.approx(1.0, abs=1e-6)
    assert np.all(p.imag == 0)


def test_normalized_default_probe_matches_reference_numbers() -> None:
    """ARCH-008: after normalisation mean|mask P| = 1/probe_scale (0.25, max 2.72, energy 2505)."""
    p = normalize_probe(default_probe(N), probe_scale=4.0)
    assert p.shape == (N, N) and p.dtype == np.complex64
    assert float(np.mean(np.abs(probe_mask(N) * p))) == pytest.approx(0.25, rel=1e-6)
    assert float(np.abs(p).max()) == pytest.approx(2.72, abs=0.01)
    assert float(np.sum(np.abs(p) ** 2)) == pytest.approx(2505, rel=1e-3)


@pytest.mark.parametrize("scale", [1.0, 10.0])
def test_normalize_probe_scale(scale: float) -> None:
    """ARCH-008: mean |mask P| = 1/probe_scale for any phase-bearing probe."""
    rng = np.random.default_rng(0)
    p = default_probe(N) * np.exp(1j * rng.uniform(-3, 3, (N, N))) * 7.0
    out = normalize_probe(p, probe_scale=scale)
    assert float(np.mean(np.abs(probe_mask(N) * out))) == pytest.approx(1 / scale, rel=1e-5)
    np.testing.assert_allclose(np.angle(out), np.angle(p.astype(np.complex64)), atol=1e-5)


def test_normalize_probe_uses_the_first_mode() -> None:
    """DATA-004: a (modes, N, N) probe is normalised from its first mode."""
    p0 = default_probe(N)
    modes = np.stack([p0, 5 * p0 + 1j])
    np.testing.assert_allclose(normalize_probe(modes), normalize_probe(p0), rtol=1e-6)


def test_normalize_probe_rejects_zero_probe_and_bad_scale() -> None:
    """DATA-006: a probe with no amplitude in the disk, or probe_scale <= 0, is a ValueError."""
    with pytest.raises(ValueError, match="zero inside the central disk"):
        normalize_probe(np.zeros((N, N), np.complex64))
    with pytest.raises(ValueError, match="probe_scale must be a positive"):
        normalize_probe(default_probe(N), probe_scale=0.0)


def test_probe_shapes_accepted() -> None:
    """DATA-004: (N,N), (N,N,1) and (modes,N,N) probes become (modes,N,N) complex64."""
    p = default_probe(N)
    assert as_probe_modes(p).shape == (1, N, N)
    assert as_probe_modes(p[..., None]).shape == (1, N, N)
    three = np.stack([p, 2 * p, 3 * p])
    out = as_probe_modes(three, N=N)
    assert out.shape == (3, N, N) and out.dtype == np.complex64
    np.testing.assert_array_equal(first_mode(three), p)


@pytest.mark.parametrize(
    ("shape", "message"),
    [
        ((32, 32), "probeGuess is 32x32 but the diffraction patterns are 64x64"),
        ((2, 64, 32), "must be square"),
        ((1, 1, 64, 64), "must have shape"),
    ],
)
def test_probe_shape_errors(shape: tuple[int, ...], message: str) -> None:
    """DATA-006: a probe that does not match N, or has a wrong rank, is a ValueError."""
    with pytest.raises(ValueError, match=message):
        as_probe_modes(np.ones(shape, np.complex64), N=N)


def test_probe_with_nan_is_rejected() -> None:
    """DATA-006: NaN in the probe is a ValueError."""
    p = default_probe(N)
    p[3, 3] = np.nan
    with pytest.raises(ValueError, match="NaN/Inf"):
        as_probe_modes(p)


def test_get_default_probe_formats() -> None:
    """DATA-016: legacy get_default_probe: 'np' real (N,N), 'tf' (N,N,1) complex64 NumPy."""
    np_probe = get_default_probe(N, fmt="np")
    assert np_probe.shape == (N, N) and np.isrealobj(np_probe)
    tf_probe = get_default_probe(N, fmt="tf")
    assert tf_probe.shape == (N, N, 1) and tf_probe.dtype == np.complex64
    np.testing.assert_allclose(tf_probe[..., 0].real, np_probe, rtol=1e-6)
    with pytest.raises(ValueError, match="fmt must be"):
        get_default_probe(N, fmt="torch")


def test_set_probe_guess_stores_normalised_probe_and_returns_the_guess(
    legacy_cfg: dict[str, Any],
) -> None:
    """DATA-016: set_probe_guess(None, (modes,N,N)) stores the normalised first mode as (N,N,1)
    complex64 in cfg['probe'] and returns the unnormalised first mode."""
    p = default_probe(N) * 3.0
    modes = np.stack([p, 0.1 * p])
    returned = set_probe_guess(None, modes)
    assert returned.shape == (N, N, 1) and returned.dtype == np.complex64
    np.testing.assert_array_equal(returned[..., 0], p)
    stored = legacy_cfg["probe"]
    assert isinstance(stored, np.ndarray)
    assert stored.shape == (N, N, 1) and stored.dtype == np.complex64
    np.testing.assert_allclose(stored[..., 0], normalize_probe(p, 4.0), rtol=1e-6)


def test_set_probe_guess_honours_the_legacy_probe_scale(legacy_cfg: dict[str, Any]) -> None:
    """DATA-016: cfg['probe_scale'] (set by update_legacy_dict) is the default scale."""
    legacy_cfg["probe_scale"] = 10.0
    set_probe_guess(None, default_probe(N))
    assert float(np.mean(np.abs(probe_mask(N) * legacy_cfg["probe"][..., 0]))) == pytest.approx(
        0.1, rel=1e-5
    )


def test_set_probe_guess_estimates_a_gaussian_probe_from_data(
    legacy_cfg: dict[str, Any],
) -> None:
    """DATA-016: with no guess the probe is a masked Gaussian estimated from X_train."""
    rng = np.random.default_rng(1)
    X = rng.uniform(0, 1, (5, N, N, 1)).astype(np.float32)
    X[:, N // 2 - 4 : N // 2 + 4, N // 2 - 4 : N // 2 + 4] += 20.0
    returned = set_probe_guess(X, None)
    assert returned.shape == (N, N, 1)
    p = returned[..., 0]
    assert np.all(np.isfinite(p))
    np.testing.assert_array_equal(np.abs(p)[probe_mask(N) == 0], 0)
    assert float(np.abs(p).sum()) == pytest.approx(float(np.abs(default_probe(N)).sum()), rel=1e-5)
    assert np.abs(p)[N // 2, N // 2] == np.abs(p).max()
    assert legacy_cfg["probe"].shape == (N, N, 1)


def test_estimate_gaussian_probe_accepts_stacks_and_rejects_zero_data() -> None:
    """DATA-016: (M,N,N) input works; all-zero data is a ValueError."""
    X = np.ones((3, N, N), np.float32)
    assert estimate_gaussian_probe(X).shape == (N, N)
    with pytest.raises(ValueError, match="all zero"):
        estimate_gaussian_probe(np.zeros((3, N, N)))


def test_set_probe_guess_without_anything_is_an_error(legacy_cfg: dict[str, Any]) -> None:
    """DATA-016: neither a guess nor data is a ValueError."""
    with pytest.raises(ValueError, match="needs a probe_guess or X_train"):
        set_probe_guess(None, None)
    assert "probe" not in legacy_cfg
