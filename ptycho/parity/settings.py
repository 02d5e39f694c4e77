"""Settings, results, tolerances and the worker table of the parity harness (framework-free).

Everything here is plain Python and NumPy: the problem sizes (:data:`SIZES`), the pass
thresholds (:data:`TOLERANCES`), the result of a run (:class:`ParityResult`), the relative
difference every comparison uses (:func:`relative_difference`) and the one table that says which
module runs each backend's worker (:data:`PARITY_WORKERS`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
import numpy.typing as npt

from ptycho.backend import BACKENDS as _ALL_BACKENDS

__all__ = [
    "BACKENDS",
    "LABELS",
    "PARITY_WORKERS",
    "SIZES",
    "SMOOTH_SIGMA",
    "TOLERANCES",
    "WORKER_SCHEDULE",
    "ParityResult",
    "ParitySettings",
    "relative_difference",
]

#: Pass thresholds: physics and same-weights relative differences, trained SSIM difference.
TOLERANCES: dict[str, float] = {"physics": 1e-5, "same_weights": 1e-4, "ssim": 0.02}

#: The compared backends (:data:`ptycho.backend.BACKENDS`), in report order.
BACKENDS: tuple[str, ...] = _ALL_BACKENDS

#: Backend name -> its name for people (report and figure).
LABELS: Mapping[str, str] = MappingProxyType({"tensorflow": "TensorFlow", "pytorch": "PyTorch"})

#: Backend name -> the module run as ``python -m MODULE TASK_JSON`` in its own subprocess. Each
#: module lives in its backend (it imports that framework) and offers the same functions
#: (``run_task``, ``model_outputs``, ``physics_outputs``, ``main``). This is the only place
#: that maps a backend to its worker.
PARITY_WORKERS: Mapping[str, str] = MappingProxyType(
    {"tensorflow": "ptycho.tf.parity_worker", "pytorch": "ptycho_torch.parity_worker"}
)

#: The worker runs, in order: ``(backend, phase)``. Phase ``a`` of TensorFlow: physics, the
#: TensorFlow initialisation (saved) and its native outputs; phase ``a`` of PyTorch: physics,
#: the PyTorch initialisation (saved), both same-weights outputs and the same training from the
#: TensorFlow initialisation; phase ``b`` of TensorFlow: the PyTorch initialisation converted,
#: and the same training.
WORKER_SCHEDULE: tuple[tuple[str, str], ...] = (
    ("tensorflow", "a"),
    ("pytorch", "a"),
    ("tensorflow", "b"),
)

#: Standard deviation (pixels) of the exit-wave Gaussian smoothing compared in the physics section.
SMOOTH_SIGMA = 0.7


@dataclass(frozen=True)
class ParitySettings:
    """Problem size of one parity run.

    Attributes
    ----------
    size : str
        ``'tiny'`` (tests, about a minute) or ``'full'`` (the benchmark, a few minutes).
    N, gridsize, n_filters_scale : int
        Model geometry (``C = gridsize**2`` patterns per group).
    n_train_positions, n_test_positions : int
        Simulated scan positions of the training and the (unseen) test object.
    n_groups : int
        Training groups (before the validation split).
    validation_fraction : float
        Fraction of the training groups held out for validation.
    batch_size, epochs : int
        Training batch size and epochs.
    nphotons : float
        Mean photons per pattern (simulation and model).
    learning_rate : float
    """

    size: str
    N: int = 64
    gridsize: int = 2
    n_filters_scale: int = 1
    n_train_positions: int = 48
    n_test_positions: int = 36
    n_groups: int = 32
    validation_fraction: float = 0.2
    batch_size: int = 32
    epochs: int = 2
    nphotons: float = 1e6
    learning_rate: float = 1e-3


#: The two standard sizes: ``tiny`` (tests; one batch per epoch) and ``full`` (the benchmark;
#: about 6 minutes on 2 busy CPU cores).
SIZES: dict[str, ParitySettings] = {
    "tiny": ParitySettings(size="tiny"),
    "full": ParitySettings(
        size="full",
        n_filters_scale=2,
        n_train_positions=400,
        n_test_positions=196,
        n_groups=320,
        validation_fraction=0.1,
        batch_size=16,
        epochs=8,
    ),
}


@dataclass
class ParityResult:
    """Outcome of :func:`ptycho.parity.run_parity`.

    Attributes
    ----------
    passed : bool
        Every check passed.
    checks : list[dict]
        ``{'section', 'name', 'value', 'tolerance', 'passed'}`` for every check.
    report_path, figure_path, json_path : Path
        The files written.
    data : dict
        Everything in ``parity.json``.
    """

    passed: bool
    checks: list[dict[str, Any]]
    report_path: Path
    figure_path: Path
    json_path: Path
    data: dict[str, Any] = field(default_factory=dict)


def relative_difference(value: npt.ArrayLike, reference: npt.ArrayLike) -> tuple[float, float]:
    """``(max|value - reference|, max|value - reference| / max|reference|)`` in float64.

    Complex inputs use the modulus of the difference. A zero reference gives the absolute
    difference as the relative one.

    Raises
    ------
    ValueError
        The shapes differ.
    """
    a = np.asarray(value)
    r = np.asarray(reference)
    if a.shape != r.shape:
        raise ValueError(f"shapes differ: {a.shape} vs reference {r.shape}")
    dtype = np.complex128 if (np.iscomplexobj(a) or np.iscomplexobj(r)) else np.float64
    diff = np.abs(a.astype(dtype) - r.astype(dtype))
    max_abs = float(diff.max()) if diff.size else 0.0
    scale = float(np.abs(r.astype(dtype)).max()) if r.size else 0.0
    return max_abs, (max_abs / scale if scale > 0 else max_abs)
