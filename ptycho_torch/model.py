"""``PtychoPINN_Lightning``: the thin LightningModule of the PyTorch backend (house style H8).

This module owns the training-loop glue only: it builds the plain network
(:class:`ptycho_torch.network.PtychoPINNNet`) in one overridable method, computes the ARCH-009
losses with :mod:`ptycho_torch.physics`, logs them, and configures the optimiser and scheduler.

Batches are dicts of tensors (see :mod:`ptycho_torch.datamodule`):

``X``       (B, C, N, N) float32, normalised diffraction amplitude (ARCH-007), channel-first;
``coords``  (B, 1, 2, C) float32, ``coords_relative`` (ARCH-005);
``Y``       (B, C, N, N) complex64 ground-truth patches (only when the data have them).

The model input is ``s * X`` with the network's current ``s = exp(log_intensity_scale)``
(trainable when configured; the network divides by it again), and the measured counts are
``(s0 * X)^2``, where ``s0 = sqrt(nphotons)/(N/2)`` is the data's intensity scale
(``data_intensity_scale``). The network predicts ``s * A``. This is the TensorFlow backend's
scaling, so inference (which feeds ``X * s``) sees what training saw.

Logged metrics (epoch means): ``train_loss`` / ``val_loss`` (the weighted total) and one name per
term: ``poisson_train_loss`` / ``poisson_val_loss`` and ``mae_train_loss`` / ``mae_val_loss``
(both always computed for a ``'pinn'`` model, each weighted by ``nll_weight`` / ``mae_weight``),
``realspace_train_loss`` / ``realspace_val_loss`` (``realspace_weight > 0``) and
``supervised_train_loss`` / ``supervised_val_loss`` (``model_type='supervised'``).
:attr:`loss_name` / :attr:`val_loss_name` name the primary term (poisson when
``nll_weight > 0``, else mae, else realspace; supervised for supervised models). ``ptycho_torch``
histories use the TensorFlow backend's keys (``loss``, ``nll_loss``, ``val_nll_loss``, ...).

Hyperparameters are primitives only (configs as JSON-safe dicts), so a checkpoint loads with
``torch.load(..., weights_only=True)`` and :meth:`load_from_checkpoint` needs no arguments.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import lightning as L
import numpy as np
import torch

from ptycho.config.config import ModelConfig, TrainingConfig, from_dict, to_dict
from ptycho_torch import physics
from ptycho_torch.network import PtychoPINNNet, build_model
from ptycho_torch.stored_configs import (
    ARCHITECTURE_FIELDS,
    config_differences,
    is_core_dict,
    resolve_configs,
    with_legacy_architecture,
)

__all__ = [
    "ARCHITECTURE_FIELDS",
    "ORIGINAL_CONFIGS_KEY",
    "PtychoPINN_Lightning",
    "config_differences",
    "resolve_configs",
]

#: Checkpoint key holding the trained architecture (``to_dict(ModelConfig)``).
_ARCH_KEY = "ptychopinn_model_config"
#: Checkpoint key holding the original ``config_params`` configs (dicts) when the module was
#: built from them (Ptychodus's built-in client reads them back).
ORIGINAL_CONFIGS_KEY = "ptychopinn_original_configs"


class PtychoPINN_Lightning(L.LightningModule):
    """Thin LightningModule around :class:`~ptycho_torch.network.PtychoPINNNet`.

    Parameters
    ----------
    model_config : ModelConfig | dict | ptycho_torch.config_params.ModelConfig
        Architecture (see :func:`resolve_configs` for the accepted forms).
    data_config, training_config, inference_config
        Core ``TrainingConfig`` (or dict), or the original configs (Ptychodus order:
        ``model, data, training, inference``). ``inference_config`` is only stored.
    data_intensity_scale : float, optional
        ``s0``: the data's intensity scale (default ``sqrt(nphotons)/(N/2)``).
    learning_rate : float, optional
        Overrides ``training_config.learning_rate``.
    scheduler : str
        ``'none'``, ``'exponential'``, ``'warmup_cosine'`` or ``'reduce_on_plateau'``.
    probe : (N, N) complex ndarray, optional
        Normalised initial probe (not a hyperparameter; a loaded state dict restores it).
    initial_intensity_scale : float, optional
        Initial network scale ``s`` (default ``s0``).
    """

    def __init__(
        self,
        model_config: Any = None,
        data_config: Any = None,
        training_config: Any = None,
        inference_config: Any = None,
        data_intensity_scale: float | None = None,
        learning_rate: float | None = None,
        scheduler: str = "none",
        probe: np.ndarray | None = None,
        initial_intensity_scale: float | None = None,
    ) -> None:
        super().__init__()
        if model_config is None:
            model_config = ModelConfig()
        model, training = resolve_configs(model_config, data_config, training_config)
        model.validate(require_n=True)
        self.model_config = model
        self.training_config = training
        #: The original (``config_params``) configs when built from them, as plain dicts.
        self.original_configs: dict[str, Any] | None = None
        if not (isinstance(model_config, ModelConfig) or is_core_dict(model_config)):
            self.original_configs = {
                "data_config": _plain(data_config),
                "model_config": _plain(model_config),
                "training_config": _plain(training_config),
                "inference_config": _plain(inference_config),
            }
        if data_intensity_scale is None:
            data_intensity_scale = math.sqrt(training.nphotons) / (model.N / 2.0)
        self.data_intensity_scale = float(data_intensity_scale)
        self.learning_rate = float(learning_rate or training.learning_rate)
        from ptycho.config.config import SCHEDULERS

        if scheduler not in SCHEDULERS:
            raise ValueError(f"scheduler must be one of {', '.join(SCHEDULERS)}, got {scheduler!r}")
        self.scheduler_name = scheduler
        self.save_hyperparameters(
            {
                "model_config": to_dict(model),
                "training_config": to_dict(training),
                "data_config": _plain(data_config) if not is_core_dict(model_config) else None,
                "inference_config": _plain(inference_config),
                "data_intensity_scale": self.data_intensity_scale,
                "learning_rate": self.learning_rate,
                "scheduler": scheduler,
            },
            ignore=["probe"],
        )
        if probe is None:
            from ptycho.probe import default_probe, normalize_probe

            probe = normalize_probe(default_probe(model.N), model.probe_scale)
        self.net = self.configure_network(
            model, training, probe, initial_intensity_scale or self.data_intensity_scale
        )
        self.terms = _active_terms(model, training)
        self.loss_name = f"{self.terms[0]}_train_loss"
        self.val_loss_name = f"{self.terms[0]}_val_loss"

    # -- construction ---------------------------------------------------------------------------
    def configure_network(
        self,
        model: ModelConfig,
        training: TrainingConfig,
        probe: np.ndarray,
        intensity_scale: float,
    ) -> PtychoPINNNet:
        """Build the plain network (override to swap architectures)."""
        return build_model(model, training, probe, intensity_scale)

    # -- forward and losses -----------------------------------------------------------------------
    def forward(self, x_scaled: torch.Tensor, coords_relative: torch.Tensor) -> Any:
        """Delegate to the network (see :meth:`PtychoPINNNet.forward`)."""
        return self.net(x_scaled, coords_relative)

    def compute_losses(self, batch: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Loss terms and the weighted ``total`` for one batch (ARCH-009).

        Same scaling as the TensorFlow backend: the input is ``s X`` with the current
        ``s = exp(log_intensity_scale)`` (no gradient through this product), the measured counts
        are ``(s0 X)^2`` with the data's fixed ``s0``. For a ``'pinn'`` model both the Poisson
        and the MAE terms are computed (and logged); each enters the total with its weight.
        """
        x = batch["X"]
        coords = batch["coords"]
        y = batch.get("Y")
        x_scaled = self.net.intensity_scale.detach() * x
        t = self.training_config
        losses: dict[str, torch.Tensor] = {}
        if self.model_config.model_type == "supervised":
            if y is None:
                raise ValueError(
                    "supervised training needs ground-truth object patches Y; use data with "
                    "objectGuess (or Y), or model_type='pinn'"
                )
            _, patches = self.net.objects(x_scaled, coords)
            losses["supervised"] = physics.complex_mae_center(patches, y)
            losses["total"] = losses["supervised"]
            return losses
        out = self.net(x_scaled, coords)
        measured = self.data_intensity_scale * x
        losses["poisson"] = physics.poisson_nll(out.amplitude**2, measured**2)
        losses["mae"] = physics.diffraction_mae(out.amplitude, measured)
        total = t.nll_weight * losses["poisson"] + t.mae_weight * losses["mae"]
        if t.realspace_weight > 0:
            if y is None:
                raise ValueError(
                    "realspace_weight > 0 needs ground-truth object patches Y, but the data have "
                    "none; set realspace_weight=0 or provide objectGuess/Y"
                )
            losses["realspace"] = physics.complex_mae_center(out.patches, y)
            total = total + t.realspace_weight * losses["realspace"]
        losses["total"] = total
        return losses

    def _log_losses(self, losses: Mapping[str, torch.Tensor], stage: str, batch_size: int) -> None:
        for name, value in losses.items():
            key = f"{stage}_loss" if name == "total" else f"{name}_{stage}_loss"
            self.log(
                key,
                value.detach(),
                on_step=False,
                on_epoch=True,
                prog_bar=name == "total",
                sync_dist=True,
                batch_size=batch_size,
            )

    def training_step(self, batch: Mapping[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        """Loss of one training batch (logged as epoch means)."""
        losses = self.compute_losses(batch)
        self._log_losses(losses, "train", batch["X"].shape[0])
        return losses["total"]

    def validation_step(self, batch: Mapping[str, torch.Tensor], batch_idx: int) -> None:
        """Validation losses (logged as epoch means)."""
        losses = self.compute_losses(batch)
        self._log_losses(losses, "val", batch["X"].shape[0])

    def predict_step(self, batch: Mapping[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        """Object at each group centre, ``(B, N, N)`` complex64."""
        obj, _ = self.net.objects(self.net.intensity_scale * batch["X"], batch["coords"])
        return obj

    # -- optimisation -----------------------------------------------------------------------------
    def configure_optimizers(self) -> Any:
        """Adam over the trainable parameters, with the configured scheduler.

        * ``'none'``: constant learning rate.
        * ``'exponential'``: per epoch ``lr * gamma^epoch`` with ``gamma`` chosen so that the
          rate reaches ``min_learning_rate`` at the last epoch (``gamma = 0.95`` when
          ``min_learning_rate`` is 0 or not below the initial rate).
        * ``'warmup_cosine'``: linear warm-up from ``0.1 * lr`` over ``max(1, nepochs // 10)``
          epochs, then cosine decay to ``min_learning_rate``.
        * ``'reduce_on_plateau'``: ``ReduceLROnPlateau`` on ``val_loss`` (``train_loss`` without
          validation) with ``lr_plateau_factor``, ``lr_plateau_patience``, ``min_learning_rate``
          (the TensorFlow backend's schedule: reduce after ``lr_plateau_patience`` epochs
          without strict improvement).
        """
        params = [p for p in self.parameters() if p.requires_grad]
        optimizer = torch.optim.Adam(params, lr=self.learning_rate)
        t = self.training_config
        epochs = int(t.nepochs)
        lr = self.learning_rate
        floor = min(float(t.min_learning_rate), lr)
        if self.scheduler_name == "none":
            return optimizer
        if self.scheduler_name == "exponential":
            gamma = 0.95
            if 0 < floor < lr and epochs > 1:
                gamma = (floor / lr) ** (1.0 / (epochs - 1))
            scheduler: torch.optim.lr_scheduler.LRScheduler = (
                torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=gamma)
            )
            return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler}}
        if self.scheduler_name == "warmup_cosine":
            warmup = max(1, epochs // 10)
            ratio = floor / lr

            def factor(epoch: int) -> float:
                if epoch < warmup:
                    return 0.1 + 0.9 * epoch / warmup
                span = max(epochs - warmup - 1, 1)
                progress = min((epoch - warmup) / span, 1.0)
                return ratio + (1.0 - ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))

            scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
            return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler}}
        datamodule = getattr(self._trainer, "datamodule", None) if self._trainer else None
        has_val = bool(getattr(datamodule, "has_validation", True))
        # TensorFlow-backend semantics: reduce after ``lr_plateau_patience`` epochs without a
        # strict improvement (torch reduces when bad epochs exceed ``patience``, hence the -1).
        scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer,
            mode="min",
            factor=float(t.lr_plateau_factor),
            patience=max(int(t.lr_plateau_patience) - 1, 0),
            threshold=0.0,
            min_lr=float(t.min_learning_rate),
        )
        return {
            "optimizer": optimizer,
            "lr_scheduler": {
                "scheduler": scheduler,
                "monitor": "val_loss" if has_val else "train_loss",
                "interval": "epoch",
            },
        }

    def on_train_epoch_start(self) -> None:
        """Log the learning rate of the epoch."""
        if self._trainer is not None and self.trainer.optimizers:
            lr = self.trainer.optimizers[0].param_groups[0]["lr"]
            self.log("learning_rate", float(lr), on_step=False, on_epoch=True, sync_dist=False)

    # -- checkpoints ------------------------------------------------------------------------------
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Record the architecture under its own key (``load_from_checkpoint`` overwrites the
        hyperparameters with its keyword arguments, so they cannot be compared later)."""
        checkpoint[_ARCH_KEY] = to_dict(self.model_config)
        if self.original_configs is not None:
            checkpoint[ORIGINAL_CONFIGS_KEY] = self.original_configs

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Refuse a checkpoint of another architecture with the list of differing fields."""
        stored = checkpoint.get(_ARCH_KEY)
        if not stored:
            return
        try:
            stored_model = from_dict(ModelConfig, with_legacy_architecture(stored))
        except ValueError:
            return
        diffs = config_differences(stored_model, self.model_config)
        if diffs:
            raise ValueError(
                "the checkpoint was trained with another model configuration: "
                + "; ".join(diffs)
                + ". Load it with its own configuration (omit the config arguments)."
            )


def _active_terms(model: ModelConfig, training: TrainingConfig) -> list[str]:
    if model.model_type == "supervised":
        return ["supervised"]
    terms = []
    if training.nll_weight > 0:
        terms.append("poisson")
    if training.mae_weight > 0:
        terms.append("mae")
    if training.realspace_weight > 0:
        terms.append("realspace")
    for name in ("poisson", "mae"):  # always logged for a pinn model
        if name not in terms:
            terms.append(name)
    return terms


def _plain(config: Any) -> dict[str, Any] | None:
    """JSON-safe dict of an original config (instance or dict); None stays None."""
    import dataclasses

    if config is None:
        return None
    if dataclasses.is_dataclass(config) and not isinstance(config, type):
        if isinstance(config, TrainingConfig):
            return to_dict(config)
        config = dataclasses.asdict(config)
    if isinstance(config, Mapping):
        return {str(k): _json_safe(v) for k, v in config.items()}
    raise ValueError(f"expected a config dataclass or dict, got {type(config).__name__}")


def _json_safe(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_json_safe(v) for v in value]
    if isinstance(value, list):
        return [_json_safe(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if hasattr(value, "__fspath__"):
        import os

        return os.fspath(value)
    return str(value)
