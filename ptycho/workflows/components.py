"""TensorFlow workflow API for external callers (Ptychodus's built-in client, scripts, notebooks).

Functions (names and signatures of the original PtychoPINN workflow module):

- :func:`load_data`: NPZ -> :class:`~ptycho.raw_data.RawData` with optional flips, scaling and a
  seeded subsample;
- :func:`create_ptycho_data_container`: RawData -> grouped
  :class:`~ptycho.loader.PtychoDataContainer`;
- :func:`train`: train with explicit configs -> :class:`~ptycho.backend.ModelBundle`;
- :func:`train_cdi_model`: train (and predict the test set) -> results dict;
- :func:`run_cdi_example`: train, then reconstruct and stitch the test data ->
  ``(recon_amp, recon_phase, results)``;
- :func:`load_inference_bundle`: ``wts.h5.zip`` -> ``(keras model, legacy config dict)``;
- :func:`save_outputs`: amplitude/phase PNGs, ``reconstruction.npz`` and ``history.csv``.

Every training run records its bundle with :func:`ptycho.model_manager.set_last_trained`, so that
``ptycho.model_manager.save(out_dir)`` saves it. TensorFlow is imported lazily, inside the
functions: ``import ptycho.workflows.components`` stays light.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ptycho.array_types import AnyArray, FloatArray
from ptycho.atomic import atomic_output
from ptycho.containers import create_ptycho_data_container
from ptycho.history import HISTORY_FILENAME, write_history_csv
from ptycho.inference import subsample_raw
from ptycho.loader import PtychoDataContainer
from ptycho.object_stitching import stitch_reconstruction
from ptycho.raw_data import RawData

if TYPE_CHECKING:
    from ptycho.backend import EpochCallback, ModelBundle
    from ptycho.config.config import PyTorchExecutionConfig, TrainingConfig

__all__ = [
    "AMPLITUDE_PNG",
    "HISTORY_FILENAME",
    "PHASE_PNG",
    "RECONSTRUCTION_NPZ",
    "create_ptycho_data_container",
    "load_data",
    "load_inference_bundle",
    "run_cdi_example",
    "save_loss_curve",
    "save_outputs",
    "stitch_reconstruction",
    "subsample_raw",
    "train",
    "train_cdi_model",
    "write_history_csv",
]

logger = logging.getLogger(__name__)

AMPLITUDE_PNG = "reconstructed_amplitude.png"
PHASE_PNG = "reconstructed_phase.png"
RECONSTRUCTION_NPZ = "reconstruction.npz"
LOSS_CURVE_PNG = "loss_curve.png"


# --------------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------------


def load_data(
    file_path: str | os.PathLike[str],
    n_images: int | None = None,
    n_subsample: int | None = None,
    flip_x: bool = False,
    flip_y: bool = False,
    swap_xy: bool = False,
    n_samples: int = 1,
    coord_scale: float = 1.0,
    subsample_seed: int | None = None,
) -> RawData:
    """Load an NPZ scan as :class:`~ptycho.raw_data.RawData`.

    Parameters
    ----------
    file_path : path-like
        NPZ with ``xcoords``, ``ycoords``, ``diff3d`` (or ``diffraction``), ``probeGuess``
        (see :meth:`RawData.from_file`).
    n_images, n_subsample : int, optional
        Keep a seeded random subset of this many positions (``n_subsample`` wins; ``n_images`` is
        the legacy name). All positions when None or >= M.
    flip_x, flip_y : bool
        Negate the x / y coordinates.
    swap_xy : bool
        Exchange x and y.
    n_samples : int
        Ignored (kept for call compatibility).
    coord_scale : float
        Multiply every coordinate by this factor.
    subsample_seed : int, optional
        Seed of the subset (default 0).

    Returns
    -------
    RawData
    """
    del n_samples
    raw = RawData.from_file(file_path)
    if flip_x or flip_y or swap_xy or coord_scale != 1.0:
        x, y = raw.xcoords.copy(), raw.ycoords.copy()
        xs, ys = raw.xcoords_start.copy(), raw.ycoords_start.copy()
        if flip_x:
            x, xs = -x, -xs
        if flip_y:
            y, ys = -y, -ys
        if swap_xy:
            x, y, xs, ys = y, x, ys, xs
        raw = RawData(
            x * coord_scale,
            y * coord_scale,
            xs * coord_scale,
            ys * coord_scale,
            raw.diff3d,
            raw.probe_modes,
            raw.scan_index,
            objectGuess=raw.objectGuess,
            Y=raw.Y,
        )
    count = n_subsample if n_subsample is not None else n_images
    return subsample_raw(raw, count, subsample_seed)


def _with_n_from_data(
    config: TrainingConfig, data: RawData | PtychoDataContainer
) -> TrainingConfig:
    import dataclasses

    if config.model.N != 0:
        return config
    n = data.N if isinstance(data, RawData) else int(np.asarray(data.X).shape[1])
    return dataclasses.replace(config, model=dataclasses.replace(config.model, N=n))


# --------------------------------------------------------------------------------------------
# Training
# --------------------------------------------------------------------------------------------


def train(
    train_data: RawData | PtychoDataContainer,
    config: TrainingConfig,
    *,
    validation_data: RawData | PtychoDataContainer | None = None,
    on_epoch_end: EpochCallback | None = None,
    initial: ModelBundle | None = None,
    verbose: int = 0,
    output_dir: str | os.PathLike[str] | None = None,
    execution_config: PyTorchExecutionConfig | None = None,
) -> ModelBundle:
    """Train a TensorFlow model with explicit configs.

    Parameters
    ----------
    train_data : RawData or PtychoDataContainer
        Training scan (grouped here with ``config``).
    config : TrainingConfig
        ``model.N == 0`` takes N from the data. Not modified.
    validation_data : RawData or PtychoDataContainer, optional
        Validation scan; None = seeded split by ``config.validation_fraction``.
    on_epoch_end : EpochCallback, optional
        ``(epoch, logs) -> stop?`` after every epoch.
    initial : ModelBundle, optional
        Continue from this TensorFlow bundle.
    verbose : int
        0 silent, 1 progress bar, 2 one log line per epoch.
    output_dir : path-like, optional
        Write ``history.csv`` there.
    execution_config : PyTorchExecutionConfig, optional
        Accepted so every backend's workflow has the same signature; TensorFlow ignores it.

    Returns
    -------
    ModelBundle
        Also recorded as the process's last trained model (:mod:`ptycho.model_manager`).
    """
    from ptycho import model_manager
    from ptycho.tf import api

    config = _with_n_from_data(config, train_data)
    container = create_ptycho_data_container(train_data, config)
    validation = (
        create_ptycho_data_container(validation_data, config)
        if validation_data is not None
        else None
    )
    bundle = api.train(
        container,
        config,
        validation=validation,
        on_epoch_end=on_epoch_end,
        execution=execution_config,
        initial=initial,
        verbose=verbose,
        output_dir=output_dir,
    )
    model_manager.set_last_trained(bundle)
    return bundle


def train_cdi_model(
    train_data: RawData | PtychoDataContainer,
    test_data: RawData | PtychoDataContainer | None,
    config: TrainingConfig,
    execution_config: PyTorchExecutionConfig | None = None,
) -> dict[str, Any]:
    """Train on ``train_data`` and, when given, predict the object patches of ``test_data``.

    ``execution_config`` is accepted so every backend's workflow has the same signature;
    TensorFlow ignores it.

    Returns
    -------
    dict
        ``history`` (per-epoch lists), ``history_epochs``, ``model_bundle``, ``model_instance``
        (the Keras autoencoder), ``diffraction_to_obj`` (Keras), ``intensity_scale``,
        ``train_container``, ``test_container``; with test data also ``reconstructed_obj``
        ``(B, N, N, 1) complex64`` and ``global_offsets`` ``(B, 1, 2, 1)``.
    """
    from ptycho.tf import api

    config = _with_n_from_data(config, train_data)
    train_container = create_ptycho_data_container(train_data, config)
    bundle = train(train_container, config, execution_config=execution_config)
    results: dict[str, Any] = {
        "history": bundle.history,
        "history_epochs": list(range(1, bundle.epochs_trained + 1)),
        "model_bundle": bundle,
        "model_instance": bundle.network.autoencoder,
        "diffraction_to_obj": bundle.network.diffraction_to_obj,
        "intensity_scale": bundle.intensity_scale,
        "train_container": train_container,
        "test_container": None,
    }
    if test_data is not None:
        test_container = create_ptycho_data_container(test_data, config, n_groups=None)
        results["test_container"] = test_container
        results["reconstructed_obj"] = api.predict_patches(bundle, test_container)
        results["global_offsets"] = np.asarray(test_container.global_offsets, dtype=np.float64)
    return results


def run_cdi_example(
    train_data: RawData | PtychoDataContainer,
    test_data: RawData | PtychoDataContainer | None,
    config: TrainingConfig,
    flip_x: bool = False,
    flip_y: bool = False,
    transpose: bool = False,
    M: int = 20,
    do_stitching: bool = False,
    execution_config: PyTorchExecutionConfig | None = None,
) -> tuple[FloatArray | None, FloatArray | None, dict[str, Any]]:
    """Train, then reconstruct and stitch the test data.

    When ``test_data`` is given the test scan is always reconstructed and stitched
    (``do_stitching`` and ``execution_config``, which TensorFlow ignores, are accepted so every
    backend's workflow has the same signature): onto the test object's grid when it is a
    RawData with an ``objectGuess``, else onto a scan-centred canvas (central ``M x M`` of each
    patch).

    Returns
    -------
    recon_amp, recon_phase : (H, W) float32 or None
        Amplitude and phase (radians) of the stitched test object; None without test data.
    results : dict
        :func:`train_cdi_model`'s results plus ``obj_tensor_full`` (the stitched complex
        object), ``recon_amp`` and ``recon_phase``.
    """
    del do_stitching, execution_config
    results = train_cdi_model(train_data, test_data, config)
    if test_data is None:
        return None, None, results
    shape = None
    if isinstance(test_data, RawData) and test_data.objectGuess is not None:
        shape = tuple(test_data.objectGuess.shape)
    obj = stitch_reconstruction(
        results["reconstructed_obj"],
        results["global_offsets"],
        shape,
        flip_x,
        flip_y,
        transpose,
        M,
    )
    amp = np.abs(obj).astype(np.float32)
    phase = np.angle(obj).astype(np.float32)
    results.update(obj_tensor_full=obj, recon_amp=amp, recon_phase=phase)
    return amp, phase, results


# --------------------------------------------------------------------------------------------
# Loading for external callers
# --------------------------------------------------------------------------------------------


def load_inference_bundle(model_dir: str | os.PathLike[str]) -> tuple[Any, dict[str, Any]]:
    """Load a TensorFlow model archive for Ptychodus's built-in client.

    Parameters
    ----------
    model_dir : path-like
        Directory holding ``wts.h5.zip`` (or the archive itself). An archive of the PyTorch
        backend is converted to a TensorFlow network (the layers match one to one).

    Returns
    -------
    model : keras.Model
        ``diffraction_to_obj``: ``model.predict([X * s, local_offsets])`` returns
        ``(B, N, N, 1) complex64`` object patches.
    config : dict
        A copy of ``ptycho.params.cfg`` after the update below.

    Side effects
    ------------
    Writes the model's configuration into ``ptycho.params.cfg`` (``update_legacy_dict``) and
    sets ``cfg['intensity_scale']`` (the model's ``s``), ``cfg['N']``, ``cfg['gridsize']`` and
    ``cfg['probe']`` (``(N, N, 1) complex64``, the normalised probe the model uses), plus
    ``cfg['nphotons']`` when the training config is known.
    """
    from ptycho import params
    from ptycho.legacy_params import bridge_bundle
    from ptycho.workflows.backend_selector import load_inference_bundle_with_backend

    # a PyTorch archive is converted (same layers), a TensorFlow one loaded directly
    bundle = load_inference_bundle_with_backend(model_dir, backend="tensorflow")
    bridge_bundle(bundle)
    logger.info(
        "loaded TensorFlow model (N=%d, gridsize=%d, intensity_scale=%.6g)",
        bundle.model_config.N,
        bundle.model_config.gridsize,
        bundle.intensity_scale,
    )
    return bundle.network.diffraction_to_obj, dict(params.cfg)


# --------------------------------------------------------------------------------------------
# Outputs
# --------------------------------------------------------------------------------------------


def _atomic_write(path: Path, write: Callable[[str], object]) -> None:
    """Call ``write(tmp_path)``, then move the file over ``path`` (:mod:`ptycho.atomic`)."""
    with atomic_output(path) as tmp:
        write(str(tmp))


def _save_image(image: FloatArray, path: Path, title: str, cmap: str) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 8))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    shown = ax.imshow(np.asarray(image), cmap=cmap)
    fig.colorbar(shown, ax=ax)
    ax.set_title(title)
    _atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=100))


def save_loss_curve(history: Mapping[str, list[float]], path: str | os.PathLike[str]) -> Path:
    """Plot ``loss`` and ``val_loss`` per epoch into a PNG (atomic)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig = Figure(figsize=(6, 4))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    for key in ("loss", "val_loss"):
        values = history.get(key) or []
        if values:
            ax.plot(range(1, len(values) + 1), values, marker="o", label=key)
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    ax.legend()
    fig.tight_layout()
    _atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=100))
    return path


def save_outputs(
    amp: FloatArray | None,
    phase: FloatArray | None,
    results: Mapping[str, Any] | None,
    output_prefix: str | os.PathLike[str],
) -> None:
    """Write the reconstruction images and arrays under the directory ``output_prefix``.

    Writes (each atomically) ``reconstructed_amplitude.png`` (gray) and
    ``reconstructed_phase.png`` (viridis) with colour bars, and ``reconstruction.npz`` with keys
    ``object`` (complex64 ``amp * exp(i phase)``, or ``results['obj_tensor_full']``),
    ``amplitude``, ``phase`` (and ``probe`` when ``results['probe']`` is set), when ``amp``
    and ``phase`` are given; plus ``history.csv`` when ``results`` holds a history. Nothing
    else, and nothing outside ``output_prefix``.

    Raises
    ------
    PermissionError
        When the directory cannot be created or written.
    """
    out = Path(output_prefix)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise PermissionError(f"cannot create output directory {out}: {exc}") from exc
    if not os.access(out, os.W_OK):
        raise PermissionError(f"output directory {out} is not writable; choose another one")
    results = results or {}
    if amp is not None and phase is not None:
        amp = np.asarray(amp, dtype=np.float32)
        phase = np.asarray(phase, dtype=np.float32)
        obj = results.get("obj_tensor_full")
        if obj is None or np.shape(obj) != amp.shape:
            obj = amp * np.exp(1j * phase)
        obj = np.asarray(obj, dtype=np.complex64)
        _save_image(amp, out / AMPLITUDE_PNG, "reconstructed amplitude", "gray")
        _save_image(phase, out / PHASE_PNG, "reconstructed phase (rad)", "viridis")

        arrays: dict[str, AnyArray] = {"object": obj, "amplitude": amp, "phase": phase}
        if results.get("probe") is not None:
            arrays["probe"] = np.asarray(results["probe"], dtype=np.complex64)

        def write_npz(tmp: str) -> None:
            with open(tmp, "wb") as handle:
                # mypy matches **arrays against savez's keyword-only allow_pickle: bool
                np.savez(handle, **arrays)  # type: ignore[arg-type]

        _atomic_write(out / RECONSTRUCTION_NPZ, write_npz)
    history = results.get("history")
    if history:
        write_history_csv(history, out / HISTORY_FILENAME)
    logger.info("wrote outputs to %s", out)
