"""Inference with a TF PtychoPINN bundle: batched patch prediction and stitched reconstruction.

- :func:`predict_patches`: object patches at the group centres, ``(B, N, N, 1) complex64``, from a
  compiled graph run in fixed-size batches (the model input is ``s X`` with the bundle's ``s``).
- :func:`reconstruct`: group a :class:`~ptycho.raw_data.RawData` scan, predict, and stitch the
  patches onto the input object's pixel grid (:func:`ptycho.stitching.stitch_patches`) when the
  scan carries an ``objectGuess`` (which fixes the grid), else onto a canvas centred on the scan
  (:func:`ptycho.stitching.reassemble_position`). Returns the probe used as well.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np
import tensorflow as tf

from ptycho.inference import DEFAULT_STITCH_CROP, Reconstruction, reconstruct_scan
from ptycho.tf.data_checks import check_container
from ptycho.tf.network import PtychoPINNModel, resolve_network_precision

if TYPE_CHECKING:
    from ptycho.backend import ModelBundle
    from ptycho.config.config import InferenceConfig
    from ptycho.loader import PtychoDataContainer
    from ptycho.raw_data import RawData

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "DEFAULT_STITCH_CROP",
    "Reconstruction",
    "predict_patches",
    "reconstruct",
]

logger = logging.getLogger(__name__)

#: Default number of groups per prediction batch.
DEFAULT_BATCH_SIZE = 64


def _network(bundle: ModelBundle) -> PtychoPINNModel:
    if bundle.backend != "tensorflow" or not isinstance(bundle.network, PtychoPINNModel):
        raise ValueError(
            f"this is a {bundle.backend} model bundle; the tensorflow backend cannot run it "
            "(select the matching backend)"
        )
    return bundle.network


def _predict_function(network: PtychoPINNModel, precision: str) -> Any:
    """The compiled object predictor of ``network`` in ``precision`` (traced once per network and
    precision, kept on it: a traced graph keeps the arithmetic it was traced with)."""
    fn = network.predict_functions.get(precision)
    if fn is None:
        n, c = network.N, network.channels
        model = network.diffraction_to_obj

        def predict(x: tf.Tensor, positions: tf.Tensor) -> tf.Tensor:
            return model([x, positions], training=False)

        fn = tf.function(
            predict,
            input_signature=[
                tf.TensorSpec((None, n, n, c), tf.float32),
                tf.TensorSpec((None, 1, 2, c), tf.float32),
            ],
        )
        previous = network.precision
        network.set_precision(precision)
        try:
            fn.get_concrete_function()
        finally:
            network.set_precision(previous)
        network.predict_functions[precision] = fn
    return fn


def predict_patches(
    bundle: ModelBundle,
    container: PtychoDataContainer,
    batch_size: int = DEFAULT_BATCH_SIZE,
    *,
    probe: np.ndarray | None = None,
    precision: str = "float32",
) -> np.ndarray:
    """Predict the object patch at every group centre.

    Parameters
    ----------
    bundle : ModelBundle
        A TensorFlow bundle.
    container : PtychoDataContainer
        ``X (B, N, N, C)`` normalised diffraction and ``coords_nominal (B, 1, 2, C)``.
    batch_size : int
        Groups per forward pass.
    probe : (N, N) complex, optional
        Normalised probe for this prediction (the ``backprop_unet`` network backprojects with
        it, ARCH-014); default the model's own. The model's probe is restored afterwards.
    precision : str
        ``'float32'`` (default), ``'bfloat16'`` or ``'auto'``: the arithmetic of the
        convolution trunk (ARCH-016).

    Returns
    -------
    (B, N, N, 1) complex64

    Raises
    ------
    ValueError
        When the data's N or channel count does not match the model, or the bundle is not TF.
    """
    network = _network(bundle)
    check_container(container, network.N, network.gridsize, "inference")
    if int(batch_size) < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    fn = _predict_function(network, resolve_network_precision(precision))
    scale = np.float32(network.intensity_scale)
    x = np.asarray(container.X, dtype=np.float32)
    positions = np.asarray(container.coords_nominal, dtype=np.float32)
    out = np.empty((x.shape[0], network.N, network.N, 1), dtype=np.complex64)
    with _probe_set_to(network, probe):
        for start in range(0, x.shape[0], int(batch_size)):
            stop = start + int(batch_size)
            out[start:stop] = fn(x[start:stop] * scale, positions[start:stop]).numpy()
    return out


@contextlib.contextmanager
def _probe_set_to(network: PtychoPINNModel, probe: np.ndarray | None) -> Iterator[None]:
    """Temporarily give ``network`` another probe (restored on exit, also on errors)."""
    if probe is None:
        yield
        return
    layer = network.probe_layer
    probe = np.asarray(probe, dtype=np.complex64)
    if probe.shape != (network.N, network.N):
        raise ValueError(f"probe must have shape ({network.N}, {network.N}), got {probe.shape}")
    saved = (layer.probe_real.numpy(), layer.probe_imag.numpy())
    layer.probe_real.assign(probe.real)
    layer.probe_imag.assign(probe.imag)
    try:
        yield
    finally:
        layer.probe_real.assign(saved[0])
        layer.probe_imag.assign(saved[1])


def reconstruct(
    bundle: ModelBundle,
    raw: RawData,
    inference_config: InferenceConfig,
    *,
    M: int = DEFAULT_STITCH_CROP,
) -> Reconstruction:
    """Reconstruct a scan with a TensorFlow bundle (:func:`ptycho.inference.reconstruct_scan`
    with this backend's :func:`predict_patches`)."""
    _network(bundle)
    return reconstruct_scan(bundle, raw, inference_config, predict_patches, M=M)
