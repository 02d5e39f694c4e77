"""The normative layer layout of both networks (ARCH-012, ARCH-014), for every backend.

One table, read by the TensorFlow model, the PyTorch model and the framework-free weight
converter (:mod:`ptycho.weights`), so the three cannot drift apart. Framework-free (stdlib only).

Two architectures (``ModelConfig.architecture``):

* ``'backprop_unet'`` (default, ARCH-014): probe backprojection of each pattern
  (:mod:`ptycho.physics.backprojection`), central ``N/2`` crop, a U-Net of depth
  :data:`UNET_DEPTH` and base width ``16 * n_filters_scale``, amplitude and phase heads; the
  object is the U-Net's ``N/2 x N/2`` output zero-padded to ``N``. The layer shapes do not depend
  on ``N``, so one set of weights runs at any supported ``N``.
* ``'cnn'`` (ARCH-012): the original encoder / two decoders on the raw diffraction.

Every convolution is described by a :class:`ConvSpec`: its canonical name (the Keras layer name),
the kernel size and the input and output channels. Canonical weight names are
``'<name>/kernel'`` (Keras layout ``(k, k, in, out)``) and ``'<name>/bias'`` (``(out,)``).
"""

from __future__ import annotations

from dataclasses import dataclass

from ptycho.config.config import ARCHITECTURES, ModelConfig

__all__ = [
    "ARCHITECTURES",
    "BORDER_CHANNELS",
    "CNN_DECODER_FILTERS",
    "CNN_ENCODER_FILTERS",
    "SUPPORTED_N",
    "UNET_DEPTH",
    "ConvSpec",
    "cnn_border_filters",
    "cnn_decoder_filters",
    "cnn_encoder_filters",
    "conv_specs",
    "unet_width",
]

#: ``cnn`` encoder filters per block (before ``n_filters_scale``), by N.
CNN_ENCODER_FILTERS: dict[int, tuple[int, ...]] = {
    64: (32, 64, 128),
    128: (16, 32, 64, 128),
    256: (8, 16, 32, 64, 128),
}
#: ``cnn`` decoder filters per block (before ``n_filters_scale``), by N.
CNN_DECODER_FILTERS: dict[int, tuple[int, ...]] = {
    64: (64, 32),
    128: (128, 64, 32),
    256: (256, 128, 64, 32),
}
#: Patch sizes ``N`` both architectures build for (the ``cnn`` ladders' keys).
SUPPORTED_N: tuple[int, ...] = tuple(CNN_ENCODER_FILTERS)
#: ``cnn`` decoder channels that feed the border branch when ``pad_object``.
BORDER_CHANNELS = 4

#: ``backprop_unet``: number of 2x down-sampling levels (the input ``N/2`` must divide by 2**depth).
UNET_DEPTH = 3
#: ``backprop_unet``: base width per unit of ``n_filters_scale``.
UNET_BASE_WIDTH = 16


@dataclass(frozen=True)
class ConvSpec:
    """One convolution: canonical name, square kernel size, input and output channels."""

    name: str
    kernel: int
    cin: int
    cout: int

    @property
    def kernel_shape(self) -> tuple[int, int, int, int]:
        """Keras layout ``(k, k, in, out)``."""
        return (self.kernel, self.kernel, self.cin, self.cout)


def _check_cnn_n(n: int) -> None:
    if n not in SUPPORTED_N:
        raise ValueError(f"N must be one of 64, 128, 256 for the network, got {n}")


def cnn_encoder_filters(n: int, n_filters_scale: int) -> list[int]:
    """``cnn`` encoder output channels per block for patch size ``n`` (ARCH-012).

    Raises
    ------
    ValueError
        When ``n`` is not 64, 128 or 256.
    """
    _check_cnn_n(n)
    return [int(n_filters_scale) * f for f in CNN_ENCODER_FILTERS[n]]


def cnn_decoder_filters(n: int, n_filters_scale: int) -> list[int]:
    """``cnn`` decoder output channels per block for patch size ``n`` (ARCH-012).

    Raises
    ------
    ValueError
        When ``n`` is not 64, 128 or 256.
    """
    _check_cnn_n(n)
    return [int(n_filters_scale) * f for f in CNN_DECODER_FILTERS[n]]


def cnn_border_filters(n: int, n_filters_scale: int) -> int:
    """``cnn`` border-branch channels (``n_filters_scale * 2048 // n``) for patch size ``n``."""
    return int(n_filters_scale) * 2048 // int(n)


def unet_width(n_filters_scale: int, level: int) -> int:
    """Channels of U-Net level ``level`` (1 = full ``N/2`` resolution, ``UNET_DEPTH + 1`` the
    bottom)."""
    # int ** int is typed Any (a negative exponent gives a float); level >= 1 here
    return int(UNET_BASE_WIDTH * int(n_filters_scale) * 2 ** (level - 1))


def _unet_specs(channels: int, c_out: int, s_f: int) -> list[ConvSpec]:
    specs: list[ConvSpec] = []
    cin = 2 * channels
    for level in range(1, UNET_DEPTH + 1):
        w = unet_width(s_f, level)
        specs += [ConvSpec(f"unet_down{level}_conv1", 3, cin, w)]
        specs += [ConvSpec(f"unet_down{level}_conv2", 3, w, w)]
        cin = w
    bottom = unet_width(s_f, UNET_DEPTH + 1)
    specs += [
        ConvSpec("unet_bottom_conv1", 3, cin, bottom),
        ConvSpec("unet_bottom_conv2", 3, bottom, bottom),
    ]
    cin = bottom
    for level in range(UNET_DEPTH, 0, -1):
        w = unet_width(s_f, level)
        specs += [ConvSpec(f"unet_up{level}_reduce", 1, cin, w)]
        specs += [ConvSpec(f"unet_up{level}_conv1", 3, 2 * w, w)]
        specs += [ConvSpec(f"unet_up{level}_conv2", 3, w, w)]
        cin = w
    specs += [ConvSpec("unet_amp_out", 3, cin, c_out), ConvSpec("unet_phase_out", 3, cin, c_out)]
    return specs


def _cnn_specs(n: int, channels: int, c_out: int, s_f: int, config: ModelConfig) -> list[ConvSpec]:
    specs: list[ConvSpec] = []
    cin = channels
    for i, f in enumerate(cnn_encoder_filters(n, s_f), start=1):
        specs += [ConvSpec(f"encoder_block{i}_conv1", 3, cin, f)]
        specs += [ConvSpec(f"encoder_block{i}_conv2", 3, f, f)]
        cin = f
    encoded = cin
    border = cnn_border_filters(n, s_f)
    for head in ("amp", "phase"):
        prefix = f"decoder_{head}"
        cin = encoded
        for i, f in enumerate(cnn_decoder_filters(n, s_f), start=1):
            specs += [ConvSpec(f"{prefix}_block{i}_conv1", 3, cin, f)]
            specs += [ConvSpec(f"{prefix}_block{i}_conv2", 3, f, f)]
            cin = f
        if config.pad_object:
            specs += [ConvSpec(f"{prefix}_out", 3, cin - BORDER_CHANNELS, c_out)]
            if config.probe_big:
                specs += [ConvSpec(f"{prefix}_border_conv1", 3, BORDER_CHANNELS, border)]
                specs += [ConvSpec(f"{prefix}_border_conv2", 3, border, border)]
                specs += [ConvSpec(f"{prefix}_border_out", 3, border, c_out)]
        else:
            specs += [ConvSpec(f"{prefix}_border_conv1", 3, cin, border)]
            specs += [ConvSpec(f"{prefix}_border_conv2", 3, border, border)]
            specs += [ConvSpec(f"{prefix}_out", 3, border, c_out)]
    return specs


def conv_specs(config: ModelConfig) -> list[ConvSpec]:
    """Every convolution of the network ``config`` describes, in build order.

    Raises
    ------
    ValueError
        For an unknown architecture, or ``N`` without a filter ladder (``cnn``).
    """
    n = int(config.N)
    channels = int(config.gridsize) ** 2
    c_out = channels if config.object_big else 1
    s_f = int(config.n_filters_scale)
    architecture = config.architecture
    if architecture == "backprop_unet":
        return _unet_specs(channels, c_out, s_f)
    if architecture == "cnn":
        return _cnn_specs(n, channels, c_out, s_f, config)
    raise ValueError(
        f"unknown architecture {architecture!r}; choose one of {', '.join(ARCHITECTURES)}"
    )
