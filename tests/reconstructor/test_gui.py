"""ADAPT-060 .. ADAPT-062: the Ptychodus GUI with PtychoPINNx (pytest-qt, offscreen).

Builds Ptychodus's ``ModelCore``, ``ViewCore`` and ``ControllerCore`` the way
``ptychodus.__main__`` does (with ``install()`` first, as the plugin hook does), finds our
algorithms in Processing -> Algorithm, shows our panel with its backend choice, loads a model,
presses Infer on a small product and saves a screenshot PNG to ``tmp_path`` (and, when
``PTYCHOPINN_SCREENSHOT_DIR`` is set, a copy there, e.g. ``out/screenshots`` which git ignores),
then a second one scrolled to the refinement settings (ARCH-013).
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("PyQt5")
pytest.importorskip("pytestqt")

from PyQt5.QtCore import Qt
from PyQt5.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QGroupBox,
    QLabel,
    QPushButton,
    QScrollArea,
    QWidget,
)

from .factories import load_scan, tiny_settings

pytestmark = [pytest.mark.gui, pytest.mark.integration]

SCREENSHOT = "ptychodus_ptychopinnx_processing.png"
SCREENSHOT_INFERENCE = "ptychodus_ptychopinnx_inference_settings.png"


def _combo_with(root: QWidget, item: str) -> QComboBox:
    for combo in root.findChildren(QComboBox):
        if item in [combo.itemText(i) for i in range(combo.count())]:
            return combo
    raise AssertionError(f"no combo box offers {item!r}")


def _field(root: QWidget, label: str) -> Any:
    """The editor widget of the form row labelled ``label`` under ``root``."""
    for form in root.findChildren(QFormLayout):
        for row in range(form.rowCount()):
            item = form.itemAt(row, QFormLayout.ItemRole.LabelRole)
            if item is not None and isinstance(item.widget(), QLabel):
                if item.widget().text() == label:
                    return form.itemAt(row, QFormLayout.ItemRole.FieldRole).widget()
    raise AssertionError(f"no form row {label!r}")


def _choose(combo: QComboBox, text: str) -> None:
    """What a user's click does: select the item and emit textActivated."""
    combo.setCurrentIndex(combo.findText(text))
    combo.textActivated.emit(text)


def test_gui_lists_shows_panel_infers_and_screenshots(
    qtbot: Any, trained: Any, batch_dir: Path, tmp_path: Path
) -> None:
    """ADAPT-060..062: algorithm list, panel with backend choice, Infer, screenshot."""
    from ptychodus.controller import ControllerCore
    from ptychodus.model import ModelCore
    from ptychodus.view import ViewCore

    from ptycho_reconstructor.registration import install

    archive, _ = trained("tensorflow")
    install()
    with ModelCore(log_level=logging.WARNING) as model:
        view = ViewCore(is_developer_mode_enabled=False)
        qtbot.addWidget(view)
        controller = ControllerCore(model, view, is_developer_mode_enabled=False)
        controller.show_main_window("Ptychodus + PtychoPINNx")
        view.resize(1500, 950)
        view.processing_action.trigger()
        library = model.processing_core.ptychopinnx_library
        tiny_settings(library, "tensorflow")

        # Processing -> Algorithm lists our three keys
        algorithms = _combo_with(view.processing_view, "ptychopinnx_pinn")
        items = [algorithms.itemText(i) for i in range(algorithms.count())]
        assert {"ptychopinnx_pinn", "ptychopinnx_supervised", "ptychopinnx_pinn-fit"} <= set(items)
        _choose(algorithms, "ptychopinnx_pinn")
        assert model.processing_core.algorithm_parameter.get_value() == "ptychopinnx_pinn"

        # our panel is the visible page, with its groups and the backend combo box
        panel = view.processing_view.findChild(QWidget, "ptychopinnx_pinn")
        assert panel is not None
        qtbot.waitUntil(panel.isVisible, timeout=5000)
        titles = [box.title() for box in panel.findChildren(QGroupBox)]
        assert titles == ["Execution", "Model", "Training", "Inference"]
        backend_combo = _combo_with(panel, "pytorch")
        assert [backend_combo.itemText(i) for i in range(backend_combo.count())] == [
            "tensorflow",
            "pytorch",
        ]
        _choose(backend_combo, "pytorch")
        assert library.settings.execution.backend.get_value() == "pytorch"
        _choose(backend_combo, "tensorflow")
        assert library.settings.execution.backend.get_value() == "tensorflow"
        fit_panel = view.processing_view.findChild(QWidget, "ptychopinnx_pinn-fit")
        assert fit_panel is not None
        assert [box.title() for box in fit_panel.findChildren(QGroupBox)] == [
            "Execution",
            "Fit",
            "Model",
            "Training",
            "Inference",
        ]

        # issue 11: the panel shows the recommended defaults (tiny_settings leaves these alone)
        from ptycho import defaults

        assert _field(panel, "Refine Iterations:").value() == defaults.REFINE_ITERATIONS
        assert _field(panel, "Accelerator:").currentText() == defaults.ACCELERATOR == "auto"
        assert _field(panel, "Grid Size:").value() == defaults.GRIDSIZE
        # issue 14 / ARCH-016: the network precision, 'auto' by default, all three offered
        precision = _field(panel, "Precision:")
        assert precision.currentText() == defaults.PRECISION == "auto"
        assert [precision.itemText(i) for i in range(precision.count())] == [
            "auto",
            "float32",
            "bfloat16",
        ]

        # a scan, a model, then Infer (enabled once the model is loaded)
        load_scan(model, batch_dir)
        buttons = view.processing_view.findChildren(QPushButton)
        infer = next(b for b in buttons if b.text() == "Infer")
        model.processing_core.processing_api.load_model_from_file(archive)
        qtbot.waitUntil(infer.isEnabled, timeout=30000)
        status = panel.findChild(QLabel, "ptychopinnxModelStatus")
        assert status is not None and "tensorflow" in status.text()

        repository = model.product_core.product_repository
        flat = repository[0].get_product().object_.get_layer(0).copy()
        qtbot.mouseClick(infer, Qt.MouseButton.LeftButton)

        def reconstructed() -> bool:
            if len(repository) < 2:
                return False
            obj = repository[1].get_product().object_.get_layer(0)
            return obj.shape != flat.shape or not np.allclose(obj, flat)

        qtbot.waitUntil(reconstructed, timeout=300000)
        output = repository[1]
        assert output.get_name().endswith("ptychopinnx_pinn")
        assert len(output.get_product().losses) == 2  # the model's loss curve is shown

        qtbot.wait(1500)  # let the 1 s task timer refresh the views
        _screenshot(view, tmp_path / SCREENSHOT)

        # ARCH-013 settings: refined targets (Training), refinement (Inference), at the bottom
        texts = {label.text() for label in panel.findChildren(QLabel)}
        texts |= {box.text() for box in panel.findChildren(QCheckBox)}
        assert {"Refined Target Iterations:", "Refine Iterations:", "Refine Probe"} <= texts
        refine = next(w for w in panel.findChildren(QLabel) if w.text() == "Refine Iterations:")
        for area in view.processing_view.findChildren(QScrollArea):
            if area.isAncestorOf(refine):
                area.ensureWidgetVisible(refine, 0, 120)
        qtbot.wait(200)
        _screenshot(view, tmp_path / SCREENSHOT_INFERENCE)
        view.close()


def _screenshot(view: QWidget, path: Path) -> None:
    """Save a PNG of ``view`` (and a copy into ``$PTYCHOPINN_SCREENSHOT_DIR`` when set)."""
    assert view.grab().save(str(path))
    assert path.stat().st_size > 10_000
    target = os.environ.get("PTYCHOPINN_SCREENSHOT_DIR")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(target) / path.name)
