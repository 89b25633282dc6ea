"""DEM layer: tile discovery, VRT assembly, tile indexes, missing tiles, geoid, ellipsoidal heights."""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

import numpy as np
import pyogrio
import pytest
import rasterio
import shapely
from rasterio.windows import Window
from shapely.geometry import box

from diapsar.cli import main
from diapsar.errors import ConfigError, DemError
from diapsar.geoid import Geoid, default_geoid_path, geoid_undulation, geoid_undulation_grid
from diapsar.io.dem import (
    build_dem_vrt,
    build_scene_dem,
    cell_name,
    find_tiles,
    gdal_path,
    parse_cell,
    read_dem,
)

# NGA EGM96 readme, sample output of INTPT.F (OUTINTPT.DAT): latitude, longitude (0..360 E), N (m),
# interpolated by NGA from the same 15' grid (WW15MGH.GRD) that diapsar ships.
NGA_OUTINTPT = [
    (38.6281550, 269.7791550, -31.628),
    (-14.6212170, 305.0211140, -2.969),
    (46.8743190, 102.4487290, -43.575),
    (-23.6174460, 133.8747120, 15.871),
    (38.6254730, 359.9995000, 50.066),
    (-0.4667440, 0.0023000, 17.329),
]


@pytest.fixture(scope="module")
def terceira_dem(s1_data) -> Path:
    d = s1_data / "terceira_iw3_20220918_real_crop" / "dem"
    if not d.is_dir():
        pytest.skip(f"{d} not found")
    return d


@pytest.fixture(scope="module")
def rome_tif(s1_data) -> Path:
    p = s1_data / "rome_iw_grd_metadata" / "Rome-30m-DEM.tif"
    if not p.is_file():
        pytest.skip(f"{p} not found")
    return p


def _read_tile(path: Path) -> tuple[np.ndarray, rasterio.Affine]:
    with rasterio.open(gdal_path(path)) as ds:
        return ds.read(1), ds.transform


# ---- geoid ---------------------------------------------------------------------------------------------------

def test_geoid_matches_nga_reference_values():
    lat = np.array([p[0] for p in NGA_OUTINTPT])
    lon = np.array([p[1] for p in NGA_OUTINTPT])
    ref = np.array([p[2] for p in NGA_OUTINTPT])
    cubic = geoid_undulation(lat, lon)
    assert np.abs(cubic - ref).max() < 0.015          # observed 1.1 cm (grid rounded to 1 cm)
    linear = geoid_undulation(lat, lon, method="linear")
    assert np.abs(linear - ref).max() < 0.07          # bilinear on 15' nodes: a few cm
    # longitudes given in -180..180 give the same values; scalars give floats
    assert np.allclose(geoid_undulation(lat, lon - 360.0), cubic, atol=1e-9)
    n = geoid_undulation(38.6254730, -0.0005)
    assert isinstance(n, float) and abs(n - 50.066) < 0.015


def test_geoid_grid_equals_points_and_poles():
    lats = np.linspace(39.2, 38.4, 97)
    lons = np.linspace(-29.3, -26.8, 131)
    grid = geoid_undulation_grid(lats, lons)
    la, lo = np.meshgrid(lats, lons, indexing="ij")
    assert grid.shape == (97, 131)
    assert np.allclose(grid, geoid_undulation(la, lo), atol=1e-9)
    # Azores: EGM96 geoid about 50-60 m above the ellipsoid
    assert 45 < grid.min() < grid.max() < 65
    # first/last rows of the grid are the poles: the same value all around
    north = geoid_undulation(np.full(8, 90.0), np.linspace(-180, 170, 8))
    assert np.ptp(north) < 1e-9 and abs(north[0] - 13.61) < 0.01
    assert abs(geoid_undulation(-90.0, 0.0) - (-29.53)) < 0.01


OTB_EGM96_HDR = """ENVI
samples = 1441
lines   = 721
bands   = 1
header offset = 24
file type = ENVI Standard
data type = 4
interleave = bsq
byte order = 1
map info = {Geographic Lat/Lon, 1, 1,-0.125, 90.125, 0.25, 0.25,WGS-84}
"""


def test_geoid_user_file_otb_egm96_grd(tmp_path):
    """A geoid laid out as OTB's egm96.grd (+ .hdr): big-endian float32 after a 24-byte header, 1441 columns
    from 0 to 360 E (first column repeated), read by GDAL's ENVI driver, gives the shipped grid's values."""
    with rasterio.open(default_geoid_path()) as ds:
        values = ds.read(1).astype(np.float64) * ds.scales[0]
    east = np.roll(values, -720, axis=1)                 # columns from 0 E instead of 180 W
    east = np.concatenate([east, east[:, :1]], axis=1)   # 1441 columns: 360 E repeats 0 E
    grd = tmp_path / "egm96.grd"
    grd.write_bytes(b"\0" * 24 + east.astype(">f4").tobytes())
    (tmp_path / "egm96.grd.hdr").write_text(OTB_EGM96_HDR)
    g = Geoid(grd)
    assert (g.width, g.height, g.period) == (1441, 721, 1440)
    lat = np.array([p[0] for p in NGA_OUTINTPT])
    lon = np.array([p[1] for p in NGA_OUTINTPT])
    for lon_q in (lon, lon - 360.0):
        assert np.allclose(geoid_undulation(lat, lon_q, geoid=grd), geoid_undulation(lat, lon), atol=1e-5)


def test_geoid_regional_plane_is_exact_and_bounded(tmp_path):
    """Cubic convolution and bilinear reproduce a linear field exactly; outside a regional grid is an error."""
    lat_nodes = 40.0 - 0.5 * np.arange(9)          # 40 .. 36
    lon_nodes = -30.0 + 0.5 * np.arange(11)        # -30 .. -25
    la, lo = np.meshgrid(lat_nodes, lon_nodes, indexing="ij")
    plane = (10.0 + 2.0 * la - 3.0 * lo).astype(np.float64)
    path = tmp_path / "plane.tif"
    with rasterio.open(path, "w", driver="GTiff", width=11, height=9, count=1, dtype="float64",
                       crs="EPSG:4326", transform=rasterio.Affine(0.5, 0, -30.25, 0, -0.5, 40.25)) as out:
        out.write(plane, 1)
    g = Geoid(path)
    assert g.period == 0
    qlat, qlon = np.array([38.123, 36.9, 39.0]), np.array([-27.77, -28.01, -26.2])
    for method in ("cubic", "linear"):
        assert np.allclose(g.undulation(qlat, qlon, method=method), 10 + 2 * qlat - 3 * qlon, atol=1e-9)
    with pytest.raises(DemError, match="does not cover longitude"):
        g.undulation(38.0, -20.0)
    with pytest.raises(DemError, match="does not exist"):
        Geoid(tmp_path / "nope.grd")
    with pytest.raises(DemError, match="interpolation"):
        geoid_undulation(0.0, 0.0, method="nearest")


# ---- tile names ------------------------------------------------------------------------------------------------

def test_tile_name_parsing():
    assert parse_cell("N38W029.SRTMGL3.hgt.zip") == (38, -29)
    assert parse_cell("n38w029.hgt") == (38, -29)
    assert parse_cell("S21E055.hgt") == (-21, 55)
    assert parse_cell("Copernicus_DSM_COG_10_N38_00_W029_00_DEM.tif") == (38, -29)
    assert parse_cell("Copernicus_DSM_COG_30_S01_00_E012_00_DEM.tif") == (-1, 12)
    assert parse_cell("Rome-30m-DEM.tif") is None
    assert cell_name(-1, -1) == "S01W001.hgt" and cell_name(38, 7, "") == "N38E007"


# ---- VRT over real SRTM tiles ------------------------------------------------------------------------------------

def test_vrt_of_zipped_srtm_tiles_equals_tiles(terceira_dem, tmp_path):
    tiles = find_tiles(terceira_dem, (-28.9, 38.1, -27.1, 39.3))
    assert sorted(t.name for t in tiles) == [
        "N38W028.SRTMGL3.hgt.zip", "N38W029.SRTMGL3.hgt.zip", "N39W028.SRTMGL3.hgt.zip",
        "N39W029.SRTMGL3.hgt.zip"]
    vrt = build_dem_vrt(tiles, tmp_path / "dem_scene.vrt")
    text = vrt.read_text()
    assert f"/vsizip/{terceira_dem.resolve().as_posix()}/N38W029.SRTMGL3.hgt.zip/N38W029.hgt" in text
    assert 'relativeToVRT="1"' not in text
    with rasterio.open(vrt) as ds:
        assert (ds.width, ds.height) == (2401, 2401)  # 2 x 1200 + 1 (shared edge nodes)
        assert ds.crs.to_epsg() == 4326 and ds.nodata == -32768
        left, top = ds.transform.c, ds.transform.f
        assert abs(left - (-29 - 0.5 / 1200)) < 1e-12 and abs(top - (40 + 0.5 / 1200)) < 1e-12
        mosaic = ds.read(1)
    maxima = {}
    for i, t in enumerate(tiles):
        pixels, tr = _read_tile(t)
        c0 = round((tr.c - left) * 1200)
        r0 = round((top - tr.f) * 1200)
        # interior pixels identical; the shared edge rows/columns come from the later source
        assert np.array_equal(mosaic[r0 + 1:r0 + 1200, c0 + 1:c0 + 1200], pixels[1:1200, 1:1200])
        if i == len(tiles) - 1:
            assert np.array_equal(mosaic[r0:r0 + 1201, c0:c0 + 1201], pixels)
        maxima[t.name[:7]] = int(pixels.max())
    # Pico (2351 m) lies in N38W029, Terceira (Santa Barbara, 1021 m) in N38W028
    assert 2200 < maxima["N38W029"] < 2360 and 950 < maxima["N38W028"] < 1100


def test_name_variants_and_geotiff_tiles(terceira_dem, tmp_path):
    """Unzipped .hgt, lower-case zip names and Copernicus-named GeoTIFFs are found and mosaicked."""
    tiles_dir = tmp_path / "tiles"
    (tiles_dir / "sub").mkdir(parents=True)
    with zipfile.ZipFile(terceira_dem / "N38W029.SRTMGL3.hgt.zip") as zf:
        zf.extract("N38W029.hgt", tiles_dir)
    shutil.copy(terceira_dem / "N38W028.SRTMGL3.hgt.zip", tiles_dir / "n38w028.hgt.zip")
    pixels, tr = _read_tile(terceira_dem / "N39W028.SRTMGL3.hgt.zip")
    cop = tiles_dir / "sub" / "Copernicus_DSM_COG_10_N39_00_W028_00_DEM.tif"
    with rasterio.open(cop, "w", driver="GTiff", width=1201, height=1201, count=1, dtype="float32",
                       crs="EPSG:4326", transform=tr, nodata=-32768.0) as out:
        out.write(pixels.astype(np.float32), 1)
    (tiles_dir / "notes.txt").write_text("not a tile")
    # an L-shaped footprint: needs N38W029, N38W028 and N39W028 but not N39W029
    area = box(-28.5, 38.2, -27.2, 38.8).union(box(-27.9, 38.2, -27.2, 39.4))
    tiles = find_tiles(tiles_dir, area)
    assert sorted(t.name for t in tiles) == sorted([cop.name, "N38W029.hgt", "n38w028.hgt.zip"])
    vrt = build_scene_dem(tiles_dir, area, tmp_path / "out" / "dem_scene.vrt")
    with rasterio.open(vrt) as ds:
        assert ds.dtypes[0] == "float32"       # int16 + float32 tiles: promoted
        assert (ds.width, ds.height) == (2401, 2401)
        got = ds.read(1, window=Window(1200, 0, 1201, 1201))
        nw_corner = ds.read(1, window=Window(0, 0, 1200, 1200))
    assert np.array_equal(got, pixels.astype(np.float32))
    assert (nw_corner == -32768).all()          # N39W029 was not asked for: no data there


def test_mixed_resolution_tiles(terceira_dem, tmp_path):
    """A 1" tile next to a 3" tile: the VRT takes the finest pixel; the 3" tile is resampled (nearest)."""
    coarse, _ = _read_tile(terceira_dem / "N39W028.SRTMGL3.hgt.zip")
    fine = (np.arange(3601 * 3601, dtype=np.int32).reshape(3601, 3601) % 30000).astype(np.int16)
    fine_path = tmp_path / "N38W028.tif"
    tr = rasterio.Affine(1 / 3600, 0, -28 - 0.5 / 3600, 0, -1 / 3600, 39 + 0.5 / 3600)
    with rasterio.open(fine_path, "w", driver="GTiff", width=3601, height=3601, count=1, dtype="int16",
                       crs="EPSG:4326", transform=tr, nodata=-32768) as out:
        out.write(fine, 1)
    vrt = build_dem_vrt([terceira_dem / "N39W028.SRTMGL3.hgt.zip", fine_path], tmp_path / "mix.vrt")
    with rasterio.open(vrt) as ds:
        assert abs(ds.transform.a - 1 / 3600) < 1e-15 and (ds.width, ds.height) == (3603, 7202)
        # the 1" tile starts one 1" pixel east of the 3" tile's edge, 3601 rows down
        assert np.array_equal(ds.read(1, window=Window(1, 3601, 3601, 3601)), fine)
        top = ds.read(1, window=Window(0, 0, 3600, 3600))
    assert np.array_equal(top[::3, ::3], coarse[:1200, :1200]) and np.array_equal(top[2::3, 2::3], top[::3, ::3])


def test_missing_tiles_error_names_them(terceira_dem):
    with pytest.raises(DemError) as exc:
        find_tiles(terceira_dem, (-29.6, 38.2, -27.2, 39.5))
    msg = str(exc.value)
    assert str(terceira_dem) in msg
    assert "N38W030.hgt" in msg and "N39W030.hgt" in msg and "N38W029" not in msg
    assert "\n" not in msg


def test_fill_missing_with_sea(terceira_dem, tmp_path):
    out = tmp_path / "run" / "dem_scene.vrt"
    vrt = build_scene_dem(terceira_dem, box(-29.5, 38.3, -28.2, 38.8), out, margin_deg=0.05,
                          fill_missing=True)
    assert vrt == out and (tmp_path / "run" / "dem_scene_sea" / "N38W030_sea.tif").exists()
    assert 'relativeToVRT="1">dem_scene_sea/N38W030_sea.tif' in out.read_text()
    tile, tr = _read_tile(terceira_dem / "N38W029.SRTMGL3.hgt.zip")
    with rasterio.open(vrt) as ds:
        assert (ds.width, ds.height) == (2401, 1201)
        assert abs(ds.transform.c - (-30 - 0.5 / 1200)) < 1e-12
        mosaic = ds.read(1)
    assert (mosaic[:, :1200] == 0).all()                       # the sea cell
    assert np.array_equal(mosaic[:, 1200:], tile)              # the real tile, untouched
    # without the option the same request fails
    with pytest.raises(DemError, match="N38W030.hgt"):
        build_scene_dem(terceira_dem, box(-29.5, 38.3, -28.2, 38.8), tmp_path / "x.vrt")
    # sea tiles written earlier beside a VRT are never taken as real tiles of a folder
    shutil.copy(terceira_dem / "N38W029.SRTMGL3.hgt.zip", tmp_path / "run")
    with pytest.raises(DemError, match="N38W030.hgt"):
        find_tiles(tmp_path / "run", (-29.5, 38.3, -28.2, 38.8))


# ---- tile index vector files --------------------------------------------------------------------------------------

def _write_index(path: Path, cells, field: str, values, crs: str = "EPSG:4326", driver=None):
    geoms = [box(lon, lat, lon + 1, lat + 1) for lat, lon in cells]
    if crs != "EPSG:4326":
        from pyproj import Transformer

        tr = Transformer.from_crs("EPSG:4326", crs, always_xy=True)
        geoms = [shapely.transform(shapely.segmentize(g, 0.1),
                                   lambda xy: np.column_stack(tr.transform(xy[:, 0], xy[:, 1]))) for g in geoms]
    pyogrio.raw.write(path, shapely.to_wkb(geoms), [np.array(values, dtype=object)], [field],
                      geometry_type="Polygon", crs=rasterio.crs.CRS.from_string(crs).to_wkt(), driver=driver)


def test_tile_index_shapefile_diapotb(terceira_dem, tmp_path):
    """srtm.shp with FILE = N38W029.hgt: names resolved to the zipped tiles; listed-but-absent tiles named."""
    cells = [(38, -29), (38, -28), (39, -29), (39, -28), (38, -30)]
    shp = tmp_path / "srtm.shp"
    _write_index(shp, cells, "FILE", [cell_name(*c) for c in cells])
    tiles = find_tiles(terceira_dem, (-28.8, 38.2, -27.2, 38.8), tile_index=shp)
    assert sorted(t.name for t in tiles) == ["N38W028.SRTMGL3.hgt.zip", "N38W029.SRTMGL3.hgt.zip"]
    with pytest.raises(DemError, match=r"missing DEM tiles in .*: N38W030\.hgt"):
        find_tiles(terceira_dem, (-29.5, 38.2, -28.5, 38.8), tile_index=shp)
    # an edge shared with a footprint is no intersection (area 0): N38W029 only
    tiles = find_tiles(terceira_dem, (-29.0, 38.2, -28.5, 38.8), tile_index=shp)
    assert [t.name for t in tiles] == ["N38W029.SRTMGL3.hgt.zip"]


def test_tile_index_geopackage_s1tiling(terceira_dem, tmp_path):
    """S1Tiling-style GeoPackage: an 'id' field (file {id}.hgt), layer in another CRS (Web Mercator)."""
    cells = [(38, -29), (38, -28), (39, -29), (39, -28)]
    gpkg = tmp_path / "srtm_tiles.gpkg"
    _write_index(gpkg, cells, "id", [cell_name(*c, "") for c in cells], crs="EPSG:3857", driver="GPKG")
    vrt = build_scene_dem(terceira_dem, (-27.4, 38.6, -27.1, 38.85), tmp_path / "dem_scene.vrt",
                          tile_index=gpkg)
    with rasterio.open(vrt) as ds:
        assert len(ds.files) == 2 and ds.files[1].endswith("N38W028.SRTMGL3.hgt.zip/N38W028.hgt")
        assert np.array_equal(ds.read(1), _read_tile(terceira_dem / "N38W028.SRTMGL3.hgt.zip")[0])
    with pytest.raises(DemError, match="no field 'name'"):
        find_tiles(terceira_dem, (-27.4, 38.6, -27.1, 38.85), tile_index=gpkg, index_field="name")


# ---- reading heights --------------------------------------------------------------------------------------------------

def test_read_dem_ellipsoidal_terceira(terceira_dem, tmp_path):
    vrt = build_scene_dem(terceira_dem, (-27.4, 38.6, -27.1, 38.85), tmp_path / "dem_scene.vrt")
    bbox = (-27.4, 38.6, -27.1, 38.85)
    ortho, gt, crs = read_dem(vrt, bbox, ellipsoidal=False)
    ell, gt2, crs2 = read_dem(vrt, bbox)
    assert gt == gt2 and crs.to_epsg() == 4326 and ell.dtype == np.float32
    x0, dx, _, y0, _, dy = gt
    assert x0 <= bbox[0] - dx and x0 + ortho.shape[1] * dx >= bbox[2] + dx
    assert y0 >= bbox[3] - dy and y0 + ortho.shape[0] * dy <= bbox[1] + dy
    # the window equals the tile pixels
    tile, tr = _read_tile(terceira_dem / "N38W028.SRTMGL3.hgt.zip")
    c0, r0 = round((x0 - tr.c) / tr.a), round((y0 - tr.f) / tr.e)
    assert np.array_equal(ortho, tile[r0:r0 + ortho.shape[0], c0:c0 + ortho.shape[1]].astype(np.float32))
    # h_ell = h_dem + N at pixel centres, N from point-wise interpolation
    rows, cols = np.array([0, 50, 123, ortho.shape[0] - 1]), np.array([3, 77, 200, ortho.shape[1] - 1])
    lat, lon = y0 + (rows + 0.5) * dy, x0 + (cols + 0.5) * dx
    n = geoid_undulation(lat, lon)
    assert np.allclose(ell[rows, cols] - ortho[rows, cols], n, atol=1e-3)
    assert 50 < n.min() and n.max() < 60
    # config spellings of the geoid: the shipped EGM96 grid, or none (DEM already ellipsoidal)
    assert np.array_equal(read_dem(vrt, bbox, geoid="EGM96")[0], ell)
    assert np.array_equal(read_dem(vrt, bbox, geoid="none")[0], ortho)
    with pytest.raises(DemError, match="geoid file .*missing.grd does not exist"):
        read_dem(vrt, bbox, geoid=tmp_path / "missing.grd")


def test_rome_geotiff_found_and_read(rome_tif, tmp_path):
    folder = rome_tif.parent                      # also holds SAFE trees with measurement TIFFs: ignored
    bbox = (12.46, 41.96, 12.54, 42.04)
    assert find_tiles(folder, bbox) == [rome_tif]
    vrt = build_scene_dem(folder, bbox, tmp_path / "dem_scene.vrt", margin_deg=0.0)
    with rasterio.open(vrt) as ds, rasterio.open(rome_tif) as src:
        assert np.array_equal(ds.read(1), src.read(1)) and ds.transform == src.transform
        assert "EGM96" in ds.crs.to_wkt()
    ortho, gt, crs = read_dem(rome_tif, bbox, ellipsoidal=False)
    ell, _, _ = read_dem(vrt, bbox)
    assert crs.to_epsg() == 4326                  # the horizontal part of WGS 84 + EGM96 height
    diff = ell - ortho
    assert np.nanmax(diff) - np.nanmin(diff) < 0.5 and abs(np.nanmean(diff) - geoid_undulation(42.0, 12.5)) < 0.2
    with pytest.raises(DemError, match="does not cover"):
        read_dem(rome_tif, (13.0, 41.0, 13.5, 41.5))
    with pytest.raises(DemError, match=r"missing DEM tiles .*N41E012\.hgt"):
        find_tiles(folder, (12.40, 41.96, 12.54, 42.04))


# ---- command line ----------------------------------------------------------------------------------------------------

def test_cli_dem(terceira_dem, tmp_path, capsys):
    out = tmp_path / "dem_scene.vrt"
    code = main(["dem", "--tiles", str(terceira_dem), "--bbox", "-29.4", "38.4", "-28.3", "38.9",
                 "--fill-sea", "--out", str(out)])
    printed = capsys.readouterr().out
    assert code == 0 and out.exists()
    assert f"wrote {out}" in printed and "N38W029.SRTMGL3.hgt.zip" in printed and "N38W030_sea.tif" in printed
    code = main(["dem", "--tiles", str(terceira_dem), "--bbox", "-29.4", "38.4", "-28.3", "38.9",
                 "--out", str(tmp_path / "b.vrt")])
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1 and "N38W030.hgt" in err and "Traceback" not in err
    code = main(["dem", "--tiles", str(tmp_path / "none"), "--bbox", "0", "0", "1", "1", "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 1 and "does not exist" in err and err.count("\n") == 1
    with pytest.raises(ConfigError):
        build_scene_dem(terceira_dem, (1, 1, 0, 0), tmp_path / "c.vrt")


def test_cli_dem_over_a_product_footprint(s1_data, terceira_dem, tmp_path, capsys):
    """--product: the DEM covers the product's footprint + margin; --out DIR receives dem_scene.vrt."""
    from diapsar.io.safe import open_product

    xml = next((s1_data / "terceira_iw3_20220918_real_crop").glob("s1a-iw3-*.xml"))
    foot = shapely.from_wkt(open_product(xml).footprint_wkt)
    code = main(["dem", "--tiles", str(terceira_dem), "--product", str(xml), "--fill-sea", "--margin", "0.1",
                 "--out", str(tmp_path / "scene")])
    out, err = capsys.readouterr()
    vrt = tmp_path / "scene" / "dem_scene.vrt"
    assert code == 0 and vrt.is_file(), err
    with rasterio.open(vrt) as ds:
        assert box(*ds.bounds).contains(foot.buffer(0.1, join_style="mitre"))
    assert "N38W028.SRTMGL3.hgt.zip" in out
    # without --fill-sea the cells east of the tiles are named; nothing is written
    code = main(["dem", "--tiles", str(terceira_dem), "--product", str(xml), "--out", str(tmp_path / "b")])
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1 and "W027" in err and not (tmp_path / "b").exists()
    code = main(["dem", "--tiles", str(terceira_dem), "--product", str(tmp_path / "none.SAFE"),
                 "--out", str(tmp_path / "c")])
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1 and "does not exist" in err and not (tmp_path / "c").exists()
