"""Iterative physics refinement of a reconstruction (framework-free NumPy).

A trained PtychoPINN network predicts each scan position's object patch in one pass; the
stitched result is a good *initial* object but it is only as consistent with the measured data
as the network manages in training. :func:`refine_object` then enforces the measurements of the
whole scan directly: it runs parallel ptychographic projections with the same forward model as
the network (ARCH-004 bilinear extraction, ARCH-006 orthonormal far field):

1. ``psi_j = P * extract(O, x_j, y_j)`` for every position ``j`` (all positions at once,
   chunked to bound memory);
2. amplitude projection ``psi'_j = IFFT(sqrt(I_j) * FFT(psi_j) / |FFT(psi_j)|)``, the
   closest exit wave (in the least-squares sense) whose far-field amplitude equals the
   measured one;
3. object update ``O += step * place(conj(P) (psi' - psi)) / ((1 - a) W + a max W)`` with the
   illumination ``W = place(|P|^2)`` (the regularised PIE preconditioner, ``a = alpha``);
4. optionally the same for the probe: ``P += step * sum_j conj(o_j) (psi'_j - psi_j) /
   ((1 - a) V + a max V)`` with ``V = sum_j |o_j|^2``.

Both updates carry heavy-ball momentum (``momentum``, ``probe_momentum``). The probe's matters
most on real data, where the probe is only a guess: one full-batch step per pass moves it
slowly, and the object waits for it. Measured on the real Siemens-star scan (probe refined, one
thread, ``benchmarks/bench_refine_ptychi.py``): the amplitude error of pty-chi LSQML's 50-epoch
result (0.0122) is reached after 41 iterations with probe momentum 0.8 instead of about 150
without; on a simulated scan from the probe guess ``|P|`` (its phase removed) the object's
amplitude / phase SSIM after 100 iterations is 0.94 / 0.76 instead of 0.43 / 0.29.

Slow phase (the low-frequency preconditioner): a phase feature much wider than the probe looks
almost constant inside every probe window, and a constant phase over a window changes no
measured amplitude; only its curvature does. The gradient of such a feature is therefore small
and plain iterations remove it slowly (most of the late iterations of a refinement go into it,
and it is exactly what a network's per-group prediction lacks, see ``benchmarks/README.md``).
Step 3 therefore splits the object update ``g`` into a relative amplitude change and a phase
change, ``g = O (a + i b)``, and multiplies the spatial spectrum of the phase change ``b`` over
the illuminated region by ``1 + boost / (1 + |k|^2 / k0^2)`` with ``k0 = 1 / N`` (cycles per
pixel): phase features wider than the probe window move up to ``1 + boost`` times faster, fine
features as before, and the amplitude update is left alone (the measured intensities already fix
its low frequencies). The fixed point is unchanged (a zero gradient stays zero). Measured on a
simulated 512-position scan: phase SSIM 0.9 over the well-lit core after about 30 iterations
instead of 190 from a flat object (``DEFAULT_LOW_FREQUENCY_BOOST``, ``DEFAULT_MOMENTUM``).

Step 2 is the gradient step of the amplitude (variance-stabilised Poisson) likelihood, so the
iterations decrease ``sum_j || |FFT(psi_j)| - sqrt(I_j) ||^2``; unlike the network's per-group
view, every update sees every overlapping measurement of a pixel. The refinement therefore
removes artefacts a network prediction keeps (for example the twin-like, conjugated phase a
network can settle into when the probe's amplitude is centro-symmetric, see
``specs/architecture.md`` ARCH-013).

Linear phase ramp: with the probe refined too, the data cannot tell ``(O, P)`` from
``(O e^{i k.r}, P e^{-i k.r})`` (every exit wave only gains a constant phase per position), and
the joint updates drift along that direction: a tilt of the object's phase that no measurement
sees. After the iterations the object's net phase tilt over the illuminated region is
therefore moved into the probe (:func:`_remove_ramp_ambiguity`): the convention of an object
without a net tilt, which the measured amplitudes of the result do not notice. Measured on a
simulated scan from a true, a blurred and a defocused probe guess: phase SSIM 0.75-0.77 without
it, 0.89-0.90 with it (the rest is the simulated object's own small tilt).

Scale: the measured amplitudes may be in any unit (counts, normalised); the probe is rescaled
once, before the first iteration, by the least-squares factor between the initial object's
predicted amplitudes and the measurements, so the object keeps the scale of ``object_init``
(and the returned probe is given back in the scale of the input probe).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, overload

import numpy as np
import numpy.typing as npt
import scipy.fft

from ptycho.array_types import Complex64Array, ComplexArray, FloatArray
from ptycho.physics.shift import extract_patches, place_patches

if TYPE_CHECKING:
    from ptycho.loader import PtychoDataContainer
    from ptycho.raw_data import RawData

__all__ = [
    "DEFAULT_ALPHA",
    "DEFAULT_LOW_FREQUENCY_BOOST",
    "DEFAULT_MOMENTUM",
    "DEFAULT_MOMENTUM_REFINING_PROBE",
    "DEFAULT_PROBE_MOMENTUM",
    "RefinementResult",
    "refine_object",
    "refined_training_data",
    "with_refined_object",
]

logger = logging.getLogger(__name__)

#: Seconds between progress lines of a long refinement (INFO on this module's logger).
PROGRESS_EVERY_S = 5.0

#: Weight of the maximum illumination in the PIE preconditioner (regularises dim regions).
DEFAULT_ALPHA = 0.05
#: Heavy-ball momentum of the object update (0 = plain projections) with a fixed probe (where
#: the low-frequency boost is on) and with the probe refined (boost off); measured best of each.
DEFAULT_MOMENTUM = 0.7
DEFAULT_MOMENTUM_REFINING_PROBE = 0.9
#: Heavy-ball momentum of the probe update (with ``refine_probe``). Measured: 0.8 reaches a
#: given amplitude error in a third of the iterations without momentum on the real Siemens-star
#: scan and fixes a probe guess without its phase; 0.9 is slower in the first 60 iterations
#: from a blurred guess (module docstring).
DEFAULT_PROBE_MOMENTUM = 0.8
#: Extra gain of the object's phase update at zero spatial frequency (0 = no preconditioner;
#: the module docstring's "slow phase") with a fixed probe. Off when the probe is refined too:
#: the object's slow phase then moves faster than the probe learns and the two fight (measured:
#: probe guess |P| on 100 positions, amplitude error 0.075 after 40 iterations with it, 0.012
#: without).
DEFAULT_LOW_FREQUENCY_BOOST = 30.0
#: Pixels lit by at least this fraction of the maximum illumination take part in the
#: low-frequency preconditioner (the rest of the canvas is not constrained by any measurement).
_LIT_FRACTION = 0.05
#: An amplitude error above this multiple of the best one so far counts as diverging.
_BLOW_UP = 10.0
#: Patterns per chunk (bounds memory to a few chunk-sized complex arrays).
_CHUNK = 256

#: ``callback(iteration, error)`` after every iteration; returning True stops the refinement.
IterationCallback = Callable[[int, float], bool | None]


@dataclass
class RefinementResult:
    """Outcome of :func:`refine_object`.

    Attributes
    ----------
    object : (H, W) complex64
        The refined object, on the grid of ``object_init``.
    probe : (N, N) complex64
        The probe (refined when ``refine_probe``) in the scale of the input probe.
    errors : list of float
        Relative amplitude error ``sum (|F psi| - a)^2 / sum a^2`` measured at the start of each
        iteration (before its update), then once after the last one; ``errors[0]`` is the
        initial object's error.
    seconds : float
        Wall time of the iterations.
    """

    object: Complex64Array
    probe: Complex64Array
    errors: list[float] = field(default_factory=list)
    seconds: float = 0.0


def _validate(
    object_init: ComplexArray,
    probe: ComplexArray,
    amplitude: FloatArray,
    x: FloatArray,
    y: FloatArray,
    iterations: int,
    step: float,
    alpha: float,
    momentum: float,
    probe_momentum: float,
    low_frequency_boost: float,
) -> None:
    if object_init.ndim != 2:
        raise ValueError(f"object_init must be a 2-D (H, W) array, got shape {object_init.shape}")
    if amplitude.ndim != 3 or amplitude.shape[1] != amplitude.shape[2]:
        raise ValueError(
            f"measured amplitudes must have shape (M, N, N) with square patterns, got "
            f"{amplitude.shape}"
        )
    n = amplitude.shape[1]
    if probe.shape != (n, n):
        raise ValueError(
            f"probe must have shape ({n}, {n}) to match the patterns, got {probe.shape}"
        )
    if x.shape != (amplitude.shape[0],) or y.shape != (amplitude.shape[0],):
        raise ValueError(
            f"x and y need one position per pattern ({amplitude.shape[0]}), got shapes "
            f"{x.shape} and {y.shape}"
        )
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        raise ValueError("scan positions contain NaN or Inf values")
    if not np.all(np.isfinite(amplitude)) or np.any(amplitude < 0):
        raise ValueError("measured amplitudes must be finite and non-negative")
    if int(iterations) != iterations or iterations < 0:
        raise ValueError(f"iterations must be a non-negative integer, got {iterations!r}")
    if not (math.isfinite(step) and 0.0 < step <= 2.0):
        raise ValueError(f"step must lie in (0, 2], got {step!r}")
    if not (math.isfinite(alpha) and 0.0 < alpha <= 1.0):
        raise ValueError(f"alpha must lie in (0, 1], got {alpha!r}")
    if not (math.isfinite(momentum) and 0.0 <= momentum < 1.0):
        raise ValueError(f"momentum must lie in [0, 1), got {momentum!r}")
    if not (math.isfinite(probe_momentum) and 0.0 <= probe_momentum < 1.0):
        raise ValueError(f"probe_momentum must lie in [0, 1), got {probe_momentum!r}")
    if not (math.isfinite(low_frequency_boost) and low_frequency_boost >= 0.0):
        raise ValueError(
            f"low_frequency_boost must be a finite number >= 0 (0 turns it off), got "
            f"{low_frequency_boost!r}"
        )


def _far_field(psi: ComplexArray) -> ComplexArray:
    """Orthonormal FFT over the last two axes (ARCH-006 without the fftshift)."""
    spectrum: ComplexArray = scipy.fft.fft2(psi, norm="ortho")
    return spectrum


def _near_field(spectrum: ComplexArray) -> ComplexArray:
    psi: ComplexArray = scipy.fft.ifft2(spectrum, norm="ortho")
    return psi


def _remove_ramp_ambiguity(
    probe: Complex64Array, canvas: Complex64Array, illumination: FloatArray
) -> tuple[Complex64Array, Complex64Array]:
    """Take the net linear phase tilt out of the object and put it into the probe.

    The tilt ``g`` (radians per pixel, per axis) is the phase of the sum of neighbouring pixels'
    products ``O(r + e) conj(O(r))`` over the well-illuminated region (robust to phase
    wrapping); the canvas
    is multiplied by ``exp(-i g.r)`` and the probe by ``exp(+i g.r)``, so every exit wave only
    gains a constant phase and the measured amplitudes do not change (module docstring).
    """
    # the well-illuminated region (illumination of at least half its maximum); the rim's phase
    # is poorly determined and would bias the estimate
    weight = (illumination >= 0.5 * float(illumination.max())).astype(np.float64)
    rows_pair = canvas[1:, :] * np.conj(canvas[:-1, :]) * (weight[1:, :] * weight[:-1, :])
    cols_pair = canvas[:, 1:] * np.conj(canvas[:, :-1]) * (weight[:, 1:] * weight[:, :-1])
    g_rows, g_cols = float(np.angle(rows_pair.sum())), float(np.angle(cols_pair.sum()))

    def ramp(shape: tuple[int, ...]) -> ComplexArray:
        rows = np.arange(shape[0], dtype=np.float64)[:, None] - shape[0] / 2
        cols = np.arange(shape[1], dtype=np.float64)[None, :] - shape[1] / 2
        phase: ComplexArray = np.exp(1j * (g_rows * rows + g_cols * cols))
        return phase

    return (
        (probe * ramp(probe.shape)).astype(np.complex64),
        (canvas * np.conj(ramp(canvas.shape))).astype(np.complex64),
    )


def _low_frequency_gain(shape: tuple[int, int], n: int, boost: float) -> FloatArray:
    """``1 + boost / (1 + |k|^2 / k0^2)`` on the FFT grid of a ``shape`` canvas, ``k0 = 1/n``."""
    ky = np.fft.fftfreq(shape[0])[:, None]
    kx = np.fft.fftfreq(shape[1])[None, :]
    gain: FloatArray = (1.0 + boost / (1.0 + (kx**2 + ky**2) * float(n) ** 2)).astype(np.float32)
    return gain


def _precondition_phase(
    update: Complex64Array, canvas: Complex64Array, lit: npt.NDArray[np.bool_], gain: FloatArray
) -> Complex64Array:
    """The object update with its phase change's spatial spectrum multiplied by ``gain``.

    ``update = canvas (a + i b)`` on the pixels where the object is not (nearly) zero; ``b``
    (radians) is filtered over the ``lit`` pixels, ``a`` and every other pixel are kept (module
    docstring, "slow phase")."""
    usable = lit & (np.abs(canvas) > 1e-3)
    relative = np.zeros_like(update)
    relative[usable] = update[usable] / canvas[usable]
    phase = np.where(usable, relative.imag, 0.0).astype(np.float32)
    boosted = scipy.fft.irfft2(
        scipy.fft.rfft2(phase) * gain[:, : phase.shape[1] // 2 + 1], s=phase.shape
    )
    out = update.copy()
    out[usable] = canvas[usable] * (relative.real[usable] + 1j * boosted[usable])
    return out


def refine_object(
    object_init: npt.ArrayLike,
    probe: npt.ArrayLike,
    amplitude: npt.ArrayLike,
    x: npt.ArrayLike,
    y: npt.ArrayLike,
    *,
    iterations: int = 50,
    refine_probe: bool = False,
    step: float = 1.0,
    alpha: float = DEFAULT_ALPHA,
    momentum: float | None = None,
    probe_momentum: float = DEFAULT_PROBE_MOMENTUM,
    low_frequency_boost: float | None = None,
    bad_pixels: npt.ArrayLike | None = None,
    callback: IterationCallback | None = None,
) -> RefinementResult:
    """Refine an object (and optionally the probe) against every measured pattern of a scan.

    Parameters
    ----------
    object_init : (H, W) complex
        Initial object, e.g. the stitched network prediction; pixels no probe position reaches
        are returned unchanged.
    probe : (N, N) complex
        Probe (any scale; rescaled once to the measurements, see the module docstring).
    amplitude : (M, N, N) float
        Measured far-field amplitudes ``sqrt(counts)`` (any common scale), zero frequency at
        ``(N/2, N/2)`` (ARCH-001).
    x, y : (M,) float
        Scan positions on the grid of ``object_init`` (x = column, y = row, ARCH-004): pattern
        ``j`` illuminates the ``N x N`` window whose pixel ``(N//2, N//2)`` sits on ``(y_j, x_j)``.
    iterations : int
        Number of full passes over the scan (0 returns the initial object and its error).
    refine_probe : bool
        Also update the probe (recommended when the probe is only a guess, e.g. real data).
    step : float in (0, 2]
        Relaxation of both updates (1 = plain projection step).
    alpha : float in (0, 1]
        Preconditioner regularisation (weight of the maximum illumination).
    momentum : float in [0, 1), optional
        Heavy-ball momentum of the object update; default ``DEFAULT_MOMENTUM`` (0.7) with a
        fixed probe, ``DEFAULT_MOMENTUM_REFINING_PROBE`` (0.9) with ``refine_probe``.
    probe_momentum : float in [0, 1)
        Heavy-ball momentum of the probe update (used with ``refine_probe``).
    low_frequency_boost : float >= 0, optional
        Extra gain of the phase update for features wider than the probe (0 = none; module
        docstring, "slow phase"); default ``DEFAULT_LOW_FREQUENCY_BOOST`` (30) with a fixed
        probe, 0 with ``refine_probe``. A boost too strong for a scan is halved automatically
        when the error starts to diverge (the refinement restarts from its best object).
    bad_pixels : (N, N) bool, optional
        Detector pixels to ignore (True = bad): their predicted amplitude is kept, so they
        neither constrain the object nor enter the error.
    callback : callable, optional
        ``callback(iteration, error)`` after each iteration (1-based); a True return stops early.

    Returns
    -------
    RefinementResult

    Raises
    ------
    ValueError
        For inconsistent shapes, non-finite inputs or parameters out of range; nothing is
        modified in place.
    """
    if momentum is None:
        momentum = DEFAULT_MOMENTUM_REFINING_PROBE if refine_probe else DEFAULT_MOMENTUM
    if low_frequency_boost is None:
        low_frequency_boost = 0.0 if refine_probe else DEFAULT_LOW_FREQUENCY_BOOST
    # single precision, as the networks: ~2x faster, and far below the noise of any measurement
    obj = np.array(object_init, dtype=np.complex64)
    prb = np.array(probe, dtype=np.complex64)
    meas = np.asarray(amplitude, dtype=np.float32)
    xa = np.asarray(x, dtype=np.float64).reshape(-1)
    ya = np.asarray(y, dtype=np.float64).reshape(-1)
    _validate(
        obj,
        prb,
        meas,
        xa,
        ya,
        iterations,
        float(step),
        float(alpha),
        float(momentum),
        float(probe_momentum),
        float(low_frequency_boost),
    )
    n = meas.shape[1]
    m = meas.shape[0]
    valid = np.ones((n, n), dtype=bool)
    if bad_pixels is not None:
        bad = np.asarray(bad_pixels, dtype=bool)
        if bad.shape != (n, n):
            raise ValueError(f"bad_pixels must have shape ({n}, {n}), got {bad.shape}")
        valid = ~bad
    # the FFT's zero frequency is at pixel (0, 0); the data have it at (N/2, N/2)
    valid = np.fft.ifftshift(valid)
    meas = np.fft.ifftshift(meas, axes=(-2, -1)) * valid
    meas_energy = float(np.sum(meas**2))
    if meas_energy <= 0.0:
        raise ValueError("all measured amplitudes are zero; nothing to refine against")
    # object padded by N/2 + 1 on each side so every probe window lies inside the canvas
    pad = n // 2 + 1
    canvas = np.pad(obj, pad, mode="constant", constant_values=0)
    cx, cy = xa + pad, ya + pad
    chunks = [slice(s, min(s + _CHUNK, m)) for s in range(0, m, _CHUNK)]

    predicted = (
        np.concatenate(
            [np.abs(_far_field(prb * extract_patches(canvas, cx[c], cy[c], n))) for c in chunks]
        )
        * valid
    )
    denom = float(np.sum(predicted**2))
    if denom <= 0.0:
        raise ValueError(
            "the initial object is zero everywhere the probe illuminates, so it cannot be "
            "refined; start from the network's prediction or a flat object (ones)"
        )
    probe_factor = float(np.sum(predicted * meas)) / denom
    prb *= probe_factor

    def illumination() -> FloatArray:
        weights = place_patches(np.broadcast_to(np.abs(prb) ** 2, (m, n, n)), cx, cy, canvas.shape)
        return (1.0 - alpha) * weights.real + alpha * float(weights.real.max())

    def lit_pixels() -> npt.NDArray[np.bool_]:
        # obj_precond = (1 - a) W + a max W, so this is W >= _LIT_FRACTION max W
        threshold = alpha + (1.0 - alpha) * _LIT_FRACTION
        lit: npt.NDArray[np.bool_] = obj_precond >= threshold * float(obj_precond.max())
        return lit

    obj_precond = illumination()
    lit = lit_pixels()
    boost = float(low_frequency_boost)
    gain = _low_frequency_gain(canvas.shape, n, boost)
    best = (math.inf, canvas.copy(), prb.copy())  # error, object, probe of the best state
    velocity = np.zeros_like(canvas)
    probe_velocity = np.zeros_like(prb)
    errors: list[float] = []
    done = 0  # updates applied
    start = time.perf_counter()
    next_report = start + PROGRESS_EVERY_S
    for it in range(1, int(iterations) + 2):
        obj_grad = np.zeros_like(canvas)
        probe_grad = np.zeros_like(prb)
        probe_norm = np.zeros(prb.shape, dtype=np.float64)
        sq_err = 0.0
        for c in chunks:
            patches = extract_patches(canvas, cx[c], cy[c], n)
            psi = prb * patches
            spectrum = _far_field(psi)
            modulus = np.abs(spectrum)
            sq_err += float(np.sum(((modulus - meas[c]) * valid) ** 2))
            if it > iterations:
                continue
            ratio = np.where(valid, meas[c] / np.maximum(modulus, 1e-12), 1.0)
            dpsi = _near_field(spectrum * ratio) - psi
            obj_grad += place_patches(np.conj(prb) * dpsi, cx[c], cy[c], canvas.shape)
            if refine_probe:
                probe_grad += np.sum(np.conj(patches) * dpsi, axis=0)
                probe_norm += np.sum(np.abs(patches) ** 2, axis=0)
        errors.append(sq_err / meas_energy)
        if not (math.isfinite(errors[-1]) and errors[-1] <= _BLOW_UP * best[0]):
            # diverging (momentum with a too strong boost for this scan, or a transient of
            # the probe's momentum): back to the best state, both velocities reset, half the
            # boost; the probe momentum is kept (measured: halving it after the transient of
            # iteration 3 from the guess |P| costs half the amplitude SSIM after 60 iterations)
            canvas, prb = best[1].copy(), best[2].copy()
            velocity = np.zeros_like(canvas)
            probe_velocity = np.zeros_like(prb)
            boost /= 2.0
            gain = _low_frequency_gain(canvas.shape, n, boost)
            if refine_probe:
                obj_precond = illumination()
                lit = lit_pixels()
            logger.warning(
                "refinement iteration %d: amplitude error %.4g rose above %g x the best %.4g; "
                "restarting from the best object with low_frequency_boost %g",
                it,
                errors[-1],
                _BLOW_UP,
                best[0],
                boost,
            )
            if it > iterations:
                errors[-1] = best[0]  # the error of the object returned
                break
            continue
        if errors[-1] < best[0]:
            best = (errors[-1], canvas.copy(), prb.copy())
        if it > iterations:
            break
        update = step * obj_grad / obj_precond
        if boost > 0.0:
            update = _precondition_phase(update, canvas, lit, gain)
        velocity = momentum * velocity + update
        canvas += velocity
        done = it
        if refine_probe:
            probe_velocity = probe_momentum * probe_velocity + step * probe_grad / (
                (1.0 - alpha) * probe_norm + alpha * probe_norm.max()
            )
            prb += probe_velocity
            obj_precond = illumination()
            lit = lit_pixels()
        if callback is not None and callback(it, errors[-1]):
            logger.info("refinement stopped by the callback after %d iterations", it)
            break
        now = time.perf_counter()
        if now >= next_report and it < iterations:
            next_report = now + PROGRESS_EVERY_S
            elapsed = now - start
            logger.info(
                "refinement iteration %d/%d: amplitude error %.4g (%.0f s elapsed, about %.0f s "
                "left)",
                it,
                iterations,
                errors[-1],
                elapsed,
                elapsed / it * (iterations - it),
            )
    if refine_probe and done > 0:
        prb, canvas = _remove_ramp_ambiguity(prb, canvas, illumination())
    seconds = time.perf_counter() - start
    logger.info(
        "refined %d positions for %d iterations in %.1f s: amplitude error %.4g -> %.4g",
        m,
        done,
        seconds,
        errors[0],
        errors[-1],
    )
    return RefinementResult(
        object=canvas[pad:-pad, pad:-pad].astype(np.complex64),
        probe=(prb / probe_factor).astype(np.complex64),
        errors=errors,
        seconds=seconds,
    )


def with_refined_object(raw: RawData, iterations: int, *, refine_probe: bool = False) -> RawData:
    """A copy of a scan whose ``objectGuess`` is refined from a flat object (training targets).

    Used by ``TrainingConfig.refined_target_iterations``: the network is then trained with the
    real-space loss towards patches of this physics-refined object as well as with the
    diffraction loss, which anchors it to the data-consistent solution instead of the
    conjugate-like twin it can otherwise settle into (ARCH-013). Nothing of ``raw`` is used but
    its measurements, positions and probe: any ``objectGuess`` or ``Y`` it carries (a flat
    start, or a simulation's ground truth) is replaced.

    Parameters
    ----------
    raw : RawData
        The training scan.
    iterations : int
        Refinement iterations (>= 1) from a flat object.
    refine_probe : bool
        Also refine the probe (the copy keeps the input probe either way).

    Returns
    -------
    RawData
        Same measurements and probe; ``objectGuess`` = the refined object on a grid covering
        every probe window (positions shifted onto it when ``raw`` had no ``objectGuess``),
        ``Y`` None, so grouping cuts the targets from the refined object.
    """
    from ptycho.raw_data import RawData

    if int(iterations) != iterations or iterations < 1:
        raise ValueError(f"refined-target iterations must be an integer >= 1, got {iterations!r}")
    n = raw.N
    x, y = raw.xcoords.astype(np.float64), raw.ycoords.astype(np.float64)
    xs, ys = raw.xcoords_start.astype(np.float64), raw.ycoords_start.astype(np.float64)
    if raw.objectGuess is not None:
        shape = raw.objectGuess.shape
    else:
        margin = n / 2.0 + 2.0
        dx, dy = margin - x.min(), margin - y.min()
        x, y, xs, ys = x + dx, y + dy, xs + dx, ys + dy
        shape = (math.ceil(y.max() + margin), math.ceil(x.max() + margin))
    result = refine_object(
        np.ones(shape, dtype=np.complex64),
        raw.probeGuess,
        raw.diff3d,
        x,
        y,
        iterations=int(iterations),
        refine_probe=refine_probe,
        bad_pixels=raw.bad_pixels,
    )
    copy = RawData(
        x,
        y,
        xs,
        ys,
        raw.diff3d,
        raw.probe_modes,
        raw.scan_index,
        objectGuess=result.object,
        bad_pixels=raw.bad_pixels,
        metadata={**(raw.metadata or {}), "refined_target_iterations": int(iterations)},
    )
    copy.sample_indices = raw.sample_indices
    logger.info(
        "refined training target: %d positions, %d iterations, amplitude error %.4g -> %.4g",
        len(raw),
        int(iterations),
        result.errors[0],
        result.errors[-1],
    )
    return copy


@overload
def refined_training_data(data: RawData, iterations: int) -> RawData: ...
@overload
def refined_training_data(data: PtychoDataContainer, iterations: int) -> PtychoDataContainer: ...
@overload
def refined_training_data(data: None, iterations: int) -> None: ...
def refined_training_data(
    data: RawData | PtychoDataContainer | None, iterations: int
) -> RawData | PtychoDataContainer | None:
    """``data`` with refined targets (:func:`with_refined_object`) when ``iterations > 0`` and
    it is a scan (:class:`~ptycho.raw_data.RawData`); anything else is returned unchanged
    (``TrainingConfig.refined_target_iterations``: containers are used as given)."""
    from ptycho.raw_data import RawData

    if iterations <= 0 or not isinstance(data, RawData):
        return data
    return with_refined_object(data, iterations)
