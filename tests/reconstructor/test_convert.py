"""ADAPT-020 .. ADAPT-028: pure conversions, with exact expected values (no backend)."""

from __future__ import annotations

import numpy as np
import pytest
from ptychodus.api.object import ObjectGeometry
from ptychodus.api.product import LossValue

from ptycho_reconstructor.convert import (
    display_loss_key,
    intensity_to_amplitude,
    loss_values,
    object_from_patches,
    pattern_size,
    positions_to_object_px,
    probe_in_input_scale,
    product_from_reconstruction,
    raw_data_from_input,
)

from .factories import make_reconstruct_input, ours_to_metres

N = 64
SHAPE = (100, 120)  # (H, W): not square, to catch x/y swaps
PIXEL = (2e-8, 3e-8)
CENTER = (1e-6, -5e-7)


def _probe(modes: int = 1) -> np.ndarray:
    yy, xx = np.mgrid[:N, :N] - (N / 2 - 0.5)
    disk = (np.hypot(xx, yy) < N / 4).astype(np.complex64)
    stack = np.stack([disk * (0.5**k) * np.exp(1j * 0.1 * k) for k in range(modes)])
    return stack.astype(np.complex64)


def _input(patterns: np.ndarray, x: np.ndarray, y: np.ndarray, **kwargs: object) -> object:
    x_m, y_m = ours_to_metres(x, y, SHAPE, PIXEL, CENTER)
    kwargs.setdefault("probe", _probe())
    return make_reconstruct_input(
        patterns, x_m, y_m, object_shape=SHAPE, pixel_m=PIXEL, center_m=CENTER, **kwargs
    )


X = np.array([40.0, 60.5, 80.0])
Y = np.array([30.0, 50.25, 70.0])


def test_positions_map_to_object_pixels_with_the_half_pixel_rule() -> None:
    """ADAPT-023 / ARCH-002: ours = Ptychodus (N-1)/2-centred pixel + 0.5, x = column."""
    geometry = ObjectGeometry(SHAPE[1], SHAPE[0], PIXEL[0], PIXEL[1], CENTER[0], CENTER[1])
    x_m = np.array([CENTER[0]])  # the object centre ...
    y_m = np.array([CENTER[1]])
    x, y = positions_to_object_px(x_m, y_m, geometry)
    # ... is Ptychodus pixel ((W-1)/2, (H-1)/2) = (59.5, 49.5), i.e. ours (60, 50).
    assert x[0] == pytest.approx(60.0, abs=1e-9)
    assert y[0] == pytest.approx(50.0, abs=1e-9)
    x_m = np.array([CENTER[0] + 10 * PIXEL[0]])
    y_m = np.array([CENTER[1] - 4 * PIXEL[1]])
    x, y = positions_to_object_px(x_m, y_m, geometry)
    assert (x[0], y[0]) == pytest.approx((70.0, 46.0), abs=1e-9)


def test_raw_data_positions_counts_probe_and_object_exact() -> None:
    """ADAPT-020..024: positions, counts -> sqrt amplitude, probe modes, object layer 0."""
    counts = np.zeros((3, N, N), dtype=np.uint32)
    counts[0] = 4
    counts[1] = 9
    counts[2, 10, 20] = 16
    probe = _probe(modes=2)
    obj = (np.arange(SHAPE[0] * SHAPE[1]).reshape(SHAPE) * (1 + 1j)).astype(np.complex64)
    raw = raw_data_from_input(_input(counts, X, Y, probe=probe, object_array=obj))
    np.testing.assert_allclose(raw.xcoords, X, atol=1e-9)
    np.testing.assert_allclose(raw.ycoords, Y, atol=1e-9)
    assert raw.diff3d.dtype == np.float32 and raw.diff3d.shape == (3, N, N)
    assert np.all(raw.diff3d[0] == 2.0) and np.all(raw.diff3d[1] == 3.0)
    assert raw.diff3d[2, 10, 20] == 4.0 and raw.diff3d[2].sum() == 4.0
    np.testing.assert_array_equal(raw.probe_modes, probe)
    np.testing.assert_array_equal(raw.probeGuess, probe[0])  # the model uses mode 0
    np.testing.assert_array_equal(raw.objectGuess, obj)
    assert raw.bad_pixels is None
    np.testing.assert_array_equal(raw.scan_index, np.zeros(3, dtype=np.int64))


def test_float_intensities_are_also_counts() -> None:
    """ADAPT-021: Ptychodus patterns are intensities in any dtype (float too)."""
    patterns = np.full((3, N, N), 6.25, dtype=np.float32)
    patterns[0, 0, 0] = -1.0  # background-subtracted negative -> 0
    raw = raw_data_from_input(_input(patterns, X, Y))
    assert raw.diff3d[1, 5, 5] == pytest.approx(2.5)
    assert raw.diff3d[0, 0, 0] == 0.0


def test_bad_pixels_are_inpainted_from_good_neighbours() -> None:
    """ADAPT-022: a hot bad pixel is replaced by the mean of its good 4-neighbours."""
    counts = np.full((3, N, N), 1, dtype=np.uint32)
    counts[:, 5, 5] = 1_000_000  # hot pixel, marked bad
    counts[:, 4, 5], counts[:, 6, 5], counts[:, 5, 4], counts[:, 5, 6] = 4, 16, 36, 64
    bad = np.zeros((N, N), dtype=bool)
    bad[5, 5] = True
    raw = raw_data_from_input(_input(counts, X, Y, bad_pixels=bad))
    # amplitudes 2, 4, 6, 8 -> mean 5
    np.testing.assert_allclose(raw.diff3d[:, 5, 5], 5.0)
    np.testing.assert_array_equal(raw.bad_pixels, bad)


def test_all_bad_pixels_is_an_error() -> None:
    """Bad input: a mask marking every pixel bad."""
    counts = np.ones((3, N, N), dtype=np.uint32)
    with pytest.raises(ValueError, match="marked bad"):
        raw_data_from_input(_input(counts, X, Y, bad_pixels=np.ones((N, N), dtype=bool)))


def test_non_square_patterns_are_an_error() -> None:
    """Bad input: non-square patterns."""
    with pytest.raises(ValueError, match="must be square, got 64x48"):
        pattern_size(np.zeros((2, 64, 48)))


@pytest.mark.parametrize("size", [32, 96, 512])
def test_unsupported_pattern_size_is_an_error(size: int) -> None:
    """Bad input: pattern size not in {64, 128, 256}."""
    with pytest.raises(ValueError, match=f"{size}x{size} is not supported"):
        pattern_size(np.zeros((2, size, size)))


def test_positions_outside_the_object_are_an_error() -> None:
    """Bad input: a position outside the object grid."""
    counts = np.ones((3, N, N), dtype=np.uint32)
    with pytest.raises(ValueError, match="1 of 3 probe positions lie outside the object"):
        raw_data_from_input(_input(counts, np.array([40.0, 60.0, 121.0]), Y))


def test_probe_of_wrong_size_is_an_error() -> None:
    """ADAPT-024: the probe must be N x N."""
    counts = np.ones((3, N, N), dtype=np.uint32)
    with pytest.raises(ValueError, match="probe is 32x32 pixels but the diffraction"):
        raw_data_from_input(_input(counts, X, Y, probe=np.ones((32, 32), dtype=np.complex64)))


def test_nan_intensities_at_good_pixels_are_an_error() -> None:
    """ADAPT-021: NaN data are refused unless the pixel is marked bad."""
    patterns = np.ones((3, N, N), dtype=np.float32)
    patterns[1, 2, 3] = np.nan
    with pytest.raises(ValueError, match="NaN/Inf"):
        intensity_to_amplitude(patterns, None)
    bad = np.zeros((N, N), dtype=bool)
    bad[2, 3] = True
    amplitude, mask = intensity_to_amplitude(patterns, bad)
    assert np.all(np.isfinite(amplitude)) and mask is not None


def test_stitched_object_lies_on_the_input_grid() -> None:
    """ADAPT-025: constant patches at the positions give that constant where covered, 0 else."""
    patches = np.full((3, N, N, 1), 2 - 1j, dtype=np.complex64)
    offsets = np.stack([X, Y], axis=1).reshape(3, 1, 2, 1)
    obj = object_from_patches(patches, offsets, SHAPE)
    assert obj.shape == SHAPE and obj.dtype == np.complex64
    # crop N/2 = 32: patch rows y-16 .. y+15, columns x-16 .. x+15 around the first position
    assert obj[30, 40] == pytest.approx(2 - 1j)
    assert obj[30 - 16, 40 - 16] == pytest.approx(2 - 1j)
    assert obj[0, 0] == 0 and obj[99, 119] == 0


def test_product_geometry_probe_positions_and_losses() -> None:
    """ADAPT-025..028: object on the input grid, probe, metadata, positions, losses."""
    counts = np.ones((3, N, N), dtype=np.uint32)
    parameters = _input(counts, X, Y, probe=_probe(modes=2))
    obj = np.full(SHAPE, 0.5 + 0.5j, dtype=np.complex64)
    losses = loss_values({"loss": [3.0, 2.0, 1.5]})
    assert losses == [LossValue(1, 3.0), LossValue(2, 2.0), LossValue(3, 1.5)]
    product = product_from_reconstruction(parameters, obj, losses=losses)
    geometry_in = parameters.product.object_.get_geometry()
    assert product.object_.get_geometry() == geometry_in
    assert product.object_.get_array().shape == (1, *SHAPE)
    np.testing.assert_array_equal(product.object_.get_layer(0), obj)
    assert product.probes is parameters.product.probes  # no learned probe: unchanged
    assert product.probe_positions is parameters.product.probe_positions
    assert product.metadata == parameters.product.metadata
    assert list(product.losses) == losses
    with pytest.raises(ValueError, match="share the pixel grid"):
        product_from_reconstruction(parameters, obj[:50])


def test_learned_probe_replaces_mode_zero_in_the_input_scale() -> None:
    """ADAPT-026: learned shape, input probe's masked mean amplitude, other modes kept."""
    modes = _probe(modes=2) * 7.0
    learned = _probe()[0] * 0.25 * np.exp(1j * 0.3)  # normalised scale, new phase
    out = probe_in_input_scale(learned, modes)
    assert out.shape == modes.shape and out.dtype == np.complex64
    np.testing.assert_allclose(out[0], _probe()[0] * 7.0 * np.exp(1j * 0.3), rtol=1e-6)
    np.testing.assert_array_equal(out[1], modes[1].astype(np.complex64))

    counts = np.ones((3, N, N), dtype=np.uint32)
    parameters = _input(counts, X, Y, probe=modes)
    product = product_from_reconstruction(
        parameters, np.ones(SHAPE, dtype=np.complex64), probe_modes=out
    )
    array = product.probes.get_array()
    assert array.shape == (1, 2, N, N)  # Ptychodus layout (OPR, incoherent modes, N, N)
    np.testing.assert_allclose(array[0], out)
    assert product.probes.get_pixel_geometry() == parameters.product.probes.get_pixel_geometry()


def test_losses_shown_in_ptychodus_are_positive() -> None:
    """ADAPT-028: Ptychodus plots Product.losses log-scale; a negative NLL shows the MAE."""
    pinn = {"loss": [-1690.0, -1700.0], "mae_loss": [1.5, 1.2], "val_mae_loss": [1.6, 1.3]}
    assert display_loss_key(pinn) == "mae_loss"
    assert display_loss_key(pinn, "val_") == "val_mae_loss"
    assert loss_values(pinn) == [LossValue(1, 1.5), LossValue(2, 1.2)]
    supervised = {"loss": [0.3, 0.2], "val_loss": [0.4, 0.3]}
    assert display_loss_key(supervised) == "loss"
    assert display_loss_key({}) is None and loss_values({}) == []


def test_perfect_patches_restitch_the_true_object(sim: object, sim_input: object) -> None:
    """ADAPT-023/025 (whole chain): simulator -> Ptychodus files -> adapter positions ->
    grouping -> stitching puts every pixel back where it came from (a half-pixel error in the
    position convention would more than double the error)."""
    from ptycho.loader import container_from_raw
    from ptycho.metrics import scanned_roi

    raw = raw_data_from_input(sim_input)  # type: ignore[arg-type]
    raw.objectGuess = sim.object  # type: ignore[attr-defined]
    container = container_from_raw(raw, N, n_groups=None, seed=0)
    truth = sim.object  # type: ignore[attr-defined]
    roi = scanned_roi(sim.raw.xcoords, sim.raw.ycoords, N, truth.shape)  # type: ignore[attr-defined]

    def error(shift_px: float) -> float:
        offsets = container.global_offsets.copy()
        offsets[:, 0, 0, 0] += shift_px
        obj = object_from_patches(container.Y, offsets, truth.shape)
        return float(np.abs(obj[roi] - truth[roi]).mean() / np.abs(truth[roi]).mean())

    assert error(0.0) < 0.02
    assert error(0.5) > 2 * error(0.0)
