"""The PtychoPINN network as plain ``nn.Module``s (no Lightning; house style H8).

Layer for layer the same network as the TensorFlow backend (``ptycho.tf``), with the same layer
names, shapes and parameter counts, so weights convert one to one (issue 5):

* ``encoder``, ``decoder_amp`` / ``decoder_phase`` (``architecture='cnn'``) or ``unet``
  (``architecture='backprop_unet'``): the blocks of :mod:`ptycho_torch.blocks`;
* scalar/array parameters ``log_intensity_scale``, ``probe_real``, ``probe_imag``.

:class:`PtychoPINNNet` composes them with the differentiable physics (:mod:`ptycho_torch.physics`);
:class:`DiffractionToObject` is its Keras-layout wrapper for external callers.

Name mapping to Keras
---------------------
The torch state-dict key of a conv is ``<module path>.weight`` / ``.bias`` where the module path
is e.g. ``encoder.block1.conv1`` or ``decoder_amp.border_out``; the Keras layer name is the same
path with every ``.`` replaced by ``_`` (``encoder_block1_conv1``, ``decoder_amp_border_out``).
Kernels: Keras ``(3, 3, in, out)`` = torch ``weight.permute(2, 3, 1, 0)``; biases are equal.
``log_intensity_scale``, ``probe_real`` and ``probe_imag`` are top-level parameters with the
same names as the Keras variables. The conversion itself lives in the framework-free
:mod:`ptycho.weights` (``torch_key``, ``canonical_from_torch_state``).

Tensor layout: channel-first. ``forward`` takes the scaled diffraction ``s * X`` as
``(B, C, N, N)`` float32 and ``coords_relative`` in the core layout ``(B, 1, 2, C)``.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ptycho import network_layout as layout
from ptycho_torch import physics
from ptycho_torch.blocks import BackpropUNet, Decoder, Encoder

if TYPE_CHECKING:
    from ptycho.config.config import ModelConfig, TrainingConfig

__all__ = [
    "DiffractionToObject",
    "NetworkOutput",
    "PtychoPINNNet",
    "build_model",
    "conv_parameter_count",
    "resolve_network_precision",
]

#: Network precisions the trunk runs in (ARCH-016).
_TRUNK_PRECISIONS = ("float32", "bfloat16")


@dataclass
class NetworkOutput:
    """What :meth:`PtychoPINNNet.forward` returns.

    Attributes
    ----------
    object : (B, N, N) complex64
        Object at the group centre (central N x N of the group canvas).
    patches : (B, C, N, N) complex64
        Per-channel object patches after the object_big merge/re-extraction.
    amplitude : (B, C, N, N) float32 or None
        Predicted scaled diffraction amplitude ``s * A`` (None when not computed).
    """

    object: torch.Tensor
    patches: torch.Tensor
    amplitude: torch.Tensor | None


class PtychoPINNNet(nn.Module):
    """Encoder, two decoders and the differentiable physics.

    Parameters
    ----------
    config : ModelConfig
        Architecture and physics (``N`` must be set).
    probe : (N, N) complex64 array, optional
        The **normalised** probe (ARCH-008); default zeros (a loaded state dict fills it).
    intensity_scale : float
        Initial ``s``; ``log_intensity_scale`` starts at ``log(s)``.
    probe_trainable, intensity_scale_trainable : bool
        ``requires_grad`` of the probe and of the log intensity scale.
    channels_last : bool
        Run the convolutions in the channels-last memory format (default; see
        ``benchmarks/bench_torch.py --no-channels-last``).

    Attributes
    ----------
    precision : str
        ``'float32'`` or ``'bfloat16'``: the arithmetic of the convolution trunk
        (:meth:`set_precision`, ARCH-016).
    """

    def __init__(
        self,
        config: ModelConfig,
        probe: np.ndarray | None = None,
        intensity_scale: float = 1.0,
        probe_trainable: bool = False,
        intensity_scale_trainable: bool = True,
        channels_last: bool = True,
    ) -> None:
        super().__init__()
        n = int(config.N)
        if n not in layout.SUPPORTED_N:
            raise ValueError(
                f"ModelConfig.N must be 64, 128 or 256 to build the network, got {config.N} "
                "(set config.N to the diffraction pattern size)"
            )
        if not (intensity_scale > 0 and math.isfinite(intensity_scale)):
            raise ValueError(
                f"intensity_scale must be a positive finite number, got {intensity_scale}"
            )
        self.N = n
        self.gridsize = int(config.gridsize)
        self.channels = self.gridsize**2
        self.object_big = bool(config.object_big)
        self.smoothing_sigma = float(config.gaussian_smoothing_sigma)
        self.padded = physics.padded_size(n, self.gridsize)
        out_channels = self.channels if self.object_big else 1
        s_f = int(config.n_filters_scale)
        self.architecture = str(config.architecture)
        if self.architecture == "backprop_unet":
            self.unet = BackpropUNet(self.channels, out_channels, s_f, config.amp_activation)
        else:
            self.encoder = Encoder(n, self.channels, s_f)

            def decoder(kind: str) -> Decoder:
                return Decoder(
                    kind,
                    N=n,
                    in_channels=self.encoder.out_channels,
                    out_channels=out_channels,
                    n_filters_scale=s_f,
                    amp_activation=config.amp_activation,
                    pad_object=bool(config.pad_object),
                    probe_big=bool(config.probe_big),
                )

            self.decoder_amp = decoder("amp")
            self.decoder_phase = decoder("phase")
        self.log_intensity_scale = nn.Parameter(
            torch.tensor(math.log(intensity_scale), dtype=torch.float32),
            requires_grad=bool(intensity_scale_trainable),
        )
        if probe is None:
            probe_arr = np.zeros((n, n), dtype=np.complex64)
        else:
            probe_arr = np.asarray(probe, dtype=np.complex64)
            if probe_arr.shape != (n, n):
                raise ValueError(f"probe must have shape ({n}, {n}), got {probe_arr.shape}")
        self.probe_real = nn.Parameter(
            torch.from_numpy(np.ascontiguousarray(probe_arr.real, dtype=np.float32)),
            requires_grad=bool(probe_trainable),
        )
        self.probe_imag = nn.Parameter(
            torch.from_numpy(np.ascontiguousarray(probe_arr.imag, dtype=np.float32)),
            requires_grad=bool(probe_trainable),
        )
        self.channels_last = False
        self.set_channels_last(channels_last)
        self.precision = "float32"
        if config.probe_mask:
            from ptycho.probe import probe_mask

            self.register_buffer("probe_mask", torch.from_numpy(probe_mask(n)), persistent=False)
        else:
            self.probe_mask = None

    def set_channels_last(self, enabled: bool) -> None:
        """Run the convolutions in the channels-last memory format (faster on CPU and GPU).

        Only the memory layout changes; values, shapes and state-dict keys are the same.
        """
        fmt = torch.channels_last if enabled else torch.contiguous_format
        for module in self.trunk_modules():
            # Module.to accepts memory_format at runtime; torch's stubs omit that overload
            module.to(memory_format=fmt)  # type: ignore[call-overload]
        self.channels_last = bool(enabled)

    def set_precision(self, precision: str) -> None:
        """Run the convolution trunk in ``'float32'`` or mixed ``'bfloat16'`` (ARCH-016).

        Mixed bfloat16 runs the trunk under ``torch.autocast`` (bfloat16 convolutions, float32
        parameters); the amplitude and phase are cast to float32 before the physics. Values of
        the parameters, their names and archives do not change.

        Raises
        ------
        ValueError
            For anything but ``'float32'`` or ``'bfloat16'`` (resolve ``'auto'`` first with
            :func:`resolve_network_precision`).
        """
        if precision not in _TRUNK_PRECISIONS:
            raise ValueError(
                f"network precision must be 'float32' or 'bfloat16', got {precision!r} "
                "(resolve 'auto' with resolve_network_precision first)"
            )
        self.precision = precision

    def trunk_modules(self) -> list[nn.Module]:
        """The convolutional modules of the chosen architecture."""
        if self.architecture == "backprop_unet":
            return [self.unet]
        return [self.encoder, self.decoder_amp, self.decoder_phase]

    # -------------------------------------------------------------------------------------------
    @property
    def intensity_scale(self) -> torch.Tensor:
        """``s = exp(log_intensity_scale)`` (scalar tensor)."""
        return torch.exp(self.log_intensity_scale)

    @property
    def probe(self) -> torch.Tensor:
        """The probe the model illuminates with, ``(N, N)`` complex64."""
        return torch.complex(self.probe_real, self.probe_imag)

    def set_probe(self, probe: np.ndarray) -> None:
        """Overwrite the probe (normalised ``(N, N)`` complex) in place."""
        arr = np.asarray(probe, dtype=np.complex64)
        if arr.shape != (self.N, self.N):
            raise ValueError(f"probe must have shape ({self.N}, {self.N}), got {arr.shape}")
        with torch.no_grad():
            self.probe_real.copy_(torch.from_numpy(np.ascontiguousarray(arr.real)))
            self.probe_imag.copy_(torch.from_numpy(np.ascontiguousarray(arr.imag)))

    def set_intensity_scale(self, value: float) -> None:
        """Overwrite ``log_intensity_scale`` with ``log(value)``."""
        with torch.no_grad():
            self.log_intensity_scale.fill_(math.log(float(value)))

    # -------------------------------------------------------------------------------------------
    def decode(self, x_scaled: torch.Tensor) -> torch.Tensor:
        """Object patches straight from the network, ``(B, C_out, N, N)`` complex64."""
        x = x_scaled / self.intensity_scale
        if self.architecture == "backprop_unet":
            features = physics.backprojection_features(x, self.probe.detach())
            amp, phase = self._trunk(features)
            q = self.N // 4
            padding = (q, q, q, q)
            return physics.combine_amp_phase(F.pad(amp, padding), F.pad(phase, padding))
        amp, phase = self._trunk(x)
        return physics.combine_amp_phase(amp, phase)

    def _trunk(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The convolutions in :attr:`precision`: float32 amplitude and phase from the features."""
        if self.channels_last:
            features = features.contiguous(memory_format=torch.channels_last)
        # float32 opens no context, so a caller's own autocast (Lightning's 'bf16-mixed') applies
        context: contextlib.AbstractContextManager[object] = contextlib.nullcontext()
        if self.precision == "bfloat16":
            context = torch.autocast(features.device.type, dtype=torch.bfloat16)
        with context:
            if self.architecture == "backprop_unet":
                amp, phase = self.unet(features)
            else:
                encoded = self.encoder(features)
                amp, phase = self.decoder_amp(encoded), self.decoder_phase(encoded)
        return amp.float(), phase.float()

    def objects(
        self, x_scaled: torch.Tensor, coords_relative: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Object at the group centre ``(B, N, N)`` and per-channel patches ``(B, C, N, N)``."""
        decoded, canvas = self._merged(x_scaled, coords_relative)
        if canvas is None:
            return decoded[:, 0], decoded
        obj = physics.crop_center(canvas, self.N)
        return obj, physics.extract_group_patches(canvas, coords_relative, self.N)

    def center_object(self, x_scaled: torch.Tensor, coords_relative: torch.Tensor) -> torch.Tensor:
        """Only the object at the group centre, ``(B, N, N)`` (what prediction needs: the
        per-channel re-extraction of :meth:`objects` is skipped)."""
        decoded, canvas = self._merged(x_scaled, coords_relative)
        return decoded[:, 0] if canvas is None else physics.crop_center(canvas, self.N)

    def _merged(
        self, x_scaled: torch.Tensor, coords_relative: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The decoded patches and their group canvas (None when there is nothing to merge)."""
        self._check_inputs(x_scaled, coords_relative)
        decoded = self.decode(x_scaled)
        if not self.object_big or self.channels == 1:
            # C == 1: coords_relative is 0, so the merge/re-extraction is the identity.
            return decoded, None
        return decoded, physics.merge_group_patches(decoded, coords_relative, self.padded)

    def diffraction(self, patches: torch.Tensor) -> torch.Tensor:
        """Predicted scaled amplitude ``s * A`` of object patches ``(B, C, N, N)``."""
        exit_wave = patches * self.probe
        if self.smoothing_sigma > 0:
            exit_wave = physics.gaussian_smooth(exit_wave, self.smoothing_sigma)
        if self.probe_mask is not None:
            exit_wave = exit_wave * self.probe_mask
        return self.intensity_scale * physics.far_field_amplitude(exit_wave)

    def forward(self, x_scaled: torch.Tensor, coords_relative: torch.Tensor) -> NetworkOutput:
        """Run the network and the physics.

        Parameters
        ----------
        x_scaled : (B, C, N, N) float32
            Scaled diffraction amplitudes ``s * X`` (channel-first).
        coords_relative : (B, 1, 2, C) float
            ``-(position - group centre)`` in pixels, axis 2 = ``[x, y]`` (ARCH-005).
        """
        obj, patches = self.objects(x_scaled, coords_relative)
        return NetworkOutput(obj, patches, self.diffraction(patches))

    def _check_inputs(self, x_scaled: torch.Tensor, coords_relative: torch.Tensor) -> None:
        expected = (self.channels, self.N, self.N)
        if x_scaled.ndim != 4 or tuple(x_scaled.shape[1:]) != expected:
            raise ValueError(
                f"diffraction input must have shape (B, {self.channels}, {self.N}, {self.N}) "
                f"(channel-first, C = gridsize**2), got {tuple(x_scaled.shape)}"
            )
        if tuple(coords_relative.shape) != (x_scaled.shape[0], 1, 2, self.channels):
            raise ValueError(
                f"coords_relative must have shape (B, 1, 2, {self.channels}) with B = "
                f"{x_scaled.shape[0]}, got {tuple(coords_relative.shape)}"
            )


class DiffractionToObject(nn.Module):
    """Keras-layout wrapper: ``model([X * s, local_offsets])`` -> object at the group centre.

    The counterpart of the TensorFlow ``diffraction_to_obj`` model for external callers:
    inputs are the channel-last ``(B, N, N, C)`` scaled diffraction and ``(B, 1, 2, C)``
    offsets (tensors or arrays, as a list/tuple or two arguments), the output is
    ``(B, N, N, 1)`` complex64. :meth:`predict` accepts NumPy arrays and returns NumPy.
    """

    def __init__(self, net: PtychoPINNNet) -> None:
        super().__init__()
        self.net = net

    def forward(self, inputs: object, offsets: object = None) -> torch.Tensor:
        if offsets is None:
            if not isinstance(inputs, (list, tuple)) or len(inputs) != 2:
                raise ValueError("call as model([X * s, local_offsets]) or model(X * s, offsets)")
            inputs, offsets = inputs
        device = self.net.probe_real.device
        x = torch.as_tensor(inputs, dtype=torch.float32, device=device)
        coords = torch.as_tensor(offsets, dtype=torch.float32, device=device)
        if x.ndim != 4:
            raise ValueError(f"X must have shape (B, N, N, C), got {tuple(x.shape)}")
        obj = self.net.center_object(x.permute(0, 3, 1, 2), coords)
        return obj[..., None]

    def predict(self, inputs: object, batch_size: int = 64) -> np.ndarray:
        """NumPy in, NumPy out, in batches and without gradients."""
        x_in, offsets_in = cast("tuple[object, object]", inputs)
        x = np.asarray(x_in, dtype=np.float32)
        offsets = np.asarray(offsets_in, dtype=np.float32)
        out = []
        with torch.inference_mode():
            for start in range(0, x.shape[0], batch_size):
                stop = start + batch_size
                out.append(self.forward(x[start:stop], offsets[start:stop]).cpu().numpy())
        if not out:
            return np.zeros((0, self.net.N, self.net.N, 1), dtype=np.complex64)
        return np.concatenate(out).astype(np.complex64, copy=False)


def conv_parameter_count(net: nn.Module) -> int:
    """Number of convolution weights and biases (excludes the scale and the probe)."""
    return sum(p.numel() for m in net.modules() if isinstance(m, nn.Conv2d) for p in m.parameters())


def build_model(
    model_config: ModelConfig,
    training_config: TrainingConfig | None,
    probe: np.ndarray,
    intensity_scale: float,
    *,
    seed: int | None = None,
) -> PtychoPINNNet:
    """Build a new, independent PtychoPINN network (the arguments of
    :func:`ptycho.tf.network.build_model`).

    Parameters
    ----------
    model_config : ModelConfig
        Architecture; ``N`` must be 64, 128 or 256.
    training_config : TrainingConfig or None
        Supplies ``probe_trainable``, ``intensity_scale_trainable`` and the ``precision``; None
        builds a float32 inference network (probe and scale fixed).
    probe : (N, N) complex64
        The normalised probe (ARCH-008).
    intensity_scale : float
        Initial ``s`` (ARCH-007).
    seed : int, optional
        Seed of the initial weights (torch's global generator is left as it was). Default: the
        weights are drawn from torch's global generator, which training seeds with
        ``lightning.seed_everything(TrainingConfig.seed)``.
    """
    probe_trainable = bool(training_config.probe_trainable) if training_config else False
    scale_trainable = bool(training_config.intensity_scale_trainable) if training_config else False

    def build() -> PtychoPINNNet:
        return PtychoPINNNet(
            model_config,
            probe=probe,
            intensity_scale=intensity_scale,
            probe_trainable=probe_trainable,
            intensity_scale_trainable=scale_trainable,
        )

    if seed is None:
        net = build()
    else:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(seed))
            net = build()
    if training_config is not None:
        net.set_precision(resolve_network_precision(training_config.precision))
    return net


def resolve_network_precision(requested: str, device: torch.device | str | None = None) -> str:
    """``'float32'`` or ``'bfloat16'`` for a requested precision on ``device`` (default: a CUDA
    GPU when present, else the CPU): ``'auto'`` is bfloat16 on a GPU that supports it or on a CPU
    with bfloat16 units (:func:`ptycho.precision.resolve_precision`)."""
    from ptycho.precision import resolve_precision

    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    on_gpu = torch.device(device).type == "cuda"
    gpu_bf16 = on_gpu and torch.cuda.is_bf16_supported()
    return resolve_precision(requested, on_gpu=on_gpu, gpu_bf16=gpu_bf16)
