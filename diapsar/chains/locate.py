"""Locate a SAR image (or a crop of it) in its annotation geometry from the DEM alone.

DiapOTB's SARAmplitudeEstimation idea (notes 4): the amplitude the DEM would produce in the SAR geometry of
the annotation (orbit, timing, range sampling) is simulated and correlated with the real amplitude; the
correlation peak gives the offset of the real image in the annotated line/sample frame, e.g. the first line
and sample of a crop in the full swath, or a timing/range bias of the annotation.

Simulated backscatter per pixel: the pixel's ground point is the intersection of its line of sight with the
DEM (``geometry.rdr2geo_dem``, ellipsoidal heights = DEM + geoid); with theta the local incidence angle
between the look vector and the DEM surface normal, land gets cos(theta) / sin(theta) (a Lambertian facet
seen in slant range: the slant-range pixel covers a ground area proportional to 1 / sin(theta)), clipped to
[0, 10]; sea (orthometric height <= 0.5 m, SRTM's sea level) gets a constant 5 % of land. Layover and shadow
are not modelled (one ground point per pixel), which is harmless for moderate relief.
Correlation: normalised cross-correlation of log-amplitudes (coastlines and slopes dominate, speckle is
averaged by a multilook), exhaustive over the search area by FFT, peak refined by a parabola on each axis.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..dem_projection import DemPatch
from ..geometry import RadarGrid, llh_to_ecef, rdr2geo_dem
from ..metadata import SwathMetadata
from ..orbit import Orbit


def simulate_amplitude(meta: SwathMetadata, orbit: Orbit, dem_ellipsoidal: DemPatch, dem_orthometric: DemPatch,
                       lines: np.ndarray, samples: np.ndarray, sea_level_m: float = 0.5) -> np.ndarray:
    """Simulated amplitude (float64) on the grid lines x samples (1-D arrays of full-swath coordinates)."""
    grid = RadarGrid.from_metadata(meta)
    ll, ss = np.meshgrid(np.asarray(lines, dtype=np.float64), np.asarray(samples, dtype=np.float64),
                         indexing="ij")
    t = grid.line_to_time(ll)
    tau = grid.pixel_to_range_time(ss)
    lat, lon, h = rdr2geo_dem(orbit, t, tau, dem_ellipsoidal.heights_m, dem_ellipsoidal.transform,
                              look_side=meta.look_side)
    ok = np.isfinite(lat)
    lat0, lon0, h0 = (np.where(ok, v, 0.0) for v in (lat, lon, h))
    p = llh_to_ecef(lat0, lon0, h0)
    # surface normal from the DEM around the ground point (steps of ~1/3 DEM post)
    d = abs(dem_ellipsoidal.transform[1]) / 3.0
    pe = llh_to_ecef(lat0, lon0 + d, np.nan_to_num(dem_ellipsoidal.height_at(lon0 + d, lat0)))
    pn = llh_to_ecef(lat0 + d, lon0, np.nan_to_num(dem_ellipsoidal.height_at(lon0, lat0 + d)))
    n = np.cross(pe - p, pn - p)
    n /= np.maximum(np.linalg.norm(n, axis=-1, keepdims=True), 1e-9)
    sat, _ = orbit.position_velocity(t.ravel())
    u = sat.reshape(p.shape) - p
    u /= np.linalg.norm(u, axis=-1, keepdims=True)
    cos_i = np.clip(np.sum(n * u, axis=-1), 0.0, 1.0)
    sin_i = np.sqrt(np.clip(1.0 - cos_i ** 2, 0.01, 1.0))
    land = np.nan_to_num(dem_orthometric.height_at(lon0, lat0), nan=0.0) > sea_level_m
    amp = np.where(land, np.minimum(cos_i / sin_i, 10.0), 0.0)
    amp[~land] = 0.05 * np.mean(amp[land]) if land.any() else 1.0
    amp[~ok] = 0.0
    return amp


def multilook_power(power: np.ndarray, f_az: int, f_rg: int) -> np.ndarray:
    na, nr = power.shape[0] // f_az, power.shape[1] // f_rg
    return power[: na * f_az, : nr * f_rg].reshape(na, f_az, nr, f_rg).mean(axis=(1, 3))


def ncc_surface(image: np.ndarray, template: np.ndarray) -> np.ndarray:
    """Normalised cross-correlation of ``template`` at every position where it fits inside ``image``."""
    from scipy.signal import fftconvolve

    t = np.asarray(template, dtype=np.float64)
    t = (t - t.mean()) / t.std()
    img = np.asarray(image, dtype=np.float64)
    num = fftconvolve(img, t[::-1, ::-1], mode="valid")
    ones = np.ones_like(t)
    s1 = fftconvolve(img, ones, mode="valid")
    s2 = fftconvolve(img ** 2, ones, mode="valid")
    var = np.maximum(s2 - s1 ** 2 / t.size, 1e-12)
    return num / np.sqrt(var) / np.sqrt(t.size)


def _parabola(cm: float, c0: float, cp: float) -> float:
    den = cm - 2.0 * c0 + cp
    return 0.5 * (cm - cp) / den if den < 0 else 0.0


@dataclass
class Location:
    first_line: float  # full-swath line of the real image's first line
    first_sample: float
    peak: float  # NCC peak
    second_peak: float  # best NCC outside the peak's lobe (+-12 lines, +-40 samples)
    ml: tuple[int, int]  # (azimuth, range) looks of the correlation

    def as_dict(self) -> dict:
        return {"first_line": round(self.first_line, 3), "first_sample": round(self.first_sample, 3),
                "peak": round(self.peak, 4), "second_peak": round(self.second_peak, 4), "ml_az_rg": list(self.ml)}


def locate(real_power: np.ndarray, meta: SwathMetadata, orbit: Orbit, dem_ellipsoidal: DemPatch,
           dem_orthometric: DemPatch, guess_line: int, guess_sample: int, search_lines: int = 40,
           search_samples: int = 120, ml: tuple[int, int] = (2, 8)) -> Location:
    """Full-swath (first line, first sample) of ``real_power`` (|SLC|^2 of a crop) near a guess.

    The amplitude is simulated over the crop +/- the search margins at full resolution, both are multilooked
    by ``ml`` (azimuth, range) looks and correlated; the peak is refined by a parabola per axis.
    """
    f_az, f_rg = ml
    n_l, n_s = real_power.shape
    l0 = guess_line - search_lines
    s0 = guess_sample - search_samples
    lines = np.arange(l0, guess_line + n_l + search_lines, dtype=np.float64)
    samples = np.arange(s0, guess_sample + n_s + search_samples, dtype=np.float64)
    sim = simulate_amplitude(meta, orbit, dem_ellipsoidal, dem_orthometric, lines, samples)
    sim_ml = multilook_power(sim ** 2, f_az, f_rg)
    real_ml = multilook_power(np.asarray(real_power, dtype=np.float64), f_az, f_rg)

    def log_amp(p):
        a = np.sqrt(p)
        return np.log(a + 1e-3 * a.mean())

    c = ncc_surface(log_amp(sim_ml), log_amp(real_ml))
    i, j = np.unravel_index(np.argmax(c), c.shape)
    di = _parabola(c[i - 1, j], c[i, j], c[i + 1, j]) if 0 < i < c.shape[0] - 1 else 0.0
    dj = _parabola(c[i, j - 1], c[i, j], c[i, j + 1]) if 0 < j < c.shape[1] - 1 else 0.0
    # next best correlation away from the peak's own lobe (12 lines, 40 samples)
    ea, er = max(1, 12 // f_az), max(1, 40 // f_rg)
    mask = np.ones_like(c, dtype=bool)
    mask[max(0, i - ea):i + ea + 1, max(0, j - er):j + er + 1] = False
    second = float(c[mask].max()) if mask.any() else float("nan")
    return Location(first_line=l0 + (i + di) * f_az, first_sample=s0 + (j + dj) * f_rg, peak=float(c[i, j]),
                    second_peak=second, ml=(f_az, f_rg))
