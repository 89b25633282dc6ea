"""The fused per-cell geometry of gamma0-RTC (``diapsar.terrain.block_geometry``, kernel
``diapsar.kernels.rtc_geometry``) against the exact per-cell solves it replaces (``radar_coordinates``,
``look_enu``, ``terrain_angles``) on real annotation, and the one-sweep area + geocoding of
``diapsar.geocode_backscatter`` against an area pass completed before any geocoding.

Figures are printed (pytest -s).
"""

from __future__ import annotations

import hashlib
import math
from pathlib import Path

import numpy as np
import pytest

from diapsar import terrain as T
from diapsar.deburst import deburst_layout
from diapsar.io.safe import open_product
from diapsar.orbit import Orbit

S1B_IW = "format_coverage/S1B_IW_SLC__1SDV_20210401T052622_20210401T052650_026269_032297_EFA4.SAFE"
GRD = "rome_iw_grd_metadata/S1B_IW_GRDH_1SDV_20211223T051122_20211223T051147_030148_039993_5371.SAFE"
pytestmark = pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")


def _scene(m, rows: int, cols: int, relief_m: float):
    """lon/lat/h and slopes of a rows x cols block of 20 m UTM cells at the scene centre, heights a sum of
    ridges (relief_m peak to peak, slopes up to ~60 deg so that layover and shadow occur)."""
    g = m.geolocation_grid
    lon0, lat0 = float(np.median(g.longitude_deg)), float(np.median(g.latitude_deg))
    from pyproj import Transformer

    epsg = T.utm_epsg(lon0, lat0)
    x0, y0 = Transformer.from_crs(4326, epsg, always_xy=True).transform(lon0, lat0)
    from diapsar.kernels.area import utm_lonlat_grid

    xs = math.floor(x0) + (np.arange(cols) + 0.5) * 20.0
    ys = math.floor(y0) - (np.arange(rows) + 0.5) * 20.0
    out = utm_lonlat_grid(epsg, xs, ys)
    assert out is not None
    lon, lat = out
    xx, yy = np.meshgrid(xs - xs[0], ys[0] - ys)
    h = relief_m * (0.5 + 0.25 * np.sin(xx / 700.0) + 0.15 * np.cos(yy / 450.0 + xx / 1300.0)
                    + 0.1 * np.sin((xx + 2 * yy) / 170.0))
    h[:3, :5] = np.nan  # a DEM hole
    hx, hy = T.slopes(h, 20.0, 20.0)
    return lon, lat, h, hx, hy


def _exact(m, orbit, layout, lon, lat, h, hx, hy):
    line, sample, t, _ = T.radar_coordinates(m, orbit, lon, lat, h, layout)
    theta_e, theta_l, mask, proj = T.terrain_angles(T.look_enu(orbit, t, lon, lat, h), hx, hy)
    return line, sample, theta_e, theta_l, mask, proj


@pytest.mark.parametrize("name,step", [(S1B_IW, 16), (S1B_IW, 64), (GRD, 16)])
def test_block_geometry_equals_the_exact_solves(s1_data, name, step):
    """Real S1B IW1 SLC (TOPS: lines of the debursted frame) and Rome GRD annotation, 240 x 300 cells of 20 m on
    ridges of 2500 m relief: the line and sample of the lattice-started, one-evaluation Newton solve are within
    1e-3 pixel of the exact solves, and within 1e-4 with the 16-cell lattice of the runs (the absolute float64
    zero-Doppler time has a spacing of ~1.5e-7 s, 7e-5 of a GRD line: the solves differ by that rounding);
    ellipsoid and local incidence within 1e-6 deg, the layover/shadow mask identical, the projected-area factor
    within 1e-8 (the exact path evaluates the orbit at the absolute time rounded as above, ~1e-9 rad of look
    direction), NaN at the same cells."""
    m = open_product(s1_data / name).swath("IW1" if "SLC" in name else None, "VV")
    orbit = Orbit(m.orbit)
    layout = deburst_layout(m) if m.product_type == "SLC" else None
    lon, lat, h, hx, hy = _scene(m, 240, 300, 2500.0)
    ref = _exact(m, orbit, layout, lon, lat, h, hx, hy)
    t, tau, theta_e, theta_l, mask, proj = T.block_geometry(orbit, lon, lat, h, hx, hy, 1.0, step=step)
    line, sample = T.lines_samples(m, t, tau, layout)
    new = (line, sample, theta_e, theta_l, mask, proj)
    for a, b in zip(ref, new):
        assert np.array_equal(np.isnan(a), np.isnan(b)) if a.dtype.kind == "f" else True
    ok = np.isfinite(ref[0])
    assert ok.sum() > 0.99 * (ok.size - 15)
    dl, ds = np.abs(line - ref[0])[ok], np.abs(sample - ref[1])[ok]
    de, dloc = np.abs(theta_e - ref[2])[ok], np.nanmax(np.abs(theta_l - ref[3]))
    pr = np.isfinite(ref[5])
    dp = np.abs(proj[pr] - ref[5][pr])
    n_lay, n_sha = int((ref[4] == T.LAYOVER).sum()), int((ref[4] == T.SHADOW).sum())
    print(f"\n{m.product_type} step {step}: |d line| max {dl.max():.1e}, |d sample| max {ds.max():.1e}, "
          f"|d theta_e| {de.max():.1e}, |d theta_l| {dloc:.1e} deg, d proj {dp.max():.1e}; layover {n_lay}, "
          f"shadow {n_sha} cells")
    assert dl.max() < 1e-3 and ds.max() < 1e-3
    if step == 16:
        assert dl.max() < 1e-4 and ds.max() < 1e-4
    assert de.max() < 1e-6 and dloc < 1e-6
    assert np.array_equal(mask, ref[4]) and n_lay > 0 and n_sha > 0
    assert dp.max() < 1e-8


def test_block_geometry_same_bytes_with_one_and_two_threads(s1_data):
    import numba

    m = open_product(s1_data / S1B_IW).swath("IW1", "VV")
    orbit = Orbit(m.orbit)
    lon, lat, h, hx, hy = _scene(m, 64, 200, 1500.0)
    n0 = numba.get_num_threads()
    outs = []
    try:
        for th in (1, min(2, numba.config.NUMBA_NUM_THREADS)):
            numba.set_num_threads(th)
            r = T.block_geometry(orbit, lon, lat, h, hx, hy, 400.0)
            outs.append(hashlib.md5(b"".join(np.ascontiguousarray(a).tobytes() for a in r)).hexdigest())
    finally:
        numba.set_num_threads(n0)
    assert outs[0] == outs[1]


def test_lattice_weights():
    from diapsar.kernels.rtc_geometry import lattice_weights

    nodes, k, w = lattice_weights(37, 16)
    assert nodes.tolist() == [0, 16, 32, 36]
    assert np.allclose(nodes[k] + w * (nodes[k + 1] - nodes[k]), np.arange(37))
    assert ((w >= 0) & (w <= 1)).all() and k.max() == 2
    nodes, k, w = lattice_weights(1, 16)
    assert nodes.tolist() == [0, 0] and k.tolist() == [0] and w.tolist() == [0.0]


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    from diapsar.simulate import simulate_stack

    out = tmp_path_factory.mktemp("sim")
    return simulate_stack(out, mode="sm", dates=1, size=(800, 1000), seed=3, n_targets=5)


def _run(sim, out: Path, monkeypatch=None, unbounded: bool = False) -> tuple[dict[str, str], list[str]]:
    from diapsar import geocode_backscatter as G
    from diapsar.io.safe import open_product as op

    calls: list[str] = []
    if monkeypatch is not None:
        splat, geo, window = T.splat_illuminated_area, G._geocode_block, G.radar_window

        def rec_splat(*a, **k):
            calls.append("splat")
            return splat(*a, **k)

        def rec_geo(*a, **k):
            calls.append("geocode")
            return geo(*a, **k)

        def no_bounds(*a, **k):
            res = window(*a, **k)
            rl = k.get("row_lines", a[7] if len(a) > 7 else None)
            if unbounded and rl is not None:
                rl[:] = np.nan  # every later block may reach any A_gamma row: geocoding waits for the whole pass
            return res

        monkeypatch.setattr(T, "splat_illuminated_area", rec_splat)
        monkeypatch.setattr(G, "_geocode_block", rec_geo)
        monkeypatch.setattr(G, "radar_window", no_bounds)
        monkeypatch.setattr(G, "AREA_ROWS", 32)
    opts = G.TerrainOptions(dem=Path(sim.dem_path), spacing_m=10.0)
    with op(sim.products[0]) as p:
        G.terrain_backscatter(p, None, None, out, opts, quicklook=False, ram_mb=512.0)
    return {f.name: hashlib.md5(f.read_bytes()).hexdigest() for f in sorted(out.glob("*.tif"))}, calls


def test_one_sweep_equals_area_pass_then_geocoding(sim, tmp_path, monkeypatch):
    """Blocks of 32 map rows: geocoding interleaved with the splat (a block geocoded before the last splat)
    gives the same bytes as geocoding after the whole area pass (bounds of the coarse lookup removed)."""
    a, calls_a = _run(sim, tmp_path / "a", monkeypatch, unbounded=False)
    b, calls_b = _run(sim, tmp_path / "b", monkeypatch, unbounded=True)
    n_splat = calls_a.count("splat")
    first_geo = calls_a.index("geocode")
    print(f"\n{n_splat} splat blocks; first geocoding after splat {calls_a[:first_geo].count('splat')}")
    assert n_splat >= 4 and calls_a[:first_geo].count("splat") < n_splat
    assert calls_b.index("geocode") > max(i for i, c in enumerate(calls_b) if c == "splat")
    assert len(a) == 3 and a == b
