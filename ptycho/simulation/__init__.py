"""Seeded far-field ptychography simulator: the embedded default data (design D11).

This package owns the synthetic object, probe and scan generators and :func:`simulate_dataset`,
which turns them into a :class:`~ptycho.raw_data.RawData` with ground truth:

1. **Object** (:func:`simulate_object`): a structured complex transmission with amplitude in
   ``[0.3, 1.0]`` and phase in ``[-1, 1]`` rad. It combines the "lines" recipe of the original
   PtychoPINN (random one-pixel segments on a canvas twice the size, blurred with
   ``G_1 + 2 G_5 + 5 G_10``, centre crop; drawn here vectorised and seeded) with smooth random
   blobs and a few larger soft-edged disks. The lines are shared by amplitude and phase (they
   absorb and shift the phase, like material would); blobs and disks are drawn independently for
   each, so the phase is not a function of the amplitude.
2. **Probe** (:func:`simulate_probe`): ``'disk'`` is the default probe of :mod:`ptycho.probe`
   (a smoothed disk of radius about ``0.17 N``) times a defocus phase ``exp(i a r^2)`` (1.5 pi
   rad at the disk edge) plus small seeded astigmatism; ``'zone_plate'`` is the defocused focus
   of an annular pupil (a zone plate with a central stop), i.e. ``IFFT(annulus * exp(i b k^2))``,
   about ``0.35 N`` across. :func:`simulate_probe` returns the shape with peak amplitude 1;
   :func:`simulate_dataset` scales it into photon units (see 4.).
3. **Scan** (:func:`raster_scan`, :func:`spiral_scan`): positions with step
   ``step = (1 - overlap) * D`` for a linear overlap ``overlap`` (default 0.7), where ``D`` is the
   probe diameter of :func:`probe_diameter_px` (equal-area diameter of the region where
   ``|P| >= max|P| / 2``, holes filled) and the step is the grid pitch (raster) or the median
   nearest-neighbour distance (Fermat spiral). Seeded Gaussian jitter (``jitter_px`` standard
   deviation) breaks the raster periodicity.
4. **Diffraction**: ground-truth patches ``Y = extract_patches(object, x, y, N)`` (ARCH-004),
   exit waves ``P * Y``, far-field amplitude (ARCH-006). The probe is scaled so that the
   expected counts ``|FFT(P * Y)|^2`` (orthonormal) average ``nphotons`` per pattern over the
   dataset, i.e. ``|P|^2`` is in photons per pixel per exposure, consistent with the counts.
   Counts are Poisson draws; ``diff3d = sqrt(counts)`` (amplitude in count units, ARCH-001).

Everything is vectorised (no Python loop over positions) and seeded: one integer seed is split
with :class:`numpy.random.SeedSequence` into independent streams for object, probe, scan and
noise, so the same seed gives byte-identical outputs (ARCH-011).

Train/test: :func:`simulate_train_test` simulates two datasets with the **same probe** and scan
statistics on **two different objects** (independent object seeds) with independent noise, so
the test object has never been seen in training and each dataset carries its own complete
ground truth. :func:`split_by_region` instead splits one scan into two spatial regions of the
same object separated by a gap of ``N`` pixels, so that no training patch shares a pixel with a
test patch.

Modules (each one concept; this package re-exports their public names):

* :mod:`~ptycho.simulation.seeds`: seed splitting (``SeedLike``, child streams);
* :mod:`~ptycho.simulation.objects`: :func:`simulate_object`, :data:`OBJECT_FAMILIES`;
* :mod:`~ptycho.simulation.probes`: :func:`simulate_probe`, :func:`probe_diameter_px`;
* :mod:`~ptycho.simulation.scans`: :func:`raster_scan`, :func:`spiral_scan`,
  :data:`DEFAULT_OVERLAP`;
* :mod:`~ptycho.simulation.datasets`: :class:`SimulatedDataset`, :func:`simulate_dataset`;
* :mod:`~ptycho.simulation.splits`: :func:`simulate_train_test`, :func:`split_by_region`;
* :mod:`~ptycho.simulation.saving`: :func:`save_npz`.
"""

from __future__ import annotations

from ptycho.simulation.datasets import DEFAULT_N_POSITIONS, SimulatedDataset, simulate_dataset
from ptycho.simulation.objects import OBJECT_FAMILIES, simulate_object
from ptycho.simulation.probes import probe_diameter_px, simulate_probe
from ptycho.simulation.saving import save_npz
from ptycho.simulation.scans import DEFAULT_OVERLAP, raster_scan, spiral_scan
from ptycho.simulation.seeds import SeedLike
from ptycho.simulation.splits import simulate_train_test, split_by_region

__all__ = [
    "DEFAULT_N_POSITIONS",
    "DEFAULT_OVERLAP",
    "OBJECT_FAMILIES",
    "SeedLike",
    "SimulatedDataset",
    "probe_diameter_px",
    "raster_scan",
    "save_npz",
    "simulate_dataset",
    "simulate_object",
    "simulate_probe",
    "simulate_train_test",
    "spiral_scan",
    "split_by_region",
]
