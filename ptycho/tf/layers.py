"""Custom Keras 3 layers of the PtychoPINN model.

Every layer implements ``get_config`` (so ``from_config`` rebuilds it) and holds no global state.
The two physical parameters are real, tracked Keras variables created with ``add_weight``:

- ``log_intensity_scale`` (scalar, :class:`IntensityScale`), trainable iff
  ``intensity_scale_trainable``;
- ``probe_real`` and ``probe_imag`` (``(N, N)`` float32, :class:`ProbeIllumination`), trainable iff
  ``probe_trainable``.

Their values are restored from the weights file, never from the layer config (the config of
:class:`ProbeIllumination` does not embed the probe array).

Tensor layouts: channel format ``(B, N, N, C)``; positions ``(B, 1, 2, C)`` with axis 2 =
``[x, y]`` (ARCH-005).
"""

from __future__ import annotations

import math
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from ptycho.tf import physics

__all__ = [
    "ChannelSlice",
    "CombineComplex",
    "FarFieldAmplitude",
    "IntensityScale",
    "MaskMultiply",
    "ObjectBig",
    "ObjectSingle",
    "ProbeIllumination",
    "ScaledTanh",
    "Square",
]

_PACKAGE = "ptycho"


@keras.saving.register_keras_serializable(package=_PACKAGE)
class IntensityScale(keras.layers.Layer):
    """Divide by (or, with ``inverse=True``, multiply by) ``s = exp(log_intensity_scale)``.

    The same layer instance is used at the model input (``s X -> X``) and output
    (``A -> s A``), so both sides share one variable (ARCH-007).

    Parameters
    ----------
    initial_scale : float
        Initial ``s`` (> 0); the variable is initialised to ``log(s)``.
    scale_trainable : bool
        Whether the optimiser updates ``log_intensity_scale``.
    """

    def __init__(self, initial_scale: float, scale_trainable: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not (math.isfinite(initial_scale) and initial_scale > 0):
            raise ValueError(
                f"intensity scale must be a positive finite number, got {initial_scale}"
            )
        self.initial_scale = float(initial_scale)
        self.scale_trainable = bool(scale_trainable)
        self.log_intensity_scale = self.add_weight(
            name="log_intensity_scale",
            shape=(),
            dtype="float32",
            initializer=keras.initializers.Constant(math.log(self.initial_scale)),
            trainable=self.scale_trainable,
        )

    def call(self, inputs: tf.Tensor, inverse: bool = False) -> tf.Tensor:
        scale = tf.exp(tf.cast(self.log_intensity_scale, inputs.dtype))
        return inputs * scale if inverse else inputs / scale

    def compute_output_shape(self, input_shape: Any) -> Any:
        return input_shape

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(initial_scale=self.initial_scale, scale_trainable=self.scale_trainable)
        return config


@keras.saving.register_keras_serializable(package=_PACKAGE)
class ChannelSlice(keras.layers.Layer):
    """Keep channels ``[start, stop)`` of the last axis (negative indices allowed)."""

    def __init__(self, start: int | None = None, stop: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.start = start
        self.stop = stop

    def call(self, inputs: tf.Tensor) -> tf.Tensor:
        return inputs[..., self.start : self.stop]

    def compute_output_shape(self, input_shape: Any) -> Any:
        channels = len(range(input_shape[-1])[self.start : self.stop])
        return (*input_shape[:-1], channels)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(start=self.start, stop=self.stop)
        return config


@keras.saving.register_keras_serializable(package=_PACKAGE)
class ScaledTanh(keras.layers.Layer):
    """``scale * tanh(x)`` (the phase head uses ``scale = pi``)."""

    def __init__(self, scale: float = math.pi, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.scale = float(scale)

    def call(self, inputs: tf.Tensor) -> tf.Tensor:
        return self.scale * tf.tanh(inputs)

    def compute_output_shape(self, input_shape: Any) -> Any:
        return input_shape

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(scale=self.scale)
        return config


@keras.saving.register_keras_serializable(package=_PACKAGE)
class MaskMultiply(keras.layers.Layer):
    """Multiply ``(B, N, N, C)`` by the ``border`` or ``center`` mask of the central ``N/2``."""

    def __init__(self, kind: str = "border", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if kind not in ("border", "center"):
            raise ValueError(f"mask kind must be 'border' or 'center', got {kind!r}")
        self.kind = kind

    def call(self, inputs: tf.Tensor) -> tf.Tensor:
        n = int(inputs.shape[1])
        mask = physics.border_mask(n) if self.kind == "border" else physics.center_mask(n)
        return inputs * tf.constant(mask[:, :, None], dtype=inputs.dtype)

    def compute_output_shape(self, input_shape: Any) -> Any:
        return input_shape

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(kind=self.kind)
        return config


@keras.saving.register_keras_serializable(package=_PACKAGE)
class CombineComplex(keras.layers.Layer):
    """``[amp, phase] -> amp * exp(i * phase)`` as complex64 (design D3)."""

    def call(self, inputs: list[tf.Tensor]) -> tf.Tensor:
        amp, phase = inputs  # float32 also after a bfloat16 trunk (ARCH-016)
        return physics.combine_amp_phase(tf.cast(amp, tf.float32), tf.cast(phase, tf.float32))

    def compute_output_shape(self, input_shape: Any) -> Any:
        return input_shape[0]

    def compute_output_spec(self, inputs: list[Any]) -> Any:
        return keras.KerasTensor(inputs[0].shape, dtype="complex64")


@keras.saving.register_keras_serializable(package=_PACKAGE)
class ObjectBig(keras.layers.Layer):
    """Per-group merge and re-extraction (ARCH-010).

    Inputs ``[obj (B, N, N, C) complex64, positions (B, 1, 2, C)]``; outputs
    ``[trimmed_obj (B, N, N, 1) complex64, patches (B, N, N, C) complex64]``: the central ``N x N``
    crop of each group canvas, and each channel re-extracted at its own position.

    Parameters
    ----------
    padded_size : int
        Canvas side (``ptycho.physics.object_big.padded_size(N, gridsize)``).
    """

    def __init__(self, padded_size: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.padded_size = int(padded_size)

    def call(self, inputs: list[tf.Tensor]) -> list[tf.Tensor]:
        obj, positions = inputs
        n = int(obj.shape[1])
        canvas = physics.merge_group_patches(obj, positions, self.padded_size)
        trimmed = physics.crop_center(canvas, n)[..., None]
        patches = physics.extract_group_patches(canvas, positions, n)
        return [trimmed, patches]

    def compute_output_spec(self, inputs: list[Any]) -> list[Any]:
        obj, positions = inputs
        b, n, _, _ = obj.shape
        c = positions.shape[-1]
        return [
            keras.KerasTensor((b, n, n, 1), dtype="complex64"),
            keras.KerasTensor((b, n, n, c), dtype="complex64"),
        ]

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(padded_size=self.padded_size)
        return config


@keras.saving.register_keras_serializable(package=_PACKAGE)
class ObjectSingle(keras.layers.Layer):
    """``object_big=False`` (gridsize 1): the patch is both the object output and the patch.

    Inputs ``[obj (B, N, N, 1) complex64, positions]``; outputs ``[obj, obj]``. (Zero padding to
    the canvas and cropping back, as the original does, is the identity.)
    """

    def call(self, inputs: list[tf.Tensor]) -> list[tf.Tensor]:
        obj = inputs[0]
        return [tf.identity(obj), tf.identity(obj)]

    def compute_output_spec(self, inputs: list[Any]) -> list[Any]:
        shape = inputs[0].shape
        return [
            keras.KerasTensor(shape, dtype="complex64"),
            keras.KerasTensor(shape, dtype="complex64"),
        ]


@keras.saving.register_keras_serializable(package=_PACKAGE)
class ProbeIllumination(keras.layers.Layer):
    """Exit wave ``Psi = P * O`` with optional smoothing and probe mask; or, called with
    ``backproject=True`` on the diffraction ``(B, N, N, C)``, the backprojection features
    ``(B, N/2, N/2, 2C)`` of ARCH-014 (the same probe variables serve both).

    Holds the probe as two ``(N, N)`` float32 weights ``probe_real`` and ``probe_imag``
    (trainable iff ``probe_trainable``). ``Psi`` is optionally smoothed with the 3x3 Gaussian of
    ``smoothing_sigma`` (real and imaginary parts, reflect padding) and then multiplied by the disk
    mask of :func:`ptycho.probe.probe_mask` when ``use_mask``.

    Parameters
    ----------
    n : int
        Probe side.
    initial_probe : (N, N) complex, optional
        Initial (normalised) probe; zeros when omitted (``load_weights`` then sets it).
    probe_trainable : bool
    use_mask : bool
    smoothing_sigma : float
    """

    def __init__(
        self,
        n: int,
        initial_probe: np.ndarray | None = None,
        probe_trainable: bool = False,
        use_mask: bool = False,
        smoothing_sigma: float = 0.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.n = int(n)
        self.probe_trainable = bool(probe_trainable)
        self.use_mask = bool(use_mask)
        self.smoothing_sigma = float(smoothing_sigma)
        if initial_probe is None:
            real = np.zeros((self.n, self.n), dtype=np.float32)
            imag = np.zeros((self.n, self.n), dtype=np.float32)
        else:
            probe = np.asarray(initial_probe)
            if probe.shape != (self.n, self.n):
                raise ValueError(
                    f"probe must have shape ({self.n}, {self.n}) to match N={self.n}, got "
                    f"{probe.shape}"
                )
            if not np.all(np.isfinite(probe)):
                raise ValueError("probe contains NaN or Inf values")
            real = np.real(probe).astype(np.float32)
            imag = np.imag(probe).astype(np.float32)
        self.probe_real = self.add_weight(
            name="probe_real",
            shape=(self.n, self.n),
            dtype="float32",
            initializer=keras.initializers.Constant(real),
            trainable=self.probe_trainable,
        )
        self.probe_imag = self.add_weight(
            name="probe_imag",
            shape=(self.n, self.n),
            dtype="float32",
            initializer=keras.initializers.Constant(imag),
            trainable=self.probe_trainable,
        )

    def probe(self) -> tf.Tensor:
        """The current probe, ``(N, N) complex64``."""
        return tf.complex(
            tf.convert_to_tensor(self.probe_real), tf.convert_to_tensor(self.probe_imag)
        )

    def call(self, inputs: tf.Tensor, backproject: bool = False) -> tf.Tensor:
        if backproject:
            # ARCH-014: the network input; no gradient flows into the probe through it
            return physics.backprojection_features(inputs, tf.stop_gradient(self.probe()))
        # (B, N, N, C) -> (B, C, N, N) so the probe and the 2-D FFT act on the last two axes
        patches = tf.transpose(inputs, [0, 3, 1, 2])
        psi = patches * self.probe()
        if self.smoothing_sigma > 0:
            psi = physics.gaussian_smooth(psi, self.smoothing_sigma)
        if self.use_mask:
            from ptycho.probe import probe_mask

            psi = psi * tf.constant(probe_mask(self.n).astype(np.complex64))
        return psi

    def compute_output_spec(self, inputs: Any, backproject: bool = False) -> Any:
        b, n, _, c = inputs.shape
        if backproject:
            return keras.KerasTensor((b, n // 2, n // 2, 2 * c), dtype="float32")
        return keras.KerasTensor((b, c, n, n), dtype="complex64")

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            n=self.n,
            probe_trainable=self.probe_trainable,
            use_mask=self.use_mask,
            smoothing_sigma=self.smoothing_sigma,
        )
        return config


@keras.saving.register_keras_serializable(package=_PACKAGE)
class FarFieldAmplitude(keras.layers.Layer):
    """``(B, C, N, N)`` exit wave -> ``(B, N, N, C)`` far-field amplitude (ARCH-006)."""

    def call(self, inputs: tf.Tensor) -> tf.Tensor:
        return tf.transpose(physics.far_field_amplitude(inputs), [0, 2, 3, 1])

    def compute_output_spec(self, inputs: Any) -> Any:
        b, c, n, _ = inputs.shape
        return keras.KerasTensor((b, n, n, c), dtype="float32")


@keras.saving.register_keras_serializable(package=_PACKAGE)
class Square(keras.layers.Layer):
    """``x ** 2`` (predicted counts from scaled amplitudes)."""

    def call(self, inputs: tf.Tensor) -> tf.Tensor:
        return tf.square(inputs)

    def compute_output_shape(self, input_shape: Any) -> Any:
        return input_shape
