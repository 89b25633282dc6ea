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

Serial loop: the sums are added in one fixed order, so the result does not depend on the thread count.
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
                    l10, l01, l11 = line[i2, j], line[i, j2], line[i2, j2]
                    s10, s01, s11 = sample[i2, j], sample[i, j2], sample[i2, j2]
                    if (np.isfinite(l10) and np.isfinite(l01) and np.isfinite(l11) and np.isfinite(s10)
                            and np.isfinite(s01) and np.isfinite(s11)):
                        li = ((1 - wy) * ((1 - wx) * l00 + wx * l01) + wy * ((1 - wx) * l10 + wx * l11))
                        si = ((1 - wy) * ((1 - wx) * s00 + wx * s01) + wy * ((1 - wx) * s10 + wx * s11))
                    else:
                        li = l00
                        si = s00
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
