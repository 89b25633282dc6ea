"""Deformation grids: correlation kernels vs numpy, sub-pixel accuracy on a synthetic pair with a known
smooth offset field, DEM grid binning, correction rules, grid offset, end-to-end fine grid."""

from __future__ import annotations

import numpy as np
import pytest

from diapsar.deformation_grid import (
    check_steps,
    correction_grid,
    correlation_grid,
    dem_grid,
    fine_deformation_grid,
    grid_offset,
    grid_shape,
    node_coordinates,
)
from diapsar.errors import ConfigError
from diapsar.kernels.correlation import (
    model_fit_peak,
    ncc_search,
    ncc_search_reference,
    parabolic_peak,
    upsampled_peak,
)
from diapsar.multilook import multilook

NA, NR = 400, 640
ML_R, ML_A = 4, 2
STEP = 40


def _field(seed: int = 0, noise: float = 0.0):
    """Spectrum and values of a periodic band-limited complex SLC (80 % bandwidth in both axes)."""
    rng = np.random.default_rng(seed)
    spec = rng.normal(size=(NA, NR)) + 1j * rng.normal(size=(NA, NR))
    fa = np.fft.fftfreq(NA)[:, None]
    fr = np.fft.fftfreq(NR)[None, :]
    spec *= (np.abs(fa) < 0.4) & (np.abs(fr) < 0.4)
    return spec, fa, fr


def _true_shift(line, col):
    """Known smooth shift field (SLC pixels): range, azimuth."""
    return (3.2 + 1.0 * np.sin(2 * np.pi * line / NA) + 0.002 * col,
            -1.4 + 0.003 * line + 0.8 * np.cos(2 * np.pi * col / NR))


@pytest.fixture(scope="module")
def pair():
    """Master(y) = field(y + d(y)) by order-5 spline interpolation, slave = field + noise (10 dB): the
    slave sees master pixel y at y + d(y)."""
    from scipy import ndimage

    spec, _, _ = _field(0)
    field = np.fft.ifft2(spec)
    field /= field.std()
    y, x = np.mgrid[0:NA, 0:NR].astype(float)
    dr, da = _true_shift(y, x)
    coords = [y + da, x + dr]
    master = (ndimage.map_coordinates(field.real, coords, order=5, mode="grid-wrap")
              + 1j * ndimage.map_coordinates(field.imag, coords, order=5, mode="grid-wrap"))
    rng = np.random.default_rng(9)
    slave = field + 0.3 * (rng.normal(size=field.shape) + 1j * rng.normal(size=field.shape)) / np.sqrt(2)
    return master.astype(np.complex64), slave.astype(np.complex64)


def test_steps_must_be_multiples_of_ml():
    check_steps(160, 160, 8, 2)
    with pytest.raises(ConfigError, match="GridStep_range=150.*range multilook factor 8"):
        check_steps(150, 160, 8, 2)
    with pytest.raises(ConfigError, match="GridStep_azimut=15"):
        check_steps(160, 15, 8, 2)
    with pytest.raises(ConfigError):
        correlation_grid(np.ones((10, 10)), np.ones((10, 10)), 3, 3, 10, 9)


def test_grid_shape_covers_image():
    assert grid_shape(400, 640, 40, 40) == (11, 17)
    assert grid_shape(401, 641, 40, 40) == (11, 17)
    assert grid_shape(402, 642, 40, 40) == (12, 18)
    lines, cols = node_coordinates((11, 17), 40, 40)
    assert lines[-1, 0] == 400 and cols[0, -1] == 640


def test_ncc_search_matches_numpy():
    rng = np.random.default_rng(1)
    m = rng.normal(size=(60, 70))
    s = np.roll(m, (2, -1), axis=(0, 1)) + 0.3 * rng.normal(size=(60, 70))
    ba, br, best, box, surf = ncc_search(m, s, np.array([30, 2]), np.array([35, 60]), np.array([1, 0]),
                                         np.array([0, 0]), 7, 7, 3, 3, 5)
    assert (ba[0], br[0]) == (2, -1) and best[0] > 0.9
    a0, a1, r0, r1 = box[0]
    ref = ncc_search_reference(m, s, a0, a1, r0, r1, np.arange(1 - 5, 1 + 6), np.arange(-5, 6))
    np.testing.assert_allclose(surf[0], ref, atol=1e-10)
    # node 1 sits on the edge: its patch is clipped but still searched
    # node 1 sits on the edge: its patch is clipped (rows ≥ 5 and columns < 65 keep every lag inside)
    assert tuple(box[1]) == (5, 10, 53, 65) and best[1] > -2


def test_fft_and_parabolic_helpers_on_band_limited_shift():
    spec, fa, fr = _field(2)
    img = np.fft.ifft2(spec).real
    shifted = np.fft.ifft2(spec * np.exp(-2j * np.pi * (fa * 0.37 + fr * -0.61))).real   # img(y − d)
    # slave(y + d) = master(y) with master = img, slave = shifted, d = (0.37, −0.61)
    da, dr, peak = upsampled_peak(img[100:164, 100:164], shifted[100:164, 100:164])
    assert abs(da - 0.37) < 0.03 and abs(dr + 0.61) < 0.03 and peak > 0.8
    surf = -((np.arange(3)[:, None] - 1.3) ** 2) - (np.arange(3)[None, :] - 0.8) ** 2
    assert parabolic_peak(surf, 1, 1) == pytest.approx((0.3, -0.2))


def test_model_fit_removes_pixel_locking():
    """Constant sub-pixel shifts of multilooked speckle: model fit bias < 0.03 ML px, parabola > 0.05."""
    spec, fa, fr = _field(3)
    slave_ml = multilook(np.fft.ifft2(spec).astype(np.complex64), ML_R, 1)
    errs_fit, errs_par = [], []
    for frac in (0.25, 0.375):
        master_ml = multilook(np.fft.ifft2(spec * np.exp(2j * np.pi * fr * frac * ML_R)).astype(np.complex64),
                              ML_R, 1)
        lines = []
        for a in range(40, 360, 40):
            for r in range(30, 130, 20):
                lines.append(ncc_search_reference(master_ml, slave_ml, a - 15, a + 16, r - 15, r + 16,
                                                  np.array([0]), np.arange(-2, 3))[0])
        lines = np.array(lines)
        errs_fit.append(np.mean(model_fit_peak(lines, ML_R)) - frac)
        errs_par.append(np.mean([parabolic_peak(ln[None, 1:4], 0, 1)[1] for ln in lines]) - frac)
    assert max(abs(e) for e in errs_fit) < 0.03, errs_fit
    assert max(abs(e) for e in errs_par) > 0.05, errs_par


def test_correlation_grid_recovers_smooth_offset_field(pair):
    master, slave = pair
    mm, sm = multilook(master, ML_R, ML_A), multilook(slave, ML_R, ML_A)
    grid = correlation_grid(mm, sm, ML_R, ML_A, STEP, STEP, slc_shape=(NA, NR))
    assert grid.shape == (3,) + grid_shape(NA, NR, STEP, STEP)
    lines, cols = node_coordinates(grid.shape[1:], STEP, STEP)
    # the measurement of node k is made on the ML cell starting at k·step: centre k·step + (ml − 1)/2
    tr, ta = _true_shift(lines + (ML_A - 1) / 2, cols + (ML_R - 1) / 2)
    valid = grid[2] > 0.3
    assert valid.mean() > 0.8
    err_r = (grid[0] - tr)[valid] / ML_R
    err_a = (grid[1] - ta)[valid] / ML_A
    rms_r, rms_a = np.sqrt(np.mean(err_r ** 2)), np.sqrt(np.mean(err_a ** 2))
    assert rms_r < 0.07 and rms_a < 0.07, (rms_r, rms_a)          # ML pixels, all nodes incl. edges
    inner = np.zeros_like(valid)
    inner[1:-1, 1:-1] = True
    ir = (grid[0] - tr)[valid & inner] / ML_R
    ia = (grid[1] - ta)[valid & inner] / ML_A
    assert np.sqrt(np.mean(ir ** 2)) < 0.05 and np.sqrt(np.mean(ia ** 2)) < 0.05
    assert abs(ir.mean()) < 0.02 and abs(ia.mean()) < 0.02


def test_dem_grid_bins_posts_to_nearest_node():
    rng = np.random.default_rng(4)
    lm = rng.uniform(-10, 130, 500)
    cm = rng.uniform(-10, 170, 500)
    ls = lm + 1.5 + rng.normal(0, 0.1, 500)
    cs = cm - 2.0 + rng.normal(0, 0.1, 500)
    lm[0] = np.nan
    g = dem_grid(lm, cm, ls, cs, (4, 5), 40, 40)
    ref = np.zeros((3, 4, 5))
    for a, c, la, ca in zip(lm, cm, ls, cs):
        if not np.isfinite(a):
            continue
        ka, kr = int(np.rint(a / 40)), int(np.rint(c / 40))
        if 0 <= ka < 4 and 0 <= kr < 5:
            ref[:, ka, kr] += (ca - c, la - a, 1)
    np.testing.assert_array_equal(g[2], ref[2])
    has = ref[2] > 0
    np.testing.assert_allclose(g[:2][:, has], ref[:2][:, has] / ref[2][has], atol=1e-12)
    assert np.isnan(g[0][~has]).all()


def test_correction_grid_rules():
    rng = np.random.default_rng(5)
    shape = (6, 7)
    truth = np.stack([np.linspace(1, 3, 42).reshape(shape), np.linspace(-2, -1, 42).reshape(shape)])
    dem = np.concatenate([truth + np.array([0.8, -0.5])[:, None, None], np.full((1,) + shape, 12.0)])
    dem[0, 2, 3] += 25.0                                 # one incoherent DEM node
    dem[2, 0, 0] = 0                                     # no DEM post at node (0, 0)
    corr = np.concatenate([truth + rng.normal(0, 0.01, (2,) + shape), rng.uniform(0.5, 0.9, (1,) + shape)])
    corr[2, 4:, :] = 0.1                                 # unreliable rows
    corr[:2, 4:, :] = 40.0
    out = correction_grid(corr, dem, threshold=0.3, gap=1000.0, advantage="correlation")
    valid = (corr[2] > 0.3) & (dem[2] > 0)
    np.testing.assert_array_equal(out[:, valid], corr[:2, valid])
    # invalid nodes: DEM + mean(corr − DEM) over valid nodes (node (0, 0) has no DEM post: DEM mean)
    d = dem[:2].copy()
    has = dem[2] > 0
    d[:, ~has] = d[:, has].mean(axis=1)[:, None]
    corr_mean = (corr[:2, valid] - d[:, valid]).mean(axis=1)
    np.testing.assert_allclose(out[:, ~valid], (d + corr_mean[:, None, None])[:, ~valid], atol=1e-12)
    # without the incoherent node the fill reproduces the truth (bias of the DEM removed)
    dem_clean = dem.copy()
    dem_clean[0, 2, 3] -= 25.0
    out_clean = correction_grid(corr, dem_clean, 0.3, 1000.0, "correlation")
    np.testing.assert_allclose(out_clean[:, 4:, :], truth[:, 4:, :], atol=0.02)
    # DEM advantage: DEM shape + mean correction everywhere (the outlier kept while gap is off) ...
    out_dem = correction_grid(corr, dem, 0.3, 1000.0, "dem")
    np.testing.assert_allclose(out_dem[:, ~valid], out[:, ~valid], atol=1e-12)
    assert out_dem[0, 2, 3] > 20
    # ... and replaced by the DEM mean with a gap of 2 pixels (the legitimate spread is 2 pixels)
    out_gap = correction_grid(corr, dem, 0.3, 2.0, "dem")
    assert abs(out_gap[0, 2, 3] - truth[0].mean()) < 0.1
    np.testing.assert_allclose(out_gap[:, 4:, :], truth[:, 4:, :], atol=0.05)
    with pytest.raises(ConfigError, match="advantage"):
        correction_grid(corr, dem, advantage="best")


def test_grid_offset():
    g = np.zeros((2, 3, 4))
    out = grid_offset(g, 0.25, -1.5)
    assert np.all(out[0] == 0.25) and np.all(out[1] == -1.5) and np.all(g == 0)


def test_fine_grid_from_dem_prediction_and_correlation(pair):
    master, slave = pair
    mm, sm = multilook(master, ML_R, ML_A), multilook(slave, ML_R, ML_A)
    shape = grid_shape(NA, NR, STEP, STEP)
    lines, cols = node_coordinates(shape, STEP, STEP)
    tr, ta = _true_shift(lines + (ML_A - 1) / 2, cols + (ML_R - 1) / 2)
    # DEM-predicted shifts: right shape, biased by an orbit error of (2.6, −1.7) SLC pixels
    dem = np.stack([tr + 2.6, ta - 1.7, np.full(shape, 30.0)])
    fine = fine_deformation_grid(mm, sm, dem, ML_R, ML_A, STEP, STEP, slc_shape=(NA, NR), gap=1000.0,
                                 advantage="dem")
    assert fine.shape == (2,) + shape
    # DEM shape + mean correction: every node right to a few hundredths of an SLC pixel
    assert np.max(np.abs(fine[0] - tr)) < 0.1 and np.max(np.abs(fine[1] - ta)) < 0.05


def test_correlation_grid_on_strips_equals_whole(pair):
    from diapsar.deformation_grid import correlation_lines_needed

    master, slave = pair
    mm, sm = multilook(master, ML_R, ML_A), multilook(slave, ML_R, ML_A)
    guess = np.full(grid_shape(NA, NR, STEP, STEP), -2.0)
    whole = correlation_grid(mm, sm, ML_R, ML_A, STEP, STEP, slc_shape=(NA, NR), guess_azimuth=guess)
    parts = []
    for k0 in range(0, whole.shape[1], 4):
        k1 = min(whole.shape[1], k0 + 4)
        (m0, m1), (s0, s1) = correlation_lines_needed((k0, k1), ML_A, STEP, mm.shape[0], sm.shape[0],
                                                      guess_azimuth=guess)
        parts.append(correlation_grid(mm[m0:m1], sm[s0:s1], ML_R, ML_A, STEP, STEP, slc_shape=(NA, NR),
                                      guess_azimuth=guess, node_rows=(k0, k1), master_line0=m0,
                                      slave_line0=s0))
    np.testing.assert_allclose(np.concatenate(parts, axis=1), whole, atol=1e-6)


def test_refine_by_residual_shift_corrects_only_significant_shifts():
    from diapsar.deformation_grid import refine_by_residual_shift

    dem = np.zeros((2, 3, 4))
    measured = []

    def measure(grid):  # the slave really sits 0.3 px further in range than the DEM grid says
        measured.append(grid.copy())
        return {"patches": 50, "shift_range_px": 0.3 - grid[0, 0, 0], "shift_azimuth_px": 0.01,
                "std_error_range_px": 0.01, "std_error_azimuth_px": 0.01, "coherence_peak": 0.9}

    fine, res = refine_by_residual_shift(dem, measure)
    np.testing.assert_allclose(fine[0], 0.3)
    np.testing.assert_allclose(fine[1], 0.0)  # 0.01 px is 1 standard error: not significant
    assert res["total_range_px"] == pytest.approx(0.3) and res["total_azimuth_px"] == 0.0
    assert len(measured) == 2 and np.all(dem == 0)  # the DEM grid itself is not modified


def test_residual_shift_weights_coherent_patches_and_needs_three():
    from diapsar.deformation_grid import residual_shift

    rows = np.array([[0.1, 0.2, 0.9], [0.1, 0.2, 0.8], [0.1, 0.2, 0.95], [5.0, 5.0, 0.1]])
    r = residual_shift(rows, threshold=0.3)
    assert r["patches"] == 3 and r["shift_range_px"] == pytest.approx(0.2) and r["shift_azimuth_px"] == pytest.approx(0.1)
    assert residual_shift(rows[:2], threshold=0.3)["coherence_peak"] is None
