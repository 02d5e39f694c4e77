"""Writing a Ptychodus batch-input directory: the :class:`BatchWriter` hook, the h5py writer and
:func:`write_ptychodus_batch_input`.

The core writes the layout with h5py only. Ptychodus's own writer (``ptychodus.api.io``) is a
:class:`BatchWriter` of the adapter,
:class:`ptycho_reconstructor.ptychodus_io.PtychodusBatchWriter`;
:func:`ptycho_reconstructor.ptychodus_io.write_ptychodus_batch_input` picks it when Ptychodus is
importable (``writer='auto'``).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Literal, Protocol, runtime_checkable

import h5py
import numpy as np

from ptycho.atomic import atomic_output_set
from ptycho.ptychodus_files.batch import (
    DIFFRACTION_FILE,
    PRODUCT_FILE,
    BatchArrays,
    BatchSource,
    prepare_batch_arrays,
)

__all__ = ["H5PY_WRITER", "BatchWriter", "H5pyBatchWriter", "write_ptychodus_batch_input"]

logger = logging.getLogger(__name__)


@runtime_checkable
class BatchWriter(Protocol):
    """Writes the two files of one batch-input directory from validated :class:`BatchArrays`.

    ``name`` is a short label for the log (``'h5py'``, ``'ptychodus'``). ``write`` must write
    exactly the two given paths (temporary files that the caller renames into place) and raise
    on failure.
    """

    @property
    def name(self) -> str:
        """Short label of the writer, used in the log."""
        ...

    def write(self, arrays: BatchArrays, diffraction_path: Path, product_path: Path) -> None:
        """Write ``diffraction.h5`` to ``diffraction_path`` and ``product.h5`` to
        ``product_path``."""
        ...


class H5pyBatchWriter:
    """The Ptychodus batch layout written with h5py (no Ptychodus install needed).

    Dataset names, shapes, dtypes and attributes are those of ``ptychodus.api.io``'s
    ``save_diffraction_data`` / ``save_product``, so Ptychodus reads the files identically.
    """

    name = "h5py"

    def write(self, arrays: BatchArrays, diffraction_path: Path, product_path: Path) -> None:
        """Write the two files with h5py."""
        diff_path, prod_path = diffraction_path, product_path
        with h5py.File(diff_path, "w") as f:
            f.create_dataset("indexes", data=arrays.indexes, compression="lzf")
            pat = f.create_dataset("patterns", data=arrays.patterns, compression="lzf")
            pat.attrs["detector_pixel_width_m"] = arrays.detector_pixel_m
            pat.attrs["detector_pixel_height_m"] = arrays.detector_pixel_m
            f.create_dataset("bad_pixels", data=arrays.bad_pixels, compression="lzf")

        with h5py.File(prod_path, "w") as f:
            f.attrs["name"] = arrays.name
            f.attrs["comments"] = arrays.comments
            f.attrs["detector_object_distance_m"] = arrays.distance_m
            f.attrs["photon_energy_eV"] = arrays.energy_eV
            f.attrs["probe_photon_count"] = arrays.probe_photon_count
            f.attrs["exposure_time_s"] = 0.0
            f.attrs["mass_attenuation_m2_per_kg"] = 0.0
            f.attrs["tomography_angle_deg"] = 0.0
            f.attrs["focus_object_distance_m"] = 0.0
            f.attrs["tilt_angle_deg"] = 0.0
            f.attrs["far_field"] = True
            f.create_dataset("probe_position_indexes", data=arrays.indexes)
            f.create_dataset("probe_position_x_m", data=arrays.x_m)
            f.create_dataset("probe_position_y_m", data=arrays.y_m)
            probe = f.create_dataset("probe", data=arrays.probe)
            probe.attrs["pixel_width_m"] = arrays.pixel_size_m
            probe.attrs["pixel_height_m"] = arrays.pixel_size_m
            obj = f.create_dataset("object", data=arrays.obj)
            obj.attrs["center_x_m"] = arrays.center_x_m
            obj.attrs["center_y_m"] = arrays.center_y_m
            obj.attrs["pixel_width_m"] = arrays.pixel_size_m
            obj.attrs["pixel_height_m"] = arrays.pixel_size_m
            f.create_dataset("object_layer_spacing_m", data=np.zeros(0, dtype=np.float64))
            # an empty history, written as Ptychodus's save_product writes an empty list (float64)
            f.create_dataset("loss_epochs", data=np.zeros(0, dtype=np.float64))
            f.create_dataset("loss_values", data=np.zeros(0, dtype=np.float64))


#: The default writer of :func:`write_ptychodus_batch_input`.
H5PY_WRITER: BatchWriter = H5pyBatchWriter()


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
    writer: Literal["h5py"] | BatchWriter = "h5py",
) -> tuple[Path, Path]:
    """Write a Ptychodus batch-input directory: ``diffraction.h5`` and ``product.h5``.

    ``ptychodus -b reconstruct|train -i DIR`` reads it: ``diffraction.h5`` (integer detector
    counts, ``/patterns (M, N, N)``, ``/indexes (M,)``, ``/bad_pixels (N, N)``, detector pixel
    size attributes) and ``product.h5`` (positions in metres, probe ``(1, modes, N, N)``, object
    guess ``(1, H, W)`` with pixel size and centre, metadata attributes, empty loss history).

    Parameters
    ----------
    dataset_or_raw : SimulatedDataset or RawData
        Source. Patterns: a SimulatedDataset's exact integer ``counts`` when present, else
        integer ``diff3d`` as counts, else float ``diff3d`` as amplitude (squared). Positions:
        ``xcoords``/``ycoords`` (our object pixels, ARCH-002). Probe: ``probe_modes`` or
        ``probeGuess``. Object grid: ``objectGuess``'s shape (or the box ``[0, max + N/2]`` of
        the positions when there is none).
    directory : path
        Output directory (created if missing). Existing files of the same name are replaced.
    pixel_size_m : float, optional
        Object/probe pixel size in metres; default ``lambda z / (N detector_pixel_m)``.
    detector_pixel_m, distance_m, energy_eV : float
        Detector pixel size (m), sample-detector distance (m) and photon energy (eV).
    as_counts : bool
        True (default): ``/patterns`` is ``uint32`` counts (``rint`` of the intensities).
        False: ``float32`` intensities (amplitude squared) without rounding.
    object_init : {'flat', 'input'}
        Object written to ``product.h5`` as the initial guess: ``'flat'`` (default) is all ones
        on the object grid, so that a reconstructor cannot start from the ground truth;
        ``'input'`` writes ``objectGuess`` as is.
    center_x_m, center_y_m : float
        Physical position of the object array centre.
    name, comments : str
        Product metadata.
    writer : 'h5py' or BatchWriter
        ``'h5py'`` (default) writes the layout with h5py; any :class:`BatchWriter` writes it
        instead (Ptychodus's own writer is
        :class:`ptycho_reconstructor.ptychodus_io.PtychodusBatchWriter`, and
        :func:`ptycho_reconstructor.ptychodus_io.write_ptychodus_batch_input` offers
        ``writer='auto'|'ptychodus'|'h5py'``).

    Returns
    -------
    (diffraction_path, product_path) : tuple of Path

    Notes
    -----
    Scan indexes are ``0 .. M-1`` in pattern order in both files, so Ptychodus pairs pattern
    ``i`` with position ``i``. Positions are converted with
    :func:`ptycho.ptychodus_files.object_px_to_ptychodus_m`. The product's probe photon count is
    the mean counts per pattern. All inputs are validated before anything is written; the two
    files are one output set (:func:`ptycho.atomic.atomic_output_set`): each is written to a
    temporary file in ``directory``, and only when both are complete are they renamed into place.
    """
    chosen = _resolve_writer(writer)
    arrays = prepare_batch_arrays(
        dataset_or_raw,
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
    )
    out_dir = Path(directory)
    out_dir.mkdir(parents=True, exist_ok=True)
    diff_final = out_dir / DIFFRACTION_FILE
    prod_final = out_dir / PRODUCT_FILE
    # the two files describe one batch: both are written completely before either is replaced
    with atomic_output_set((diff_final, prod_final)) as (diff_tmp, prod_tmp):
        chosen.write(arrays, diff_tmp, prod_tmp)
    logger.info(
        "wrote Ptychodus batch input %s (%d patterns %dx%d, %s, pixel %.4g m, writer %s)",
        out_dir,
        arrays.patterns.shape[0],
        arrays.patterns.shape[1],
        arrays.patterns.shape[2],
        arrays.patterns.dtype,
        arrays.pixel_size_m,
        chosen.name,
    )
    return diff_final, prod_final


def _resolve_writer(writer: object) -> BatchWriter:
    if isinstance(writer, str):
        if writer == "h5py":
            return H5PY_WRITER
        if writer in ("auto", "ptychodus"):
            raise ValueError(
                f"writer={writer!r} needs Ptychodus, which the core never imports; call "
                "ptycho_reconstructor.ptychodus_io.write_ptychodus_batch_input (same arguments) "
                "or pass writer='h5py'"
            )
        raise ValueError(f"writer must be 'h5py' or a BatchWriter, got {writer!r}")
    if isinstance(writer, BatchWriter):
        return writer
    raise ValueError(
        "writer must be 'h5py' or a BatchWriter (an object with a name and "
        f"write(arrays, diffraction_path, product_path)), got {type(writer).__name__}"
    )
