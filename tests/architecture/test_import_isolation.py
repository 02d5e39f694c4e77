"""D8 import hygiene, checked in fresh interpreters (``sys.modules`` after the import).

The core and the adapter's parent-side modules must load neither TensorFlow nor torch, and the
PyTorch backend must never load TensorFlow. A static scan backs this up for imports hidden in
functions: only ``ptycho/tf`` may name tensorflow/keras, only ``ptycho_torch`` may name torch.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

CORE_MODULES = [
    "ptycho",
    "ptycho.config.config",
    "ptycho.params",
    "ptycho.raw_data",
    "ptycho.grouping",
    "ptycho.loader",
    "ptycho.probe",
    "ptycho.tf_helper",
    "ptycho.physics.shift",
    "ptycho.physics.forward",
    "ptycho.physics.object_big",
    "ptycho.physics.noise",
    "ptycho.stitching",
    "ptycho.simulation",
    "ptycho.metrics",
    "ptycho.archive",
    "ptycho.backend",
    "ptycho.workflows.components",
    "ptycho.workflows.backend_selector",
    "ptycho.model_manager",
    "ptycho.weights",
    "ptycho.parity",
    "ptycho.parity.worker_common",
    "ptycho.atomic",
    "ptycho.inference",
    "ptycho.npy_io",
    "ptycho.scan_geometry",
    "ptycho.cli.common",
]
HEAVY = ["tensorflow", "keras", "torch", "lightning"]


def _loaded_after_import(module: str) -> list[str]:
    code = (
        f"import importlib, json, sys; importlib.import_module({module!r}); "
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, f"import {module} failed:\n{result.stderr[-2000:]}"
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("module", CORE_MODULES)
def test_core_module_loads_no_framework(module: str) -> None:
    """D8: importing a core module loads neither tensorflow nor torch."""
    loaded = _loaded_after_import(module)
    assert not set(HEAVY) & set(loaded), f"{module} loaded {set(HEAVY) & set(loaded)}"


@pytest.mark.parametrize(
    "module",
    [
        "ptycho_reconstructor",
        "ptycho_reconstructor.library",
        "ptycho_reconstructor.settings",
        "ptycho_reconstructor.convert",
    ],
)
def test_adapter_parent_side_loads_no_framework(module: str) -> None:
    """D8: the adapter's parent-side modules import backends lazily, inside functions."""
    loaded = _loaded_after_import(module)
    assert not set(HEAVY) & set(loaded), f"{module} loaded {set(HEAVY) & set(loaded)}"


@pytest.mark.parametrize(
    "module",
    [
        "ptycho_torch",
        "ptycho_torch.model",
        "ptycho_torch.api",
        "ptycho_torch.train",
        "ptycho_torch.inference",
        "ptycho_torch.prediction",
        "ptycho_torch.workflows.components",
        "ptycho_torch.parity_worker",
    ],
)
def test_torch_backend_never_loads_tensorflow(module: str) -> None:
    """D8: ptycho_torch never loads tensorflow or keras."""
    loaded = _loaded_after_import(module)
    assert "tensorflow" not in loaded and "keras" not in loaded


def _imported_names(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def _python_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*.py") if "__pycache__" not in p.parts)


def test_only_ptycho_tf_names_tensorflow() -> None:
    """D8 (static): only the TF backend and its entry points name tensorflow/keras.

    ``ptycho/tf`` is the backend; ``ptycho/workflows``, ``ptycho/model_manager.py`` and
    ``ptycho/cli`` are TF-facing entry points that may import it lazily, inside functions (the
    subprocess tests above prove they do not load it at import time). The framework-free core,
    the PyTorch backend and the adapter never name it.
    """
    tf_facing = [
        REPO / "ptycho" / "tf",
        REPO / "ptycho" / "workflows",
        REPO / "ptycho" / "cli",
        REPO / "ptycho" / "model_manager.py",
    ]
    offenders = []
    for package in ("ptycho", "ptycho_torch", "ptycho_reconstructor"):
        for path in _python_files(REPO / package):
            if any(path == p or path.is_relative_to(p) for p in tf_facing):
                continue
            if _imported_names(path) & {"tensorflow", "keras", "tf_keras"}:
                offenders.append(str(path.relative_to(REPO)))
    assert offenders == []


def test_core_never_names_torch() -> None:
    """D8 (static): the ptycho package (core and TF backend) never imports torch or lightning.

    The parity harness's PyTorch worker is ``ptycho_torch.parity_worker`` (its own subprocess).
    """
    offenders = [
        str(path.relative_to(REPO))
        for path in _python_files(REPO / "ptycho")
        if _imported_names(path) & {"torch", "lightning", "pytorch_lightning"}
    ]
    assert offenders == []
