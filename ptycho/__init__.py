"""PtychoPINN framework-free core.

Importing ``ptycho`` loads neither TensorFlow nor torch (design D8); the TensorFlow backend lives
in :mod:`ptycho.tf` and is imported only when selected.
"""

__version__ = "0.1.0"
__all__ = ["__version__"]
