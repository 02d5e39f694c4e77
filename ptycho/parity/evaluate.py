"""All comparisons and pass/fail checks of a parity run (pure NumPy).

:func:`evaluate` compares the workers' arrays with the NumPy reference and with each other and
returns the summary that :mod:`ptycho.parity.outputs` writes (report, figure, JSON).
"""

from __future__ import annotations

import dataclasses
import math
import os
import platform
from collections.abc import Mapping
from typing import Any

import numpy as np

from ptycho.parity.reference import PHYSICS_ROWS
from ptycho.parity.settings import (
    BACKENDS,
    TOLERANCES,
    WORKER_SCHEDULE,
    ParitySettings,
    relative_difference,
)

__all__ = ["evaluate", "result_with"]


def result_with(results: Mapping[str, Mapping[str, Any]], backend: str, key: str) -> dict[str, Any]:
    """The first worker result of ``backend`` (in :data:`WORKER_SCHEDULE` order) holding ``key``.

    ``results`` is keyed ``'<backend>_<phase>'``. Returns an empty dict when no run of
    ``backend`` reported ``key``.
    """
    for name, phase in WORKER_SCHEDULE:
        result = results.get(f"{name}_{phase}")
        if name == backend and result is not None and key in result:
            return dict(result)
    return {}


def evaluate(
    settings: ParitySettings,
    seed: int,
    data: Mapping[str, Any],
    reference: Mapping[str, np.ndarray],
    arrays: Mapping[str, Mapping[str, np.ndarray]],
    results: Mapping[str, Mapping[str, Any]],
) -> dict[str, Any]:
    """All comparisons and checks (pure NumPy).

    Parameters
    ----------
    settings : ParitySettings
    seed : int
    data : mapping
        From :func:`ptycho.parity.task.simulate_data` (``truth``, ``offsets``, group counts).
    reference : mapping
        :func:`ptycho.parity.reference.physics_reference` of the physics inputs.
    arrays : mapping
        Each ``.npz`` the workers wrote, by name (``physics_<backend>``, ``sw_*``,
        ``train_<backend>``), as a dict of arrays.
    results : mapping
        Each worker's JSON result, keyed ``'<backend>_<phase>'``.

    Returns
    -------
    dict
        ``settings``, ``seed``, ``n_groups``, ``tolerances``, ``physics``, ``same_weights``,
        ``same_training``, ``speed``, ``environment``, ``checks``, ``passed`` (everything in
        ``parity.json``) and ``_recons`` (backend -> stitched test object, (H, W) complex).
    """
    from ptycho.metrics import compare, scanned_roi
    from ptycho.stitching import stitch_patches

    checks: list[dict[str, Any]] = []

    def check(section: str, name: str, value: float, tol: float) -> bool:
        ok = bool(math.isfinite(value) and value <= tol)
        checks.append(
            {"section": section, "name": name, "value": value, "tolerance": tol, "passed": ok}
        )
        return ok

    physics: dict[str, dict[str, Any]] = {}
    for key, _ in PHYSICS_ROWS:
        physics[key] = {}
        for backend in BACKENDS:
            got = arrays[f"physics_{backend}"]
            if key not in got:
                physics[key][backend] = None
                continue
            max_abs, rel = relative_difference(got[key], reference[key])
            physics[key][backend] = {"max_abs": max_abs, "rel": rel}
            check("physics", f"{key} ({backend})", rel, TOLERANCES["physics"])

    offsets = data["offsets"]
    truth = np.asarray(data["truth"])
    crop = settings.N // 2

    def stitched(patches: np.ndarray) -> np.ndarray:
        return stitch_patches(patches[..., 0], offsets[:, 0], offsets[:, 1], truth.shape, crop=crop)

    same: dict[str, dict[str, Any]] = {}
    for label, native, converted in (
        ("tf_to_torch", "sw_tf_native", "sw_tf_on_torch"),
        ("torch_to_tf", "sw_torch_native", "sw_torch_on_tf"),
    ):
        a, b = arrays[native], arrays[converted]
        rows: dict[str, Any] = {}
        for key in ("object", "patches", "diffraction"):
            max_abs, rel = relative_difference(b[key], a[key])
            rows[key] = {"max_abs": max_abs, "rel": rel}
            check("same_weights", f"{label} {key}", rel, TOLERANCES["same_weights"])
        max_abs, rel = relative_difference(stitched(b["object"]), stitched(a["object"]))
        rows["stitched"] = {"max_abs": max_abs, "rel": rel}
        check("same_weights", f"{label} stitched object", rel, TOLERANCES["same_weights"])
        same[label] = rows

    roi = scanned_roi(offsets[:, 0], offsets[:, 1], settings.N, truth.shape)
    training: dict[str, Any] = {}
    recons: dict[str, np.ndarray] = {}
    for backend in BACKENDS:
        got = arrays[f"train_{backend}"]
        recon = stitched(got["test_patches"])
        recons[backend] = recon
        metrics = compare(recon, truth, roi)
        info = result_with(results, backend, "train")["train"]
        training[backend] = {
            "history": info["history"],
            "metrics": {k: v for k, v in metrics.items() if isinstance(v, (int, float))},
        }
    first, second = BACKENDS
    for key in ("amp_ssim", "phase_ssim"):
        diff = abs(training[first]["metrics"][key] - training[second]["metrics"][key])
        check("same_training", f"|{key} TF - torch|", diff, TOLERANCES["ssim"])
    max_abs, rel = relative_difference(recons[second], recons[first])
    training["recon_difference"] = {"max_abs": max_abs, "rel": rel}
    # set by the worker that trains with another backend's data order (the PyTorch one)
    training["same_data_order"] = any(bool(r.get("same_data_order")) for r in results.values())

    speed = {backend: result_with(results, backend, "speed")["speed"] for backend in BACKENDS}
    environment = {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"),
        "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY"),
        "load_average_1min": {name: res.get("load_average") for name, res in results.items()},
        **{
            backend: result_with(results, backend, "environment").get("environment", {})
            for backend in BACKENDS
        },
        "foreign_imports": {name: res.get("foreign_imported") for name, res in results.items()},
        "worker_wall_s": {name: res["wall_s"] for name, res in results.items()},
    }
    return {
        "settings": dataclasses.asdict(settings),
        "seed": seed,
        "n_groups": {"train": data["n_train"], "val": data["n_val"], "test": data["n_test"]},
        "tolerances": TOLERANCES,
        "physics": physics,
        "same_weights": same,
        "same_training": training,
        "speed": speed,
        "environment": environment,
        "checks": checks,
        "passed": all(c["passed"] for c in checks),
        "_recons": recons,
    }
