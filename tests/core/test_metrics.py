"""Tests of ptycho.metrics: phase alignment, amplitude scale, SSIM, PSNR, FRC, compare()."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ptycho.metrics import (
    align_phase,
    compare,
    fit_amplitude_scale,
    format_table,
    frc,
    frc_resolution,
    psnr,
    scanned_roi,
    ssim,
)


def _smooth_complex(shape: tuple[int, int], seed: int) -> np.ndarray:
    from scipy import ndimage

    rng = np.random.default_rng(seed)
    amp = 0.5 + 0.4 * np.tanh(ndimage.gaussian_filter(rng.standard_normal(shape), 3) * 5)
    phase = np.tanh(ndimage.gaussian_filter(rng.standard_normal(shape), 2) * 5)
    return (amp * np.exp(1j * phase)).astype(np.complex64)


def test_identical_images_give_ssim_one_and_infinite_psnr() -> None:
    """Metrics: SSIM of an image with itself is 1 and PSNR is +inf (documented, no cap)."""
    img = np.abs(_smooth_complex((48, 40), 0)).astype(np.float64)
    rng = float(img.max() - img.min())
    assert ssim(img, img, rng) == pytest.approx(1.0, abs=1e-12)
    assert psnr(img, img, rng) == math.inf


def test_psnr_matches_known_mse() -> None:
    """Metrics: PSNR = 10 log10(range^2 / MSE): a constant error of 0.1 on range 1 gives 20 dB."""
    a = np.zeros((16, 16))
    b = np.full((16, 16), 0.1)
    assert psnr(b, a, 1.0) == pytest.approx(20.0, abs=1e-9)
    # range 2 and MSE 0.01 -> 10 log10(4 / 0.01) = 26.0206 dB
    assert psnr(b, a, 2.0) == pytest.approx(10 * math.log10(400.0), abs=1e-9)


def test_ssim_of_independent_noise_is_low_and_of_noisy_copy_is_intermediate() -> None:
    """Metrics: SSIM is ~0 for independent noise, and between for a noisy copy."""
    rng = np.random.default_rng(1)
    a = rng.uniform(size=(64, 64))
    b = rng.uniform(size=(64, 64))
    assert abs(ssim(a, b, 1.0)) < 0.05
    smooth = np.abs(_smooth_complex((64, 64), 2)).astype(np.float64)
    noisy = smooth + rng.normal(0, 0.05, smooth.shape)
    value = ssim(noisy, smooth, float(smooth.max() - smooth.min()))
    assert 0.2 < value < 0.99


def test_ssim_is_symmetric_and_rejects_bad_data_range() -> None:
    """Metrics: SSIM(a, b) == SSIM(b, a); data_range <= 0 is a clear ValueError."""
    rng = np.random.default_rng(3)
    a = rng.uniform(size=(32, 32))
    b = a + rng.normal(0, 0.1, a.shape)
    assert ssim(a, b, 1.0) == pytest.approx(ssim(b, a, 1.0), abs=1e-12)
    with pytest.raises(ValueError, match="data_range"):
        ssim(a, b, 0.0)


def test_global_phase_offset_is_removed_exactly() -> None:
    """Metrics: align_phase undoes a global phase factor to float precision."""
    truth = _smooth_complex((40, 40), 4).astype(np.complex128)
    recon = truth * np.exp(1j * 2.3)
    aligned = align_phase(recon, truth)
    np.testing.assert_allclose(aligned, truth, atol=1e-12)
    metrics = compare(recon, truth)
    assert metrics["phase_offset"] == pytest.approx(2.3, abs=1e-9)
    assert metrics["phase_psnr"] == math.inf or metrics["phase_psnr"] > 100
    assert metrics["phase_ssim"] == pytest.approx(1.0, abs=1e-9)


def test_phase_offset_is_estimated_on_the_roi_only() -> None:
    """Metrics: align_phase uses only the ROI: garbage outside it does not bias the offset."""
    truth = _smooth_complex((40, 40), 5).astype(np.complex128)
    recon = truth * np.exp(-1j * 0.7)
    recon[:10] = 5.0 * np.exp(1j * 2.0)  # corrupted rows outside the ROI
    roi = (slice(10, 40), slice(0, 40))
    aligned = align_phase(recon, truth, roi)
    np.testing.assert_allclose(aligned[roi], truth[roi], atol=1e-12)


def test_amplitude_scale_is_fitted_by_least_squares() -> None:
    """Metrics: fit_amplitude_scale returns alpha with alpha*|r| ~ |t|; compare uses it."""
    truth = _smooth_complex((40, 40), 6).astype(np.complex128)
    assert fit_amplitude_scale(np.abs(truth) / 3.7, np.abs(truth)) == pytest.approx(3.7)
    recon = 0.25 * truth * np.exp(1j * 0.4)
    metrics = compare(recon, truth)
    assert metrics["amp_scale"] == pytest.approx(4.0, rel=1e-9)
    assert metrics["amp_ssim"] == pytest.approx(1.0, abs=1e-9)
    assert metrics["amp_psnr"] > 100


def test_phase_residual_is_wrapped() -> None:
    """Metrics: a 2 pi jump in the reconstructed phase is not penalised."""
    truth = _smooth_complex((32, 32), 7).astype(np.complex128)
    recon = np.abs(truth) * np.exp(1j * (np.angle(truth) + 2 * np.pi))
    metrics = compare(recon, truth)
    assert metrics["phase_ssim"] == pytest.approx(1.0, abs=1e-9)


def test_frc_of_identical_images_is_one_and_of_noise_is_low() -> None:
    """Metrics: FRC == 1 at every ring for identical images; cut-off is Nyquist (0.5)."""
    img = _smooth_complex((64, 64), 8)
    freq, values = frc(img, img)
    assert freq.shape == values.shape == (32,)
    assert freq[0] == pytest.approx(0.5 / 64) and freq[-1] < 0.5
    np.testing.assert_allclose(values, 1.0, atol=1e-9)
    assert frc_resolution(freq, values) == 0.5
    rng = np.random.default_rng(9)
    _, noise_values = frc(rng.standard_normal((64, 64)), rng.standard_normal((64, 64)))
    assert np.mean(np.abs(noise_values[2:])) < 0.2


def test_frc_resolution_drops_for_blurred_copy() -> None:
    """Metrics: blurring one image lowers the FRC 0.5 cut-off below Nyquist, 1/7 is higher."""
    from scipy import ndimage

    rng = np.random.default_rng(10)
    img = rng.standard_normal((96, 96))
    blurred = ndimage.gaussian_filter(img, 2.0) + 0.05 * rng.standard_normal(img.shape)
    freq, values = frc(img, blurred)
    f50 = frc_resolution(freq, values, 0.5)
    f17 = frc_resolution(freq, values, 1 / 7)
    assert 0.02 < f50 < 0.3
    assert f17 >= f50


def test_frc_resolution_interpolates_the_crossing() -> None:
    """Metrics: the threshold crossing is linearly interpolated between rings."""
    freq = np.array([0.1, 0.2, 0.3, 0.4])
    values = np.array([1.0, 0.8, 0.2, 0.1])
    assert frc_resolution(freq, values, 0.5) == pytest.approx(0.25)


def test_scanned_roi_is_positions_plus_quarter_patch() -> None:
    """Metrics: the ROI spans the patch centres +- N/4, clipped to the object."""
    x = np.array([40.0, 60.0])
    y = np.array([30.0, 70.5])
    rows, cols = scanned_roi(x, y, 64, (128, 100))
    assert (rows.start, rows.stop) == (14, 87)  # ceil(30-16) .. floor(70.5+16)+1
    assert (cols.start, cols.stop) == (24, 77)
    rows, cols = scanned_roi(x, y, 64, (128, 100), margin=4)
    assert (rows.start, rows.stop) == (18, 83)
    rows, cols = scanned_roi(np.array([2.0]), np.array([2.0]), 64, (50, 50))
    assert (rows.start, cols.start) == (0, 0)


def test_compare_rejects_mismatched_shapes_and_nan() -> None:
    """Bad input: shape mismatch and NaN give ValueError naming the problem."""
    a = np.ones((10, 10), complex)
    with pytest.raises(ValueError, match="shapes differ"):
        compare(a, np.ones((10, 12), complex))
    b = a.copy()
    b[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        compare(b, a)
    with pytest.raises(ValueError, match="roi"):
        compare(a, a, roi=(slice(5, 5), slice(0, 10)))


def test_compare_reports_lower_quality_for_worse_reconstruction() -> None:
    """Metrics: more noise gives lower SSIM/PSNR for amplitude and phase."""
    truth = _smooth_complex((64, 64), 11).astype(np.complex128)
    rng = np.random.default_rng(12)
    noise = rng.standard_normal(truth.shape) + 1j * rng.standard_normal(truth.shape)
    good = compare(truth + 0.01 * noise, truth)
    bad = compare(truth + 0.2 * noise, truth)
    for key in ("amp_ssim", "amp_psnr", "phase_ssim", "phase_psnr"):
        assert good[key] > bad[key], key
    assert good["frc50"] >= bad["frc50"]


def test_format_table_is_markdown_with_one_row_per_entry() -> None:
    """Metrics: format_table prints a header, a separator and one row per reconstruction."""
    truth = _smooth_complex((32, 32), 13)
    table = format_table({"same": compare(truth, truth), "partial": {"amp_ssim": 0.5}})
    lines = table.splitlines()
    assert len(lines) == 4
    assert lines[0].startswith("| reconstruction | amp SSIM")
    assert lines[1].startswith("|---|")
    assert "| same | 1.0000 | inf |" in lines[2]
    assert lines[3].startswith("| partial | 0.5000 | - |")


def test_ssim_and_psnr_match_scikit_image_reference() -> None:
    """Metrics: our SSIM equals scikit-image's Gaussian SSIM (sigma 1.5, population variances)
    and our PSNR equals skimage's, on the same data range (scikit-image comes with Ptychodus)."""
    metrics_mod = pytest.importorskip("skimage.metrics")
    from scipy import ndimage

    rng = np.random.default_rng(14)
    a = ndimage.gaussian_filter(rng.standard_normal((80, 70)), 2)
    b = a + 0.05 * rng.standard_normal(a.shape)
    data_range = float(a.max() - a.min())
    ref_ssim = metrics_mod.structural_similarity(
        b,
        a,
        data_range=data_range,
        gaussian_weights=True,
        sigma=1.5,
        use_sample_covariance=False,
    )
    assert ssim(b, a, data_range) == pytest.approx(ref_ssim, abs=1e-10)
    ref_psnr = metrics_mod.peak_signal_noise_ratio(a, b, data_range=data_range)
    assert psnr(b, a, data_range) == pytest.approx(ref_psnr, abs=1e-9)


def test_spoke_contrast_finds_the_spoke_count_of_a_synthetic_star() -> None:
    """A phase star with 24 spokes: harmonic 24 dominates; a flat phase with noise does not."""
    from ptycho.metrics import spoke_contrast

    yy, xx = np.mgrid[0:201, 0:201] - 100.0
    star = np.exp(1j * 0.5 * np.sign(np.sin(24 * np.arctan2(yy, xx))))
    result = spoke_contrast(star, 100.0, 100.0, (40.0, 70.0))
    assert [k for k, _ in result] == [24, 24] and all(r > 10 for _, r in result)
    noise = np.exp(1j * np.random.default_rng(0).normal(0, 0.3, (201, 201)))
    assert all(r < 6 for _, r in spoke_contrast(noise, 100.0, 100.0, (40.0, 70.0)))
    with pytest.raises(ValueError, match="leaves the"):
        spoke_contrast(star, 100.0, 100.0, (150.0,))
