"""Windowed sums: non-overlapping block means (multilook), running box sums, interferogram cell sums, lag-one
azimuth autocorrelation sums (Doppler centroid).

All kernels take strips (blocks of rows) and return float64/complex128 accumulations so that long sums keep
their precision; callers cast to float32 when writing.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from diapsar.kernels.interp import upsample_columns, upsample_row
from diapsar.kernels.trig import cexp


@numba.njit(cache=True, parallel=True)
def block_mean_power_complex(x: np.ndarray, f_az: int, f_r: int) -> np.ndarray:
    """Mean of |x|² over non-overlapping ``f_az`` × ``f_r`` blocks; output ⌊Na/f_az⌋ × ⌊Nr/f_r⌋ (float64)."""
    na = x.shape[0] // f_az
    nr = x.shape[1] // f_r
    out = np.zeros((na, nr), dtype=np.float64)
    inv = 1.0 / (f_az * f_r)
    for i in numba.prange(na):
        for a in range(i * f_az, (i + 1) * f_az):
            for j in range(nr):
                acc = 0.0
                for c in range(j * f_r, (j + 1) * f_r):
                    v = x[a, c]
                    acc += v.real * v.real + v.imag * v.imag
                out[i, j] += acc
        for j in range(nr):
            out[i, j] *= inv
    return out


@numba.njit(cache=True, parallel=True)
def block_mean_power_real(x: np.ndarray, f_az: int, f_r: int) -> np.ndarray:
    """Mean of x² over non-overlapping ``f_az`` × ``f_r`` blocks (real input); float64 output."""
    na = x.shape[0] // f_az
    nr = x.shape[1] // f_r
    out = np.zeros((na, nr), dtype=np.float64)
    inv = 1.0 / (f_az * f_r)
    for i in numba.prange(na):
        for a in range(i * f_az, (i + 1) * f_az):
            for j in range(nr):
                acc = 0.0
                for c in range(j * f_r, (j + 1) * f_r):
                    v = np.float64(x[a, c])
                    acc += v * v
                out[i, j] += acc
        for j in range(nr):
            out[i, j] *= inv
    return out


@numba.njit(cache=True, parallel=True)
def box_sum(x: np.ndarray, half_az: int, half_r: int) -> np.ndarray:
    """Sliding sum over a (2·half_az+1) × (2·half_r+1) window centred on each pixel (float64).

    The window is clipped at the array edges (pixels outside count as zero). Running sums make the cost
    independent of the window size.
    """
    na, nr = x.shape
    rows = np.zeros((na, nr), dtype=np.float64)
    for a in numba.prange(na):
        acc = 0.0
        for c in range(min(half_r, nr)):
            acc += x[a, c]
        for c in range(nr):
            hi = c + half_r
            if hi < nr:
                acc += x[a, hi]
            lo = c - half_r - 1
            if lo >= 0:
                acc -= x[a, lo]
            rows[a, c] = acc
    out = np.zeros((na, nr), dtype=np.float64)
    # column pass, split over column chunks so that prange has work
    n_chunks = max(1, min(64, nr // 64))
    for k in numba.prange(n_chunks):
        c0 = k * nr // n_chunks
        c1 = (k + 1) * nr // n_chunks
        col_acc = np.zeros(c1 - c0, dtype=np.float64)
        for a in range(min(half_az, na)):
            for c in range(c0, c1):
                col_acc[c - c0] += rows[a, c]
        for a in range(na):
            hi = a + half_az
            lo = a - half_az - 1
            for c in range(c0, c1):
                if hi < na:
                    col_acc[c - c0] += rows[hi, c]
                if lo >= 0:
                    col_acc[c - c0] -= rows[lo, c]
                out[a, c] = col_acc[c - c0]
    return out


@numba.njit(cache=True, parallel=True)
def interferogram_row_cells(master: np.ndarray, slave: np.ndarray, phase: np.ndarray, use_phase: bool,
                            f_r: int, margin_r: int, n_cells: int, ml_phase: bool = False, ml_row0: int = 0,
                            line0: int = 0, ml_azi: int = 1, ml_ran: int = 1):
    """Per strip row and range cell j, sums over columns [j·f_r − margin_r, (j+1)·f_r + margin_r) ∩ image.

    Returns (I, Pm, Ps, n_valid, n_total): I = Σ M·conj(S)·exp(−jφ), Pm = Σ|M|², Ps = Σ|S|² over valid
    pixels (M ≠ 0, S ≠ 0, φ finite), n_valid their number, n_total the (clipped) window size.

    φ: ``phase`` at full resolution (same shape as the strip), or with ``ml_phase`` an ML-grid phase (float64)
    whose first row is ML row ``ml_row0``, strip row a being full-resolution line ``line0 + a``: each row's φ
    is then ``interp.upsample_bilinear``'s (the same values) computed row by row, without a full-resolution
    array.
    """
    na, nr = master.shape
    if ml_phase:
        col0, col1, wcol = upsample_columns(phase.shape[1], nr, ml_ran)
    else:
        col0 = np.zeros(0, dtype=np.int64)
        col1 = np.zeros(0, dtype=np.int64)
        wcol = np.zeros(0)
    ifg = np.zeros((na, n_cells), dtype=np.complex128)
    pm = np.zeros((na, n_cells), dtype=np.float64)
    ps = np.zeros((na, n_cells), dtype=np.float64)
    nv = np.zeros((na, n_cells), dtype=np.float64)
    nt = np.zeros((na, n_cells), dtype=np.float64)
    for a in numba.prange(na):
        # prefix sums along the row (index c+1 holds the sum of columns < c+1)
        cre = np.zeros(nr + 1)
        cim = np.zeros(nr + 1)
        cpm = np.zeros(nr + 1)
        cps = np.zeros(nr + 1)
        cnv = np.zeros(nr + 1)
        # exp(jφ) of the row first, in a loop of its own (vectorised by the compiler; the same bits as one at a
        # time); values at non-finite φ are not used
        z_re = np.empty(nr if use_phase else 0, dtype=np.float32)
        z_im = np.empty(nr if use_phase else 0, dtype=np.float32)
        prow = np.empty(nr if use_phase else 0)
        if use_phase:
            if ml_phase:
                upsample_row(phase, ml_row0, line0 + a, ml_azi, col0, col1, wcol, prow)
            else:
                for c in range(nr):
                    prow[c] = np.float64(phase[a, c])
            for c in range(nr):
                z_re[c], z_im[c] = cexp(prow[c])
        for c in range(nr):
            m = master[a, c]
            s = slave[a, c]
            pre = 0.0
            pim = 0.0
            qm = 0.0
            qs = 0.0
            ok = 0.0
            mr = np.float64(m.real)
            mi = np.float64(m.imag)
            sr = np.float64(s.real)
            si = np.float64(s.imag)
            valid = (mr != 0.0 or mi != 0.0) and (sr != 0.0 or si != 0.0)
            ph = 0.0
            if use_phase:
                ph = prow[c]
                if not np.isfinite(ph):
                    valid = False
            if valid:
                # M·conj(S)
                xr = mr * sr + mi * si
                xi = mi * sr - mr * si
                if use_phase:
                    cs = z_re[c]
                    sn = z_im[c]
                    # (xr + j xi)·(cos φ − j sin φ)
                    pre = xr * cs + xi * sn
                    pim = xi * cs - xr * sn
                else:
                    pre = xr
                    pim = xi
                qm = mr * mr + mi * mi
                qs = sr * sr + si * si
                ok = 1.0
            cre[c + 1] = cre[c] + pre
            cim[c + 1] = cim[c] + pim
            cpm[c + 1] = cpm[c] + qm
            cps[c + 1] = cps[c] + qs
            cnv[c + 1] = cnv[c] + ok
        for j in range(n_cells):
            lo = max(0, j * f_r - margin_r)
            hi = min(nr, (j + 1) * f_r + margin_r)
            ifg[a, j] = complex(cre[hi] - cre[lo], cim[hi] - cim[lo])
            pm[a, j] = cpm[hi] - cpm[lo]
            ps[a, j] = cps[hi] - cps[lo]
            nv[a, j] = cnv[hi] - cnv[lo]
            nt[a, j] = hi - lo
    return ifg, pm, ps, nv, nt


@numba.njit(cache=True, parallel=True)
def sum_row_windows(x: np.ndarray, starts: np.ndarray, stops: np.ndarray) -> np.ndarray:
    """out[i] = Σ x[starts[i]:stops[i]] along axis 0 (windows may overlap); works for real or complex x."""
    n_out = starts.shape[0]
    out = np.zeros((n_out, x.shape[1]), dtype=x.dtype)
    for i in numba.prange(n_out):
        for a in range(starts[i], stops[i]):
            for j in range(x.shape[1]):
                out[i, j] += x[a, j]
    return out


@numba.njit(cache=True, parallel=True)
def lag_one_sums(strip: np.ndarray, prev: np.ndarray, use_prev: bool) -> np.ndarray:
    """Per column c: Σ_a strip[a+1, c]·conj(strip[a, c]) (complex128), plus strip[0, c]·conj(prev[c]) when
    ``use_prev`` (the pair across a strip boundary); columns in parallel."""
    na, nr = strip.shape
    out = np.zeros(nr, dtype=np.complex128)
    for c in numba.prange(nr):
        acc = 0j
        if use_prev and na > 0:
            acc += strip[0, c] * np.conj(prev[c])
        for a in range(na - 1):
            acc += strip[a + 1, c] * np.conj(strip[a, c])
        out[c] = acc
    return out


@numba.njit(cache=True, parallel=True)
def overlap_look_sums(master_b: np.ndarray, slave_b: np.ndarray, master_c: np.ndarray, slave_c: np.ndarray,
                      doppler_b: np.ndarray, doppler_c: np.ndarray, phase: np.ndarray, use_phase: bool,
                      f_az: int, f_r: int):
    """Sums over non-overlapping ``f_az`` × ``f_r`` look cells of a burst overlap (ESD), over the pixels where
    the four images are non-zero: I_b = Σ M_b·conj(S_b)·exp(−jφ), I_c likewise (φ: ``phase`` where finite, else
    0; not used unless ``use_phase``), Σ|M_b|², Σ|S_b|², Σ|M_c|², Σ|S_c|², the pixel count and Σ(f_b − f_c).
    float64/complex128; look rows in parallel (each cell summed in one thread, in row-major order)."""
    na = master_b.shape[0] // f_az
    nr = master_b.shape[1] // f_r
    ib = np.zeros((na, nr), dtype=np.complex128)
    ic = np.zeros((na, nr), dtype=np.complex128)
    pow4 = np.zeros((4, na, nr), dtype=np.float64)
    n = np.zeros((na, nr), dtype=np.float64)
    df = np.zeros((na, nr), dtype=np.float64)
    for i in numba.prange(na):
        for a in range(i * f_az, (i + 1) * f_az):
            for j in range(nr):
                for c in range(j * f_r, (j + 1) * f_r):
                    mb = complex(master_b[a, c])
                    sb = complex(slave_b[a, c])
                    mc = complex(master_c[a, c])
                    sc = complex(slave_c[a, c])
                    if mb == 0 or sb == 0 or mc == 0 or sc == 0:
                        continue
                    vb = mb * sb.conjugate()
                    vc = mc * sc.conjugate()
                    if use_phase:
                        ph = phase[a, c]
                        if math.isfinite(ph):
                            flat = complex(math.cos(ph), -math.sin(ph))
                            vb = vb * flat
                            vc = vc * flat
                    ib[i, j] += vb
                    ic[i, j] += vc
                    pow4[0, i, j] += mb.real * mb.real + mb.imag * mb.imag
                    pow4[1, i, j] += sb.real * sb.real + sb.imag * sb.imag
                    pow4[2, i, j] += mc.real * mc.real + mc.imag * mc.imag
                    pow4[3, i, j] += sc.real * sc.real + sc.imag * sc.imag
                    n[i, j] += 1.0
                    df[i, j] += doppler_b[a, c] - doppler_c[a, c]
    return ib, ic, pow4, n, df
