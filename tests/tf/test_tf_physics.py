"""The TF physics (ptycho.tf.physics) agrees with the NumPy reference (ptycho.physics.*).

Tolerances are float32: the reference computes in float64, the TF mirror in float32.
"""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from ptycho.physics import forward, object_big, shift
from ptycho.tf import physics as P

RNG = np.random.default_rng(1234)


def _complex(*shape: int) -> np.ndarray:
    return (RNG.standard_normal(shape) + 1j * RNG.standard_normal(shape)).astype(np.complex64)


def _rel(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.max(np.abs(np.asarray(a) - np.asarray(b))) / max(np.max(np.abs(b)), 1e-30))


def test_translate_matches_numpy_reference_for_subpixel_shifts() -> None:
    """ARCH-003: TF translate == NumPy translate (bilinear, zero outside) for complex images."""
    images = _complex(6, 30, 40)
    dx = RNG.uniform(-9, 9, 6)
    dy = RNG.uniform(-9, 9, 6)
    ours = P.translate(images, dx, dy).numpy()
    assert ours.shape == images.shape and ours.dtype == np.complex64
    assert _rel(ours, shift.translate(images, dx, dy)) < 1e-5


def test_translate_moves_content_by_plus_dx_columns_and_plus_dy_rows() -> None:
    """ARCH-003 sign: a pixel at (4, 4) moved by (dx=2, dy=1) lands on (5, 6); half a pixel
    splits it 0.5/0.5; content moved out of the image is lost (no wrap-around)."""
    image = np.zeros((1, 10, 10), np.float32)
    image[0, 4, 4] = 1.0
    moved = P.translate(image, [2.0], [1.0]).numpy()[0]
    assert moved[5, 6] == pytest.approx(1.0) and moved.sum() == pytest.approx(1.0)
    half = P.translate(image, [0.5], [0.0]).numpy()[0]
    assert half[4, 4] == pytest.approx(0.5) and half[4, 5] == pytest.approx(0.5)
    gone = P.translate(image, [7.0], [0.0]).numpy()[0]
    assert gone.sum() == 0.0


def test_merge_and_extract_match_numpy_reference_at_gridsize_2() -> None:
    """ARCH-010: per-group merge and re-extraction agree with ptycho.physics.object_big."""
    patches = _complex(5, 64, 64, 4)
    coords = RNG.uniform(-6, 6, (5, 1, 2, 4))
    coords -= coords.mean(axis=-1, keepdims=True)
    padded = object_big.padded_size(64, 2)
    canvas_tf = P.merge_group_patches(patches, coords, padded).numpy()
    canvas_np = object_big.merge_group_patches(patches, coords, padded)
    assert canvas_tf.shape == (5, padded, padded)
    assert _rel(canvas_tf, canvas_np) < 1e-5
    extracted = P.extract_group_patches(canvas_np, coords, 64).numpy()
    assert _rel(extracted, object_big.extract_group_patches(canvas_np, coords, 64)) < 1e-5


def test_merge_never_mixes_groups_for_batches_beyond_64_patches() -> None:
    """ARCH-010 / D4: with B*C = 80 >= 64, changing group 0 changes only group 0's canvas."""
    patches = _complex(20, 64, 64, 4)
    coords = RNG.uniform(-5, 5, (20, 1, 2, 4))
    coords -= coords.mean(axis=-1, keepdims=True)
    base = P.merge_group_patches(patches, coords, 78).numpy()
    changed = patches.copy()
    changed[0] *= 3.0
    after = P.merge_group_patches(changed, coords, 78).numpy()
    assert base.shape == (20, 78, 78)
    assert not np.allclose(after[0], base[0])
    np.testing.assert_array_equal(after[1:], base[1:])


def test_far_field_amplitude_matches_numpy_and_is_orthonormal() -> None:
    """ARCH-006: A = sqrt(fftshift(|FFT2 psi|^2)/N^2); sum A^2 == sum |psi|^2; DC at (N/2, N/2)."""
    psi = _complex(3, 2, 64, 64)
    amp = P.far_field_amplitude(psi).numpy()
    assert _rel(amp, forward.far_field_amplitude(psi)) < 1e-5
    np.testing.assert_allclose(
        (amp**2).sum(axis=(-2, -1)), (np.abs(psi) ** 2).sum(axis=(-2, -1)), rtol=1e-5
    )
    flat = P.far_field_amplitude(np.ones((1, 64, 64), np.complex64)).numpy()[0]
    assert flat[32, 32] == pytest.approx(64.0, rel=1e-6)


def test_far_field_gradient_is_finite_for_a_zero_field() -> None:
    """The intensity floor keeps d(A)/d(psi) finite where the far field vanishes."""
    psi = tf.Variable(np.zeros((1, 64, 64), np.float32))
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(P.far_field_amplitude(tf.complex(psi, 0.0 * psi)))
    grad = tape.gradient(loss, psi).numpy()
    assert np.all(np.isfinite(grad))


def test_gaussian_smoothing_matches_numpy_reference() -> None:
    """The optional 3x3 exit-wave smoothing (reflect padding) equals gaussian_smooth_3x3."""
    psi = _complex(2, 3, 64, 64)
    for sigma in (0.5, 1.3):
        ours = P.gaussian_smooth(psi, sigma).numpy()
        assert _rel(ours, forward.gaussian_smooth_3x3(psi, sigma)) < 1e-5
    np.testing.assert_array_equal(P.gaussian_smooth(psi, 0.0).numpy(), psi)


def test_losses_match_numpy_reference() -> None:
    """ARCH-009: Poisson NLL with eps, diffraction MAE and the central-window complex MAE."""
    pred = RNG.uniform(0, 50, (4, 64, 64, 1)).astype(np.float32)
    pred[0, 0, 0, 0] = 0.0  # finite thanks to eps
    meas = RNG.poisson(pred + 1).astype(np.float32)
    nll = float(P.poisson_nll(pred, meas))
    assert np.isfinite(nll)
    assert nll == pytest.approx(forward.poisson_nll(pred, meas), rel=1e-5)
    assert float(P.diffraction_mae(pred, meas)) == pytest.approx(
        forward.diffraction_mae(pred, meas), rel=1e-5
    )
    a, b = _complex(3, 64, 64, 4), _complex(3, 64, 64, 4)
    assert float(P.complex_mae_center(a, b)) == pytest.approx(
        forward.complex_mae(a, b, window=32, axes=(1, 2)), rel=1e-5
    )
