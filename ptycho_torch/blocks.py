"""The convolutional building blocks of the torch network, as plain ``nn.Module``s.

Layer for layer the blocks of the TensorFlow network (built functionally in
:mod:`ptycho.tf.network`), with the same layer names, shapes and parameter counts (the table in
:mod:`ptycho.network_layout`):

* :class:`Encoder` (``architecture='cnn'``): blocks ``block{i}`` of ``conv1``, ``conv2`` (3x3,
  'same', ReLU) and a 2x2 max pool; filters ``s_f * [32, 64, 128]`` (N=64),
  ``s_f * [16, 32, 64, 128]`` (N=128), ``s_f * [8, 16, 32, 64, 128]`` (N=256). Input channels
  ``C = gridsize**2``.
* :class:`Decoder` (``decoder_amp`` / ``decoder_phase``): blocks ``block{i}`` of ``conv1``,
  ``conv2`` (ReLU) and a nearest x2 upsample; filters ``s_f * [64, 32]`` (N=64),
  ``s_f * [128, 64, 32]`` (N=128), ``s_f * [256, 128, 64, 32]`` (N=256); then the final stage
  ``out`` / ``border_conv1`` / ``border_conv2`` / ``border_out``.
* :class:`BackpropUNet` (``architecture='backprop_unet'``, ARCH-014): the U-Net from the probe
  backprojection to amplitude and phase.

Tensor layout: channel-first ``(B, C, N, N)``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ptycho import network_layout as layout
from ptycho_torch import physics

__all__ = [
    "BLOCK_INDEX_BASE",
    "BORDER_CHANNELS",
    "BackpropUNet",
    "Decoder",
    "Encoder",
    "decoder_filters",
    "encoder_filters",
]

#: Blocks are numbered from this index (``encoder.block1`` ... ``encoder_block1_conv1``).
BLOCK_INDEX_BASE = 1
#: Channels at the end of the decoder that feed the border branch when ``pad_object``.
BORDER_CHANNELS = layout.BORDER_CHANNELS

#: Encoder / decoder channels per block for patch size ``N`` (the table in
#: :mod:`ptycho.network_layout`).
encoder_filters = layout.cnn_encoder_filters
decoder_filters = layout.cnn_decoder_filters


def _conv(in_channels: int, out_channels: int) -> nn.Conv2d:
    return nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1, bias=True)


class _Block(nn.Module):
    """``conv1 -> ReLU -> conv2 -> ReLU`` followed by a pool or an upsample."""

    def __init__(self, in_channels: int, out_channels: int, resample: str) -> None:
        super().__init__()
        self.conv1 = _conv(in_channels, out_channels)
        self.conv2 = _conv(out_channels, out_channels)
        self.resample = resample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.conv1(x))
        x = F.relu(self.conv2(x))
        if self.resample == "pool":
            return F.max_pool2d(x, 2)
        return F.interpolate(x, scale_factor=2.0, mode="nearest")


class Encoder(nn.Module):
    """Convolutional encoder: ``(B, C, N, N) -> (B, F, N/2^k, N/2^k)``."""

    def __init__(self, N: int, in_channels: int, n_filters_scale: int) -> None:
        super().__init__()
        self.block_names: list[str] = []
        channels = in_channels
        for i, f in enumerate(encoder_filters(N, n_filters_scale)):
            name = f"block{i + BLOCK_INDEX_BASE}"
            self.add_module(name, _Block(channels, f, "pool"))
            self.block_names.append(name)
            channels = f
        self.out_channels = channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for name in self.block_names:
            x = getattr(self, name)(x)
        return x


def _amp_activation(name: str, x: torch.Tensor) -> torch.Tensor:
    if name == "sigmoid":
        return torch.sigmoid(x)
    if name == "swish":
        return F.silu(x)
    if name == "softplus":
        return F.softplus(x)
    if name == "relu":
        return F.relu(x)
    raise ValueError(f"unknown amp_activation {name!r}; choose sigmoid, swish, softplus or relu")


class Decoder(nn.Module):
    """One decoder (``decoder_amp`` or ``decoder_phase``) with its own weights.

    Final stage, ``C_out = C`` if ``object_big`` else 1:

    * ``pad_object=True``: ``out`` = conv(C_out) on all but the last 4 channels of the block
      output, head activation, zero padded by N/4 per side to N. With ``probe_big`` the
      ``border`` branch on the last 4 channels (``border_conv1``, ``border_conv2`` with
      ``s_f*2048//N`` filters, ReLU, nearest x2 upsample, ``border_out`` conv(C_out), swish for
      amplitude / ``pi*tanh`` for phase) times the border mask (0 on the central N/2 square) is
      added.
    * ``pad_object=False``: ``border_conv1``, ``border_conv2`` on all channels, x2 upsample,
      ``out`` conv(C_out), head activation.

    Head activation: ``amp_activation`` for ``kind='amp'``, ``pi * tanh`` for ``kind='phase'``.
    """

    border_mask: torch.Tensor  # (N, N) float32 buffer, 0 on the central N/2 square

    def __init__(
        self,
        kind: str,
        N: int,
        in_channels: int,
        out_channels: int,
        n_filters_scale: int,
        amp_activation: str,
        pad_object: bool,
        probe_big: bool,
    ) -> None:
        super().__init__()
        if kind not in ("amp", "phase"):
            raise ValueError(f"decoder kind must be 'amp' or 'phase', got {kind!r}")
        self.kind = kind
        self.N = N
        self.amp_activation = amp_activation
        self.pad_object = pad_object
        self.probe_big = probe_big
        self.block_names: list[str] = []
        channels = in_channels
        for i, f in enumerate(decoder_filters(N, n_filters_scale)):
            name = f"block{i + BLOCK_INDEX_BASE}"
            self.add_module(name, _Block(channels, f, "up"))
            self.block_names.append(name)
            channels = f
        border_filters = layout.cnn_border_filters(N, n_filters_scale)
        if pad_object:
            if channels <= BORDER_CHANNELS:
                raise ValueError(
                    f"pad_object needs more than {BORDER_CHANNELS} decoder channels, got {channels}"
                )
            self.out = _conv(channels - BORDER_CHANNELS, out_channels)
            if probe_big:
                self.border_conv1 = _conv(BORDER_CHANNELS, border_filters)
                self.border_conv2 = _conv(border_filters, border_filters)
                self.border_out = _conv(border_filters, out_channels)
        else:
            self.border_conv1 = _conv(channels, border_filters)
            self.border_conv2 = _conv(border_filters, border_filters)
            self.out = _conv(border_filters, out_channels)
        mask = torch.from_numpy(physics.border_mask(N))  # (N, N) float32
        self.register_buffer("border_mask", mask, persistent=False)

    def _head(self, x: torch.Tensor) -> torch.Tensor:
        if self.kind == "amp":
            return _amp_activation(self.amp_activation, x)
        return math.pi * torch.tanh(x)

    def _border_head(self, x: torch.Tensor) -> torch.Tensor:
        if self.kind == "amp":
            return F.silu(x)
        return math.pi * torch.tanh(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for name in self.block_names:
            x = getattr(self, name)(x)
        if not self.pad_object:
            y = F.relu(self.border_conv1(x))
            y = F.relu(self.border_conv2(y))
            y = F.interpolate(y, scale_factor=2.0, mode="nearest")
            return self._head(self.out(y))
        q = self.N // 4
        centre = self._head(self.out(x[:, :-BORDER_CHANNELS]))
        result = F.pad(centre, (q, q, q, q))
        if self.probe_big:
            y = F.relu(self.border_conv1(x[:, -BORDER_CHANNELS:]))
            y = F.relu(self.border_conv2(y))
            y = F.interpolate(y, scale_factor=2.0, mode="nearest")
            y = self._border_head(self.border_out(y))
            result = result + y * self.border_mask
        return result


class _UNetLevel(nn.Module):
    """Two 3x3 convolutions with ReLU (``conv1``, ``conv2``), optionally after a 1x1 ``reduce``."""

    def __init__(self, cin: int, width: int, reduce_from: int | None = None) -> None:
        super().__init__()
        if reduce_from is not None:
            self.reduce = nn.Conv2d(reduce_from, width, kernel_size=1)
        self.conv1 = _conv(cin, width)
        self.conv2 = _conv(width, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.conv2(F.relu(self.conv1(x))))


class BackpropUNet(nn.Module):
    """The ``backprop_unet`` trunk (ARCH-014): U-Net from backprojection features to the object.

    ``(B, 2C, N/2, N/2)`` features -> amplitude and phase ``(B, C_out, N/2, N/2)``. Levels
    ``down1 .. down{D}`` (conv1, conv2, ReLU; 2x2 max pool after each), ``bottom``, then
    ``up{D} .. up1``: ``reduce`` (1x1, linear) of the coarser map, nearest x2 upsample,
    concatenation ``[upsampled, skip]``, conv1, conv2 (ReLU); heads ``amp_out`` (amp activation)
    and ``phase_out`` (``pi * tanh``). Widths from :mod:`ptycho.network_layout`.
    """

    def __init__(
        self, channels: int, out_channels: int, n_filters_scale: int, amp_activation: str
    ) -> None:
        super().__init__()
        self.amp_activation = amp_activation
        self.depth = layout.UNET_DEPTH
        cin = 2 * channels
        for level in range(1, self.depth + 1):
            width = layout.unet_width(n_filters_scale, level)
            self.add_module(f"down{level}", _UNetLevel(cin, width))
            cin = width
        bottom = layout.unet_width(n_filters_scale, self.depth + 1)
        self.bottom = _UNetLevel(cin, bottom)
        cin = bottom
        for level in range(self.depth, 0, -1):
            width = layout.unet_width(n_filters_scale, level)
            self.add_module(f"up{level}", _UNetLevel(2 * width, width, reduce_from=cin))
            cin = width
        self.amp_out = _conv(cin, out_channels)
        self.phase_out = _conv(cin, out_channels)

    def forward(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        skips = []
        x = features
        for level in range(1, self.depth + 1):
            x = getattr(self, f"down{level}")(x)
            skips.append(x)
            x = F.max_pool2d(x, 2)
        x = self.bottom(x)
        for level in range(self.depth, 0, -1):
            block = getattr(self, f"up{level}")
            x = F.interpolate(block.reduce(x), scale_factor=2.0, mode="nearest")
            x = block(torch.cat([x, skips.pop()], dim=1))
        amp = _amp_activation(self.amp_activation, self.amp_out(x))
        phase = math.pi * torch.tanh(self.phase_out(x))
        return amp, phase
