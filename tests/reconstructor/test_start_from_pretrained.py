"""PtychoPINNxTraining.StartFromPretrained (issue 11 defaults, D13): PINN training in Ptychodus
fine-tunes the shipped pretrained model when the model settings describe it, and says so."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ptycho import defaults

pytestmark = pytest.mark.integration

BACKENDS = ("tensorflow", "pytorch")


def _train_one_epoch(library: Any, backend: str, batch_dir: Path, out: Path) -> Any:
    s = library.settings
    s.execution.backend.set_value(backend)
    s.training.nepochs.set_value(1)
    s.training.n_groups.set_value(32)
    s.training.validation_fraction.set_value(0.0)
    s.training.learning_rate.set_value(1e-4)
    list(library.reconstructor("PINN").train(batch_dir, out))
    return library.model_slot.bundle


def _weights(bundle: Any) -> dict[str, np.ndarray]:
    from ptycho.workflows.backend_selector import get_backend

    return get_backend(bundle.backend).weights_of(bundle)


@pytest.mark.parametrize("backend", BACKENDS)
def test_pinn_training_fine_tunes_the_pretrained_model_by_default(
    library: Any, backend: str, batch_dir: Path, tmp_path: Path, caplog: Any
) -> None:
    """With the default settings one epoch of training moves the pretrained weights only a
    little (it continued them; a new network would be nowhere near), at the data's probe."""
    from ptycho.pretrained import archive_path
    from ptycho.workflows.backend_selector import load_inference_bundle_with_backend

    assert library.settings.training.start_from_pretrained.get_value() is True
    assert defaults.START_FROM_PRETRAINED is True
    caplog.set_level(logging.INFO, logger="ptycho_reconstructor")
    trained = _train_one_epoch(library, backend, batch_dir, tmp_path / "out")
    assert "fine-tuning the pretrained model" in caplog.text
    shipped = _weights(load_inference_bundle_with_backend(archive_path(), backend=backend))
    for name, value in _weights(trained).items():
        if name in ("probe_real", "probe_imag") or value.size < 1000:
            continue
        change = np.linalg.norm(value - shipped[name]) / np.linalg.norm(shipped[name])
        assert change < 0.2, (name, change)
    assert (tmp_path / "out" / "wts.h5.zip").is_file()


def test_other_model_settings_train_a_new_network_and_say_why(
    library: Any, batch_dir: Path, tmp_path: Path, caplog: Any
) -> None:
    """NumFiltersScale 1 is not the pretrained network: a new one is trained, and the log names
    the setting that differs and how to silence the note."""
    library.settings.model.n_filters_scale.set_value(1)
    caplog.set_level(logging.INFO, logger="ptycho_reconstructor")
    trained = _train_one_epoch(library, "tensorflow", batch_dir, tmp_path / "out")
    assert "training a new network: the model settings differ" in caplog.text
    assert "n_filters_scale 1 (pretrained: 2)" in caplog.text
    assert "StartFromPretrained" in caplog.text
    assert trained.model_config.n_filters_scale == 1


def test_start_from_pretrained_off_trains_a_new_network(
    library: Any, batch_dir: Path, tmp_path: Path, caplog: Any
) -> None:
    library.settings.training.start_from_pretrained.set_value(False)
    library.settings.model.n_filters_scale.set_value(1)
    caplog.set_level(logging.INFO, logger="ptycho_reconstructor")
    _train_one_epoch(library, "tensorflow", batch_dir, tmp_path / "out")
    assert "training a new network (StartFromPretrained is off)" in caplog.text
    assert "fine-tuning the pretrained model" not in caplog.text


def test_pinn_fit_fine_tunes_the_pretrained_model_on_larger_patterns(
    library: Any, caplog: Any
) -> None:
    """ADAPT-004/035: with no model loaded PINN-Fit fine-tunes the pretrained model (trained at
    N = 64), rebuilt at the scan's N = 128, and returns an object on the input grid."""
    from ptycho.simulation import simulate_dataset

    from .factories import make_reconstruct_input

    scan = simulate_dataset(N=128, n_positions=16, nphotons=1e6, seed=11)
    raw = scan.raw
    pixel = 2e-8
    ri = make_reconstruct_input(
        (raw.diff3d.astype(np.float64) ** 2).astype(np.float32),
        (raw.xcoords - scan.object.shape[1] / 2) * pixel,
        (raw.ycoords - scan.object.shape[0] / 2) * pixel,
        probe=raw.probeGuess,
        object_shape=scan.object.shape,
        pixel_m=(pixel, pixel),
        center_m=(0.0, 0.0),
    )
    library.settings.execution.backend.set_value("pytorch")
    library.settings.fit.nepochs.set_value(1)
    library.settings.inference.refine_iterations.set_value(0)
    caplog.set_level(logging.INFO, logger="ptycho_reconstructor")
    outputs = list(library.reconstructor("PINN-Fit").reconstruct(ri))
    assert "PINN-Fit fine-tunes a copy of the loaded" in caplog.text
    obj = outputs[-1].product.object_.get_layer(0)
    assert obj.shape == scan.object.shape and np.all(np.isfinite(obj))
    assert library.model_slot.bundle.N == 64  # the loaded (pretrained) model is left as it was
