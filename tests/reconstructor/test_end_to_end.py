"""End to end with the real Ptychodus 1.7 and each backend (issue 6 "Tests and proof").

- ``ModelCore`` programmatic train -> infer (ADAPT-003, ADAPT-002);
- the stock ``ptychodus -b train`` / ``-b reconstruct`` commands in subprocesses with an INI
  selecting our algorithm, asserting the product file and a quality above the trivial baseline
  (the input's flat object) (ADAPT-070, ADAPT-072);
- PINN-Fit yielding one output per epoch with improving data fit (ADAPT-004);
- Stop ending training within one epoch with a valid model (ADAPT-042, D10);
- both backends in one process, on the same weights (ADAPT-044, D8).

Tiny data: N = 64, 64 positions, ``n_filters_scale = 1``.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from ptychodus.api.io import load_product

from ptycho.archive import read_archive
from ptycho.metrics import compare, scanned_roi
from ptycho_reconstructor.convert import display_loss_key
from ptycho_reconstructor.library import PtychoPINNxLibrary

from .factories import load_scan, ptychodus_command, require_backend, tiny_settings

pytestmark = pytest.mark.integration

BACKENDS = ["tensorflow", "pytorch"]
#: Epochs / batch size of the model whose quality is asserted (enough to beat the flat object).
QUALITY = {"tensorflow": (20, 4), "pytorch": (5, 4)}


def _quality(obj: np.ndarray, sim: Any) -> tuple[dict[str, float], dict[str, float]]:
    """Metrics of ``obj`` and of the trivial baseline (a flat object) in the scanned region."""
    roi = scanned_roi(sim.raw.xcoords, sim.raw.ycoords, 64, sim.object.shape)
    return compare(obj, sim.object, roi), compare(np.ones_like(sim.object), sim.object, roi)


def _assert_beats_baseline(obj: np.ndarray, sim: Any) -> None:
    result, baseline = _quality(obj, sim)
    assert result["amp_psnr"] > baseline["amp_psnr"], (result, baseline)
    assert result["amp_ssim"] > baseline["amp_ssim"], (result, baseline)


def _settings_ini(path: Path, backend: str, algorithm: str, epochs: int = 2) -> Path:
    path.write_text(
        "[Processing]\n"
        f"Algorithm = {algorithm}\n"
        "[PtychoPINNxExecution]\n"
        f"Backend = {backend}\n"
        "[PtychoPINNxModel]\n"
        "NumFiltersScale = 1\n"
        "[PtychoPINNxTraining]\n"
        f"NumEpochs = {epochs}\n"
        "NumGroups = 64\n"
        "[PtychoPINNxFit]\n"
        f"NumEpochs = {epochs}\n"
    )
    return path


def _run(command: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = dict(env)
    env["QT_QPA_PLATFORM"] = "offscreen"
    result = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True, timeout=900)
    return result


@pytest.mark.parametrize("backend", BACKENDS)
def test_model_core_train_then_infer(
    backend: str, model_core: Any, batch_dir: Path, tmp_path: Path, sim: Any
) -> None:
    """ADAPT-002/003: ModelCore trains on the scan, then infers with the new model."""
    require_backend(backend)
    library = model_core.processing_core.ptychopinnx_library
    tiny_settings(library, backend)
    product_api = load_scan(model_core, batch_dir)
    out = tmp_path / "train_out"
    product_api.train_reconstructor_local(batch_dir, out, algorithm="ptychopinnx_pinn", block=True)
    assert sorted(p.name for p in out.iterdir()) == ["history.csv", "loss.png", "wts.h5.zip"]
    assert read_archive(out / "wts.h5.zip").backend == backend
    pinn = library.reconstructor("PINN")
    assert pinn.is_model_loaded() and library.model_slot.path == out / "wts.h5.zip"

    result = product_api.reconstruct_local(algorithm="ptychopinnx_pinn", block=True)
    product = result.get_product()
    input_product = product_api.get_product()
    assert product.object_.get_geometry() == input_product.object_.get_geometry()
    obj = product.object_.get_layer(0)
    assert np.iscomplexobj(obj) and np.all(np.isfinite(obj))
    roi = scanned_roi(sim.raw.xcoords, sim.raw.ycoords, 64, sim.object.shape)
    assert np.all(np.abs(obj[roi]) > 0)  # every scanned pixel was reconstructed
    np.testing.assert_array_equal(product.probes.get_array(), input_product.probes.get_array())
    assert [loss.epoch for loss in product.losses] == [1, 2]


@pytest.mark.parametrize("backend", BACKENDS)
def test_stock_ptychodus_batch_train(
    backend: str, installed_hook: Path, batch_dir: Path, tmp_path: Path, subprocess_env: Any
) -> None:
    """ADAPT-070/072: `ptychodus -b train -s settings.ini` trains with our library."""
    require_backend(backend)
    ini = _settings_ini(tmp_path / "settings.ini", backend, "PtychoPINNx_PINN")
    out = tmp_path / "out"
    result = _run(
        [*ptychodus_command(), "-b", "train", "-i", str(batch_dir), "-o", str(out), "-s", str(ini)],
        subprocess_env,
        tmp_path,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert read_archive(out / "wts.h5.zip").backend == backend
    lines = (out / "history.csv").read_text().splitlines()
    assert lines[0].startswith("epoch,loss,val_loss") and len(lines) == 3
    assert (out / "loss.png").is_file()


@pytest.mark.parametrize("backend", BACKENDS)
def test_stock_ptychodus_batch_reconstruct(
    backend: str,
    installed_hook: Path,
    batch_dir: Path,
    tmp_path: Path,
    subprocess_env: Any,
    trained: Any,
    sim: Any,
) -> None:
    """ADAPT-070/072: `ptychodus -b reconstruct` with IN/model.zip writes our product.

    The product file's object lies on the input grid, beats the flat input object, the probe
    is the input probe and the losses are the model's training history.
    """
    epochs, batch_size = QUALITY[backend]
    archive, _ = trained(backend, epochs=epochs, batch_size=batch_size)
    in_dir = tmp_path / "in"
    shutil.copytree(batch_dir, in_dir)
    shutil.copy(archive, in_dir / "model.zip")
    ini = _settings_ini(tmp_path / "settings.ini", backend, "ptychopinnx_pinn")
    out = tmp_path / "out"
    result = _run(
        [
            *ptychodus_command(),
            "-b",
            "reconstruct",
            "-i",
            str(in_dir),
            "-o",
            str(out),
            "-s",
            str(ini),
        ],
        subprocess_env,
        tmp_path,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert sorted(p.name for p in out.iterdir()) == ["product.000001.h5"]
    product = load_product(out / "product.000001.h5")
    product_in = load_product(in_dir / "product.h5")
    assert product.object_.get_geometry() == product_in.object_.get_geometry()
    np.testing.assert_allclose(product.probes.get_array(), product_in.probes.get_array())
    history = read_archive(archive).manifest["history"]
    shown = history[display_loss_key(history)]
    assert [loss.value for loss in product.losses] == pytest.approx(shown)
    assert all(loss.value > 0 for loss in product.losses)  # Ptychodus plots them log-scale
    _assert_beats_baseline(product.object_.get_layer(0), sim)


def test_launcher_registers_and_reports_errors(
    batch_dir: Path, tmp_path: Path, subprocess_env: Any
) -> None:
    """ADAPT-070/009: `ptychodus-ptychopinn` (launcher) runs Ptychodus with our library; a
    failure (ModelPath names a model that does not exist) reaches the user as a clear message
    and exit code 1, not a silent none (nor the pretrained model in its place).
    """
    ini = _settings_ini(tmp_path / "settings.ini", "tensorflow", "PtychoPINNx_Supervised")
    missing = tmp_path / "missing" / "wts.h5.zip"
    ini.write_text(ini.read_text() + f"[PtychoPINNxInference]\nModelPath = {missing}\n")
    out = tmp_path / "out"
    result = _run(
        [
            sys.executable,
            "-m",
            "ptycho_reconstructor.launcher",
            "-b",
            "reconstruct",
            "-i",
            str(batch_dir),
            "-o",
            str(out),
            "-s",
            str(ini),
        ],
        subprocess_env,
        tmp_path,
    )
    assert result.returncode == 1
    text = result.stdout + result.stderr
    assert str(missing) in text and "does not exist" in text, text[-3000:]


@pytest.mark.parametrize("backend", BACKENDS)
def test_pinn_fit_yields_every_epoch_with_improving_fit(
    backend: str, library: PtychoPINNxLibrary, sim_input: Any
) -> None:
    """ADAPT-004: one output per epoch, progress = epochs done, last = goal, data fit improves."""
    require_backend(backend)
    tiny_settings(library, backend, epochs=3)
    library.settings.training.batch_size.set_value(8)
    library.settings.training.learning_rate.set_value(5e-4)
    fit = library.reconstructor("PINN-Fit")
    assert fit.get_progress_goal() == 3
    outputs = list(fit.reconstruct(sim_input))
    assert [o.progress for o in outputs] == [1, 2, 3]
    assert outputs[-1].progress == fit.get_progress_goal()
    assert [len(o.product.losses) for o in outputs] == [1, 2, 3]
    # the data fit (loss on the whole scan after each epoch) improves on the first epoch's
    losses = [loss.value for loss in outputs[-1].product.losses]
    assert min(losses[1:]) < losses[0], losses
    geometry = sim_input.product.object_.get_geometry()
    for output in outputs:
        assert output.product.object_.get_geometry() == geometry
    assert not np.allclose(
        outputs[0].product.object_.get_layer(0), outputs[-1].product.object_.get_layer(0)
    )


def test_pinn_fit_fine_tunes_a_copy_of_the_loaded_model(
    trained: Any, library: PtychoPINNxLibrary, sim_input: Any
) -> None:
    """ADAPT-004: PINN-Fit starts from the loaded model and leaves it unchanged."""
    archive, _ = trained("tensorflow")
    tiny_settings(library, "tensorflow", epochs=1)
    library.reconstructor("PINN").load_model_from_file(archive)
    before = next(iter(library.reconstructor("PINN").reconstruct(sim_input)))
    outputs = list(library.reconstructor("PINN-Fit").reconstruct(sim_input))
    assert len(outputs) == 1
    after = next(iter(library.reconstructor("PINN").reconstruct(sim_input)))
    np.testing.assert_array_equal(
        before.product.object_.get_layer(0), after.product.object_.get_layer(0)
    )


@pytest.mark.parametrize("backend", BACKENDS)
def test_stop_ends_training_within_one_epoch_with_a_valid_model(
    backend: str, model_core: Any, batch_dir: Path, tmp_path: Path
) -> None:
    """ADAPT-042 / D10: Ptychodus's Stop ends training after the current epoch; the model is
    saved and loaded."""
    require_backend(backend)
    library = model_core.processing_core.ptychopinnx_library
    tiny_settings(library, backend, epochs=500)
    library.settings.training.early_stopping_patience.set_value(1000)
    product_api = load_scan(model_core, batch_dir)
    out = tmp_path / "stopped"
    monitor = model_core.processing_core.processing_api.task_monitor
    product_api.train_reconstructor_local(batch_dir, out, algorithm="ptychopinnx_pinn")
    deadline = time.monotonic() + 600
    while monitor.get_progress() < 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert monitor.get_progress() >= 1 and monitor.get_progress_goal() == 500
    monitor.stop_processing()
    stopped_at = monitor.get_progress()
    while monitor.is_processing and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not monitor.is_processing and monitor.get_last_error() is None
    manifest = read_archive(out / "wts.h5.zip").manifest
    epochs = manifest["training_summary"]["epochs"]
    assert stopped_at <= epochs <= stopped_at + 1
    assert library.model_slot.bundle is not None
    assert library.model_slot.bundle.epochs_trained == epochs


def test_both_backends_in_one_process_give_the_same_object(
    trained: Any, library: PtychoPINNxLibrary, sim_input: Any
) -> None:
    """ADAPT-044 / D8: switch the backend between runs; the converted model agrees."""
    require_backend("pytorch")
    archive, _ = trained("tensorflow")
    tiny_settings(library, "tensorflow")
    # float32: the conversion is exact there; bfloat16 agreement has its own, looser tolerance
    # (tests/contract/test_precision_contract.py)
    library.settings.execution.precision.set_value("float32")
    pinn = library.reconstructor("PINN")
    pinn.load_model_from_file(archive)
    tf_obj = next(iter(pinn.reconstruct(sim_input))).product.object_.get_layer(0)
    library.settings.execution.backend.set_value("pytorch")
    torch_obj = next(iter(pinn.reconstruct(sim_input))).product.object_.get_layer(0)
    assert library.model_slot.bundle is not None
    assert library.model_slot.bundle.backend == "pytorch"
    np.testing.assert_allclose(torch_obj, tf_obj, atol=2e-3)


def test_pinn_fit_with_refined_targets_and_refinement(
    library: PtychoPINNxLibrary, sim_input: Any
) -> None:
    """ARCH-013 in PINN-Fit: RefinedTargetIterations trains towards this scan's refined object
    (the product stays on the input grid) and RefineIterations refines each yielded object."""
    require_backend("tensorflow")
    tiny_settings(library, "tensorflow", epochs=2)
    library.settings.training.batch_size.set_value(8)
    library.settings.training.realspace_weight.set_value(20.0)
    library.settings.training.refined_target_iterations.set_value(5)
    library.settings.inference.refine_iterations.set_value(3)
    outputs = list(library.reconstructor("PINN-Fit").reconstruct(sim_input))
    assert [o.progress for o in outputs] == [1, 2]
    geometry = sim_input.product.object_.get_geometry()
    assert outputs[-1].product.object_.get_geometry() == geometry
    assert np.all(np.isfinite(outputs[-1].product.object_.get_layer(0)))
