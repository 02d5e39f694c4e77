"""Tests for ptycho.physics.object_big: per-group merge and re-extraction (ARCH-010)."""

from __future__ import annotations

import numpy as np
import pytest

from ptycho.physics.object_big import (
    center_mask,
    extract_group_patches,
    merge_group_patches,
    object_big_roundtrip,
    padded_size,
)

N = 64


def _random_patches(rng: np.random.Generator, b: int, c: int) -> np.ndarray:
    shape = (b, N, N, c)
    return (rng.normal(size=shape) + 1j * rng.normal(size=shape)).astype(np.complex64)


def _central_only(patches: np.ndarray) -> np.ndarray:
    """Zero everything outside the central N/2 square (what pad_object decoders produce)."""
    return patches * center_mask(N)[None, :, :, None]


def test_padded_size_and_center_mask() -> None:
    """ARCH-010: padded = N + (g - 1) * 4 + 10; the mask is the central N/2 square."""
    assert padded_size(64, 1) == 74
    assert padded_size(64, 2) == 78
    assert padded_size(128, 3, offset=4, max_jitter=10) == 146
    mask = center_mask(N)
    assert mask.sum() == (N // 2) ** 2
    assert mask[N // 4, N // 4] == 1 and mask[N // 4 - 1, N // 2] == 0
    assert mask[3 * N // 4 - 1, 3 * N // 4 - 1] == 1 and mask[3 * N // 4, N // 2] == 0


def test_single_patch_zero_offset_is_identity_including_border() -> None:
    """ARCH-010: C=1, zero offset: identity on the centre AND the border (no x1000 gain)."""
    rng = np.random.default_rng(0)
    patches = _random_patches(rng, 3, 1)
    coords = np.zeros((3, 1, 2, 1))
    obj, back = object_big_roundtrip(patches, coords)
    assert obj.shape == (3, N, N) and obj.dtype == np.complex64
    assert back.shape == (3, N, N, 1)
    np.testing.assert_allclose(obj, patches[..., 0], atol=1e-6)
    np.testing.assert_allclose(back, patches, atol=1e-6)
    border = np.ones((N, N), bool)
    border[N // 4 : 3 * N // 4, N // 4 : 3 * N // 4] = False
    np.testing.assert_allclose(obj[:, border], patches[..., 0][:, border], rtol=1e-5, atol=1e-6)


def test_identical_patches_at_different_offsets_merge_to_the_same_value() -> None:
    """ARCH-010: constant central patches at integer offsets merge to the constant where covered."""
    value = 0.7 - 0.2j
    patches = np.full((1, N, N, 4), value, dtype=np.complex64) * center_mask(N)[None, :, :, None]
    positions = np.array([[-3.0, -2.0], [3.0, -2.0], [-3.0, 2.0], [3.0, 2.0]])  # [x, y]
    coords = -(positions - positions.mean(axis=0)).T[None, None]  # (1, 1, 2, 4)
    padded = padded_size(N, 2)
    canvas = merge_group_patches(patches, coords, padded)
    assert canvas.shape == (1, padded, padded)
    covered = np.zeros((padded, padded), bool)
    start = (padded - N) // 2
    for px, py in positions.astype(int):
        r0, c0 = start + N // 4 + py, start + N // 4 + px
        covered[r0 : r0 + N // 2, c0 : c0 + N // 2] = True
    np.testing.assert_allclose(canvas[0, covered], value, atol=1e-6)
    np.testing.assert_array_equal(canvas[0, ~covered], 0)


def test_patch_content_moves_to_its_physical_position() -> None:
    """ARCH-005/ARCH-010: patch c's content moves by -coords_relative[c] on the group canvas."""
    patches = np.zeros((1, N, N, 1), dtype=np.complex64)
    patches[0, N // 2, N // 2, 0] = 1.0
    coords = np.array([-5.0, -3.0]).reshape(1, 1, 2, 1)  # position = centre + (5, 3)
    canvas = merge_group_patches(patches, coords, 74)
    start = (74 - N) // 2
    expected = [[start + N // 2 + 3, start + N // 2 + 5]]
    assert np.argwhere(np.abs(canvas[0]) > 0.5).tolist() == expected


def test_groups_are_independent_for_large_batches() -> None:
    """ARCH-010/D4: per group, never across groups, also when B*C >= 64 (B=20, C=4)."""
    rng = np.random.default_rng(1)
    b, c = 20, 4
    patches = _random_patches(rng, b, c)
    coords = rng.uniform(-4.0, 4.0, size=(b, 1, 2, c))
    coords -= coords.mean(axis=3, keepdims=True)
    obj, back = object_big_roundtrip(patches, coords)
    assert obj.shape == (b, N, N) and back.shape == (b, N, N, c)
    changed = patches.copy()
    changed[0] = _random_patches(rng, 1, c)[0]
    obj2, back2 = object_big_roundtrip(changed, coords)
    np.testing.assert_array_equal(obj2[1:], obj[1:])
    np.testing.assert_array_equal(back2[1:], back[1:])
    assert not np.allclose(obj2[0], obj[0])
    single, _ = object_big_roundtrip(patches[5:6], coords[5:6])
    np.testing.assert_allclose(single[0], obj[5], atol=1e-6)


def test_integer_offsets_round_trip_where_covered_by_one_patch() -> None:
    """ARCH-010: merge then extract returns each patch exactly where only it covers the canvas."""
    rng = np.random.default_rng(2)
    patches = _central_only(_random_patches(rng, 2, 4))
    positions = np.array([[0.0, 0.0], [12.0, 1.0], [2.0, 11.0], [13.0, 13.0]])
    rel = -(positions - positions.mean(axis=0)).T  # (2, 4): not integers (mean 6.75, 6.25)
    rel = np.round(rel)
    coords = np.broadcast_to(rel[None, None], (2, 1, 2, 4)).copy()
    padded = padded_size(N, 2, max_jitter=30)
    canvas = merge_group_patches(patches, coords, padded)
    back = extract_group_patches(canvas, coords, N)
    # coverage of each channel's central square, in that channel's own patch frame
    start = (padded - N) // 2
    cover = np.zeros((4, padded, padded))
    for c in range(4):
        dx, dy = (-coords[0, 0, :, c]).astype(int)
        r0, c0 = start + N // 4 + dy, start + N // 4 + dx
        cover[c, r0 : r0 + N // 2, c0 : c0 + N // 2] = 1
    total = cover.sum(axis=0)
    checked = 0
    for c in range(4):
        dx, dy = (-coords[0, 0, :, c]).astype(int)
        own = (cover[c] == 1) & (total == 1)
        rows, cols = np.nonzero(own)
        pr, pc = rows - start - dy, cols - start - dx
        np.testing.assert_array_equal(back[:, pr, pc, c], patches[:, pr, pc, c])
        checked += rows.size
    assert checked > 500


def test_merge_rejects_wrong_coordinate_shape() -> None:
    """ARCH-005: coords_relative must be (B, 1, 2, C) with [x, y] on axis 2."""
    with pytest.raises(ValueError, match=r"\(B, 1, 2, C\)"):
        merge_group_patches(np.zeros((2, N, N, 4), np.complex64), np.zeros((2, 1, 4, 2)), 78)
