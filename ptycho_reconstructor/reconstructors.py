"""The PtychoPINNx reconstructors: ``PINN``, ``Supervised`` and ``PINN-Fit``.

This module owns ``specs/ptychodus_api_spec.md`` §5.4 (ADAPT-001 .. ADAPT-009):

* :class:`PtychoPINNxTrainableReconstructor` implements Ptychodus 1.7's
  ``TrainableReconstructor`` for the two model types (``PINN`` = physics loss, ``Supervised`` =
  loss on the true object). *Infer* runs the loaded model on the scan and yields one output
  (``progress == get_progress_goal() == 1``); *Train* trains on a directory and yields a
  ``TrainOutput`` after every epoch (``progress`` = epochs done, goal = ``NumEpochs``; the
  training and validation losses are the backend's objective ``loss``/``val_loss``), then a
  last one with ``progress == goal``; it writes ``wts.h5.zip``, ``history.csv`` and ``loss.png``
  into the output directory and makes the new model the loaded one. Ptychodus's Stop ends
  training after the current epoch and still saves and loads the model.
* :class:`PtychoPINNxFitReconstructor` (``PINN-Fit``) fits the PINN to the scan being
  reconstructed, starting from a copy of the loaded model when there is one (and
  ``PtychoPINNxFit.StartFromModel``) or from scratch, and yields the object after every epoch
  with the loss history, like an iterative algorithm (goal = ``PtychoPINNxFit.NumEpochs``). The
  loss of epoch ``k`` is the data fit on the whole scan of the model after that epoch, i.e. of
  the object yielded with it (the diffraction-amplitude misfit, see
  :func:`~ptycho_reconstructor.convert.display_loss_key`). Each epoch is one ``backend.train``
  call continuing from the previous epoch's model (the backend contract has no per-epoch model
  access), so the optimiser state restarts every epoch.

Every failure is logged on the library logger (so it shows in Ptychodus's processing log) and
raised with a message that says what is wrong and how to fix it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from ptychodus.api.product import LossValue, Product
from ptychodus.api.reconstruct import (
    ReconstructInput,
    Reconstructor,
    ReconstructOutput,
    TrainableReconstructor,
    TrainOutput,
)

from ptycho.workflows.registry import backend_spec
from ptycho_reconstructor.convert import (
    display_loss_key,
    loss_values,
    mean_photons_per_pattern,
    probe_in_input_scale,
    product_from_reconstruction,
    raw_data_from_input,
)
from ptycho_reconstructor.execution import BackgroundTraining, resolve_backend
from ptycho_reconstructor.model_slot import ModelSlot, describe_bundle
from ptycho_reconstructor.settings import (
    PtychoPINNxSettings,
    execution_config_from_settings,
    inference_config_from_settings,
    read_int,
    training_config_from_settings,
)
from ptycho_reconstructor.training_data import (
    build_training_containers,
    export_training_data,
    find_training_inputs,
    write_training_set,
)

if TYPE_CHECKING:
    from ptycho.array_types import ComplexArray
    from ptycho.backend import ModelBundle
    from ptycho.config.config import PyTorchExecutionConfig, TrainingConfig
    from ptycho.raw_data import RawData

__all__ = [
    "MODEL_FILE_EXTENSION",
    "MODEL_FILE_FILTER",
    "TRAINING_DATA_FILE_FILTER",
    "PtychoPINNxFitReconstructor",
    "PtychoPINNxTrainableReconstructor",
    "check_model_matches",
    "execution_config_for",
    "infer_product",
    "progress_note",
]

#: Qt file filter of model archives (``get_model_file_filter``).
MODEL_FILE_FILTER = "PtychoPINN Model Archive (*.zip)"
#: Model file extension (``get_model_file_extension``); batch mode loads ``IN/model.zip``.
MODEL_FILE_EXTENSION = ".zip"
#: Qt file filter of exported training data.
TRAINING_DATA_FILE_FILTER = "NumPy Zipped Archive (*.npz)"
#: Name of the trained model archive in the training output directory.
ARCHIVE_NAME = "wts.h5.zip"


@contextlib.contextmanager
def _reported(log: logging.Logger, action: str) -> Iterator[None]:
    """Log any exception on the library logger (Ptychodus's processing log), then re-raise."""
    try:
        yield
    except Exception as exc:
        log.error("%s failed: %s: %s", action, type(exc).__name__, exc)
        raise


def check_model_matches(
    bundle: ModelBundle, *, N: int, gridsize_setting: int, n_positions: int
) -> None:
    """Refuse a model that cannot run on the data (ADAPT-006).

    Raises
    ------
    ValueError
        The model's ``N`` differs from the pattern size (a ``backprop_unet`` model runs at any
        ``N``, ARCH-014), its gridsize from
        ``PtychoPINNxModel.GridSize``, or the scan has fewer positions than a group needs.
    """
    if bundle.N != N and bundle.model_config.architecture != "backprop_unet":
        raise ValueError(
            f"the loaded model was trained on {bundle.N}x{bundle.N} diffraction patterns but "
            f"these are {N}x{N}; load a model trained at {N}x{N} or train one on this data"
        )
    if bundle.gridsize != gridsize_setting:
        raise ValueError(
            f"the loaded model uses GridSize {bundle.gridsize} but PtychoPINNxModel.GridSize is "
            f"{gridsize_setting}; set GridSize to {bundle.gridsize} or load a model trained with "
            f"GridSize {gridsize_setting}"
        )
    c = bundle.gridsize**2
    if n_positions < c:
        raise ValueError(
            f"the scan has {n_positions} positions but GridSize {bundle.gridsize} needs at "
            f"least {c} per group; use a model with a smaller GridSize"
        )


def progress_note(elapsed: float, done: int, goal: int) -> str:
    """``'12 s elapsed, about 34 s left'`` after ``done`` of ``goal`` equal steps."""
    left = elapsed / max(done, 1) * max(goal - done, 0)
    return f"{elapsed:.0f} s elapsed, about {left:.0f} s left"


def _probe_was_learned(bundle: ModelBundle) -> bool:
    config = bundle.training_config
    return bool(config is not None and config.probe_trainable)


def infer_product(
    bundle: ModelBundle,
    raw: RawData,
    parameters: ReconstructInput,
    settings: PtychoPINNxSettings,
    losses: list[LossValue] | None = None,
) -> Product:
    """Run ``bundle`` on the scan and return the Ptychodus product (ADAPT-002).

    Parameters
    ----------
    bundle : ModelBundle
        The model (its own config decides N, gridsize and the architecture).
    raw : RawData
        The scan, converted with :func:`~ptycho_reconstructor.convert.raw_data_from_input`.
        Its ``objectGuess`` is dropped (set to None): the input object is a starting guess,
        not ground truth, so no ground-truth patches are cut.
    parameters : ReconstructInput
        The Ptychodus input (output grid, metadata, positions, probe).
    settings : PtychoPINNxSettings
        ``[PtychoPINNxInference]`` grouping, batch size, stitch crop and refinement.
    losses : list of LossValue, optional
        Loss history for the product; default the model's training history.

    Notes
    -----
    Grouping, prediction, stitching and refinement are the core's
    :func:`ptycho.inference.reconstruct_scan` (the flow the backends and the CLIs use) with the
    backend's ``predict_patches``; only what is the adapter's own stays here:

    * the object is stitched onto the Ptychodus object's pixel grid (``object_shape``; the
      input object is a starting guess, so ``raw.objectGuess`` is dropped first and no
      ground-truth patches are cut), never onto a scan-centred canvas;
    * a ``backprop_unet`` model trained at another N is rebuilt at the scan's N first
      (:func:`ptycho.weights.resized_bundle`), since ``reconstruct_scan`` needs equal N;
    * ``StitchCrop`` 0 means :data:`ptycho.inference.DEFAULT_STITCH_CROP` (capped at N, rim
      from the central N/2 as in ``reconstruct_scan``); ``NeighborCount`` below
      ``GridSize**2`` is raised to it;
    * the product's probe is the model's only when it was learned in training, or the refined
      one when ``RefineProbe`` refinement ran; otherwise the input probe is kept (whatever
      probe the network backprojected with, ``ProbeSource``), put back into the input's
      scale (:func:`~ptycho_reconstructor.convert.probe_in_input_scale`);
    * no subsampling or oversampling (the settings have none); Infer is one step, so there is
      no progress or cancellation inside it; the log line of which image was returned is
      :func:`describe_inference`.
    """
    from ptycho.inference import DEFAULT_STITCH_CROP, reconstruct_scan
    from ptycho.probe import normalize_probe
    from ptycho.weights import resized_bundle

    raw.objectGuess = None
    api = resolve_backend(bundle.backend)
    if raw.N != bundle.N:
        scan_probe = normalize_probe(raw.probeGuess, bundle.model_config.probe_scale)
        bundle = resized_bundle(bundle, raw.N, scan_probe, api)
    inference = inference_config_from_settings(settings, model=bundle.model_config)
    c = bundle.gridsize**2
    if inference.neighbor_count < c:  # a group needs gridsize**2 neighbours
        inference = dataclasses.replace(inference, neighbor_count=c)
    obj_in = parameters.product.object_
    # StitchCrop 0 = the library's default, the same as ptycho-infer's
    crop = read_int(settings.inference, settings.inference.stitch_crop) or DEFAULT_STITCH_CROP
    result = reconstruct_scan(
        bundle,
        raw,
        inference,
        api.predict_patches,
        M=crop,
        object_shape=(obj_in.height_px, obj_in.width_px),
    )
    learned = bundle.probe if _probe_was_learned(bundle) else None
    if inference.refine_iterations > 0 and inference.refine_probe:
        learned = result.probe
    probe = None if learned is None else probe_in_input_scale(learned, raw.probe_modes)
    return product_from_reconstruction(
        parameters,
        result.object,
        probe_modes=probe,
        losses=loss_values(bundle.history) if losses is None else losses,
    )


def execution_config_for(
    settings: PtychoPINNxSettings, backend: str
) -> PyTorchExecutionConfig | None:
    """The execution config ``backend``'s ``train`` reads, or None when it reads none.

    Built (and its settings checked) only for a backend whose registry entry says it uses one
    (:attr:`ptycho.workflows.registry.BackendSpec.uses_execution_config`).
    """
    if not backend_spec(backend).uses_execution_config:
        return None
    return execution_config_from_settings(settings)


def describe_inference(settings: PtychoPINNxSettings) -> str:
    """Which image Infer returned, for the log (issue 11: the user can tell which one)."""
    iterations = read_int(settings.inference, settings.inference.refine_iterations)
    if iterations == 0:
        return "the network's image alone (PtychoPINNxInference.RefineIterations = 0)"
    probe = " and the probe" if settings.inference.refine_probe.get_value() else ""
    return (
        f"the network's image refined{probe} by {iterations} physics iterations "
        "(PtychoPINNxInference.RefineIterations; 0 = the network's image alone)"
    )


class PtychoPINNxTrainableReconstructor(TrainableReconstructor):
    """``PINN`` or ``Supervised``: infer with the loaded model, train on a directory.

    Parameters
    ----------
    name : str
        ``'PINN'`` or ``'Supervised'`` (the Ptychodus algorithm key is
        ``ptychopinnx_<name casefolded>``).
    model_type : {'pinn', 'supervised'}
        What :meth:`train` trains.
    settings : PtychoPINNxSettings
        The library's settings.
    slot : ModelSlot
        The library's loaded model (shared with the other reconstructors).
    log : logging.Logger
        The library logger (shown in Ptychodus's processing log).
    """

    def __init__(
        self,
        name: str,
        model_type: str,
        settings: PtychoPINNxSettings,
        slot: ModelSlot,
        log: logging.Logger,
    ) -> None:
        super().__init__()
        self._name = name
        self._model_type = model_type
        self._settings = settings
        self._slot = slot
        self._log = log
        self._goal = 1

    @property
    def name(self) -> str:
        return self._name

    @property
    def model_type(self) -> str:
        """``'pinn'`` or ``'supervised'``."""
        return self._model_type

    def get_progress_goal(self) -> int:
        """1 while inferring; ``NumEpochs`` while training (the run in progress sets it)."""
        return self._goal

    # -- inference --------------------------------------------------------------------------
    def reconstruct(self, parameters: ReconstructInput) -> Iterator[ReconstructOutput]:
        """Infer the object with the loaded model; one output with ``progress == 1 == goal``."""
        self._goal = 1
        with _reported(self._log, f"{self._name} inference"):
            bundle = self._slot.get()
            if bundle.model_config.model_type != self._model_type:
                self._log.info(
                    "inferring with a %s model through the %s reconstructor (same network)",
                    bundle.model_config.model_type,
                    self._name,
                )
            raw = raw_data_from_input(parameters)
            check_model_matches(
                bundle,
                N=raw.N,
                gridsize_setting=read_int(self._settings.model, self._settings.model.gridsize),
                n_positions=len(raw),
            )
            self._log.info("inferring %d patterns with %s", len(raw), describe_bundle(bundle))
            product = infer_product(bundle, raw, parameters, self._settings)
            self._log.info("returned: %s", describe_inference(self._settings))
        yield ReconstructOutput(product=product, progress=self._goal)

    # -- model files ------------------------------------------------------------------------
    def is_model_loaded(self) -> bool:
        return self._slot.is_loaded()

    def get_model_file_filter(self) -> str:
        return MODEL_FILE_FILTER

    def load_model_from_file(self, file_path: Path) -> None:
        """Load a model archive (any file name; batch mode passes ``IN/model.zip``)."""
        with _reported(self._log, "loading the model"):
            self._slot.load(Path(file_path))

    def get_model_file_extension(self) -> str:
        return MODEL_FILE_EXTENSION

    def save_model(self, file_path: Path) -> None:
        """Write the loaded model as a ``wts.h5.zip`` archive at ``file_path`` (atomic)."""
        with _reported(self._log, "saving the model"):
            self._slot.save(Path(file_path))

    # -- training ---------------------------------------------------------------------------
    def get_training_data_file_filter(self) -> str:
        return TRAINING_DATA_FILE_FILTER

    def export_training_data(self, file_path: Path, parameters: ReconstructInput) -> None:
        """Write the scan as a training NPZ in our data contract."""
        with _reported(self._log, "exporting training data"):
            export_training_data(Path(file_path), parameters)

    def train(self, input_path: Path, output_path: Path) -> Iterator[TrainOutput]:
        """Train on the data in ``input_path``; write the model and history to ``output_path``."""
        self._goal = read_int(self._settings.training, self._settings.training.nepochs)
        output_dir = Path(output_path)
        with _reported(self._log, f"{self._name} training"):
            inputs = find_training_inputs(Path(input_path))
            config = training_config_from_settings(
                self._settings,
                N=inputs.N,
                model_type=self._model_type,
                output_dir=output_dir,
                data_nphotons=inputs.mean_photons,
                train_data_file=inputs.sources[0],
            )
            self._goal = config.nepochs
            api = resolve_backend(config.backend)
            train, validation = build_training_containers(inputs, config)
            initial = self._pretrained_start(config, inputs.train[0].probeGuess)
            self._log.info(
                "training a %s model on the %s backend: %d groups (%d validation), %d epochs",
                self._model_type,
                config.backend,
                len(train),
                0 if validation is None else len(validation),
                config.nepochs,
            )
            run = BackgroundTraining(
                api,
                train,
                config,
                validation=validation,
                execution=execution_config_for(self._settings, config.backend),
                initial=initial,
            )
        training_loss: list[LossValue] = []
        validation_loss: list[LossValue] = []
        completed = False
        started = time.perf_counter()
        try:
            with _reported(self._log, f"{self._name} training"):
                for report in run:
                    done = report.epoch + 1  # epochs completed (LossValue.epoch, progress)
                    if "loss" in report.logs:
                        training_loss.append(LossValue(done, report.logs["loss"]))
                    if "val_loss" in report.logs:
                        validation_loss.append(LossValue(done, report.logs["val_loss"]))
                    self._log.info(
                        "epoch %d/%d: %s (%s)",
                        done,
                        self._goal,
                        ", ".join(f"{k}={v:.6g}" for k, v in sorted(report.logs.items())),
                        progress_note(time.perf_counter() - started, done, self._goal),
                    )
                    yield TrainOutput(
                        training_loss=list(training_loss),
                        validation_loss=list(validation_loss),
                        progress=done,
                    )
            completed = True
        finally:
            # Runs when training ends, fails, or Ptychodus's Stop closes this generator: a
            # finished (or stopped) run always leaves its model saved and loaded.
            self._finish_training(run, output_dir, stopped=not completed)
        yield TrainOutput(
            training_loss=training_loss, validation_loss=validation_loss, progress=self._goal
        )

    def _pretrained_start(self, config: TrainingConfig, probe: ComplexArray) -> ModelBundle | None:
        """The pretrained model to fine-tune (``StartFromPretrained``), or None for a new network.

        PINN training only, and only when the model settings describe the pretrained network
        (architecture, grid size, width and the other ``[PtychoPINNxModel]`` options; ``N`` may
        differ: a ``backprop_unet`` model is rebuilt at the data's). Otherwise the log says why
        a new network is trained. A fresh copy is loaded for every run (backends may train the
        initial model in place).
        """
        if self._model_type != "pinn":
            return None
        if not self._settings.training.start_from_pretrained.get_value():
            self._log.info("training a new network (StartFromPretrained is off)")
            return None
        from ptycho.pretrained import archive_path
        from ptycho.probe import normalize_probe
        from ptycho.weights import resized_bundle
        from ptycho_reconstructor.execution import load_bundle

        try:
            archive = archive_path()
        except FileNotFoundError as exc:
            self._log.warning("training a new network: %s", exc)
            return None
        bundle = load_bundle(archive, config.backend)
        wanted = dataclasses.replace(config.model, N=bundle.N, model_type="pinn")
        shipped = dataclasses.replace(bundle.model_config, model_type="pinn")
        if wanted != shipped:
            differ = [
                f"{f.name} {getattr(wanted, f.name)!r} (pretrained: {getattr(shipped, f.name)!r})"
                for f in dataclasses.fields(shipped)
                if getattr(wanted, f.name) != getattr(shipped, f.name)
            ]
            self._log.info(
                "training a new network: the model settings differ from the pretrained model's "
                "(%s); set them back, or uncheck PtychoPINNxTraining.StartFromPretrained to "
                "silence this",
                "; ".join(differ),
            )
            return None
        if config.model.N != bundle.N:
            scan_probe = normalize_probe(probe, bundle.model_config.probe_scale)
            api = resolve_backend(bundle.backend)
            bundle = resized_bundle(bundle, config.model.N, scan_probe, api)
        self._log.info(
            "fine-tuning the pretrained model (PtychoPINNxTraining.StartFromPretrained; uncheck "
            "it for a new network)"
        )
        return bundle

    def _finish_training(self, run: BackgroundTraining, output_dir: Path, *, stopped: bool) -> None:
        bundle = run.bundle
        if bundle is None:
            return
        with _reported(self._log, "saving the trained model"):
            archive, csv_path, png_path = write_training_set(
                output_dir, bundle, resolve_backend(bundle.backend), ARCHIVE_NAME
            )
            self._slot.set(bundle, archive)
            how = "stopped by the user" if stopped and run.cancelled else "finished"
            self._log.info(
                "training %s after %d epochs; model %s saved to %s (history %s%s) and loaded",
                how,
                bundle.epochs_trained,
                describe_bundle(bundle),
                archive,
                csv_path.name,
                f", plot {png_path.name}" if png_path is not None else "",
            )


class PtychoPINNxFitReconstructor(Reconstructor):
    """``PINN-Fit``: fit the PINN to the scan itself, yielding the object after every epoch.

    Parameters
    ----------
    settings : PtychoPINNxSettings
        ``[PtychoPINNxFit]`` (epochs, start from the loaded model), ``[PtychoPINNxTraining]``
        (learning rate, batch size, loss weights, ...), ``[PtychoPINNxModel]`` (from scratch).
    slot : ModelSlot
        The library's loaded model, the starting point when there is one.
    log : logging.Logger
        The library logger.
    """

    NAME = "PINN-Fit"

    def __init__(self, settings: PtychoPINNxSettings, slot: ModelSlot, log: logging.Logger) -> None:
        super().__init__()
        self._settings = settings
        self._slot = slot
        self._log = log

    @property
    def name(self) -> str:
        return self.NAME

    def get_progress_goal(self) -> int:
        """``PtychoPINNxFit.NumEpochs``: one output per epoch, the last at the goal."""
        return max(1, int(self._settings.fit.nepochs.get_value()))

    def _initial_model(self, n: int, n_positions: int, probe: ComplexArray) -> ModelBundle | None:
        if not self._settings.fit.start_from_model.get_value() or not self._slot.is_loaded():
            self._log.info("PINN-Fit starts from a new, untrained network")
            return None
        loaded = self._slot.get()
        check_model_matches(
            loaded,
            N=n,
            gridsize_setting=read_int(self._settings.model, self._settings.model.gridsize),
            n_positions=n_positions,
        )
        if loaded.model_config.model_type != "pinn":
            raise ValueError(
                f"PINN-Fit fine-tunes PINN models, but the loaded model is "
                f"{loaded.model_config.model_type}; load a PINN model, or uncheck "
                "PtychoPINNxFit.StartFromModel to fit a new network"
            )
        self._log.info("PINN-Fit fine-tunes a copy of the loaded %s", describe_bundle(loaded))
        # Backends may train an initial model in place: fit a copy, keep the loaded model.
        api = resolve_backend(loaded.backend)
        with tempfile.TemporaryDirectory(prefix="ptychopinnx-copy-") as scratch:
            archive = Path(scratch) / ARCHIVE_NAME
            api.save_bundle(loaded, archive)
            copy = api.load_bundle(archive)
        if copy.N != n:  # a backprop_unet model (check_model_matches), rebuilt at the scan's N
            from ptycho.probe import normalize_probe
            from ptycho.weights import resized_bundle

            scan_probe = normalize_probe(probe, copy.model_config.probe_scale)
            copy = resized_bundle(copy, n, scan_probe, api)
        return copy

    def reconstruct(self, parameters: ReconstructInput) -> Iterator[ReconstructOutput]:
        """Fit epoch by epoch; yield the product after each (``progress`` = epochs done)."""
        from ptycho.loader import container_from_raw

        goal = read_int(self._settings.fit, self._settings.fit.nepochs)
        with _reported(self._log, "PINN-Fit"):
            raw = raw_data_from_input(parameters)
            raw.objectGuess = None  # the input object is a starting guess, not ground truth
            bundle = self._initial_model(raw.N, len(raw), raw.probeGuess)
            model = None
            if bundle is not None:
                model = dataclasses.replace(bundle.model_config, model_type="pinn")
            config = training_config_from_settings(
                self._settings,
                N=raw.N,
                model_type="pinn",
                output_dir=Path(tempfile.gettempdir()),
                data_nphotons=mean_photons_per_pattern(raw.diff3d),
                model=model,
            )
            c = config.model.gridsize**2
            if len(raw) < c:
                raise ValueError(
                    f"the scan has {len(raw)} positions but GridSize {config.model.gridsize} "
                    f"needs at least {c}; use a smaller GridSize"
                )
            api = resolve_backend(config.backend)
            execution = execution_config_for(self._settings, config.backend)
            from ptycho.refine import refined_training_data

            # ARCH-013: targets from this scan's refined object (a copy; raw keeps the
            # positions the product is stitched with)
            fit_data = refined_training_data(raw, config.refined_target_iterations)
            container = container_from_raw(
                fit_data,
                raw.N,
                gridsize=config.model.gridsize,
                n_groups=None,
                K=max(config.neighbor_count, c),
                seed=config.seed,
            )
            self._log.info(
                "PINN-Fit: %d epochs on %d groups of this scan (%s backend)",
                goal,
                len(container),
                config.backend,
            )
        losses: list[LossValue] = []
        with tempfile.TemporaryDirectory(prefix="ptychopinnx-fit-") as scratch:
            for epoch in range(goal):
                with _reported(self._log, "PINN-Fit"):
                    epoch_config = dataclasses.replace(
                        config,
                        nepochs=1,
                        validation_fraction=0.0,
                        seed=config.seed + epoch,
                        output_dir=Path(scratch),
                    )
                    # validation = the scan itself: its loss is the data fit of the model
                    # after this epoch, i.e. of the object yielded below
                    bundle = api.train(
                        container,
                        epoch_config,
                        validation=container,
                        execution=execution,
                        initial=bundle,
                    )
                    history = bundle.history
                    key = display_loss_key(history, "val_") or display_loss_key(history)
                    if key is not None and history.get(key):
                        losses.append(LossValue(epoch + 1, float(history[key][-1])))
                    self._log.info(
                        "PINN-Fit epoch %d/%d: %s",
                        epoch + 1,
                        goal,
                        ", ".join(f"{k}={v[-1]:.6g}" for k, v in sorted(history.items()) if v),
                    )
                    product = infer_product(
                        bundle, raw, parameters, self._settings, losses=list(losses)
                    )
                yield ReconstructOutput(product=product, progress=epoch + 1)
