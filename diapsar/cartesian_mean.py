"""SARCartesianMeanEstimation: the ground point (ECEF X, Y, Z) of every multilook cell of the master.

DiapOTB (notes 4.1) averages the ECEF positions of the DEM posts whose projection falls in each multilook (ML)
cell, with a 4th band counting them. With a DEM coarser than the ML cell (30-90 m posts against a ~10 m StripMap
cell) most cells receive no post and are holes. Two ways out were considered: densify the DEM (bilinear
upsampling before projection) or interpolate between the filled cells. diapsar takes the limit of the first:
the ground point of a cell is the intersection of its centre's line of sight with the bilinear DEM surface
(rdr2geo on the DEM, ``geometry.rdr2geo_dem``), i.e. the mean of an infinitely densified DEM over a cell whose
relief is locally planar. Every cell the DEM covers gets a point; the post count of the DiapOTB estimator is
still produced (``post_count``) and marks the cells where the DEM is locally coarser than the ML grid.

The cell (i, j) covers full-resolution lines [i*ml_azi, (i+1)*ml_azi) and samples [j*ml_ran, (j+1)*ml_ran) of
the processed window; its centre is at line i*ml_azi + (ml_azi - 1)/2, sample j*ml_ran + (ml_ran - 1)/2, the
centre of gravity of the pixels the interferogram averages into it.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from .dem_projection import DemPatch, DemProjection
from .geometry import WGS84_A, WGS84_B, RadarGrid, _dem_height, _ecef_to_llh_1
from .metadata import SPEED_OF_LIGHT_M_S, SwathMetadata
from .orbit import Orbit, interp_pva


def cartesian_mean(meta: SwathMetadata, orbit: Orbit, dem: DemPatch, ml_azi: int, ml_ran: int,
                   row0: int, row1: int, n_cols: int, line_offset: int = 0,
                   sample_offset: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """ECEF ground point (rows, n_cols, 3) and isData (rows, n_cols) uint8 of ML rows [row0, row1)."""
    # the ML cell centres (module docstring), as 1-D line and sample axes (the grid is separable)
    line = line_offset + np.arange(row0, row1, dtype=np.float64) * ml_azi + (ml_azi - 1) / 2.0
    sample = sample_offset + np.arange(n_cols, dtype=np.float64) * ml_ran + (ml_ran - 1) / 2.0
    grid = RadarGrid.from_metadata(meta)
    t = grid.line_to_time(line)
    tau = grid.pixel_to_range_time(sample)
    xyz = grid_ground_points(orbit, t, tau, dem, look_side=meta.look_side)
    isdata = np.all(np.isfinite(xyz), axis=-1).astype(np.uint8)
    return xyz, isdata


def grid_ground_points(orbit: Orbit, az_s: np.ndarray, tau_s: np.ndarray, dem: DemPatch,
                       look_side: str = "RIGHT", tol_m: float = 1e-4) -> np.ndarray:
    """ECEF (n_az, n_tau, 3) of the radar grid ``az_s`` x ``tau_s`` (zero-Doppler times of the rows, two-way
    range times of the columns) on the bilinear DEM surface; NaN off the DEM or the orbit.

    The same surface point as ``geometry.rdr2geo_dem``, found on the range/zero-Doppler circle of each row:
    P(theta) = S + R (cos(theta) n + sin(theta) c), with n the nadir direction in the zero-Doppler plane and c
    the look direction, satisfies the range and Doppler equations exactly, so only g(theta) = h(P) - DEM(P)
    is iterated (Newton on the ellipsoidal height, then secant steps) until |g| < ``tol_m``, each column
    starting from the angle of the previous one: one geodetic conversion and one DEM lookup per step
    instead of a 3-D Newton solve per height. Rows are independent (parallel), so results do not depend on
    the thread count.
    """
    d = np.ascontiguousarray(dem.heights_m, dtype=np.float64)
    x0, dx, _, y0, _, dy = (float(v) for v in dem.transform)
    finite = d[np.isfinite(d)]
    h_start = float(np.median(finite)) if finite.size else 0.0
    tg, nodes, coef, t_ref = orbit.kernel_args
    az = np.ascontiguousarray(az_s, dtype=np.float64) - t_ref
    tau = np.ascontiguousarray(tau_s, dtype=np.float64)
    out = np.empty((az.size, tau.size, 3))
    _grid_ground_points(az, tau, d, x0, dx, y0, dy, h_start, look_side.upper() != "LEFT", tg, nodes, coef,
                        float(tol_m), out)
    return out


@numba.njit(cache=True, parallel=True)
def _grid_ground_points(az, tau, dem, x0, dx, y0, dy, h_start, right, tg, nodes, coef, tol, out):
    n_az = az.shape[0]
    n_tau = tau.shape[0]
    t_lo = tg[0]
    t_hi = tg[tg.shape[0] - 1]
    for i in numba.prange(n_az):
        for j in range(n_tau):
            out[i, j, 0] = np.nan
            out[i, j, 1] = np.nan
            out[i, j, 2] = np.nan
        t = az[i]
        if not (t >= t_lo and t <= t_hi):
            continue
        buf = np.empty(9)
        interp_pva(t, tg, nodes, coef, buf)
        sx, sy, sz = buf[0], buf[1], buf[2]
        rs = math.sqrt(sx * sx + sy * sy + sz * sz)
        vn = math.sqrt(buf[3] * buf[3] + buf[4] * buf[4] + buf[5] * buf[5])
        tx, ty, tz = buf[3] / vn, buf[4] / vn, buf[5] / vn
        # nadir direction within the zero-Doppler plane, and the look direction c = n x t (right-looking)
        nx, ny, nz = -sx / rs, -sy / rs, -sz / rs
        k = nx * tx + ny * ty + nz * tz
        nx, ny, nz = nx - k * tx, ny - k * ty, nz - k * tz
        nn = math.sqrt(nx * nx + ny * ny + nz * nz)
        nx, ny, nz = nx / nn, ny / nn, nz / nn
        cx = ny * tz - nz * ty
        cy = nz * tx - nx * tz
        cz = nx * ty - ny * tx
        if not right:
            cx, cy, cz = -cx, -cy, -cz
        sinphi = sz / rs
        re = WGS84_A * WGS84_B / math.sqrt((WGS84_B * WGS84_B) * (1.0 - sinphi * sinphi)
                                           + (WGS84_A * WGS84_A) * sinphi * sinphi) + h_start
        prev_ok = False
        th_prev = 0.0
        for j in range(n_tau):
            if not np.isfinite(tau[j]):
                prev_ok = False
                continue
            rng = 0.5 * SPEED_OF_LIGHT_M_S * tau[j]
            if prev_ok:
                th = th_prev
            else:
                cosl = (rs * rs + rng * rng - re * re) / (2.0 * rs * rng)
                cosl = min(max(cosl, -1.0), 1.0)
                th = math.acos(cosl)
            th_old = np.nan
            g_old = np.nan
            done = False
            px = py = pz = np.nan
            for _ in range(60):
                ct = math.cos(th)
                st = math.sin(th)
                px = sx + rng * (ct * nx + st * cx)
                py = sy + rng * (ct * ny + st * cy)
                pz = sz + rng * (ct * nz + st * cz)
                lat, lon, hg = _ecef_to_llh_1(px, py, pz)
                hd = _dem_height(dem, x0, dx, y0, dy, lon, lat)
                if not np.isfinite(hd):
                    break
                g = hg - hd
                if abs(g) < tol:
                    done = True
                    break
                if np.isfinite(g_old) and abs(g) > abs(g_old):
                    # diverging (steep slope facing the radar): go back halfway
                    th = 0.5 * (th + th_old)
                    continue
                if np.isfinite(g_old) and g != g_old:
                    th_new = th - g * (th - th_old) / (g - g_old)
                else:
                    # Newton on the ellipsoidal height alone: dh/dtheta = dP/dtheta . up
                    la = math.radians(lat)
                    lo = math.radians(lon)
                    ux = math.cos(la) * math.cos(lo)
                    uy = math.cos(la) * math.sin(lo)
                    uz = math.sin(la)
                    dh = rng * ((-st * nx + ct * cx) * ux + (-st * ny + ct * cy) * uy + (-st * nz + ct * cz) * uz)
                    if dh == 0.0:
                        break
                    th_new = th - g / dh
                th_old = th
                g_old = g
                th = th_new
            prev_ok = done
            if done:
                th_prev = th
                out[i, j, 0] = px
                out[i, j, 1] = py
                out[i, j, 2] = pz


@numba.njit(cache=True)
def _post_cell(li, pi, ml_azi, ml_ran, line_offset, sample_offset, n_rows, n_cols):
    """ML cell (r, c) of a DEM post at (line, pixel): the cell holding the nearest pixel; r = -1 outside."""
    if not (np.isfinite(li) and np.isfinite(pi)):
        return -1, -1
    r = int(np.floor((li + 0.5 - line_offset) / ml_azi))
    c = int(np.floor((pi + 0.5 - sample_offset) / ml_ran))
    if r < 0 or c < 0 or r >= n_rows or c >= n_cols:
        return -1, -1
    return r, c


@numba.njit(cache=True)
def _bin_posts(line, pixel, xyz, ml_azi, ml_ran, line_offset, sample_offset, sums, count):
    n_rows, n_cols = count.shape
    for k in range(line.shape[0]):
        r, c = _post_cell(line[k], pixel[k], ml_azi, ml_ran, line_offset, sample_offset, n_rows, n_cols)
        if r >= 0:
            count[r, c] += 1
            for a in range(3):
                sums[r, c, a] += xyz[k, a]


@numba.njit(cache=True)
def _count_posts(line, pixel, ml_azi, ml_ran, line_offset, sample_offset, count):
    n_rows, n_cols = count.shape
    for k in range(line.shape[0]):
        r, c = _post_cell(line[k], pixel[k], ml_azi, ml_ran, line_offset, sample_offset, n_rows, n_cols)
        if r >= 0:
            count[r, c] += 1


def add_post_count(line: np.ndarray, pixel: np.ndarray, count: np.ndarray, ml_azi: int, ml_ran: int,
                   line_offset: int = 0, sample_offset: int = 0) -> np.ndarray:
    """Add to ``count`` (int32, ML rows x cols) the DEM posts at (line, pixel) (any shape, float32/64), with
    ``post_mean``'s rule; lets the chain count posts by strips of the DEM projection. Returns ``count``."""
    _count_posts(np.ascontiguousarray(np.ravel(line)), np.ascontiguousarray(np.ravel(pixel)), int(ml_azi),
                 int(ml_ran), float(line_offset), float(sample_offset), count)
    return count


def post_mean(proj: DemProjection, shape: tuple[int, int], ml_azi: int, ml_ran: int, line_offset: int = 0,
              sample_offset: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """DiapOTB's estimator: mean ECEF of the DEM posts per ML cell (NaN where none) and the post count.

    A post at (line, pixel) belongs to the pixel nearest to it, hence to the ML cell holding that pixel.
    """
    sums = np.zeros(shape + (3,))
    count = np.zeros(shape, dtype=np.int32)
    xyz = np.ascontiguousarray(proj.xyz.reshape(-1, 3)) if proj.xyz.size else np.zeros((proj.line.size, 3))
    _bin_posts(np.ascontiguousarray(proj.line.reshape(-1), dtype=np.float64),
               np.ascontiguousarray(proj.pixel.reshape(-1), dtype=np.float64), xyz, int(ml_azi), int(ml_ran),
               float(line_offset), float(sample_offset), sums, count)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = sums / count[..., None]
    mean[count == 0] = np.nan
    return mean, count
