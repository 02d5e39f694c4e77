"""pty-chi 2.2 LSQML in its own interpreter, and putting its object onto our grid.

pty-chi is a comparison engine for benchmarks, never a dependency of ``ptychopinn``; it runs in
its own virtual environment::

    python3 -m venv /tmp/ptychi_venv
    /tmp/ptychi_venv/bin/pip install "torch==2.13.0" "ptychi==2.2.0"

Used by ``bench_refine_ptychi.py`` (the real Siemens star) and ``bench_quality.py ttq
--ptychi-python`` (a simulated scan with ground truth).
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

#: Runs in pty-chi's interpreter: LSQML (Gaussian noise model, batch 96, SGD step 1, as in its
#: own tests) on the scan of ``scan.npz``, one thread; saves the object and probe at each kept
#: epoch count and prints the cumulative seconds.
SCRIPT = """
import json, sys, time
import numpy as np, torch
torch.set_num_threads(1)
import ptychi.api as api
from ptychi.api.task import PtychographyTask
from ptychi.utils import get_suggested_object_size, get_default_complex_dtype
folder = sys.argv[1]
d = np.load(folder + "/scan.npz")
counts, probe, x, y = d["counts"], d["probe"], d["x"], d["y"]
keep_at = [int(v) for v in d["checkpoints"]]
if d["shape"].size:
    size = tuple(int(v) for v in d["shape"])
else:
    size = get_suggested_object_size(np.stack([y, x], axis=1), probe.shape[-2:], extra=100)
options = api.LSQMLOptions()
options.data_options.data = torch.from_numpy(counts.astype(np.float32))
options.object_options.initial_guess = torch.ones((1, *size), dtype=get_default_complex_dtype())
options.object_options.pixel_size_m = 1.0
options.object_options.optimizable = True
options.object_options.optimizer = api.Optimizers.SGD
options.object_options.step_size = 1
options.probe_options.initial_guess = torch.from_numpy(
    probe.reshape(1, 1, *probe.shape[-2:]).astype(np.complex64))
options.probe_options.optimizable = bool(d["refine_probe"])
options.probe_options.optimizer = api.Optimizers.SGD
options.probe_options.step_size = 1
options.probe_position_options.position_x_px = x.astype(np.float64)
options.probe_position_options.position_y_px = y.astype(np.float64)
options.probe_position_options.optimizable = False
options.reconstructor_options.batch_size = 96
options.reconstructor_options.noise_model = api.NoiseModels.GAUSSIAN
options.reconstructor_options.num_epochs = max(keep_at)
task = PtychographyTask(options)
seconds, done = 0.0, 0
for keep in keep_at:
    start = time.perf_counter()
    task.run(n_epochs=keep - done)
    seconds += time.perf_counter() - start
    done = keep
    obj = np.asarray(task.get_data_to_cpu("object", as_numpy=True)).reshape(-1, *size)[0]
    prb = np.asarray(task.get_data_to_cpu("probe", as_numpy=True)).reshape(-1, *probe.shape[-2:])
    np.save(f"{folder}/object_{keep}.npy", obj)
    np.save(f"{folder}/probe_{keep}.npy", prb[0])
    print(json.dumps({"epochs": keep, "seconds": seconds}), flush=True)
"""

#: Sub-pixel shifts (pixels, each axis) tried when putting pty-chi's object onto our grid.
QUARTER_SHIFTS = (-0.25, 0.0, 0.25, 0.5)


@dataclass(frozen=True)
class PtychiState:
    """pty-chi's reconstruction after ``epochs`` epochs (``seconds`` cumulative, one thread)."""

    epochs: int
    seconds: float
    object: np.ndarray
    probe: np.ndarray


def run_lsqml(
    python: Path,
    counts: np.ndarray,
    probe: np.ndarray,
    x: np.ndarray,
    y: np.ndarray,
    *,
    checkpoints: tuple[int, ...],
    refine_probe: bool,
    shape: tuple[int, int] | None = None,
) -> list[PtychiState]:
    """pty-chi LSQML from a flat object, its state at each of ``checkpoints`` (epochs).

    Parameters
    ----------
    python : Path
        pty-chi's interpreter.
    counts : (M, N, N) float
        Measured intensities, zero frequency at ``(N/2, N/2)`` (pty-chi's layout and ours,
        ARCH-001).
    probe : (N, N) complex
        Probe (guess), in the data's intensity scale.
    x, y : (M,) float
        Probe positions in pixels relative to the object's centre (x = column, y = row).
    refine_probe : bool
        Let pty-chi refine the probe too.
    shape : (H, W), optional
        Object grid; default pty-chi's suggested size (positions' extent + N + 100).
    """
    with tempfile.TemporaryDirectory() as tmp:
        np.savez(
            Path(tmp) / "scan.npz",
            counts=np.asarray(counts, dtype=np.float32),
            probe=np.asarray(probe, dtype=np.complex64),
            x=np.asarray(x, dtype=np.float64),
            y=np.asarray(y, dtype=np.float64),
            checkpoints=np.array(sorted(set(checkpoints))),
            refine_probe=np.array(refine_probe),
            shape=np.array(shape if shape is not None else (), dtype=np.int64),
        )
        run = subprocess.run(
            [str(python), "-c", SCRIPT, tmp],
            check=True,
            capture_output=True,
            text=True,
            env=dict(os.environ, OMP_NUM_THREADS="1"),
        )
        rows = [json.loads(line) for line in run.stdout.splitlines() if line.startswith("{")]
        return [
            PtychiState(
                int(r["epochs"]),
                float(r["seconds"]),
                np.load(Path(tmp) / f"object_{r['epochs']}.npy"),
                np.load(Path(tmp) / f"probe_{r['epochs']}.npy"),
            )
            for r in rows
        ]


def register(moving: np.ndarray, reference: np.ndarray) -> np.ndarray:
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


def shifted(image: np.ndarray, dy: float, dx: float) -> np.ndarray:
    """``image`` moved by (dy, dx) pixels (Fourier shift, periodic)."""
    ky = np.fft.fftfreq(image.shape[0])[:, None]
    kx = np.fft.fftfreq(image.shape[1])[None, :]
    phase = np.exp(-2j * np.pi * (ky * dy + kx * dx))
    return np.fft.ifft2(np.fft.fft2(image) * phase).astype(np.complex64)
