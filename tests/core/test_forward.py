"""Tests for ptycho.physics.forward: far-field propagator, activations, smoothing, losses."""

from __future__ import annotations

import numpy as np
import pytest

from ptycho.physics.forward import (
    amp_activation,
    combine_amp_phase,
    complex_mae,
    diffraction_mae,
    far_field_amplitude,
    forward_amplitude,
    gaussian_kernel_1d,
    gaussian_smooth_3x3,
    illuminate,
    intensity_scale,
    phase_activation,
    poisson_nll,
)
from ptycho.physics.noise import poisson_amplitude, poisson_counts

N = 64


def test_far_field_is_orthonormal_parseval() -> None:
    """ARCH-006: sum A^2 == sum |Psi|^2 to 1e-6 relative."""
    rng = np.random.default_rng(0)
    psi = (rng.normal(size=(3, N, N)) + 1j * rng.normal(size=(3, N, N))).astype(np.complex64)
    amp = far_field_amplitude(psi)
    assert amp.shape == psi.shape and amp.dtype == np.float32
    lhs = np.sum(amp.astype(np.float64) ** 2, axis=(-2, -1))
    rhs = np.sum(np.abs(psi.astype(np.complex128)) ** 2, axis=(-2, -1))
    np.testing.assert_allclose(lhs, rhs, rtol=1e-6)


def test_far_field_dc_of_unit_field_is_n_at_centre_pixel() -> None:
    """ARCH-006/ARCH-001: a constant unit field has all its amplitude N at pixel (N/2, N/2)."""
    amp = far_field_amplitude(np.ones((N, N), dtype=np.complex64))
    assert amp[N // 2, N // 2] == pytest.approx(N, rel=1e-6)
    rest = amp.copy()
    rest[N // 2, N // 2] = 0
    assert np.max(rest) < 1e-4


def test_far_field_has_no_real_space_shift_so_amplitude_ignores_translation() -> None:
    """ARCH-006: a circular shift of Psi only adds a phase ramp; A is unchanged."""
    rng = np.random.default_rng(1)
    psi = rng.normal(size=(N, N)) + 1j * rng.normal(size=(N, N))
    a = far_field_amplitude(psi)
    b = far_field_amplitude(np.roll(psi, (5, -3), axis=(0, 1)))
    assert a.dtype == np.float64
    np.testing.assert_allclose(a, b, atol=1e-10)


def test_forward_amplitude_applies_probe_smoothing_and_mask() -> None:
    """D3: forward_amplitude = far_field(mask * smooth(P * O))."""
    rng = np.random.default_rng(2)
    obj = combine_amp_phase(rng.uniform(0.5, 1.0, (2, N, N)), rng.uniform(-1, 1, (2, N, N)))
    probe = (rng.normal(size=(N, N)) + 1j * rng.normal(size=(N, N))).astype(np.complex64)
    mask = (rng.uniform(size=(N, N)) > 0.3).astype(np.float32)
    got = forward_amplitude(obj, probe, smoothing_sigma=0.7, probe_mask=mask)
    want = far_field_amplitude(gaussian_smooth_3x3(illuminate(obj, probe), 0.7) * mask)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    plain = forward_amplitude(obj, probe)
    np.testing.assert_allclose(plain, far_field_amplitude(obj * probe), rtol=1e-5, atol=1e-5)


def test_illuminate_rejects_probe_of_wrong_shape() -> None:
    """D3: the probe must match the patch size; the error names both shapes."""
    with pytest.raises(ValueError, match=r"\(32, 32\)"):
        illuminate(np.ones((2, N, N), np.complex64), np.ones((32, 32), np.complex64))


def test_combine_amp_phase_is_polar_form() -> None:
    """D3: O = amp * exp(i * phi)."""
    out = combine_amp_phase(np.array([2.0], np.float32), np.array([np.pi / 2], np.float32))
    assert out.dtype == np.complex64
    np.testing.assert_allclose(out, [2j], atol=1e-6)


@pytest.mark.parametrize(
    ("name", "x", "expected"),
    [
        ("sigmoid", [0.0, 100.0, -100.0], [0.5, 1.0, 0.0]),
        ("swish", [0.0, 2.0], [0.0, 2.0 / (1.0 + np.exp(-2.0))]),
        ("softplus", [0.0, 50.0], [np.log(2.0), 50.0]),
        ("relu", [-1.0, 3.0], [0.0, 3.0]),
    ],
)
def test_amp_activations_values(name: str, x: list[float], expected: list[float]) -> None:
    """D3: the four amplitude activations, numerically stable at large |x|."""
    np.testing.assert_allclose(amp_activation(name, np.array(x)), expected, rtol=1e-12, atol=1e-12)


def test_amp_activation_unknown_name_lists_choices() -> None:
    """D3: an unknown activation is a ValueError naming the allowed ones."""
    with pytest.raises(ValueError, match="sigmoid, swish, softplus, relu"):
        amp_activation("tanh", np.zeros(2))


def test_phase_activation_is_pi_tanh() -> None:
    """D3: phi = pi * tanh(x), bounded by pi."""
    x = np.array([-50.0, 0.0, 0.3])
    np.testing.assert_allclose(phase_activation(x), np.pi * np.tanh(x))
    assert np.all(np.abs(phase_activation(np.array([1e3]))) <= np.pi)


def test_gaussian_kernel_is_softmax_over_three_taps() -> None:
    """D3 (exit-wave smoothing): 1-D kernel softmax(-x^2 / (2 sigma^2)) over {-1, 0, 1}."""
    k = gaussian_kernel_1d(1.0)
    e = np.exp(-0.5)
    np.testing.assert_allclose(k, [e / (1 + 2 * e), 1 / (1 + 2 * e), e / (1 + 2 * e)])


def test_gaussian_smoothing_reflect_padding_and_identity_at_sigma_zero() -> None:
    """D3: 3x3 blur, REFLECT padding, real and imaginary parts; sigma 0 is the identity."""
    rng = np.random.default_rng(3)
    field = (rng.normal(size=(5, 6)) + 1j * rng.normal(size=(5, 6))).astype(np.complex64)
    assert np.array_equal(gaussian_smooth_3x3(field, 0.0), field)
    k = gaussian_kernel_1d(0.8)
    kernel = np.outer(k, k)
    padded = np.pad(field.astype(np.complex128), 1, mode="reflect")
    want = np.zeros((5, 6), dtype=np.complex128)
    for r in range(5):
        for c in range(6):
            want[r, c] = np.sum(kernel * padded[r : r + 3, c : c + 3])
    got = gaussian_smooth_3x3(field, 0.8)
    assert got.dtype == np.complex64
    np.testing.assert_allclose(got, want, atol=1e-5)
    # reflect (not edge-repeat): the corner mixes pixel (1, 1), not a repeated edge
    assert padded[0, 0] == field[1, 1]


def test_intensity_scale_closed_form() -> None:
    """ARCH-007: s = sqrt(nphotons) / (N/2), 988.2118 for 1e9 photons at N=64."""
    assert intensity_scale(1e9, 64) == pytest.approx(988.2118, abs=1e-4)
    with pytest.raises(ValueError, match="nphotons"):
        intensity_scale(0.0, 64)


def test_poisson_nll_is_finite_at_zero_prediction() -> None:
    """ARCH-009: the eps inside the log keeps the loss finite when pred = 0."""
    value = poisson_nll(np.zeros(4), np.array([0.0, 1.0, 5.0, 100.0]))
    assert np.isfinite(value)
    assert value == pytest.approx(-np.mean(np.array([0.0, 1.0, 5.0, 100.0]) * np.log(1e-6)))


def test_poisson_nll_minimised_at_pred_equal_meas() -> None:
    """ARCH-009: over a scalar prediction, the NLL minimum is at pred = measured counts."""
    meas = 37.0
    grid = np.linspace(1.0, 100.0, 9901)
    values = np.array([poisson_nll(np.array([g]), np.array([meas])) for g in grid])
    assert grid[np.argmin(values)] == pytest.approx(meas, abs=0.02)


def test_diffraction_mae_and_complex_mae_windows() -> None:
    """ARCH-009: MAE on amplitudes; complex MAE = mean |pred - target| over an optional window."""
    assert diffraction_mae(np.array([1.0, 3.0]), np.array([2.0, 1.0])) == pytest.approx(1.5)
    pred = np.zeros((2, 8, 8), dtype=np.complex64)
    target = np.zeros((2, 8, 8), dtype=np.complex64)
    target[:, 2:6, 2:6] = 3 + 4j  # |diff| = 5 inside the central 4x4
    assert complex_mae(pred, target) == pytest.approx(5 * 16 / 64)
    assert complex_mae(pred, target, window=4) == pytest.approx(5.0)
    mask = np.zeros((8, 8))
    mask[2:6, 2:6] = 1
    assert complex_mae(pred, target, window=mask) == pytest.approx(5.0)
    channel_last = np.moveaxis(target, 0, -1)[None]  # (1, 8, 8, 2)
    assert complex_mae(np.zeros_like(channel_last), channel_last, window=4, axes=(1, 2)) == (
        pytest.approx(5.0)
    )


def test_poisson_noise_is_seeded_and_unbiased() -> None:
    """ARCH-011/D4: Poisson draws come from an explicit Generator; same seed, same counts."""
    lam = np.full((64, 64), 50.0)
    a = poisson_counts(lam, np.random.default_rng(7))
    b = poisson_counts(lam, np.random.default_rng(7))
    assert a.dtype == np.int64
    np.testing.assert_array_equal(a, b)
    assert a.mean() == pytest.approx(50.0, rel=0.02)
    with pytest.raises(ValueError, match="Generator"):
        poisson_counts(lam, None)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=">= 0"):
        poisson_counts(-lam, 0)


def test_poisson_amplitude_returns_sqrt_counts_over_scale() -> None:
    """D3: noisy amplitude = sqrt(Poisson((s A)^2)) / s, so (s * result)^2 are integer counts."""
    amp = np.full((8, 8), 0.5, dtype=np.float32)
    scale = 20.0
    noisy = poisson_amplitude(amp, scale, np.random.default_rng(1))
    assert noisy.dtype == np.float32
    counts = (scale * noisy.astype(np.float64)) ** 2
    np.testing.assert_allclose(counts, np.round(counts), atol=1e-3)
    again = poisson_amplitude(amp, scale, 1)
    np.testing.assert_array_equal(noisy, again)
