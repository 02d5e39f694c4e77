"""Every registered backend's physics agrees with the NumPy reference (issue 12, item 5).

One test per operation of the mirrored physics (``ptycho.tf.physics.__all__`` ==
``ptycho_torch.physics.__all__``), run for each backend through the registry: values against
:mod:`ptycho.physics` (float32 tolerances: the reference computes in float64), the sign and
boundary conventions (ARCH-003), group isolation (ARCH-010, design D4) and differentiability
(training needs gradients through each operation). Inputs and outputs cross the boundary through
the backend's tensor bridge, so the tests hold NumPy arrays in the core's layout only.
"""

from __future__ import annotations

import numpy as np
import pytest

from ptycho.physics import backprojection, object_big, shift
from ptycho.physics import forward as npf
from ptycho.simulation import simulate_probe
from tests.contract.backends import Backend

RTOL = 1e-5  # float32 agreement, relative to the reference's largest magnitude


def _rel(actual: np.ndarray, expected: np.ndarray) -> float:
    scale = max(float(np.max(np.abs(expected))), 1e-30)
    return float(np.max(np.abs(np.asarray(actual) - np.asarray(expected)))) / scale


def _complex(rng: np.random.Generator, *shape: int) -> np.ndarray:
    return (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(np.complex64)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


def test_physics_module_exports_every_mirrored_operation(backend: Backend) -> None:
    """The mirrored names (the TF list is the reference order) exist in this backend."""
    from ptycho.physics import MIRRORED_PHYSICS

    assert list(backend.physics.__all__) == list(MIRRORED_PHYSICS)
    for name in MIRRORED_PHYSICS:
        assert hasattr(backend.physics, name), f"{backend.name} physics lacks {name}"


def test_translate_matches_numpy_for_subpixel_and_out_of_bounds_shifts(
    backend: Backend, rng: np.random.Generator
) -> None:
    """ARCH-003: bilinear translation, zero outside, for complex and real images."""
    images = _complex(rng, 6, 20, 24)
    dx = np.array([0.0, 0.25, -3.7, 12.5, -30.0, 1.0])
    dy = np.array([0.0, -0.5, 2.2, -7.9, 0.4, 25.0])
    t = backend.tensors
    for x in (images, images.real.copy()):
        out = t.to_numpy(
            backend.physics.translate(t.from_numpy(x), t.from_numpy(dx), t.from_numpy(dy))
        )
        assert out.shape == x.shape and out.dtype == x.dtype
        assert _rel(out, shift.translate(x, dx, dy)) < RTOL


def test_translate_moves_content_by_plus_dx_columns_and_plus_dy_rows(backend: Backend) -> None:
    """ARCH-003 sign: a pixel at (4, 4) moved by (dx=2, dy=1) lands on (5, 6); half a pixel
    splits it 0.5/0.5; content moved out of the image is lost (no wrap-around)."""
    t, p = backend.tensors, backend.physics
    image = np.zeros((1, 10, 10), np.float32)
    image[0, 4, 4] = 1.0

    def moved(dx: float, dy: float) -> np.ndarray:
        shifts = (t.from_numpy(np.array([dx])), t.from_numpy(np.array([dy])))
        return t.to_numpy(p.translate(t.from_numpy(image), *shifts))[0]

    assert moved(2.0, 1.0)[5, 6] == pytest.approx(1.0)
    assert moved(2.0, 1.0).sum() == pytest.approx(1.0)
    half = moved(0.5, 0.0)
    assert half[4, 4] == pytest.approx(0.5) and half[4, 5] == pytest.approx(0.5)
    assert moved(7.0, 0.0).sum() == 0.0


@pytest.mark.parametrize("gridsize", [1, 2, 3])
def test_merge_and_extract_group_patches_match_numpy(
    backend: Backend, rng: np.random.Generator, gridsize: int
) -> None:
    """ARCH-010: the per-group merge (divided by max(count, 1)) and the re-extraction."""
    n, b, c = 32, 5, gridsize**2
    patches = _complex(rng, b, n, n, c)
    coords = rng.uniform(-4, 4, size=(b, 1, 2, c))
    padded = object_big.padded_size(n, gridsize)
    t, p = backend.tensors, backend.physics
    assert p.padded_size(n, gridsize) == padded
    canvas = t.to_numpy(
        p.merge_group_patches(t.group_from_numpy(patches), t.from_numpy(coords), padded)
    )
    reference = object_big.merge_group_patches(patches, coords, padded)
    assert canvas.shape == (b, padded, padded)
    assert _rel(canvas, reference) < RTOL
    extracted = t.group_to_numpy(
        p.extract_group_patches(t.from_numpy(reference), t.from_numpy(coords), n)
    )
    assert _rel(extracted, object_big.extract_group_patches(reference, coords, n)) < RTOL


def test_merge_never_mixes_groups_for_batches_beyond_64_patches(
    backend: Backend, rng: np.random.Generator
) -> None:
    """ARCH-010 / D4: with B*C = 80 >= 64, changing group 0 changes only group 0's canvas."""
    patches = _complex(rng, 20, 64, 64, 4)
    coords = rng.uniform(-5, 5, (20, 1, 2, 4))
    coords -= coords.mean(axis=-1, keepdims=True)
    t, p = backend.tensors, backend.physics

    def merged(x: np.ndarray) -> np.ndarray:
        return t.to_numpy(p.merge_group_patches(t.group_from_numpy(x), t.from_numpy(coords), 78))

    base = merged(patches)
    changed = patches.copy()
    changed[0] *= 3.0
    after = merged(changed)
    assert base.shape == (20, 78, 78)
    assert not np.allclose(after[0], base[0])
    np.testing.assert_array_equal(after[1:], base[1:])


def test_crop_center_takes_the_central_window(backend: Backend, rng: np.random.Generator) -> None:
    """The central N x N of a padded canvas (the reference's slice)."""
    canvas = _complex(rng, 3, 78, 78)
    t = backend.tensors
    out = t.to_numpy(backend.physics.crop_center(t.from_numpy(canvas), 64))
    np.testing.assert_array_equal(out, canvas[:, 7:71, 7:71])


def test_far_field_amplitude_matches_numpy_and_conserves_energy(
    backend: Backend, rng: np.random.Generator
) -> None:
    """ARCH-006: orthonormal, fftshifted; sum A^2 == sum |psi|^2; DC at (N/2, N/2)."""
    psi = _complex(rng, 3, 2, 32, 32)
    t, p = backend.tensors, backend.physics
    amp = t.to_numpy(p.far_field_amplitude(t.from_numpy(psi)))
    assert _rel(amp, npf.far_field_amplitude(psi)) < RTOL
    np.testing.assert_allclose(
        (amp**2).sum(axis=(-2, -1)), (np.abs(psi) ** 2).sum(axis=(-2, -1)), rtol=1e-5
    )
    flat = t.to_numpy(p.far_field_amplitude(t.from_numpy(np.ones((1, 32, 32), np.complex64))))
    assert flat[0, 16, 16] == pytest.approx(32.0, rel=1e-6)


def test_gaussian_smooth_matches_numpy_with_reflect_padding(
    backend: Backend, rng: np.random.Generator
) -> None:
    """The optional 3x3 exit-wave smoothing; sigma 0 is the identity."""
    field = _complex(rng, 2, 3, 16, 16)
    t, p = backend.tensors, backend.physics
    for sigma in (0.5, 1.0, 2.0):
        out = t.to_numpy(p.gaussian_smooth(t.from_numpy(field), sigma))
        assert _rel(out, npf.gaussian_smooth_3x3(field, sigma)) < RTOL
    np.testing.assert_array_equal(t.to_numpy(p.gaussian_smooth(t.from_numpy(field), 0.0)), field)


def test_losses_match_numpy(backend: Backend, rng: np.random.Generator) -> None:
    """ARCH-009: Poisson NLL with eps (finite at a zero prediction), diffraction MAE and the
    central-window complex MAE (over each patch's central N/2 x N/2)."""
    pred = rng.uniform(0, 50, size=(4, 16, 16, 2)).astype(np.float32)
    pred[0, :2, :2, 0] = 0.0
    meas = rng.poisson(20, size=pred.shape).astype(np.float32)
    t, p = backend.tensors, backend.physics
    nll = float(t.to_numpy(p.poisson_nll(t.group_from_numpy(pred), t.group_from_numpy(meas))))
    assert np.isfinite(nll)
    assert nll == pytest.approx(npf.poisson_nll(pred, meas), rel=1e-5)
    mae = float(t.to_numpy(p.diffraction_mae(t.group_from_numpy(pred), t.group_from_numpy(meas))))
    assert mae == pytest.approx(npf.diffraction_mae(pred, meas), rel=1e-5)
    a, b = _complex(rng, 3, 16, 16, 2), _complex(rng, 3, 16, 16, 2)
    center = float(t.to_numpy(p.complex_mae_center(t.group_from_numpy(a), t.group_from_numpy(b))))
    assert center == pytest.approx(npf.complex_mae(a, b, window=8, axes=(1, 2)), rel=1e-5)


def test_combine_amp_phase_is_amp_times_exp_i_phase(
    backend: Backend, rng: np.random.Generator
) -> None:
    amp = rng.uniform(0, 2, (2, 8, 8)).astype(np.float32)
    phase = rng.uniform(-np.pi, np.pi, (2, 8, 8)).astype(np.float32)
    t = backend.tensors
    out = t.to_numpy(backend.physics.combine_amp_phase(t.from_numpy(amp), t.from_numpy(phase)))
    assert _rel(out, amp * np.exp(1j * phase)) < RTOL


def test_backproject_matches_numpy(backend: Backend, rng: np.random.Generator) -> None:
    """ARCH-014: one modulus projection from a flat object with the probe's far-field phasor."""
    probe = simulate_probe(32, kind="disk", seed=3).astype(np.complex64)
    amplitude = rng.uniform(0, 5, (3, 32, 32)).astype(np.float32)
    t = backend.tensors
    out = t.to_numpy(backend.physics.backproject(t.from_numpy(amplitude), t.from_numpy(probe)))
    assert _rel(out, backprojection.backproject(amplitude, probe)) < 1e-4


def test_operations_are_differentiable(backend: Backend, rng: np.random.Generator) -> None:
    """Training needs finite, non-zero gradients through translation, the group merge and the
    far field (also where the far field vanishes: the intensity floor keeps it finite)."""
    t, p = backend.tensors, backend.physics
    images = rng.standard_normal((2, 8, 8)).astype(np.float32)
    dx, dy = t.from_numpy(np.array([0.3, -1.2])), t.from_numpy(np.array([0.7, 2.0]))
    grad = t.gradient(lambda x: p.translate(x, dx, dy) ** 2, images)
    assert grad.shape == images.shape and np.all(np.isfinite(grad)) and np.abs(grad).sum() > 0

    patches = t.to_numpy(t.group_from_numpy(rng.standard_normal((2, 16, 16, 4))))
    coords = t.from_numpy(rng.uniform(-2, 2, (2, 1, 2, 4)))
    grad = t.gradient(
        lambda x: abs(p.merge_group_patches(t.to_complex(x), coords, 22)) ** 2, patches
    )
    assert grad.shape == patches.shape
    assert np.all(np.isfinite(grad)) and np.abs(grad).sum() > 0

    for field in (rng.standard_normal((1, 16, 16)), np.zeros((1, 16, 16))):
        grad = t.gradient(lambda x: p.far_field_amplitude(t.to_complex(x)), field)
        assert np.all(np.isfinite(grad))
