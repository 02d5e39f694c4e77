"""What limits the network's own phase: per-patch constant phases (issue 10, bounding experiment).

Run from the repository root (one thread; about 2 minutes per backend)::

    .venv/bin/python benchmarks/bench_group_physics.py --backend pytorch
    .venv/bin/python benchmarks/bench_group_physics.py --backend tensorflow

A held-out simulated scan (``--family``, ``--probe``, 512 positions, N = 64, 1e6 photons, the
``ttq`` scan of ``bench_quality.py``) is reconstructed by the pretrained model (the network's own
image: one patch per group, its central ``M = 20`` px stitched, as ``ptycho-infer`` does), then
each patch is post-processed in three ways that use **only its own group's patterns** or the
overlaps between patches, never a global iteration over the scan:

- *per-group physics*: ``K`` iterations of :func:`ptycho.refine.refine_object` on the group's
  own canvas with the group's own ``gridsize**2`` patterns (what an unrolled network's physics
  layers could do; groups are independent);
- *oracle constant phase*: each patch's constant phase set to the ground truth's over its stitched
  window (uses the truth: a bound, not a method);
- *synchronised*: each patch's constant phase found from the overlaps of the patches' stitched
  windows alone (angular synchronisation: the leading eigenvector of the Hermitian matrix of
  pairwise overlap products, polished by the projected power method), no ground truth.

Amplitude / phase SSIM over the scanned region (amplitude scale fitted, global phase removed).
For reference, global refinement (all patterns, the product's ``refine_iterations``) from the
network's image is printed with its time. What the rows say is in ``benchmarks/README.md``
("The network's own phase: per-patch constants").
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
#: Central window of each patch that is stitched (the product's default, ``M``).
STITCH_CROP = 20
#: Projected power iterations after the eigenvector (synchronisation).
POWER_ITERATIONS = 100
#: Patches up to which the eigenvector is found densely.
DENSE_LIMIT = 4096


def _parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--backend", default="pytorch", choices=("tensorflow", "pytorch"))
    p.add_argument("--family", default="mixed", help="object family of the held-out scan")
    p.add_argument("--probe", default="disk", help="probe kind of the held-out scan")
    p.add_argument("--threads", type=int, default=1, help="intra/inter-op and OMP threads")
    p.add_argument(
        "--iterations",
        default="5,20",
        help="comma-separated per-group physics iterations K (0 = the network alone)",
    )
    p.add_argument("--boost", type=float, default=30.0, help="per-group low-frequency boost")
    return p.parse_args(argv)


def synchronise(patches: np.ndarray, x: np.ndarray, y: np.ndarray, crop: int) -> np.ndarray:
    """Remove each patch's own constant phase using only the overlaps of their central windows.

    Parameters
    ----------
    patches : (B, N, N) complex
        Patches whose pixel ``(N//2, N//2)`` sits on object pixel ``(y_b, x_b)``.
    x, y : (B,) float
        Patch centres in object pixels (rounded to whole pixels for the overlaps).
    crop : int
        Side of the central window of each patch that is compared (the stitched window).

    Returns
    -------
    (B, N, N) complex
        ``patches[b] * exp(-i t_b)`` with ``t`` the phases of ``H_ab = sum_overlap p_a
        conj(p_b)``'s leading eigenvector, polished by the projected power method (angular
        synchronisation; one global phase is left free).
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.linalg import eigsh
    from scipy.spatial import cKDTree

    n = patches.shape[-1]
    lo = n // 2 - crop // 2
    windows = patches[:, lo : lo + crop, lo : lo + crop]
    r0 = np.round(y).astype(int)
    c0 = np.round(x).astype(int)
    pairs = cKDTree(np.stack([r0, c0], axis=1)).query_pairs(crop * np.sqrt(2.0))
    rows, cols, values = [], [], []
    for a, b in pairs:
        dr, dc = r0[b] - r0[a], c0[b] - c0[a]
        if abs(dr) >= crop or abs(dc) >= crop:
            continue
        in_a = (slice(max(dr, 0), crop + min(dr, 0)), slice(max(dc, 0), crop + min(dc, 0)))
        in_b = (slice(max(-dr, 0), crop + min(-dr, 0)), slice(max(-dc, 0), crop + min(-dc, 0)))
        value = np.sum(windows[a][in_a] * np.conj(windows[b][in_b]))
        rows += [a, b]
        cols += [b, a]
        values += [value, np.conj(value)]
    count = len(patches)
    matrix = coo_matrix((values, (rows, cols)), shape=(count, count)).tocsr()
    if count <= DENSE_LIMIT:  # ARPACK's complex Hermitian solution varied from run to run
        phases = np.linalg.eigh(matrix.toarray())[1][:, -1]
    else:
        phases = eigsh(matrix, k=1, which="LA", v0=np.ones(count, complex), tol=1e-10)[1][:, 0]
    # the projected power method: the eigenvector's small entries (weakly overlapped patches)
    # have poorly determined phases; iterating t <- phase(H t) fixes them
    for _ in range(POWER_ITERATIONS):
        phases = matrix @ (phases / np.maximum(np.abs(phases), 1e-30))
    phases = phases / np.maximum(np.abs(phases), 1e-30)
    return patches * np.conj(phases)[:, None, None]


def _oracle(patches: np.ndarray, x: np.ndarray, y: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Each patch's constant phase set to the truth's over its stitched window (a bound)."""
    n = patches.shape[-1]
    lo = n // 2 - STITCH_CROP // 2
    out = np.empty_like(patches)
    for b, patch in enumerate(patches):
        r = round(y[b]) - STITCH_CROP // 2
        c = round(x[b]) - STITCH_CROP // 2
        window = patch[lo : lo + STITCH_CROP, lo : lo + STITCH_CROP]
        true = truth[r : r + STITCH_CROP, c : c + STITCH_CROP]
        out[b] = patch * np.exp(-1j * np.angle(np.sum(window * np.conj(true))))
    return out


def _per_group(
    patches: np.ndarray,
    amplitudes: np.ndarray,
    offsets_relative: np.ndarray,
    probe: np.ndarray,
    iterations: int,
    boost: float,
) -> np.ndarray:
    """``iterations`` refinement passes of every group on its own canvas and patterns.

    ``patches`` (B, N, N) are the group-centre objects, ``amplitudes`` (B, C, N, N) the group's
    patterns, ``offsets_relative`` (B, 1, 2, C) ``-(position - group centre)`` (ARCH-005).
    """
    from ptycho.refine import refine_object

    n = patches.shape[-1]
    pad = int(np.ceil(np.abs(offsets_relative).max())) + 1
    side = n + 2 * pad
    out = np.empty_like(patches)
    for b, patch in enumerate(patches):
        covered = patch != 0  # the network leaves the patch's rim empty (ARCH-014)
        canvas = np.full((side, side), patch[covered].mean(), dtype=np.complex64)
        canvas[pad : pad + n, pad : pad + n] = np.where(covered, patch, canvas[0, 0])
        x = side / 2 - offsets_relative[b, 0, 0, :]
        y = side / 2 - offsets_relative[b, 0, 1, :]
        result = refine_object(
            canvas, probe, amplitudes[b], x, y, iterations=iterations, low_frequency_boost=boost
        )
        out[b] = result.object[pad : pad + n, pad : pad + n]
    return out


def run(args: argparse.Namespace) -> None:
    from bench_quality import ttq_scan

    from ptycho.loader import container_from_raw
    from ptycho.metrics import compare
    from ptycho.pretrained import archive_path
    from ptycho.probe import normalize_probe
    from ptycho.refine import refine_object
    from ptycho.stitching import stitch_patches
    from ptycho.workflows.backend_selector import (
        get_backend,
        load_inference_bundle_with_backend,
    )

    raw, truth, region, _ = ttq_scan(args.family, args.probe)
    probe = normalize_probe(raw.probeGuess)
    bundle = load_inference_bundle_with_backend(archive_path(), backend=args.backend)
    container = container_from_raw(raw, 64, gridsize=bundle.gridsize, seed=45, K=4)
    start = time.perf_counter()
    patches = get_backend(args.backend).predict_patches(bundle, container, 128, probe=probe)
    patches = np.asarray(patches)[..., 0]
    predict_seconds = time.perf_counter() - start
    offsets = np.asarray(container.global_offsets, dtype=np.float64)
    x, y = offsets[:, 0, 0, 0], offsets[:, 0, 1, 0]
    amplitudes = np.transpose(np.asarray(container.X), (0, 3, 1, 2))
    relative = np.asarray(container.local_offsets, dtype=np.float64)

    def stitched(p: np.ndarray) -> np.ndarray:
        return stitch_patches(p, x, y, truth.shape, crop=STITCH_CROP)

    def row(name: str, obj: np.ndarray, seconds: float) -> None:
        m = compare(obj, truth, region)
        print(
            f"  {name:<46} amp {m['amp_ssim']:.3f} phase {m['phase_ssim']:.3f} ({seconds:5.1f} s)",
            flush=True,
        )

    print(
        f"{args.family}/{args.probe} scan, 512 positions, {len(patches)} groups, pretrained "
        f"model, {args.backend}, {args.threads} thread(s); prediction {predict_seconds:.2f} s"
    )
    for k in sorted({0, *(int(v) for v in args.iterations.split(","))}):
        t0 = time.perf_counter()
        group = (
            patches if k == 0 else _per_group(patches, amplitudes, relative, probe, k, args.boost)
        )
        seconds = predict_seconds + time.perf_counter() - t0
        label = "network alone" if k == 0 else f"network + {k} per-group physics"
        row(label, stitched(group), seconds)
        row("  oracle constant phase per patch (truth)", stitched(_oracle(group, x, y, truth)), 0)
        t1 = time.perf_counter()
        synced = synchronise(group, x, y, STITCH_CROP)
        row("  synchronised constant phases", stitched(synced), seconds + time.perf_counter() - t1)
    network_object = stitched(patches)
    filled = network_object.copy()
    empty = filled == 0
    filled[empty] = filled[~empty].mean()
    for iterations in (20, 50):
        t0 = time.perf_counter()
        refined = refine_object(
            filled, probe, raw.diff3d, raw.xcoords, raw.ycoords, iterations=iterations
        ).object
        seconds = predict_seconds + time.perf_counter() - t0
        row(f"network + {iterations} global refinement (reference)", refined, seconds)


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    os.environ["OMP_NUM_THREADS"] = str(args.threads)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.path.insert(0, str(REPO))
    logging.disable(logging.WARNING)  # the per-group refinements' restart warnings
    if args.backend == "pytorch":
        import torch

        torch.set_num_threads(args.threads)
    else:
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    run(args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
