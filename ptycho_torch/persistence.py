"""Saving and loading PyTorch models: ``wts.h5.zip`` archives and Lightning ``.ckpt`` files.

This module owns the torch side of design D6:

* :func:`save_bundle` writes the shared archive (:mod:`ptycho.archive`) with backend
  ``'pytorch'``, the network's state dict as ``weights.safetensors`` (tensors only; opening it
  never runs code), the probe as ``probe.npy`` and the full configs in the manifest. The write is
  atomic.
* :func:`load_bundle` reads such an archive (a TensorFlow archive raises
  :class:`ptycho.archive.BackendMismatchError` naming both backends) or a Lightning checkpoint
  (``torch.load(..., weights_only=True)``: no pickled code is executed).
* :func:`find_model_file` resolves a run directory to a model file: the newer of ``wts.h5.zip``
  and ``checkpoints/last.ckpt`` (logged, with the reason), else the newest
  ``checkpoints/best*.ckpt`` (HARD-012).

Every failure is a clear error: a truncated or corrupt file, a checkpoint without the configs, a
state dict that does not fit the configured network (the message lists the keys/shapes), and a
checkpoint of another configuration than the one requested (the message lists the fields).
"""

from __future__ import annotations

import logging
import os
import pickle
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ptycho.archive import build_manifest, probe_to_bytes, read_archive, write_archive
from ptycho.archive import find_model_file as find_run_model
from ptycho.backend import ModelBundle
from ptycho.config.config import ModelConfig, TrainingConfig, from_dict
from ptycho_torch.network import PtychoPINNNet
from ptycho_torch.stored_configs import config_differences, resolve_configs

__all__ = [
    "WEIGHTS_FILE",
    "bundle_from_state_dict",
    "find_model_file",
    "load_bundle",
    "load_checkpoint",
    "save_bundle",
    "state_dict_bytes",
]

logger = logging.getLogger(__name__)

#: Archive member holding the torch weights.
WEIGHTS_FILE = "weights.safetensors"
#: Key prefix of the network inside a Lightning checkpoint's state dict.
_NET_PREFIX = "net."


def state_dict_bytes(network: torch.nn.Module) -> bytes:
    """Serialise ``network``'s state dict with safetensors (contiguous CPU tensors)."""
    from safetensors.torch import save

    tensors = {k: v.detach().cpu().contiguous() for k, v in network.state_dict().items()}
    return save(tensors, metadata={"format": "pt", "producer": "ptychopinn"})


def save_bundle(
    bundle: ModelBundle, path: str | os.PathLike[str], extra: Mapping[str, Any] | None = None
) -> Path:
    """Write ``bundle`` as a ``wts.h5.zip`` archive (atomic; design D6).

    Parameters
    ----------
    bundle : ModelBundle
        A PyTorch bundle whose ``network`` is a :class:`~ptycho_torch.network.PtychoPINNNet`.
    path : path-like
        The archive file, or a directory (then ``<dir>/wts.h5.zip``).
    extra : mapping, optional
        More JSON-safe manifest entries (e.g. the pretrained model's recipe and evaluation).

    Returns
    -------
    Path
        The written archive.
    """
    if bundle.backend != "pytorch":
        raise ValueError(
            f"ptycho_torch.save_bundle writes PyTorch bundles, got a {bundle.backend} bundle; "
            "save it with that backend's save_bundle"
        )
    if not isinstance(bundle.network, torch.nn.Module):
        raise ValueError("bundle.network must be the trained torch.nn.Module")
    weights = state_dict_bytes(bundle.network)
    manifest = build_manifest(
        bundle,
        WEIGHTS_FILE,
        extra={
            "weights_format": "safetensors",
            "torch_version": torch.__version__,
            "state_dict_keys": sorted(bundle.network.state_dict().keys()),
            **(dict(extra) if extra else {}),
        },
    )
    return write_archive(
        path, manifest, {WEIGHTS_FILE: weights, "probe.npy": probe_to_bytes(bundle.probe)}
    )


def _load_weights(network: PtychoPINNNet, state: Mapping[str, torch.Tensor], source: str) -> None:
    """Strictly load ``state`` into ``network``; a mismatch lists the offending keys."""
    expected = network.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    shapes = [
        f"{k}: file {tuple(state[k].shape)} vs model {tuple(expected[k].shape)}"
        for k in expected
        if k in state and tuple(state[k].shape) != tuple(expected[k].shape)
    ]
    if missing or unexpected or shapes:
        parts = []
        if missing:
            parts.append(f"missing {missing[:8]}{' ...' if len(missing) > 8 else ''}")
        if unexpected:
            parts.append(f"unexpected {unexpected[:8]}{' ...' if len(unexpected) > 8 else ''}")
        if shapes:
            parts.append("shape mismatches " + "; ".join(shapes[:8]))
        raise ValueError(
            f"the weights in {source} do not fit the configured network ("
            + ", ".join(parts)
            + "); the file was written for another model configuration"
        )
    network.load_state_dict(dict(state), strict=True)


def bundle_from_state_dict(
    model_config: ModelConfig,
    training_config: TrainingConfig | None,
    state: Mapping[str, torch.Tensor],
    history: dict[str, list[float]] | None = None,
    source: str = "the weights",
) -> ModelBundle:
    """Build a network from configs, load ``state`` (strict) and wrap it in a bundle."""
    model_config.validate(require_n=True)
    probe_trainable = bool(training_config.probe_trainable) if training_config else False
    scale_trainable = bool(training_config.intensity_scale_trainable) if training_config else True
    net = PtychoPINNNet(
        model_config,
        intensity_scale=1.0,
        probe_trainable=probe_trainable,
        intensity_scale_trainable=scale_trainable,
    )
    _load_weights(net, state, source)
    net.eval()
    return ModelBundle(
        backend="pytorch",
        model_config=model_config,
        training_config=training_config,
        intensity_scale=float(net.intensity_scale.detach()),
        probe=net.probe.detach().numpy().astype(np.complex64),
        history=history or {},
        network=net,
    )


def _load_archive(path: Path) -> ModelBundle:
    from safetensors import SafetensorError
    from safetensors.torch import load

    contents = read_archive(path, expected_backend="pytorch")
    manifest = contents.manifest
    model_config = from_dict(ModelConfig, manifest["model_config"])
    training_dict = manifest.get("training_config")
    training_config = None
    if training_dict:
        training_dict = dict(training_dict)
        training_dict["model"] = model_config
        training_config = from_dict(TrainingConfig, training_dict)
    try:
        state = load(contents.weights)
    except (SafetensorError, ValueError, RuntimeError) as exc:
        raise ValueError(
            f"the weights in model archive {contents.path} are corrupt ({exc}); re-train or copy "
            "the archive again"
        ) from exc
    history = {k: [float(x) for x in v] for k, v in (manifest.get("history") or {}).items()}
    bundle = bundle_from_state_dict(
        model_config, training_config, state, history, source=str(contents.path)
    )
    stored_probe = contents.probe
    if stored_probe.shape == bundle.probe.shape and not np.allclose(stored_probe, bundle.probe):
        logger.warning("probe.npy differs from the probe in the weights; using the weights' probe")
    return bundle


def load_checkpoint(
    path: str | os.PathLike[str], model_config: ModelConfig | None = None
) -> ModelBundle:
    """Load a Lightning ``.ckpt`` written by this backend (weights only, no code execution).

    Parameters
    ----------
    path : path-like
        The checkpoint.
    model_config : ModelConfig, optional
        When given, the checkpoint's stored architecture must match it; otherwise a
        ``ValueError`` lists the differing fields.

    Raises
    ------
    FileNotFoundError
        No such file.
    ValueError
        Truncated/corrupt file, not a checkpoint of this backend, or a configuration mismatch.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, EOFError, pickle.UnpicklingError, zipfile.BadZipFile, ValueError) as exc:
        raise ValueError(
            f"checkpoint {path} is truncated or corrupt and cannot be read ({type(exc).__name__}: "
            f"{str(exc).splitlines()[0] if str(exc) else ''}); use another checkpoint (e.g. "
            "checkpoints/last.ckpt or the run's wts.h5.zip) or re-train"
        ) from exc
    if not isinstance(checkpoint, Mapping) or "state_dict" not in checkpoint:
        raise ValueError(f"{path} is not a Lightning checkpoint (no state_dict)")
    hparams = checkpoint.get("hyper_parameters") or {}
    if not hparams.get("model_config"):
        raise ValueError(
            f"checkpoint {path} does not record its model configuration (hyper_parameters "
            "model_config); it was not written by ptycho_torch and cannot be rebuilt"
        )
    stored_model, stored_training = resolve_configs(
        hparams["model_config"], hparams.get("data_config"), hparams.get("training_config")
    )
    if model_config is not None:
        diffs = config_differences(stored_model, model_config)
        if diffs:
            raise ValueError(
                f"checkpoint {path} was trained with another model configuration: "
                + "; ".join(diffs)
                + ". Use a matching configuration or let the checkpoint define it."
            )
    state = {
        k[len(_NET_PREFIX) :]: v
        for k, v in checkpoint["state_dict"].items()
        if k.startswith(_NET_PREFIX)
    }
    return bundle_from_state_dict(stored_model, stored_training, state, source=str(path))


def find_model_file(path: str | os.PathLike[str]) -> Path:
    """Resolve ``path`` to a model file: a file as is; in a run directory the newer of
    ``wts.h5.zip`` and ``checkpoints/last.ckpt`` (logged with the reason), else the newest
    ``checkpoints/best*.ckpt`` (:func:`ptycho.archive.find_model_file`, HARD-012).

    Raises
    ------
    FileNotFoundError
        Nothing found (the message lists what was tried).
    """
    return find_run_model(path, checkpoints=True)


def load_bundle(
    path: str | os.PathLike[str], model_config: ModelConfig | None = None
) -> ModelBundle:
    """Load a PyTorch model from an archive, a ``.ckpt`` or a run directory.

    Raises
    ------
    ptycho.archive.BackendMismatchError
        The archive was written by the TensorFlow backend.
    FileNotFoundError, ValueError
        See :func:`find_model_file`, :func:`load_checkpoint` and
        :func:`ptycho.archive.read_archive`.
    """
    file = find_model_file(path)
    if file.suffix == ".ckpt":
        return load_checkpoint(file, model_config)
    bundle = _load_archive(file)
    if model_config is not None:
        diffs = config_differences(bundle.model_config, model_config)
        if diffs:
            raise ValueError(
                f"model archive {file} was trained with another model configuration: "
                + "; ".join(diffs)
            )
    return bundle
