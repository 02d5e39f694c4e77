"""``ptycho-infer``: reconstruct an NPZ scan with a trained model archive, on either backend.

Also ``python -m ptycho.cli.infer``. Writes, under ``--output_dir`` only,
``reconstructed_amplitude.png``, ``reconstructed_phase.png`` and ``reconstruction.npz``
(keys ``object`` (H, W) complex64, ``amplitude``, ``phase``, ``probe``), and prints where they
are. The object lands on the scan's ``objectGuess`` grid when the NPZ has one (then amplitude and
phase SSIM/PSNR against it are printed), else on a canvas centred on the scan.

A model archive written by the PyTorch backend is converted on load (the layers match). With
``--backend pytorch`` a training output directory may also be given: the newer of its
``wts.h5.zip`` and ``checkpoints/last.ckpt`` is used (HARD-012 of ``specs/hardening.md``).

Every input (the scan, the model, the scan's positions against the object grid or the canvas
size, HARD-005 .. HARD-007) is validated before ``--output_dir`` is created. Errors print one line
and exit with status 1; Ctrl-C exits with status 130.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ptycho.backend import BACKENDS

__all__ = ["build_parser", "main", "run"]

logger = logging.getLogger(__name__)


def build_parser() -> argparse.ArgumentParser:
    """Argument parser of ``ptycho-infer``."""
    from ptycho import defaults
    from ptycho.config.config import NETWORK_PRECISIONS, PROBE_SOURCES, InferenceConfig

    d = InferenceConfig()
    p = argparse.ArgumentParser(
        prog="ptycho-infer",
        description=(
            "Reconstruct a ptychography scan (NPZ: xcoords, ycoords, diff3d amplitudes, "
            "probeGuess, optional objectGuess) with a trained PtychoPINN model archive."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument(
        "--model_path",
        type=Path,
        default=None,
        help="model archive (wts.h5.zip) or the directory holding it; default: the pretrained "
        "model that ships with ptychopinn (ptycho/pretrained/MODEL_CARD.md)",
    )
    p.add_argument("--test_data_file", type=Path, required=True, help="scan to reconstruct (NPZ)")
    p.add_argument(
        "--output_dir",
        type=Path,
        required=True,
        help="directory for every output (created if missing; nothing is written elsewhere)",
    )
    p.add_argument(
        "--backend",
        choices=BACKENDS,
        default=BACKENDS[0],
        help="inference backend",
    )
    p.add_argument(
        "--N",
        type=int,
        default=None,
        choices=(64, 128, 256),
        help="pattern size, checked against the data (a backprop_unet model runs at any N)",
    )
    p.add_argument(
        "--gridsize",
        type=int,
        default=None,
        help="group side; default: the model's (must match it)",
    )
    p.add_argument(
        "--n_groups",
        type=int,
        default=None,
        help="number of groups to predict (at most the number of scan positions); default: one "
        "per scan position",
    )
    p.add_argument(
        "--n_subsample",
        type=int,
        default=None,
        help="keep a seeded random subset of this many scan positions",
    )
    p.add_argument("--subsample_seed", type=int, default=None, help="seed of --n_subsample")
    p.add_argument(
        "--neighbor_count",
        type=int,
        default=d.neighbor_count,
        help="K nearest neighbours a group is drawn from (gridsize > 1)",
    )
    p.add_argument("--seed", type=int, default=d.seed, help="seed of the grouping")
    p.add_argument("--batch_size", type=int, default=d.batch_size, help="groups per forward pass")
    p.add_argument(
        "--stitch_crop",
        type=int,
        default=20,
        help="central M x M of each patch used for stitching",
    )
    p.add_argument(
        "--refine_iterations",
        type=int,
        default=defaults.REFINE_ITERATIONS,
        help="iterations of physics refinement of the stitched prediction against every "
        "measured pattern (ptycho.refine; default from ptycho.defaults); 0 = the network's "
        "prediction as it is",
    )
    p.add_argument(
        "--refine_probe",
        action=argparse.BooleanOptionalAction,
        default=d.refine_probe,
        help="also refine the probe during --refine_iterations",
    )
    p.add_argument(
        "--probe_source",
        choices=PROBE_SOURCES,
        default=d.probe_source,
        help="probe the network backprojects with and refinement starts from: the scan's "
        "('data'), the model's ('model'), or 'auto' (the model's when it was learned in "
        "training, else the scan's)",
    )
    p.add_argument(
        "--precision",
        choices=NETWORK_PRECISIONS,
        default=defaults.PRECISION,
        help="arithmetic of the network's convolutions: 'bfloat16', 'float32', or 'auto' "
        "(bfloat16 where the hardware has bfloat16 units; ptycho.defaults)",
    )
    p.add_argument(
        "--log_level",
        default="WARNING",
        choices=("DEBUG", "INFO", "WARNING", "ERROR"),
        help="logging level",
    )
    return p


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Reconstruct as ``args`` says; returns a summary (paths, timings, metrics)."""
    from ptycho.cli.common import check_group_request, create_output_dir
    from ptycho.cli.train import check_backend, check_output_dir, quality_against_truth
    from ptycho.config.config import InferenceConfig

    started = time.perf_counter()
    check_backend(args.backend)
    out = check_output_dir(args.output_dir)
    if not args.test_data_file.is_file():
        raise FileNotFoundError(
            f"--test_data_file {args.test_data_file} does not exist; pass the path of an NPZ scan"
        )
    from ptycho.workflows import components
    from ptycho.workflows.backend_selector import (
        load_inference_bundle_with_backend,
        reconstruct_with_backend,
    )

    if args.model_path is None:
        from ptycho.pretrained import archive_path

        archive = archive_path()
        logger.info("no --model_path: using the pretrained model %s", archive)
    else:
        archive = Path(args.model_path)
    raw = components.load_data(args.test_data_file)
    # An archive of the other backend is converted (the layers match one to one).
    bundle = load_inference_bundle_with_backend(archive, backend=args.backend)
    model = bundle.model_config
    if args.N is not None and args.N != raw.N:
        raise ValueError(
            f"--N {args.N} differs from the scan's {raw.N}x{raw.N} patterns; omit --N (it is "
            "taken from the data)"
        )
    if raw.N != model.N and model.architecture != "backprop_unet":
        raise ValueError(
            f"the scan's patterns are {raw.N}x{raw.N} but the model ({model.architecture}) was "
            f"trained with N={model.N}; use a model trained on {raw.N}x{raw.N} patterns"
        )
    if args.gridsize is not None and args.gridsize != model.gridsize:
        raise ValueError(
            f"--gridsize {args.gridsize} differs from the model's gridsize={model.gridsize}; "
            "omit --gridsize (it is taken from the model)"
        )
    positions = len(raw) if args.n_subsample is None else min(len(raw), args.n_subsample)
    check_group_request(args.n_groups, positions, model.gridsize)
    config = InferenceConfig(
        model=model,
        model_path=archive,
        test_data_file=args.test_data_file,
        n_groups=args.n_groups,
        n_subsample=args.n_subsample,
        subsample_seed=args.subsample_seed,
        neighbor_count=args.neighbor_count,
        output_dir=out,
        seed=args.seed,
        batch_size=args.batch_size,
        refine_iterations=args.refine_iterations,
        refine_probe=args.refine_probe,
        probe_source=args.probe_source,
        precision=args.precision,
    )
    # the scan geometry is checked before anything is allocated (ptycho.inference)
    recon = reconstruct_with_backend(bundle, raw, config, M=args.stitch_crop)
    create_output_dir(out)
    network_metrics = None
    if recon.network_object is not None:
        network_metrics = quality_against_truth(
            dataclasses.replace(recon, object=recon.network_object), raw, crop=args.stitch_crop
        )
    components.save_outputs(
        recon.amplitude, recon.phase, {"obj_tensor_full": recon.object, "probe": recon.probe}, out
    )
    return {
        "reconstruction": out / components.RECONSTRUCTION_NPZ,
        "amplitude_png": out / components.AMPLITUDE_PNG,
        "phase_png": out / components.PHASE_PNG,
        "patterns": len(raw),
        "groups": int(recon.patches.shape[0]),
        "shape": recon.object.shape,
        "on_object_grid": recon.on_object_grid,
        "seconds": time.perf_counter() - started,
        "metrics": quality_against_truth(recon, raw, crop=args.stitch_crop),
        "network_metrics": network_metrics,
        "refinement_errors": recon.refinement_errors,
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``ptycho-infer``; returns the exit status."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=getattr(logging, args.log_level), format="%(levelname)s %(name)s: %(message)s"
    )
    from ptycho.cli.common import CLI_ERRORS, report_interrupt

    try:
        summary = run(args)
    except KeyboardInterrupt as exc:
        return report_interrupt("ptycho-infer", exc)
    except CLI_ERRORS as exc:
        print(f"ptycho-infer: error: {exc}", file=sys.stderr)
        return 1
    from ptycho.cli.train import format_quality

    grid = "the objectGuess grid" if summary["on_object_grid"] else "a scan-centred canvas"
    print(
        f"ptycho-infer: reconstructed {summary['patterns']} patterns ({summary['groups']} "
        f"groups) onto {grid} of {summary['shape'][0]}x{summary['shape'][1]} px in "
        f"{summary['seconds']:.1f} s"
    )
    print(f"  object:    {summary['reconstruction']} (key 'object')")
    print(f"  amplitude: {summary['amplitude_png']}")
    print(f"  phase:     {summary['phase_png']}")
    errors = summary.get("refinement_errors")
    if errors:
        print(
            f"  refined {len(errors) - 1} iterations: amplitude error {errors[0]:.4g} -> "
            f"{errors[-1]:.4g}"
        )
    if summary.get("network_metrics"):
        print(f"  network alone vs ground truth: {format_quality(summary['network_metrics'])}")
    if summary.get("metrics"):
        print(f"  vs ground truth: {format_quality(summary['metrics'])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
