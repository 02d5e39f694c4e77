"""Tests for ptycho.stitching and the TF-free ptycho.tf_helper shim."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ptycho.physics.shift import extract_patches
from ptycho.stitching import reassemble_position, stitch_patches

N = 64


def _grid_positions(step: float, count: int, start: float) -> tuple[np.ndarray, np.ndarray]:
    coords = start + step * np.arange(count)
    xx, yy = np.meshgrid(coords, coords)
    return xx.ravel(), yy.ravel()


def test_constant_patches_stitch_to_the_constant_where_covered() -> None:
    """Stitching property: constant patches give the constant wherever any patch covers."""
    rng = np.random.default_rng(0)
    x = rng.uniform(40.0, 90.0, 30)
    y = rng.uniform(40.0, 90.0, 30)
    value = 0.3 + 0.8j
    patches = np.full((30, N, N), value, dtype=np.complex64)
    out = stitch_patches(patches, x, y, (140, 140))
    assert out.shape == (140, 140) and out.dtype == np.complex64
    covered = np.abs(out) > 0
    assert covered.sum() > 5000
    np.testing.assert_allclose(out[covered], value, rtol=1e-5)
    assert out[0, 0] == 0 and out[-1, -1] == 0


def test_constant_patches_with_crop_cover_only_the_central_square() -> None:
    """Stitching: with crop, only the central crop x crop of each patch contributes."""
    patches = np.full((1, N, N), 2.0 + 0j, dtype=np.complex64)
    out = stitch_patches(patches, np.array([50.0]), np.array([40.0]), (100, 100), crop=20)
    rows, cols = np.nonzero(np.abs(out) > 0)
    assert (rows.min(), rows.max(), cols.min(), cols.max()) == (30, 49, 40, 59)
    np.testing.assert_allclose(out[30:50, 40:60], 2.0)


def test_rim_crop_fills_only_what_the_central_crop_misses_from_the_wider_centre() -> None:
    """Stitching with rim_crop: inside the crop's union the crop's average is kept exactly; the
    rim that only the wider centre reaches takes the wider centre's average; beyond it, 0."""
    rng = np.random.default_rng(1)
    patches = (rng.normal(size=(2, N, N)) + 1j * rng.normal(size=(2, N, N))).astype(np.complex64)
    x, y = np.array([50.0, 58.0]), np.array([50.0, 50.0])
    tight = stitch_patches(patches, x, y, (110, 120), crop=20)
    wide = stitch_patches(patches, x, y, (110, 120), crop=32)
    both = stitch_patches(patches, x, y, (110, 120), crop=20, rim_crop=32)
    inner = np.abs(tight) > 0
    np.testing.assert_array_equal(both[inner], tight[inner])
    rim = ~inner & (np.abs(wide) > 0)
    assert rim.sum() > 500
    np.testing.assert_array_equal(both[rim], wide[rim])
    np.testing.assert_array_equal(both[np.abs(wide) == 0], 0)


def test_stitched_then_extracted_single_patch_reproduces_input() -> None:
    """Stitching property: one patch at an integer position, stitched then extracted, is kept."""
    rng = np.random.default_rng(1)
    patch = (rng.normal(size=(1, N, N)) + 1j * rng.normal(size=(1, N, N))).astype(np.complex64)
    x, y = np.array([70.0]), np.array([45.0])
    canvas = stitch_patches(patch, x, y, (120, 150))
    back = extract_patches(canvas, x, y, N)
    np.testing.assert_allclose(back, patch, rtol=1e-6, atol=1e-6)


def test_stitched_then_extracted_patches_of_one_object_reproduce_it() -> None:
    """Stitching property: consistent patches of one object (sub-pixel) stitch back to it."""
    rng = np.random.default_rng(2)
    obj = (rng.normal(size=(160, 160)) + 1j * rng.normal(size=(160, 160))).astype(np.complex64)
    x, y = _grid_positions(11.0, 6, 50.0)
    patches = extract_patches(obj, x, y, N)  # integer positions: exact cuts of obj
    out = stitch_patches(patches, x, y, obj.shape)
    covered = np.abs(out) > 0
    np.testing.assert_allclose(out[covered], obj[covered], rtol=1e-5, atol=1e-5)


def test_overlapping_different_patches_average() -> None:
    """Stitching: where two patches overlap the result is their mean."""
    patches = np.stack([np.full((N, N), 1.0 + 1j), np.full((N, N), 3.0 - 1j)]).astype(np.complex64)
    out = stitch_patches(patches, np.array([40.0, 50.0]), np.array([40.0, 40.0]), (100, 120))
    assert out[40, 45] == pytest.approx(2.0 + 0j)
    assert out[40, 10] == pytest.approx(1.0 + 1j)
    assert out[40, 80] == pytest.approx(3.0 - 1j)


def test_stitch_origin_shifts_the_grid() -> None:
    """Stitching: origin (x0, y0) is the position of canvas pixel (0, 0)."""
    patch = np.zeros((1, N, N), dtype=np.complex64)
    patch[0, N // 2, N // 2] = 5.0
    out = stitch_patches(
        patch, np.array([110.0]), np.array([220.0]), (64, 64), origin=(100.0, 200.0)
    )
    assert np.argwhere(np.abs(out) > 0).tolist() == [[20, 10]]


def test_stitch_real_patches_give_complex_output() -> None:
    """Stitching returns complex64 even for real input."""
    out = stitch_patches(np.ones((2, 8, 8)), np.array([5.0, 6.5]), np.array([5.0, 5.0]), (16, 16))
    assert out.dtype == np.complex64


def test_reassemble_position_orientation_rows_are_y_columns_are_x() -> None:
    """reassemble_position: a marker at (y, x) lands at (S-1)/2 + (y - y_mid, x - x_mid)."""
    positions = np.array([[10.0, 20.0], [40.0, 20.0], [10.0, 60.0], [40.0, 60.0]])  # [x, y]
    patches = np.zeros((4, N, N, 1), dtype=np.complex64)
    patches[1, N // 2, N // 2, 0] = 1.0  # marker at the centre of the patch at x=40, y=20
    offsets = positions.reshape(4, 1, 2, 1)
    out = reassemble_position(patches, offsets, M=20)
    size = out.shape[0]
    assert out.shape == (size, size, 1) and out.dtype == np.complex64
    centre = (size - 1) / 2
    x_mid, y_mid = 25.0, 40.0
    row, col = np.argwhere(np.abs(out[..., 0]) > 0.5)[0]
    assert (row, col) == (centre + 20.0 - y_mid, centre + 40.0 - x_mid)
    assert col > centre and row < centre  # larger x -> right; smaller y -> up


def test_reassemble_position_centres_on_bounding_box_and_covers_everything() -> None:
    """reassemble_position: canvas centre = bounding-box midpoint; all crops fit with a margin."""
    rng = np.random.default_rng(3)
    positions = rng.uniform(0.0, 50.0, size=(40, 2)) + np.array([300.0, -80.0])
    value = 1.5 - 0.5j
    patches = np.full((40, N, N), value, dtype=np.complex64)
    out = reassemble_position(patches, positions, M=20)[..., 0]
    size = out.shape[0]
    centre = (size - 1) / 2
    extent = np.ptp(positions, axis=0).max()
    assert size >= extent + 20 + 3
    mid = (positions.max(axis=0) + positions.min(axis=0)) / 2
    # the crop of each patch is fully inside: nothing was dropped at the edges
    assert np.all(out[0, :] == 0) and np.all(out[-1, :] == 0)
    assert np.all(out[:, 0] == 0) and np.all(out[:, -1] == 0)
    covered = np.abs(out) > 0
    np.testing.assert_allclose(out[covered], value, rtol=1e-5)
    rows, cols = np.nonzero(covered)
    # the covered region spans the bounding box +- M/2, so its middle is the canvas centre
    assert (cols.min() + cols.max()) / 2 == pytest.approx(centre, abs=1.0)
    assert (rows.min() + rows.max()) / 2 == pytest.approx(centre, abs=1.0)
    # and the patch with the smallest x sits at centre - (x_mid - x_min) columns
    marker = np.zeros((40, N, N), dtype=np.complex64)
    first = int(np.argmin(positions[:, 0]))
    marker[first, N // 2, N // 2] = 1.0
    hit = np.abs(reassemble_position(marker, positions, M=20)[..., 0])
    r_hit, c_hit = np.unravel_index(np.argmax(hit), hit.shape)
    assert c_hit == pytest.approx(centre + positions[first, 0] - mid[0], abs=0.5)
    assert r_hit == pytest.approx(centre + positions[first, 1] - mid[1], abs=0.5)


@pytest.mark.parametrize("span", [40.0, 41.0])
def test_reassemble_position_integer_positions_land_on_integer_pixels(span: float) -> None:
    """reassemble_position: S parity keeps integer positions on integer pixels (even/odd extent)."""
    positions = np.array([[0.0, 0.0], [span, span], [7.0, 3.0]])
    patches = np.zeros((3, N, N, 1), dtype=np.complex64)
    patches[:, N // 2, N // 2, 0] = 1.0
    out = np.abs(reassemble_position(patches, positions.reshape(3, 1, 2, 1), M=10)[..., 0])
    np.testing.assert_allclose(np.sort(out.ravel())[-3:], 1.0, atol=1e-6)
    assert np.count_nonzero(out > 1e-6) == 3


def test_reassemble_position_mixed_parity_keeps_columns_on_integer_pixels() -> None:
    """reassemble_position: x extent even, y extent odd -> columns stay on integer pixels."""
    positions = np.array([[0.0, 0.0], [40.0, 41.0]])
    patches = np.zeros((2, N, N, 1), dtype=np.complex64)
    patches[:, N // 2, N // 2, 0] = 1.0
    out = np.abs(reassemble_position(patches, positions, M=10)[..., 0])
    rows, cols = np.nonzero(out > 1e-6)
    assert len(set(cols.tolist())) == 2  # one column per marker
    assert len(set(rows.tolist())) == 4  # each marker split 0.5/0.5 over two rows
    np.testing.assert_allclose(out[out > 1e-6], 0.5, atol=1e-6)


def test_stitch_patches_partly_outside_canvas_keeps_the_inside() -> None:
    """Stitching: patches reaching past the canvas edge contribute only their inside part."""
    patches = np.full((2, N, N), 1.0 - 1.0j, dtype=np.complex64)
    out = stitch_patches(patches, np.array([-10.0, 95.5]), np.array([5.0, 60.0]), (80, 100))
    covered = np.abs(out) > 0
    assert covered[0, 0] and covered[-1, -1]
    np.testing.assert_allclose(out[covered], 1.0 - 1.0j, rtol=1e-5)


def test_reassemble_position_accepts_all_offset_layouts_and_array_likes() -> None:
    """reassemble_position: (P,1,2,1), (P,1,1,2), (P,2) and __array__ inputs give one canvas."""

    class ArrayLike:
        def __init__(self, data: np.ndarray) -> None:
            self._data = data

        def __array__(self, dtype: object = None, copy: object = None) -> np.ndarray:
            return self._data if dtype is None else self._data.astype(dtype)

    rng = np.random.default_rng(4)
    patches = (rng.normal(size=(5, N, N, 1)) + 1j * rng.normal(size=(5, N, N, 1))).astype(
        np.complex64
    )
    pos = rng.uniform(0, 30, size=(5, 2))
    a = reassemble_position(patches, pos.reshape(5, 1, 2, 1))
    b = reassemble_position(ArrayLike(patches), ArrayLike(pos.reshape(5, 1, 1, 2)))
    c = reassemble_position(patches[..., 0], pos)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a, c)
    with pytest.raises(ValueError, match="global_offsets"):
        reassemble_position(patches, pos[:4])
    with pytest.raises(ValueError, match="M must be"):
        reassemble_position(patches, pos, M=N + 1)


def test_reassemble_position_handles_ten_thousand_patches() -> None:
    """reassemble_position is vectorised: 10,000 patches (N=64, M=20) stitch to a finite canvas."""
    rng = np.random.default_rng(5)
    x, y = _grid_positions(5.0, 100, 0.0)
    patches = np.ones((10_000, N, N, 1), dtype=np.complex64)
    pos = np.stack([x, y], axis=1) + rng.uniform(-0.5, 0.5, size=(10_000, 2))
    out = reassemble_position(patches, pos, M=20)
    assert out.shape[0] >= 495 + 23
    covered = np.abs(out) > 0
    np.testing.assert_allclose(out[covered], 1.0, rtol=1e-5)


def test_tf_helper_shim_reexports_reassemble_position_without_tensorflow() -> None:
    """ptycho.tf_helper.reassemble_position exists and importing it loads neither TF nor torch."""
    root = Path(__file__).resolve().parents[2]
    code = (
        "import sys; import ptycho.tf_helper as t; import ptycho.stitching as s;"
        "assert t.reassemble_position is s.reassemble_position;"
        "bad = [m for m in ('tensorflow', 'torch', 'keras') if m in sys.modules];"
        "assert not bad, bad"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
