"""TensorFlow/Keras 3 backend of PtychoPINN.

The only package of :mod:`ptycho` that imports TensorFlow or Keras. Importing ``ptycho.tf`` itself
is light: the submodules are imported explicitly by their users. ``api``, ``physics``,
``network``, ``training``, ``callbacks``, ``persistence``, ``prediction``, ``tensors`` and
``parity_worker`` are mirrored in ``ptycho_torch`` under the same names
(``tests/architecture/test_mirrored_backends.py``); ``layers``, ``loop``, ``steps`` and
``data_checks`` are TF only.

- :mod:`ptycho.tf.physics`: TF mirror of :mod:`ptycho.physics` (translation, object_big merge,
  far field, losses, smoothing).
- :mod:`ptycho.tf.layers`: the custom Keras layers (all with ``get_config``).
- :mod:`ptycho.tf.network`: :func:`~ptycho.tf.network.build_model` and
  :class:`~ptycho.tf.network.PtychoPINNModel`.
- :mod:`ptycho.tf.training`: :func:`~ptycho.tf.training.train`, the backend's entry point.
- :mod:`ptycho.tf.loop`: :func:`~ptycho.tf.loop.fit`, the seeded epoch loop.
- :mod:`ptycho.tf.steps`: the loss and the compiled train / eval steps.
- :mod:`ptycho.tf.callbacks`: reduce-on-plateau and early stopping.
- :mod:`ptycho.tf.data_checks`: data / model shape checks (training and prediction).
- :mod:`ptycho.tf.prediction`: batched prediction and stitched reconstruction.
- :mod:`ptycho.tf.persistence`: ``wts.h5.zip`` save and load (weights only, never code).
- :mod:`ptycho.tf.api`: the shared backend contract (:class:`ptycho.backend.BackendAPI`).
"""

from __future__ import annotations

__all__: list[str] = []
