"""Plain ``nn.Module`` building blocks of the PyTorch backend (usable without Lightning)."""

from __future__ import annotations

from ptycho_torch.nn.model import (
    Decoder,
    DiffractionToObject,
    Encoder,
    NetworkOutput,
    PtychoPINNNet,
    conv_parameter_count,
)

__all__ = [
    "Decoder",
    "DiffractionToObject",
    "Encoder",
    "NetworkOutput",
    "PtychoPINNNet",
    "conv_parameter_count",
]
