"""Shared builders of the PyTorch backend tests (not a test module)."""

from __future__ import annotations

from ptycho.config.config import ModelConfig, TrainingConfig
from ptycho.loader import PtychoDataContainer, container_from_raw
from ptycho.simulation import SimulatedDataset

N = 64
N_POSITIONS = 48
NPHOTONS = 1e6


def make_container(
    scan: SimulatedDataset, gridsize: int = 1, n_groups: int | None = 32
) -> PtychoDataContainer:
    """Group ``scan`` with the core (seeded)."""
    return container_from_raw(scan.raw, N=N, gridsize=gridsize, n_groups=n_groups, K=4, seed=0)


def tiny_config(gridsize: int = 1, **overrides: object) -> TrainingConfig:
    """A fast training config: s_f=1, 2 epochs, batch 16, no validation split."""
    model_kwargs = {
        k: overrides.pop(k) for k in list(overrides) if k in ModelConfig.__dataclass_fields__
    }
    model = ModelConfig(N=N, gridsize=gridsize, n_filters_scale=1, **model_kwargs)
    kwargs: dict[str, object] = {
        "model": model,
        "nepochs": 2,
        "batch_size": 16,
        "nphotons": NPHOTONS,
        "backend": "pytorch",
        "validation_fraction": 0.0,
    }
    kwargs.update(overrides)
    return TrainingConfig(**kwargs)
