"""The framework-neutral contract every backend implements.

Both backends (``ptycho.tf.api`` and ``ptycho_torch.api``) expose the same functions with the same
argument names, returning a :class:`ModelBundle`. The adapter, the CLIs and the dispatcher program
against this contract only, so a new backend is one module that satisfies :class:`BackendAPI`.

This module is part of the core: it imports neither TensorFlow nor torch.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from ptycho.array_types import AnyArray, Complex64Array, ComplexArray
from ptycho.config.config import BACKENDS as _CONFIG_BACKENDS

if TYPE_CHECKING:
    import os
    from pathlib import Path

    from ptycho.config.config import (
        InferenceConfig,
        ModelConfig,
        PyTorchExecutionConfig,
        TrainingConfig,
    )
    from ptycho.inference import Reconstruction
    from ptycho.loader import PtychoDataContainer
    from ptycho.raw_data import RawData

__all__ = [
    "BACKENDS",
    "BACKEND_OPERATIONS",
    "BackendAPI",
    "EpochCallback",
    "ModelBundle",
    "TrainingDivergedError",
    "TrainingInterrupted",
]

#: The backend names accepted everywhere (configs, CLIs, adapter settings, archives).
BACKENDS: tuple[str, ...] = tuple(_CONFIG_BACKENDS)

#: Called after every training epoch with the 0-based epoch index and that epoch's logs
#: (``loss``, ``val_loss``, ... as floats). Returning ``True`` asks the trainer to stop cleanly
#: after this epoch (the model stays valid).
EpochCallback = Callable[[int, Mapping[str, float]], bool]


@dataclass
class ModelBundle:
    """A trained (or loaded) model with everything needed to run inference.

    Attributes
    ----------
    backend : str
        ``'tensorflow'`` or ``'pytorch'``: which framework ``network`` belongs to.
    model_config : ModelConfig
        The architecture and physics configuration the network was built from.
    training_config : TrainingConfig or None
        The training configuration, when known (``None`` for a bare network).
    intensity_scale : float
        The intensity scale ``s`` (ARCH-007): trained value when ``intensity_scale_trainable``.
    probe : (N, N) complex64
        The normalised probe the model illuminates with (the learned one when trainable).
    history : dict[str, list[float]]
        Per-epoch training history (``loss``, ``val_loss`` and per-term losses).
    network : Any
        The backend's network object (a ``keras.Model`` or a ``torch.nn.Module``).
    """

    backend: str
    model_config: ModelConfig
    training_config: TrainingConfig | None
    intensity_scale: float
    probe: Complex64Array
    history: dict[str, list[float]] = field(default_factory=dict)
    network: Any = None

    @property
    def N(self) -> int:
        """Patch size in pixels."""
        return int(self.model_config.N)

    @property
    def gridsize(self) -> int:
        """Patterns per group side (``C = gridsize**2``)."""
        return int(self.model_config.gridsize)

    @property
    def epochs_trained(self) -> int:
        """Number of epochs recorded in :attr:`history`."""
        return len(self.history.get("loss", []))


class TrainingInterrupted(KeyboardInterrupt):
    """Training was interrupted by Ctrl-C (SIGINT) (``specs/hardening.md`` HARD-010).

    Both backends' ``train`` raise it instead of a bare ``KeyboardInterrupt``, with the weights of
    the last *finished* epoch restored. It is a ``KeyboardInterrupt``, so code that does not know
    it still treats it as one.

    Attributes
    ----------
    epochs_completed : int
        Epochs that finished before the interrupt.
    bundle : ModelBundle or None
        The model after the last finished epoch, with the history of the finished epochs; None
        when no epoch finished.
    history : dict[str, list[float]]
        The history of the finished epochs.
    saved : dict[str, Path]
        What a caller saved of it (the CLIs fill it: ``archive``, ``history`` ...).
    """

    def __init__(
        self,
        epochs_completed: int,
        bundle: ModelBundle | None = None,
        history: Mapping[str, list[float]] | None = None,
    ) -> None:
        super().__init__(f"training interrupted after {epochs_completed} finished epoch(s)")
        self.epochs_completed = int(epochs_completed)
        self.bundle = bundle
        self.history = {k: list(v) for k, v in (history or {}).items()}
        self.saved: dict[str, Path] = {}


class TrainingDivergedError(RuntimeError):
    """The training loss became NaN or Inf; the weights of the last good epoch were restored.

    Both backends' ``train`` raise this one class (``ptycho.tf.training`` and
    ``ptycho_torch.training`` re-export it), so a caller catches either backend's divergence here.

    Attributes
    ----------
    bundle : ModelBundle or None
        The model with the restored weights and the history of the good epochs (set by the
        backend's ``train``); None when no model could be saved.
    epoch : int or None
        1-based epoch whose loss was not finite, when the backend knows it.
    history : dict[str, list[float]]
        History of the completed, finite epochs (empty when the backend does not record it).
    """

    def __init__(
        self,
        message: str,
        bundle: ModelBundle | None = None,
        *,
        epoch: int | None = None,
        history: Mapping[str, list[float]] | None = None,
    ) -> None:
        super().__init__(message)
        self.bundle = bundle
        self.epoch = epoch
        self.history: dict[str, list[float]] = {k: list(v) for k, v in (history or {}).items()}


#: Every operation of :class:`BackendAPI`, checked when a backend is first imported
#: (:func:`ptycho.workflows.registry.get_backend`).
BACKEND_OPERATIONS: tuple[str, ...] = (
    "BACKEND",
    "train",
    "predict_patches",
    "reconstruct",
    "save_bundle",
    "load_bundle",
    "weights_of",
    "bundle_from_weights",
)


@runtime_checkable
class BackendAPI(Protocol):
    """What every backend's API module provides (same names, same arguments).

    ``ptycho.tf.api`` and ``ptycho_torch.api`` implement it; the dispatcher
    (:mod:`ptycho.workflows.backend_selector`), the weight converter (:mod:`ptycho.weights`),
    the Ptychodus adapter and the CLIs call only these operations, reached through the registry
    (:func:`ptycho.workflows.registry.get_backend`). Paths may be ``str`` or ``os.PathLike``.
    """

    #: The backend's registered name (``'tensorflow'``, ``'pytorch'``).
    BACKEND: str

    def train(
        self,
        train: PtychoDataContainer,
        config: TrainingConfig,
        *,
        validation: PtychoDataContainer | None = None,
        on_epoch_end: EpochCallback | None = None,
        execution: PyTorchExecutionConfig | None = None,
        initial: ModelBundle | None = None,
        verbose: int = 0,
        output_dir: str | os.PathLike[str] | None = None,
    ) -> ModelBundle:
        """Train a model (from ``initial`` when given) and return it with its history.

        ``verbose``: 0 silent, 1 progress bar, 2 a log line per epoch; ``output_dir``: where
        ``history.csv`` (and, for a backend that reads checkpoints, ``checkpoints/``) go;
        ``execution``: runtime options (accelerator, ...) a backend may ignore.
        """
        ...

    def predict_patches(
        self,
        bundle: ModelBundle,
        container: PtychoDataContainer,
        batch_size: int = 64,
        *,
        probe: ComplexArray | None = None,
        precision: str = "float32",
    ) -> Complex64Array:
        """Object patches at the group centres, ``(B, N, N, 1) complex64``; ``probe`` (normalised,
        ``(N, N)``) replaces the model's for this prediction (ARCH-014), default the model's;
        ``precision`` is the arithmetic of the convolution trunk (ARCH-016)."""
        ...

    def reconstruct(
        self,
        bundle: ModelBundle,
        raw: RawData,
        inference_config: InferenceConfig,
        *,
        M: int = 20,
    ) -> Reconstruction:
        """Group, predict, stitch (central ``M x M`` of each patch) and optionally refine a scan
        (:func:`ptycho.inference.reconstruct_scan`); returns the object and the probe used."""
        ...

    def save_bundle(self, bundle: ModelBundle, path: str | os.PathLike[str]) -> Path | None:
        """Write ``bundle`` as a ``wts.h5.zip`` archive (atomic; design D6)."""
        ...

    def load_bundle(self, path: str | os.PathLike[str]) -> ModelBundle:
        """Read an archive written by :meth:`save_bundle` (never executes archive content)."""
        ...

    def weights_of(self, bundle: ModelBundle) -> dict[str, AnyArray]:
        """The bundle's weights under canonical names in the Keras layout (:mod:`ptycho.weights`);
        ``ValueError`` for a bundle of another backend."""
        ...

    def bundle_from_weights(
        self,
        model_config: ModelConfig,
        training_config: TrainingConfig | None,
        weights: Mapping[str, AnyArray],
        probe: ComplexArray,
        intensity_scale: float,
    ) -> ModelBundle:
        """Build this backend's bundle from canonical weights (e.g. converted from another
        backend); ``probe`` and ``intensity_scale`` fill in what ``weights`` lacks.
        ``ValueError`` naming a missing or wrongly shaped weight."""
        ...
