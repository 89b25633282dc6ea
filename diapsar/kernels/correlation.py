"""Correlation helpers: normalised cross-correlation search (numba) and DFT-upsampled sub-pixel peaks.

Shift convention: a shift d means slave(y + d) ≈ master(y) (slave coordinate = master coordinate + d).
"""

from __future__ import annotations

import math

import numba
import numpy as np


@numba.njit(cache=True, parallel=True)
def ncc_search(master: np.ndarray, slave: np.ndarray, centre_a: np.ndarray, centre_r: np.ndarray,
               guess_a: np.ndarray, guess_r: np.ndarray, half_a: int, half_r: int, rad_a: int, rad_r: int,
               min_size: int):
    """Integer-offset normalised cross-correlation search, one patch per node.

    For node n the master patch is centred on (centre_a[n], centre_r[n]) with half sizes (half_a, half_r),
    clipped so that it stays inside the master and, for every evaluated offset, inside the slave. The NCC
    surface is evaluated for offsets guess + [−rad − 2, rad + 2] (the 2 extra lags feed the sub-pixel fit);
    the best offset is searched within guess ± rad. Returns (best_a, best_r, best_ncc, box, surface):
    box[n] = (a0, a1, r0, r1) is the master patch (half-open), surface[n, i, j] the NCC at offset
    (guess_a − rad_a − 2 + i, guess_r − rad_r − 2 + j). best_ncc = −2 where the patch is smaller than
    ``min_size`` per axis or flat.
    """
    n = centre_a.shape[0]
    nma, nmr = master.shape
    nsa, nsr = slave.shape
    ea = rad_a + 2
    er = rad_r + 2
    best_a = np.zeros(n, dtype=np.int64)
    best_r = np.zeros(n, dtype=np.int64)
    best = np.full(n, -2.0)
    box = np.zeros((n, 4), dtype=np.int64)
    surface = np.full((n, 2 * ea + 1, 2 * er + 1), -2.0)
    for k in numba.prange(n):
        ga = guess_a[k]
        gr = guess_r[k]
        a0 = max(centre_a[k] - half_a, 0, -(ga - ea))
        a1 = min(centre_a[k] + half_a + 1, nma, nsa - (ga + ea))
        r0 = max(centre_r[k] - half_r, 0, -(gr - er))
        r1 = min(centre_r[k] + half_r + 1, nmr, nsr - (gr + er))
        if a1 - a0 < min_size or r1 - r0 < min_size:
            continue
        npx = (a1 - a0) * (r1 - r0)
        sm = 0.0
        sm2 = 0.0
        for a in range(a0, a1):
            for r in range(r0, r1):
                v = master[a, r]
                sm += v
                sm2 += v * v
        mm = sm / npx
        vm = sm2 - sm * mm
        if vm <= 0.0:
            continue
        bv = -2.0
        ba = 0
        bra = 0
        for i in range(2 * ea + 1):
            da = ga - ea + i
            for j in range(2 * er + 1):
                dr = gr - er + j
                ss = 0.0
                ss2 = 0.0
                sms = 0.0
                for a in range(a0, a1):
                    for r in range(r0, r1):
                        s = slave[a + da, r + dr]
                        ss += s
                        ss2 += s * s
                        sms += master[a, r] * s
                vs = ss2 - ss * ss / npx
                if vs <= 0.0:
                    continue
                ncc = (sms - mm * ss) / math.sqrt(vm * vs)
                surface[k, i, j] = ncc
                if 2 <= i <= 2 * ea - 2 and 2 <= j <= 2 * er - 2 and ncc > bv:
                    bv = ncc
                    ba = da
                    bra = dr
        best[k] = bv
        best_a[k] = ba
        best_r[k] = bra
        box[k, 0] = a0
        box[k, 1] = a1
        box[k, 2] = r0
        box[k, 3] = r1
    return best_a, best_r, best, box, surface


def ml_correlation_model(ml: int, bandwidth: float, lag_ml: np.ndarray) -> np.ndarray:
    """Expected normalised correlation of two ``ml``-look multilooked speckle images at a lag (ML pixels).

    Intensity of a band-limited SLC (bandwidth fraction b of the sampling rate) is correlated as
    sinc²(b·x) (complex Gaussian speckle, Siegert relation); averaging ``ml`` samples gives
    R(D) ∝ Σ_{|m|<ml} (ml − |m|)·sinc²(b·(m − D)), D = lag·ml SLC pixels, normalised to R(0) = 1. The
    triangle of the ML cell dominates, so the shape hardly depends on b (0.6 and 0.8 give the same fits).
    """
    d = np.asarray(lag_ml, dtype=np.float64) * ml
    m = np.arange(-ml + 1, ml, dtype=np.float64)
    w = ml - np.abs(m)
    r = np.sum(w * np.sinc(bandwidth * (m - d[..., None])) ** 2, axis=-1)
    return r / np.sum(w * np.sinc(bandwidth * m) ** 2)


def model_fit_peak(samples: np.ndarray, ml: int, bandwidth: float = 0.8, resolution: int = 200) -> np.ndarray:
    """Sub-pixel peak positions from NCC samples at lags −2…2 (ML pixels) around an integer maximum.

    samples: (n, 5). For each row the lag δ ∈ [−1, 1] maximising the correlation between the samples and
    the model R(k − δ) (:func:`ml_correlation_model`) is found on a 1/``resolution`` grid and refined by a
    parabola; equivalent to a least-squares fit of A·R(k − δ) + B. A plain parabola through the 3 central
    samples is biased toward integers (pixel locking) by up to 0.15 ML pixel on multilooked speckle; this
    fit keeps the bias near 0.02 ML pixel (tests). Returns δ per row (NaN for rows with invalid samples).
    """
    c = np.asarray(samples, dtype=np.float64)
    deltas = np.linspace(-1.0, 1.0, 2 * resolution + 1)
    lags = np.arange(-2, 3, dtype=np.float64)
    model = ml_correlation_model(ml, bandwidth, lags[None, :] - deltas[:, None])
    model = model - model.mean(axis=1, keepdims=True)
    model /= np.linalg.norm(model, axis=1, keepdims=True)
    cc = c - c.mean(axis=1, keepdims=True)
    norm = np.linalg.norm(cc, axis=1, keepdims=True)
    ok = (norm[:, 0] > 0) & np.all(c > -1.5, axis=1)
    cc = cc / np.where(norm > 0, norm, 1.0)
    score = cc @ model.T
    i = np.argmax(score, axis=1)
    out = deltas[i].copy()
    inner = (i > 0) & (i < len(deltas) - 1)
    rows = np.flatnonzero(inner)
    sm, s0, sp = score[rows, i[rows] - 1], score[rows, i[rows]], score[rows, i[rows] + 1]
    den = sm - 2 * s0 + sp
    step = deltas[1] - deltas[0]
    out[rows] += np.where(den < 0, 0.5 * (sm - sp) / np.where(den < 0, den, -1.0), 0.0) * step
    out[~ok] = np.nan
    return out


def ncc_search_reference(master: np.ndarray, slave: np.ndarray, a0: int, a1: int, r0: int, r1: int,
                         offsets_a: np.ndarray, offsets_r: np.ndarray) -> np.ndarray:
    """Slow numpy NCC surface for one patch (tests): surface[i, j] for offsets (offsets_a[i], offsets_r[j])."""
    m = master[a0:a1, r0:r1].astype(np.float64)
    m = m - m.mean()
    out = np.empty((len(offsets_a), len(offsets_r)))
    for i, da in enumerate(offsets_a):
        for j, dr in enumerate(offsets_r):
            s = slave[a0 + da:a1 + da, r0 + dr:r1 + dr].astype(np.float64)
            s = s - s.mean()
            out[i, j] = (m * s).sum() / np.sqrt((m * m).sum() * (s * s).sum())
    return out


def _dft_matrix(n: int, taus: np.ndarray) -> np.ndarray:
    """E[p, k] = exp(j2π·f_k·τ_p) with f_k the signed FFT frequencies (cycles/sample) of length n."""
    f = np.fft.fftfreq(n)
    return np.exp(2j * np.pi * taus[:, None] * f[None, :])


def upsampled_peak(master_patch: np.ndarray, slave_patch: np.ndarray, upsample: int = 32,
                   extent: float = 1.5) -> tuple[float, float, float]:
    """Sub-pixel shift (d_a, d_r) with slave_patch(y + d) ≈ master_patch(y), |d| ≲ ``extent`` pixels.

    Cross-correlation c(τ) = Σ m(y)·s(y + τ) evaluated on a grid of step 1/upsample over [−extent, extent]²
    by matrix DFTs of conj(M)·S (Guizar-Sicairos, Thurman & Fienup 2008, Opt. Lett. 33(2):156), then a
    parabolic fit around the finest-grid maximum. Patches are mean-removed and tapered by a Hann window.
    Returns (d_a, d_r, peak value normalised by the patch energies).
    """
    m = master_patch.astype(np.float64)
    s = slave_patch.astype(np.float64)
    na, nr = m.shape
    wa = np.hanning(na + 2)[1:-1]
    wr = np.hanning(nr + 2)[1:-1]
    w = wa[:, None] * wr[None, :]
    m = (m - m.mean()) * w
    s = (s - s.mean()) * w
    cross = np.conj(np.fft.fft2(m)) * np.fft.fft2(s)
    taus = np.arange(-extent * upsample, extent * upsample + 1) / upsample
    ea = _dft_matrix(na, taus)
    er = _dft_matrix(nr, taus)
    c = (ea @ cross @ er.T).real / (na * nr)
    ia, ir = np.unravel_index(int(np.argmax(c)), c.shape)

    def vertex(cm: float, c0: float, cp: float) -> float:
        den = cm - 2.0 * c0 + cp
        return 0.0 if den >= 0.0 else 0.5 * (cm - cp) / den

    da = taus[ia]
    dr = taus[ir]
    if 0 < ia < len(taus) - 1:
        da += vertex(c[ia - 1, ir], c[ia, ir], c[ia + 1, ir]) / upsample
    if 0 < ir < len(taus) - 1:
        dr += vertex(c[ia, ir - 1], c[ia, ir], c[ia, ir + 1]) / upsample
    norm = math.sqrt(float((m * m).sum() * (s * s).sum()))
    return float(da), float(dr), float(c[ia, ir] / norm) if norm > 0 else 0.0


def parabolic_peak(surface: np.ndarray, ia: int, ir: int) -> tuple[float, float]:
    """Separable parabolic vertex offsets (≤ 0.5 px) around the integer maximum (ia, ir) of a surface."""
    def vertex(cm: float, c0: float, cp: float) -> float:
        den = cm - 2.0 * c0 + cp
        return 0.0 if den >= 0.0 else float(np.clip(0.5 * (cm - cp) / den, -0.5, 0.5))

    da = dr = 0.0
    if 0 < ia < surface.shape[0] - 1:
        da = vertex(surface[ia - 1, ir], surface[ia, ir], surface[ia + 1, ir])
    if 0 < ir < surface.shape[1] - 1:
        dr = vertex(surface[ia, ir - 1], surface[ia, ir], surface[ia, ir + 1])
    return da, dr
