"""ADAPT-001, ADAPT-070 .. ADAPT-073: the library, install(), the plugin hook, packaging."""

from __future__ import annotations

import importlib.util
import logging
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest
from ptychodus.api.reconstruct import ReconstructorLibrary, TrainableReconstructor

import ptycho_reconstructor.registration as registration
from ptycho_reconstructor.library import LIBRARY_NAME, PtychoPINNxLibrary
from ptycho_reconstructor.reconstructors import (
    PtychoPINNxFitReconstructor,
    PtychoPINNxTrainableReconstructor,
)

from .conftest import HOOK_SOURCE, REPO_ROOT

KEYS = ["ptychopinnx_pinn", "ptychopinnx_supervised", "ptychopinnx_pinn-fit"]


def _load_hook() -> Any:
    spec = importlib.util.spec_from_file_location("ptychopinn_hook_under_test", HOOK_SOURCE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_library_name_and_reconstructors(library: PtychoPINNxLibrary) -> None:
    """ADAPT-001: own name without '_', distinct from the built-ins; three reconstructors."""
    assert isinstance(library, ReconstructorLibrary)
    assert library.name == LIBRARY_NAME == "PtychoPINNx"
    assert "_" not in library.name
    assert library.name.casefold() not in ("ptychopinn", "ptychopinn-torch")
    names = [r.name for r in library]
    assert names == ["PINN", "Supervised", "PINN-Fit"]
    pinn, supervised, fit = list(library)
    assert isinstance(pinn, PtychoPINNxTrainableReconstructor) and pinn.model_type == "pinn"
    assert isinstance(supervised, TrainableReconstructor)
    assert supervised.model_type == "supervised"  # type: ignore[attr-defined]
    assert isinstance(fit, PtychoPINNxFitReconstructor)
    assert not isinstance(fit, TrainableReconstructor)
    assert library.get_logger().name == "ptycho_reconstructor"


def test_install_adds_the_library_to_model_core_once(model_core: Any) -> None:
    """ADAPT-070: install() (idempotent) makes ModelCore list our three algorithm keys."""
    registration.install()
    registration.install()
    keys = list(model_core.processing_core.processing_api.available_reconstructors())
    assert keys[-3:] == KEYS
    assert sum(k.startswith("ptychopinnx_") for k in keys) == 3
    assert isinstance(model_core.processing_core.ptychopinnx_library, PtychoPINNxLibrary)
    groups = list(model_core.settings_registry)
    assert "PtychoPINNxExecution" in groups


def test_settings_file_selects_our_algorithm(tmp_path: Path) -> None:
    """ADAPT-072: `-s settings.ini` selects PtychoPINNx_PINN (case-insensitive) and sets values."""
    from ptychodus.model import ModelCore

    ini = tmp_path / "settings.ini"
    ini.write_text(
        "[Processing]\nAlgorithm = PtychoPINNx_PINN-Fit\n"
        "[PtychoPINNxExecution]\nBackend = pytorch\n"
        "[PtychoPINNxFit]\nNumEpochs = 3\n"
    )
    registration.install()
    model = ModelCore(ini, log_level=logging.WARNING)
    parameter = model.processing_core.algorithm_parameter
    assert parameter.get_value() == "ptychopinnx_pinn-fit"
    reconstructor = parameter.get_current_reconstructor()
    assert isinstance(reconstructor, PtychoPINNxFitReconstructor)
    assert reconstructor.get_progress_goal() == 3
    library = model.processing_core.ptychopinnx_library
    assert library.settings.execution.backend.get_value() == "pytorch"


def test_uninstall_restores_ptychodus_classes() -> None:
    """ADAPT-070: uninstall() restores the originals; install() works again afterwards."""
    import ptychodus.model.core as model_core

    registration.install()
    patched = model_core.ProcessingCore
    registration.uninstall()
    assert not registration.is_installed()
    assert model_core.ProcessingCore is patched._ptychopinnx_original
    registration.install()
    assert registration.is_installed()


def test_hook_register_plugins_installs(monkeypatch: pytest.MonkeyPatch) -> None:
    """ADAPT-071: the hook's register_plugins() calls install()."""
    registration.uninstall()
    hook = _load_hook()
    hook.register_plugins(object())
    assert registration.is_installed()


def test_hook_logs_instead_of_aborting_ptychodus(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """ADAPT-071: an error in install() is logged, never raised (ModelCore must not abort)."""

    def broken() -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(registration, "install", broken)
    hook = _load_hook()
    with caplog.at_level(logging.ERROR):
        hook.register_plugins(object())
    assert "PtychoPINNx could not be registered" in caplog.text and "boom" in caplog.text


def test_hook_file_layout() -> None:
    """ADAPT-073: ptychodus/ and ptychodus/plugins/ are namespace directories (no __init__)."""
    assert HOOK_SOURCE.is_file()
    assert not (REPO_ROOT / "ptychodus" / "__init__.py").exists()
    assert not (REPO_ROOT / "ptychodus" / "plugins" / "__init__.py").exists()


@pytest.mark.integration
def test_wheel_ships_only_the_hook_into_ptychodus_plugins(tmp_path: Path) -> None:
    """ADAPT-073: the wheel's RECORD adds exactly ptychodus/plugins/ptychopinn_hook.py.

    pip installs and uninstalls exactly the files in RECORD, so installing the distribution
    adds the hook to Ptychodus's plugin directory and uninstalling removes it (and nothing of
    Ptychodus's own files).
    """
    source = tmp_path / "src"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        if (REPO_ROOT / name).exists():
            shutil.copy(REPO_ROOT / name, source / name)
    if not (source / "README.md").exists():
        (source / "README.md").write_text("ptychopinn\n")
    for package in ("ptycho", "ptycho_torch", "ptycho_reconstructor", "ptychodus"):
        shutil.copytree(
            REPO_ROOT / package, source / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path / "dist"),
            str(source),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    (wheel,) = (tmp_path / "dist").glob("*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        record_name = next(n for n in names if n.endswith(".dist-info/RECORD"))
        record = archive.read(record_name).decode()
    ptychodus_files = sorted(n for n in names if n.startswith("ptychodus/"))
    assert ptychodus_files == ["ptychodus/plugins/ptychopinn_hook.py"]
    assert "ptychodus/plugins/ptychopinn_hook.py," in record
    assert "ptychodus/__init__.py" not in record
    assert any(n.startswith("ptycho_reconstructor/") for n in names)
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    with zipfile.ZipFile(wheel) as archive:
        scripts = archive.read(entry_points).decode()
    assert "ptychodus-ptychopinn = ptycho_reconstructor.launcher:main" in scripts
