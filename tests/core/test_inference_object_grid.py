"""``reconstruct_scan(object_shape=...)``: stitching onto a given object grid (ADAPT-002).

The Ptychodus adapter reconstructs onto the host's object grid while the scan's object is only
a starting guess (``objectGuess`` None); the core flow takes that grid as ``object_shape``.
Tiny fake backend (deterministic random patches), no framework.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from ptycho.backend import ModelBundle
from ptycho.config.config import InferenceConfig, ModelConfig
from ptycho.inference import reconstruct_scan
from ptycho.raw_data import RawData
from ptycho.stitching import stitch_patches

N = 64
SHAPE = (150, 170)


def _scan(object_guess: np.ndarray | None, shift: float = 0.0) -> RawData:
    grid = 50.0 + 7.0 * np.arange(6, dtype=float)
    x, y = np.meshgrid(grid, grid)
    m = x.size
    return RawData.from_coords_without_pc(
        x.ravel() + shift,
        y.ravel(),
        np.ones((m, N, N), np.float32),
        np.ones((N, N), np.complex64),
        np.zeros(m, int),
        objectGuess=object_guess,
    )


def _bundle() -> ModelBundle:
    return ModelBundle("pytorch", ModelConfig(N=N), None, 1.0, np.ones((N, N), np.complex64))


def _predict(calls: list[int]) -> Any:
    def predict(
        bundle: Any, container: Any, batch_size: int, *, probe: Any = None, precision: str = ""
    ) -> np.ndarray:
        calls.append(len(container))
        rng = np.random.default_rng(len(container))
        shape = (len(container), N, N, 1)
        return (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(np.complex64)

    return predict


@pytest.mark.parametrize("crop", [20, 12, 200])
def test_object_shape_stitches_onto_that_grid_like_an_object_guess(crop: int) -> None:
    """Without objectGuess, ``object_shape`` gives the object grid: the same object as a scan
    whose objectGuess has that shape, i.e. stitch_patches with the crop (capped at N) and the
    rim from the central N/2."""
    config = InferenceConfig(model=ModelConfig(N=N), seed=3)
    calls: list[int] = []
    given = reconstruct_scan(
        _bundle(), _scan(None), config, _predict(calls), M=crop, object_shape=SHAPE
    )
    guess = reconstruct_scan(
        _bundle(), _scan(np.ones(SHAPE, np.complex64)), config, _predict(calls), M=crop
    )
    assert calls == [36, 36]
    assert given.on_object_grid and given.object.shape == SHAPE
    np.testing.assert_array_equal(given.object, guess.object)
    offsets = given.global_offsets
    expected = stitch_patches(
        given.patches[..., 0],
        offsets[:, 0, 0, 0],
        offsets[:, 0, 1, 0],
        SHAPE,
        crop=min(crop, N),
        rim_crop=N // 2,
    )
    np.testing.assert_allclose(given.object, expected, atol=1e-6)


def test_object_shape_overrides_the_object_guess_and_checks_positions_first() -> None:
    """``object_shape`` wins over objectGuess's shape, and positions off it are refused (HARD-005)
    before anything is predicted."""
    config = InferenceConfig(model=ModelConfig(N=N))
    calls: list[int] = []
    recon = reconstruct_scan(
        _bundle(),
        _scan(np.ones((400, 400), np.complex64)),
        config,
        _predict(calls),
        object_shape=SHAPE,
    )
    assert recon.object.shape == SHAPE
    with pytest.raises(ValueError, match="36 of 36 probe positions lie outside the object"):
        reconstruct_scan(
            _bundle(), _scan(None, shift=500.0), config, _predict(calls), object_shape=SHAPE
        )
    assert calls == [36]


def test_object_shape_with_refinement_returns_the_network_image_and_refined_probe() -> None:
    """Refinement on the given grid keeps the network-alone image and returns the probe it
    refined (what the adapter puts into the product with RefineProbe)."""
    config = InferenceConfig(
        model=ModelConfig(N=N), refine_iterations=2, refine_probe=True, probe_source="model"
    )
    recon = reconstruct_scan(_bundle(), _scan(None), config, _predict([]), object_shape=SHAPE)
    assert recon.network_object is not None and recon.network_object.shape == SHAPE
    assert recon.object.shape == SHAPE and len(recon.refinement_errors) > 0
    assert recon.probe.shape == (N, N)
