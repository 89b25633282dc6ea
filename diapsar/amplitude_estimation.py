"""SARAmplitudeEstimation: the amplitude a SAR image would show, simulated from a DEM in the image geometry.

DiapOTB's SARAmplitudeEstimation ("DEM to amplitude", notes section 4) projects the DEM into the SAR geometry
(SARDEMProjection) and accumulates a backscatter model per SAR cell. Here:

1. Every DEM post (lon, lat, ellipsoidal height) is projected with the zero-Doppler ``geo2rdr`` of
   ``diapsar.geometry``: azimuth time t and range sample s. Lines are not computed per post, because an IW/EW
   image is a stack of bursts: a post whose time falls in the overlap of two bursts is seen in both, at
   ``line = burst.first_line + (t - burst.azimuth_time) / azimuthTimeInterval`` of each (the RadarGrid rule).
2. Each DEM cell (the quadrilateral between four posts) is a facet with ECEF normal n and surface area A; l is
   the unit vector from the facet to the sensor at its zero-Doppler time. The local incidence angle is
   cos(theta_loc) = n.l. The facet's radar cross-section is ``A * sigma0(theta_loc)`` with
   sigma0 = cos(theta_loc) ("cos") or cos^2(theta_loc) ("lambert", Lambert's law); zero when the facet turns
   away from the radar (self shadow, n.l <= 0) and scaled by the fraction of its corners that are lit (cast
   shadow: along each zero-Doppler strip a post is hidden when a post nearer to the ground track is seen
   under a larger look angle).
3. Sea: DEM posts whose orthometric height is <= 0 m, or that have no data, are sea; the sea surface is placed
   at the geoid (the ellipsoidal height of mean sea level) and has a uniform, low backscatter
   (``sea_ratio`` times the land model of a flat facet). The land fraction is interpolated inside a facet, so
   the coastline runs midway between the last land post and the first sea post.
4. Each facet is cut into ``oversample x oversample`` sub-facets (bilinear interpolation of the corner times,
   samples and land fraction: the projection is smooth at DEM-cell scale, the error of interpolating it is a
   few millimetres); each sub-facet's cross-section is splatted bilinearly into the output cells. Cells of a
   foreshortened or laid-over slope collect several facets (layover accumulation).

The output grid is a window of the full-swath image (0-based line0, sample0, n_lines, n_samples), optionally
multilooked (ml_az x ml_rg full-resolution cells per output cell). ``simulate_intensity`` returns the summed
cross-section per output cell; ``simulate_amplitude`` its square root per full-resolution cell scaled by
``gain`` (DiapOTB's SARAmplitudeEstimation ``-gain``; by default chosen so that the mean amplitude is 100).

Pure functions on arrays (heights, geotransform, metadata, orbit); ``load_dem`` is the one file reader.
"""

from __future__ import annotations

import math
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import DemError, SelectionError
from .geometry import RadarGrid, geo2rdr_ecef, llh_to_ecef, rdr2geo
from .kernels.facets import cast_shadow, splat_facets
from .metadata import SwathMetadata
from .orbit import Orbit

MODELS = ("cos", "lambert")
DEFAULT_SEA_RATIO = 0.05  # sea cross-section relative to flat land (about -13 dB): calm to moderate sea, C band VV


# ------------------------------------------------------------------------------------------------ inputs

@dataclass
class SimDem:
    """DEM ready for simulation: ellipsoidal heights (finite everywhere), land fraction (1 land, 0 sea) and the
    GDAL geotransform (x0, dx, 0, y0, 0, dy) of the posts (pixel-is-area: post (r, c) at the cell centre)."""

    heights_m: np.ndarray
    land: np.ndarray
    transform: tuple[float, float, float, float, float, float]

    @property
    def shape(self) -> tuple[int, int]:
        return self.heights_m.shape

    def lonlat(self) -> tuple[np.ndarray, np.ndarray]:
        x0, dx, _, y0, _, dy = self.transform
        lon = x0 + (np.arange(self.shape[1]) + 0.5) * dx
        lat = y0 + (np.arange(self.shape[0]) + 0.5) * dy
        return lon, lat


def prepare_dem(orthometric_m: np.ndarray, transform, undulation_m: np.ndarray | float | None = None,
                sea_level_m: float = 0.0) -> SimDem:
    """SimDem from DEM heights above the geoid (NaN = no data).

    ``undulation_m``: geoid height N on the DEM grid (or a scalar); None means the heights are used as they are
    (no geoid: the DEM is taken as ellipsoidal). Posts at or below ``sea_level_m`` or without data are sea; the
    sea surface is at ``sea_level_m`` above the geoid.
    """
    h = np.asarray(orthometric_m, dtype=np.float64)
    if h.ndim != 2 or min(h.shape) < 2:
        raise DemError(f"DEM must be a 2-D array of at least 2 x 2 posts, got shape {h.shape}")
    gt = tuple(float(v) for v in transform)
    if len(gt) != 6 or gt[2] != 0.0 or gt[4] != 0.0:
        raise DemError(f"DEM geotransform must be (x0, dx, 0, y0, 0, dy) without rotation, got {gt}")
    sea = ~np.isfinite(h) | (h <= sea_level_m)
    h = np.where(sea, sea_level_m, h)
    if undulation_m is not None:
        h = h + np.asarray(undulation_m, dtype=np.float64)
    return SimDem(np.ascontiguousarray(h), np.ascontiguousarray((~sea).astype(np.float64)), gt)


def window_bbox(meta: SwathMetadata, orbit: Orbit, window, heights=(-100.0, 3000.0),
                margin_deg: float = 0.02) -> tuple[float, float, float, float]:
    """(lonmin, latmin, lonmax, latmax) holding every ground point of an image window (line0, sample0,
    n_lines, n_samples) at heights within ``heights``, plus ``margin_deg``."""
    line0, sample0, nl, ns = (int(v) for v in window)
    grid = RadarGrid.from_metadata(meta)
    lines = np.linspace(line0, line0 + nl - 1, 5)
    samples = np.linspace(sample0, sample0 + ns - 1, 5)
    ll, ss = np.meshgrid(lines, samples, indexing="ij")
    ll = np.concatenate([ll.ravel()] * len(heights))
    ss = np.concatenate([ss.ravel()] * len(heights))
    hh = np.repeat(np.asarray(heights, dtype=np.float64), lines.size * samples.size)
    lat, lon, _ = rdr2geo(orbit, grid.line_to_time(ll), grid.pixel_to_range_time(ss), hh, meta.look_side)
    if not (np.all(np.isfinite(lat)) and np.all(np.isfinite(lon))):
        raise SelectionError(f"window {line0},{sample0} {nl}x{ns}: the orbit does not cover it")
    return (float(lon.min()) - margin_deg, float(lat.min()) - margin_deg,
            float(lon.max()) + margin_deg, float(lat.max()) + margin_deg)


def load_dem(dem: str | os.PathLike, bbox, geoid: bool | str = True) -> SimDem:
    """Read a DEM over ``bbox`` (lon/lat box) for simulation.

    ``dem``: a folder of tiles (SRTM .hgt/.hgt.zip, GeoTIFF: assembled with ``build_scene_dem``; 1-degree
    cells without a tile are sea, which is what SRTM's missing ocean cells are) or one raster/VRT.
    Heights are taken as orthometric (above EGM96 for SRTM); ``geoid`` True adds the shipped EGM96 undulation,
    a string names another geoid grid, False uses the heights as ellipsoidal.
    """
    from .geoid import load_geoid
    from .io.dem import build_scene_dem, read_dem

    p = Path(dem)
    if not p.exists():
        raise DemError(f"DEM {p} does not exist")
    if p.is_dir():
        with tempfile.TemporaryDirectory(prefix="diapsar_dem_") as tmp:
            vrt = build_scene_dem(p, bbox, Path(tmp) / "dem_scene.vrt", margin_deg=0.0, fill_missing=True)
            h, gt, _ = read_dem(vrt, bbox, ellipsoidal=False)
    else:
        h, gt, _ = read_dem(p, bbox, ellipsoidal=False)
    und = None
    if geoid:
        model = load_geoid(None if geoid is True else geoid)
        x0, dx, _, y0, _, dy = gt
        lat = y0 + (np.arange(h.shape[0]) + 0.5) * dy
        lon = x0 + (np.arange(h.shape[1]) + 0.5) * dx
        und = model.undulation_grid(lat, lon)
    return prepare_dem(h, gt, und)


# ------------------------------------------------------------------------------------- DEM projection

@dataclass
class FacetModel:
    """Projected DEM posts and facet cross-sections (inputs of the splatting kernel)."""

    t_rel: np.ndarray       # (nr, nc) zero-Doppler time of each post minus t_ref (s); NaN off the orbit
    sample: np.ndarray      # (nr, nc) range sample (0-based, full swath)
    land: np.ndarray        # (nr, nc) land fraction
    w_land: np.ndarray      # (nr-1, nc-1) cross-section of the facet if land
    w_sea: np.ndarray       # (nr-1, nc-1) cross-section of the facet if sea
    t_ref: float
    shadow_fraction: float  # fraction of land facets in (self or cast) shadow


def _sigma0(cos_loc: np.ndarray, model: str) -> np.ndarray:
    c = np.clip(cos_loc, 0.0, None)
    if model == "cos":
        return c
    if model == "lambert":
        return c * c
    raise SelectionError(f"unknown backscatter model {model!r} (choose from {', '.join(MODELS)})")


def _facet_rows(lat, lon, p, look, model):
    """Facet cross-section factors of consecutive post rows (arrays of nr posts -> nr-1 facet rows)."""
    d1 = p[1:, 1:] - p[:-1, :-1]
    d2 = p[:-1, 1:] - p[1:, :-1]
    nrm = np.cross(d1, d2)
    area = 0.5 * np.linalg.norm(nrm, axis=-1)
    la = np.radians(0.5 * (lat[1:] + lat[:-1]))[:, None]
    lo = np.radians(0.5 * (lon[1:] + lon[:-1]))[None, :]
    up = np.stack(np.broadcast_arrays(np.cos(la) * np.cos(lo), np.cos(la) * np.sin(lo), np.sin(la)), axis=-1)
    sgn = np.sign(np.sum(nrm * up, axis=-1))
    sgn[sgn == 0] = 1.0
    nrm *= (sgn / np.maximum(2.0 * area, 1e-30))[..., None]
    lf = look[1:, 1:] + look[:-1, :-1] + look[:-1, 1:] + look[1:, :-1]
    lf /= np.linalg.norm(lf, axis=-1)[..., None]
    cos_loc = np.sum(nrm * lf, axis=-1)
    cos_flat = np.sum(up * lf, axis=-1)
    flat_area = area * np.clip(np.sum(nrm * up, axis=-1), 0.0, None)
    return area * _sigma0(cos_loc, model), flat_area * _sigma0(cos_flat, model), cos_loc


def facet_model(dem: SimDem, meta: SwathMetadata, orbit: Orbit, model: str = "lambert",
                sea_ratio: float = DEFAULT_SEA_RATIO, shadow: bool = True, block_rows: int = 256) -> FacetModel:
    """Project the DEM posts (geo2rdr) and compute the facet cross-sections (see the module doc).

    Works on blocks of ``block_rows`` DEM rows so that large DEMs stay within a modest memory budget.
    """
    if model not in MODELS:
        raise SelectionError(f"unknown backscatter model {model!r} (choose from {', '.join(MODELS)})")
    grid = RadarGrid.from_metadata(meta)
    lon, lat = dem.lonlat()
    nr, nc = dem.shape
    t_mid = 0.5 * (meta.first_line_time_s + meta.last_line_time_s)
    t_ref = float(t_mid)
    t_rel = np.full((nr, nc), np.nan)
    sample = np.full((nr, nc), np.nan)
    alpha = np.zeros((nr, nc))
    gamma = np.zeros((nr, nc))
    w_land = np.zeros((nr - 1, nc - 1))
    w_sea = np.zeros((nr - 1, nc - 1))
    self_dark = np.zeros((nr - 1, nc - 1), dtype=bool)
    step = max(int(block_rows), 2)
    for r0 in range(0, nr - 1, step - 1):
        r1 = min(r0 + step, nr)  # posts r0..r1-1 -> facets r0..r1-2
        lon2, lat2 = np.meshgrid(lon, lat[r0:r1])
        h = dem.heights_m[r0:r1]
        p = llh_to_ecef(lat2, lon2, h)
        az, tau = geo2rdr_ecef(orbit, p, t_guess_s=t_mid)
        ok = np.isfinite(az)
        t_rel[r0:r1] = np.where(ok, az - t_ref, np.nan)
        sample[r0:r1] = grid.range_time_to_pixel(tau)
        s_pos, _ = orbit.position_velocity(np.where(ok, az, t_mid))
        look = s_pos - p
        look /= np.linalg.norm(look, axis=-1)[..., None]
        # look angle from nadir and ground angle from the track (for the cast shadow)
        sn = np.linalg.norm(s_pos, axis=-1)
        alpha[r0:r1] = np.arccos(np.clip(np.sum(look * s_pos, axis=-1) / sn, -1.0, 1.0))
        pn = np.linalg.norm(p, axis=-1)
        gamma[r0:r1] = np.arccos(np.clip(np.sum(p * s_pos, axis=-1) / (pn * sn), -1.0, 1.0))
        wl, ws, cos_loc = _facet_rows(lat[r0:r1], lon, p, look, model)
        w_land[r0:r1 - 1] = wl
        w_sea[r0:r1 - 1] = sea_ratio * ws
        self_dark[r0:r1 - 1] = cos_loc <= 0.0
        if r1 == nr:
            break
    lit_frac = np.ones((nr - 1, nc - 1))
    if shadow:
        # along zero-Doppler strips one DEM spacing wide: hidden when a post nearer the track is seen under a
        # larger look angle
        spacing_m = abs(dem.transform[5]) * math.pi / 180.0 * 6.37e6
        ground_speed = 6.7e3  # m/s, Sentinel-1 ground-track speed (order of magnitude; only sets the strip width)
        valid = np.isfinite(t_rel)
        bins = np.where(valid, np.floor(np.where(valid, t_rel, 0.0) / (spacing_m / ground_speed)),
                        -2 ** 40).astype(np.int64).ravel()
        order = np.lexsort((gamma.ravel(), bins)).astype(np.int64)
        lit: np.ndarray = np.empty(bins.shape[0])
        cast_shadow(order, bins, alpha.ravel(), lit)
        lit = lit.reshape(nr, nc)
        lit_frac = 0.25 * (lit[1:, 1:] + lit[:-1, :-1] + lit[:-1, 1:] + lit[1:, :-1])
        w_land *= lit_frac
        w_sea *= lit_frac
    landf = 0.25 * (dem.land[1:, 1:] + dem.land[:-1, :-1] + dem.land[:-1, 1:] + dem.land[1:, :-1])
    is_land = landf > 0.5
    dark = self_dark | (lit_frac < 1.0)
    shadow_fraction = float(int(np.count_nonzero(dark & is_land)) / max(int(np.count_nonzero(is_land)), 1))
    return FacetModel(t_rel, np.ascontiguousarray(sample), np.ascontiguousarray(dem.land), w_land, w_sea,
                      t_ref, shadow_fraction)


# ------------------------------------------------------------------------------------------- splatting

def _burst_tables(meta: SwathMetadata, t_ref: float):
    grid = RadarGrid.from_metadata(meta)
    if grid.is_tops:
        bt = grid.burst_times_s - t_ref
        bfirst = grid.burst_first_lines.astype(np.float64)
        lpb = float(grid.lines_per_burst)
    else:
        bt = np.array([grid.first_line_time_s - t_ref])
        bfirst = np.array([0.0])
        lpb = float(grid.number_of_lines)
    return np.ascontiguousarray(bt), np.ascontiguousarray(bfirst), lpb, grid.azimuth_time_interval_s


def check_window(meta: SwathMetadata, window) -> tuple[int, int, int, int]:
    """(line0, sample0, n_lines, n_samples) as ints, checked to lie inside the swath image."""
    try:
        line0, sample0, nl, ns = (int(v) for v in window)
    except (TypeError, ValueError):
        raise SelectionError(f"window must be (line0, sample0, n_lines, n_samples), got {window!r}") from None
    if nl <= 0 or ns <= 0 or line0 < 0 or sample0 < 0 or line0 + nl > meta.number_of_lines \
            or sample0 + ns > meta.number_of_samples:
        raise SelectionError(f"window lines {line0}..{line0 + nl - 1}, samples {sample0}..{sample0 + ns - 1} is "
                             f"outside the {meta.swath} image ({meta.number_of_lines} lines x "
                             f"{meta.number_of_samples} samples)")
    return line0, sample0, nl, ns


def simulate_intensity(facets: FacetModel, meta: SwathMetadata, window, ml=(1, 1), oversample: int = 4,
                       check: bool = True) -> np.ndarray:
    """Summed facet cross-section per output cell: (n_lines // ml_az, n_samples // ml_rg) float64.

    ``window`` = (line0, sample0, n_lines, n_samples) of the full-swath image; output cell (i, j) covers lines
    line0 + i*ml_az .. + ml_az - 1 and samples sample0 + j*ml_rg .. + ml_rg - 1. With ``check`` the window must
    lie inside the image (a search may also simulate a margin beyond it).
    """
    if check:
        line0, sample0, nl, ns = check_window(meta, window)
    else:
        line0, sample0, nl, ns = (int(v) for v in window)
    mlaz, mlrg = (int(v) for v in ml)
    if mlaz < 1 or mlrg < 1 or nl // mlaz < 1 or ns // mlrg < 1:
        raise SelectionError(f"multilook {mlaz} x {mlrg} does not fit the window {nl} x {ns}")
    if int(oversample) < 1:
        raise SelectionError(f"oversample must be >= 1, got {oversample}")
    bt, bfirst, lpb, dt = _burst_tables(meta, facets.t_ref)
    out = np.zeros((nl // mlaz, ns // mlrg))
    splat_facets(facets.t_rel, facets.sample, facets.land, facets.w_land, facets.w_sea, int(oversample),
                  bt, bfirst, lpb, dt, float(line0), float(sample0), float(mlaz), float(mlrg), out)
    return out


def simulate_amplitude(dem: SimDem, meta: SwathMetadata, orbit: Orbit, window, ml=(1, 1), oversample: int = 4,
                       model: str = "lambert", sea_ratio: float = DEFAULT_SEA_RATIO, shadow: bool = True,
                       gain: float | None = None) -> np.ndarray:
    """SARAmplitudeEstimation: simulated amplitude (float32) of an image window from a DEM.

    ``window`` = (line0, sample0, n_lines, n_samples) (0-based, full swath); ``ml`` = (ml_az, ml_rg) looks.
    Amplitude = gain * sqrt(cross-section per full-resolution cell); ``gain`` None makes the mean 100.
    """
    facets = facet_model(dem, meta, orbit, model, sea_ratio, shadow)
    inten = simulate_intensity(facets, meta, window, ml, oversample)
    amp = np.sqrt(np.maximum(inten, 0.0) / (int(ml[0]) * int(ml[1])))
    if gain is None:
        m = float(amp.mean())
        gain = 100.0 / m if m > 0 else 1.0
    return (gain * amp).astype(np.float32)


__all__ = ["MODELS", "DEFAULT_SEA_RATIO", "FacetModel", "SimDem", "check_window", "facet_model", "load_dem",
           "prepare_dem", "simulate_amplitude", "simulate_intensity", "window_bbox"]
