"""Multilook of an interferogram's bands for display (``quicklook.multilook_image``), in one pass per strip."""

from __future__ import annotations

import math

import numba
import numpy as np

from .trig import cexp

AMPLITUDE, PHASE, MEAN, ISDATA = 0, 1, 2, 3  # how a band is multilooked (``codes``)


@numba.njit(cache=True, parallel=True)
def interferogram_cells(stack: np.ndarray, codes: np.ndarray, amp_band: int, nodata: float, use_nodata: bool,
                        ml_az: int, ml_rg: int) -> tuple[np.ndarray, np.ndarray]:
    """Cells of ``ml_az`` x ``ml_rg`` pixels of the bands ``stack`` (bands, rows, cols; float32): a pixel counts
    when every band is finite (and not ``nodata`` when ``use_nodata``) and its ISDATA bands are > 0; per cell,
    AMPLITUDE bands give sqrt(mean of squares), PHASE bands the angle of the sum of w exp(j phase) (w the
    ``amp_band`` value, 1 when it is -1), MEAN bands the mean, ISDATA bands the fraction of pixels counted.
    Returns (bands, rows // ml_az, cols // ml_rg) float32, NaN where no pixel counts (ISDATA: 0), and the
    cells with a pixel. Sums in float64; rows are independent (the result does not depend on the threads)."""
    nb, rows, cols = stack.shape
    n_r, n_c = rows // ml_az, cols // ml_rg
    out = np.empty((nb, n_r, n_c), dtype=np.float32)
    valid = np.zeros((n_r, n_c), dtype=np.bool_)
    scale = 1.0 / (ml_az * ml_rg)
    for i in numba.prange(n_r):
        s1 = np.zeros(nb)
        s2 = np.zeros(nb)
        for j in range(n_c):
            s1[:] = 0.0
            s2[:] = 0.0
            n = 0
            for r in range(i * ml_az, (i + 1) * ml_az):
                for c in range(j * ml_rg, (j + 1) * ml_rg):
                    ok = True
                    for b in range(nb):
                        v = stack[b, r, c]
                        if not math.isfinite(v) or (use_nodata and v == nodata) or (codes[b] == ISDATA and not v > 0):
                            ok = False
                            break
                    if not ok:
                        continue
                    n += 1
                    w = np.float32(1.0) if amp_band < 0 else stack[amp_band, r, c]
                    for b in range(nb):
                        v = stack[b, r, c]
                        code = codes[b]
                        if code == AMPLITUDE:
                            s1[b] += v * v
                        elif code == PHASE:
                            co, si = cexp(v)
                            s1[b] += w * si
                            s2[b] += w * co
                        elif code == MEAN:
                            s1[b] += v
            den = max(n, 1)
            valid[i, j] = n > 0
            for b in range(nb):
                code = codes[b]
                if code == ISDATA:
                    out[b, i, j] = n * scale
                elif n == 0:
                    out[b, i, j] = np.nan
                elif code == AMPLITUDE:
                    out[b, i, j] = math.sqrt(s1[b] / den)
                elif code == PHASE:
                    out[b, i, j] = math.atan2(s1[b], s2[b])
                else:
                    out[b, i, j] = s1[b] / den
    return out, valid
