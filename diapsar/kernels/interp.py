"""Interpolation kernels on regular grids.

- ``upsample_bilinear``: full-resolution values from a multilook (ML) grid, bilinear between ML cell centres.
- ``sample_ml``: an ML window sampled at fractional (row, col) positions: bilinear, nearest, or bilinear on
  the unit phasor (phase).
- ``keys_weights``, ``cubic_grid``, ``sample_field``: Keys cubic convolution (a = -0.5) of node grids and of
  periodic complex fields (the simulator).
"""

from __future__ import annotations

import math

import numba
import numpy as np

SAMPLE_BILINEAR = 0
SAMPLE_NEAREST = 1
SAMPLE_PHASE = 2


@numba.njit(cache=True)
def upsample_columns(m, n_cols, ml_ran):
    """(col0, col1, wcol): the ML cells and weight of full-resolution columns [0, n_cols) for ``upsample_row``
    (``m`` ML columns), the same for every row."""
    cr = (ml_ran - 1) / 2.0
    col0 = np.empty(n_cols, dtype=np.int64)
    col1 = np.empty(n_cols, dtype=np.int64)
    wcol = np.empty(n_cols)
    for j in range(n_cols):
        v = (j - cr) / ml_ran
        c0 = min(max(int(np.floor(v)), 0), max(m - 2, 0))
        col0[j] = c0
        col1[j] = min(c0 + 1, m - 1)
        wcol[j] = v - c0 if m > 1 else 0.0
    return col0, col1, wcol


@numba.njit(cache=True)
def upsample_row(phi, ml_row0, line, ml_azi, col0, col1, wcol, out):
    """out[j] (j < len(out)): full-resolution line ``line`` of ``upsample_bilinear`` (columns from
    ``upsample_columns``)."""
    n = phi.shape[0]
    ca = (ml_azi - 1) / 2.0
    u = (line - ca) / ml_azi - ml_row0
    r0 = min(max(int(np.floor(u)), 0), max(n - 2, 0))
    r1 = min(r0 + 1, n - 1)
    tr = u - r0 if n > 1 else 0.0
    for j in range(out.shape[0]):
        c0 = col0[j]
        c1 = col1[j]
        tc = wcol[j]
        out[j] = ((1 - tr) * ((1 - tc) * phi[r0, c0] + tc * phi[r0, c1])
                  + tr * ((1 - tc) * phi[r1, c0] + tc * phi[r1, c1]))


@numba.njit(cache=True, parallel=True)
def upsample_bilinear(phi, ml_row0, line0, n_lines, n_cols, ml_azi, ml_ran, out):
    """out (n_lines, n_cols): full-resolution lines [line0, line0 + n_lines) x columns [0, n_cols) from the ML
    grid ``phi`` whose first row is ML row ``ml_row0``; ML cell (r, c) has its centre at full-resolution
    (r * ml_azi + (ml_azi - 1) / 2, c * ml_ran + (ml_ran - 1) / 2). Bilinear between cell centres, linear
    extrapolation beyond the outer ones; rows in parallel."""
    col0, col1, wcol = upsample_columns(phi.shape[1], n_cols, ml_ran)
    for i in numba.prange(n_lines):
        upsample_row(phi, ml_row0, line0 + i, ml_azi, col0, col1, wcol, out[i])


@numba.njit(cache=True, parallel=True)
def sample_ml(img, row0, u, v, kind, nodata, out):
    """Sample img (rows of a window starting at ML row ``row0``) at (u, v) (2-D arrays of ML row, col) into
    out; ``kind`` ``SAMPLE_BILINEAR``, ``SAMPLE_NEAREST`` or ``SAMPLE_PHASE`` (bilinear on the phasor).
    Positions more than half a cell outside the window, or not finite, get ``nodata``. Rows in parallel (each
    value is computed alone: the same whatever the threads); a float32 ``img`` is read as float64 values
    (bilinear, nearest), ``out`` may be float32 (each value rounded once when stored)."""
    n, m = img.shape
    for i in numba.prange(u.shape[0]):
        for j in range(u.shape[1]):
            uu = u[i, j] - row0
            vv = v[i, j]
            if not (np.isfinite(uu) and np.isfinite(vv)) or uu < -0.5 or vv < -0.5 or uu > n - 0.5 \
                    or vv > m - 0.5:
                out[i, j] = nodata
                continue
            if kind == SAMPLE_NEAREST:
                out[i, j] = img[min(int(np.floor(uu + 0.5)), n - 1), min(int(np.floor(vv + 0.5)), m - 1)]
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
            if kind == SAMPLE_BILINEAR:
                out[i, j] = w00 * img[r0, c0] + w01 * img[r0, c1] + w10 * img[r1, c0] + w11 * img[r1, c1]
            else:
                re = (w00 * math.cos(img[r0, c0]) + w01 * math.cos(img[r0, c1]) + w10 * math.cos(img[r1, c0])
                      + w11 * math.cos(img[r1, c1]))
                im = (w00 * math.sin(img[r0, c0]) + w01 * math.sin(img[r0, c1]) + w10 * math.sin(img[r1, c0])
                      + w11 * math.sin(img[r1, c1]))
                out[i, j] = math.atan2(im, re)


@numba.njit(cache=True, inline="always")
def keys_weights(t):
    """Keys cubic convolution weights (a = -0.5) for the 4 samples around a fractional position t in [0,1)."""
    a = -0.5
    t1 = t + 1.0
    t2 = t
    t3 = 1.0 - t
    t4 = 2.0 - t
    w0 = ((a * t1 - 5 * a) * t1 + 8 * a) * t1 - 4 * a
    w1 = ((a + 2) * t2 - (a + 3)) * t2 * t2 + 1
    w2 = ((a + 2) * t3 - (a + 3)) * t3 * t3 + 1
    w3 = ((a * t4 - 5 * a) * t4 + 8 * a) * t4 - 4 * a
    return w0, w1, w2, w3


@numba.njit(cache=True, parallel=True)
def cubic_grid(vals, line0, sample0, step, rows, cols, out):
    """Cubic-convolution interpolation of a node grid (node (r, c) at line0 + r*step, sample0 + c*step) at the
    outer product of ``rows`` x ``cols`` into out; rows in parallel."""
    nr, nc = vals.shape
    for i in numba.prange(rows.shape[0]):
        y = (rows[i] - line0) / step
        yi = int(math.floor(y))
        wy0, wy1, wy2, wy3 = keys_weights(y - yi)
        r0 = min(max(yi - 1, 0), nr - 4)
        for j in range(cols.shape[0]):
            x = (cols[j] - sample0) / step
            xi = int(math.floor(x))
            wx0, wx1, wx2, wx3 = keys_weights(x - xi)
            c0 = min(max(xi - 1, 0), nc - 4)
            acc = 0.0
            for dy in range(4):
                wy = wy0 if dy == 0 else (wy1 if dy == 1 else (wy2 if dy == 2 else wy3))
                rr = r0 + dy
                s = (wx0 * vals[rr, c0] + wx1 * vals[rr, c0 + 1] + wx2 * vals[rr, c0 + 2]
                     + wx3 * vals[rr, c0 + 3])
                acc += wy * s
            out[i, j] = acc


@numba.njit(cache=True)
def sample_field(data, e0, n0, step_e, step_n, e, n, shift_e, shift_n, out):
    """Cubic-convolution sample of a periodic complex field at (e + shift_e, n + shift_n); 1-D arrays."""
    nr, nc = data.shape
    for i in range(e.shape[0]):
        x = (e[i] + shift_e - e0) / step_e
        y = (n[i] + shift_n - n0) / step_n
        if not (np.isfinite(x) and np.isfinite(y)):
            out[i] = 0
            continue
        xi = math.floor(x)
        yi = math.floor(y)
        wx0, wx1, wx2, wx3 = keys_weights(x - xi)
        wy0, wy1, wy2, wy3 = keys_weights(y - yi)
        acc = 0j
        for dy in range(4):
            wy = wy0 if dy == 0 else (wy1 if dy == 1 else (wy2 if dy == 2 else wy3))
            r = (yi - 1 + dy) % nr
            row = 0j
            for dx in range(4):
                wx = wx0 if dx == 0 else (wx1 if dx == 1 else (wx2 if dx == 2 else wx3))
                c = (xi - 1 + dx) % nc
                row += wx * data[r, c]
            acc += wy * row
        out[i] = acc
