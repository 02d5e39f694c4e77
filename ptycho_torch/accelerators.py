"""Accelerator and device-count resolution for the torch backend (training and prediction).

* ``'auto'`` picks CUDA when ``torch.cuda.is_available()``, else the CPU;
* ``'gpu'``/``'cuda'`` (or ``'mps'``) without such a device is a ``RuntimeError`` raised before
  anything starts (never a hang);
* ``devices`` larger than what exists is a ``ValueError``.

TensorFlow places its operations itself, so this module has no TensorFlow mirror.
"""

from __future__ import annotations

import logging
import os

import torch

__all__ = ["check_devices", "resolve_accelerator"]

logger = logging.getLogger(__name__)


def resolve_accelerator(name: str) -> str:
    """Resolve an accelerator name to ``'cpu'``, ``'cuda'`` or ``'mps'``.

    Raises
    ------
    RuntimeError
        ``'gpu'``/``'cuda'`` without a CUDA GPU, or ``'mps'`` without Apple MPS.
    ValueError
        An unknown name (the message lists the choices).
    """
    from ptycho.config.config import ACCELERATORS

    if name == "auto":
        chosen = "cuda" if torch.cuda.is_available() else "cpu"
        logger.info("accelerator 'auto' resolved to %s", chosen)
        return chosen
    if name in ("gpu", "cuda"):
        if not torch.cuda.is_available():
            raise RuntimeError(
                f"accelerator {name!r} was requested, but no CUDA GPU is available "
                f"(torch {torch.__version__}: torch.cuda.is_available() is False); use "
                "--accelerator cpu, or --accelerator auto to use a GPU only when present"
            )
        return "cuda"
    if name == "mps":
        if not torch.backends.mps.is_available():
            raise RuntimeError(
                "accelerator 'mps' was requested, but Apple MPS is not available on this "
                "machine; use --accelerator cpu or auto"
            )
        return "mps"
    if name == "cpu":
        return "cpu"
    raise ValueError(f"unknown accelerator {name!r}; choose one of {', '.join(ACCELERATORS)}")


def check_devices(accelerator: str, devices: int | str) -> int | str:
    """Validate the device count against what exists (``'auto'`` passes through).

    Raises
    ------
    ValueError
        ``devices`` exceeds the GPUs (CUDA) or CPU cores (CPU) available.
    """
    if devices == "auto":
        return devices
    count = int(devices)
    if accelerator == "cuda":
        available = torch.cuda.device_count()
        what = "CUDA GPU(s)"
    elif accelerator == "mps":
        available = 1
        what = "MPS device"
    else:
        available = os.cpu_count() or 1
        what = "CPU core(s)"
    if count > available:
        raise ValueError(
            f"--devices {count} was requested, but only {available} {what} are available; "
            f"use --devices {available} or fewer"
        )
    return count
