"""SARInterferogram / SARCompensatedComplex vs numpy and signals with a known coherence and phase."""

from __future__ import annotations

import numpy as np
import pytest

from diapsar.interferogram import compensated_complex, interferogram, strip_lines, upsample_ml_phase


def _cgauss(rng, shape):
    return (rng.normal(size=shape) + 1j * rng.normal(size=shape)) / np.sqrt(2)


def _reference(m, s, ph, mlr, mla, mr, ma, gain, frac=0.5):
    """Plain numpy SARInterferogram (whole image)."""
    na, nr = m.shape[0] // mla, m.shape[1] // mlr
    out = np.zeros((4, na, nr))
    for i in range(na):
        for j in range(nr):
            a0, a1 = max(0, i * mla - ma), min(m.shape[0], (i + 1) * mla + ma)
            c0, c1 = max(0, j * mlr - mr), min(m.shape[1], (j + 1) * mlr + mr)
            mw, sw = m[a0:a1, c0:c1].astype(complex), s[a0:a1, c0:c1].astype(complex)
            pw = np.zeros(mw.shape) if ph is None else ph[a0:a1, c0:c1]
            ok = (mw != 0) & (sw != 0) & np.isfinite(pw)
            if ok.sum() < frac * ok.size or not ok.any():
                continue
            prod = (mw * np.conj(sw) * np.exp(-1j * np.where(ok, pw, 0)))[ok]
            pm, ps = (np.abs(mw[ok]) ** 2).sum(), (np.abs(sw[ok]) ** 2).sum()
            out[:, i, j] = (gain * np.sqrt(np.sqrt(pm * ps) / ok.sum()), np.angle(prod.sum()),
                            abs(prod.sum()) / np.sqrt(pm * ps), 1)
    return out


def test_matches_numpy_reference_with_invalid_pixels():
    rng = np.random.default_rng(0)
    m = _cgauss(rng, (29, 43)).astype(np.complex64)
    s = (0.7 * m + 0.5 * _cgauss(rng, m.shape)).astype(np.complex64)
    ph = rng.uniform(-3, 3, m.shape).astype(np.float32)
    s[:6, :12] = 0                                     # no slave data there
    ph[20, 5:9] = np.nan
    got = interferogram(m, s, ph, ml_range=4, ml_azimuth=3, margin_range=1, margin_azimuth=2, gain=0.1)
    ref = _reference(m, s, ph, 4, 3, 1, 2, 0.1)
    assert got.shape == (4, 9, 10) and got.dtype == np.float32
    np.testing.assert_allclose(got, ref, atol=2e-5)
    assert got[3, 0, 0] == 0 and got[3].sum() < got[3].size


def test_coherence_of_correlated_gaussian_signals():
    rng = np.random.default_rng(1)
    for gamma in (0.3, 0.6, 0.9):
        a, b = _cgauss(rng, (200, 400)), _cgauss(rng, (200, 400))
        m = a.astype(np.complex64)
        s = (gamma * a + np.sqrt(1 - gamma ** 2) * b).astype(np.complex64)
        bands = interferogram(m, s, None, 10, 10, 0, 0, gain=1.0)
        # 100 looks: estimator bias and spread are a few hundredths (Touzi et al. 1999)
        assert abs(np.mean(bands[2]) - gamma) < 0.03, (gamma, np.mean(bands[2]))
        assert abs(np.angle(np.mean(np.exp(1j * bands[1])))) < 0.05
        assert np.mean(bands[0]) == pytest.approx(1.0, abs=0.05)      # unit-power signals, gain 1


def test_phase_sign_of_a_known_ramp_and_topographic_compensation():
    rng = np.random.default_rng(2)
    m = np.exp(1j * rng.uniform(-np.pi, np.pi, (64, 128))).astype(np.complex64)   # unit modulus
    y, x = np.mgrid[0:64, 0:128]
    psi = 2 * np.pi * (0.011 * x + 0.004 * y)            # slow ramp, rad
    s = (m * np.exp(-1j * psi)).astype(np.complex64)     # so that arg(M·conj(S)) = +ψ
    bands = interferogram(m, s, None, 4, 2, 0, 0)
    # the window mean of a linear ramp is its value at the ML cell centre (4j + 1.5, 2i + 0.5)
    cols = np.arange(32) * 4 + 1.5
    lines = np.arange(32) * 2 + 0.5
    centre = 2 * np.pi * (0.011 * cols[None, :] + 0.004 * lines[:, None])
    err = np.angle(np.exp(1j * (bands[1] - centre)))
    assert np.max(np.abs(err)) < 1e-3
    assert np.all(bands[2] > 0.99)
    flat = interferogram(m, s, psi.astype(np.float32), 4, 2, 1, 1)   # φ_topo = ψ removes the ramp
    assert np.max(np.abs(flat[1])) < 1e-4 and np.all(flat[2] > 0.999)
    assert np.all(flat[1] > -np.pi) and np.all(flat[1] <= np.pi)


def test_strips_equal_whole_image_and_valid_ml():
    rng = np.random.default_rng(3)
    m = _cgauss(rng, (50, 40)).astype(np.complex64)
    s = (0.8 * m + 0.3 * _cgauss(rng, m.shape)).astype(np.complex64)
    ph = rng.uniform(-1, 1, m.shape).astype(np.float32)
    whole, cplx = interferogram(m, s, ph, 5, 3, 2, 2, return_complex=True)
    assert cplx.shape == whole.shape[1:]
    np.testing.assert_allclose(np.angle(cplx), whole[1], atol=1e-5)
    parts = []
    for r0 in range(0, 16, 5):
        r1 = min(16, r0 + 5)
        l0, l1 = strip_lines(r0, r1, 3, 2, 50)
        parts.append(interferogram(m[l0:l1], s[l0:l1], ph[l0:l1], 5, 3, 2, 2, line0=l0, n_lines=50,
                                   ml_rows=(r0, r1)))
    np.testing.assert_allclose(np.concatenate(parts, axis=1), whole, atol=1e-6)
    with pytest.raises(ValueError, match="need SLC lines"):
        interferogram(m[10:20], s[10:20], None, 5, 3, 2, 2, line0=10, n_lines=50, ml_rows=(3, 6))
    mask = np.ones(whole.shape[1:], bool)
    mask[4, 3] = False
    masked = interferogram(m, s, ph, 5, 3, 2, 2, valid_ml=mask)
    assert np.all(masked[:, 4, 3] == 0) and masked[3].sum() == mask.sum()


def test_compensated_complex_and_ml_phase_upsampling():
    rng = np.random.default_rng(4)
    m = _cgauss(rng, (6, 8)).astype(np.complex64)
    s = _cgauss(rng, (6, 8)).astype(np.complex64)
    ph = rng.uniform(-3, 3, (6, 8))
    ph[0, 0] = np.nan
    c = compensated_complex(m, s, ph)
    np.testing.assert_allclose(c[1:], (m * np.conj(s) * np.exp(-1j * ph))[1:], rtol=1e-5, atol=1e-6)
    assert c[0, 0] == 0
    # ML-grid phase (odd factors put the ML centres on pixels): exact at the centres, linear between,
    # held beyond the outer centres
    phase_ml = rng.uniform(-1, 1, (5, 6))
    full = upsample_ml_phase(phase_ml, 5, 3, 15, 30)
    np.testing.assert_allclose(full[1::3, 2::5], phase_ml, atol=1e-6)
    for k in range(1, 5):
        np.testing.assert_allclose(full[1::3, 2 + k:27:5],
                                   phase_ml[:, :-1] + k / 5 * np.diff(phase_ml, axis=1), atol=1e-6)
    np.testing.assert_allclose(full[0], full[1], atol=1e-7)
    np.testing.assert_allclose(full[:, 0], full[:, 2], atol=1e-7)
    strip = upsample_ml_phase(phase_ml, 5, 3, 4, 30, line0=3)
    np.testing.assert_allclose(strip, full[3:7], atol=1e-6)
    wrapped = upsample_ml_phase(np.array([[np.pi - 0.1, -np.pi + 0.1]]), 2, 1, 1, 4, wrapped=True)
    assert np.all(np.abs(wrapped) > np.pi - 0.11)        # interpolates across ±π, not through 0


def test_chain_of_applications_on_a_synthetic_pair():
    """multilook → correlation grid → correction grid → coregistration → interferogram on a pair with a
    known smooth offset field: coherence close to the noise limit, far above the unregistered case."""
    from scipy import ndimage

    from diapsar.coregistration import coregister
    from diapsar.deformation_grid import correction_grid, correlation_grid, grid_shape
    from diapsar.multilook import multilook

    na, nr, ml_r, ml_a, step = 256, 384, 4, 2, 32
    rng = np.random.default_rng(7)
    spec = rng.normal(size=(na, nr)) + 1j * rng.normal(size=(na, nr))
    spec *= (np.abs(np.fft.fftfreq(na))[:, None] < 0.4) & (np.abs(np.fft.fftfreq(nr))[None, :] < 0.4)
    field = np.fft.ifft2(spec)
    field /= field.std()
    y, x = np.mgrid[0:na, 0:nr].astype(float)
    d_r, d_a = 2.4 + 0.004 * y + 0.002 * x, -1.7 + 0.003 * x
    coords = [y + d_a, x + d_r]
    master = (ndimage.map_coordinates(field.real, coords, order=5, mode="grid-wrap")
              + 1j * ndimage.map_coordinates(field.imag, coords, order=5, mode="grid-wrap")).astype(np.complex64)
    noise = 0.3 * (rng.normal(size=(na, nr)) + 1j * rng.normal(size=(na, nr))) / np.sqrt(2)
    slave = (field + noise).astype(np.complex64)
    corr = correlation_grid(multilook(master, ml_r, ml_a), multilook(slave, ml_r, ml_a), ml_r, ml_a, step, step)
    shape = grid_shape(na, nr, step, step)
    no_dem = np.zeros((3,) + shape)
    no_dem[2] = 1                                       # a flat "DEM grid": fills rejected nodes with the mean
    grid = correction_grid(corr, no_dem, threshold=0.3, gap=1000.0, advantage="correlation")
    coreg = coregister(slave, grid, step, step, (na, nr))
    good = interferogram(master, coreg, None, ml_r, ml_a, 1, 1)
    bad = interferogram(master, slave, None, ml_r, ml_a, 1, 1)
    inner = (slice(8, -8), slice(8, -8))
    limit = 1 / (1 + 0.3 ** 2)                           # coherence of the additive noise alone
    assert np.mean(good[2][inner]) > limit - 0.06, np.mean(good[2][inner])
    assert np.mean(bad[2][inner]) < 0.3


def test_ml_topographic_phase_inside_the_cell_sums_equals_the_upsampled_phase():
    """interferogram(topo_phase_ml=...) (the ML phase upsampled row by row inside the kernel, as the chain passes
    it) gives the same bits as the full-resolution phase of ``upsample_phase``, NaN cells included."""
    from diapsar.topographic_phase import ml_rows_for_lines, upsample_phase

    rng = np.random.default_rng(3)
    n_lines, n_cols, ml_azi, ml_ran, rows_ml = 60, 400, 2, 8, 50
    phi_ml = np.cumsum(rng.standard_normal((rows_ml, n_cols // ml_ran)), axis=1) * 0.3 + 50.0
    phi_ml[10:12, 5:9] = np.nan
    m = (rng.standard_normal((n_lines, n_cols)) + 1j * rng.standard_normal((n_lines, n_cols))).astype(np.complex64)
    s = (rng.standard_normal((n_lines, n_cols)) + 1j * rng.standard_normal((n_lines, n_cols))).astype(np.complex64)
    m[:, :3] = 0
    for line0 in (0, 17):
        r0, r1 = ml_rows_for_lines(line0, line0 + n_lines, ml_azi, rows_ml)
        full = upsample_phase(phi_ml[r0:r1], r0, line0, n_lines, n_cols, ml_azi, ml_ran)
        kw = dict(line0=line0, n_lines=rows_ml * ml_azi, ml_rows=(-(-(line0 + 1) // 2), (line0 + n_lines - 1) // 2))
        a = interferogram(m, s, full, ml_ran, ml_azi, 1, 1, 0.1, **kw)
        b = interferogram(m, s, None, ml_ran, ml_azi, 1, 1, 0.1, topo_phase_ml=(phi_ml[r0:r1], r0), **kw)
        assert np.array_equal(a, b, equal_nan=True)
        assert (a[3] == 0).any() and (a[3] == 1).any()
