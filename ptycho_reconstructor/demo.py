"""The README's main command: the whole mission on the embedded default data (``make demo``).

1. Simulate a training scan and a held-out test scan (two different objects, same probe) with
   :mod:`ptycho.simulation`, and write them in Ptychodus's batch layout
   (``diffraction.h5`` + ``product.h5``) and as our NPZ.
2. ``ptychodus -b train`` with our library (algorithm ``PtychoPINNx_PINN``) and the chosen
   backend: the stock Ptychodus command, which finds our library through the plugin hook. By
   default it fine-tunes the pretrained model that ships with ptychopinn
   (``StartFromPretrained``; ``--from_scratch`` trains a new network, which then profits from
   refined training targets, ``--refined_target_iterations``, ARCH-013).
3. ``ptychodus -b reconstruct`` of the test scan with the trained model: once the network's
   prediction as it is, once with ``RefineIterations`` of physics refinement (ARCH-013); and
   once without any model, so the pretrained model that ships with ptychopinn (D13) gives its
   own image without any training.
4. Compare both reconstructed objects with the ground truth (amplitude/phase SSIM, PSNR, FRC
   over the scanned region, and the same for a constant-object baseline) and write a PNG.

Everything lands under ``--output_dir``. Run ``python -m ptycho_reconstructor.demo --help``.
"""

from __future__ import annotations

import argparse
import configparser
import logging
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TypedDict

import numpy as np

from ptycho import defaults
from ptycho.array_types import ComplexArray
from ptycho.atomic import atomic_output, atomic_write_json
from ptycho.backend import BACKENDS
from ptycho.metrics import ComparisonMetrics, compare, format_table, scanned_roi
from ptycho.ptychodus_files import read_ptychodus_product
from ptycho.simulation import save_npz, simulate_train_test
from ptycho_reconstructor.ptychodus_io import write_ptychodus_batch_input

__all__ = ["DemoSummary", "main", "run_demo"]

logger = logging.getLogger(__name__)

ALGORITHM = "PtychoPINNx_PINN"


class DemoSummary(TypedDict):
    """What :func:`run_demo` returns and writes to ``summary.json``."""

    backend: str
    product: str
    png: str
    #: Quality metrics (:func:`ptycho.metrics.compare`) of each reconstruction, by label.
    metrics: dict[str, ComparisonMetrics]


#: The summary's name of the pretrained model's image (no training, network alone).
PRETRAINED_LABEL = "pretrained model, no training (network)"


def _settings(args: argparse.Namespace, refine_iterations: int = 0) -> configparser.ConfigParser:
    """The INI file that selects our algorithm and sets the run's parameters."""
    ini = configparser.ConfigParser(interpolation=None)
    ini.optionxform = str  # type: ignore[assignment,method-assign]  # keep key case
    ini["Processing"] = {"Algorithm": ALGORITHM}
    ini["PtychoPINNxModel"] = {
        "GridSize": str(args.gridsize),
        "NumFiltersScale": str(args.n_filters_scale),
    }
    ini["PtychoPINNxTraining"] = {
        "NumEpochs": str(args.epochs),
        "BatchSize": str(args.batch_size),
        "NumPhotons": repr(float(args.nphotons)),
        "NumGroups": str(args.n_positions),
        "Seed": str(args.seed),
        "RefinedTargetIterations": str(args.refined_target_iterations),
        "StartFromPretrained": str(not args.from_scratch),
        "RealspaceWeight": repr(
            float(args.realspace_weight if args.refined_target_iterations else 0)
        ),
    }
    ini["PtychoPINNxInference"] = {"RefineIterations": str(refine_iterations)}
    ini["PtychoPINNxExecution"] = {"Backend": args.backend, "Accelerator": defaults.ACCELERATOR}
    return ini


#: Lines of the Ptychodus log that the demo echoes while it waits (per-epoch progress).
_PROGRESS = re.compile(r"(epoch \d+/\d+: .*)$")


def _ptychodus(mode: str, in_dir: Path, out_dir: Path, settings: Path, log: Path) -> float:
    """Run the stock ``ptychodus -b MODE`` command; return its wall time in seconds.

    Everything it prints goes to ``log``; its per-epoch lines (epoch k/n, losses, time elapsed
    and left) are echoed as they come, so a long training never runs in silence.
    """
    executable = shutil.which("ptychodus") or str(Path(sys.executable).with_name("ptychodus"))
    command = [executable, "-b", mode, "-i", str(in_dir), "-o", str(out_dir), "-s", str(settings)]
    logger.info("running %s", " ".join(command))
    start = time.perf_counter()
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    with (
        open(log, "w") as handle,
        subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
        ) as process,
    ):
        assert process.stdout is not None
        for line in process.stdout:
            handle.write(line)
            match = _PROGRESS.search(line.rstrip())
            if match:
                print(f"      {match.group(1)}", flush=True)
        returncode = process.wait()
    elapsed = time.perf_counter() - start
    if returncode != 0:
        tail = log.read_text()[-3000:]
        raise RuntimeError(f"ptychodus -b {mode} failed (exit {returncode}); log {log}:\n{tail}")
    return elapsed


def _save_png(path: Path, objects: dict[str, ComplexArray], title: str) -> None:
    """One row (amplitude, phase) per named object."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(objects), 2, figsize=(9, 4 * len(objects)), squeeze=False)
    panels = []
    for name, obj in objects.items():
        panels.append((np.abs(obj), f"{name}\namplitude", "gray"))
        panels.append((np.angle(obj), f"{name}\nphase (rad)", "twilight"))
    for ax, (image, label, cmap) in zip(axes.flat, panels, strict=True):
        shown = ax.imshow(image, cmap=cmap)
        ax.set_title(label)
        ax.set_axis_off()
        fig.colorbar(shown, ax=ax, shrink=0.8)
    fig.suptitle(title)
    fig.tight_layout()
    try:
        with atomic_output(path) as tmp:
            fig.savefig(tmp, dpi=90, format="png")
    finally:
        plt.close(fig)


def _reconstruct(in_dir: Path, out_dir: Path, settings: Path, log: Path) -> tuple[Path, float]:
    """``ptychodus -b reconstruct``; returns the product file and the wall time."""
    out_dir.mkdir(parents=True, exist_ok=True)
    seconds = _ptychodus("reconstruct", in_dir, out_dir, settings, log)
    products = sorted(out_dir.glob("product*.h5"))
    if not products:
        raise RuntimeError(f"ptychodus -b reconstruct wrote no product into {out_dir}")
    return products[-1], seconds


def run_demo(args: argparse.Namespace) -> DemoSummary:
    """Run the four steps; return the metrics and file locations."""
    out = Path(args.output_dir).resolve()
    data_dir, train_in, test_in = out / "data", out / "train_input", out / "test_input"
    pretrained_in = out / "test_input_pretrained"  # the test scan without a model.zip
    model_dir, recon_dir = out / "model", out / "reconstruction"
    for folder in (data_dir, train_in, test_in, pretrained_in, model_dir, recon_dir):
        folder.mkdir(parents=True, exist_ok=True)

    start = time.perf_counter()
    train, test = simulate_train_test(
        N=args.N, n_train=args.n_positions, nphotons=args.nphotons, seed=args.seed
    )
    save_npz(train, data_dir / "train_data.npz")
    save_npz(test, data_dir / "test_data.npz")
    write_ptychodus_batch_input(train, train_in)
    write_ptychodus_batch_input(test, test_in)
    write_ptychodus_batch_input(test, pretrained_in)
    print(
        f"[1/4] simulated {len(train.raw)} training + {len(test.raw)} test patterns "
        f"({args.N}x{args.N}, {args.nphotons:.0e} photons) in {time.perf_counter() - start:.1f} s"
    )

    settings = out / "settings.ini"
    with atomic_output(settings) as tmp, open(tmp, "x") as handle:
        _settings(args).write(handle)

    seconds = _ptychodus("train", train_in, model_dir, settings, out / "train.log")
    archives = sorted(model_dir.glob("*.zip"))
    if not archives:
        raise RuntimeError(f"ptychodus -b train wrote no model archive into {model_dir}")
    shutil.copyfile(archives[0], test_in / "model.zip")
    print(
        f"[2/4] ptychodus -b train ({args.backend}, {args.epochs} epochs, "
        f"{'a new network' if args.from_scratch else 'fine-tuning the pretrained model'}, "
        f"refined targets {args.refined_target_iterations or 'off'}): {seconds:.1f} s -> "
        f"{archives[0]}"
    )

    network = _reconstruct(test_in, recon_dir, settings, out / "reconstruct.log")
    print(f"[3/4] ptychodus -b reconstruct (network): {network[1]:.1f} s -> {network[0]}")
    objects = {"PtychoPINN (network)": read_ptychodus_product(network[0]).object}
    product_path = network[0]
    if args.refine_iterations > 0:
        refined_settings = out / "settings_refined.ini"
        with atomic_output(refined_settings) as tmp, open(tmp, "x") as handle:
            _settings(args, args.refine_iterations).write(handle)
        refined = _reconstruct(
            test_in, out / "reconstruction_refined", refined_settings, out / "refine.log"
        )
        print(
            f"      ptychodus -b reconstruct (+{args.refine_iterations} refinement iterations): "
            f"{refined[1]:.1f} s -> {refined[0]}"
        )
        label = f"PtychoPINN + {args.refine_iterations} refinement iterations"
        objects[label] = read_ptychodus_product(refined[0]).object
        product_path = refined[0]
    if args.pretrained:
        shipped = _reconstruct(
            pretrained_in, out / "reconstruction_pretrained", settings, out / "pretrained.log"
        )
        print(
            f"      ptychodus -b reconstruct (no model: the pretrained one, network alone): "
            f"{shipped[1]:.1f} s -> {shipped[0]}"
        )
        objects[PRETRAINED_LABEL] = read_ptychodus_product(shipped[0]).object

    truth = test.object
    roi = scanned_roi(test.raw.xcoords, test.raw.ycoords, args.N, truth.shape, margin=args.N // 8)
    results = {name: compare(obj, truth, roi) for name, obj in objects.items()}
    results["constant object (baseline)"] = compare(np.ones_like(truth), truth, roi)
    png = out / "reconstruction.png"
    _save_png(png, {"ground truth": truth, **objects}, f"PtychoPINN ({args.backend})")
    summary: DemoSummary = {
        "backend": args.backend,
        "product": str(product_path),
        "png": str(png),
        "metrics": results,
    }
    atomic_write_json(out / "summary.json", summary)
    print("[4/4] quality over the scanned region (amplitude scale fitted, global phase removed):")
    print(format_table(results))
    print(f"product: {product_path}\nfigure:  {png}\nsummary: {out / 'summary.json'}")
    return summary


def build_parser() -> argparse.ArgumentParser:
    """The demo's command-line interface."""
    parser = argparse.ArgumentParser(
        prog="python -m ptycho_reconstructor.demo",
        description="Simulate a scan, train PtychoPINN with `ptychodus -b train`, reconstruct a "
        "held-out scan with `ptychodus -b reconstruct`, and report quality vs ground truth.",
    )
    parser.add_argument(
        "--output_dir",
        type=Path,
        default=Path("demo_output"),
        help="where everything is written (default: demo_output)",
    )
    parser.add_argument(
        "--backend",
        choices=BACKENDS,
        default=BACKENDS[0],
        help=f"training/inference backend (default: {BACKENDS[0]})",
    )
    parser.add_argument("--N", type=int, default=64, choices=(64, 128), help="pattern size")
    parser.add_argument(
        "--n_positions", type=int, default=512, help="scan positions per dataset (default: 512)"
    )
    parser.add_argument(
        "--nphotons", type=float, default=1e6, help="mean photons per pattern (default: 1e6)"
    )
    parser.add_argument("--epochs", type=int, default=20, help="training epochs (default: 20)")
    parser.add_argument("--batch_size", type=int, default=16, help="training batch size")
    parser.add_argument(
        "--gridsize",
        type=int,
        default=2,
        help="patterns per group side (default: 2; the overlap constraint helps the PINN)",
    )
    parser.add_argument("--n_filters_scale", type=int, default=2, help="network width factor")
    parser.add_argument(
        "--refined_target_iterations",
        type=int,
        default=0,
        help="train towards the training scan's physics-refined object, refined this many "
        "iterations (default: 0 = diffraction loss only; e.g. 100 with a new network, ARCH-013)",
    )
    parser.add_argument(
        "--realspace_weight",
        type=float,
        default=100.0,
        help="weight of the refined targets (default: 100)",
    )
    parser.add_argument(
        "--refine_iterations",
        type=int,
        default=defaults.REFINE_ITERATIONS,
        help="physics refinement iterations of the second reconstruction (default: "
        f"{defaults.REFINE_ITERATIONS}, the library's default; 0 = only the network's prediction)",
    )
    parser.add_argument(
        "--from_scratch",
        action="store_true",
        help="train a new network instead of fine-tuning the pretrained model (the default, "
        "PtychoPINNxTraining.StartFromPretrained)",
    )
    parser.add_argument(
        "--no_pretrained",
        dest="pretrained",
        action="store_false",
        help="skip the reconstruction with the pretrained model that ships with ptychopinn",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of everything (default: 0)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Console entry point."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    run_demo(args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
