"""Prediction with a PyTorch bundle: batched patch prediction and stitched reconstruction.

The library half of the backend's inference (same names and contract as
:mod:`ptycho.tf.prediction`; the CLI ``python -m ptycho_torch.inference`` is
:mod:`ptycho_torch.inference`):

* :func:`predict_patches`: the object at every group centre, ``(B, N, N, 1)`` complex64 (the
  backend contract). The network's input is ``X * s`` with the bundle's intensity scale ``s``,
  exactly as during training;
* :func:`reconstruct`: group a scan, predict, and stitch the patches onto the input object's
  grid (:func:`ptycho.stitching.stitch_patches`) when the scan has an ``objectGuess``, else onto
  a scan-centred canvas (:func:`ptycho.stitching.reassemble_position`); the same contract and
  defaults (central ``M = 20`` crop) as :func:`ptycho.tf.prediction.reconstruct`.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, cast

import numpy as np
import torch

from ptycho.backend import ModelBundle
from ptycho.config.config import InferenceConfig
from ptycho.inference import DEFAULT_STITCH_CROP, Reconstruction, reconstruct_scan
from ptycho.loader import PtychoDataContainer
from ptycho.raw_data import RawData
from ptycho_torch.accelerators import resolve_accelerator
from ptycho_torch.network import resolve_network_precision

if TYPE_CHECKING:
    from ptycho.array_types import Complex64Array, ComplexArray
    from ptycho_torch.network import PtychoPINNNet

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


def _device_of(accelerator: str | None) -> torch.device:
    return torch.device(resolve_accelerator(accelerator or "cpu"))


def predict_patches(
    bundle: ModelBundle,
    container: PtychoDataContainer,
    batch_size: int = DEFAULT_BATCH_SIZE,
    *,
    accelerator: str | None = None,
    num_workers: int = 0,
    probe: np.ndarray | None = None,
    precision: str = "float32",
) -> np.ndarray:
    """Object patches at the group centres (the backend contract).

    Parameters
    ----------
    bundle : ModelBundle
        A PyTorch bundle (``network`` is a :class:`~ptycho_torch.network.PtychoPINNNet`).
    container : PtychoDataContainer
        Grouped data with the bundle's ``N`` and ``gridsize``.
    batch_size : int
        Groups per forward pass.
    accelerator : str, optional
        ``'cpu'`` (default), ``'cuda'``/``'gpu'``, ``'mps'`` or ``'auto'``.
    num_workers : int
        DataLoader workers.
    probe : (N, N) complex, optional
        Normalised probe for this prediction (the ``backprop_unet`` network backprojects with
        it, ARCH-014); default the model's own. The model's probe is restored afterwards.
    precision : str
        ``'float32'`` (default), ``'bfloat16'`` or ``'auto'``: the arithmetic of the
        convolution trunk (ARCH-016); the model's own precision is restored afterwards.

    Returns
    -------
    (B, N, N, 1) complex64
    """
    from torch.utils.data import DataLoader

    from ptycho_torch.datasets import ContainerDataset, collate_batch

    if bundle.backend != "pytorch" or not isinstance(bundle.network, torch.nn.Module):
        raise ValueError(
            f"ptycho_torch.predict_patches needs a PyTorch bundle, got a {bundle.backend} bundle; "
            "use that backend's predict_patches or convert the archive"
        )
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    net = cast("PtychoPINNNet", bundle.network)
    if container.N != net.N or container.gridsize != net.gridsize:
        raise ValueError(
            f"the data are {container.N}x{container.N} patterns grouped with gridsize "
            f"{container.gridsize}, but the model expects N={net.N}, gridsize={net.gridsize}; "
            "group the data with the model's N and gridsize"
        )
    if len(container) == 0:
        return np.zeros((0, net.N, net.N, 1), dtype=np.complex64)
    device = _device_of(accelerator)
    scale = float(bundle.intensity_scale)
    dataset = ContainerDataset(container, with_truth=False)
    loader = DataLoader(
        dataset,
        batch_size=int(batch_size),
        shuffle=False,
        num_workers=int(num_workers),
        collate_fn=collate_batch,
    )
    was_training, saved_precision = net.training, net.precision
    saved_probe = net.probe.detach().cpu().numpy() if probe is not None else None
    if probe is not None:
        net.set_probe(probe)
    net.set_precision(resolve_network_precision(precision, device))
    net.eval()
    net.to(device)
    outputs: list[np.ndarray] = []
    try:
        with torch.inference_mode():
            for batch in loader:
                x = batch["X"].to(device) * scale
                obj = net.center_object(x, batch["coords"].to(device))
                outputs.append(obj.cpu().numpy())
    finally:
        net.to("cpu")
        net.train(was_training)
        net.set_precision(saved_precision)
        if saved_probe is not None:
            net.set_probe(saved_probe)
    return np.concatenate(outputs, axis=0)[..., None].astype(np.complex64, copy=False)


def reconstruct(
    bundle: ModelBundle,
    raw: RawData,
    inference_config: InferenceConfig,
    *,
    M: int = DEFAULT_STITCH_CROP,
    accelerator: str | None = None,
    num_workers: int = 0,
) -> Reconstruction:
    """Group a scan, predict and stitch (:func:`ptycho.inference.reconstruct_scan` with this
    backend's :func:`predict_patches`; ``accelerator`` and ``num_workers`` as there).

    The object lands on ``raw.objectGuess``'s grid when the scan has one, else on a canvas
    centred on the scan.
    """

    def predict(
        bundle: ModelBundle,
        container: PtychoDataContainer,
        batch_size: int,
        *,
        probe: ComplexArray | None = None,
        precision: str = "float32",
    ) -> Complex64Array:
        return predict_patches(
            bundle,
            container,
            batch_size=batch_size,
            accelerator=accelerator,
            num_workers=num_workers,
            probe=probe,
            precision=precision,
        )

    return reconstruct_scan(bundle, raw, inference_config, predict, M=M)
