"""Terrain kernels (``diapsar.terrain``): look vectors of a map block (``look_enu_grid``), and the illuminated-area
kernel of terrain flattening (``diapsar.terrain``, Small 2011): map-grid facets, each
subdivided into ``os`` x ``os`` sub-facets, splatted bilinearly into the cells of a multilooked radar grid.

Sub-facet (a, b) of map cell (i, j) sits at fractional offset ((a + 0.5) / os - 0.5, (b + 0.5) / os - 0.5)
cells from the cell centre; its radar (line, sample) is interpolated bilinearly between the lookups of the
cell and of its neighbours on that side (the lookup is smooth over one cell: the DEM itself is interpolated
bilinearly), falling back to the cell's own lookup next to a cell without one (grid edge, DEM hole). It
carries 1 / os^2 of the cell's projected area. The splat is the transpose of bilinear sampling at ML cell
centres (``diapsar.ortho.to_ml``): the weights of the four surrounding cells sum to one, so on flat ground the
accumulated area is the ground area of the cell times cos(theta) whatever the sub-facet lattice.

``splat_area`` is the serial loop (the sums in one fixed order); ``splat_area_tiles`` is the parallel one used by
the runs: fixed map tiles, each into its own buffer, the buffers added in tile order, so its result does not
depend on the thread count either (it differs from the serial sums by rounding only). Also here: the lon/lat
of UTM map grids (``utm_lonlat_grid``), the debursted-frame line of TOPS lookups (``tops_lines``) and the
sampling of beta0 / A_gamma (``sample_ratio``), all cell by cell in parallel.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from .geodesy import llh_to_ecef_1
from .orbit_state import interp_pva


@numba.njit(cache=True)
def _splat(acc, u, v, a):
    nr, nc = acc.shape
    u0 = math.floor(u)
    v0 = math.floor(v)
    du = u - u0
    dv = v - v0
    for di in range(2):
        r = int(u0) + di
        if r < 0 or r >= nr:
            continue
        wu = du if di == 1 else 1.0 - du
        for dj in range(2):
            c = int(v0) + dj
            if c < 0 or c >= nc:
                continue
            wv = dv if dj == 1 else 1.0 - dv
            acc[r, c] += a * wu * wv


@numba.njit(cache=True)
def _subfacet(line, sample, i, j, i2, j2, wy, wx):
    """(line, sample) of a sub-facet centre of map cell (i, j): bilinear between the cell and its neighbours i2
    (row) and j2 (column) with weights wy, wx; the cell's own position where a neighbour is not finite."""
    l00, s00 = line[i, j], sample[i, j]
    l10, l01, l11 = line[i2, j], line[i, j2], line[i2, j2]
    s10, s01, s11 = sample[i2, j], sample[i, j2], sample[i2, j2]
    if (np.isfinite(l10) and np.isfinite(l01) and np.isfinite(l11) and np.isfinite(s10)
            and np.isfinite(s01) and np.isfinite(s11)):
        li = ((1 - wy) * ((1 - wx) * l00 + wx * l01) + wy * ((1 - wx) * l10 + wx * l11))
        si = ((1 - wy) * ((1 - wx) * s00 + wx * s01) + wy * ((1 - wx) * s10 + wx * s11))
        return li, si
    return l00, s00


@numba.njit(cache=True)
def splat_area(line, sample, area, row_first, row_stop, os, ml_az, ml_rg, acc):
    """Add the projected area of map rows [row_first, row_stop) of the block (``line``, ``sample``, ``area``:
    2-D, rows outside that range are neighbours only) into ``acc`` (ML radar grid, float64); facets whose area
    is not positive (shadow) or not finite add nothing."""
    n, m = line.shape
    off_az = (ml_az - 1) / 2.0
    off_rg = (ml_rg - 1) / 2.0
    inv = 1.0 / (os * os)
    for i in range(row_first, row_stop):
        for j in range(m):
            ar = area[i, j]
            l00 = line[i, j]
            s00 = sample[i, j]
            if not (ar > 0.0) or not np.isfinite(l00) or not np.isfinite(s00):
                continue
            ar *= inv
            for a in range(os):
                fy = (a + 0.5) / os - 0.5
                i2 = i + 1 if fy > 0 else i - 1
                i2 = min(max(i2, 0), n - 1)
                wy = abs(fy)
                for b in range(os):
                    fx = (b + 0.5) / os - 0.5
                    j2 = j + 1 if fx > 0 else j - 1
                    j2 = min(max(j2, 0), m - 1)
                    wx = abs(fx)
                    li, si = _subfacet(line, sample, i, j, i2, j2, wy, wx)
                    _splat(acc, (li - off_az) / ml_az, (si - off_rg) / ml_rg, ar)


def splat_area_numpy(line, sample, area, row_first, row_stop, os, ml_az, ml_rg, acc):
    """Slow reference of :func:`splat_area` (tests)."""
    n, m = line.shape
    for i in range(row_first, row_stop):
        for j in range(m):
            if not (area[i, j] > 0) or not (np.isfinite(line[i, j]) and np.isfinite(sample[i, j])):
                continue
            for a in range(os):
                for b in range(os):
                    fy, fx = (a + 0.5) / os - 0.5, (b + 0.5) / os - 0.5
                    i2 = min(max(i + (1 if fy > 0 else -1), 0), n - 1)
                    j2 = min(max(j + (1 if fx > 0 else -1), 0), m - 1)
                    wy, wx = abs(fy), abs(fx)
                    pts = [(i, j), (i, j2), (i2, j), (i2, j2)]
                    w = [(1 - wy) * (1 - wx), (1 - wy) * wx, wy * (1 - wx), wy * wx]
                    if all(np.isfinite(line[p]) and np.isfinite(sample[p]) for p in pts):
                        li = sum(wk * line[p] for wk, p in zip(w, pts))
                        si = sum(wk * sample[p] for wk, p in zip(w, pts))
                    else:
                        li, si = line[i, j], sample[i, j]
                    u = (li - (ml_az - 1) / 2.0) / ml_az
                    v = (si - (ml_rg - 1) / 2.0) / ml_rg
                    u0, v0 = math.floor(u), math.floor(v)
                    for r, wr in ((u0, 1 - (u - u0)), (u0 + 1, u - u0)):
                        for c, wc in ((v0, 1 - (v - v0)), (v0 + 1, v - v0)):
                            if 0 <= r < acc.shape[0] and 0 <= c < acc.shape[1]:
                                acc[r, c] += area[i, j] / (os * os) * wr * wc


@numba.njit(cache=True, parallel=True)
def look_enu_grid(t_rel, lon, lat, h, tg, nodes, coef, out):
    """Unit vector ground -> satellite at zero-Doppler time ``t_rel`` (relative to the orbit's t_ref) in the
    local (east, north, up) frame of each cell of 2-D lon/lat/h (degrees, metres); ``out`` (n, m, 3), NaN where
    t is NaN. Rows in parallel (each cell alone: the same result for any thread count)."""
    n, m = t_rel.shape
    for i in numba.prange(n):
        buf = np.empty(9)
        for j in range(m):
            t = t_rel[i, j]
            if not np.isfinite(t):
                out[i, j, 0] = np.nan
                out[i, j, 1] = np.nan
                out[i, j, 2] = np.nan
                continue
            interp_pva(t, tg, nodes, coef, buf)
            px, py, pz = llh_to_ecef_1(lat[i, j], lon[i, j], h[i, j])
            dx, dy, dz = buf[0] - px, buf[1] - py, buf[2] - pz
            r = math.sqrt(dx * dx + dy * dy + dz * dz)
            dx, dy, dz = dx / r, dy / r, dz / r
            lo = math.radians(lon[i, j])
            la = math.radians(lat[i, j])
            out[i, j, 0] = -math.sin(lo) * dx + math.cos(lo) * dy
            out[i, j, 1] = -math.sin(la) * math.cos(lo) * dx - math.sin(la) * math.sin(lo) * dy + math.cos(la) * dz
            out[i, j, 2] = math.cos(la) * math.cos(lo) * dx + math.cos(la) * math.sin(lo) * dy + math.sin(la) * dz


# ------------------------------------------------------------------------------------ UTM -> lon/lat of a grid

# Krueger's series of the transverse Mercator projection to 6th order in the third flattening n (Karney 2011,
# J. Geodesy 85(8) 475-485, eq. 11 and 36): beta_j of the inverse series (projected -> conformal sphere) and
# delta_j of the conformal -> geodetic latitude series. Accurate to nanometres within a UTM zone; PROJ's tmerc
# (its default "exact" Poder/Engsager algorithm) evaluates the same series.
def _tm_coefficients(f: float) -> tuple[float, np.ndarray, np.ndarray]:
    n = f / (2.0 - f)
    n2, n3, n4, n5, n6 = n ** 2, n ** 3, n ** 4, n ** 5, n ** 6
    big_a = (1.0 + n2 / 4.0 + n4 / 64.0 + n6 / 256.0) / (1.0 + n)
    beta = np.array([
        n / 2 - 2 * n2 / 3 + 37 * n3 / 96 - n4 / 360 - 81 * n5 / 512 + 96199 * n6 / 604800,
        n2 / 48 + n3 / 15 - 437 * n4 / 1440 + 46 * n5 / 105 - 1118711 * n6 / 3870720,
        17 * n3 / 480 - 37 * n4 / 840 - 209 * n5 / 4480 + 5569 * n6 / 90720,
        4397 * n4 / 161280 - 11 * n5 / 504 - 830251 * n6 / 7257600,
        4583 * n5 / 161280 - 108847 * n6 / 3991680,
        20648693 * n6 / 638668800])
    delta = np.array([
        2 * n - 2 * n2 / 3 - 2 * n3 + 116 * n4 / 45 + 26 * n5 / 45 - 2854 * n6 / 675,
        7 * n2 / 3 - 8 * n3 / 5 - 227 * n4 / 45 + 2704 * n5 / 315 + 2323 * n6 / 945,
        56 * n3 / 15 - 136 * n4 / 35 - 1262 * n5 / 105 + 73814 * n6 / 2835,
        4279 * n4 / 630 - 332 * n5 / 35 - 399572 * n6 / 14175,
        4174 * n5 / 315 - 144838 * n6 / 6237,
        601676 * n6 / 22275])
    return big_a, beta, delta


_WGS84_F = 1.0 / 298.257223563
_TM_A, _TM_BETA, _TM_DELTA = _tm_coefficients(_WGS84_F)


@numba.njit(cache=True, parallel=True)
def _utm_inverse_grid(x, y, scale_a, lon0_rad, false_e, false_n, beta, delta, lon, lat):
    """lon/lat (degrees) of the grid x (m) by y (m) (1-D axes; out (ny, nx)); rows in parallel, each cell alone."""
    ny = y.shape[0]
    nx = x.shape[0]
    # xi depends on the row only, eta on the column only: their functions are computed once
    etas = np.empty(nx)
    sh2s = np.empty(nx)
    ch2s = np.empty(nx)
    for j in range(nx):
        eta = (x[j] - false_e) / scale_a
        e2 = math.exp(2.0 * eta)
        etas[j] = eta
        sh2s[j] = 0.5 * (e2 - 1.0 / e2)
        ch2s[j] = 0.5 * (e2 + 1.0 / e2)
    for i in numba.prange(ny):
        xi = (y[i] - false_n) / scale_a
        s2, c2 = math.sin(2.0 * xi), math.cos(2.0 * xi)
        for j in range(nx):
            eta = etas[j]
            sh2, ch2 = sh2s[j], ch2s[j]
            # xi' + i eta' = zeta - sum beta_k sin(2 k zeta), by Clenshaw's recurrence in complex arithmetic
            cr, ci = c2 * ch2, -s2 * sh2  # cos(2 zeta)
            sr, si = s2 * ch2, c2 * sh2  # sin(2 zeta)
            b1r = 0.0
            b1i = 0.0
            b2r = 0.0
            b2i = 0.0
            for k in range(beta.shape[0] - 1, -1, -1):
                tr = beta[k] + 2.0 * (cr * b1r - ci * b1i) - b2r
                ti = 2.0 * (cr * b1i + ci * b1r) - b2i
                b2r, b2i = b1r, b1i
                b1r, b1i = tr, ti
            xp = xi - (b1r * sr - b1i * si)
            ep = eta - (b1r * si + b1i * sr)
            # sinh / cosh of ep from one exp, cos / sin of 2 chi from sin(chi): five transcendental calls a cell
            # instead of eight (the same values within a few ulp)
            e1 = math.exp(ep)
            ie1 = 1.0 / e1
            sc = math.sin(xp) / (0.5 * (e1 + ie1))
            chi = math.asin(sc)
            lam = math.atan2(0.5 * (e1 - ie1), math.cos(xp))
            c2c = 1.0 - 2.0 * sc * sc
            b1 = 0.0
            b2 = 0.0
            for k in range(delta.shape[0] - 1, -1, -1):
                t = delta[k] + 2.0 * c2c * b1 - b2
                b2 = b1
                b1 = t
            lat[i, j] = math.degrees(chi + b1 * (2.0 * sc * math.sqrt(1.0 - sc * sc)))
            lon[i, j] = math.degrees(lon0_rad + lam)


def utm_lonlat_grid(epsg: int, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """lon/lat (degrees, (len(y), len(x))) of the map cells x by y of a WGS84 UTM zone (EPSG 326zz / 327zz,
    Krueger series above; agrees with PROJ within 1e-9 degree, tests/test_65_terrain.py); None for another CRS."""
    zone, south = epsg % 100, epsg // 100 == 327
    if epsg // 100 not in (326, 327) or not 1 <= zone <= 60:
        return None
    x = np.ascontiguousarray(x, dtype=np.float64)
    y = np.ascontiguousarray(y, dtype=np.float64)
    lon = np.empty((y.size, x.size))
    lat = np.empty((y.size, x.size))
    _utm_inverse_grid(x, y, 0.9996 * 6378137.0 * _TM_A, math.radians(6.0 * zone - 183.0), 500000.0,
                      10000000.0 if south else 0.0, _TM_BETA, _TM_DELTA, lon, lat)
    return lon, lat


@numba.njit(cache=True, parallel=True)
def tops_lines(t, tau, bist_ref, use_bist, seg_first, seg_time, ati, seg_burst_first, seg_lo, seg_hi, seg_out0,
               seg_line0, out):
    """Debursted-frame line of zero-Doppler time ``t`` / range time ``tau`` (1-D) for ``diapsar.terrain.tops_line``:
    the first segment k whose burst line (seg_first[k] + (t_line - seg_time[k]) / ati - seg_burst_first[k], t_line
    = t minus the bistatic term) lies in [seg_lo[k], seg_hi[k]) gives seg_out0[k] + line - seg_line0[k]; NaN
    when none does. The arithmetic of ``RadarGrid.time_to_line``, in the same order: the same float64 values.
    Points in parallel (each alone)."""
    n = t.shape[0]
    for i in numba.prange(n):
        if use_bist:
            tl = t[i] - 0.5 * (tau[i] - bist_ref)
        else:
            tl = t[i] - 0.0
        res = np.nan
        for k in range(seg_first.shape[0]):
            bl = (seg_first[k] + (tl - seg_time[k]) / ati) - seg_burst_first[k]
            if bl >= seg_lo[k] and bl < seg_hi[k]:
                res = (seg_out0[k] + bl) - seg_line0[k]
                break
        out[i] = res


# ----------------------------------------------------------------------------- the splat, by fixed map tiles

SPLAT_TILE_ROWS = 32  # map rows of one splat tile, aligned on multiples of it in the map grid
SPLAT_TILE_COLS = 256  # map columns of one splat tile


@numba.njit(cache=True)
def _tile_box(line, sample, i0, i1, j0, j1, off_az, off_rg, ml_az, ml_rg, nr, nc):
    """ML radar rows [r0, r1) and columns [c0, c1) that the sub-facets of map cells [i0, i1) x [j0, j1) can
    reach: the sub-facet positions are convex combinations of the lookups of the cells and their neighbours
    (one cell each side), the splat touches the cell below and right of the position; one more as margin."""
    n, m = line.shape
    lmin = np.inf
    lmax = -np.inf
    smin = np.inf
    smax = -np.inf
    for i in range(max(i0 - 1, 0), min(i1 + 1, n)):
        for j in range(max(j0 - 1, 0), min(j1 + 1, m)):
            li = line[i, j]
            si = sample[i, j]
            if np.isfinite(li) and np.isfinite(si):
                lmin = min(lmin, li)
                lmax = max(lmax, li)
                smin = min(smin, si)
                smax = max(smax, si)
    if not lmin <= lmax:
        return 0, 0, 0, 0
    ulo = (lmin - off_az) / ml_az
    uhi = (lmax - off_az) / ml_az
    vlo = (smin - off_rg) / ml_rg
    vhi = (smax - off_rg) / ml_rg
    if uhi < -2.0 or vhi < -2.0 or ulo > nr + 1.0 or vlo > nc + 1.0:
        return 0, 0, 0, 0
    r0 = max(int(math.floor(ulo)) - 1, 0)
    r1 = min(int(math.floor(uhi)) + 3, nr)
    c0 = max(int(math.floor(vlo)) - 1, 0)
    c1 = min(int(math.floor(vhi)) + 3, nc)
    if r1 <= r0 or c1 <= c0:
        return 0, 0, 0, 0
    return r0, r1, c0, c1


@numba.njit(cache=True)
def _splat_tile(line, sample, area, i0, i1, j0, j1, os, ml_az, ml_rg, nr, nc, buf, r0, r1, c0, c1):
    """The sub-facets of map cells [i0, i1) x [j0, j1) (the arithmetic of ``splat_area``) added into ``buf``,
    the ML radar cells [r0, r1) x [c0, c1) row by row (cells outside the radar grid get nothing)."""
    n, m = line.shape
    off_az = (ml_az - 1) / 2.0
    off_rg = (ml_rg - 1) / 2.0
    inv = 1.0 / (os * os)
    w = c1 - c0
    for i in range(i0, i1):
        for j in range(j0, j1):
            ar = area[i, j]
            l00 = line[i, j]
            s00 = sample[i, j]
            if not (ar > 0.0) or not np.isfinite(l00) or not np.isfinite(s00):
                continue
            ar *= inv
            for a in range(os):
                fy = (a + 0.5) / os - 0.5
                i2 = i + 1 if fy > 0 else i - 1
                i2 = min(max(i2, 0), n - 1)
                wy = abs(fy)
                for b in range(os):
                    fx = (b + 0.5) / os - 0.5
                    j2 = j + 1 if fx > 0 else j - 1
                    j2 = min(max(j2, 0), m - 1)
                    wx = abs(fx)
                    li, si = _subfacet(line, sample, i, j, i2, j2, wy, wx)
                    u = (li - off_az) / ml_az
                    v = (si - off_rg) / ml_rg
                    u0 = math.floor(u)
                    v0 = math.floor(v)
                    du = u - u0
                    dv = v - v0
                    for di in range(2):
                        r = int(u0) + di
                        if r < 0 or r >= nr:
                            continue
                        wu = du if di == 1 else 1.0 - du
                        for dj in range(2):
                            c = int(v0) + dj
                            if c < 0 or c >= nc:
                                continue
                            wv = dv if dj == 1 else 1.0 - dv
                            if r >= r0 and r < r1 and c >= c0 and c < c1:
                                buf[(r - r0) * w + (c - c0)] += ar * wu * wv


@numba.njit(cache=True, parallel=True)
def splat_area_tiles(line, sample, area, row_first, row_stop, first_row, os, ml_az, ml_rg, acc):
    """``splat_area`` in parallel with a result independent of the thread count: the block's rows [row_first,
    row_stop) (map row ``first_row`` + i for block row i) are cut into fixed tiles, ``SPLAT_TILE_ROWS`` map rows
    (aligned on multiples of it in the map grid) by ``SPLAT_TILE_COLS`` columns; each tile splats into its own
    buffer (its reachable ML radar box, ``_tile_box``), in parallel; the buffers are then added into ``acc``
    tile by tile in the fixed tile order (rows of ``acc`` in parallel, each row alone). The sums differ from
    the serial ``splat_area`` only by the order of the floating-point additions (relative 1e-15)."""
    n, m = line.shape
    nr, nc = acc.shape
    tr = SPLAT_TILE_ROWS
    tc = SPLAT_TILE_COLS
    if row_stop <= row_first:
        return
    band0 = (row_first + first_row) // tr
    band1 = (row_stop - 1 + first_row) // tr + 1
    ntc = (m + tc - 1) // tc
    nt = (band1 - band0) * ntc
    off_az = (ml_az - 1) / 2.0
    off_rg = (ml_rg - 1) / 2.0
    box = np.zeros((nt, 8), dtype=np.int64)  # i0, i1, j0, j1, r0, r1, c0, c1
    for k in numba.prange(nt):
        bnd = band0 + k // ntc
        i0 = max(bnd * tr - first_row, row_first)
        i1 = min((bnd + 1) * tr - first_row, row_stop)
        j0 = (k % ntc) * tc
        j1 = min(j0 + tc, m)
        r0, r1, c0, c1 = _tile_box(line, sample, i0, i1, j0, j1, off_az, off_rg, ml_az, ml_rg, nr, nc)
        box[k, 0] = i0
        box[k, 1] = i1
        box[k, 2] = j0
        box[k, 3] = j1
        box[k, 4] = r0
        box[k, 5] = r1
        box[k, 6] = c0
        box[k, 7] = c1
    start = np.zeros(nt + 1, dtype=np.int64)
    for k in range(nt):
        start[k + 1] = start[k] + (box[k, 5] - box[k, 4]) * (box[k, 7] - box[k, 6])
    buf = np.zeros(start[nt])
    for k in numba.prange(nt):
        if box[k, 5] > box[k, 4]:
            _splat_tile(line, sample, area, box[k, 0], box[k, 1], box[k, 2], box[k, 3], os, ml_az, ml_rg, nr, nc,
                        buf[start[k]:start[k + 1]], box[k, 4], box[k, 5], box[k, 6], box[k, 7])
    lo = nr
    hi = 0
    for k in range(nt):
        if box[k, 5] > box[k, 4]:
            lo = min(lo, box[k, 4])
            hi = max(hi, box[k, 5])
    for r in numba.prange(lo, hi):
        for k in range(nt):
            r0 = box[k, 4]
            if r < r0 or r >= box[k, 5]:
                continue
            c0 = box[k, 6]
            w = box[k, 7] - c0
            o = start[k] + (r - r0) * w
            for c in range(w):
                acc[r, c0 + c] += buf[o + c]


# -------------------------------------------------------------------------------------- geocoding of rtc

@numba.njit(cache=True, parallel=True)
def sample_ratio(img, ag, row0, u, v, out):
    """Bilinear sample at ML (u, v) of beta0 / A_gamma (NaN where A_gamma is not positive), ``img`` (float32)
    and ``ag`` (float64) windows whose first row is ML row ``row0``; ``out`` float32, NaN off the window. The
    arithmetic of ``np.where(ag > 0, img / ag, nan)`` sampled by ``diapsar.ortho.sample`` (the same values),
    without the window-sized ratio. Rows in parallel (each cell alone)."""
    n, m = img.shape
    for i in numba.prange(u.shape[0]):
        for j in range(u.shape[1]):
            uu = u[i, j] - row0
            vv = v[i, j]
            if not (np.isfinite(uu) and np.isfinite(vv)) or uu < -0.5 or vv < -0.5 or uu > n - 0.5 \
                    or vv > m - 0.5:
                out[i, j] = np.nan
                continue
            uc = min(max(uu, 0.0), n - 1.0)
            vc = min(max(vv, 0.0), m - 1.0)
            r0 = min(int(np.floor(uc)), max(n - 2, 0))
            c0 = min(int(np.floor(vc)), max(m - 2, 0))
            r1 = min(r0 + 1, n - 1)
            c1 = min(c0 + 1, m - 1)
            tr = uc - r0
            tc = vc - c0
            w00 = (1 - tr) * (1 - tc)
            w01 = (1 - tr) * tc
            w10 = tr * (1 - tc)
            w11 = tr * tc
            a00 = ag[r0, c0]
            a01 = ag[r0, c1]
            a10 = ag[r1, c0]
            a11 = ag[r1, c1]
            q00 = np.float64(img[r0, c0]) / a00 if a00 > 0 else np.nan
            q01 = np.float64(img[r0, c1]) / a01 if a01 > 0 else np.nan
            q10 = np.float64(img[r1, c0]) / a10 if a10 > 0 else np.nan
            q11 = np.float64(img[r1, c1]) / a11 if a11 > 0 else np.nan
            out[i, j] = w00 * q00 + w01 * q01 + w10 * q10 + w11 * q11
