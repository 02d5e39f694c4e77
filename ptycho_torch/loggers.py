"""Lightning experiment loggers and Lightning's own console messages.

Loggers ``csv`` / ``tensorboard`` / ``mlflow`` / ``None`` write under
``<output_dir>/lightning_logs/`` (MLflow under ``<output_dir>/mlruns``); a logger whose package is
missing is a ``RuntimeError`` with the install command. :func:`quiet_lightning` silences
Lightning's info messages and its data-loader performance hints.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

__all__ = ["LOG_DIR", "build_logger", "check_logger_available", "quiet_lightning"]

#: Folder of ``output_dir`` that the csv / tensorboard loggers write into.
LOG_DIR = "lightning_logs"


def check_logger_available(backend: str | None) -> None:
    """Raise ``RuntimeError`` with the install command when the logger's package is missing."""
    import importlib.util

    if backend == "tensorboard" and not any(
        importlib.util.find_spec(m) for m in ("tensorboard", "tensorboardX")
    ):
        raise RuntimeError(
            "--logger tensorboard needs the tensorboard package, which is not installed: "
            "pip install tensorboard (or use --logger csv)"
        )
    if backend == "mlflow" and importlib.util.find_spec("mlflow") is None:
        raise RuntimeError(
            "--logger mlflow needs the optional mlflow package, which is not installed: "
            "pip install mlflow (or use --logger csv / none)"
        )


def build_logger(backend: str | None, output_dir: Path) -> Any:
    """Lightning logger for ``backend`` (``None`` -> ``False``).

    Raises
    ------
    RuntimeError
        The logger's package (tensorboard / mlflow) is not installed.
    """
    check_logger_available(backend)
    if backend is None or backend == "none":
        return False
    if backend == "csv":
        from lightning.pytorch.loggers import CSVLogger

        return CSVLogger(save_dir=str(output_dir), name=LOG_DIR)
    if backend == "tensorboard":
        from lightning.pytorch.loggers import TensorBoardLogger

        return TensorBoardLogger(save_dir=str(output_dir), name=LOG_DIR)
    if backend == "mlflow":
        from lightning.pytorch.loggers import MLFlowLogger

        return MLFlowLogger(
            experiment_name="ptychopinn", tracking_uri=(output_dir / "mlruns").resolve().as_uri()
        )
    raise ValueError(f"unknown logger {backend!r}; choose one of csv, tensorboard, mlflow, none")


@contextmanager
def quiet_lightning(quiet: bool) -> Iterator[None]:
    """Silence Lightning's info messages and its data-loader performance hints."""
    names = ("lightning", "lightning.pytorch", "lightning.fabric", "lightning_fabric")
    levels = {n: logging.getLogger(n).level for n in names}
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*does not have many workers.*")
        warnings.filterwarnings("ignore", message=".*smaller than the logging interval.*")
        warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\).*")
        warnings.filterwarnings("ignore", message=".*Total length of .* across ranks is zero.*")
        warnings.filterwarnings(
            "ignore", message=".*Checkpoint directory .* exists and is not empty.*"
        )
        if quiet:
            for n in names:
                logging.getLogger(n).setLevel(logging.WARNING)
        try:
            yield
        finally:
            for n, level in levels.items():
                logging.getLogger(n).setLevel(level)
