"""One dispatcher for both backends (design D7, issue 5).

Every entry point that lets a user choose a backend (the CLIs, the Ptychodus adapter, the
workflow API) resolves it here, by name:

- :func:`get_backend` (from :mod:`ptycho.workflows.registry`) imports and returns the selected
  backend's API module (:class:`ptycho.backend.BackendAPI`), only that one, lazily; selecting
  one whose packages are missing raises :class:`RuntimeError` naming the backend and the exact
  pip command. There is no silent fallback. An unknown name raises :class:`ValueError` listing
  the choices. Nothing here branches on a backend's name: what differs between backends is in
  their :class:`~ptycho.workflows.registry.BackendSpec`.
- :func:`run_cdi_example_with_backend` / :func:`train_cdi_model_with_backend` route the
  historical workflow API (``ptycho.workflows.components`` or
  ``ptycho_torch.workflows.components``) on ``config.backend`` after
  ``update_legacy_dict(ptycho.params.cfg, config)`` (CONFIG-001), and set
  ``results['backend']``.
- :func:`train_with_backend` and :func:`reconstruct_with_backend` are the backend-neutral
  train / reconstruct steps the CLIs use (a model of either backend, the same arguments).
- :func:`load_inference_bundle_with_backend` loads a model archive with the selected backend and
  converts an archive written by the other backend (:mod:`ptycho.weights`; the layers match one
  to one); :func:`convert_bundle_to_backend` converts a loaded bundle in memory.

This module imports neither TensorFlow nor torch at module level.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ptycho.workflows.registry import (
    INSTALL_COMMANDS,
    backend_spec,
    get_backend,
    get_workflows,
    validate_backend,
)
from ptycho.workflows.registry import (
    backend_names as _names,
)

if TYPE_CHECKING:
    from ptycho.array_types import FloatArray
    from ptycho.backend import EpochCallback, ModelBundle
    from ptycho.config.config import InferenceConfig, PyTorchExecutionConfig, TrainingConfig
    from ptycho.inference import Reconstruction
    from ptycho.loader import PtychoDataContainer
    from ptycho.raw_data import RawData

__all__ = [
    "INSTALL_COMMANDS",
    "convert_bundle_to_backend",
    "get_backend",
    "load_inference_bundle_with_backend",
    "reconstruct_with_backend",
    "run_cdi_example_with_backend",
    "train_cdi_model_with_backend",
    "train_with_backend",
    "validate_backend",
]

logger = logging.getLogger(__name__)


def _bridge_legacy(config: TrainingConfig | InferenceConfig) -> None:
    """CONFIG-001: keep ``ptycho.params.cfg`` in sync for external callers before any work."""
    from ptycho.legacy_params import bridge_config

    bridge_config(config)


def train_cdi_model_with_backend(
    train_data: RawData | PtychoDataContainer,
    test_data: RawData | PtychoDataContainer | None,
    config: TrainingConfig,
    torch_execution_config: PyTorchExecutionConfig | None = None,
) -> dict[str, Any]:
    """Train on ``train_data`` with ``config.backend``; returns the backend's results dict.

    ``results['backend']`` is set to the backend used. ``torch_execution_config`` is only used
    by the PyTorch backend.
    """
    _bridge_legacy(config)
    name = validate_backend(config.backend)
    results = get_workflows(name).train_cdi_model(
        train_data, test_data, config, execution_config=torch_execution_config
    )
    results["backend"] = name
    return results


def run_cdi_example_with_backend(
    train_data: RawData | PtychoDataContainer,
    test_data: RawData | PtychoDataContainer | None,
    config: TrainingConfig,
    flip_x: bool = False,
    flip_y: bool = False,
    transpose: bool = False,
    M: int = 20,
    do_stitching: bool = False,
    torch_execution_config: PyTorchExecutionConfig | None = None,
) -> tuple[FloatArray | None, FloatArray | None, dict[str, Any]]:
    """Train and (with test data) reconstruct with ``config.backend``.

    Returns ``(recon_amp, recon_phase, results)`` exactly like the backend's ``run_cdi_example``,
    with ``results['backend']`` set to the backend used.
    """
    _bridge_legacy(config)
    name = validate_backend(config.backend)
    amp, phase, results = get_workflows(name).run_cdi_example(
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
    results["backend"] = name
    return amp, phase, results


def train_with_backend(
    train_data: RawData | PtychoDataContainer,
    config: TrainingConfig,
    *,
    validation_data: RawData | PtychoDataContainer | None = None,
    on_epoch_end: EpochCallback | None = None,
    initial: ModelBundle | None = None,
    output_dir: str | Path | None = None,
    execution_config: PyTorchExecutionConfig | None = None,
) -> ModelBundle:
    """Group (for RawData) and train with ``config.backend``; returns the trained bundle.

    An ``initial`` bundle of the other backend is converted first (same weights); a
    ``backprop_unet`` one trained at another ``N`` is rebuilt at the data's (ARCH-014); training
    continues from its weights with the data's probe and intensity scale
    (:mod:`ptycho.fine_tuning`). The bundle is recorded as the process's last trained model
    (:mod:`ptycho.model_manager`).

    Raises
    ------
    ValueError
        Unknown backend, or a bundle that cannot be converted.
    RuntimeError
        The backend is not installed.
    """
    _bridge_legacy(config)
    name = validate_backend(config.backend)
    workflows = get_workflows(name)
    from ptycho.refine import refined_training_data

    # ARCH-013: scans get refined training targets when configured; containers stay as given
    train_data = refined_training_data(train_data, config.refined_target_iterations)
    validation_data = refined_training_data(validation_data, config.refined_target_iterations)
    if initial is not None and initial.backend != name:
        initial = convert_bundle_to_backend(initial, name)
    data_n = int(train_data.N)
    if initial is not None and initial.N != data_n:
        # a backprop_unet model runs at any N (ARCH-014); its probe is replaced by the data's
        from ptycho.probe import normalize_probe
        from ptycho.raw_data import RawData
        from ptycho.weights import resized_bundle

        raw_probe = train_data.probeGuess if isinstance(train_data, RawData) else train_data.probe
        probe = normalize_probe(raw_probe, config.model.probe_scale)
        initial = resized_bundle(initial, data_n, probe, get_backend(name))
    return workflows.train(
        train_data,
        config,
        validation_data=validation_data,
        on_epoch_end=on_epoch_end,
        initial=initial,
        execution_config=execution_config,
        output_dir=output_dir,
    )


def reconstruct_with_backend(
    bundle: ModelBundle,
    raw: RawData,
    inference_config: InferenceConfig,
    *,
    M: int = 20,
) -> Reconstruction:
    """Reconstruct a scan with ``bundle``'s own backend (``api.reconstruct``).

    Both backends group the scan as ``inference_config`` says, predict in batches and stitch the
    central ``M x M`` of each patch onto ``raw.objectGuess``'s grid (or a scan-centred canvas).
    A ``backprop_unet`` model runs at the scan's pattern size even when it was trained at another
    (:func:`ptycho.weights.resized_bundle`, with the scan's probe).

    Returns
    -------
    Reconstruction
        The backend's result: ``object``, ``probe``, ``patches``, ``global_offsets``,
        ``on_object_grid``, ``amplitude``, ``phase``.

    Raises
    ------
    ValueError
        Unknown backend, pattern size other than the model's, too few positions.
    RuntimeError
        The bundle's backend is not installed.
    """
    api = get_backend(validate_backend(bundle.backend))
    if raw.N != bundle.N:
        from ptycho.probe import normalize_probe
        from ptycho.weights import resized_bundle

        probe = normalize_probe(raw.probeGuess, bundle.model_config.probe_scale)
        bundle = resized_bundle(bundle, raw.N, probe, api)
    return api.reconstruct(bundle, raw, inference_config, M=M)


def convert_bundle_to_backend(bundle: ModelBundle, backend: str) -> ModelBundle:
    """Return ``bundle`` as a bundle of ``backend`` (itself when it already is one).

    Weights, probe, intensity scale, configs and history carry over (:mod:`ptycho.weights`).
    Both backends are imported (the source to read the weights, the target to build).

    Raises
    ------
    ValueError
        Unknown backend, or a model that cannot be converted (the message names both backends).
    RuntimeError
        A backend is not installed.
    """
    from ptycho.weights import convert_bundle

    name = validate_backend(backend)
    if bundle.backend == name:
        return bundle
    source = get_backend(validate_backend(bundle.backend))
    return convert_bundle(bundle, source, get_backend(name))


def load_inference_bundle_with_backend(
    bundle_path: str | os.PathLike[str],
    config: InferenceConfig | None = None,
    backend: str | None = None,
) -> ModelBundle:
    """Load a model with the selected backend, converting an archive of the other backend.

    Parameters
    ----------
    bundle_path : path-like
        ``wts.h5.zip`` or a directory holding it; for the PyTorch backend also a Lightning
        ``.ckpt`` or a training output directory (the newer of ``wts.h5.zip`` and
        ``checkpoints/last.ckpt``, :func:`ptycho.archive.find_model_file`).
    config : InferenceConfig, optional
        Its ``backend`` selects the backend when ``backend`` is not given; it is written to
        ``ptycho.params.cfg`` first (CONFIG-001).
    backend : str, optional
        Overrides ``config.backend``; default ``'tensorflow'`` when neither is given.

    Returns
    -------
    ModelBundle
        ``bundle.backend`` is the selected backend.

    Raises
    ------
    ValueError
        Unknown backend; corrupt archive; an archive of the other backend that cannot be
        converted (the message names both backends and what is missing).
    FileNotFoundError
        Nothing to load at ``bundle_path``.
    RuntimeError
        The selected backend is not installed.
    """
    name = validate_backend(
        backend if backend is not None else (config.backend if config is not None else _names()[0])
    )
    if config is not None:
        _bridge_legacy(config)
    api = get_backend(name)
    from ptycho.archive import find_model_file

    path = Path(bundle_path)
    spec = backend_spec(name)
    if path.is_dir():  # the newer of its archive and checkpoints/last.ckpt (HARD-012)
        path = find_model_file(path, checkpoints=spec.reads_checkpoints)
    if path.suffix == ".ckpt":
        if not spec.reads_checkpoints:
            readers = [n for n in _names() if backend_spec(n).reads_checkpoints]
            raise ValueError(
                f"{path} is a training checkpoint, which only the {' or '.join(readers)} "
                f"backend reads; load it with backend={readers[0]!r}, or pass a wts.h5.zip "
                "archive (either backend's archive can be converted)"
            )
        return api.load_bundle(path)
    from ptycho.archive import read_archive

    contents = read_archive(path)
    if contents.backend != name:
        from ptycho.weights import convert_archive_bundle

        logger.info("converting a %s archive for the %s backend", contents.backend, name)
        return convert_archive_bundle(contents, target=api)
    return api.load_bundle(contents.path)
