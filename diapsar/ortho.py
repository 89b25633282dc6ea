"""Orthorectification of master multilook (ML) geometry products onto a map grid (WGS84 lon/lat or any EPSG).

Inverse mapping, as OTB's OrthoRectification with a DEM: for each output cell centre (x, y) the lon/lat is
found (pyproj for a projected grid), the ellipsoidal height is read from the scene DEM (bilinear), the point
is projected into the master by zero-Doppler geo2rdr, and its master full-resolution (line, sample) turned into
fractional ML coordinates u = (line - line0 - (ml_azi - 1)/2) / ml_azi (cell centres, see
``diapsar.cartesian_mean``). The ML image is then sampled there: bilinear for amplitude-like bands, bilinear
on the unit phasor for phase bands, nearest for masks. Cells whose ML position is outside the image or whose
nearest ML cell has isData = 0 are no-data.

Pure functions on arrays; the chain streams the output grid by row blocks.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .dem_projection import DemPatch
from .errors import ConfigError
from .geometry import RadarGrid, geo2rdr
from .kernels.dem import dem_heights
from .kernels.interp import SAMPLE_BILINEAR, SAMPLE_NEAREST, SAMPLE_PHASE, sample_ml
from .metadata import SwathMetadata
from .orbit import Orbit


@dataclass(frozen=True)
class OrthoGrid:
    """Output grid: GDAL geotransform (x0, dx, 0, y0, 0, -dy) in the units of ``epsg``, size in cells."""

    epsg: int
    transform: tuple[float, float, float, float, float, float]
    width: int
    height: int

    def xy(self, row0: int, row1: int) -> tuple[np.ndarray, np.ndarray]:
        x0, dx, _, y0, _, dy = self.transform
        x = x0 + (np.arange(self.width) + 0.5) * dx
        y = y0 + (np.arange(row0, row1) + 0.5) * dy
        return np.meshgrid(x, y)

    def lonlat(self, row0: int, row1: int) -> tuple[np.ndarray, np.ndarray]:
        x, y = self.xy(row0, row1)
        if self.epsg == 4326:
            return x, y
        from pyproj import Transformer

        tr = Transformer.from_crs(self.epsg, 4326, always_xy=True)
        lon, lat = tr.transform(x, y)
        return np.asarray(lon), np.asarray(lat)


def make_grid(lon: np.ndarray, lat: np.ndarray, spacing_deg: float, epsg: int = 4326) -> OrthoGrid:
    """Grid covering the lon/lat points (e.g. the ground perimeter of the scene), snapped to the spacing.

    For a projected ``epsg`` the spacing in degrees is converted to metres along the meridian at the centre
    (1 deg of latitude ~ 111 km, WGS84) so that -spacingxy keeps its meaning.
    """
    lon = np.asarray(lon, dtype=np.float64).ravel()
    lat = np.asarray(lat, dtype=np.float64).ravel()
    ok = np.isfinite(lon) & np.isfinite(lat)
    if not ok.any():
        raise ConfigError("orthorectification: the scene has no ground point")
    lon, lat = lon[ok], lat[ok]
    if epsg == 4326:
        x, y, step = lon, lat, float(spacing_deg)
    else:
        from pyproj import Transformer

        tr = Transformer.from_crs(4326, epsg, always_xy=True)
        x, y = (np.asarray(v) for v in tr.transform(lon, lat))
        phi = math.radians(float(np.mean(lat)))
        # WGS84 meridian arc length of one degree of latitude (m) at latitude phi
        a, e2 = 6378137.0, 0.00669437999014
        m_per_deg = math.pi / 180 * a * (1 - e2) / (1 - e2 * math.sin(phi) ** 2) ** 1.5
        step = float(spacing_deg) * m_per_deg
    x0 = math.floor(x.min() / step) * step
    y0 = math.ceil(y.max() / step) * step
    width = int(math.ceil((x.max() - x0) / step)) + 1
    height = int(math.ceil((y0 - y.min()) / step)) + 1
    return OrthoGrid(epsg=int(epsg), transform=(x0, step, 0.0, y0, 0.0, -step), width=width, height=height)


def master_coordinates(grid: OrthoGrid, row0: int, row1: int, dem: DemPatch, master: SwathMetadata,
                       orbit: Orbit) -> tuple[np.ndarray, np.ndarray]:
    """Full-resolution master (line, sample) of the output cells of rows [row0, row1): the ortho lookup table;
    NaN off the DEM or the orbit."""
    lon, lat = grid.lonlat(row0, row1)
    h = dem_heights_at(dem, lon, lat)
    ok = np.isfinite(h)
    line = np.full(h.shape, np.nan)
    pixel = np.full(h.shape, np.nan)
    if not ok.any():
        return line, pixel
    # zero-Doppler geo2rdr straight from lon/lat/h (no ECEF round trip), each Newton search started from the
    # azimuth time interpolated on a coarse subgrid of the block: the searches converge to the same root
    # (|dt| < 1e-11 s) as from the state-vector scan, in a fraction of the iterations
    guess = coarse_time_guess(orbit, lat, lon, np.where(ok, h, np.nanmedian(h)))
    az, tau = geo2rdr(orbit, lat[ok], lon[ok], h[ok], guess[ok])
    good = np.isfinite(az)
    rgrid = RadarGrid.from_metadata(master)
    sel = np.flatnonzero(ok)[good]
    line.flat[sel] = rgrid.time_to_line(az[good])
    pixel.flat[sel] = rgrid.range_time_to_pixel(tau[good])
    return line, pixel


def dem_heights_at(dem: DemPatch, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """``dem.height_at(lon, lat)`` for 2-D lon/lat grids, in a parallel kernel (no float64 temporaries)."""
    x0, dx, _, y0, _, dy = (float(v) for v in dem.transform)
    out = np.empty(np.shape(lon))
    dem_heights(np.ascontiguousarray(dem.heights_m), x0, dx, y0, dy, np.ascontiguousarray(lon, dtype=np.float64),
             np.ascontiguousarray(lat, dtype=np.float64), out)
    return out


GUESS_STEP = 16  # subgrid step (cells) of the zero-Doppler start times of the ortho lookup


def coarse_time_guess(orbit: Orbit, lat: np.ndarray, lon: np.ndarray, h: np.ndarray) -> np.ndarray:
    """Zero-Doppler time of every cell, bilinear between exact geo2rdr solutions on a subgrid of step
    ``GUESS_STEP`` (plus the last row/column); only a start for the Newton search (NaN: no start)."""
    n, m = lat.shape
    ri = np.unique(np.r_[np.arange(0, n, GUESS_STEP), n - 1])
    ci = np.unique(np.r_[np.arange(0, m, GUESS_STEP), m - 1])
    sub = np.ix_(ri, ci)
    t_sub, _ = geo2rdr(orbit, lat[sub], lon[sub], h[sub])
    if ri.size < 2 or ci.size < 2:
        return np.broadcast_to(np.nanmedian(t_sub) if np.isfinite(t_sub).any() else np.nan, (n, m)).copy()
    fr = np.interp(np.arange(n), ri, np.arange(ri.size))
    fc = np.interp(np.arange(m), ci, np.arange(ci.size))
    r0 = np.minimum(fr.astype(np.int64), ri.size - 2)
    c0 = np.minimum(fc.astype(np.int64), ci.size - 2)
    tr = (fr - r0)[:, None]
    tc = (fc - c0)[None, :]
    r0 = r0[:, None]
    c0 = c0[None, :]
    return ((1 - tr) * ((1 - tc) * t_sub[r0, c0] + tc * t_sub[r0, c0 + 1])
            + tr * ((1 - tc) * t_sub[r0 + 1, c0] + tc * t_sub[r0 + 1, c0 + 1]))


def to_ml(line: np.ndarray, pixel: np.ndarray, ml_azi: int, ml_ran: int, line_offset: int = 0,
          sample_offset: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Fractional ML (row, col) of full-resolution master coordinates (ML cell centres, see cartesian_mean)."""
    u = (np.asarray(line, dtype=np.float64) - line_offset - (ml_azi - 1) / 2.0) / ml_azi
    v = (np.asarray(pixel, dtype=np.float64) - sample_offset - (ml_ran - 1) / 2.0) / ml_ran
    return u, v


KINDS = {"bilinear": SAMPLE_BILINEAR, "nearest": SAMPLE_NEAREST, "phase": SAMPLE_PHASE}


def sample(image: np.ndarray, row0: int, u: np.ndarray, v: np.ndarray, kind: str = "bilinear",
           nodata: float = np.nan, out: np.ndarray | None = None) -> np.ndarray:
    """Sample a 2-D ML window whose first row is ML row ``row0`` at fractional (u, v); float32 (into ``out``
    when given). The values are those of the window in float64, rounded once to float32; a float32 window is
    read as it is (no float64 copy of it) except for the phase, whose sine and cosine are taken in float64."""
    if out is None:
        out = np.empty(u.shape, dtype=np.float32)
    img = np.ascontiguousarray(image, dtype=np.float64 if kind == "phase" or image.dtype != np.float32 else None)
    sample_ml(img, int(row0), np.ascontiguousarray(u, dtype=np.float64), np.ascontiguousarray(v, dtype=np.float64),
              KINDS[kind], float(nodata), out)
    return out


def ortho_bands(bands: np.ndarray, row0: int, u: np.ndarray, v: np.ndarray, kinds: list[str],
                isdata_band: int | None = None) -> np.ndarray:
    """Orthorectify a (nb, rows, cols) ML window: each band with its kind; cells whose nearest ML cell has
    isData 0 (band ``isdata_band``) get NaN in the value bands and 0 in the isData band."""
    out = np.empty((bands.shape[0], *np.shape(u)), dtype=np.float32)
    for k in range(bands.shape[0]):
        sample(bands[k], row0, u, v, kinds[k], nodata=(0.0 if k == isdata_band else np.nan), out=out[k])
    if isdata_band is not None:
        bad = out[isdata_band] < 0.5
        for k in range(bands.shape[0]):
            if k != isdata_band:
                out[k][bad] = np.nan
        out[isdata_band][bad] = 0.0
    return out


def needed_rows(u: np.ndarray, n_rows: int) -> tuple[int, int] | None:
    """ML rows [r0, r1) a block of ML coordinates needs (with the bilinear neighbour); None if none."""
    ok = np.isfinite(u)
    if not ok.any():
        return None
    r0 = max(0, int(np.floor(np.nanmin(u))) - 1)
    r1 = min(n_rows, int(np.ceil(np.nanmax(u))) + 2)
    return (r0, r1) if r1 > r0 else None
