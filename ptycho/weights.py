"""Framework-free weight conversion between the TensorFlow and PyTorch backends (design D6).

Both backends build the same network layer for layer (the normative architecture of the common
brief), so a model trained with one can be run by the other. This module owns the **canonical
weights**: a ``dict[str, numpy.ndarray]`` with

- ``"<layer>/kernel"``: convolution kernel in the **Keras layout** ``(k, k, in, out)`` float32
  (k = 3, or 1 for the U-Net's ``reduce`` convolutions);
- ``"<layer>/bias"``: convolution bias ``(out,)`` float32;
- ``"log_intensity_scale"``: scalar ``()`` float32, ``log(s)``;
- ``"probe_real"``, ``"probe_imag"``: ``(N, N)`` float32, the normalised probe;

where ``<layer>`` is a normative layer name: ``encoder_block{i}_conv{1,2}``,
``decoder_{amp,phase}_block{i}_conv{1,2}``, ``decoder_{amp,phase}_out``,
``decoder_{amp,phase}_border_conv{1,2}`` and ``decoder_{amp,phase}_border_out`` (blocks numbered
from 1) for ``architecture="cnn"``, and ``unet_down{i}_conv{1,2}``, ``unet_bottom_conv{1,2}``,
``unet_up{i}_{reduce,conv1,conv2}``, ``unet_{amp,phase}_out`` for ``"backprop_unet"``
(:mod:`ptycho.network_layout`). :func:`expected_weight_shapes` lists the names and shapes for a
:class:`~ptycho.config.config.ModelConfig`.

Mapping to the backends:

============================================  ====================================================
canonical                                     backend
============================================  ====================================================
``encoder_block1_conv1/kernel`` (3,3,in,out)  Keras variable ``encoder_block1_conv1/kernel``;
                                              torch ``encoder.block1.conv1.weight`` (out,in,3,3)
                                              = kernel transposed ``(3, 2, 0, 1)``
``decoder_amp_border_out/bias``               Keras ``decoder_amp_border_out/bias``;
                                              torch ``decoder_amp.border_out.bias``
``log_intensity_scale``                       Keras ``intensity_scale/log_intensity_scale``;
                                              torch ``log_intensity_scale``
``probe_real`` / ``probe_imag``               Keras ``probe_illumination/probe_{real,imag}``;
                                              torch ``probe_real`` / ``probe_imag``
============================================  ====================================================

Torch state-dict keys are the canonical layer name with ``_`` replaced by ``.`` at the module
boundaries ``encoder.``, ``decoder_amp.``/``decoder_phase.``, ``block{i}.`` and ``conv{k}``
(see :func:`torch_key`).

Archive members are read without TensorFlow or torch: the Keras ``.weights.h5`` with ``h5py`` and
the torch ``.safetensors`` with ``safetensors.numpy``. A Keras weights file addresses layers by
class-derived names (``layers/conv2d_7/vars/0``), not by layer names, so a TensorFlow archive
carries the map from those paths to Keras variable paths in ``manifest["weight_names"]``
(written with :func:`keras_weight_names`).

:func:`convert_archive_bundle` builds the other backend's :class:`~ptycho.backend.ModelBundle`
from an archive through the backend's ``bundle_from_weights`` (shared backend contract);
:func:`convert_bundle` converts a loaded bundle in memory through ``weights_of``.
"""

from __future__ import annotations

import dataclasses
import io
import logging
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from ptycho.array_types import AnyArray, ComplexArray

if TYPE_CHECKING:
    from ptycho.archive import ArchiveContents
    from ptycho.backend import BackendAPI, ModelBundle
    from ptycho.config.config import ModelConfig, TrainingConfig

__all__ = [
    "PARAMETER_NAMES",
    "WEIGHT_NAMES_KEY",
    "backend_name_of",
    "canonical_from_keras_path",
    "canonical_from_torch_state",
    "conv_parameter_count",
    "convert_archive_bundle",
    "convert_bundle",
    "expected_weight_shapes",
    "keras_weight_names",
    "read_archive_weights",
    "read_keras_weights",
    "read_torch_weights",
    "resized_bundle",
    "torch_key",
    "torch_state_from_canonical",
    "validate_weights",
    "write_torch_weights",
]

logger = logging.getLogger(__name__)

#: The non-convolution parameters (same names in both backends).
PARAMETER_NAMES: tuple[str, ...] = ("log_intensity_scale", "probe_real", "probe_imag")
#: Manifest key of a TensorFlow archive: Keras weights-file path -> Keras variable path.
WEIGHT_NAMES_KEY = "weight_names"

_LABELS = {"tensorflow": "TensorFlow", "pytorch": "PyTorch"}
# torch module boundaries inside a canonical layer name
_TORCH_PATTERN = re.compile(
    r"^(encoder|decoder_amp|decoder_phase)_(block\d+_conv\d|out|border_conv\d|border_out)$"
)
_TORCH_UNET_PATTERN = re.compile(
    r"^unet_(?:(down\d+|up\d+|bottom)_(conv\d|reduce)|(amp_out|phase_out))$"
)


def _label(backend: str) -> str:
    return _LABELS.get(backend, backend)


# ------------------------------------------------------------------------------------------------
# The normative architecture's parameters
# ------------------------------------------------------------------------------------------------


def expected_weight_shapes(model_config: ModelConfig) -> dict[str, tuple[int, ...]]:
    """Canonical names and shapes of every parameter of the network for ``model_config``.

    Parameters
    ----------
    model_config : ModelConfig
        ``N`` must be 64, 128 or 256.

    Returns
    -------
    dict[str, tuple[int, ...]]
        Kernels ``(k, k, in, out)``, biases ``(out,)``, ``log_intensity_scale`` ``()``,
        ``probe_real``/``probe_imag`` ``(N, N)``.

    Raises
    ------
    ValueError
        For an unsupported ``N``.
    """
    from ptycho.network_layout import SUPPORTED_N, conv_specs

    n = int(model_config.N)
    if n not in SUPPORTED_N:
        raise ValueError(f"N must be one of 64, 128, 256 to describe the network, got {n}")
    shapes: dict[str, tuple[int, ...]] = {}
    for spec in conv_specs(model_config):
        shapes[f"{spec.name}/kernel"] = spec.kernel_shape
        shapes[f"{spec.name}/bias"] = (spec.cout,)
    shapes["log_intensity_scale"] = ()
    shapes["probe_real"] = (n, n)
    shapes["probe_imag"] = (n, n)
    return shapes


def conv_parameter_count(model_config: ModelConfig) -> int:
    """Number of convolution weights and biases of the network (excludes scale and probe)."""
    return int(
        sum(
            int(np.prod(shape))
            for name, shape in expected_weight_shapes(model_config).items()
            if name not in PARAMETER_NAMES
        )
    )


def validate_weights(
    weights: Mapping[str, AnyArray],
    model_config: ModelConfig,
    source: str = "source",
    target: str = "target",
    *,
    context: str | None = None,
) -> None:
    """Check that ``weights`` holds exactly the parameters of ``model_config``'s network.

    The message starts with ``context`` when given, else says which conversion failed
    (``source`` -> ``target`` backend).

    Raises
    ------
    ValueError
        Listing missing, unexpected and mis-shaped parameters, naming both backends.
    """
    expected = expected_weight_shapes(model_config)
    problems = []
    missing = sorted(set(expected) - set(weights))
    extra = sorted(set(weights) - set(expected))
    if missing:
        problems.append("missing " + ", ".join(missing))
    if extra:
        problems.append("unexpected " + ", ".join(extra))
    for name in sorted(set(expected) & set(weights)):
        shape = tuple(np.shape(weights[name]))
        if shape != expected[name]:
            problems.append(f"{name} has shape {shape}, expected {expected[name]}")
    if problems:
        what = context or (
            f"cannot convert the {_label(source)} model to the {_label(target)} backend"
        )
        raise ValueError(
            f"{what}: its weights do not match the architecture of its config "
            f"(architecture={model_config.architecture!r}, N={model_config.N}, "
            f"gridsize={model_config.gridsize}, n_filters_scale={model_config.n_filters_scale}, "
            f"object_big={model_config.object_big}, probe_big={model_config.probe_big}, "
            f"pad_object={model_config.pad_object}): " + "; ".join(problems)
        )


# ------------------------------------------------------------------------------------------------
# Keras
# ------------------------------------------------------------------------------------------------


def canonical_from_keras_path(path: str) -> str:
    """Canonical name of a Keras variable path.

    ``'encoder_block1_conv1/kernel'`` -> itself; ``'intensity_scale/log_intensity_scale'`` ->
    ``'log_intensity_scale'``; ``'probe_illumination/probe_real'`` -> ``'probe_real'``.
    """
    leaf = path.rsplit("/", 1)[-1]
    if leaf in PARAMETER_NAMES:
        return leaf
    return path


def _snake_case(name: str) -> str:
    """Keras 3's ``naming.to_snake_case`` (the weights-file name of a layer class)."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


class _KerasVariable(Protocol):
    @property
    def path(self) -> str: ...


class _KerasLayer(Protocol):
    @property
    def weights(self) -> Sequence[_KerasVariable]: ...


class KerasLayered(Protocol):
    """What :func:`keras_weight_names` reads of a ``keras.Model`` (the core never imports
    Keras): its layers, each with its variables and their paths."""

    @property
    def layers(self) -> Sequence[_KerasLayer]:
        """The model's layers, in order."""
        ...


def keras_weight_names(model: KerasLayered) -> dict[str, str]:
    """Map the dataset paths of ``model.save_weights(...)`` to Keras variable paths.

    Keras 3 names the layers in a ``.weights.h5`` file by their class (``conv2d``,
    ``conv2d_1``, ... in the order of ``model.layers``) and their variables by position
    (``vars/0`` = trainable variables first, then non-trainable, in creation order). This
    function reproduces that rule so the file can be read without Keras; the TensorFlow backend
    stores the result in ``manifest["weight_names"]``. It only inspects attributes, so it does
    not import Keras.

    Parameters
    ----------
    model : keras.Model
        The functional model whose ``save_weights`` wrote the file.

    Returns
    -------
    dict[str, str]
        ``{'layers/conv2d/vars/0': 'encoder_block1_conv1/kernel', ...}``.
    """
    used: dict[str, int] = {}
    names: dict[str, str] = {}
    for layer in model.layers:
        base = _snake_case(type(layer).__name__)
        if base in used:
            used[base] += 1
            key = f"{base}_{used[base]}"
        else:
            used[base] = 0
            key = base
        trainable = list(getattr(layer, "_trainable_variables", []))
        frozen = list(getattr(layer, "_non_trainable_variables", []))
        variables = trainable + frozen if (trainable or frozen) else list(layer.weights)
        for i, variable in enumerate(variables):
            names[f"layers/{key}/vars/{i}"] = str(variable.path)
    return names


def _keras_map_from_paths(paths: Sequence[str], datasets: Mapping[str, AnyArray]) -> dict[str, str]:
    """Dataset path -> variable path from the variable paths in ``model.weights`` order.

    ``model.weights`` lists the layers in ``model.layers`` order, each layer's variables in the
    order Keras saves them, so the k-th convolution's variables are ``layers/conv2d_k/vars/*``.
    Other layers are found under their own name (``intensity_scale``,
    ``probe_illumination``: their class names in snake case) or, failing that, as the only
    non-convolution group with the same number and shapes of variables.
    """
    layers: list[tuple[str, list[str]]] = []
    for path in paths:
        prefix = path.rsplit("/", 1)[0] if "/" in path else path
        if layers and layers[-1][0] == prefix:
            layers[-1][1].append(path)
        else:
            layers.append((prefix, [path]))
    groups: dict[str, list[str]] = {}
    for name in datasets:
        parts = name.split("/")
        if len(parts) == 4 and parts[0] == "layers" and parts[2] == "vars":
            groups.setdefault(parts[1], []).append(name)
    mapping: dict[str, str] = {}
    conv_index = 0
    for prefix, variables in layers:
        leaves = {v.rsplit("/", 1)[-1] for v in variables}
        if leaves <= {"kernel", "bias"}:
            group = "conv2d" if conv_index == 0 else f"conv2d_{conv_index}"
            conv_index += 1
        elif prefix in groups and not prefix.startswith("conv2d"):
            group = prefix
        else:
            want = sorted(len(np.shape(v)) for v in variables)
            candidates = [
                g
                for g, members in groups.items()
                if not g.startswith("conv2d") and len(members) == len(variables)
            ]
            if len(candidates) != 1:
                raise ValueError(
                    f"cannot locate layer {prefix!r} ({len(variables)} variables, ranks {want}) "
                    "in the Keras weights file"
                )
            group = candidates[0]
        for i, variable in enumerate(variables):
            mapping[f"layers/{group}/vars/{i}"] = variable
    return mapping


def read_keras_weights(
    data: bytes, weight_names: Mapping[str, str] | Sequence[str]
) -> dict[str, AnyArray]:
    """Read a Keras ``.weights.h5`` (bytes) into canonical weights, with ``h5py`` only.

    Parameters
    ----------
    data : bytes
        The weights file.
    weight_names : Mapping[str, str] or Sequence[str]
        Either the map dataset path -> Keras variable path (:func:`keras_weight_names`), or the
        Keras variable paths in ``model.weights`` order (from which the map is derived).

    Returns
    -------
    dict[str, ndarray]
        Canonical weights (Keras layout, float32).

    Raises
    ------
    ValueError
        When the file is unreadable or the names do not match its datasets.
    """
    import h5py

    try:
        with h5py.File(io.BytesIO(data), "r") as handle:
            datasets: dict[str, AnyArray] = {}

            def visit(name: str, obj: object) -> None:
                if isinstance(obj, h5py.Dataset):
                    datasets[name] = np.asarray(obj[()])

            handle.visititems(visit)
    except OSError as exc:
        raise ValueError(
            f"the Keras weights file is unreadable ({exc}); re-save the model"
        ) from exc
    if isinstance(weight_names, Mapping):
        mapping = {str(k): str(v) for k, v in weight_names.items()}
    else:
        mapping = _keras_map_from_paths([str(p) for p in weight_names], datasets)
    unmapped = sorted(set(datasets) - set(mapping))
    absent = sorted(set(mapping) - set(datasets))
    if unmapped or absent:
        raise ValueError(
            "the Keras weights file does not match the archive's weight names "
            f"(datasets without a name: {unmapped or 'none'}; names without a dataset: "
            f"{absent or 'none'}); re-save the model with this version of ptychopinn"
        )
    out: dict[str, AnyArray] = {}
    for path, variable in mapping.items():
        out[canonical_from_keras_path(variable)] = np.asarray(datasets[path], dtype=np.float32)
    return out


# ------------------------------------------------------------------------------------------------
# torch
# ------------------------------------------------------------------------------------------------


def torch_key(name: str) -> str:
    """Torch state-dict key of a canonical name.

    ``'encoder_block1_conv1/kernel'`` -> ``'encoder.block1.conv1.weight'``;
    ``'decoder_amp_border_out/bias'`` -> ``'decoder_amp.border_out.bias'``;
    ``'unet_down1_conv1/kernel'`` -> ``'unet.down1.conv1.weight'``;
    ``'unet_amp_out/bias'`` -> ``'unet.amp_out.bias'``;
    ``'probe_real'`` -> ``'probe_real'``.

    Raises
    ------
    ValueError
        For a name that is not canonical.
    """
    if name in PARAMETER_NAMES:
        return name
    layer, _, variable = name.partition("/")
    leaf = "weight" if variable == "kernel" else "bias"
    unet = _TORCH_UNET_PATTERN.match(layer)
    if unet is not None and variable in ("kernel", "bias"):
        level, conv, head = unet.groups()
        return f"unet.{level}.{conv}.{leaf}" if head is None else f"unet.{head}.{leaf}"
    match = _TORCH_PATTERN.match(layer)
    if match is None or variable not in ("kernel", "bias"):
        raise ValueError(
            f"{name!r} is not a canonical weight name (e.g. 'encoder_block1_conv1/kernel')"
        )
    module, rest = match.groups()
    block = re.match(r"^(block\d+)_(conv\d)$", rest)
    path = f"{module}.{block.group(1)}.{block.group(2)}" if block else f"{module}.{rest}"
    return f"{path}.{'weight' if variable == 'kernel' else 'bias'}"


def _canonical_of_torch_key(key: str) -> str:
    if key in PARAMETER_NAMES:
        return key
    path, _, leaf = key.rpartition(".")
    if leaf not in ("weight", "bias") or not path:
        raise ValueError(f"unexpected torch parameter {key!r}")
    name = f"{path.replace('.', '_')}/{'kernel' if leaf == 'weight' else 'bias'}"
    if torch_key(name) != key:
        raise ValueError(f"unexpected torch parameter {key!r}")
    return name


def canonical_from_torch_state(state: Mapping[str, Any]) -> dict[str, AnyArray]:
    """Canonical weights from a torch state dict (tensors or arrays; ``net.`` prefixes allowed).

    Conv weights ``(out, in, k, k)`` become kernels ``(k, k, in, out)``.
    """
    out: dict[str, AnyArray] = {}
    for key, value in state.items():
        bare = key
        for prefix in ("net.", "model.", "module."):
            if bare.startswith(prefix):
                bare = bare[len(prefix) :]
        array = value.detach().cpu().numpy() if hasattr(value, "detach") else np.asarray(value)
        name = _canonical_of_torch_key(bare)
        if name.endswith("/kernel"):
            array = np.transpose(array, (2, 3, 1, 0))
        out[name] = np.array(array, dtype=np.float32, order="C")
    return out


def torch_state_from_canonical(weights: Mapping[str, AnyArray]) -> dict[str, AnyArray]:
    """Torch state-dict arrays (keys of :func:`torch_key`, conv weights ``(out, in, k, k)``)."""
    out: dict[str, AnyArray] = {}
    for name, value in weights.items():
        array = np.asarray(value, dtype=np.float32)
        if name.endswith("/kernel"):
            array = np.transpose(array, (3, 2, 0, 1))
        out[torch_key(name)] = np.array(array, dtype=np.float32, order="C")
    return out


def read_torch_weights(data: bytes) -> dict[str, AnyArray]:
    """Read a torch ``safetensors`` member (bytes) into canonical weights (no torch needed)."""
    from safetensors import SafetensorError
    from safetensors.numpy import load

    try:
        state = load(data)
    except (SafetensorError, ValueError) as exc:
        raise ValueError(
            f"the torch weights (safetensors) are unreadable ({exc}); re-save the model"
        ) from exc
    return canonical_from_torch_state(state)


def write_torch_weights(weights: Mapping[str, AnyArray]) -> bytes:
    """Serialise canonical weights as a torch ``safetensors`` blob (no torch needed)."""
    from safetensors.numpy import save

    return save(torch_state_from_canonical(weights))


# ------------------------------------------------------------------------------------------------
# Archives and bundles
# ------------------------------------------------------------------------------------------------


def read_archive_weights(contents: ArchiveContents) -> dict[str, AnyArray]:
    """Canonical weights of an archive of either backend.

    Raises
    ------
    ValueError
        When the weights member cannot be read or (TensorFlow) the manifest lacks
        ``weight_names``.
    """
    backend = contents.backend
    weights_file = str(contents.manifest["weights_file"])
    if backend == "tensorflow" or weights_file.endswith(".h5"):
        names = contents.manifest.get(WEIGHT_NAMES_KEY)
        if not isinstance(names, (Mapping, list)) or not names:
            raise ValueError(
                f"the TensorFlow archive {contents.path} cannot be converted for the PyTorch "
                f"backend: its manifest has no '{WEIGHT_NAMES_KEY}' map of the Keras weights "
                "file; re-save it with this version of ptychopinn, or load it with the "
                "tensorflow backend"
            )
        return read_keras_weights(contents.weights, names)
    if weights_file.endswith(".safetensors"):
        return read_torch_weights(contents.weights)
    raise ValueError(
        f"archive {contents.path}: weights member {weights_file!r} has an unknown format "
        "(expected .weights.h5 or .safetensors)"
    )


def backend_name_of(api: BackendAPI) -> str:
    """Backend name (``'tensorflow'``/``'pytorch'``) of a backend API module (its ``BACKEND``)."""
    return api.BACKEND


def _configs_from_manifest(
    manifest: Mapping[str, Any], source: str, target: str
) -> tuple[ModelConfig, TrainingConfig | None]:
    from ptycho.config.config import ModelConfig, TrainingConfig, from_dict

    try:
        model_config = from_dict(ModelConfig, manifest["model_config"])
        training = manifest.get("training_config")
        training_config = None
        if training:
            training = dict(training)
            training["backend"] = target
            training_config = from_dict(TrainingConfig, training)
    except (ValueError, TypeError) as exc:
        raise ValueError(
            f"cannot convert the {_label(source)} archive for the {_label(target)} backend: its "
            f"configuration is not understood by this ptychopinn ({exc})"
        ) from exc
    return model_config, training_config


def _build(
    target: BackendAPI,
    target_name: str,
    source: str,
    model_config: ModelConfig,
    training_config: TrainingConfig | None,
    weights: dict[str, AnyArray],
    probe: ComplexArray,
    scale: float,
) -> ModelBundle:
    validate_weights(weights, model_config, source, target_name)
    try:
        return target.bundle_from_weights(model_config, training_config, weights, probe, scale)
    except (ValueError, NotImplementedError) as exc:
        raise ValueError(
            f"cannot convert the {_label(source)} model to the {_label(target_name)} backend: {exc}"
        ) from exc


def convert_archive_bundle(contents: ArchiveContents, target: BackendAPI) -> ModelBundle:
    """Build ``target``'s bundle from an archive written by the other backend.

    The canonical weights are read framework-free (:func:`read_archive_weights`), checked
    against the manifest's model config, and handed with the configs, the archived probe and
    intensity scale to ``target.bundle_from_weights``. The archive's history is kept.

    Parameters
    ----------
    contents : ArchiveContents
        From :func:`ptycho.archive.read_archive`.
    target : BackendAPI
        The target backend's API module (:func:`ptycho.workflows.registry.get_backend`).

    Returns
    -------
    ModelBundle
        ``backend`` = the target backend.

    Raises
    ------
    ValueError
        The archive cannot be converted (missing weight map, weights that do not match the
        config, a feature the target backend lacks); the message names both backends.
    """
    target_name = backend_name_of(target)
    source = contents.backend
    manifest = contents.manifest
    model_config, training_config = _configs_from_manifest(manifest, source, target_name)
    weights = read_archive_weights(contents)
    probe = contents.probe
    scale = float(manifest["intensity_scale"])
    if "log_intensity_scale" in weights:
        stored = float(np.exp(np.float64(weights["log_intensity_scale"])))
        if not np.isclose(stored, scale, rtol=1e-5):
            logger.warning(
                "archive %s: manifest intensity_scale %.6g differs from exp(log_intensity_scale) "
                "%.6g; using the weight",
                contents.path,
                scale,
                stored,
            )
            scale = stored
    bundle = _build(
        target, target_name, source, model_config, training_config, weights, probe, scale
    )
    history = manifest.get("history") or {}
    if not bundle.history and history:
        bundle.history = {str(k): [float(v) for v in vals] for k, vals in history.items()}
    logger.info("converted %s archive %s for the %s backend", source, contents.path, target_name)
    return bundle


def convert_bundle(bundle: ModelBundle, source: BackendAPI, target: BackendAPI) -> ModelBundle:
    """Convert a loaded bundle to another backend in memory.

    Parameters
    ----------
    bundle : ModelBundle
        A bundle of ``source``'s backend.
    source, target : BackendAPI
        Backend API modules (:func:`ptycho.workflows.registry.get_backend`).

    Returns
    -------
    ModelBundle
        The same model (weights, probe, intensity scale, configs, history) in ``target``.
    """
    source_name = backend_name_of(source)
    target_name = backend_name_of(target)
    if bundle.backend != source_name:
        raise ValueError(f"the bundle is from the {bundle.backend} backend, not from {source_name}")
    weights = {k: np.asarray(v, dtype=np.float32) for k, v in source.weights_of(bundle).items()}
    training_config = bundle.training_config
    if training_config is not None:
        training_config = dataclasses.replace(training_config, backend=target_name)
    converted = _build(
        target,
        target_name,
        source_name,
        bundle.model_config,
        training_config,
        weights,
        np.asarray(bundle.probe, dtype=np.complex64),
        float(bundle.intensity_scale),
    )
    if not converted.history:
        converted.history = {k: list(v) for k, v in bundle.history.items()}
    return converted


def resized_bundle(
    bundle: ModelBundle, N: int, probe: ComplexArray, api: BackendAPI
) -> ModelBundle:
    """The same ``backprop_unet`` model, rebuilt for ``N x N`` patterns (ARCH-014).

    The U-Net's layer shapes do not depend on ``N`` (:mod:`ptycho.network_layout`), so its
    weights run unchanged at another pattern size; only the probe (``(N, N)``, normalised) and the
    group canvas change. A ``cnn`` model's layers do depend on ``N``, so it cannot be resized.

    Parameters
    ----------
    bundle : ModelBundle
        A loaded model of ``api``'s backend.
    N : int
        The new pattern size (64, 128 or 256).
    probe : (N, N) complex
        The normalised probe for the new size (the scan's own).
    api : module
        The bundle's backend API (``weights_of``, ``bundle_from_weights``).

    Raises
    ------
    ValueError
        For a ``cnn`` model, or an ``N`` the network does not support.
    """
    model = bundle.model_config
    if int(N) == model.N:
        return bundle
    if model.architecture != "backprop_unet":
        raise ValueError(
            f"the scan's diffraction patterns are {N}x{N} but the model was trained with "
            f"N={model.N}, and its architecture {model.architecture!r} depends on N; use a "
            f"model trained on {N}x{N} patterns (backprop_unet models run at any N)"
        )
    new_model = dataclasses.replace(model, N=int(N))
    new_model.validate(require_n=True)
    training = bundle.training_config
    if training is not None:
        training = dataclasses.replace(training, model=new_model)
    weights = {
        k: np.asarray(v, dtype=np.float32)
        for k, v in api.weights_of(bundle).items()
        if k not in ("probe_real", "probe_imag")
    }
    logger.info("running the N=%d backprop_unet model at N=%d (same weights)", model.N, N)
    resized: ModelBundle = api.bundle_from_weights(
        new_model, training, weights, np.asarray(probe, dtype=np.complex64), bundle.intensity_scale
    )
    resized.history = {k: list(v) for k, v in bundle.history.items()}
    return resized
