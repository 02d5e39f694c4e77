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
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
SIEMENS = REPO.parent / "shared" / "data" / "siemens-star-small.npz.bz2"
CHECKPOINTS = (25, 50, 100, 200)

#: Runs in pty-chi's interpreter: LSQML on the scan, the final object and the seconds it took.
PTYCHI_SCRIPT = """
import bz2, io, json, sys, time
import numpy as np, torch
torch.set_num_threads(1)
import ptychi.api as api
from ptychi.api.task import PtychographyTask
from ptychi.utils import get_suggested_object_size, get_default_complex_dtype
source, epochs, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
with bz2.open(source) as f:
    arrays = np.load(io.BytesIO(f.read()))
    counts = np.fft.fftshift(arrays["data"].reshape(-1, *arrays["data"].shape[-2:]), axes=(-2, -1))
    probe = arrays["probe"].reshape(1, 1, *arrays["probe"].shape[-2:])
    scan = arrays["scan"].reshape(-1, 2).astype(np.float64)
options = api.LSQMLOptions()
options.data_options.data = torch.from_numpy(counts.astype(np.float32))
size = get_suggested_object_size(scan, probe.shape[-2:], extra=100)
options.object_options.initial_guess = torch.ones((1, *size), dtype=get_default_complex_dtype())
options.object_options.pixel_size_m = 1.0
options.object_options.optimizable = True
options.object_options.optimizer = api.Optimizers.SGD
options.object_options.step_size = 1
options.probe_options.initial_guess = torch.from_numpy(probe.astype(np.complex64))
options.probe_options.optimizable = True
options.probe_options.optimizer = api.Optimizers.SGD
options.probe_options.step_size = 1
options.probe_position_options.position_x_px = scan[:, 1]
options.probe_position_options.position_y_px = scan[:, 0]
options.probe_position_options.optimizable = False
options.reconstructor_options.batch_size = 96
options.reconstructor_options.noise_model = api.NoiseModels.GAUSSIAN
options.reconstructor_options.num_epochs = epochs
task = PtychographyTask(options)
seconds, done = 0.0, 0
for keep in sorted({k for k in (5, 10, 20, 30) if k < epochs} | {epochs}):
    start = time.perf_counter()
    task.run(n_epochs=keep - done)
    seconds += time.perf_counter() - start
    done = keep
    obj = np.asarray(task.get_data_to_cpu("object", as_numpy=True)).reshape(-1, *size)[0]
    prb = np.asarray(task.get_data_to_cpu("probe", as_numpy=True)).reshape(-1, *probe.shape[-2:])
    np.save(f"{out}/object_{keep}.npy", obj)
    np.save(f"{out}/probe_{keep}.npy", prb[0])
    print(json.dumps({"epochs": keep, "seconds": seconds}), flush=True)
"""
#: Sub-pixel shifts (pixels, each axis) tried when putting pty-chi's object onto our grid.
QUARTER_SHIFTS = (-0.25, 0.0, 0.25, 0.5)


def _parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--ptychi-python", type=Path, required=True, help="pty-chi's interpreter")
    p.add_argument("--ptychi-epochs", type=int, default=50)
    p.add_argument("--iterations", type=int, default=200)
    return p.parse_args(argv)


def _register(moving: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """``moving`` shifted (integer pixels, by phase correlation of the phase images) onto the
    grid of ``reference`` (cropped or zero-padded to its shape). The phase image of the unit
    object's surroundings is zero, so the flat margins do not bias the correlation."""
    h = max(moving.shape[0], reference.shape[0])
    w = max(moving.shape[1], reference.shape[1])

    def padded(a: np.ndarray) -> np.ndarray:
        out = np.zeros((h, w), dtype=np.complex64)
        out[: a.shape[0], : a.shape[1]] = a
        return out

    a, b = padded(np.angle(moving)), padded(np.angle(reference))
    cross = np.fft.ifft2(np.fft.fft2(b) * np.conj(np.fft.fft2(a)))
    dy, dx = np.unravel_index(int(np.argmax(np.abs(cross))), cross.shape)
    shifted = np.roll(padded(moving), (int(dy), int(dx)), axis=(0, 1))
    return shifted[: reference.shape[0], : reference.shape[1]]


def _shifted(image: np.ndarray, dy: float, dx: float) -> np.ndarray:
    """``image`` moved by (dy, dx) pixels (Fourier shift, periodic)."""
    ky = np.fft.fftfreq(image.shape[0])[:, None]
    kx = np.fft.fftfreq(image.shape[1])[None, :]
    phase = np.exp(-2j * np.pi * (ky * dy + kx * dx))
    return np.fft.ifft2(np.fft.fft2(image) * phase).astype(np.complex64)


def _run_ptychi(python: Path, epochs: int, folder: Path) -> list[tuple[int, float]]:
    """pty-chi in its own interpreter; (epochs, cumulative seconds) of each kept state."""
    run = subprocess.run(
        [str(python), "-c", PTYCHI_SCRIPT, str(SIEMENS), str(epochs), str(folder)],
        check=True,
        capture_output=True,
        text=True,
        env=dict(os.environ, OMP_NUM_THREADS="1"),
    )
    rows = [json.loads(line) for line in run.stdout.splitlines() if line.startswith("{")]
    return [(int(r["epochs"]), float(r["seconds"])) for r in rows]


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
        return float(compare(ours, _register(reference, ours), roi)["phase_ssim"])

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

    with tempfile.TemporaryDirectory() as tmp:
        kept = _run_ptychi(args.ptychi_python, args.ptychi_epochs, Path(tmp))
        states = {
            e: (np.load(Path(tmp) / f"object_{e}.npy"), np.load(Path(tmp) / f"probe_{e}.npy"))
            for e, _ in kept
        }
    final_epochs, final_seconds = kept[-1]
    reference = states[final_epochs][0]
    print(f"pty-chi LSQML {final_epochs} epochs: {final_seconds:.1f} s (one thread)")

    print("\ndata consistency (normalised amplitude error, same code for both engines)")
    ptychi_error: dict[int, float] = {}
    for e, seconds in kept:
        on_grid = _register(states[e][0], grid)
        ptychi_error[e] = min(
            data_error(_shifted(on_grid, dy, dx), states[e][1])
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
