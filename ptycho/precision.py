"""Network precision: which arithmetic the convolutions of either backend run in (ARCH-016).

``'float32'`` runs everything in float32. ``'bfloat16'`` is mixed precision: the convolution
trunk computes in bfloat16 (weights, gradients and optimiser state stay float32), and its two
outputs (amplitude and phase) are cast to float32 before the physics (object merge, probe, FFT,
loss), which always runs in float32. ``'auto'`` resolves to bfloat16 where the hardware has
bfloat16 units (a CPU with AVX-512 BF16 or AMX, a GPU that supports bfloat16) and to float32
elsewhere: on a CPU without them bfloat16 is emulated and slower than float32.

Standard library only; the backends call :func:`resolve_precision` with the device they run on.
"""

from __future__ import annotations

import functools
import platform
from pathlib import Path
from typing import Final

from ptycho.config.choices import NETWORK_PRECISIONS

__all__ = [
    "CPU_BF16_FLAGS",
    "NETWORK_PRECISIONS",
    "cpu_supports_bfloat16",
    "resolve_precision",
]

#: ``/proc/cpuinfo`` flags of the x86 units that compute bfloat16 natively.
CPU_BF16_FLAGS: Final[frozenset[str]] = frozenset({"avx512_bf16", "amx_bf16"})


@functools.cache
def cpu_supports_bfloat16(cpuinfo: Path = Path("/proc/cpuinfo")) -> bool:
    """Whether this CPU has native bfloat16 units (AVX-512 BF16 or AMX; Linux x86 only).

    Parameters
    ----------
    cpuinfo : pathlib.Path
        The file listing the CPU flags (tests pass their own).

    Returns
    -------
    bool
        False when the flags cannot be read (other operating systems, other architectures).
    """
    if platform.system() != "Linux" or not cpuinfo.is_file():
        return False
    try:
        text = cpuinfo.read_text(errors="replace")
    except OSError:
        return False
    for line in text.splitlines():
        if line.startswith("flags"):
            return not CPU_BF16_FLAGS.isdisjoint(line.partition(":")[2].split())
    return False


def resolve_precision(requested: str, *, on_gpu: bool = False, gpu_bf16: bool = False) -> str:
    """The precision a network runs in: ``'float32'`` or ``'bfloat16'``.

    Parameters
    ----------
    requested : str
        One of :data:`NETWORK_PRECISIONS`.
    on_gpu : bool
        The network runs on a GPU (then ``gpu_bf16`` decides ``'auto'``), else on the CPU.
    gpu_bf16 : bool
        That GPU computes bfloat16 natively (e.g. ``torch.cuda.is_bf16_supported()``).

    Raises
    ------
    ValueError
        For a value outside :data:`NETWORK_PRECISIONS`.
    """
    if requested not in NETWORK_PRECISIONS:
        raise ValueError(
            f"precision must be one of {', '.join(NETWORK_PRECISIONS)}, got {requested!r}"
        )
    if requested != "auto":
        return requested
    native = gpu_bf16 if on_gpu else cpu_supports_bfloat16()
    return "bfloat16" if native else "float32"
