"""``ptycho-compare``: compare a reconstruction with ground truth and print a metrics table.

Reads a reconstruction NPZ (key ``object`` or ``reconstructed_object``, ``(H, W)`` complex, or
``(1, H, W)``) and a ground-truth NPZ in our contract (``objectGuess``; ``xcoords``, ``ycoords``
and ``diff3d`` for the automatic region of interest), computes :func:`ptycho.metrics.compare`
(global phase removed, amplitude scale fitted, SSIM/PSNR of amplitude and phase, FRC cut-offs)
and prints a Markdown table. Nothing is written unless ``--json PATH`` is given.
"""

from __future__ import annotations

import argparse
import logging
import math
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ptycho.array_types import AnyArray, ComplexArray, FloatArray
from ptycho.atomic import atomic_write_json

if TYPE_CHECKING:
    from numpy.lib.npyio import NpzFile

__all__ = ["build_parser", "load_reconstruction", "load_truth", "main", "parse_roi"]

logger = logging.getLogger(__name__)

RECON_KEYS = ("object", "reconstructed_object")


def build_parser() -> argparse.ArgumentParser:
    """Argument parser of ``ptycho-compare``."""
    p = argparse.ArgumentParser(
        prog="ptycho-compare",
        description=(
            "Compare a complex object reconstruction with the ground truth: amplitude and phase "
            "SSIM/PSNR after removing the global phase offset and fitting the amplitude scale, "
            "and the FRC resolution cut-offs, on a region of interest. Prints a Markdown table. "
            "PSNR uses data_range = max(truth) - min(truth) over the ROI."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument(
        "--reconstruction",
        type=Path,
        required=True,
        help="NPZ with key 'object' or 'reconstructed_object' ((H, W) complex, same pixel grid "
        "as the truth)",
    )
    p.add_argument(
        "--truth",
        type=Path,
        required=True,
        help="ground-truth NPZ in our format (key objectGuess; xcoords/ycoords/diff3d for "
        "--roi auto)",
    )
    p.add_argument(
        "--roi",
        default="auto",
        help="region of interest: 'auto' (scanned region: patch centres +- N/4), 'full' (whole "
        "object) or 'r0:r1,c0:c1' (row and column pixel ranges)",
    )
    p.add_argument(
        "--margin",
        type=int,
        default=0,
        help="extra inward margin in pixels for --roi auto",
    )
    p.add_argument("--name", default=None, help="row label (default: the reconstruction's stem)")
    p.add_argument(
        "--json",
        dest="json_path",
        type=Path,
        default=None,
        help="also write the metrics as JSON to this file",
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


def _open_npz(path: Path, what: str) -> NpzFile:
    from ptycho.npy_io import open_npz

    if not path.is_file():
        raise FileNotFoundError(f"{what} file not found: {path}")
    return open_npz(path, what="NPZ file", fix="save it with numpy.savez(path, object=...)")


def _as_image(arr: AnyArray, path: Path, key: str) -> AnyArray:
    arr = np.asarray(arr)
    while arr.ndim > 2 and arr.shape[0] == 1:
        arr = arr[0]
    while arr.ndim > 2 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    if arr.ndim != 2:
        raise ValueError(f"{path}: '{key}' must be a 2-D (H, W) image, got shape {arr.shape}")
    if not np.issubdtype(arr.dtype, np.number):
        raise ValueError(f"{path}: '{key}' must be numeric (complex), got dtype {arr.dtype}")
    return arr.astype(np.complex128)


def load_reconstruction(path: Path) -> ComplexArray:
    """Read the reconstructed object ``(H, W)`` complex from an NPZ (key ``object`` or
    ``reconstructed_object``)."""
    with _open_npz(path, "reconstruction") as f:
        for key in RECON_KEYS:
            if key in f.files:
                return _as_image(f[key], path, key)
        raise ValueError(
            f"{path} has no reconstruction: expected key 'object' or 'reconstructed_object', "
            f"found {', '.join(f.files) or 'none'}"
        )


def load_truth(path: Path) -> tuple[ComplexArray, FloatArray | None, FloatArray | None, int | None]:
    """Read ``(objectGuess, xcoords, ycoords, N)`` from a ground-truth NPZ (our format)."""
    with _open_npz(path, "ground-truth") as f:
        if "objectGuess" not in f.files:
            raise ValueError(
                f"{path} has no 'objectGuess' (the ground-truth object); found "
                f"{', '.join(f.files) or 'none'}"
            )
        truth = _as_image(f["objectGuess"], path, "objectGuess")
        x = np.asarray(f["xcoords"], dtype=np.float64) if "xcoords" in f.files else None
        y = np.asarray(f["ycoords"], dtype=np.float64) if "ycoords" in f.files else None
        n = None
        for key in ("diff3d", "diffraction"):
            if key in f.files:
                n = int(np.shape(f[key])[-1])
                break
    return truth, x, y, n


def parse_roi(
    spec: str,
    shape: tuple[int, int],
    x: FloatArray | None,
    y: FloatArray | None,
    n: int | None,
    margin: int = 0,
) -> tuple[slice, slice] | None:
    """Turn ``--roi`` into ``(row slice, column slice)`` (None = whole image)."""
    from ptycho.metrics import scanned_roi

    spec = spec.strip().lower()
    if spec == "full":
        return None
    if spec == "auto":
        if x is None or y is None or n is None:
            raise ValueError(
                "--roi auto needs xcoords, ycoords and diff3d in the truth NPZ; give an explicit "
                "--roi r0:r1,c0:c1 or --roi full"
            )
        return scanned_roi(x, y, n, shape, margin=margin)
    try:
        rows, cols = spec.split(",")
        r0, r1 = (int(v) for v in rows.split(":"))
        c0, c1 = (int(v) for v in cols.split(":"))
    except ValueError as exc:
        raise ValueError(
            f"cannot parse --roi {spec!r}; use 'auto', 'full' or 'r0:r1,c0:c1' (e.g. 32:200,40:210)"
        ) from exc
    if not (0 <= r0 < r1 <= shape[0] and 0 <= c0 < c1 <= shape[1]):
        raise ValueError(f"--roi {spec} lies outside the {shape[0]} x {shape[1]} object")
    return (slice(r0, r1), slice(c0, c1))


def _jsonable(metrics: Mapping[str, object]) -> dict[str, object]:
    out: dict[str, object] = {}
    for k, v in metrics.items():
        if isinstance(v, float) and not math.isfinite(v):
            out[k] = str(v)
        else:
            out[k] = v
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``ptycho-compare``; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=getattr(logging, args.log_level), format="%(levelname)s %(name)s: %(message)s"
    )
    from ptycho.metrics import compare, format_table

    try:
        recon = load_reconstruction(args.reconstruction)
        truth, x, y, n = load_truth(args.truth)
        if recon.shape != truth.shape:
            raise ValueError(
                f"reconstruction shape {recon.shape} differs from the ground truth "
                f"{truth.shape}; stitch the reconstruction onto the truth's object grid first"
            )
        roi = parse_roi(args.roi, truth.shape, x, y, n, margin=args.margin)
        metrics = compare(recon, truth, roi=roi)
        if args.json_path is not None and not args.json_path.parent.is_dir():
            raise FileNotFoundError(
                f"cannot write {args.json_path}: folder {args.json_path.parent} does not exist"
            )
    except (ValueError, FileNotFoundError) as exc:
        print(f"ptycho-compare: error: {exc}", file=sys.stderr)
        return 1
    name = args.name or args.reconstruction.stem
    rows = metrics["roi_rows"]
    cols = metrics["roi_cols"]
    print(
        f"ROI rows {int(rows[0])}:{int(rows[1])}, cols {int(cols[0])}:{int(cols[1])} "
        f"(of {truth.shape[0]} x {truth.shape[1]}); removed phase offset "
        f"{metrics['phase_offset']:+.4f} rad; amplitude scale {metrics['amp_scale']:.4g}"
    )
    print(format_table({name: metrics}))
    if args.json_path is not None:
        path: Path = args.json_path
        atomic_write_json(path, {name: _jsonable(metrics)})
    return 0


if __name__ == "__main__":
    sys.exit(main())
