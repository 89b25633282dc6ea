"""Terrain correction and flattening in ``diapsar backscatter --dem`` (diapsar.geocode_backscatter), through the
command line on simulated and real products.

(a) point targets of ``diapsar simulate`` (stripmap, known lon/lat) land within 0.5 output pixel;
(b) the real Terceira IW3 crop (9-burst swath, TOPS lookup into the debursted frame): the geocoded amplitude's
    coastline lies on the DEM's coastline within one output pixel;
(c) terrain flattening: a product whose pixels are forward-modelled from a known gamma0 on a ridge DEM (slopes
    facing towards and away from the sensor) gives that gamma0 back within 0.2 dB on slopes below 25 degrees;
    the 40-degree fore-slope is flagged layover and the 65-degree back-slope shadow;
(e) bad input: one line on stderr, non-zero exit, nothing written.
The outputs are Cloud-Optimized GeoTIFFs with band descriptions and units, and a STAC Item is written.
Figures are printed (pytest -s).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import rasterio

from diapsar import terrain as T
from diapsar.io.cog import is_cog
from diapsar.io.safe import open_product
from diapsar.orbit import Orbit

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")


def run(*args: object) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    return subprocess.run([sys.executable, "-m", "diapsar", "backscatter", *map(str, args)], capture_output=True,
                          text=True, cwd=REPO, timeout=600, env=env)


def one_line_error(proc: subprocess.CompletedProcess[str], *words: str) -> str:
    lines = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()]
    print(lines[-1] if lines else "")
    assert proc.returncode != 0 and "Traceback" not in proc.stderr, proc.stderr
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("diapsar backscatter: error: ") or lines[0].startswith("diapsar: error: "), lines
    for w in words:
        assert w in lines[0], (w, lines[0])
    return lines[0]


def read(path: Path) -> tuple[np.ndarray, rasterio.Affine, int]:
    with rasterio.open(path) as ds:
        return ds.read().astype(np.float64), ds.transform, ds.crs.to_epsg()


# ------------------------------------------------------------------------------------------------- kernels

def test_splat_kernel_matches_numpy_reference():
    from diapsar.kernels.area import splat_area, splat_area_numpy

    rng = np.random.default_rng(1)
    r, c = np.meshgrid(np.arange(7), np.arange(9), indexing="ij")
    line = 3.0 + 2.1 * r + 0.3 * c + rng.normal(0, 0.2, r.shape)
    sample = 1.0 + 0.4 * r + 1.7 * c + rng.normal(0, 0.2, r.shape)
    area = rng.uniform(-0.2, 1.0, r.shape)
    line[2, 3] = np.nan
    a, b = np.zeros((10, 10)), np.zeros((10, 10))
    splat_area(line, sample, area, 1, 6, 3, 2, 2, a)
    splat_area_numpy(line, sample, area, 1, 6, 3, 2, 2, b)
    assert np.allclose(a, b, rtol=1e-12, atol=1e-12) and a.sum() > 0



def test_parallel_splat_same_sums_whatever_the_threads_and_blocks():
    """``splat_area_tiles`` (fixed map tiles, buffers added in tile order) against the serial ``splat_area``
    (relative 1e-12: only the order of additions differs); bit for bit the same with 1 and 2 numba threads,
    and when the rows are split into two blocks at a multiple of ``SPLAT_TILE_ROWS``."""
    import numba

    from diapsar.kernels.area import SPLAT_TILE_ROWS, splat_area, splat_area_tiles

    rng = np.random.default_rng(3)
    r, c = np.meshgrid(np.arange(150), np.arange(700), indexing="ij")
    line = 3.0 + 2.1 * r + 0.3 * c + rng.normal(0, 0.2, r.shape)
    sample = 1.0 + 0.4 * r + 1.7 * c + rng.normal(0, 0.2, r.shape)
    area = rng.uniform(-0.2, 1.0, r.shape)
    line[20:30, 40:45] = np.nan
    ref = np.zeros((200, 420))
    splat_area(line, sample, area, 1, 149, 3, 2, 3, ref)
    got = []
    n0 = numba.get_num_threads()
    try:
        for th in (1, min(2, numba.config.NUMBA_NUM_THREADS)):
            numba.set_num_threads(th)
            a = np.zeros(ref.shape)
            splat_area_tiles(line, sample, area, 1, 149, 0, 3, 2, 3, a)
            got.append(a)
    finally:
        numba.set_num_threads(n0)
    # two blocks: map rows [1, 64) and [64, 149), each with one row of neighbours
    k = 2 * SPLAT_TILE_ROWS
    b = np.zeros(ref.shape)
    splat_area_tiles(line[:k + 1], sample[:k + 1], area[:k + 1], 1, k, 0, 3, 2, 3, b)
    splat_area_tiles(line[k - 1:], sample[k - 1:], area[k - 1:], 1, 150 - k, k - 1, 3, 2, 3, b)
    assert np.allclose(got[0], ref, rtol=1e-12, atol=1e-12) and ref.sum() > 0
    assert np.array_equal(got[0], got[1]) and np.array_equal(got[0], b)


def test_rtc_sampling_kernel_equals_ratio_then_sample():
    """``sample_ratio`` (beta0 / A_gamma of the four neighbours on the fly) against the window-sized ratio
    sampled by ``diapsar.ortho.sample``: the same float32 values, NaN where A_gamma is 0 or off the window."""
    from diapsar.kernels.area import sample_ratio
    from diapsar.ortho import sample

    rng = np.random.default_rng(4)
    img = rng.gamma(1.0, 0.1, (40, 60)).astype(np.float32)
    ag = rng.uniform(0.0, 900.0, (40, 60))
    ag[rng.random(ag.shape) < 0.05] = 0.0
    u = rng.uniform(5.0, 46.0, (30, 50))
    v = rng.uniform(-1.0, 61.0, (30, 50))
    u[0, :5] = np.nan
    with np.errstate(divide="ignore", invalid="ignore"):
        want = sample(np.where(ag > 0, img.astype(np.float64) / ag, np.nan), 7, u, v)
    got = np.empty(u.shape, dtype=np.float32)
    sample_ratio(img, ag, 7, u, v, got)
    assert np.array_equal(got, want, equal_nan=True) and np.isfinite(got).sum() > 1000


def test_tops_line_kernel_equals_the_segment_by_segment_lookup(s1_data):
    """``terrain.tops_line`` (one kernel) against ``tops_line_numpy`` (``RadarGrid.time_to_line`` segment by
    segment) on zero-Doppler times across every burst of a real IW1 annotation: the same float64 lines."""
    from diapsar.deburst import deburst_layout
    from diapsar.geometry import RadarGrid

    m = open_product(s1_data / "format_coverage/S1B_IW_SLC__1SDV_20210401T052622_20210401T052650_026269_032297_EFA4.SAFE").swath("IW1", "VV")
    layout = deburst_layout(m)
    rg = RadarGrid.from_metadata(m)
    t0, t1 = rg.burst_times_s[0] - 1.0, rg.burst_times_s[-1] + 4.0
    t = np.linspace(t0, t1, 200_099).reshape(401, 499)
    tau = np.linspace(5.3e-3, 5.6e-3, t.size).reshape(t.shape)
    got = T.tops_line(m, layout, rg, t, tau)
    want = T.tops_line_numpy(m, layout, rg, t, tau)
    assert np.array_equal(got, want, equal_nan=True) and np.isfinite(got).all()

def test_fused_calibration_kernel_equals_the_numpy_steps():
    """``diapsar.kernels.calibrate`` against detected_power -> remove_noise -> calibrate (bit for bit), SLC and
    GRD, with and without noise, valid samples [s0, s1), zero DN invalid."""
    from diapsar import calibration as C
    from diapsar import noise as NZ
    from diapsar.kernels.calibrate import calibrate_complex, calibrate_real

    rng = np.random.default_rng(2)
    shape = (37, 301)
    re, im = (np.rint(rng.normal(0, 40, shape)).astype(np.float32) for _ in range(2))
    slc = (re + 1j * im).astype(np.complex64)
    slc[3, 5] = 0
    grd = np.abs(np.rint(rng.normal(0, 200, shape))).astype(np.uint16)
    noise = rng.uniform(0, 3000, shape)
    lut = rng.uniform(300, 600, shape)
    for dn, kern in ((slc, calibrate_complex), (grd, calibrate_real)):
        for nz in (noise, None):
            p = C.detected_power(dn)
            ok = p > 0
            ok[:, :20] = False
            ok[:, 280:] = False
            if nz is not None:
                p = NZ.remove_noise(p, nz)
            want = np.where(ok, C.calibrate(p, lut).astype(np.float64), 0.0)
            got, valid = np.empty(shape), np.empty(shape, dtype=bool)
            kern(dn, np.zeros((0, 0)) if nz is None else nz, lut, 20, 280, C.FLOOR_LINEAR, got, valid)
            assert np.array_equal(valid, ok) and np.array_equal(got, want)


def test_tops_lookup_round_trip_in_the_debursted_frame(s1_data):
    """Debursted lines of S1B IW1 (10 bursts): first, middle and last kept line of every burst segment and
    three samples -> ground (rdr2geo at 100 m) -> ``radar_coordinates`` back: the same debursted line and
    sample within 0.01 (the burst holding the zero-Doppler time is found)."""
    from diapsar.deburst import deburst_layout
    from diapsar.geometry import RadarGrid, rdr2geo

    m = open_product(s1_data / "format_coverage/S1B_IW_SLC__1SDV_20210401T052622_20210401T052650_026269_032297_EFA4.SAFE").swath("IW1", "VV")
    orbit = Orbit(m.orbit)
    layout = deburst_layout(m)
    rg = RadarGrid.from_metadata(m)
    rows, full = [], []
    for s in layout.segments:
        for k in (0, s.lines // 2, s.lines - 1):
            rows.append(s.out_line0 + k)
            full.append(m.bursts[s.burst].first_line + s.burst_line0 + k)
    rows_a = np.repeat(rows, 3).astype(float)
    full_a = np.repeat(full, 3).astype(float)
    pix = np.tile([500.0, 10000.0, 20000.0], len(rows))
    t, tau = rg.radar_to_times(full_a, pix)
    lat, lon, h = rdr2geo(orbit, t, tau, np.full(t.shape, 100.0))
    line, sample, _, _ = T.radar_coordinates(m, orbit, lon[None, :], lat[None, :], h[None, :], layout)
    dl, ds = np.abs(line[0] - rows_a), np.abs(sample[0] - pix)
    print(f"\nTOPS round trip over {len(layout.segments)} segments: |d line| max {dl.max():.2e}, "
          f"|d sample| max {ds.max():.2e}")
    assert dl.max() < 0.01 and ds.max() < 0.01


# ------------------------------------------------------------------------------------- (a) point targets

@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    from diapsar.simulate import simulate_stack

    out = tmp_path_factory.mktemp("sim")
    return simulate_stack(out, mode="sm", dates=1, size=(800, 1000), seed=3, n_targets=5)


def _peak(a: np.ndarray, r: float, c: float, half: int = 6) -> tuple[float, float]:
    ri, ci = int(round(r)), int(round(c))
    w = a[ri - half:ri + half + 1, ci - half:ci + half + 1]
    k = np.unravel_index(int(np.nanargmax(w)), w.shape)
    pr, pc = ri - half + int(k[0]), ci - half + int(k[1])

    def vertex(m1: float, m0: float, p1: float) -> float:
        return 0.5 * (m1 - p1) / (m1 - 2 * m0 + p1)

    return (pr + vertex(a[pr - 1, pc], a[pr, pc], a[pr + 1, pc]),
            pc + vertex(a[pr, pc - 1], a[pr, pc], a[pr, pc + 1]))


def test_point_targets_land_within_half_an_output_pixel(sim, tmp_path):
    """``--flattening none`` at 5 m on the simulated S3 stripmap product: the brightest cell near each of the 5
    targets, refined by a parabola per axis, is within 0.5 output pixel of the target's map position. Also: the
    outputs are COGs with descriptions, units, nodata and overviews, and the STAC Item lists them."""
    from pyproj import Transformer

    out = tmp_path / "out"
    proc = run(sim.products[0], "--out", out, "--dem", sim.dem_path, "--flattening", "none", "--spacing", 5)
    print(proc.stdout)
    assert proc.returncode == 0, proc.stderr
    tif = next(out.glob("*_sigma0_geo.tif"))
    a, tr, epsg = read(tif)
    truth = json.loads(sim.truth_json.read_text())
    to_map = Transformer.from_crs(4326, epsg, always_xy=True)
    errs = []
    for p in truth["point_targets"]:
        x, y = to_map.transform(p["lon_deg"], p["lat_deg"])
        c, r = (x - tr.c) / tr.a - 0.5, (y - tr.f) / tr.e - 0.5
        pr, pc = _peak(a[0], r, c)
        errs.append((pr - r, pc - c))
    e = np.array(errs)
    print(f"point targets (rows, cols of 5 m): {np.round(e, 3).tolist()}; max distance "
          f"{np.hypot(e[:, 0], e[:, 1]).max():.3f} pixel")
    assert len(errs) == 5 and np.hypot(e[:, 0], e[:, 1]).max() < 0.5
    # outputs: COGs, descriptions, units, nodata; STAC Item
    with rasterio.open(tif) as ds:
        assert ds.descriptions == ("sigma0_geo_VV",) and ds.units == ("linear",) and math.isnan(ds.nodata)
        assert ds.crs.to_epsg() == T.utm_epsg(55.708, -21.244) == 32740 and ds.res == (5.0, 5.0)
    for f in out.glob("*.tif"):
        assert is_cog(f), f
    with rasterio.open(next(out.glob("*_angles.tif"))) as ds:
        assert ds.descriptions == ("incidence_angle", "local_incidence_angle") and ds.units == ("deg", "deg")
        inc = ds.read(1)
        print(f"incidence {np.nanmin(inc):.2f}..{np.nanmax(inc):.2f} deg")
        assert 25 < np.nanmin(inc) < np.nanmax(inc) < 40
    with rasterio.open(next(out.glob("*_layover_shadow.tif"))) as ds:
        assert ds.nodata == 255 and ds.dtypes[0] == "uint8"
    item = json.loads(next(out.glob("*.json")).read_text())
    assert item["type"] == "Feature" and item["properties"]["proj:epsg"] == 32740
    from diapsar.timeutil import seconds_to_iso

    start = open_product(sim.products[0]).swath().start_time_s
    assert item["properties"]["datetime"] == seconds_to_iso(start) + "Z"
    assert item["properties"]["datetime"].startswith("2023-09-04T14:09")
    lon_t = [p["lon_deg"] for p in truth["point_targets"]]
    lo, la, hi, ha = item["bbox"]
    assert lo < min(lon_t) and max(lon_t) < hi and la < -21.244 < ha
    roles = {k: v["roles"] for k, v in item["assets"].items()}
    assert sum("data" in r for r in roles.values()) == 1 and len(roles) == 4
    assert all((out / v["href"]).is_file() for v in item["assets"].values())


# --------------------------------------------------------------------------------- (c) terrain flattening

# ridge profile across track (metres along the horizontal look direction away from the sensor; positive slope =
# the ground rises away from the sensor = faces it): (horizontal length m, slope deg)
PROFILE = [(300, 0), (400, 10), (400, -10), (200, 0), (300, 20), (300, -20), (500, 0), (150, 40),
           (150 * math.tan(math.radians(40)) / math.tan(math.radians(65)), -65), (600, 0)]
GAMMA0 = 0.5


def _profile_height(d: np.ndarray, d0: float, h0: float) -> tuple[np.ndarray, np.ndarray]:
    """(height, index of the PROFILE segment) at distances ``d``; -1 outside the profile."""
    h = np.full(d.shape, h0)
    seg = np.full(d.shape, -1)
    start, base = d0, h0
    for k, (length, slope) in enumerate(PROFILE):
        sel = (d >= start) & (d < start + length)
        h[sel] = base + (d[sel] - start) * math.tan(math.radians(slope))
        seg[sel] = k
        base += length * math.tan(math.radians(slope))
        start += length
    h[d >= start] = base
    return h, seg


def _ridge_frame(meta, orbit):
    """Scene centre and the horizontal unit vector pointing away from the sensor there (east, north)."""
    from shapely import wkt

    from diapsar.geocode_backscatter import scene_footprint
    from diapsar.geometry import geo2rdr

    c = scene_footprint(meta).centroid if not meta.footprint_wkt else wkt.loads(meta.footprint_wkt).centroid
    lon0, lat0 = c.x, c.y
    t, _ = geo2rdr(orbit, np.array([lat0]), np.array([lon0]), np.array([100.0]))
    look = T.look_enu(orbit, t, np.array([lon0]), np.array([lat0]), np.array([100.0]))[0]
    away = -look[:2] / np.hypot(look[0], look[1])
    return lon0, lat0, away


def _local_en(lon, lat, lon0, lat0):
    r = 6378137.0
    return (np.radians(lon - lon0) * r * math.cos(math.radians(lat0)), np.radians(lat - lat0) * r)


@pytest.fixture(scope="module")
def ridge_product(sim, tmp_path_factory):
    """The simulated product's annotation with pixels forward-modelled from GAMMA0 on the ridge DEM: facets of
    2 m on a UTM grid (exact zero-Doppler lookup each), projected area summed per full-resolution pixel
    (nearest), beta0 = GAMMA0 * A_gamma / A_beta, DN = sqrt(beta0) * the annotated beta LUT (complex int16)."""
    from pyproj import Transformer

    from diapsar.calibration import lut_grid
    from diapsar.io.dem import Dem
    from diapsar.ortho import OrthoGrid

    tmp = tmp_path_factory.mktemp("ridge")
    safe = tmp / sim.products[0].name
    shutil.copytree(sim.products[0], safe)
    meta = open_product(safe).swath()
    orbit = Orbit(meta.orbit)
    lon0, lat0, away = _ridge_frame(meta, orbit)
    # DEM: 1/3 arc-second lon/lat grid, ellipsoidal heights
    step = 1.0 / 10800
    lons = lon0 - 0.04 + (np.arange(int(0.08 / step)) + 0.5) * step
    lats = lat0 + 0.03 - (np.arange(int(0.06 / step)) + 0.5) * step
    glon, glat = np.meshgrid(lons, lats)
    e, n = _local_en(glon, glat, lon0, lat0)
    d = e * away[0] + n * away[1]
    total = sum(p[0] for p in PROFILE)
    h, _ = _profile_height(d, -total / 2, 100.0)
    dem_path = tmp / "ridge_dem.tif"
    with rasterio.open(dem_path, "w", driver="GTiff", width=lons.size, height=lats.size, count=1, dtype="float32",
                       crs="EPSG:4326", transform=rasterio.Affine(step, 0, lon0 - 0.04, 0, -step, lat0 + 0.03)) as o:
        o.write(h.astype(np.float32), 1)
    dem = Dem(h, (lon0 - 0.04, step, 0.0, lat0 + 0.03, 0.0, -step))
    # forward model on 2 m facets over the image
    epsg = T.utm_epsg(lon0, lat0)
    g = meta.geolocation_grid
    x, y = Transformer.from_crs(4326, epsg, always_xy=True).transform(np.asarray(g.longitude_deg),
                                                                   np.asarray(g.latitude_deg))
    f = 2.0
    grid = OrthoGrid(epsg, (math.floor(min(x)) - 100, f, 0.0, math.ceil(max(y)) + 100, 0.0, -f),
                     int((max(x) - min(x) + 200) / f), int((max(y) - min(y) + 200) / f))
    shape = (meta.number_of_lines, meta.number_of_samples)
    acc = np.zeros(shape)
    theta = np.zeros(shape)
    cnt = np.zeros(shape)
    for r0 in range(0, grid.height, 400):
        b = T.map_block(grid, r0, min(grid.height, r0 + 400), dem, meta, orbit)
        T.accumulate_area(b["line"] + 0.5, b["sample"] + 0.5, b["proj_area"], shape, out=acc)
        T.accumulate_area(b["line"] + 0.5, b["sample"] + 0.5, b["theta_e"], shape, out=theta)
        T.accumulate_area(b["line"] + 0.5, b["sample"] + 0.5, np.ones_like(b["theta_e"]), shape, out=cnt)
    th = np.where(cnt > 0, theta / np.maximum(cnt, 1), meta.incidence_angle_mid_deg)
    beta0 = GAMMA0 * acc / T.beta_reference_area(meta, th)
    a_lut = lut_grid(meta.calibration, "beta0", 0, shape[0], 0, shape[1])
    dn = np.rint(np.sqrt(beta0) * a_lut)
    dn[(cnt == 0) | (dn == 0)] = 1  # keep every pixel valid: outside the facets (edges) nothing is compared
    tif = safe / "measurement" / meta.measurement_name
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with rasterio.open(tif, "r+") as ds:
            assert ds.dtypes[0] == "complex_int16"
            ds.write((dn + 0j).astype(np.complex64), 1)
    print(f"\nridge product: {shape}, {grid.width} x {grid.height} facets of {f} m, beta LUT "
          f"{np.median(a_lut):.1f}, DN median {np.median(dn):.1f}")
    return {"safe": safe, "dem": dem_path, "frame": (lon0, lat0, away), "total": total}


def test_flattening_recovers_known_gamma0_and_flags_layover_shadow(ridge_product, tmp_path):
    from pyproj import Transformer

    out = tmp_path / "out"
    proc = run(ridge_product["safe"], "--out", out, "--dem", ridge_product["dem"], "--dem-geoid", "none",
               "--no-noise", "--spacing", 10, "--no-quicklook")
    assert proc.returncode == 0, proc.stderr
    print(proc.stdout)
    g, tr, epsg = read(next(out.glob("*_gamma0_rtc.tif")))
    mask, _, _ = read(next(out.glob("*_layover_shadow.tif")))
    rows, cols = np.indices(g[0].shape)
    x, y = tr.c + (cols + 0.5) * tr.a, tr.f + (rows + 0.5) * tr.e
    lon, lat = Transformer.from_crs(epsg, 4326, always_xy=True).transform(x, y)
    lon0, lat0, away = ridge_product["frame"]
    e, n = _local_en(np.asarray(lon), np.asarray(lat), lon0, lat0)
    d = e * away[0] + n * away[1]
    _, seg = _profile_height(d, -ridge_product["total"] / 2, 100.0)
    # distance of each cell to the nearest slope break (DEM interpolation and radar cells smooth the kinks)
    breaks = -ridge_product["total"] / 2 + np.cumsum([0] + [p[0] for p in PROFILE])
    to_break = np.min(np.abs(d[..., None] - breaks[None, None, :]), axis=-1)
    db = 10 * np.log10(g[0])
    checked = 0
    print(f"gamma0 known {10 * math.log10(GAMMA0):.2f} dB; per face (median, 10-90 % of cells > 30 m from a break):")
    for k, (_, slope) in enumerate(PROFILE):
        sel = (seg == k) & (to_break > 30) & np.isfinite(db)
        if sel.sum() < 30:
            continue
        med = float(np.median(db[sel]))
        p10, p90 = np.percentile(db[sel], [10, 90])
        print(f"  slope {slope:+6.1f} deg: {sel.sum():5d} cells, median {med:+.3f} dB, 10-90 % {p10:+.3f}"
              f"..{p90:+.3f}, layover {np.mean(mask[0][sel] == 1):.2f}, shadow {np.mean(mask[0][sel] == 2):.2f}")
        if abs(slope) < 25:
            assert abs(med - 10 * math.log10(GAMMA0)) < 0.2, (slope, med)
            assert np.mean(mask[0][sel] == 0) > 0.99
            checked += 1
    assert checked >= 7
    face = {40: 7, -65: 8}
    inside = mask[0] != 255
    lay = (seg == face[40]) & (to_break > 15) & inside
    sha = (seg == face[-65]) & (to_break > 5) & inside
    print(f"40 deg fore-slope: {lay.sum()} cells, layover {np.mean(mask[0][lay] == 1):.2f}; 65 deg back-slope: "
          f"{sha.sum()} cells, shadow {np.mean(mask[0][sha] == 2):.2f}")
    assert lay.sum() >= 20 and np.mean(mask[0][lay] == 1) > 0.9
    assert sha.sum() >= 5 and np.mean(mask[0][sha] == 2) > 0.9


def test_kellndorfer_cosine_and_db_on_the_ridge(ridge_product, tmp_path):
    """On the forward-modelled ridge (gamma0 = GAMMA0 on every facet): beta0 = gamma0 cot(theta_LIA) on a plane
    facet, so Kellndorfer's sigma0 sin(theta_LIA) / sin(theta_ell) = GAMMA0 cos(theta_LIA) (checked per cell
    against the angles layer, medians per face within 0.2 dB, in dB output); and the cosine normalisation to
    30 deg with exponent 2 is gamma0_rtc (cos 30 / cos theta_ell)^2 exactly, cell by cell."""
    common = ("--dem", ridge_product["dem"], "--dem-geoid", "none", "--no-noise", "--spacing", 10, "--no-quicklook")
    out = tmp_path / "out"
    proc = run(ridge_product["safe"], "--out", out, *common, "--flattening", "kellndorfer", "--db")
    assert proc.returncode == 0, proc.stderr
    proc = run(ridge_product["safe"], "--out", out, *common, "--cosine-reference", 30)
    assert proc.returncode == 0, proc.stderr
    proc = run(ridge_product["safe"], "--out", tmp_path / "plain", *common)
    assert proc.returncode == 0, proc.stderr
    kell, _, _ = read(next(out.glob("*_sigma0_kellndorfer_db.tif")))
    cos, _, _ = read(next(out.glob("*_gamma0_rtc_cos30.tif")))
    rtc, _, _ = read(next((tmp_path / "plain").glob("*_gamma0_rtc.tif")))
    ang, _, _ = read(next(out.glob("*_angles.tif")))
    mask, _, _ = read(next(out.glob("*_layover_shadow.tif")))
    with rasterio.open(next(out.glob("*_sigma0_kellndorfer_db.tif"))) as ds:
        assert ds.units == ("dB",) and ds.descriptions == ("sigma0_kellndorfer_VV",)
    ok = np.isfinite(kell[0]) & (mask[0] == 0)
    with np.errstate(invalid="ignore"):  # NaN angles outside the image
        expect = 10 * np.log10(GAMMA0 * np.cos(np.radians(ang[1])))
    d = (kell[0] - expect)[ok]
    print(f"\nKellndorfer - GAMMA0 cos(LIA): median {np.median(d):+.3f} dB, 10-90 % "
          f"{np.percentile(d, 10):+.3f}..{np.percentile(d, 90):+.3f} over {ok.sum()} cells")
    assert abs(np.median(d)) < 0.2 and ok.sum() > 10000
    good = np.isfinite(rtc[0]) & np.isfinite(cos[0])
    want = rtc[0] * (math.cos(math.radians(30.0)) / np.cos(np.radians(ang[0]))) ** 2
    rel = np.abs(cos[0][good] / want[good] - 1)
    print(f"cosine normalisation against gamma0_rtc (cos 30 / cos theta)^2: max relative difference {rel.max():.1e}")
    assert good.sum() > 10000 and rel.max() < 1e-5


def test_same_bytes_whatever_the_thread_count(sim, tmp_path):
    """gamma0-RTC, angles and mask of the simulated product with 1 and with 2 numba/GDAL threads: the COG
    files are byte for byte identical (serial splat, row-parallel kernels)."""
    import hashlib

    outs = []
    for n in (1, 2):
        env = dict(os.environ, PYTHONWARNINGS="ignore", NUMBA_NUM_THREADS=str(n), GDAL_NUM_THREADS=str(n))
        out = tmp_path / f"t{n}"
        proc = subprocess.run([sys.executable, "-m", "diapsar", "backscatter", str(sim.products[0]), "--out", str(out),
                               "--dem", str(sim.dem_path), "--spacing", "10", "--no-quicklook"], capture_output=True,
                              text=True, cwd=REPO, timeout=600, env=env)
        assert proc.returncode == 0, proc.stderr
        outs.append({f.name: hashlib.md5(f.read_bytes()).hexdigest() for f in sorted(out.glob("*.tif"))})
    print(f"\n{len(outs[0])} files, 1 vs 2 threads: {'identical' if outs[0] == outs[1] else 'DIFFERENT'}")
    assert len(outs[0]) == 3 and outs[0] == outs[1]


# ----------------------------------------------------------------------------------------- (e) bad input

def test_bad_input_one_line_nothing_written(sim, tmp_path, s1_data):
    safe = sim.products[0]
    out = tmp_path / "out"
    one_line_error(run(safe, "--out", out, "--dem", sim.dem_path, "--epsg", 999999), "EPSG")
    one_line_error(run(safe, "--out", out, "--dem", sim.dem_path, "--epsg", 4326), "projected")
    # a DEM elsewhere (Rome) for a scene on La Reunion
    one_line_error(run(safe, "--out", out, "--dem", s1_data / "rome_iw_grd_metadata" / "Rome-30m-DEM.tif"),
                   "does not cover")
    one_line_error(run(safe, "--out", out, "--dem", tmp_path / "nowhere.tif"), "does not exist")
    one_line_error(run(safe, "--out", out, "--dem", sim.dem_path, "--lut", "sigma0"), "gamma0")
    # no calibration, then no noise annotation
    bare = tmp_path / safe.name
    shutil.copytree(safe, bare)
    noise = next((bare / "annotation" / "calibration").glob("noise-*.xml"))
    noise.unlink()
    one_line_error(run(bare, "--out", out, "--dem", sim.dem_path), "no noise annotation")
    next((bare / "annotation" / "calibration").glob("calibration-*.xml")).unlink()
    one_line_error(run(bare, "--out", out, "--dem", sim.dem_path, "--no-noise"), "no calibration annotation")
    assert not out.exists() or not any(out.iterdir()), sorted(out.iterdir())


# ------------------------------------------------------------------------------------ (b) Terceira coastline

@pytest.fixture(scope="module")
def terceira(s1_data, tmp_path_factory):
    """The real Terceira crop in a sparse full-swath IW3 product (9 bursts; tests/test_97_chain_iw_real.py
    builds it), run through ``--dem`` on the SRTM tiles with ``--roi`` around the crop, no flattening.
    The Terceira material has no calibration annotation: the S1B IW1 VV calibration vectors of
    format_coverage are put beside it. Their gains are smooth across the image, so they change the amplitude
    by a slowly varying factor and cannot move the coastline; the radiometry is not what is tested here."""
    from test_97_chain_iw_real import ANNOTATION, CROP, FOLDER, ROI, _full_swath_product

    d = s1_data / FOLDER
    if not (d / CROP).is_file():
        pytest.skip(f"{d / CROP} not found")
    tmp = tmp_path_factory.mktemp("terceira")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        safe = _full_swath_product(d, tmp)
    cal = next((s1_data / "format_coverage").glob("S1B_IW*/annotation/calibration/calibration-*iw1-slc-vv*.xml"))
    (safe / "annotation" / "calibration").mkdir()
    shutil.copyfile(cal, safe / "annotation" / "calibration" / ("calibration-" + ANNOTATION))
    roi = (ROI[0], ROI[3], ROI[2], ROI[1])
    outs = {}
    for spacing in (20, 30):
        outs[spacing] = tmp / f"out{spacing}"
        proc = run(safe, "--out", outs[spacing], "--dem", d / "dem", "--roi", *roi, "--no-noise", "--flattening",
                   "none", "--spacing", spacing, "--no-quicklook")
        print(proc.stdout)
        assert proc.returncode == 0, proc.stderr
    return {"out": outs, "dem": d / "dem", "roi": roi, "tmp": tmp}


@pytest.mark.parametrize("spacing", [20, 30])
def test_terceira_coastline_on_the_dem_coastline(terceira, spacing):
    """Land/sea of the geocoded amplitude (3 x 3 mean power, threshold: geometric mean of the land and sea medians) against the
    land of the DEM (nearest 3" post above 0.5 m; SRTM sea is 0) on the same 20 m grid: the shift of the DEM land mask that best matches (fewest
    differing cells, integer search +/- 4 cells, then a parabola through the minimum) is within one output
    pixel of 30 m (the DEM's coastline is given by 3" posts, 90 x 72 m here: its position is not known to better
    than a fraction of that). Measured: at 30 m +0.10 rows / -0.50 column; at 20 m -0.12 rows / -1.00 column, i.e.
    the radar coastline is 15-20 m west of the DEM's (the chain's ortho test finds -0.32 / -0.33 pixel of 3",
    -24 m in x, the same way), so at 20 m this is one pixel, not less."""
    from pyproj import Transformer
    from scipy import ndimage

    from diapsar.io.dem import build_scene_dem, load_dem

    a, tr, epsg = read(next(terceira["out"][spacing].glob("*_sigma0_geo.tif")))
    # 3 x 3 box mean of the power first (6 x 1 looks per cell leave speckle that breaks the land mask into
    # islands; a symmetric filter does not move the edge): unfiltered, the cost surface is flat over +/- 2 cells
    amp = np.sqrt(np.where(np.isfinite(a[0]), ndimage.uniform_filter(np.nan_to_num(a[0]), 3), np.nan))
    rows, cols = np.indices(amp.shape)
    lon, lat = Transformer.from_crs(epsg, 4326, always_xy=True).transform(tr.c + (cols + 0.5) * tr.a,
                                                                        tr.f + (rows + 0.5) * tr.e)
    vrt = build_scene_dem(terceira["dem"], terceira["roi"], terceira["tmp"] / f"dem{spacing}.vrt", margin_deg=0.02)
    dem = load_dem(vrt, terceira["roi"], ellipsoidal=False)
    # nearest DEM post (bilinear heights between a 0 m sea post and a land post cross 0.5 m next to the sea
    # post: the land mask would grow seawards by up to one 3" posting)
    x0, dxd, _, y0, _, dyd = dem.transform
    ri = np.floor((np.asarray(lat) - y0) / dyd).astype(int)
    ci = np.floor((np.asarray(lon) - x0) / dxd).astype(int)
    inside = (ri >= 0) & (ri < dem.shape[0]) & (ci >= 0) & (ci < dem.shape[1])
    h = np.where(inside, dem.heights_m[np.clip(ri, 0, dem.shape[0] - 1), np.clip(ci, 0, dem.shape[1] - 1)], np.nan)
    valid = np.isfinite(amp) & np.isfinite(h)
    valid = ndimage.binary_erosion(valid, iterations=5)  # away from the data edge (rolled masks wrap around)
    d_land = np.nan_to_num(h) > 0.5
    thr = float(np.sqrt(np.median(amp[valid & d_land]) * np.median(amp[valid & ~d_land])))
    a_land = np.nan_to_num(amp) > thr
    assert 0.1 < d_land[valid].mean() < 0.9
    r = 4
    cost = np.empty((2 * r + 1, 2 * r + 1))
    for ki, sy in enumerate(range(-r, r + 1)):
        for kj, sx in enumerate(range(-r, r + 1)):
            cost[ki, kj] = np.mean(a_land[valid] != np.roll(np.roll(d_land, sy, 0), sx, 1)[valid])
    i, j = (int(k) for k in np.unravel_index(int(np.argmin(cost)), cost.shape))
    assert 0 < i < 2 * r and 0 < j < 2 * r, "the best match is inside the search"

    def vertex(c_m: float, c_0: float, c_p: float) -> float:
        den = c_m - 2 * c_0 + c_p
        return 0.5 * (c_m - c_p) / den if den > 0 else 0.0

    dy = i - r + vertex(cost[i - 1, j], cost[i, j], cost[i + 1, j])
    dx = j - r + vertex(cost[i, j - 1], cost[i, j], cost[i, j + 1])
    d_edge = d_land & ~ndimage.binary_erosion(d_land)
    a_edge = a_land & ~ndimage.binary_erosion(a_land)
    dist = ndimage.distance_transform_edt(~d_edge)[a_edge & valid]
    print(f"\nTerceira coastline at {spacing} m: {int(valid.sum())} cells compared, {int(d_edge[valid].sum())} DEM coastline "
          f"cells; best DEM mask shift {dy:+.2f} rows, {dx:+.2f} columns; mismatch {cost[i, j]:.4f} (unshifted "
          f"{cost[r, r]:.4f}); amplitude edge to DEM edge median {np.median(dist):.2f} pixels")
    assert int(d_edge[valid].sum()) >= 50
    assert math.hypot(dy, dx) * spacing <= 30.0
    assert cost[i, j] < 0.05


# ------------------------------------------------------------------------------------------ (d) sarsen

SARSEN = shutil.which("sarsen")
ROME_GRD = "rome_iw_grd_metadata/S1B_IW_GRDH_1SDV_20211223T051122_20211223T051147_030148_039993_5371.SAFE"


@pytest.mark.slow
@pytest.mark.skipif(SARSEN is None, reason="sarsen absent (pip install sarsen==0.9.6)")
def test_side_by_side_with_sarsen_rtc(s1_data, tmp_path):
    """The Rome GRD (its TIFF holds zeros: a copy with DN = 1000 everywhere, written sparse) and a 180 x 180
    crop of the Rome 30 m DEM, through ``sarsen rtc`` (0.9.6, gamma0 on the DEM grid) and ``diapsar backscatter
    --dem`` (20 m UTM), timed in the same run. sarsen takes the DEM values as ellipsoidal heights (its DEM is
    EGM96, EPSG:9707), so ours runs with ``--dem-geoid none`` and ``--no-noise`` (sarsen removes no noise).

    Geolocation: sarsen's own zero-Doppler lookup of the DEM cells (``apps.simulate_acquisition``) against ours
    (``geo2rdr``) at the same ECEF points. gamma0: ours sampled at sarsen's cell centres, ratio statistics per
    cell and per 6 x 6 cells (180 m). Seen: lookups within 0.03 line / 0.1 mm; block ratio ours / sarsen
    1.01-1.02 (median), correlation 0.97. Of that, 1.4 % is the azimuth reference: sarsen normalises by the
    annotated azimuthPixelSpacing (10.0 m), the geolocation grid gives 10.14 m between lines (ours, see
    ``diapsar.terrain.azimuth_ground_spacing``)."""
    import time

    from pyproj import Transformer
    from rasterio.windows import Window
    from scipy import ndimage

    src = s1_data / ROME_GRD
    safe = tmp_path / src.name
    (safe / "measurement").mkdir(parents=True)
    shutil.copytree(src / "annotation", safe / "annotation")
    shutil.copy(src / "manifest.safe", safe)
    for f in (src / "measurement").iterdir():
        with rasterio.open(f) as s:
            prof = s.profile
        prof.update(tiled=True, blockxsize=512, blockysize=512, compress="deflate", nodata=None)
        with rasterio.open(safe / "measurement" / f.name, "w", **prof) as o:
            row = np.full((512, prof["width"]), 1000, np.uint16)
            for r in range(0, prof["height"], 512):
                n = min(512, prof["height"] - r)
                o.write(row[:n], 1, window=Window(0, r, prof["width"], n))
    n = 180
    dem = tmp_path / "dem.tif"
    with rasterio.open(s1_data / "rome_iw_grd_metadata" / "Rome-30m-DEM.tif") as s:
        w = Window(90, 90, n, n)
        prof = s.profile
        prof.update(width=n, height=n, transform=s.window_transform(w))
        with rasterio.open(dem, "w", **prof) as o:
            o.write(s.read(1, window=w), 1)
    t0 = time.perf_counter()
    subprocess.run([SARSEN, "rtc", str(safe), "IW/VV", str(dem), "--output-urlpath", str(tmp_path / "sarsen.tif")],
                   check=True, capture_output=True, timeout=600, cwd=tmp_path)
    t_sarsen = time.perf_counter() - t0
    t0 = time.perf_counter()
    proc = run(safe, "--out", tmp_path / "out", "--dem", dem, "--dem-geoid", "none", "--no-noise", "--no-quicklook")
    t_ours = time.perf_counter() - t0
    assert proc.returncode == 0, proc.stderr
    with rasterio.open(tmp_path / "sarsen.tif") as s:
        theirs, gt = s.read(1).astype(np.float64), s.transform
    ours_map, tr, epsg = read(next((tmp_path / "out").glob("*_gamma0_rtc.tif")))
    rows, cols = np.indices(theirs.shape)
    lon, lat = gt.c + (cols + 0.5) * gt.a, gt.f + (rows + 0.5) * gt.e
    x, y = Transformer.from_crs(4326, epsg, always_xy=True).transform(lon, lat)
    o = ndimage.map_coordinates(ours_map[0], [(np.asarray(y) - tr.f) / tr.e - 0.5, (np.asarray(x) - tr.c) / tr.a - 0.5],
                                order=1, mode="constant", cval=np.nan)
    ok = np.isfinite(o) & np.isfinite(theirs) & (theirs > 0) & (o > 0)
    ok[:6], ok[-6:], ok[:, :6], ok[:, -6:] = False, False, False, False
    q = o[ok] / theirs[ok]
    b = n // 6

    def blocks(z: np.ndarray) -> np.ndarray:
        return np.nanmean(np.where(ok, z, np.nan).reshape(b, 6, b, 6), axis=(1, 3))

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        bo, bs = blocks(o), blocks(theirs)
    k = np.isfinite(bo) & np.isfinite(bs)
    rb = bo[k] / bs[k]
    corr = float(np.corrcoef(bo[k], bs[k])[0, 1])
    # geolocation: sarsen's lookup of its own DEM ECEF points against ours
    from sarsen import apps, scene, sentinel1
    from sarsen import orbit as sorbit

    from diapsar.geometry import ecef_to_llh, geo2rdr

    product = sentinel1.Sentinel1SarProduct(str(safe), "IW/VV")
    raster = scene.open_dem_raster(str(dem))
    ecef = scene.convert_to_dem_ecef(raster)
    acq = apps.simulate_acquisition(ecef, sorbit.OrbitPolyfitInterpolator.from_position(
        product.state_vectors())).compute()
    la, lo, h = ecef_to_llh(np.moveaxis(ecef.values, 0, -1))
    meta = open_product(safe).swath(None, "VV")
    t, tau = geo2rdr(Orbit(meta.orbit), la, lo, h)
    t_s = (acq.azimuth_time.values - np.datetime64("2000-01-01T00:00:00")) / np.timedelta64(1, "ns") * 1e-9
    d_line = (t - t_s) / meta.azimuth_time_interval_s
    d_range = (tau - acq.slant_range_time.values) * 299792458.0 / 2
    print(f"\nsarsen rtc {t_sarsen:.1f} s, diapsar {t_ours:.1f} s (speed ratio {t_sarsen / t_ours:.1f}); "
          f"sarsen heights - DEM values: {np.nanmax(np.abs(h - raster.values)):.1e} m (taken as ellipsoidal)")
    print(f"lookup diapsar - sarsen: azimuth {np.min(d_line):+.4f}..{np.max(d_line):+.4f} line, slant range "
          f"{np.min(d_range):+.2e}..{np.max(d_range):+.2e} m")
    print(f"gamma0 ours / sarsen per cell ({ok.sum()} cells): 5/50/95 % {np.percentile(q, [5, 50, 95]).round(3)}; "
          f"per 6 x 6 cells ({k.sum()}): {np.percentile(rb, [5, 50, 95]).round(3)}, correlation {corr:.3f}")
    assert np.abs(d_line).max() < 0.05 and np.abs(d_range).max() < 0.01
    assert k.sum() > 500 and corr > 0.95
    assert 1.0 < np.median(rb) < 1.03
    assert np.percentile(rb, 95) / np.percentile(rb, 5) < 1.2
