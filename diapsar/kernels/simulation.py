"""Simulator kernels: synthesis of the pixels of a simulated acquisition (``diapsar.simulate.physics``)."""

from __future__ import annotations

import math

import numba
import numpy as np

from .interp import keys_weights, sample_field


@numba.njit(cache=True, parallel=True)
def synth_rows(ge, gn, gphi, ggam, line0, sample0, step, rows, ns, fdata, fe0, fn0, fse, fsn, se, sn, mix,
               out, out_e, out_n):
    """Pixels of output rows ``rows`` (full-resolution lines), samples 0..ns-1, of a simulated acquisition.

    ``ge``, ``gn``, ``gphi``, ``ggam``: ground east/north (m), phase (rad) and coherence on a node grid (node
    (r, c) at line0 + r*step, sample0 + c*step), interpolated by cubic convolution; the reflectivity field
    (``fdata`` with origin fe0, fn0 and steps fse, fsn) is sampled at the pixel's ground point and, when
    ``mix``, mixed with the field shifted by (se, sn) with coherence g: g W(x) + sqrt(1 - g^2) W(x + o).
    out = reflectivity * exp(j phase) (complex), out_e/out_n the interpolated ground east/north; rows in
    parallel.
    """
    nr, nc = ge.shape
    for i in numba.prange(rows.shape[0]):
        tmp1 = np.empty(1, dtype=np.complex64)
        tmp2 = np.empty(1, dtype=np.complex64)
        ea = np.empty(1)
        na = np.empty(1)
        y = (rows[i] - line0) / step
        yi = int(math.floor(y))
        wy = keys_weights(y - yi)
        r0 = min(max(yi - 1, 0), nr - 4)
        for j in range(ns):
            x = (j - sample0) / step
            xi = int(math.floor(x))
            wx = keys_weights(x - xi)
            c0 = min(max(xi - 1, 0), nc - 4)
            e = 0.0
            n = 0.0
            p = 0.0
            g = 0.0
            for dy in range(4):
                for dx in range(4):
                    w = wy[dy] * wx[dx]
                    e += w * ge[r0 + dy, c0 + dx]
                    n += w * gn[r0 + dy, c0 + dx]
                    p += w * gphi[r0 + dy, c0 + dx]
                    if mix:
                        g += w * ggam[r0 + dy, c0 + dx]
            ea[0] = e
            na[0] = n
            sample_field(fdata, fe0, fn0, fse, fsn, ea, na, 0.0, 0.0, tmp1)
            v = complex(tmp1[0])
            if mix:
                g = min(max(g, 0.0), 1.0)
                sample_field(fdata, fe0, fn0, fse, fsn, ea, na, se, sn, tmp2)
                v = g * v + math.sqrt(1.0 - g * g) * complex(tmp2[0])
            out[i, j] = v * complex(math.cos(p), math.sin(p))
            out_e[i, j] = e
            out_n[i, j] = n
