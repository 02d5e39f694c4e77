"""TensorFlow-free compatibility shim for ``ptycho.tf_helper.reassemble_position``.

Ptychodus's built-in PtychoPINN client (reconstruct child process) calls
``ptycho.tf_helper.reassemble_position(pred, container.global_offsets, M=20)`` after
``model.predict`` (see ``specs/ptychodus_api_spec.md``). In the original package that module
imported TensorFlow and configured the GPU at import time. Here it only re-exports the
vectorised NumPy implementation from :mod:`ptycho.stitching`, so importing it loads neither
TensorFlow nor torch (design D8) and accepts TF EagerTensors through ``__array__``.
New code should import from :mod:`ptycho.stitching` directly.
"""

from __future__ import annotations

from ptycho.stitching import reassemble_position

__all__ = ["reassemble_position"]
