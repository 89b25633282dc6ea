"""Sentinel-1 reader: every real product and annotation of the shared test data, pixels, bad input."""

from __future__ import annotations

import csv
import re
import shutil
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

from diapsar.cli import main
from diapsar.errors import ProductError, SelectionError
from diapsar.io.annotation import esa_burst_id, parse_annotation, parse_noise, relative_orbit
from diapsar.io.measurement import MeasurementReader
from diapsar.io.safe import open_annotation, open_product, parse_manifest

S1B_IW = "format_coverage/S1B_IW_SLC__1SDV_20210401T052622_20210401T052650_026269_032297_EFA4.SAFE"
S3_SM = "format_coverage/S1A_S3_SLC__1SDV_20210401T152855_20210401T152914_037258_04638E_6001.SAFE"
S6_SM = "format_coverage/S1A_S6_SLC__1SDV_20210402T115512_20210402T115535_037271_046407_39FD.SAFE"
GRD = "rome_iw_grd_metadata/S1B_IW_GRDH_1SDV_20211223T051122_20211223T051147_030148_039993_5371.SAFE"
MOROCCO = "morocco_iw_pair_20230904_20230916/S1A_IW_SLC__1SDV_20230904T063730_20230904T063757_050174_0609E3_DAA1.SAFE"
TERCEIRA = "terceira_iw3_20220918_real_crop"
ZIP_2020 = "zipped_safe_annotations/S1A_IW_SLC__1SDV_20200511T135117_20200511T135144_032518_03C421_7768.zip"
ZIP_2022 = "zipped_safe_annotations/S1A_IW_SLC__1SDV_20221016T015043_20221016T015111_045461_056FC0_6681.zip"


def all_inputs(root: Path) -> list[Path]:
    """Every SAFE folder, S1 zip and lone annotation XML under the shared data folder."""
    safes = sorted(p for p in root.rglob("*.SAFE") if p.is_dir())
    zips = sorted(p for p in root.rglob("S1*.zip"))
    lone = sorted(p for p in root.rglob("s1?-*.xml") if ".SAFE" not in str(p))
    return safes + zips + lone


def inventory(root: Path) -> dict[str, dict]:
    with open(root / "INVENTORY_annotations.tsv", newline="") as fh:
        return {Path(r["file"]).name: r for r in csv.DictReader(fh, delimiter="\t")}


def test_every_product_and_annotation_opens_and_matches_the_inventory(s1_data):
    inv = inventory(s1_data)
    inputs = all_inputs(s1_data)
    assert len(inputs) >= 17
    seen = set()
    for path in inputs:
        if path.name.startswith("S1A_S6_"):
            continue  # manifest only: refused, see the next test
        product = open_product(path)
        assert product.images, path
        for sw, pol in product.images:
            m = product.swath(sw, pol)
            assert m.mission == product.mission and m.mode == product.mode
            assert m.mode in ("IW", "EW", "SM")
            assert 1 <= m.relative_orbit <= 175 and m.pass_direction in ("Ascending", "Descending")
            assert m.first_line_time_s < m.last_line_time_s
            span_lines = (m.last_line_time_s - m.first_line_time_s) / m.azimuth_time_interval_s
            if m.mode == "SM" or m.product_type == "GRD":
                assert abs(span_lines - (m.number_of_lines - 1)) < 1.0
            assert len(m.orbit) >= 5 and np.all(np.diff(m.orbit.time_s) > 0)
            assert 5e9 < m.radar_frequency_hz < 5.5e9 and m.range_sampling_rate_hz > 1e7
            assert m.dc_estimates and m.fm_rates
            if m.bursts:
                assert len(m.bursts) * m.lines_per_burst == m.number_of_lines
                assert all(b.first_valid_sample.size == m.lines_per_burst for b in m.bursts)
                assert all(b.burst_id is not None for b in m.bursts)
                assert np.all(np.diff([b.azimuth_time_s for b in m.bursts]) > 0)
                last = m.bursts[-1].azimuth_time_s + (m.lines_per_burst - 1) * m.azimuth_time_interval_s
                assert abs(last - m.last_line_time_s) < 2 * m.azimuth_time_interval_s
                assert abs(m.bursts[0].azimuth_time_s - m.first_line_time_s) < 2 * m.azimuth_time_interval_s
            if m.geolocation_grid.line.size:
                assert m.footprint_wkt.startswith("POLYGON")
            row = inv.get(m.annotation_name)
            if row is None:
                continue
            seen.add(m.annotation_name)
            assert (m.mission, m.swath, m.polarisation) == (row["mission"], row["swath"], row["pol"])
            assert m.mode == ("SM" if row["mode"].startswith("S") and row["mode"][1:].isdigit() else row["mode"])
            assert m.absolute_orbit == int(row["absorb"]) and m.relative_orbit == int(row["relorb"])
            assert m.pass_direction == row["pass"]
            assert (len(m.bursts), m.number_of_lines, m.number_of_samples) == (
                int(row["nbursts"]), int(row["lines"]), int(row["samples"]))
            if row["lat"] != "NA":
                lat0, lat1 = (float(v) for v in row["lat"].split(".."))
                g = m.geolocation_grid
                assert abs(g.latitude_deg.min() - lat0) < 0.01 and abs(g.latitude_deg.max() - lat1) < 0.01
    assert len(seen) == len(inv)  # every inventoried annotation was reached through the walk


def test_manifest_only_product_is_refused_in_one_line(s1_data, capsys):
    with pytest.raises(ProductError, match="no annotation"):
        open_product(s1_data / S6_SM)
    rc = main(["info", str(s1_data / S6_SM)])
    err = capsys.readouterr().err
    assert rc != 0 and "Traceback" not in err and len(err.strip().splitlines()) == 1 and "no annotation" in err


def test_relative_orbit_formula_agrees_with_every_manifest(s1_data):
    checked = 0
    for safe in sorted(s1_data.rglob("manifest.safe")):
        info = parse_manifest(safe.read_bytes())
        if info.relative_orbit is None:
            continue
        assert relative_orbit(info.mission, info.absolute_orbit) == info.relative_orbit, safe
        checked += 1
    assert checked >= 10
    assert relative_orbit("S1A", 73) == 1 and relative_orbit("S1B", 27) == 1
    with pytest.raises(ProductError, match="unknown mission"):
        relative_orbit("S1X", 100)


def test_download_listing_uses_the_reader_relative_orbit(s1_data):
    """The search listing (diapsar.download) and the reader compute the relative orbit with one formula."""
    import datetime as dt

    from diapsar.download.products import Product
    from diapsar.download.products import relative_orbit as listing_relative_orbit

    checked = 0
    for safe in sorted(s1_data.rglob("*.SAFE")):
        manifest = safe / "manifest.safe"
        if not manifest.is_file():
            continue
        info = parse_manifest(manifest.read_bytes())
        if info.relative_orbit is None:
            continue
        assert Product(id="x", name=safe.name).relative_orbit == info.relative_orbit, safe
        checked += 1
    assert checked >= 10
    # S1C changed track phase in June 2026: the listing follows the acquisition date like the reader
    before, after = dt.datetime(2025, 4, 12, 8, 31, tzinfo=dt.UTC), dt.datetime(2026, 9, 1, tzinfo=dt.UTC)
    for when in (before, after):
        t = (when.replace(tzinfo=None) - dt.datetime(2000, 1, 1)).total_seconds()
        assert listing_relative_orbit("S1C", 9000, when) == relative_orbit("S1C", 9000, t)
    assert listing_relative_orbit("S1C", 9000, before) != listing_relative_orbit("S1C", 9000, after)
    assert listing_relative_orbit("S1D", 1000) == relative_orbit("S1D", 1000)
    assert listing_relative_orbit("S2A", 1000) is None


def test_computed_burst_ids_equal_the_annotation_burst_ids(s1_data):
    n = 0
    for xml in sorted(s1_data.rglob("s1?-*.xml")):
        if "calibration" in xml.parts or "rfi" in xml.parts:
            continue
        root = ET.parse(xml).getroot()
        ann_ids = [int(e.text) for e in root.iter("burstId")]
        if not ann_ids:
            continue
        m = parse_annotation(xml.read_bytes(), xml.name)
        for b, expected in zip(m.bursts, ann_ids):
            mid = b.sensing_time_s + m.pri_s * (m.lines_per_burst - 1) / 2
            assert esa_burst_id(mid, m.ascending_node_time_s, m.relative_orbit, m.mode) == expected
            n += 1
    assert n > 200


def test_annotation_lists_are_complete(s1_data):
    xml = next((s1_data / TERCEIRA).glob("s1a-*.xml"))
    root = ET.parse(xml).getroot()
    m = open_annotation(xml)
    count = {e.tag: int(e.get("count")) for e in root.iter() if e.get("count") is not None}
    assert len(m.orbit) == count["orbitList"]
    assert m.geolocation_grid.line.size == count["geolocationGridPointList"]
    assert len(m.dc_estimates) == count["dcEstimateList"] and len(m.fm_rates) == count["azimuthFmRateList"]
    assert len(m.bursts) == count["burstList"] == 9
    assert m.lines_per_burst == 1514 and m.number_of_samples == 24203
    b7 = m.bursts[6]  # README: burst 7 spans 9084-10597, valid lines 9110-10573
    assert (b7.first_line, b7.first_valid_line, b7.last_valid_line) == (9084, 9110, 10573)
    first = root.find("dopplerCentroid/dcEstimateList/dcEstimate/dataDcPolynomial").text.split()
    assert np.allclose(m.dc_estimates[0].coefficients, [float(v) for v in first])
    assert m.calibration is None  # a lone annotation without calibration/ beside it
    assert m.footprint_wkt.startswith("POLYGON((")


def test_calibration_noise_and_grd_srgr(s1_data):
    p = open_product(s1_data / MOROCCO)
    m = p.swath("IW2", "VH")
    assert m.calibration is not None and m.noise is not None
    cal = m.calibration
    assert len(cal.pixel) == cal.line.size > 0 and all(a.size == b.size for a, b in zip(cal.pixel, cal.sigma_nought))
    assert m.noise.range_vectors is not None and m.noise.azimuth_blocks
    g = open_product(s1_data / GRD).swath()
    assert g.product_type == "GRD" and g.pixel_value == "Detected" and len(g.srgr) == 28
    assert len(g.srgr[0]["srgr_coefficients"]) == 9 and len(g.noise.azimuth_blocks) == 3


def test_legacy_fm_rate_and_noise_forms_parse_like_the_new_ones(s1_data):
    xml = next((s1_data / TERCEIRA).glob("s1a-*.xml"))
    data = xml.read_text()
    new = parse_annotation(data.encode(), xml.name)

    def to_c(match):
        c = match.group(1).split()
        return f"<c0>{c[0]}</c0><c1>{c[1]}</c1><c2>{c[2]}</c2>"

    old_text = re.sub(r'<azimuthFmRatePolynomial count="3">([^<]*)</azimuthFmRatePolynomial>', to_c, data)
    assert "<c0>" in old_text and "azimuthFmRatePolynomial" not in old_text
    old = parse_annotation(old_text.encode(), xml.name)
    assert len(old.fm_rates) == len(new.fm_rates)
    for a, b in zip(old.fm_rates, new.fm_rates):
        assert np.array_equal(a.coefficients, b.coefficients) and a.t0_s == b.t0_s

    noise_xml = next((s1_data / MOROCCO / "annotation" / "calibration").glob("noise-*.xml"))
    ntext = noise_xml.read_text()
    legacy = ntext.replace("noiseRangeVectorList", "noiseVectorList").replace("noiseRangeVector", "noiseVector")
    legacy = legacy.replace("noiseRangeLut", "noiseLut")
    legacy = re.sub(r"<noiseAzimuthVectorList.*</noiseAzimuthVectorList>", "", legacy, flags=re.S)
    a, b = parse_noise(ntext.encode()), parse_noise(legacy.encode())
    assert not b.azimuth_blocks and a.azimuth_blocks
    assert np.array_equal(a.range_vectors.line, b.range_vectors.line)
    assert all(np.array_equal(x, y) for x, y in zip(a.range_vectors.values, b.range_vectors.values))


def test_zipped_products_are_read_in_place(s1_data):
    z = open_product(s1_data / ZIP_2020)
    assert len(z.images) == 6 and z.relative_orbit == 71
    assert z.measurement_path("IW2", "VH").startswith("/vsizip/")
    assert not z.has_pixels("IW2", "VH")
    with pytest.raises(ProductError, match="0 bytes"):
        z.read("IW2", "VH", 0, 0, 4, 4)
    partial = open_product(s1_data / ZIP_2022)
    assert partial.images == [("IW2", "VV")]
    assert len(partial.missing_files) > 20
    assert all(not partial.has_member(f) for f in partial.missing_files)


def test_lone_measurement_tiff_and_selection(s1_data):
    tif = next((s1_data / S3_SM / "measurement").glob("*.tiff"))
    p = open_product(tif)
    assert p.images == [("S3", "VH")] and p.mode == "SM"
    with pytest.raises(SelectionError, match="available: S3 VH"):
        p.swath("S3", "VV")
    full = open_product(s1_data / S1B_IW)
    with pytest.raises(SelectionError, match="IW1 VV, IW1 VH, IW2 VH"):
        full.swath("IW2", "VV")
    assert full.swath().swath == "IW1" and full.swath().polarisation == "VV"


def test_windowed_pixels(s1_data):
    p = open_product(s1_data / S1B_IW)
    a = p.read("IW1", "VV", 1000, 2000, 30, 40)
    assert a.dtype == np.complex64 and a.shape == (30, 40)
    import rasterio

    path = p.measurement_path("IW1", "VV")
    with rasterio.open(path) as ds:
        direct = ds.read(1, window=((1000, 1030), (2000, 2040)))
    assert np.array_equal(a, direct.astype(np.complex64))
    with pytest.raises(SelectionError, match="outside"):
        p.read("IW1", "VV", 13500, 0, 30, 40)
    # the real Terceira crop (complex values holding int16 numbers)
    tif = next((s1_data / TERCEIRA).glob("*.tiff"))
    r = MeasurementReader(tif)
    w = r.read((100, 200, 16, 32))
    full = r.read()
    assert r.shape == (601, 1401) and w.dtype == np.complex64
    assert np.array_equal(w, full[100:116, 200:232])
    assert np.all(w.real == np.round(w.real)) and np.abs(full).max() > 100
    g = open_product(s1_data / GRD)
    assert g.read(None, None, 0, 0, 3, 3).dtype == np.float32


def test_opening_is_fast(s1_data):
    t0 = time.perf_counter()
    p = open_product(s1_data / MOROCCO)
    p.swath("IW3", "VV")
    assert time.perf_counter() - t0 < 1.0


def _small_safe(s1_data, tmp_path) -> Path:
    """A copy of the S1B IW product's annotations only (no pixels)."""
    src = s1_data / S1B_IW
    dst = tmp_path / src.name
    shutil.copytree(src / "annotation", dst / "annotation")
    shutil.copy(src / "manifest.safe", dst / "manifest.safe")
    return dst


def _cli_error(capsys, argv) -> str:
    rc = main(argv)
    err = capsys.readouterr().err
    assert rc != 0, argv
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    return err


def test_bad_inputs_give_one_line(s1_data, tmp_path, capsys):
    safe = _small_safe(s1_data, tmp_path)
    ann = sorted((safe / "annotation").glob("s1b-iw1-slc-vv-*.xml"))[0]
    # info works on the annotation-only copy, and lists the absent measurements
    assert main(["info", str(safe)]) == 0
    out = capsys.readouterr().out
    assert "IW2  VH" in out and "missing files" in out
    copy = open_product(safe)
    for sw, pol in copy.images:  # the measurements not copied are reported as missing
        assert copy.files(sw, pol).measurement in copy.missing_files

    err = _cli_error(capsys, ["info", str(tmp_path / "nothing.SAFE")])
    assert "does not exist" in err
    for argv in (["--debug", "info", str(tmp_path / "nothing.SAFE")], ["info", str(tmp_path / "nothing.SAFE"), "--debug"]):
        with pytest.raises(ProductError, match="does not exist"):  # --debug: the full traceback, either place
            main(argv)
    # truncated annotation
    text = ann.read_bytes()
    ann.write_bytes(text[: len(text) // 2])
    err = _cli_error(capsys, ["info", str(safe)])
    assert ann.name in err and "truncated" in err
    # unknown mission
    ann.write_bytes(text.replace(b"<missionId>S1B</missionId>", b"<missionId>S1X</missionId>"))
    err = _cli_error(capsys, ["info", str(ann)])
    assert "unknown mission 'S1X'" in err
    # missing annotation folder entirely
    ann.write_bytes(text)
    shutil.rmtree(safe / "annotation")
    err = _cli_error(capsys, ["info", str(safe)])
    assert "no annotation" in err
    # unreadable measurement TIFF
    safe2 = _small_safe(s1_data, tmp_path / "b")
    (safe2 / "measurement").mkdir()
    bad = safe2 / "measurement" / (ann.stem + ".tiff")
    bad.write_bytes(b"not a tiff at all" * 10)
    with pytest.raises(ProductError, match="not a readable TIFF"):
        open_product(safe2).read("IW1", "VV", 0, 0, 2, 2)
    # info reports it (pixels no, with the reason) instead of "pixels yes"
    assert main(["info", str(safe2), "--json"]) == 0
    import json

    im = next(i for i in json.loads(capsys.readouterr().out)["images"] if (i["swath"], i["polarisation"]) == ("IW1", "VV"))
    assert im["pixels"] is False and "not a readable TIFF" in im["pixels_error"]
    err = _cli_error(capsys, ["crop", str(safe2), "--window", "0", "0", "10", "10", "--out", str(tmp_path / "o"),
                              "--pol", "VV"])
    assert "not a readable TIFF" in err
    # product without the asked polarisation / swath
    err = _cli_error(capsys, ["crop", str(safe2), "--window", "0", "0", "10", "10", "--out", str(tmp_path / "o"),
                              "--swath", "IW3"])
    assert "no IW3 image" in err and "available" in err
    assert not (tmp_path / "o").exists()


def test_safe_without_manifest_and_annotation_inside_a_safe(s1_data, tmp_path):
    src = s1_data / S1B_IW
    plain = tmp_path / "no_manifest.SAFE"
    shutil.copytree(src / "annotation", plain / "annotation")
    p = open_product(plain)  # name does not follow the ESA pattern: identity from the annotation header
    assert p.manifest is None and p.missing_files == []
    assert (p.mission, p.mode, p.product_type, p.relative_orbit) == ("S1B", "IW", "SLC", 168)
    ref = open_product(src)
    assert p.start_time_s == ref.swath().start_time_s and p.images == ref.images
    assert p.footprint_wkt.startswith("POLYGON")
    ann = next((s1_data / MOROCCO / "annotation").glob("s1a-iw1-slc-vv-*.xml"))
    m = open_annotation(ann)
    assert m.calibration is not None and m.noise is not None and m.product_name == MOROCCO.split("/")[1][:-5]


def test_esa_named_safe_without_manifest_folder_and_zip(s1_data, tmp_path, capsys):
    """The usual case: a SAFE keeping its ESA name but not its manifest (identity from the name)."""
    import zipfile

    src = s1_data / S3_SM
    safe = tmp_path / src.name
    shutil.copytree(src / "annotation", safe / "annotation")
    shutil.copytree(src / "measurement", safe / "measurement")
    zpath = tmp_path / (src.name[:-5] + ".zip")
    with zipfile.ZipFile(zpath, "w") as z:
        for f in sorted(safe.rglob("*")):
            z.write(f, f.relative_to(tmp_path).as_posix())
    ref = open_product(src)
    for path in (safe, zpath):
        p = open_product(path)
        assert p.manifest is None and p.images == ref.images
        assert (p.mission, p.mode, p.product_type, p.absolute_orbit) == ("S1A", "SM", "SLC", 37258)
        assert abs(p.start_time_s - ref.start_time_s) < 1.0 and abs(p.stop_time_s - ref.stop_time_s) < 1.0
        assert p.relative_orbit == ref.relative_orbit
        assert np.array_equal(p.read(None, None, 100, 200, 3, 4), ref.read(None, None, 100, 200, 3, 4))
        assert main(["info", str(path)]) == 0
        assert "S3   VH" in capsys.readouterr().out


def test_annotation_with_a_free_name_is_found_by_its_header(s1_data, tmp_path):
    src = s1_data / S3_SM
    safe = tmp_path / "simulated.SAFE"
    (safe / "annotation").mkdir(parents=True)
    (safe / "measurement").mkdir()
    ann = next((src / "annotation").glob("s1a-*.xml"))
    shutil.copy(ann, safe / "annotation" / "swath.xml")
    shutil.copy(next((src / "measurement").glob("*.tiff")), safe / "measurement" / "swath.tiff")
    p = open_product(safe)
    assert p.images == [("S3", "VH")] and p.has_pixels()
    assert p.read(None, None, 0, 0, 2, 2).shape == (2, 2)
