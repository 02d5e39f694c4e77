"""NumPy reference physics: translation, forward model, object_big merge, noise.

Each backend mirrors it in its own framework (``ptycho.tf.physics``, ``ptycho_torch.physics``)
under the names of :data:`MIRRORED_PHYSICS`, in this order (their ``__all__``); the backend
contract tests (``tests/contract/``) check every registered backend against this reference.
"""

#: The public names of every backend's physics module (its ``__all__``, in this order).
MIRRORED_PHYSICS: tuple[str, ...] = (
    "DEFAULT_NLL_EPS",
    "MAX_POSITION_JITTER",
    "OBJECT_BIG_OFFSET",
    "backproject",
    "backprojection_features",
    "border_mask",
    "center_mask",
    "combine_amp_phase",
    "complex_mae_center",
    "crop_center",
    "diffraction_mae",
    "extract_group_patches",
    "far_field_amplitude",
    "gaussian_smooth",
    "merge_group_patches",
    "padded_size",
    "poisson_nll",
    "translate",
)
