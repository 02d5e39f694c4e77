"""The PtychoPINNx settings panel in Ptychodus's Processing view (PyQt5).

This module owns ``specs/ptychodus_api_spec.md`` ADAPT-060 .. ADAPT-062:
:class:`PtychoPINNxViewControllerFactory` builds, with Ptychodus's own ``ParameterViewBuilder``,
one panel per reconstructor (``PINN``, ``Supervised``, ``PINN-Fit``). Every widget is bound both
ways to a ``PtychoPINNx*`` setting, so what the panel shows is what the INI file saves. Groups:

* **Execution**: backend combo box (``tensorflow`` / ``pytorch``), accelerator, devices, precision;
* **Model**: architecture and physics (``PINN-Fit``: used when it starts from scratch);
* **Training** (``PINN``, ``Supervised``) or **Fit** + **Training** (``PINN-Fit``);
* **Inference**: model archive (file chooser), the loaded model's description, grouping,
  batch size and stitching crop.

When the loaded model changes (Load Model..., a finished Train, a path typed into the panel),
the panel refreshes its description, the model-path field and Ptychodus's Infer button on the GUI
thread (the change itself may happen on Ptychodus's worker thread).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from ptychodus.api.observer import Observable, Observer
from ptychodus.controller.parameters import ParameterViewBuilder, ParameterViewController
from ptychodus.controller.processing import ReconstructorViewControllerFactory
from PyQt5.QtCore import QObject, pyqtSignal
from PyQt5.QtWidgets import QLabel, QWidget

from ptycho_reconstructor.reconstructors import MODEL_FILE_FILTER
from ptycho_reconstructor.settings import (
    ACCELERATOR_CHOICES,
    AMP_ACTIVATION_CHOICES,
    ARCHITECTURE_CHOICES,
    BACKEND_CHOICES,
    PRECISION_CHOICES,
    PROBE_SOURCE_CHOICES,
)

if TYPE_CHECKING:
    from ptychodus.controller.data import FileDialogFactory

    from ptycho_reconstructor.library import PtychoPINNxLibrary

__all__ = ["PtychoPINNxViewControllerFactory"]

logger = logging.getLogger(__name__)


class _ModelChangedBridge(QObject):
    """Carries "the loaded model changed" from any thread to the GUI thread."""

    changed = pyqtSignal()


class ModelStatusViewController(ParameterViewController, Observer):
    """A label describing the loaded model; refreshes the panel and the Infer button."""

    def __init__(self, library: PtychoPINNxLibrary, algorithm_parameter: Observable | None) -> None:
        super().__init__()
        self._library = library
        self._algorithm_parameter = algorithm_parameter
        self._widget = QLabel()
        self._widget.setWordWrap(True)
        self._widget.setObjectName("ptychopinnxModelStatus")
        self._bridge = _ModelChangedBridge(self._widget)
        self._bridge.changed.connect(self._sync_model_to_view)
        self._sync_label()
        library.model_slot.add_observer(self)
        library.settings.inference.model_path.add_observer(self)

    def get_widget(self) -> QWidget:
        return self._widget

    def _sync_label(self) -> None:
        self._widget.setText(self._library.model_slot.describe())

    def _sync_model_to_view(self) -> None:
        self._sync_label()
        # ModelPath may have been set without notification on a worker thread: refresh its
        # widgets here, on the GUI thread, then let Ptychodus re-check is_model_loaded().
        self._library.settings.inference.model_path.notify_observers()
        if self._algorithm_parameter is not None:
            self._algorithm_parameter.notify_observers()

    def _update(self, observable: Observable) -> None:
        if observable is self._library.model_slot:
            self._bridge.changed.emit()
        elif observable is self._library.settings.inference.model_path:
            self._sync_label()


class PtychoPINNxViewControllerFactory(ReconstructorViewControllerFactory):
    """Builds the PtychoPINNx panels for Ptychodus's Processing view.

    Parameters
    ----------
    library : PtychoPINNxLibrary
        The library whose settings the panel edits.
    file_dialog_factory : FileDialogFactory
        Ptychodus's file dialogs (for the model path chooser).
    algorithm_parameter : Observable, optional
        Ptychodus's ``Processing.Algorithm`` parameter; notified when the loaded model changes
        so the Infer button is re-enabled.
    """

    def __init__(
        self,
        library: PtychoPINNxLibrary,
        file_dialog_factory: FileDialogFactory,
        algorithm_parameter: Observable | None = None,
    ) -> None:
        super().__init__()
        self._library = library
        self._file_dialog_factory = file_dialog_factory
        self._algorithm_parameter = algorithm_parameter

    @property
    def name(self) -> str:
        return self._library.name

    def create_view_controller(self, reconstructor_name: str) -> QWidget:
        """The panel for ``reconstructor_name`` (``pinn``, ``supervised`` or ``pinn-fit``)."""
        kind = reconstructor_name.casefold()
        is_fit = kind == "pinn-fit"
        is_supervised = kind == "supervised"
        s = self._library.settings
        builder = ParameterViewBuilder(self._file_dialog_factory)

        group = "Execution"
        builder.add_combo_box(
            s.execution.backend,
            BACKEND_CHOICES,
            "Backend:",
            tool_tip="Deep-learning framework that trains and runs the model. Models trained "
            "with one backend are converted when loaded with the other.",
            group=group,
        )
        builder.add_combo_box(
            s.execution.accelerator,
            ACCELERATOR_CHOICES,
            "Accelerator:",
            tool_tip="Device for the PyTorch backend (TensorFlow uses its default device).",
            group=group,
        )
        builder.add_spin_box(
            s.execution.devices, "Devices:", tool_tip="Number of devices (PyTorch).", group=group
        )
        builder.add_combo_box(
            s.execution.precision,
            PRECISION_CHOICES,
            "Precision:",
            tool_tip="Arithmetic of the network's convolutions in training and inference: "
            "bfloat16 (about 1.4-2x faster where the hardware has bfloat16 units), float32, or "
            "auto (bfloat16 where the hardware has those units). The physics always runs in "
            "float32.",
            group=group,
        )

        if is_fit:
            group = "Fit"
            builder.add_spin_box(
                s.fit.nepochs,
                "Number of Epochs:",
                tool_tip="Epochs fitted to this scan; the object is shown after each.",
                group=group,
            )
            builder.add_check_box(
                s.fit.start_from_model,
                "Start From Loaded Model",
                tool_tip="Fine-tune the loaded model (if any) instead of a new network.",
                group=group,
            )

        group = "Model"
        m = s.model
        builder.add_combo_box(
            m.architecture,
            ARCHITECTURE_CHOICES,
            "Architecture:",
            tool_tip="backprop_unet: each pattern backprojected with the probe, then a U-Net "
            "(runs at any N, with the scan's probe); cnn: the original encoder-decoder.",
            group=group,
        )
        builder.add_spin_box(
            m.gridsize,
            "Grid Size:",
            tool_tip="Patterns per group side (gridsize=2 groups 4 neighbouring patterns).",
            group=group,
        )
        builder.add_spin_box(
            m.n_filters_scale,
            "Num. Filters Scale Factor:",
            tool_tip="Width of the network.",
            group=group,
        )
        builder.add_combo_box(
            m.amp_activation, AMP_ACTIVATION_CHOICES, "Amplitude Activation:", group=group
        )
        builder.add_check_box(m.object_big, "Object Big", group=group)
        builder.add_check_box(m.probe_big, "Probe Big", group=group)
        builder.add_check_box(m.pad_object, "Pad Object", group=group)
        if not is_supervised:
            builder.add_check_box(m.probe_mask, "Probe Mask", group=group)
            builder.add_decimal_line_edit(m.probe_scale, "Probe Scale Factor:", group=group)
            builder.add_decimal_line_edit(
                m.gaussian_smoothing_sigma, "Gaussian Smoothing Sigma:", group=group
            )

        group = "Training"
        t = s.training
        if not is_fit:
            builder.add_spin_box(t.nepochs, "Number of Epochs:", group=group)
        builder.add_spin_box(t.batch_size, "Batch Size:", group=group)
        builder.add_decimal_line_edit(t.learning_rate, "Learning Rate:", group=group)
        if not is_supervised:
            builder.add_decimal_line_edit(t.nll_weight, "NLL Weight:", group=group)
            builder.add_decimal_line_edit(t.mae_weight, "MAE Weight:", group=group)
            builder.add_decimal_line_edit(
                t.realspace_mae_weight, "Realspace MAE Weight:", group=group
            )
            builder.add_decimal_line_edit(t.realspace_weight, "Realspace Weight:", group=group)
            builder.add_decimal_line_edit(
                t.nphotons,
                "Photons per Pattern:",
                tool_tip="Mean photon count per pattern; 0 = measure it from the data.",
                group=group,
            )
            builder.add_check_box(t.probe_trainable, "Probe Trainable", group=group)
            builder.add_check_box(
                t.intensity_scale_trainable, "Intensity Scale Trainable", group=group
            )
        builder.add_spin_box(t.neighbor_count, "Number of Neighbors:", group=group)
        if not is_fit:
            builder.add_spin_box(
                t.n_groups,
                "Number of Groups:",
                tool_tip="Groups per training file.",
                group=group,
            )
            builder.add_decimal_line_edit(
                t.validation_fraction, "Validation Fraction:", group=group
            )
            builder.add_spin_box(t.early_stopping_patience, "Early Stopping Patience:", group=group)
        builder.add_spin_box(t.seed, "Seed:", group=group)
        builder.add_spin_box(
            t.refined_target_iterations,
            "Refined Target Iterations:",
            tool_tip="Train towards the scan's physics-refined object (real-space loss with "
            "Realspace Weight, e.g. 20); 0 = off.",
            group=group,
        )
        if not is_fit and not is_supervised:
            builder.add_check_box(
                t.start_from_pretrained,
                "Start From Pretrained",
                tool_tip="Train by fine-tuning the pretrained model that ships with ptychopinn "
                "(when the Model settings match it); off = a new network.",
                group=group,
            )

        group = "Inference"
        i = s.inference
        builder.add_file_opener(
            i.model_path,
            "Model Archive:",
            caption="Load PtychoPINN Model",
            name_filters=[MODEL_FILE_FILTER],
            selected_name_filter=MODEL_FILE_FILTER,
            tool_tip="wts.h5.zip written by Train (or by ptycho-train / ptycho_torch.train).",
            group=group,
        )
        builder.add_view_controller(
            ModelStatusViewController(self._library, self._algorithm_parameter),
            "Loaded Model:",
            group=group,
        )
        builder.add_spin_box(i.neighbor_count, "Number of Neighbors:", group=group)
        builder.add_spin_box(
            i.n_groups,
            "Number of Groups:",
            tool_tip="0 = one group per scan position.",
            group=group,
        )
        builder.add_spin_box(i.batch_size, "Batch Size:", group=group)
        builder.add_spin_box(
            i.stitch_crop,
            "Stitch Crop:",
            tool_tip="Central patch region used for stitching, in pixels; 0 = N/2.",
            group=group,
        )
        builder.add_spin_box(
            i.refine_iterations,
            "Refine Iterations:",
            tool_tip="Physics refinement of the network's object against every measured "
            "pattern; 0 = the network's prediction as it is.",
            group=group,
        )
        builder.add_check_box(
            i.refine_probe,
            "Refine Probe",
            tool_tip="Refine the probe too (use when the probe is only a guess).",
            group=group,
        )
        builder.add_combo_box(
            i.probe_source,
            PROBE_SOURCE_CHOICES,
            "Probe Source:",
            tool_tip="Probe the network backprojects with and refinement starts from: auto = "
            "the scan's, or the model's when it learned its probe; data; model.",
            group=group,
        )
        widget = builder.build_widget()
        widget.setObjectName(f"ptychopinnx_{kind}")
        return widget
