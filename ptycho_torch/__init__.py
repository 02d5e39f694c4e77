"""PyTorch + Lightning backend of PtychoPINN (``ptycho_torch``).

This package never imports TensorFlow (design D8). Importing the package itself is light: it
imports neither torch nor lightning, so ``import ptycho_torch`` works without the ``[torch]``
extra; the submodules that need torch import it at module level. Anything that *selects* this
backend calls :func:`require_torch` first, so a missing installation gives one clear error
(design D7, issue 4 item 6) instead of a ``ModuleNotFoundError`` from deep inside.

Module map
----------
Mirrored in ``ptycho.tf`` under the same names (``tests/architecture/test_mirrored_backends.py``):

``api``            the shared backend contract (:class:`ptycho.backend.BackendAPI`)
``physics``        torch mirror of :mod:`ptycho.physics` (ARCH-003..010)
``network``        plain ``nn.Module`` network and ``build_model`` (layer names shared with TF)
``training``       the ``train`` entry point
``callbacks``      ``EpochCallbackBridge``: per-epoch history, the epoch callback, the NaN guard
``persistence``    ``wts.h5.zip`` archives and Lightning ``.ckpt`` loading (weights only)
``prediction``     ``predict_patches`` and ``reconstruct`` (prediction and stitching)

PyTorch-specific modules and fixed-name entry points:

``model``          thin ``PtychoPINN_Lightning`` LightningModule
``blocks``         the network's building blocks (``Encoder``, ``Decoder``, ``BackpropUNet``)
``trainer``        the Lightning ``Trainer`` from ``PyTorchExecutionConfig``
``accelerators``   accelerator and device-count checks (training and prediction)
``loggers``        Lightning experiment loggers and Lightning's console messages
``interrupts``     Ctrl-C during ``Trainer.fit`` (HARD-010)
``datamodule``     LightningDataModule over :class:`ptycho.loader.PtychoDataContainer`
``api.base_api``   the object API of Ptychodus 1.7's built-in PtychoPINN-Torch client
``lightning_utils`` ``find_best_checkpoint`` (also for that client)
``inference``      the inference CLI (``python -m ptycho_torch.inference``)
``train``          the training CLI (``cli_shared``: deprecated-flag handling)
``pretrain``       the CLI that builds the shipped pretrained model
``config_params``  the original backend's config dataclasses (Ptychodus 1.7 compatible)
``config_bridge``  those configs <-> core :mod:`ptycho.config.config` dataclasses
``workflows``      ``run_cdi_example_torch`` and friends
"""

from __future__ import annotations

import importlib.util

__all__ = ["INSTALL_HINT", "require_torch", "torch_available"]

#: The exact command that installs this backend's dependencies.
INSTALL_HINT = "pip install 'ptychopinn[torch]'"


def torch_available() -> bool:
    """Whether torch and lightning can be imported (without importing them)."""
    return all(importlib.util.find_spec(name) is not None for name in ("torch", "lightning"))


def require_torch() -> None:
    """Fail fast when this backend's packages are missing.

    Raises
    ------
    RuntimeError
        ``"PyTorch backend selected, but torch/lightning is not installed: pip install
        'ptychopinn[torch]'"`` when either package cannot be imported.
    """
    missing = [name for name in ("torch", "lightning") if importlib.util.find_spec(name) is None]
    if missing:
        raise RuntimeError(
            "PyTorch backend selected, but torch/lightning is not installed: "
            f"{INSTALL_HINT} (missing: {', '.join(missing)})"
        )
