"""Fixtures of the TensorFlow backend tests: tiny seeded datasets from the core simulator.

Everything is small (N=64, a few dozen positions) so each unit test stays well under a second
once TensorFlow is imported; training fixtures are module-scoped and run one or two epochs.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow is first imported
pytest.importorskip("tensorflow")

N = 64
NPHOTONS = 1e6


def _threads() -> None:
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(2)
        tf.config.threading.set_inter_op_parallelism_threads(2)
    except RuntimeError:  # already initialised by an earlier test module
        pass


_threads()


@pytest.fixture(scope="session")
def tiny_sim() -> Any:
    """A seeded 48-position scan (N=64, 1e6 photons) with ground truth."""
    from ptycho.simulation import simulate_dataset

    return simulate_dataset(N=N, n_positions=48, nphotons=NPHOTONS, seed=0)


@pytest.fixture(scope="session")
def tiny_raw(tiny_sim: Any) -> Any:
    """The tiny scan as RawData (objectGuess and Y included)."""
    return tiny_sim.raw


@pytest.fixture(scope="session")
def container_g1(tiny_raw: Any) -> Any:
    """32 gridsize-1 groups of the tiny scan."""
    from ptycho.loader import container_from_raw

    return container_from_raw(tiny_raw, N, gridsize=1, n_groups=32, seed=1)


@pytest.fixture(scope="session")
def container_g2(tiny_raw: Any) -> Any:
    """24 gridsize-2 groups of the tiny scan."""
    from ptycho.loader import container_from_raw

    return container_from_raw(tiny_raw, N, gridsize=2, n_groups=24, K=6, seed=1)


@pytest.fixture
def make_config() -> Callable[..., Any]:
    """Factory of small TrainingConfigs (``n_filters_scale=1`` unless ``model`` overrides it):
    ``make_config(gridsize=1, model={...}, **training_overrides)``."""
    from ptycho.config.config import ModelConfig, TrainingConfig

    def make(gridsize: int = 1, model: dict[str, Any] | None = None, **kw: Any) -> Any:
        defaults: dict[str, Any] = dict(
            nepochs=1,
            batch_size=8,
            nphotons=NPHOTONS,
            n_groups=32,
            neighbor_count=6,
            validation_fraction=0.0,
        )
        defaults.update(kw)
        model_kw: dict[str, Any] = {"N": N, "gridsize": gridsize, "n_filters_scale": 1}
        model_kw.update(model or {})
        return TrainingConfig(model=ModelConfig(**model_kw), **defaults)

    return make


@pytest.fixture(scope="module")
def trained_g1(tiny_raw: Any) -> Any:
    """A gridsize-1 bundle trained for 2 epochs (trainable probe and scale)."""
    from ptycho.config.config import ModelConfig, TrainingConfig
    from ptycho.loader import container_from_raw
    from ptycho.tf import api

    container = container_from_raw(tiny_raw, N, gridsize=1, n_groups=32, seed=1)
    config = TrainingConfig(
        model=ModelConfig(N=N, gridsize=1, n_filters_scale=1),
        nepochs=2,
        batch_size=8,
        nphotons=NPHOTONS,
        probe_trainable=True,
        intensity_scale_trainable=True,
        validation_fraction=0.0,
    )
    return api.train(container, config)


@pytest.fixture
def npz_pair(tmp_path: Path) -> tuple[Path, Path]:
    """Training and test NPZ files (N=64, 40 and 24 positions, with objectGuess)."""
    from ptycho.simulation import save_npz, simulate_train_test

    train, test = simulate_train_test(N=N, n_train=40, n_test=24, nphotons=NPHOTONS, seed=2)
    return save_npz(train, tmp_path / "train.npz"), save_npz(test, tmp_path / "test.npz")
