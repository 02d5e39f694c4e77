"""InferenceConfig: the settings of one inference run (both backends)."""

from __future__ import annotations

from dataclasses import InitVar, dataclass, field
from pathlib import Path

from ptycho.config.choices import NETWORK_PRECISIONS, PROBE_SOURCES
from ptycho.config.model import ModelConfig, check_model
from ptycho.config.validation import (
    check_bool,
    check_choice,
    check_int,
    check_path,
    coerce_fields,
    resolve_n_groups_alias,
    validate_grouping,
)

__all__ = ["InferenceConfig"]


@dataclass
class InferenceConfig:
    """Settings of one inference run (both backends).

    Attributes
    ----------
    model : ModelConfig
        Architecture and physics (a loaded archive's own config takes precedence for the
        network; this one describes the data, e.g. ``N`` and ``gridsize``).
    model_path : pathlib.Path or None
        Model archive (``wts.h5.zip``) or the directory holding it; checked when loading, not
        here (Ptychodus passes a placeholder ``Path()``).
    test_data_file : pathlib.Path or None
        NPZ file to reconstruct; checked when loading.
    n_groups : int or None
        Number of groups to predict; None = one group per scan position (all positions).
        ``n_images`` is a deprecated alias.
    n_subsample, subsample_seed, neighbor_count, enable_oversampling, neighbor_pool_size
        Grouping settings, as in :class:`TrainingConfig`.
    debug : bool
        Developer mode (Ptychodus passes its developer-mode flag); more logging and outputs.
    output_dir : pathlib.Path
        Where inference outputs are written.
    backend : str
        ``'tensorflow'`` (default) or ``'pytorch'``.
    seed : int
        Seed of every random choice (group sampling).
    batch_size : int
        Groups per prediction batch (>= 1).
    refine_iterations : int
        Iterations of physics refinement of the stitched network prediction against every
        measured pattern (:mod:`ptycho.refine`); 0 (default) returns the network's prediction
        as it is.
    refine_probe : bool
        Also refine the probe during those iterations (use it when the probe is only a guess).
    probe_source : str
        Which probe the ``backprop_unet`` network backprojects with and refinement starts from
        (ARCH-014): ``'data'`` the scan's own probe (normalised like the model's), ``'model'``
        the probe stored with the model, ``'auto'`` (default) the model's when it was learned in
        training (``probe_trainable``) or the scan has none, else the scan's.
    precision : str
        Arithmetic of the network's convolutions during prediction: ``'float32'`` (default),
        ``'bfloat16'`` or ``'auto'``, as :attr:`TrainingConfig.precision` (ARCH-016).
    """

    model: ModelConfig = field(default_factory=ModelConfig)
    model_path: Path | None = None
    test_data_file: Path | None = None
    n_groups: int | None = None
    n_images: InitVar[int | None] = None
    n_subsample: int | None = None
    subsample_seed: int | None = None
    neighbor_count: int = 4
    enable_oversampling: bool = False
    neighbor_pool_size: int | None = None
    debug: bool = False
    output_dir: Path = Path("inference_outputs")
    backend: str = "tensorflow"
    seed: int = 45
    batch_size: int = 64
    refine_iterations: int = 0
    refine_probe: bool = False
    probe_source: str = "auto"
    precision: str = "float32"

    def __post_init__(self, n_images: int | None) -> None:
        self.n_groups = resolve_n_groups_alias(type(self).__name__, self.n_groups, n_images)
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
        check_path(owner, "model_path", self.model_path, allow_none=True)
        check_int(owner, "n_groups", self.n_groups, minimum=1, allow_none=True)
        validate_grouping(owner, self)
        check_bool(owner, "debug", self.debug)
        check_int(owner, "refine_iterations", self.refine_iterations, minimum=0)
        check_bool(owner, "refine_probe", self.refine_probe)
        check_choice(owner, "probe_source", self.probe_source, PROBE_SOURCES)
        check_choice(owner, "precision", self.precision, NETWORK_PRECISIONS)
