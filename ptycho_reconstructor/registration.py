"""Registration of the PtychoPINNx library with Ptychodus 1.7 (design D9; mechanism A).

Ptychodus 1.7 has no discovery mechanism for reconstructor libraries: ``ModelCore`` passes a
hard-coded list to ``ProcessingCore`` and ``ControllerCore`` a hard-coded list of GUI factories to
``ProcessingController``. :func:`install` replaces the two module-level names
``ptychodus.model.core.ProcessingCore`` and ``ptychodus.controller.core.ProcessingController`` by
subclasses that append our library (created with the ``ModelCore``'s settings registry, so its
settings groups exist before ``-s``/``settings.ini`` are read) and our settings panel. It must run
before ``ModelCore()`` builds its ``ProcessingCore``; both callers guarantee that:

* the hook ``ptychodus/plugins/ptychopinn_hook.py`` (installed with the distribution into the
  ``ptychodus.plugins`` namespace) calls it from ``PluginRegistry.load_plugins()``, the first
  thing ``ModelCore.__init__`` does, so the stock ``ptychodus`` command (GUI, ``-b``, ``-s``)
  lists the library;
* the ``ptychodus-ptychopinn`` console script (:mod:`ptycho_reconstructor.launcher`) calls it and
  then runs Ptychodus's ``main()``.

:func:`install` is idempotent (a second call changes nothing); :func:`uninstall` restores the
originals. The GUI part is skipped when PyQt5 or Ptychodus's controller cannot be imported.
"""

from __future__ import annotations

import inspect
import logging
from types import ModuleType
from typing import Final

__all__ = ["LIBRARY_ATTRIBUTE", "install", "is_installed", "uninstall"]

logger = logging.getLogger(__name__)

#: Set to True on the patched classes (idempotence).
_MARK: Final[str] = "_ptychopinnx_patched"
#: Holds the class that was replaced (for :func:`uninstall`).
_ORIGINAL: Final[str] = "_ptychopinnx_original"
#: Attribute set on ``ProcessingCore`` and on its ``algorithm_parameter`` holding our library.
LIBRARY_ATTRIBUTE: Final[str] = "ptychopinnx_library"
#: The names replaced in ``ptychodus.model.core`` and ``ptychodus.controller.core``. Those
#: modules import the classes without re-exporting them, so they are read and written by name.
_CORE_CLASS: Final[str] = "ProcessingCore"
_CONTROLLER_CLASS: Final[str] = "ProcessingController"


def _current(module: ModuleType, name: str) -> type:
    """The class ``module.<name>`` now holds (Ptychodus's, or a subclass installed over it)."""
    cls = getattr(module, name)
    if not isinstance(cls, type):
        raise TypeError(f"{module.__name__}.{name} is {cls!r}, not a class")
    return cls


def _developer_mode() -> bool:
    """Ptychodus's developer mode: its model logger at DEBUG or below."""
    return logging.getLogger("ptychodus.model.core").getEffectiveLevel() <= logging.DEBUG


def _patch_model_core() -> None:
    import ptychodus.model.core as model_core

    current = _current(model_core, _CORE_CLASS)
    if getattr(current, _MARK, False):
        return
    signature = inspect.signature(current)  # __init__ without self

    # the base is whatever class the module holds at install time (a runtime value), which a
    # static type checker cannot take as a base class
    class PtychoPINNxProcessingCore(current):  # type: ignore[valid-type,misc]
        """Ptychodus's ProcessingCore with the PtychoPINNx library appended."""

        def __init__(self, *args: object, **kwargs: object) -> None:
            bound = signature.bind(*args, **kwargs)
            library = None
            try:
                from ptycho_reconstructor.library import PtychoPINNxLibrary

                registry = bound.arguments["settings_registry"]
                library = PtychoPINNxLibrary(registry, _developer_mode())
            except Exception:
                logger.exception("PtychoPINNx could not be added to Ptychodus's algorithms")
            else:
                bound.arguments["algorithm_libraries"] = [
                    *bound.arguments["algorithm_libraries"],
                    library,
                ]
            super().__init__(*bound.args, **bound.kwargs)
            setattr(self, LIBRARY_ATTRIBUTE, library)
            if library is not None:
                setattr(self.algorithm_parameter, LIBRARY_ATTRIBUTE, library)

    setattr(PtychoPINNxProcessingCore, _MARK, True)
    setattr(PtychoPINNxProcessingCore, _ORIGINAL, current)
    setattr(model_core, _CORE_CLASS, PtychoPINNxProcessingCore)


def _patch_controller_core() -> None:
    try:
        import ptychodus.controller.core as controller_core
        import PyQt5.QtWidgets  # noqa: F401 - probes that the GUI toolkit loads
    except Exception as exc:
        logger.debug("Ptychodus GUI not available (%s); PtychoPINNx panel not installed", exc)
        return

    current = _current(controller_core, _CONTROLLER_CLASS)
    if getattr(current, _MARK, False):
        return
    signature = inspect.signature(current)  # __init__ without self

    # a runtime base class, as in _patch_model_core
    class PtychoPINNxProcessingController(current):  # type: ignore[valid-type,misc]
        """Ptychodus's ProcessingController with the PtychoPINNx settings panel appended."""

        def __init__(self, *args: object, **kwargs: object) -> None:
            bound = signature.bind(*args, **kwargs)
            algorithm_parameter = bound.arguments["algorithm_parameter"]
            library = getattr(algorithm_parameter, LIBRARY_ATTRIBUTE, None)
            if library is not None:
                try:
                    from ptycho_reconstructor.gui import PtychoPINNxViewControllerFactory

                    factory = PtychoPINNxViewControllerFactory(
                        library, bound.arguments["file_dialog_factory"], algorithm_parameter
                    )
                except Exception:
                    logger.exception("the PtychoPINNx settings panel could not be created")
                else:
                    bound.arguments["view_controller_factories"] = [
                        *bound.arguments["view_controller_factories"],
                        factory,
                    ]
            super().__init__(*bound.args, **bound.kwargs)

    setattr(PtychoPINNxProcessingController, _MARK, True)
    setattr(PtychoPINNxProcessingController, _ORIGINAL, current)
    setattr(controller_core, _CONTROLLER_CLASS, PtychoPINNxProcessingController)


def install() -> None:
    """Register the PtychoPINNx library (and its GUI panel) with Ptychodus; idempotent.

    Call before ``ModelCore()`` is constructed (the plugin hook and the launcher do).
    """
    _patch_model_core()
    _patch_controller_core()


def is_installed() -> bool:
    """Whether :func:`install` has patched ``ptychodus.model.core``."""
    import ptychodus.model.core as model_core

    return bool(getattr(_current(model_core, _CORE_CLASS), _MARK, False))


def uninstall() -> None:
    """Restore Ptychodus's original classes (for tests; idempotent)."""
    import sys

    import ptychodus.model.core as model_core

    for module, name in (
        (model_core, _CORE_CLASS),
        (sys.modules.get("ptychodus.controller.core"), _CONTROLLER_CLASS),
    ):
        if module is None:
            continue
        current = _current(module, name)
        if getattr(current, _MARK, False):
            setattr(module, name, getattr(current, _ORIGINAL))
