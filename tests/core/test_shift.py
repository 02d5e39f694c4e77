"""Tests for ptycho.physics.shift: translation sign, bilinear weights, extract/place adjointness."""

from __future__ import annotations

import numpy as np
import pytest

from ptycho.physics.shift import (
    extract_patches,
    place_patches,
    place_patches_with_weights,
    translate,
)


def _random_complex(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    return rng.normal(size=shape) + 1j * rng.normal(size=shape)


def test_translate_moves_pixel_by_plus_dx_columns_and_plus_dy_rows() -> None:
    """ARCH-003: a pixel at (4, 4) moved by dx=2, dy=1 lands at row 5, column 6."""
    img = np.zeros((10, 10), dtype=np.float32)
    img[4, 4] = 1.0
    out = translate(img, 2.0, 1.0)
    assert out.dtype == np.float32
    assert np.argwhere(out).tolist() == [[5, 6]]
    assert out[5, 6] == pytest.approx(1.0)


def test_translate_half_pixel_splits_value_half_half() -> None:
    """ARCH-003: a half-pixel shift spreads the value 0.5/0.5 over two pixels (both axes)."""
    img = np.zeros((8, 8))
    img[3, 3] = 1.0
    out_x = translate(img, 0.5, 0.0)
    np.testing.assert_allclose(out_x[3, 3:5], [0.5, 0.5], atol=1e-15)
    assert out_x.sum() == pytest.approx(1.0)
    out_y = translate(img, 0.0, -0.5)
    np.testing.assert_allclose(out_y[2:4, 3], [0.5, 0.5], atol=1e-15)


def test_translate_matches_four_neighbour_bilinear_formula_with_zero_fill() -> None:
    """ARCH-003: out[r, c] = bilinear(in, r - dy, c - dx), each out-of-range neighbour is zero."""
    rng = np.random.default_rng(1)
    img = _random_complex(rng, (7, 9))
    dx, dy = 1.3, -2.6
    out = translate(img, dx, dy)
    expected = np.zeros_like(img)
    for r in range(7):
        for c in range(9):
            sr, sc = r - dy, c - dx
            r0, c0 = int(np.floor(sr)), int(np.floor(sc))
            fr, fc = sr - r0, sc - c0
            for rr, cc, wgt in (
                (r0, c0, (1 - fr) * (1 - fc)),
                (r0, c0 + 1, (1 - fr) * fc),
                (r0 + 1, c0, fr * (1 - fc)),
                (r0 + 1, c0 + 1, fr * fc),
            ):
                if 0 <= rr < 7 and 0 <= cc < 9:
                    expected[r, c] += wgt * img[rr, cc]
    np.testing.assert_allclose(out, expected, atol=1e-12)


def test_translate_integer_shift_is_exact_and_round_trips_where_in_range() -> None:
    """ARCH-003: integer shifts are exact; +d then -d restores pixels that stayed in range."""
    rng = np.random.default_rng(2)
    img = _random_complex(rng, (12, 12))
    out = translate(img, 3, -2)
    # content moves 3 columns right and 2 rows up: out[r, c] = img[r + 2, c - 3]
    np.testing.assert_array_equal(out[:-2, 3:], img[2:, :-3])
    assert np.all(out[:, :3] == 0) and np.all(out[10:, :] == 0)
    back = translate(out, -3, 2)
    np.testing.assert_array_equal(back[2:, :-3], img[2:, :-3])
    assert np.all(back[:2, :] == 0) and np.all(back[:, 9:] == 0)


def test_translate_per_image_shifts_broadcast_over_batch() -> None:
    """ARCH-003: one (dx, dy) per image in a batch, same result as translating one by one."""
    rng = np.random.default_rng(3)
    batch = rng.normal(size=(2, 3, 6, 6)).astype(np.float32)
    dx = np.array([[0.2, -1.0, 2.5], [0.0, 1.5, -0.7]])
    dy = np.array([[1.0, 0.3, -0.5], [2.0, -1.2, 0.0]])
    out = translate(batch, dx, dy)
    assert out.shape == batch.shape and out.dtype == np.float32
    for i in range(2):
        for j in range(3):
            np.testing.assert_allclose(
                out[i, j], translate(batch[i, j], dx[i, j], dy[i, j]), atol=1e-6
            )


def test_translate_rejects_shifts_that_do_not_match_batch() -> None:
    """ARCH-003: shape errors are reported, never hidden by modular indexing."""
    with pytest.raises(ValueError, match="broadcast"):
        translate(np.zeros((3, 4, 4)), np.zeros(2), np.zeros(2))


def test_extract_patch_centre_sits_on_object_pixel_y_x() -> None:
    """ARCH-002/ARCH-004: patch centred at x=60, y=100 has object pixel (100, 60) at (N/2, N/2)."""
    rng = np.random.default_rng(4)
    obj = _random_complex(rng, (160, 128)).astype(np.complex64)
    n = 64
    patch = extract_patches(obj, np.array([60.0]), np.array([100.0]), n)
    assert patch.shape == (1, n, n) and patch.dtype == np.complex64
    assert patch[0, n // 2, n // 2] == obj[100, 60]
    window = obj[100 - n // 2 : 100 + n // 2, 60 - n // 2 : 60 + n // 2]
    np.testing.assert_array_equal(patch[0], window)


def test_extract_sub_pixel_position_is_bilinear_and_zero_outside() -> None:
    """ARCH-004: sub-pixel extraction interpolates bilinearly; pixels outside read as zero."""
    obj = np.arange(100, dtype=np.float64).reshape(10, 10)
    patch = extract_patches(obj, np.array([4.25]), np.array([5.5]), 4)
    # patch[i, j] = bilinear(obj, 5.5 - 2 + i, 4.25 - 2 + j) and obj is linear in (r, c)
    rows = 3.5 + np.arange(4)[:, None]
    cols = 2.25 + np.arange(4)[None, :]
    np.testing.assert_allclose(patch[0], 10 * rows + cols, atol=1e-12)
    edge = extract_patches(obj, np.array([0.0]), np.array([0.0]), 4)
    assert np.all(edge[0, :2, :] == 0) and np.all(edge[0, :, :2] == 0)
    assert edge[0, 2, 2] == obj[0, 0]


def test_extract_and_place_are_exact_adjoints_in_float64() -> None:
    """ARCH-004: <extract(o), p> == <o, place(p)> to 1e-10 (sub-pixel, partly outside)."""
    rng = np.random.default_rng(5)
    shape = (40, 52)
    obj = _random_complex(rng, shape)
    x = rng.uniform(-8.0, 60.0, size=25)
    y = rng.uniform(-8.0, 48.0, size=25)
    n = 16
    patches = _random_complex(rng, (25, n, n))
    lhs = np.vdot(patches, extract_patches(obj, x, y, n))
    rhs = np.vdot(place_patches(patches, x, y, shape), obj)
    assert abs(lhs - rhs) <= 1e-10 * max(1.0, abs(lhs))


def test_place_real_patches_stays_real_and_weights_count_coverage() -> None:
    """ARCH-004: placing ones gives the coverage; integer positions put whole patches on pixels."""
    x = np.array([5.0, 7.0])
    y = np.array([5.0, 5.0])
    ones = np.ones((2, 4, 4), dtype=np.float32)
    canvas = place_patches(ones, x, y, (12, 12))
    assert canvas.dtype == np.float32
    assert canvas[5, 6] == 2.0 and canvas[5, 3] == 1.0 and canvas[5, 9] == 0.0
    total, weights = place_patches_with_weights(ones, x, y, (12, 12))
    np.testing.assert_array_equal(total, weights)


def test_place_rejects_mismatched_positions() -> None:
    """ARCH-004: one position per patch, otherwise a clear error."""
    with pytest.raises(ValueError, match="one \\(x, y\\) per patch"):
        place_patches(np.zeros((3, 4, 4)), np.zeros(2), np.zeros(2), (8, 8))


def test_extract_rejects_non_finite_positions() -> None:
    """ARCH-004: NaN positions are reported instead of producing garbage."""
    with pytest.raises(ValueError, match="NaN"):
        extract_patches(np.zeros((8, 8)), np.array([np.nan]), np.array([1.0]), 4)
