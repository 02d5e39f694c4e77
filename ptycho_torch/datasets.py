"""Tensor views of grouped data for torch ``DataLoader``s (training and prediction).

Lightning-free: prediction uses these without importing Lightning (issue 14: CLI start-up);
:mod:`ptycho_torch.datamodule` builds the training DataModule on them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from ptycho.loader import PtychoDataContainer

__all__ = ["ContainerDataset", "collate_batch"]


class ContainerDataset(Dataset):
    """Tensor view of a :class:`~ptycho.loader.PtychoDataContainer` (channel-first).

    Parameters
    ----------
    container : PtychoDataContainer
        Grouped, normalised data.
    with_truth : bool
        Include ``Y`` (when the container has it).
    """

    def __init__(self, container: PtychoDataContainer, with_truth: bool = True) -> None:
        x = np.asarray(container.X, dtype=np.float32)
        self.X = torch.from_numpy(np.ascontiguousarray(np.transpose(x, (0, 3, 1, 2))))
        self.coords = torch.from_numpy(
            np.ascontiguousarray(np.asarray(container.coords_nominal, dtype=np.float32))
        )
        y = container.Y if with_truth else None
        self.Y = (
            torch.from_numpy(
                np.ascontiguousarray(np.transpose(y, (0, 3, 1, 2)).astype(np.complex64))
            )
            if y is not None
            else None
        )

    def __len__(self) -> int:
        return int(self.X.shape[0])

    def _batch(self, index: torch.Tensor) -> dict[str, torch.Tensor]:
        batch = {"X": self.X[index], "coords": self.coords[index], "index": index}
        if self.Y is not None:
            batch["Y"] = self.Y[index]
        return batch

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        item = self._batch(torch.tensor([int(i)]))
        return {k: v[0] for k, v in item.items()}

    def __getitems__(self, indices: Sequence[int]) -> dict[str, torch.Tensor]:
        """Whole-batch gather (used by ``DataLoader`` with :func:`collate_batch`)."""
        return self._batch(torch.as_tensor(list(indices), dtype=torch.int64))


def collate_batch(batch: Any) -> dict[str, torch.Tensor]:
    """Collate for :class:`ContainerDataset`: batches from ``__getitems__`` pass through."""
    if isinstance(batch, dict):
        return batch
    keys = batch[0].keys()
    return {k: torch.stack([item[k] for item in batch]) for k in keys}
