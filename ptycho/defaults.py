"""The recommended settings where a user starts (design D14), each chosen from a measurement.

The command-line tools (``ptycho-train``, ``ptycho-infer``, ``python -m ptycho_torch.train`` /
``.inference``), the Ptychodus settings of PtychoPINNx and the demo take their defaults from
here; the measurements are in ``benchmarks/README.md`` ("Choosing the defaults"). The config
dataclasses (:mod:`ptycho.config.config`) keep the neutral defaults of the original API
(gridsize 1, no refinement), which Ptychodus's built-in PtychoPINN client relies on.

Framework-free (stdlib only): the Ptychodus GUI process imports it.
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "ACCELERATOR",
    "GRIDSIZE",
    "PRECISION",
    "REFINE_ITERATIONS",
    "START_FROM_PRETRAINED",
]

#: Patterns per group side. gridsize 2 (4 overlapping patterns per group) is the only one whose
#: network-alone phase is on the right branch of the twin and clearly above a constant object;
#: gridsize 1 learns the amplitude as fast but not the phase, gridsize 3 is slower per group.
GRIDSIZE: Final[int] = 2
#: Physics-refinement iterations after the network (``RefineIterations``; 0 = the network's
#: image as it is). Measured from the pretrained model on a held-out 512-position scan (one
#: thread, ``bench_quality.py ttq``): amplitude/phase SSIM 0.84/0.29 alone, 0.97/0.67 after 20,
#: 0.985/0.80 after 50 (amplitude saturated; +4.4 s), 0.985/0.88 after 100 (+8.6 s). 50 is the
#: knee; real N=128 scans take about 0.8 s per iteration per 500 patterns on one thread.
REFINE_ITERATIONS: Final[int] = 50
#: Ptychodus PINN training continues the shipped pretrained model (D13) when the model settings
#: match it: on held-out data 20 epochs of fine-tuning give the network alone amplitude/phase
#: SSIM 0.85/0.45 against 0.54-0.60/0.11-0.27 from scratch in the same time.
START_FROM_PRETRAINED: Final[bool] = True
#: PyTorch accelerator: a GPU when there is one, else the CPU.
ACCELERATOR: Final[str] = "auto"
#: Network precision (ARCH-016) of training and inference: bfloat16 where the hardware has
#: bfloat16 units, else float32. Measured in ``benchmarks/README.md`` ("Speed").
PRECISION: Final[str] = "auto"
