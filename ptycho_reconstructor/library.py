"""The ``PtychoPINNx`` reconstructor library that Ptychodus lists under Processing -> Algorithm.

This module owns ``specs/ptychodus_api_spec.md`` ADAPT-001: :class:`PtychoPINNxLibrary`, a
Ptychodus ``ReconstructorLibrary`` named ``PtychoPINNx`` offering three reconstructors, whose
Ptychodus algorithm keys are

* ``ptychopinnx_pinn`` (``PINN``, trainable, physics loss),
* ``ptychopinnx_supervised`` (``Supervised``, trainable, loss on the true object),
* ``ptychopinnx_pinn-fit`` (``PINN-Fit``, self-supervised fit to the scan itself).

The name has no ``_`` (Ptychodus splits the algorithm key at the first ``_``) and differs from
Ptychodus's built-in ``PtychoPINN`` and ``PtychoPINN-Torch`` libraries, which stay available
next to ours. The constructor creates the library's settings groups in the ``ModelCore``'s
registry (so ``-s settings.ini`` and Settings -> Save include them). All three reconstructors
are always listed; a backend that is not installed is reported when a run selects it, with the
pip command to install it.
"""

from __future__ import annotations

from collections.abc import Iterator
from importlib.util import find_spec
from typing import TYPE_CHECKING, Final

from ptychodus.api.reconstruct import Reconstructor, ReconstructorLibrary

from ptycho.workflows.registry import backend_names, backend_spec
from ptycho_reconstructor.model_slot import ModelSlot
from ptycho_reconstructor.reconstructors import (
    PtychoPINNxFitReconstructor,
    PtychoPINNxTrainableReconstructor,
)
from ptycho_reconstructor.settings import PtychoPINNxSettings

if TYPE_CHECKING:
    from ptychodus.api.settings import SettingsRegistry

__all__ = ["LIBRARY_NAME", "LOGGER_NAME", "PtychoPINNxLibrary", "available_backends"]

#: The library name (first part of every algorithm key).
LIBRARY_NAME: Final[str] = "PtychoPINNx"
#: The library logger: the parent of every ``ptycho_reconstructor.*`` logger, so all adapter
#: messages reach Ptychodus's processing log pane.
LOGGER_NAME: Final[str] = "ptycho_reconstructor"


def available_backends() -> list[str]:
    """Registered backends whose packages are installed (checked without importing them)."""
    return [
        name
        for name in backend_names()
        if all(find_spec(package) is not None for package in backend_spec(name).packages)
    ]


class PtychoPINNxLibrary(ReconstructorLibrary):
    """PtychoPINN in the Ptychodus process, on TensorFlow or PyTorch.

    Parameters
    ----------
    settings_registry : SettingsRegistry
        The ``ModelCore``'s registry; the ``PtychoPINNx*`` groups are created in it.
    is_developer_mode_enabled : bool
        Ptychodus's developer mode (more logging); accepted for symmetry with the built-ins.

    Attributes
    ----------
    settings : PtychoPINNxSettings
        The library's settings groups.
    model_slot : ModelSlot
        The loaded model shared by the reconstructors.
    """

    def __init__(
        self, settings_registry: SettingsRegistry, is_developer_mode_enabled: bool = False
    ) -> None:
        super().__init__(LOGGER_NAME)
        self.is_developer_mode_enabled = is_developer_mode_enabled
        self.settings = PtychoPINNxSettings(settings_registry)
        self.model_slot = ModelSlot(self.settings)
        log = self.get_logger()
        self._reconstructors: list[Reconstructor] = [
            PtychoPINNxTrainableReconstructor("PINN", "pinn", self.settings, self.model_slot, log),
            PtychoPINNxTrainableReconstructor(
                "Supervised", "supervised", self.settings, self.model_slot, log
            ),
            PtychoPINNxFitReconstructor(self.settings, self.model_slot, log),
        ]
        backends = available_backends()
        log.info(
            "%s: backends installed: %s", LIBRARY_NAME, ", ".join(backends) if backends else "none"
        )

    @property
    def name(self) -> str:
        return LIBRARY_NAME

    def __iter__(self) -> Iterator[Reconstructor]:
        return iter(self._reconstructors)

    def reconstructor(self, name: str) -> Reconstructor:
        """The reconstructor called ``name`` (case-insensitive)."""
        for reconstructor in self._reconstructors:
            if reconstructor.name.casefold() == name.casefold():
                return reconstructor
        names = ", ".join(r.name for r in self._reconstructors)
        raise KeyError(f"{LIBRARY_NAME} has no reconstructor {name!r} (it has {names})")
