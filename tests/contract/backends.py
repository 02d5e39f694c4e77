"""The backend contract suite's view of a backend: every registered backend, reached by name only.

The suite never imports a backend module directly: it asks the registry
(:mod:`ptycho.workflows.registry`) for the backend's API, physics and tensor bridge, so a third
backend that registers gets every test here (issue 12, item 5).
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np

from ptycho.backend import BackendAPI
from ptycho.config.config import ModelConfig
from ptycho.weights import expected_weight_shapes
from ptycho.workflows.registry import get_backend, get_physics, get_tensors

#: The network every contract test builds: small, both architectures' default, gridsize 2.
CONTRACT_MODEL = ModelConfig(N=64, gridsize=2, n_filters_scale=1)


@dataclass(frozen=True)
class Backend:
    """One registered backend as the suite sees it."""

    name: str
    api: BackendAPI
    physics: ModuleType
    tensors: ModuleType


def load_backend(name: str) -> Backend:
    """The registered backend ``name`` (its packages must be installed: CI installs all)."""
    return Backend(name, get_backend(name), get_physics(name), get_tensors(name))


def random_weights(config: ModelConfig, seed: int = 0, scale: float = 0.05) -> dict[str, Any]:
    """Seeded canonical weights of ``config`` (small, so the untrained network stays finite)."""
    rng = np.random.default_rng(seed)
    weights: dict[str, Any] = {}
    for name, shape in expected_weight_shapes(config).items():
        weights[name] = (scale * rng.standard_normal(shape)).astype(np.float32)
    n = config.N
    yy, xx = np.mgrid[:n, :n] - n / 2
    disk = (np.hypot(yy, xx) < n / 4).astype(np.float32)
    weights["probe_real"] = disk
    weights["probe_imag"] = np.zeros_like(disk)
    weights["log_intensity_scale"] = np.float32(np.log(100.0))
    return weights
