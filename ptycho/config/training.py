"""TrainingConfig: the settings of one training run (both backends)."""

from __future__ import annotations

from dataclasses import InitVar, dataclass, field
from pathlib import Path

from ptycho.config.choices import DEFAULT_TRAINING_N_GROUPS, NETWORK_PRECISIONS
from ptycho.config.model import ModelConfig, check_model
from ptycho.config.validation import (
    check_bool,
    check_choice,
    check_int,
    check_path,
    check_real,
    coerce_fields,
    resolve_n_groups_alias,
    validate_grouping,
)

__all__ = ["TrainingConfig"]


@dataclass
class TrainingConfig:
    """Settings of one training run (both backends).

    Attributes
    ----------
    model : ModelConfig
        Architecture and physics.
    train_data_file, test_data_file : pathlib.Path or None
        NPZ files (str accepted, stored as Path). Not checked for existence here.
    batch_size : int
        Groups per optimisation step (>= 1; powers of two are not required).
    nepochs : int
        Maximum number of epochs (>= 1).
    learning_rate : float
        Initial Adam learning rate (> 0).
    mae_weight, nll_weight, realspace_mae_weight, realspace_weight : float
        Loss weights (>= 0, finite; ARCH-009). A ``'pinn'`` model needs at least one of
        ``nll_weight``, ``mae_weight``, ``realspace_weight`` > 0.
    nphotons : float
        Mean photons per diffraction pattern; sets the intensity scale (ARCH-007).
    n_groups : int
        Number of groups to train on (default 512). ``n_images`` is a deprecated alias.
    n_subsample, subsample_seed : int or None
        Positions randomly kept before grouping, and the seed of that choice.
    neighbor_count : int
        ``K`` of the K-nearest-neighbour grouping.
    enable_oversampling : bool
        Allow more groups than positions ("K choose C" sampling).
    neighbor_pool_size : int or None
        ``K`` used for oversampling (None = ``neighbor_count``).
    positions_provided : bool
        Accepted for Ptychodus compatibility; positions are always read from the data.
    probe_trainable, intensity_scale_trainable : bool
        Train the probe / the intensity scale as real model parameters.
    output_dir : pathlib.Path
        Where training outputs are written.
    sequential_sampling : bool
        Take the first positions as group seeds instead of a seeded random choice.
    backend : str
        ``'tensorflow'`` (default) or ``'pytorch'``.
    seed : int
        Seed of every random choice in the run (ARCH-011).
    validation_fraction : float
        Fraction of the groups held out for validation, in [0, 0.5].
    early_stopping_patience : int
        Epochs without validation improvement before stopping (>= 1).
    lr_plateau_patience, lr_plateau_factor, min_learning_rate
        Reduce-on-plateau schedule: epochs without improvement, multiplicative factor in (0, 1),
        and the floor of the learning rate.
    refined_target_iterations : int
        0 (default) = off. Otherwise every training scan given as a scan (``RawData``: the
        CLIs, the dispatcher, Ptychodus) is first refined from a flat object for this many
        iterations (:func:`ptycho.refine.with_refined_object`) and the network is trained
        towards that object's patches with the real-space loss (weight ``realspace_weight``,
        which must then be > 0; 20 is a good start) next to the diffraction loss. It replaces
        any ground truth the scan carries, and anchors the PINN to the data-consistent solution
        rather than the conjugate-like twin (ARCH-013). Containers are used as given.
    precision : str
        Arithmetic of the network's convolutions: ``'float32'`` (default), ``'bfloat16'``
        (mixed precision: bfloat16 convolutions, float32 weights, optimiser and physics) or
        ``'auto'`` (bfloat16 where the hardware has bfloat16 units; :mod:`ptycho.precision`).
        Both backends implement it the same way (ARCH-016).
    """

    model: ModelConfig = field(default_factory=ModelConfig)
    train_data_file: Path | None = None
    test_data_file: Path | None = None
    batch_size: int = 16
    nepochs: int = 50
    learning_rate: float = 1e-3
    mae_weight: float = 0.0
    nll_weight: float = 1.0
    realspace_mae_weight: float = 0.0
    realspace_weight: float = 0.0
    nphotons: float = 1e9
    n_groups: int | None = None
    n_images: InitVar[int | None] = None
    n_subsample: int | None = None
    subsample_seed: int | None = None
    neighbor_count: int = 4
    enable_oversampling: bool = False
    neighbor_pool_size: int | None = None
    positions_provided: bool = True
    probe_trainable: bool = False
    intensity_scale_trainable: bool = True
    output_dir: Path = Path("training_outputs")
    sequential_sampling: bool = False
    backend: str = "tensorflow"
    seed: int = 42
    validation_fraction: float = 0.05
    early_stopping_patience: int = 3
    lr_plateau_patience: int = 2
    lr_plateau_factor: float = 0.5
    min_learning_rate: float = 1e-4
    refined_target_iterations: int = 0
    precision: str = "float32"

    def __post_init__(self, n_images: int | None) -> None:
        self.n_groups = resolve_n_groups_alias(type(self).__name__, self.n_groups, n_images)
        if self.n_groups is None:
            self.n_groups = DEFAULT_TRAINING_N_GROUPS
        coerce_fields(self)
        self.validate()

    def validate(self, require_n: bool = False) -> None:
        """Check every field (and the nested model); call again after mutating the config.

        Parameters
        ----------
        require_n : bool
            Passed to :meth:`ModelConfig.validate`: reject ``model.N == 0``.

        Raises
        ------
        ValueError
            Naming the field, the bad value and the allowed values.
        """
        owner = type(self).__name__
        check_model(owner, self.model, require_n)
        check_path(owner, "train_data_file", self.train_data_file, allow_none=True)
        validate_grouping(owner, self)
        check_int(owner, "nepochs", self.nepochs, minimum=1)
        check_real(owner, "learning_rate", self.learning_rate, low=0.0, low_inclusive=False)
        for name in ("mae_weight", "nll_weight", "realspace_mae_weight", "realspace_weight"):
            check_real(owner, name, getattr(self, name), low=0.0)
        check_real(owner, "nphotons", self.nphotons, low=0.0, low_inclusive=False)
        check_int(owner, "n_groups", self.n_groups, minimum=1)
        for name in (
            "positions_provided",
            "probe_trainable",
            "intensity_scale_trainable",
            "sequential_sampling",
        ):
            check_bool(owner, name, getattr(self, name))
        check_real(owner, "validation_fraction", self.validation_fraction, low=0.0, high=0.5)
        check_int(owner, "early_stopping_patience", self.early_stopping_patience, minimum=1)
        check_int(owner, "lr_plateau_patience", self.lr_plateau_patience, minimum=1)
        check_real(
            owner,
            "lr_plateau_factor",
            self.lr_plateau_factor,
            low=0.0,
            low_inclusive=False,
            high=1.0,
            high_inclusive=False,
        )
        check_real(owner, "min_learning_rate", self.min_learning_rate, low=0.0)
        check_int(owner, "refined_target_iterations", self.refined_target_iterations, minimum=0)
        check_choice(owner, "precision", self.precision, NETWORK_PRECISIONS)
        if self.refined_target_iterations > 0 and self.realspace_weight <= 0:
            raise ValueError(
                f"{owner}: refined_target_iterations={self.refined_target_iterations} trains "
                "towards the refined object with the real-space loss, but realspace_weight is 0 "
                "(set realspace_weight, e.g. 20.0)"
            )
        if self.model.model_type == "pinn" and (
            self.nll_weight == 0 and self.mae_weight == 0 and self.realspace_weight == 0
        ):
            raise ValueError(
                f"{owner}: a 'pinn' model needs a loss, but nll_weight, mae_weight and "
                "realspace_weight are all 0 (set nll_weight=1.0, the Poisson loss)"
            )
