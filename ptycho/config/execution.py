"""PyTorchExecutionConfig: Lightning/dataloader execution settings of the PyTorch backend."""

from __future__ import annotations

from dataclasses import dataclass

from ptycho.config.choices import (
    ACCELERATORS,
    CHECKPOINT_MODES,
    GRADIENT_CLIP_ALGORITHMS,
    LOGGER_BACKENDS,
    PRECISIONS,
    SCHEDULERS,
)
from ptycho.config.validation import (
    check_bool,
    check_choice,
    check_int,
    check_nonempty_str,
    check_real,
    coerce_fields,
    fail,
    is_bool,
    is_int,
)

__all__ = ["PyTorchExecutionConfig"]


@dataclass
class PyTorchExecutionConfig:
    """Execution settings of the PyTorch + Lightning backend (never used by TensorFlow).

    This config is never written into the legacy ``ptycho.params.cfg`` (CONFIG-002).

    Attributes
    ----------
    accelerator : str
        ``'cpu'`` (default), ``'gpu'``, ``'cuda'``, ``'mps'`` or ``'auto'``. ``'auto'`` is kept
        as given; the torch backend resolves it (a GPU when present, else the CPU).
    devices : int or str
        Number of devices (positive int) or ``'auto'``.
    strategy : str
        Lightning strategy (``'auto'``, ``'ddp'``, ``'ddp_spawn'``, ...).
    deterministic : bool or str
        Lightning's ``deterministic`` flag: True, False or ``'warn'``.
    precision : str
        Lightning's precision: ``'32-true'``, ``'16-mixed'`` or ``'bf16-mixed'`` (autocast around
        the whole step; the physics is cast back to float32). Prefer the backend-neutral
        ``TrainingConfig.precision`` (ARCH-016), which both backends honour.
    gradient_clip_val : float or None
        Gradient clipping threshold (> 0), None = no clipping.
    gradient_clip_algorithm : str
        ``'norm'`` or ``'value'``.
    accumulate_grad_batches : int
        Optimisation step every this many batches (>= 1).
    num_workers : int
        DataLoader worker processes (>= 0).
    pin_memory, persistent_workers : bool
        DataLoader flags; ``persistent_workers`` needs ``num_workers > 0``.
    learning_rate : float or None
        Overrides ``TrainingConfig.learning_rate`` when set (> 0); None = use the training
        config's value.
    scheduler : str
        ``'reduce_on_plateau'`` (default: the same schedule as the TensorFlow backend, from
        ``TrainingConfig.lr_plateau_*`` and ``min_learning_rate``), ``'none'`` (constant
        learning rate), ``'exponential'`` or ``'warmup_cosine'``.
    enable_progress_bar, enable_checkpointing : bool
        Lightning progress bar and checkpoint callback.
    checkpoint_save_top_k : int
        Best checkpoints kept (-1 = all, 0 = none, >= -1).
    checkpoint_monitor : str
        Logged metric the checkpoint and early-stopping callbacks watch.
    checkpoint_mode : str
        ``'min'`` or ``'max'``.
    early_stop_patience : int or None
        Patience of Lightning's early-stopping callback (>= 1); None (default) = use
        ``TrainingConfig.early_stopping_patience``, so both backends stop alike.
    logger_backend : str or None
        ``'csv'``, ``'tensorboard'``, ``'mlflow'`` or None (no logger).
    inference_batch_size : int or None
        Prediction batch size (>= 1); None = ``InferenceConfig.batch_size``.
    """

    accelerator: str = "cpu"
    devices: int | str = 1
    strategy: str = "auto"
    deterministic: bool | str = True
    precision: str = "32-true"
    gradient_clip_val: float | None = None
    gradient_clip_algorithm: str = "norm"
    accumulate_grad_batches: int = 1
    num_workers: int = 0
    pin_memory: bool = False
    persistent_workers: bool = False
    learning_rate: float | None = None
    scheduler: str = "reduce_on_plateau"
    enable_progress_bar: bool = False
    enable_checkpointing: bool = True
    checkpoint_save_top_k: int = 1
    checkpoint_monitor: str = "val_loss"
    checkpoint_mode: str = "min"
    early_stop_patience: int | None = None
    logger_backend: str | None = "csv"
    inference_batch_size: int | None = None

    def __post_init__(self) -> None:
        coerce_fields(self)
        self.validate()

    def validate(self) -> None:
        """Check every field; call again after mutating the config.

        Raises
        ------
        ValueError
            Naming the field, the bad value and the allowed values.
        """
        owner = type(self).__name__
        check_choice(owner, "accelerator", self.accelerator, ACCELERATORS)
        if not (self.devices == "auto" or (is_int(self.devices) and int(self.devices) >= 1)):
            fail(owner, "devices", "a positive integer or 'auto'", self.devices)
        check_nonempty_str(owner, "strategy", self.strategy)
        if not (is_bool(self.deterministic) or self.deterministic == "warn"):
            fail(owner, "deterministic", "True, False or 'warn'", self.deterministic)
        check_choice(owner, "precision", self.precision, PRECISIONS)
        check_real(
            owner,
            "gradient_clip_val",
            self.gradient_clip_val,
            low=0.0,
            low_inclusive=False,
            allow_none=True,
        )
        check_choice(
            owner, "gradient_clip_algorithm", self.gradient_clip_algorithm, GRADIENT_CLIP_ALGORITHMS
        )
        check_int(owner, "accumulate_grad_batches", self.accumulate_grad_batches, minimum=1)
        check_int(owner, "num_workers", self.num_workers, minimum=0)
        for name in (
            "pin_memory",
            "persistent_workers",
            "enable_progress_bar",
            "enable_checkpointing",
        ):
            check_bool(owner, name, getattr(self, name))
        if self.persistent_workers and self.num_workers == 0:
            raise ValueError(
                f"{owner}.persistent_workers=True requires num_workers > 0, got num_workers=0 "
                "(set num_workers >= 1 or persistent_workers=False)"
            )
        check_real(
            owner,
            "learning_rate",
            self.learning_rate,
            low=0.0,
            low_inclusive=False,
            allow_none=True,
        )
        check_choice(owner, "scheduler", self.scheduler, SCHEDULERS)
        check_int(owner, "checkpoint_save_top_k", self.checkpoint_save_top_k, minimum=-1)
        check_nonempty_str(owner, "checkpoint_monitor", self.checkpoint_monitor)
        check_choice(owner, "checkpoint_mode", self.checkpoint_mode, CHECKPOINT_MODES)
        check_int(
            owner, "early_stop_patience", self.early_stop_patience, minimum=1, allow_none=True
        )
        check_choice(owner, "logger_backend", self.logger_backend, LOGGER_BACKENDS)
        check_int(
            owner, "inference_batch_size", self.inference_batch_size, minimum=1, allow_none=True
        )
