"""ADAPT-002 .. ADAPT-009, ADAPT-030 .. ADAPT-034: the TrainableReconstructor contract.

Each method of Ptychodus 1.7's ``TrainableReconstructor`` is exercised on the real ``ptychodus``
classes. Tests that need a trained model use the TensorFlow backend (2 epochs, tiny network).
"""

from __future__ import annotations

import json
import logging
import re
import shutil
import sys
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from ptychodus.api.reconstruct import ReconstructOutput, TrainableReconstructor, TrainOutput

from ptycho.archive import read_archive, write_archive
from ptycho_reconstructor.library import PtychoPINNxLibrary

from .factories import make_reconstruct_input, tiny_settings

BACKEND = "tensorflow"


@pytest.fixture
def pinn(library: PtychoPINNxLibrary) -> Any:
    return library.reconstructor("PINN")


@pytest.mark.parametrize("name", ["PINN", "Supervised"])
def test_static_methods_follow_the_ptychodus_api(library: PtychoPINNxLibrary, name: str) -> None:
    """ADAPT-002: filters, extension with its dot, progress goal, trainable type."""
    reconstructor = library.reconstructor(name)
    assert isinstance(reconstructor, TrainableReconstructor)
    assert reconstructor.name == name
    assert "(*.zip)" in reconstructor.get_model_file_filter()
    assert reconstructor.get_model_file_extension() == ".zip"
    assert "(*.npz)" in reconstructor.get_training_data_file_filter()
    assert reconstructor.get_progress_goal() == 1
    # the pretrained model that ships with ptychopinn stands in until one is trained or loaded
    assert reconstructor.is_model_loaded() is True


@pytest.mark.integration
def test_infer_without_a_model_uses_the_pretrained_one(
    library: PtychoPINNxLibrary, pinn: Any, sim_input: Any
) -> None:
    """D13: Infer works right after installation: with no model trained or loaded, the shipped
    pretrained model reconstructs the scan (and ModelPath stays empty)."""
    library.settings.execution.backend.set_value(BACKEND)
    assert "pretrained" in library.model_slot.describe()
    output = list(pinn.reconstruct(sim_input))[-1]
    obj = output.product.object_.get_layer(0)
    assert obj.shape == sim_input.product.object_.get_layer(0).shape
    assert np.all(np.isfinite(obj)) and np.abs(obj).max() > 0
    assert library.model_slot.bundle is not None
    assert library.model_slot.bundle.model_config.architecture == "backprop_unet"
    assert str(library.settings.inference.model_path.get_value()) in ("", ".")


def test_infer_by_default_returns_the_refined_image_and_says_so(
    library: PtychoPINNxLibrary, pinn: Any, sim_input: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """Issue 11: with the library's defaults Infer returns the network's image refined by
    RefineIterations (ptycho.defaults, 50) physics iterations, and the log says which image the
    user got; RefineIterations = 0 is the network alone, one setting away."""
    from ptycho import defaults

    library.settings.execution.backend.set_value(BACKEND)
    caplog.set_level(logging.INFO, logger="ptycho_reconstructor")
    refined = list(pinn.reconstruct(sim_input))[-1].product.object_.get_layer(0)
    assert f"refined by {defaults.REFINE_ITERATIONS} physics iterations" in caplog.text
    caplog.clear()
    library.settings.inference.refine_iterations.set_value(0)
    alone = list(pinn.reconstruct(sim_input))[-1].product.object_.get_layer(0)
    assert "the network's image alone" in caplog.text
    assert not np.allclose(refined, alone)


def test_infer_without_any_model_is_a_clear_error(
    pinn: Any, sim_input: Any, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Bad input: no model loaded and no pretrained model installed; the error is also logged on
    the library logger."""
    import ptycho.pretrained

    monkeypatch.setattr(ptycho.pretrained, "ARCHIVE_FILE", "missing_model.zip")
    with pytest.raises(RuntimeError, match="no PtychoPINNx model is loaded: train one"):
        list(pinn.reconstruct(sim_input))
    assert "PINN inference failed: RuntimeError" in caplog.text
    with pytest.raises(RuntimeError, match="no PtychoPINNx model is loaded"):
        pinn.save_model(Path("never_written.zip"))
    assert not Path("never_written.zip").exists()


def test_load_model_errors(library: PtychoPINNxLibrary, pinn: Any, tmp_path: Path) -> None:
    """Bad input: a missing model file, a file that is not a model archive; a failed load leaves
    the slot as it was (nothing loaded, ModelPath empty: only the pretrained fallback)."""
    with pytest.raises(FileNotFoundError, match="does not exist"):
        pinn.load_model_from_file(tmp_path / "missing.zip")
    junk = tmp_path / "junk.zip"
    junk.write_bytes(b"definitely not a zip")
    with pytest.raises(ValueError, match="corrupt or truncated"):
        pinn.load_model_from_file(junk)
    assert library.model_slot.bundle is None
    assert str(library.settings.inference.model_path.get_value()) in ("", ".")
    assert "pretrained" in library.model_slot.describe()


def test_train_without_training_files_is_a_clear_error(pinn: Any, tmp_path: Path) -> None:
    """Bad input: missing training files."""
    with pytest.raises(FileNotFoundError, match="no training data in"):
        list(pinn.train(tmp_path, tmp_path / "out"))


def test_export_training_data(pinn: Any, sim_input: Any, tmp_path: Path) -> None:
    """ADAPT-002: export_training_data writes the NPZ contract at the given path."""
    pinn.export_training_data(tmp_path / "export.npz", sim_input)
    with np.load(tmp_path / "export.npz") as f:
        assert f["diff3d"].dtype == np.float32 and f["diff3d"].shape == (64, 64, 64)


@pytest.mark.integration
def test_train_yields_one_output_per_epoch_then_the_goal(trained: Any) -> None:
    """ADAPT-003 / D10: TrainOutput per epoch (losses, progress = epochs done), last = goal."""
    archive, outputs = trained(BACKEND)
    assert all(isinstance(o, TrainOutput) for o in outputs)
    assert [o.progress for o in outputs] == [1, 2, 2]
    assert [len(o.training_loss) for o in outputs] == [1, 2, 2]
    assert [loss.epoch for loss in outputs[-1].training_loss] == [1, 2]
    assert len(outputs[-1].validation_loss) == 2
    assert archive.is_file()
    for name in ("history.csv", "loss.png"):
        assert (archive.parent / name).is_file()


@pytest.mark.integration
def test_model_files_infer_and_save(
    trained: Any, library: PtychoPINNxLibrary, sim_input: Any, tmp_path: Path
) -> None:
    """ADAPT-002/030/031: any file name loads; infer yields once at the goal; save round trip."""
    archive, _ = trained(BACKEND)
    tiny_settings(library, BACKEND)
    pinn = library.reconstructor("PINN")
    model_file = tmp_path / "model.zip"  # batch mode's IN/model.zip
    shutil.copy(archive, model_file)
    pinn.load_model_from_file(model_file)
    assert pinn.is_model_loaded()
    assert library.settings.inference.model_path.get_value() == model_file
    outputs = list(pinn.reconstruct(sim_input))
    assert len(outputs) == 1 and isinstance(outputs[0], ReconstructOutput)
    assert outputs[0].progress == pinn.get_progress_goal() == 1
    product = outputs[0].product
    assert product.object_.get_geometry() == sim_input.product.object_.get_geometry()
    assert np.iscomplexobj(product.object_.get_array())
    assert [loss.epoch for loss in product.losses] == [1, 2]
    saved = tmp_path / "saved_model.zip"
    pinn.save_model(saved)
    assert read_archive(saved).backend == BACKEND


@pytest.mark.integration
def test_model_path_setting_is_loaded_lazily(
    trained: Any, library: PtychoPINNxLibrary, sim_input: Any
) -> None:
    """ADAPT-032: a path typed into ModelPath counts as loaded and is loaded on the next run."""
    archive, _ = trained(BACKEND)
    tiny_settings(library, BACKEND)
    library.settings.inference.model_path.set_value(archive)
    supervised = library.reconstructor("Supervised")
    assert supervised.is_model_loaded()
    assert library.model_slot.bundle is None
    (output,) = list(supervised.reconstruct(sim_input))
    assert library.model_slot.bundle is not None
    assert output.product.object_.get_array().shape[1:] == (113, 114)


@pytest.mark.integration
def test_builtin_style_zip_holding_the_archive_is_accepted(
    trained: Any, library: PtychoPINNxLibrary, tmp_path: Path
) -> None:
    """ADAPT-033: a zip that contains wts.h5.zip (built-in PtychoPINN's save_model layout)."""
    archive, _ = trained(BACKEND)
    tiny_settings(library, BACKEND)
    outer = tmp_path / "model.zip"
    with zipfile.ZipFile(outer, "w") as z:
        z.write(archive, "wts.h5.zip")
    library.reconstructor("PINN").load_model_from_file(outer)
    assert library.model_slot.bundle is not None and library.model_slot.bundle.N == 64


@pytest.mark.integration
def test_model_that_does_not_match_the_data_is_refused(
    trained: Any, library: PtychoPINNxLibrary, sim_input: Any
) -> None:
    """Bad input: a cnn model whose N does not match the data, a gridsize that does not match
    the settings. A backprop_unet model (the default) runs at the data's N (ARCH-014)."""
    from ptycho.config.config import ModelConfig
    from ptycho.weights import expected_weight_shapes
    from ptycho_reconstructor.execution import resolve_backend

    archive, _ = trained(BACKEND)
    tiny_settings(library, BACKEND)
    pinn = library.reconstructor("PINN")
    pinn.load_model_from_file(archive)
    n = 128
    yy, xx = np.mgrid[:n, :n] - (n / 2 - 0.5)
    probe = (np.hypot(xx, yy) < n / 4).astype(np.complex64)
    big = make_reconstruct_input(
        np.ones((4, n, n), dtype=np.uint32),
        np.zeros(4),
        np.zeros(4),
        probe=probe,
        object_shape=(300, 300),
    )
    output = list(pinn.reconstruct(big))[-1]
    assert output.product.object_.get_array().shape[-2:] == (300, 300)
    cnn = ModelConfig(N=64, n_filters_scale=1, architecture="cnn")
    weights = {
        name: np.zeros(shape, np.float32) for name, shape in expected_weight_shapes(cnn).items()
    }
    api = resolve_backend(BACKEND)
    bundle = api.bundle_from_weights(cnn, None, weights, probe[32:96, 32:96], 10.0)
    library.settings.inference.model_path.set_value(Path())
    library.model_slot.set(bundle, None)
    with pytest.raises(ValueError, match="trained on 64x64 diffraction patterns but these are 128"):
        list(pinn.reconstruct(big))
    library.settings.model.gridsize.set_value(2)
    with pytest.raises(ValueError, match="uses GridSize 1 but PtychoPINNxModel.GridSize is 2"):
        list(pinn.reconstruct(sim_input))


@pytest.mark.integration
def test_archive_of_the_other_backend_that_cannot_be_converted(
    trained: Any, library: PtychoPINNxLibrary, tmp_path: Path
) -> None:
    """Bad input: a TensorFlow archive without its weight map, loaded for PyTorch."""
    archive, _ = trained(BACKEND)
    contents = read_archive(archive)
    manifest = json.loads(json.dumps(contents.manifest))
    manifest.pop("weight_names", None)
    broken = tmp_path / "no_weight_map.zip"
    write_archive(broken, manifest, contents.files)
    tiny_settings(library, "pytorch")
    both = r"(?i)tensorflow.*pytorch|pytorch.*tensorflow"
    with pytest.raises((ValueError, RuntimeError), match=both):
        library.reconstructor("PINN").load_model_from_file(broken)


def test_backend_not_installed_reaches_the_user_with_the_install_command(
    library: PtychoPINNxLibrary, sim_input: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Bad input: the selected backend is not installed (D7): RuntimeError with the pip command."""
    monkeypatch.setitem(sys.modules, "lightning", None)  # `import lightning` now fails
    tiny_settings(library, "pytorch", epochs=1)
    with pytest.raises(RuntimeError, match=re.escape("pip install 'ptychopinn[torch]'")):
        list(library.reconstructor("PINN-Fit").reconstruct(sim_input))


@pytest.mark.integration
def test_refinement_settings_refine_the_object_and_hand_back_the_refined_probe(
    trained: Any, library: PtychoPINNxLibrary, sim_input: Any
) -> None:
    """ADAPT-013/026, ARCH-013: RefineIterations refines the stitched object on the input grid;
    with RefineProbe the refined probe (not the input probe) goes back to Ptychodus."""
    archive, _ = trained(BACKEND)
    tiny_settings(library, BACKEND)
    pinn = library.reconstructor("PINN")
    pinn.load_model_from_file(archive)
    (plain_output,) = pinn.reconstruct(sim_input)
    plain = plain_output.product
    library.settings.inference.refine_iterations.set_value(5)
    library.settings.inference.refine_probe.set_value(True)
    (refined_output,) = pinn.reconstruct(sim_input)
    refined = refined_output.product
    assert refined.object_.get_geometry() == sim_input.product.object_.get_geometry()
    assert not np.allclose(refined.object_.get_array(), plain.object_.get_array())
    probe_in = sim_input.product.probes.get_array()
    assert refined.probes.get_array().shape == probe_in.shape
    assert not np.allclose(refined.probes.get_array(), probe_in)
    np.testing.assert_allclose(plain.probes.get_array(), probe_in)
