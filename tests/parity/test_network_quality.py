"""The network's own image on a scan it never saw, in both backends (issue 10, ARCH-014, D13).

Two claims, each for TensorFlow and PyTorch:

1. a ``backprop_unet`` network trained briefly (physics loss only) on one simulated scan
   reconstructs a scan of **another object** better than a constant object, and on the right
   branch of the twin (better than its own complex conjugate, ARCH-013);
2. the pretrained model that ships with the package (D13) reconstructs a fresh simulated scan
   of its families well without any training, and both backends give the same image.

Numbers measured when the tests were written are in each docstring; the asserted margins are
below them with room for the machine-to-machine spread of float32 training.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from ptycho.config.config import InferenceConfig, ModelConfig, TrainingConfig
from ptycho.metrics import compare, scanned_roi

pytestmark = pytest.mark.integration

BACKENDS = ("tensorflow", "pytorch")


def _require(backend: str) -> Any:
    from ptycho.workflows.backend_selector import get_backend

    return get_backend(backend)


def _scores(obj: np.ndarray, raw: Any, truth: np.ndarray) -> dict[str, dict[str, float]]:
    roi = scanned_roi(raw.xcoords, raw.ycoords, raw.N, truth.shape, margin=8)
    constant = np.full(truth.shape, np.mean(np.abs(truth[roi])), dtype=np.complex64)
    return {
        "network": compare(obj, truth, roi),
        "conjugate": compare(np.conj(obj), truth, roi),
        "constant": compare(constant, truth, roi),
    }


@pytest.fixture(scope="module")
def scans() -> tuple[Any, Any]:
    from ptycho.simulation import simulate_train_test

    return simulate_train_test(N=64, n_train=256, nphotons=1e6, seed=3)


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_briefly_trained_network_reconstructs_an_unseen_object(
    backend: str, scans: tuple[Any, Any]
) -> None:
    """Issue 10 goal 1 at test size: 256 training groups (gridsize 2, s_f 1), 30 epochs, Poisson
    loss only, from scratch; held-out object of the same family: amplitude SSIM >= constant +
    0.12, phase SSIM >= constant + 0.02 and >= its conjugate's + 0.06 (the right branch of the
    twin, ARCH-013).

    Measured (2-core CPU, about 100 s per backend): TensorFlow amplitude/phase SSIM 0.578/0.197,
    PyTorch 0.464/0.190 and, in a CI run, 0.452/0.159 (torch CPU training differs from run to
    run); conjugate phase 0.023-0.054; constant object 0.274/0.111. (At 12 epochs the phase was
    not yet learned: TensorFlow -0.045, on the twin.)
    """
    from ptycho.workflows.backend_selector import reconstruct_with_backend, train_with_backend

    _require(backend)
    train, test = scans
    config = TrainingConfig(
        model=ModelConfig(N=64, gridsize=2, n_filters_scale=1),
        nepochs=30,
        batch_size=16,
        nphotons=1e6,
        n_groups=256,
        validation_fraction=0.0,
        early_stopping_patience=30,
        seed=42,
        backend=backend,
    )
    bundle = train_with_backend(train.raw, config)
    recon = reconstruct_with_backend(bundle, test.raw, InferenceConfig(model=bundle.model_config))
    s = _scores(recon.object, test.raw, test.object)
    print(backend, {k: (round(v["amp_ssim"], 3), round(v["phase_ssim"], 3)) for k, v in s.items()})
    assert s["network"]["amp_ssim"] >= s["constant"]["amp_ssim"] + 0.12, s
    assert s["network"]["phase_ssim"] >= s["constant"]["phase_ssim"] + 0.02, s
    assert s["network"]["phase_ssim"] >= s["conjugate"]["phase_ssim"] + 0.06, s


def test_the_pretrained_model_reconstructs_a_fresh_scan_alike_in_both_backends() -> None:
    """D13: the shipped model on a fresh 'mixed' scan (disk probe, 1e6 photons, 128 positions,
    never seen): amplitude SSIM >= 0.65 and phase SSIM >= 0.15 in both backends, above the
    constant object and the phase on the right branch of the twin (above its conjugate's), and
    the two backends' images agree to 1e-3 (relative).

    Measured: amp/phase SSIM 0.760/0.264 in both backends; its conjugate 0.760/0.018; constant
    object 0.308/0.076.
    """
    from ptycho.pretrained import archive_path
    from ptycho.simulation import simulate_dataset
    from ptycho.workflows.backend_selector import (
        load_inference_bundle_with_backend,
        reconstruct_with_backend,
    )

    scan = simulate_dataset(N=64, n_positions=128, nphotons=1e6, seed=90210)
    objects = {}
    for backend in BACKENDS:
        _require(backend)
        bundle = load_inference_bundle_with_backend(archive_path(), backend=backend)
        config = InferenceConfig(model=bundle.model_config, backend=backend)
        objects[backend] = reconstruct_with_backend(bundle, scan.raw, config).object
        s = _scores(objects[backend], scan.raw, scan.object)
        print(backend, round(s["network"]["amp_ssim"], 3), round(s["network"]["phase_ssim"], 3))
        assert s["network"]["amp_ssim"] >= 0.65, s
        assert s["network"]["phase_ssim"] >= 0.15, s
        assert s["network"]["amp_ssim"] >= s["constant"]["amp_ssim"] + 0.3, s
        assert s["network"]["phase_ssim"] >= s["conjugate"]["phase_ssim"] + 0.05, s
    tf, torch = objects["tensorflow"], objects["pytorch"]
    assert np.max(np.abs(tf - torch)) <= 1e-3 * np.max(np.abs(torch))
