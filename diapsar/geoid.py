"""Geoid undulation N (geoid height above the WGS84 ellipsoid): ``h_ellipsoid = h_orthometric + N``.

The default model is EGM96, from the grid shipped with the package (``diapsar/data/egm96_15.tif``: the NGA
15-minute EGM96 geoid height grid, stored as int16 centimetres, see ``diapsar/data/README.md``). Any other
grid that GDAL can read (GTX, GeoTIFF, ENVI ``egm96.grd`` + ``.hdr`` as used by OTB/DiapOTB, NetCDF ...) can be
given instead; it must be on a longitude/latitude grid and its node values are taken at the pixel centres of
the GDAL geotransform (the GDAL convention). A grid spanning 360 degrees wraps around in longitude.

Interpolation is cubic convolution (Keys, a = -0.5, 4 x 4 nodes) by default, or bilinear (2 x 2 nodes).
On the 15' grid the cubic scheme reproduces the NGA reference values to a few millimetres (see tests).
"""

from __future__ import annotations

import functools
import math
import os
from importlib import resources
from pathlib import Path

import numpy as np
import rasterio
from rasterio.windows import Window

from .errors import DemError

DEFAULT_GEOID_NAME = "egm96_15.tif"
METHODS = ("cubic", "linear")
# Grids larger than this (nodes) are read window by window instead of being kept in memory.
_FULL_READ_MAX_NODES = 25_000_000


def default_geoid_path() -> Path:
    """Path of the EGM96 15' grid shipped in the package."""
    return Path(str(resources.files("diapsar").joinpath("data", DEFAULT_GEOID_NAME)))


def _weights(t: np.ndarray, method: str) -> list[np.ndarray]:
    """Interpolation weights for node offsets (-1, 0, 1, 2) (cubic) or (0, 1) (linear), t in [0, 1)."""
    if method == "linear":
        return [1.0 - t, t]
    # Keys (1981) cubic convolution kernel with a = -0.5
    t2 = t * t
    t3 = t2 * t
    return [
        -0.5 * t3 + t2 - 0.5 * t,
        1.5 * t3 - 2.5 * t2 + 1.0,
        -1.5 * t3 + 2.0 * t2 + 0.5 * t,
        0.5 * t3 - 0.5 * t2,
    ]


class Geoid:
    """A geoid undulation grid readable by GDAL, interpolated at arbitrary latitudes/longitudes."""

    def __init__(self, path: str | os.PathLike | None = None):
        self.path = Path(path) if path is not None else default_geoid_path()
        if not self.path.exists():
            raise DemError(f"geoid file {self.path} does not exist")
        try:
            with rasterio.open(self.path) as ds:
                self.width, self.height = ds.width, ds.height
                tr = ds.transform
                crs = ds.crs
                self.scale = float(ds.scales[0]) if ds.scales and ds.scales[0] else 1.0
                self.offset = float(ds.offsets[0]) if ds.offsets else 0.0
                self.nodata = ds.nodata
                data = None
                if self.width * self.height <= _FULL_READ_MAX_NODES:
                    data = self._to_metres(ds.read(1))
        except rasterio.errors.RasterioError as exc:
            raise DemError(f"cannot read geoid file {self.path}: {exc}") from None
        if crs is not None and not crs.is_geographic:
            raise DemError(f"geoid file {self.path} is not on a longitude/latitude grid (CRS {crs})")
        if tr.b != 0 or tr.d != 0:
            raise DemError(f"geoid file {self.path} has a rotated geotransform")
        self._data = data
        self.dx, self.dy = tr.a, tr.e
        self.lon0 = tr.c + tr.a / 2.0  # longitude of the first column's nodes
        self.lat0 = tr.f + tr.e / 2.0  # latitude of the first row's nodes
        span = self.width * abs(self.dx)
        # global in longitude: either n * dx == 360, or the last column repeats the first (n - 1) * dx == 360
        if abs(span - 360.0) < 1e-6 * 360.0:
            self.period = self.width
        elif abs(span - abs(self.dx) - 360.0) < 1e-6 * 360.0:
            self.period = self.width - 1
        else:
            self.period = 0

    def _to_metres(self, raw: np.ndarray) -> np.ndarray:
        values = raw.astype(np.float64)
        if self.nodata is not None and not math.isnan(self.nodata):
            values[raw == self.nodata] = np.nan
        return values * self.scale + self.offset

    # ---- index computations -------------------------------------------------------------------------
    def _col_coords(self, lon: np.ndarray) -> np.ndarray:
        fx = (lon - self.lon0) / self.dx
        if self.period:
            fx = np.mod(fx, self.period)
        else:
            bad = (fx < -0.5) | (fx > self.width - 0.5) | ~np.isfinite(fx)
            if bad.any():
                raise DemError(f"geoid grid {self.path} does not cover longitude "
                               f"{float(np.asarray(lon)[bad].flat[0]):.4f}")
        return fx

    def _row_coords(self, lat: np.ndarray) -> np.ndarray:
        fy = (lat - self.lat0) / self.dy
        bad = (fy < -0.5) | (fy > self.height - 0.5) | ~np.isfinite(fy)
        if bad.any():
            # a global grid whose last node is at the pole: clamp what lies beyond it
            lat_first, lat_last = self.lat0, self.lat0 + (self.height - 1) * self.dy
            if self.period and max(abs(lat_first), abs(lat_last)) >= 90.0 - 1e-9:
                fy = np.clip(fy, 0, self.height - 1)
            else:
                raise DemError(f"geoid grid {self.path} does not cover latitude "
                               f"{float(np.asarray(lat)[bad].flat[0]):.4f}")
        return fy

    def _axis(self, f: np.ndarray, n: int, period: int, method: str):
        """Node indices (k, ...) and weights (k, ...) along one axis."""
        i0 = np.floor(f)
        t = f - i0
        i0 = i0.astype(np.int64)
        offsets = (-1, 0, 1, 2) if method == "cubic" else (0, 1)
        idx = []
        for o in offsets:
            i = i0 + o
            i = np.mod(i, period) if period else np.clip(i, 0, n - 1)
            idx.append(i)
        return np.stack(idx), np.stack(_weights(t, method))

    def _window(self, rows: np.ndarray, cols: np.ndarray) -> tuple[np.ndarray, int, int]:
        """Grid values (metres) covering the given node indices, and the window's first row and column."""
        r0, r1 = int(rows.min()), int(rows.max())
        c0, c1 = int(cols.min()), int(cols.max())
        if self._data is not None:
            return self._data[r0:r1 + 1, c0:c1 + 1], r0, c0
        with rasterio.open(self.path) as ds:
            raw = ds.read(1, window=Window(c0, r0, c1 - c0 + 1, r1 - r0 + 1))
        return self._to_metres(raw), r0, c0

    # ---- public ---------------------------------------------------------------------------------------
    def undulation(self, lat_deg, lon_deg, method: str = "cubic"):
        """N in metres at the given points (arrays broadcast together; scalars give a float)."""
        _check_method(method)
        lat, lon = np.broadcast_arrays(np.asarray(lat_deg, dtype=np.float64),
                                       np.asarray(lon_deg, dtype=np.float64))
        scalar = lat.ndim == 0
        lat1, lon1 = lat.ravel(), lon.ravel()
        if lat1.size == 0:
            return np.zeros(lat.shape)
        ri, rw = self._axis(self._row_coords(lat1), self.height, 0, method)
        ci, cw = self._axis(self._col_coords(lon1), self.width, self.period, method)
        grid, r0, c0 = self._window(ri, ci)
        out: np.ndarray = np.zeros(lat1.shape)
        for a in range(ri.shape[0]):
            rows = ri[a] - r0
            acc = np.zeros(lat1.shape)
            for b in range(ci.shape[0]):
                acc += cw[b] * grid[rows, ci[b] - c0]
            out += rw[a] * acc
        out = out.reshape(lat.shape)
        return float(out) if scalar else out

    def undulation_grid(self, lat_deg, lon_deg, method: str = "cubic") -> np.ndarray:
        """N (metres) on the regular grid lat_deg (rows) x lon_deg (columns), both 1-D: shape (nlat, nlon).

        Uses the separability of the interpolation kernel, so a full DEM tile costs two small matrix products.
        """
        _check_method(method)
        lat = np.atleast_1d(np.asarray(lat_deg, dtype=np.float64))
        lon = np.atleast_1d(np.asarray(lon_deg, dtype=np.float64))
        ri, rw = self._axis(self._row_coords(lat), self.height, 0, method)
        ci, cw = self._axis(self._col_coords(lon), self.width, self.period, method)
        grid, r0, c0 = self._window(ri, ci)
        if np.isnan(grid).any():  # nodata nodes: fall back to point evaluation so NaN stays local
            la, lo = np.meshgrid(lat, lon, indexing="ij")
            return self.undulation(la, lo, method)
        wy = np.zeros((lat.size, grid.shape[0]))
        wx = np.zeros((lon.size, grid.shape[1]))
        rows_n, cols_n = np.arange(lat.size), np.arange(lon.size)
        for k in range(ri.shape[0]):
            np.add.at(wy, (rows_n, ri[k] - r0), rw[k])
        for k in range(ci.shape[0]):
            np.add.at(wx, (cols_n, ci[k] - c0), cw[k])
        return wy @ grid @ wx.T


def _check_method(method: str) -> None:
    if method not in METHODS:
        raise DemError(f"unknown geoid interpolation {method!r} (choose from {', '.join(METHODS)})")


@functools.lru_cache(maxsize=4)
def _cached(path: str) -> Geoid:
    return Geoid(path)


BUILTIN_NAMES = ("", "egm96", "builtin", "default")


def load_geoid(geoid: str | os.PathLike | Geoid | None = None) -> Geoid:
    """The geoid model: ``None`` (or "egm96", "builtin", "default") for the shipped EGM96 grid, a
    GDAL-readable file path, or a ``Geoid``."""
    if isinstance(geoid, Geoid):
        return geoid
    if geoid is None or (isinstance(geoid, str) and geoid.strip().lower() in BUILTIN_NAMES):
        path = default_geoid_path()
    else:
        path = Path(geoid)
    return _cached(str(path.resolve()))


def geoid_undulation(lat_deg, lon_deg, geoid: str | os.PathLike | Geoid | None = None,
                     method: str = "cubic"):
    """Geoid height N (metres above the WGS84 ellipsoid) at latitude/longitude in degrees.

    Default model: EGM96 (shipped grid). ``geoid`` may name another GDAL-readable grid (config key ``Geoid``).
    Arrays broadcast together; scalar inputs give a float.
    """
    return load_geoid(geoid).undulation(lat_deg, lon_deg, method=method)


def geoid_undulation_grid(lat_deg, lon_deg, geoid: str | os.PathLike | Geoid | None = None,
                          method: str = "cubic") -> np.ndarray:
    """N (metres) on the product grid of 1-D ``lat_deg`` (rows) and ``lon_deg`` (columns)."""
    return load_geoid(geoid).undulation_grid(lat_deg, lon_deg, method=method)
