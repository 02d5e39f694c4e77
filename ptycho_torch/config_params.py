"""The original PyTorch backend's configuration dataclasses (Ptychodus 1.7 compatible).

This module owns ``DataConfig``, ``ModelConfig``, ``TrainingConfig``, ``InferenceConfig`` and
``DatagenConfig`` with the field names of the original ``ptycho_torch.config_params``: Ptychodus
1.7's built-in PtychoPINN-Torch reconstructor builds them with keyword arguments in its GUI
process and pickles them to a child process, so

* every keyword it passes is a field (see ``reference/ptychopinn_torch.md`` §5.1),
* they are plain module-level dataclasses of scalars, tuples and lists (picklable, JSON-able via
  :func:`dataclasses.asdict`),
* importing this module imports neither torch nor lightning and never touches CUDA.

These classes only describe settings; :mod:`ptycho_torch.config_bridge` converts them to the core
:mod:`ptycho.config.config` dataclasses that the backend actually runs on (and validates them
there). Fields the clean implementation does not use (attention modules, FNO knobs, staged
fine-tuning, ...) are accepted and ignored; they are listed in :data:`UNUSED_FIELDS`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = [
    "UNUSED_FIELDS",
    "DataConfig",
    "DatagenConfig",
    "InferenceConfig",
    "ModelConfig",
    "TrainingConfig",
]


@dataclass
class DataConfig:
    """Data and grouping settings (original ``DataConfig``).

    ``grid_size`` is ``(rows, cols)``; only square grids are supported (``gridsize = rows``).
    ``C`` must equal ``rows * cols``. ``K`` is the neighbour count of the grouping,
    ``nphotons`` the mean photons per pattern, ``probe_scale`` the ARCH-008 divisor.
    """

    nphotons: float = 1e5
    N: int = 64
    C: int = 4
    K: int = 6
    K_quadrant: int = 30
    n_subsample: int = 7
    subsample_seed: int | None = None
    grid_size: tuple[int, int] = (2, 2)
    neighbor_function: str = "Nearest"
    min_neighbor_distance: float = 0.0
    max_neighbor_distance: float = 3.0
    scan_pattern: str = "Isotropic"
    normalize: str = "Batch"
    probe_scale: float = 4.0
    probe_normalize: bool = True
    probe_ramp_removal: bool = False
    data_scaling: str = "Parseval"
    phase_subtraction: bool = True
    x_bounds: tuple[float, float] = (0.1, 0.9)
    y_bounds: tuple[float, float] = (0.1, 0.9)
    scale_contract_version: str = "ci_intensity_v2"
    measurement_domain: str = "count_intensity"


@dataclass
class ModelConfig:
    """Model settings (original ``ModelConfig``).

    Used by the bridge: ``mode`` ('Unsupervised' -> 'pinn', 'Supervised' -> 'supervised'),
    ``n_filters_scale``, ``amp_activation`` ('silu'/'SiLU'/'swish' -> 'swish', 'sigmoid',
    'softplus', 'relu'), ``object_big``, ``probe_big``, ``probe_mask``, ``pad_object``,
    ``gaussian_smoothing_sigma``, ``intensity_scale_trainable``, ``loss_function``
    ('Poisson' or 'MAE').
    """

    mode: str = "Unsupervised"
    architecture: str = "cnn"
    n_filters_scale: int = 2
    amp_activation: str = "silu"
    object_big: bool = True
    probe_big: bool = True
    probe_mask: bool | None = False
    probe_mask_sigma: float = 1.0
    probe_mask_diameter: float | None = None
    pad_object: bool = True
    gaussian_smoothing_sigma: float = 0.0
    intensity_scale_trainable: bool = False
    intensity_scale: float = 10000.0
    max_position_jitter: int = 10
    num_datasets: int = 1
    C_model: int = 4
    C_forward: int = 4
    loss_function: str = "Poisson"
    amp_loss: str | None = None
    phase_loss: str | None = None
    amp_loss_coeff: float = 1.0
    phase_loss_coeff: float = 1.0
    batch_norm: bool = False
    edge_pad: int = 10
    decoder_last_c_outer_fraction: float = 0.125
    decoder_last_amp_channels: int = 1
    use_legacy_decoder_channel_override: bool = False
    use_shared_decoder: bool = False
    eca_encoder: bool = False
    cbam_encoder: bool = True
    cbam_bottleneck: bool = False
    cbam_decoder: bool = False
    eca_decoder: bool = False
    spatial_decoder: bool = False
    decoder_spatial_kernel: int = 7
    offset: int = 6
    probe_reference_coeff: float = 0.0
    amplitude_variance_loss: bool = False
    amplitude_variance_coeff: float = 0.01
    cnn_output_mode: str = "amp_phase"
    physics_forward_mode: str = "amplitude"


@dataclass
class TrainingConfig:
    """Training settings (original ``TrainingConfig``, with the Ptychodus 1.7 fields).

    Used by the bridge: ``epochs`` (-> ``nepochs``), ``batch_size``, ``learning_rate``, ``nll``
    (-> ``nll_weight`` 1 or 0), ``train_data_file``, ``test_data_file``, ``n_groups``,
    ``output_dir``, ``plateau_*``; and, for :class:`~ptycho.config.config.PyTorchExecutionConfig`,
    ``device``, ``n_devices``, ``strategy``, ``num_workers``, ``accum_steps``,
    ``gradient_clip_val``, ``gradient_clip_algorithm`` and ``scheduler``.
    """

    training_directories: list[str] = field(default_factory=list)
    nll: bool = True
    device: str = "cuda"
    strategy: str | None = "ddp"
    n_devices: int = 1
    framework: str = "Lightning"
    orchestrator: str = "Mlflow"
    learning_rate: float = 1e-3
    epochs: int = 50
    batch_size: int = 16
    epochs_fine_tune: int = 0
    fine_tune_gamma: float = 0.1
    scheduler: str = "Default"
    lr_warmup_epochs: int = 0
    lr_min_ratio: float = 0.1
    warmup_epochs: int = 5
    min_lr_ratio: float = 0.1
    plateau_factor: float = 0.5
    plateau_patience: int = 2
    plateau_min_lr: float = 5e-5
    plateau_threshold: float = 0.0
    num_workers: int = 4
    accum_steps: int = 1
    gradient_clip_val: float | None = None
    gradient_clip_algorithm: str = "norm"
    optimizer: str = "adam"
    momentum: float = 0.9
    weight_decay: float = 0.0
    adam_beta1: float = 0.9
    adam_beta2: float = 0.999
    log_grad_norm: bool = False
    grad_norm_log_freq: int = 1
    stage_1_epochs: int = 0
    stage_2_epochs: int = 0
    stage_3_epochs: int = 0
    physics_weight_schedule: str = "cosine"
    stage_3_lr_factor: float = 0.1
    torch_loss_mode: str = "poisson"
    torch_mae_pred_l2_match_target: bool = False
    experiment_name: str = "Synthetic_Runs"
    notes: str = ""
    model_name: str = "PtychoPINNv2"
    run_tag: str = ""
    dataloader_mode: str = "materialized"
    enable_staged_finetuning: bool = False
    finetune_stage1_epochs: int = 7
    finetune_stage2_epochs: int = 7
    finetune_stage3_epochs: int = 5
    finetune_stage1_lr_decoder: float = 0.1
    finetune_stage2_lr_encoder_top: float = 0.01
    finetune_stage2_lr_decoder: float = 0.05
    finetune_stage2_lr_phase_head: float = 0.1
    finetune_stage3_lr_encoder_bottom: float = 0.005
    finetune_stage3_lr_encoder_top: float = 0.01
    finetune_stage3_lr_decoder: float = 0.02
    finetune_stage3_lr_phase_head: float = 0.05
    finetune_skip_stage3: bool = True
    finetune_early_stop_patience: int = 3
    finetune_val_split: float = 0.05
    output_dir: str = "training_outputs"
    train_data_file: str | None = None
    test_data_file: str | None = None
    n_groups: int | None = None


@dataclass
class InferenceConfig:
    """Inference settings (original ``InferenceConfig``); ``batch_size`` is bridged."""

    middle_trim: int = 32
    batch_size: int = 1000
    experiment_number: int = 0
    pad_eval: bool = True
    window: int = 20
    patch_weighting: str = "probe"
    varpro_scaling: bool = True
    log_patch_stats: bool = False
    patch_stats_limit: int | None = None


@dataclass
class DatagenConfig:
    """Synthetic-data settings (original ``DatagenConfig``); not used by the clean backend,
    whose simulator is :mod:`ptycho.simulation`."""

    objects_per_probe: int = 4
    diff_per_object: int = 7000
    object_class: str = "dead_leaves"
    image_size: tuple[int, int] = (250, 250)
    probe_paths: list[str] = field(default_factory=list)
    beamstop_diameter: int = 4


#: Fields accepted for compatibility but without effect in this implementation.
UNUSED_FIELDS: dict[str, tuple[str, ...]] = {
    "DataConfig": (
        "K_quadrant",
        "n_subsample",
        "neighbor_function",
        "min_neighbor_distance",
        "max_neighbor_distance",
        "scan_pattern",
        "normalize",
        "probe_normalize",
        "probe_ramp_removal",
        "data_scaling",
        "phase_subtraction",
        "x_bounds",
        "y_bounds",
        "scale_contract_version",
        "measurement_domain",
    ),
    "ModelConfig": (
        "architecture",
        "probe_mask_sigma",
        "probe_mask_diameter",
        "intensity_scale",
        "max_position_jitter",
        "num_datasets",
        "amp_loss",
        "phase_loss",
        "amp_loss_coeff",
        "phase_loss_coeff",
        "batch_norm",
        "edge_pad",
        "decoder_last_c_outer_fraction",
        "decoder_last_amp_channels",
        "use_legacy_decoder_channel_override",
        "use_shared_decoder",
        "eca_encoder",
        "cbam_encoder",
        "cbam_bottleneck",
        "cbam_decoder",
        "eca_decoder",
        "spatial_decoder",
        "decoder_spatial_kernel",
        "offset",
        "probe_reference_coeff",
        "amplitude_variance_loss",
        "amplitude_variance_coeff",
        "cnn_output_mode",
        "physics_forward_mode",
    ),
}
