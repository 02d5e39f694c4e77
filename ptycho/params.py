"""The legacy global parameter dictionary ``cfg``, kept for external callers only.

Ptychodus 1.7's built-in PtychoPINN client (and older user scripts) call
``update_legacy_dict(ptycho.params.cfg, config)`` and read values back with
``ptycho.params.get(...)`` (notably ``get('intensity_scale')``, which must raise ``KeyError`` until
a model has been loaded or trained). This module owns that dictionary and its accessors.

Design D5: our own modules take configuration objects as arguments and **never read** ``cfg``;
the only writes from inside the package are the documented ones that the external contract needs
(e.g. the intensity scale of a loaded model, see ``specs/ptychodus_api_spec.md``).

Unlike the original PtychoPINN, the defaults here are generated from the dataclass defaults of
:mod:`ptycho.config.config` (a default ``TrainingConfig`` plus the inference-only keys), so the
dictionary and the dataclasses never disagree (CFG-012). The only extra keys are the two constants
of the derived sizes: ``offset`` (4) and ``max_position_jitter`` (10) (ARCH-010).

Importing this module creates the dictionary and nothing else (no TensorFlow, no I/O).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Final

from ptycho.config.config import InferenceConfig, TrainingConfig, dataclass_to_legacy_dict

__all__ = [
    "DEFAULTS",
    "DERIVED_KEYS",
    "cfg",
    "get",
    "get_bigN",
    "get_padded_size",
    "get_padding_size",
    "params",
    "reset",
    "set",
]

#: Spacing in pixels between neighbouring patches of a group on the object_big canvas.
DEFAULT_OFFSET: Final[int] = 4
#: Extra canvas margin in pixels for position jitter (ARCH-010).
DEFAULT_MAX_POSITION_JITTER: Final[int] = 10

#: Keys computed from other keys on every read; they cannot be set.
DERIVED_KEYS: Final[tuple[str, ...]] = ("bigN", "padding_size", "padded_size")

_MISSING: Final = object()


def _default_cfg() -> dict[str, Any]:
    """Legacy defaults generated from the dataclass defaults (training values win on overlap)."""
    defaults = dataclass_to_legacy_dict(InferenceConfig())
    defaults.update(dataclass_to_legacy_dict(TrainingConfig()))
    defaults["offset"] = DEFAULT_OFFSET
    defaults["max_position_jitter"] = DEFAULT_MAX_POSITION_JITTER
    return defaults


#: Read-only view of the default legacy dictionary.
DEFAULTS: Final[Mapping[str, Any]] = MappingProxyType(_default_cfg())

#: The legacy global dictionary (for external callers; never read by our own modules).
cfg: dict[str, Any] = dict(DEFAULTS)


def get_bigN(source: Mapping[str, Any] | None = None) -> int:
    """Solution-region size ``bigN = N + (gridsize - 1) * offset`` in pixels.

    Parameters
    ----------
    source : Mapping[str, Any] or None
        Dictionary to read ``N``, ``gridsize`` and ``offset`` from (default: :data:`cfg`).
    """
    src = cfg if source is None else source
    return int(src["N"]) + (int(src["gridsize"]) - 1) * int(src["offset"])


def get_padding_size(source: Mapping[str, Any] | None = None) -> int:
    """Canvas padding ``(gridsize - 1) * offset + max_position_jitter`` in pixels."""
    src = cfg if source is None else source
    return (int(src["gridsize"]) - 1) * int(src["offset"]) + int(src["max_position_jitter"])


def get_padded_size(source: Mapping[str, Any] | None = None) -> int:
    """object_big canvas size ``bigN + max_position_jitter`` in pixels (ARCH-010)."""
    src = cfg if source is None else source
    return get_bigN(src) + int(src["max_position_jitter"])


_DERIVED = {
    "bigN": get_bigN,
    "padding_size": get_padding_size,
    "padded_size": get_padded_size,
}


def get(key: str, default: Any = _MISSING) -> Any:
    """Return ``cfg[key]`` (or the derived value for ``bigN``, ``padding_size``, ``padded_size``).

    Parameters
    ----------
    key : str
        Legacy key, e.g. ``'N'``, ``'object.big'``, ``'intensity_scale'``.
    default : Any, optional
        Returned when ``key`` is absent. Without it a missing key raises ``KeyError``.

    Raises
    ------
    KeyError
        Naming the key, when it is absent and no default is given.
    """
    if key in _DERIVED:
        return _DERIVED[key](cfg)
    if key in cfg:
        return cfg[key]
    if default is not _MISSING:
        return default
    raise KeyError(
        f"ptycho.params has no key {key!r}; it is set by update_legacy_dict() or by the code "
        "that produces it (e.g. 'intensity_scale' by loading or training a model)"
    )


def set(key: str, value: Any) -> None:
    """Set ``cfg[key] = value`` (the name shadows the builtin on purpose: legacy API).

    Raises
    ------
    ValueError
        If ``key`` is not a non-empty string, or is a derived key (set its inputs instead).
    """
    if not isinstance(key, str) or not key:
        raise ValueError(f"ptycho.params keys must be non-empty strings, got {key!r}")
    if key in _DERIVED:
        raise ValueError(
            f"ptycho.params key {key!r} is derived from N, gridsize, offset and "
            "max_position_jitter; set those instead"
        )
    cfg[key] = value


def params() -> dict[str, Any]:
    """Return a shallow copy of :data:`cfg` with the derived keys added."""
    result = dict(cfg)
    for key, compute in _DERIVED.items():
        result[key] = compute(cfg)
    return result


def reset() -> None:
    """Restore :data:`cfg` to :data:`DEFAULTS` in place (existing references stay valid)."""
    cfg.clear()
    cfg.update(DEFAULTS)
