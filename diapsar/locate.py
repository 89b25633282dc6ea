"""Locate an image crop in its full swath by correlating its amplitude with a DEM-simulated amplitude.

The simulated amplitude (``diapsar.amplitude_estimation``, DiapOTB's SARAmplitudeEstimation) of a search
window of the full-swath image is compared with the crop's amplitude, both multilooked (``ml`` = azimuth x
range looks; amplitude = sqrt of the mean intensity of each look cell):

1. coarse: normalised cross-correlation (NCC, Pearson coefficient of the two multilooked amplitudes) of the
   crop against every multilook-cell offset of the search window (FFT), peak + parabolic sub-cell fit; the
   secondary peak is the highest local maximum outside a box of a quarter of the crop size around the peak;
2. fine: the search window around the coarse peak is simulated at full resolution once; for every
   full-resolution offset within one look cell of it the simulation is multilooked on the crop's own cell
   grid (box sums of the full-resolution simulation) and correlated with the crop; the best offset and a
   parabolic fit through its neighbours give the first line and sample to a fraction of a pixel.

Lines and samples are 0-based full-swath coordinates; for IW/EW the lines of the burst-stacked image map to
azimuth times with each burst's own timing (``RadarGrid``), so a crop inside one burst is found in that burst.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
from scipy.ndimage import gaussian_filter, maximum_filter
from scipy.signal import fftconvolve

from .amplitude_estimation import (
    DEFAULT_SEA_RATIO,
    FacetModel,
    SimDem,
    check_window,
    facet_model,
    simulate_intensity,
)
from .errors import SelectionError
from .kernels.correlation import parabolic_peak
from .metadata import SwathMetadata
from .orbit import Orbit


@dataclass
class LocateResult:
    """Where the crop lies in the full swath (0-based full-resolution first line / first sample)."""

    first_line: int
    first_sample: int
    line: float             # sub-pixel first line
    sample: float           # sub-pixel first sample
    peak: float             # NCC at the best full-resolution offset
    coarse_peak: float      # NCC peak of the multilook-cell search
    secondary_peak: float   # best NCC outside the main lobe (coarse search)
    secondary_line: int
    secondary_sample: int
    ml: tuple[int, int]
    search_window: tuple[int, int, int, int]
    crop_shape: tuple[int, int]
    burst: int | None = None  # burst holding the crop's first line (IW/EW)
    extra: dict = field(default_factory=dict)

    @property
    def peak_ratio(self) -> float:
        return self.coarse_peak / self.secondary_peak if self.secondary_peak > 0 else float("inf")

    def as_dict(self) -> dict:
        d = asdict(self)
        d["peak_ratio"] = self.peak_ratio
        return d


# --------------------------------------------------------------------------------------------- helpers

def multilook_amplitude(amplitude: np.ndarray, ml) -> np.ndarray:
    """sqrt(mean |a|^2) over ml_az x ml_rg cells (trailing lines/samples that do not fill a cell are dropped)."""
    mlaz, mlrg = (int(v) for v in ml)
    a = np.asarray(amplitude)
    p = np.abs(a).astype(np.float64) ** 2
    na, nr = p.shape[0] // mlaz, p.shape[1] // mlrg
    if na < 1 or nr < 1:
        raise SelectionError(f"multilook {mlaz} x {mlrg} does not fit a {p.shape[0]} x {p.shape[1]} crop")
    return np.sqrt(p[:na * mlaz, :nr * mlrg].reshape(na, mlaz, nr, mlrg).mean(axis=(1, 3)))


def ncc_valid(image: np.ndarray, template: np.ndarray) -> np.ndarray:
    """Normalised cross-correlation of ``template`` at every position where it fits inside ``image``."""
    img = np.asarray(image, dtype=np.float64)
    t = np.asarray(template, dtype=np.float64)
    th, tw = t.shape
    n = t.size
    t0 = t - t.mean()
    tn = np.sqrt(np.sum(t0 * t0))
    num = fftconvolve(img, t0[::-1, ::-1], mode="valid")
    c1 = np.pad(np.cumsum(np.cumsum(img, 0), 1), ((1, 0), (1, 0)))
    c2 = np.pad(np.cumsum(np.cumsum(img * img, 0), 1), ((1, 0), (1, 0)))

    def box(c):
        return c[th:, tw:] - c[:-th, tw:] - c[th:, :-tw] + c[:-th, :-tw]

    s1 = box(c1)
    s2 = box(c2)
    var = np.maximum(s2 - s1 * s1 / n, 0.0)
    den = np.sqrt(var) * tn
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(den > 1e-12 * max(tn, 1e-300) * np.sqrt(max(float(np.max(s2)), 1e-300)), num / den, 0.0)
    return np.nan_to_num(out, nan=0.0, posinf=0.0, neginf=0.0)


def _pearson(a: np.ndarray, b: np.ndarray) -> float:
    a0 = a - a.mean()
    b0 = b - b.mean()
    d = np.sqrt(np.sum(a0 * a0) * np.sum(b0 * b0))
    return float(np.sum(a0 * b0) / d) if d > 0 else 0.0


# ---------------------------------------------------------------------------------------------- locate

HIGHPASS_SIGMA_CELLS = 4.0


def _to_domain(amplitude: np.ndarray, domain: str) -> np.ndarray:
    """The values correlated: the multilooked amplitude itself, its high-pass part (amplitude minus its
    Gaussian blur of ``HIGHPASS_SIGMA_CELLS`` cells: the land/sea step weighs less, local relief more) or dB."""
    if domain == "amplitude":
        return amplitude
    if domain == "highpass":
        a = np.asarray(amplitude, dtype=np.float64)
        return a - gaussian_filter(a, HIGHPASS_SIGMA_CELLS, mode="nearest")
    if domain == "db":
        a = np.asarray(amplitude, dtype=np.float64)
        floor = max(float(np.max(a)), 1e-300) * 1e-4
        return 20.0 * np.log10(np.maximum(a, floor))
    raise SelectionError(f"unknown correlation domain {domain!r} (choose from {', '.join(DOMAINS)})")


DOMAINS = ("amplitude", "highpass", "db")


def _quadratic_peak(surf: np.ndarray, a: int, b: int, fa: int, fb: int) -> tuple[float, float] | None:
    """Vertex of the least-squares quadratic surface through surf[a-fa:a+fa+1, b-fb:b+fb+1] (offsets from
    (a, b)); None when the fit is not a maximum or its vertex leaves the fitted box."""
    y, x = np.mgrid[-fa:fa + 1, -fb:fb + 1].astype(np.float64)
    z = surf[a - fa:a + fa + 1, b - fb:b + fb + 1]
    y, x, z = y.ravel() / max(fa, 1), x.ravel() / max(fb, 1), z.ravel()
    g = np.stack([np.ones_like(x), y, x, y * y, x * x, x * y], axis=1)
    c, *_ = np.linalg.lstsq(g, z, rcond=None)
    h = np.array([[2 * c[3], c[5]], [c[5], 2 * c[4]]])
    if np.linalg.det(h) <= 0 or h[0, 0] >= 0:
        return None
    dy, dx = np.linalg.solve(h, -c[1:3])
    if abs(dy) > 1.0 or abs(dx) > 1.0:
        return None
    return float(dy * max(fa, 1)), float(dx * max(fb, 1))


def _fine(facets: FacetModel, meta: SwathMetadata, template: np.ndarray, ml, l0: int, s0: int,
          oversample: int, max_moves: int = 6, domain: str = "amplitude"):
    """NCC at every full-resolution offset within one look cell of (l0, s0); the peak is the vertex of a
    quadratic fitted over half a look cell around the best offset (the surface is rough at the pixel scale:
    speckle of the crop, discrete facets of the simulation). Returns (line, sample, peak, surface)."""
    mlaz, mlrg = ml
    na, nr = template.shape
    ra, rr = mlaz + 1, mlrg + 1
    fa, fb = max(1, mlaz // 2), max(1, mlrg // 2)
    for _ in range(max_moves):
        win = (l0 - ra, s0 - rr, na * mlaz + 2 * ra, nr * mlrg + 2 * rr)
        sim = np.maximum(simulate_intensity(facets, meta, win, (1, 1), oversample, check=False), 0.0)
        c = np.pad(np.cumsum(np.cumsum(sim, 0), 1), ((1, 0), (1, 0)))
        surf = np.empty((2 * ra + 1, 2 * rr + 1))
        ii = np.arange(na) * mlaz
        jj = np.arange(nr) * mlrg
        for a in range(2 * ra + 1):
            r0 = ii + a
            r1 = r0 + mlaz
            for b in range(2 * rr + 1):
                q0 = jj + b
                q1 = q0 + mlrg
                box = c[r1[:, None], q1[None, :]] - c[r0[:, None], q1[None, :]] - c[r1[:, None], q0[None, :]] \
                    + c[r0[:, None], q0[None, :]]
                surf[a, b] = _pearson(_to_domain(np.sqrt(np.maximum(box, 0.0)), domain), template)
        ia, ib = np.unravel_index(int(np.argmax(surf)), surf.shape)
        a, b = int(ia), int(ib)
        l_best, s_best = l0 - ra + a, s0 - rr + b
        if fa <= a < 2 * ra + 1 - fa and fb <= b < 2 * rr + 1 - fb:
            fit = _quadratic_peak(surf, a, b, fa, fb)
            if fit is None:
                fit = parabolic_peak(surf, a, b)
            return l_best + fit[0], s_best + fit[1], float(surf[a, b]), surf
        l0, s0 = l_best, s_best
    return float(l_best), float(s_best), float(surf[a, b]), surf


def locate_crop(crop_amplitude: np.ndarray, meta: SwathMetadata, orbit: Orbit, dem: SimDem | None,
                search_window, ml=(4, 16), oversample: int = 6, model: str = "lambert",
                sea_ratio: float = DEFAULT_SEA_RATIO, shadow: bool = True,
                facets: FacetModel | None = None, domain: str = "amplitude") -> LocateResult:
    """Find the full-swath position of a crop (complex SLC or amplitude array) inside ``search_window``.

    ``search_window`` = (line0, sample0, n_lines, n_samples) of the full-swath image, at least as large as the
    crop. ``dem`` covers the window (``amplitude_estimation.load_dem``); ``facets`` (from ``facet_model``) can
    be given instead to reuse a DEM projection between calls.
    """
    crop = np.asarray(crop_amplitude)
    if crop.ndim != 2:
        raise SelectionError(f"crop must be a 2-D image, got shape {crop.shape}")
    mlaz, mlrg = (int(v) for v in ml)
    if mlaz < 1 or mlrg < 1:
        raise SelectionError(f"multilook factors must be >= 1, got {mlaz} x {mlrg}")
    line0, sample0, nl, ns = check_window(meta, search_window)
    if nl < crop.shape[0] or ns < crop.shape[1]:
        raise SelectionError(f"search window {nl} x {ns} is smaller than the crop {crop.shape[0]} x {crop.shape[1]}")
    if domain not in DOMAINS:
        raise SelectionError(f"unknown correlation domain {domain!r} (choose from {', '.join(DOMAINS)})")
    template = _to_domain(multilook_amplitude(crop, (mlaz, mlrg)), domain)
    na, nr = template.shape
    if na < 3 or nr < 3:
        raise SelectionError(f"crop {crop.shape[0]} x {crop.shape[1]} gives only {na} x {nr} multilook cells "
                             f"with {mlaz} x {mlrg} looks: use fewer looks")
    if np.std(template) == 0:
        raise SelectionError("crop amplitude is constant: nothing to correlate")
    if facets is None:
        if dem is None:
            raise SelectionError("locate_crop needs a DEM or precomputed facets")
        facets = facet_model(dem, meta, orbit, model, sea_ratio, shadow)
    sim = simulate_intensity(facets, meta, (line0, sample0, nl, ns), (mlaz, mlrg), oversample)
    if not np.any(sim > 0):
        raise SelectionError(f"the DEM does not cover the search window {line0},{sample0} {nl}x{ns}")
    sim_amp = _to_domain(np.sqrt(np.maximum(sim, 0.0) / (mlaz * mlrg)), domain)
    surf = ncc_valid(sim_amp, template)
    if surf.size == 0:
        raise SelectionError("search window too small for the crop at this multilook")
    i, j = np.unravel_index(int(np.argmax(surf)), surf.shape)
    coarse_peak = float(surf[i, j])
    # secondary peak: highest local maximum outside +/- a quarter of the crop around the main one
    ea, er = max(3, na // 4), max(3, nr // 4)
    locmax = (surf == maximum_filter(surf, size=3, mode="nearest"))
    excl = np.zeros(surf.shape, dtype=bool)
    excl[max(i - ea, 0):i + ea + 1, max(j - er, 0):j + er + 1] = True
    cand = np.where(locmax & ~excl, surf, -np.inf)
    if np.isfinite(cand).any():
        i2, j2 = np.unravel_index(int(np.argmax(cand)), cand.shape)
        secondary = float(surf[i2, j2])
    else:
        i2, j2, secondary = i, j, float("nan")
    di, dj = parabolic_peak(surf, int(i), int(j))
    l_c = int(round(line0 + (i + di) * mlaz))
    s_c = int(round(sample0 + (j + dj) * mlrg))
    line, sample, peak, fine = _fine(facets, meta, template, (mlaz, mlrg), l_c, s_c, oversample,
                                      domain=domain)
    burst = None
    if meta.is_tops and meta.lines_per_burst:
        burst = int(np.clip(int(round(line)) // meta.lines_per_burst, 0, len(meta.bursts) - 1))
    return LocateResult(
        first_line=int(round(line)), first_sample=int(round(sample)), line=float(line), sample=float(sample),
        peak=peak, coarse_peak=coarse_peak, secondary_peak=secondary,
        secondary_line=int(line0 + i2 * mlaz), secondary_sample=int(sample0 + j2 * mlrg),
        ml=(mlaz, mlrg), search_window=(line0, sample0, nl, ns), crop_shape=(int(crop.shape[0]), int(crop.shape[1])),
        burst=burst,
        extra={"coarse_line": float(line0 + (i + di) * mlaz), "coarse_sample": float(sample0 + (j + dj) * mlrg),
               "shadow_fraction": facets.shadow_fraction, "model": model, "oversample": int(oversample),
               "fine_surface_shape": list(fine.shape)},
    )


__all__ = ["LocateResult", "locate_crop", "multilook_amplitude", "ncc_valid"]
