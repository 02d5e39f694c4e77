"""Backend-neutral reconstruction of a scan: group, predict (backend), stitch (NumPy).

Both backends' ``reconstruct`` functions are this one flow with their own ``predict_patches``;
only the network evaluation differs, so grouping, subsampling and stitching exist once.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

import numpy as np

from ptycho.array_types import Complex64Array, ComplexArray, Float64Array, FloatArray

if TYPE_CHECKING:
    from ptycho.backend import ModelBundle
    from ptycho.config.config import InferenceConfig
    from ptycho.loader import PtychoDataContainer
    from ptycho.raw_data import RawData

__all__ = [
    "DEFAULT_STITCH_CROP",
    "DEFAULT_SUBSAMPLE_SEED",
    "Reconstruction",
    "check_scan_geometry",
    "inference_probe",
    "reconstruct_scan",
    "refine_stitched",
    "subsample_raw",
]

logger = logging.getLogger(__name__)

#: Central ``M x M`` of every predicted patch used for stitching (the original's default).
DEFAULT_STITCH_CROP = 20
#: Seed of :func:`subsample_raw` when none is given (subsampling is never unseeded, ARCH-011).
DEFAULT_SUBSAMPLE_SEED = 0


class PredictPatches(Protocol):
    """A backend's ``predict_patches(bundle, container, batch_size, probe=None, precision=...)``."""

    def __call__(
        self,
        bundle: ModelBundle,
        container: PtychoDataContainer,
        batch_size: int,
        *,
        probe: ComplexArray | None = None,
        precision: str = "float32",
    ) -> Complex64Array: ...


@dataclass
class Reconstruction:
    """A stitched reconstruction (the same type from both backends).

    Attributes
    ----------
    object : (H, W) complex64
        Stitched object; on the object grid when ``on_object_grid``.
    probe : (N, N) complex64
        The (normalised) probe the model used (the learned one when the probe was trained;
        the refined one when ``refine_probe`` refinement ran).
    patches : (B, N, N, 1) complex64
        Predicted object patches at the group centres.
    global_offsets : (B, 1, 2, 1) float64
        Group centres ``[x, y]`` in object pixels.
    on_object_grid : bool
        True when stitched onto an object grid (``object_shape`` or ``raw.objectGuess``'s),
        False for a scan-centred canvas.
    network_object : (H, W) complex64 or None
        The stitched network prediction before refinement (None when no refinement ran, then
        ``object`` is that prediction).
    refinement_errors : list of float
        Relative amplitude error of each refinement iteration (:mod:`ptycho.refine`); empty
        when no refinement ran.
    """

    object: Complex64Array
    probe: Complex64Array
    patches: Complex64Array
    global_offsets: Float64Array
    on_object_grid: bool
    network_object: Complex64Array | None = None
    refinement_errors: list[float] = field(default_factory=list)

    @property
    def amplitude(self) -> FloatArray:
        """``|object|``, float32."""
        return np.abs(self.object).astype(np.float32)

    @property
    def phase(self) -> FloatArray:
        """``angle(object)`` in radians, float32."""
        return np.angle(self.object).astype(np.float32)


def subsample_raw(raw: RawData, count: int | None, seed: int | None) -> RawData:
    """A seeded random subset of ``count`` scan positions, kept in scan order.

    All positions when ``count`` is None or >= M; ``seed`` None means
    :data:`DEFAULT_SUBSAMPLE_SEED` (never unseeded, ARCH-011). The subset's ``sample_indices``
    are the kept indices.
    """

    m = len(raw)
    if count is None or count >= m:
        return raw
    if count < 1:
        raise ValueError(f"the number of positions to keep must be >= 1, got {count}")
    rng = np.random.default_rng(DEFAULT_SUBSAMPLE_SEED if seed is None else seed)
    keep = np.sort(rng.choice(m, size=int(count), replace=False))
    sub = raw.select(keep)
    sub.sample_indices = keep
    logger.info("kept %d of %d scan positions (seed %s)", count, m, seed)
    return sub


#: How to fix positions that lie off the scan's objectGuess (the CLIs' wording; HARD-005).
OFF_OBJECT_FIX = (
    "correct the positions or give an objectGuess that covers every position, or remove "
    "objectGuess from the NPZ to reconstruct on a canvas centred on the scan"
)


def check_scan_geometry(
    raw: RawData, N: int, crop: int, object_shape: tuple[int, int] | None = None
) -> None:
    """Check the scan against the grid it will be stitched onto, before anything is allocated.

    With an object grid (``object_shape``, else ``objectGuess``'s shape) every position must
    lie on it (:func:`ptycho.scan_geometry.check_positions_on_object`); without one, outliers
    and the canvas size are checked (:func:`ptycho.scan_geometry.check_scan_canvas`). HARD-005
    .. HARD-007.

    Raises
    ------
    ValueError
        Naming the positions (indices) at fault and how to fix them.
    """
    from ptycho.scan_geometry import check_positions_on_object, check_scan_canvas

    if object_shape is None and raw.objectGuess is not None:
        object_shape = (int(raw.objectGuess.shape[0]), int(raw.objectGuess.shape[1]))
    if object_shape is not None:
        check_positions_on_object(raw.xcoords, raw.ycoords, object_shape, fix=OFF_OBJECT_FIX)
    else:
        check_scan_canvas(raw.xcoords, raw.ycoords, N, crop)


def inference_probe(bundle: ModelBundle, raw: RawData, source: str = "auto") -> Complex64Array:
    """The normalised probe a reconstruction uses (``InferenceConfig.probe_source``, ARCH-014).

    ``'model'``: the bundle's probe. ``'data'``: the scan's ``probeGuess`` normalised with the
    model's ``probe_scale`` (ARCH-008). ``'auto'``: the model's when it was learned in training
    (``probe_trainable``), else the scan's. The backprop_unet network backprojects every pattern
    with it, and refinement starts from it.

    Raises
    ------
    ValueError
        For an unknown source, or a scan probe whose size differs from the model's.
    """
    from ptycho.probe import normalize_probe

    model_probe = np.asarray(bundle.probe, dtype=np.complex64)
    learned = bundle.training_config is not None and bool(bundle.training_config.probe_trainable)
    if source not in ("auto", "data", "model"):
        raise ValueError(f"probe_source must be 'auto', 'data' or 'model', got {source!r}")
    if source == "model" or (source == "auto" and learned):
        return model_probe
    probe = normalize_probe(raw.probeGuess, bundle.model_config.probe_scale)
    if probe.shape != model_probe.shape:
        raise ValueError(
            f"the scan's probe is {probe.shape[0]}x{probe.shape[1]} but the model's is "
            f"{model_probe.shape[0]}x{model_probe.shape[1]}; use a model trained with N="
            f"{probe.shape[0]} (or probe_source='model')"
        )
    return probe


def refine_stitched(
    obj: ComplexArray,
    probe: ComplexArray,
    raw: RawData,
    inference_config: InferenceConfig,
    *,
    origin: tuple[float, float] = (0.0, 0.0),
) -> tuple[ComplexArray, ComplexArray, list[float]]:
    """Refine a stitched prediction against every pattern of ``raw`` (:mod:`ptycho.refine`).

    Parameters
    ----------
    obj : (H, W) complex
        Stitched network prediction.
    probe : (N, N) complex
        The model's probe.
    raw : RawData
        The scan that was reconstructed (its amplitudes, positions and bad pixels).
    inference_config : InferenceConfig
        ``refine_iterations`` and ``refine_probe``.
    origin : (x0, y0)
        Position, in the scan's frame, of pixel ``(0, 0)`` of ``obj`` (as in
        :func:`ptycho.stitching.stitch_patches`).

    Returns
    -------
    (object (H, W) complex64, probe (N, N) complex64 in the scale of ``probe``, errors)

    Notes
    -----
    Pixels the stitching left empty (no patch's central crop covers them, though probe windows
    reach them) start at the mean of the covered pixels instead of 0, so the refinement does
    not first have to grow the object there.
    """
    from ptycho.refine import refine_object

    start = np.array(obj, dtype=np.complex64)
    empty = start == 0
    if empty.any() and not empty.all():
        start[empty] = start[~empty].mean()
    result = refine_object(
        start,
        probe,
        raw.diff3d,
        raw.xcoords - origin[0],
        raw.ycoords - origin[1],
        iterations=inference_config.refine_iterations,
        refine_probe=inference_config.refine_probe,
        bad_pixels=raw.bad_pixels,
    )
    return result.object, result.probe, result.errors


def reconstruct_scan(
    bundle: ModelBundle,
    raw: RawData,
    inference_config: InferenceConfig,
    predict_patches: PredictPatches,
    *,
    M: int = DEFAULT_STITCH_CROP,
    object_shape: tuple[int, int] | None = None,
) -> Reconstruction:
    """Reconstruct a scan with a trained model.

    The one group -> predict -> stitch -> refine flow of both backends, the CLIs and the
    Ptychodus adapter (ADAPT-002, which passes ``object_shape`` = the Ptychodus object's grid).

    Parameters
    ----------
    bundle : ModelBundle
        A trained or loaded model (either backend).
    raw : RawData
        The scan; its pattern size must equal the model's N.
    inference_config : InferenceConfig
        Grouping (``n_groups`` None = one group per position, ``neighbor_count``, ``seed``,
        ``n_subsample``/``subsample_seed``, oversampling), ``batch_size`` and ``precision``.
    predict_patches : callable
        The backend's ``predict_patches(bundle, container, batch_size, probe=..., precision=...)
        -> (B, N, N, 1)``; ``probe`` is :func:`inference_probe` of
        ``inference_config.probe_source``.
    M : int
        Central ``M x M`` of every patch used for stitching (capped at N); the scan's rim comes
        from the patches' central ``N // 2`` (:func:`ptycho.stitching.stitch_patches`
        ``rim_crop``) when stitching onto an object grid.
    object_shape : (H, W), optional
        Stitch onto an ``H x W`` object grid whose pixel ``(0, 0)`` is the origin of the scan's
        positions (object pixels), e.g. the host application's object, instead of
        ``raw.objectGuess``'s grid (or, without one, a scan-centred canvas). Every position must
        lie on it. ``raw.objectGuess``'s shape is then not used (a caller whose object is only a
        starting guess sets ``raw.objectGuess = None`` so that no ground-truth patches are cut).

    Raises
    ------
    ValueError
        Pattern size different from the model's, too few positions for the gridsize, or a scan
        geometry that :func:`check_scan_geometry` refuses (checked before any allocation).
    """
    from ptycho.loader import container_from_raw
    from ptycho.stitching import reassemble_position, scan_canvas, stitch_patches

    n, gridsize = bundle.N, bundle.gridsize
    if raw.N != n:
        raise ValueError(
            f"the scan's diffraction patterns are {raw.N}x{raw.N} but the model was trained with "
            f"N={n}; use a model trained on {raw.N}x{raw.N} patterns"
        )
    channels = gridsize**2
    if len(raw) < channels:
        raise ValueError(
            f"gridsize {gridsize} needs at least {channels} scan positions per group, but the "
            f"scan has only {len(raw)}; use a gridsize-1 model or more positions"
        )
    data = subsample_raw(raw, inference_config.n_subsample, inference_config.subsample_seed)
    crop = min(int(M), n)
    if object_shape is None and raw.objectGuess is not None:
        object_shape = (int(raw.objectGuess.shape[0]), int(raw.objectGuess.shape[1]))
    check_scan_geometry(data, n, crop, object_shape)
    container = container_from_raw(
        data,
        n,
        gridsize=gridsize,
        n_groups=inference_config.n_groups,
        K=inference_config.neighbor_count,
        seed=inference_config.seed,
        enable_oversampling=inference_config.enable_oversampling,
        neighbor_pool_size=inference_config.neighbor_pool_size,
    )
    probe = inference_probe(bundle, data, inference_config.probe_source)
    patches = predict_patches(
        bundle,
        container,
        inference_config.batch_size,
        probe=probe,
        precision=inference_config.precision,
    )
    offsets = np.asarray(container.global_offsets, dtype=np.float64)
    if object_shape is not None:
        obj = stitch_patches(
            patches[..., 0],
            offsets[:, 0, 0, 0],
            offsets[:, 0, 1, 0],
            object_shape,
            crop=crop,
            rim_crop=n // 2,  # the scan's rim from the patches' wider centre
        )
        on_grid = True
    else:
        obj = reassemble_position(patches, offsets, M=crop)[..., 0]
        on_grid = False
    network_object = None
    errors: list[float] = []
    if inference_config.refine_iterations > 0:
        origin = (0.0, 0.0)
        if not on_grid:
            _, origin = scan_canvas(offsets[:, 0, 0, 0], offsets[:, 0, 1, 0], crop)
        network_object = obj
        obj, probe, errors = refine_stitched(obj, probe, data, inference_config, origin=origin)
    logger.info(
        "reconstructed %d groups (N=%d, gridsize=%d, %s backend) onto a %dx%d %s",
        len(container),
        n,
        gridsize,
        bundle.backend,
        obj.shape[0],
        obj.shape[1],
        "object grid" if on_grid else "scan-centred canvas",
    )
    return Reconstruction(
        object=np.asarray(obj, dtype=np.complex64),
        probe=probe,
        patches=patches,
        global_offsets=offsets,
        on_object_grid=on_grid,
        network_object=None if network_object is None else network_object.astype(np.complex64),
        refinement_errors=errors,
    )
