"""Ptychodus batch-input files (``diffraction.h5`` + ``product.h5``) and the pixel <-> metre map.

The file format only, with h5py and NumPy; the core never imports Ptychodus. The pieces:

* :mod:`.coordinates`: our object-pixel scan positions (ARCH-002: patch pixel ``(N/2, N/2)``
  sits on object pixel ``(y, x)``) <-> Ptychodus's positions in metres
  (:func:`object_px_to_ptychodus_m`, :func:`ptychodus_m_to_object_px`), and the far-field
  object pixel :func:`far_field_pixel_size_m`;
* :mod:`.batch`: :class:`BatchArrays`, the validated arrays of one batch-input directory, built
  from a SimulatedDataset or a RawData by :func:`prepare_batch_arrays`;
* :mod:`.writer`: :func:`write_ptychodus_batch_input`, which writes the two files
  ``ptychodus -b reconstruct|train -i DIR`` needs through a :class:`BatchWriter` hook (h5py by
  default; Ptychodus's own ``ptychodus.api.io`` writer and ``writer='auto'`` live in the adapter,
  :mod:`ptycho_reconstructor.ptychodus_io`);
* :mod:`.readers`: :func:`read_ptychodus_product` / :func:`read_ptychodus_diffraction`.
"""

from __future__ import annotations

from ptycho.ptychodus_files.batch import (
    DIFFRACTION_FILE,
    PRODUCT_FILE,
    BatchArrays,
    BatchSource,
    ScanSource,
    SimulatedScanSource,
    prepare_batch_arrays,
)
from ptycho.ptychodus_files.coordinates import (
    HC_EV_M,
    far_field_pixel_size_m,
    object_px_to_ptychodus_m,
    ptychodus_m_to_object_px,
)
from ptycho.ptychodus_files.readers import (
    PtychodusDiffraction,
    PtychodusProduct,
    read_ptychodus_diffraction,
    read_ptychodus_product,
)
from ptycho.ptychodus_files.writer import (
    H5PY_WRITER,
    BatchWriter,
    H5pyBatchWriter,
    write_ptychodus_batch_input,
)

__all__ = [
    "DIFFRACTION_FILE",
    "H5PY_WRITER",
    "HC_EV_M",
    "PRODUCT_FILE",
    "BatchArrays",
    "BatchSource",
    "BatchWriter",
    "H5pyBatchWriter",
    "PtychodusDiffraction",
    "PtychodusProduct",
    "ScanSource",
    "SimulatedScanSource",
    "far_field_pixel_size_m",
    "object_px_to_ptychodus_m",
    "prepare_batch_arrays",
    "ptychodus_m_to_object_px",
    "read_ptychodus_diffraction",
    "read_ptychodus_product",
    "write_ptychodus_batch_input",
]
