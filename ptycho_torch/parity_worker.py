"""The PyTorch backend's parity worker: ``python -m ptycho_torch.parity_worker TASK_JSON``.

Run by the parity harness (``python -m ptycho.parity``, :mod:`ptycho.parity.orchestrator`) in its
own subprocess, so it shares an interpreter with no other framework. Same functions as
``ptycho.tf.parity_worker``: :func:`physics_outputs` (this backend's physics on the harness's
inputs), :func:`model_outputs` (a bundle's outputs on the test groups), :func:`run_task` (one
phase of the harness) and :func:`main`. Results go to ``.npz`` files in the task's working
directory and to the task's result JSON.

Phase ``a`` (the only one): physics; the PyTorch initialisation (saved as ``init_torch.h5.zip``)
and its outputs; the TensorFlow initialisation (``init_tf.h5.zip``) converted and its outputs;
training from the converted TensorFlow initialisation in the TensorFlow trainer's data order,
timed.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ptycho.backend import ModelBundle
from ptycho.config.config import ModelConfig, PyTorchExecutionConfig
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
from ptycho_torch import api
from ptycho_torch import physics as pp
from ptycho_torch.network import PtychoPINNNet

__all__ = ["main", "model_outputs", "physics_outputs", "run_task"]

BACKEND = api.BACKEND


def model_outputs(bundle: ModelBundle, container: PtychoDataContainer) -> dict[str, np.ndarray]:
    """A PyTorch bundle's outputs on ``container``'s groups, in the core's channel-last layout.

    Returns ``object`` (B, N, N, 1) complex64 (``api.predict_patches``), ``object_graph`` (the
    network's object at the group centre, (B, N, N, 1)), ``patches`` (B, N, N, C) complex object
    patches and ``diffraction`` (B, N, N, C) float32 predicted scaled amplitude ``s A``.
    """
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


def physics_outputs(inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The PyTorch physics on the harness's float32 inputs
    (:func:`ptycho.parity.reference.physics_inputs`), keyed like the NumPy reference and in its
    layout (group patches channel-last)."""

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
    out["stitching"] = stitch_channels(extracted, inputs["stitch_x"], inputs["stitch_y"])
    return out


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

        def __iter__(self) -> Iterator[list[int]]:
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


def run_task(task: Mapping[str, Any]) -> dict[str, Any]:
    """Run the harness's PyTorch phase (``task['phase']`` is ``'a'``); returns the result JSON.

    The result holds ``environment`` (version, threads), ``same_data_order`` (whether the
    TensorFlow data order was used), ``train`` (history), ``speed`` and ``foreign_imported``
    (whether tensorflow got imported: it must not).
    """
    work = Path(task["work"])
    model, training = worker_configs(task, BACKEND)
    containers = load_containers(task)
    result: dict[str, Any] = {
        "environment": {"version": torch.__version__, "threads": torch.get_num_threads()}
    }
    save_arrays(work, "physics_pytorch", physics_outputs(load_physics_inputs(task)))

    with torch.random.fork_rng():
        torch.manual_seed(int(task["seed"]))
        net = PtychoPINNNet(
            model,
            probe=initial_probe(containers["train"], model),
            intensity_scale=initial_scale(training, model),
            probe_trainable=training.probe_trainable,
            intensity_scale_trainable=training.intensity_scale_trainable,
        ).eval()
    native = ModelBundle(
        backend=BACKEND,
        model_config=model,
        training_config=training,
        intensity_scale=float(net.intensity_scale.detach()),
        probe=net.probe.detach().numpy().astype(np.complex64),
        history={},
        network=net,
    )
    api.save_bundle(native, work / "init_torch.h5.zip")
    save_arrays(work, "sw_torch_native", model_outputs(native, containers["test"]))
    converted = load_bundle_as(api, work / "init_tf.h5.zip")
    save_arrays(work, "sw_tf_on_torch", model_outputs(converted, containers["test"]))

    execution = PyTorchExecutionConfig(
        accelerator="cpu",
        deterministic=True,
        scheduler="reduce_on_plateau",
        enable_checkpointing=False,
        logger_backend=None,
        enable_progress_bar=False,
    )
    initial = load_bundle_as(api, work / "init_tf.h5.zip")
    result["same_data_order"] = _use_tensorflow_data_order(int(training.seed))
    trained, speed = timed_training(
        api,
        containers,
        training,
        initial,
        execution=execution,
        output_dir=work / "out_pytorch",
    )
    patches, inference = timed_inference(
        api, trained, containers["test"], int(task["stitch_crop"]), task["truth_shape"]
    )
    speed.update(inference)
    save_arrays(work, "train_pytorch", {"test_patches": patches})
    result["train"] = {"history": trained.history}
    result["speed"] = speed
    result["foreign_imported"] = "tensorflow" in sys.modules
    return result


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m ptycho_torch.parity_worker TASK_JSON``; returns the exit code (0)."""
    return worker_main(argv, run_task, prog="python -m ptycho_torch.parity_worker")


if __name__ == "__main__":
    sys.exit(main())
