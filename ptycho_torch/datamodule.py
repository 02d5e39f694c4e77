"""LightningDataModule over the core's grouped data (:class:`ptycho.loader.PtychoDataContainer`).

This module owns the conversion of containers to torch tensors and the DataLoaders. Grouping,
normalisation and the train/validation split are the core's (``ptycho.raw_data`` /
``ptycho.loader.split_container``): there is no second grouping implementation here.

A batch is a dict of tensors:

``X``       (B, C, N, N) float32 normalised amplitude, channel-first (converted once, up front);
``coords``  (B, 1, 2, C) float32 ``coords_relative`` (ARCH-005);
``Y``       (B, C, N, N) complex64, only when the container has ground truth;
``index``   (B,) int64 group index in the container.

Batches are gathered with one indexing operation per batch (``__getitems__``), not per item.
Shuffling is seeded (``seed``); under DDP Lightning swaps in a ``DistributedSampler`` seeded by
:func:`lightning.seed_everything`.
"""

from __future__ import annotations

import logging
from typing import Any

import lightning as L
import torch
from torch.utils.data import DataLoader

from ptycho.loader import PtychoDataContainer, split_container
from ptycho_torch.datasets import ContainerDataset, collate_batch

__all__ = ["ContainerDataset", "PtychoDataModule", "collate_batch"]

logger = logging.getLogger(__name__)


class PtychoDataModule(L.LightningDataModule):
    """Training/validation DataLoaders for grouped data.

    Parameters
    ----------
    train : PtychoDataContainer
        Training groups.
    validation : PtychoDataContainer, optional
        Validation groups. When None and ``validation_fraction > 0``, a seeded split of ``train``
        (``ptycho.loader.split_container``) is used; an empty split means no validation.
    batch_size : int
        Groups per batch.
    num_workers : int
        DataLoader worker processes (0 = load in the main process).
    seed : int
        Seed of the split and of the shuffling.
    validation_fraction : float
        Used only when ``validation`` is None.
    shuffle : bool
        Shuffle the training groups every epoch (seeded).
    with_truth : bool
        Pass ground-truth ``Y`` to the model (needed by supervised/real-space losses).
    """

    def __init__(
        self,
        train: PtychoDataContainer,
        validation: PtychoDataContainer | None = None,
        batch_size: int = 16,
        num_workers: int = 0,
        seed: int = 42,
        validation_fraction: float = 0.0,
        shuffle: bool = True,
        with_truth: bool = True,
        pin_memory: bool = False,
        persistent_workers: bool = False,
    ) -> None:
        super().__init__()
        if len(train) == 0:
            raise ValueError("no training groups: the training container is empty")
        if validation is None and validation_fraction > 0:
            train, validation = split_container(train, validation_fraction, seed)
        if validation is not None and len(validation) == 0:
            validation = None
        self.train_container = train
        self.val_container = validation
        self.batch_size = int(batch_size)
        self.num_workers = int(num_workers)
        self.seed = int(seed)
        self.shuffle = shuffle
        self.with_truth = with_truth
        self.pin_memory = pin_memory
        self.persistent_workers = persistent_workers and self.num_workers > 0
        self._train_ds: ContainerDataset | None = None
        self._val_ds: ContainerDataset | None = None

    @property
    def has_validation(self) -> bool:
        """Whether validation groups exist."""
        return self.val_container is not None

    def setup(self, stage: str | None = None) -> None:
        """Convert the containers to tensors (once)."""
        if self._train_ds is None:
            self._train_ds = ContainerDataset(self.train_container, self.with_truth)
        if self._val_ds is None and self.val_container is not None:
            self._val_ds = ContainerDataset(self.val_container, self.with_truth)

    def _loader(self, dataset: ContainerDataset, shuffle: bool) -> DataLoader:
        generator = torch.Generator()
        generator.manual_seed(self.seed)
        return DataLoader(
            dataset,
            batch_size=self.batch_size,
            shuffle=shuffle,
            num_workers=self.num_workers,
            collate_fn=collate_batch,
            generator=generator,
            pin_memory=self.pin_memory,
            persistent_workers=self.persistent_workers,
            drop_last=False,
        )

    def train_dataloader(self) -> DataLoader:
        """Shuffled (seeded) training batches."""
        self.setup("fit")
        assert self._train_ds is not None
        return self._loader(self._train_ds, self.shuffle)

    def val_dataloader(self) -> DataLoader | list[Any]:
        """Validation batches in order (an empty list when there is no validation set)."""
        self.setup("validate")
        if self._val_ds is None:
            return []
        return self._loader(self._val_ds, False)
