"""``ptycho-simulate``: write the embedded default dataset (design D11).

Simulates a seeded far-field ptychography scan with ground truth (:mod:`ptycho.simulation`) and
writes, under ``--output_dir`` only:

* ``simulated_data.npz`` (or ``train_data.npz`` + ``test_data.npz`` with ``--split``): our NPZ
  contract with ``objectGuess`` = ground truth (:func:`ptycho.simulation.save_npz`);
* with ``--format ptychodus|both``: ``ptychodus/diffraction.h5`` + ``ptychodus/product.h5`` (or
  ``ptychodus/train/...`` and ``ptychodus/test/...``), a Ptychodus batch-input directory
  (:func:`ptycho_reconstructor.ptychodus_io.write_ptychodus_batch_input`: Ptychodus's own
  writer when Ptychodus is installed, h5py otherwise);
* ``overview.png`` (and ``overview_test.png`` with ``--split``): object amplitude and phase,
  probe amplitude and phase, scan positions, one diffraction pattern on a log scale;
* ``summary.json``: parameters, files written and dataset figures (also printed).

Run ``ptycho-simulate --help`` or ``python -m ptycho.cli.simulate --help``.
"""

from __future__ import annotations

import argparse
import logging
import math
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ptycho.atomic import atomic_output, atomic_write_json

if TYPE_CHECKING:
    from ptycho.simulation import SimulatedDataset

__all__ = ["build_parser", "main", "write_overview"]

logger = logging.getLogger(__name__)


def build_parser() -> argparse.ArgumentParser:
    """Argument parser of ``ptycho-simulate``."""
    p = argparse.ArgumentParser(
        prog="ptycho-simulate",
        description=(
            "Simulate a seeded far-field ptychography dataset with ground truth (structured "
            "complex object, disk or zone-plate probe, raster or spiral scan with ~70%% linear "
            "overlap, Poisson noise) and write it as our NPZ and/or a Ptychodus batch-input "
            "directory, plus overview.png and summary.json. Everything is written under "
            "--output_dir."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument(
        "--output_dir",
        "--output-dir",
        dest="output_dir",
        type=Path,
        required=True,
        help="folder for all outputs (created if missing)",
    )
    p.add_argument("--N", type=int, default=64, help="diffraction pattern size in pixels (64/128)")
    p.add_argument(
        "--n_positions",
        "--n-positions",
        dest="n_positions",
        type=int,
        default=1024,
        help="scan positions (per dataset; with --split this is the training set)",
    )
    p.add_argument(
        "--n_test",
        "--n-test",
        dest="n_test",
        type=int,
        default=None,
        help="test-set positions with --split (default: same as --n_positions)",
    )
    p.add_argument(
        "--nphotons",
        type=float,
        default=1e6,
        help="dataset-mean expected photon counts per diffraction pattern",
    )
    p.add_argument("--seed", type=int, default=0, help="master random seed (>= 0)")
    p.add_argument(
        "--format",
        choices=("npz", "ptychodus", "both"),
        default="npz",
        help="npz: our NPZ file(s); ptychodus: diffraction.h5 + product.h5 under "
        "output_dir/ptychodus; both: all of them",
    )
    p.add_argument(
        "--split",
        action="store_true",
        help="write a training and a held-out test dataset (same probe, two different objects) "
        "as train_data.npz / test_data.npz instead of one simulated_data.npz",
    )
    p.add_argument(
        "--probe",
        dest="probe_kind",
        choices=("disk", "zone_plate"),
        default="disk",
        help="probe model: defocused disk or defocused zone-plate (annular pupil) focus",
    )
    p.add_argument("--scan", choices=("raster", "spiral"), default="raster", help="scan pattern")
    p.add_argument(
        "--overlap",
        type=float,
        default=0.7,
        help="linear overlap 1 - step / probe diameter (diameter: equal-area diameter of "
        "|P| >= max|P|/2)",
    )
    p.add_argument(
        "--step_px",
        "--step-px",
        dest="step_px",
        type=float,
        default=None,
        help="explicit scan step in object pixels (overrides --overlap)",
    )
    p.add_argument(
        "--jitter_px",
        "--jitter-px",
        dest="jitter_px",
        type=float,
        default=0.5,
        help="standard deviation of the random position jitter in pixels",
    )
    p.add_argument(
        "--object_size",
        "--object-size",
        dest="object_size",
        type=int,
        default=None,
        help="square object side in pixels (default: just large enough for the scan)",
    )
    p.add_argument(
        "--detector_pixel_m",
        "--detector-pixel-m",
        dest="detector_pixel_m",
        type=float,
        default=75e-6,
        help="detector pixel size in metres (Ptychodus files)",
    )
    p.add_argument(
        "--distance_m",
        "--distance-m",
        dest="distance_m",
        type=float,
        default=2.0,
        help="sample-detector distance in metres (Ptychodus files)",
    )
    p.add_argument(
        "--energy_eV",
        "--energy-ev",
        dest="energy_eV",
        type=float,
        default=10000.0,
        help="photon energy in eV (Ptychodus files)",
    )
    p.add_argument(
        "--no_patches",
        "--no-patches",
        dest="no_patches",
        action="store_true",
        help="leave the ground-truth patches Y out of the NPZ (about half its size; they can be "
        "cut again from objectGuess)",
    )
    p.add_argument(
        "--no_plot",
        "--no-plot",
        dest="no_plot",
        action="store_true",
        help="do not write the overview PNG",
    )
    p.add_argument(
        "--log_level",
        "--log-level",
        dest="log_level",
        default="WARNING",
        choices=("DEBUG", "INFO", "WARNING", "ERROR"),
        help="logging level",
    )
    return p


def _validate(args: argparse.Namespace, parser: argparse.ArgumentParser) -> None:
    if args.N < 16 or args.N % 2:
        parser.error(f"--N must be an even number >= 16 (64 or 128 recommended), got {args.N}")
    if args.n_positions < 1:
        parser.error(f"--n_positions must be >= 1, got {args.n_positions}")
    if args.n_test is not None and args.n_test < 1:
        parser.error(f"--n_test must be >= 1, got {args.n_test}")
    if args.n_test is not None and not args.split:
        parser.error("--n_test only makes sense with --split")
    if not (math.isfinite(args.nphotons) and args.nphotons > 0):
        parser.error(f"--nphotons must be a positive number, got {args.nphotons}")
    if args.seed < 0:
        parser.error(f"--seed must be >= 0, got {args.seed}")
    if not (0.0 <= args.overlap < 1.0):
        parser.error(f"--overlap must be in [0, 1), got {args.overlap}")
    if args.step_px is not None and not args.step_px > 0:
        parser.error(f"--step_px must be > 0, got {args.step_px}")
    if not args.jitter_px >= 0:
        parser.error(f"--jitter_px must be >= 0, got {args.jitter_px}")
    for name in ("detector_pixel_m", "distance_m", "energy_eV"):
        value = getattr(args, name)
        if not (math.isfinite(value) and value > 0):
            parser.error(f"--{name} must be a positive number, got {value}")
    if args.output_dir.exists() and not args.output_dir.is_dir():
        parser.error(f"--output_dir {args.output_dir} exists and is not a folder")


def write_overview(dataset: SimulatedDataset, path: Path, title: str = "") -> bool:
    """Write a PNG overview of a :class:`~ptycho.simulation.SimulatedDataset`.

    Panels: object amplitude, object phase (rad), scan positions on the amplitude, probe
    amplitude, probe phase (rad), and the first diffraction pattern as ``log10(counts + 1)``.
    Uses matplotlib's Agg backend (imported here). Returns False (and logs a warning) when
    matplotlib is not installed.
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        logger.warning("matplotlib is not installed; skipping %s (pip install matplotlib)", path)
        return False
    obj = dataset.object
    probe = dataset.probe
    counts = (
        dataset.counts[0]
        if dataset.counts is not None
        else np.rint(dataset.raw.diff3d[0].astype(np.float64) ** 2)
    )
    fig, axes = plt.subplots(2, 3, figsize=(13, 8.2))
    panels = [
        (axes[0, 0], np.abs(obj), "object amplitude", "viridis"),
        (axes[0, 1], np.angle(obj), "object phase (rad)", "twilight"),
        (axes[1, 0], np.abs(probe), "probe amplitude (sqrt photons/px)", "magma"),
        (
            axes[1, 1],
            np.where(np.abs(probe) > 0.01 * np.abs(probe).max(), np.angle(probe), np.nan),
            "probe phase (rad, where |P| > 1% of max)",
            "twilight",
        ),
        (
            axes[1, 2],
            np.log10(counts.astype(np.float64) + 1.0),
            "pattern 0: log10(counts + 1)",
            "inferno",
        ),
    ]
    for ax, img, label, cmap in panels:
        im = ax.imshow(img, cmap=cmap, interpolation="nearest")
        ax.set_title(label, fontsize=10)
        fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    ax = axes[0, 2]
    ax.imshow(np.abs(obj), cmap="gray", interpolation="nearest")
    ax.plot(dataset.raw.xcoords, dataset.raw.ycoords, ".", color="tab:red", markersize=2)
    ax.set_title(f"scan positions ({len(dataset.raw)})", fontsize=10)
    info = dataset.info
    fig.suptitle(
        f"{title} N={dataset.N}, {len(dataset.raw)} positions, "
        f"{info.get('mean_counts_per_pattern', float('nan')):.3g} counts/pattern, "
        f"{info.get('scan', '')} step {info.get('step_px', float('nan')):.2f} px, "
        f"overlap {info.get('overlap', float('nan')):.2f}, probe {info.get('probe_kind', '')}",
        fontsize=11,
    )
    fig.tight_layout()
    try:
        with atomic_output(path) as tmp:
            fig.savefig(tmp, dpi=80, format="png")
    finally:
        plt.close(fig)
    return True


def _describe(ds: SimulatedDataset) -> dict[str, Any]:
    raw = ds.raw
    return {
        "diff3d_shape": list(raw.diff3d.shape),
        "object_shape": list(ds.object.shape),
        "mean_counts_per_pattern": ds.info.get("mean_counts_per_pattern"),
        "probe_diameter_px": ds.info.get("probe_diameter_px"),
        "step_px": ds.info.get("step_px"),
        "overlap": ds.info.get("overlap"),
        "x_range_px": [float(raw.xcoords.min()), float(raw.xcoords.max())],
        "y_range_px": [float(raw.ycoords.min()), float(raw.ycoords.max())],
        "object_amplitude_range": [float(np.abs(ds.object).min()), float(np.abs(ds.object).max())],
        "object_phase_range_rad": [
            float(np.angle(ds.object).min()),
            float(np.angle(ds.object).max()),
        ],
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Simulate and write everything; returns the summary dict."""
    from ptycho.simulation import save_npz, simulate_dataset, simulate_train_test
    from ptycho_reconstructor.ptychodus_io import write_ptychodus_batch_input

    common = {
        "probe_kind": args.probe_kind,
        "scan": args.scan,
        "jitter_px": args.jitter_px,
        "overlap": args.overlap,
        "step_px": args.step_px,
        "object_size": args.object_size,
    }
    t0 = time.perf_counter()
    if args.split:
        train, test = simulate_train_test(
            N=args.N,
            n_train=args.n_positions,
            n_test=args.n_test,
            nphotons=args.nphotons,
            seed=args.seed,
            **common,
        )
        datasets = {"train": train, "test": test}
    else:
        datasets = {
            "data": simulate_dataset(
                N=args.N,
                n_positions=args.n_positions,
                nphotons=args.nphotons,
                seed=args.seed,
                **common,
            )
        }
    sim_seconds = time.perf_counter() - t0

    out = args.output_dir
    out.mkdir(parents=True, exist_ok=True)
    files: list[str] = []
    if args.format in ("npz", "both"):
        for role, ds in datasets.items():
            name = "simulated_data.npz" if role == "data" else f"{role}_data.npz"
            files.append(str(save_npz(ds, out / name, include_patches=not args.no_patches)))
    if args.format in ("ptychodus", "both"):
        for role, ds in datasets.items():
            sub = out / "ptychodus" if role == "data" else out / "ptychodus" / role
            diff_path, prod_path = write_ptychodus_batch_input(
                ds,
                sub,
                detector_pixel_m=args.detector_pixel_m,
                distance_m=args.distance_m,
                energy_eV=args.energy_eV,
                name=f"ptychopinn-sim-{role}",
                comments=f"ptycho-simulate seed={args.seed} role={role}",
            )
            files.extend([str(diff_path), str(prod_path)])
    if not args.no_plot:
        for role, ds in datasets.items():
            png = out / ("overview.png" if role in ("data", "train") else f"overview_{role}.png")
            if write_overview(ds, png, title=role):
                files.append(str(png))
    summary: dict[str, Any] = {
        "command": "ptycho-simulate",
        "parameters": {
            k: (str(v) if isinstance(v, Path) else v) for k, v in sorted(vars(args).items())
        },
        "simulation_seconds": round(sim_seconds, 3),
        "datasets": {role: _describe(ds) for role, ds in datasets.items()},
        "files": files,
    }
    summary_path = out / "summary.json"
    summary["files"].append(str(summary_path))
    atomic_write_json(summary_path, summary)
    return summary


def _print_summary(summary: dict[str, Any]) -> None:
    print(f"ptycho-simulate: simulated in {summary['simulation_seconds']:.2f} s")
    for role, d in summary["datasets"].items():
        print(
            f"  {role}: diff3d {tuple(d['diff3d_shape'])}, object {tuple(d['object_shape'])}, "
            f"mean counts/pattern {d['mean_counts_per_pattern']:.4g}, step {d['step_px']:.2f} px, "
            f"overlap {d['overlap']:.2f} (probe diameter {d['probe_diameter_px']:.1f} px)"
        )
    print("  files:")
    for f in summary["files"]:
        print(f"    {f}")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``ptycho-simulate``; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=getattr(logging, args.log_level), format="%(levelname)s %(name)s: %(message)s"
    )
    _validate(args, parser)
    try:
        summary = run(args)
    except (ValueError, FileNotFoundError, RuntimeError, OSError) as exc:
        print(f"ptycho-simulate: error: {exc}", file=sys.stderr)
        return 1
    _print_summary(summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
