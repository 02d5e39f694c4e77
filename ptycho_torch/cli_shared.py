"""Helpers shared by the training and inference CLIs of the PyTorch backend.

This module owns the deprecated-flag handling: ``--device`` (-> ``--accelerator``) and
``--disable_mlflow`` (-> ``--logger none``). Each prints a notice to stderr, which the user sees
in the command's output (a ``DeprecationWarning`` alone is hidden by Python's default filters
outside ``__main__``), and also emits the ``DeprecationWarning`` for programmatic callers.
"""

from __future__ import annotations

import argparse
import sys
import warnings

__all__ = ["add_device_flags", "deprecation_notice", "resolve_accelerator_flags"]


def deprecation_notice(message: str) -> None:
    """Print ``DEPRECATION: message`` to stderr and emit a ``DeprecationWarning``."""
    print(f"DEPRECATION: {message}", file=sys.stderr)
    warnings.warn(message, DeprecationWarning, stacklevel=3)


def add_device_flags(parser: argparse._ActionsContainer) -> None:
    """``--accelerator`` (default auto) and the deprecated ``--device``."""
    from ptycho.config.config import ACCELERATORS

    parser.add_argument(
        "--accelerator",
        choices=ACCELERATORS,
        default=None,
        help="compute device: auto (a CUDA GPU when present, else the CPU), cpu, gpu, cuda, "
        "mps (default auto)",
    )
    parser.add_argument(
        "--device",
        choices=("cpu", "cuda", "gpu"),
        default=None,
        help="DEPRECATED: use --accelerator",
    )


def resolve_accelerator_flags(args: argparse.Namespace) -> str:
    """Final accelerator from ``--accelerator`` and the deprecated ``--device``."""
    if args.device is not None:
        if args.accelerator is not None:
            deprecation_notice(
                f"--device is deprecated and ignored because --accelerator {args.accelerator} "
                "is given"
            )
        else:
            mapped = "cpu" if args.device == "cpu" else "cuda"
            deprecation_notice(f"--device is deprecated; use --accelerator {mapped}")
            return mapped
    return args.accelerator or "auto"
