"""Our refinement against pty-chi LSQML on the real Siemens-star scan (issue 14, goal 3).

pty-chi is a comparison engine, never a dependency: it runs in its own virtual environment::

    python3 -m venv /tmp/ptychi_venv
    /tmp/ptychi_venv/bin/pip install "torch==2.13.0" "ptychi==2.2.0"
    .venv/bin/python benchmarks/bench_refine_ptychi.py --ptychi-python /tmp/ptychi_venv/bin/python

Both start from a flat object and the scan's zone-plate probe guess, refine the probe too and run
on one thread. pty-chi LSQML (Gaussian noise model, batch 96, SGD step 1, as in its own tests)
runs ``--ptychi-epochs`` epochs and keeps its object and probe at a few epoch counts on the way;
its last object is the reference. Our ``refine_object`` runs 25, 50, 100 and 200 iterations
(separate runs).

Two criteria are printed:

* **Data consistency** (the fair one): the normalised amplitude error
  ``sum (|F(P o_j)| - sqrt(I_j))^2 / sum I_j`` of each engine's object *and* probe, computed by
  the same code (ours, ``refine_object(..., iterations=0)``: it also fits the probe's scale).
  pty-chi's object is put onto our grid by phase correlation and the best of 16 quarter-pixel
  shifts is taken (generous to pty-chi). Printed: pty-chi's error at each kept epoch count, and
  our time to pty-chi's final error.
* **Agreement with pty-chi's image**: the reference registered onto each of our objects (integer
  shift by phase correlation), ours scored with phase SSIM (global phase removed) over the
  scanned region, and the same score for pty-chi's own earlier epochs against its last one (its
  self-agreement, which bounds what this criterion can ask of another engine).
"""

from __future__ import annotations

import argparse
import bz2
import io
import os
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))

from ptychi_runner import QUARTER_SHIFTS, register, run_lsqml, shifted  # noqa: E402

SIEMENS = REPO.parent / "shared" / "data" / "siemens-star-small.npz.bz2"
CHECKPOINTS = (25, 50, 100, 200)


def _parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--ptychi-python", type=Path, required=True, help="pty-chi's interpreter")
    p.add_argument("--ptychi-epochs", type=int, default=50)
    p.add_argument("--iterations", type=int, default=200)
    return p.parse_args(argv)


def _siemens_for_ptychi() -> dict[str, np.ndarray]:
    """The Siemens-star file's counts (zero frequency moved to the centre), probe and positions
    (``scan`` is (y, x) in pixels), as pty-chi reads them."""
    with bz2.open(SIEMENS) as f:
        arrays = np.load(io.BytesIO(f.read()))
        data = arrays["data"].reshape(-1, *arrays["data"].shape[-2:])
        scan = arrays["scan"].reshape(-1, 2).astype(np.float64)
        return {
            "counts": np.fft.fftshift(data, axes=(-2, -1)),
            "probe": arrays["probe"].reshape(arrays["probe"].shape[-2:]),
            "x": scan[:, 1],
            "y": scan[:, 0],
        }


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    os.environ["OMP_NUM_THREADS"] = "1"
    sys.path.insert(0, str(REPO))
    from ptycho.metrics import compare, scanned_roi
    from ptycho.refine import refine_object
    from ptycho.tike_npz import load_tike_npz

    raw = load_tike_npz(SIEMENS)
    roi = scanned_roi(raw.xcoords, raw.ycoords, raw.N, raw.objectGuess.shape, margin=16)
    probe = raw.probeGuess[0] if raw.probeGuess.ndim == 3 else raw.probeGuess

    def data_error(obj: np.ndarray, prb: np.ndarray) -> float:
        result = refine_object(obj, prb, raw.diff3d, raw.xcoords, raw.ycoords, iterations=0)
        return float(result.errors[0])

    def phase_ssim(ours: np.ndarray, reference: np.ndarray) -> float:
        return float(compare(ours, register(reference, ours), roi)["phase_ssim"])

    ours: dict[int, tuple[float, np.ndarray, list[float]]] = {}
    for iterations in (i for i in CHECKPOINTS if i <= args.iterations):
        result = refine_object(
            np.ones_like(raw.objectGuess),
            probe,
            raw.diff3d,
            raw.xcoords,
            raw.ycoords,
            iterations=iterations,
            refine_probe=True,
        )
        ours[iterations] = (result.seconds, result.object, result.errors)
    last = max(ours)
    grid = ours[last][1]

    siemens = _siemens_for_ptychi()
    kept_at = (*(k for k in (5, 10, 20, 30) if k < args.ptychi_epochs), args.ptychi_epochs)
    runs = run_lsqml(
        args.ptychi_python,
        siemens["counts"],
        siemens["probe"],
        siemens["x"],
        siemens["y"],
        checkpoints=kept_at,
        refine_probe=True,
    )
    kept = [(r.epochs, r.seconds) for r in runs]
    states = {r.epochs: (r.object, r.probe) for r in runs}
    final_epochs, final_seconds = kept[-1]
    reference = states[final_epochs][0]
    print(f"pty-chi LSQML {final_epochs} epochs: {final_seconds:.1f} s (one thread)")

    print("\ndata consistency (normalised amplitude error, same code for both engines)")
    ptychi_error: dict[int, float] = {}
    for e, seconds in kept:
        on_grid = register(states[e][0], grid)
        ptychi_error[e] = min(
            data_error(shifted(on_grid, dy, dx), states[e][1])
            for dy in QUARTER_SHIFTS
            for dx in QUARTER_SHIFTS
        )
        agreement = phase_ssim(reference, states[e][0]) if e != final_epochs else 1.0
        print(
            f"  pty-chi {e:4d} epochs {seconds:6.1f} s: error {ptychi_error[e]:.5f}, "
            f"phase SSIM against its own {final_epochs}-epoch image {agreement:.3f}"
        )
    seconds_per_iteration = ours[last][0] / last
    agreement_ours = {i: phase_ssim(obj, reference) for i, (_, obj, _) in ours.items()}
    for iterations, (seconds, _, errors) in sorted(ours.items()):
        print(
            f"  ours {iterations:4d} iterations {seconds:6.1f} s: error {errors[-1]:.5f}, "
            f"phase SSIM against pty-chi {final_epochs} {agreement_ours[iterations]:.3f}"
        )
    target = ptychi_error[final_epochs]
    hit = next((k for k, err in enumerate(ours[last][2]) if err <= target), None)
    if hit is None:
        print(f"ours to pty-chi's final error {target:.5f}: not reached in {last} iterations")
    else:
        seconds = hit * seconds_per_iteration
        print(
            f"ours to pty-chi's final error {target:.5f}: {seconds:.1f} s ({hit} iterations), "
            f"pty-chi {final_seconds:.1f} s: ratio {seconds / final_seconds:.2f}"
        )
    for goal in (0.90, 0.95):
        reached = next((i for i in sorted(ours) if agreement_ours[i] >= goal), None)
        text = (
            "not reached" if reached is None else f"{ours[reached][0]:.1f} s ({reached} iterations)"
        )
        print(f"ours to phase SSIM {goal:.2f} against pty-chi's image: {text}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
