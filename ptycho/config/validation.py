"""Field checks and normalisation shared by the configuration classes (CFG-003, CFG-005, CFG-006).

Every check raises ``ValueError("<Class>.<field> must be <requirement>, got <value>")`` so the
user sees the field, the bad value and what is allowed. Standard library only.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import numbers
import os
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Final, NoReturn, TypeGuard

from ptycho.config.choices import BACKENDS

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

    from ptycho.config.inference import InferenceConfig
    from ptycho.config.training import TrainingConfig

__all__ = [
    "check_bool",
    "check_choice",
    "check_int",
    "check_nonempty_str",
    "check_path",
    "check_real",
    "coerce_fields",
    "fail",
    "is_bool",
    "is_int",
    "is_real",
    "resolve_n_groups_alias",
    "validate_grouping",
]

logger = logging.getLogger(__name__)


def fail(owner: str, name: str, requirement: str, value: object) -> NoReturn:
    """Raise ``ValueError("<owner>.<name> must be <requirement>, got <value>")``."""
    raise ValueError(f"{owner}.{name} must be {requirement}, got {value!r}")


def _is_numpy_bool(value: object) -> bool:
    dtype = getattr(value, "dtype", None)
    return (
        dtype is not None and getattr(dtype, "kind", "") == "b" and getattr(value, "ndim", 1) == 0
    )


def is_int(value: object) -> TypeGuard[numbers.Integral]:
    """True for Python and NumPy integers, False for bools."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def is_real(value: object) -> TypeGuard[numbers.Real]:
    """True for Python and NumPy real numbers, False for bools (Python or NumPy)."""
    return (
        isinstance(value, numbers.Real)
        and not isinstance(value, bool)
        and not _is_numpy_bool(value)
    )


def is_bool(value: object) -> bool:
    """True for ``bool`` and NumPy 0-d booleans."""
    return isinstance(value, bool) or _is_numpy_bool(value)


def check_int(
    owner: str, name: str, value: object, *, minimum: int | None = None, allow_none: bool = False
) -> None:
    """Require an integer (``>= minimum`` when given; None allowed when ``allow_none``)."""
    if value is None and allow_none:
        return
    requirement = "an integer" if minimum is None else f"an integer >= {minimum}"
    if allow_none:
        requirement = f"None or {requirement}"
    if not is_int(value) or (minimum is not None and value < minimum):
        fail(owner, name, requirement, value)


def check_real(
    owner: str,
    name: str,
    value: object,
    *,
    low: float | None = None,
    low_inclusive: bool = True,
    high: float | None = None,
    high_inclusive: bool = True,
    allow_none: bool = False,
) -> None:
    """Require a finite real number in the given (half-)open or closed range."""
    if value is None and allow_none:
        return
    if low is not None and high is not None:
        left = "[" if low_inclusive else "("
        right = "]" if high_inclusive else ")"
        requirement = f"a finite number in {left}{low:g}, {high:g}{right}"
    elif low is not None:
        requirement = f"a finite number {'>=' if low_inclusive else '>'} {low:g}"
    else:
        requirement = "a finite number"
    if allow_none:
        requirement = f"None or {requirement}"
    if not is_real(value) or not math.isfinite(float(value)):
        fail(owner, name, requirement, value)
    number = float(value)
    if low is not None and (number < low or (not low_inclusive and number == low)):
        fail(owner, name, requirement, value)
    if high is not None and (number > high or (not high_inclusive and number == high)):
        fail(owner, name, requirement, value)


def _format_choices(choices: tuple[object, ...]) -> str:
    return ", ".join(repr(choice) for choice in choices)


def check_choice(owner: str, name: str, value: object, choices: tuple[str | None, ...]) -> None:
    """Require one of ``choices`` (strings, or None)."""
    # Choices are strings (or None): a non-string value never matches, whatever its __eq__.
    if not any(
        (value is None and choice is None)
        or (isinstance(value, str) and choice is not None and value == choice)
        for choice in choices
    ):
        fail(owner, name, f"one of {_format_choices(choices)}", value)


def check_bool(owner: str, name: str, value: object) -> None:
    """Require ``True`` or ``False`` (NumPy booleans accepted)."""
    if not is_bool(value):
        fail(owner, name, "True or False", value)


def check_path(owner: str, name: str, value: object, *, allow_none: bool = False) -> None:
    """Require a ``str`` or ``os.PathLike`` (None allowed when ``allow_none``)."""
    if value is None and allow_none:
        return
    if not isinstance(value, (str, os.PathLike)):
        requirement = "a path (str or pathlib.Path)"
        fail(owner, name, f"None or {requirement}" if allow_none else requirement, value)


def check_nonempty_str(owner: str, name: str, value: object) -> None:
    """Require a non-empty string."""
    if not isinstance(value, str) or not value:
        fail(owner, name, "a non-empty string", value)


def _coerce_int(value: object) -> object:
    return int(value) if is_int(value) else value


def _coerce_float(value: object) -> object:
    return float(value) if is_real(value) else value


def _coerce_bool(value: object) -> object:
    return bool(value) if _is_numpy_bool(value) else value


def _coerce_path(value: object) -> object:
    return Path(value) if isinstance(value, (str, os.PathLike)) else value


_CONVERTERS: Final[Mapping[str, Callable[[object], object]]] = MappingProxyType(
    {"path": _coerce_path, "bool": _coerce_bool, "float": _coerce_float, "int": _coerce_int}
)


def _field_kind(annotation: object) -> str | None:
    """Scalar kind of a field from its (string) annotation, e.g. ``'float | None'`` -> float."""
    parts = {part.strip() for part in str(annotation).split("|")}
    for kind, type_name in (("path", "Path"), ("bool", "bool"), ("float", "float"), ("int", "int")):
        if type_name in parts:
            return kind
    return None


def coerce_fields(obj: DataclassInstance) -> None:
    """Normalise field values in place (CFG-005): numpy scalars -> Python scalars, str -> Path.

    The conversion is chosen from each field's annotation; values of the wrong type are left
    alone for :meth:`validate` to reject with a clear message.
    """
    for f in dataclasses.fields(obj):
        kind = _field_kind(f.type)
        if kind is not None:
            setattr(obj, f.name, _CONVERTERS[kind](getattr(obj, f.name)))


def resolve_n_groups_alias(owner: str, n_groups: int | None, n_images: int | None) -> int | None:
    """Apply the deprecated ``n_images`` alias of ``n_groups`` (CFG-006)."""
    if n_images is None:
        return n_groups
    message = f"{owner}.n_images is deprecated; use n_groups (the number of groups) instead"
    warnings.warn(message, DeprecationWarning, stacklevel=4)
    logger.warning(message)
    if n_groups is not None and n_groups != n_images:
        raise ValueError(
            f"{owner}: n_groups={n_groups!r} and the deprecated alias n_images={n_images!r} "
            "disagree; pass only n_groups"
        )
    return n_images


def validate_grouping(owner: str, obj: TrainingConfig | InferenceConfig) -> None:
    """Checks shared by TrainingConfig and InferenceConfig (grouping and sampling fields)."""
    check_int(owner, "n_subsample", obj.n_subsample, minimum=1, allow_none=True)
    check_int(owner, "subsample_seed", obj.subsample_seed, minimum=0, allow_none=True)
    check_int(owner, "neighbor_count", obj.neighbor_count, minimum=1)
    check_bool(owner, "enable_oversampling", obj.enable_oversampling)
    check_int(owner, "neighbor_pool_size", obj.neighbor_pool_size, minimum=1, allow_none=True)
    check_path(owner, "test_data_file", obj.test_data_file, allow_none=True)
    check_path(owner, "output_dir", obj.output_dir)
    check_choice(owner, "backend", obj.backend, BACKENDS)
    check_int(owner, "seed", obj.seed, minimum=0)
    check_int(owner, "batch_size", obj.batch_size, minimum=1)
