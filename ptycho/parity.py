"""TensorFlow <-> PyTorch parity harness (issue 5): evidence that both backends are one method.

``python -m ptycho.parity --output_dir D [--size tiny|full] [--epochs E] [--seed S]`` simulates
one seeded dataset and runs each backend in its **own subprocess** (this process imports neither
TensorFlow nor torch; arrays travel through ``.npz`` files in a temporary directory). It writes
``D/parity_report.md``, ``D/parity.png`` and ``D/parity.json`` (every number of the report) and
exits 1 when a check fails (2 when a backend could not run).

Sections and pass criteria (:data:`TOLERANCES`):

1. **Physics**: the NumPy reference (:mod:`ptycho.physics`, evaluated in float64) against each
   backend's own implementation on the same float32 inputs: translation (ARCH-003), object_big
   merge and re-extraction (ARCH-010), patch extraction (ARCH-004, torch only: the TensorFlow
   backend has no whole-object extraction), illumination, exit-wave smoothing, far-field
   amplitude (ARCH-006), the full forward model with smoothing and probe mask, Poisson NLL and
   diffraction MAE (ARCH-009), and stitching (the shared :mod:`ptycho.stitching`) of each
   backend's re-extracted patches. PASS when ``max|backend - ref| / max|ref| <= 1e-5``.
2. **Same weights**: a model initialised once in TensorFlow is saved as a ``wts.h5.zip``,
   converted to PyTorch through :func:`ptycho.workflows.backend_selector.
   load_inference_bundle_with_backend`, and both run on the same test groups; likewise a model
   initialised in PyTorch and converted to TensorFlow. Compared: object at the group centre,
   per-channel object patches, predicted scaled diffraction ``s A``, and the stitched object.
   PASS when every relative difference is ``<= 1e-4``.
3. **Same training**: both backends train from the same initial weights (the TensorFlow
   initialisation, converted) on the same groups in the same order (the TensorFlow trainer's
   per-epoch ``numpy`` permutation, which the PyTorch worker gives its data module) with the
   same validation groups, loss, Adam learning rate and constant schedule. Per-epoch losses side
   by side and the stitched test reconstruction's SSIM/PSNR/FRC against ground truth
   (:func:`ptycho.metrics.compare`). PASS when amplitude and phase SSIM differ by ``<= 0.02``.
   (Each framework's Adam is used as is: Keras applies its epsilon 1e-7 to the uncorrected
   second moment, torch its 1e-8 to the bias-corrected one, which is the main source of the
   remaining difference.)
4. **Speed**: training throughput (groups/s, epochs after the first) and inference throughput
   (groups/s, prediction plus stitching, after a warm-up) of both backends, same machine, same
   run, same thread settings.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import json
import logging
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "SIZES",
    "TOLERANCES",
    "ParityResult",
    "ParitySettings",
    "main",
    "relative_difference",
    "run_parity",
]

logger = logging.getLogger(__name__)

#: Pass thresholds: physics and same-weights relative differences, trained SSIM difference.
TOLERANCES: dict[str, float] = {"physics": 1e-5, "same_weights": 1e-4, "ssim": 0.02}
_BACKENDS = ("tensorflow", "pytorch")
_LABEL = {"tensorflow": "TensorFlow", "pytorch": "PyTorch"}
_FOREIGN = {"tensorflow": "torch", "pytorch": "tensorflow"}
_SMOOTH_SIGMA = 0.7


@dataclass(frozen=True)
class ParitySettings:
    """Problem size of one parity run.

    Attributes
    ----------
    size : str
        ``'tiny'`` (tests, about a minute) or ``'full'`` (the benchmark, a few minutes).
    N, gridsize, n_filters_scale : int
        Model geometry (``C = gridsize**2`` patterns per group).
    n_train_positions, n_test_positions : int
        Simulated scan positions of the training and the (unseen) test object.
    n_groups : int
        Training groups (before the validation split).
    validation_fraction : float
        Fraction of the training groups held out for validation.
    batch_size, epochs : int
        Training batch size and epochs.
    nphotons : float
        Mean photons per pattern (simulation and model).
    learning_rate : float
    """

    size: str
    N: int = 64
    gridsize: int = 2
    n_filters_scale: int = 1
    n_train_positions: int = 48
    n_test_positions: int = 36
    n_groups: int = 32
    validation_fraction: float = 0.2
    batch_size: int = 32
    epochs: int = 2
    nphotons: float = 1e6
    learning_rate: float = 1e-3


#: The two standard sizes: ``tiny`` (tests; one batch per epoch) and ``full`` (the benchmark;
#: about 6 minutes on 2 busy CPU cores).
SIZES: dict[str, ParitySettings] = {
    "tiny": ParitySettings(size="tiny"),
    "full": ParitySettings(
        size="full",
        n_filters_scale=2,
        n_train_positions=400,
        n_test_positions=196,
        n_groups=320,
        validation_fraction=0.1,
        batch_size=16,
        epochs=8,
    ),
}


@dataclass
class ParityResult:
    """Outcome of :func:`run_parity`.

    Attributes
    ----------
    passed : bool
        Every check passed.
    checks : list[dict]
        ``{'section', 'name', 'value', 'tolerance', 'passed'}`` for every check.
    report_path, figure_path, json_path : Path
        The files written.
    data : dict
        Everything in ``parity.json``.
    """

    passed: bool
    checks: list[dict[str, Any]]
    report_path: Path
    figure_path: Path
    json_path: Path
    data: dict[str, Any] = field(default_factory=dict)


def relative_difference(value: Any, reference: Any) -> tuple[float, float]:
    """``(max|value - reference|, max|value - reference| / max|reference|)`` in float64.

    Complex inputs use the modulus of the difference. A zero reference gives the absolute
    difference as the relative one.
    """
    a = np.asarray(value)
    r = np.asarray(reference)
    if a.shape != r.shape:
        raise ValueError(f"shapes differ: {a.shape} vs reference {r.shape}")
    dtype = np.complex128 if (np.iscomplexobj(a) or np.iscomplexobj(r)) else np.float64
    diff = np.abs(a.astype(dtype) - r.astype(dtype))
    max_abs = float(diff.max()) if diff.size else 0.0
    scale = float(np.abs(r.astype(dtype)).max()) if r.size else 0.0
    return max_abs, (max_abs / scale if scale > 0 else max_abs)


# ================================================================================================
# Parent side: data, reference physics, subprocess orchestration, report
# ================================================================================================


def _physics_inputs(seed: int, n: int) -> dict[str, np.ndarray]:
    """Seeded float32/complex64 inputs of the physics comparison (gridsize 2 groups)."""
    from ptycho.physics.object_big import padded_size
    from ptycho.probe import default_probe, normalize_probe

    rng = np.random.default_rng([seed, 1])
    b, c = 6, 4
    padded = padded_size(n, 2)

    def cplx(*shape: int) -> np.ndarray:
        return (rng.normal(size=shape) + 1j * rng.normal(size=shape)).astype(np.complex64)

    amp = (1.0 / (1.0 + np.exp(-rng.normal(size=(b, c, n, n))))).astype(np.float32)
    phase = rng.uniform(-np.pi, np.pi, size=(b, c, n, n)).astype(np.float32)
    object_patches = (amp * np.exp(1j * phase)).astype(np.complex64)  # (B, C, N, N)
    probe = normalize_probe(default_probe(n), 4.0).astype(np.complex64)
    pred = rng.gamma(0.6, 400.0, size=(b, c, n, n)).astype(np.float32)
    meas = rng.poisson(pred).astype(np.float32)
    height, width = 3 * n // 2 + 7, 2 * n + 3
    return {
        "images": cplx(b, 40, 48),
        "dx": rng.uniform(-7.5, 7.5, size=b).astype(np.float32),
        "dy": rng.uniform(-7.5, 7.5, size=b).astype(np.float32),
        "patches": cplx(b, n, n, c),
        "coords": rng.uniform(-4.5, 4.5, size=(b, 1, 2, c)).astype(np.float32),
        "canvas": cplx(b, padded, padded),
        "padded": np.asarray(padded, dtype=np.int64),
        "object": cplx(height, width),
        "px": rng.uniform(n / 2 - 3, width - n / 2 + 3, size=8).astype(np.float32),
        "py": rng.uniform(n / 2 - 3, height - n / 2 + 3, size=8).astype(np.float32),
        "object_patches": object_patches,
        "probe": probe,
        "exit_wave": (object_patches * probe).astype(np.complex64),
        "pred_counts": pred,
        "meas_counts": meas,
        "sigma": np.asarray(_SMOOTH_SIGMA, dtype=np.float64),
        "stitch_x": rng.uniform(40.0, 60.0, size=(b, c)),
        "stitch_y": rng.uniform(40.0, 60.0, size=(b, c)),
    }


def _stitch_channels(patches_bnnc: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Stitch all channels of ``(B, N, N, C)`` patches at ``(B, C)`` positions (shared code)."""
    from ptycho.stitching import stitch_patches

    b, n, _, c = patches_bnnc.shape
    flat = np.moveaxis(patches_bnnc, 3, 1).reshape(b * c, n, n)
    return stitch_patches(flat, x.reshape(-1), y.reshape(-1), (110, 110), crop=n // 2)


def _physics_reference(inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The NumPy reference, evaluated in float64 on the float32 inputs."""
    from ptycho.physics import forward
    from ptycho.physics.object_big import extract_group_patches, merge_group_patches
    from ptycho.physics.shift import extract_patches, translate
    from ptycho.probe import probe_mask

    c128 = np.complex128
    sigma = float(inputs["sigma"])
    obj_p = inputs["object_patches"].astype(c128)
    probe = inputs["probe"].astype(c128)
    n = probe.shape[0]
    extracted = extract_group_patches(
        inputs["canvas"].astype(c128), inputs["coords"].astype(np.float64), n
    )
    psi = forward.illuminate(obj_p, probe)
    return {
        "translate": translate(
            inputs["images"].astype(c128),
            inputs["dx"].astype(np.float64),
            inputs["dy"].astype(np.float64),
        ),
        "merge_group": merge_group_patches(
            inputs["patches"].astype(c128),
            inputs["coords"].astype(np.float64),
            int(inputs["padded"]),
        ),
        "extract_group": extracted,
        "extract_patches": extract_patches(
            inputs["object"].astype(c128),
            inputs["px"].astype(np.float64),
            inputs["py"].astype(np.float64),
            n,
        ),
        "illuminate": psi,
        "smooth": forward.gaussian_smooth_3x3(inputs["exit_wave"].astype(c128), sigma),
        "far_field": forward.far_field_amplitude(inputs["exit_wave"].astype(c128)),
        "forward_full": forward.forward_amplitude(
            obj_p, probe, smoothing_sigma=sigma, probe_mask=probe_mask(n).astype(np.float64)
        ),
        "poisson_nll": np.asarray(
            forward.poisson_nll(
                inputs["pred_counts"].astype(np.float64), inputs["meas_counts"].astype(np.float64)
            )
        ),
        "mae": np.asarray(
            forward.diffraction_mae(
                inputs["pred_counts"].astype(np.float64), inputs["meas_counts"].astype(np.float64)
            )
        ),
        "stitching": _stitch_channels(extracted, inputs["stitch_x"], inputs["stitch_y"]),
    }


_PHYSICS_ROWS: tuple[tuple[str, str], ...] = (
    ("translate", "translate, ARCH-003 (6 complex 40x48 images, sub-pixel shifts up to 7.5 px)"),
    ("merge_group", "object_big merge, ARCH-010 (6 groups, C=4)"),
    ("extract_group", "object_big re-extraction, ARCH-010"),
    ("extract_patches", "patch extraction from an object, ARCH-004"),
    ("illuminate", "illumination P*O"),
    ("smooth", "exit-wave 3x3 Gaussian smoothing (sigma 0.7, reflect)"),
    ("far_field", "far-field amplitude, ARCH-006"),
    ("forward_full", "forward model with smoothing and probe mask"),
    ("poisson_nll", "Poisson NLL, ARCH-009 (scalar)"),
    ("mae", "diffraction MAE, ARCH-009 (scalar)"),
    ("stitching", "stitching (shared ptycho.stitching) of the re-extracted patches"),
)


def _simulate(settings: ParitySettings, seed: int, work: Path) -> dict[str, Any]:
    """Simulate the data, group it, and write the containers; returns paths and ground truth."""
    from ptycho.loader import container_from_raw, split_container
    from ptycho.simulation import simulate_train_test

    train_ds, test_ds = simulate_train_test(
        N=settings.N,
        n_train=settings.n_train_positions,
        n_test=settings.n_test_positions,
        nphotons=settings.nphotons,
        seed=seed,
    )
    full = container_from_raw(
        train_ds.raw,
        settings.N,
        gridsize=settings.gridsize,
        n_groups=settings.n_groups,
        K=4,
        seed=seed,
    )
    train, val = split_container(full, settings.validation_fraction, seed)
    test = container_from_raw(
        test_ds.raw, settings.N, gridsize=settings.gridsize, n_groups=None, K=4, seed=seed + 1
    )
    paths = {"train": work / "train.npz", "val": work / "val.npz", "test": work / "test.npz"}
    train.to_npz(paths["train"])
    val.to_npz(paths["val"])
    test.to_npz(paths["test"])
    return {
        "paths": {k: str(v) for k, v in paths.items()},
        "truth": test_ds.object,
        "offsets": np.asarray(test.global_offsets, dtype=np.float64).reshape(-1, 2),
        "n_train": len(train),
        "n_val": len(val),
        "n_test": len(test),
    }


def _configs(settings: ParitySettings, seed: int) -> dict[str, Any]:
    """JSON model and training configs shared by both workers."""
    from ptycho.config.config import ModelConfig, TrainingConfig, to_dict

    model = ModelConfig(
        N=settings.N, gridsize=settings.gridsize, n_filters_scale=settings.n_filters_scale
    )
    patience = settings.epochs + 1  # constant learning rate, no early stopping
    training = TrainingConfig(
        model=model,
        batch_size=settings.batch_size,
        nepochs=settings.epochs,
        learning_rate=settings.learning_rate,
        nphotons=settings.nphotons,
        n_groups=settings.n_groups,
        seed=seed,
        validation_fraction=0.0,
        early_stopping_patience=patience,
        lr_plateau_patience=patience,
    )
    return {"model": to_dict(model), "training": to_dict(training)}


def _run_worker(backend: str, task: dict[str, Any], work: Path, timeout: float) -> dict[str, Any]:
    """Run one worker subprocess on ``task`` and return its JSON result."""
    name = f"{backend}_{task['phase']}"
    task_path = work / f"task_{name}.json"
    result_path = work / f"result_{name}.json"
    task = dict(task, result=str(result_path), work=str(work))
    task_path.write_text(json.dumps(task, indent=1))
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parents[1])
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    cmd = [sys.executable, "-m", "ptycho.parity", "--worker", backend, "--task", str(task_path)]
    started = time.perf_counter()
    proc = subprocess.run(
        cmd, cwd=work, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    elapsed = time.perf_counter() - started
    if proc.returncode != 0 or not result_path.is_file():
        tail = (proc.stderr or "")[-4000:]
        raise RuntimeError(
            f"the {_LABEL[backend]} parity worker ({task['phase']}) failed with exit code "
            f"{proc.returncode}:\n{tail}"
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
        data = _simulate(settings, seed, work)
        inputs = _physics_inputs(seed, settings.N)
        np.savez(work / "physics_in.npz", **inputs)
        configs = _configs(settings, seed)
        common = {
            "configs": configs,
            "data": data["paths"],
            "seed": seed,
            "physics_in": str(work / "physics_in.npz"),
            "stitch_crop": settings.N // 2,
            "truth_shape": list(data["truth"].shape),
        }
        results: dict[str, dict[str, Any]] = {}
        results["tensorflow_a"] = _run_worker("tensorflow", dict(common, phase="a"), work, timeout)
        results["pytorch_a"] = _run_worker("pytorch", dict(common, phase="a"), work, timeout)
        results["tensorflow_b"] = _run_worker("tensorflow", dict(common, phase="b"), work, timeout)
        arrays = {
            name: dict(np.load(work / f"{name}.npz", allow_pickle=False))
            for name in (
                "physics_tensorflow",
                "physics_pytorch",
                "sw_tf_native",
                "sw_tf_on_torch",
                "sw_torch_native",
                "sw_torch_on_tf",
                "train_tensorflow",
                "train_pytorch",
            )
        }
        reference = _physics_reference(inputs)
    summary = _evaluate(settings, seed, data, reference, arrays, results)
    summary["total_wall_s"] = time.perf_counter() - started
    return _write_outputs(out, summary, data, arrays)


def _evaluate(
    settings: ParitySettings,
    seed: int,
    data: Mapping[str, Any],
    reference: Mapping[str, np.ndarray],
    arrays: Mapping[str, Mapping[str, np.ndarray]],
    results: Mapping[str, Mapping[str, Any]],
) -> dict[str, Any]:
    """All comparisons and checks (pure NumPy)."""
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
    for key, _ in _PHYSICS_ROWS:
        physics[key] = {}
        for backend in _BACKENDS:
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
    for backend in _BACKENDS:
        got = arrays[f"train_{backend}"]
        recon = stitched(got["test_patches"])
        recons[backend] = recon
        metrics = compare(recon, truth, roi)
        info = results["tensorflow_b" if backend == "tensorflow" else "pytorch_a"]["train"]
        training[backend] = {
            "history": info["history"],
            "metrics": {k: v for k, v in metrics.items() if isinstance(v, (int, float))},
        }
    for key in ("amp_ssim", "phase_ssim"):
        diff = abs(training["tensorflow"]["metrics"][key] - training["pytorch"]["metrics"][key])
        check("same_training", f"|{key} TF - torch|", diff, TOLERANCES["ssim"])
    max_abs, rel = relative_difference(recons["pytorch"], recons["tensorflow"])
    training["recon_difference"] = {"max_abs": max_abs, "rel": rel}
    training["same_data_order"] = bool(results["pytorch_a"].get("same_data_order"))

    speed = {
        "tensorflow": results["tensorflow_b"]["speed"],
        "pytorch": results["pytorch_a"]["speed"],
    }
    environment = {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"),
        "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY"),
        "load_average_1min": {name: res.get("load_average") for name, res in results.items()},
        "tensorflow": results["tensorflow_a"].get("environment", {}),
        "pytorch": results["pytorch_a"].get("environment", {}),
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


def _fmt(value: float | None, spec: str = ".2e") -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    return format(value, spec)


def _report_markdown(summary: Mapping[str, Any]) -> str:
    s = summary["settings"]
    env = summary["environment"]
    tol = summary["tolerances"]
    verdict = "PASS" if summary["passed"] else "FAIL"
    failed = [c for c in summary["checks"] if not c["passed"]]
    lines = [
        f"# TensorFlow / PyTorch parity report: {verdict}",
        "",
        f"Size `{s['size']}`: N={s['N']}, gridsize={s['gridsize']}, "
        f"n_filters_scale={s['n_filters_scale']}, {summary['n_groups']['train']} training groups "
        f"+ {summary['n_groups']['val']} validation groups (from {s['n_train_positions']} "
        f"positions), {summary['n_groups']['test']} test groups of an unseen object, "
        f"nphotons={s['nphotons']:g}, batch {s['batch_size']}, {s['epochs']} epochs, "
        f"learning rate {s['learning_rate']:g}, seed {summary['seed']}.",
        "",
        f"Machine: {env['machine']}, {env['cpu_count']} CPUs, OMP_NUM_THREADS="
        f"{env['OMP_NUM_THREADS']}, OMP_WAIT_POLICY={env['OMP_WAIT_POLICY']}, 1-minute load "
        f"average at the start of each worker {env['load_average_1min']}, Python "
        f"{env['python']}; TensorFlow "
        f"{env['tensorflow'].get('version', '?')} ({env['tensorflow'].get('threads', '?')}), "
        f"torch {env['pytorch'].get('version', '?')} ({env['pytorch'].get('threads', '?')} "
        "threads). Each backend ran in its own subprocess; foreign framework imported by a "
        f"worker: {env['foreign_imports']}. Total {summary['total_wall_s']:.0f} s.",
        "",
        "| check | tolerance | result |",
        "|---|---|---|",
        f"| physics vs NumPy reference (relative) | <= {tol['physics']:g} | "
        f"{_section_verdict(summary, 'physics')} |",
        f"| same weights, converted (relative) | <= {tol['same_weights']:g} | "
        f"{_section_verdict(summary, 'same_weights')} |",
        f"| same training, SSIM difference | <= {tol['ssim']:g} | "
        f"{_section_verdict(summary, 'same_training')} |",
        "",
    ]
    if failed:
        lines += ["Failed checks:", ""]
        lines += [
            f"- {c['section']}: {c['name']} = {c['value']:.3e} > {c['tolerance']:g}" for c in failed
        ]
        lines.append("")
    lines += [
        "## 1. Physics: NumPy reference (float64) vs each backend (float32)",
        "",
        "Relative = max|backend - reference| / max|reference|.",
        "",
        "| operation | TF max abs | TF relative | torch max abs | torch relative |",
        "|---|---|---|---|---|",
    ]
    for key, title in _PHYSICS_ROWS:
        row = summary["physics"][key]
        tf_row = row.get("tensorflow") or {}
        pt_row = row.get("pytorch") or {}
        lines.append(
            f"| {title} | {_fmt(tf_row.get('max_abs'))} | {_fmt(tf_row.get('rel'))} | "
            f"{_fmt(pt_row.get('max_abs'))} | {_fmt(pt_row.get('rel'))} |"
        )
    lines += [
        "",
        "n/a: the TensorFlow backend has no whole-object patch extraction (its model only "
        "re-extracts from group canvases). Stitching is one NumPy implementation shared by both "
        "backends; its row propagates each backend's re-extracted patches through it.",
        "",
        "## 2. Same weights, converted through the model archive",
        "",
        "`tf_to_torch`: initialised by TensorFlow, saved, loaded by PyTorch through the "
        "converter; `torch_to_tf` the other way. Relative to the native backend's output.",
        "",
        "| direction | output | max abs | relative |",
        "|---|---|---|---|",
    ]
    for label, rows in summary["same_weights"].items():
        for key, title in (
            ("object", "object at group centre (B,N,N,1)"),
            ("patches", "per-channel object patches (B,N,N,C)"),
            ("diffraction", "predicted diffraction s*A (B,N,N,C)"),
            ("stitched", "stitched test object"),
        ):
            lines.append(
                f"| {label} | {title} | {_fmt(rows[key]['max_abs'])} | {_fmt(rows[key]['rel'])} |"
            )
    tr = summary["same_training"]
    tf_h, pt_h = tr["tensorflow"]["history"], tr["pytorch"]["history"]
    if summary["n_groups"]["train"] <= s["batch_size"]:
        order = "one batch per epoch, so the data order cannot differ"
    elif tr.get("same_data_order"):
        order = (
            "identical: the TensorFlow trainer's per-epoch numpy permutation (seed "
            f"{summary['seed']}), given to the PyTorch data module by the harness"
        )
    else:
        order = "each backend's own seeded shuffle (orders differ)"
    lines += [
        "",
        "## 3. Same training",
        "",
        "Both start from the TensorFlow initialisation (PyTorch gets it through the converter), "
        "train on the same groups with the same validation groups, Poisson NLL, Adam, constant "
        f"learning rate; data order: {order}.",
        "",
        "| epoch | TF loss | torch loss | TF val_loss | torch val_loss |",
        "|---|---|---|---|---|",
    ]
    for i in range(max(len(tf_h.get("loss", [])), len(pt_h.get("loss", [])))):
        vals = [
            (h.get(k) or [])[i] if i < len(h.get(k) or []) else None
            for k in ("loss", "val_loss")
            for h in (tf_h, pt_h)
        ]
        lines.append(
            f"| {i + 1} | {_fmt(vals[0], '.6g')} | {_fmt(vals[1], '.6g')} | "
            f"{_fmt(vals[2], '.6g')} | {_fmt(vals[3], '.6g')} |"
        )
    lines += [
        "",
        "Test reconstruction (stitched, central N/2 of each patch, scanned region) vs ground "
        "truth:",
        "",
        "| backend | amp SSIM | amp PSNR (dB) | phase SSIM | phase PSNR (dB) | FRC 0.5 (cyc/px) |",
        "|---|---|---|---|---|---|",
    ]
    for backend in _BACKENDS:
        m = tr[backend]["metrics"]
        lines.append(
            f"| {_LABEL[backend]} | {_fmt(m.get('amp_ssim'), '.4f')} | "
            f"{_fmt(m.get('amp_psnr'), '.2f')} | {_fmt(m.get('phase_ssim'), '.4f')} | "
            f"{_fmt(m.get('phase_psnr'), '.2f')} | {_fmt(m.get('frc50'), '.3f')} |"
        )
    lines += [
        "",
        f"Relative difference of the two stitched reconstructions: "
        f"{_fmt(tr['recon_difference']['rel'])}.",
        "",
        "## 4. Speed (same machine, same run)",
        "",
        "| backend | training groups/s (after epoch 1) | first epoch s | inference groups/s "
        "(predict + stitch) | patterns/s |",
        "|---|---|---|---|---|",
    ]
    for backend in _BACKENDS:
        sp = summary["speed"][backend]
        lines.append(
            f"| {_LABEL[backend]} | {_fmt(sp.get('train_groups_per_s'), '.1f')} | "
            f"{_fmt(sp.get('first_epoch_s'), '.1f')} | "
            f"{_fmt(sp.get('inference_groups_per_s'), '.1f')} | "
            f"{_fmt(sp.get('inference_patterns_per_s'), '.1f')} |"
        )
    lines += [
        "",
        "The two backends ran one after the other on the same machine; on a shared machine the "
        "load average above says how comparable the figures are (torch's OpenMP threads "
        "spin-wait by default and slow down far more than TensorFlow's thread pool when the "
        "cores are oversubscribed; `OMP_WAIT_POLICY=PASSIVE` avoids that).",
        "",
        "Figure: `parity.png`. Every number: `parity.json`.",
        "",
    ]
    return "\n".join(lines)


def _section_verdict(summary: Mapping[str, Any], section: str) -> str:
    rows = [c for c in summary["checks"] if c["section"] == section]
    if not rows:
        return "not run"
    worst = max(rows, key=lambda c: c["value"] if math.isfinite(c["value"]) else math.inf)
    verdict = "PASS" if all(c["passed"] for c in rows) else "FAIL"
    return f"{verdict} (worst {worst['value']:.2e}: {worst['name']})"


def _figure(path: Path, summary: Mapping[str, Any], data: Mapping[str, Any]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 3, figsize=(15, 9))
    tr = summary["same_training"]
    ax = axes[0, 0]
    for backend, colour in (("tensorflow", "tab:orange"), ("pytorch", "tab:blue")):
        hist = tr[backend]["history"]
        for key, style in (("loss", "-"), ("val_loss", "--")):
            values = hist.get(key) or []
            if values:
                ax.plot(
                    range(1, len(values) + 1),
                    values,
                    style,
                    color=colour,
                    label=f"{_LABEL[backend]} {key}",
                    marker="o",
                    ms=3,
                )
    ax.set_xlabel("epoch")
    ax.set_ylabel("Poisson NLL")
    ax.set_title("same training: loss per epoch")
    ax.legend(fontsize=8)

    ax = axes[0, 1]
    names = [key for key, _ in _PHYSICS_ROWS]
    pos = np.arange(len(names))
    bars = ((-0.2, "tensorflow", "tab:orange"), (0.2, "pytorch", "tab:blue"))
    for offset, backend, colour in bars:
        vals = [(summary["physics"][k].get(backend) or {}).get("rel", np.nan) for k in names]
        vals = [max(v, 1e-12) if v is not None and math.isfinite(v) else np.nan for v in vals]
        ax.bar(pos + offset, vals, width=0.4, color=colour, label=_LABEL[backend])
    ax.axhline(TOLERANCES["physics"], color="red", ls="--", label="tolerance")
    ax.set_yscale("log")
    ax.set_xticks(pos)
    ax.set_xticklabels(names, rotation=60, ha="right", fontsize=8)
    ax.set_title("physics: relative difference to NumPy")
    ax.legend(fontsize=8)

    ax = axes[0, 2]
    labels, vals = [], []
    for direction, rows in summary["same_weights"].items():
        for key in ("object", "patches", "diffraction", "stitched"):
            labels.append(f"{direction}\n{key}")
            vals.append(max(rows[key]["rel"], 1e-12))
    ax.bar(np.arange(len(vals)), vals, color="tab:green")
    ax.axhline(TOLERANCES["same_weights"], color="red", ls="--", label="tolerance")
    ax.set_yscale("log")
    ax.set_xticks(np.arange(len(vals)))
    ax.set_xticklabels(labels, rotation=60, ha="right", fontsize=7)
    ax.set_title("same weights: relative difference")
    ax.legend(fontsize=8)

    truth = np.asarray(data["truth"])
    recons = summary["_recons"]
    images = [
        ("ground truth phase", truth),
        (
            f"TensorFlow phase (SSIM {tr['tensorflow']['metrics'].get('phase_ssim', np.nan):.3f})",
            recons["tensorflow"],
        ),
        (
            f"PyTorch phase (SSIM {tr['pytorch']['metrics'].get('phase_ssim', np.nan):.3f})",
            recons["pytorch"],
        ),
    ]
    for ax, (title, image) in zip(axes[1], images, strict=True):
        shown = ax.imshow(np.angle(image), cmap="viridis")
        ax.set_title(title, fontsize=9)
        ax.axis("off")
        fig.colorbar(shown, ax=ax, fraction=0.046)
    fig.suptitle(
        f"TensorFlow / PyTorch parity ({summary['settings']['size']}): "
        f"{'PASS' if summary['passed'] else 'FAIL'}"
    )
    fig.tight_layout()
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=90)
    plt.close(fig)
    os.replace(tmp, path)


def _atomic_text(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _write_outputs(
    out: Path,
    summary: dict[str, Any],
    data: Mapping[str, Any],
    arrays: Mapping[str, Mapping[str, np.ndarray]],
) -> ParityResult:
    del arrays
    report = out / "parity_report.md"
    figure = out / "parity.png"
    json_path = out / "parity.json"
    _figure(figure, summary, data)
    public = {k: v for k, v in summary.items() if not k.startswith("_")}
    _atomic_text(json_path, json.dumps(public, indent=1, default=_json_default))
    _atomic_text(report, _report_markdown(summary))
    return ParityResult(
        passed=bool(summary["passed"]),
        checks=list(summary["checks"]),
        report_path=report,
        figure_path=figure,
        json_path=json_path,
        data=public,
    )


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, tuple):
        return list(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


# ================================================================================================
# Worker side (one backend per subprocess; imports only that backend, inside functions)
# ================================================================================================


def _load_task(path: Path) -> dict[str, Any]:
    task: dict[str, Any] = json.loads(path.read_text())
    return task


def _worker_configs(task: Mapping[str, Any], backend: str) -> tuple[Any, Any]:
    from ptycho.config.config import ModelConfig, TrainingConfig, from_dict

    model = from_dict(ModelConfig, task["configs"]["model"])
    training_dict = dict(task["configs"]["training"], backend=backend)
    training_dict["output_dir"] = str(Path(task["work"]) / f"out_{backend}")
    training = from_dict(TrainingConfig, training_dict)
    return model, training


def _containers(task: Mapping[str, Any]) -> dict[str, Any]:
    from ptycho.loader import PtychoDataContainer

    return {k: PtychoDataContainer.from_npz(v) for k, v in task["data"].items()}


def _initial_probe(container: Any, model: Any) -> np.ndarray:
    from ptycho.probe import normalize_probe

    return normalize_probe(container.probe, model.probe_scale)


def _initial_scale(training: Any, model: Any) -> float:
    from ptycho.physics.forward import intensity_scale

    return intensity_scale(training.nphotons, model.N)


def _timed_training(
    api: Any, containers: Mapping[str, Any], training: Any, initial: Any, **kwargs: Any
) -> tuple[Any, dict[str, Any]]:
    """Train from ``initial`` and time every epoch through the epoch callback."""
    stamps: list[float] = []

    def on_epoch_end(epoch: int, logs: Mapping[str, float]) -> bool:
        del epoch, logs
        stamps.append(time.perf_counter())
        return False

    start = time.perf_counter()
    bundle = api.train(
        containers["train"],
        training,
        validation=containers["val"],
        on_epoch_end=on_epoch_end,
        initial=initial,
        **kwargs,
    )
    durations = np.diff([start, *stamps])
    n_train = len(containers["train"])
    later = durations[1:] if durations.size > 1 else durations
    speed = {
        "epochs_timed": int(later.size),
        "first_epoch_s": float(durations[0]) if durations.size else math.nan,
        "epoch_s": [float(d) for d in durations],
        "train_groups_per_s": float(n_train / np.median(later)) if later.size else math.nan,
    }
    return bundle, speed


def _timed_inference(
    api: Any, bundle: Any, container: Any, crop: int, shape: Sequence[int]
) -> tuple[np.ndarray, dict[str, float]]:
    """Predict the test groups (warm-up, then the median of 3 timed runs incl. stitching)."""
    from ptycho.stitching import stitch_patches

    offsets = np.asarray(container.global_offsets, dtype=np.float64).reshape(-1, 2)
    patches = api.predict_patches(bundle, container, batch_size=64)
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        patches = api.predict_patches(bundle, container, batch_size=64)
        stitch_patches(patches[..., 0], offsets[:, 0], offsets[:, 1], tuple(shape), crop=crop)
        times.append(time.perf_counter() - t0)
    t = float(np.median(times))
    groups = len(container)
    channels = int(container.X.shape[3])
    return patches, {
        "inference_s": t,
        "inference_groups_per_s": groups / t,
        "inference_patterns_per_s": groups * channels / t,
    }


def _tf_outputs(bundle: Any, container: Any) -> dict[str, np.ndarray]:
    """TensorFlow: object (B,N,N,1), patches (B,N,N,C), diffraction s*A (B,N,N,C)."""
    from ptycho.tf import api

    network = bundle.network
    scale = float(bundle.intensity_scale)
    x = np.asarray(container.X, dtype=np.float32) * np.float32(scale)
    coords = np.asarray(container.coords_nominal, dtype=np.float32)
    trimmed, patches, amp = network.training_model([x, coords], training=False)
    return {
        "object": np.asarray(api.predict_patches(bundle, container), dtype=np.complex64),
        "object_graph": np.asarray(trimmed),
        "patches": np.asarray(patches),
        "diffraction": np.asarray(amp),
    }


def _torch_outputs(bundle: Any, container: Any) -> dict[str, np.ndarray]:
    """PyTorch: the same outputs in the core's channel-last layout."""
    import torch

    from ptycho_torch import api

    net = bundle.network.eval()
    scale = float(bundle.intensity_scale)
    x = torch.from_numpy(np.moveaxis(np.asarray(container.X, dtype=np.float32), 3, 1).copy())
    coords = torch.from_numpy(np.asarray(container.coords_nominal, dtype=np.float32))
    with torch.inference_mode():
        out = net(x * scale, coords)
    return {
        "object": np.asarray(api.predict_patches(bundle, container), dtype=np.complex64),
        "object_graph": out.object.numpy()[..., None],
        "patches": np.moveaxis(out.patches.numpy(), 1, 3),
        "diffraction": np.moveaxis(out.amplitude.numpy(), 1, 3),
    }


def _physics_tf(inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    import tensorflow as tf

    from ptycho.tf import layers as tl
    from ptycho.tf import physics as tp

    n = inputs["probe"].shape[0]
    sigma = float(inputs["sigma"])
    obj_bnnc = np.moveaxis(inputs["object_patches"], 1, 3).copy()
    illum = tl.ProbeIllumination(n, initial_probe=inputs["probe"])
    full = tl.ProbeIllumination(
        n, initial_probe=inputs["probe"], use_mask=True, smoothing_sigma=sigma
    )
    extracted = tp.extract_group_patches(
        tf.constant(inputs["canvas"]), tf.constant(inputs["coords"]), n
    ).numpy()
    return {
        "translate": tp.translate(
            tf.constant(inputs["images"]), tf.constant(inputs["dx"]), tf.constant(inputs["dy"])
        ).numpy(),
        "merge_group": tp.merge_group_patches(
            tf.constant(inputs["patches"]), tf.constant(inputs["coords"]), int(inputs["padded"])
        ).numpy(),
        "extract_group": extracted,
        "illuminate": illum(tf.constant(obj_bnnc)).numpy(),
        "smooth": tp.gaussian_smooth(tf.constant(inputs["exit_wave"]), sigma).numpy(),
        "far_field": tp.far_field_amplitude(tf.constant(inputs["exit_wave"])).numpy(),
        "forward_full": np.moveaxis(
            tl.FarFieldAmplitude()(full(tf.constant(obj_bnnc))).numpy(), 3, 1
        ),
        "poisson_nll": np.asarray(
            tp.poisson_nll(
                tf.constant(inputs["pred_counts"]), tf.constant(inputs["meas_counts"])
            ).numpy()
        ),
        "mae": np.asarray(
            tp.diffraction_mae(
                tf.constant(inputs["pred_counts"]), tf.constant(inputs["meas_counts"])
            ).numpy()
        ),
        "stitching": _stitch_channels(extracted, inputs["stitch_x"], inputs["stitch_y"]),
    }


def _physics_torch(inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    import torch

    from ptycho.config.config import ModelConfig
    from ptycho_torch import physics as pp
    from ptycho_torch.network import PtychoPINNNet

    def t(name: str) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(inputs[name]))

    n = inputs["probe"].shape[0]
    sigma = float(inputs["sigma"])
    patches_bcnn = torch.from_numpy(np.moveaxis(inputs["patches"], 3, 1).copy())
    net = PtychoPINNNet(
        ModelConfig(
            N=n, gridsize=2, n_filters_scale=1, probe_mask=True, gaussian_smoothing_sigma=sigma
        ),
        probe=inputs["probe"],
        intensity_scale=1.0,
    )
    with torch.inference_mode():
        extracted = np.moveaxis(pp.extract_group_patches(t("canvas"), t("coords"), n).numpy(), 1, 3)
        out = {
            "translate": pp.translate(t("images"), t("dx"), t("dy")).numpy(),
            "merge_group": pp.merge_group_patches(
                patches_bcnn, t("coords"), int(inputs["padded"])
            ).numpy(),
            "extract_group": extracted,
            "extract_patches": pp.extract_patches(t("object"), t("px"), t("py"), n).numpy(),
            "illuminate": (t("object_patches") * net.probe).numpy(),
            "smooth": pp.gaussian_smooth(t("exit_wave"), sigma).numpy(),
            "far_field": pp.far_field_amplitude(t("exit_wave")).numpy(),
            "forward_full": net.diffraction(t("object_patches")).numpy(),
            "poisson_nll": np.asarray(pp.poisson_nll(t("pred_counts"), t("meas_counts")).numpy()),
            "mae": np.asarray(pp.diffraction_mae(t("pred_counts"), t("meas_counts")).numpy()),
        }
    out["stitching"] = _stitch_channels(extracted, inputs["stitch_x"], inputs["stitch_y"])
    return out


def _save(work: Path, name: str, arrays: Mapping[str, np.ndarray]) -> None:
    np.savez(work / f"{name}.npz", **{k: np.asarray(v) for k, v in arrays.items()})


def _worker_tensorflow(task: Mapping[str, Any]) -> dict[str, Any]:
    import tensorflow as tf

    from ptycho.backend import ModelBundle
    from ptycho.tf import api
    from ptycho.tf.network import build_model
    from ptycho.workflows.backend_selector import load_inference_bundle_with_backend

    work = Path(task["work"])
    model, training = _worker_configs(task, "tensorflow")
    containers = _containers(task)
    result: dict[str, Any] = {
        "environment": {
            "version": tf.__version__,
            "threads": (
                f"intra {tf.config.threading.get_intra_op_parallelism_threads()}, "
                f"inter {tf.config.threading.get_inter_op_parallelism_threads()} (0 = all cores)"
            ),
        }
    }
    if task["phase"] == "a":
        with np.load(task["physics_in"], allow_pickle=False) as f:
            inputs = dict(f)
        _save(work, "physics_tensorflow", _physics_tf(inputs))
        network = build_model(
            model,
            training,
            _initial_probe(containers["train"], model),
            _initial_scale(training, model),
            seed=int(task["seed"]),
        )
        bundle = ModelBundle(
            backend="tensorflow",
            model_config=model,
            training_config=training,
            intensity_scale=network.intensity_scale,
            probe=network.probe,
            history={},
            network=network,
        )
        api.save_bundle(bundle, work / "init_tf.h5.zip")
        _save(work, "sw_tf_native", _tf_outputs(bundle, containers["test"]))
    else:
        converted = load_inference_bundle_with_backend(
            work / "init_torch.h5.zip", backend="tensorflow"
        )
        _save(work, "sw_torch_on_tf", _tf_outputs(converted, containers["test"]))
        initial = api.load_bundle(work / "init_tf.h5.zip")
        trained, speed = _timed_training(api, containers, training, initial)
        patches, inference = _timed_inference(
            api, trained, containers["test"], int(task["stitch_crop"]), task["truth_shape"]
        )
        speed.update(inference)
        _save(work, "train_tensorflow", {"test_patches": patches})
        result["train"] = {"history": trained.history}
        result["speed"] = speed
    result["foreign_imported"] = "torch" in sys.modules
    return result


def _use_tensorflow_data_order(seed: int) -> bool:
    """Make the PyTorch backend visit the training groups in the TensorFlow backend's order.

    The TensorFlow trainer draws ``rng.permutation(n)`` every epoch from
    ``rng = numpy.random.default_rng(config.seed)`` and takes consecutive batches; the PyTorch
    backend shuffles with a seeded ``torch.Generator``. For the same-training comparison this
    worker process gives the PyTorch data module a batch sampler with the TensorFlow rule.
    Returns False (the backend's own shuffle is used) when the data module does not have the
    expected shape.
    """
    from torch.utils.data import DataLoader

    from ptycho_torch import datamodule

    module_cls = getattr(datamodule, "PtychoDataModule", None)
    collate = getattr(datamodule, "collate_batch", None)
    if module_cls is None or collate is None or not hasattr(module_cls, "setup"):
        return False

    class _NumpyOrder:
        def __init__(self, n: int, batch: int) -> None:
            self.n, self.batch = n, batch
            self.rng = np.random.default_rng(seed)

        def __len__(self) -> int:
            return math.ceil(self.n / self.batch)

        def __iter__(self) -> Any:
            order = self.rng.permutation(self.n)
            for start in range(0, self.n, self.batch):
                yield order[start : start + self.batch].tolist()

    original = module_cls.train_dataloader

    def train_dataloader(self: Any) -> Any:
        self.setup("fit")
        dataset = getattr(self, "_train_ds", None)
        if dataset is None:
            return original(self)
        sampler = _NumpyOrder(len(dataset), int(self.batch_size))
        return DataLoader(dataset, batch_sampler=sampler, collate_fn=collate, num_workers=0)

    module_cls.train_dataloader = train_dataloader
    return True


def _worker_pytorch(task: Mapping[str, Any]) -> dict[str, Any]:
    import torch

    from ptycho.backend import ModelBundle
    from ptycho.config.config import PyTorchExecutionConfig
    from ptycho.workflows.backend_selector import get_backend, load_inference_bundle_with_backend
    from ptycho_torch.network import PtychoPINNNet

    api = get_backend("pytorch")
    work = Path(task["work"])
    model, training = _worker_configs(task, "pytorch")
    containers = _containers(task)
    result: dict[str, Any] = {
        "environment": {"version": torch.__version__, "threads": torch.get_num_threads()}
    }
    with np.load(task["physics_in"], allow_pickle=False) as f:
        inputs = dict(f)
    _save(work, "physics_pytorch", _physics_torch(inputs))

    with torch.random.fork_rng():
        torch.manual_seed(int(task["seed"]))
        net = PtychoPINNNet(
            model,
            probe=_initial_probe(containers["train"], model),
            intensity_scale=_initial_scale(training, model),
            probe_trainable=training.probe_trainable,
            intensity_scale_trainable=training.intensity_scale_trainable,
        ).eval()
    native = ModelBundle(
        backend="pytorch",
        model_config=model,
        training_config=training,
        intensity_scale=float(net.intensity_scale.detach()),
        probe=net.probe.detach().numpy().astype(np.complex64),
        history={},
        network=net,
    )
    api.save_bundle(native, work / "init_torch.h5.zip")
    _save(work, "sw_torch_native", _torch_outputs(native, containers["test"]))
    converted = load_inference_bundle_with_backend(work / "init_tf.h5.zip", backend="pytorch")
    _save(work, "sw_tf_on_torch", _torch_outputs(converted, containers["test"]))

    execution = PyTorchExecutionConfig(
        accelerator="cpu",
        deterministic=True,
        scheduler="reduce_on_plateau",
        enable_checkpointing=False,
        logger_backend=None,
        enable_progress_bar=False,
    )
    initial = load_inference_bundle_with_backend(work / "init_tf.h5.zip", backend="pytorch")
    result["same_data_order"] = _use_tensorflow_data_order(int(training.seed))
    trained, speed = _timed_training(
        api,
        containers,
        training,
        initial,
        execution=execution,
        output_dir=work / "out_pytorch",
    )
    patches, inference = _timed_inference(
        api, trained, containers["test"], int(task["stitch_crop"]), task["truth_shape"]
    )
    speed.update(inference)
    _save(work, "train_pytorch", {"test_patches": patches})
    result["train"] = {"history": trained.history}
    result["speed"] = speed
    result["foreign_imported"] = "tensorflow" in sys.modules
    return result


def _worker_main(backend: str, task_path: Path) -> int:
    task = _load_task(task_path)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    result = _worker_tensorflow(task) if backend == "tensorflow" else _worker_pytorch(task)
    result["load_average"] = load
    Path(task["result"]).write_text(json.dumps(result, default=_json_default))
    return 0


# ================================================================================================
# CLI
# ================================================================================================


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface of ``python -m ptycho.parity``."""
    parser = argparse.ArgumentParser(
        prog="python -m ptycho.parity",
        description=(
            "Compare the TensorFlow and PyTorch backends on the same seeded data (physics, "
            "same weights, same training, speed); writes parity_report.md, parity.png and "
            "parity.json. Exit code 0 = PASS, 1 = FAIL, 2 = a backend could not run."
        ),
    )
    parser.add_argument("--output_dir", type=Path, help="directory for the report and figure")
    parser.add_argument(
        "--size",
        choices=sorted(SIZES),
        default="tiny",
        help="problem size: tiny (about a minute) or full (a few minutes); default tiny",
    )
    parser.add_argument(
        "--epochs",
        type=int,
        default=None,
        help="training epochs (>= 2; default 2 for tiny, 8 for full)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of everything (default 0)")
    parser.add_argument(
        "--timeout",
        type=float,
        default=1800.0,
        help="seconds each backend subprocess may run (default 1800)",
    )
    parser.add_argument("--worker", choices=_BACKENDS, help=argparse.SUPPRESS)
    parser.add_argument("--task", type=Path, help=argparse.SUPPRESS)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit code (0 PASS, 1 FAIL, 2 error)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.worker is not None:
        if args.task is None:
            parser.error("--worker needs --task")
        logging.basicConfig(level=logging.WARNING)
        return _worker_main(args.worker, args.task)
    if args.output_dir is None:
        parser.error("--output_dir is required")
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        result = run_parity(args.output_dir, args.size, args.epochs, args.seed, args.timeout)
    except (ValueError, PermissionError) as exc:
        parser.error(str(exc))
    except (RuntimeError, subprocess.TimeoutExpired) as exc:
        print(f"parity run failed: {exc}", file=sys.stderr)
        return 2
    failed = [c for c in result.checks if not c["passed"]]
    print(
        f"parity {'PASS' if result.passed else 'FAIL'} ({len(result.checks) - len(failed)}/"
        f"{len(result.checks)} checks): {result.report_path}, {result.figure_path}"
    )
    for c in failed:
        print(f"  FAIL {c['section']}: {c['name']} = {c['value']:.3e} > {c['tolerance']:g}")
    return 0 if result.passed else 1


if __name__ == "__main__":
    sys.exit(main())
