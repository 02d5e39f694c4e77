"""Ptychodus's own writer of the batch-input files (``ptychodus.api.io``), for the core's hook.

The core (:mod:`ptycho.ptychodus_files`) owns the file layout and writes it with h5py; this
module plugs Ptychodus's ``save_diffraction_data`` / ``save_product`` into its
:class:`~ptycho.ptychodus_files.BatchWriter` hook:

* :class:`PtychodusBatchWriter`: the hook implementation (imports ``ptychodus.api`` when it
  writes);
* :func:`ptychodus_batch_writer`: that writer, or ``None`` when Ptychodus is not importable;
* :func:`write_ptychodus_batch_input`: the core's function with
  ``writer='auto'|'ptychodus'|'h5py'``; ``'auto'`` (default) uses Ptychodus's writer when it is
  importable and h5py otherwise.

This module imports without Ptychodus, so callers (``ptycho-simulate --format ptychodus``)
work on a machine without it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from ptycho.ptychodus_files import (
    H5PY_WRITER,
    BatchArrays,
    BatchSource,
    BatchWriter,
)
from ptycho.ptychodus_files import (
    write_ptychodus_batch_input as _write_with,
)

__all__ = ["PtychodusBatchWriter", "ptychodus_batch_writer", "write_ptychodus_batch_input"]

#: The install command named when ``writer='ptychodus'`` is asked for without Ptychodus.
INSTALL_HINT = "pip install 'ptychopinn[ptychodus]'"


class PtychodusBatchWriter:
    """Writes the batch layout with ``ptychodus.api.io.save_diffraction_data`` / ``save_product``.

    Needs Ptychodus importable when :meth:`write` runs (use :func:`ptychodus_batch_writer` to
    get one only when it is).
    """

    name = "ptychodus"

    def write(self, arrays: BatchArrays, diffraction_path: Path, product_path: Path) -> None:
        """Write ``diffraction.h5`` and ``product.h5`` through Ptychodus's API."""
        from ptychodus.api.assemble import AssembledDiffractionData
        from ptychodus.api.geometry import PixelGeometry
        from ptychodus.api.io import save_diffraction_data, save_product
        from ptychodus.api.object import Object, ObjectCenter
        from ptychodus.api.probe import ProbeSequence
        from ptychodus.api.probe_positions import ProbePosition, ProbePositionSequence
        from ptychodus.api.product import Product, ProductMetadata

        detector = PixelGeometry(arrays.detector_pixel_m, arrays.detector_pixel_m)
        assembled = AssembledDiffractionData(
            arrays.indexes, arrays.patterns, detector, arrays.bad_pixels
        )
        save_diffraction_data(diffraction_path, assembled)

        # ProductMetadata's 8 required fields are passed positionally (name, comments,
        # detector distance, photon energy, probe photon count, exposure time, mass attenuation,
        # tomography angle): their keyword names changed between Ptychodus releases.
        metadata = ProductMetadata(
            arrays.name,
            arrays.comments,
            arrays.distance_m,
            arrays.energy_eV,
            arrays.probe_photon_count,
            0.0,
            0.0,
            0.0,
        )
        positions = ProbePositionSequence(
            [
                ProbePosition(int(i), float(xm), float(ym))
                for i, xm, ym in zip(arrays.indexes, arrays.x_m, arrays.y_m, strict=True)
            ]
        )
        pixel = PixelGeometry(arrays.pixel_size_m, arrays.pixel_size_m)
        probes = ProbeSequence(arrays.probe, None, pixel)
        obj = Object(
            arrays.obj,
            PixelGeometry(arrays.pixel_size_m, arrays.pixel_size_m),
            ObjectCenter(arrays.center_x_m, arrays.center_y_m),
            [],
        )
        product = Product(
            metadata=metadata, probe_positions=positions, probes=probes, object_=obj, losses=[]
        )
        save_product(product_path, product)


def ptychodus_batch_writer() -> BatchWriter | None:
    """Ptychodus's writer when ``ptychodus.api.io`` can be imported, else ``None``."""
    try:
        import ptychodus.api.io  # noqa: F401
    except ImportError:
        return None
    return PtychodusBatchWriter()


def write_ptychodus_batch_input(
    dataset_or_raw: BatchSource,
    directory: str | os.PathLike[str],
    *,
    pixel_size_m: float | None = None,
    detector_pixel_m: float = 75e-6,
    distance_m: float = 2.0,
    energy_eV: float = 10000.0,
    as_counts: bool = True,
    object_init: Literal["flat", "input"] = "flat",
    center_x_m: float = 0.0,
    center_y_m: float = 0.0,
    name: str = "ptychopinn",
    comments: str = "",
    writer: Literal["auto", "ptychodus", "h5py"] = "auto",
) -> tuple[Path, Path]:
    """Write a Ptychodus batch-input directory, with Ptychodus's own writer when available.

    The parameters are those of :func:`ptycho.ptychodus_files.write_ptychodus_batch_input`
    except ``writer``:

    writer : {'auto', 'ptychodus', 'h5py'}
        ``'auto'`` (default) uses ``ptychodus.api.io.save_diffraction_data``/``save_product``
        when Ptychodus is importable and h5py otherwise; the other two force one of them
        (``'ptychodus'`` raises ``RuntimeError`` if it is not installed). Both write the same
        layout.

    Returns
    -------
    (diffraction_path, product_path) : tuple of Path
    """
    if writer not in ("auto", "ptychodus", "h5py"):
        raise ValueError(f"writer must be 'auto', 'ptychodus' or 'h5py', got {writer!r}")
    chosen = None if writer == "h5py" else ptychodus_batch_writer()
    if writer == "ptychodus" and chosen is None:
        raise RuntimeError(
            "writer='ptychodus' was requested but ptychodus is not installed; "
            f"install it with: {INSTALL_HINT} (or use writer='h5py')"
        )
    return _write_with(
        dataset_or_raw,
        directory,
        pixel_size_m=pixel_size_m,
        detector_pixel_m=detector_pixel_m,
        distance_m=distance_m,
        energy_eV=energy_eV,
        as_counts=as_counts,
        object_init=object_init,
        center_x_m=center_x_m,
        center_y_m=center_y_m,
        name=name,
        comments=comments,
        writer=H5PY_WRITER if chosen is None else chosen,
    )
