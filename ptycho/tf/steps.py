"""The TF training loss and its compiled ``tf.function`` train / eval steps.

Scaling (ARCH-007/009): the network always sees the normalised ``X`` (its input is ``s X`` with the
current ``s = exp(log_intensity_scale)``, divided by the same ``s`` inside). Predicted counts
``(s A)^2`` are compared with the measured counts ``(s0 X)^2``, where
``s0 = sqrt(nphotons) / (N/2)`` is fixed by the data. A trainable ``s`` therefore learns the
count scale of the prediction, and inference (which feeds ``X * s``) sees exactly what training
saw.

Terms: ``nll_loss`` (Poisson NLL) and ``mae_loss`` (diffraction MAE) for ``model_type='pinn'``,
plus ``realspace_loss`` (centre MAE against ``Y``) when ``realspace_weight > 0``; supervised
models train on ``realspace_loss`` alone.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

import keras
import tensorflow as tf

from ptycho.tf import physics
from ptycho.tf.network import PtychoPINNModel

if TYPE_CHECKING:
    from ptycho.config.config import TrainingConfig

__all__ = ["LossSpec", "loss_spec", "make_steps"]


@dataclasses.dataclass(frozen=True)
class LossSpec:
    supervised: bool
    nll_weight: float
    mae_weight: float
    realspace_weight: float
    use_y: bool
    measured_scale: float  # s0


def loss_spec(config: TrainingConfig, has_y: bool) -> LossSpec:
    from ptycho.physics.forward import intensity_scale

    supervised = config.model.model_type == "supervised"
    if supervised and not has_y:
        raise ValueError(
            "model_type='supervised' trains on ground-truth object patches, but the data has no "
            "Y: provide objectGuess (or Y) in the dataset, or use model_type='pinn'"
        )
    if config.realspace_weight > 0 and not has_y:
        raise ValueError(
            f"realspace_weight={config.realspace_weight} needs ground-truth object patches, but "
            "the data has no Y: provide objectGuess (or Y) in the dataset, or set "
            "realspace_weight=0"
        )
    use_y = has_y and (supervised or config.realspace_weight > 0)
    return LossSpec(
        supervised=supervised,
        nll_weight=float(config.nll_weight),
        mae_weight=float(config.mae_weight),
        realspace_weight=float(config.realspace_weight),
        use_y=use_y,
        measured_scale=intensity_scale(config.nphotons, config.model.N),
    )


def make_steps(
    network: PtychoPINNModel,
    spec: LossSpec,
    optimizer: keras.optimizers.Optimizer,
    jit_compile: bool,
) -> tuple[Any, Any]:
    model = network.training_model
    log_scale = network.scale_layer.log_intensity_scale
    variables = network.trainable_variables
    n, c = network.N, network.channels

    def losses(x: tf.Tensor, pos: tf.Tensor, y: tf.Tensor | None, training: bool):
        s = tf.stop_gradient(tf.exp(tf.convert_to_tensor(log_scale)))
        _, patches, amp_scaled = model([x * s, pos], training=training)
        terms: dict[str, tf.Tensor] = {}
        if spec.supervised:
            terms["realspace_loss"] = physics.complex_mae_center(patches, y)
            return terms["realspace_loss"], terms
        measured = x * spec.measured_scale
        terms["nll_loss"] = physics.poisson_nll(tf.square(amp_scaled), tf.square(measured))
        terms["mae_loss"] = physics.diffraction_mae(amp_scaled, measured)
        total = spec.nll_weight * terms["nll_loss"] + spec.mae_weight * terms["mae_loss"]
        if spec.use_y:
            terms["realspace_loss"] = physics.complex_mae_center(patches, y)
            total = total + spec.realspace_weight * terms["realspace_loss"]
        return total, terms

    signature = [
        tf.TensorSpec((None, n, n, c), tf.float32),
        tf.TensorSpec((None, 1, 2, c), tf.float32),
    ]
    if spec.use_y:
        signature.append(tf.TensorSpec((None, n, n, c), tf.complex64))

    def train_step(x, pos, y=None):
        with tf.GradientTape() as tape:
            total, terms = losses(x, pos, y, True)
        grads = tape.gradient(total, variables)
        optimizer.apply(grads, variables)
        return total, terms

    def eval_step(x, pos, y=None):
        return losses(x, pos, y, False)

    return (
        tf.function(train_step, input_signature=signature, jit_compile=jit_compile),
        tf.function(eval_step, input_signature=signature, jit_compile=jit_compile),
    )
