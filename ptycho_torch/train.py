"""Training CLI of the PyTorch backend: ``python -m ptycho_torch.train`` / ``ptycho-torch-train``.

This module owns the command line (flags of ``reference/ptychopinn_torch.md`` §4 and issue 4):
it validates everything it can before reading data (paths, accelerator, devices, logger
package), calls :func:`ptycho.config.config.update_legacy_dict` before loading data
(CONFIG-001), groups the data with the core (:func:`ptycho.loader.container_from_raw`), trains
with :func:`ptycho_torch.training.train` and writes into ``--output_dir``:

``checkpoints/last.ckpt`` and ``checkpoints/best-epochNNN.ckpt``   Lightning checkpoints
``checkpoints/history.csv``                                        losses up to ``last.ckpt``
``lightning_logs/``                                                csv / tensorboard metrics
``wts.h5.zip``                                                     the model archive (D6)
``history.csv``                                                    per-epoch losses of the archive

``wts.h5.zip`` and ``history.csv`` are written together, as one set (HARD-014 of
``specs/hardening.md``), so a killed run never leaves a history beside a model it does not
describe. Every input is validated before ``--output_dir`` is created. Ctrl-C saves the model of
the last finished epoch, prints where it is and exits with status 130; errors print one line and
exit with status 1.

Deprecated flags: ``--device`` (use ``--accelerator``) and ``--disable_mlflow`` (use
``--logger none``) still work and print a notice to stderr.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ptycho_torch.cli_shared import add_device_flags, deprecation_notice, resolve_accelerator_flags

__all__ = ["build_configs", "build_parser", "main", "run_training"]

logger = logging.getLogger(__name__)

_SCHEDULERS = ("none", "exponential", "warmup_cosine", "reduce_on_plateau")
_LOGGERS = ("csv", "tensorboard", "mlflow", "none")
_STRATEGIES = ("auto", "ddp", "ddp_spawn", "ddp_fork")


def _bool_flag(
    parser: argparse._ActionsContainer, name: str, default: bool, help_text: str
) -> None:
    parser.add_argument(
        f"--{name}", action=argparse.BooleanOptionalAction, default=default, help=help_text
    )


def _rank() -> int:
    """This process's global rank: Lightning's ``rank_zero_only.rank``, which its strategy sets
    when training starts (an attribute Lightning adds to the function, unknown to type checkers).
    """
    from lightning.pytorch.utilities.rank_zero import rank_zero_only

    rank: int = getattr(rank_zero_only, "rank", 0)
    return rank


def build_parser() -> argparse.ArgumentParser:
    """Argument parser of ``python -m ptycho_torch.train``."""
    from ptycho import defaults as recommended
    from ptycho.config.config import (
        AMP_ACTIVATIONS,
        ARCHITECTURES,
        MODEL_TYPES,
        NETWORK_PRECISIONS,
        TrainingConfig,
    )

    defaults = TrainingConfig()
    p = argparse.ArgumentParser(
        prog="ptycho-torch-train",
        description="Train a PtychoPINN model with PyTorch + Lightning.",
    )
    data = p.add_argument_group("data")
    data.add_argument("--train_data_file", required=True, help="training NPZ")
    data.add_argument(
        "--test_data_file", default=None, help="NPZ used as the validation set (optional)"
    )
    data.add_argument("--output_dir", required=True, help="where checkpoints/logs/model go")
    data.add_argument(
        "--n_images",
        "--n_groups",
        dest="n_groups",
        type=int,
        default=None,
        help=f"number of training groups (default: one per scan position, at most "
        f"{defaults.n_groups})",
    )
    data.add_argument(
        "--gridsize",
        type=int,
        default=recommended.GRIDSIZE,
        help="group side; C = gridsize**2 (default from ptycho.defaults)",
    )
    data.add_argument("--neighbor_count", type=int, default=defaults.neighbor_count)
    data.add_argument(
        "--validation_fraction",
        type=float,
        default=defaults.validation_fraction,
        help="held-out fraction of the training groups when --test_data_file is not given",
    )
    model = p.add_argument_group("model")
    model.add_argument("--model_type", choices=MODEL_TYPES, default="pinn")
    model.add_argument(
        "--architecture",
        choices=ARCHITECTURES,
        default=ARCHITECTURES[0],
        help="'backprop_unet' (probe backprojection + U-Net, ARCH-014) or 'cnn' (the original "
        "encoder-decoder, ARCH-012)",
    )
    model.add_argument("--n_filters_scale", type=int, default=2)
    model.add_argument("--amp_activation", choices=AMP_ACTIVATIONS, default="sigmoid")
    _bool_flag(model, "object_big", True, "merge each group's patches (ARCH-010)")
    _bool_flag(model, "probe_big", True, "decoder border branch")
    _bool_flag(model, "pad_object", True, "predict the central N/2 and zero-pad")
    _bool_flag(model, "probe_mask", False, "multiply the exit wave by the probe disk mask")
    model.add_argument("--probe_scale", type=float, default=4.0)
    model.add_argument("--gaussian_smoothing_sigma", type=float, default=0.0)
    _bool_flag(model, "probe_trainable", False, "learn the probe")
    _bool_flag(model, "intensity_scale_trainable", True, "learn the intensity scale")
    train = p.add_argument_group("training")
    train.add_argument(
        "--max_epochs", "--nepochs", dest="max_epochs", type=int, default=defaults.nepochs
    )
    train.add_argument("--batch_size", type=int, default=defaults.batch_size)
    train.add_argument(
        "--learning-rate",
        "--learning_rate",
        dest="learning_rate",
        type=float,
        default=None,
        help=f"Adam learning rate (default {defaults.learning_rate})",
    )
    train.add_argument("--nphotons", type=float, default=defaults.nphotons)
    train.add_argument("--nll_weight", type=float, default=defaults.nll_weight)
    train.add_argument("--mae_weight", type=float, default=defaults.mae_weight)
    train.add_argument("--realspace_weight", type=float, default=defaults.realspace_weight)
    train.add_argument(
        "--refined_target_iterations",
        type=int,
        default=defaults.refined_target_iterations,
        help="train towards the scan's physics-refined object (needs --realspace_weight > 0)",
    )
    train.add_argument(
        "--precision",
        choices=NETWORK_PRECISIONS,
        default=recommended.PRECISION,
        help="arithmetic of the network's convolutions: 'bfloat16' (mixed precision, float32 "
        "physics), 'float32', or 'auto' (bfloat16 where the hardware has bfloat16 units; "
        f"default {recommended.PRECISION}, ptycho.defaults)",
    )
    train.add_argument("--seed", type=int, default=defaults.seed)
    train.add_argument(
        "--scheduler",
        choices=_SCHEDULERS,
        default="reduce_on_plateau",
        help="learning-rate schedule (default reduce_on_plateau, as the TensorFlow backend)",
    )
    train.add_argument(
        "--accumulate-grad-batches",
        "--accumulate_grad_batches",
        dest="accumulate_grad_batches",
        type=int,
        default=1,
    )
    train.add_argument(
        "--early-stop-patience",
        "--early_stop_patience",
        dest="early_stop_patience",
        type=int,
        default=None,
        help=f"epochs without improvement before stopping (default "
        f"{defaults.early_stopping_patience})",
    )
    execution = p.add_argument_group("execution")
    add_device_flags(execution)
    execution.add_argument("--devices", type=int, default=1, help="number of devices/processes")
    execution.add_argument(
        "--strategy",
        choices=_STRATEGIES,
        default="auto",
        help="Lightning strategy; ddp or ddp_spawn for several devices",
    )
    _bool_flag(execution, "deterministic", True, "reproducible (deterministic) algorithms")
    execution.add_argument(
        "--num-workers", "--num_workers", dest="num_workers", type=int, default=0
    )
    execution.add_argument("--quiet", action="store_true", help="no progress bar, no info logs")
    execution.add_argument(
        "--enable-checkpointing", dest="enable_checkpointing", action="store_true", default=True
    )
    execution.add_argument(
        "--disable-checkpointing", dest="enable_checkpointing", action="store_false"
    )
    execution.add_argument(
        "--checkpoint-save-top-k",
        "--checkpoint_save_top_k",
        dest="checkpoint_save_top_k",
        type=int,
        default=1,
    )
    execution.add_argument(
        "--checkpoint-monitor",
        "--checkpoint_monitor",
        dest="checkpoint_monitor",
        default="val_loss",
        help="metric for the best checkpoint and early stopping (val_* falls back to train_* "
        "without validation data)",
    )
    execution.add_argument(
        "--checkpoint-mode",
        "--checkpoint_mode",
        dest="checkpoint_mode",
        choices=("min", "max"),
        default="min",
    )
    execution.add_argument("--logger", dest="logger", choices=_LOGGERS, default="csv")
    execution.add_argument(
        "--disable_mlflow", action="store_true", help="DEPRECATED: use --logger none"
    )
    return p


def build_configs(args: argparse.Namespace) -> tuple[Any, Any]:
    """Core ``(TrainingConfig, PyTorchExecutionConfig)`` from parsed arguments.

    ``ModelConfig.N`` is 0 ("from data") and set once the data are read.
    """
    from ptycho.config.config import ModelConfig, PyTorchExecutionConfig, TrainingConfig

    model = ModelConfig(
        N=0,
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
    training_kwargs: dict[str, Any] = {
        "model": model,
        "n_groups": args.n_groups,
        "train_data_file": Path(args.train_data_file),
        "test_data_file": Path(args.test_data_file) if args.test_data_file else None,
        "batch_size": args.batch_size,
        "nepochs": args.max_epochs,
        "nphotons": args.nphotons,
        "neighbor_count": args.neighbor_count,
        "nll_weight": args.nll_weight,
        "mae_weight": args.mae_weight,
        "realspace_weight": args.realspace_weight,
        "refined_target_iterations": args.refined_target_iterations,
        "precision": args.precision,
        "probe_trainable": args.probe_trainable,
        "intensity_scale_trainable": args.intensity_scale_trainable,
        "output_dir": Path(args.output_dir),
        "backend": "pytorch",
        "seed": args.seed,
        "validation_fraction": args.validation_fraction,
    }
    if args.learning_rate is not None:
        training_kwargs["learning_rate"] = args.learning_rate
    if args.early_stop_patience is not None:
        training_kwargs["early_stopping_patience"] = args.early_stop_patience
    config = TrainingConfig(**training_kwargs)
    execution = PyTorchExecutionConfig(
        accelerator=args.accelerator,
        devices=args.devices,
        strategy=args.strategy,
        deterministic=args.deterministic,
        num_workers=args.num_workers,
        learning_rate=args.learning_rate,
        scheduler=args.scheduler,
        accumulate_grad_batches=args.accumulate_grad_batches,
        enable_progress_bar=not args.quiet,
        enable_checkpointing=args.enable_checkpointing,
        checkpoint_save_top_k=args.checkpoint_save_top_k,
        checkpoint_monitor=args.checkpoint_monitor,
        checkpoint_mode=args.checkpoint_mode,
        early_stop_patience=args.early_stop_patience,
        logger_backend=None if args.logger == "none" else args.logger,
    )
    return config, execution


def run_training(config: Any, execution: Any, *, n_groups_given: bool = True) -> dict[str, Any]:
    """Load the data, train, and write the archive (rank 0). Returns a summary dict.

    ``n_groups_given`` False means ``config.n_groups`` is the default: then one group per scan
    position is used, at most that many. Every input is validated before the output directory
    is created (HARD-009).

    Raises
    ------
    ptycho.backend.TrainingInterrupted
        Ctrl-C, after the model of the last finished epoch was saved (``saved`` names it).
    """
    from ptycho.backend import TrainingInterrupted
    from ptycho.cli.common import check_group_request, check_output_dir, save_interrupted
    from ptycho.legacy_params import bridge_config
    from ptycho.loader import container_from_raw
    from ptycho.raw_data import RawData
    from ptycho.refine import refined_training_data
    from ptycho_torch import api
    from ptycho_torch.accelerators import check_devices, resolve_accelerator
    from ptycho_torch.loggers import check_logger_available
    from ptycho_torch.training import TrainingDivergedError, train

    started = time.perf_counter()
    output_dir = check_output_dir(Path(config.output_dir))
    for label, path in (("training", config.train_data_file), ("test", config.test_data_file)):
        if path is not None and not Path(path).is_file():
            raise FileNotFoundError(f"{label} data file not found: {path}")
    accelerator = resolve_accelerator(execution.accelerator)
    check_devices(accelerator, execution.devices)
    check_logger_available(execution.logger_backend)
    raw = RawData.from_file(config.train_data_file)
    config.model.N = int(raw.N)
    if n_groups_given:
        check_group_request(config.n_groups, len(raw), config.model.gridsize)
    else:
        config.n_groups = min(int(config.n_groups), len(raw))
    config.validate(require_n=True)
    bridge_config(config)  # CONFIG-001: before any data loading
    raw = refined_training_data(raw, config.refined_target_iterations)  # ARCH-013
    container = container_from_raw(
        raw,
        N=config.model.N,
        gridsize=config.model.gridsize,
        n_groups=config.n_groups,
        K=config.neighbor_count,
        seed=config.seed,
    )
    validation = None
    if config.test_data_file is not None:
        test_raw = RawData.from_file(config.test_data_file)
        test_raw = refined_training_data(test_raw, config.refined_target_iterations)
        validation = container_from_raw(
            test_raw,
            N=config.model.N,
            gridsize=config.model.gridsize,
            n_groups=None,
            K=config.neighbor_count,
            seed=config.seed,
        )
    try:
        bundle = train(
            container, config, validation=validation, execution=execution, output_dir=output_dir
        )
    except TrainingInterrupted as exc:
        if _rank() == 0:
            save_interrupted(exc, api, output_dir)
        raise
    except TrainingDivergedError as exc:
        if exc.bundle is not None and _rank() == 0 and exc.bundle.history:
            saved = _save_set(exc.bundle, output_dir)
            raise TrainingDivergedError(
                f"{exc} The last finite weights were saved to {saved}.", exc.bundle
            ) from exc
        raise
    archive = None
    if _rank() == 0:
        archive = _save_set(bundle, output_dir)
    return {
        "bundle": bundle,
        "archive": archive,
        "n_groups": len(container),
        "seconds": time.perf_counter() - started,
        "rank": _rank(),
    }


def _save_set(bundle: Any, output_dir: Path) -> Path:
    """``wts.h5.zip`` and ``history.csv`` as one set (HARD-014); returns the archive's path."""
    from ptycho.cli.common import save_training_set
    from ptycho_torch import api

    return save_training_set(bundle, api, output_dir)["archive"]


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m ptycho_torch.train`` / ``ptycho-torch-train``."""
    parser = build_parser()
    args = parser.parse_args(argv)
    args.accelerator = resolve_accelerator_flags(args)
    if args.disable_mlflow:
        deprecation_notice("--disable_mlflow is deprecated; use --logger none")
        args.logger = "none"
    for name, minimum in (
        ("gridsize", 1),
        ("max_epochs", 1),
        ("batch_size", 1),
        ("devices", 1),
        ("num_workers", 0),
        ("accumulate_grad_batches", 1),
        ("n_filters_scale", 1),
    ):
        if getattr(args, name) < minimum:
            parser.error(f"--{name} must be >= {minimum}, got {getattr(args, name)}")
    if args.n_groups is not None and args.n_groups < 1:
        parser.error(f"--n_groups must be >= 1, got {args.n_groups}")
    logging.basicConfig(
        level=logging.WARNING if args.quiet else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
    )
    from ptycho.cli.common import CLI_ERRORS, report_interrupt

    try:
        config, execution = build_configs(args)
        result = run_training(config, execution, n_groups_given=args.n_groups is not None)
    except KeyboardInterrupt as exc:  # also ptycho.backend.TrainingInterrupted
        return report_interrupt("ptycho-torch-train", exc)
    except CLI_ERRORS as exc:
        print(f"ptycho-torch-train: error: {exc}", file=sys.stderr)
        return 1
    if result["rank"] == 0 and not args.quiet:
        history = result["bundle"].history
        losses = history.get("loss", [])
        val = history.get("val_loss", [])
        summary = f"final loss {losses[-1]:.6g}" if losses else "no epoch completed"
        if val:
            summary += f", val_loss {val[-1]:.6g}"
        print(
            f"trained {len(losses)} epoch(s) on {result['n_groups']} groups in "
            f"{result['seconds']:.1f} s ({summary}); model saved to {result['archive']}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
