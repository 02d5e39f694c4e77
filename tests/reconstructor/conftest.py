"""Fixtures for the Ptychodus adapter tests (real ptychodus 1.7 package, no mocks of its API).

Tiny data only: N = 64, 64 positions, networks with ``n_filters_scale = 1``, 1-3 epochs.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .factories import plugins_dir, require_backend, tiny_settings

REPO_ROOT = Path(__file__).resolve().parents[2]
HOOK_SOURCE = REPO_ROOT / "ptychodus" / "plugins" / "ptychopinn_hook.py"


@pytest.fixture(scope="session")
def sim() -> Any:
    """A tiny simulated scan with ground truth (N=64, 64 positions, 1e6 photons)."""
    from ptycho.simulation import simulate_dataset

    return simulate_dataset(N=64, n_positions=64, nphotons=1e6, seed=0)


@pytest.fixture(scope="session")
def batch_dir(tmp_path_factory: pytest.TempPathFactory, sim: Any) -> Path:
    """Ptychodus batch layout (diffraction.h5 + product.h5) of :func:`sim`."""
    from ptycho_reconstructor.ptychodus_io import write_ptychodus_batch_input

    directory = tmp_path_factory.mktemp("batch_in")
    write_ptychodus_batch_input(sim, directory)
    return directory


@pytest.fixture(scope="session")
def sim_input(batch_dir: Path) -> Any:
    """The simulated scan as Ptychodus's ``ReconstructInput`` (read back from the batch files)."""
    from ptychodus.api.io import load_diffraction_data, load_product
    from ptychodus.api.reconstruct import prepare_reconstruct_input

    return prepare_reconstruct_input(
        load_diffraction_data(batch_dir / "diffraction.h5"), load_product(batch_dir / "product.h5")
    )


# ---------------------------------------------------------------------------------------------
# Ptychodus model / registration
# ---------------------------------------------------------------------------------------------


@pytest.fixture
def registry() -> Any:
    """A fresh Ptychodus settings registry."""
    from ptychodus.api.settings import SettingsRegistry

    return SettingsRegistry()


@pytest.fixture
def library(registry: Any) -> Any:
    """A PtychoPINNx library on a fresh registry (no ModelCore)."""
    from ptycho_reconstructor.library import PtychoPINNxLibrary

    return PtychoPINNxLibrary(registry)


@pytest.fixture
def model_core() -> Iterator[Any]:
    """A real Ptychodus ``ModelCore`` with PtychoPINNx installed (task thread running)."""
    from ptychodus.model import ModelCore

    from ptycho_reconstructor.registration import install

    install()
    with ModelCore(log_level=logging.WARNING) as model:
        yield model


# ---------------------------------------------------------------------------------------------
# The plugin hook for subprocesses running the stock `ptychodus` command
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def installed_hook() -> Iterator[Path]:
    """Make the hook visible to the stock ``ptychodus`` command (design D9, ADAPT-070).

    Ptychodus finds plugin modules only in its own ``site-packages/ptychodus/plugins/``. A
    ``pip install ptychopinn`` puts the hook there; for a checkout that is not installed, this
    fixture copies ``ptychodus/plugins/ptychopinn_hook.py`` there for the session and removes it
    afterwards. When the installed hook is already identical (an installed distribution), it is
    used as is and left in place; a different (stale) one is replaced and restored afterwards.
    """
    target = plugins_dir() / HOOK_SOURCE.name
    source = HOOK_SOURCE.read_bytes()
    previous = target.read_bytes() if target.exists() else None
    if previous != source:
        tmp = target.with_name(f".{target.name}.tmp")
        tmp.write_bytes(source)
        os.replace(tmp, target)
    try:
        yield target
    finally:
        if previous is None:
            target.unlink(missing_ok=True)
            cache = target.parent / "__pycache__"
            for pyc in cache.glob(f"{target.stem}.*.pyc"):
                pyc.unlink(missing_ok=True)
        elif previous != source:
            target.write_bytes(previous)


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory, batch_dir: Path) -> Any:
    """``trained(backend, epochs=2, batch_size=16)`` -> (archive, TrainOutputs), cached.

    Trains a PINN through the adapter's own ``train()`` generator on :func:`batch_dir`
    (Ptychodus batch layout), with a small network.
    """
    from ptychodus.api.settings import SettingsRegistry

    from ptycho_reconstructor.library import PtychoPINNxLibrary

    cache: dict[tuple[str, int, int], tuple[Path, list[Any]]] = {}

    def get(backend: str, epochs: int = 2, batch_size: int = 16) -> tuple[Path, list[Any]]:
        key = (backend, epochs, batch_size)
        if key not in cache:
            require_backend(backend)
            library = PtychoPINNxLibrary(SettingsRegistry())
            tiny_settings(library, backend, epochs=epochs)
            library.settings.training.batch_size.set_value(batch_size)
            library.settings.training.early_stopping_patience.set_value(1000)
            out = tmp_path_factory.mktemp(f"trained_{backend}_{epochs}_{batch_size}")
            outputs = list(library.reconstructor("PINN").train(batch_dir, out))
            cache[key] = (out / "wts.h5.zip", outputs)
        return cache[key]

    return get
