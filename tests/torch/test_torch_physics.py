"""The torch physics' torch-only parts agree with the NumPy reference (the mirrored operations are
checked for every backend by tests/contract/test_physics_contract.py)."""

from __future__ import annotations

import numpy as np
import torch

from ptycho.physics import forward as npf
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


def test_extract_patches_matches_numpy_reference(rng):
    """ARCH-004: patch pixel (N/2, N/2) sits on (y, x); bilinear, zero outside the object."""
    obj = _complex(rng, (40, 50))
    x = np.array([25.0, 10.3, 47.9, 2.5])
    y = np.array([20.0, 31.7, 5.25, 38.0])
    ref = nps.extract_patches(obj, x, y, 16)
    out = tp.extract_patches(torch.from_numpy(obj), torch.from_numpy(x), torch.from_numpy(y), 16)
    _close(out.numpy(), ref)


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
