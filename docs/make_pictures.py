"""Regenerate the documentation pictures in ``docs/images/`` (``make pictures``).

1. ``demo.png``: the figure of the last ``make demo`` (truth / network / refined), scaled down.
2. ``ptychodus_ptychopinnx_processing.png`` and ``ptychodus_ptychopinnx_object.png``: the real
   Ptychodus main window (``QT_QPA_PLATFORM=offscreen`` renders it without a display; on a
   desktop or under Xvfb it is shown while it works), with a
   simulated scan the pretrained model never saw loaded, the PtychoPINNx PINN algorithm chosen,
   no model loaded (so the pretrained model that ships with ptychopinn is used) and **Infer**
   pressed with the default settings; then the Object view of the result.

Usage::

    QT_QPA_PLATFORM=offscreen .venv/bin/python docs/make_pictures.py --demo_output demo_output
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

IMAGES = Path(__file__).resolve().parent / "images"
#: Pixels of the window grabbed (width, height); the PNGs stay well under 300 KB.
WINDOW = (1400, 860)

logger = logging.getLogger("make_pictures")


def _wait(app: Any, condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} did not happen within {timeout_s:.0f} s")
        app.processEvents()
        time.sleep(0.05)


def _pump(app: Any, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        app.processEvents()
        time.sleep(0.02)


def demo_figure(demo_output: Path, width_px: int = 640) -> Path:
    """Scale the demo's comparison figure into ``docs/images/demo.png``."""
    from PIL import Image

    figure = demo_output / "reconstruction.png"
    if not figure.is_file():
        raise FileNotFoundError(f"no {figure}: run `make demo` first")
    with Image.open(figure) as image:
        height = round(image.height * width_px / image.width)
        small = image.convert("RGB").resize((width_px, height), Image.Resampling.LANCZOS)
        target = IMAGES / "demo.png"
        small.quantize(colors=256).save(target, optimize=True)
    return target


def gui_screenshots(work: Path, positions: int = 256, seed: int = 777) -> list[Path]:
    """Take the two Ptychodus screenshots (needs a display: Xvfb or a desktop)."""
    from PyQt5.QtCore import Qt
    from PyQt5.QtTest import QTest
    from PyQt5.QtWidgets import QApplication, QComboBox, QPushButton, QWidget

    from ptycho.simulation import simulate_dataset
    from ptycho_reconstructor.ptychodus_io import write_ptychodus_batch_input
    from ptycho_reconstructor.registration import install

    scan = simulate_dataset(N=64, n_positions=positions, nphotons=1e6, seed=seed)
    write_ptychodus_batch_input(scan, work)

    app = QApplication.instance() or QApplication(["ptychodus"])
    from ptychodus.controller import ControllerCore
    from ptychodus.model import ModelCore
    from ptychodus.view import ViewCore

    install()
    shots = []
    with ModelCore(log_level=logging.WARNING) as model:
        view = ViewCore(is_developer_mode_enabled=False)
        controller = ControllerCore(model, view, is_developer_mode_enabled=False)
        controller.show_main_window("Ptychodus + PtychoPINNx")
        view.resize(*WINDOW)
        view.processing_action.trigger()
        for combo in view.processing_view.findChildren(QComboBox):
            index = combo.findText("ptychopinnx_pinn")
            if index >= 0:
                combo.setCurrentIndex(index)
                combo.textActivated.emit("ptychopinnx_pinn")
        diffraction = model.workflow_api.load_assembled_diffraction_data(work / "diffraction.h5")
        model.workflow_api.load_product(work / "product.h5", diffraction=diffraction)
        infer = next(
            b for b in view.processing_view.findChildren(QPushButton) if b.text() == "Infer"
        )
        _wait(app, infer.isEnabled, 60, "Infer enabled (the pretrained model loaded)")
        repository = model.product_core.product_repository
        QTest.mouseClick(infer, Qt.MouseButton.LeftButton)
        _wait(app, lambda: len(repository) >= 2, 600, "the reconstruction")
        _pump(app, 3.0)  # the task timer refreshes the views once a second
        panel = view.processing_view.findChild(QWidget, "ptychopinnx_pinn")
        assert panel is not None and panel.isVisible()
        shots.append(_grab(view, IMAGES / "ptychodus_ptychopinnx_processing.png"))
        view.object_action.trigger()
        _select_last_product(view, app)
        _pump(app, 5.0)
        shots.append(_grab(view, IMAGES / "ptychodus_ptychopinnx_object.png"))
        view.close()
    return shots


def _select_last_product(view: Any, app: Any) -> None:
    """Show the reconstruction (the newest product's first layer) in the Object view, its
    phase, with the colour range fitted to it."""
    from PyQt5.QtWidgets import QComboBox, QPushButton, QTreeView

    for tree in view.findChildren(QTreeView):
        model = tree.model()
        if tree.isVisible() and model is not None and model.rowCount() >= 2:
            parent = model.index(model.rowCount() - 1, 0)
            tree.expand(parent)
            child = model.index(0, 0, parent)
            tree.setCurrentIndex(child if child.isValid() else parent)
            _pump(app, 0.5)
    for combo in view.findChildren(QComboBox):
        if combo.isVisible():
            logger.info("combo: %s", [combo.itemText(i) for i in range(combo.count())])
            index = combo.findText("Phase")
            if index >= 0:
                combo.setCurrentIndex(index)
                combo.textActivated.emit("Phase")
    _pump(app, 0.5)
    for button in view.findChildren(QPushButton):
        if button.isVisible() and button.text() == "Auto":
            _pump(app, 2.0)
            button.click()


def _grab(view: Any, path: Path) -> Path:
    if not view.grab().save(str(path)):
        raise OSError(f"could not write {path}")
    logger.info("wrote %s (%.0f KB)", path, path.stat().st_size / 1024)
    return path


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--demo_output",
        type=Path,
        default=None,
        help="the `make demo` output folder whose figure becomes demo.png",
    )
    parser.add_argument("--skip_gui", action="store_true", help="only the demo figure")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    IMAGES.mkdir(parents=True, exist_ok=True)
    if args.demo_output is not None:
        logger.info("wrote %s", demo_figure(args.demo_output))
    if not args.skip_gui:
        with tempfile.TemporaryDirectory(prefix="ptychopinn-pictures-") as work:
            gui_screenshots(Path(work))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
