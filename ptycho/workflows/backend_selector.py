"""One dispatcher for both backends (design D7).

Every entry point that lets a user choose a backend (the CLIs, the Ptychodus adapter, the
workflow API) resolves it here, by name. Only the selected backend is imported, lazily; selecting
one whose packages are missing raises :class:`RuntimeError` naming the backend and the exact pip
command. There is no silent fallback.
"""

from __future__ import annotations

import importlib
import logging
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from ptycho.backend import BACKENDS

if TYPE_CHECKING:
    from ptycho.backend import BackendAPI, ModelBundle
    from ptycho.config.config import InferenceConfig, PyTorchExecutionConfig, TrainingConfig

__all__ = [
    "get_backend",
    "load_inference_bundle_with_backend",
    "run_cdi_example_with_backend",
    "train_cdi_model_with_backend",
    "validate_backend",
]

logger = logging.getLogger(__name__)

_API_MODULES = {"tensorflow": "ptycho.tf.api", "pytorch": "ptycho_torch.api"}
_REQUIREMENTS = {
    "tensorflow": (("tensorflow", "keras"), "pip install 'ptychopinn[tf]'"),
    "pytorch": (("torch", "lightning"), "pip install 'ptychopinn[torch]'"),
}
_LABELS = {"tensorflow": "TensorFlow", "pytorch": "PyTorch"}


def validate_backend(name: str) -> str:
    """Return ``name`` if it is a known backend, else raise ``ValueError`` listing the choices."""
    if name not in BACKENDS:
        raise ValueError(f"unknown backend {name!r}; choose one of {', '.join(BACKENDS)}")
    return name


def get_backend(name: str) -> BackendAPI:
    """Import and return the backend API module for ``name``.

    Raises
    ------
    ValueError
        ``name`` is not a known backend.
    RuntimeError
        The backend's packages are not installed ("<X> backend selected, but ... is not
        installed: pip install ...").
    """
    validate_backend(name)
    packages, command = _REQUIREMENTS[name]
    for package in packages:
        try:
            importlib.import_module(package)
        except ImportError as exc:
            raise RuntimeError(
                f"{_LABELS[name]} backend selected, but {package} is not installed "
                f"({exc}); install it with: {command}"
            ) from exc
    module: ModuleType = importlib.import_module(_API_MODULES[name])
    return module  # type: ignore[return-value]


def _bridge_legacy(config: Any) -> None:
    """CONFIG-001: keep ``ptycho.params.cfg`` in sync for external callers before any work."""
    from ptycho import params
    from ptycho.config.config import update_legacy_dict

    update_legacy_dict(params.cfg, config)


def train_cdi_model_with_backend(
    train_data: Any,
    test_data: Any,
    config: TrainingConfig,
    torch_execution_config: PyTorchExecutionConfig | None = None,
) -> dict[str, Any]:
    """Train on ``train_data`` with ``config.backend``; returns the backend's results dict."""
    _bridge_legacy(config)
    validate_backend(config.backend)
    if config.backend == "tensorflow":
        get_backend("tensorflow")
        from ptycho.workflows import components

        results = components.train_cdi_model(train_data, test_data, config)
    else:
        get_backend("pytorch")
        torch_components = importlib.import_module("ptycho_torch.workflows.components")
        results = torch_components.train_cdi_model_torch(
            train_data, test_data, config, execution_config=torch_execution_config
        )
    results["backend"] = config.backend
    return results


def run_cdi_example_with_backend(
    train_data: Any,
    test_data: Any,
    config: TrainingConfig,
    flip_x: bool = False,
    flip_y: bool = False,
    transpose: bool = False,
    M: int = 20,  # noqa: N803 - the original's argument name
    do_stitching: bool = False,
    torch_execution_config: PyTorchExecutionConfig | None = None,
) -> tuple[Any, Any, dict[str, Any]]:
    """Train and (with test data) reconstruct with ``config.backend``.

    Returns ``(recon_amp, recon_phase, results)`` exactly like the backend's ``run_cdi_example``,
    with ``results['backend']`` set to the backend used.
    """
    _bridge_legacy(config)
    validate_backend(config.backend)
    if config.backend == "tensorflow":
        get_backend("tensorflow")
        from ptycho.workflows import components

        amp, phase, results = components.run_cdi_example(
            train_data, test_data, config, flip_x, flip_y, transpose, M, do_stitching
        )
    else:
        get_backend("pytorch")
        torch_components = importlib.import_module("ptycho_torch.workflows.components")
        amp, phase, results = torch_components.run_cdi_example_torch(
            train_data,
            test_data,
            config,
            flip_x=flip_x,
            flip_y=flip_y,
            transpose=transpose,
            M=M,
            do_stitching=do_stitching,
            execution_config=torch_execution_config,
        )
    results["backend"] = config.backend
    return amp, phase, results


def load_inference_bundle_with_backend(
    bundle_path: str | Path,
    config: InferenceConfig | None = None,
    backend: str | None = None,
) -> ModelBundle:
    """Load a model archive with the selected backend, converting it when it was written by the
    other backend.

    Parameters
    ----------
    bundle_path : path-like
        ``wts.h5.zip``, a directory holding it, or (PyTorch) a Lightning ``.ckpt``.
    config : InferenceConfig, optional
        Its ``backend`` selects the backend when ``backend`` is not given.
    backend : str, optional
        Overrides ``config.backend``; default ``'tensorflow'`` when neither is given.
    """
    name = backend or (config.backend if config is not None else "tensorflow")
    validate_backend(name)
    if config is not None:
        _bridge_legacy(config)
    api = get_backend(name)
    path = Path(bundle_path)
    if path.suffix != ".ckpt":
        from ptycho.archive import read_archive

        contents = read_archive(path)
        if contents.backend != name:
            from ptycho.weights import convert_archive_bundle

            logger.info("converting a %s archive for the %s backend", contents.backend, name)
            return convert_archive_bundle(contents, target=api)
    return api.load_bundle(path)
