"""Per-epoch monitors of the TF training loop: reduce-on-plateau and early stopping.

:func:`ptycho.tf.loop.fit` feeds both the monitored value after every epoch (``val_loss`` when
there is validation data, ``loss`` otherwise). The torch mirror, :mod:`ptycho_torch.callbacks`,
holds the Lightning callback for that backend's history, epoch callback and NaN guard (its
plateau and early stopping are Lightning's).
"""

from __future__ import annotations

import math

__all__ = ["EarlyStopping", "ReduceOnPlateau"]


class ReduceOnPlateau:
    """Keras-style reduce-on-plateau on a monitored value (mode ``min``, no cooldown).

    After ``patience`` epochs without a strictly lower value the learning rate is multiplied by
    ``factor`` (never below ``min_lr``) and the wait restarts.
    """

    def __init__(self, factor: float, patience: int, min_lr: float) -> None:
        self.factor = float(factor)
        self.patience = int(patience)
        self.min_lr = float(min_lr)
        self.best = math.inf
        self.wait = 0

    def update(self, value: float, lr: float) -> float:
        """Record this epoch's value; return the (possibly reduced) learning rate."""
        if value < self.best:
            self.best, self.wait = value, 0
            return lr
        self.wait += 1
        if self.wait >= self.patience and lr > self.min_lr:
            self.wait = 0
            return max(lr * self.factor, self.min_lr)
        return lr


class EarlyStopping:
    """Stop after ``patience`` epochs without a strictly lower monitored value."""

    def __init__(self, patience: int) -> None:
        self.patience = int(patience)
        self.best = math.inf
        self.wait = 0

    def update(self, value: float) -> bool:
        """Record this epoch's value; True when training should stop."""
        if value < self.best:
            self.best, self.wait = value, 0
            return False
        self.wait += 1
        return self.wait >= self.patience
