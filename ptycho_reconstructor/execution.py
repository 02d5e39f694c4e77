"""In-process execution of the selected backend, with per-epoch progress and cancellation.

This module owns ``specs/ptychodus_api_spec.md`` §5.5 (ADAPT-040 .. ADAPT-044):

* :func:`resolve_backend` is the adapter's one way to a backend: it goes through
  ``ptycho.workflows.backend_selector`` (D7), which imports only the selected backend, lazily,
  and raises ``RuntimeError`` with the pip command when its packages are missing.
* :class:`BackgroundTraining` runs ``backend.train`` on a worker thread and turns its
  ``on_epoch_end`` callback into an iterator of :class:`EpochReport` (a thread and a queue), so a
  generator can yield a Ptychodus ``TrainOutput`` after every epoch. The callback waits until the
  consumer has handled its epoch; if the consumer then stops iterating (Ptychodus's Stop closes
  the generator) or calls :meth:`BackgroundTraining.cancel`, the callback returns ``True`` and
  the backend ends training right after that epoch with a valid model, which
  :attr:`BackgroundTraining.bundle` then holds.

Nothing here imports TensorFlow or torch at module level; the backend is imported when a run
starts, so both backends can be used one after the other in one process (D8).
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from pathlib import Path

    from ptycho.backend import BackendAPI, ModelBundle
    from ptycho.config.config import PyTorchExecutionConfig, TrainingConfig
    from ptycho.loader import PtychoDataContainer

__all__ = [
    "BackgroundTraining",
    "EpochReport",
    "load_bundle",
    "resolve_backend",
]

logger = logging.getLogger(__name__)

_POLL_S: Final[float] = 0.2


def resolve_backend(name: str) -> BackendAPI:
    """Import and return the backend API module ``name`` (``'tensorflow'`` or ``'pytorch'``).

    Raises
    ------
    ValueError
        ``name`` is not a known backend.
    RuntimeError
        The backend's packages are not installed; the message holds the pip command.
    """
    from ptycho.workflows.backend_selector import get_backend

    return get_backend(name)


def load_bundle(path: str | Path, backend: str) -> ModelBundle:
    """Load a model archive with ``backend``, converting an archive of the other backend.

    Raises
    ------
    FileNotFoundError
        No archive at ``path``.
    ValueError
        A corrupt archive, or one of the other backend that cannot be converted (the message
        names both backends).
    RuntimeError
        The backend is not installed.
    """
    from ptycho.workflows.backend_selector import load_inference_bundle_with_backend

    return load_inference_bundle_with_backend(path, backend=backend)


@dataclass(frozen=True)
class EpochReport:
    """The logs of one finished epoch.

    Attributes
    ----------
    epoch : int
        0-based epoch index.
    logs : dict[str, float]
        ``loss``, ``val_loss`` and per-term losses of that epoch.
    """

    epoch: int
    logs: dict[str, float] = field(default_factory=dict)


class BackgroundTraining:
    """``backend.train`` on a worker thread, reported epoch by epoch.

    Iterate over the object to receive one :class:`EpochReport` per finished epoch; iteration
    ends when training ends (normally, by early stopping or by :meth:`cancel`), and re-raises an
    exception the backend raised. Afterwards :attr:`bundle` is the trained model.

    Parameters
    ----------
    backend : BackendAPI
        ``ptycho.tf.api`` or ``ptycho_torch.api`` (see :func:`resolve_backend`).
    train : PtychoDataContainer
        Training groups.
    config : TrainingConfig
        The run's configuration.
    validation : PtychoDataContainer, optional
        Validation groups.
    execution : PyTorchExecutionConfig, optional
        Torch execution settings (ignored by TensorFlow).
    initial : ModelBundle, optional
        Start from this model (fine-tuning).
    """

    def __init__(
        self,
        backend: BackendAPI,
        train: PtychoDataContainer,
        config: TrainingConfig,
        *,
        validation: PtychoDataContainer | None = None,
        execution: PyTorchExecutionConfig | None = None,
        initial: ModelBundle | None = None,
    ) -> None:
        self._backend = backend
        self._train = train
        self._config = config
        self._validation = validation
        self._execution = execution
        self._initial = initial
        # an epoch's report, or None once training has ended
        self._queue: queue.Queue[EpochReport | None] = queue.Queue()
        self._cancel = threading.Event()
        self._resume = threading.Event()
        self._thread: threading.Thread | None = None
        self._bundle: ModelBundle | None = None
        self._error: BaseException | None = None
        self.epochs_reported = 0

    @property
    def bundle(self) -> ModelBundle | None:
        """The trained model once training has ended (None before, or after a failure)."""
        return self._bundle

    @property
    def cancelled(self) -> bool:
        """Whether :meth:`cancel` was called."""
        return self._cancel.is_set()

    def cancel(self) -> None:
        """Ask the backend to stop after the current epoch (the model stays valid)."""
        if not self._cancel.is_set():
            logger.info("stop requested: training ends after the current epoch")
        self._cancel.set()
        self._resume.set()

    def _on_epoch_end(self, epoch: int, logs: Mapping[str, float]) -> bool:
        clean: dict[str, float] = {}
        for key, value in dict(logs or {}).items():
            try:
                clean[str(key)] = float(value)
            except (TypeError, ValueError):
                continue
        self._queue.put(EpochReport(int(epoch), clean))
        # Hand-off: wait until the consumer has handled this epoch (it asked for the next one,
        # or stopped iterating), so a Stop seen after this epoch ends training right here.
        self._resume.wait()
        self._resume.clear()
        return self._cancel.is_set()

    def _run(self) -> None:
        try:
            self._bundle = self._backend.train(
                self._train,
                self._config,
                validation=self._validation,
                on_epoch_end=self._on_epoch_end,
                execution=self._execution,
                initial=self._initial,
            )
        except BaseException as exc:
            self._error = exc
        finally:
            self._queue.put(None)

    def start(self) -> None:
        """Start the worker thread (idempotent)."""
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._run, name="ptychopinnx-training", daemon=True
            )
            self._thread.start()

    def __iter__(self) -> Iterator[EpochReport]:
        self.start()
        finished = False
        try:
            while True:
                try:
                    item = self._queue.get(timeout=_POLL_S)
                except queue.Empty:
                    continue
                if item is None:
                    finished = True
                    break
                self.epochs_reported += 1
                yield item
                self._resume.set()
        finally:
            # Reached normally, or through GeneratorExit when the consumer stops iterating
            # (Ptychodus's Stop): either way the run ends cleanly and leaves a valid model.
            if not finished:
                self.cancel()
            self.join()
        if self._error is not None:
            raise self._error

    def join(self, timeout: float | None = None) -> None:
        """Wait for the worker thread to finish."""
        if self._thread is not None:
            self._thread.join(timeout)
