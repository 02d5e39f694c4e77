"""ADAPT-040 .. ADAPT-044: per-epoch reporting, cancellation and backend resolution.

The threading contract of :class:`BackgroundTraining` is proven here with a small stand-in that
follows ``ptycho.backend.BackendAPI.train`` (an epoch loop calling ``on_epoch_end``); the real
backends go through the same code in the end-to-end tests.
"""

from __future__ import annotations

import re
import sys
import threading
import time
from collections.abc import Mapping
from typing import Any

import pytest

from ptycho.backend import ModelBundle
from ptycho.config.config import ModelConfig, TrainingConfig
from ptycho_reconstructor.execution import BackgroundTraining, EpochReport, resolve_backend


class EpochLoopBackend:
    """Stand-in for ``BackendAPI.train``: ``nepochs`` epochs of ``seconds`` each."""

    def __init__(self, seconds: float = 0.0, fail_at: int | None = None) -> None:
        self.seconds = seconds
        self.fail_at = fail_at
        self.epochs_run = 0
        self.thread: threading.Thread | None = None

    def train(
        self,
        train: Any,
        config: TrainingConfig,
        *,
        validation: Any = None,
        on_epoch_end: Any = None,
        execution: Any = None,
        initial: ModelBundle | None = None,
    ) -> ModelBundle:
        self.thread = threading.current_thread()
        history: dict[str, list[float]] = {"loss": [], "val_loss": []}
        for epoch in range(config.nepochs):
            if self.fail_at == epoch:
                raise ValueError(f"the backend failed at epoch {epoch}")
            time.sleep(self.seconds)
            self.epochs_run += 1
            logs: Mapping[str, float] = {"loss": 1.0 / (epoch + 1), "val_loss": 2.0 / (epoch + 1)}
            history["loss"].append(logs["loss"])
            history["val_loss"].append(logs["val_loss"])
            if on_epoch_end is not None and on_epoch_end(epoch, logs):
                break
        return ModelBundle(
            backend="tensorflow",
            model_config=config.model,
            training_config=config,
            intensity_scale=1.0,
            probe=None,  # type: ignore[arg-type]
            history=history,
        )


def _config(epochs: int) -> TrainingConfig:
    return TrainingConfig(model=ModelConfig(N=64), nepochs=epochs)


def test_reports_every_epoch_then_holds_the_model() -> None:
    """ADAPT-041: one report per epoch, in order, from a worker thread; then the bundle."""
    backend = EpochLoopBackend()
    run = BackgroundTraining(backend, None, _config(4))  # type: ignore[arg-type]
    reports = list(run)
    assert [r.epoch for r in reports] == [0, 1, 2, 3]
    assert reports[1] == EpochReport(1, {"loss": 0.5, "val_loss": 1.0})
    assert run.bundle is not None and run.bundle.epochs_trained == 4
    assert backend.thread is not threading.current_thread()


def test_consumer_stop_ends_training_after_the_current_epoch() -> None:
    """ADAPT-042: closing the consumer (Ptychodus's Stop) stops right after that epoch."""
    backend = EpochLoopBackend(seconds=0.02)
    run = BackgroundTraining(backend, None, _config(50))  # type: ignore[arg-type]

    seen = []
    for report in run:  # Ptychodus's TrainBackgroundTask loop: break when Stop was pressed
        seen.append(report)
        if len(seen) == 2:
            break
    assert [r.epoch for r in seen] == [0, 1]
    assert backend.epochs_run == 2  # no further epoch was started
    assert run.cancelled and run.bundle is not None and run.bundle.epochs_trained == 2


def test_cancel_stops_within_one_epoch() -> None:
    """ADAPT-042: cancel() while iterating ends training at the next epoch boundary."""
    backend = EpochLoopBackend(seconds=0.01)
    run = BackgroundTraining(backend, None, _config(100))  # type: ignore[arg-type]
    epochs = []
    for report in run:
        epochs.append(report.epoch)
        if report.epoch == 2:
            run.cancel()
    assert epochs == [0, 1, 2]
    assert run.bundle is not None and run.bundle.epochs_trained == 3


def test_backend_errors_reach_the_consumer() -> None:
    """ADAPT-043: an exception in the training thread is raised to the consumer."""
    run = BackgroundTraining(EpochLoopBackend(fail_at=1), None, _config(3))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="failed at epoch 1"):
        list(run)
    assert run.bundle is None


def test_unknown_backend_name_is_a_clear_error() -> None:
    """ADAPT-044 / D7: an unknown backend name lists the choices."""
    with pytest.raises(ValueError, match=r"unknown backend 'jax'; choose one of .*tensorflow"):
        resolve_backend("jax")


@pytest.mark.parametrize(
    ("backend", "package", "command"),
    [("pytorch", "lightning", "ptychopinn[torch]"), ("tensorflow", "tensorflow", "ptychopinn[tf]")],
)
def test_missing_backend_names_the_pip_command(
    monkeypatch: pytest.MonkeyPatch, backend: str, package: str, command: str
) -> None:
    """Bad input: a backend that is not installed; the message holds the install command."""
    monkeypatch.setitem(sys.modules, package, None)  # makes `import <package>` fail
    with pytest.raises(RuntimeError, match=re.escape(f"pip install '{command}'")):
        resolve_backend(backend)
