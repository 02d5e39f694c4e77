"""Fixtures of the PyTorch backend tests: tiny seeded simulated scans (N=64, 48 positions)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("lightning")

from torch_factories import N_POSITIONS, NPHOTONS, N

from ptycho.simulation import SimulatedDataset, save_npz, simulate_dataset


@pytest.fixture(scope="session")
def tiny_scan() -> SimulatedDataset:
    """A seeded 48-position, N=64 far-field scan with ground truth (1e6 photons/pattern)."""
    return simulate_dataset(N=N, n_positions=N_POSITIONS, nphotons=NPHOTONS, seed=1)


@pytest.fixture(scope="session")
def tiny_npz(tiny_scan: SimulatedDataset, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``tiny_scan`` written as an NPZ (our data contract, with objectGuess = ground truth)."""
    path = tmp_path_factory.mktemp("data") / "scan.npz"
    save_npz(tiny_scan, path, include_patches=False)
    return path


@pytest.fixture
def rng() -> np.random.Generator:
    """A seeded NumPy generator."""
    return np.random.default_rng(1234)
