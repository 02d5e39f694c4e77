"""Pieces both backends share live once in the core (issue 12, item 2).

The divergence error is one class (``ptycho.backend``) re-exported by both backends.
"""

from __future__ import annotations

import pytest

pytest.importorskip("tensorflow")
pytest.importorskip("torch")
pytest.importorskip("lightning")

from ptycho import backend
from ptycho.tf import training as tf_training
from ptycho_torch import training as torch_training


def test_training_diverged_error_is_one_class() -> None:
    """Both backends' ``TrainingDivergedError`` is the core's class."""
    assert tf_training.TrainingDivergedError is backend.TrainingDivergedError
    assert torch_training.TrainingDivergedError is backend.TrainingDivergedError
    assert "TrainingDivergedError" in backend.__all__


@pytest.mark.parametrize("module", [tf_training, torch_training], ids=["tensorflow", "pytorch"])
def test_catching_core_divergence_catches_each_backend(module: object) -> None:
    """A caller that catches the core class catches either backend's error, as raised there."""
    error_class = module.TrainingDivergedError  # type: ignore[attr-defined]
    with pytest.raises(backend.TrainingDivergedError) as info:
        raise error_class("loss became nan at epoch 2", epoch=2, history={"loss": [1.0]})
    assert info.value.epoch == 2
    assert info.value.history == {"loss": [1.0]}
    assert info.value.bundle is None


def test_shared_physics_helpers_are_the_core_objects() -> None:
    """Framework-free helpers (masks, canvas size, constants) are the core's, not copies."""
    from ptycho.physics import forward, object_big
    from ptycho.tf import physics as tf_physics
    from ptycho_torch import physics as torch_physics

    for module in (tf_physics, torch_physics):
        assert module.center_mask is object_big.center_mask
        assert module.border_mask is object_big.border_mask
        assert module.padded_size is object_big.padded_size
        assert module.DEFAULT_NLL_EPS == forward.DEFAULT_NLL_EPS
