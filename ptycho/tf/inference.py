"""Inference with a TF PtychoPINN bundle: batched patch prediction and stitched reconstruction.

- :func:`predict_patches`: object patches at the group centres, ``(B, N, N, 1) complex64``, from a
  compiled graph run in fixed-size batches (the model input is ``s X`` with the bundle's ``s``).
- :func:`reconstruct`: group a :class:`~ptycho.raw_data.RawData` scan, predict, and stitch the
  patches onto the input object's pixel grid (:func:`ptycho.stitching.stitch_patches`) when the
  scan carries an ``objectGuess`` (which fixes the grid), else onto a canvas centred on the scan
  (:func:`ptycho.stitching.reassemble_position`). Returns the probe used as well.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import tensorflow as tf

from ptycho.tf.model import PtychoPINNModel
from ptycho.tf.training import check_container

if TYPE_CHECKING:
    from ptycho.backend import ModelBundle
    from ptycho.config.config import InferenceConfig
    from ptycho.loader import PtychoDataContainer
    from ptycho.raw_data import RawData

__all__ = [
    "DEFAULT_STITCH_CROP",
    "Reconstruction",
    "predict_patches",
    "reconstruct",
]

logger = logging.getLogger(__name__)

#: Side of the central crop of each patch used for stitching (the original's ``M=20``).
DEFAULT_STITCH_CROP = 20


@dataclass
class Reconstruction:
    """A stitched reconstruction.

    Attributes
    ----------
    object : (H, W) complex64
        Stitched object; on the input object's grid when ``on_object_grid``.
    probe : (N, N) complex64
        The (normalised) probe the model used (the learned one when the probe was trained).
    patches : (B, N, N, 1) complex64
        Predicted object patches at the group centres.
    global_offsets : (B, 1, 2, 1) float64
        Group centres ``[x, y]`` in object pixels.
    on_object_grid : bool
        True when stitched onto ``raw.objectGuess``'s grid, False for a scan-centred canvas.
    """

    object: np.ndarray
    probe: np.ndarray
    patches: np.ndarray
    global_offsets: np.ndarray
    on_object_grid: bool

    @property
    def amplitude(self) -> np.ndarray:
        """``|object|``, float32."""
        return np.abs(self.object).astype(np.float32)

    @property
    def phase(self) -> np.ndarray:
        """``angle(object)`` in radians, float32."""
        return np.angle(self.object).astype(np.float32)


def _network(bundle: ModelBundle) -> PtychoPINNModel:
    if bundle.backend != "tensorflow" or not isinstance(bundle.network, PtychoPINNModel):
        raise ValueError(
            f"this is a {bundle.backend} model bundle; the tensorflow backend cannot run it "
            "(select the matching backend)"
        )
    return bundle.network


def _predict_function(network: PtychoPINNModel) -> Any:
    """The compiled object predictor of ``network`` (created once per network, kept on it)."""
    fn = network._predict_fn
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
        network._predict_fn = fn
    return fn


def predict_patches(
    bundle: ModelBundle, container: PtychoDataContainer, batch_size: int = 64
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
    fn = _predict_function(network)
    scale = np.float32(network.intensity_scale)
    x = np.asarray(container.X, dtype=np.float32)
    positions = np.asarray(container.coords_nominal, dtype=np.float32)
    out = np.empty((x.shape[0], network.N, network.N, 1), dtype=np.complex64)
    for start in range(0, x.shape[0], int(batch_size)):
        stop = start + int(batch_size)
        out[start:stop] = fn(x[start:stop] * scale, positions[start:stop]).numpy()
    return out


def reconstruct(
    bundle: ModelBundle,
    raw: RawData,
    inference_config: InferenceConfig,
    *,
    M: int = DEFAULT_STITCH_CROP,
) -> Reconstruction:
    """Reconstruct a scan with a trained model.

    Parameters
    ----------
    bundle : ModelBundle
        A TensorFlow bundle (trained or loaded).
    raw : RawData
        The scan; its pattern size must equal the model's N.
    inference_config : InferenceConfig
        Grouping (``n_groups`` None = one group per position, ``neighbor_count``, ``seed``,
        ``n_subsample``/``subsample_seed``, oversampling) and ``batch_size``.
    M : int
        Central ``M x M`` of every patch used for stitching.

    Returns
    -------
    Reconstruction

    Raises
    ------
    ValueError
        Pattern size different from the model's, too few positions for the gridsize, a bundle
        of another backend.
    """
    from ptycho.loader import container_from_raw
    from ptycho.stitching import reassemble_position, stitch_patches
    from ptycho.workflows.components import subsample_raw

    network = _network(bundle)
    if raw.N != network.N:
        raise ValueError(
            f"the scan's diffraction patterns are {raw.N}x{raw.N} but the model was trained with "
            f"N={network.N}; use a model trained on {raw.N}x{raw.N} patterns"
        )
    c = network.channels
    if len(raw) < c:
        raise ValueError(
            f"gridsize {network.gridsize} needs at least {c} scan positions per group, but the "
            f"scan has only {len(raw)}; use a gridsize-1 model or more positions"
        )
    data = subsample_raw(raw, inference_config.n_subsample, inference_config.subsample_seed)
    container = container_from_raw(
        data,
        network.N,
        gridsize=network.gridsize,
        n_groups=inference_config.n_groups,
        K=inference_config.neighbor_count,
        seed=inference_config.seed,
        enable_oversampling=inference_config.enable_oversampling,
        neighbor_pool_size=inference_config.neighbor_pool_size,
    )
    patches = predict_patches(bundle, container, batch_size=inference_config.batch_size)
    offsets = np.asarray(container.global_offsets, dtype=np.float64)
    crop = min(int(M), network.N)
    if raw.objectGuess is not None:
        obj = stitch_patches(
            patches[..., 0], offsets[:, 0, 0, 0], offsets[:, 0, 1, 0],
            tuple(raw.objectGuess.shape), crop=crop,
        )
        on_grid = True
    else:
        obj = reassemble_position(patches, offsets, M=crop)[..., 0]
        on_grid = False
    logger.info(
        "reconstructed %d groups (N=%d, gridsize=%d) onto a %dx%d %s", len(container), network.N,
        network.gridsize, obj.shape[0], obj.shape[1],
        "object grid" if on_grid else "scan-centred canvas",
    )
    return Reconstruction(
        object=np.asarray(obj, dtype=np.complex64),
        probe=bundle.probe.astype(np.complex64),
        patches=patches,
        global_offsets=offsets,
        on_object_grid=on_grid,
    )
