"""Ptychodus 1.7's built-in PtychoPINN-Torch child entry points run against ptycho_torch.

``ptychodus.model.ptychopinn_torch._subprocess.run_train`` / ``run_reconstruct`` are called in
process (Ptychodus spawns them in a child) with the configs its GUI builds, on tiny data in
Ptychodus's export format (integer counts, probe mode stack).
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("ptychodus")


class _Queue:
    """The part of multiprocessing.Queue the entry points use."""

    def __init__(self) -> None:
        self.items: list[tuple[str, Any]] = []

    def put(self, item: tuple[str, Any]) -> None:
        self.items.append(item)


def _configs(epochs: int = 2) -> tuple[Any, ...]:
    from ptychodus.api.settings import SettingsRegistry
    from ptychodus.model.ptychopinn_torch import settings as s
    from ptychodus.model.ptychopinn_torch.reconstructor import _build_configs

    registry = SettingsRegistry()
    data = s.PtychoPINNTorchDataSettings(registry)
    model = s.PtychoPINNTorchModelSettings(registry)
    training = s.PtychoPINNTorchTrainingSettings(registry)
    inference = s.PtychoPINNTorchInferenceSettings(registry)
    data.model_size.set_value(64)
    data.num_channels.set_value(1)
    data.grid_size_x.set_value(1)
    data.grid_size_y.set_value(1)
    model.num_filters_scale.set_value(1)
    training.epochs.set_value(epochs)
    training.num_dataloader_workers.set_value(0)
    return _build_configs("Unsupervised", data, model, training, inference)


def _export(scan: Any, path: Path) -> None:
    """Training data as Ptychodus exports it (counts, (modes, N, N) probe)."""
    raw = scan.raw
    np.savez(
        path,
        xcoords=raw.xcoords,
        ycoords=raw.ycoords,
        xcoords_start=raw.xcoords,
        ycoords_start=raw.ycoords,
        diff3d=scan.counts.astype(np.int32),
        bad_pixels=np.zeros((64, 64), dtype=bool),
        probeGuess=raw.probeGuess[None],
        objectGuess=raw.objectGuess,
        scan_index=np.zeros(len(raw), dtype=np.int64),
    )


def _reconstruct_input(scan: Any) -> Any:
    from ptychodus.api.geometry import PixelGeometry
    from ptychodus.api.object import Object, ObjectCenter
    from ptychodus.api.probe import ProbeSequence
    from ptychodus.api.probe_positions import ProbePosition, ProbePositionSequence
    from ptychodus.api.product import Product, ProductMetadata
    from ptychodus.api.reconstruct import ReconstructInput

    pixel = 1e-8
    h, w = scan.object.shape
    x_m = (scan.raw.xcoords - 0.5 - (w - 1) / 2) * pixel
    y_m = (scan.raw.ycoords - 0.5 - (h - 1) / 2) * pixel
    positions = ProbePositionSequence(
        [
            ProbePosition(i, float(x), float(y))
            for i, (x, y) in enumerate(zip(x_m, y_m, strict=True))
        ]
    )
    geometry = PixelGeometry(pixel, pixel)
    probes = ProbeSequence(scan.raw.probeGuess[None].astype(np.complex64), None, geometry)
    obj = Object(np.ones((h, w), np.complex64), geometry, ObjectCenter(0.0, 0.0))
    metadata = ProductMetadata("scan", "test", 1.0, 10000.0, 1e6, 0.0, 0.0, 0.0)
    product = Product(
        metadata=metadata, probe_positions=positions, probes=probes, object_=obj, losses=[]
    )
    return ReconstructInput(scan.counts.astype(np.int32), np.zeros((64, 64), bool), product)


@pytest.mark.integration
def test_builtin_torch_client_trains_and_reconstructs_with_this_backend(
    tiny_scan, tmp_path, monkeypatch
):
    """run_train: per-epoch losses under the names Ptychodus reads, a checkpoint found by
    find_best_checkpoint; run_reconstruct: a complex object on the input object's grid."""
    from ptychodus.model.processing.subprocess_reconstructor import (
        TAG_MODEL_SAVED,
        TAG_OUTPUT,
        TAG_TRAIN_OUTPUT,
    )
    from ptychodus.model.ptychopinn_torch._payload import ReconstructPayload, TrainPayload
    from ptychodus.model.ptychopinn_torch._subprocess import run_reconstruct, run_train

    monkeypatch.chdir(tmp_path)  # nothing may be written here
    data_dir = tmp_path / "train"
    data_dir.mkdir()
    _export(tiny_scan, data_dir / "training_data.npz")
    configs = pickle.loads(pickle.dumps(_configs(epochs=2)))
    payload = TrainPayload(
        *configs, input_path=data_dir, output_path=data_dir, visible_gpu_indices=""
    )
    queue = _Queue()
    run_train(payload, queue)
    tags = dict(queue.items)
    train_output = pickle.loads(tags[TAG_TRAIN_OUTPUT])
    assert [loss.epoch for loss in train_output.training_loss] == [0, 1]
    assert len(train_output.validation_loss) == 2
    checkpoint = Path(tags[TAG_MODEL_SAVED])
    assert checkpoint.is_file() and checkpoint.suffix == ".ckpt"
    assert checkpoint.parent.parent.name.startswith("run_")
    assert (checkpoint.parent.parent / "wts.h5.zip").is_file()

    queue = _Queue()
    run_reconstruct(
        ReconstructPayload("Unsupervised", checkpoint, _reconstruct_input(tiny_scan)), queue
    )
    output = pickle.loads(dict(queue.items)[TAG_OUTPUT])
    array = output.product.object_.get_array()
    assert array.shape[-2:] == tiny_scan.object.shape
    assert np.iscomplexobj(array) and np.all(np.isfinite(array))
    assert float(np.abs(array).max()) > 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["train"]


def test_checkpoint_from_the_cli_is_described_by_original_configs(tmp_path, tiny_scan):
    """A checkpoint trained with core configs answers _extract_configs_from_checkpoint with
    original-config dicts that rebuild the same architecture."""
    from torch_factories import make_container, tiny_config

    from ptycho.config.config import PyTorchExecutionConfig
    from ptycho_torch import api
    from ptycho_torch.api.base_api import ConfigManager, PtychoModel
    from ptycho_torch.lightning_utils import find_best_checkpoint
    from ptycho_torch.model import PtychoPINN_Lightning

    api.train(
        make_container(tiny_scan, n_groups=16),
        tiny_config(nepochs=1, amp_activation="swish"),
        execution=PyTorchExecutionConfig(logger_backend=None),
        output_dir=tmp_path,
    )
    path = find_best_checkpoint(tmp_path)
    assert path is not None and path.name.startswith("best-epoch")
    data, model, training, inference = PtychoModel._extract_configs_from_checkpoint(str(path))
    assert model["mode"] == "Unsupervised" and model["amp_activation"] == "silu"
    ptycho_model = PtychoModel(
        model_config=model, data_config=data, training_config=training, inference_config=inference
    )
    ptycho_model.model = PtychoPINN_Lightning.load_from_checkpoint(
        path,
        model_config=model,
        data_config=data,
        training_config=training,
        inference_config=inference,
    )
    manager = ConfigManager.from_loaded_model(ptycho_model)
    manager.validate_arch_compatibility(ptycho_model)
    assert manager.model_config.mode == "Unsupervised"
    assert find_best_checkpoint(tmp_path / "nothing") is None
