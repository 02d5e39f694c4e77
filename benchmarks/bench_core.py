"""Benchmark of the framework-free core: grouping and stitching against per-item Python loops.

Usage (from the repository root)::

    python benchmarks/bench_core.py [--repeats 3] [--threads 1]

It times, in one run and on the same data,

(a) grouping 100,000 scan positions with gridsize 2 via :func:`ptycho.grouping.group_positions`
    against a straightforward loop (one ``cKDTree.query`` plus one ``rng.choice`` per seed). The
    loop is timed on the first ``--loop-subset`` seeds (default 10,000, against the tree of all
    100,000 positions) and scaled linearly to 100,000; the output says so;
(b) stitching 10,000 patches (N=64, central crop 20) with :func:`ptycho.stitching.stitch_patches`
    against a per-patch loop that translates each cropped patch by its sub-pixel remainder onto
    its own ``(crop+1) x (crop+1)`` canvas region (four weighted slice additions, the bilinear
    rule of ARCH-003) and accumulates the sum and the coverage.

It prints the median wall time over ``--repeats`` runs of each, the ratio loop / vectorised, the
thread count, and the largest difference between the two stitching results. The thread
environment variables (OMP/OPENBLAS/MKL/NUMEXPR) are set before NumPy is imported.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS")


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3, help="timed repeats (median reported)")
    parser.add_argument("--threads", type=int, default=1, help="BLAS/OpenMP threads")
    parser.add_argument("--positions", type=int, default=100_000, help="positions to group")
    parser.add_argument(
        "--loop-subset",
        type=int,
        default=10_000,
        help="seeds timed in the grouping loop baseline (scaled linearly to --positions)",
    )
    parser.add_argument("--patches", type=int, default=10_000, help="patches to stitch")
    parser.add_argument("--seed", type=int, default=0, help="seed of the synthetic data")
    args = parser.parse_args(argv)
    for name in ("repeats", "threads", "positions", "loop_subset", "patches"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1")
    return args


def _median_time(func: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    times = []
    result: Any = None
    for _ in range(repeats):
        start = time.perf_counter()
        result = func()
        times.append(time.perf_counter() - start)
    times.sort()
    return times[len(times) // 2], result


def _bench_grouping(args: argparse.Namespace) -> None:
    import numpy as np
    from scipy.spatial import cKDTree

    try:
        from ptycho.grouping import group_positions
    except ImportError as exc:
        print(f"(a) grouping: SKIPPED - ptycho.grouping.group_positions is not available ({exc})")
        return

    gridsize, k_nn = 2, 4
    c = gridsize * gridsize
    rng = np.random.default_rng(args.seed)
    side = int(np.ceil(np.sqrt(args.positions)))
    grid = np.stack(np.meshgrid(np.arange(side), np.arange(side)), axis=-1).reshape(-1, 2)
    pos = grid[: args.positions] * 5.0 + rng.uniform(-1.0, 1.0, size=(args.positions, 2))
    x, y = pos[:, 0].copy(), pos[:, 1].copy()

    def vectorised() -> np.ndarray:
        return group_positions(x, y, gridsize, n_groups=None, K=k_nn, seed=args.seed)

    subset = min(args.loop_subset, args.positions)

    def loop() -> tuple[float, float]:
        loop_rng = np.random.default_rng(args.seed)
        t0 = time.perf_counter()
        tree = cKDTree(np.stack([x, y], axis=1))
        t1 = time.perf_counter()
        groups = np.empty((subset, c), dtype=np.int64)
        for seed_index in range(subset):
            _, nbrs = tree.query((x[seed_index], y[seed_index]), k=k_nn + 1)
            nbrs = nbrs[nbrs != seed_index][:k_nn]
            groups[seed_index, 0] = seed_index
            groups[seed_index, 1:] = loop_rng.choice(nbrs, size=c - 1, replace=False)
        t2 = time.perf_counter()
        return t1 - t0, t2 - t1

    t_vec, groups = _median_time(vectorised, args.repeats)
    loop_runs = [loop() for _ in range(args.repeats)]
    builds = sorted(r[0] for r in loop_runs)
    loops = sorted(r[1] for r in loop_runs)
    scale = args.positions / subset
    t_loop = builds[len(builds) // 2] + loops[len(loops) // 2] * scale
    print(
        f"(a) grouping {args.positions:,} positions, gridsize {gridsize} (C={c}), K={k_nn}, "
        f"{groups.shape[0]:,} groups"
    )
    print(f"    group_positions (vectorised): median {t_vec:.3f} s")
    note = ""
    if subset != args.positions:
        note = (
            f" (loop timed on {subset:,} seeds and scaled linearly x{scale:g}; "
            "tree build not scaled)"
        )
    print(f"    per-seed Python loop:         median {t_loop:.3f} s{note}")
    print(f"    ratio loop / vectorised:      {t_loop / t_vec:.1f}x")


def _bench_stitching(args: argparse.Namespace) -> None:
    import numpy as np

    from ptycho.stitching import stitch_patches

    n, crop = 64, 20
    rng = np.random.default_rng(args.seed + 1)
    side = int(np.ceil(np.sqrt(args.patches)))
    grid = np.stack(np.meshgrid(np.arange(side), np.arange(side)), axis=-1).reshape(-1, 2)
    pos = 40.0 + grid[: args.patches] * 5.0 + rng.uniform(-0.5, 0.5, size=(args.patches, 2))
    x, y = pos[:, 0].copy(), pos[:, 1].copy()
    shape = (int(y.max()) + 40, int(x.max()) + 40)
    shape_p = (args.patches, n, n)
    patches = (rng.normal(size=shape_p) + 1j * rng.normal(size=shape_p)).astype(np.complex64)

    def vectorised() -> np.ndarray:
        return stitch_patches(patches, x, y, shape, crop=crop)

    def loop() -> np.ndarray:
        total = np.zeros(shape, dtype=np.complex128)
        weight = np.zeros(shape, dtype=np.float64)
        start = n // 2 - crop // 2
        for p in range(args.patches):
            crop_p = patches[p, start : start + crop, start : start + crop].astype(np.complex128)
            fx, fy = np.floor(x[p]), np.floor(y[p])
            dx, dy = x[p] - fx, y[p] - fy
            r0, c0 = int(fy) - crop // 2, int(fx) - crop // 2
            # translate by the sub-pixel remainder onto the (crop+1)^2 region (bilinear, ARCH-003)
            for (ro, co), w in (
                ((0, 0), (1 - dy) * (1 - dx)),
                ((0, 1), (1 - dy) * dx),
                ((1, 0), dy * (1 - dx)),
                ((1, 1), dy * dx),
            ):
                rows = slice(r0 + ro, r0 + ro + crop)
                cols = slice(c0 + co, c0 + co + crop)
                total[rows, cols] += w * crop_p
                weight[rows, cols] += w
        out = np.zeros(shape, dtype=np.complex128)
        np.divide(total, np.maximum(weight, 1e-9), out=out, where=weight > 0)
        return out

    t_vec, stitched = _median_time(vectorised, args.repeats)
    t_loop, looped = _median_time(loop, args.repeats)
    diff = float(np.max(np.abs(stitched - looped)))
    print(
        f"(b) stitching {args.patches:,} patches, N={n}, crop {crop}, canvas {shape[0]}x{shape[1]}"
    )
    print(f"    stitch_patches (vectorised):  median {t_vec:.3f} s")
    print(f"    per-patch Python loop:        median {t_loop:.3f} s")
    print(f"    ratio loop / vectorised:      {t_loop / t_vec:.1f}x")
    print(f"    max |vectorised - loop|:      {diff:.2e} (complex64 output vs float64 loop)")


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print its summary; returns the exit status."""
    args = _parse(argv)
    for name in _THREAD_VARS:
        os.environ[name] = str(args.threads)
    if "numpy" in sys.modules:  # only when called in-process after numpy was imported
        print("warning: numpy was imported before the thread variables were set")
    root = str(Path(__file__).resolve().parents[1])
    if root not in sys.path:
        sys.path.insert(0, root)
    import numpy as np

    print(
        f"core benchmark: numpy {np.__version__}, threads {args.threads} "
        f"({', '.join(_THREAD_VARS)}), repeats {args.repeats}, cpu_count {os.cpu_count()}"
    )
    _bench_grouping(args)
    _bench_stitching(args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
