"""The physics comparison's inputs and its NumPy reference (framework-free, float64).

:func:`physics_inputs` draws the seeded float32/complex64 inputs every backend worker evaluates
with its own implementation; :func:`physics_reference` evaluates the NumPy reference
(:mod:`ptycho.physics`) on them in float64. :data:`PHYSICS_ROWS` names the compared operations
(keys of both dictionaries) in report order.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from ptycho.parity.settings import SMOOTH_SIGMA

__all__ = ["PHYSICS_ROWS", "physics_inputs", "physics_reference", "stitch_channels"]


def physics_inputs(seed: int, n: int) -> dict[str, np.ndarray]:
    """Seeded float32/complex64 inputs of the physics comparison (gridsize 2 groups).

    Parameters
    ----------
    seed : int
        Seed (the generator is ``default_rng([seed, 1])``).
    n : int
        Patch size ``N`` in pixels.

    Returns
    -------
    dict[str, np.ndarray]
        With ``B = 6`` groups of ``C = 4`` patterns: ``images`` (B, 40, 48) complex64 and shifts
        ``dx``, ``dy`` (B,) float32 in pixels; group ``patches`` (B, N, N, C) complex64,
        ``coords`` (B, 1, 2, C) float32 relative offsets in pixels, ``canvas``
        (B, P, P) complex64 with ``padded`` = P; an ``object`` (H, W) complex64 and patch
        centres ``px``, ``py`` (8,) float32 in pixels; ``object_patches`` (B, C, N, N)
        complex64, the normalised ``probe`` (N, N) complex64, ``exit_wave`` (B, C, N, N)
        complex64, ``pred_counts`` / ``meas_counts`` (B, C, N, N) float32 photon counts,
        ``sigma`` (the smoothing sigma, pixels), ``stitch_x`` / ``stitch_y`` (B, C) float64
        stitching positions in pixels.
    """
    from ptycho.physics.object_big import padded_size
    from ptycho.probe import default_probe, normalize_probe

    rng = np.random.default_rng([seed, 1])
    b, c = 6, 4
    padded = padded_size(n, 2)

    def cplx(*shape: int) -> np.ndarray:
        return (rng.normal(size=shape) + 1j * rng.normal(size=shape)).astype(np.complex64)

    amp = (1.0 / (1.0 + np.exp(-rng.normal(size=(b, c, n, n))))).astype(np.float32)
    phase = rng.uniform(-np.pi, np.pi, size=(b, c, n, n)).astype(np.float32)
    object_patches = (amp * np.exp(1j * phase)).astype(np.complex64)  # (B, C, N, N)
    probe = normalize_probe(default_probe(n), 4.0).astype(np.complex64)
    pred = rng.gamma(0.6, 400.0, size=(b, c, n, n)).astype(np.float32)
    meas = rng.poisson(pred).astype(np.float32)
    height, width = 3 * n // 2 + 7, 2 * n + 3
    return {
        "images": cplx(b, 40, 48),
        "dx": rng.uniform(-7.5, 7.5, size=b).astype(np.float32),
        "dy": rng.uniform(-7.5, 7.5, size=b).astype(np.float32),
        "patches": cplx(b, n, n, c),
        "coords": rng.uniform(-4.5, 4.5, size=(b, 1, 2, c)).astype(np.float32),
        "canvas": cplx(b, padded, padded),
        "padded": np.asarray(padded, dtype=np.int64),
        "object": cplx(height, width),
        "px": rng.uniform(n / 2 - 3, width - n / 2 + 3, size=8).astype(np.float32),
        "py": rng.uniform(n / 2 - 3, height - n / 2 + 3, size=8).astype(np.float32),
        "object_patches": object_patches,
        "probe": probe,
        "exit_wave": (object_patches * probe).astype(np.complex64),
        "pred_counts": pred,
        "meas_counts": meas,
        "sigma": np.asarray(SMOOTH_SIGMA, dtype=np.float64),
        "stitch_x": rng.uniform(40.0, 60.0, size=(b, c)),
        "stitch_y": rng.uniform(40.0, 60.0, size=(b, c)),
    }


def stitch_channels(patches_bnnc: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Stitch all channels of ``(B, N, N, C)`` patches at ``(B, C)`` positions (shared code).

    Returns the (110, 110) complex object (central ``N/2`` of each patch,
    :func:`ptycho.stitching.stitch_patches`); backends call it on their own patches.
    """
    from ptycho.stitching import stitch_patches

    b, n, _, c = patches_bnnc.shape
    flat = np.moveaxis(patches_bnnc, 3, 1).reshape(b * c, n, n)
    return stitch_patches(flat, x.reshape(-1), y.reshape(-1), (110, 110), crop=n // 2)


def physics_reference(inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The NumPy reference, evaluated in float64 on the float32 inputs.

    Returns one array per key of :data:`PHYSICS_ROWS` (complex128 / float64, the shapes the
    backends return in the core's layout; ``poisson_nll`` and ``mae`` are 0-d).
    """
    from ptycho.physics import forward
    from ptycho.physics.object_big import extract_group_patches, merge_group_patches
    from ptycho.physics.shift import extract_patches, translate
    from ptycho.probe import probe_mask

    c128 = np.complex128
    sigma = float(inputs["sigma"])
    obj_p = inputs["object_patches"].astype(c128)
    probe = inputs["probe"].astype(c128)
    n = probe.shape[0]
    extracted = extract_group_patches(
        inputs["canvas"].astype(c128), inputs["coords"].astype(np.float64), n
    )
    psi = forward.illuminate(obj_p, probe)
    return {
        "translate": translate(
            inputs["images"].astype(c128),
            inputs["dx"].astype(np.float64),
            inputs["dy"].astype(np.float64),
        ),
        "merge_group": merge_group_patches(
            inputs["patches"].astype(c128),
            inputs["coords"].astype(np.float64),
            int(inputs["padded"]),
        ),
        "extract_group": extracted,
        "extract_patches": extract_patches(
            inputs["object"].astype(c128),
            inputs["px"].astype(np.float64),
            inputs["py"].astype(np.float64),
            n,
        ),
        "illuminate": psi,
        "smooth": forward.gaussian_smooth_3x3(inputs["exit_wave"].astype(c128), sigma),
        "far_field": forward.far_field_amplitude(inputs["exit_wave"].astype(c128)),
        "forward_full": forward.forward_amplitude(
            obj_p, probe, smoothing_sigma=sigma, probe_mask=probe_mask(n).astype(np.float64)
        ),
        "poisson_nll": np.asarray(
            forward.poisson_nll(
                inputs["pred_counts"].astype(np.float64), inputs["meas_counts"].astype(np.float64)
            )
        ),
        "mae": np.asarray(
            forward.diffraction_mae(
                inputs["pred_counts"].astype(np.float64), inputs["meas_counts"].astype(np.float64)
            )
        ),
        "stitching": stitch_channels(extracted, inputs["stitch_x"], inputs["stitch_y"]),
    }


PHYSICS_ROWS: tuple[tuple[str, str], ...] = (
    ("translate", "translate, ARCH-003 (6 complex 40x48 images, sub-pixel shifts up to 7.5 px)"),
    ("merge_group", "object_big merge, ARCH-010 (6 groups, C=4)"),
    ("extract_group", "object_big re-extraction, ARCH-010"),
    ("extract_patches", "patch extraction from an object, ARCH-004"),
    ("illuminate", "illumination P*O"),
    ("smooth", "exit-wave 3x3 Gaussian smoothing (sigma 0.7, reflect)"),
    ("far_field", "far-field amplitude, ARCH-006"),
    ("forward_full", "forward model with smoothing and probe mask"),
    ("poisson_nll", "Poisson NLL, ARCH-009 (scalar)"),
    ("mae", "diffraction MAE, ARCH-009 (scalar)"),
    ("stitching", "stitching (shared ptycho.stitching) of the re-extracted patches"),
)
