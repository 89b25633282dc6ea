"""Per-cell terrain geometry of a map block in one pass (``diapsar.terrain.map_block``): the zero-Doppler solve
(geo2rdr), the look vector, the incidence angles, the layover/shadow mask and the projected facet area.

The zero-Doppler time of a cell is found by Newton's method on f(t) = (P - S(t)) . V(t) (as
``diapsar.kernels.range_doppler.zero_doppler``), started from a guess interpolated in a lattice of exact solves:
nodes every ``step`` map cells of the block, solved at two heights spanning the block's heights; the guess is
bilinear between the four nodes around the cell and linear in its height between the two lattice heights.
The guess is within ~1e-7 s of the root on S-1 IW geometry, so one orbit evaluation usually suffices: the
search stops once a step |dt| < ``tol``; Newton's error after a step dt is about |f''/(2 f')| dt^2, with
|f''/(2 f')| ~ 1e-3 /s for a LEO orbit (f' ~ -|V|^2 ~ -5.8e7 m^2/s^2, f'' ~ -3 V.A), i.e. < 1e-14 s (1e-11 line)
for tol = 1e-6 s. Cells without a finite guess start from the state-vector search
(``coarse_zero_doppler``). The satellite position at the solution is the second-order Taylor expansion of
the last evaluated state over the last step (as ``zero_doppler_from``), used for the range and the look vector.

Angles, mask and projected area: the arithmetic of ``diapsar.terrain.terrain_angles`` (module doc there), cell
by cell. Rows in parallel, each cell alone: the results do not depend on the thread count.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from .geodesy import WGS84_A, WGS84_E2
from .range_doppler import coarse_zero_doppler, newton_zero_doppler

_C = 299_792_458.0
LAYOVER = 1
SHADOW = 2
_DEG = 180.0 / math.pi


@numba.njit(cache=True, parallel=True)
def block_geometry(lon, lat, h, hx, hy, kr, wr, kc, wc, g_lo, g_hi, h_lo, inv_dh, tol, tg, nodes, coef,
                   node_pos, node_vel, area_scale, t_out, tau_out, theta_e, theta_l, mask, proj):
    """Geometry of the cells of 2-D ``lon``/``lat``/``h`` (degrees, m) with slopes ``hx``/``hy``:
    ``t_out`` zero-Doppler time relative to the orbit's t_ref, ``tau_out`` two-way range time, ``theta_e`` /
    ``theta_l`` (degrees), ``mask`` (0 / LAYOVER / SHADOW), ``proj`` the projected area times ``area_scale``.
    Guess lattice: ``g_lo`` / ``g_hi`` (relative times at heights h_lo and h_lo + 1 / inv_dh; inv_dh = 0: one
    height), cell (i, j) between nodes kr[i], kr[i] + 1 and kc[j], kc[j] + 1 with weights wr[i], wc[j]. NaN
    outputs (mask 0) where the height is not finite or the solve leaves the orbit arc."""
    n, m = lon.shape
    t_lo = tg[0]
    t_hi = tg[tg.shape[0] - 1]
    for i in numba.prange(n):
        buf = np.empty(9)
        r0 = kr[i]
        fy = wr[i]
        for j in range(m):
            hh = h[i, j]
            c0 = kc[j]
            fx = wc[j]
            # ECEF of the cell (the arithmetic of ``llh_to_ecef_1``), its sines and cosines kept for the ENU frame
            la = math.radians(lat[i, j])
            lo = math.radians(lon[i, j])
            sla = math.sin(la)
            cla = math.cos(la)
            slo = math.sin(lo)
            clo = math.cos(lo)
            nn = WGS84_A / math.sqrt(1.0 - WGS84_E2 * sla * sla)
            px = (nn + hh) * cla * clo
            py = (nn + hh) * cla * slo
            pz = (nn * (1.0 - WGS84_E2) + hh) * sla
            ok = np.isfinite(px) and np.isfinite(py) and np.isfinite(pz)
            t = np.nan
            dt = 0.0
            if ok:
                a = (1.0 - fy) * ((1.0 - fx) * g_lo[r0, c0] + fx * g_lo[r0, c0 + 1]) + \
                    fy * ((1.0 - fx) * g_lo[r0 + 1, c0] + fx * g_lo[r0 + 1, c0 + 1])
                if inv_dh != 0.0:
                    b = (1.0 - fy) * ((1.0 - fx) * g_hi[r0, c0] + fx * g_hi[r0, c0 + 1]) + \
                        fy * ((1.0 - fx) * g_hi[r0 + 1, c0] + fx * g_hi[r0 + 1, c0 + 1])
                    t = a + (hh - h_lo) * inv_dh * (b - a)
                else:
                    t = a
                if not np.isfinite(t):
                    t = coarse_zero_doppler(px, py, pz, tg, node_pos, node_vel)
                t, dt = newton_zero_doppler(px, py, pz, t, tol, tg, nodes, coef, buf)
                if not (t >= t_lo and t <= t_hi):
                    ok = False
            if not ok:
                t_out[i, j] = np.nan
                tau_out[i, j] = np.nan
                theta_e[i, j] = np.nan
                theta_l[i, j] = np.nan
                mask[i, j] = 0
                proj[i, j] = np.nan
                continue
            sx = buf[0] + dt * (buf[3] + 0.5 * dt * buf[6])
            sy = buf[1] + dt * (buf[4] + 0.5 * dt * buf[7])
            sz = buf[2] + dt * (buf[5] + 0.5 * dt * buf[8])
            dx = sx - px
            dy = sy - py
            dz = sz - pz
            r = math.sqrt(dx * dx + dy * dy + dz * dz)
            t_out[i, j] = t
            tau_out[i, j] = 2.0 * r / _C
            dx, dy, dz = dx / r, dy / r, dz / r
            le = -slo * dx + clo * dy
            ln = -sla * clo * dx - sla * slo * dy + cla * dz
            lu = cla * clo * dx + cla * slo * dy + sla * dz
            gx = hx[i, j]
            gy = hy[i, j]
            te = math.acos(min(max(lu, -1.0), 1.0)) * _DEG
            pr = lu - gx * le - gy * ln
            nrm = math.sqrt(1.0 + gx * gx + gy * gy)
            tl = math.acos(min(max(pr / nrm, -1.0), 1.0)) * _DEG
            alpha = math.atan(-(gx * le + gy * ln) / math.hypot(le, ln)) * _DEG
            mk = 0
            if alpha >= te:
                mk = LAYOVER
            if alpha <= te - 90.0:
                mk = SHADOW
            theta_e[i, j] = te
            theta_l[i, j] = tl
            mask[i, j] = mk
            proj[i, j] = pr * area_scale


def lattice_weights(n: int, step: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(node indices, kr, wr) of a lattice every ``step`` cells on an axis of ``n`` cells (plus the last one):
    cell i lies between nodes kr[i] and kr[i] + 1 at weight wr[i] (two coincident nodes when n == 1)."""
    nodes = np.unique(np.r_[np.arange(0, n, step), n - 1])
    if nodes.size == 1:
        nodes = np.r_[nodes, nodes]
        return nodes, np.zeros(n, dtype=np.int64), np.zeros(n)
    i = np.arange(n)
    k = np.minimum(np.searchsorted(nodes, i, side="right") - 1, nodes.size - 2)
    w = (i - nodes[k]) / (nodes[k + 1] - nodes[k])
    return nodes, k.astype(np.int64), w.astype(np.float64)
