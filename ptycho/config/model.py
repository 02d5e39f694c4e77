"""ModelConfig: network architecture and physics settings shared by both backends."""

from __future__ import annotations

from dataclasses import dataclass

from ptycho.config.choices import AMP_ACTIVATIONS, ARCHITECTURES, MODEL_TYPES, SUPPORTED_N
from ptycho.config.validation import (
    check_bool,
    check_choice,
    check_int,
    check_real,
    coerce_fields,
    fail,
    is_int,
)

__all__ = ["ModelConfig", "check_model"]


@dataclass
class ModelConfig:
    """Network architecture and physics settings shared by both backends.

    Attributes
    ----------
    N : int
        Patch (diffraction pattern) size in pixels: 64, 128 or 256. ``0`` means "not known yet,
        take it from the data" (Ptychodus builds training configs with ``N=0`` and sets ``.N`` in
        the child); :meth:`validate` with ``require_n=True`` rejects 0 (CFG-004).
    gridsize : int
        Patterns per group side; each group holds ``C = gridsize**2`` patterns.
    n_filters_scale : int
        Multiplier on every convolution's filter count (>= 1).
    model_type : str
        ``'pinn'`` (physics loss on diffraction) or ``'supervised'`` (loss on ground-truth
        object patches).
    amp_activation : str
        Activation of the amplitude head: ``'sigmoid'``, ``'swish'``, ``'softplus'`` or
        ``'relu'``.
    object_big : bool
        Merge the ``C`` patches of a group onto a shared canvas before re-extraction (ARCH-010).
        ``False`` requires ``gridsize == 1``.
    probe_big : bool
        Add the decoder ``border`` branch that fills the region outside the central ``N/2``.
    probe_mask : bool
        Multiply the exit wave by the disk probe mask.
    pad_object : bool
        Decoders predict the central ``N/2`` region and zero-pad it to ``N``.
    probe_scale : float
        Probe normalisation divisor (ARCH-008), > 0.
    gaussian_smoothing_sigma : float
        Sigma (pixels) of the 3x3 Gaussian smoothing of the exit wave; 0 = off.
    architecture : str
        ``'backprop_unet'`` (default): each pattern is first backprojected with the probe into a
        real-space object estimate and a U-Net cleans it (ARCH-014; ``probe_big`` and
        ``pad_object`` do not apply, the object is always the central ``N/2``). ``'cnn'``: the
        original encoder-decoder on the raw diffraction (ARCH-012).
    """

    N: int = 64
    gridsize: int = 1
    n_filters_scale: int = 2
    model_type: str = "pinn"
    amp_activation: str = "sigmoid"
    object_big: bool = True
    probe_big: bool = True
    probe_mask: bool = False
    pad_object: bool = True
    probe_scale: float = 4.0
    gaussian_smoothing_sigma: float = 0.0
    architecture: str = "backprop_unet"

    def __post_init__(self) -> None:
        coerce_fields(self)
        self.validate()

    def validate(self, require_n: bool = False) -> None:
        """Check every field; call again after mutating the config.

        Parameters
        ----------
        require_n : bool
            When True, ``N = 0`` ("from data") is rejected: use this right before building a
            model, when the patch size must be known.

        Raises
        ------
        ValueError
            Naming the field, the bad value and the allowed values.
        """
        owner = type(self).__name__
        allowed_n = ", ".join(str(n) for n in SUPPORTED_N)
        if not is_int(self.N) or (self.N not in SUPPORTED_N and self.N != 0):
            fail(owner, "N", f"one of {allowed_n} (or 0 = from data)", self.N)
        if require_n and self.N == 0:
            raise ValueError(
                f"{owner}.N must be one of {allowed_n} when the model is built, got 0 "
                "(N=0 means 'take N from the data': set config.model.N to the diffraction "
                "pattern size first)"
            )
        check_int(owner, "gridsize", self.gridsize, minimum=1)
        check_int(owner, "n_filters_scale", self.n_filters_scale, minimum=1)
        check_choice(owner, "model_type", self.model_type, MODEL_TYPES)
        check_choice(owner, "amp_activation", self.amp_activation, AMP_ACTIVATIONS)
        check_choice(owner, "architecture", self.architecture, ARCHITECTURES)
        for name in ("object_big", "probe_big", "probe_mask", "pad_object"):
            check_bool(owner, name, getattr(self, name))
        check_real(owner, "probe_scale", self.probe_scale, low=0.0, low_inclusive=False)
        check_real(owner, "gaussian_smoothing_sigma", self.gaussian_smoothing_sigma, low=0.0)
        if not self.object_big and self.gridsize != 1:
            raise ValueError(
                f"{owner}.object_big=False requires gridsize=1, got gridsize={self.gridsize!r} "
                "(set object_big=True, or gridsize=1)"
            )


def check_model(owner: str, model: object, require_n: bool) -> None:
    """Check that ``model`` (the ``model`` field of ``owner``) is a valid ModelConfig."""
    if not isinstance(model, ModelConfig):
        fail(
            owner,
            "model",
            "a ModelConfig (use from_dict() to build configs from dictionaries)",
            model,
        )
    model.validate(require_n=require_n)
