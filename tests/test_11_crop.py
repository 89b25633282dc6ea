"""Product crop: a window written as a smaller SAFE whose metadata stay consistent with the original."""

from __future__ import annotations

import struct
import warnings

import numpy as np
import pytest
import rasterio

from diapsar.cli import main
from diapsar.errors import ProductError, SelectionError
from diapsar.io.crop import crop_product, plan_window
from diapsar.io.safe import open_product

S1B_IW = "format_coverage/S1B_IW_SLC__1SDV_20210401T052622_20210401T052650_026269_032297_EFA4.SAFE"
S3_SM = "format_coverage/S1A_S3_SLC__1SDV_20210401T152855_20210401T152914_037258_04638E_6001.SAFE"
EW = "format_coverage/S1A_EW_SLC__1SDH_20210403T122536_20210403T122630_037286_046484_8152.SAFE"
GRD = "rome_iw_grd_metadata/S1B_IW_GRDH_1SDV_20211223T051122_20211223T051147_030148_039993_5371.SAFE"
SITKA = "sitka_iw3_single_burst_pair_20180628_20190705/S1B_IW_SLC__1SSV_20180628T151555_20180628T151555_011575_015476_33AD.SAFE"


def _check_grid(orig, crop, l0, s0):
    """Every kept geolocation point is an original point moved by (l0, s0), with the same geometry, or (TOPS)
    a row recomputed on the window's first/last line where the original has none, which geo2rdr puts on
    that line. TOPS grids keep only rows of the kept bursts. The kept points enclose the crop."""
    g, og = crop.geolocation_grid, orig.geolocation_grid
    assert g.line.size >= 4
    recomputed = []
    for i in range(g.line.size):
        j = np.nonzero((og.line == g.line[i] + l0) & (og.pixel == g.pixel[i] + s0))[0]
        if j.size == 0:
            assert orig.is_tops and g.line[i] in (0, crop.number_of_lines - 1)
            recomputed.append(i)
            continue
        assert j.size == 1
        assert og.latitude_deg[j[0]] == g.latitude_deg[i] and og.longitude_deg[j[0]] == g.longitude_deg[i]
        assert og.azimuth_time_s[j[0]] == g.azimuth_time_s[i]
        assert og.slant_range_time_s[j[0]] == g.slant_range_time_s[i]
    if orig.is_tops:
        assert g.line.min() == 0 and g.line.max() == crop.number_of_lines - 1
    if recomputed:
        _check_grid_geo2rdr(crop, np.array(recomputed))
    # the kept points enclose the crop
    assert g.line.min() <= 0 and g.line.max() >= crop.number_of_lines - 1
    assert g.pixel.min() <= 0 and g.pixel.max() >= crop.number_of_samples - 1


def _check_grid_geo2rdr(meta, idx=None):
    """geo2rdr of grid points (all, or ``idx``) with the swath's own orbit and burst list gives back their
    azimuth time within 0.01 line and their line within 1 line. Returns the worst (time, line) errors."""
    from diapsar.geometry import RadarGrid, geo2rdr
    from diapsar.orbit import orbit_for

    g = meta.geolocation_grid
    idx = np.arange(g.line.size) if idx is None else idx
    t, tau = geo2rdr(orbit_for(meta), g.latitude_deg[idx], g.longitude_deg[idx], g.height_m[idx],
                     t_guess_s=g.azimuth_time_s[idx])
    line, _ = RadarGrid.from_metadata(meta).times_to_radar(t, tau)
    dt_err = float(np.abs(t - g.azimuth_time_s[idx]).max() / meta.azimuth_time_interval_s)
    line_err = float(np.abs(line - g.line[idx]).max())
    assert dt_err < 0.01 and line_err < 1.0, (dt_err, line_err)
    return dt_err, line_err


def _check_common(orig, crop, l0, s0, nl, ns):
    assert (crop.number_of_lines, crop.number_of_samples) == (nl, ns)
    if orig.product_type != "GRD":
        assert crop.slant_range_time_s == pytest.approx(float(orig.sample_to_range_time(s0)), abs=1e-15)
    if orig.is_tops:  # burst-stacked lines: the time of a burst's first line is the burst azimuth time
        assert crop.first_line_time_s == pytest.approx(orig.bursts[l0 // orig.lines_per_burst].azimuth_time_s,
                                                       abs=2e-6)
    else:
        assert crop.first_line_time_s == pytest.approx(
            orig.first_line_time_s + l0 * orig.azimuth_time_interval_s, abs=2e-6)
    assert (crop.mission, crop.mode, crop.swath, crop.polarisation) == (
        orig.mission, orig.mode, orig.swath, orig.polarisation)
    assert crop.relative_orbit == orig.relative_orbit and crop.absolute_orbit == orig.absolute_orbit
    assert np.array_equal(crop.orbit.position_m, orig.orbit.position_m)
    assert len(crop.dc_estimates) == len(orig.dc_estimates) and len(crop.fm_rates) == len(orig.fm_rates)
    _check_grid(orig, crop, l0, s0)


def _check_vectors(orig_cal, crop_cal, l0, s0):
    for k in range(crop_cal.line.size):
        j = int(np.nonzero(orig_cal.line == crop_cal.line[k] + l0)[0][0])
        sel = np.isin(orig_cal.pixel[j], crop_cal.pixel[k] + s0)
        assert np.array_equal(orig_cal.pixel[j][sel] - s0, crop_cal.pixel[k])
        assert np.array_equal(orig_cal.sigma_nought[j][sel], crop_cal.sigma_nought[k])


def test_iw_crop_keeps_whole_bursts_and_consistent_metadata(s1_data, tmp_path):
    src = open_product(s1_data / S1B_IW)
    out = crop_product(src, tmp_path, 2000, 5000, 100, 800, swath="IW1")
    assert out.name == src.name + ".SAFE"
    crop = open_product(out)
    assert crop.images == [("IW1", "VV"), ("IW1", "VH")] and crop.missing_files == []
    orig = src.swath("IW1", "VV")
    m = crop.swath("IW1", "VV")
    lpb = orig.lines_per_burst
    assert plan_window(orig, 2000, 5000, 100, 800) == (lpb, 5000, lpb, 800)
    _check_common(orig, m, lpb, 5000, lpb, 800)
    assert len(m.bursts) == 1 and m.lines_per_burst == lpb and m.samples_per_burst == 800
    b, ob = m.bursts[0], orig.bursts[1]
    assert (b.azimuth_time_s, b.azimuth_anx_time_s, b.sensing_time_s, b.burst_id) == (
        ob.azimuth_time_s, ob.azimuth_anx_time_s, ob.sensing_time_s, ob.burst_id)
    assert m.first_line_time_s == ob.azimuth_time_s
    valid = ob.first_valid_sample >= 0
    assert np.array_equal(b.first_valid_sample >= 0, valid)
    assert np.array_equal(b.first_valid_sample[valid], np.clip(ob.first_valid_sample[valid] - 5000, 0, 799))
    assert np.array_equal(b.last_valid_sample[valid], np.clip(ob.last_valid_sample[valid] - 5000, 0, 799))
    _check_vectors(orig.calibration, m.calibration, lpb, 5000)
    blk = m.noise.azimuth_blocks[0]
    assert (blk.first_azimuth_line, blk.last_azimuth_line, blk.first_range_sample, blk.last_range_sample) == (
        0, lpb - 1, 0, 799)
    # thermal noise of the cropped burst: the range vector of that burst's own azimuth time is kept (its <line>
    # is a burst early), so the crop's noise equals the original's on the same pixels
    from diapsar.noise import noise_grid

    cropped_noise = noise_grid(m.noise, 0, lpb, 0, 800, m.bursts, lpb)
    assert np.array_equal(cropped_noise, noise_grid(orig.noise, lpb, lpb, 5000, 800, orig.bursts, lpb))
    a = crop.read("IW1", "VV", 0, 0, lpb, 800)
    assert np.array_equal(a, src.read("IW1", "VV", lpb, 5000, lpb, 800))
    with rasterio.open(crop.measurement_path("IW1", "VV")) as ds:
        assert ds.dtypes[0] == "complex_int16" and len(ds.gcps[0]) == m.geolocation_grid.line.size


def test_radar_coordinates_in_a_tops_crop_are_the_original_ones_shifted(s1_data, tmp_path):
    """geo2rdr + RadarGrid on the crop = on the original minus (first kept burst line, sample0), to 1e-3 line.

    The crop's geolocation grid is smaller (rows of its bursts and a recomputed last row); the residual
    bistatic reference fitted on it must stay the original's (else lines move by up to ~0.1). In a burst
    overlap both images are asked for the same burst (the crop's burst k is the original's k + 1).
    """
    from diapsar.geometry import RadarGrid, geo2rdr
    from diapsar.orbit import Orbit

    src = open_product(s1_data / S1B_IW)
    orig = src.swath("IW1", "VV")
    lpb = orig.lines_per_burst
    for n_lines in (100, lpb + 100):  # one burst, two bursts
        out = crop_product(src, tmp_path / str(n_lines), 2000, 5000, n_lines, 800, swath="IW1", polarisations=["VV"])
        crop = open_product(out).swath("IW1", "VV")
        g = crop.geolocation_grid
        inside = (g.line >= 0) & (g.line < crop.number_of_lines) & (g.pixel >= 0)
        az, tau = geo2rdr(Orbit(orig.orbit), g.latitude_deg[inside], g.longitude_deg[inside],
                          g.height_m[inside])
        rc = RadarGrid.from_metadata(crop)
        b_c = rc.burst_of_time(az, range_time=tau)
        l_o, p_o = RadarGrid.from_metadata(orig).times_to_radar(az, tau, burst=b_c + 1)
        l_c, p_c = rc.times_to_radar(az, tau, burst=b_c)
        assert np.abs(l_o - lpb - l_c).max() < 1e-3, n_lines
        assert np.abs(p_o - 5000 - p_c).max() < 1e-6


MOROCCO = "morocco_iw_pair_20230904_20230916/S1A_IW_SLC__1SDV_20230904T063730_20230904T063757_050174_0609E3_DAA1.SAFE"


@pytest.mark.parametrize("first_burst", [3, 7])  # inside the swath; the last two bursts
def test_two_burst_window_grid_rows_are_where_geo2rdr_puts_them(s1_data, first_burst):
    """Real IW annotation (Morocco IW1, 9 bursts): a 2-burst window keeps only grid rows of its bursts plus
    a row on its last line (recomputed, unless the window ends the swath, where ESA's own last row is
    kept); geo2rdr of every kept point with the window's burst list gives its time and line back. The row
    at line ``nlines`` (the next burst's first line) that used to be kept is ~165 lines off."""
    from diapsar.io.crop import window_metadata

    orig = open_product(s1_data / MOROCCO).swath("IW1", "VV")
    lpb = orig.lines_per_burst
    w = window_metadata(orig, first_burst * lpb + 10, 1000, lpb + 20, 3000)
    g = w.geolocation_grid
    assert w.number_of_lines == 2 * lpb and len(w.bursts) == 2
    assert set(np.unique(g.line).tolist()) == {0, lpb, 2 * lpb - 1}
    dt_err, line_err = _check_grid_geo2rdr(w)
    print(f"bursts {first_burst}-{first_burst + 1}: grid time error {dt_err:.4f} line, line error {line_err:.4f}")
    _check_grid(orig, w, first_burst * lpb, 1000)
    last = g.line == 2 * lpb - 1
    if first_burst + 2 < len(orig.bursts):  # the old row at line nlines: the next burst's first line
        from diapsar.geometry import RadarGrid, geo2rdr
        from diapsar.orbit import orbit_for

        og = orig.geolocation_grid
        nxt = (og.line == (first_burst + 2) * lpb) & (og.pixel >= 1000) & (og.pixel < 4000)
        t, tau = geo2rdr(orbit_for(w), og.latitude_deg[nxt], og.longitude_deg[nxt], og.height_m[nxt])
        off = RadarGrid.from_metadata(w).times_to_radar(t, tau)[0] - 2 * lpb
        assert np.all(np.abs(off) > 100)
        # the recomputed last row: the last line's time, heights between the rows around it in time
        assert np.all(np.abs(g.height_m[last]) < 5000)
    else:
        assert np.isin(g.azimuth_time_s[last], orig.geolocation_grid.azimuth_time_s).all()


def test_written_tops_crop_grid_matches_geo2rdr(s1_data, tmp_path):
    """``crop_product`` (pixels written in tmp) writes the same TOPS grid rows into the annotation XML and
    the TIFF GCPs: rows of the kept bursts and a recomputed last row, all consistent with geo2rdr."""
    from diapsar.io.crop import window_metadata

    src = open_product(s1_data / S1B_IW)
    orig = src.swath("IW1", "VV")
    lpb = orig.lines_per_burst
    crop = open_product(crop_product(src, tmp_path, lpb + 30, 5000, lpb, 800, swath="IW1", polarisations=["VV"]))
    m = crop.swath("IW1", "VV")
    g = m.geolocation_grid
    assert m.number_of_lines == 2 * lpb and set(np.unique(g.line).tolist()) == {0, lpb, 2 * lpb - 1}
    _check_grid_geo2rdr(m)
    _check_grid(orig, m, lpb, 5000)
    _same(window_metadata(orig, lpb + 30, 5000, lpb, 800), m)
    with rasterio.open(crop.measurement_path("IW1", "VV")) as ds:
        rows = sorted({round(p.row, 3) for p in ds.gcps[0]})
    assert len(rows) == 3 and rows[-1] in (2 * lpb - 1, 2 * lpb - 0.5, 2 * lpb)


def test_crop_of_crop_pixels_and_burst_byte_offsets(s1_data, tmp_path):
    """Two-burst crop, filled with a known pattern, then cropped again: pixels and byteOffsets check out."""
    src = open_product(s1_data / S1B_IW)
    first = open_product(crop_product(src, tmp_path / "a", 1400, 300, 200, 600, swath="IW1", polarisations=["VV"]))
    m1 = first.swath()
    lpb = m1.lines_per_burst
    assert len(m1.bursts) == 2 and m1.number_of_lines == 2 * lpb
    assert m1.bursts[1].byte_offset > m1.bursts[0].byte_offset
    # fill the first crop with line/sample codes
    path = first.measurement_path()
    lines, samples = np.mgrid[0:m1.number_of_lines, 0:600]
    pattern = (lines % 32000 + 1j * samples).astype(np.complex64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with rasterio.open(path, "r+") as ds:
            ds.write(pattern, 1)
    first = open_product(first.path)
    out2 = crop_product(first, tmp_path / "b" / "second.SAFE", 10, 100, lpb + 50, 250)
    second = open_product(out2)
    m2 = second.swath()
    assert out2.name == "second.SAFE" and len(m2.bursts) == 2
    assert np.array_equal(second.read(None, None, 0, 0, 2 * lpb, 250), pattern[:, 100:350])
    raw = (out2 / "measurement" / m2.measurement_name).read_bytes()
    for k, b in enumerate(m2.bursts):
        re0, im0 = struct.unpack_from("<hh", raw, b.byte_offset)
        assert (re0, im0) == (k * lpb, 100)  # first pixel of the burst's first line
    _check_common(m1, m2, 0, 100, 2 * lpb, 250)
    assert [b.burst_id for b in m2.bursts] == [b.burst_id for b in m1.bursts]


def test_stripmap_crop_cuts_lines_exactly(s1_data, tmp_path):
    src = open_product(s1_data / S3_SM)
    orig = src.swath()
    out = crop_product(src, tmp_path, 5000, 3000, 700, 900)
    crop = open_product(out)
    m = crop.swath()
    _check_common(orig, m, 5000, 3000, 700, 900)
    assert m.last_line_time_s - m.first_line_time_s == pytest.approx(699 * orig.azimuth_time_interval_s, abs=2e-6)
    assert crop.mode == "SM" and crop.relative_orbit == src.relative_orbit
    assert np.array_equal(crop.read(None, None, 0, 0, 700, 900), src.read(None, None, 5000, 3000, 700, 900))
    _check_vectors(orig.calibration, m.calibration, 5000, 3000)


def test_ew_and_grd_crops(s1_data, tmp_path):
    ew = open_product(s1_data / EW)
    o = ew.swath("EW1", "HH")
    lpb = o.lines_per_burst
    out = crop_product(ew, tmp_path / "ew", 3 * lpb - 10, 100, 20, 300)
    m = open_product(out).swath()
    assert len(m.bursts) == 2 and [b.burst_id for b in m.bursts] == [o.bursts[2].burst_id, o.bursts[3].burst_id]
    _check_common(o, m, 2 * lpb, 100, 2 * lpb, 300)
    grd = open_product(s1_data / GRD)
    out = crop_product(grd, tmp_path / "grd", 100, 200, 300, 400)
    g = open_product(out)
    assert g.product_type == "GRD" and g.read(None, None, 0, 0, 3, 3).dtype == np.float32
    with rasterio.open(g.measurement_path()) as ds:
        assert ds.dtypes[0] == "uint16"
    assert len(g.swath().srgr) == len(grd.swath().srgr)
    # ground range of the new first pixel is 0 again: the slant range there equals the old one at 200 pixels
    from diapsar.metadata import SPEED_OF_LIGHT_M_S

    for new, old in zip(g.swath().srgr, grd.swath().srgr):
        gr_old = 200 * grd.swath().range_pixel_spacing_m
        sr_old = np.polynomial.polynomial.polyval(gr_old - old["gr0_m"], old["grsr_coefficients"])
        sr_new = np.polynomial.polynomial.polyval(0.0 - new["gr0_m"], new["grsr_coefficients"])
        assert sr_new == pytest.approx(sr_old, abs=1e-6)
        back = np.polynomial.polynomial.polyval(sr_new - new["sr0_m"], new["srgr_coefficients"])
        assert back == pytest.approx(0.0, abs=0.05)  # slant->ground polynomial inverts to ground range 0
    near = min(grd.swath().srgr, key=lambda c: abs(c["azimuth_time_s"] - g.swath().first_line_time_s))
    sr = np.polynomial.polynomial.polyval(200 * grd.swath().range_pixel_spacing_m - near["gr0_m"],
                                          near["grsr_coefficients"])
    assert g.swath().slant_range_time_s == pytest.approx(2 * sr / SPEED_OF_LIGHT_M_S, abs=1e-12)
    _check_common(grd.swath(), g.swath(), 100, 200, 300, 400)


def test_crop_refuses_products_without_pixels_and_bad_windows(s1_data, tmp_path, capsys):
    with pytest.raises(ProductError, match="only products with pixels can be cropped"):
        crop_product(s1_data / SITKA, tmp_path, 0, 0, 10, 10)
    rc = main(["crop", str(s1_data / SITKA), "--window", "0", "0", "10", "10", "--out", str(tmp_path / "x")])
    err = capsys.readouterr().err
    assert rc != 0 and "Traceback" not in err and len(err.strip().splitlines()) == 1 and "0 bytes" in err
    with pytest.raises(SelectionError, match="outside"):
        crop_product(s1_data / S3_SM, tmp_path / "y", 36800, 0, 200, 10)
    with pytest.raises(SelectionError, match="no HH image .available: S3 VH"):
        crop_product(s1_data / S3_SM, tmp_path / "y", 0, 0, 20, 10, polarisations=["HH"])
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()


def test_crop_command_end_to_end(s1_data, tmp_path, capsys):
    tif = next((s1_data / S3_SM / "measurement").glob("*.tiff"))
    rc = main(["crop", str(tif), "--window", "10", "20", "30", "40", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert rc == 0 and "30 lines x 40 samples" in out
    safe = next(tmp_path.glob("*.SAFE"))
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary left
    assert main(["info", str(safe), "--json"]) == 0
    import json

    info = json.loads(capsys.readouterr().out)
    assert info["images"][0]["lines"] == 30 and info["images"][0]["pixels"] is True
    assert info["missing_files"] == [] and info["footprint_wkt"].startswith("POLYGON")


def _same(a, b, path="meta"):
    """Recursive comparison of metadata structures (times to the microsecond written in the XML)."""
    import dataclasses

    if dataclasses.is_dataclass(a):
        for f in dataclasses.fields(a):
            if f.name in ("byte_offset", "annotation_name", "measurement_name", "product_name"):
                continue
            _same(getattr(a, f.name), getattr(b, f.name), f"{path}.{f.name}")
    elif isinstance(a, list):
        assert len(a) == len(b), path
        for k, (x, y) in enumerate(zip(a, b)):
            _same(x, y, f"{path}[{k}]")
    elif isinstance(a, np.ndarray):
        assert a.shape == b.shape, path
        if a.dtype.kind == "f":
            assert np.allclose(a, b, rtol=1e-12, atol=1e-6, equal_nan=True), path
        else:
            assert np.array_equal(a, b), path
    elif isinstance(a, float):
        assert a == pytest.approx(b, rel=1e-12, abs=1.5e-6) or (np.isnan(a) and np.isnan(b)), path
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), path
        for k in a:
            _same(a[k], b[k], f"{path}[{k}]")
    else:
        assert a == b, path


@pytest.mark.parametrize("rel, window", [(S1B_IW, (2000, 5000, 100, 800)), (S3_SM, (5000, 3000, 700, 900)),
                                         (EW, (2000, 100, 1000, 300)), (GRD, (100, 200, 300, 400))])
def test_window_metadata_equals_the_written_crop(s1_data, tmp_path, rel, window):
    from diapsar.io.crop import window_metadata

    src = open_product(s1_data / rel)
    orig = src.swath()
    expected = window_metadata(orig, *window)
    written = open_product(crop_product(src, tmp_path, *window, polarisations=[orig.polarisation])).swath()
    _same(expected, written)
    assert expected.footprint_wkt == written.footprint_wkt


def test_zipped_safe_with_pixels_is_read_and_cropped_without_extraction(s1_data, tmp_path):
    import shutil

    src = open_product(s1_data / S3_SM)
    safe = crop_product(src, tmp_path / "a", 100, 200, 64, 48)
    tif = next((safe / "measurement").glob("*.tiff"))
    lines, samples = np.mgrid[0:64, 0:48]
    pattern = (lines + 1j * samples).astype(np.complex64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with rasterio.open(tif, "r+") as ds:
            ds.write(pattern, 1)
    archive = shutil.make_archive(str(tmp_path / "zipped" / safe.stem), "zip", root_dir=safe.parent,
                                  base_dir=safe.name)
    z = open_product(archive)
    assert z.measurement_path().startswith("/vsizip/") and z.missing_files == []
    assert np.array_equal(z.read(None, None, 5, 6, 20, 30), pattern[5:25, 6:36])
    again = open_product(crop_product(z, tmp_path / "b", 5, 6, 20, 30))
    assert np.array_equal(again.read(None, None, 0, 0, 20, 30), pattern[5:25, 6:36])
    assert not list((tmp_path / "zipped").glob("*.SAFE"))  # nothing was extracted


def test_crop_never_replaces_its_own_source(s1_data, tmp_path):
    import shutil

    from diapsar.errors import OutputError

    safe = crop_product(s1_data / S3_SM, tmp_path / "a", 0, 0, 40, 30)
    copy = tmp_path / "copy.SAFE"
    shutil.copytree(safe, copy)
    before = sorted(p.name for p in copy.rglob("*"))
    with pytest.raises(OutputError, match="would replace the product"):
        crop_product(copy, copy, 0, 0, 10, 10)
    with pytest.raises(OutputError, match="would replace the product"):
        crop_product(copy, tmp_path, 0, 0, 10, 10)  # <out>/<name>.SAFE is the source itself
    assert sorted(p.name for p in copy.rglob("*")) == before


def test_truncated_zip_and_truncated_tiff_give_one_line(s1_data, tmp_path, capsys):
    import shutil

    src = s1_data / "zipped_safe_annotations" / "S1A_IW_SLC__1SDV_20221016T015043_20221016T015111_045461_056FC0_6681.zip"
    cut = tmp_path / src.name
    cut.write_bytes(src.read_bytes()[: src.stat().st_size // 2])
    rc = main(["info", str(cut)])
    err = capsys.readouterr().err
    assert rc != 0 and "Traceback" not in err and len(err.strip().splitlines()) == 1 and "zip" in err
    # a measurement cut in the middle: the header opens, the lost lines cannot be read
    safe = crop_product(s1_data / S3_SM, tmp_path / "a", 0, 0, 400, 300)
    tif = next((safe / "measurement").glob("*.tiff"))
    data = tif.read_bytes()
    tif.write_bytes(data[: len(data) // 2])
    p = open_product(safe)
    assert p.read(None, None, 0, 0, 10, 300).shape == (10, 300)
    with pytest.raises(ProductError, match="cannot read window"):
        p.read(None, None, 350, 0, 40, 300)
    rc = main(["crop", str(safe), "--window", "0", "0", "400", "300", "--out", str(tmp_path / "b")])
    err = capsys.readouterr().err
    assert rc != 0 and "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "b").exists()  # not even the output folder the failed crop created
    shutil.rmtree(safe)
