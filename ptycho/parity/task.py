"""The task both backend workers get: simulated, grouped data and the shared configs.

:func:`simulate_data` simulates one seeded training scan and one unseen test scan, groups them
and writes the training, validation and test containers as ``.npz`` files into the working
directory; :func:`shared_configs` gives the model and training configs (as JSON-ready dicts)
that every worker rebuilds. Framework-free.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ptycho.parity.settings import ParitySettings

__all__ = ["shared_configs", "simulate_data"]


def simulate_data(settings: ParitySettings, seed: int, work: Path) -> dict[str, Any]:
    """Simulate the data, group it, and write the containers; returns paths and ground truth.

    Returns
    -------
    dict
        ``paths`` (``train``/``val``/``test`` -> ``.npz`` path as str), ``truth`` (the test
        object, (H, W) complex), ``offsets`` ((n_test, 2) float64 global offsets of the test
        groups, pixels), ``n_train``, ``n_val``, ``n_test`` (group counts).
    """
    from ptycho.loader import container_from_raw, split_container
    from ptycho.simulation import simulate_train_test

    train_ds, test_ds = simulate_train_test(
        N=settings.N,
        n_train=settings.n_train_positions,
        n_test=settings.n_test_positions,
        nphotons=settings.nphotons,
        seed=seed,
    )
    full = container_from_raw(
        train_ds.raw,
        settings.N,
        gridsize=settings.gridsize,
        n_groups=settings.n_groups,
        K=4,
        seed=seed,
    )
    train, val = split_container(full, settings.validation_fraction, seed)
    test = container_from_raw(
        test_ds.raw, settings.N, gridsize=settings.gridsize, n_groups=None, K=4, seed=seed + 1
    )
    paths = {"train": work / "train.npz", "val": work / "val.npz", "test": work / "test.npz"}
    train.to_npz(paths["train"])
    val.to_npz(paths["val"])
    test.to_npz(paths["test"])
    return {
        "paths": {k: str(v) for k, v in paths.items()},
        "truth": test_ds.object,
        "offsets": np.asarray(test.global_offsets, dtype=np.float64).reshape(-1, 2),
        "n_train": len(train),
        "n_val": len(val),
        "n_test": len(test),
    }


def shared_configs(settings: ParitySettings, seed: int) -> dict[str, Any]:
    """JSON model and training configs shared by both workers.

    Returns ``{'model': ModelConfig dict, 'training': TrainingConfig dict}`` (constant learning
    rate, no early stopping, no validation split: the harness passes its own validation groups).
    """
    from ptycho.config.config import ModelConfig, TrainingConfig, to_dict

    model = ModelConfig(
        N=settings.N, gridsize=settings.gridsize, n_filters_scale=settings.n_filters_scale
    )
    patience = settings.epochs + 1  # constant learning rate, no early stopping
    training = TrainingConfig(
        model=model,
        batch_size=settings.batch_size,
        nepochs=settings.epochs,
        learning_rate=settings.learning_rate,
        nphotons=settings.nphotons,
        n_groups=settings.n_groups,
        seed=seed,
        validation_fraction=0.0,
        early_stopping_patience=patience,
        lr_plateau_patience=patience,
    )
    return {"model": to_dict(model), "training": to_dict(training)}
