"""The PtychoPINN network in Keras 3: :func:`build_model` and :class:`PtychoPINNModel`.

Two normative architectures (``ModelConfig.architecture``; layer for layer the same as the
PyTorch backend, from the one table in :mod:`ptycho.network_layout`):

* ``'backprop_unet'`` (ARCH-014): the probe backprojection of each pattern (the probe layer called
  with ``backproject=True``), a U-Net at ``N/2`` with ``unet_*`` layers, amplitude and phase heads
  zero-padded to ``N``;
* ``'cnn'`` (ARCH-012): a shared convolutional encoder, two decoders (``decoder_amp`` and
  ``decoder_phase``) with an optional ``border`` branch (``probe_big``).

Then ``O = amp * exp(i phase)``, the per-group object_big merge/re-extraction (ARCH-010), probe
illumination, the orthonormal far field (ARCH-006) and the intensity scale (ARCH-007).

Nothing is cached at module level: every call of :func:`build_model` creates new layers and new
variables, so two models with different ``N`` or ``nphotons`` in one process are independent.

Weight names (Keras layer name / variable): ``encoder_block{i}_conv{1,2}/{kernel,bias}``,
``decoder_{amp,phase}_block{i}_conv{1,2}``, ``decoder_{amp,phase}_out``,
``decoder_{amp,phase}_border_conv{1,2}``, ``decoder_{amp,phase}_border_out`` (blocks numbered
from 1), ``intensity_scale/log_intensity_scale`` (scalar) and
``probe_illumination/{probe_real,probe_imag}`` (``(N, N)``). Conv kernels are
``(3, 3, in, out)`` (torch: ``(out, in, 3, 3)``), biases ``(out,)``. The canonical names and the
exact mapping to the PyTorch state-dict keys are in :mod:`ptycho.weights`.
"""

from __future__ import annotations

import dataclasses
import math
from typing import TYPE_CHECKING, Any

import keras
import numpy as np
import tensorflow as tf

from ptycho import network_layout as layout
from ptycho.tf import layers as L

if TYPE_CHECKING:
    from ptycho.config.config import ModelConfig, TrainingConfig

__all__ = [
    "DECODER_FILTERS",
    "ENCODER_FILTERS",
    "PtychoPINNModel",
    "build_model",
    "resolve_network_precision",
]

#: Encoder filters per block (before ``n_filters_scale``), by N (``cnn``).
ENCODER_FILTERS = layout.CNN_ENCODER_FILTERS
#: Decoder filters per block (before ``n_filters_scale``), by N (``cnn``).
DECODER_FILTERS = layout.CNN_DECODER_FILTERS
_BORDER_CHANNELS = layout.BORDER_CHANNELS
#: Layers of the convolution trunk (ARCH-016: what ``set_precision`` switches): every layer
#: whose name starts with one of these, plus the amplitude and phase activations.
_TRUNK_PREFIXES = ("unet_", "encoder_", "decoder_")
_TRUNK_NAMES = ("amp", "phi")
#: Keras dtype policy of the trunk for each network precision.
_POLICIES = {"float32": "float32", "bfloat16": "mixed_bfloat16"}


class PtychoPINNModel:
    """A built PtychoPINN network and its views.

    Attributes
    ----------
    model_config : ModelConfig
        The configuration the network was built from (a private copy).
    autoencoder : keras.Model
        Inputs ``input (B, N, N, C) float32`` (= ``s X``) and ``input_positions (B, 1, 2, C)
        float32`` (= ``coords_relative``); outputs ``trimmed_obj (B, N, N, 1) complex64``,
        ``intensity_scaler_inv (B, N, N, C) float32`` (= ``s A``) and ``pred_intensity
        (B, N, N, C) float32`` (= ``(s A)^2``).
    diffraction_to_obj : keras.Model
        Same inputs; output ``trimmed_obj``. Shares every layer with ``autoencoder``.
    training_model : keras.Model
        Same inputs; outputs ``[trimmed_obj, object patches (B, N, N, C) complex64, s A]``
        (what the training loop needs). Shares every layer.
    padded_size : int
        Side of the object_big group canvas.
    precision : str
        ``'float32'`` or ``'bfloat16'``: the arithmetic of the convolution trunk
        (:meth:`set_precision`, ARCH-016).
    """

    def __init__(
        self,
        model_config: ModelConfig,
        autoencoder: keras.Model,
        diffraction_to_obj: keras.Model,
        training_model: keras.Model,
        scale_layer: L.IntensityScale,
        probe_layer: L.ProbeIllumination,
        padded_size: int,
    ) -> None:
        self.model_config = model_config
        self.autoencoder = autoencoder
        self.diffraction_to_obj = diffraction_to_obj
        self.training_model = training_model
        self.scale_layer = scale_layer
        self.probe_layer = probe_layer
        self.padded_size = int(padded_size)
        #: compiled predictors by precision, created on first use by ptycho.tf.prediction
        self.predict_functions: dict[str, Any] = {}
        self.trunk_layers = [
            layer
            for layer in training_model.layers
            if layer.name.startswith(_TRUNK_PREFIXES) or layer.name in _TRUNK_NAMES
        ]
        self._precision = "float32"

    # -- precision (ARCH-016) -----------------------------------------------------------------
    @property
    def precision(self) -> str:
        """``'float32'`` or ``'bfloat16'``: the arithmetic of the convolution trunk."""
        return self._precision

    def set_precision(self, precision: str) -> None:
        """Run the convolution trunk in ``'float32'`` or mixed ``'bfloat16'`` (ARCH-016).

        Mixed bfloat16 computes the trunk's convolutions in bfloat16 while its variables stay
        float32 (Keras ``mixed_bfloat16``); the amplitude and phase are cast to float32 before the
        physics. Weights, their names and archives do not change. Graphs traced before the call
        keep the arithmetic they were traced with.

        Raises
        ------
        ValueError
            For anything but ``'float32'`` or ``'bfloat16'`` (resolve ``'auto'`` first with
            :func:`resolve_network_precision`).
        """
        if precision not in _POLICIES:
            raise ValueError(
                f"network precision must be 'float32' or 'bfloat16', got {precision!r} "
                "(resolve 'auto' with resolve_network_precision first)"
            )
        for layer in self.trunk_layers:
            layer.dtype_policy = _POLICIES[precision]
        self._precision = precision

    # -- physical parameters ------------------------------------------------------------------
    @property
    def N(self) -> int:
        """Patch size."""
        return int(self.model_config.N)

    @property
    def gridsize(self) -> int:
        """Group side (``C = gridsize**2``)."""
        return int(self.model_config.gridsize)

    @property
    def channels(self) -> int:
        """Patterns per group ``C``."""
        return self.gridsize**2

    @property
    def intensity_scale(self) -> float:
        """Current ``s = exp(log_intensity_scale)``."""
        return float(math.exp(float(self.scale_layer.log_intensity_scale.numpy())))

    @property
    def probe(self) -> np.ndarray:
        """Current probe, ``(N, N) complex64``."""
        return np.asarray(self.probe_layer.probe().numpy(), dtype=np.complex64)

    # -- Keras delegation ---------------------------------------------------------------------
    @property
    def trainable_variables(self) -> list[Any]:
        """Variables the optimiser updates (conv weights, plus scale/probe when trainable)."""
        return list(self.training_model.trainable_variables)

    @property
    def weights(self) -> list[Any]:
        """All variables, trainable or not."""
        return list(self.training_model.weights)

    def count_params(self) -> int:
        """Number of scalar parameters of the convolution layers (kernels and biases)."""
        return int(
            sum(
                int(np.prod(w.shape))
                for layer in self.training_model.layers
                if isinstance(layer, keras.layers.Conv2D)
                for w in layer.weights
            )
        )

    def get_weights(self) -> list[np.ndarray]:
        """NumPy copies of every variable (in a fixed order)."""
        return [np.array(w.numpy()) for w in self.training_model.weights]

    def set_weights(self, values: list[np.ndarray]) -> None:
        """Assign values produced by :meth:`get_weights`."""
        for var, value in zip(self.training_model.weights, values, strict=True):
            var.assign(value)

    def save_weights(self, path: str) -> None:
        """Write every variable to a Keras ``.weights.h5`` file."""
        self.training_model.save_weights(path)

    def load_weights(self, path: str) -> None:
        """Read a ``.weights.h5`` file written by :meth:`save_weights` of the same architecture."""
        self.training_model.load_weights(path)

    def __call__(self, inputs: list[Any], training: bool = False) -> Any:
        return self.autoencoder(inputs, training=training)

    def __repr__(self) -> str:
        return (
            f"PtychoPINNModel(N={self.N}, gridsize={self.gridsize}, "
            f"model_type={self.model_config.model_type!r}, s={self.intensity_scale:.6g})"
        )


def _conv(
    filters: int, name: str, seed: int, activation: str | None = "relu", kernel: int = 3
) -> keras.layers.Layer:
    return keras.layers.Conv2D(
        filters,
        kernel,
        padding="same",
        activation=activation,
        kernel_initializer=keras.initializers.GlorotUniform(seed=seed),
        bias_initializer="zeros",
        name=name,
    )


class _Seeds:
    """Deterministic per-layer initialiser seeds derived from one run seed (ARCH-011)."""

    def __init__(self, seed: int) -> None:
        self._base = int(seed) * 1009
        self._count = 0

    def next(self) -> int:
        self._count += 1
        return (self._base + self._count) % (2**31 - 1)


def _decoder(
    x: Any,
    head: str,
    n: int,
    s_f: int,
    c_out: int,
    config: ModelConfig,
    seeds: _Seeds,
) -> Any:
    """One decoder (``head`` is ``'amp'`` or ``'phase'``); returns ``(B, N, N, C_out)``."""
    prefix = f"decoder_{head}"
    for i, f in enumerate(layout.cnn_decoder_filters(n, s_f), start=1):
        x = _conv(f, f"{prefix}_block{i}_conv1", seeds.next())(x)
        x = _conv(f, f"{prefix}_block{i}_conv2", seeds.next())(x)
        x = keras.layers.UpSampling2D(2, interpolation="nearest", name=f"{prefix}_block{i}_up")(x)
    # x: (B, N/2, N/2, s_f*32)
    border_filters = layout.cnn_border_filters(n, s_f)

    def head_activation(t: Any, name: str) -> Any:
        if head == "amp":
            return keras.layers.Activation(config.amp_activation, name=name)(t)
        return L.ScaledTanh(math.pi, name=name)(t)

    if config.pad_object:
        core = L.ChannelSlice(None, -_BORDER_CHANNELS, name=f"{prefix}_core_channels")(x)
        out = _conv(c_out, f"{prefix}_out", seeds.next(), activation=None)(core)
        out = head_activation(out, "amp" if head == "amp" else "phi")
        out = keras.layers.ZeroPadding2D(n // 4, name=f"{prefix}_pad")(out)
        if config.probe_big:
            b = L.ChannelSlice(-_BORDER_CHANNELS, None, name=f"{prefix}_border_channels")(x)
            b = _conv(border_filters, f"{prefix}_border_conv1", seeds.next())(b)
            b = _conv(border_filters, f"{prefix}_border_conv2", seeds.next())(b)
            b = keras.layers.UpSampling2D(2, interpolation="nearest", name=f"{prefix}_border_up")(b)
            b = _conv(c_out, f"{prefix}_border_out", seeds.next(), activation=None)(b)
            if head == "amp":
                b = keras.layers.Activation("swish", name=f"{prefix}_border_act")(b)
            else:
                b = L.ScaledTanh(math.pi, name=f"{prefix}_border_act")(b)
            b = L.MaskMultiply("border", name=f"{prefix}_border_mask")(b)
            out = keras.layers.Add(name=f"{prefix}_sum")([out, b])
        return out
    x = _conv(border_filters, f"{prefix}_border_conv1", seeds.next())(x)
    x = _conv(border_filters, f"{prefix}_border_conv2", seeds.next())(x)
    x = keras.layers.UpSampling2D(2, interpolation="nearest", name=f"{prefix}_border_up")(x)
    out = _conv(c_out, f"{prefix}_out", seeds.next(), activation=None)(x)
    return head_activation(out, "amp" if head == "amp" else "phi")


def _unet(features: Any, c_out: int, config: ModelConfig, seeds: _Seeds) -> tuple[Any, Any]:
    """The ``backprop_unet`` trunk (ARCH-014): ``(B, N/2, N/2, 2C)`` -> amp, phase at ``N/2``."""
    s_f = int(config.n_filters_scale)
    x = features
    skips = []
    for level in range(1, layout.UNET_DEPTH + 1):
        width = layout.unet_width(s_f, level)
        x = _conv(width, f"unet_down{level}_conv1", seeds.next())(x)
        x = _conv(width, f"unet_down{level}_conv2", seeds.next())(x)
        skips.append(x)
        x = keras.layers.MaxPooling2D(2, name=f"unet_down{level}_pool")(x)
    bottom = layout.unet_width(s_f, layout.UNET_DEPTH + 1)
    x = _conv(bottom, "unet_bottom_conv1", seeds.next())(x)
    x = _conv(bottom, "unet_bottom_conv2", seeds.next())(x)
    for level in range(layout.UNET_DEPTH, 0, -1):
        width = layout.unet_width(s_f, level)
        x = _conv(width, f"unet_up{level}_reduce", seeds.next(), activation=None, kernel=1)(x)
        x = keras.layers.UpSampling2D(2, interpolation="nearest", name=f"unet_up{level}_up")(x)
        x = keras.layers.Concatenate(name=f"unet_up{level}_concat")([x, skips.pop()])
        x = _conv(width, f"unet_up{level}_conv1", seeds.next())(x)
        x = _conv(width, f"unet_up{level}_conv2", seeds.next())(x)
    amp = _conv(c_out, "unet_amp_out", seeds.next(), activation=None)(x)
    amp = keras.layers.Activation(config.amp_activation, name="amp")(amp)
    phase = _conv(c_out, "unet_phase_out", seeds.next(), activation=None)(x)
    phase = L.ScaledTanh(math.pi, name="phi")(phase)
    q = int(config.N) // 4
    amp = keras.layers.ZeroPadding2D(q, name="unet_amp_pad")(amp)
    phase = keras.layers.ZeroPadding2D(q, name="unet_phase_pad")(phase)
    return amp, phase


def build_model(
    model_config: ModelConfig,
    training_config: TrainingConfig | None,
    probe: np.ndarray,
    intensity_scale: float,
    *,
    seed: int | None = None,
) -> PtychoPINNModel:
    """Build a new, independent PtychoPINN network.

    Parameters
    ----------
    model_config : ModelConfig
        Architecture; ``N`` must be 64, 128 or 256 (not 0).
    training_config : TrainingConfig or None
        Supplies ``probe_trainable``, ``intensity_scale_trainable``, the initialiser ``seed`` and
        the ``precision``; None builds a float32 inference network (probe and scale fixed,
        seed 0).
    probe : (N, N) complex64
        The normalised probe (ARCH-008).
    intensity_scale : float
        Initial ``s`` (ARCH-007), e.g. ``sqrt(nphotons) / (N/2)``.
    seed : int, optional
        Overrides the initialiser seed.

    Returns
    -------
    PtychoPINNModel

    Raises
    ------
    ValueError
        Unsupported ``N``, a probe of the wrong shape, ``object_big=False`` with gridsize > 1,
        or a non-positive intensity scale.
    """
    from ptycho.physics.object_big import padded_size as _padded_size

    config = dataclasses.replace(model_config)
    config.validate(require_n=True)
    n = int(config.N)
    if n not in layout.SUPPORTED_N:  # the supported N of both architectures
        raise ValueError(f"N must be one of {sorted(layout.SUPPORTED_N)}, got {n}")
    probe = np.asarray(probe)
    if probe.ndim == 3 and probe.shape[-1] == 1:
        probe = probe[..., 0]
    if probe.shape != (n, n):
        raise ValueError(
            f"probe must have shape ({n}, {n}) to match N={n}, got {probe.shape}; pass the "
            "first mode of a multi-mode probe, normalised with ptycho.probe.normalize_probe"
        )
    g = int(config.gridsize)
    c = g * g
    c_out = c if config.object_big else 1
    s_f = int(config.n_filters_scale)
    probe_trainable = bool(training_config.probe_trainable) if training_config else False
    scale_trainable = bool(training_config.intensity_scale_trainable) if training_config else False
    if seed is None:
        seed = int(training_config.seed) if training_config is not None else 0
    seeds = _Seeds(seed)
    padded = _padded_size(n, g)

    inp = keras.Input(shape=(n, n, c), dtype="float32", name="input")
    positions = keras.Input(shape=(1, 2, c), dtype="float32", name="input_positions")
    scale_layer = L.IntensityScale(intensity_scale, scale_trainable, name="intensity_scale")
    probe_layer = L.ProbeIllumination(
        n,
        initial_probe=probe,
        probe_trainable=probe_trainable,
        use_mask=config.probe_mask,
        smoothing_sigma=config.gaussian_smoothing_sigma,
        name="probe_illumination",
    )
    x = scale_layer(inp)
    if config.architecture == "backprop_unet":
        amp, phase = _unet(probe_layer(x, backproject=True), c_out, config, seeds)
    else:
        for i, f in enumerate(layout.cnn_encoder_filters(n, s_f), start=1):
            x = _conv(f, f"encoder_block{i}_conv1", seeds.next())(x)
            x = _conv(f, f"encoder_block{i}_conv2", seeds.next())(x)
            x = keras.layers.MaxPooling2D(2, name=f"encoder_block{i}_pool")(x)
        amp = _decoder(x, "amp", n, s_f, c_out, config, seeds)
        phase = _decoder(x, "phase", n, s_f, c_out, config, seeds)
    obj = L.CombineComplex(name="obj")([amp, phase])
    if config.object_big:
        trimmed, patches = L.ObjectBig(padded, name="object_big")([obj, positions])
    else:
        trimmed, patches = L.ObjectSingle(name="object_single")([obj, positions])
    trimmed = keras.layers.Identity(name="trimmed_obj")(trimmed)
    patches = keras.layers.Identity(name="object_patches")(patches)
    psi = probe_layer(patches)
    amplitude = L.FarFieldAmplitude(name="pred_amplitude")(psi)
    amp_scaled = scale_layer(amplitude, inverse=True)
    amp_scaled = keras.layers.Identity(name="intensity_scaler_inv")(amp_scaled)
    intensity = L.Square(name="pred_intensity")(amp_scaled)

    autoencoder = keras.Model(
        inputs=[inp, positions], outputs=[trimmed, amp_scaled, intensity], name="autoencoder"
    )
    diffraction_to_obj = keras.Model(
        inputs=[inp, positions], outputs=trimmed, name="diffraction_to_obj"
    )
    training_model = keras.Model(
        inputs=[inp, positions], outputs=[trimmed, patches, amp_scaled], name="ptychopinn"
    )
    network = PtychoPINNModel(
        config,
        autoencoder,
        diffraction_to_obj,
        training_model,
        scale_layer,
        probe_layer,
        padded,
    )
    if training_config is not None:
        network.set_precision(resolve_network_precision(training_config.precision))
    return network


def resolve_network_precision(requested: str) -> str:
    """``'float32'`` or ``'bfloat16'`` for a requested precision on the device TensorFlow uses:
    ``'auto'`` is bfloat16 on a GPU of compute capability 8.0 or newer, or on a CPU with bfloat16
    units (:func:`ptycho.precision.resolve_precision`)."""
    from ptycho.precision import resolve_precision

    gpus = tf.config.list_physical_devices("GPU")
    gpu_bf16 = False
    if gpus:
        details = tf.config.experimental.get_device_details(gpus[0])
        gpu_bf16 = tuple(details.get("compute_capability", (0, 0))) >= (8, 0)
    return resolve_precision(requested, on_gpu=bool(gpus), gpu_bf16=gpu_bf16)


def positions_tensor(coords_relative: np.ndarray) -> tf.Tensor:
    """``(B, 1, 2, C)`` float64 coordinates -> float32 tensor (helper for callers)."""
    return tf.convert_to_tensor(np.asarray(coords_relative, dtype=np.float32))
