"""Mixed bfloat16 precision (ARCH-016) in every registered backend.

The convolution trunk may run in bfloat16 while the weights and the physics stay float32. These
tests hold every backend to the same behaviour: bfloat16 predictions agree with float32 ones and
with the other backends' bfloat16 predictions to bfloat16 accuracy (and differ from float32, so
the bfloat16 path really ran), a bfloat16 training run returns float32 weights, and an unknown
precision is refused with the allowed values.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pytest

from ptycho.config.config import TrainingConfig
from ptycho.loader import container_from_raw
from ptycho.simulation import simulate_dataset
from ptycho.workflows.registry import backend_names
from tests.contract.backends import CONTRACT_MODEL, Backend, load_backend, random_weights

#: bfloat16 keeps 8 bits of mantissa: per-layer rounding of about 0.4 %, compounded over the
#: trunk's 17 convolutions; measured 0.4-0.7 % of the output's maximum on these weights.
BF16_TOLERANCE = 3e-2

PAIRS = list(itertools.combinations(backend_names(), 2))


@pytest.fixture(scope="module")
def container() -> Any:
    dataset = simulate_dataset(N=CONTRACT_MODEL.N, n_positions=24, nphotons=1e6, seed=12)
    return container_from_raw(dataset.raw, CONTRACT_MODEL.N, gridsize=2, n_groups=8, seed=0)


def _bundle(backend: Backend) -> Any:
    weights = random_weights(CONTRACT_MODEL, seed=1)
    probe = weights["probe_real"] + 1j * weights["probe_imag"]
    training = TrainingConfig(model=CONTRACT_MODEL, nepochs=1, backend=backend.name)
    return backend.api.bundle_from_weights(CONTRACT_MODEL, training, weights, probe, 100.0)


def test_bfloat16_prediction_agrees_with_float32_to_bfloat16_accuracy(
    backend: Backend, container: Any
) -> None:
    bundle = _bundle(backend)
    full = backend.api.predict_patches(bundle, container, precision="float32")
    mixed = backend.api.predict_patches(bundle, container, precision="bfloat16")
    again = backend.api.predict_patches(bundle, container)  # the default is float32 again
    assert mixed.dtype == full.dtype == np.complex64
    scale = float(np.abs(full).max())
    difference = float(np.abs(mixed - full).max())
    assert 1e-5 * scale < difference <= BF16_TOLERANCE * scale
    np.testing.assert_array_equal(again, full)


@pytest.mark.parametrize(("first", "second"), PAIRS, ids=["-".join(p) for p in PAIRS])
def test_bfloat16_backends_agree_with_each_other(first: str, second: str, container: Any) -> None:
    a, b = (
        load_backend(name).api.predict_patches(
            _bundle(load_backend(name)), container, precision="bfloat16"
        )
        for name in (first, second)
    )
    scale = float(np.abs(a).max())
    assert float(np.abs(a - b).max()) <= BF16_TOLERANCE * scale


def test_unknown_precision_is_refused_with_the_allowed_values(
    backend: Backend, container: Any
) -> None:
    with pytest.raises(ValueError, match="auto, float32, bfloat16"):
        backend.api.predict_patches(_bundle(backend), container, precision="float16")


def test_bfloat16_training_returns_float32_weights_close_to_float32_training(
    backend: Backend, container: Any
) -> None:
    def trained(precision: str) -> Any:
        config = TrainingConfig(
            model=CONTRACT_MODEL,
            nepochs=1,
            batch_size=4,
            nphotons=1e6,
            validation_fraction=0.0,
            precision=precision,
            backend=backend.name,
        )
        return backend.api.train(container, config)

    mixed, full = trained("bfloat16"), trained("float32")
    assert np.isfinite(mixed.history["loss"]).all()
    w_mixed, w_full = backend.api.weights_of(mixed), backend.api.weights_of(full)
    assert {str(w.dtype) for w in w_mixed.values()} == {"float32"}
    # the bfloat16 trunk really trained (other weights), and only rounding apart: two Adam steps
    # of learning rate 1e-3 move a weight by at most about 2e-3
    difference = max(float(np.abs(w_mixed[k] - w_full[k]).max()) for k in w_full)
    assert 0.0 < difference <= 5e-3
    # the bundle's network is float32 again: its default prediction is the float32 one
    full_prediction = backend.api.predict_patches(mixed, container, precision="float32")
    np.testing.assert_array_equal(backend.api.predict_patches(mixed, container), full_prediction)
