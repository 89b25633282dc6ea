"""Thermal noise removal, radiometric calibration and ``diapsar backscatter`` on real annotations.

Pixels: the real Terceira IW3 DN (601 x 1401) tiled into images that carry the S1B IW1 VV calibration and noise
annotations of format_coverage (whose own TIFF holds a synthetic constant). Peer: OTB ``otbcli_SARCalibration``.
"""

from __future__ import annotations

import glob
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import rasterio
from scipy.interpolate import griddata

from diapsar import calibration as C
from diapsar import noise as N
from diapsar.errors import ProductError
from diapsar.io.annotation import parse_noise
from diapsar.io.safe import open_product
from diapsar.metadata import CalibrationVectors, NoiseAzimuthBlock, NoiseRangeVectors, NoiseVectors

S1B = "format_coverage/S1B_IW_SLC__1SDV_20210401T052622_20210401T052650_026269_032297_EFA4.SAFE"
GRD = "rome_iw_grd_metadata/S1B_IW_GRDH_1SDV_20211223T051122_20211223T051147_030148_039993_5371.SAFE"
OTB = shutil.which("otbcli_SARCalibration")


def _terceira_dn(s1_data: Path, h: int, w: int) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t = rasterio.open(glob.glob(str(s1_data / "terceira_iw3_20220918_real_crop" / "*.tiff"))[0]).read(1)
    return np.tile(t, (h // t.shape[0] + 1, w // t.shape[1] + 1))[:h, :w]


# ---------------------------------------------------------------------------------------------------------
# pure functions

def test_bilinear_vectors_exact_on_bilinear_function_and_clamped_outside():
    f = lambda ln, p: 3.0 + 0.5 * ln - 0.25 * p + 0.001 * ln * p  # noqa: E731 - bilinear in (line, pixel)
    lines = np.array([200, -50, 100, 100])  # unsorted, one duplicate line (the first one is kept)
    pixels = [np.array([0, 40, 100]), np.array([0, 30, 100]), np.array([0, 50, 100]), np.array([0, 100])]
    values = [f(ln, p) for ln, p in zip(lines, pixels, strict=True)]
    values[3] = values[3] + 99.0  # duplicate of line 100: must be ignored
    rows, cols = np.arange(-50, 201, 7), np.arange(0, 101, 3)
    got = C.bilinear_vectors(lines, pixels, values, rows, cols)
    assert np.allclose(got, f(rows[:, None], cols[None, :]), atol=1e-9)
    edge = C.bilinear_vectors(lines, pixels, values, np.array([-500, 900]), np.array([-10, 500]))
    assert np.allclose(edge, [[f(-50, 0), f(-50, 100)], [f(200, 0), f(200, 100)]])


def test_azimuth_noise_blocks_inclusive_bounds_and_one_outside():
    rng = NoiseRangeVectors(np.zeros(2), np.array([0, 100]), [np.array([0, 99])] * 2,
                            [np.array([10.0, 20.0]), np.array([10.0, 20.0])])
    blocks = [NoiseAzimuthBlock("IW1", 0, 0, 49, 59, np.array([0, 49]), np.array([1.0, 2.0])),
              NoiseAzimuthBlock("IW1", 50, 0, 99, 99, np.array([50, 99]), np.array([3.0, 3.0]))]
    nz = NoiseVectors(rng, blocks)
    az = N.azimuth_noise(nz, 0, 100, 0, 100)
    assert az[0, 0] == 1.0 and az[49, 59] == 2.0 and az[49, 60] == 1.0  # sample 60 of lines 0-49: no block
    assert np.isclose(az[24, 10], 1.0 + 24 / 49) and np.all(az[50:, :] == 3.0)
    full = N.noise_grid(nz, 0, 100, 0, 100)
    assert np.isclose(full[60, 99], 3.0 * 20.0) and np.isclose(full[49, 70], 10.0 + 70 / 99 * 10.0)
    assert np.array_equal(N.remove_noise(np.array([5.0, 50.0]), np.array([10.0, 10.0])), [0.0, 40.0])
    # the documented floor: nothing below -50 dB after calibration
    assert C.calibrate(np.array([0.0, 4.0]), np.array([2.0, 2.0])).tolist() == [pytest.approx(1e-5), 1.0]


def test_tops_slc_noise_per_burst_vector_hand_computed(s1_data):
    """S1B IW1 VV noise annotation, by hand. The range vector of burst 1 (first line 05:26:24.209990) is the
    one annotated at that azimuthTime, written with <line>-1501</line>; at pixels 680 / 720 it holds
    466.3845 / 464.1441, so sample 700 -> 465.2643, on every line of the burst. The azimuth block gives
    1.114701 at line 100 and 1.170796 at line 1500 (annotated nodes). Burst 2 (line 1501) takes the vector
    of 05:26:26.966491 (<line>0</line>): 464.6223 / 462.4817 -> 463.5520, times 1.156662 (node 1501).
    A line-bilinear reading of the <line> fields (diapsar before, OTB 8.1 SARCalibration) gives at line 1500
    482.25 * 1.170796 = 564.6, 3.6 % more, the next burst's vector."""
    m = open_product(s1_data / S1B).swath("IW1", "VV")
    got = {ln: N.noise_grid(m.noise, ln, 1, 700, 1, m.bursts, m.lines_per_burst)[0, 0] for ln in (100, 1500, 1501)}
    assert got[100] == pytest.approx(465.2643 * 1.114701, rel=1e-6)
    assert got[1500] == pytest.approx(465.2643 * 1.170796, rel=1e-6)
    assert got[1501] == pytest.approx(463.5520 * 1.156662, rel=1e-6)
    # constant along the burst in range-noise terms: the whole burst has the same N_range profile
    rn = N.range_noise_tops(m.noise, m.bursts, m.lines_per_burst, 0, 1501, 0, 1401)
    assert np.ptp(rn, axis=0).max() == 0.0
    # without bursts (GRD / stripmap path) the <line> fields are interpolated: a different value at line 1500
    assert abs(N.noise_grid(m.noise, 1500, 1, 700, 1)[0, 0] / got[1500] - 1) > 0.03


def test_pre_ipf29_noise_layout_range_only():
    xml = b"""<noise><noiseVectorList count="2">
      <noiseVector><azimuthTime>2015-01-01T00:00:00</azimuthTime><line>0</line>
        <pixel count="2">0 1000</pixel><noiseLut count="2">100 200</noiseLut></noiseVector>
      <noiseVector><azimuthTime>2015-01-01T00:00:01</azimuthTime><line>1000</line>
        <pixel count="2">0 1000</pixel><noiseLut count="2">300 400</noiseLut></noiseVector>
    </noiseVectorList></noise>"""
    nz = parse_noise(xml)
    assert nz.azimuth_blocks == []
    g = N.noise_grid(nz, 500, 1, 250, 1)
    assert np.isclose(g[0, 0], 0.5 * (125.0 + 325.0))


def test_missing_lut_is_a_product_error():
    cal = CalibrationVectors(np.zeros(1), np.array([0]), [np.array([0, 10])], [np.array([1.0, 1.0])],
                             [np.array([1.0, 1.0])], [np.array([])], [np.array([1.0, 1.0])])
    with pytest.raises(ProductError, match="gamma0"):
        C.lut_grid(cal, "gamma0", 0, 2, 0, 2)


@pytest.mark.parametrize("rel, swath", [(S1B, "IW1"), (GRD, None)])
def test_luts_consistent_through_annotated_incidence(s1_data, rel, swath):
    """A_beta^2/A_sigma^2 = sin(theta) and A_beta^2/A_gamma^2 = tan(theta) (ESA calibration note, section 2),
    theta agreeing with the geolocation grid's incidence angle (which is at the terrain height of the grid)."""
    m = open_product(s1_data / rel).swath(swath, "VV")
    cal = m.calibration
    lines, pix, theta = C.lut_incidence_deg(cal)
    tan = np.concatenate([(b / g) ** 2 for b, g in zip(cal.beta_nought, cal.gamma, strict=True)])
    assert np.max(np.abs(np.tan(np.radians(theta)) - tan)) < 1e-5
    g = m.geolocation_grid
    ref = griddata((g.line, g.pixel), g.incidence_angle_deg, (lines, pix), method="linear")
    ok = np.isfinite(ref)
    assert ok.sum() > 1000
    d = theta[ok] - ref[ok]
    assert np.abs(d).max() < 0.4 and np.abs(d).mean() < 0.15, (d.min(), d.max())
    # and on calibrated images: sigma0 = beta0 sin(theta), gamma0 = sigma0 / cos(theta)
    power = np.full((50, 400), 1.0e4)
    s, b, gm = (C.calibrate(power, C.lut_grid(cal, k, 3000, 50, 2000, 400)) for k in ("sigma0", "beta0", "gamma0"))
    th = np.radians(griddata((g.line, g.pixel), g.incidence_angle_deg, (3025.0, 2200.0)))
    assert abs(np.median(s / b) / np.sin(th) - 1) < 0.01
    assert abs(np.median(gm * np.cos(th) / s) - 1) < 0.01


# ---------------------------------------------------------------------------------------------------------
# side by side with OTB SARCalibration

@pytest.fixture(scope="module")
def otb_product(s1_data, tmp_path_factory) -> Path:
    """The S1B IW1 VV annotations (full swath) with a 1501 x 1401 measurement = image lines 0-1500, samples
    0-1400 holding real Terceira DN; TIFFTAG_IMAGEDESCRIPTION set, no geotransform (what OTB needs)."""
    src = s1_data / S1B
    safe = tmp_path_factory.mktemp("otb") / "X.SAFE"
    (safe / "measurement").mkdir(parents=True)
    shutil.copytree(src / "annotation", safe / "annotation")
    shutil.copy(src / "manifest.safe", safe)
    m = open_product(src).swath("IW1", "VV")
    dn = _terceira_dn(s1_data, 1501, 1401)
    with rasterio.open(safe / "measurement" / m.measurement_name, "w", driver="GTiff", width=1401, height=1501,
                       count=1, dtype="complex_int16") as o:
        o.write(dn, 1)
        o.update_tags(TIFFTAG_IMAGEDESCRIPTION="Sentinel-1B IW SLC L1")
    return safe


def _otb(product: Path, lut: str, out: Path, removenoise: bool = False) -> np.ndarray:
    tif = glob.glob(str(product / "measurement" / "*.tiff"))[0]
    cmd = [OTB, "-in", tif, "-out", str(out), "float", "-lut", lut, "-ram", "256"]
    if removenoise:
        cmd += ["-removenoise", "true"]
    subprocess.run(cmd, check=True, capture_output=True, timeout=120)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return rasterio.open(out).read(1).astype(np.float64)


@pytest.mark.skipif(OTB is None, reason="otbcli_SARCalibration absent (Debian: apt-get install otb-bin)")
def test_calibration_matches_otb_sarcalibration(otb_product, tmp_path):
    m = open_product(otb_product).swath("IW1", "VV")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        power = C.detected_power(rasterio.open(otb_product / "measurement" / m.measurement_name).read(1))
    for otb_lut, lut in (("sigma", "sigma0"), ("beta", "beta0"), ("gamma", "gamma0")):
        theirs = _otb(otb_product, otb_lut, tmp_path / f"{lut}.tif")
        ours = C.calibrate(power, C.lut_grid(m.calibration, lut, 0, 1501, 0, 1401), floor=None)
        ok = (theirs > 0) & (ours > 0)
        assert ok.mean() > 0.99
        d = 10 * np.log10(ours[ok]) - 10 * np.log10(theirs[ok])
        assert np.abs(d).max() < 0.01, (lut, d.min(), d.max())


@pytest.mark.skipif(OTB is None, reason="otbcli_SARCalibration absent (Debian: apt-get install otb-bin)")
def test_noise_removal_against_otb_where_signal_dominates(otb_product, tmp_path):
    """OTB 8.1 and diapsar agree on the azimuth noise profile but not on the TOPS range noise. Implied by
    OTB's outputs with and without -removenoise, OTB's N_range on burst 1 (sample 0) is the burst's own vector
    (510.72, annotated <line>-1501</line>) on line 0 only; lines 1-1500 follow the line-linear extrapolation of
    the vectors annotated at <line>0</line> and <line>1501</line> (484.9 on line 1 .. 508.4 on line 1500), i.e.
    (median over samples 0.958 of ours) it reads the one-burst-off <line> fields (see diapsar.noise and the hand-computed test above). Ours, the
    per-burst vector of ESA MPC-0392 selected by azimuth time, is 0-5 % higher; where the signal is 20 times
    the noise that leaves < 0.05 dB."""
    m = open_product(otb_product).swath("IW1", "VV")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        power = C.detected_power(rasterio.open(otb_product / "measurement" / m.measurement_name).read(1))
    theirs = _otb(otb_product, "sigma", tmp_path / "nr.tif", removenoise=True)
    nz = N.noise_grid(m.noise, 0, 1501, 0, 1401, m.bursts, m.lines_per_burst)
    ours = C.calibrate(N.remove_noise(power, nz), C.lut_grid(m.calibration, "sigma0", 0, 1501, 0, 1401))
    # OTB's noise, implied: |DN|^2 - sigma0_otb * A^2 (A^2 agrees with OTB's within 0.001 dB, test above)
    a2 = C.lut_grid(m.calibration, "sigma0", 0, 1501, 0, 1401) ** 2
    ratio = (power - theirs * a2) / nz
    use = theirs > 1e-3
    med = [float(np.median(ratio[r][use[r]])) for r in (0, 1, 1500)]
    assert abs(med[0] - 1) < 0.005 and 0.94 < med[1] < 0.97 and 0.99 < med[2] < 1.0, med
    strong = (power > 20 * nz) & (theirs > 0)
    assert strong.sum() > 100_000
    d = 10 * np.log10(ours[strong]) - 10 * np.log10(theirs[strong])
    assert np.abs(d).max() < 0.05, (d.min(), d.max())


# ---------------------------------------------------------------------------------------------------------
# the command

@pytest.fixture(scope="module")
def two_burst_product(s1_data, tmp_path_factory) -> Path:
    """A 2-burst x 600-sample crop (samples 200-799: the near-range edge, first valid sample 529) of the S1B IW1 VV (calibration and noise rewritten by diapsar crop) holding
    real Terceira DN."""
    from diapsar.io.crop import crop_product

    out = crop_product(s1_data / S1B, tmp_path_factory.mktemp("two"), 1400, 200, 200, 600, swath="IW1",
                       polarisations=["VV"])
    tif = glob.glob(str(out / "measurement" / "*.tiff"))[0]
    with rasterio.open(tif, "r+") as d:
        d.write(_terceira_dn(s1_data, d.height, d.width), 1)
    return out


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "diapsar", *args], capture_output=True, text=True, timeout=120)


def test_backscatter_command_deburst_multilook_db(two_burst_product, tmp_path):
    from diapsar.deburst import deburst_layout

    r = _cli("backscatter", str(two_burst_product), "--out", str(tmp_path), "--lut", "gamma0", "-ml", "4", "2",
             "--db", "-ram", "8")
    assert r.returncode == 0, r.stderr
    tif = next(tmp_path.glob("*_IW1_VV_gamma0_db.tif"))
    assert tif.with_suffix(".png").stat().st_size > 1000
    p = open_product(two_burst_product)
    m = p.swath("IW1", "VV")
    lay = deburst_layout(m)
    with rasterio.open(tif) as d:
        assert (d.height, d.width) == (lay.lines // 2, m.number_of_samples // 4)
        assert d.descriptions == ("gamma0_VV",) and d.units == ("dB",) and np.isnan(d.nodata)
        assert d.tags()["THERMAL_NOISE_REMOVED"] == "true"
        got = d.read(1)
    # one cell by hand, in the second burst: lines of burst 1 kept by the deburst layout, noise removed
    seg = lay.segments[1]
    row = (seg.out_line0 + 40) // 2
    line0 = m.lines_per_burst + seg.burst_line0 + (2 * row - seg.out_line0)
    col = (seg.valid_samples[0] + 100) // 4
    dn = p.read("IW1", "VV", line0, 4 * col, 2, 4)
    pw = N.remove_noise(C.detected_power(dn), N.noise_grid(m.noise, line0, 2, 4 * col, 4, m.bursts,
                                                            m.lines_per_burst))
    expect = 10 * np.log10(C.calibrate(pw, C.lut_grid(m.calibration, "gamma0", line0, 2, 4 * col, 4)).mean())
    assert abs(got[row, col] - expect) < 1e-3
    # columns outside the valid samples of the bursts are no data, inside are values >= -50 dB
    assert seg.valid_samples[0] == 329
    assert np.all(np.isnan(got[:, : seg.valid_samples[0] // 4 - 1]))
    inside = got[:, seg.valid_samples[0] // 4 + 1: seg.valid_samples[1] // 4 - 1]
    assert np.all(np.isfinite(inside)) and inside.min() >= -50.0 - 1e-4


def test_backscatter_without_noise_is_higher_and_linear(two_burst_product, tmp_path):
    for extra in ([], ["--no-noise"]):
        r = _cli("backscatter", str(two_burst_product), "--out", str(tmp_path / (extra[0] if extra else "n")),
                 "--no-quicklook", *extra)
        assert r.returncode == 0, r.stderr
    with rasterio.open(next((tmp_path / "n").glob("*.tif"))) as a, \
            rasterio.open(next((tmp_path / "--no-noise").glob("*.tif"))) as b:
        assert a.units == ("linear",)
        den, raw = a.read(1), b.read(1)
    ok = np.isfinite(den) & np.isfinite(raw) & (den > 1e-5)
    assert np.all(raw[ok] >= den[ok]) and np.median(raw[ok] - den[ok]) > 0


def test_backscatter_user_errors_one_line(s1_data, tmp_path):
    terceira = glob.glob(str(s1_data / "terceira_iw3_20220918_real_crop" / "*.xml"))[0]
    r = _cli("backscatter", terceira, "--out", str(tmp_path))
    assert r.returncode != 0 and len(r.stderr.strip().splitlines()) == 1 and "calibration" in r.stderr
    r = _cli("backscatter", str(s1_data / S1B), "--out", str(tmp_path), "--swath", "IW3")
    assert r.returncode != 0 and len(r.stderr.strip().splitlines()) == 1 and "IW3" in r.stderr
