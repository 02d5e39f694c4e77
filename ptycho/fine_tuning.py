"""Continuing a trained model on new data (fine-tuning): what it starts from, for both backends.

When training continues from an ``initial`` model (``train_with_backend(..., initial=...)``,
``ptycho-train --initial_model``, the Ptychodus ``StartFromPretrained`` setting), the network's
weights carry over, but the **probe** and the **intensity scale** describe the experiment, not
the network:

* the probe becomes the new data's (normalised, ARCH-008) unless the initial model learned its
  probe in training (``probe_trainable``), in which case the learned one is kept: the
  ``backprop_unet`` input backprojects with it (ARCH-014), so a model pretrained with other probes
  must see this scan's;
* the intensity scale becomes the new data's ``s0 = sqrt(nphotons) / (N/2)`` (ARCH-007): the
  photon level is the data's.

A ``backprop_unet`` model trained at another ``N`` is first rebuilt at the data's ``N``
(:func:`ptycho.weights.resized_bundle`, by the dispatcher).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ptycho.array_types import Complex64Array, ComplexArray

if TYPE_CHECKING:
    from ptycho.backend import ModelBundle
    from ptycho.config.config import TrainingConfig

__all__ = ["continued_probe_and_scale"]


def continued_probe_and_scale(
    initial: ModelBundle, data_probe: ComplexArray, config: TrainingConfig
) -> tuple[Complex64Array, float]:
    """The probe ``(N, N) complex64`` and intensity scale a continued training starts from.

    Parameters
    ----------
    initial : ModelBundle
        The model training continues from.
    data_probe : (N, N) complex
        The new training data's probe, unnormalised (as ``PtychoDataContainer.probe``).
    config : TrainingConfig
        The new run's config (``nphotons``, ``model.N``, ``model.probe_scale``).
    """
    from ptycho.physics.forward import intensity_scale
    from ptycho.probe import normalize_probe

    learned = initial.training_config is not None and initial.training_config.probe_trainable
    if learned:
        probe = np.asarray(initial.probe, dtype=np.complex64)
    else:
        probe = normalize_probe(data_probe, config.model.probe_scale)
    return probe, intensity_scale(config.nphotons, config.model.N)
