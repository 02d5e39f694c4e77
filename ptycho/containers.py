"""Group a scan into a model-ready container with the settings of a training/inference config.

:func:`create_ptycho_data_container` is the framework-free step both workflow modules
(:mod:`ptycho.workflows.components`, :mod:`ptycho_torch.workflows.components`) run before
training or prediction; ``ptycho.workflows.components`` re-exports it under its public name.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from ptycho.grouping import too_many_groups
from ptycho.inference import subsample_raw
from ptycho.loader import PtychoDataContainer, container_from_raw
from ptycho.raw_data import RawData

if TYPE_CHECKING:
    from ptycho.config.config import InferenceConfig, TrainingConfig

__all__ = ["create_ptycho_data_container"]

logger = logging.getLogger(__name__)


def create_ptycho_data_container(
    data: RawData | PtychoDataContainer,
    config: TrainingConfig | InferenceConfig,
    n_groups: int | None = -1,
) -> PtychoDataContainer:
    """Group ``data`` with the settings of ``config`` (a container is returned unchanged).

    Parameters
    ----------
    data : RawData or PtychoDataContainer
    config : TrainingConfig or InferenceConfig
        ``model.N`` (0 = from the data), ``model.gridsize``, ``n_groups``, ``n_subsample`` /
        ``subsample_seed``, ``neighbor_count``, ``seed``, ``sequential_sampling``, oversampling.
    n_groups : int or None, optional
        Overrides ``config.n_groups`` (None = one group per position). With gridsize > 1 and
        no oversampling, a request above the number of positions uses one group per position,
        with a WARNING (DATA-009: this workflow API keeps the original's behaviour, because
        ``TrainingConfig``'s default of 512 groups exceeds most small scans; the core grouping
        functions and the CLIs refuse such a request).

    Returns
    -------
    PtychoDataContainer
    """
    if isinstance(data, PtychoDataContainer):
        return data
    if not isinstance(data, RawData):
        raise TypeError(
            f"expected RawData or PtychoDataContainer, got {type(data).__name__}; load NPZ files "
            "with ptycho.workflows.components.load_data"
        )
    model = config.model
    n = int(model.N) or data.N
    raw = subsample_raw(data, getattr(config, "n_subsample", None), config.subsample_seed)
    groups = config.n_groups if n_groups == -1 else n_groups
    oversample = bool(getattr(config, "enable_oversampling", False))
    if too_many_groups(groups, len(raw), model.gridsize, oversample):
        logger.warning(
            "n_groups=%d exceeds the %d scan positions at gridsize %d; using one group per "
            "position (set enable_oversampling=True for more groups than positions)",
            groups,
            len(raw),
            model.gridsize,
        )
        groups = None
    return container_from_raw(
        raw,
        n,
        gridsize=model.gridsize,
        n_groups=groups,
        K=config.neighbor_count,
        seed=config.seed,
        sequential_sampling=bool(getattr(config, "sequential_sampling", False)),
        enable_oversampling=oversample,
        neighbor_pool_size=config.neighbor_pool_size,
    )
