"""BUILTIN-001 .. BUILTIN-006: Ptychodus's own PtychoPINN (TF) client against our ``ptycho``.

Ptychodus 1.7's built-in library builds our configs in its GUI process
(``ptychodus.model.ptychopinn.reconstructor``) and runs ``run_train`` / ``run_reconstruct`` of
``ptychodus.model.ptychopinn._subprocess`` in a spawned child. Here the parent-side builders and
the two child functions are called directly, in this process, with a payload and a plain queue;
the functions are Ptychodus's own code, unmodified.
"""

from __future__ import annotations

import importlib.util
import pickle
import queue
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from ptychodus.api.io import save_ptychopinn_training_data
from ptychodus.api.settings import SettingsRegistry

pytestmark = pytest.mark.integration


def _require_components() -> None:
    for module in ("ptycho.workflows.components", "ptycho.model_manager", "ptycho.tf.api"):
        if importlib.util.find_spec(module) is None:
            pytest.skip(f"{module} is not available yet")


@pytest.fixture
def builtin() -> Any:
    """The built-in library's settings (Ptychodus's own classes), tiny model and 2 epochs."""
    from ptychodus.model.ptychopinn.core import PtychoPINNReconstructorLibrary

    library = PtychoPINNReconstructorLibrary(SettingsRegistry(), False)
    library.model_settings.n_filters_scale.set_value(1)
    library.training_settings.nepochs.set_value(2)
    library.training_settings.batch_size.set_value(16)
    library.inference_settings.n_samples.set_value(64)  # the default, 1, reconstructs 1 group
    return library


def _drain(q: queue.Queue[Any]) -> list[tuple[Any, ...]]:
    items = []
    while not q.empty():
        items.append(q.get_nowait())
    return items


def test_builtin_parent_builds_our_configs(builtin: Any) -> None:
    """BUILTIN-001: the parent-side config builders construct our (mutable) configs."""
    from ptychodus.model.ptychopinn.reconstructor import (
        _build_inference_config,
        _build_training_config,
    )

    from ptycho.config.config import InferenceConfig, TrainingConfig

    training = _build_training_config(builtin.model_settings, builtin.training_settings, "PINN")
    assert isinstance(training, TrainingConfig) and training.model.N == 0
    training.model.N = 64  # what the child does
    assert training.model.N == 64 and training.nepochs == 2
    inference = _build_inference_config(
        builtin.model_settings, "Supervised", 64, is_developer_mode_enabled=False
    )
    assert isinstance(inference, InferenceConfig) and inference.model.model_type == "supervised"
    assert pickle.loads(pickle.dumps(training)) == training


def test_builtin_child_train_then_reconstruct(
    builtin: Any, sim_input: Any, sim: Any, tmp_path: Path
) -> None:
    """BUILTIN-002..006: run_train writes wts.h5.zip; run_reconstruct returns a complex object
    on the input grid."""
    _require_components()
    from ptychodus.api.reconstruct import ReconstructOutput, TrainOutput
    from ptychodus.model.ptychopinn._payload import ReconstructPayload, TrainPayload
    from ptychodus.model.ptychopinn._subprocess import run_reconstruct, run_train
    from ptychodus.model.ptychopinn.reconstructor import (
        _build_inference_config,
        _build_training_config,
    )

    in_dir = tmp_path / "in"
    out_dir = tmp_path / "out"
    in_dir.mkdir()
    out_dir.mkdir()
    # Ptychodus's own exporter: integer counts, (modes, N, N) probes
    save_ptychopinn_training_data(in_dir / "train_data.npz", sim_input)
    save_ptychopinn_training_data(in_dir / "test_data.npz", sim_input)

    q: queue.Queue[Any] = queue.Queue()
    training = _build_training_config(builtin.model_settings, builtin.training_settings, "PINN")
    run_train(TrainPayload(training_config=training, input_path=in_dir, output_path=out_dir), q)
    messages = _drain(q)
    tags = [m[0] for m in messages]
    assert tags == ["train_output", "model_saved"]
    assert isinstance(pickle.loads(messages[0][1]), TrainOutput)
    assert Path(messages[1][1]) == out_dir / "wts.h5.zip" and (out_dir / "wts.h5.zip").is_file()

    inference = _build_inference_config(
        builtin.model_settings, "PINN", 64, is_developer_mode_enabled=False
    )
    payload = ReconstructPayload(
        inference_config=inference,
        model_bundle_dir=out_dir,
        n_nearest_neighbors=builtin.inference_settings.n_nearest_neighbors.get_value(),
        n_samples=builtin.inference_settings.n_samples.get_value(),
        reconstruct_input=sim_input,
    )
    run_reconstruct(payload, q)
    (message,) = _drain(q)
    assert message[0] == "output"
    output = pickle.loads(message[1])
    assert isinstance(output, ReconstructOutput)
    obj = output.product.object_.get_layer(0)
    assert np.iscomplexobj(obj) and np.all(np.isfinite(obj))
    geometry_in = sim_input.product.object_.get_geometry()
    geometry_out = output.product.object_.get_geometry()
    assert geometry_out.pixel_width_m == geometry_in.pixel_width_m
    assert (geometry_out.center_x_m, geometry_out.center_y_m) == (
        geometry_in.center_x_m,
        geometry_in.center_y_m,
    )
    # The built-in client places the canvas centre at the input object's centre. The simulated
    # scan is centred on its object, so the reconstructed (non-zero) region must be centred in
    # the canvas for the result to overlay the input.
    rows, cols = np.nonzero(np.abs(obj) > 0)
    assert rows.size > 0
    centre_row = (rows.min() + rows.max()) / 2
    centre_col = (cols.min() + cols.max()) / 2
    assert abs(centre_row - (obj.shape[0] - 1) / 2) <= 1.5
    assert abs(centre_col - (obj.shape[1] - 1) / 2) <= 1.5
    extent = sim.raw.xcoords.max() - sim.raw.xcoords.min()
    assert cols.max() - cols.min() + 1 >= extent  # the whole scan is reconstructed
