"""SARCoRegistration: sinc LUT, grid densification and resampling vs numpy and exact band-limited shifts."""

from __future__ import annotations

import numpy as np
import pytest

from diapsar.coregistration import coregister, coregister_block, dense_shifts, slave_lines_needed
from diapsar.kernels.sinc import sinc_lut


def test_lut_rows_are_normalised_and_interpolating():
    lut = sinc_lut(8, 2048)
    assert lut.shape == (2049, 8)
    np.testing.assert_allclose(lut.sum(axis=1), 1.0, atol=1e-6)
    # fraction 0 → the tap of floor(x) (index n/2 − 1) is 1; fraction 1 → the next tap
    np.testing.assert_allclose(lut[0], np.eye(8)[3], atol=1e-7)
    np.testing.assert_allclose(lut[-1], np.eye(8)[4], atol=1e-7)
    with pytest.raises(ValueError):
        sinc_lut(7)


def _bilinear_reference(grid, step_r, step_a, rows, n_cols):
    def axis(u, n):
        k = np.clip(np.floor(u).astype(int), 0, max(n - 2, 0))
        return k, u - k
    out = []
    for band in grid:
        res = np.empty((len(rows), n_cols))
        for i, r in enumerate(rows):
            ka, ta = axis(np.array(r / step_a), band.shape[0])
            row = (1 - ta) * band[ka] + ta * band[ka + 1]
            kr, tr = axis(np.arange(n_cols) / step_r, band.shape[1])
            res[i] = (1 - tr) * row[kr] + tr * row[kr + 1]
        out.append(res)
    return out


def test_dense_shift_matches_numpy_including_extrapolation():
    rng = np.random.default_rng(0)
    grid = rng.normal(size=(2, 4, 5))
    dr, da = dense_shifts(grid, 10, 7, 3, 30, 47)     # rows 3..29 run beyond the last node (21)
    ref_r, ref_a = _bilinear_reference(grid, 10, 7, range(3, 30), 47)
    np.testing.assert_allclose(dr, ref_r, atol=1e-12)
    np.testing.assert_allclose(da, ref_a, atol=1e-12)
    # at the nodes the grid values are returned exactly
    np.testing.assert_allclose(dense_shifts(grid, 10, 7, 14, 15, 41)[0][0, ::10], grid[0, 2], atol=1e-12)


def _resample_reference(slave, grid, step_r, step_a, shape, dop, carrier, lut):
    """Pixel-by-pixel numpy version of the resampler (same LUT and conventions): demodulate by
    exp(−j2π(f_c·(k − k_ref) + f_r·c)), interpolate, remodulate by exp(j2π(f·(x_a − k_ref) + f_r·x_r))."""
    n_ph = lut.shape[0] - 1
    n = lut.shape[1]
    k_ref = slave.shape[0] // 2
    kk, cc = np.meshgrid(np.arange(slave.shape[0]), np.arange(slave.shape[1]), indexing="ij")
    demod = slave * np.exp(-2j * np.pi * (dop[None, :] * (kk - k_ref) + carrier * cc))
    dr, da = _bilinear_reference(grid, step_r, step_a, range(shape[0]), shape[1])
    out = np.zeros(shape, np.complex128)
    for i in range(shape[0]):
        for c in range(shape[1]):
            xa, xr = i + da[i, c], c + dr[i, c]
            if not (0 <= xa <= slave.shape[0] - 1 and 0 <= xr <= slave.shape[1] - 1):
                continue
            ia, ir = int(np.floor(xa)), int(np.floor(xr))
            ka = ia - n // 2 + 1 + np.arange(n)
            kr = ir - n // 2 + 1 + np.arange(n)
            wa = lut[int((xa - ia) * n_ph + 0.5)]
            wr = lut[int((xr - ir) * n_ph + 0.5)]
            for t in range(n):
                if 0 <= ka[t] < slave.shape[0]:
                    ok = (kr >= 0) & (kr < slave.shape[1])
                    out[i, c] += wa[t] * np.sum(wr[ok] * demod[ka[t], kr[ok]])
            f = dop[min(max(int(xr + 0.5), 0), slave.shape[1] - 1)]
            out[i, c] *= np.exp(2j * np.pi * (f * (xa - k_ref) + carrier * xr))
    return out


def test_resampler_matches_numpy_reference():
    rng = np.random.default_rng(1)
    slave = (rng.normal(size=(30, 26)) + 1j * rng.normal(size=(30, 26))).astype(np.complex64)
    grid = np.stack([rng.uniform(-2, 2, size=(3, 3)), rng.uniform(-2, 2, size=(3, 3))])
    dop = np.linspace(-0.2, -0.1, 26)
    got = coregister(slave, grid, 12, 14, (28, 24), doppler_cycles=dop, range_carrier=0.1)
    ref = _resample_reference(slave, grid, 12, 14, (28, 24), dop, 0.1, sinc_lut(8, 2048))
    np.testing.assert_allclose(got, ref, atol=2e-5 * np.abs(ref).max())
    assert np.count_nonzero(got == 0) > 0          # positions falling outside the slave are zero


def _bandlimited(n_a, n_r, b_a, b_r, seed):
    """Spectrum (n_a × n_r) of a random complex signal limited to |f_a| < b_a/2, |f_r| < b_r/2."""
    rng = np.random.default_rng(seed)
    spec = rng.normal(size=(n_a, n_r)) + 1j * rng.normal(size=(n_a, n_r))
    fa = np.fft.fftfreq(n_a)[:, None]
    fr = np.fft.fftfreq(n_r)[None, :]
    return spec * ((np.abs(fa) < b_a / 2) & (np.abs(fr) < b_r / 2))


def _evaluate(spec, ya, xr, f_offset_a=0.0):
    """Exact value of the periodic band-limited signal at real positions (Fourier series)."""
    n_a, n_r = spec.shape
    fa = np.fft.fftfreq(n_a) + f_offset_a
    fr = np.fft.fftfreq(n_r)
    a = np.exp(2j * np.pi * ya.reshape(-1, 1) * fa[None, :])
    b = np.exp(2j * np.pi * xr.reshape(-1, 1) * fr[None, :])
    return (np.sum((a @ spec) * b, axis=1) / (n_a * n_r)).reshape(ya.shape)


def _smooth_grid(n_a, n_r, step):
    """Grid of an affine shift field (bilinear interpolation reproduces it exactly)."""
    ka, kr = np.meshgrid(np.arange(n_a // step + 2) * step, np.arange(n_r // step + 2) * step, indexing="ij")
    return np.stack([0.37 + 0.004 * ka - 0.006 * kr, -1.21 + 0.008 * kr + 0.003 * ka])


def _errors(got, exact, margin=8):
    inner = (slice(margin, -margin), slice(margin, -margin))
    g, e = got[inner], exact[inner]
    rel = np.sqrt(np.mean(np.abs(g - e) ** 2) / np.mean(np.abs(e) ** 2))
    # phase error weighted by the signal power (speckle nulls carry no phase)
    phase = np.angle(g * np.conj(e))
    w = np.abs(e) ** 2
    return rel, np.degrees(np.sqrt(np.sum(w * phase ** 2) / np.sum(w)))


def test_subpixel_shift_against_exact_fourier_shift():
    n = 64
    spec = _bandlimited(n, n, 0.7, 0.7, seed=2)
    slave = np.fft.ifft2(spec).astype(np.complex64)
    grid = _smooth_grid(n, n, 16)
    got = coregister(slave, grid, 16, 16, (n, n))
    dr, da = dense_shifts(grid, 16, 16, 0, n, n)
    ia, ir = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    exact = _evaluate(spec, ia + da, ir + dr)
    rel, phase_deg = _errors(got, exact)
    assert rel < 0.02 and phase_deg < 1.0, (rel, phase_deg)


def test_nonzero_doppler_spectrum_is_preserved():
    n = 64
    f_dc = 22 / 64                                     # spectrum occupies [0, 0.69] cycles/line
    spec = _bandlimited(n, n, 0.7, 0.7, seed=3)
    ia, ir = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    slave = _evaluate(spec, ia.astype(float), ir.astype(float), f_offset_a=f_dc).astype(np.complex64)
    grid = _smooth_grid(n, n, 16)
    dr, da = dense_shifts(grid, 16, 16, 0, n, n)
    exact = _evaluate(spec, ia + da, ir + dr, f_offset_a=f_dc)
    rel_dop, ph_dop = _errors(coregister(slave, grid, 16, 16, (n, n), doppler_cycles=f_dc), exact)
    rel_base, ph_base = _errors(coregister(slave, grid, 16, 16, (n, n), doppler_cycles=0.0), exact)
    assert rel_dop < 0.02 and ph_dop < 1.0, (rel_dop, ph_dop)
    assert rel_base > 5 * rel_dop                        # a baseband kernel would damage this signal


def test_per_column_doppler_azimuth_shift():
    n_a, n_r = 64, 24
    rng = np.random.default_rng(4)
    f_dc = np.linspace(-0.3, 0.3, n_r)
    fa = np.fft.fftfreq(n_a)
    band = (np.abs(fa) < 0.35)[:, None] * (rng.normal(size=(n_a, n_r)) + 1j * rng.normal(size=(n_a, n_r)))
    grid = np.zeros((2, 2, 2))
    grid[1] = 0.43                                       # constant azimuth shift, no range shift
    y = np.arange(n_a, dtype=float)

    def column(c, pos):
        return np.exp(2j * np.pi * np.outer(pos, fa + f_dc[c])) @ band[:, c] / n_a

    slave = np.stack([column(c, y) for c in range(n_r)], axis=1).astype(np.complex64)
    exact = np.stack([column(c, y + 0.43) for c in range(n_r)], axis=1)
    got = coregister(slave, grid, 100, 100, (n_a, n_r), doppler_cycles=f_dc)
    rows = slice(8, -8)
    rel = np.sqrt(np.mean(np.abs(got[rows] - exact[rows]) ** 2) / np.mean(np.abs(exact[rows]) ** 2))
    assert rel < 0.02, rel


def test_blocks_with_needed_strips_equal_whole_image():
    rng = np.random.default_rng(5)
    slave = (rng.normal(size=(90, 40)) + 1j * rng.normal(size=(90, 40))).astype(np.complex64)
    grid = np.stack([rng.uniform(-1, 1, (5, 3)), rng.uniform(-3, 3, (5, 3))])
    whole = coregister(slave, grid, 20, 20, (85, 40), doppler_cycles=0.1)
    parts = []
    for r0 in range(0, 85, 23):
        r1 = min(85, r0 + 23)
        l0, l1 = slave_lines_needed(grid, 20, 20, r0, r1, 40, 90)
        parts.append(coregister_block(slave[l0:l1], l0, 90, grid, 20, 20, r0, r1, 40, doppler_cycles=0.1))
    # demodulation is relative to each strip's middle line: equal up to float32 rounding
    np.testing.assert_allclose(np.vstack(parts), whole, atol=2e-5 * np.abs(whole).max())
    l0, l1 = slave_lines_needed(grid, 20, 20, 40, 60, 40, 90)
    with pytest.raises(ValueError, match="need"):
        coregister_block(slave[l0 + 2:l1], l0 + 2, 90, grid, 20, 20, 40, 60, 40)


def test_range_varying_doppler_with_2d_shifts():
    """Doppler centroid varying with range (0.3 → 0.313 cycles/line over 64 columns, steeper than
    Sentinel-1) with sub-pixel shifts in both axes: same accuracy as the constant-Doppler case."""
    n = 64
    spec = _bandlimited(n, n, 0.6, 0.7, seed=6)
    f0, slope = 0.3, 2e-4

    def signal(ya, xr):
        return _evaluate(spec, ya, xr) * np.exp(2j * np.pi * (f0 + slope * xr) * ya)

    ia, ir = np.meshgrid(np.arange(n, dtype=float), np.arange(n, dtype=float), indexing="ij")
    slave = signal(ia, ir).astype(np.complex64)
    grid = _smooth_grid(n, n, 16)
    dr, da = dense_shifts(grid, 16, 16, 0, n, n)
    exact = signal(ia + da, ir + dr)
    got = coregister(slave, grid, 16, 16, (n, n), doppler_cycles=f0 + slope * np.arange(n))
    rel, phase_deg = _errors(got, exact)
    assert rel < 0.02 and phase_deg < 1.0, (rel, phase_deg)
    # the per-column demodulation costs little next to the interpolation error itself
    rel_const, _ = _errors(coregister(slave, grid, 16, 16, (n, n), doppler_cycles=f0), exact)
    assert rel < 1.5 * rel_const, (rel, rel_const)


def test_fast_complex_exponential_matches_numpy():
    from diapsar.kernels.trig import cexp, cexp_small

    small = np.linspace(-np.pi, np.pi, 2001)
    large = np.linspace(-5000.0, 5000.0, 2001)
    got_small = np.array([complex(*cexp_small(t)) for t in small])
    got_large = np.array([complex(*cexp(t)) for t in large])
    assert np.max(np.abs(got_small - np.exp(1j * small))) < 2e-6
    assert np.max(np.abs(got_large - np.exp(1j * large))) < 2e-6


def test_separable_kernel_on_a_sentinel1_like_grid_and_the_guard():
    """On a grid whose azimuth shift changes by 1e-6 line per column (Sentinel-1 pairs) the separable kernel
    (used by ``coregister_block``) is as exact as the 2-D kernel against a band-limited signal shifted exactly
    (Doppler-centred spectrum); the two differ at the level of the table step only. A grid with steep
    gradients is given the 2-D kernel (``separable_error_lines``)."""
    from diapsar.coregistration import SEPARABLE_MAX_LINES, coregister_block, separable_error_lines
    from diapsar.kernels.sinc import resample_grid_sinc

    n_a, n_r, step = 64, 128, 16
    f_dc = 22 / 64
    spec = _bandlimited(n_a, n_r, 0.7, 0.7, seed=12)
    ia, ir = np.meshgrid(np.arange(n_a), np.arange(n_r), indexing="ij")
    slave = _evaluate(spec, ia.astype(float), ir.astype(float), f_offset_a=f_dc).astype(np.complex64)
    ka, kr = np.meshgrid(np.arange(n_a // step + 2) * step, np.arange(n_r // step + 2) * step, indexing="ij")
    grid = np.stack([0.37 + 2e-4 * kr + 1e-4 * ka, -1.21 + 1e-6 * kr + 3e-3 * ka])
    assert separable_error_lines(grid, step) < SEPARABLE_MAX_LINES
    dr, da = dense_shifts(grid, step, step, 0, n_a, n_r)
    exact = _evaluate(spec, ia + da, ir + dr, f_offset_a=f_dc)
    lut = sinc_lut(8, 2048)
    dop = np.full(n_r, f_dc)
    got = coregister_block(slave, 0, n_a, grid, step, step, 0, n_a, n_r, doppler_cycles=f_dc)
    full = resample_grid_sinc(slave, 0, n_a, 0, n_a, n_r, grid, float(step), float(step), lut, dop, True, 0.0)
    rel_rows, ph_rows = _errors(got, exact)
    rel_full, ph_full = _errors(full, exact)
    diff = np.sqrt(np.mean(np.abs(got - full)[8:-8, 8:-8] ** 2) / np.mean(np.abs(full)[8:-8, 8:-8] ** 2))
    print(f"separable: {rel_rows:.2e} rel, {ph_rows:.4f} deg; 2-D: {rel_full:.2e}, {ph_full:.4f} deg; "
          f"between them {diff:.2e}")
    assert rel_rows < 0.02 and ph_rows < 1.0
    assert rel_rows <= 1.02 * rel_full + 1e-5 and diff < 1e-3
    steep = grid.copy()
    steep[1] += 0.01 * kr
    assert separable_error_lines(steep, step) > SEPARABLE_MAX_LINES
    np.testing.assert_array_equal(coregister_block(slave, 0, n_a, steep, step, step, 0, n_a, n_r, dop, 0.0),
                                  resample_grid_sinc(slave, 0, n_a, 0, n_a, n_r, steep, float(step), float(step),
                                                     lut, dop, True, 0.0))
