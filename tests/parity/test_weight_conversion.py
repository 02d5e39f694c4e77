"""Framework-free weight conversion (issue 5, design D6): names, layouts, archive readers, errors.

Nothing here imports TensorFlow or torch: Keras weight files are written with h5py in the Keras 3
layout and torch weights with ``safetensors.numpy``, exactly as the converter reads them.
"""

from __future__ import annotations

import io
from types import SimpleNamespace
from typing import Any

import h5py
import numpy as np
import pytest

from ptycho.archive import build_manifest, probe_to_bytes, read_archive, write_archive
from ptycho.backend import ModelBundle
from ptycho.config.config import ModelConfig, TrainingConfig
from ptycho.weights import (
    PARAMETER_NAMES,
    WEIGHT_NAMES_KEY,
    canonical_from_keras_path,
    canonical_from_torch_state,
    conv_parameter_count,
    convert_archive_bundle,
    convert_bundle,
    expected_weight_shapes,
    keras_weight_names,
    read_keras_weights,
    read_torch_weights,
    torch_key,
    torch_state_from_canonical,
    validate_weights,
    write_torch_weights,
)

SMALL = ModelConfig(N=64, gridsize=2, n_filters_scale=1, architecture="cnn")
UNET = ModelConfig(N=64, gridsize=2, n_filters_scale=1)


def _random_weights(config: ModelConfig, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        name: rng.normal(size=shape).astype(np.float32)
        for name, shape in expected_weight_shapes(config).items()
    }


@pytest.mark.parametrize(
    ("config", "count"),
    [
        (ModelConfig(N=64, n_filters_scale=2, architecture="cnn"), 2_331_772),
        (ModelConfig(N=64, n_filters_scale=2, probe_big=False, architecture="cnn"), 2_252_026),
        (ModelConfig(N=64, n_filters_scale=1, architecture="cnn"), 585_244),
        (ModelConfig(N=128, n_filters_scale=2, architecture="cnn"), 4_661_212),
        (ModelConfig(N=64, n_filters_scale=2), 1_796_834),
        (ModelConfig(N=256, n_filters_scale=2), 1_796_834),
    ],
)
def test_parameter_counts_equal_the_normative_architecture(config: ModelConfig, count: int) -> None:
    """Brief (network architecture, sanity numbers): canonical shapes give the stated counts."""
    assert conv_parameter_count(config) == count


def test_expected_shapes_cover_pad_object_false_and_gridsize() -> None:
    """Brief: pad_object=False puts border convs on all channels before ``out``; C_out = C."""
    config = ModelConfig(N=64, gridsize=2, pad_object=False, n_filters_scale=1, architecture="cnn")
    shapes = expected_weight_shapes(config)
    assert shapes["encoder_block1_conv1/kernel"] == (3, 3, 4, 32)
    assert shapes["decoder_amp_border_conv1/kernel"] == (3, 3, 32, 32)
    assert shapes["decoder_phase_out/kernel"] == (3, 3, 32, 4)
    assert "decoder_amp_border_out/kernel" not in shapes
    assert shapes["probe_real"] == (64, 64) and shapes["log_intensity_scale"] == ()


def test_torch_keys_follow_the_module_boundaries() -> None:
    """Issue 5: canonical names map to the torch state-dict keys documented in ptycho.weights."""
    assert torch_key("encoder_block1_conv1/kernel") == "encoder.block1.conv1.weight"
    assert torch_key("decoder_amp_block2_conv2/bias") == "decoder_amp.block2.conv2.bias"
    assert torch_key("decoder_phase_border_out/kernel") == "decoder_phase.border_out.weight"
    assert torch_key("decoder_amp_out/bias") == "decoder_amp.out.bias"
    assert torch_key("log_intensity_scale") == "log_intensity_scale"
    assert torch_key("unet_down2_conv1/kernel") == "unet.down2.conv1.weight"
    assert torch_key("unet_bottom_conv2/bias") == "unet.bottom.conv2.bias"
    assert torch_key("unet_up3_reduce/kernel") == "unet.up3.reduce.weight"
    assert torch_key("unet_phase_out/bias") == "unet.phase_out.bias"
    with pytest.raises(ValueError, match="not a canonical weight name"):
        torch_key("dense_1/kernel")
    with pytest.raises(ValueError, match="not a canonical weight name"):
        torch_key("unet_side_conv1/kernel")


@pytest.mark.parametrize("config", [SMALL, UNET], ids=["cnn", "backprop_unet"])
def test_torch_state_round_trip_transposes_kernels(config: ModelConfig) -> None:
    """D6: kernels are (k,k,in,out) canonically and (out,in,k,k) in torch; round trip exact."""
    weights = _random_weights(config)
    first = next(name for name in weights if name.endswith("/kernel"))
    state = torch_state_from_canonical(weights)
    assert set(state) == {torch_key(n) for n in weights}
    kernel = weights[first]
    np.testing.assert_array_equal(state[torch_key(first)], np.transpose(kernel, (3, 2, 0, 1)))
    assert state["log_intensity_scale"].shape == ()
    back = canonical_from_torch_state({f"net.{k}": v for k, v in state.items()})
    assert set(back) == set(weights)
    for name in weights:
        np.testing.assert_array_equal(back[name], weights[name])


def test_safetensors_blob_round_trip_without_torch() -> None:
    """D6: torch weights are read and written with safetensors.numpy (no torch import)."""
    weights = _random_weights(SMALL, seed=1)
    back = read_torch_weights(write_torch_weights(weights))
    for name in weights:
        np.testing.assert_array_equal(back[name], weights[name])
    with pytest.raises(ValueError, match="safetensors"):
        read_torch_weights(b"not a safetensors file")


class _Var:
    def __init__(self, path: str) -> None:
        self.path = path


def _layer(cls_name: str, name: str, variables: list[str]) -> Any:
    cls = type(cls_name, (), {})
    layer = cls()
    layer.name = name
    layer._trainable_variables = [_Var(f"{name}/{v}") for v in variables]
    layer._non_trainable_variables = []
    layer.weights = layer._trainable_variables
    return layer


def _fake_keras_model(config: ModelConfig) -> Any:
    """Duck-typed functional model: layer classes and order as the Keras backend builds them."""
    layers = [_layer("InputLayer", "input", []), _layer("IntensityScale", "intensity_scale", [])]
    layers[1]._non_trainable_variables = [_Var("intensity_scale/log_intensity_scale")]
    convs = [n.rsplit("/", 1)[0] for n in expected_weight_shapes(config) if n.endswith("/kernel")]
    # interleave amp/phase like Keras's topological order, with weightless layers in between
    for name in convs:
        layers.append(_layer("Conv2D", name, ["kernel", "bias"]))
        layers.append(_layer("UpSampling2D", f"{name}_up", []))
    probe = _layer("ProbeIllumination", "probe_illumination", [])
    probe._non_trainable_variables = [
        _Var("probe_illumination/probe_real"),
        _Var("probe_illumination/probe_imag"),
    ]
    layers.append(probe)
    return SimpleNamespace(layers=layers)


def _keras_h5(mapping: dict[str, str], weights: dict[str, np.ndarray]) -> bytes:
    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as handle:
        for path, variable in mapping.items():
            handle.create_dataset(path, data=weights[canonical_from_keras_path(variable)])
    return buffer.getvalue()


def test_keras_weights_are_read_with_h5py_from_the_name_map_or_the_path_list() -> None:
    """D6: a Keras 3 .weights.h5 (class-numbered groups) is read without Keras, by either map."""
    weights = _random_weights(SMALL, seed=2)
    model = _fake_keras_model(SMALL)
    mapping = keras_weight_names(model)
    assert mapping["layers/conv2d/vars/0"] == "encoder_block1_conv1/kernel"
    assert mapping["layers/conv2d_1/vars/1"] == "encoder_block1_conv2/bias"
    assert mapping["layers/intensity_scale/vars/0"] == "intensity_scale/log_intensity_scale"
    assert mapping["layers/probe_illumination/vars/1"] == "probe_illumination/probe_imag"
    blob = _keras_h5(mapping, weights)
    for names in (mapping, list(mapping.values())):
        got = read_keras_weights(blob, names)
        assert set(got) == set(weights)
        for name in weights:
            np.testing.assert_array_equal(got[name], weights[name])
    with pytest.raises(ValueError, match="does not match"):
        read_keras_weights(blob, {k: v for k, v in list(mapping.items())[1:]})


def _archive(
    tmp_path: Any,
    backend: str,
    config: ModelConfig,
    weights: dict[str, np.ndarray],
    *,
    with_names: bool = True,
) -> Any:
    probe = (weights["probe_real"] + 1j * weights["probe_imag"]).astype(np.complex64)
    bundle = ModelBundle(
        backend=backend,
        model_config=config,
        training_config=TrainingConfig(model=config, backend=backend),
        intensity_scale=float(np.exp(weights["log_intensity_scale"])),
        probe=probe,
        history={"loss": [3.0, 2.0], "val_loss": [3.5, 2.5]},
    )
    if backend == "pytorch":
        name, blob, extra = "weights.safetensors", write_torch_weights(weights), {}
    else:
        mapping = keras_weight_names(_fake_keras_model(config))
        name, blob = "weights.weights.h5", _keras_h5(mapping, weights)
        extra = {WEIGHT_NAMES_KEY: mapping} if with_names else {}
    manifest = build_manifest(bundle, name, extra=extra)
    path = tmp_path / f"{backend}.h5.zip"
    write_archive(path, manifest, {name: blob, "probe.npy": probe_to_bytes(probe)})
    return read_archive(path)


class _Recorder:
    """A stand-in backend API module that records what the converter hands it."""

    def __init__(self, backend: str, error: Exception | None = None) -> None:
        self.BACKEND = backend
        self.calls: list[tuple[Any, ...]] = []
        self.error = error

    def bundle_from_weights(
        self,
        model_config: ModelConfig,
        training_config: TrainingConfig | None,
        weights: dict[str, np.ndarray],
        probe: np.ndarray,
        scale: float,
    ) -> ModelBundle:
        self.calls.append((model_config, training_config, weights, probe, scale))
        if self.error is not None:
            raise self.error
        return ModelBundle(self.BACKEND, model_config, training_config, scale, probe, {}, None)

    def weights_of(self, bundle: ModelBundle) -> dict[str, np.ndarray]:
        return bundle.network


@pytest.mark.parametrize(
    ("source", "target"), [("pytorch", "tensorflow"), ("tensorflow", "pytorch")]
)
def test_convert_archive_hands_canonical_weights_configs_probe_and_scale_to_the_target(
    tmp_path: Any, source: str, target: str
) -> None:
    """Issue 5: an archive of one backend becomes the other's bundle with the same parameters."""
    weights = _random_weights(SMALL, seed=3)
    contents = _archive(tmp_path, source, SMALL, weights)
    recorder = _Recorder(target)
    bundle = convert_archive_bundle(contents, recorder)
    ((model_config, training_config, got, probe, scale),) = recorder.calls
    assert model_config == SMALL
    assert training_config.backend == target
    assert set(got) == set(weights)
    for name in weights:
        np.testing.assert_array_equal(got[name], weights[name])
    np.testing.assert_array_equal(probe, weights["probe_real"] + 1j * weights["probe_imag"])
    assert scale == pytest.approx(float(np.exp(weights["log_intensity_scale"])), rel=1e-6)
    assert bundle.backend == target
    assert bundle.history["loss"] == [3.0, 2.0]


def test_tensorflow_archive_without_weight_map_names_both_backends(tmp_path: Any) -> None:
    """Issue 5: an impossible conversion says which backends and what is missing."""
    contents = _archive(tmp_path, "tensorflow", SMALL, _random_weights(SMALL), with_names=False)
    with pytest.raises(ValueError, match="TensorFlow.*PyTorch.*weight_names"):
        convert_archive_bundle(contents, _Recorder("pytorch"))


def test_weights_that_do_not_fit_the_config_are_rejected_naming_both_backends(
    tmp_path: Any,
) -> None:
    """Issue 5: weights of another architecture than the manifest's config are not converted;
    weights far larger than that architecture needs are not even read (HARD-001)."""
    from ptycho.archive import ArchiveTooLargeError

    weights = _random_weights(ModelConfig(N=64, gridsize=2, n_filters_scale=2, architecture="cnn"))
    with pytest.raises(ArchiveTooLargeError, match="more than the .* bytes the model described"):
        _archive(tmp_path, "pytorch", SMALL, weights)
    weights = _random_weights(ModelConfig(N=64, gridsize=1, n_filters_scale=1, architecture="cnn"))
    contents = _archive(tmp_path, "pytorch", SMALL, weights)
    with pytest.raises(ValueError, match=r"PyTorch model to the TensorFlow backend.*shape"):
        convert_archive_bundle(contents, _Recorder("tensorflow"))
    unet = _archive(tmp_path, "pytorch", SMALL, _random_weights(UNET))
    with pytest.raises(ValueError, match=r"architecture='cnn'.*unexpected unet_amp_out"):
        convert_archive_bundle(unet, _Recorder("tensorflow"))


def test_a_feature_the_target_lacks_is_reported_with_both_backend_names(tmp_path: Any) -> None:
    """Issue 5: the target's refusal is re-raised naming both backends and the feature."""
    contents = _archive(tmp_path, "pytorch", SMALL, _random_weights(SMALL))
    target = _Recorder("tensorflow", error=NotImplementedError("probe_mask is not supported"))
    with pytest.raises(ValueError, match=r"PyTorch model to the TensorFlow backend: probe_mask"):
        convert_archive_bundle(contents, target)


def test_convert_bundle_in_memory_uses_weights_of_and_keeps_history() -> None:
    """Issue 5: a loaded bundle converts in memory through weights_of / bundle_from_weights."""
    weights = _random_weights(SMALL, seed=4)
    source = _Recorder("pytorch")
    bundle = ModelBundle(
        "pytorch",
        SMALL,
        TrainingConfig(model=SMALL, backend="pytorch"),
        2.0,
        np.ones((64, 64), np.complex64),
        {"loss": [1.0]},
        weights,
    )
    target = _Recorder("tensorflow")
    converted = convert_bundle(bundle, source, target)
    assert converted.backend == "tensorflow"
    assert converted.history == {"loss": [1.0]}
    assert target.calls[0][1].backend == "tensorflow"
    with pytest.raises(ValueError, match="not from tensorflow"):
        convert_bundle(bundle, target, source)


def test_validate_weights_lists_missing_and_unexpected_parameters() -> None:
    """Issue 5: a conversion check lists every problem at once."""
    weights = _random_weights(SMALL)
    del weights["decoder_amp_out/bias"]
    weights["extra/kernel"] = np.zeros((3, 3, 1, 1), np.float32)
    with pytest.raises(ValueError, match=r"missing decoder_amp_out/bias.*unexpected extra/kernel"):
        validate_weights(weights, SMALL, "tensorflow", "pytorch")
    assert set(PARAMETER_NAMES) <= set(expected_weight_shapes(SMALL))
