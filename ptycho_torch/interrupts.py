"""Ctrl-C during a Lightning fit (HARD-010 of ``specs/hardening.md``).

Lightning turns a ``KeyboardInterrupt`` inside ``Trainer.fit`` into ``sys.exit(1)``. While
fitting, :func:`sigint_raises` makes SIGINT raise :class:`SigintDuringFit` instead, which Lightning
re-raises after its teardown; :func:`ptycho_torch.training.train` then restores the weights of the
last finished epoch and raises :class:`ptycho.backend.TrainingInterrupted` carrying them. The
TensorFlow loop, which is our own, catches ``KeyboardInterrupt`` directly.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["SigintDuringFit", "sigint_raises"]


class SigintDuringFit(BaseException):
    """Raised by our SIGINT handler inside ``trainer.fit`` (not a KeyboardInterrupt, which
    Lightning turns into ``sys.exit(1)``; Lightning re-raises other exceptions after teardown)."""


@contextmanager
def sigint_raises() -> Iterator[None]:
    """While fitting, Ctrl-C raises :class:`SigintDuringFit` (main thread only; elsewhere no
    SIGINT reaches Python anyway). The previous handler is restored afterwards."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        raise SigintDuringFit()

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
