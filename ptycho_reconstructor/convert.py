"""Pure conversions between Ptychodus's data model and ours (no backend, no I/O).

This module owns ``specs/ptychodus_api_spec.md`` §5.3 (ADAPT-020 .. ADAPT-029):

Input (:func:`raw_data_from_input`): a Ptychodus ``ReconstructInput`` becomes a
:class:`ptycho.raw_data.RawData`:

* **patterns** ``(M, N, N)`` are detector *intensities* (photon counts) in Ptychodus, whatever
  their dtype (integer counts, or float after Ptychodus's own preprocessing). They must be square
  with ``N`` in {64, 128, 256}. Negative values (background subtraction) are clipped to 0. The
  amplitude is ``sqrt(counts)`` as float32 (D1, ARCH-001).
* **bad pixels** ``(N, N)`` (True = bad) are excluded: their amplitude is set to 0 and the mask is
  handed to ``RawData``, which inpaints them from their good neighbours (DATA-005) and keeps the
  mask in ``RawData.bad_pixels``. A mask that marks every pixel bad is an error.
* **positions** (metres, stage frame) are mapped through the input object's ``ObjectGeometry``
  to object pixels and moved by +0.5 px from Ptychodus's centred ``(N-1)/2`` convention to ours
  (patch pixel ``N/2`` on the position, ARCH-002). A position outside the object grid is an error.
* **probe**: Ptychodus's probe at OPR index 0, ``(modes, N, N)``; the model uses mode 0 (the
  first incoherent mode, ARCH-008). OPR weights are not used (a warning is logged).
* **object**: layer 0 of the input object is ``objectGuess``; its pixel grid is the output grid.

Output (:func:`product_from_reconstruction`): the stitched object lies on the **input object's
pixel grid** (same shape, pixel size and centre, so it overlays the input); the probe is the input
probe, or, when the model learned one, the input probe with mode 0 replaced by the learned probe
rescaled to the input probe's amplitude (:func:`probe_in_input_scale`); metadata and positions are
passed through unchanged; ``losses`` are one positive ``LossValue`` per epoch (``epoch`` = epochs
completed, from 1; see :func:`display_loss_key` for which series).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Final

import numpy as np
from ptychodus.api.object import Object, ObjectGeometry
from ptychodus.api.probe import ProbeSequence
from ptychodus.api.product import LossValue, Product

from ptycho.array_types import (
    AnyArray,
    BoolArray,
    Complex64Array,
    ComplexArray,
    Float32Array,
    Float64Array,
    FloatArray,
)
from ptycho.scan_geometry import check_positions_on_object

if TYPE_CHECKING:
    from ptychodus.api.reconstruct import ReconstructInput

    from ptycho.raw_data import RawData

__all__ = [
    "ARCH002_OFFSET_PX",
    "SUPPORTED_N",
    "display_loss_key",
    "intensity_to_amplitude",
    "loss_values",
    "mean_photons_per_pattern",
    "object_from_patches",
    "pattern_size",
    "positions_to_object_px",
    "probe_in_input_scale",
    "probe_modes_from_product",
    "product_from_reconstruction",
    "raw_data_from_input",
]

logger = logging.getLogger(__name__)

#: Pattern sizes the network supports.
SUPPORTED_N: Final[tuple[int, ...]] = (64, 128, 256)
#: Our x/y = Ptychodus's centred object-pixel x/y + this (ARCH-002).
ARCH002_OFFSET_PX: Final[float] = 0.5


def pattern_size(patterns: AnyArray) -> int:
    """Validate the pattern stack and return the pattern side ``N`` (ADAPT-020).

    Parameters
    ----------
    patterns : (M, H, W) array
        Diffraction patterns.

    Returns
    -------
    int
        ``N = H = W``.

    Raises
    ------
    ValueError
        Not 3-D, empty, non-square, or ``N`` not in {64, 128, 256}.
    """
    arr = np.asarray(patterns)
    if arr.ndim != 3:
        raise ValueError(
            f"diffraction patterns must be a stack (M, N, N), got an array of shape {arr.shape}"
        )
    m, h, w = arr.shape
    if m == 0:
        raise ValueError("there are no diffraction patterns to reconstruct (0 patterns)")
    if h != w:
        raise ValueError(
            f"diffraction patterns must be square, got {h}x{w}; crop the detector to a square "
            "region (Ptychodus: Diffraction -> Crop) before reconstructing"
        )
    if h not in SUPPORTED_N:
        allowed = ", ".join(str(n) for n in SUPPORTED_N)
        raise ValueError(
            f"diffraction pattern size {h}x{w} is not supported; PtychoPINN needs {allowed} "
            "pixels square (crop or bin the detector in Ptychodus's Diffraction settings)"
        )
    return int(h)


def intensity_to_amplitude(
    patterns: AnyArray, bad_pixels: AnyArray | None
) -> tuple[Float32Array, BoolArray | None]:
    """Turn Ptychodus intensities into amplitudes, excluding bad pixels (ADAPT-021, ADAPT-022).

    Parameters
    ----------
    patterns : (M, N, N) integer or float
        Detector intensities (photon counts).
    bad_pixels : (N, N) bool or None
        True where a detector pixel is bad.

    Returns
    -------
    amplitude : (M, N, N) float32
        ``sqrt(max(counts, 0))``; 0 at bad pixels (to be inpainted by ``RawData``).
    mask : (N, N) bool or None
        The bad-pixel mask, or None when no pixel is bad.

    Raises
    ------
    ValueError
        Wrong mask shape, every pixel bad, complex or non-finite intensities at good pixels.
    """
    arr = np.asarray(patterns)
    n = pattern_size(arr)
    if np.iscomplexobj(arr) or not np.issubdtype(arr.dtype, np.number):
        raise ValueError(
            f"diffraction patterns must be real intensities (counts), got dtype {arr.dtype}"
        )
    mask: BoolArray | None = None
    if bad_pixels is not None:
        mask = np.asarray(bad_pixels)
        if mask.shape != (n, n):
            raise ValueError(
                f"the bad-pixel mask is {mask.shape[0] if mask.ndim else 0}x"
                f"{mask.shape[1] if mask.ndim > 1 else 0} but the patterns are {n}x{n}; "
                "reload the diffraction data so mask and patterns match"
            )
        mask = mask.astype(bool)
        if mask.all():
            raise ValueError(
                f"every one of the {n}x{n} detector pixels is marked bad, so no pattern holds "
                "any data; check the bad-pixel mask (True = bad) in Ptychodus's Diffraction view"
            )
        if not mask.any():
            mask = None
    counts = arr.astype(np.float64)
    good = np.ones((n, n), dtype=bool) if mask is None else ~mask
    good_values = counts[:, good]
    finite = np.isfinite(good_values)
    if not finite.all():
        raise ValueError(
            f"the diffraction patterns contain {int((~finite).sum())} NaN/Inf values at pixels "
            "not marked bad; mark those pixels bad or fix the data"
        )
    negative = good_values < 0
    if negative.any():
        logger.warning(
            "clipping %d negative intensities to 0 (background-subtracted data?)",
            int(negative.sum()),
        )
    if mask is not None:
        counts[:, mask] = 0.0
    amplitude = np.sqrt(np.clip(counts, 0.0, None)).astype(np.float32)
    return amplitude, mask


def positions_to_object_px(
    x_m: FloatArray, y_m: FloatArray, geometry: ObjectGeometry
) -> tuple[Float64Array, Float64Array]:
    """Map positions in metres to our object pixels and check they lie on the object (ADAPT-023).

    ``x = (x_m - center_x_m) / pixel_width_m + (width_px - 1) / 2 + 0.5`` (Ptychodus's
    ``ObjectGeometry.map_probe_positions_to_object_x_px`` plus the 0.5 px of ARCH-002), and the
    same for ``y`` with the height.

    Parameters
    ----------
    x_m, y_m : (M,) float
        Probe positions in metres.
    geometry : ptychodus.api.object.ObjectGeometry
        The input object's geometry.

    Returns
    -------
    x, y : (M,) float64
        Patch-centre positions in our object pixels (x = column, y = row).

    Raises
    ------
    ValueError
        A non-finite position, or positions whose centre lies outside the object
        (``x`` not in ``[0, width_px]`` or ``y`` not in ``[0, height_px]``).
    """
    if geometry.width_px < 1 or geometry.height_px < 1:
        raise ValueError(
            "the product has an empty object, so there is no pixel grid to reconstruct on; "
            "create the object in Ptychodus (Object view) before reconstructing"
        )
    if not (geometry.pixel_width_m > 0 and geometry.pixel_height_m > 0):
        raise ValueError(
            f"the object pixel size must be positive, got {geometry.pixel_width_m} x "
            f"{geometry.pixel_height_m} m; set the object pixel size in Ptychodus"
        )
    xm = np.asarray(x_m, dtype=np.float64)
    ym = np.asarray(y_m, dtype=np.float64)
    x = (xm - geometry.center_x_m) / geometry.pixel_width_m + (geometry.width_px - 1) / 2.0
    y = (ym - geometry.center_y_m) / geometry.pixel_height_m + (geometry.height_px - 1) / 2.0
    x = x + ARCH002_OFFSET_PX
    y = y + ARCH002_OFFSET_PX
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        raise ValueError("some probe positions are NaN/Inf; fix the scan positions")
    check_positions_on_object(
        x,
        y,
        (geometry.height_px, geometry.width_px),
        fix="enlarge or re-centre the object in Ptychodus so that it covers the whole scan",
    )
    return x, y


def probe_modes_from_product(product: Product, N: int) -> Complex64Array:
    """The input probe at OPR index 0 as ``(modes, N, N)`` complex64 (ADAPT-024).

    Raises
    ------
    ValueError
        When the probe is not ``N x N`` or is not finite.
    """
    probes = product.probes
    if probes.get_opr_weights_or_none() is not None:
        logger.warning(
            "the probe has %d OPR modes; PtychoPINN uses OPR mode 0 for every position",
            probes.num_coherent_modes,
        )
    modes = np.asarray(probes.get_array()[0], dtype=np.complex64)
    if modes.ndim != 3 or modes.shape[1:] != (N, N):
        raise ValueError(
            f"the probe is {modes.shape[-2]}x{modes.shape[-1]} pixels but the diffraction "
            f"patterns are {N}x{N}; the probe must be sampled on the N x N detector grid "
            "(rebuild the probe in Ptychodus's Probe view)"
        )
    if not np.all(np.isfinite(modes)):
        raise ValueError("the probe contains NaN/Inf values; rebuild the probe in Ptychodus")
    return modes


def raw_data_from_input(parameters: ReconstructInput) -> RawData:
    """Convert a Ptychodus ``ReconstructInput`` into a :class:`~ptycho.raw_data.RawData`.

    See the module docstring for every rule (ADAPT-020 .. ADAPT-024).

    Returns
    -------
    RawData
        ``diff3d`` (M, N, N) float32 amplitude (bad pixels inpainted), ``xcoords``/``ycoords``
        in our object pixels, ``probe_modes`` (modes, N, N) and ``probeGuess`` = mode 0,
        ``objectGuess`` = input object layer 0, ``scan_index`` zeros, ``bad_pixels`` mask.

    Raises
    ------
    ValueError
        Any of the problems listed by :func:`pattern_size`, :func:`intensity_to_amplitude`,
        :func:`positions_to_object_px` and :func:`probe_modes_from_product`, or a number of
        positions that differs from the number of patterns.
    """
    from ptycho.raw_data import RawData

    patterns = np.asarray(parameters.diffraction_patterns)
    n = pattern_size(patterns)
    amplitude, mask = intensity_to_amplitude(patterns, parameters.bad_pixels)
    product = parameters.product
    positions = product.probe_positions
    if len(positions) != patterns.shape[0]:
        raise ValueError(
            f"there are {patterns.shape[0]} diffraction patterns but {len(positions)} probe "
            "positions; every pattern needs its position (check the scan indexes)"
        )
    obj = product.object_
    geometry = obj.get_geometry()
    x, y = positions_to_object_px(
        positions.get_coordinates_x_m(), positions.get_coordinates_y_m(), geometry
    )
    if obj.num_layers > 1:
        logger.warning(
            "the object has %d layers; PtychoPINN reconstructs a single (thin) layer",
            obj.num_layers,
        )
    modes = probe_modes_from_product(product, n)
    return RawData(
        x,
        y,
        None,
        None,
        amplitude,
        modes,
        np.zeros(x.size, dtype=np.int64),
        objectGuess=np.asarray(obj.get_layer(0), dtype=np.complex64),
        bad_pixels=mask,
    )


def mean_photons_per_pattern(amplitude: FloatArray) -> float:
    """Mean photon count per pattern, ``mean_m sum_uv amplitude^2`` (for ``NumPhotons = 0``)."""
    a = np.asarray(amplitude, dtype=np.float64)
    return float(np.mean(np.sum(a * a, axis=(-2, -1))))


def object_from_patches(
    patches: ComplexArray,
    global_offsets: FloatArray,
    shape: tuple[int, int],
    crop: int | None = None,
) -> Complex64Array:
    """Stitch predicted object patches onto the input object's pixel grid (ADAPT-025).

    Parameters
    ----------
    patches : (B, N, N, 1) or (B, N, N) complex
        Object patches at the group centres (``predict_patches`` output).
    global_offsets : (B, 1, 2, 1) float
        Group centres ``[x, y]`` in our object pixels (``PtychoDataContainer.global_offsets``).
    shape : (H, W)
        The input object's shape.
    crop : int, optional
        Use the central ``crop x crop`` of every patch; default ``N // 2`` (the region the
        network reconstructs with ``pad_object``).

    Returns
    -------
    (H, W) complex64
        Overlap-averaged object; 0 where no patch reaches.
    """
    from ptycho.stitching import stitch_patches

    pa = np.asarray(patches)
    if pa.ndim == 4:
        pa = pa[..., 0]
    offsets = np.asarray(global_offsets, dtype=np.float64).reshape(pa.shape[0], 2)
    n = pa.shape[-1]
    crop = n // 2 if crop is None or crop == 0 else min(int(crop), n)
    # pixels at the scan's rim that the central crop misses come from the wider N/2 centre
    return stitch_patches(pa, offsets[:, 0], offsets[:, 1], shape, crop=crop, rim_crop=n // 2)


def probe_in_input_scale(learned: ComplexArray, input_modes: ComplexArray) -> Complex64Array:
    """Put a learned probe back into the input probe's layout and amplitude scale (ADAPT-026).

    The model works with a normalised probe (ARCH-008: ``mean |mask * P| = 1 / probe_scale``).
    The returned stack is the input ``(modes, N, N)`` with mode 0 replaced by the learned probe
    multiplied by ``mean|mask * P_in0| / mean|mask * P_learned|``, i.e. the learned shape and
    phase at the input probe's amplitude (the overall probe/object scale is not determined by the
    data, so the input's is kept). Other modes are unchanged.

    Parameters
    ----------
    learned : (N, N) complex
        The model's (normalised) probe.
    input_modes : (modes, N, N) complex
        The input probe.

    Returns
    -------
    (modes, N, N) complex64
    """
    from ptycho.probe import probe_mask

    modes = np.array(input_modes, dtype=np.complex64, copy=True)
    p = np.asarray(learned, dtype=np.complex128)
    if p.shape != modes.shape[1:]:
        raise ValueError(
            f"the learned probe is {p.shape} but the input probe modes are {modes.shape[1:]}"
        )
    mask = probe_mask(p.shape[0]).astype(np.float64)
    learned_level = float(np.mean(np.abs(mask * p)))
    input_level = float(np.mean(np.abs(mask * modes[0])))
    scale = input_level / learned_level if learned_level > 0 else 1.0
    modes[0] = (p * scale).astype(np.complex64)
    return modes


def display_loss_key(history: Mapping[str, Sequence[float]], prefix: str = "") -> str | None:
    """The history series that ``Product.losses`` shows (ADAPT-028).

    Ptychodus plots ``Product.losses`` on a logarithmic axis, so only positive values show. The
    objective ``loss`` is used when all its values are positive (e.g. a supervised model's
    real-space MAE). The Poisson negative log-likelihood of a PINN is usually negative (it omits
    the data-only term), so the diffraction-amplitude misfit ``mae_loss`` (mean ``|s A - s X|``,
    logged by both backends whatever its weight) is shown instead.

    Parameters
    ----------
    history : mapping of str to list of float
        Per-epoch history of a backend.
    prefix : str
        ``''`` for training series, ``'val_'`` for validation series.

    Returns
    -------
    str or None
        The key, or None when the history has neither series.
    """
    loss = history.get(f"{prefix}loss") or []
    if loss and all(float(v) > 0 for v in loss):
        return f"{prefix}loss"
    if history.get(f"{prefix}mae_loss"):
        return f"{prefix}mae_loss"
    return f"{prefix}loss" if loss else None


def loss_values(history: Mapping[str, Sequence[float]], key: str | None = None) -> list[LossValue]:
    """A history series as Ptychodus ``LossValue``s, one per epoch, epochs counted from 1.

    ``LossValue.epoch`` is the number of epochs completed (1 = after the first epoch), the same
    number as ``TrainOutput.progress`` and the ``epoch`` column of ``history.csv``. ``key``
    defaults to :func:`display_loss_key`.
    """
    key = display_loss_key(history) if key is None else key
    if key is None:
        return []
    return [LossValue(epoch=i + 1, value=float(v)) for i, v in enumerate(history.get(key, []))]


def product_from_reconstruction(
    parameters: ReconstructInput,
    object_array: ComplexArray,
    *,
    probe_modes: ComplexArray | None = None,
    losses: Sequence[LossValue] = (),
) -> Product:
    """Build the output ``Product`` (ADAPT-025 .. ADAPT-028).

    Parameters
    ----------
    parameters : ReconstructInput
        The input; its metadata, positions and object geometry are reused.
    object_array : (H, W) complex
        Stitched object on the input object's grid.
    probe_modes : (modes, N, N) complex, optional
        Probe to return at OPR index 0; default the input probe unchanged.
    losses : sequence of LossValue
        Loss history to report.

    Returns
    -------
    Product
        Object ``(1, H, W)`` complex64 with the input's pixel size and centre; probe with the
        input's OPR weights and pixel size; metadata and positions passed through.
    """
    product = parameters.product
    obj_in = product.object_
    arr = np.asarray(object_array)
    if arr.shape != (obj_in.height_px, obj_in.width_px):
        raise ValueError(
            f"the reconstructed object is {arr.shape} but the input object is "
            f"{(obj_in.height_px, obj_in.width_px)}; they must share the pixel grid"
        )
    object_out = Object(
        array=arr.astype(np.complex64)[np.newaxis],
        pixel_geometry=obj_in.get_pixel_geometry(),
        center=obj_in.get_center(),
        layer_spacing_m=[],
    )
    probes_in = product.probes
    if probe_modes is None:
        probes_out = probes_in
    else:
        array = np.array(probes_in.get_array(), dtype=np.complex64, copy=True)
        array[0] = np.asarray(probe_modes, dtype=np.complex64)
        probes_out = ProbeSequence(
            array, probes_in.get_opr_weights_or_none(), probes_in.get_pixel_geometry()
        )
    return Product(
        metadata=product.metadata,
        probe_positions=product.probe_positions,
        probes=probes_out,
        object_=object_out,
        losses=list(losses),
    )
