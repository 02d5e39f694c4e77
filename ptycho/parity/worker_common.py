"""Framework-free helpers shared by the backends' parity workers.

Each backend has a worker module (:data:`ptycho.parity.settings.PARITY_WORKERS`:
``ptycho.tf.parity_worker``, ``ptycho_torch.parity_worker``) run as
``python -m <module> TASK_JSON``. The workers hand their backend's API module (the
:class:`ptycho.backend.BackendAPI` contract) to these helpers; nothing here imports a framework
or a backend.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ptycho.parity.outputs import json_default

if TYPE_CHECKING:
    from ptycho.backend import BackendAPI, ModelBundle
    from ptycho.config.config import ModelConfig, TrainingConfig
    from ptycho.loader import PtychoDataContainer

__all__ = [
    "initial_probe",
    "initial_scale",
    "load_bundle_as",
    "load_containers",
    "load_physics_inputs",
    "load_task",
    "save_arrays",
    "timed_inference",
    "timed_training",
    "worker_configs",
    "worker_main",
]

#: A worker's task runner: the task (JSON) -> its result (JSON-serialisable).
TaskRunner = Callable[[Mapping[str, Any]], dict[str, Any]]


def load_task(path: Path) -> dict[str, Any]:
    """The task JSON written by :func:`ptycho.parity.orchestrator.run_worker`."""
    task: dict[str, Any] = json.loads(Path(path).read_text())
    return task


def worker_configs(task: Mapping[str, Any], backend: str) -> tuple[ModelConfig, TrainingConfig]:
    """The task's model and training configs for ``backend`` (output in ``work/out_<backend>``)."""
    from ptycho.config.config import ModelConfig, TrainingConfig, from_dict

    model = from_dict(ModelConfig, task["configs"]["model"])
    training_dict = dict(task["configs"]["training"], backend=backend)
    training_dict["output_dir"] = str(Path(task["work"]) / f"out_{backend}")
    training = from_dict(TrainingConfig, training_dict)
    return model, training


def load_containers(task: Mapping[str, Any]) -> dict[str, PtychoDataContainer]:
    """The task's ``train``, ``val`` and ``test`` containers (grouped data, from ``.npz``)."""
    from ptycho.loader import PtychoDataContainer

    return {k: PtychoDataContainer.from_npz(v) for k, v in task["data"].items()}


def load_physics_inputs(task: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """The physics inputs (:func:`ptycho.parity.reference.physics_inputs`) of the task."""
    with np.load(task["physics_in"], allow_pickle=False) as f:
        return dict(f)


def initial_probe(container: PtychoDataContainer, model: ModelConfig) -> np.ndarray:
    """The container's probe normalised with the model's ``probe_scale``, (N, N) complex."""
    from ptycho.probe import normalize_probe

    return normalize_probe(container.probe, model.probe_scale)


def initial_scale(training: TrainingConfig, model: ModelConfig) -> float:
    """The initial intensity scale ``s`` for ``training.nphotons`` at patch size ``model.N``."""
    from ptycho.physics.forward import intensity_scale

    return float(intensity_scale(training.nphotons, model.N))


def load_bundle_as(api: BackendAPI, path: str | os.PathLike[str]) -> ModelBundle:
    """Load the archive at ``path`` with ``api``'s backend, converting another backend's archive.

    The same steps as :func:`ptycho.workflows.backend_selector.load_inference_bundle_with_backend`
    for an archive, without the dispatcher: an archive of another backend goes through the
    framework-free converter (:func:`ptycho.weights.convert_archive_bundle`) into ``api``'s
    backend; an archive of ``api``'s own backend is read by ``api.load_bundle``.
    """
    from ptycho.archive import read_archive
    from ptycho.weights import convert_archive_bundle

    contents = read_archive(path)
    if contents.backend != api.BACKEND:
        return convert_archive_bundle(contents, target=api)
    return api.load_bundle(contents.path)


def save_arrays(work: Path, name: str, arrays: Mapping[str, Any]) -> None:
    """Write ``arrays`` to ``work/<name>.npz`` (each value through ``np.asarray``)."""
    values: dict[str, Any] = {k: np.asarray(v) for k, v in arrays.items()}
    np.savez(work / f"{name}.npz", **values)


def timed_training(
    api: BackendAPI,
    containers: Mapping[str, PtychoDataContainer],
    training: TrainingConfig,
    initial: ModelBundle,
    **kwargs: Any,
) -> tuple[ModelBundle, dict[str, Any]]:
    """Train from ``initial`` and time every epoch through the epoch callback.

    ``kwargs`` go to ``api.train`` (e.g. ``execution``, ``output_dir``). Returns the trained
    bundle and the speed record: ``epochs_timed``, ``first_epoch_s``, ``epoch_s`` (seconds per
    epoch) and ``train_groups_per_s`` (training groups / median seconds of the epochs after the
    first).
    """
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


def timed_inference(
    api: BackendAPI,
    bundle: ModelBundle,
    container: PtychoDataContainer,
    crop: int,
    shape: Sequence[int],
) -> tuple[np.ndarray, dict[str, float]]:
    """Predict the test groups (warm-up, then the median of 3 timed runs incl. stitching).

    ``crop`` is the central window (pixels) of each patch that is stitched, ``shape`` the
    ``(H, W)`` of the stitched object. Returns the object patches (B, N, N, 1) complex64 and
    ``inference_s`` (seconds), ``inference_groups_per_s``, ``inference_patterns_per_s``.
    """
    from ptycho.stitching import stitch_patches

    offsets = np.asarray(container.global_offsets, dtype=np.float64).reshape(-1, 2)
    height, width = (int(v) for v in shape)
    patches = api.predict_patches(bundle, container, batch_size=64)
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        patches = api.predict_patches(bundle, container, batch_size=64)
        stitch_patches(patches[..., 0], offsets[:, 0], offsets[:, 1], (height, width), crop=crop)
        times.append(time.perf_counter() - t0)
    t = float(np.median(times))
    groups = len(container)
    channels = int(container.X.shape[3])
    return patches, {
        "inference_s": t,
        "inference_groups_per_s": groups / t,
        "inference_patterns_per_s": groups * channels / t,
    }


def worker_main(argv: Sequence[str] | None, run_task: TaskRunner, prog: str) -> int:
    """Entry point of a worker module: ``python -m <module> TASK_JSON``.

    Loads the task, records the 1-minute load average, runs ``run_task`` and writes its result
    (with ``load_average``) as JSON to the task's ``result`` path. Returns the exit code 0; an
    exception propagates (non-zero exit; the orchestrator reports the stderr).
    """
    parser = argparse.ArgumentParser(
        prog=prog, description="One backend's parity worker (run by python -m ptycho.parity)."
    )
    parser.add_argument("task", type=Path, help="the task JSON written by the orchestrator")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    task = load_task(args.task)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    result = run_task(task)
    result["load_average"] = load
    Path(task["result"]).write_text(json.dumps(result, default=json_default))
    return 0
