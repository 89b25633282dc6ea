"""Speckle-filter kernels: NaN-aware local window statistics and the refined Lee (edge-aligned window) filter.

Every sum is a direct sum in a fixed order over the pixels of the window (no running sums): a pixel's value
depends only on the pixels of its window, never on where the strip holding it starts, so a strip read with a
halo of ``window // 2`` rows gives bit-identical rows to the whole image (``diapsar.speckle``).
Pixels outside the array and NaN pixels (no data) are left out of every statistic.
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, parallel=True)
def window_moments(x: np.ndarray, half: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(sum, sum of squares, count) of the finite values of ``x`` in the (2·half+1)² window centred on each
    pixel, clipped at the array edges (float64). Separable: a direct sum along each row, then a direct sum of
    those row sums along the column."""
    na, nr = x.shape
    rs = np.zeros((na, nr))
    rq = np.zeros((na, nr))
    rn = np.zeros((na, nr))
    for a in numba.prange(na):
        for c in range(nr):
            s = 0.0
            q = 0.0
            n = 0.0
            for cc in range(max(0, c - half), min(nr, c + half + 1)):
                v = np.float64(x[a, cc])
                if np.isfinite(v):
                    s += v
                    q += v * v
                    n += 1.0
            rs[a, c] = s
            rq[a, c] = q
            rn[a, c] = n
    s_out = np.zeros((na, nr))
    q_out = np.zeros((na, nr))
    n_out = np.zeros((na, nr))
    for a in numba.prange(na):
        for aa in range(max(0, a - half), min(na, a + half + 1)):
            for c in range(nr):
                s_out[a, c] += rs[aa, c]
                q_out[a, c] += rq[aa, c]
                n_out[a, c] += rn[aa, c]
    return s_out, q_out, n_out


@numba.njit(cache=True)
def _lee_value(z: float, mean: float, var: float, cu2: float) -> float:
    # Lee (1980) minimum mean-square-error estimate under multiplicative speckle of variance cu2 = 1/ENL:
    # var_x = (var_z - mean^2 cu2) / (1 + cu2), b = var_x / var_z in [0, 1], x = mean + b (z - mean)
    if var <= 0.0:
        return mean
    var_x = (var - mean * mean * cu2) / (1.0 + cu2)
    b = var_x / var
    if b < 0.0:
        b = 0.0
    elif b > 1.0:
        b = 1.0
    return mean + b * (z - mean)


@numba.njit(cache=True, parallel=True)
def lee_from_moments(x: np.ndarray, s: np.ndarray, q: np.ndarray, n: np.ndarray, cu2: float) -> np.ndarray:
    """Lee (1980) filter of intensity ``x`` from its window moments (``window_moments``): the local mean
    plus b times the deviation of the pixel from it, b = var_x / var_z clipped to [0, 1] with var_x the
    variance of the speckle-free signal for speckle of squared variation coefficient ``cu2`` (= 1 / ENL).
    NaN where ``x`` is NaN; the pixel itself where its window holds fewer than 2 values (float64)."""
    na, nr = x.shape
    out = np.empty((na, nr))
    for a in numba.prange(na):
        for c in range(nr):
            z = np.float64(x[a, c])
            if not np.isfinite(z):
                out[a, c] = np.nan
                continue
            cnt = n[a, c]
            if cnt < 2.0:
                out[a, c] = z
                continue
            m = s[a, c] / cnt
            v = max(q[a, c] / cnt - m * m, 0.0)
            out[a, c] = _lee_value(z, m, v, cu2)
    return out


@numba.njit(cache=True, parallel=True)
def refined_lee(x: np.ndarray, sub_mean: np.ndarray, sub: int, step: int, cu2: float) -> np.ndarray:
    """Refined Lee filter (Lee, Grunes & de Grandi 1999) of intensity ``x`` with a window of
    ``sub + 2·step`` pixels: the 3 x 3 means of ``sub`` x ``sub`` sub-windows whose centres are ``step``
    apart (``sub_mean``: the NaN-aware ``sub``-window mean of every pixel) pick, by the largest of four
    gradient templates (0, 45, 90, 135 degrees), the edge direction, then the side of the edge whose
    sub-window mean is closer to the centre one; the Lee estimate (``lee_from_moments``) uses the finite
    pixels of that half window (the edge line included: 28 of 49 pixels for 7 x 7). Sub-windows outside
    the array or without data take the centre mean (no gradient through them). NaN where ``x`` is NaN."""
    na, nr = x.shape
    half = step + sub // 2
    out = np.empty((na, nr))
    for a in numba.prange(na):
        m = np.empty((3, 3))
        for c in range(nr):
            z = np.float64(x[a, c])
            if not np.isfinite(z):
                out[a, c] = np.nan
                continue
            centre = sub_mean[a, c]
            for i in range(3):
                for j in range(3):
                    aa = a + (i - 1) * step
                    cc = c + (j - 1) * step
                    v = np.nan
                    if 0 <= aa < na and 0 <= cc < nr:
                        v = sub_mean[aa, cc]
                    m[i, j] = v if np.isfinite(v) else centre
            # the two sides of each template: sums of three sub-window means
            a0 = m[0, 0] + m[1, 0] + m[2, 0]  # left
            b0 = m[0, 2] + m[1, 2] + m[2, 2]  # right
            a1 = m[0, 0] + m[0, 1] + m[0, 2]  # up
            b1 = m[2, 0] + m[2, 1] + m[2, 2]  # down
            a2 = m[1, 0] + m[2, 0] + m[2, 1]  # lower left
            b2 = m[0, 1] + m[0, 2] + m[1, 2]  # upper right
            a3 = m[1, 2] + m[2, 1] + m[2, 2]  # lower right
            b3 = m[0, 0] + m[0, 1] + m[1, 0]  # upper left
            k = 0
            g = abs(b0 - a0)
            sa = a0
            sb = b0
            if abs(b1 - a1) > g:
                k = 1
                g = abs(b1 - a1)
                sa = a1
                sb = b1
            if abs(b2 - a2) > g:
                k = 2
                g = abs(b2 - a2)
                sa = a2
                sb = b2
            if abs(b3 - a3) > g:
                k = 3
                sa = a3
                sb = b3
            # the side whose sub-windows are closer to the centre one (the centre pixel breaks a tie);
            # side +1 keeps the half window of side b (right, lower, upper right, upper left)
            mc = 3.0 * m[1, 1]
            da = abs(sa - mc)
            db = abs(sb - mc)
            if da == db:
                da = abs(sa - 3.0 * z)
                db = abs(sb - 3.0 * z)
            side = 1 if db < da else -1
            s = 0.0
            q = 0.0
            cnt = 0.0
            # the half window, row by row: columns dx in [lo, hi] (the edge line included)
            for dy in range(-half, half + 1):
                aa = a + dy
                if aa < 0 or aa >= na:
                    continue
                lo = -half
                hi = half
                if k == 0:  # right (dx >= 0) or left
                    if side > 0:
                        lo = 0
                    else:
                        hi = 0
                elif k == 1:  # lower (dy >= 0) or upper rows
                    if dy * side < 0:
                        continue
                elif k == 2:  # upper right (dx >= dy) or lower left
                    if side > 0:
                        lo = max(dy, -half)
                    else:
                        hi = min(dy, half)
                else:  # upper left (dx <= -dy) or lower right
                    if side > 0:
                        hi = min(-dy, half)
                    else:
                        lo = max(-dy, -half)
                for cc in range(max(c + lo, 0), min(c + hi + 1, nr)):
                    v = np.float64(x[aa, cc])
                    if np.isfinite(v):
                        s += v
                        q += v * v
                        cnt += 1.0
            if cnt < 2.0:
                out[a, c] = z
                continue
            mean = s / cnt
            var = max(q / cnt - mean * mean, 0.0)
            out[a, c] = _lee_value(z, mean, var, cu2)
    return out
