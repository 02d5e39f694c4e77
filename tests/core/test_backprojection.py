"""ARCH-014: the probe backprojection (NumPy reference) and the normative network layout."""

from __future__ import annotations

import numpy as np
import pytest

from ptycho.config.config import ModelConfig
from ptycho.network_layout import UNET_DEPTH, conv_specs, unet_width
from ptycho.physics.backprojection import (
    BACKPROJECTION_REG,
    backproject,
    backprojection_features,
    probe_far_field_phasor,
)
from ptycho.physics.forward import far_field_amplitude
from ptycho.probe import normalize_probe
from ptycho.simulation import simulate_probe
from ptycho.weights import conv_parameter_count


def _probe(kind: str = "disk", n: int = 64) -> np.ndarray:
    return normalize_probe(simulate_probe(n, kind, seed=0))


def test_backprojection_of_an_empty_object_is_the_probe_weight() -> None:
    """ARCH-014: for O = 1 the measured field is the probe's own, so O' = |P|^2 / (|P|^2 + a)."""
    probe = _probe()
    amplitude = far_field_amplitude(probe.astype(np.complex128))
    estimate = backproject(amplitude, probe)
    weight = np.abs(probe.astype(np.complex128)) ** 2
    expected = weight / (weight + BACKPROJECTION_REG * weight.max())
    np.testing.assert_allclose(estimate, expected, atol=1e-4)  # the phasor floor PHASOR_EPS
    assert estimate.dtype == np.complex128


@pytest.mark.parametrize("kind", ["disk", "zone_plate"])
def test_backprojection_shows_a_weak_phase_object_in_focus_not_its_twin(kind: str) -> None:
    """ARCH-014: with a defocused probe the estimate's phase follows the object, not the twin."""
    n = 64
    probe = _probe(kind, n)
    rng = np.random.default_rng(1)
    from scipy import ndimage

    phase = 0.3 * ndimage.gaussian_filter(rng.standard_normal((n, n)), 2.0) * 10
    obj = np.exp(1j * phase)
    amplitude = far_field_amplitude(probe * obj)
    estimate = backproject(amplitude, probe)
    lit = np.abs(probe) > 0.5 * np.abs(probe).max()
    got = np.angle(estimate)[lit]
    truth = phase[lit] - phase[lit].mean()
    twin = -phase[::-1, ::-1][lit]
    corr = np.corrcoef(got, truth)[0, 1]
    corr_twin = np.corrcoef(got, twin - twin.mean())[0, 1]
    assert corr > 0.5, corr
    assert corr > corr_twin + 0.3, (corr, corr_twin)


def test_backprojection_features_are_the_central_half_real_then_imaginary() -> None:
    """ARCH-014: (B, N, N, C) -> (B, N/2, N/2, 2C) = [Re O'_1..C, Im O'_1..C] of the centre."""
    probe = _probe()
    rng = np.random.default_rng(0)
    x = rng.random((3, 64, 64, 4)).astype(np.float32)
    features = backprojection_features(x, probe)
    assert features.shape == (3, 32, 32, 8)
    assert features.dtype == np.float32
    full = backproject(np.moveaxis(x, -1, 1), probe)[:, :, 16:48, 16:48]
    np.testing.assert_allclose(features[..., 2], full[:, 2].real, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(features[..., 4 + 2], full[:, 2].imag, rtol=1e-6, atol=1e-6)


def test_probe_far_field_phasor_is_unit_where_the_probe_has_power_and_finite_everywhere() -> None:
    phasor = probe_far_field_phasor(_probe("zone_plate"))
    assert np.all(np.isfinite(phasor))
    assert np.all(np.abs(phasor) <= 1.0 + 1e-12)
    assert np.max(np.abs(phasor)) == pytest.approx(1.0, abs=1e-5)


@pytest.mark.parametrize(
    ("amplitude", "probe", "message"),
    [
        (np.ones((2, 32, 32)), _probe(), "matching the probe"),
        (np.ones((2, 64, 64)), np.zeros((64, 64), np.complex64), "zero everywhere"),
        (np.ones((2, 64, 64)), np.full((64, 64), np.nan, np.complex64), "NaN"),
        (np.ones((2, 64, 64)), np.ones((64, 32), np.complex64), "shape"),
    ],
)
def test_backprojection_rejects_bad_inputs_with_a_clear_message(
    amplitude: np.ndarray, probe: np.ndarray, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        backproject(amplitude, probe)


def test_backprojection_features_reject_a_non_channel_layout() -> None:
    with pytest.raises(ValueError, match=r"\(B, N, N, C\)"):
        backprojection_features(np.ones((64, 64, 4)), _probe())


def test_unet_layout_does_not_depend_on_n() -> None:
    """ARCH-014: one set of backprop_unet weights runs at every supported N."""
    layouts = [conv_specs(ModelConfig(N=n, gridsize=2)) for n in (64, 128, 256)]
    assert layouts[0] == layouts[1] == layouts[2]


def test_unet_layout_names_and_widths() -> None:
    """ARCH-014: down/bottom/up levels, 1x1 reduce, two heads; widths 16 * s_f * 2**(level-1)."""
    specs = {s.name: s for s in conv_specs(ModelConfig(N=64, gridsize=2, n_filters_scale=2))}
    assert specs["unet_down1_conv1"].cin == 8  # Re and Im of 4 patterns
    assert specs["unet_down1_conv1"].cout == unet_width(2, 1) == 32
    assert specs["unet_bottom_conv2"].cout == unet_width(2, UNET_DEPTH + 1) == 256
    assert specs["unet_up3_reduce"].kernel == 1
    assert specs["unet_up1_conv1"].cin == 2 * 32  # upsampled + skip
    assert specs["unet_amp_out"].cout == specs["unet_phase_out"].cout == 4
    assert len(specs) == 2 * UNET_DEPTH + 2 + 3 * UNET_DEPTH + 2


@pytest.mark.parametrize(
    ("architecture", "n_filters_scale", "count"),
    [("cnn", 2, 2_331_772), ("cnn", 1, 585_244), ("backprop_unet", 2, 1_796_834)],
)
def test_parameter_counts_per_architecture(
    architecture: str, n_filters_scale: int, count: int
) -> None:
    """ARCH-012 / ARCH-014 sanity counts (gridsize 1, N = 64)."""
    config = ModelConfig(N=64, n_filters_scale=n_filters_scale, architecture=architecture)
    assert conv_parameter_count(config) == count


def test_unknown_architecture_is_rejected_by_name() -> None:
    with pytest.raises(ValueError, match=r"ModelConfig.architecture must be one of"):
        ModelConfig(architecture="transformer")
