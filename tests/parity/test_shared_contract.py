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
