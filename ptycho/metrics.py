"""Image-quality metrics for complex object reconstructions against ground truth.

This module owns the comparison conventions used across the project (README tables, benchmarks,
tests, ``ptycho-compare``):

* **Region of interest.** Metrics are computed on a rectangle, by default the *scanned region*
  returned by :func:`scanned_roi`: the bounding box of the patch centres widened by ``N/4`` on
  each side (the part of the object the probe actually illuminated well).
* **Global phase.** A complex reconstruction is only defined up to a global phase factor, so the
  reconstruction is first multiplied by ``exp(-i * angle(sum_roi(recon * conj(truth))))``
  (:func:`align_phase`).
* **Amplitude scale.** The overall amplitude scale is not constrained by far-field data with an
  unknown dose either, so the reconstructed amplitude is multiplied by the least-squares factor
  ``alpha = sum(|r| |t|) / sum(|r|^2)`` before the amplitude metrics (:func:`fit_amplitude_scale`).
* **Phase residual.** Phase metrics compare ``angle(truth) + wrap(angle(aligned) - angle(truth))``
  with ``angle(truth)``, i.e. phase differences are wrapped to ``(-pi, pi]`` so that a
  reconstruction is not penalised for a ``2 pi`` jump.
* **SSIM** (:func:`ssim`): Wang et al. (2004) with a Gaussian window of standard deviation 1.5 px
  truncated at radius 5 px (an 11 x 11 window), ``K1 = 0.01``, ``K2 = 0.03``, population
  (biased) local variances, reflect padding, and the mean taken over the pixels at least 5 px
  from the border (as scikit-image does with ``gaussian_weights=True``).
* **PSNR** (:func:`psnr`): ``10 * log10(data_range**2 / MSE)`` in dB, where ``compare`` uses
  ``data_range = max(truth) - min(truth)`` over the ROI (separately for amplitude and phase).
  Identical images give ``+inf`` (not capped).
* **FRC** (:func:`frc`): Fourier ring correlation in cycles per pixel, rings of width
  ``1 / min(H, W)`` up to Nyquist (0.5), on images apodised with a Hann window;
  ``FRC(f) = Re sum F1 conj(F2) / sqrt(sum |F1|^2 sum |F2|^2)``. The resolution cut-off
  (:func:`frc_resolution`) is the first frequency at which the curve falls below the threshold
  (0.5 by default, ``1/7`` also common), linearly interpolated between rings; 0.5 cycles/px
  (Nyquist) when it never does.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping, Sequence
from typing import TypedDict

import numpy as np
from scipy import ndimage

from ptycho.array_types import AnyArray, ComplexArray, Float64Array, FloatArray

__all__ = [
    "SSIM_K1",
    "SSIM_K2",
    "SSIM_SIGMA",
    "SSIM_TRUNCATE",
    "ComparisonMetrics",
    "Roi",
    "align_phase",
    "compare",
    "fit_amplitude_scale",
    "format_table",
    "frc",
    "frc_resolution",
    "psnr",
    "scanned_roi",
    "spoke_contrast",
    "ssim",
]

logger = logging.getLogger(__name__)

#: Gaussian window standard deviation of SSIM, in pixels.
SSIM_SIGMA = 1.5
#: Window truncation in standard deviations (radius ``int(3.5 * 1.5 + 0.5) = 5`` px).
SSIM_TRUNCATE = 3.5
#: SSIM stabilising constants (Wang et al. 2004).
SSIM_K1 = 0.01
SSIM_K2 = 0.03

#: A rectangular region of interest: ``(row slice, column slice)``.
Roi = tuple[slice, slice]


def _check_roi(roi: Roi | None, shape: tuple[int, ...]) -> Roi:
    """Return a concrete ROI (whole image when ``None``) after validating it."""
    if roi is None:
        return (slice(0, shape[0]), slice(0, shape[1]))
    if not isinstance(roi, tuple) or len(roi) != 2 or not all(isinstance(s, slice) for s in roi):
        raise ValueError(
            "roi must be a (row slice, column slice) tuple, e.g. (slice(10, 90), slice(5, 80)), "
            f"got {roi!r}; use scanned_roi(...) to build one"
        )
    rows = range(shape[0])[roi[0]]
    cols = range(shape[1])[roi[1]]
    if len(rows) < 1 or len(cols) < 1 or rows.step != 1 or cols.step != 1:
        raise ValueError(
            f"roi {roi!r} selects an empty or strided region of an image of shape {shape}; "
            "give contiguous slices inside the image"
        )
    return (slice(rows.start, rows.stop), slice(cols.start, cols.stop))


def _check_pair(a: AnyArray, b: AnyArray, what: str) -> tuple[AnyArray, AnyArray]:
    a = np.asarray(a)
    b = np.asarray(b)
    if a.ndim != 2 or b.ndim != 2:
        raise ValueError(f"{what} needs two 2-D images, got shapes {a.shape} and {b.shape}")
    if a.shape != b.shape:
        raise ValueError(
            f"{what}: image shapes differ ({a.shape} vs {b.shape}); put both on the same pixel "
            "grid (crop or stitch the reconstruction onto the ground-truth geometry)"
        )
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        raise ValueError(f"{what}: images contain NaN or Inf; fix the reconstruction first")
    return a, b


def align_phase(recon: AnyArray, truth: AnyArray, roi: Roi | None = None) -> ComplexArray:
    """Remove the global phase offset of a complex reconstruction.

    Parameters
    ----------
    recon, truth : (H, W) complex
        Reconstruction and ground truth on the same pixel grid.
    roi : (slice, slice), optional
        Region over which the offset is estimated (whole image when ``None``).

    Returns
    -------
    (H, W) complex
        ``recon * exp(-1j * angle(sum_roi(recon * conj(truth))))``, same dtype as ``recon``.
        This is the phase factor that maximises ``Re sum(recon * conj(truth))``.
    """
    recon, truth = _check_pair(recon, truth, "align_phase")
    rs, cs = _check_roi(roi, recon.shape)
    cross = np.sum(
        recon[rs, cs].astype(np.complex128) * np.conj(truth[rs, cs].astype(np.complex128))
    )
    offset = float(np.angle(cross)) if abs(cross) > 0 else 0.0
    factor = np.exp(-1j * offset)
    out: ComplexArray = recon * factor
    return out.astype(np.result_type(recon.dtype, np.complex64), copy=False)


def fit_amplitude_scale(recon_amp: AnyArray, truth_amp: AnyArray, roi: Roi | None = None) -> float:
    """Least-squares scale ``alpha`` minimising ``sum_roi (alpha * recon_amp - truth_amp)^2``.

    Parameters
    ----------
    recon_amp, truth_amp : (H, W) float
        Amplitudes (absolute values; complex input is converted with ``abs``).
    roi : (slice, slice), optional
        Region of the fit (whole image when ``None``).

    Returns
    -------
    float
        ``sum(r * t) / sum(r^2)``; 1.0 when the reconstruction is identically zero.
    """
    r, t = _check_pair(np.abs(recon_amp), np.abs(truth_amp), "fit_amplitude_scale")
    rs, cs = _check_roi(roi, r.shape)
    r = r[rs, cs].astype(np.float64)
    t = t[rs, cs].astype(np.float64)
    denom = float(np.sum(r * r))
    if denom == 0.0:
        return 1.0
    return float(np.sum(r * t) / denom)


def ssim(a: FloatArray, b: FloatArray, data_range: float) -> float:
    """Structural similarity of two real images (Gaussian window, Wang et al. 2004).

    Window: Gaussian, sigma 1.5 px, truncated at 5 px (11 x 11); ``K1 = 0.01``, ``K2 = 0.03``;
    ``C1 = (K1 L)^2``, ``C2 = (K2 L)^2`` with ``L = data_range``; local statistics with
    population variances and reflect padding; the mean of the SSIM map is taken over the pixels at
    least 5 px from the border (the whole map if the image is smaller than the window).

    Parameters
    ----------
    a, b : (H, W) float
        Images (``b`` is usually the reference). Symmetric in ``a`` and ``b``.
    data_range : float
        Dynamic range ``L`` of the images (> 0), e.g. ``max(truth) - min(truth)``.

    Returns
    -------
    float
        Mean SSIM in ``[-1, 1]``; 1 for identical images.
    """
    a, b = _check_pair(a, b, "ssim")
    if np.iscomplexobj(a) or np.iscomplexobj(b):
        raise ValueError("ssim needs real images; pass the amplitude or the phase")
    if not (data_range > 0 and math.isfinite(data_range)):
        raise ValueError(
            f"ssim: data_range must be a positive finite number, got {data_range}; "
            "use max(truth) - min(truth)"
        )
    a = a.astype(np.float64)
    b = b.astype(np.float64)

    def filt(img: FloatArray) -> FloatArray:
        smoothed: FloatArray = ndimage.gaussian_filter(
            img, SSIM_SIGMA, mode="reflect", truncate=SSIM_TRUNCATE
        )
        return smoothed

    mu_a = filt(a)
    mu_b = filt(b)
    var_a = filt(a * a) - mu_a * mu_a
    var_b = filt(b * b) - mu_b * mu_b
    cov = filt(a * b) - mu_a * mu_b
    c1 = (SSIM_K1 * data_range) ** 2
    c2 = (SSIM_K2 * data_range) ** 2
    num = (2 * mu_a * mu_b + c1) * (2 * cov + c2)
    den = (mu_a * mu_a + mu_b * mu_b + c1) * (var_a + var_b + c2)
    smap = num / den
    pad = int(SSIM_TRUNCATE * SSIM_SIGMA + 0.5)
    if smap.shape[0] > 2 * pad and smap.shape[1] > 2 * pad:
        smap = smap[pad:-pad, pad:-pad]
    return float(np.mean(smap))


def psnr(a: FloatArray, b: FloatArray, data_range: float) -> float:
    """Peak signal-to-noise ratio in dB: ``10 * log10(data_range**2 / mean((a - b)**2))``.

    Parameters
    ----------
    a, b : (H, W) float
        Test image and reference.
    data_range : float
        Peak-to-peak range of the reference (> 0); ``compare`` uses ``max(truth) - min(truth)``
        over the ROI.

    Returns
    -------
    float
        PSNR in dB; ``inf`` when the images are identical (no cap).
    """
    a, b = _check_pair(a, b, "psnr")
    if not (data_range > 0 and math.isfinite(data_range)):
        raise ValueError(
            f"psnr: data_range must be a positive finite number, got {data_range}; "
            "use max(truth) - min(truth)"
        )
    diff = a.astype(np.complex128) - b.astype(np.complex128)
    mse = float(np.mean(diff.real**2 + diff.imag**2))
    if mse == 0.0:
        return math.inf
    return float(10.0 * math.log10(data_range**2 / mse))


def frc(a: AnyArray, b: AnyArray) -> tuple[Float64Array, Float64Array]:
    """Fourier ring correlation of two images (real or complex).

    Both images are multiplied by a separable Hann window (to suppress the edge discontinuity),
    Fourier transformed, and correlated over rings ``|f| in [k/n, (k+1)/n)`` cycles/pixel,
    ``n = min(H, W)``, ``k = 0 .. n/2 - 1``; the frequency of pixel ``(u, v)`` is
    ``sqrt((u/H)^2 + (v/W)^2)`` with ``u, v`` the signed FFT indices.

    Parameters
    ----------
    a, b : (H, W) float or complex
        Images on the same grid (at least 8 x 8).

    Returns
    -------
    freq : (n // 2,) float64
        Ring centre frequencies in cycles per pixel, ``(k + 0.5) / n``.
    values : (n // 2,) float64
        ``Re sum F_a conj(F_b) / sqrt(sum |F_a|^2 sum |F_b|^2)`` per ring (0 for an empty ring
        or a ring where one image has no power).
    """
    a, b = _check_pair(a, b, "frc")
    h, w = a.shape
    n = min(h, w)
    if n < 8:
        raise ValueError(f"frc needs images of at least 8 x 8 pixels, got {a.shape}")
    window = np.outer(np.hanning(h), np.hanning(w))
    fa = np.fft.fft2(a.astype(np.complex128) * window)
    fb = np.fft.fft2(b.astype(np.complex128) * window)
    fy = np.fft.fftfreq(h)[:, None]
    fx = np.fft.fftfreq(w)[None, :]
    radius = np.sqrt(fy * fy + fx * fx)
    nbins = n // 2
    ring = np.floor(radius * n).astype(np.int64).ravel()
    keep = ring < nbins
    ring = ring[keep]
    cross = np.bincount(ring, weights=np.real(fa * np.conj(fb)).ravel()[keep], minlength=nbins)
    pa = np.bincount(ring, weights=(np.abs(fa) ** 2).ravel()[keep], minlength=nbins)
    pb = np.bincount(ring, weights=(np.abs(fb) ** 2).ravel()[keep], minlength=nbins)
    denom = np.sqrt(pa * pb)
    values = np.zeros(nbins, dtype=np.float64)
    ok = denom > 0
    values[ok] = cross[ok] / denom[ok]
    freq = (np.arange(nbins, dtype=np.float64) + 0.5) / n
    return freq, values


def frc_resolution(freq: FloatArray, values: FloatArray, threshold: float = 0.5) -> float:
    """First frequency (cycles/pixel) at which an FRC curve drops below ``threshold``.

    The search starts at the second ring (the first one is dominated by the mean). The crossing
    is linearly interpolated between the last ring at or above and the first ring below the
    threshold. Returns 0.5 (Nyquist) if the curve never drops below the threshold. The
    corresponding half-period resolution in pixels is ``1 / (2 * f)``; the full period is ``1/f``.

    Parameters
    ----------
    freq, values : (K,) float
        Output of :func:`frc`.
    threshold : float
        0.5 (default) or ``1/7`` are common.
    """
    freq = np.asarray(freq, dtype=np.float64)
    values = np.asarray(values, dtype=np.float64)
    if freq.shape != values.shape or freq.ndim != 1 or freq.size < 2:
        raise ValueError(
            "frc_resolution needs the two equal-length 1-D arrays returned by frc(), got shapes "
            f"{freq.shape} and {values.shape}"
        )
    for k in range(1, freq.size):
        if values[k] < threshold:
            v0, v1 = values[k - 1], values[k]
            f0, f1 = freq[k - 1], freq[k]
            if v0 <= threshold or v0 == v1:
                return float(f1 if v0 < threshold else f0)
            t = (v0 - threshold) / (v0 - v1)
            return float(f0 + t * (f1 - f0))
    return 0.5


def scanned_roi(
    x: FloatArray,
    y: FloatArray,
    N: int,
    shape: tuple[int, int],
    margin: int = 0,
) -> Roi:
    """Rectangle covered by the patch centres widened by ``N/4`` on each side.

    Rows span ``[ceil(min(y) - N/4 + margin), floor(max(y) + N/4 - margin)]`` and columns the same
    with ``x``, clipped to the image. ``x``/``y`` are object-pixel positions of the patch centres
    (ARCH-002: x = column, y = row). A positive ``margin`` (pixels) shrinks the region, a negative
    one grows it.

    Parameters
    ----------
    x, y : (M,) float
        Scan positions in object pixels.
    N : int
        Diffraction pattern (patch) size.
    shape : (H, W)
        Object shape.
    margin : int
        Extra inward margin in pixels.

    Returns
    -------
    (slice, slice)
        ``(row slice, column slice)``.
    """
    x = np.asarray(x, dtype=np.float64).ravel()
    y = np.asarray(y, dtype=np.float64).ravel()
    if x.size == 0 or x.shape != y.shape:
        raise ValueError(
            f"scanned_roi needs equal, non-empty x and y arrays, got {x.shape} and {y.shape}"
        )
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        raise ValueError("scanned_roi: positions contain NaN or Inf")
    h, w = int(shape[0]), int(shape[1])
    half = N / 4.0
    r0 = max(0, math.ceil(y.min() - half + margin))
    r1 = min(h, math.floor(y.max() + half - margin) + 1)
    c0 = max(0, math.ceil(x.min() - half + margin))
    c1 = min(w, math.floor(x.max() + half - margin) + 1)
    if r1 <= r0 or c1 <= c0:
        raise ValueError(
            f"scanned_roi is empty for positions x in [{x.min():.1f}, {x.max():.1f}], "
            f"y in [{y.min():.1f}, {y.max():.1f}] on a {h} x {w} object with margin {margin}; "
            "check that the positions are object pixels and reduce the margin"
        )
    return (slice(r0, r1), slice(c0, c1))


class ComparisonMetrics(TypedDict):
    """What :func:`compare` returns (see there for the meaning of each entry)."""

    amp_ssim: float
    amp_psnr: float
    phase_ssim: float
    phase_psnr: float
    frc50: float
    frc17: float
    frc50_period_px: float
    amp_scale: float
    phase_offset: float
    amp_range: float
    phase_range: float
    roi_rows: tuple[float, float]
    roi_cols: tuple[float, float]


def compare(recon: AnyArray, truth: AnyArray, roi: Roi | None = None) -> ComparisonMetrics:
    """Compare a complex reconstruction with the ground truth.

    Steps (see the module docstring for the conventions): crop both to ``roi``; remove the global
    phase offset (:func:`align_phase`); fit the amplitude scale (:func:`fit_amplitude_scale`);
    amplitude SSIM/PSNR of ``alpha |aligned|`` vs ``|truth|``; phase SSIM/PSNR of the wrapped
    phase residual added to the true phase vs the true phase; FRC of the aligned complex images.

    Parameters
    ----------
    recon, truth : (H, W) complex
        Reconstruction and ground truth on the same pixel grid.
    roi : (slice, slice), optional
        Region of interest (whole image when ``None``); usually :func:`scanned_roi`.

    Returns
    -------
    dict
        ``amp_ssim``, ``amp_psnr`` (dB), ``phase_ssim``, ``phase_psnr`` (dB), ``frc50`` and
        ``frc17`` (cut-off frequencies in cycles/pixel at thresholds 0.5 and 1/7),
        ``frc50_period_px`` (``1 / frc50``, pixels), ``amp_scale`` (fitted alpha),
        ``phase_offset`` (removed offset, rad), ``roi_rows``/``roi_cols`` (start, stop as floats
        for JSON), ``amp_range``/``phase_range`` (the data ranges used).
    """
    recon, truth = _check_pair(recon, truth, "compare")
    if np.iscomplexobj(truth) is False:
        truth = truth.astype(np.complex128)
    if np.iscomplexobj(recon) is False:
        recon = recon.astype(np.complex128)
    rs, cs = _check_roi(roi, recon.shape)
    r = recon[rs, cs].astype(np.complex128)
    t = truth[rs, cs].astype(np.complex128)
    cross = np.sum(r * np.conj(t))
    offset = float(np.angle(cross)) if abs(cross) > 0 else 0.0
    aligned = r * np.exp(-1j * offset)

    t_amp = np.abs(t)
    alpha = fit_amplitude_scale(np.abs(aligned), t_amp)
    r_amp = alpha * np.abs(aligned)
    amp_range = float(t_amp.max() - t_amp.min())

    t_phase = np.angle(t)
    r_phase = t_phase + np.angle(np.exp(1j * (np.angle(aligned) - t_phase)))
    phase_range = float(t_phase.max() - t_phase.min())

    def safe(
        fn: Callable[[FloatArray, FloatArray, float], float],
        x: FloatArray,
        y: FloatArray,
        rng: float,
    ) -> float:
        if rng <= 0:
            logger.warning("ground truth is constant over the ROI; %s is undefined", fn.__name__)
            return math.nan
        return fn(x, y, rng)

    freq, vals = frc(aligned, t) if min(t.shape) >= 8 else (np.zeros(2), np.zeros(2))
    f50 = frc_resolution(freq, vals, 0.5) if min(t.shape) >= 8 else math.nan
    f17 = frc_resolution(freq, vals, 1.0 / 7.0) if min(t.shape) >= 8 else math.nan
    return {
        "amp_ssim": safe(ssim, r_amp, t_amp, amp_range),
        "amp_psnr": safe(psnr, r_amp, t_amp, amp_range),
        "phase_ssim": safe(ssim, r_phase, t_phase, phase_range),
        "phase_psnr": safe(psnr, r_phase, t_phase, phase_range),
        "frc50": f50,
        "frc17": f17,
        "frc50_period_px": (1.0 / f50) if f50 and math.isfinite(f50) else math.nan,
        "amp_scale": alpha,
        "phase_offset": offset,
        "amp_range": amp_range,
        "phase_range": phase_range,
        "roi_rows": (float(rs.start), float(rs.stop)),
        "roi_cols": (float(cs.start), float(cs.stop)),
    }


_TABLE_COLUMNS: Sequence[tuple[str, str, str]] = (
    ("amp_ssim", "amp SSIM", "{:.4f}"),
    ("amp_psnr", "amp PSNR (dB)", "{:.2f}"),
    ("phase_ssim", "phase SSIM", "{:.4f}"),
    ("phase_psnr", "phase PSNR (dB)", "{:.2f}"),
    ("frc50", "FRC 0.5 (cyc/px)", "{:.3f}"),
    ("frc17", "FRC 1/7 (cyc/px)", "{:.3f}"),
)


def _fmt(value: object, spec: str) -> str:
    if value is None:
        return "-"
    try:
        v = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return str(value)
    if math.isnan(v):
        return "nan"
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    return spec.format(v)


def format_table(results: Mapping[str, Mapping[str, object]]) -> str:
    """Markdown table of :func:`compare` results, one row per named reconstruction.

    Parameters
    ----------
    results : dict[str, dict]
        ``{name: compare(...) output}``; missing metrics are shown as ``-``.

    Returns
    -------
    str
        A Markdown table (header, separator, one line per entry), no trailing newline.
    """
    header = "| reconstruction | " + " | ".join(c[1] for c in _TABLE_COLUMNS) + " |"
    sep = "|---|" + "|".join("---:" for _ in _TABLE_COLUMNS) + "|"
    lines = [header, sep]
    for name, metrics in results.items():
        cells = [_fmt(metrics.get(key), spec) for key, _, spec in _TABLE_COLUMNS]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def spoke_contrast(
    obj: ComplexArray, cx: float, cy: float, radii: tuple[float, ...], min_harmonic: int = 8
) -> list[tuple[int, float]]:
    """Angular periodicity of the phase around circles: a no-ground-truth Siemens-star check.

    The phase is sampled at 720 angles on each circle of radius ``r`` around ``(cx, cy)``
    (x = column, y = row), its global phase removed; the dominant angular harmonic ``k >=
    min_harmonic`` and its magnitude over the median harmonic magnitude are returned. A star's
    spokes make one harmonic tower over the rest; for noise the ratio is about 3.

    Parameters
    ----------
    obj : (H, W) complex
    cx, cy : float
        Centre in pixels.
    radii : tuple of float
        Circle radii in pixels (each circle must lie inside ``obj``).
    min_harmonic : int
        Smallest harmonic considered (slow variations are not spokes).

    Returns
    -------
    list of (harmonic, ratio), one per radius.
    """
    phase = np.angle(np.asarray(obj))
    h, w = phase.shape
    theta = np.linspace(0.0, 2.0 * np.pi, 720, endpoint=False)
    out: list[tuple[int, float]] = []
    for radius in radii:
        rows = np.round(cy + radius * np.sin(theta)).astype(int)
        cols = np.round(cx + radius * np.cos(theta)).astype(int)
        if rows.min() < 0 or cols.min() < 0 or rows.max() >= h or cols.max() >= w:
            raise ValueError(
                f"the circle of radius {radius} around ({cx:g}, {cy:g}) leaves the {h}x{w} image"
            )
        ring = np.exp(1j * phase[rows, cols])
        ring = np.angle(ring * np.conj(ring.mean()))
        spectrum = np.abs(np.fft.rfft(ring - ring.mean()))[min_harmonic:]
        k = int(np.argmax(spectrum))
        out.append((k + min_harmonic, float(spectrum[k] / max(np.median(spectrum), 1e-30))))
    return out
