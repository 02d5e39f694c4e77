"""Reconstruction quality at gridsize 2 after a small fixed training budget (integration).

The first two tests train the real model (n_filters_scale 1, batch 16, fixed seed) on a 256-position
simulated raster scan (N=64, 1e6 photons, ~70 % overlap, Poisson noise), stitch the
reconstruction onto the object grid (central 32 px of each patch) and compare it with the ground
truth with :func:`ptycho.metrics.compare` over the scanned region (8 px inside the covered
border), against a constant object (the mean true amplitude, zero phase).

Numbers measured when the tests were written (shared 2-core CPU):

- embedded simulated object (:func:`ptycho.simulation.simulate_dataset`, structured amplitude
  and phase), 40 epochs, the default seed 42: amplitude SSIM 0.456 vs 0.349 for the constant
  object, amplitude PSNR 21.0 vs 16.8 dB (seed 7: 0.412 and 19.6 dB). Within this budget the
  phase of this object is **not** recovered (phase SSIM about 0.0, the baseline's 0.016; longer
  runs drift to a slightly anti-correlated phase, see the backend report);
- pure-phase object (unit amplitude, smooth phase of +-1.5 rad, same probe and scan), 20 epochs,
  seed 11: phase SSIM 0.199 vs 0.024 for the constant object;
- embedded simulated object with **refined training targets** (ARCH-013: the training scan is
  first refined from a flat object for 100 iterations and the network also learns towards those
  patches, weight 100; no ground truth is used), then physics refinement of the reconstruction:
  see :func:`test_refined_targets_fix_the_phase_sign_and_refinement_recovers_the_phase`.

Asserted margins of the first two: amplitude SSIM +0.05 and amplitude PSNR +2 dB; phase SSIM
+0.08.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pytest

from ptycho.config.config import InferenceConfig, ModelConfig, TrainingConfig
from ptycho.metrics import compare, scanned_roi
from ptycho.tf import api

pytestmark = pytest.mark.integration

N = 64
POSITIONS = 256
CROP = 32


def _train_and_compare(
    raw: Any, seed: int, epochs: int, test: Any = None, **options: Any
) -> tuple[dict[str, float], dict[str, float]]:
    """Train on ``raw`` (through the dispatcher, so ``options`` such as refined targets apply)
    and compare the reconstruction of ``test`` (default ``raw``) with its ground truth."""
    from ptycho.workflows.backend_selector import train_with_backend

    config = TrainingConfig(
        model=ModelConfig(N=N, gridsize=2, n_filters_scale=1),
        nepochs=epochs,
        batch_size=16,
        nphotons=1e6,
        n_groups=POSITIONS,
        neighbor_count=6,
        validation_fraction=0.0,
        early_stopping_patience=epochs,
        seed=seed,
        **options,
    )
    bundle = train_with_backend(raw, config)
    raw = raw if test is None else test
    recon = api.reconstruct(
        bundle, raw, InferenceConfig(model=bundle.model_config, neighbor_count=6), M=CROP
    )
    truth = raw.objectGuess
    roi = scanned_roi(raw.xcoords, raw.ycoords, N, truth.shape, margin=8)
    constant = np.full(truth.shape, np.mean(np.abs(truth[roi])), dtype=np.complex64)
    return compare(recon.object, truth, roi), compare(constant, truth, roi)


def test_gridsize2_amplitude_beats_a_constant_object_on_the_embedded_data() -> None:
    """Quality: the embedded simulated scan (structured amplitude and phase), 40 epochs;
    amplitude SSIM >= baseline + 0.05 and amplitude PSNR >= baseline + 2 dB."""
    from ptycho.simulation import simulate_dataset

    sim = simulate_dataset(N=N, n_positions=POSITIONS, nphotons=1e6, seed=7)
    ours, baseline = _train_and_compare(sim.raw, seed=42, epochs=40)
    assert ours["amp_ssim"] >= baseline["amp_ssim"] + 0.05, (ours, baseline)
    assert ours["amp_psnr"] >= baseline["amp_psnr"] + 2.0, (ours, baseline)


def _phase_object_scan(seed: int) -> Any:
    """A pure-phase object (unit amplitude, smooth phase of +-1.5 rad) scanned like the
    embedded data: the simulator's disk probe and raster scan, Poisson counts at 1e6 photons."""
    from scipy import ndimage

    from ptycho.physics.forward import far_field_amplitude, illuminate
    from ptycho.physics.noise import poisson_counts
    from ptycho.physics.shift import extract_patches
    from ptycho.raw_data import RawData
    from ptycho.simulation import raster_scan, simulate_probe

    rng = np.random.default_rng(seed)
    probe = simulate_probe(N, "disk", seed=seed)
    pos = raster_scan(POSITIONS, 6.5, jitter_px=0.5, seed=seed)
    pos = pos - pos.min(axis=0) + 40.0
    size = int(np.ceil(pos.max())) + 41
    field = ndimage.gaussian_filter(rng.standard_normal((size, size)), 6.0)
    field = (field - field.min()) / (field.max() - field.min())
    obj = np.exp(1j * 1.5 * (2.0 * field - 1.0)).astype(np.complex64)
    x, y = pos[:, 0], pos[:, 1]
    amp = far_field_amplitude(illuminate(extract_patches(obj, x, y, N), probe)).astype(np.float64)
    scale = np.sqrt(1e6 / np.mean(np.sum(amp**2, axis=(1, 2))))
    counts = poisson_counts((scale * amp) ** 2, rng)
    return RawData(
        x,
        y,
        None,
        None,
        np.sqrt(counts).astype(np.float32),
        (probe * scale).astype(np.complex64),
        np.zeros(POSITIONS, np.int64),
        objectGuess=obj,
    )


def test_gridsize2_phase_beats_a_constant_object_on_a_phase_object() -> None:
    """Quality: a pure-phase object, 20 epochs; phase SSIM >= baseline + 0.08."""
    ours, baseline = _train_and_compare(_phase_object_scan(11), seed=11, epochs=20)
    assert ours["phase_ssim"] >= baseline["phase_ssim"] + 0.08, (ours, baseline)


def test_refined_targets_fix_the_phase_sign_and_refinement_recovers_the_phase() -> None:
    """ARCH-013, quality on a held-out scan of another object (512 + 512 positions, 30 epochs,
    refined targets: 100 iterations, weight 100, no ground truth used in training).

    - the network alone: amplitude SSIM >= constant + 0.05, and its phase is on the right
      branch: better than its complex conjugate in both phase SSIM and phase PSNR (trained on
      the diffraction loss alone it lands on the conjugate-like twin instead, ARCH-013);
    - with 30 refinement iterations: amplitude SSIM >= 0.9 and phase SSIM >= constant + 0.3.

    Measured (seed 42, 2-core CPU, about 2 min): network amplitude SSIM 0.470 (constant 0.403),
    phase SSIM 0.274 / PSNR 15.87 dB vs conjugate 0.217 / 15.25 dB (the network-alone phase is
    still weak on a held-out object at this budget); refined amplitude SSIM 0.970 / 31.4 dB,
    phase SSIM 0.689 / 21.0 dB (constant 0.255 / 15.7 dB).
    """
    from ptycho.metrics import compare, scanned_roi
    from ptycho.simulation import simulate_train_test
    from ptycho.workflows.backend_selector import train_with_backend

    positions = 512
    train, test = simulate_train_test(N=N, n_train=positions, nphotons=1e6, seed=7)
    config = TrainingConfig(
        model=ModelConfig(N=N, gridsize=2, n_filters_scale=1),
        nepochs=30,
        batch_size=16,
        nphotons=1e6,
        n_groups=positions,
        neighbor_count=6,
        validation_fraction=0.0,
        early_stopping_patience=30,
        seed=42,
        realspace_weight=100.0,
        refined_target_iterations=100,
    )
    bundle = train_with_backend(train.raw, config)
    raw, truth = test.raw, test.object
    inference = InferenceConfig(model=bundle.model_config, neighbor_count=6)
    network = api.reconstruct(bundle, raw, inference, M=CROP).object
    refined = api.reconstruct(
        bundle, raw, dataclasses.replace(inference, refine_iterations=30), M=CROP
    ).object
    roi = scanned_roi(raw.xcoords, raw.ycoords, N, truth.shape, margin=8)
    constant = compare(np.full(truth.shape, np.mean(np.abs(truth[roi])), np.complex64), truth, roi)
    ours, conj = compare(network, truth, roi), compare(np.conj(network), truth, roi)
    best = compare(refined, truth, roi)
    assert ours["amp_ssim"] >= constant["amp_ssim"] + 0.05, (ours, constant)
    assert ours["phase_ssim"] > conj["phase_ssim"], (ours, conj)
    assert ours["phase_psnr"] > conj["phase_psnr"], (ours, conj)
    assert best["amp_ssim"] >= 0.9 and best["phase_ssim"] >= constant["phase_ssim"] + 0.3, best
