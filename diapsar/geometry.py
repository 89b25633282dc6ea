"""Range-Doppler geometry on the WGS84 ellipsoid: geo2rdr, rdr2geo, rdr2geo_dem, ECEF conversions, RadarGrid.

Conventions (``diapsar.metadata``): azimuth times are seconds since 2000-01-01 UTC, range times are two-way
seconds, ECEF in metres. The azimuth time of a ground point is its zero-Doppler time: the time t at which the
line of sight is perpendicular to the orbit velocity, (P - S(t)) . V(t) = 0, with S and V from
``diapsar.orbit.Orbit`` (interpolated positions and ESA's velocities, see there why). The two-way range time
is 2 |P - S(t)| / c. On every real annotation of the test data this reproduces ESA's geolocationGrid
azimuthTime/slantRangeTime within 0.004 line and 0.0001 sample (tests/test_20_geometry.py). OTB's
SarSensorModel (DiapOTB) uses the same zero-Doppler model.

Image pixels and zero-Doppler times differ by ESA's residual bistatic azimuth shift: go through
``RadarGrid.radar_to_times`` (pixel -> times for rdr2geo / rdr2geo_dem) and ``RadarGrid.times_to_radar``
(geo2rdr output -> line, pixel).

Every function takes numpy arrays of any (equal, broadcastable) shape and runs the numba kernels of
``diapsar.kernels.geodesy``, ``diapsar.kernels.range_doppler`` and ``diapsar.kernels.dem`` (by chunks of
``CHUNK`` points in parallel above ``PARALLEL_MIN_POINTS`` points).
"""

from __future__ import annotations

import numpy as np

from .errors import SelectionError
from .kernels.dem import rdr2geo_dem_chunks, rdr2geo_dem_range
from .kernels.geodesy import (
    WGS84_A,
    WGS84_B,
    WGS84_E2,
    WGS84_EP2,
    WGS84_F,
    ecef_to_llh_1,
    ecef_to_llh_many,
    llh_to_ecef_1,
    llh_to_ecef_many,
)
from .kernels.orbit_state import find_interval, interp_pva
from .kernels.range_doppler import (
    CHUNK,
    geo2rdr_ecef_chunks,
    geo2rdr_ecef_range,
    geo2rdr_llh_chunks,
    geo2rdr_llh_range,
    rdr2geo_1,
    rdr2geo_chunks,
    rdr2geo_range,
)
from .kernels.range_doppler import zero_doppler as zero_doppler_1
from .metadata import SwathMetadata
from .orbit import Orbit

# From this many points on, the kernels run by chunks of CHUNK points (kernels.range_doppler), in parallel;
# below it, as one range (warm starts from point to point). The choice depends on the number of points only,
# never on the thread count: each chunk starts cold, so one thread or many give the same bits.
PARALLEL_MIN_POINTS = 65536


def _use_parallel(n: int) -> bool:
    return n >= PARALLEL_MIN_POINTS


# ------------------------------------------------------------------------------------- ECEF <-> geodetic

def _flat(*arrays):
    arrs = np.broadcast_arrays(*[np.asarray(a, dtype=np.float64) for a in arrays])
    shape = arrs[0].shape
    return shape, [np.ascontiguousarray(a.reshape(-1)) for a in arrs]


def llh_to_ecef(lat_deg, lon_deg, h_m) -> np.ndarray:
    """Geodetic WGS84 latitude/longitude (degrees) and ellipsoidal height (m) to ECEF metres, shape (..., 3)."""
    shape, (lat, lon, h) = _flat(lat_deg, lon_deg, h_m)
    out = np.empty((lat.shape[0], 3))
    llh_to_ecef_many(lat, lon, h, out)
    return out.reshape(shape + (3,))


def ecef_to_llh(xyz) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ECEF metres (..., 3) to geodetic latitude, longitude (degrees) and ellipsoidal height (m)."""
    a = np.asarray(xyz, dtype=np.float64)
    shape = a.shape[:-1]
    flat = np.ascontiguousarray(a.reshape(-1, 3))
    lat = np.empty(flat.shape[0])
    lon = np.empty(flat.shape[0])
    h = np.empty(flat.shape[0])
    ecef_to_llh_many(flat, lat, lon, h)
    return lat.reshape(shape), lon.reshape(shape), h.reshape(shape)


# ----------------------------------------------------------------------------------------------- geo2rdr

def geo2rdr(orbit: Orbit, lat_deg, lon_deg, h_m, t_guess_s=None) -> tuple[np.ndarray, np.ndarray]:
    """Zero-Doppler azimuth time (s since 2000) and two-way slant range time (s) of ground points.

    ``t_guess_s`` (optional, same shape or scalar) starts the Newton iteration; without it a coarse search
    over the state vectors finds the start. Points whose zero-Doppler time falls outside the orbit's state
    vectors give NaN.
    """
    if t_guess_s is None:
        shape, (lat, lon, h) = _flat(lat_deg, lon_deg, h_m)
        guess = np.empty(0)
        use = False
    else:
        shape, (lat, lon, h, guess) = _flat(lat_deg, lon_deg, h_m, t_guess_s)
        use = True
    az = np.empty(lat.shape[0])
    rg = np.empty(lat.shape[0])
    tg, nodes, coef, t_ref = orbit.kernel_args
    npos, nvel = orbit.node_states
    if _use_parallel(lat.shape[0]):
        geo2rdr_llh_chunks(lat, lon, h, guess, use, tg, nodes, coef, npos, nvel, t_ref, az, rg)
    else:
        geo2rdr_llh_range(lat, lon, h, guess, use, tg, nodes, coef, npos, nvel, t_ref, az, rg, 0, lat.shape[0])
    return az.reshape(shape), rg.reshape(shape)


def geo2rdr_ecef(orbit: Orbit, xyz, t_guess_s=None) -> tuple[np.ndarray, np.ndarray]:
    """geo2rdr for ECEF points (..., 3): zero-Doppler azimuth time and two-way range time."""
    a = np.asarray(xyz, dtype=np.float64)
    shape = a.shape[:-1]
    flat = np.ascontiguousarray(a.reshape(-1, 3))
    if t_guess_s is None:
        guess = np.empty(0)
        use = False
    else:
        guess = np.ascontiguousarray(np.broadcast_to(np.asarray(t_guess_s, dtype=np.float64), shape).reshape(-1))
        use = True
    az = np.empty(flat.shape[0])
    rg = np.empty(flat.shape[0])
    tg, nodes, coef, t_ref = orbit.kernel_args
    npos, nvel = orbit.node_states
    if _use_parallel(flat.shape[0]):
        geo2rdr_ecef_chunks(flat, guess, use, tg, nodes, coef, npos, nvel, t_ref, az, rg)
    else:
        geo2rdr_ecef_range(flat, guess, use, tg, nodes, coef, npos, nvel, t_ref, az, rg, 0, flat.shape[0])
    return az.reshape(shape), rg.reshape(shape)


# ----------------------------------------------------------------------------------------------- rdr2geo

def _right(look_side: str) -> bool:
    side = str(look_side).upper()
    if side not in ("RIGHT", "LEFT"):
        raise SelectionError(f"look side must be RIGHT or LEFT, not {look_side!r}")
    return side == "RIGHT"


def rdr2geo_ecef(orbit: Orbit, azimuth_time_s, range_time_s, height_m, look_side="RIGHT") -> np.ndarray:
    """ECEF (..., 3) of radar coordinates at a fixed ellipsoidal height; NaN outside the orbit arc."""
    shape, (az, tau, h) = _flat(azimuth_time_s, range_time_s, height_m)
    xyz = np.empty((az.shape[0], 3))
    tg, nodes, coef, t_ref = orbit.kernel_args
    if _use_parallel(az.shape[0]):
        rdr2geo_chunks(az, tau, h, _right(look_side), tg, nodes, coef, t_ref, xyz)
    else:
        rdr2geo_range(az, tau, h, _right(look_side), tg, nodes, coef, t_ref, xyz, 0, az.shape[0])
    return xyz.reshape(shape + (3,))


def rdr2geo(orbit: Orbit, azimuth_time_s, range_time_s, height_m, look_side="RIGHT"):
    """Latitude, longitude (degrees) and height (m) of radar coordinates (zero-Doppler azimuth time, two-way
    range time) at a fixed height above the WGS84 ellipsoid."""
    xyz = rdr2geo_ecef(orbit, azimuth_time_s, range_time_s, height_m, look_side)
    return ecef_to_llh(xyz)


# ------------------------------------------------------------------------------------------- rdr2geo_dem

def rdr2geo_dem(orbit: Orbit, azimuth_time_s, range_time_s, dem, dem_transform, look_side="RIGHT",
                h_start_m: float | None = None):
    """Latitude, longitude, height of radar coordinates on a DEM surface.

    ``dem`` is a 2-D array of ellipsoidal heights on a regular lon/lat grid (NaN = no data) and
    ``dem_transform`` its GDAL geotransform (x0, dx, 0, y0, 0, dy) in degrees, pixel-is-area. The height is
    iterated (``kernels.dem.dem_intersection`` along the ellipsoidal height: secant on DEM(P(h)) - h) until
    the point is within 1 mm of the DEM surface. NaN where the DEM does not cover the point, has no data, or
    the iteration does not converge.
    """
    d = np.ascontiguousarray(np.asarray(dem, dtype=np.float64))
    if d.ndim != 2:
        raise SelectionError(f"DEM must be a 2-D array, got shape {d.shape}")
    gt = [float(v) for v in dem_transform]
    if len(gt) != 6 or gt[2] != 0.0 or gt[4] != 0.0:
        raise SelectionError(f"DEM geotransform must be (x0, dx, 0, y0, 0, dy) without rotation, got {gt}")
    if h_start_m is None:
        finite = d[np.isfinite(d)]
        h_start_m = float(np.median(finite)) if finite.size else 0.0
    shape, (az, tau) = _flat(azimuth_time_s, range_time_s)
    lat = np.empty(az.shape[0])
    lon = np.empty(az.shape[0])
    h = np.empty(az.shape[0])
    tg, nodes, coef, t_ref = orbit.kernel_args
    args = (az, tau, d, gt[0], gt[1], gt[3], gt[5], float(h_start_m), _right(look_side), tg, nodes, coef, t_ref,
            lat, lon, h)
    if _use_parallel(az.shape[0]):
        rdr2geo_dem_chunks(*args)
    else:
        rdr2geo_dem_range(*args, 0, az.shape[0])
    return lat.reshape(shape), lon.reshape(shape), h.reshape(shape)


# --------------------------------------------------------------------------------------------- RadarGrid

class RadarGrid:
    """Azimuth time <-> line and range time <-> pixel of one swath image (0-based full-swath indices).

    Image line times (``line_to_time`` / ``time_to_line`` without ``range_time``):
    stripmap: t_line = productFirstLineUtcTime + line * azimuthTimeInterval;
    TOPS (IW/EW): per burst b, t_line = b.azimuth_time_s + (line - b.first_line) * azimuthTimeInterval. A time
    in the overlap of two bursts belongs to both; without an explicit ``burst`` the choice follows ESA's
    geolocation grid (see ``burst_of_time``).

    Zero-Doppler time of a target vs its image line (pass ``range_time``, or use ``radar_to_times`` /
    ``times_to_radar``): t_zero_doppler = t_line + (tau - tau_ref) / 2. ESA's processor compensates the
    bistatic delay (the satellite moves between transmission and reception, tau/2) for one reference range
    time tau_ref only, leaving an azimuth shift of (tau - tau_ref)/2 across the swath. Every annotation in the
    test data shows it: its geolocationGrid azimuthTime minus the nominal time of its line is
    0.5000 +/- 0.0004 s/s times the range time, and the fitted tau_ref is the mid-range time of the centre
    swath (IW2 for IW1-3, EW3 for EW, the own mid-range for stripmap), as the Sentinel-1 calibration tools
    assume (Aresys SAR Calibration Toolbox, "Sentinel-1 IPF range and azimuth corrections": bistatic delay
    applied = IW2/EW3 mid-range time / 2; Gisinger et al. 2021, IEEE TGRS 59(2), on the residual bistatic
    term of Sentinel-1 geolocation). Across an IW swath it amounts to -0.13..+0.14 line. ``from_metadata``
    fits tau_ref on the annotation's own grid (None when the grid is missing or does not follow the model,
    then no correction is applied).
    """

    def __init__(self, first_line_time_s: float, azimuth_time_interval_s: float, slant_range_time_s: float,
                 range_sampling_rate_hz: float, number_of_lines: int, number_of_samples: int,
                 burst_times_s=None, burst_first_lines=None, lines_per_burst: int = 0,
                 bistatic_reference_range_time_s: float | None = None):
        self.first_line_time_s = float(first_line_time_s)
        self.azimuth_time_interval_s = float(azimuth_time_interval_s)
        self.slant_range_time_s = float(slant_range_time_s)
        self.range_sampling_rate_hz = float(range_sampling_rate_hz)
        self.number_of_lines = int(number_of_lines)
        self.number_of_samples = int(number_of_samples)
        self.burst_times_s = np.asarray([] if burst_times_s is None else burst_times_s, dtype=np.float64)
        self.burst_first_lines = np.asarray([] if burst_first_lines is None else burst_first_lines,
                                            dtype=np.int64)
        self.lines_per_burst = int(lines_per_burst)
        self.bistatic_reference_range_time_s = (None if bistatic_reference_range_time_s is None
                                                else float(bistatic_reference_range_time_s))

    @classmethod
    def from_metadata(cls, meta: SwathMetadata, bistatic: bool = True) -> RadarGrid:
        if meta.is_tops:
            grid = cls(meta.first_line_time_s, meta.azimuth_time_interval_s, meta.slant_range_time_s,
                       meta.range_sampling_rate_hz, meta.number_of_lines, meta.number_of_samples,
                       [b.azimuth_time_s for b in meta.bursts], [b.first_line for b in meta.bursts],
                       meta.lines_per_burst)
        else:
            grid = cls(meta.first_line_time_s, meta.azimuth_time_interval_s, meta.slant_range_time_s,
                       meta.range_sampling_rate_hz, meta.number_of_lines, meta.number_of_samples)
        if meta.bistatic_reference_range_time_s is not None:
            # an image derived from a swath (a debursted frame) keeps the reference of its swath
            grid.bistatic_reference_range_time_s = meta.bistatic_reference_range_time_s if bistatic else None
        elif bistatic:
            grid.bistatic_reference_range_time_s = grid.fit_bistatic_reference(meta)
        return grid

    def fit_bistatic_reference(self, meta: SwathMetadata, max_rms_lines: float = 0.02) -> float | None:
        """tau_ref from the geolocation grid: t_grid - t_line(grid line) = (tau - tau_ref) / 2.

        When the grid spans >= 50 us of range time, a free linear fit first checks the slope: 0.5 (ESA's
        grids) gives tau_ref (least squares with the slope fixed), 0 (a grid written without the bistatic
        term, e.g. by a simulator) or anything else gives None. Narrower grids cannot tell; ESA's convention
        is assumed. None also when there is no grid or the residual exceeds ``max_rms_lines``.
        """
        g = meta.geolocation_grid
        if g is None or np.size(g.azimuth_time_s) < 3:
            return None
        line = np.asarray(g.line, dtype=np.float64)
        t_line = self.line_to_time(line)
        tau = np.asarray(g.slant_range_time_s, dtype=np.float64)
        d = np.asarray(g.azimuth_time_s, dtype=np.float64) - t_line
        ok = np.isfinite(d) & np.isfinite(tau)
        if self.is_tops:
            # a TOPS crop keeps the grid row just after its last burst (line n_bursts * linesPerBurst): that
            # row's time belongs to a burst that was cut away, so it says nothing about this image's lines
            ok &= line < self.n_bursts * self.lines_per_burst
        if ok.sum() < 3:
            return None
        tau, d = tau[ok], d[ok]
        if np.ptp(tau) >= 50e-6:
            slope = np.polyfit(tau - tau.mean(), d, 1)[0]
            if abs(slope - 0.5) > 0.05:
                return None
        tau_ref = float(np.median(tau - 2.0 * d))
        resid = d - 0.5 * (tau - tau_ref)
        if np.sqrt(np.mean(resid ** 2)) / self.azimuth_time_interval_s > max_rms_lines:
            return None
        return tau_ref

    def _bistatic(self, range_time) -> np.ndarray | float:
        if range_time is None or self.bistatic_reference_range_time_s is None:
            return 0.0
        return 0.5 * (np.asarray(range_time, dtype=np.float64) - self.bistatic_reference_range_time_s)

    @property
    def is_tops(self) -> bool:
        return self.burst_times_s.size > 0 and self.lines_per_burst > 0

    @property
    def n_bursts(self) -> int:
        return int(self.burst_times_s.size)

    # -- range
    def pixel_to_range_time(self, pixel) -> np.ndarray:
        return self.slant_range_time_s + np.asarray(pixel, dtype=np.float64) / self.range_sampling_rate_hz

    def range_time_to_pixel(self, tau) -> np.ndarray:
        return (np.asarray(tau, dtype=np.float64) - self.slant_range_time_s) * self.range_sampling_rate_hz

    # -- azimuth
    def _check_burst(self, burst) -> np.ndarray:
        b = np.asarray(burst)
        if not np.issubdtype(b.dtype, np.integer):
            if np.any(b != np.round(b)):
                raise SelectionError(f"burst index must be an integer, got {burst!r}")
            b = b.astype(np.int64)
        if b.size and (b.min() < 0 or b.max() >= self.n_bursts):
            raise SelectionError(f"burst index out of range 0..{self.n_bursts - 1}: {burst!r}")
        return b

    def burst_of_line(self, line) -> np.ndarray:
        """Burst index holding a full-swath line (clamped to the first/last burst)."""
        if not self.is_tops:
            raise SelectionError("burst_of_line: stripmap image has no bursts")
        # the latest burst whose first line is not after the line (bursts of a debursted frame, see
        # diapsar.tops, have different lengths; for ESA's burst-stacked image this is line // linesPerBurst)
        b = np.searchsorted(self.burst_first_lines, np.asarray(line, dtype=np.float64), side="right") - 1
        return np.clip(b, 0, self.n_bursts - 1).astype(np.int64)

    def burst_of_time(self, t, range_time=None) -> np.ndarray:
        """Burst used for a time t: the *latest* burst whose first line is not after t.

        ``t`` is an image line time, or a zero-Doppler time when ``range_time`` is given (the bistatic term
        is removed first). This is the rule of ESA's geolocation grid: its row at line k * linesPerBurst lies
        in the overlap of bursts k-1 and k and is labelled with burst k's first line, so in an overlap the
        later burst is used (checked on every IW/EW annotation of the test data, tests/test_20_geometry.py).
        The comparison allows half a line of tolerance. Times before the first burst map to burst 0, after
        the last burst to the last one.
        """
        if not self.is_tops:
            raise SelectionError("burst_of_time: stripmap image has no bursts")
        t_line = np.asarray(t, dtype=np.float64) - self._bistatic(range_time)
        starts = self.burst_times_s - 0.5 * self.azimuth_time_interval_s
        b = np.searchsorted(starts, t_line, side="right") - 1
        return np.clip(b, 0, self.n_bursts - 1)

    def line_to_time(self, line, range_time=None) -> np.ndarray:
        """Image line time of ``line``; with ``range_time``: zero-Doppler time of the target imaged at
        (line, range_time) (adds the residual bistatic term)."""
        line = np.asarray(line, dtype=np.float64)
        if not self.is_tops:
            t = self.first_line_time_s + line * self.azimuth_time_interval_s
        else:
            b = self.burst_of_line(line)
            t = self.burst_times_s[b] + (line - self.burst_first_lines[b]) * self.azimuth_time_interval_s
        return t + self._bistatic(range_time)

    def time_to_line(self, t, burst=None, range_time=None) -> np.ndarray:
        """Line of an image line time; with ``range_time``, of a target's zero-Doppler time ``t`` (removes
        the residual bistatic term). ``burst`` forces the burst (TOPS)."""
        t_line = np.asarray(t, dtype=np.float64) - self._bistatic(range_time)
        if not self.is_tops:
            return (t_line - self.first_line_time_s) / self.azimuth_time_interval_s
        b = self.burst_of_time(t_line) if burst is None else self._check_burst(burst)
        return self.burst_first_lines[b] + (t_line - self.burst_times_s[b]) / self.azimuth_time_interval_s

    # -- both
    def radar_to_times(self, line, pixel) -> tuple[np.ndarray, np.ndarray]:
        """(zero-Doppler azimuth time, two-way range time) of the target imaged at (line, pixel): the input
        of rdr2geo / rdr2geo_dem for image pixels."""
        tau = self.pixel_to_range_time(pixel)
        return self.line_to_time(line, range_time=tau), tau

    def times_to_radar(self, azimuth_time_s, range_time_s, burst=None) -> tuple[np.ndarray, np.ndarray]:
        """(line, pixel) where a target with this zero-Doppler time and range time (geo2rdr output) is
        imaged."""
        return (self.time_to_line(azimuth_time_s, burst=burst, range_time=range_time_s),
                self.range_time_to_pixel(range_time_s))


# Scalar numba kernels for other numba code (simulator, chain kernels), re-exported from diapsar.kernels: the
# orbit arrays are ``Orbit.kernel_args`` = (tg, nodes, coef, t_ref); times inside kernels are relative to t_ref.
# llh_to_ecef_1: (lat_deg, lon_deg, h) -> (x, y, z); ecef_to_llh_1: (x, y, z) -> (lat_deg, lon_deg, h)
# zero_doppler_1: (px, py, pz, t_start, tg, nodes, coef, buf(9)) -> (t_rel, range_m)
# rdr2geo_1: (sx, sy, sz, vx, vy, vz, range_m, h, right, p0(3), jac(3,3), rhs(3)) -> (x, y, z, ok)

__all__ = [
    "ecef_to_llh_1", "interp_pva", "llh_to_ecef_1", "rdr2geo_1", "zero_doppler_1",
    "WGS84_A", "WGS84_B", "WGS84_E2", "WGS84_EP2", "WGS84_F", "CHUNK", "PARALLEL_MIN_POINTS", "RadarGrid", "ecef_to_llh", "find_interval", "geo2rdr", "geo2rdr_ecef",
    "llh_to_ecef", "rdr2geo", "rdr2geo_dem", "rdr2geo_ecef",
]
