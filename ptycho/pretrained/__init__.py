"""The pretrained model that ships with the package (design D13): recipe, data, location.

``ptycho-infer`` and the Ptychodus adapter use :func:`archive_path` when the user gives no model,
so Infer works right after installation. The archive is a ``backprop_unet`` network (ARCH-014):
it backprojects every pattern with the scan's own probe, so it is not tied to the probe it was
trained with, and its layer shapes do not depend on ``N`` (:func:`ptycho.weights.resized_bundle`
runs it at the scan's ``N``).

This module is framework-free. It owns

* :class:`PretrainRecipe`: the documented mix of simulated scans (object families, probes,
  photon levels) and the training budget; :data:`RECIPE` is the one the shipped model used;
* :func:`training_scans` / :func:`evaluation_scans`: the seeded simulations for training and for
  the model card's held-out quality table (never the same objects);
* :func:`archive_path`: where the shipped ``wts.h5.zip`` is.

The training loop itself is :mod:`ptycho_torch.pretrain` (the exact command is in
``ptycho/pretrained/MODEL_CARD.md``).
"""

from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ptycho.simulation import SimulatedDataset

__all__ = [
    "RECIPE",
    "PretrainRecipe",
    "archive_path",
    "evaluation_scans",
    "training_scans",
]

#: File name of the shipped archive inside this package.
ARCHIVE_FILE = "wts.h5.zip"
#: Seed offset of the held-out evaluation scans (training uses seeds below it).
_EVALUATION_SEED = 1_000_000


@dataclass(frozen=True)
class PretrainRecipe:
    """What the pretrained model is trained on, and for how long.

    Scan ``k`` of ``n_scans`` uses object family ``families[k % F]``, probe kind
    ``probes[(k // F) % P]`` (each scan its own seeded astigmatism) and photon level
    ``photons[(k // (F P)) % L]``; every combination appears equally often. Every step draws a
    batch of groups from one scan (so the batch shares a probe and a photon level).
    """

    N: int = 64
    gridsize: int = 2
    n_filters_scale: int = 2
    families: tuple[str, ...] = ("mixed", "grains")
    probes: tuple[str, ...] = ("disk", "zone_plate")
    photons: tuple[float, ...] = (1e5, 1e6, 1e7)
    n_scans: int = 48
    positions: int = 256
    batch_size: int = 16
    steps: int = 10_000
    learning_rate: float = 1e-3
    final_learning_rate: float = 1e-4
    seed: int = 0
    evaluation_families: tuple[str, ...] = ("mixed", "grains", "siemens")

    def combination(self, k: int) -> tuple[str, str, float]:
        """(family, probe kind, photons) of training scan ``k``."""
        f, p = len(self.families), len(self.probes)
        return (
            self.families[k % f],
            self.probes[(k // f) % p],
            float(self.photons[(k // (f * p)) % len(self.photons)]),
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe description (stored in the archive's manifest)."""
        return asdict(self)


#: The recipe of the shipped model.
RECIPE = PretrainRecipe()


def training_scans(recipe: PretrainRecipe = RECIPE) -> list[SimulatedDataset]:
    """The seeded training scans of ``recipe`` (seeds ``recipe.seed + k``)."""
    from ptycho.simulation import simulate_dataset

    scans = []
    for k in range(recipe.n_scans):
        family, probe, photons = recipe.combination(k)
        scans.append(
            simulate_dataset(
                N=recipe.N,
                n_positions=recipe.positions,
                nphotons=photons,
                seed=recipe.seed + k,
                probe_kind=probe,  # type: ignore[arg-type]
                object_family=family,
            )
        )
    return scans


def evaluation_scans(
    recipe: PretrainRecipe = RECIPE, positions: int = 256, nphotons: float = 1e6
) -> dict[str, SimulatedDataset]:
    """Held-out scans by ``'<family>/<probe>'`` for every evaluation family and probe kind.

    Their seeds lie above every training seed, so the objects were never seen in training.
    """
    from ptycho.simulation import simulate_dataset

    combos = itertools.product(recipe.evaluation_families, ("disk", "zone_plate"))
    return {
        f"{family}/{probe}": simulate_dataset(
            N=recipe.N,
            n_positions=positions,
            nphotons=nphotons,
            seed=_EVALUATION_SEED + recipe.seed + i,
            probe_kind=probe,  # type: ignore[arg-type]
            object_family=family,
        )
        for i, (family, probe) in enumerate(combos)
    }


def archive_path() -> Path:
    """The shipped pretrained ``wts.h5.zip``.

    Raises
    ------
    FileNotFoundError
        When the package was installed without it (the message says how to train one).
    """
    path = Path(__file__).resolve().parent / ARCHIVE_FILE
    if not path.is_file():
        raise FileNotFoundError(
            f"the pretrained model is missing from this installation ({path}); reinstall "
            "ptychopinn, or train one with: python -m ptycho_torch.pretrain --output_dir DIR"
        )
    return path
