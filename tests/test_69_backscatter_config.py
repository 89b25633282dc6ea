"""``diapsar backscatter``: JSON configuration (--config), orbit files (--orbit), swath mosaic of the map outputs
and the streaming calibration kernel.

Products: the real Terceira IW3 crop (real DN, real annotation, real RESORB orbit; the S1B IW1 VV calibration
vectors put beside it, as tests/test_66_rtc.py does: no calibration annotation came with the crop) cut to a
one-burst 601 x 1401 SAFE; the S1B IW1 + IW2 VH annotations of format_coverage (synthetic constant DN) cut to
one burst each around their overlap for the mosaic. Everything runs in-process (``diapsar.cli.main``) except one
subprocess that checks a bad configuration ends as one line without a traceback.
"""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import rasterio

from diapsar.cli import main
from diapsar.io.safe import open_product

REPO = Path(__file__).resolve().parents[1]
S1B = "format_coverage/S1B_IW_SLC__1SDV_20210401T052622_20210401T052650_026269_032297_EFA4.SAFE"
GRD = "rome_iw_grd_metadata/S1B_IW_GRDH_1SDV_20211223T051122_20211223T051147_030148_039993_5371.SAFE"
TERCEIRA = "terceira_iw3_20220918_real_crop"
RESORB = "S1A_OPER_AUX_RESORB_OPOD_20220918T093241_V20220918T053155_20220918T084925.EOF"
pytestmark = pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")


def cli(capsys, *args: object) -> tuple[int, str, str]:
    code = main(["backscatter", *map(str, args)])
    out = capsys.readouterr()
    return code, out.out, out.err


def one_line(code: int, err: str, *words: str) -> str:
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    assert code != 0 and len(lines) == 1 and "Traceback" not in err, err
    for w in words:
        assert w in lines[0], (w, lines[0])
    return lines[0]


# ------------------------------------------------------------------------------------------------ products

@pytest.fixture(scope="module")
def terceira(s1_data, tmp_path_factory) -> Path:
    """One-burst IW3 SAFE (1514 x 1401) holding the real Terceira crop (601 x 1401 real DN, zero elsewhere)
    with calibration vectors."""
    from test_97_chain_iw_real import ANNOTATION, CROP, LINE0, SAMPLE0, _full_swath_product

    from diapsar.io.crop import crop_product

    d = s1_data / TERCEIRA
    if not (d / CROP).is_file():
        pytest.skip(f"{d / CROP} not found")
    tmp = tmp_path_factory.mktemp("terceira69")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        full = _full_swath_product(d, tmp)
        cal = next((s1_data / "format_coverage").glob("S1B_IW*/annotation/calibration/calibration-*iw1-slc-vv*.xml"))
        (full / "annotation" / "calibration").mkdir()
        shutil.copyfile(cal, full / "annotation" / "calibration" / ("calibration-" + ANNOTATION))
        (tmp / "crop").mkdir()
        safe = crop_product(full, tmp / "crop", LINE0, SAMPLE0, 601, 1401)
    shutil.rmtree(full.parent)
    return safe


@pytest.fixture(scope="module")
def two_swaths(s1_data, tmp_path_factory) -> dict:
    """S1B IW1 VH (burst 3, its last 2400 samples) and IW2 VH (burst 4, its first 2000 samples) in one SAFE,
    with a flat DEM (0 m above the ellipsoid) under them."""
    from diapsar.io.crop import crop_product

    tmp = tmp_path_factory.mktemp("mosaic69")
    src = s1_data / S1B
    a = crop_product(src, tmp / "a", 4503, 21632 - 2400, 1501, 2400, swath="IW1", polarisations=["VH"])
    b = crop_product(src, tmp / "b", 6052, 0, 1513, 2000, swath="IW2", polarisations=["VH"])
    for sub in ("annotation", "annotation/calibration", "measurement"):
        for f in (b / sub).iterdir():
            if f.is_file():
                shutil.copy(f, a / sub / f.name)
    dem = tmp / "flat.tif"
    with rasterio.open(dem, "w", driver="GTiff", width=300, height=300, count=1, dtype="float32", crs="EPSG:4326",
                       transform=rasterio.Affine(0.004, 0, 10.6, 0, -0.004, 47.2)) as o:
        o.write(np.zeros((1, 300, 300), np.float32))
    return {"safe": a, "dem": dem}


# ---------------------------------------------------------------------------------------------- --config

def test_example_config_and_schema_cover_every_option():
    """config/backscatter_example.json validates; every schema key is an option of the command and every
    option (but --config and --debug) a schema key."""
    from diapsar.cli import build_parser
    from diapsar.commands.backscatter import load_schema, validate_config

    validate_config(json.loads((REPO / "config" / "backscatter_example.json").read_text()))
    sub = next(a for a in build_parser()._actions if a.dest == "command").choices["backscatter"]
    dests = {a.dest for a in sub._actions} - {"help", "config", "debug"}
    assert set(load_schema()["properties"]) == dests
    assert (REPO / "config" / "backscatter.schema.json").resolve() == \
        (REPO / "diapsar" / "data" / "backscatter.schema.json").resolve()


def test_bad_config_is_one_line_naming_the_key(tmp_path, capsys):
    out = tmp_path / "out"
    cases = [({"products": ["x.SAFE"], "out": str(out), "spacng": 20}, ["spacng", "unknown key"]),
             ({"products": ["x.SAFE"], "out": str(out), "spacing": "20"}, ["spacing", "wrong type"]),
             ({"products": ["x.SAFE"], "out": str(out), "ml": [4]}, ["ml"]),
             ({"products": ["x.SAFE"], "out": str(out), "flattening": "snap"}, ["flattening"]),
             ({"products": "x.SAFE", "out": str(out)}, ["products"]),
             ({"out": str(out)}, ["PRODUCT"])]
    for k, (cfg, words) in enumerate(cases):
        f = tmp_path / f"c{k}.json"
        f.write_text(json.dumps(cfg))
        print(one_line(*cli(capsys, "--config", f)[::2], *words))
    f = tmp_path / "broken.json"
    f.write_text('{"out": "o",}')
    one_line(*cli(capsys, "--config", f)[::2], "invalid JSON", "line 1")
    one_line(*cli(capsys, "--config", tmp_path / "none.json")[::2], "not found")
    # a flag is validated like the key it overrides
    f = tmp_path / "ok.json"
    f.write_text(json.dumps({"products": ["x.SAFE"], "out": str(out)}))
    one_line(*cli(capsys, "--config", f, "--spacing", "-5")[::2], "spacing")
    assert not out.exists()
    # the real command line: exit code, one line, no traceback
    proc = subprocess.run([sys.executable, "-m", "diapsar", "backscatter", "--config", str(tmp_path / "c0.json")],
                          capture_output=True, text=True, cwd=REPO, timeout=120)
    one_line(proc.returncode, proc.stderr, "spacng: unknown key")


def test_config_runs_and_flags_override_it(terceira, s1_data, tmp_path, capsys):
    """Relative paths from the file's folder; the file's lut (beta0) replaced by --lut gamma0, its -ml 4 2 and
    orbit kept: the written image is the gamma0 one, 4 x 2 looks, ORBIT tag = the RESORB file, zstd-compressed;
    its values equal a run given by flags only (same options) bit for bit."""
    cfg_dir = tmp_path / "cfg"
    cfg_dir.mkdir()
    shutil.copytree(terceira, cfg_dir / terceira.name)
    cfg = {"products": [terceira.name], "out": "out", "lut": "beta0", "ml": [4, 2], "noise": False,
           "quicklook": False, "compress": "zstd", "orbit": str(s1_data / TERCEIRA / RESORB)}
    (cfg_dir / "bs.json").write_text(json.dumps(cfg))
    code, out, err = cli(capsys, "--config", cfg_dir / "bs.json", "--lut", "gamma0")
    assert code == 0, err
    tifs = sorted((cfg_dir / "out").glob("*.tif"))
    assert [t.name.split("_")[-1] for t in tifs] == ["gamma0.tif"], tifs
    with rasterio.open(tifs[0]) as ds:
        # the crop is one burst of 1514 lines (1464 kept by the deburst), real DN on 601 of them
        assert (ds.height, ds.width) == (1464 // 2, 1401 // 4)
        assert ds.tags()["ORBIT"] == RESORB and ds.tags()["LUT"] == "gamma0"
        assert ds.compression.name.lower() == "zstd"
        a = ds.read(1)
    code, _, err = cli(capsys, cfg_dir / terceira.name, "--out", tmp_path / "flags", "--lut", "gamma0", "-ml", 4, 2,
                       "--no-noise", "--no-quicklook")
    assert code == 0, err
    with rasterio.open(next((tmp_path / "flags").glob("*.tif"))) as ds:
        assert ds.compression.name.lower() == "deflate" and "ORBIT" not in ds.tags()
        assert np.array_equal(ds.read(1), a, equal_nan=True) and 0.35 < np.isfinite(a).mean() < 0.45


# ----------------------------------------------------------------------------------------------- --orbit

def test_orbit_file_folder_and_refusal(terceira, s1_data, tmp_path, capsys, caplog):
    """The real RESORB: used (tags, STAC Item) and close to the annotation's state vectors over the burst
    (measured 1.7 cm, 0.04 mm/s; asserted below 10 cm, 0.1 mm/s); a RESORB of 2023 given as a file: one line,
    exit 1, nothing written; in a folder: the annotation's vectors, a warning, ORBIT = annotation."""
    from diapsar.geocode_backscatter import resolve_orbit

    meta = open_product(terceira).swath(None, None)
    eof = resor = s1_data / TERCEIRA / RESORB
    orb = resolve_orbit(meta, eof)
    ann = resolve_orbit(meta, None)
    t = np.linspace(meta.first_line_time_s, meta.first_line_time_s + meta.number_of_lines *
                    meta.azimuth_time_interval_s, 20)
    (p1, v1), (p2, v2) = orb.position_velocity(t), ann.position_velocity(t)
    dp, dv = np.linalg.norm(p1 - p2, axis=1).max(), np.linalg.norm(v1 - v2, axis=1).max()
    with capsys.disabled():
        print(f"\nRESORB - annotation over the burst: position {dp:.3f} m, velocity {dv * 1e3:.3f} mm/s")
    assert orb.source == RESORB and ann.source == "annotation" and dp < 0.1 and dv < 1e-4

    old = next((s1_data / "zipped_safe_annotations" / "orbits").glob("*.EOF"))
    out = tmp_path / "bad"
    one_line(*cli(capsys, terceira, "--out", out, "--no-noise", "--orbit", old)[::2], "orbit file covers")
    one_line(*cli(capsys, terceira, "--out", out, "--no-noise", "--orbit", tmp_path / "nowhere")[::2], "--orbit")
    assert not out.exists()
    folder = tmp_path / "orbits"
    folder.mkdir()
    shutil.copy(old, folder / old.name)
    code, _, err = cli(capsys, terceira, "--out", tmp_path / "fb", "--no-noise", "--no-quicklook", "-ml", 4, 4,
                       "--orbit", folder)
    assert code == 0 and "no orbit file covers" in caplog.text, err  # a warning (stderr without pytest)
    with rasterio.open(next((tmp_path / "fb").glob("*.tif"))) as ds:
        assert ds.tags()["ORBIT"] == "annotation"
    # terrain correction with the RESORB: tags of the three outputs and the STAC Item say so
    code, out_txt, err = cli(capsys, terceira, "--out", tmp_path / "geo", "--no-noise", "--no-quicklook",
                             "--dem", s1_data / TERCEIRA / "dem", "--flattening", "none", "--spacing", 60,
                             "--orbit", resor)
    assert code == 0, err
    with rasterio.open(next((tmp_path / "geo").glob("*_sigma0_geo.tif"))) as ds:
        assert ds.tags()["ORBIT"] == RESORB and np.isfinite(ds.read(1)).sum() > 1000
    item = json.loads(next((tmp_path / "geo").glob("*.json")).read_text())
    assert item["properties"]["diapsar:orbit"] == [RESORB]


# ----------------------------------------------------------------------------------------------- mosaic

def test_two_swaths_mosaicked_on_one_grid(two_swaths, tmp_path, capsys):
    """IW1 + IW2 of one product at 100 m: one CRS and lattice; the mosaic covers the union of the swath grids;
    every cell is copied (bit for bit, value, angles and mask) from one swath's output; where both swaths have
    data the cell comes from IW1 exactly when its incidence angle is below the middle of the overlap of their
    incidence ranges; every cell valid in a swath is valid in the mosaic; the STAC Item describes the mosaic."""
    out = tmp_path / "out"
    code, txt, err = cli(capsys, two_swaths["safe"], "--out", out, "--pol", "VH", "--dem", two_swaths["dem"],
                         "--dem-geoid", "none", "--no-noise", "--flattening", "none", "--spacing", 100,
                         "--no-quicklook")
    assert code == 0, err
    print(txt)
    name = two_swaths["safe"].name.removesuffix(".SAFE")

    def read(f: str):
        with rasterio.open(out / f) as ds:
            return ds.read(), ds.transform, ds.crs.to_epsg(), ds.tags()

    mv, mt, me, tags = read(f"{name}_VH_sigma0_geo.tif")
    ma, _, _, _ = read(f"{name}_VH_angles.tif")
    mm, _, _, _ = read(f"{name}_VH_layover_shadow.tif")
    assert tags["SWATHS"] == "IW1 IW2" and "middle" in tags["MOSAIC_RULE"] and tags["ORBIT"] == "annotation"
    shape = mv.shape[1:]
    stacks = {k: np.full((2,) + shape, np.nan) for k in ("v", "t")}
    masks = np.full((2,) + shape, 255)
    ranges = []
    bounds = []
    for k, sw in enumerate(("IW1", "IW2")):
        v, t, epsg, _ = read(f"{name}_{sw}_VH_sigma0_geo.tif")
        a, _, _, _ = read(f"{name}_{sw}_VH_angles.tif")
        m, _, _, _ = read(f"{name}_{sw}_VH_layover_shadow.tif")
        assert epsg == me and t.a == mt.a == 100.0
        r0, c0 = (mt.f - t.f) / 100.0, (t.c - mt.c) / 100.0
        assert r0 == int(r0) >= 0 and c0 == int(c0) >= 0  # on the mosaic's lattice, inside it
        r0, c0 = int(r0), int(c0)
        sl = (slice(r0, r0 + v.shape[1]), slice(c0, c0 + v.shape[2]))
        stacks["v"][k][sl], stacks["t"][k][sl], masks[k][sl] = v[0], a[0], m[0]
        ok = np.isfinite(v[0])
        ranges.append((float(a[0][ok].min()), float(a[0][ok].max())))
        bounds.append((t.c, t.f, t.c + 100 * v.shape[2], t.f - 100 * v.shape[1]))
    x0, y0 = min(b[0] for b in bounds), max(b[1] for b in bounds)
    assert (mt.c, mt.f) == (x0, y0)
    assert (mt.c + 100 * shape[1], mt.f - 100 * shape[0]) == (max(b[2] for b in bounds), min(b[3] for b in bounds))
    valid = np.isfinite(stacks["v"])
    both = valid[0] & valid[1]
    lo, hi = max(ranges[0][0], ranges[1][0]), min(ranges[0][1], ranges[1][1])
    mid = 0.5 * (lo + hi)
    with capsys.disabled():
        print(f"incidence IW1 {ranges[0][0]:.3f}..{ranges[0][1]:.3f}, IW2 {ranges[1][0]:.3f}..{ranges[1][1]:.3f} deg; "
              f"overlap cells {both.sum()}, middle {mid:.3f} deg")
    assert both.sum() > 500 and ranges[0][0] < lo < mid < hi < ranges[1][1]
    from_iw1 = valid[0] & (mv[0] == stacks["v"][0]) & (ma[0] == stacks["t"][0]) & (mm[0] == masks[0])
    from_iw2 = valid[1] & (mv[0] == stacks["v"][1]) & (ma[0] == stacks["t"][1]) & (mm[0] == masks[1])
    assert np.all(np.isfinite(mv[0]) == (valid[0] | valid[1]))
    assert np.all(from_iw1 | from_iw2 | ~(valid[0] | valid[1]))
    theta = stacks["t"][0]
    clear = both & (np.abs(theta - mid) > 0.005)  # away from the cut (the swaths' angles differ by < 0.005 deg)
    assert np.array_equal(from_iw1[clear], theta[clear] < mid)
    assert np.all(from_iw1[valid[0] & ~valid[1]]) and np.all(from_iw2[valid[1] & ~valid[0]])
    # the swaths side by side in two processes: the same bytes
    par = tmp_path / "par"
    code, _, err = cli(capsys, two_swaths["safe"], "--out", par, "--pol", "VH", "--dem", two_swaths["dem"],
                       "--dem-geoid", "none", "--no-noise", "--flattening", "none", "--spacing", 100,
                       "--no-quicklook", "--workers", 2)
    assert code == 0, err
    tifs = sorted(p.name for p in out.glob("*.tif"))
    assert tifs == sorted(p.name for p in par.glob("*.tif")) and len(tifs) == 9
    for f in tifs:
        assert (out / f).read_bytes() == (par / f).read_bytes(), f
    # STAC: the mosaic's grid, its assets first
    item = json.loads((out / f"{name}.json").read_text())
    props = item["properties"]
    assert props["proj:shape"] == list(shape) and props["proj:epsg"] == me and props["diapsar:swaths"] == ["IW1", "IW2"]
    first = next(iter(item["assets"].values()))
    assert first["href"] == f"{name}_VH_sigma0_geo.tif" and first["roles"] == ["data"]
    swath_assets = [a for a in item["assets"].values() if "swath" in a["roles"]]
    assert len(swath_assets) == 6 and all((out / a["href"]).is_file() for a in item["assets"].values())
    assert math.isclose(props["proj:transform"][0], mt.c)


def test_roi_skips_the_swaths_it_does_not_meet(two_swaths, tmp_path, capsys):
    """--roi inside the part of IW2 that IW1 does not reach, no --swath: IW2 alone is processed (no error about
    IW1, no mosaic); the STAC Item has the single swath's grid."""
    from shapely.geometry import Point

    from diapsar.geocode_backscatter import scene_footprint

    p = open_product(two_swaths["safe"])
    only2 = scene_footprint(p.swath("IW2", "VH")).difference(scene_footprint(p.swath("IW1", "VH")).buffer(0.01))
    c = only2.representative_point()
    box = Point(c.x, c.y).buffer(0.005).bounds
    out = tmp_path / "roi"
    code, txt, err = cli(capsys, two_swaths["safe"], "--out", out, "--pol", "VH", "--dem", two_swaths["dem"],
                         "--dem-geoid", "none", "--no-noise", "--flattening", "none", "--spacing", 100,
                         "--no-quicklook", "--roi", *box)
    assert code == 0, err
    names = sorted(f.name for f in out.glob("*.tif"))
    assert len(names) == 3 and all("_IW2_VH_" in n for n in names), names
    item = json.loads(next(out.glob("*.json")).read_text())
    assert item["properties"]["diapsar:swaths"] == ["IW2"] and "diapsar:mosaic_rule" not in item["properties"]


# ---------------------------------------------------------------------------------- streaming kernel

def _grid_path(read, meta, layout, r0, r1, lut, remove, c0, c1):
    """The previous calibration path: full-size noise and LUT grids, then the fused per-pixel kernel."""
    from diapsar import calibration as C
    from diapsar import noise as N
    from diapsar.backscatter import _pieces
    from diapsar.kernels.calibrate import calibrate_complex, calibrate_real

    n = c1 - c0
    power, valid = np.zeros((r1 - r0, n)), np.zeros((r1 - r0, n), dtype=bool)
    for p in _pieces(meta, layout, r0, r1):
        rows = p.out1 - p.out0
        dn = read(p.line0, rows, c0, n)
        tops = meta.bursts if meta.is_tops and meta.product_type == "SLC" else None
        nz = N.noise_grid(meta.noise, p.line0, rows, c0, n, tops, meta.lines_per_burst) if remove else np.zeros((0, 0))
        kern = calibrate_complex if np.iscomplexobj(dn) else calibrate_real
        kern(np.ascontiguousarray(dn), nz, C.lut_grid(meta.calibration, lut, p.line0, rows, c0, n),
             max(p.s0 - c0, 0), max(p.s1 - c0, 0), C.FLOOR_LINEAR, power[p.out0 - r0:p.out1 - r0],
             valid[p.out0 - r0:p.out1 - r0])
    return power, valid


@pytest.mark.parametrize("rel, swath", [(S1B, "IW1"), (GRD, None)])
def test_streaming_kernel_equals_the_grid_path(s1_data, rel, swath):
    """Real Terceira DN (tiled) read through the S1B IW1 (TOPS: per-burst noise vectors, 2 bursts, azimuth
    blocks) and Rome GRD (line-bilinear noise) annotations: the streaming kernel gives the grid path's values
    bit for bit (sigma0 / gamma0, with and without noise); its multilook mean (float64 sums) is within 1e-6
    relative of the grid path's float32 root-mean-square multilook."""
    from test_64_backscatter import _terceira_dn

    from diapsar.backscatter import calibrated_rows
    from diapsar.deburst import deburst_layout
    from diapsar.multilook import multilook

    m = open_product(s1_data / rel).swath(swath, "VV")
    layout = deburst_layout(m) if m.is_tops else None
    r0, r1, c0, c1 = 1300, 1700, 300, 2700  # TOPS: across the burst 0 / 1 boundary of the debursted frame
    dn = _terceira_dn(s1_data, 1000, c1)
    if m.product_type == "GRD":
        dn = np.abs(dn).astype(np.uint16)

    def read(line0, nlines, s0, ns):  # a sample window is always asked here
        return dn[line0 % 600:line0 % 600 + nlines, s0:s0 + ns]

    for lut in ("sigma0", "gamma0"):
        for remove in (True, False):
            a, va = calibrated_rows(read, m, layout, r0, r1, lut, remove, c0, c1)
            b, vb = _grid_path(read, m, layout, r0, r1, lut, remove, c0, c1)
            assert np.array_equal(va, vb) and va.mean() > 0.5
            assert np.array_equal(np.where(va, a, 0.0), b)
    from diapsar.backscatter import multilook_power

    for ml in ((4, 1), (5, 2)):
        got = multilook_power(a, va, *ml)
        mean_p = multilook(np.sqrt(np.where(vb, b, 0.0)).astype(np.float32), *ml).astype(np.float64) ** 2
        frac = multilook(vb.astype(np.float32), *ml).astype(np.float64) ** 2
        with np.errstate(divide="ignore", invalid="ignore"):
            want = np.where(frac >= 0.5 - 1e-6, mean_p / frac, np.nan)
        ok = np.isfinite(want)
        assert np.array_equal(np.isfinite(got), ok) and ok.mean() > 0.5
        assert np.max(np.abs(got[ok] / want[ok] - 1)) < 1e-6
