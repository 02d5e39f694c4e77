"""Ptychodus plugin hook that registers the PtychoPINNx reconstructor library (design D9).

The ptychopinn distribution installs this file into Ptychodus's own
``site-packages/ptychodus/plugins/`` directory (a namespace package: neither ``ptychodus/`` nor
``ptychodus/plugins/`` in this distribution has an ``__init__.py``). Ptychodus imports every
module there in ``PluginRegistry.load_plugins()``, the first step of ``ModelCore.__init__``, and
calls its ``register_plugins(registry)``; ours calls
:func:`ptycho_reconstructor.registration.install`, which adds the ``PtychoPINNx`` library to the
processing algorithms and its panel to the GUI. Uninstalling the distribution removes this file
and with it the registration.

Any error is logged, never raised: Ptychodus aborts ``ModelCore`` on exceptions other than
``ModuleNotFoundError`` at import and ``AttributeError`` in ``register_plugins``.
"""

from __future__ import annotations

import logging

__all__ = ["register_plugins"]

logger = logging.getLogger(__name__)


def register_plugins(registry: object) -> None:
    """Register PtychoPINNx with Ptychodus (``registry`` is unused: no plugin category fits)."""
    del registry
    try:
        from ptycho_reconstructor.registration import install

        install()
    except Exception:
        logger.exception(
            "PtychoPINNx could not be registered with Ptychodus; reinstall ptychopinn "
            "(pip install 'ptychopinn[ptychodus]') or run ptychodus-ptychopinn instead"
        )
