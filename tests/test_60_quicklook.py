"""QuickMlView.py and diapsar.quicklook: streaming multilook, input forms, rendering, bad input."""

from __future__ import annotations

import subprocess
import sys
import tracemalloc
import warnings
import zipfile
from pathlib import Path

import matplotlib.image as mpimg
import numpy as np
import pytest
import rasterio
from rasterio.control import GroundControlPoint
from rasterio.crs import CRS

from diapsar.errors import ConfigError, ProductError, SelectionError
from diapsar.quicklook import multilook_image, render, resolve_image, s1_mode

REPO = Path(__file__).resolve().parents[1]
SAFE = "S1A_IW_SLC__1SDV_20220918T074920_20220918T074947_045056_056232_62D6.SAFE"
MEAS = "s1a-iw3-slc-vv-20220918t074921-20220918t074946-045056-056232-006"
ANNOTATION = """<?xml version="1.0" encoding="UTF-8"?>
<product><imageAnnotation><imageInformation>
<rangePixelSpacing>2.329562e+00</rangePixelSpacing><azimuthPixelSpacing>1.394053e+01</azimuthPixelSpacing>
<incidenceAngleMidSwath>4.0e+01</incidenceAngleMidSwath>
</imageInformation></imageAnnotation></product>
"""


def _quiet_open(path, mode="r", **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
        return rasterio.open(path, mode, **kw)


def _slc(rows: int, cols: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    s = (rng.integers(-300, 300, (rows, cols)) + 1j * rng.integers(-300, 300, (rows, cols))).astype(np.complex64)
    s[:, :7] = 0  # zero fill as at the swath edges
    return s


def _write_cint16(path: Path, s: np.ndarray, gcps: bool = True) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    rows, cols = s.shape
    with _quiet_open(path, "w", driver="GTiff", dtype="complex_int16", count=1, width=cols, height=rows) as dst:
        dst.write(s, 1)
        if gcps:
            dst.gcps = ([GroundControlPoint(row=r, col=c, x=-27.2 + 1e-4 * c, y=38.7 + 1e-4 * r, z=10.0)
                         for r in (0, rows) for c in (0, cols)], CRS.from_epsg(4326))
    return path


def _reference_ml_amplitude(s: np.ndarray, rg: int, az: int) -> np.ndarray:
    """sqrt of the mean power of the non-zero samples of each cell (NaN for an all-zero cell)."""
    r, c = (s.shape[0] // az) * az, (s.shape[1] // rg) * rg
    p = (np.abs(s[:r, :c].astype(np.complex128)) ** 2).reshape(r // az, az, c // rg, rg)
    n = (p > 0).sum(axis=(1, 3))
    with np.errstate(invalid="ignore"):
        return np.sqrt(p.sum(axis=(1, 3)) / n)


def _make_safe(root: Path, n_meas: int = 1, rows: int = 120, cols: int = 300) -> Path:
    safe = root / SAFE
    for k in range(n_meas):
        name = MEAS if k == 0 else MEAS.replace("-vv-", "-vh-").replace("-006", "-003")
        _write_cint16(safe / "measurement" / f"{name}.tiff", _slc(rows, cols, seed=k))
        (safe / "annotation").mkdir(parents=True, exist_ok=True)
        (safe / "annotation" / f"{name}.xml").write_text(ANNOTATION)
    return safe


def _zip_safe(safe: Path, zpath: Path) -> Path:
    with zipfile.ZipFile(zpath, "w", compression=zipfile.ZIP_STORED) as zf:
        for f in sorted(safe.rglob("*")):
            zf.write(f, f.relative_to(safe.parent).as_posix())
    return zpath


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(REPO / "QuickMlView.py"), *args], capture_output=True, text=True,
                          cwd=cwd, timeout=120)


# ------------------------------------------------------------------------------------------------ multilook
@pytest.mark.parametrize("ram_mb", [512.0, 0.2])  # one strip, and 14 strips of whole cells
def test_slc_multilook_matches_reference(tmp_path, ram_mb):
    s = _slc(203, 157)
    tif = _write_cint16(tmp_path / "slc.tif", s)
    mlk = multilook_image(resolve_image(tif), 5, 3, ram_mb=ram_mb)
    ref = _reference_ml_amplitude(s, 5, 3)
    assert mlk.kind == "slc" and mlk.shape == ref.shape == (67, 31)
    # 7 zero-filled columns: the first 5-column cell is empty (no data), the second one half full
    np.testing.assert_allclose(mlk.bands["amplitude"], ref, rtol=1e-5)
    assert np.isnan(mlk.bands["amplitude"][:, 0]).all() and not mlk.valid[:, 0].any()
    assert np.isfinite(mlk.bands["amplitude"][:, 1:]).all()
    two = np.sqrt((np.abs(s[:3, 7:10].astype(np.complex128)) ** 2).mean())
    assert mlk.bands["amplitude"][0, 1] == pytest.approx(two, rel=1e-5)


def _write_ifg(path: Path, amp, phase, coh, isdata, descriptions=True):
    rows, cols = amp.shape
    with _quiet_open(path, "w", driver="GTiff", dtype="float32", count=4, width=cols, height=rows) as dst:
        for i, b in enumerate((amp, phase, coh, isdata), start=1):
            dst.write(b.astype(np.float32), i)
            if descriptions:
                dst.set_band_description(i, ("amplitude", "phase", "coherence", "isData")[i - 1])
    return path


@pytest.mark.parametrize("descriptions", [True, False])
def test_interferogram_multilook_phase_coherence_isdata(tmp_path, descriptions):
    rows, cols = 40, 60
    amp = np.full((rows, cols), 2.0)
    amp[:, 1::2] = 1.0
    phase = np.full((rows, cols), np.pi - 0.1)
    phase[:, 1::2] = -np.pi + 0.1  # across the wrap: the right mean is +-pi, a raw mean would give 0
    coh = np.tile(np.linspace(0.1, 0.9, cols), (rows, 1))
    isdata = np.ones((rows, cols))
    isdata[:4, :] = 0  # first row of 4x4 cells invalid
    isdata[4:8, :2] = 0  # half of the first cell of the second row invalid
    coh[:4, :] = 123.0  # garbage under isData = 0 must not leak
    tif = _write_ifg(tmp_path / "ifg.tif", amp, phase, coh, isdata, descriptions)
    mlk = multilook_image(resolve_image(tif), 4, 4, ram_mb=0.05)
    assert mlk.kind == "interferogram" and mlk.shape == (10, 15)
    b = mlk.bands
    assert set(b) == {"amplitude", "phase", "coherence", "isdata"}
    assert np.isnan(b["phase"][0]).all() and not mlk.valid[0].any()
    assert np.all(np.abs(np.abs(b["phase"][1:]) - np.pi) < 0.1)  # amplitude-weighted: nearer +pi-0.1
    expect_w = np.angle(2 * np.exp(1j * (np.pi - 0.1)) + np.exp(1j * (-np.pi + 0.1)))
    np.testing.assert_allclose(b["phase"][2:, 1:], expect_w, atol=1e-5)
    np.testing.assert_allclose(b["amplitude"][2, 3], np.sqrt((4 + 1) / 2), rtol=1e-6)
    ref_coh = coh[4:, :].reshape(9, 4, 15, 4).mean(axis=(1, 3))
    np.testing.assert_allclose(b["coherence"][1:, 1:], ref_coh[:, 1:], rtol=1e-5)
    np.testing.assert_allclose(b["coherence"][1, 0], coh[4:8, 2:4].mean(), rtol=1e-5)  # valid half only
    assert b["isdata"][1, 0] == pytest.approx(0.5) and b["isdata"][0, 0] == 0.0 and b["isdata"][5, 5] == 1.0


def test_multilook_stays_within_memory_budget(tmp_path):
    rows, cols = 2400, 4000  # 9.6 M complex samples: 77 MB as complex64
    tif = tmp_path / "big.tif"
    with _quiet_open(tif, "w", driver="GTiff", dtype="complex_int16", count=1, width=cols, height=rows) as dst:
        for r0 in range(0, rows, 400):
            dst.write(_slc(400, cols, seed=r0), 1, window=((r0, r0 + 400), (0, cols)))
    out = tmp_path / "ml.tif"
    tracemalloc.start()
    try:
        # ML 2 x 1 is a 2000 x 2400 grid: the GeoTIFF gets all of it, memory holds what fits half of 8 MB
        mlk = multilook_image(resolve_image(tif), 2, 1, ram_mb=8, geotiff=out)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 10 * 2**20, f"peak Python/numpy memory {peak / 2**20:.1f} MB over an 8 MB budget"
    # 4.8 M cells at 20 bytes each (value + mask, with temporaries) exceed 4 MB: whole factor 5 -> 192 k cells
    assert mlk.ml_shape == (2400, 2000) and mlk.reduction == (5, 5) and mlk.shape == (480, 400)
    with _quiet_open(tif) as ds:
        strip = ds.read(1, window=((1200, 1205), (0, 4000)))
    with _quiet_open(out) as ds:
        assert (ds.width, ds.height) == (2000, 2400)
        full = ds.read(1, window=((1200, 1205), (0, 2000)))
    ref = _reference_ml_amplitude(strip, 2, 1)
    np.testing.assert_allclose(full, ref, rtol=1e-5)
    # the held cell is the power mean of the valid ones of its 5 x 5 multilooked cells
    held = np.sqrt(np.nanmean((ref.astype(np.float64) ** 2).reshape(1, 5, 400, 5), axis=(1, 3)))[0]
    np.testing.assert_allclose(mlk.bands["amplitude"][240], held, rtol=1e-5)


def test_display_reduction_keeps_figure_resolution(tmp_path):
    s = _slc(3300, 600)
    tif = _write_cint16(tmp_path / "tall.tif", s)
    mlk = multilook_image(resolve_image(tif), 1, 1, for_display=True)
    # one screen pixel per cell would make 3300 px: capped at 1600 px high (291 px wide), so cells are
    # averaged by the whole factors that keep at least one cell per screen pixel
    assert mlk.reduction == (2, 2) and mlk.shape == (1650, 300)
    full = multilook_image(resolve_image(tif), 1, 1)
    assert full.reduction == (1, 1) and full.shape == (3300, 600)
    png = render(mlk, tmp_path / "tall.png")
    assert mpimg.imread(png).shape[0] == 1600 + 45 + 50  # image area + margins


# ------------------------------------------------------------------------------------------------ inputs
def test_input_forms_safe_folder_zip_and_path_inside_zip(tmp_path):
    safe = _make_safe(tmp_path / "data")
    z = _zip_safe(safe, tmp_path / (SAFE.replace(".SAFE", ".zip")))
    direct = resolve_image(safe / "measurement" / f"{MEAS}.tiff")
    from_folder = resolve_image(safe)
    from_zip = resolve_image(z)
    inside = resolve_image(f"{z}/{SAFE}/measurement/{MEAS}.tiff")
    assert from_folder.gdal_path == direct.gdal_path
    assert from_zip.gdal_path.startswith("/vsizip/") and inside.gdal_path == from_zip.gdal_path
    a = multilook_image(direct, 6, 2).bands["amplitude"]
    b = multilook_image(inside, 6, 2).bands["amplitude"]
    np.testing.assert_array_equal(a, b)
    assert s1_mode(MEAS) == "iw" and s1_mode("s1a-s3-slc-vv-2021") == "sm" and s1_mode("x") is None


def test_input_errors_are_specific(tmp_path):
    safe = _make_safe(tmp_path / "data", n_meas=2)
    with pytest.raises(SelectionError, match="2 measurement images.*vh"):
        resolve_image(safe)
    z = _zip_safe(safe, tmp_path / "two.zip")
    with pytest.raises(SelectionError, match="2 measurement images"):
        resolve_image(z)
    with pytest.raises(ProductError, match="nope.tiff is not in"):
        resolve_image(f"{z}/{SAFE}/measurement/nope.tiff")
    with pytest.raises(ProductError, match="does not exist"):
        resolve_image(tmp_path / "missing.tif")
    junk = tmp_path / "junk.tif"
    junk.write_text("not a raster")
    from diapsar.quicklook import open_raster

    with pytest.raises(ProductError, match="cannot read image"):
        open_raster(str(junk), str(junk))
    tif = _write_cint16(tmp_path / "s.tif", _slc(20, 30))
    with pytest.raises(ConfigError, match="larger than the image"):
        multilook_image(resolve_image(tif), 40, 1)
    with pytest.raises(SelectionError, match="band 2 is out of range"):
        multilook_image(resolve_image(tif), 1, 1, band=2)


# ------------------------------------------------------------------------------------------------ CLI
def test_cli_real_slc_crop(s1_data, tmp_path):
    crop = sorted((s1_data / "terceira_iw3_20220918_real_crop").glob("*.tiff"))
    assert crop, "real crop missing"
    res = _cli("-in", str(crop[0]), "-ml", "4", "2", "-out", "crop.png", "--geotiff", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert "wrote" in res.stdout and "350 x 300 cells" in res.stdout
    img = mpimg.imread(tmp_path / "crop.png")
    assert img.shape[0] > 300 and float(img[..., :3].std()) > 0.1
    with _quiet_open(tmp_path / "crop.tif") as ds:
        ml = ds.read(1)
        assert ds.descriptions == ("amplitude",) and ds.tags()["multilook_range"] == "4"
    with _quiet_open(crop[0]) as ds:
        ref = _reference_ml_amplitude(ds.read(1), 4, 2)
    np.testing.assert_allclose(ml, ref, rtol=1e-5)
    # land (upper part) is brighter than the sea (lower part) in this crop of Terceira
    assert np.nanmedian(ml[:100]) > 3 * np.nanmedian(ml[-100:])


def test_cli_safe_zip_default_ml_geotiff_gcps(tmp_path):
    safe = _make_safe(tmp_path / "data", rows=160, cols=400)
    z = _zip_safe(safe, tmp_path / SAFE.replace(".SAFE", ".zip"))
    res = _cli("-in", f"{z}/{SAFE}/measurement/{MEAS}.tiff", "--geotiff", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert "ML 20 x 4" in res.stdout  # IW default
    assert "ground cell about 72 m (range) x 56 m (azimuth)" in res.stdout  # 20*2.33/sin(40), 4*13.94
    out = tmp_path / f"{MEAS}_ml20x4.tif"
    with _quiet_open(out) as ds:
        assert (ds.width, ds.height) == (20, 40)
        gcps, crs = ds.gcps
    assert crs.to_epsg() == 4326
    corner = max(gcps, key=lambda g: (g.row, g.col))
    assert (corner.row, corner.col) == (40.0, 20.0) and corner.x == pytest.approx(-27.2 + 1e-4 * 400)
    assert (tmp_path / f"{MEAS}_ml20x4.png").is_file()


def test_cli_interferogram_bands_and_renderings(tmp_path):
    rows, cols = 80, 120
    y, x = np.mgrid[0:rows, 0:cols]
    amp = 1 + x / cols
    phase = np.angle(np.exp(1j * 0.3 * x))
    coh = y / rows
    isdata = (x > 10).astype(np.float32)
    tif = _write_ifg(tmp_path / "interferogram.tif", amp, phase, coh, isdata)
    for band, expect in (("", "phase"), ("1", "amplitude"), ("2", "phase"), ("3", "coherence")):
        args = ["-in", str(tif), "-ml", "2", "2", "-out", f"b{band or 0}.png"] + (["--band", band] if band else [])
        res = _cli(*args, cwd=tmp_path)
        assert res.returncode == 0, res.stderr
        assert f"({expect}, 60 x 40 cells" in res.stdout
        img = mpimg.imread(tmp_path / f"b{band or 0}.png")
        assert img.shape[1] >= 480
    # coloured phase, gray coherence (inside the image area, left half of the figure)
    ph = mpimg.imread(tmp_path / "b2.png")[..., :3]
    co = mpimg.imread(tmp_path / "b3.png")[..., :3]
    mid = slice(ph.shape[0] // 3, 2 * ph.shape[0] // 3)
    assert float(np.abs(ph[mid, 100:400, 0] - ph[mid, 100:400, 2]).max()) > 0.3
    assert float(np.abs(co[mid, 120:400, 0] - co[mid, 120:400, 2]).max()) < 0.02


def test_render_masks_no_data(tmp_path):
    tif = _write_ifg(tmp_path / "i.tif", np.ones((50, 50)), np.zeros((50, 50)), np.full((50, 50), 0.5),
                     np.zeros((50, 50)))
    mlk = multilook_image(resolve_image(tif), 1, 1)
    assert not mlk.valid.any()
    out = render(mlk, tmp_path / "coh.png", what="coherence")
    img = mpimg.imread(out)[..., :3]
    teal = np.array([0x2A, 0x7F, 0x8F]) / 255.0
    assert (np.abs(img - teal).sum(axis=-1) < 0.02).sum() > 1000  # no-data shown in the no-data colour
    # amplitude: water may be rendered black, so no data must show in the no-data colour there too
    amp = np.full((50, 50), 100.0)
    amp[:, :10] = 1.0                                             # dark water, valid
    isdata = np.ones((50, 50))
    isdata[:, 40:] = 0.0                                          # no data on the right
    tif = _write_ifg(tmp_path / "j.tif", amp, np.zeros((50, 50)), np.full((50, 50), 0.5), isdata)
    out = render(multilook_image(resolve_image(tif), 1, 1), tmp_path / "amp.png", what="amplitude")
    img = mpimg.imread(out)[..., :3]
    is_teal = np.abs(img - teal).sum(axis=-1) < 0.02
    is_black = img.sum(axis=-1) < 0.02
    assert is_teal.sum() > 1000 and is_black.sum() > 1000         # no data and water told apart


@pytest.mark.parametrize("args, message", [
    (["-in", "missing.tif", "-ml", "2", "2"], "does not exist"),
    (["-in", "junk.tif", "-ml", "2", "2"], "cannot read image"),
    (["-in", "ok.tif", "-ml", "0", "2"], "multilook factor range must be an integer >= 1"),
    (["-in", "ok.tif", "-ml", "2", "-1"], "multilook factor azimuth must be an integer >= 1"),
    (["-in", "ok.tif", "-ml", "x", "2"], "-ml RG must be an integer"),
    (["-in", "ok.tif", "-ml", "2", "2", "--band", "2"], "band 2 is out of range: ok.tif has 1 band(s)"),
    (["-in", "ok.tif", "-ml", "2", "2", "--band", "0"], "band 0 is out of range"),
    (["-in", "ok.tif", "-ml", "200", "2"], "larger than the image"),
    (["-in", "two.zip", "-ml", "2", "2"], "holds 2 measurement images"),
    (["-in", "ok.tif", "-ml", "2", "2", "-out", "x.jpg"], "-out must name a .png file"),
    (["-in", "empty.tiff", "-ml", "2", "2"], "cannot read image empty.tiff: the file is empty (0 bytes)"),
    (["-in", "junk.tif", "-ml", "2", "2"], "cannot read image junk.tif: not recognized as being in a supported"),
    (["-in", "*.tiff.vv", "-ml", "2", "2"], "*.tiff.vv matches no file"),
    (["-in", "ok.tif", "-ml", "2"], "argument -ml: expected 2 arguments"),
    (["-ml", "2", "2"], "the following arguments are required: -in"),
    (["-in", "*.tif", "-ml", "2", "2"], "*.tif matches 2 files, pass one of them: junk.tif, ok.tif"),
])
def test_cli_bad_input_one_line(tmp_path, args, message):
    (tmp_path / "junk.tif").write_text("not a raster")
    (tmp_path / "empty.tiff").write_bytes(b"")  # as the 0-byte measurement files of metadata-only SAFEs
    _write_cint16(tmp_path / "ok.tif", _slc(20, 30))
    _zip_safe(_make_safe(tmp_path / "data", n_meas=2, rows=10, cols=10), tmp_path / "two.zip")
    res = _cli(*args, cwd=tmp_path)
    assert res.returncode != 0
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith("QuickMlView.py: error:") and message in lines[0], lines[0]
    assert "Traceback" not in res.stderr and not list(tmp_path.glob("*.png"))


def test_gcp_ground_spacing_sets_the_cell_aspect(tmp_path):
    from diapsar.quicklook import gcp_pixel_spacing

    tif = _write_cint16(tmp_path / "g.tif", _slc(100, 200))  # GCPs: 1e-4 deg of longitude/latitude per pixel
    with _quiet_open(tif) as ds:
        col_m, row_m = gcp_pixel_spacing(*ds.gcps)
    lat_mid = np.radians(38.7 + 50e-4)
    assert col_m == pytest.approx(111_320.0 * 1e-4 * np.cos(lat_mid), rel=1e-3)
    assert row_m == pytest.approx(11.132, rel=1e-3)
    mlk = multilook_image(resolve_image(tif), 4, 2)
    assert mlk.cell_aspect == pytest.approx(row_m * 2 / (col_m * 4), rel=1e-6)
    res = _cli("-in", str(tif), "-ml", "4", "2", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert f"ground cell about {col_m * 4:.0f} m (columns) x {row_m * 2:.0f} m (rows), from the image's GCPs" \
        in res.stdout


def test_db_stretch_keeps_land_readable_next_to_dark_sea():
    from diapsar.quicklook import db_stretch, stretch

    rng = np.random.default_rng(7)
    sea = rng.normal(20.0, 2.0, 9500)          # calm sea, dB
    land = rng.normal(38.0, 3.0, 500)          # 5 % land
    scene = np.concatenate([sea, land, [np.nan] * 50])
    lo, hi, note = db_stretch(scene)
    plain_lo, plain_hi = stretch(scene)
    assert note and lo == plain_lo
    assert np.mean(land >= plain_hi) > 0.3      # the plain 98 % limit saturates much of the land
    assert np.mean(land >= hi) < 0.05           # the adapted one keeps its texture
    land_only = rng.normal(38.0, 3.0, 10000)   # one population, or land the majority: the plain stretch
    assert db_stretch(land_only) == (*stretch(land_only), "")
    lake = rng.normal(10.0, 2.0, 1000)         # 10 % dark water in a land scene
    scene = np.concatenate([lake, land_only])
    lo, hi, note = db_stretch(scene)
    plain_lo, plain_hi = stretch(scene)
    assert note and hi == plain_hi and lo > plain_lo
    assert plain_hi - plain_lo > 1.5 * (hi - lo)     # land gets at least 1.5x the gray levels
    assert np.mean(land_only <= lo) < 0.05     # land spans the gray scale, the water shows black
    assert np.mean(lake <= lo) > 0.95


def test_real_crop_sea_part_land_not_saturated(s1_data, tmp_path):
    """Bottom of the Terceira crop: mostly sea with the Monte Brasil peninsula."""
    from rasterio.windows import Window

    from diapsar.quicklook import amplitude_db, db_stretch

    crop = sorted((s1_data / "terceira_iw3_20220918_real_crop").glob("*.tiff"))[0]
    part = tmp_path / "s1a-iw3-slc-vv-sea-part.tiff"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
        with rasterio.open(crop) as src:
            a = src.read(1, window=Window(0, 290, src.width, src.height - 290))
            prof = {**src.profile, "height": a.shape[0], "width": a.shape[1]}
        with rasterio.open(part, "w", **prof) as dst:
            dst.write(a, 1)
        mlk = multilook_image(resolve_image(part), 5, 1)
    db = amplitude_db(mlk.bands["amplitude"])
    lo, hi, note = db_stretch(db)
    bright = db[db > 33.0]                     # the peninsula (sea is below ~30 dB here)
    assert note and 0.02 < bright.size / np.isfinite(db).sum() < 0.3
    assert np.mean(bright >= hi) < 0.1         # at most a tenth of the land at full white


def test_engine_and_cli_are_separate_modules():
    """The engine (diapsar.quicklook) imports no command-line code; the console script names the CLI module."""
    import importlib
    import tomllib

    code = ("import sys, diapsar.quicklook as q; "
            "print(sorted(m for m in ('argparse', 'diapsar.cli', 'diapsar.quicklook_cli') if m in sys.modules), "
            "hasattr(q, 'main'))")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=60)
    assert res.returncode == 0, res.stderr
    assert "diapsar.cli" not in res.stdout and "quicklook_cli" not in res.stdout and res.stdout.endswith("False\n")
    entry = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]["QuickMlView.py"]
    module, func = entry.split(":")
    assert callable(getattr(importlib.import_module(module), func)) and module != "diapsar.quicklook"


# ------------------------------------------------------------------------------------------------ uninformative
def _png_text(path: Path) -> dict[str, str]:
    from PIL import Image

    with Image.open(path) as im:
        return dict(im.text)


def _colour_bar_column(png: Path) -> np.ndarray:
    """RGB of the column where the colour bar is drawn (18-34 px right of the image area)."""
    img = mpimg.imread(png)[..., :3]
    return img[45: img.shape[0] - 50, img.shape[1] - 120 + 26]  # beside the image area (margins 45, 50)


@pytest.mark.parametrize("kind", ["zero_slc", "constant_raster"])
def test_all_zero_or_constant_image_warns_and_says_so(tmp_path, kind):
    if kind == "zero_slc":  # as a metadata-only S1 product: real size, every sample 0
        _write_cint16(tmp_path / "img.tif", np.zeros((300, 400), np.complex64))
        reason = "all samples are zero (metadata-only product?)"
    else:
        with _quiet_open(tmp_path / "img.tif", "w", driver="GTiff", dtype="float32", count=1, width=400,
                         height=300) as dst:
            dst.write(np.full((300, 400), 5.0, np.float32), 1)
        reason = "band1 is constant (5) everywhere"
    res = _cli("-in", "img.tif", "-ml", "2", "2", "-out", "img.png", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    err = res.stderr.strip().splitlines()
    assert err == [f"QuickMlView.py: warning: img.tif: {reason}: the quicklook shows nothing"]
    text = _png_text(tmp_path / "img.png")
    assert text["Description"].endswith(f"colour scale: none ({reason})")
    # no colour bar: the column where it would be is plain white
    assert float(_colour_bar_column(tmp_path / "img.png").min()) > 0.99
    # the image area is one plain colour except for the written reason (white text on a dark box)
    img = mpimg.imread(tmp_path / "img.png")[..., :3]
    area = img[60:300, 90:540].reshape(-1, 3)
    fill = np.array([0x2A, 0x7F, 0x8F]) / 255.0 if kind == "zero_slc" else np.full(3, 0x80 / 255.0)
    assert np.mean(np.abs(area - fill).sum(axis=1) < 0.02) > 0.7
    assert np.mean(area.sum(axis=1) > 2.9) > 0.002                 # the words are there


def test_varying_image_has_colour_bar_and_no_warning(tmp_path):
    _write_cint16(tmp_path / "img.tif", _slc(300, 400))
    res = _cli("-in", "img.tif", "-ml", "2", "2", "-out", "img.png", cwd=tmp_path)
    assert res.returncode == 0 and res.stderr == ""
    bar = _colour_bar_column(tmp_path / "img.png")
    assert float(bar.max() - bar.min()) > 0.9  # a gray ramp from black to white
    assert "colour scale: dB" in _png_text(tmp_path / "img.png")["Description"]


# ------------------------------------------------------------------------------------------------ titles, axes
def test_title_total_looks_dates_and_radar_axes(tmp_path):
    from diapsar.quicklook import pair_dates

    pair = tmp_path / "20220918_m_20220930_s"
    pair.mkdir()
    tif = _write_ifg(pair / "interferogram.tif", np.full((60, 90), 2.0), np.angle(np.exp(0.2j * np.arange(90)))
                     * np.ones((60, 1)), np.full((60, 90), 0.5), np.ones((60, 90)))
    with _quiet_open(tif, "r+") as ds:  # as the chain writes them
        ds.update_tags(master=f"{MEAS}.tiff", slave=MEAS.replace("20220918t074921", "20221012t074921") + ".tiff",
                       ml_range="3", ml_azimuth="3", first_line="9799", first_sample="10999")
    res = _cli("-in", str(tif), "-ml", "2", "2", "-out", "q.png", "--geotiff", cwd=tmp_path)
    assert res.returncode == 0 and res.stderr == "", res.stderr
    assert "ML 2 x 2, 6 x 6 looks of the SLC" in res.stdout
    text = _png_text(tmp_path / "q.png")
    # the tags win over the folder name (which says 2022-09-30)
    assert "master 2022-09-18, slave 2022-10-12 (+24 days)" in text["Title"]
    assert "ML 6x6 of the SLC (range x azimuth; 3x3 in the file, then 2x2)" in text["Title"]
    assert text["Description"].startswith("x: range sample (SLC)  ·  both axes in full-resolution SLC pixels of "
                                          "the full swath; y: azimuth line (SLC)")
    with _quiet_open(tmp_path / "q.tif") as ds:  # the GeoTIFF keeps the total looks and the pair
        tags = ds.tags()
    assert (tags["ml_range"], tags["multilook_range"], tags["first_line"]) == ("6", "2", "9799")
    assert tags["master"] == f"{MEAS}.tiff"
    res = _cli("-in", "q.tif", "-ml", "1", "1", "-out", "q2.png", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert "ML 6x6 of the SLC (range x azimuth; 6x6 in the file)" in _png_text(tmp_path / "q2.png")["Title"]
    assert pair_dates({}, pair / "interferogram.tif") == ("2022-09-18", "2022-09-30")
    assert pair_dates({}, tmp_path / "x.tif") is None
    # a plain SLC: looks as asked, axes in SLC pixels from 0
    _write_cint16(tmp_path / "s.tif", _slc(40, 60))
    assert _cli("-in", "s.tif", "-ml", "4", "2", "-out", "s.png", cwd=tmp_path).returncode == 0
    text = _png_text(tmp_path / "s.png")
    assert "ML 4x2 of the SLC (range x azimuth)" in text["Title"] and "master" not in text["Title"]
    assert "full-resolution SLC pixels;" in text["Description"]
