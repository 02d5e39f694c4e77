"""The measuring loop shared by ``bench_tf.py`` and ``bench_torch.py``: per gridsize, training
groups/s and inference patterns/s, printed, as README table rows and as JSON-ready records."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

Measure = Callable[[int, argparse.Namespace], dict[str, float]]


def add_common_arguments(p: argparse.ArgumentParser) -> None:
    """The flags both backend benchmarks share (besides threads and repeats)."""
    p.add_argument("--gridsizes", default="1,2", help="comma-separated gridsizes")
    p.add_argument("--train-groups", type=int, default=256, help="groups per training epoch")
    p.add_argument("--infer-patterns", type=int, default=1024, help="positions to reconstruct")
    p.add_argument("--batch-size", type=int, default=16, help="training batch size")
    p.add_argument("--n-filters-scale", type=int, default=2, help="model n_filters_scale")
    p.add_argument(
        "--architecture",
        choices=("backprop_unet", "cnn"),
        default="backprop_unet",
        help="network architecture (ARCH-014 default, ARCH-012 the original's)",
    )
    p.add_argument(
        "--precision",
        choices=("float32", "bfloat16", "auto"),
        default="float32",
        help="network precision of training and inference (ARCH-016)",
    )
    p.add_argument("--skip-training", action="store_true", help="inference only")
    p.add_argument("--skip-inference", action="store_true", help="training only")
    p.add_argument("--json", type=Path, default=None, help="also write the figures as JSON")


def model_config(gridsize: int, args: argparse.Namespace) -> Any:
    """The benchmarked network: N=64, ``--n-filters-scale`` and ``--architecture``."""
    from ptycho.config.config import ModelConfig

    return ModelConfig(
        N=64,
        gridsize=gridsize,
        n_filters_scale=args.n_filters_scale,
        architecture=args.architecture,
    )


def measure(
    args: argparse.Namespace, training: Measure, inference: Measure
) -> tuple[list[str], list[dict[str, Any]]]:
    """Run the chosen measurements for every gridsize; returns table rows and records."""
    rows: list[str] = []
    results: list[dict[str, Any]] = []
    for gridsize in (int(g) for g in args.gridsizes.split(",")):
        record: dict[str, Any] = {"gridsize": gridsize}
        cells = [str(gridsize)]
        if args.skip_training:
            cells += ["-", "-"]
        else:
            train = training(gridsize, args)
            record["training"] = train
            cells += [f"{train['groups_per_s']:.1f}", f"{train['epoch_s']:.2f}"]
            print(
                f"gridsize {gridsize}: training {train['groups_per_s']:.1f} groups/s "
                f"({train['groups']} groups, {train['epoch_s']:.2f} s/epoch, warm-up epoch "
                f"{train['warmup_s']:.1f} s)",
                flush=True,
            )
        if args.skip_inference:
            cells += ["-", "-"]
        else:
            infer = inference(gridsize, args)
            record["inference"] = infer
            cells += [f"{infer['patterns_per_s']:.0f}", f"{1024 / infer['patterns_per_s']:.1f}"]
            print(
                f"gridsize {gridsize}: inference {infer['patterns_per_s']:.1f} patterns/s "
                f"({infer['patterns']} patterns, {infer['groups']} groups, {infer['run_s']:.2f} s "
                "incl. grouping and stitching)",
                flush=True,
            )
        results.append(record)
        rows.append("| " + " | ".join(cells) + " |")
    return rows, results


def write_json(path: Path | None, env: str, args: argparse.Namespace, results: list[Any]) -> None:
    """Write the figures (and the settings they were measured at) when ``--json`` was given."""
    if path is not None:
        settings = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
        path.write_text(
            json.dumps({"machine": env, "settings": settings, "results": results}, indent=1)
        )
