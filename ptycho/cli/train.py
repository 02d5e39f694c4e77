"""``ptycho-train``: train a PtychoPINN model on an NPZ scan with either backend.

``--backend tensorflow`` (default) or ``--backend pytorch`` is resolved by the dispatcher
(:mod:`ptycho.workflows.backend_selector`, design D7).

Also ``python -m ptycho.cli.train``. Writes, under ``--output_dir`` only:

- ``wts.h5.zip``: the model archive (design D6);
- ``history.csv`` and ``loss_curve.png``: the per-epoch losses (written together with the archive,
  as one set: HARD-014 of ``specs/hardening.md``);
- with ``--test_data_file``: ``reconstructed_amplitude.png``, ``reconstructed_phase.png`` and
  ``reconstruction.npz`` (key ``object``) of the test scan, and, when the test file holds the
  ground-truth ``objectGuess``, amplitude/phase SSIM and PSNR are printed.

Booleans are ``--flag/--no-flag``. ``--N`` defaults to the data's pattern size.

Every input is validated before ``--output_dir`` is created (an input error leaves nothing
behind). Ctrl-C saves the model of the last finished epoch (with its history and loss curve),
prints where it is and exits with status 130; errors print one line and exit with status 1.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ptycho.backend import BACKENDS

if TYPE_CHECKING:
    from ptycho.backend import BackendAPI, EpochCallback
    from ptycho.config.config import TrainingConfig
    from ptycho.inference import Reconstruction
    from ptycho.metrics import ComparisonMetrics
    from ptycho.raw_data import RawData

__all__ = [
    "build_parser",
    "check_backend",
    "check_output_dir",
    "format_quality",
    "main",
    "quality_against_truth",
    "run",
]

logger = logging.getLogger(__name__)


def _add_bool(parser: argparse._ActionsContainer, name: str, default: bool, text: str) -> None:
    parser.add_argument(
        f"--{name}", action=argparse.BooleanOptionalAction, default=default, help=text
    )


def build_parser() -> argparse.ArgumentParser:
    """Argument parser of ``ptycho-train``."""
    from ptycho import defaults
    from ptycho.config.config import (
        AMP_ACTIVATIONS,
        ARCHITECTURES,
        MODEL_TYPES,
        NETWORK_PRECISIONS,
        ModelConfig,
        TrainingConfig,
    )

    m, t = ModelConfig(), TrainingConfig()
    p = argparse.ArgumentParser(
        prog="ptycho-train",
        description=(
            "Train a PtychoPINN model on a ptychography scan (NPZ: xcoords, ycoords, diff3d "
            "amplitudes, probeGuess) and save it as OUTPUT_DIR/wts.h5.zip."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    io = p.add_argument_group("data and outputs")
    io.add_argument("--train_data_file", type=Path, required=True, help="training scan (NPZ)")
    io.add_argument(
        "--test_data_file",
        type=Path,
        default=None,
        help="held-out scan (NPZ) to reconstruct after training",
    )
    io.add_argument(
        "--output_dir",
        type=Path,
        required=True,
        help="directory for every output (created if missing; nothing is written elsewhere)",
    )
    io.add_argument(
        "--model_path",
        type=Path,
        default=None,
        help="continue training from this model archive (wts.h5.zip or its directory), or "
        "'pretrained' = the model that ships with ptychopinn (fine-tuning; the data's probe "
        "and photon level replace the model's)",
    )
    io.add_argument(
        "--backend",
        choices=BACKENDS,
        default=BACKENDS[0],
        help="training backend",
    )
    grp = p.add_argument_group("grouping")
    grp.add_argument(
        "--N",
        type=int,
        default=None,
        choices=(64, 128, 256),
        help="pattern size; default: the data's (must match it)",
    )
    grp.add_argument(
        "--gridsize",
        type=int,
        default=defaults.GRIDSIZE,
        help="group side (C=gridsize^2); 2 groups 4 overlapping patterns (ptycho.defaults)",
    )
    grp.add_argument(
        "--n_groups",
        type=int,
        default=None,
        help=f"number of training groups; default: one per scan position, at most {t.n_groups}",
    )
    grp.add_argument(
        "--n_subsample",
        type=int,
        default=None,
        help="keep a seeded random subset of this many scan positions before grouping",
    )
    grp.add_argument("--subsample_seed", type=int, default=None, help="seed of --n_subsample")
    grp.add_argument(
        "--neighbor_count",
        type=int,
        default=t.neighbor_count,
        help="K nearest neighbours a group is drawn from (gridsize > 1)",
    )
    _add_bool(grp, "sequential_sampling", t.sequential_sampling, "first positions as group seeds")
    _add_bool(
        grp,
        "enable_oversampling",
        t.enable_oversampling,
        "allow more groups than positions (gridsize > 1)",
    )
    tr = p.add_argument_group("training")
    tr.add_argument("--nepochs", type=int, default=t.nepochs, help="maximum number of epochs")
    tr.add_argument("--batch_size", type=int, default=t.batch_size, help="groups per step")
    tr.add_argument("--learning_rate", type=float, default=t.learning_rate, help="Adam rate")
    tr.add_argument("--seed", type=int, default=t.seed, help="seed of every random choice")
    tr.add_argument(
        "--nphotons",
        type=float,
        default=t.nphotons,
        help="mean photons per pattern (sets the intensity scale)",
    )
    tr.add_argument("--nll_weight", type=float, default=t.nll_weight, help="Poisson NLL weight")
    tr.add_argument("--mae_weight", type=float, default=t.mae_weight, help="diffraction MAE weight")
    tr.add_argument(
        "--realspace_weight",
        type=float,
        default=t.realspace_weight,
        help="real-space MAE weight (needs objectGuess in the data, or "
        "--refined_target_iterations)",
    )
    tr.add_argument(
        "--refined_target_iterations",
        type=int,
        default=t.refined_target_iterations,
        help="train towards the scan's physics-refined object (this many refinement "
        "iterations from a flat object; needs --realspace_weight > 0, e.g. 20); 0 = off",
    )
    tr.add_argument(
        "--validation_fraction",
        type=float,
        default=t.validation_fraction,
        help="fraction of groups held out for validation",
    )
    tr.add_argument(
        "--early_stopping_patience",
        type=int,
        default=t.early_stopping_patience,
        help="epochs without improvement before stopping",
    )
    tr.add_argument(
        "--lr_plateau_patience",
        type=int,
        default=t.lr_plateau_patience,
        help="epochs without improvement before the learning rate drops",
    )
    tr.add_argument(
        "--lr_plateau_factor",
        type=float,
        default=t.lr_plateau_factor,
        help="learning-rate drop factor",
    )
    tr.add_argument(
        "--min_learning_rate",
        type=float,
        default=t.min_learning_rate,
        help="floor of the learning rate",
    )
    tr.add_argument(
        "--precision",
        choices=NETWORK_PRECISIONS,
        default=defaults.PRECISION,
        help="arithmetic of the network's convolutions: 'bfloat16' (mixed precision, float32 "
        "physics), 'float32', or 'auto' (bfloat16 where the hardware has bfloat16 units; "
        f"default {defaults.PRECISION}, ptycho.defaults)",
    )
    _add_bool(tr, "probe_trainable", t.probe_trainable, "train the probe")
    _add_bool(
        tr, "intensity_scale_trainable", t.intensity_scale_trainable, "train the intensity scale"
    )
    net = p.add_argument_group("model")
    net.add_argument(
        "--model_type",
        choices=MODEL_TYPES,
        default=m.model_type,
        help="'pinn' (physics loss) or 'supervised' (needs objectGuess)",
    )
    net.add_argument(
        "--architecture",
        choices=ARCHITECTURES,
        default=m.architecture,
        help="'backprop_unet' (probe backprojection + U-Net, ARCH-014) or 'cnn' (the original "
        "encoder-decoder on the raw diffraction, ARCH-012)",
    )
    net.add_argument(
        "--n_filters_scale", type=int, default=m.n_filters_scale, help="conv filter multiplier"
    )
    net.add_argument(
        "--amp_activation",
        choices=AMP_ACTIVATIONS,
        default=m.amp_activation,
        help="amplitude head activation",
    )
    net.add_argument("--probe_scale", type=float, default=m.probe_scale, help="probe normaliser")
    net.add_argument(
        "--gaussian_smoothing_sigma",
        type=float,
        default=m.gaussian_smoothing_sigma,
        help="exit-wave smoothing sigma in pixels (0 = off)",
    )
    _add_bool(net, "object_big", m.object_big, "merge each group on a shared canvas")
    _add_bool(net, "probe_big", m.probe_big, "decoder border branch outside the central N/2")
    _add_bool(net, "pad_object", m.pad_object, "decoders predict the central N/2, padded to N")
    _add_bool(net, "probe_mask", m.probe_mask, "multiply the exit wave by the probe disk mask")
    out = p.add_argument_group("display")
    _add_bool(out, "progress", True, "log one line per epoch")
    out.add_argument(
        "--stitch_crop",
        type=int,
        default=20,
        help="central M x M of each patch used to stitch the test reconstruction",
    )
    out.add_argument(
        "--log_level",
        default="WARNING",
        choices=("DEBUG", "INFO", "WARNING", "ERROR"),
        help="logging level (per-epoch lines are printed with --progress whatever the level)",
    )
    return p


def check_backend(name: str) -> BackendAPI:
    """Resolve ``name`` through the dispatcher (D7): ValueError for an unknown backend,
    RuntimeError with the pip command for one that is not installed."""
    from ptycho.workflows.backend_selector import get_backend

    return get_backend(name)


def check_output_dir(path: Path) -> Path:
    """Check ``--output_dir`` can be written without creating it (HARD-008; the directory is
    created once the inputs are valid, :func:`ptycho.cli.common.create_output_dir`)."""
    from ptycho.cli.common import check_output_dir as check

    return check(path, "--output_dir")


def _positions_used(raw: RawData, n_subsample: int | None) -> int:
    """Scan positions left after ``--n_subsample``."""
    return len(raw) if n_subsample is None else min(len(raw), int(n_subsample))


def _n_groups(args: argparse.Namespace, positions: int) -> int:
    """``--n_groups``, or by default one group per position up to the TrainingConfig default;
    more groups than positions at gridsize > 1 is an error naming this CLI's flags (DATA-009)."""
    from ptycho.cli.common import check_group_request
    from ptycho.config.config import DEFAULT_TRAINING_N_GROUPS

    if args.n_groups is None:
        return min(positions, DEFAULT_TRAINING_N_GROUPS)
    check_group_request(
        args.n_groups,
        positions,
        args.gridsize,
        enable_oversampling=args.enable_oversampling,
        oversampling_flag="--enable_oversampling",
    )
    return int(args.n_groups)


def _training_config(args: argparse.Namespace, n: int, n_groups: int) -> TrainingConfig:
    from ptycho.config.config import ModelConfig, TrainingConfig

    model = ModelConfig(
        N=n,
        gridsize=args.gridsize,
        n_filters_scale=args.n_filters_scale,
        architecture=args.architecture,
        model_type=args.model_type,
        amp_activation=args.amp_activation,
        object_big=args.object_big,
        probe_big=args.probe_big,
        probe_mask=args.probe_mask,
        pad_object=args.pad_object,
        probe_scale=args.probe_scale,
        gaussian_smoothing_sigma=args.gaussian_smoothing_sigma,
    )
    return TrainingConfig(
        model=model,
        train_data_file=args.train_data_file,
        test_data_file=args.test_data_file,
        batch_size=args.batch_size,
        nepochs=args.nepochs,
        learning_rate=args.learning_rate,
        mae_weight=args.mae_weight,
        nll_weight=args.nll_weight,
        realspace_weight=args.realspace_weight,
        refined_target_iterations=args.refined_target_iterations,
        precision=args.precision,
        nphotons=args.nphotons,
        n_groups=n_groups,
        n_subsample=args.n_subsample,
        subsample_seed=args.subsample_seed,
        neighbor_count=args.neighbor_count,
        enable_oversampling=args.enable_oversampling,
        probe_trainable=args.probe_trainable,
        intensity_scale_trainable=args.intensity_scale_trainable,
        output_dir=args.output_dir,
        sequential_sampling=args.sequential_sampling,
        backend=args.backend,
        seed=args.seed,
        validation_fraction=args.validation_fraction,
        early_stopping_patience=args.early_stopping_patience,
        lr_plateau_patience=args.lr_plateau_patience,
        lr_plateau_factor=args.lr_plateau_factor,
        min_learning_rate=args.min_learning_rate,
    )


def _require_file(path: Path, flag: str) -> None:
    if not path.is_file():
        raise FileNotFoundError(f"{flag} {path} does not exist; pass the path of an NPZ scan")


def quality_against_truth(
    recon: Reconstruction, raw: RawData, crop: int = 20
) -> ComparisonMetrics | None:
    """Amplitude/phase SSIM and PSNR of a reconstruction against ``raw.objectGuess`` (or None).

    The region is the scanned area (:func:`ptycho.metrics.scanned_roi`) shrunk to what the
    stitched central ``crop x crop`` of the patches covers.
    """
    from ptycho.metrics import compare, scanned_roi

    if raw.objectGuess is None or not recon.on_object_grid:
        return None
    truth = raw.objectGuess
    if np.ptp(np.abs(truth)) == 0 and np.ptp(np.angle(truth)) == 0:
        return None
    margin = max(0, raw.N // 4 - crop // 2)
    try:
        roi = scanned_roi(raw.xcoords, raw.ycoords, raw.N, truth.shape, margin=margin)
    except ValueError:
        roi = scanned_roi(raw.xcoords, raw.ycoords, raw.N, truth.shape)
    return compare(recon.object, truth, roi=roi)


def format_quality(metrics: ComparisonMetrics) -> str:
    """One line of amplitude/phase SSIM and PSNR."""
    return (
        f"amplitude SSIM {metrics['amp_ssim']:.4f}, PSNR {metrics['amp_psnr']:.2f} dB; "
        f"phase SSIM {metrics['phase_ssim']:.4f}, PSNR {metrics['phase_psnr']:.2f} dB"
    )


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Train as ``args`` says; returns a summary (paths, epochs, metrics). Raises on errors.

    Raises
    ------
    ptycho.backend.TrainingInterrupted
        Ctrl-C during training, after the model of the last finished epoch was saved (its
        ``saved`` names the files; empty when no epoch finished).
    """
    from ptycho.backend import TrainingInterrupted
    from ptycho.cli.common import save_interrupted, save_training_set
    from ptycho.config.config import InferenceConfig
    from ptycho.inference import check_scan_geometry
    from ptycho.workflows import components

    check_backend(args.backend)
    out = check_output_dir(args.output_dir)
    _require_file(args.train_data_file, "--train_data_file")
    if args.test_data_file is not None:
        _require_file(args.test_data_file, "--test_data_file")
    raw = components.load_data(args.train_data_file)
    if args.N is not None and args.N != raw.N:
        raise ValueError(
            f"--N {args.N} does not match the training data's {raw.N}x{raw.N} patterns; omit "
            f"--N or pass --N {raw.N}"
        )
    config = _training_config(args, raw.N, _n_groups(args, _positions_used(raw, args.n_subsample)))
    test_raw = components.load_data(args.test_data_file) if args.test_data_file else None
    if test_raw is not None and test_raw.N != raw.N:
        raise ValueError(
            f"the test data has {test_raw.N}x{test_raw.N} patterns but the training data "
            f"{raw.N}x{raw.N}; use test data from the same detector"
        )
    if test_raw is not None:  # reconstructed after training: check it now (HARD-005..007)
        check_scan_geometry(test_raw, raw.N, min(args.stitch_crop, raw.N))

    from ptycho.workflows import backend_selector as selector
    from ptycho.workflows.registry import backend_spec

    api = check_backend(args.backend)
    initial = None
    if args.model_path is not None:
        source = args.model_path
        if str(source) == "pretrained":
            from ptycho.pretrained import archive_path

            source = archive_path()
        initial = selector.load_inference_bundle_with_backend(source, backend=args.backend)
        # the network is the initial model's; N is the data's (a backprop_unet model is rebuilt)
        model = dataclasses.replace(initial.model_config, N=raw.N)
        config = dataclasses.replace(config, model=model)
    started = time.perf_counter()
    on_epoch_end = _printer(config.nepochs) if args.progress else None
    # history.csv is written here with the archive (HARD-014), so the backend gets no output
    # directory, unless it keeps training checkpoints (PyTorch: OUTPUT_DIR/checkpoints/).
    run_dir = out if backend_spec(args.backend).reads_checkpoints else None
    try:
        bundle = selector.train_with_backend(
            raw, config, initial=initial, output_dir=run_dir, on_epoch_end=on_epoch_end
        )
    except TrainingInterrupted as exc:
        save_interrupted(exc, api, out, components.LOSS_CURVE_PNG)
        raise
    seconds = time.perf_counter() - started
    saved = save_training_set(bundle, api, out, components.LOSS_CURVE_PNG)
    summary: dict[str, Any] = {
        "archive": saved["archive"],
        "history": saved["history"],
        "loss_curve": saved["loss_curve"],
        "epochs": bundle.epochs_trained,
        "seconds": seconds,
        "final_loss": bundle.history["loss"][-1] if bundle.history.get("loss") else None,
        "intensity_scale": bundle.intensity_scale,
    }
    if test_raw is not None:
        inference = InferenceConfig(
            model=bundle.model_config, neighbor_count=config.neighbor_count, seed=config.seed
        )
        recon = selector.reconstruct_with_backend(bundle, test_raw, inference, M=args.stitch_crop)
        components.save_outputs(
            recon.amplitude,
            recon.phase,
            {"obj_tensor_full": recon.object, "probe": recon.probe},
            out,
        )
        summary["reconstruction"] = out / components.RECONSTRUCTION_NPZ
        summary["metrics"] = quality_against_truth(recon, test_raw, crop=args.stitch_crop)
    return summary


def _printer(nepochs: int) -> EpochCallback:
    def report(epoch: int, logs: Mapping[str, float]) -> bool:
        parts = [f"loss {logs['loss']:.6g}"]
        if "val_loss" in logs:
            parts.append(f"val_loss {logs['val_loss']:.6g}")
        print(f"epoch {epoch + 1}/{nepochs}: " + ", ".join(parts), flush=True)
        return False

    return report


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``ptycho-train``; returns the exit status."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=getattr(logging, args.log_level), format="%(levelname)s %(name)s: %(message)s"
    )
    from ptycho.cli.common import CLI_ERRORS, report_interrupt

    try:
        summary = run(args)
    except KeyboardInterrupt as exc:  # also ptycho.backend.TrainingInterrupted
        return report_interrupt("ptycho-train", exc)
    except CLI_ERRORS as exc:
        print(f"ptycho-train: error: {exc}", file=sys.stderr)
        return 1
    print(
        f"ptycho-train: trained {summary['epochs']} epochs in {summary['seconds']:.1f} s "
        f"(final loss {summary['final_loss']:.6g}, intensity scale "
        f"{summary['intensity_scale']:.6g})"
    )
    print(f"  model archive: {summary['archive']}")
    print(f"  history:       {summary['history']}")
    print(f"  loss curve:    {summary['loss_curve']}")
    if "reconstruction" in summary:
        print(f"  test reconstruction: {summary['reconstruction']} (+ amplitude/phase PNGs)")
        if summary.get("metrics"):
            print(f"  vs ground truth: {format_quality(summary['metrics'])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
