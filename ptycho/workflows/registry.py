"""The backend registry: which backends exist and how each is imported (issue 12, one contract).

Every place that needs "the backend called X" asks this registry; nothing else branches on a
backend's name. A backend is one :class:`BackendSpec`:

- ``api_module``: a module satisfying :class:`ptycho.backend.BackendAPI` (``train``,
  ``predict_patches``, ``reconstruct``, ``save_bundle``, ``load_bundle``, ``weights_of``,
  ``bundle_from_weights``, ``BACKEND``);
- ``workflow_module``: the legacy workflow functions with the same names in every backend
  (``train``, ``train_cdi_model``, ``run_cdi_example``), used by
  :mod:`ptycho.workflows.backend_selector`;
- ``packages``: the third-party packages it needs (checked first, so a missing one gives the
  install command instead of a traceback from deep inside the backend);
- ``reads_checkpoints``: whether ``load_bundle`` also reads a training checkpoint
  (``checkpoints/last.ckpt``);
- ``physics_module`` and ``tensors_module``: the backend's mirror of the NumPy reference physics
  (the names of ``ptycho.tf.physics.__all__``) and its NumPy <-> tensor bridge (``from_numpy``,
  ``to_numpy``, ``group_from_numpy``, ``group_to_numpy``, ``to_complex``, ``gradient``), which
  the backend contract tests (``tests/contract/``) use to check any registered backend;
- ``uses_execution_config``: whether ``train`` reads a
  :class:`~ptycho.config.config.PyTorchExecutionConfig` (accelerator, devices, strategy, ...);
  callers build one (and validate its settings) only for such a backend.

The two built-in backends are registered here; a third registers with :func:`register_backend`
and then gets the dispatcher, the weight converter, the adapter and the contract tests for free.
The API module is checked against the protocol when it is first imported (:func:`get_backend`),
so a missing operation is reported once, naming what is missing, instead of being probed for at
every call site.

This module imports no framework; the backends are imported by name, lazily.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING, Any, Protocol, cast

from ptycho.backend import BACKEND_OPERATIONS

if TYPE_CHECKING:
    from ptycho.array_types import FloatArray
    from ptycho.backend import BackendAPI, ModelBundle

__all__ = [
    "INSTALL_COMMANDS",
    "BackendSpec",
    "backend_names",
    "backend_spec",
    "get_backend",
    "get_physics",
    "get_tensors",
    "get_workflows",
    "register_backend",
    "validate_backend",
]


@dataclass(frozen=True)
class BackendSpec:
    """How to import one backend and what it can do.

    Attributes
    ----------
    name : str
        The backend name used in configs, CLIs, settings and archives (``'tensorflow'``).
    label : str
        Its name for people (``'TensorFlow'``).
    api_module : str
        Dotted name of the module satisfying :class:`ptycho.backend.BackendAPI`.
    workflow_module : str
        Dotted name of the module with ``train``, ``train_cdi_model``, ``run_cdi_example``.
    packages : tuple of str
        Third-party packages imported before the backend (each must import).
    install_command : str
        The exact command that installs ``packages``.
    reads_checkpoints : bool
        ``load_bundle`` also reads a training checkpoint (``.ckpt``), and a training output
        directory may hold ``checkpoints/last.ckpt`` newer than its archive.
    physics_module : str
        Dotted name of the backend's physics (same public names as ``ptycho.tf.physics``).
    tensors_module : str
        Dotted name of the backend's NumPy <-> tensor bridge (``ptycho.tf.tensors`` names).
    uses_execution_config : bool
        ``train`` reads its ``execution`` argument (a ``PyTorchExecutionConfig``); a backend
        without it ignores that argument, so callers pass ``None`` and skip building one.
    """

    name: str
    label: str
    api_module: str
    workflow_module: str
    packages: tuple[str, ...]
    install_command: str
    physics_module: str
    tensors_module: str
    reads_checkpoints: bool = False
    uses_execution_config: bool = False


_REGISTRY: dict[str, BackendSpec] = {}
#: API modules already checked against the protocol (name -> module).
_CHECKED: dict[str, ModuleType] = {}


def register_backend(spec: BackendSpec) -> None:
    """Add (or replace) a backend. Its API module is imported and checked on first use."""
    if not spec.name or not spec.name.isidentifier():
        raise ValueError(f"backend name must be an identifier, got {spec.name!r}")
    _REGISTRY[spec.name] = spec
    _CHECKED.pop(spec.name, None)


register_backend(
    BackendSpec(
        name="tensorflow",
        label="TensorFlow",
        api_module="ptycho.tf.api",
        workflow_module="ptycho.workflows.components",
        packages=("tensorflow", "keras"),
        install_command="pip install 'ptychopinn[tf]'",
        physics_module="ptycho.tf.physics",
        tensors_module="ptycho.tf.tensors",
    )
)
register_backend(
    BackendSpec(
        name="pytorch",
        label="PyTorch",
        api_module="ptycho_torch.api",
        workflow_module="ptycho_torch.workflows.components",
        packages=("torch", "lightning"),
        install_command="pip install 'ptychopinn[torch]'",
        physics_module="ptycho_torch.physics",
        tensors_module="ptycho_torch.tensors",
        reads_checkpoints=True,
        uses_execution_config=True,
    )
)

#: The exact command that installs each registered backend's packages.
INSTALL_COMMANDS: dict[str, str] = {name: s.install_command for name, s in _REGISTRY.items()}


class BackendWorkflows(Protocol):
    """The workflow module of a backend, as :mod:`ptycho.workflows.backend_selector` calls it.

    The arguments are the backends' own (both take the same ones; see
    :mod:`ptycho.workflows.components`); the return types are the contract.
    """

    train_cdi_model: Callable[..., dict[str, Any]]
    run_cdi_example: Callable[..., tuple[FloatArray | None, FloatArray | None, dict[str, Any]]]
    train: Callable[..., ModelBundle]


def backend_names() -> tuple[str, ...]:
    """Registered backend names, the built-in ones first."""
    return tuple(_REGISTRY)


def validate_backend(name: object) -> str:
    """Return ``name`` if it is a registered backend, else raise ``ValueError`` with the choices."""
    if not isinstance(name, str) or name not in _REGISTRY:
        raise ValueError(
            f"unknown backend {name!r}; choose one of {', '.join(repr(b) for b in backend_names())}"
        )
    return name


def backend_spec(name: object) -> BackendSpec:
    """The :class:`BackendSpec` of ``name`` (``ValueError`` for an unknown name)."""
    return _REGISTRY[validate_backend(name)]


def _check_packages(spec: BackendSpec) -> None:
    """Every call: a package can become unimportable after the backend was first imported.

    Only looks the packages up (``importlib.util.find_spec``) instead of importing them: a
    backend imports what it uses when it uses it (inference never imports Lightning, issue 14).
    A package that is found but fails to import is reported by :func:`_import`.
    """
    for package in spec.packages:
        try:
            found = importlib.util.find_spec(package) is not None
        except (ImportError, ValueError) as exc:
            raise _missing(spec, package, exc) from exc
        if not found:
            raise _missing(spec, package, ModuleNotFoundError(f"No module named {package!r}"))


def _missing(spec: BackendSpec, package: str, exc: BaseException) -> RuntimeError:
    return RuntimeError(
        f"{spec.label} backend selected (backend={spec.name!r}), but {package} is not installed "
        f"or cannot be imported ({exc}); install it with: {spec.install_command}"
    )


def _import(spec: BackendSpec, module_name: str) -> ModuleType:
    _check_packages(spec)
    try:
        return importlib.import_module(module_name)
    except ImportError as exc:
        raise _missing(spec, exc.name or "a dependency", exc) from exc


def get_backend(name: object) -> BackendAPI:
    """Import and return the API module of backend ``name``, checked against the protocol.

    Only that backend's packages are imported, never another backend's.

    Raises
    ------
    ValueError
        ``name`` is not a registered backend.
    RuntimeError
        The backend's packages are not installed (``"<X> backend selected (backend='...'), but
        <package> is not installed ...; install it with: pip install 'ptychopinn[...]'"``), or
        its API module lacks operations of the contract (named).
    """
    spec = backend_spec(name)
    module = _CHECKED.get(spec.name)
    if module is not None:
        _check_packages(spec)
    else:
        module = _import(spec, spec.api_module)
        missing = [op for op in BACKEND_OPERATIONS if not hasattr(module, op)]
        if missing:
            raise RuntimeError(
                f"{spec.label} backend module {spec.api_module} does not implement the backend "
                f"contract (ptycho.backend.BackendAPI): missing {', '.join(missing)}"
            )
        if module.BACKEND != spec.name:
            raise RuntimeError(
                f"{spec.api_module}.BACKEND is {module.BACKEND!r}, but it is registered as "
                f"{spec.name!r}"
            )
        _CHECKED[spec.name] = module
    return cast("BackendAPI", module)


def get_physics(name: object) -> ModuleType:
    """Import and return the physics module of backend ``name`` (its packages checked first)."""
    spec = backend_spec(name)
    return _import(spec, spec.physics_module)


def get_tensors(name: object) -> ModuleType:
    """Import and return the NumPy <-> tensor bridge of backend ``name``."""
    spec = backend_spec(name)
    return _import(spec, spec.tensors_module)


def get_workflows(name: object) -> BackendWorkflows:
    """Import and return the workflow module of backend ``name`` (its API is checked first)."""
    spec = backend_spec(name)
    get_backend(spec.name)
    return cast("BackendWorkflows", _import(spec, spec.workflow_module))
