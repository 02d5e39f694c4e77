"""The inference CLI of the PyTorch backend (a thin entry point; fixed name).

``python -m ptycho_torch.inference --model_path P --test_data F --output_dir O`` (console script
``ptycho-torch-infer``) writes ``reconstruction.npz`` (key ``object``; also ``amplitude`` and
``phase``), ``reconstructed_amplitude.png`` and ``reconstructed_phase.png`` into ``O``. The
prediction and stitching are :mod:`ptycho_torch.prediction`'s.

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
from ptycho.config.config import NETWORK_PRECISIONS, PROBE_SOURCES
from ptycho_torch.cli_shared import add_device_flags, resolve_accelerator_flags
from ptycho_torch.prediction import DEFAULT_BATCH_SIZE, DEFAULT_STITCH_CROP, reconstruct

__all__ = [
    "build_parser",
    "load_model",
    "main",
    "run_inference",
    "write_outputs",
]

logger = logging.getLogger(__name__)


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
    precision: str = "float32",
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
    from ptycho_torch.accelerators import resolve_accelerator

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
    # fail fast on an unavailable accelerator
    device = torch.device(resolve_accelerator(accelerator))
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
        precision=precision,
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
    parser.add_argument(
        "--precision",
        choices=NETWORK_PRECISIONS,
        default=defaults.PRECISION,
        help="arithmetic of the network's convolutions: 'bfloat16', 'float32', or 'auto' "
        f"(bfloat16 where the hardware has bfloat16 units; default {defaults.PRECISION}, "
        "ptycho.defaults)",
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
            precision=args.precision,
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
