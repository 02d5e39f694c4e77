"""The archive manifest: building it, and checking every value a loader uses (HARD-002).

``manifest.json`` holds the format version, backend, model type, the full model and training
configs, ``N``, ``gridsize``, intensity scale, the names of the other members and a training
summary. It is JSON, so reading it executes nothing; :func:`validate_manifest` checks it key by
key, and :class:`ManifestError` names the archive, the key, the value and what was expected.
"""

from __future__ import annotations

import math
import numbers
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ptycho.archive.layout import ARCHIVE_FORMAT_VERSION, PROBE_NAME, READABLE_VERSIONS
from ptycho.backend import BACKENDS

if TYPE_CHECKING:
    from ptycho.backend import ModelBundle
    from ptycho.config.config import ModelConfig, TrainingConfig

__all__ = [
    "ManifestError",
    "build_manifest",
    "check_manifest",
    "upgrade_manifest",
    "validate_manifest",
]

_REQUIRED_MANIFEST_KEYS = (
    "format_version",
    "backend",
    "model_type",
    "model_config",
    "N",
    "gridsize",
    "intensity_scale",
    "weights_file",
    "probe_file",
)

_VALUE_SHOWN = 80


class ManifestError(ValueError):
    """A manifest value of the wrong type or out of range (HARD-002).

    Attributes
    ----------
    archive : str
        The archive (or ``'manifest to write'``).
    key : str
        The manifest key, dotted for nested values (``model_config``, ``history.loss``).
    value : Any
        The offending value.
    expected : str
        What the key must hold.
    """

    def __init__(self, archive: str, key: str, value: Any, expected: str) -> None:
        shown = repr(value)
        if len(shown) > _VALUE_SHOWN:
            shown = shown[: _VALUE_SHOWN - 3] + "..."
        super().__init__(
            f"model archive {archive}: manifest key {key!r} is {shown} but must be {expected}; "
            "the archive is damaged or was not written by ptychopinn: re-train or copy it again"
        )
        self.archive = archive
        self.key = key
        self.value = value
        self.expected = expected


def build_manifest(
    bundle: ModelBundle, weights_file: str, extra: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Build the manifest for ``bundle`` (configs serialised with ``to_dict``)."""
    from ptycho import __version__
    from ptycho.config.config import to_dict

    history = bundle.history or {}
    summary: dict[str, Any] = {"epochs": len(history.get("loss", []))}
    for key in ("loss", "val_loss"):
        values = history.get(key) or []
        if values:
            summary[f"final_{key}"] = float(values[-1])
    manifest: dict[str, Any] = {
        "format_version": ARCHIVE_FORMAT_VERSION,
        "backend": bundle.backend,
        "model_type": bundle.model_config.model_type,
        "model_config": to_dict(bundle.model_config),
        "training_config": (
            to_dict(bundle.training_config) if bundle.training_config is not None else None
        ),
        "N": int(bundle.model_config.N),
        "gridsize": int(bundle.model_config.gridsize),
        "intensity_scale": float(bundle.intensity_scale),
        "weights_file": weights_file,
        "probe_file": PROBE_NAME,
        "history": {k: [float(v) for v in vals] for k, vals in history.items()},
        "training_summary": summary,
        "ptychopinn_version": __version__,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    if extra:
        manifest.update(extra)
    return manifest


def upgrade_manifest(manifest: dict[str, Any]) -> None:
    """Bring an older manifest to the current layout in place (version 1: ``cnn`` networks)."""
    if manifest["format_version"] == 1 and isinstance(manifest.get("model_config"), dict):
        manifest["model_config"].setdefault("architecture", "cnn")
        training = manifest.get("training_config")
        if isinstance(training, dict) and isinstance(training.get("model"), dict):
            training["model"].setdefault("architecture", "cnn")
        manifest["format_version"] = ARCHIVE_FORMAT_VERSION


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def check_manifest(manifest: dict[str, Any], source: str) -> None:
    """Check the required keys, the format version and the backend (before any upgrade).

    Raises
    ------
    ValueError
        A missing key, an unreadable format version or an unknown backend; ``source`` names
        the archive.
    """
    missing = [key for key in _REQUIRED_MANIFEST_KEYS if key not in manifest]
    if missing:
        raise ValueError(f"{source}: manifest lacks required keys {missing}")
    version = manifest["format_version"]
    if not _is_int(version) or version not in READABLE_VERSIONS:
        raise ValueError(
            f"{source}: archive format version {version!r} is not supported (this ptychopinn "
            f"reads versions {', '.join(map(str, READABLE_VERSIONS))}); upgrade ptychopinn or "
            "re-train"
        )
    backend = manifest["backend"]
    if not isinstance(backend, str) or backend not in BACKENDS:
        raise ValueError(
            f"{source}: unknown backend {backend!r} in manifest "
            f"(expected one of {', '.join(BACKENDS)})"
        )


def validate_manifest(
    manifest: Mapping[str, Any], source: str
) -> tuple[ModelConfig, TrainingConfig | None]:
    """Check every manifest value a loader uses; return the model and training configs.

    Parameters
    ----------
    manifest : mapping
        A manifest that passed the required-keys, version and backend checks (and was upgraded
        to the current format version).
    source : str
        The archive, for messages.

    Raises
    ------
    ManifestError
        Naming the key, the value and what it must be (HARD-002).
    """
    from ptycho.config.config import MODEL_TYPES, ModelConfig, TrainingConfig, from_dict

    model_dict = manifest["model_config"]
    if not isinstance(model_dict, Mapping):
        raise ManifestError(source, "model_config", model_dict, "an object of ModelConfig fields")
    try:
        model_config = from_dict(ModelConfig, model_dict)
        model_config.validate(require_n=True)
    except (TypeError, ValueError) as exc:
        raise _config_error(source, "model_config", model_dict, exc) from None
    if not isinstance(manifest["model_type"], str) or manifest["model_type"] not in MODEL_TYPES:
        raise ManifestError(
            source, "model_type", manifest["model_type"], f"one of {', '.join(MODEL_TYPES)}"
        )
    for key, expected in (("N", model_config.N), ("gridsize", model_config.gridsize)):
        value = manifest[key]
        if not _is_int(value) or value != expected:
            raise ManifestError(source, key, value, f"the integer {expected} (model_config.{key})")
    scale = manifest["intensity_scale"]
    if not _is_number(scale) or not math.isfinite(float(scale)) or float(scale) <= 0:
        raise ManifestError(source, "intensity_scale", scale, "a finite number > 0")
    training_config = None
    training_dict = manifest.get("training_config")
    if training_dict is not None:
        if not isinstance(training_dict, Mapping):
            raise ManifestError(
                source,
                "training_config",
                training_dict,
                "null or an object of TrainingConfig fields",
            )
        try:
            training_config = from_dict(TrainingConfig, training_dict)
        except (TypeError, ValueError) as exc:
            raise _config_error(source, "training_config", training_dict, exc) from None
    _check_history(manifest.get("history"), source)
    names = manifest.get("weight_names")
    if names is not None and not (
        (isinstance(names, Mapping) and all(isinstance(v, str) for v in names.values()))
        or (isinstance(names, list) and all(isinstance(v, str) for v in names))
    ):
        raise ManifestError(
            source, "weight_names", names, "an object (or list) of weight-variable names"
        )
    return model_config, training_config


_FIELD_ERROR = re.compile(r"^(ModelConfig|TrainingConfig)\.(\w+) must be (.*), got .*$", re.DOTALL)


def _config_error(
    source: str, key: str, data: Mapping[str, Any], exc: BaseException
) -> ManifestError:
    """A :class:`ManifestError` naming the config field that ``exc`` (from ``from_dict``) names."""
    match = _FIELD_ERROR.match(str(exc))
    if match is None:
        return ManifestError(source, key, data, f"a valid configuration ({exc})")
    owner, field_name, requirement = match.groups()
    holder: Any = data
    if owner == "ModelConfig" and key == "training_config":
        key, holder = f"{key}.model", data.get("model", {})
    value = holder.get(field_name) if isinstance(holder, Mapping) else None
    return ManifestError(source, f"{key}.{field_name}", value, requirement)


def _check_history(history: Any, source: str) -> None:
    if history is None:
        return
    if not isinstance(history, Mapping):
        raise ManifestError(source, "history", history, "an object of per-epoch number lists")
    for key, values in history.items():
        if not isinstance(values, list) or not all(_is_number(v) for v in values):
            raise ManifestError(source, f"history.{key}", values, "a list of numbers")
