"""Prediction, stitching and the inference CLI of the PyTorch backend.

This module owns

* :func:`predict_patches`: the object at every group centre, ``(B, N, N, 1)`` complex64 (the
  backend contract). The network's input is ``X * s`` with the bundle's intensity scale ``s``,
  exactly as during training;
* :func:`reconstruct`: group a scan, predict, and stitch the patches onto the input object's
  grid (:func:`ptycho.stitching.stitch_patches`) when the scan has an ``objectGuess``, else onto
  a scan-centred canvas (:func:`ptycho.stitching.reassemble_position`); the same contract and
  defaults (central ``M = 20`` crop) as ``ptycho.tf.inference.reconstruct``;
* the CLI ``python -m ptycho_torch.inference --model_path P --test_data F --output_dir O``
  (console script ``ptycho-torch-infer``), which writes ``reconstruction.npz`` (key ``object``;
  also ``amplitude`` and ``phase``), ``reconstructed_amplitude.png`` and
  ``reconstructed_phase.png`` into ``O``.

``--model_path`` may be a training output directory (the newer of ``wts.h5.zip`` and
``checkpoints/last.ckpt``, logged with the reason, else the newest ``checkpoints/best*.ckpt``:
HARD-012 of ``specs/hardening.md``), an archive or a ``.ckpt``. A TensorFlow archive is converted
(same layers; :func:`load_model`).

Every input is validated (``--output_dir`` may not be a file; the scan's positions must fit the
object grid or a bounded canvas, HARD-005 .. HARD-008) before ``--output_dir`` is created.
Errors print one line and exit with status 1; Ctrl-C exits with status 130.
"""

from __future__ import annotations

import argparse
import io
import logging
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ptycho import defaults
from ptycho.atomic import atomic_write_bytes
from ptycho.backend import ModelBundle
from ptycho.config.config import PROBE_SOURCES, InferenceConfig
from ptycho.inference import DEFAULT_STITCH_CROP, Reconstruction, reconstruct_scan
from ptycho.loader import PtychoDataContainer
from ptycho.raw_data import RawData
from ptycho_torch.cli_shared import add_device_flags, resolve_accelerator_flags

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "DEFAULT_STITCH_CROP",
    "Reconstruction",
    "build_parser",
    "load_model",
    "main",
    "predict_patches",
    "reconstruct",
    "run_inference",
    "write_outputs",
]

logger = logging.getLogger(__name__)

#: Default number of groups per prediction batch.
DEFAULT_BATCH_SIZE = 64


def _device_of(accelerator: str | None) -> torch.device:
    from ptycho_torch.training import resolve_accelerator

    return torch.device(resolve_accelerator(accelerator or "cpu"))


def predict_patches(
    bundle: ModelBundle,
    container: PtychoDataContainer,
    batch_size: int = DEFAULT_BATCH_SIZE,
    *,
    accelerator: str | None = None,
    num_workers: int = 0,
    probe: np.ndarray | None = None,
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

    Returns
    -------
    (B, N, N, 1) complex64
    """
    from torch.utils.data import DataLoader

    from ptycho_torch.datamodule import ContainerDataset, collate_batch

    if bundle.backend != "pytorch" or not isinstance(bundle.network, torch.nn.Module):
        raise ValueError(
            f"ptycho_torch.predict_patches needs a PyTorch bundle, got a {bundle.backend} bundle; "
            "use that backend's predict_patches or convert the archive"
        )
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    net = bundle.network
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
    was_training = net.training
    saved_probe = net.probe.detach().cpu().numpy() if probe is not None else None
    if probe is not None:
        net.set_probe(probe)
    net.eval()
    net.to(device)
    outputs: list[np.ndarray] = []
    try:
        with torch.inference_mode():
            for batch in loader:
                x = batch["X"].to(device) * scale
                obj, _ = net.objects(x, batch["coords"].to(device))
                outputs.append(obj.cpu().numpy())
    finally:
        net.to("cpu")
        net.train(was_training)
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
        b: ModelBundle,
        container: PtychoDataContainer,
        batch_size: int,
        *,
        probe: np.ndarray | None = None,
    ) -> np.ndarray:
        return predict_patches(
            b,
            container,
            batch_size=batch_size,
            accelerator=accelerator,
            num_workers=num_workers,
            probe=probe,
        )

    return reconstruct_scan(bundle, raw, inference_config, predict, M=M)


# ----------------------------------------------------------------------------------------------
# Outputs
# ----------------------------------------------------------------------------------------------


def _png_bytes(image: np.ndarray, title: str, cmap: str) -> bytes:
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6, 6))
    ax = fig.add_subplot(1, 1, 1)
    im = ax.imshow(image, cmap=cmap)
    ax.set_title(title)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    return buffer.getvalue()


def write_outputs(obj: np.ndarray, output_dir: Path) -> dict[str, Path]:
    """Write ``reconstruction.npz`` and the two PNGs atomically; returns their paths."""
    from ptycho.cli.common import create_output_dir

    create_output_dir(Path(output_dir))
    amplitude = np.abs(obj).astype(np.float32)
    phase = np.angle(obj).astype(np.float32)
    buffer = io.BytesIO()
    np.savez_compressed(buffer, object=obj.astype(np.complex64), amplitude=amplitude, phase=phase)
    paths = {
        "npz": output_dir / "reconstruction.npz",
        "amplitude_png": output_dir / "reconstructed_amplitude.png",
        "phase_png": output_dir / "reconstructed_phase.png",
    }
    amp_png = _png_bytes(amplitude, "Reconstructed Amplitude", "gray")
    phase_png = _png_bytes(phase, "Reconstructed Phase", "twilight")
    atomic_write_bytes(paths["npz"], buffer.getvalue())
    atomic_write_bytes(paths["amplitude_png"], amp_png)
    atomic_write_bytes(paths["phase_png"], phase_png)
    return paths


def load_model(model_path: str | os.PathLike[str]) -> ModelBundle:
    """Load a model for inference: a run directory, a ``.ckpt`` or an archive.

    A TensorFlow archive is converted through :mod:`ptycho.workflows.backend_selector` (the
    layers match one to one); a conversion that is impossible raises an error naming both
    backends.
    """
    from ptycho_torch.persistence import find_model_file, load_checkpoint

    file = find_model_file(model_path)
    if file.suffix == ".ckpt":
        return load_checkpoint(file)
    from ptycho.workflows.backend_selector import load_inference_bundle_with_backend

    return load_inference_bundle_with_backend(file, backend="pytorch")


def run_inference(
    model_path: str | os.PathLike[str],
    test_data: str | os.PathLike[str],
    output_dir: str | os.PathLike[str],
    *,
    accelerator: str = "auto",
    num_workers: int = 0,
    batch_size: int | None = None,
    n_groups: int | None = None,
    neighbor_count: int = 4,
    seed: int = 45,
    stitch_crop: int = 20,
    refine_iterations: int = 0,
    refine_probe: bool = False,
    probe_source: str = "auto",
) -> dict[str, Any]:
    """Load a model, reconstruct ``test_data`` and write the outputs (the CLI's work).

    Returns
    -------
    dict
        ``object`` (H, W) complex64, ``paths``, ``bundle``, ``n_groups``, ``seconds``.
    """
    import importlib.util

    from ptycho.cli.common import check_group_request, check_output_dir
    from ptycho.config.config import InferenceConfig
    from ptycho.legacy_params import bridge_config
    from ptycho.raw_data import RawData

    started = time.perf_counter()
    out = check_output_dir(Path(output_dir))
    if importlib.util.find_spec("matplotlib") is None:
        raise RuntimeError(
            "the inference CLI writes PNG images with matplotlib, which is not installed: "
            "pip install matplotlib"
        )
    test_path = Path(test_data)
    if not test_path.is_file():
        raise FileNotFoundError(f"test data file not found: {test_path}")
    device = _device_of(accelerator)  # fail fast on an unavailable accelerator
    bundle = load_model(model_path)
    config = InferenceConfig(
        model=bundle.model_config,
        model_path=Path(model_path),
        test_data_file=test_path,
        n_groups=n_groups,
        neighbor_count=neighbor_count,
        output_dir=Path(output_dir),
        backend="pytorch",
        seed=seed,
        batch_size=batch_size or DEFAULT_BATCH_SIZE,
        refine_iterations=refine_iterations,
        refine_probe=refine_probe,
        probe_source=probe_source,
    )
    bridge_config(config)  # CONFIG-001, before any data loading
    raw = RawData.from_file(test_path)
    check_group_request(n_groups, len(raw), bundle.gridsize)
    result = reconstruct(
        bundle, raw, config, M=stitch_crop, accelerator=device.type, num_workers=num_workers
    )
    obj = result.object
    paths = write_outputs(obj, out)
    return {
        "object": obj,
        "paths": paths,
        "bundle": bundle,
        "n_groups": int(result.patches.shape[0]),
        "on_object_grid": result.on_object_grid,
        "device": device.type,
        "seconds": time.perf_counter() - started,
    }


# ----------------------------------------------------------------------------------------------
# CLI
# ----------------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    """Argument parser of ``python -m ptycho_torch.inference``."""
    parser = argparse.ArgumentParser(
        prog="ptycho-torch-infer",
        description="Reconstruct an object with a trained PtychoPINN PyTorch model.",
    )
    parser.add_argument(
        "--model_path",
        required=True,
        help="training output directory (wts.h5.zip, checkpoints/last.ckpt or best*.ckpt), "
        "a wts.h5.zip archive or a Lightning .ckpt",
    )
    parser.add_argument("--test_data", required=True, help="NPZ file to reconstruct")
    parser.add_argument("--output_dir", required=True, help="where the outputs are written")
    add_device_flags(parser)
    parser.add_argument("--num-workers", "--num_workers", dest="num_workers", type=int, default=0)
    parser.add_argument(
        "--inference-batch-size",
        "--inference_batch_size",
        dest="batch_size",
        type=int,
        default=None,
        help=f"groups per forward pass (default {DEFAULT_BATCH_SIZE})",
    )
    parser.add_argument(
        "--n_images",
        "--n_groups",
        dest="n_groups",
        type=int,
        default=None,
        help="number of groups to reconstruct (default: one per scan position)",
    )
    parser.add_argument("--neighbor_count", type=int, default=4)
    parser.add_argument(
        "--stitch_crop",
        type=int,
        default=DEFAULT_STITCH_CROP,
        help=f"central M x M of each patch used for stitching (default {DEFAULT_STITCH_CROP})",
    )
    parser.add_argument("--seed", type=int, default=45)
    parser.add_argument(
        "--refine_iterations",
        type=int,
        default=defaults.REFINE_ITERATIONS,
        help="iterations of physics refinement of the stitched prediction (ptycho.refine); "
        f"0 = the network's image as it is (default {defaults.REFINE_ITERATIONS}, "
        "ptycho.defaults)",
    )
    parser.add_argument(
        "--refine_probe",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="also refine the probe during --refine_iterations",
    )
    parser.add_argument(
        "--probe_source",
        choices=PROBE_SOURCES,
        default="auto",
        help="probe the network backprojects with and refinement starts from: the scan's "
        "('data'), the model's ('model'), or 'auto' (the model's when it was learned, else the "
        "scan's)",
    )
    parser.add_argument("--quiet", action="store_true", help="print nothing but errors")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m ptycho_torch.inference`` / ``ptycho-torch-infer``."""
    parser = build_parser()
    args = parser.parse_args(argv)
    args.accelerator = resolve_accelerator_flags(args)
    for name in ("num_workers", "batch_size", "n_groups", "refine_iterations"):
        value = getattr(args, name)
        minimum = 0 if name in ("num_workers", "refine_iterations") else 1
        if value is not None and value < minimum:
            parser.error(f"--{name.replace('_', '-')} must be >= {minimum}, got {value}")
    logging.basicConfig(
        level=logging.WARNING if args.quiet else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
    )
    from ptycho.cli.common import CLI_ERRORS, report_interrupt

    try:
        result = run_inference(
            args.model_path,
            args.test_data,
            args.output_dir,
            accelerator=args.accelerator,
            num_workers=args.num_workers,
            batch_size=args.batch_size,
            n_groups=args.n_groups,
            neighbor_count=args.neighbor_count,
            seed=args.seed,
            stitch_crop=args.stitch_crop,
            refine_iterations=args.refine_iterations,
            refine_probe=args.refine_probe,
            probe_source=args.probe_source,
        )
    except KeyboardInterrupt as exc:
        return report_interrupt("ptycho-torch-infer", exc)
    except CLI_ERRORS as exc:
        print(f"ptycho-torch-infer: error: {exc}", file=sys.stderr)
        return 1
    if not args.quiet:
        obj = result["object"]
        print(
            f"reconstructed {result['n_groups']} groups on {result['device']} in "
            f"{result['seconds']:.1f} s: object {obj.shape[0]}x{obj.shape[1]} -> "
            f"{result['paths']['npz']}, {result['paths']['amplitude_png'].name}, "
            f"{result['paths']['phase_png'].name}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
