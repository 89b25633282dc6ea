"""Facet kernels of the amplitude simulation (``diapsar.amplitude_estimation``): cast shadow along zero-Doppler
strips and splatting of facet cross-sections into radar cells."""

from __future__ import annotations

import math

import numba
import numpy as np


@numba.njit(cache=True)
def cast_shadow(order, bins, alpha, lit):
    """Posts sorted by (zero-Doppler bin, ground angle from the track): hidden when a nearer post of the same
    bin is seen under a larger look angle."""
    n = order.shape[0]
    cur = -1
    amax = -1.0
    for k in range(n):
        i = order[k]
        if bins[i] != cur:
            cur = bins[i]
            amax = -1.0
        if alpha[i] < amax - 1e-9:
            lit[i] = 0.0
        else:
            lit[i] = 1.0
            amax = alpha[i]


@numba.njit(cache=True)
def splat_facets(t_rel, samp, land, w_land, w_sea, k, bt, bfirst, lpb, dt, line0, sample0, mlaz, mlrg,
                 out):
    """Splat facet cross-sections into the output cells (``diapsar.amplitude_estimation``, step 4).

    Per facet (the quadrilateral between posts (r, c) .. (r+1, c+1), zero-Doppler times ``t_rel`` and range
    samples ``samp`` at the posts): ``k`` x ``k`` sub-facets, each with the bilinear time, sample and land
    fraction of its centre and the cross-section (land ``w_land``, sea ``w_sea`` mixed by the land fraction)
    / k^2, added bilinearly into ``out`` (ML cells of ``mlaz`` x ``mlrg`` full-resolution cells from line0,
    sample0) in every burst (start times ``bt``, first lines ``bfirst``, ``lpb`` lines, line interval ``dt``)
    that sees it.
    """
    nr, nc = t_rel.shape
    no, mo = out.shape
    nb = bt.shape[0]
    # output cell (i, j) has its centre at full-res line line0 + i*mlaz + (mlaz-1)/2 (same for samples)
    ca = line0 + 0.5 * (mlaz - 1)
    cr = sample0 + 0.5 * (mlrg - 1)
    inv_k = 1.0 / k
    inv_k2 = inv_k * inv_k
    for r in range(nr - 1):
        for c in range(nc - 1):
            t00 = t_rel[r, c]
            t01 = t_rel[r, c + 1]
            t10 = t_rel[r + 1, c]
            t11 = t_rel[r + 1, c + 1]
            if not (np.isfinite(t00) and np.isfinite(t01) and np.isfinite(t10) and np.isfinite(t11)):
                continue
            s00 = samp[r, c]
            s01 = samp[r, c + 1]
            s10 = samp[r + 1, c]
            s11 = samp[r + 1, c + 1]
            smin = min(min(s00, s01), min(s10, s11))
            smax = max(max(s00, s01), max(s10, s11))
            if smax < sample0 - mlrg or smin > sample0 + mo * mlrg + mlrg:
                continue
            wl = w_land[r, c]
            ws = w_sea[r, c]
            if wl == 0.0 and ws == 0.0:
                continue
            tmin = min(min(t00, t01), min(t10, t11))
            tmax = max(max(t00, t01), max(t10, t11))
            for b in range(nb):
                lmin = bfirst[b] + (tmin - bt[b]) / dt
                lmax = bfirst[b] + (tmax - bt[b]) / dt
                if lmax < bfirst[b] - 0.5 or lmin >= bfirst[b] + lpb - 0.5:
                    continue
                if lmax < line0 - mlaz or lmin > line0 + no * mlaz + mlaz:
                    continue
                for a in range(k):
                    fa = (a + 0.5) * inv_k
                    for e in range(k):
                        fe = (e + 0.5) * inv_k
                        w00 = (1.0 - fa) * (1.0 - fe)
                        w01 = (1.0 - fa) * fe
                        w10 = fa * (1.0 - fe)
                        w11 = fa * fe
                        t = w00 * t00 + w01 * t01 + w10 * t10 + w11 * t11
                        line = bfirst[b] + (t - bt[b]) / dt
                        if line < bfirst[b] - 0.5 or line >= bfirst[b] + lpb - 0.5:
                            continue
                        s = w00 * s00 + w01 * s01 + w10 * s10 + w11 * s11
                        lf = w00 * land[r, c] + w01 * land[r, c + 1] + w10 * land[r + 1, c] + w11 * land[r + 1, c + 1]
                        lf = min(max(lf, 0.0), 1.0)
                        w = (lf * wl + (1.0 - lf) * ws) * inv_k2
                        u = (line - ca) / mlaz
                        v = (s - cr) / mlrg
                        iu = int(math.floor(u))
                        iv = int(math.floor(v))
                        if iu < -1 or iu >= no or iv < -1 or iv >= mo:
                            continue
                        fu = u - iu
                        fv = v - iv
                        if iu >= 0:
                            if iv >= 0:
                                out[iu, iv] += w * (1.0 - fu) * (1.0 - fv)
                            if iv + 1 < mo:
                                out[iu, iv + 1] += w * (1.0 - fu) * fv
                        if iu + 1 < no:
                            if iv >= 0:
                                out[iu + 1, iv] += w * fu * (1.0 - fv)
                            if iv + 1 < mo:
                                out[iu + 1, iv + 1] += w * fu * fv
