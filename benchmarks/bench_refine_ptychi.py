"""Our refinement against pty-chi LSQML on the real Siemens-star scan (issue 14, goal 3).

pty-chi is a comparison engine, never a dependency: it runs in its own virtual environment::

    python3 -m venv /tmp/ptychi_venv
    /tmp/ptychi_venv/bin/pip install "torch==2.13.0" "ptychi==2.2.0"
    .venv/bin/python benchmarks/bench_refine_ptychi.py --ptychi-python /tmp/ptychi_venv/bin/python

Both start from a flat object and the scan's zone-plate probe guess, refine the probe too and run
on one thread. pty-chi LSQML (Gaussian noise model, batch 96, SGD step 1, as in its own tests)
runs ``--ptychi-epochs`` epochs; its last object is the reference. Our ``refine_object`` runs
25, 50, 100 and 200 iterations (separate runs); the reference is registered onto each of our
objects (integer shift by phase correlation) and ours is scored with phase SSIM (global phase
removed) over the scanned region. Printed: pty-chi's time for the reference, and our time to
phase SSIM 0.90 and 0.95 against it.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
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
start = time.perf_counter()
task.run()
seconds = time.perf_counter() - start
obj = np.asarray(task.get_data_to_cpu("object", as_numpy=True)).reshape(-1, *size)[0]
np.save(out, obj)
print(json.dumps({"seconds": seconds, "shape": list(obj.shape)}))
"""


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


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    os.environ["OMP_NUM_THREADS"] = "1"
    sys.path.insert(0, str(REPO))
    from ptycho.metrics import compare, scanned_roi
    from ptycho.refine import refine_object
    from ptycho.tike_npz import load_tike_npz

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "ptychi_object.npy"
        env = dict(os.environ, OMP_NUM_THREADS="1")
        run = subprocess.run(
            [
                str(args.ptychi_python),
                "-c",
                PTYCHI_SCRIPT,
                str(SIEMENS),
                str(args.ptychi_epochs),
                str(out),
            ],
            check=True,
            capture_output=True,
            text=True,
            env=env,
        )
        ptychi = json.loads(run.stdout.strip().splitlines()[-1])
        reference = np.load(out)
    print(f"pty-chi LSQML {args.ptychi_epochs} epochs: {ptychi['seconds']:.1f} s", flush=True)

    raw = load_tike_npz(SIEMENS)
    roi = scanned_roi(raw.xcoords, raw.ycoords, raw.N, raw.objectGuess.shape, margin=16)
    probe = raw.probeGuess[0] if raw.probeGuess.ndim == 3 else raw.probeGuess
    rows = []
    for iterations in (i for i in CHECKPOINTS if i <= args.iterations):
        t0 = time.perf_counter()
        result = refine_object(
            np.ones_like(raw.objectGuess),
            probe,
            raw.diff3d,
            raw.xcoords,
            raw.ycoords,
            iterations=iterations,
            refine_probe=True,
        )
        seconds = time.perf_counter() - t0
        aligned = _register(reference, result.object)
        score = float(compare(result.object, aligned, roi)["phase_ssim"])
        rows.append((iterations, seconds, score))
        print(f"ours {iterations} iterations: {seconds:.1f} s, phase SSIM {score:.3f}", flush=True)
    for goal in (0.90, 0.95):
        hit = next((r for r in rows if r[2] >= goal), None)
        text = f"{hit[1]:.1f} s ({hit[0]} iterations)" if hit else "not reached"
        print(f"ours to phase SSIM {goal:.2f} against pty-chi: {text}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
