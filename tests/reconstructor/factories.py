"""Builders shared by the Ptychodus adapter tests (not fixtures; see conftest.py)."""

from __future__ import annotations

import importlib.util
import shutil
import sys
import sysconfig
from pathlib import Path
from typing import Any

import numpy as np
import pytest

# ---------------------------------------------------------------------------------------------
# Ptychodus data built from arrays
# ---------------------------------------------------------------------------------------------


def make_reconstruct_input(
    patterns: np.ndarray,
    x_m: np.ndarray,
    y_m: np.ndarray,
    *,
    probe: np.ndarray,
    object_shape: tuple[int, int],
    pixel_m: tuple[float, float] = (2e-8, 3e-8),
    center_m: tuple[float, float] = (1e-6, -5e-7),
    bad_pixels: np.ndarray | None = None,
    object_array: np.ndarray | None = None,
    opr_weights: np.ndarray | None = None,
) -> Any:
    """A Ptychodus ``ReconstructInput`` from plain arrays (positions in metres)."""
    from ptychodus.api.geometry import PixelGeometry
    from ptychodus.api.object import Object, ObjectCenter
    from ptychodus.api.probe import ProbeSequence
    from ptychodus.api.probe_positions import ProbePosition, ProbePositionSequence
    from ptychodus.api.product import Product, ProductMetadata
    from ptychodus.api.reconstruct import ReconstructInput

    n = patterns.shape[-1]
    metadata = ProductMetadata("unit", "test", 2.0, 10000.0, 1e6, 0.0, 0.0, 0.0)
    points = zip(x_m, y_m, strict=True)
    positions = ProbePositionSequence(
        [ProbePosition(i, float(x), float(y)) for i, (x, y) in enumerate(points)]
    )
    pixel = PixelGeometry(pixel_m[0], pixel_m[1])
    probes = ProbeSequence(np.asarray(probe, dtype=np.complex64), opr_weights, pixel)
    if object_array is None:
        object_array = np.ones(object_shape, dtype=np.complex64)
    obj = Object(
        np.asarray(object_array, dtype=np.complex64),
        PixelGeometry(pixel_m[0], pixel_m[1]),
        ObjectCenter(center_m[0], center_m[1]),
    )
    product = Product(
        metadata=metadata, probe_positions=positions, probes=probes, object_=obj, losses=[]
    )
    if bad_pixels is None:
        bad_pixels = np.zeros((n, n), dtype=bool)
    return ReconstructInput(patterns, bad_pixels, product)


def ours_to_metres(
    x: np.ndarray,
    y: np.ndarray,
    object_shape: tuple[int, int],
    pixel_m: tuple[float, float] = (2e-8, 3e-8),
    center_m: tuple[float, float] = (1e-6, -5e-7),
) -> tuple[np.ndarray, np.ndarray]:
    """Inverse of ARCH-002 + ObjectGeometry: our object pixels -> metres (written out here)."""
    h, w = object_shape
    x_m = center_m[0] + (np.asarray(x) - 0.5 - (w - 1) / 2) * pixel_m[0]
    y_m = center_m[1] + (np.asarray(y) - 0.5 - (h - 1) / 2) * pixel_m[1]
    return x_m, y_m


def tiny_settings(library: Any, backend: str, *, epochs: int = 2) -> None:
    """Settings for fast tests: small network, few epochs."""
    s = library.settings
    s.execution.backend.set_value(backend)
    s.model.n_filters_scale.set_value(1)
    s.training.nepochs.set_value(epochs)
    s.training.batch_size.set_value(16)
    s.training.n_groups.set_value(64)
    s.training.validation_fraction.set_value(0.1)
    s.fit.nepochs.set_value(epochs)


def load_scan(model: Any, directory: Path) -> Any:
    """Load ``diffraction.h5`` + ``product.h5`` into a ModelCore; returns the product API."""
    diffraction = model.workflow_api.load_assembled_diffraction_data(directory / "diffraction.h5")
    return model.workflow_api.load_product(directory / "product.h5", diffraction=diffraction)


def backend_available(name: str) -> bool:
    """Whether the backend's API module imports (the backend helpers may still be working)."""

    module = {"tensorflow": "ptycho.tf.api", "pytorch": "ptycho_torch.api"}[name]
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


def require_backend(name: str) -> None:
    """Skip when the backend's API module does not exist (fails under PTYCHOPINN_FAIL_ON_SKIP)."""
    if not backend_available(name):
        pytest.skip(f"backend module for {name} is not available")


def ptychodus_command() -> list[str]:
    """The stock ``ptychodus`` console script of this interpreter's environment."""
    scripts = Path(sysconfig.get_path("scripts"))
    exe = scripts / "ptychodus"
    if exe.exists():
        return [str(exe)]
    found = shutil.which("ptychodus")
    if found:
        return [found]
    return [sys.executable, "-m", "ptychodus"]


def plugins_dir() -> Path:
    import ptychodus

    return Path(ptychodus.__file__).resolve().parent / "plugins"
