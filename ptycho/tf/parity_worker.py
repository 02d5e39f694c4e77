"""The TensorFlow backend's parity worker: ``python -m ptycho.tf.parity_worker TASK_JSON``.

Run by the parity harness (``python -m ptycho.parity``, :mod:`ptycho.parity.orchestrator`) in its
own subprocess, so it shares an interpreter with no other framework. Same functions as
``ptycho_torch.parity_worker``: :func:`physics_outputs` (this backend's physics on the harness's
inputs), :func:`model_outputs` (a bundle's outputs on the test groups), :func:`run_task` (one
phase of the harness) and :func:`main`. Results go to ``.npz`` files in the task's working
directory and to the task's result JSON.

Phase ``a``: physics, the TensorFlow initialisation (saved as ``init_tf.h5.zip``) and its
outputs. Phase ``b``: the PyTorch initialisation (``init_torch.h5.zip``) converted and its
outputs, then training from the TensorFlow initialisation, timed.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf

from ptycho.backend import ModelBundle
from ptycho.loader import PtychoDataContainer
from ptycho.parity.reference import stitch_channels
from ptycho.parity.worker_common import (
    initial_probe,
    initial_scale,
    load_bundle_as,
    load_containers,
    load_physics_inputs,
    save_arrays,
    timed_inference,
    timed_training,
    worker_configs,
    worker_main,
)
from ptycho.tf import api
from ptycho.tf import layers as tl
from ptycho.tf import physics as tp
from ptycho.tf.network import build_model

__all__ = ["main", "model_outputs", "physics_outputs", "run_task"]

BACKEND = api.BACKEND


def model_outputs(bundle: ModelBundle, container: PtychoDataContainer) -> dict[str, np.ndarray]:
    """A TensorFlow bundle's outputs on ``container``'s groups (channel-last, like the core).

    Returns ``object`` (B, N, N, 1) complex64 (``api.predict_patches``), ``object_graph`` (the
    training graph's trimmed object), ``patches`` (B, N, N, C) complex object patches and
    ``diffraction`` (B, N, N, C) float32 predicted scaled amplitude ``s A``.
    """
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


def physics_outputs(inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The TensorFlow physics on the harness's float32 inputs
    (:func:`ptycho.parity.reference.physics_inputs`), keyed like the NumPy reference.

    No ``extract_patches``: this backend has no whole-object patch extraction.
    """
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
        "stitching": stitch_channels(extracted, inputs["stitch_x"], inputs["stitch_y"]),
    }


def run_task(task: Mapping[str, Any]) -> dict[str, Any]:
    """Run phase ``task['phase']`` (``'a'`` or ``'b'``) of the harness; returns the result JSON.

    The result holds ``environment`` (version, threads), in phase ``b`` ``train`` (history) and
    ``speed``, and ``foreign_imported`` (whether torch got imported: it must not).
    """
    work = Path(task["work"])
    model, training = worker_configs(task, BACKEND)
    containers = load_containers(task)
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
        save_arrays(work, "physics_tensorflow", physics_outputs(load_physics_inputs(task)))
        network = build_model(
            model,
            training,
            initial_probe(containers["train"], model),
            initial_scale(training, model),
            seed=int(task["seed"]),
        )
        bundle = ModelBundle(
            backend=BACKEND,
            model_config=model,
            training_config=training,
            intensity_scale=network.intensity_scale,
            probe=network.probe,
            history={},
            network=network,
        )
        api.save_bundle(bundle, work / "init_tf.h5.zip")
        save_arrays(work, "sw_tf_native", model_outputs(bundle, containers["test"]))
    else:
        converted = load_bundle_as(api, work / "init_torch.h5.zip")
        save_arrays(work, "sw_torch_on_tf", model_outputs(converted, containers["test"]))
        initial = api.load_bundle(work / "init_tf.h5.zip")
        trained, speed = timed_training(api, containers, training, initial)
        patches, inference = timed_inference(
            api, trained, containers["test"], int(task["stitch_crop"]), task["truth_shape"]
        )
        speed.update(inference)
        save_arrays(work, "train_tensorflow", {"test_patches": patches})
        result["train"] = {"history": trained.history}
        result["speed"] = speed
    result["foreign_imported"] = "torch" in sys.modules
    return result


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m ptycho.tf.parity_worker TASK_JSON``; returns the exit code (0)."""
    return worker_main(argv, run_task, prog="python -m ptycho.tf.parity_worker")


if __name__ == "__main__":
    sys.exit(main())
