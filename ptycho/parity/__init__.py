"""TensorFlow <-> PyTorch parity harness (issue 5): evidence that both backends are one method.

``python -m ptycho.parity --output_dir D [--size tiny|full] [--epochs E] [--seed S]`` simulates
one seeded dataset and runs each backend in its **own subprocess** (this process imports neither
TensorFlow nor torch; arrays travel through ``.npz`` files in a temporary directory). It writes
``D/parity_report.md``, ``D/parity.png`` and ``D/parity.json`` (every number of the report) and
exits 1 when a check fails (2 when a backend could not run).

Sections and pass criteria (:data:`TOLERANCES`):

1. **Physics**: the NumPy reference (:mod:`ptycho.physics`, evaluated in float64) against each
   backend's own implementation on the same float32 inputs: translation (ARCH-003), object_big
   merge and re-extraction (ARCH-010), patch extraction (ARCH-004, torch only: the TensorFlow
   backend has no whole-object extraction), illumination, exit-wave smoothing, far-field
   amplitude (ARCH-006), the full forward model with smoothing and probe mask, Poisson NLL and
   diffraction MAE (ARCH-009), and stitching (the shared :mod:`ptycho.stitching`) of each
   backend's re-extracted patches. PASS when ``max|backend - ref| / max|ref| <= 1e-5``.
2. **Same weights**: a model initialised once in TensorFlow is saved as a ``wts.h5.zip``,
   converted to PyTorch by the framework-free archive converter
   (:func:`ptycho.weights.convert_archive_bundle`, the one the dispatcher uses), and both run on
   the same test groups; likewise a model initialised in PyTorch and converted to TensorFlow.
   Compared: object at the group centre, per-channel object patches, predicted scaled
   diffraction ``s A``, and the stitched object.
   PASS when every relative difference is ``<= 1e-4``.
3. **Same training**: both backends train from the same initial weights (the TensorFlow
   initialisation, converted) on the same groups in the same order (the TensorFlow trainer's
   per-epoch ``numpy`` permutation, which the PyTorch worker gives its data module) with the
   same validation groups, loss, Adam learning rate and constant schedule. Per-epoch losses side
   by side and the stitched test reconstruction's SSIM/PSNR/FRC against ground truth
   (:func:`ptycho.metrics.compare`). PASS when amplitude and phase SSIM differ by ``<= 0.02``.
   (Each framework's Adam is used as is: Keras applies its epsilon 1e-7 to the uncorrected
   second moment, torch its 1e-8 to the bias-corrected one, which is the main source of the
   remaining difference.)
4. **Speed**: training throughput (groups/s, epochs after the first) and inference throughput
   (groups/s, prediction plus stitching, after a warm-up) of both backends, same machine, same
   run, same thread settings.

Layout (this package is core: it imports no framework and no backend):

- :mod:`ptycho.parity.settings`: sizes, tolerances, :class:`ParityResult`,
  :func:`relative_difference`, and :data:`PARITY_WORKERS`, the one table of backend name ->
  worker module;
- :mod:`ptycho.parity.task`: the simulated data and the shared configs of the workers' task;
- :mod:`ptycho.parity.reference`: the physics inputs and the NumPy reference;
- :mod:`ptycho.parity.orchestrator`: :func:`run_parity` and the worker subprocesses;
- :mod:`ptycho.parity.evaluate`, :mod:`ptycho.parity.report`, :mod:`ptycho.parity.outputs`: the
  checks, the Markdown report, the figure and the files written;
- :mod:`ptycho.parity.worker_common`: the framework-free helpers of the workers, which live in
  the backends under one name (``ptycho.tf.parity_worker``, ``ptycho_torch.parity_worker``);
- :mod:`ptycho.parity.cli`: the command line.
"""

from __future__ import annotations

from ptycho.parity.cli import main
from ptycho.parity.orchestrator import run_parity
from ptycho.parity.settings import (
    PARITY_WORKERS,
    SIZES,
    TOLERANCES,
    ParityResult,
    ParitySettings,
    relative_difference,
)

__all__ = [
    "PARITY_WORKERS",
    "SIZES",
    "TOLERANCES",
    "ParityResult",
    "ParitySettings",
    "main",
    "relative_difference",
    "run_parity",
]
