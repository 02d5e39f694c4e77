"""The plain network (ptycho_torch.network): normative architecture, names, shapes, parameters."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ptycho.config.config import ModelConfig, TrainingConfig
from ptycho.weights import expected_weight_shapes, torch_key
from ptycho_torch.network import (
    DiffractionToObject,
    PtychoPINNNet,
    build_model,
    conv_parameter_count,
)


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"architecture": "cnn"}, 2_331_772),
        ({"architecture": "cnn", "probe_big": False}, 2_252_026),
        ({"architecture": "cnn", "n_filters_scale": 1}, 585_244),
        ({"architecture": "cnn", "N": 128}, 4_661_212),
        ({}, 1_796_834),
        ({"N": 256, "gridsize": 2}, 1_800_296),
    ],
)
def test_conv_parameter_counts_equal_the_normative_numbers(kwargs, expected):
    """ARCH-012 sanity numbers (cnn, N=64, s_f=2, gridsize=1, probe_big, pad_object: 2,331,772;
    probe_big=False: 2,252,026; s_f=1: 585,244; N=128: 4,661,212) and ARCH-014 (backprop_unet:
    1,796,834 at gridsize 1; 1,800,296 at gridsize 2 for any N)."""
    net = PtychoPINNNet(ModelConfig(**kwargs), intensity_scale=1.0)
    assert conv_parameter_count(net) == expected


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"gridsize": 2},
        {"gridsize": 2, "probe_big": False},
        {"pad_object": False},
        {"object_big": False},
        {"N": 128, "n_filters_scale": 1},
    ],
)
def test_state_dict_names_and_shapes_match_the_shared_canonical_architecture(kwargs):
    """Weights convert one to one: every torch parameter is a canonical (Keras) weight with the
    same shape (kernels transposed), and nothing is missing (ptycho.weights)."""
    config = ModelConfig(n_filters_scale=kwargs.pop("n_filters_scale", 1), **kwargs)
    net = PtychoPINNNet(config, intensity_scale=1.0)
    state = net.state_dict()
    expected = expected_weight_shapes(config)
    assert sorted(state) == sorted(torch_key(name) for name in expected)
    for name, shape in expected.items():
        tensor = state[torch_key(name)]
        if name.endswith("/kernel"):
            assert tuple(tensor.permute(2, 3, 1, 0).shape) == shape
        else:
            assert tuple(tensor.shape) == shape


@pytest.mark.parametrize(("gridsize", "object_big"), [(1, True), (2, True), (1, False)])
def test_forward_shapes_and_dtypes(gridsize, object_big):
    """forward(s X (B, C, N, N), coords (B, 1, 2, C)) -> object (B, N, N) complex64, patches
    (B, C, N, N) complex64, predicted amplitude s A (B, C, N, N) float32 >= 0."""
    c = gridsize**2
    net = PtychoPINNNet(
        ModelConfig(gridsize=gridsize, n_filters_scale=1, object_big=object_big),
        probe=np.ones((64, 64), np.complex64),
        intensity_scale=5.0,
    )
    x = torch.rand(3, c, 64, 64)
    coords = torch.randn(3, 1, 2, c) if gridsize > 1 else torch.zeros(3, 1, 2, 1)
    out = net(x, coords)
    assert out.object.shape == (3, 64, 64) and out.object.dtype == torch.complex64
    assert out.patches.shape == (3, c, 64, 64) and out.patches.dtype == torch.complex64
    assert out.amplitude.shape == (3, c, 64, 64) and out.amplitude.dtype == torch.float32
    assert float(out.amplitude.detach().min()) >= 0.0


def test_wrong_input_shape_is_a_clear_error():
    """Channel-first input is required; a channel-last tensor names the expected layout."""
    net = PtychoPINNNet(ModelConfig(gridsize=2, n_filters_scale=1), intensity_scale=1.0)
    with pytest.raises(ValueError, match=r"\(B, 4, 64, 64\) \(channel-first"):
        net(torch.rand(2, 64, 64, 4), torch.zeros(2, 1, 2, 4))


def test_pad_object_output_is_zero_outside_the_centre_without_probe_big():
    """pad_object=True, probe_big=False: the decoders predict only the central N/2 square, so the
    amplitude is exactly zero outside it."""
    config = ModelConfig(n_filters_scale=1, probe_big=False, architecture="cnn")
    net = PtychoPINNNet(config, intensity_scale=1.0)
    obj, _ = net.objects(torch.rand(2, 1, 64, 64), torch.zeros(2, 1, 2, 1))
    mask = torch.ones(64, 64, dtype=torch.bool)
    mask[16:48, 16:48] = False
    assert float(obj.detach().abs()[:, mask].max()) == 0.0
    assert float(obj.detach().abs()[:, ~mask].min()) > 0.0


def test_backprop_unet_object_lives_in_the_centre_and_follows_the_probe():
    """ARCH-014: the U-Net predicts the central N/2 (zero outside), from the backprojection with
    the model's probe: another probe gives another object."""
    from ptycho.probe import normalize_probe
    from ptycho.simulation import simulate_probe

    disk = normalize_probe(simulate_probe(64, "disk"))
    net = PtychoPINNNet(ModelConfig(n_filters_scale=1), probe=disk, intensity_scale=1.0)
    x = torch.rand(2, 1, 64, 64) * 5
    obj, _ = net.objects(x, torch.zeros(2, 1, 2, 1))
    mask = torch.ones(64, 64, dtype=torch.bool)
    mask[16:48, 16:48] = False
    assert float(obj.detach().abs()[:, mask].max()) == 0.0
    assert float(obj.detach().abs()[:, ~mask].min()) > 0.0
    net.set_probe(normalize_probe(simulate_probe(64, "zone_plate")))
    other, _ = net.objects(x, torch.zeros(2, 1, 2, 1))
    assert float((other - obj).detach().abs().max()) > 1e-3


def test_trainable_flags_set_requires_grad_of_probe_and_scale():
    """probe_real/probe_imag and log_intensity_scale are real parameters whose requires_grad
    follows probe_trainable / intensity_scale_trainable."""
    off = PtychoPINNNet(ModelConfig(n_filters_scale=1), intensity_scale=2.0)
    assert not off.probe_real.requires_grad and not off.probe_imag.requires_grad
    assert off.log_intensity_scale.requires_grad
    on = PtychoPINNNet(
        ModelConfig(n_filters_scale=1),
        intensity_scale=2.0,
        probe_trainable=True,
        intensity_scale_trainable=False,
    )
    assert on.probe_real.requires_grad and on.probe_imag.requires_grad
    assert not on.log_intensity_scale.requires_grad
    assert float(on.intensity_scale) == pytest.approx(2.0)


def test_diffraction_to_object_wrapper_takes_the_keras_layout():
    """DiffractionToObject([X * s, offsets]) with channel-last X returns (B, N, N, 1) complex,
    equal to the network's object output."""
    net = PtychoPINNNet(ModelConfig(gridsize=2, n_filters_scale=1), intensity_scale=3.0).eval()
    x = np.random.default_rng(0).random((5, 64, 64, 4)).astype(np.float32)
    offsets = np.random.default_rng(1).normal(size=(5, 1, 2, 4)).astype(np.float32)
    out = DiffractionToObject(net).predict([x, offsets], batch_size=2)
    assert out.shape == (5, 64, 64, 1) and out.dtype == np.complex64
    with torch.no_grad():
        ref, _ = net.objects(torch.from_numpy(x).permute(0, 3, 1, 2), torch.from_numpy(offsets))
    np.testing.assert_allclose(out[..., 0], ref.numpy(), atol=1e-6)


def test_build_model_takes_the_tf_arguments_and_a_seed():
    """build_model(model_config, training_config, probe, intensity_scale, seed=...) as in
    ptycho.tf.network: the trainable flags come from the training config (None: both fixed), and
    a seed gives the same initial weights without touching torch's global generator."""
    model = ModelConfig(N=64, n_filters_scale=1)
    probe = np.ones((64, 64), np.complex64)
    training = TrainingConfig(probe_trainable=True, intensity_scale_trainable=False)
    state = torch.random.get_rng_state()
    first = build_model(model, training, probe, 2.0, seed=3)
    assert torch.equal(torch.random.get_rng_state(), state)
    second = build_model(model, training, probe, 2.0, seed=3)
    for a, b in zip(first.state_dict().values(), second.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    assert first.probe_real.requires_grad and not first.log_intensity_scale.requires_grad
    inference = build_model(model, None, probe, 2.0)
    assert not inference.probe_real.requires_grad
    assert not inference.log_intensity_scale.requires_grad
    assert float(inference.intensity_scale) == pytest.approx(2.0)
