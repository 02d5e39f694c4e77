"""The Keras model: architecture, shapes, physics agreement, trainable parameters, independence."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from ptycho.config.config import ModelConfig, TrainingConfig
from ptycho.physics import forward, object_big
from ptycho.probe import default_probe, normalize_probe
from ptycho.tf import layers as L
from ptycho.tf.network import build_model

RNG = np.random.default_rng(7)


def _probe(n: int) -> np.ndarray:
    return normalize_probe(default_probe(n), 4.0)


def _inputs(b: int, n: int, c: int) -> list[np.ndarray]:
    x = RNG.uniform(0, 40, (b, n, n, c)).astype(np.float32)
    pos = RNG.uniform(-4, 4, (b, 1, 2, c)).astype(np.float32)
    pos -= pos.mean(axis=-1, keepdims=True)
    return [x, pos]


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"architecture": "cnn"}, 2_331_772),
        ({"architecture": "cnn", "probe_big": False}, 2_252_026),
        ({"architecture": "cnn", "n_filters_scale": 1}, 585_244),
        ({"architecture": "cnn", "N": 128}, 4_661_212),
        ({}, 1_796_834),
        ({"N": 128, "gridsize": 2}, 1_800_296),
    ],
)
def test_conv_parameter_counts_equal_the_normative_numbers(
    kwargs: dict[str, object], expected: int
) -> None:
    """Architecture sanity numbers (N=64, s_f=2, gridsize 1 unless stated): ARCH-012 for cnn,
    ARCH-014 for backprop_unet (the same for every N)."""
    config = ModelConfig(**kwargs)
    network = build_model(config, None, _probe(config.N), 30.0)
    assert network.count_params() == expected


def test_weight_names_follow_the_normative_scheme() -> None:
    """Layer/variable names are the normative ones (blocks numbered from 1)."""
    network = build_model(ModelConfig(architecture="cnn"), None, _probe(64), 30.0)
    paths = {w.path for w in network.weights}
    for name in (
        "encoder_block1_conv1/kernel",
        "encoder_block3_conv2/bias",
        "decoder_amp_block2_conv2/kernel",
        "decoder_phase_out/kernel",
        "decoder_amp_border_conv1/kernel",
        "decoder_phase_border_out/bias",
        "intensity_scale/log_intensity_scale",
        "probe_illumination/probe_real",
        "probe_illumination/probe_imag",
    ):
        assert name in paths
    kernel = network.training_model.get_layer("encoder_block1_conv2").kernel
    assert tuple(kernel.shape) == (3, 3, 64, 64)


def test_backprop_unet_weight_names_follow_the_normative_scheme() -> None:
    """ARCH-014: unet_* layers, the probe and the scale; the weight set is the layout's."""
    from ptycho.weights import expected_weight_shapes, keras_weight_names

    config = ModelConfig(gridsize=2)
    network = build_model(config, None, _probe(64), 30.0)
    paths = {w.path: tuple(w.shape) for w in network.weights}
    expected = expected_weight_shapes(config)
    for name, shape in expected.items():
        leaf = name.rsplit("/", 1)[-1]
        path = {
            "log_intensity_scale": "intensity_scale/log_intensity_scale",
            "probe_real": "probe_illumination/probe_real",
            "probe_imag": "probe_illumination/probe_imag",
        }.get(leaf, name)
        assert paths[path] == shape, name
    assert len(paths) == len(expected)
    assert set(keras_weight_names(network.training_model).values()) == set(paths)


@pytest.mark.parametrize("n", [64, 128, 256])
@pytest.mark.parametrize("gridsize", [1, 2])
def test_physics_layers_keep_every_group_for_batches_crossing_64_channels(
    n: int, gridsize: int
) -> None:
    """D4: ObjectBig -> ProbeIllumination -> FarField keep B groups when B*C > 64."""
    c = gridsize**2
    b = 64 // c + 3  # B*C > 64
    padded = object_big.padded_size(n, gridsize)
    obj = (RNG.standard_normal((b, n, n, c)) + 1j).astype(np.complex64)
    pos = RNG.uniform(-3, 3, (b, 1, 2, c)).astype(np.float32)
    trimmed, patches = L.ObjectBig(padded)([obj, pos])
    psi = L.ProbeIllumination(n, initial_probe=_probe(n))(patches)
    amp = L.FarFieldAmplitude()(psi)
    assert tuple(trimmed.shape) == (b, n, n, 1)
    assert tuple(patches.shape) == (b, n, n, c)
    assert tuple(amp.shape) == (b, n, n, c)


@pytest.mark.parametrize("n", [64, 128, 256])
@pytest.mark.parametrize("gridsize", [1, 2])
def test_model_output_shapes_and_dtypes(n: int, gridsize: int) -> None:
    """Autoencoder: trimmed_obj (B,N,N,1) complex64, s*A and (s*A)^2 (B,N,N,C) float32."""
    c = gridsize**2
    config = ModelConfig(N=n, gridsize=gridsize, n_filters_scale=1)
    network = build_model(config, None, _probe(n), 30.0)
    assert [t.name for t in network.autoencoder.inputs] == ["input", "input_positions"]
    obj, amp, intensity = network.autoencoder(_inputs(2, n, c))
    assert tuple(obj.shape) == (2, n, n, 1) and obj.dtype == "complex64"
    assert tuple(amp.shape) == (2, n, n, c) and amp.dtype == "float32"
    np.testing.assert_allclose(intensity.numpy(), amp.numpy() ** 2, rtol=1e-6)


def test_gridsize_2_model_runs_a_batch_of_68_patterns() -> None:
    """D4: the full network predicts all 17 groups (68 patterns >= 64) at gridsize 2."""
    network = build_model(ModelConfig(gridsize=2, n_filters_scale=1), None, _probe(64), 30.0)
    out = network.diffraction_to_obj.predict(_inputs(17, 64, 4), batch_size=17, verbose=0)
    assert out.shape == (17, 64, 64, 1)


def test_model_forward_agrees_with_numpy_reference_physics() -> None:
    """ARCH-006/010: s*A of the model == s * forward_amplitude(object_big_roundtrip(O), P)."""
    config = ModelConfig(
        gridsize=2, n_filters_scale=1, probe_mask=True, gaussian_smoothing_sigma=0.8
    )
    probe = _probe(64)
    network = build_model(config, None, probe, 25.0)
    inputs = _inputs(3, 64, 4)
    obj_model = keras.Model(
        network.autoencoder.inputs, network.training_model.get_layer("obj").output
    )
    obj = obj_model(inputs).numpy()
    _, patches = object_big.object_big_roundtrip(obj, inputs[1].astype(np.float64))
    from ptycho.probe import probe_mask

    ref = forward.forward_amplitude(
        np.moveaxis(patches, 3, 1), probe, smoothing_sigma=0.8, probe_mask=probe_mask(64)
    )
    _, amp_scaled, _ = network.autoencoder(inputs)
    ours = np.moveaxis(amp_scaled.numpy(), 3, 1) / 25.0
    assert np.max(np.abs(ours - ref)) / np.max(ref) < 1e-4


def test_trainable_flags_make_real_tracked_variables() -> None:
    """Probe and log-scale are add_weight variables, trainable exactly when configured."""
    probe = _probe(64)
    frozen = build_model(
        ModelConfig(),
        TrainingConfig(probe_trainable=False, intensity_scale_trainable=False),
        probe,
        30.0,
    )
    free = build_model(
        ModelConfig(),
        TrainingConfig(probe_trainable=True, intensity_scale_trainable=True),
        probe,
        30.0,
    )
    names = lambda vs: {v.path for v in vs}  # noqa: E731
    special = {
        "intensity_scale/log_intensity_scale",
        "probe_illumination/probe_real",
        "probe_illumination/probe_imag",
    }
    assert special <= names(frozen.weights)
    assert not special & names(frozen.trainable_variables)
    assert special <= names(free.trainable_variables)
    np.testing.assert_allclose(free.probe, probe, rtol=1e-6)
    assert free.intensity_scale == pytest.approx(30.0, rel=1e-6)


def test_two_models_in_one_process_are_independent() -> None:
    """No module-level singletons: different N / nphotons give separate variables."""
    a = build_model(ModelConfig(N=64, n_filters_scale=1), None, _probe(64), 10.0)
    b = build_model(ModelConfig(N=128, n_filters_scale=1), None, _probe(128), 99.0)
    c = build_model(ModelConfig(N=64, n_filters_scale=1), None, _probe(64), 55.0)
    assert (a.N, b.N) == (64, 128)
    assert a.intensity_scale == pytest.approx(10.0)
    assert b.intensity_scale == pytest.approx(99.0)
    assert c.intensity_scale == pytest.approx(55.0)
    c.scale_layer.log_intensity_scale.assign(np.log(7.0))
    assert a.intensity_scale == pytest.approx(10.0)
    assert a.probe_layer.probe_real is not c.probe_layer.probe_real


def test_custom_layers_round_trip_through_get_config() -> None:
    """Every custom layer rebuilds from its config (no code or arrays embedded)."""
    for layer in (
        L.IntensityScale(12.0, True, name="s"),
        L.ChannelSlice(None, -4),
        L.ScaledTanh(2.0),
        L.MaskMultiply("center"),
        L.ObjectBig(78),
        L.ProbeIllumination(64, probe_trainable=True, use_mask=True, smoothing_sigma=0.5),
    ):
        config = layer.get_config()
        clone = type(layer).from_config(config)
        assert clone.get_config() == config


def test_build_model_rejects_bad_arguments() -> None:
    """Clear errors: a probe of the wrong size, N=0, a non-positive intensity scale."""
    with pytest.raises(ValueError, match="probe must have shape"):
        build_model(ModelConfig(N=64), None, _probe(128), 30.0)
    with pytest.raises(ValueError, match="N"):
        build_model(ModelConfig(N=0), None, _probe(64), 30.0)
    with pytest.raises(ValueError, match="intensity scale"):
        build_model(ModelConfig(N=64), None, _probe(64), 0.0)


def test_keras_predict_accepts_float64_offsets_like_the_ptychodus_client() -> None:
    """diffraction_to_obj.predict([X*s, local_offsets]) with float64 offsets returns complex64."""
    network = build_model(ModelConfig(n_filters_scale=1), None, _probe(64), 30.0)
    x, pos = _inputs(5, 64, 1)
    out = network.diffraction_to_obj.predict([x, pos.astype(np.float64) * 0.0], verbose=0)
    assert out.shape == (5, 64, 64, 1) and out.dtype == np.complex64
