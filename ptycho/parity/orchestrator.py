"""The parity run: simulate, launch each backend's worker subprocess, evaluate, write.

This process imports neither TensorFlow nor torch. Each backend runs in its own subprocess,
``python -m <PARITY_WORKERS[backend]> TASK_JSON``, in the order of :data:`WORKER_SCHEDULE`;
arrays travel through ``.npz`` files in a temporary working directory.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ptycho.parity.evaluate import evaluate
from ptycho.parity.outputs import write_outputs
from ptycho.parity.reference import physics_inputs, physics_reference
from ptycho.parity.settings import (
    LABELS,
    PARITY_WORKERS,
    SIZES,
    WORKER_SCHEDULE,
    ParityResult,
)
from ptycho.parity.task import shared_configs, simulate_data

__all__ = ["WORKER_ARRAYS", "run_parity", "run_worker"]

logger = logging.getLogger(__name__)

#: The ``.npz`` files (``<name>.npz`` in the working directory) the workers write, by name.
WORKER_ARRAYS: tuple[str, ...] = (
    "physics_tensorflow",
    "physics_pytorch",
    "sw_tf_native",
    "sw_tf_on_torch",
    "sw_torch_native",
    "sw_torch_on_tf",
    "train_tensorflow",
    "train_pytorch",
)

#: The directory holding the ``ptycho`` package; put first on the workers' ``PYTHONPATH`` so
#: they import this same source tree.
_SOURCE_ROOT = Path(__file__).resolve().parents[2]


def run_worker(
    backend: str,
    task: Mapping[str, Any],
    work: Path,
    timeout: float,
    workers: Mapping[str, str] = PARITY_WORKERS,
) -> dict[str, Any]:
    """Run one worker subprocess on ``task`` and return its JSON result.

    Parameters
    ----------
    backend : str
        A key of ``workers``.
    task : mapping
        The task (JSON-serialisable; ``phase`` names the worker run); ``result`` and ``work``
        are added and the task is written to ``work/task_<backend>_<phase>.json``.
    work : Path
        The working directory (the subprocess's cwd; it writes its ``.npz`` files there).
    timeout : float
        Seconds the subprocess may run.
    workers : mapping
        Backend name -> worker module (default :data:`PARITY_WORKERS`).

    Returns
    -------
    dict
        The worker's result JSON with ``wall_s`` (seconds the subprocess ran) added.

    Raises
    ------
    RuntimeError
        The worker exited non-zero or wrote no result (the message holds its stderr's tail).
    subprocess.TimeoutExpired
        The worker ran longer than ``timeout``.
    """
    name = f"{backend}_{task['phase']}"
    task_path = work / f"task_{name}.json"
    result_path = work / f"result_{name}.json"
    task = dict(task, result=str(result_path), work=str(work))
    task_path.write_text(json.dumps(task, indent=1))
    env = dict(os.environ)
    root = str(_SOURCE_ROOT)
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    cmd = [sys.executable, "-m", workers[backend], str(task_path)]
    started = time.perf_counter()
    proc = subprocess.run(
        cmd, cwd=work, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    elapsed = time.perf_counter() - started
    if proc.returncode != 0 or not result_path.is_file():
        tail = (proc.stderr or "")[-4000:]
        raise RuntimeError(
            f"the {LABELS.get(backend, backend)} parity worker ({task['phase']}) failed with "
            f"exit code {proc.returncode}:\n{tail}"
        )
    result: dict[str, Any] = json.loads(result_path.read_text())
    result["wall_s"] = elapsed
    logger.info("%s worker %s finished in %.1f s", backend, task["phase"], elapsed)
    return result


def run_parity(
    output_dir: str | os.PathLike[str],
    size: str = "tiny",
    epochs: int | None = None,
    seed: int = 0,
    timeout: float = 1800.0,
) -> ParityResult:
    """Run the parity comparison and write the report, figure and JSON into ``output_dir``.

    Parameters
    ----------
    output_dir : path-like
        Created if needed; receives ``parity_report.md``, ``parity.png``, ``parity.json``.
    size : {'tiny', 'full'}
        Problem size (:data:`SIZES`).
    epochs : int, optional
        Overrides the size's training epochs (>= 2 so a post-warm-up epoch is timed).
    seed : int
        Seed of the simulation, grouping, split, initialisation and shuffling.
    timeout : float
        Seconds each worker subprocess may run.

    Returns
    -------
    ParityResult

    Raises
    ------
    ValueError
        Unknown size, ``epochs < 2``, negative seed.
    RuntimeError
        A worker failed (its stderr is in the message).
    """
    if size not in SIZES:
        raise ValueError(f"unknown size {size!r}; choose one of {', '.join(SIZES)}")
    if epochs is not None and epochs < 2:
        raise ValueError(f"--epochs must be >= 2 (the first epoch is warm-up), got {epochs}")
    if seed < 0:
        raise ValueError(f"--seed must be >= 0, got {seed}")
    if importlib.util.find_spec("matplotlib") is None:
        raise RuntimeError(
            "the parity report's figure needs matplotlib, which is not installed: "
            "pip install 'ptychopinn[plots]'"
        )
    settings = SIZES[size]
    if epochs is not None:
        settings = dataclasses.replace(settings, epochs=int(epochs))
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    if not os.access(out, os.W_OK):
        raise PermissionError(f"output directory {out} is not writable; choose another one")
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="ptycho-parity-") as tmp:
        work = Path(tmp)
        data = simulate_data(settings, seed, work)
        inputs: dict[str, Any] = physics_inputs(seed, settings.N)
        np.savez(work / "physics_in.npz", **inputs)
        common = {
            "configs": shared_configs(settings, seed),
            "data": data["paths"],
            "seed": seed,
            "physics_in": str(work / "physics_in.npz"),
            "stitch_crop": settings.N // 2,
            "truth_shape": list(data["truth"].shape),
        }
        results: dict[str, dict[str, Any]] = {}
        for backend, phase in WORKER_SCHEDULE:
            task = dict(common, phase=phase)
            results[f"{backend}_{phase}"] = run_worker(backend, task, work, timeout)
        arrays = {
            name: dict(np.load(work / f"{name}.npz", allow_pickle=False)) for name in WORKER_ARRAYS
        }
        reference = physics_reference(inputs)
    summary = evaluate(settings, seed, data, reference, arrays, results)
    summary["total_wall_s"] = time.perf_counter() - started
    return write_outputs(out, summary, data)
