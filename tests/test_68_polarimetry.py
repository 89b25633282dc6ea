"""Dual-pol H/A/alpha (diapsar.polarimetry) and ``diapsar backscatter --decomposition h-a-alpha``.

Analytic cases: a pure single scatterer (rank-1 C2: H = 0, A = 1, alpha = atan|S_cross/S_co|), a fully
random target (C2 proportional to the identity: H = 1, A = 0, alpha = 45 deg), diagonal C2 (alpha = p2 x 90),
and C2 built from chosen eigenvalues and eigenvectors. The command runs on a dual-pol (VV+VH) 2-burst crop
of the real S1B IW1 annotations whose pixels are real Terceira DN (VV) and twice them (VH).
"""

from __future__ import annotations

import glob
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import rasterio

from diapsar import polarimetry as P

S1B = "format_coverage/S1B_IW_SLC__1SDV_20210401T052622_20210401T052650_026269_032297_EFA4.SAFE"
S1A_1SDH = "format_coverage/S1A_IW_SLC__1SDH_20220414T102209_20220414T102236_042768_051AA4_E677.SAFE"
GRD = "rome_iw_grd_metadata/S1B_IW_GRDH_1SDV_20211223T051122_20211223T051147_030148_039993_5371.SAFE"


def _gauss(rng, shape) -> np.ndarray:
    """Circular complex Gaussian of unit power (complex64)."""
    return ((rng.standard_normal(shape) + 1j * rng.standard_normal(shape)) / np.sqrt(2)).astype(np.complex64)


def test_closed_form_matches_numpy_eigh():
    rng = np.random.default_rng(4)
    k1, k2 = _gauss(rng, (2000, 6)), _gauss(rng, (2000, 6))  # 6-sample covariances: every rank and spread
    c11, c22, c12 = (v.mean(axis=1) for v in P.c2_elements(k1 + 0.3 * k2, k2))
    h, a, alpha = P.h_a_alpha(c11, c22, c12)
    c = np.stack([np.stack([c11, c12], -1), np.stack([np.conj(c12), c22], -1)], -2)
    lam, vec = np.linalg.eigh(c)
    p = lam / lam.sum(-1, keepdims=True)
    h_ref = -(p * np.log2(p)).sum(-1)
    a_ref = (lam[:, 1] - lam[:, 0]) / lam.sum(-1)
    alpha_ref = (p * np.degrees(np.arccos(np.abs(vec[:, 0, :])))).sum(-1)
    err = np.abs(h - h_ref).max(), np.abs(a - a_ref).max(), np.abs(alpha - alpha_ref).max()
    print(f"closed form vs numpy eigh over 2000 C2: max |dH| {err[0]:.1e}, |dA| {err[1]:.1e}, "
          f"|dalpha| {err[2]:.1e} deg")
    assert err[0] < 1e-6 and err[1] < 1e-6 and err[2] < 1e-4


def test_analytic_cases():
    # C2 = I (fully random), diag(3, 1) (p = 3/4, 1/4: alpha = 22.5), diag(1, 3) (67.5), rank 1 co-pol only
    h, a, alpha = P.h_a_alpha(np.array([1.0, 3.0, 1.0, 2.0]), np.array([1.0, 1.0, 3.0, 0.0]), np.zeros(4, complex))
    print("H", h, "A", a, "alpha", alpha)
    h_34 = -(0.75 * np.log2(0.75) + 0.25 * np.log2(0.25))  # 0.8113
    assert np.allclose(h, [1.0, h_34, h_34, 0.0], atol=1e-6)
    assert np.allclose(a, [0.0, 0.5, 0.5, 1.0], atol=1e-6)
    assert np.allclose(alpha, [45.0, 22.5, 67.5, 0.0], atol=1e-4)
    # C2 = l1 v1 v1^H + l2 v2 v2^H, v1 = (cos t, sin t e^{j phi}), v2 orthogonal: alpha = p1 t + p2 (90 - t)
    rng = np.random.default_rng(5)
    t = rng.uniform(0, 90, 500)
    phi = rng.uniform(-np.pi, np.pi, 500)
    l1 = rng.uniform(0.5, 2.0, 500)
    l2 = l1 * rng.uniform(0, 1, 500)
    ct, st = np.cos(np.radians(t)), np.sin(np.radians(t))
    c11 = l1 * ct ** 2 + l2 * st ** 2
    c22 = l1 * st ** 2 + l2 * ct ** 2
    c12 = (l1 - l2) * ct * st * np.exp(-1j * phi)  # v1_0 conj(v1_1) l1 + v2_0 conj(v2_1) l2
    h, a, alpha = P.h_a_alpha(c11, c22, c12)
    p1, p2 = l1 / (l1 + l2), l2 / (l1 + l2)
    h_ref = -(p1 * np.log2(p1) + np.where(p2 > 0, p2 * np.log2(np.maximum(p2, 1e-300)), 0))
    assert np.abs(alpha - (p1 * t + p2 * (90 - t))).max() < 1e-3
    assert np.abs(h - h_ref).max() < 1e-5 and np.abs(a - (p1 - p2)).max() < 1e-5


def test_single_scatterer_and_random_target_from_speckle():
    """Simulated SLC: a single scatterer S_cross = tan(30 deg) e^{j 0.7} S_co (any window: H = 0, alpha =
    30 deg), and independent co/cross of equal power (H -> 1 as the window grows; the sample covariance of
    W looks leaves A of order 1/sqrt(W))."""
    rng = np.random.default_rng(6)
    co = _gauss(rng, (120, 120))
    cross = (np.tan(np.radians(30.0)) * np.exp(0.7j) * co).astype(np.complex64)
    h, a, alpha = P.decompose(co, cross, window=5)
    print(f"single scatterer: H max {h.max():.2e}, A min {a.min():.6f}, alpha {alpha.min():.4f} .. "
          f"{alpha.max():.4f} deg")
    assert h.max() < 1e-5 and a.min() > 0.999999 and np.abs(alpha - 30.0).max() < 1e-3
    other = _gauss(rng, (120, 120))
    for window, ml in ((5, 1), (11, 1), (7, 3)):
        h, a, alpha = P.decompose(co, other, window=window, ml_rg=ml, ml_az=ml)
        print(f"random target, window {window} on {ml}x{ml} looks ({window * window * ml * ml} samples): "
              f"H mean {h.mean():.4f}, A mean {a.mean():.4f}, alpha mean {alpha.mean():.2f} deg")
        n = window * window * ml * ml
        assert h.mean() > 1 - 3.0 / n and a.mean() < 2.5 / np.sqrt(n) and abs(alpha.mean() - 45) < 1.0


def test_known_alpha_mixture_recovered():
    """S = sqrt(l1) g1 v1 + sqrt(l2) g2 v2 with independent unit Gaussians: C2 = l1 v1 v1^H + l2 v2 v2^H,
    t = 20 deg, l2 / l1 = 0.25: H = 0.7219, A = 0.6, alpha = 0.8 x 20 + 0.2 x 70 = 30 deg."""
    rng = np.random.default_rng(7)
    t, phi, l1, l2 = np.radians(20.0), 1.1, 1.0, 0.25
    g1, g2 = _gauss(rng, (200, 200)), _gauss(rng, (200, 200))
    v1 = np.array([np.cos(t), np.sin(t) * np.exp(1j * phi)])
    v2 = np.array([-np.sin(t) * np.exp(-1j * phi), np.cos(t)])
    co = np.sqrt(l1) * g1 * v1[0] + np.sqrt(l2) * g2 * v2[0]
    cross = np.sqrt(l1) * g1 * v1[1] + np.sqrt(l2) * g2 * v2[1]
    h, a, alpha = P.decompose(co, cross, window=9, ml_rg=2, ml_az=2)  # 324 samples per estimate
    print(f"known mixture: H {np.median(h):.4f} (0.7219), A {np.median(a):.4f} (0.6), alpha "
          f"{np.median(alpha):.2f} deg (30)")
    assert abs(np.median(h) - 0.7219) < 0.02 and abs(np.median(a) - 0.6) < 0.02
    assert abs(np.median(alpha) - 30.0) < 1.0


def test_multilook_c2_kernel_matches_numpy():
    rng = np.random.default_rng(9)
    co, cross = _gauss(rng, (31, 43)), _gauss(rng, (31, 43))
    valid = rng.uniform(size=co.shape) > 0.3
    c11, c22, c12 = P.c2_elements(co, cross)
    for ml_rg, ml_az in ((1, 1), (4, 2), (3, 5)):
        got = P.multilook_c2(co, cross, valid, ml_rg, ml_az)
        rows, cols = 31 // ml_az, 43 // ml_rg

        def cells(v, rows=rows, cols=cols, ml_rg=ml_rg, ml_az=ml_az):
            v = np.where(valid, v, 0)[:rows * ml_az, :cols * ml_rg]
            return v.reshape(rows, ml_az, cols, ml_rg).sum(axis=(1, 3))

        n = cells(np.ones(co.shape))
        keep = n >= 0.5 * ml_rg * ml_az
        for g, ref in zip(got, (cells(c11) / n, cells(c22) / n, (cells(c12) / n).real, (cells(c12) / n).imag),
                          strict=True):
            assert np.array_equal(np.isnan(g), ~keep)
            assert np.allclose(g[keep], ref[keep], rtol=1e-12, atol=1e-15)


def test_no_data_stays_no_data():
    rng = np.random.default_rng(8)
    co, cross = _gauss(rng, (40, 40)), _gauss(rng, (40, 40))
    co[10:20, 10:20] = 0  # zero DN: ESA's fill
    h, a, alpha = P.decompose(co, cross, window=5)
    assert np.all(np.isnan(h[10:20, 10:20])) and np.all(np.isfinite(h[:10])) and np.isfinite(h[9, 12])
    # beside the hole: C2 averaged over the valid pixels of the window only (every element, Im c12 too)
    c11, c22, c12 = P.c2_elements(co, cross)
    for i, j in ((9, 12), (21, 21), (15, 8)):
        win = (slice(i - 2, i + 3), slice(j - 2, j + 3))
        ok = co[win] != 0
        ref = P.h_a_alpha(c11[win][ok].mean(), c22[win][ok].mean(), c12[win][ok].mean())
        got = (h[i, j], a[i, j], alpha[i, j])
        assert np.allclose(got, [r.item() for r in ref], rtol=1e-5), (i, j, got, ref)
    h2, _, _ = P.decompose(co, cross, window=5, ml_rg=2, ml_az=2)
    assert h2.shape == (20, 20) and np.all(np.isnan(h2[5:10, 5:10])) and np.isfinite(h2[4, 4])


# ---------------------------------------------------------------------------------------------------------
# the command

def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-W", "ignore", "-m", "diapsar", *args], capture_output=True, text=True,
                          timeout=300)


@pytest.fixture(scope="module")
def dual_pol_product(s1_data, tmp_path_factory) -> Path:
    """2 bursts x 600 samples of the S1B IW1 VV+VH annotations (``diapsar crop``); VV pixels = real Terceira
    DN, VH = 2 x VV (exact in CInt16): a single scatterer with alpha = atan(2 A_vv / A_vh) on calibrated
    values (A the sigma0 LUTs of the two channels)."""
    from diapsar.io.crop import crop_product

    out = crop_product(s1_data / S1B, tmp_path_factory.mktemp("dual"), 1400, 200, 200, 600, swath="IW1",
                       polarisations=["VV", "VH"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t = rasterio.open(glob.glob(str(s1_data / "terceira_iw3_20220918_real_crop" / "*.tiff"))[0]).read(1)
    for tif in glob.glob(str(out / "measurement" / "*.tiff")):
        with rasterio.open(tif, "r+") as d:
            dn = np.tile(t, (d.height // t.shape[0] + 1, d.width // t.shape[1] + 1))[:d.height, :d.width]
            d.write(dn * (2 if "-vh-" in Path(tif).name else 1), 1)
    return out


def test_h_a_alpha_command_on_real_annotations(dual_pol_product, tmp_path):
    from diapsar.calibration import lut_grid
    from diapsar.deburst import deburst_layout
    from diapsar.io.safe import open_product

    outs = {}
    for ram in ("24", "200"):  # ~70-row and ~1600-row blocks (halo of 2 x 2 output rows): the same result
        r = _cli("backscatter", str(dual_pol_product), "--out", str(tmp_path / ram), "-ml", "4", "2",
                 "--decomposition", "h-a-alpha", "--window", "5", "-ram", ram, "--no-quicklook")
        assert r.returncode == 0, r.stderr
        tif = next((tmp_path / ram).glob("*_IW1_VVVH_h-a-alpha.tif"))
        with rasterio.open(tif) as d:
            assert d.descriptions == ("entropy", "anisotropy", "alpha") and d.units == ("1", "1", "degree")
            assert d.tags()["WINDOW"] == "5" and np.isnan(d.nodata)
            outs[ram] = d.read()
        assert next((tmp_path / ram).glob("*_IW1_VV_sigma0.tif")).exists()
    assert np.array_equal(outs["24"], outs["200"], equal_nan=True)
    h, a, alpha = outs["24"]
    m = open_product(dual_pol_product).swath("IW1", "VV")
    mvh = open_product(dual_pol_product).swath("IW1", "VH")
    lay = deburst_layout(m)
    assert h.shape == (lay.lines // 2, m.number_of_samples // 4)
    ok = np.isfinite(h)
    seg = lay.segments[1]
    line0 = m.lines_per_burst + seg.burst_line0 + 40
    ratio = lut_grid(m.calibration, "sigma0", line0, 1, 400, 1)[0, 0] / lut_grid(mvh.calibration, "sigma0", line0,
                                                                                  1, 400, 1)[0, 0]
    expect = np.degrees(np.arctan(2.0 * ratio))
    row, col = (seg.out_line0 + 40) // 2, 400 // 4
    print(f"real annotations, VH = 2 VV: H max {np.nanmax(h):.2e}, A min {np.nanmin(a):.6f}, alpha at "
          f"({row}, {col}) {alpha[row, col]:.4f} deg, expected atan(2 A_vv/A_vh) = {expect:.4f}; alpha over the "
          f"image {np.nanmin(alpha):.3f} .. {np.nanmax(alpha):.3f}; valid {ok.mean():.3f}")
    assert ok.mean() > 0.4 and np.nanmax(h) < 1e-4 and np.nanmin(a) > 0.9999
    assert abs(alpha[row, col] - expect) < 0.01
    assert np.array_equal(np.isnan(h), np.isnan(alpha))


def test_h_a_alpha_bad_input_one_line(s1_data, tmp_path):
    cases = [(GRD, "SLC", []), (S1A_1SDH, "dual-polarisation", ["--swath", "IW1"])]  # 1SDH: IW1 has HH only
    for rel, word, extra in cases:
        r = _cli("backscatter", str(s1_data / rel), "--out", str(tmp_path / "o"), "--decomposition", "h-a-alpha",
                 *extra)
        print(r.stderr.strip())
        assert r.returncode != 0 and len(r.stderr.strip().splitlines()) == 1 and word in r.stderr
        assert "Traceback" not in r.stderr
    r = _cli("backscatter", str(s1_data / S1B), "--out", str(tmp_path / "o"), "--decomposition", "h-a-alpha",
             "--window", "4")
    assert r.returncode != 0 and len(r.stderr.strip().splitlines()) == 1 and "--window" in r.stderr
    assert not (tmp_path / "o").exists() or not any((tmp_path / "o").iterdir())  # nothing written
