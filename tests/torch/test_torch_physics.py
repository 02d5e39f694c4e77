"""The torch physics (ptycho_torch.physics) agrees with the NumPy reference (ptycho.physics)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ptycho.physics import forward as npf
from ptycho.physics import object_big as npo
from ptycho.physics import shift as nps
from ptycho_torch import physics as tp

RTOL = 1e-5  # float32 agreement, relative to the reference's magnitude


def _close(actual: np.ndarray, expected: np.ndarray, rtol: float = RTOL) -> float:
    scale = max(float(np.max(np.abs(expected))), 1e-12)
    err = float(np.max(np.abs(np.asarray(actual) - np.asarray(expected)))) / scale
    assert err <= rtol, f"relative error {err:.3g} > {rtol}"
    return err


def _complex(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    return (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(np.complex64)


def test_translate_matches_numpy_reference_including_out_of_bounds_shifts(rng):
    """ARCH-003: bilinear translation, zero outside, float32 agreement for sub-pixel and large
    (partly out-of-image) shifts of real and complex images."""
    images = _complex(rng, (6, 20, 24))
    dx = np.array([0.0, 0.25, -3.7, 12.5, -30.0, 1.0])
    dy = np.array([0.0, -0.5, 2.2, -7.9, 0.4, 25.0])
    ref = nps.translate(images, dx, dy)
    out = tp.translate(torch.from_numpy(images), torch.from_numpy(dx), torch.from_numpy(dy))
    _close(out.numpy(), ref)
    real = images.real.copy()
    _close(
        tp.translate(torch.from_numpy(real), torch.from_numpy(dx), torch.from_numpy(dy)).numpy(),
        nps.translate(real, dx, dy),
    )


def test_translate_moves_content_by_plus_dx_columns_and_plus_dy_rows():
    """ARCH-003 sign: a delta at (r, c) moved by (dx=+2, dy=+1) lands on (r+1, c+2)."""
    image = torch.zeros(1, 9, 9)
    image[0, 4, 4] = 1.0
    moved = tp.translate(image, torch.tensor([2.0]), torch.tensor([1.0]))
    assert moved[0, 5, 6] == 1.0
    assert float(moved.sum()) == 1.0


def test_extract_patches_matches_numpy_reference(rng):
    """ARCH-004: patch pixel (N/2, N/2) sits on (y, x); bilinear, zero outside the object."""
    obj = _complex(rng, (40, 50))
    x = np.array([25.0, 10.3, 47.9, 2.5])
    y = np.array([20.0, 31.7, 5.25, 38.0])
    ref = nps.extract_patches(obj, x, y, 16)
    out = tp.extract_patches(torch.from_numpy(obj), torch.from_numpy(x), torch.from_numpy(y), 16)
    _close(out.numpy(), ref)


@pytest.mark.parametrize("gridsize", [1, 2, 3])
def test_object_big_merge_and_extract_match_numpy_reference(rng, gridsize):
    """ARCH-010: per-group merge (divided by max(count, 1)) and re-extraction agree with the
    reference for any batch size; groups never mix."""
    n, b, c = 32, 5, gridsize**2
    patches = _complex(rng, (b, n, n, c))
    coords = rng.uniform(-4, 4, size=(b, 1, 2, c))
    padded = npo.padded_size(n, gridsize)
    assert tp.padded_size(n, gridsize) == padded
    ref_canvas = npo.merge_group_patches(patches, coords, padded)
    t_patches = torch.from_numpy(np.moveaxis(patches, 3, 1).copy())
    t_coords = torch.from_numpy(coords)
    canvas = tp.merge_group_patches(t_patches, t_coords, padded)
    _close(canvas.numpy(), ref_canvas)
    ref_extract = npo.extract_group_patches(ref_canvas, coords, n)
    out = tp.extract_group_patches(torch.from_numpy(ref_canvas), t_coords, n)
    _close(np.moveaxis(out.numpy(), 1, 3), ref_extract)
    # a group's canvas depends on that group only
    single = tp.merge_group_patches(t_patches[2:3], t_coords[2:3], padded)
    np.testing.assert_allclose(single.numpy()[0], canvas.numpy()[2], atol=1e-6)


def test_far_field_amplitude_matches_reference_and_conserves_energy(rng):
    """ARCH-006: orthonormal, fftshifted far-field amplitude; sum A^2 == sum |Psi|^2."""
    psi = _complex(rng, (3, 2, 32, 32))
    ref = npf.far_field_amplitude(psi)
    out = tp.far_field_amplitude(torch.from_numpy(psi)).numpy()
    _close(out, ref)
    np.testing.assert_allclose(
        (out**2).sum(axis=(-2, -1)), (np.abs(psi) ** 2).sum(axis=(-2, -1)), rtol=1e-5
    )


def test_gaussian_smoothing_matches_reference_with_reflect_padding(rng):
    """The optional 3x3 exit-wave smoothing: same kernel and reflect padding as the reference."""
    field = _complex(rng, (2, 16, 16))
    for sigma in (0.5, 1.0, 2.0):
        _close(
            tp.gaussian_smooth(torch.from_numpy(field), sigma).numpy(),
            npf.gaussian_smooth_3x3(field, sigma),
        )
    assert torch.equal(tp.gaussian_smooth(torch.from_numpy(field), 0.0), torch.from_numpy(field))


def test_losses_match_reference(rng):
    """ARCH-009: Poisson NLL with eps, diffraction MAE and the central-window complex MAE."""
    pred = rng.uniform(0, 50, size=(4, 1, 16, 16)).astype(np.float32)
    pred[0, 0, :2, :2] = 0.0  # finite at zero prediction thanks to eps
    meas = rng.poisson(20, size=pred.shape).astype(np.float32)
    out = float(tp.poisson_nll(torch.from_numpy(pred), torch.from_numpy(meas)))
    assert np.isfinite(out)
    assert out == pytest.approx(npf.poisson_nll(pred, meas), rel=1e-5)
    assert float(
        tp.diffraction_mae(torch.from_numpy(pred), torch.from_numpy(meas))
    ) == pytest.approx(npf.diffraction_mae(pred, meas), rel=1e-5)
    a = _complex(rng, (3, 2, 16, 16))
    b = _complex(rng, (3, 2, 16, 16))
    assert float(tp.complex_mae_center(torch.from_numpy(a), torch.from_numpy(b))) == pytest.approx(
        npf.complex_mae(a, b, window=8), rel=1e-5
    )


def test_full_forward_model_matches_reference_with_smoothing_and_probe_mask(rng):
    """Design D3: O * P -> smoothing -> probe mask -> far field, as the NumPy forward model."""
    from ptycho.config.config import ModelConfig
    from ptycho.probe import probe_mask
    from ptycho_torch.network import PtychoPINNNet

    n = 64
    probe = _complex(rng, (n, n))
    config = ModelConfig(N=n, n_filters_scale=1, probe_mask=True, gaussian_smoothing_sigma=0.7)
    net = PtychoPINNNet(config, probe=probe, intensity_scale=3.0)
    patches = _complex(rng, (2, 1, n, n))
    ref = 3.0 * npf.forward_amplitude(patches, probe, smoothing_sigma=0.7, probe_mask=probe_mask(n))
    with torch.no_grad():
        out = net.diffraction(torch.from_numpy(patches)).numpy()
    _close(out, ref, rtol=2e-5)


def test_translation_is_differentiable_with_respect_to_the_images(rng):
    """Gradients flow through the gather-based translation (training needs them)."""
    images = torch.from_numpy(_complex(rng, (2, 8, 8))).requires_grad_(True)
    out = tp.translate(images, torch.tensor([0.3, -1.2]), torch.tensor([0.7, 2.0]))
    out.abs().sum().backward()
    assert images.grad is not None
    assert float(images.grad.abs().sum()) > 0
