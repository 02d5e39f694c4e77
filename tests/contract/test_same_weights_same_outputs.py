"""The same canonical weights give the same outputs in every registered backend (issue 12,
item 5; ARCH-012/014 and design D6).

Every pair of registered backends builds its network from the same seeded canonical weights and
predicts the same scan; the patches agree to float32 accuracy. Together with the physics
contract this is what lets a model trained in one backend be used in another.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from ptycho.config.config import TrainingConfig
from ptycho.loader import container_from_raw
from ptycho.simulation import simulate_dataset
from ptycho.workflows.registry import backend_names
from tests.contract.backends import CONTRACT_MODEL, load_backend, random_weights

PAIRS = list(itertools.combinations(backend_names(), 2))


@pytest.mark.parametrize(("first", "second"), PAIRS, ids=["-".join(p) for p in PAIRS])
def test_same_weights_predict_the_same_patches(first: str, second: str) -> None:
    dataset = simulate_dataset(N=CONTRACT_MODEL.N, n_positions=24, nphotons=1e6, seed=12)
    container = container_from_raw(dataset.raw, CONTRACT_MODEL.N, gridsize=2, n_groups=8, seed=0)
    weights = random_weights(CONTRACT_MODEL, seed=1)
    probe = weights["probe_real"] + 1j * weights["probe_imag"]
    patches = []
    for name in (first, second):
        api = load_backend(name).api
        training = TrainingConfig(model=CONTRACT_MODEL, nepochs=1, backend=name)
        bundle = api.bundle_from_weights(CONTRACT_MODEL, training, weights, probe, 100.0)
        patches.append(api.predict_patches(bundle, container))
    a, b = patches
    assert a.shape == b.shape == (8, CONTRACT_MODEL.N, CONTRACT_MODEL.N, 1)
    scale = float(np.abs(a).max())
    assert scale > 0 and np.all(np.isfinite(a))
    assert float(np.abs(a - b).max()) <= 1e-4 * scale
